"""Neural-network ops whose fused or numerically stable rules matter: activations, losses
and the affine map of a linear layer.

Each is one :class:`~chainrule.autograd.function.Op` with forward, backward (vjp) and jvp
side by side, like the op families in ``elementwise.py`` and ``reduction.py``:

* ``forward`` runs on raw arrays (NumPy or CuPy) and keeps what it computes in locals;
* ``backward`` is written against ``ctx.xp``: on the fast path it sees raw arrays, and
  with ``create_graph=True`` it sees Tensors and records a differentiable graph (double
  backward). Where a fused fast path reuses arrays saved by forward (a softmax, a normal
  CDF) that would be constants in graph mode, the graph-mode branch recomputes them from
  the saved inputs with differentiable ops instead;
* ``jvp`` (forward mode) always runs on raw arrays.

The user-facing functions (argument checks, PyTorch names) are in
:mod:`chainrule.nn.functional`.

**erf**: NumPy has no ``erf``, so the exact GELU uses :func:`erfc`, W. J. Cody's rational
Chebyshev approximations ("Rational Chebyshev approximations for the error function",
Math. Comp. 23, 1969; the coefficient sets of Netlib's ``calerf``), vectorized. In float64
it agrees with ``math.erf``/``math.erfc`` to a few units in the last place (measured max
relative error below 1e-15 on [-8, 26.5]; erfc is 0 beyond 26.543, where it underflows
to subnormals); it is smooth enough for central differences, so ``gelu`` passes float64
gradcheck and matches ``torch.nn.functional.gelu`` to ~1e-16 absolute. The Abramowitz-
Stegun 7.1.26 formula (error ~1e-7) would not be enough for either.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.errors import ChainruleError
from chainrule.ops.elementwise import sigmoid_array

# ---- errors ---------------------------------------------------------------------------------


class ArgumentError(ChainruleError, ValueError):
    """A bad argument value for an nn function (``reduction``, ``p``, ``approximate``...),
    a layer's constructor (a negative size, ``kernel_size=0``) or another op or transform."""


class LabelError(ArgumentError):
    """Bad targets for a loss: a class label outside ``0..C-1``, class labels of a
    non-integer dtype, binary hinge targets other than -1 and +1, or binary cross-entropy
    targets outside [0, 1]."""


# ---- helpers --------------------------------------------------------------------------------

_SQRT1_2 = 0.7071067811865476  # 1/sqrt(2)
_INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2*pi)
_GELU_K = 0.7978845608028654  # sqrt(2/pi), the tanh approximation's scale
_GELU_C = 0.044715


def _graph_ops() -> Any:
    """chainrule.ops, imported late (it imports this module's siblings)."""
    from chainrule import ops

    return ops


def _sigmoid(xp: Any, x: Any) -> Any:
    """The sigmoid on raw arrays, or (graph mode, ``xp.is_graph``) on Tensors."""
    return _graph_ops().sigmoid(x) if xp.is_graph else sigmoid_array(x)


def reduce_raw(v: Any, reduction: str) -> Any:
    """``v`` reduced by ``reduction`` ("mean", "sum" or "none"), on raw arrays."""
    if reduction == "none":
        return v
    total = v.sum()
    out = total / v.size if reduction == "mean" else total
    return array_module(v).asarray(out, dtype=v.dtype)


# ---- erf / erfc (W. J. Cody, 1969) --------------------------------------------------------

_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)  # fmt: skip
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
_ERF_SMALL = 0.46875
_ERFC_ZERO = 26.543  # erfc(y) underflows to 0 in float64 beyond this


def _erf_small(z: Any) -> Any:
    """erf(z) for |z| <= 0.46875."""
    a, b = _ERF_A, _ERF_B
    t = z * z
    num = a[4] * t
    den = t
    for i in range(3):
        num = (num + a[i]) * t
        den = (den + b[i]) * t
    return z * (num + a[3]) / (den + b[3])


def _exp_minus_square(xp: Any, y: Any) -> Any:
    """``exp(-y*y)`` with y*y split in two (Cody's trick against rounding in the exponent)."""
    head = xp.trunc(16 * y) / 16
    return xp.exp(-head * head) * xp.exp(-(y - head) * (y + head))


def _erfc_large(y: Any) -> Any:
    """erfc(y) for y > 0.46875 (y already a positive array)."""
    xp = array_module(y)
    out = xp.empty_like(y)
    mid = y <= 4.0
    ym = y[mid]
    c, d = _ERF_C, _ERF_D
    num = c[8] * ym
    den = ym
    for i in range(7):
        num = (num + c[i]) * ym
        den = (den + d[i]) * ym
    out[mid] = _exp_minus_square(xp, ym) * (num + c[7]) / (den + d[7])
    far = ~mid
    if far.any():
        yf = xp.minimum(y[far], _ERFC_ZERO)
        p, q = _ERF_P, _ERF_Q
        t = 1 / (yf * yf)
        num = p[5] * t
        den = t
        for i in range(4):
            num = (num + p[i]) * t
            den = (den + q[i]) * t
        r = t * (num + p[4]) / (den + q[4])
        r = (0.5641895835477563 - r) / yf * _exp_minus_square(xp, yf)
        out[far] = xp.where(y[far] >= _ERFC_ZERO, 0, r)
    return out


def erfc(z: Any) -> Any:
    """The complementary error function of a real array (float64 accurate to ~1e-15
    relative; float32 arrays are computed in float32)."""
    xp = array_module(z)
    z = xp.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    y = xp.abs(z)
    small = y <= _ERF_SMALL
    out = xp.empty_like(z)
    out[small] = 1 - _erf_small(z[small])
    large = ~small
    if large.any():
        r = _erfc_large(y[large])
        out[large] = xp.where(z[large] < 0, 2 - r, r)
    return out


def erf(z: Any) -> Any:
    """The error function of a real array (see :func:`erfc` for the accuracy)."""
    xp = array_module(z)
    z = xp.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    y = xp.abs(z)
    small = y <= _ERF_SMALL
    out = xp.empty_like(z)
    out[small] = _erf_small(z[small])
    large = ~small
    if large.any():
        r = 1 - _erfc_large(y[large])
        out[large] = xp.where(z[large] < 0, -r, r)
    return out


def normal_cdf(x: Any) -> Any:
    """Phi(x), the standard normal CDF, as ``erfc(-x/sqrt(2)) / 2`` (accurate in both tails)."""
    return 0.5 * erfc(-x * _SQRT1_2)


def _normal_pdf(xp: Any, x: Any) -> Any:
    return xp.exp(-0.5 * (x * x)) * _INV_SQRT_2PI


class _NormalCdf(Op):
    """Phi(x). Used by the graph-mode (double-backward) rule of the exact GELU, where
    Phi must itself be differentiable: Phi' = phi."""

    name = "normal_cdf"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return normal_cdf(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * _normal_pdf(ctx.xp, x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return t * _normal_pdf(array_module(x), x)


# ---- activations ----------------------------------------------------------------------------


class LeakyRelu(Op):
    """``x`` where ``x > 0``, else ``negative_slope * x``; the slope at 0 is
    ``negative_slope`` (as PyTorch)."""

    name = "leaky_relu"

    @staticmethod
    def forward(ctx, x, *, negative_slope):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return array_module(x).where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return ctx.xp.where(x > 0, g, g * ctx.slope)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        return array_module(x).where(x > 0, t, t * ctx.slope)


class Elu(Op):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``; the slope for ``x <= 0`` is
    ``y + alpha`` (so the output is reused and the rule stays differentiable)."""

    name = "elu"

    @staticmethod
    def forward(ctx, x, *, alpha):
        xp = array_module(x)
        pos = x > 0
        y = xp.where(pos, x, alpha * xp.expm1(xp.minimum(x, 0)))
        ctx.save_for_backward(x, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        return ctx.xp.where(x > 0, g, g * (y + ctx.alpha))

    @staticmethod
    def jvp(ctx, t):
        x, y = ctx.saved
        return array_module(x).where(x > 0, t, t * (y + ctx.alpha))


class Softplus(Op):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``
    (PyTorch's definition). Computed as ``logaddexp(0, beta * x) / beta``: no overflow for
    any ``x``. The slope is ``sigmoid(beta * x)`` (1 above the threshold)."""

    name = "softplus"

    @staticmethod
    def forward(ctx, x, *, beta, threshold):
        xp = array_module(x)
        bx = x * beta
        linear = bx > threshold
        y = xp.where(linear, x, xp.logaddexp(0, bx) / beta)
        ctx.save_for_backward(x, linear)
        ctx.beta = beta
        return y

    @staticmethod
    def backward(ctx, g):
        x, linear = ctx.saved
        xp = ctx.xp
        return xp.where(linear, g, g * _sigmoid(xp, x * ctx.beta))

    @staticmethod
    def jvp(ctx, t):
        x, linear = ctx.saved
        return array_module(x).where(linear, t, t * sigmoid_array(x * ctx.beta))


class Hardtanh(Op):
    """``clip(x, min_val, max_val)`` with PyTorch's gradient: it passes only strictly
    inside ``(min_val, max_val)`` (``clip`` passes it at the bounds too)."""

    name = "hardtanh"

    @staticmethod
    def forward(ctx, x, *, min_val, max_val):
        inside = (x > min_val) & (x < max_val)
        ctx.save_for_backward(inside)
        return array_module(x).clip(x, min_val, max_val)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved
        return ctx.xp.where(inside, g, 0)

    @staticmethod
    def jvp(ctx, t):
        (inside,) = ctx.saved
        return array_module(t).where(inside, t, 0)


class Hardswish(Op):
    """``x * relu6(x + 3) / 6`` with PyTorch's slope: 0 below -3, ``x / 3 + 0.5`` on
    ``[-3, 3]``, 1 above (so at the kinks it takes the middle piece's value)."""

    name = "hardswish"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * array_module(x).clip(x + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        return g * xp.where(x < -3, 0.0, xp.where(x <= 3, x / 3 + 0.5, 1.0))

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved
        xp = array_module(x)
        return t * xp.where(x < -3, 0.0, xp.where(x <= 3, x / 3 + 0.5, 1.0))


class Gelu(Op):
    """GELU, ``x * Phi(x)``, exactly (``approximate="none"``, through :func:`erfc`) or with
    PyTorch's tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    name = "gelu"

    @staticmethod
    def forward(ctx, x, *, approximate):
        ctx.tanh = tanh = approximate == "tanh"
        if tanh:
            xp = array_module(x)
            inner = _GELU_K * (x + _GELU_C * (x * x * x))
            th = xp.tanh(inner)
            ctx.save_for_backward(x, th)
            return 0.5 * x * (1 + th)
        cdf = normal_cdf(x)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        x, aux = ctx.saved
        xp = ctx.xp
        if ctx.tanh:
            if xp.is_graph:  # aux (the tanh) would be a constant: recompute it from x
                aux = xp.tanh(_GELU_K * (x + _GELU_C * (x * x * x)))
            return g * _gelu_tanh_slope(x, aux)
        if xp.is_graph:
            aux = _NormalCdf.apply(x)
        return g * (aux + x * _normal_pdf(xp, x))

    @staticmethod
    def jvp(ctx, t):
        x, aux = ctx.saved
        if ctx.tanh:
            return t * _gelu_tanh_slope(x, aux)
        return t * (aux + x * _normal_pdf(array_module(x), x))


def _gelu_tanh_slope(x: Any, th: Any) -> Any:
    x2 = x * x
    return 0.5 * (1 + th) + (0.5 * _GELU_K) * x * (1 - th * th) * (1 + 3 * _GELU_C * x2)


# ---- affine ---------------------------------------------------------------------------------


class Linear(Op):
    """``x @ weight.T + bias`` with ``x`` (..., in), ``weight`` (out, in), ``bias`` (out,)
    -> (..., out): one node, one GEMM each way, no transposed copy of the weight."""

    name = "linear"

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx, g):
        # Written with operators and methods, which arrays and Tensors share (the same rule
        # serves both modes), and cheaper than the xp functions on small arrays. The GEMMs
        # read the saved arrays in place: g.T and w are strided views that BLAS takes as
        # transposed operands, so no transposed copy is made.
        x, w = ctx.saved
        need = ctx.needs_input_grad
        gx = g @ w if need[0] else None  # (..., out) @ (out, in)
        gw = None
        if need[1]:
            if g.ndim == 2:
                gw = g.T @ x  # (out, N) @ (N, in)
            else:  # fold the leading axes into one
                out_f, in_f = w.shape
                gw = g.reshape(-1, out_f).T @ x.reshape(-1, in_f)
        if len(need) == 2:
            return gx, gw
        return gx, gw, (g if need[2] else None)  # the engine sums g down to (out,)

    @staticmethod
    def jvp(ctx, tx, tw, tb=0):
        x, w = ctx.saved
        out = tx @ w.T if _is_tangent(tx) else 0
        if _is_tangent(tw):
            out = out + x @ tw.T
        if _is_tangent(tb):
            out = out + tb
        return out


def _is_tangent(t: Any) -> bool:
    return not isinstance(t, (int, float))


# ---- losses ---------------------------------------------------------------------------------


class CrossEntropy(Op):
    """Softmax cross-entropy on logits in one op (log-softmax and NLL fused).

    ``x``: logits with the classes on ``axis`` ((N, C), (N, C, d1, ...), or (C,) with
    ``axis=0``). ``target``: integer labels of ``x``'s shape without ``axis``
    (``probs=False``), or class probabilities of ``x``'s shape (``probs=True``).
    ``reduction``: "mean" (over every loss element: N * d1 * ...), "sum" or "none" (the
    per-element losses, ``x``'s shape without ``axis``).

    Forward is ``logsumexp(x) - x[label]`` with the max subtracted, so logits of +-1e4
    give a finite loss; the gradient is ``softmax(x) - onehot`` (``softmax(x) * sum(t) -
    t`` for probabilities) times the upstream gradient (divided by the count for "mean").
    """

    name = "cross_entropy"

    @staticmethod
    def forward(ctx, x, target, *, axis, probs, reduction):
        xp = array_module(x)
        m = x.max(axis=axis, keepdims=True)
        e = x - m
        if probs:
            shifted = e
            s = xp.exp(shifted).sum(axis=axis, keepdims=True)
            logp = shifted - xp.log(s)
            loss = -(target * logp).sum(axis=axis)
            ctx.save_for_backward(x, target, logp)
        else:
            picked = _at_labels(e, target, axis)  # x[label] - max
            xp.exp(e, out=e)
            s = e.sum(axis=axis, keepdims=True)
            loss = xp.log(s).squeeze(axis) - picked
            ctx.save_for_backward(x, target, e, s)
        ctx.setup = (axis, probs, reduction, loss.size)
        return reduce_raw(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        axis, probs, reduction, count = ctx.setup
        xp = ctx.xp
        if reduction == "none":
            gs = xp.expand_dims(g, axis)
        else:
            gs = g / count if reduction == "mean" else g
        need_x, need_t = ctx.needs_input_grad
        if xp.is_graph:  # recompute softmax from x so the rule is differentiable
            x, target = ctx.saved[0], ctx.saved[1]
            ops = _graph_ops()
            if probs:
                logp = ops.log_softmax(x, axis=axis)
                p = xp.exp(logp)
                gx = (p * target.sum(axis=axis, keepdims=True) - target) * gs if need_x else None
                return gx, (-logp * gs if need_t else None)
            p = ops.softmax(x, axis=axis)
            onehot = _onehot(target.data, x.shape, axis, x.dtype)
            return (p - onehot) * gs, None
        if probs:
            x, target, logp = ctx.saved
            gx = None
            if need_x:
                p = array_module(logp).exp(logp)
                gx = (p * target.sum(axis=axis, keepdims=True) - target) * gs
            return gx, (-logp * gs if need_t else None)
        x, target, e, s = ctx.saved
        gx = e * (gs / s)  # softmax * upstream, in one pass over (N, C)
        _sub_at_labels(gx, target, axis, g if reduction == "none" else gs)  # minus onehot
        return gx, None

    @staticmethod
    def jvp(ctx, tx, tt):
        axis, probs, reduction, _ = ctx.setup
        if probs:
            x, target, logp = ctx.saved
            xp = array_module(x)
            p = xp.exp(logp)
            dx = p * target.sum(axis=axis, keepdims=True) - target
            out = (dx * tx).sum(axis=axis) if _is_tangent(tx) else 0
            if _is_tangent(tt):
                out = out - (logp * tt).sum(axis=axis)
        else:
            x, target, e, s = ctx.saved
            p = e / s
            tx = tx if _is_tangent(tx) else array_module(x).zeros_like(x)
            out = (p * tx).sum(axis=axis) - _at_labels(tx, target, axis)
        out = array_module(x).asarray(out, dtype=x.dtype)
        return reduce_raw(out, reduction)


def _at_labels(a: Any, labels: Any, axis: int) -> Any:
    """The entries of ``a`` at the class ``labels`` along ``axis``: an array of the labels'
    shape. (N, C) with labels (N,), the usual case, is one fancy index (``take_along_axis``
    costs several microseconds of Python around the same work)."""
    xp = array_module(a)
    if a.ndim == 2 and axis == 1:
        return a[xp.arange(a.shape[0]), labels]
    return xp.take_along_axis(a, xp.expand_dims(labels, axis), axis=axis).squeeze(axis)


def _sub_at_labels(a: Any, labels: Any, axis: int, v: Any) -> None:
    """``a[label] -= v`` in place at each class label along ``axis``; ``v`` is a scalar or
    has the labels' shape."""
    xp = array_module(a)
    if a.ndim == 2 and axis == 1:
        a[xp.arange(a.shape[0]), labels] -= v  # one (row, label) pair per row: no repeats
        return
    idx = xp.expand_dims(labels, axis)
    v = xp.expand_dims(v, axis) if v.ndim else v
    xp.put_along_axis(a, idx, xp.take_along_axis(a, idx, axis=axis) - v, axis=axis)


def _onehot(labels: Any, shape: tuple, axis: int, dtype: Any) -> Any:
    """A (shape) array, 1 at each label along ``axis``."""
    xp = array_module(labels)
    classes = xp.arange(shape[axis]).reshape((-1,) + (1,) * (len(shape) - axis - 1))
    return (xp.expand_dims(labels, axis) == classes).astype(dtype)


class BinaryCrossEntropyWithLogits(Op):
    """Elementwise ``-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))`` written as
    ``max(x, 0) - x t + log1p(exp(-|x|))``: finite for any finite ``x`` (no overflow at
    ``|x|`` of 1e4 and beyond; an infinite logit gives NaN, as in PyTorch). Gradients
    ``sigmoid(x) - t`` for ``x`` and ``-x`` for ``t``."""

    name = "binary_cross_entropy_with_logits"

    @staticmethod
    def forward(ctx, x, t):
        xp = array_module(x)
        ctx.save_for_backward(x, t)
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        nx, nt = ctx.needs_input_grad
        gx = g * (_sigmoid(ctx.xp, x) - t) if nx else None
        return gx, (-g * x if nt else None)

    @staticmethod
    def jvp(ctx, tx, tt):
        x, t = ctx.saved
        out = tx * (sigmoid_array(x) - t) if _is_tangent(tx) else 0
        if _is_tangent(tt):
            out = out - tt * x
        return out


class BinaryCrossEntropy(Op):
    """Elementwise ``-(t log p + (1 - t) log(1 - p))`` on probabilities ``p``, with each log
    clamped to ``>= -100`` (as PyTorch, so p = 0 or 1 gives a finite loss). Gradients
    ``(p - t) / max(p (1 - p), 1e-12)`` for ``p`` and ``log(1 - p) - log(p)`` for ``t``."""

    name = "binary_cross_entropy"

    @staticmethod
    def forward(ctx, p, t):
        xp = array_module(p)
        with np.errstate(divide="ignore"):
            logp = xp.maximum(xp.log(p), -100)
            log1mp = xp.maximum(xp.log1p(-p), -100)
        ctx.save_for_backward(p, t, logp, log1mp)
        return -(log1mp + t * (logp - log1mp))

    @staticmethod
    def backward(ctx, g):
        p, t, logp, log1mp = ctx.saved
        xp = ctx.xp
        np_, nt = ctx.needs_input_grad
        gp = g * (p - t) / xp.maximum(p * (1 - p), 1e-12) if np_ else None
        gt = None
        if nt:
            if xp.is_graph:
                logp = xp.maximum(xp.log(p), -100)
                log1mp = xp.maximum(xp.log(1 - p), -100)
            gt = g * (log1mp - logp)
        return gp, gt

    @staticmethod
    def jvp(ctx, tp, tt):
        p, t, logp, log1mp = ctx.saved
        out = tp * (p - t) / array_module(p).maximum(p * (1 - p), 1e-12) if _is_tangent(tp) else 0
        if _is_tangent(tt):
            out = out + tt * (log1mp - logp)
        return out
