"""Reductions over axes: sum, mean, var, max, min, logsumexp; and softmax, log_softmax.

Each forward notes the input shape and the keepdims shape; backward reshapes the incoming
gradient to the keepdims shape and broadcasts it back over the reduced axes.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.errors import ShapeError
from chainrule.ops._util import count, kept_shape, normalize_axes, normalize_axis


def _reduce_setup(ctx: Any, x: Any, axis: Any, op: str) -> tuple:
    axes = normalize_axes(axis, x.ndim, op)
    ctx.in_shape = x.shape
    ctx.kshape = kept_shape(x.shape, axes)
    ctx.axes = axes
    return axes


def _spread(ctx: Any, g: Any) -> Any:
    """The gradient of a reduction broadcast back to the input shape."""
    return ctx.xp.broadcast_to(g.reshape(ctx.kshape), ctx.in_shape)


class Sum(Op):
    name = "sum"

    @staticmethod
    def forward(ctx, x, *, axis, keepdims):
        axes = _reduce_setup(ctx, x, axis, "sum")
        ctx.keep = keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _spread(ctx, g)

    @staticmethod
    def jvp(ctx, t):
        return t.sum(axis=ctx.axes, keepdims=ctx.keep)


class Mean(Op):
    name = "mean"

    @staticmethod
    def forward(ctx, x, *, axis, keepdims):
        axes = _reduce_setup(ctx, x, axis, "mean")
        ctx.keep = keepdims
        ctx.n = n = count(x.shape, axes)
        if n == 0 or x.dtype.kind not in "fc":
            return x.mean(axis=axes, keepdims=keepdims)  # NumPy's NaN and dtype rules
        return x.sum(axis=axes, keepdims=keepdims) / n

    @staticmethod
    def backward(ctx, g):
        return _spread(ctx, g / ctx.n)

    @staticmethod
    def jvp(ctx, t):
        return t.mean(axis=ctx.axes, keepdims=ctx.keep)


class Var(Op):
    """Variance with NumPy's ``ddof`` (0 by default, the biased estimate)."""

    name = "var"

    @staticmethod
    def forward(ctx, x, *, axis, ddof, keepdims):
        axes = _reduce_setup(ctx, x, axis, "var")
        dof = count(x.shape, axes) - ddof
        ctx.scale = 2 / dof if dof > 0 else float("nan")
        ctx.keep = keepdims
        ctx.save_for_backward(x)
        return x.var(axis=axes, ddof=ddof, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        centred = x - xp.mean(x, axis=ctx.axes, keepdims=True)
        return xp.reshape(g, ctx.kshape) * centred * ctx.scale

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        centred = x - x.mean(axis=ctx.axes, keepdims=True)
        return (t * centred).sum(axis=ctx.axes, keepdims=ctx.keep) * ctx.scale


class _Extreme(Op):
    """max/min over axes; the gradient goes to the first extreme element (as argmax)."""

    pick = "argmax"

    @classmethod
    def forward(cls, ctx, x, *, axis, keepdims):
        axes = _reduce_setup(ctx, x, axis, cls.name)
        if x.size == 0 or any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{cls.name}: cannot reduce an empty axis of shape {x.shape}")
        ctx.keep = keepdims
        mask = _first_extreme_mask(x, axes, cls.pick)
        ctx.save_for_backward(mask)
        reduce = x.max if cls.pick == "argmax" else x.min
        return reduce(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        return ctx.xp.reshape(g, ctx.kshape) * mask

    @staticmethod
    def jvp(ctx, t):
        (mask,) = ctx.saved
        return (t * mask).sum(axis=ctx.axes, keepdims=ctx.keep)


class Max(_Extreme):
    name = "max"
    pick = "argmax"


class Min(_Extreme):
    name = "min"
    pick = "argmin"


def _first_extreme_mask(x: Any, axes: tuple, pick: str) -> Any:
    """A bool array, True at the first max (or min) of each reduced slice."""
    xp = array_module(x)
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    moved = xp.transpose(x, rest + axes)
    flat = moved.reshape(moved.shape[: len(rest)] + (-1,))
    idx = getattr(flat, pick)(axis=-1)
    mask = xp.zeros(flat.shape, dtype=bool)
    xp.put_along_axis(mask, idx[..., None], True, axis=-1)
    inverse = xp.argsort(xp.asarray(rest + axes)).tolist()
    return xp.transpose(mask.reshape(moved.shape), inverse)


class LogSumExp(Op):
    """``log(sum(exp(x)))`` computed as ``m + log(sum(exp(x - m)))`` with ``m = max(x)``."""

    name = "logsumexp"

    @staticmethod
    def forward(ctx, x, *, axis, keepdims):
        axes = _reduce_setup(ctx, x, axis, "logsumexp")
        ctx.keep = keepdims
        xp = array_module(x)
        if x.size == 0:  # a sum of no exponentials is 0 and its log -inf (as torch)
            y = xp.full(ctx.kshape, -xp.inf, dtype=xp.result_type(x.dtype, xp.float32))
        else:
            m = x.max(axis=axes, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)
            y = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        y = y if keepdims else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in axes))
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        xp = ctx.xp
        return xp.reshape(g, ctx.kshape) * xp.exp(x - xp.reshape(y, ctx.kshape))

    @staticmethod
    def jvp(ctx, t):
        x, y = ctx.saved
        p = array_module(x).exp(x - y.reshape(ctx.kshape))
        return (t * p).sum(axis=ctx.axes, keepdims=ctx.keep)


class Softmax(Op):
    name = "softmax"

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.axis = axis = normalize_axis(axis, x.ndim, "softmax")
        xp = array_module(x)
        if x.size == 0:  # nothing to normalise (and an empty axis has no max)
            y = xp.exp(x)
        else:
            e = xp.exp(x - x.max(axis=axis, keepdims=True))
            y = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        gy = g * y
        return gy - y * gy.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        ty = t * y
        return ty - y * ty.sum(axis=ctx.axis, keepdims=True)


class LogSoftmax(Op):
    name = "log_softmax"

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.axis = axis = normalize_axis(axis, x.ndim, "log_softmax")
        xp = array_module(x)
        if x.size == 0:  # nothing to normalise (and an empty axis has no max)
            y = xp.exp(x)
        else:
            shifted = x - x.max(axis=axis, keepdims=True)
            y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g - ctx.xp.exp(y) * g.sum(axis=ctx.axis, keepdims=True)

    @staticmethod
    def jvp(ctx, t):
        (y,) = ctx.saved
        return t - (array_module(y).exp(y) * t).sum(axis=ctx.axis, keepdims=True)


class Cumsum(Op):
    """Running sum along ``axis``; the gradient is the running sum of ``g`` taken from the
    other end."""

    name = "cumsum"

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.axis = axis
        return array_module(x).cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        xp, a = ctx.xp, ctx.axis
        return xp.flip(xp.cumsum(xp.flip(g, (a,)), axis=a), (a,))

    @staticmethod
    def jvp(ctx, t):
        return array_module(t).cumsum(t, axis=ctx.axis)


class Prod(Op):
    """Product over axes. Each element's gradient is the product of the *other* elements of
    its slice, taken as running products from both ends (no division), so it is exact
    where elements are zero; written with ``ctx.xp``, it differentiates again."""

    name = "prod"

    @staticmethod
    def forward(ctx, x, *, axis, keepdims):
        axes = _reduce_setup(ctx, x, axis, "prod")
        ctx.keep = keepdims
        ctx.save_for_backward(x)
        return x.prod(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        return xp.reshape(g, ctx.kshape) * _others_product(xp, x, ctx.axes)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        others = _others_product(backend.ops_for(x), x, ctx.axes)
        return (t * others).sum(axis=ctx.axes, keepdims=ctx.keep)


class Cumprod(Op):
    """Running product along ``axis``. With ``E_i`` the product of the elements before
    ``i``, ``dL/dx_i = E_i * s_i`` where ``s_i = g_i + x_{i+1} s_{i+1}``, a linear
    recurrence solved by :func:`_affine_scan` from the far end: no division, so exact where
    elements are zero (``g * y / x`` is not), and differentiable again."""

    name = "cumprod"

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.axis = axis
        ctx.save_for_backward(x)
        return array_module(x).cumprod(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        x, g = xp.swapaxes(x, ctx.axis, -1), xp.swapaxes(g, ctx.axis, -1)
        # s from the far end: flipped, s'_m = g'_m + x'_{m-1} s'_{m-1}
        xf = xp.flip(x, (-1,))
        a = xp.concatenate([xp.zeros_like(xf[..., :1]), xf[..., :-1]], axis=-1)
        s = xp.flip(_affine_scan(xp, a, xp.flip(g, (-1,))), (-1,))
        return xp.swapaxes(_exclusive_cumprod(xp, x) * s, ctx.axis, -1)

    @staticmethod
    def jvp(ctx, t):
        # y_k = y_{k-1} x_k, so dy_k = x_k dy_{k-1} + E_k t_k: the same scan, forwards
        (x,) = ctx.saved
        xp = backend.ops_for(x)
        x, t = xp.swapaxes(x, ctx.axis, -1), xp.swapaxes(t, ctx.axis, -1)
        return xp.swapaxes(_affine_scan(xp, x, _exclusive_cumprod(xp, x) * t), ctx.axis, -1)


def _affine_scan(xp: Any, a: Any, b: Any) -> Any:
    """``z`` with ``z_k = b_k + a_k z_{k-1}`` (``z_{-1} = 0``) along the last axis, in
    log2(n) vectorized steps (Hillis-Steele over affine maps): after the step of offset
    ``d``, ``z_k = b_k + a_k z_{k-d}``."""
    n, d = b.shape[-1], 1
    while d < n:
        b = xp.concatenate([b[..., :d], b[..., d:] + a[..., d:] * b[..., :-d]], axis=-1)
        a = xp.concatenate([a[..., :d], a[..., d:] * a[..., :-d]], axis=-1)
        d *= 2
    return b


def _exclusive_cumprod(xp: Any, x: Any) -> Any:
    """The product of the elements *before* each one along the last axis (1 for the
    first)."""
    ones = xp.ones_like(x[..., :1])
    return xp.concatenate([ones, xp.cumprod(x[..., :-1], axis=-1)], axis=-1)


def _others_product(xp: Any, x: Any, axes: tuple) -> Any:
    """For each element of ``x``, the product of the other elements of its slice over
    ``axes``: the reduced axes are moved last and merged, and the products before and
    after each element multiplied."""
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    order = kept + axes
    moved = xp.transpose(x, order)
    flat = xp.reshape(moved, moved.shape[: len(kept)] + (count(x.shape, axes),))
    before = _exclusive_cumprod(xp, flat)
    after = xp.flip(_exclusive_cumprod(xp, xp.flip(flat, (-1,))), (-1,))
    back = tuple(order.index(i) for i in range(x.ndim))
    return xp.transpose(xp.reshape(before * after, moved.shape), back)
