"""Ops that move elements around without arithmetic: reshape, transpose, broadcast, sum_to,
indexing, scatter, concatenate, split, pad. Their rules route gradients back to where the
elements came from."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.errors import IndexingError, ShapeError
from chainrule.ops._util import normalize_axis


class Reshape(Op):
    name = "reshape"
    view = True

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        try:
            y = x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape {x.shape} into {shape}") from None
        ctx.out_shape = y.shape
        return y

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.reshape(g, ctx.in_shape)

    @classmethod
    def write_back(cls, view, base, params, k):
        return ..., Reshape.apply(view, shape=base.shape)

    @staticmethod
    def jvp(ctx, t):
        return t.reshape(ctx.out_shape)


def _inverse(axes: tuple | None, ndim: int) -> tuple | None:
    """The permutation that undoes ``transpose(axes)`` (None, a reversal, undoes itself)."""
    return None if axes is None else tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


class Transpose(Op):
    name = "transpose"
    view = True

    @staticmethod
    def forward(ctx, x, *, axes):
        if axes is not None and sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.transpose(g, _inverse(ctx.axes, g.ndim))

    @classmethod
    def write_back(cls, view, base, params, k):
        return ..., Transpose.apply(view, axes=_inverse(params["axes"], view.ndim))

    @staticmethod
    def jvp(ctx, t):
        return t.transpose(ctx.axes)


class BroadcastTo(Op):
    name = "expand"
    view = True

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        ctx.out_shape = shape
        try:
            return array_module(x).broadcast_to(x, shape)
        except ValueError:
            raise ShapeError(f"expand: cannot broadcast {x.shape} to {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.sum_to(g, ctx.in_shape)

    @staticmethod
    def jvp(ctx, t):
        return array_module(t).broadcast_to(t, ctx.out_shape)


class SumTo(Op):
    """Sum a broadcast result back down to ``shape``: the adjoint of broadcasting."""

    name = "sum_to"

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        ctx.out_shape = shape
        return backend.numpy_ops.sum_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.broadcast_to(g, ctx.in_shape)

    @staticmethod
    def jvp(ctx, t):
        return backend.numpy_ops.sum_to(t, ctx.out_shape)


# ---- indexing ------------------------------------------------------------------------


def normalize_index(index: Any) -> tuple[Any, bool]:
    """The index with Tensors and lists made arrays and bool masks made integer arrays;
    and whether it is basic (slices, ints, None, Ellipsis only: no repeated elements)."""
    from chainrule.tensor import Tensor

    items = index if isinstance(index, tuple) else (index,)
    out: list = []
    basic = True
    for it in items:
        if isinstance(it, Tensor):
            it = it.data
        elif isinstance(it, list):
            it = np.asarray(it)
        if backend.is_array(it):
            basic = False
            if it.dtype == bool:
                out.extend(it.nonzero())
                continue
            if it.dtype.kind not in "iu":
                raise IndexingError(f"index arrays must be integer or bool, got {it.dtype}")
        elif not (it is None or it is Ellipsis or isinstance(it, (int, slice, np.integer))):
            raise IndexingError(f"cannot index a tensor with {type(it).__name__} {it!r}")
        out.append(it)
    return (tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]), basic


class GetItem(Op):
    name = "getitem"
    view = True

    @staticmethod
    def forward(ctx, x, *, index, basic):
        ctx.in_shape = x.shape
        ctx.index = index
        ctx.basic = basic
        try:
            return x[index]
        except IndexError as exc:
            raise IndexingError(f"getitem on shape {x.shape}: {exc}") from None

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.scatter_add(ctx.in_shape, ctx.index, g, ctx.basic)

    @classmethod
    def write_back(cls, view, base, params, k):
        return params["index"], view  # basic indexing: only those results are views

    @staticmethod
    def jvp(ctx, t):
        return t[ctx.index]


class ScatterAdd(Op):
    """``zeros(shape)`` with ``values`` added at ``index``: the adjoint of indexing."""

    name = "scatter_add"

    @staticmethod
    def forward(ctx, values, *, shape, index, basic):
        ctx.shape, ctx.index, ctx.basic = shape, index, basic
        return backend.ops_for(values).scatter_add(shape, index, values, basic)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index]

    @staticmethod
    def jvp(ctx, t):
        return backend.ops_for(t).scatter_add(ctx.shape, ctx.index, t, ctx.basic)


class IndexPut(Op):
    """``x`` with ``x[index] = value`` applied to a copy (what ``t[index] = v`` records)."""

    name = "index_put"

    @staticmethod
    def forward(ctx, x, value, *, index):
        out = x.copy()
        try:
            out[index] = value
        except IndexError as exc:
            raise IndexingError(f"setitem on shape {x.shape}: {exc}") from None
        except ValueError as exc:
            raise ShapeError(f"setitem on shape {x.shape}: {exc}") from None
        keep = array_module(x).ones(x.shape, dtype=bool)
        keep[index] = False
        ctx.save_for_backward(keep)
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved
        nx, nv = ctx.needs_input_grad
        gv = g[ctx.index] if nv else None
        return (g * keep if nx else None), gv

    @staticmethod
    def jvp(ctx, tx, tv):
        out = tx.copy()
        out[ctx.index] = tv
        return out


# ---- joining and splitting -------------------------------------------------------------


class Concatenate(Op):
    name = "concatenate"

    @staticmethod
    def forward(ctx, *xs, axis):
        if not xs:
            raise ShapeError("concatenate: needs at least one tensor")
        axis = normalize_axis(axis, xs[0].ndim, "concatenate")
        for x in xs[1:]:
            if x.ndim != xs[0].ndim or any(
                m != n for i, (m, n) in enumerate(zip(x.shape, xs[0].shape)) if i != axis
            ):
                raise ShapeError(
                    f"concatenate along axis {axis}: shapes {xs[0].shape} and {x.shape} differ "
                    "off that axis"
                )
        ctx.axis = axis
        ctx.cuts = np.cumsum([x.shape[axis] for x in xs])[:-1].tolist()
        return array_module(xs[0]).concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(ctx.xp.split(g, ctx.cuts, axis=ctx.axis))

    @staticmethod
    def jvp(ctx, *ts):
        return array_module(ts[0]).concatenate(ts, axis=ctx.axis)


class Split(Op):
    name = "split"
    view = True

    @staticmethod
    def forward(ctx, x, *, indices_or_sections, axis):
        axis = normalize_axis(axis, x.ndim, "split")
        try:
            parts = array_module(x).split(x, indices_or_sections, axis=axis)
        except ValueError:
            raise ShapeError(
                f"split: axis {axis} of shape {x.shape} does not divide into "
                f"{indices_or_sections} equal parts"
            ) from None
        ctx.axis = axis
        ctx.sections = indices_or_sections
        return tuple(parts)

    @staticmethod
    def backward(ctx, *gs):
        return ctx.xp.concatenate(gs, axis=ctx.axis)

    @classmethod
    def write_back(cls, view, base, params, k):
        axis = normalize_axis(params["axis"], base.ndim, "split")
        parts = np.split(np.arange(base.shape[axis]), params["indices_or_sections"])
        rows = parts[k]
        start = int(rows[0]) if rows.size else 0
        return (slice(None),) * axis + (slice(start, start + rows.size),), view

    @staticmethod
    def jvp(ctx, t):
        return tuple(array_module(t).split(t, ctx.sections, axis=ctx.axis))


class Flip(Op):
    """``x`` reversed along ``axis`` (a tuple of axes); a copy, not a view."""

    name = "flip"

    @staticmethod
    def forward(ctx, x, *, axis):
        ctx.axis = axis
        return array_module(x).flip(x, axis).copy()

    @staticmethod
    def backward(ctx, g):
        return ctx.xp.flip(g, ctx.axis)

    @staticmethod
    def jvp(ctx, t):
        return array_module(t).flip(t, ctx.axis)


class Roll(Op):
    """``x`` shifted cyclically by ``shift`` along ``axis`` (NumPy's ``roll``); the
    gradient rolls back by ``-shift``."""

    name = "roll"

    @staticmethod
    def forward(ctx, x, *, shift, axis):
        ctx.shift, ctx.axis = shift, axis
        return array_module(x).roll(x, shift, axis)

    @staticmethod
    def backward(ctx, g):
        back = tuple(-s for s in ctx.shift) if isinstance(ctx.shift, tuple) else -ctx.shift
        return ctx.xp.roll(g, back, ctx.axis)

    @staticmethod
    def jvp(ctx, t):
        return array_module(t).roll(t, ctx.shift, ctx.axis)


class Pad(Op):
    """Constant padding; ``pad_width`` as NumPy's ((before, after), ...) per axis."""

    name = "pad"

    @staticmethod
    def forward(ctx, x, *, pad_width, value):
        ctx.widths = pad_width
        ctx.value = value
        return array_module(x).pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        inner = tuple(slice(b, n - a) for (b, a), n in zip(ctx.widths, g.shape))
        return g[inner]

    @staticmethod
    def jvp(ctx, t):
        return array_module(t).pad(t, ctx.widths, mode="constant", constant_values=0)
