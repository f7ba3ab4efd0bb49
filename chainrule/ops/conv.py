"""Convolution and pooling over NCHW (and NCL) tensors, with PyTorch's semantics and layouts.

Public functions: :func:`conv2d`, :func:`conv1d`, :func:`max_pool2d`, :func:`avg_pool2d`,
and the two adjoints of a convolution, :func:`conv2d_input` and :func:`conv2d_weight`
(``torch.nn.grad``'s functions of the same names).

How a convolution is computed
-----------------------------
* **im2col with stride tricks.** The (zero-padded) input is viewed, without copying, as
  the windows ``(C, kH, kW, OH, OW, N)`` with ``as_strided``; one copy of that view is the
  column matrix, and **one GEMM** ``W (G, C_out/G, C_in/G*kH*kW) @ cols (G, C_in/G*kH*kW,
  OH*OW*N)`` is the whole convolution. Groups are the batch axis of that one (batched)
  matmul: there is no Python loop over pixels, channels or groups.
* **Batch-last memory.** Columns, outputs and gradients are laid out with the batch axis
  innermost, ``(C, H, W, N)`` in memory. The copies that build the columns and the strided
  adds of the input gradient then run over long contiguous rows (``OW * N`` elements)
  instead of rows of ``OW``, which measured 4-8x faster here, and max pooling reduces over
  contiguous rows too.
  The arrays handed back still have PyTorch's *shapes* ``(N, C, H, W)``: they are transposed
  views of the batch-last buffers (``out.data.flags.c_contiguous`` is False). Every NumPy
  operation accepts them; elementwise results keep the layout, so a ReLU between a conv
  and a pool costs no transpose, and a gradient that reaches a conv in batch-last layout is
  used in place. Any other layout is copied to batch-last once, inside the op.
* **Backward.** ``dW`` is one GEMM of the gradient against the columns (kept from the
  forward when they take at most ``KEEP_COLUMNS_BYTES``, else rebuilt from the saved input:
  they are ``kH*kW`` times its size); ``dX`` loops over the ``kH*kW`` kernel offsets only:
  per offset one GEMM ``W[:, :, i, j]^T @ g`` and one strided add of the resulting
  ``(C, OH, OW, N)`` block onto the input's pixels, so the ``kH*kW``-times larger column
  gradient is never built. The bias gradient is a row sum.
* **Double backward.** The three maps ``conv(x, w)``, ``conv2d_input(g, w)`` (``dX``) and
  ``conv2d_weight(x, g)`` (``dW``) are bilinear and adjoint to each other, so each is an
  :class:`Op` whose backward is written with the other two: with ``create_graph=True`` the
  backward records differentiable ops and ``gradgradcheck`` passes.

Pooling
-------
``max_pool2d`` takes the maximum over the ``kH*kW`` strided taps of the input (one
``np.maximum`` per kernel offset, no window copy) and keeps a boolean mask of the **first**
maximal element of each window (as PyTorch's indices; ties, e.g. the zeros after a ReLU,
go to the first in row-major window order). When stride equals the kernel, with no padding
and no dilation (the common case), the backward is a single broadcast multiply of the
gradient with the mask written straight into the batch-last buffer; otherwise windows
overlap and the backward accumulates one strided add per kernel offset. ``avg_pool2d``
(``count_include_pad=True`` by default, as PyTorch) is the same with sums. The backward of
a pool is linear in the gradient, and is itself an Op whose backward is the pool's
gather, so double backward works.

Shapes: ``x`` ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``), ``weight``
``(C_out, C_in/groups, kH, kW)``, ``bias`` ``(C_out,)``; output ``(N, C_out, OH, OW)`` with
``OH = (H + pad_top + pad_bottom - dilation*(kH-1) - 1) // stride + 1`` (PyTorch's floor).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.backend import array_module
from chainrule.errors import ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

IntOrPair = int | Sequence[int]

# The forward keeps the column matrix for dW when it is at most this large; above it the
# backward rebuilds the columns from the saved input (one strided copy, about 0.05 ms per
# LeNet layer) instead of holding kH*kW times the input's memory until backward.
KEEP_COLUMNS_BYTES = 16 * 1024 * 1024


# ---- geometry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Where the windows of a 2-D convolution or pool sit on an ``(H, W)`` input.

    ``pads`` is ``(top, bottom, left, right)``; ``oh, ow`` the output size.
    """

    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pads: tuple[int, int, int, int]
    oh: int
    ow: int

    @property
    def padded(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.pads
        return self.h + pt + pb, self.w + pl + pr

    @property
    def has_padding(self) -> bool:
        return any(self.pads)

    @property
    def tiles(self) -> bool:
        """Windows tile the input: stride == kernel, no dilation, no padding (the fast case,
        where each input element lies in at most one window)."""
        return (
            self.sh == self.kh
            and self.sw == self.kw
            and self.dh == 1
            and self.dw == 1
            and not self.has_padding
        )

    def tap(self, i: int, j: int) -> tuple[slice, slice]:
        """The strided slices (rows, cols) of the padded input seen by kernel offset (i, j)."""
        r0, c0 = i * self.dh, j * self.dw
        return (
            slice(r0, r0 + self.sh * (self.oh - 1) + 1, self.sh),
            slice(c0, c0 + self.sw * (self.ow - 1) + 1, self.sw),
        )

    def crop(self) -> tuple[slice, slice]:
        """The slices of the padded input that hold the real input."""
        pt, _, pl, _ = self.pads
        return slice(pt, pt + self.h), slice(pl, pl + self.w)


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution: ``x`` ``(n, c, h, w)``, weight ``(o, c // groups, kh, kw)``."""

    n: int
    c: int
    o: int
    groups: int
    win: Window

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c, self.win.h, self.win.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.o, self.c // self.groups, self.win.kh, self.win.kw)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.o, self.win.oh, self.win.ow)


def _pair(v: Any, name: str, op: str) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ArgumentError(f"{op}: {name} must be an int or a pair, got {v!r}")
        a, b = v
    else:
        a = b = v
    try:
        pair = (int(a), int(b))
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}") from None
    if pair != (a, b):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return pair


def _positive(pair: tuple[int, int], name: str, op: str) -> tuple[int, int]:
    if min(pair) < 1:
        raise ArgumentError(f"{op}: {name} must be >= 1, got {pair}")
    return pair


def _out_size(size: int, before: int, after: int, k: int, s: int, d: int) -> int:
    return (size + before + after - d * (k - 1) - 1) // s + 1


def same_padding(k: int, d: int) -> tuple[int, int]:
    """``(before, after)`` padding that keeps a stride-1 axis its size for kernel ``k`` with
    dilation ``d``; PyTorch puts the odd extra after."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def _window(
    op: str,
    spatial: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Any,
    dilation: tuple[int, int],
    shapes: str,
    overhang: bool = False,
) -> Window:
    """The window geometry; ``padding`` is an int, a pair, "valid" or "same" (stride 1).
    ``overhang``: a kernel larger than the padded input is left to the caller (ceil mode,
    whose last window may hang over the edge)."""
    (h, w), (kh, kw), (sh, sw), (dh, dw) = spatial, kernel, stride, dilation
    if isinstance(padding, str):
        if padding == "valid":
            pads = (0, 0, 0, 0)
        elif padding == "same":
            if (sh, sw) != (1, 1):
                raise ArgumentError(f"{op}: padding='same' needs stride 1, got stride {stride}")
            pads = (*same_padding(kh, dh), *same_padding(kw, dw))
        else:
            raise ArgumentError(
                f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}"
            )
    else:
        ph, pw = _pair(padding, "padding", op)
        if min(ph, pw) < 0:
            raise ArgumentError(f"{op}: padding must be >= 0, got {padding!r}")
        pads = (ph, ph, pw, pw)
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if (eh > hp or ew > wp) and not overhang:
        raise ShapeError(
            f"{op}: kernel {(kh, kw)} (dilated extent {(eh, ew)}) is larger than the padded "
            f"input {(hp, wp)}; {shapes}"
        )
    oh = _out_size(h, pads[0], pads[1], kh, sh, dh)
    ow = _out_size(w, pads[2], pads[3], kw, sw, dw)
    return Window(h, w, kh, kw, sh, sw, dh, dw, pads, oh, ow)


# ---- array helpers (raw NumPy / CuPy arrays) ------------------------------------------------


def _as_strided(xp: Any, a: Any, shape: tuple, strides: tuple) -> Any:
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


def _batch_last(a: Any) -> Any:
    """``a`` ``(N, C, H, W)`` as a C-contiguous ``(C, H, W, N)`` array (no copy when the
    memory already is batch-last, as every array these ops return is)."""
    t = a.transpose(1, 2, 3, 0)
    return t if t.flags.c_contiguous else array_module(a).ascontiguousarray(t)


def _batch_last_empty(xp: Any, shape: tuple, dtype: Any, zero: bool = False) -> Any:
    """An uninitialised (or zeroed) array of NCHW ``shape`` with batch-last memory."""
    n, c, h, w = shape
    make = xp.zeros if zero else xp.empty
    return make((c, h, w, n), dtype=dtype).transpose(3, 0, 1, 2)


def _padded(x: Any, win: Window, fill: float) -> Any:
    """``x`` padded with ``fill`` as an ``(N, C, Hp, Wp)`` view of batch-last memory (``x``
    itself when there is no padding)."""
    if not win.has_padding:
        return x
    xp = array_module(x)
    n, c = x.shape[:2]
    hp, wp = win.padded
    out = xp.full((c, hp, wp, n), fill, dtype=x.dtype).transpose(3, 0, 1, 2)
    rows, cols = win.crop()
    out[:, :, rows, cols] = x
    return out


def _windows(xb: Any, win: Window) -> Any:
    """The windows of batch-last ``xb`` ``(C, Hp, Wp, N)`` as a read-only strided view
    ``(C, kH, kW, OH, OW, N)``; no copy."""
    xp = array_module(xb)
    c, _, _, n = xb.shape
    s_c, s_h, s_w, s_n = xb.strides
    shape = (c, win.kh, win.kw, win.oh, win.ow, n)
    strides = (s_c, win.dh * s_h, win.dw * s_w, win.sh * s_h, win.sw * s_w, s_n)
    return _as_strided(xp, xb, shape, strides)


def _im2col(x: Any, geo: ConvGeometry) -> Any:
    """The column matrix ``(G, C_in/G * kH * kW, OH * OW * N)`` of ``x`` (one copy)."""
    xp = array_module(x)
    win = geo.win
    # a padded copy is made batch-last already; otherwise transpose (copy) only if needed
    xb = _padded(x, win, 0).transpose(1, 2, 3, 0) if win.has_padding else _batch_last(x)
    cols = xp.ascontiguousarray(_windows(xb, win))
    return cols.reshape(geo.groups, -1, win.oh * win.ow * geo.n)


def _weight_matrix(w: Any, geo: ConvGeometry) -> Any:
    """The weight as ``(G, C_out/G, C_in/G * kH * kW)``."""
    return w.reshape(geo.groups, geo.o // geo.groups, -1)


def _gemm(a: Any, b: Any) -> Any:
    """``a @ b`` for group-batched matrices; a plain 2-D GEMM when there is one group."""
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return a @ b


def _mT(a: Any) -> Any:
    return a.swapaxes(-1, -2)


def _conv_forward(x: Any, w: Any, b: Any, geo: ConvGeometry, cols: Any = None) -> Any:
    """``W @ im2col(x) (+ bias)`` as an ``(N, C_out, OH, OW)`` view of batch-last memory
    (``cols``: the columns of ``x`` when already built)."""
    cols = _im2col(x, geo) if cols is None else cols
    y = _gemm(_weight_matrix(w, geo), cols).reshape(geo.o, -1)
    if b is not None:
        if y.dtype == array_module(y).result_type(y, b):
            y += b[:, None]
        else:
            y = y + b[:, None]
    win = geo.win
    return y.reshape(geo.o, win.oh, win.ow, geo.n).transpose(3, 0, 1, 2)


def _grad_matrix(g: Any, geo: ConvGeometry) -> Any:
    """The output gradient ``(N, C_out, OH, OW)`` as ``(G, C_out/G, OH * OW * N)``."""
    return _batch_last(g).reshape(geo.groups, geo.o // geo.groups, -1)


def _conv_input_grad(g: Any, w: Any, geo: ConvGeometry) -> Any:
    """dL/dx of a convolution, shape ``(N, C_in, H, W)`` (batch-last memory).

    The adjoint of im2col + GEMM, done one kernel offset at a time: for offset ``(i, j)``
    one GEMM ``W[:, :, i, j]^T @ g`` gives that tap's share ``(C_in, OH, OW, N)``, and one
    strided add puts it onto the input pixels the tap saw. Unlike one big GEMM followed by
    col2im, this never builds the ``kH*kW``-times larger column gradient, and each tap's
    share is still in cache when it is added (1.7x faster on LeNet's second layer here).
    """
    xp = array_module(g)
    win, groups = geo.win, geo.groups
    o_g, c_g = geo.o // groups, geo.c // groups
    gm = _grad_matrix(g, geo)  # (G, C_out/G, OH*OW*N)
    # (kH, kW, G, C_in/G, C_out/G): the transposed weight of each kernel offset (a view)
    wt = w.reshape(groups, o_g, c_g, win.kh, win.kw).transpose(3, 4, 0, 2, 1)
    dtype = xp.result_type(g, w)
    hp, wp = win.padded
    dxp = xp.zeros((geo.c, hp, wp, geo.n), dtype=dtype)
    share = xp.empty((groups, c_g, gm.shape[-1]), dtype=dtype)
    share_pixels = share.reshape(geo.c, win.oh, win.ow, geo.n)
    for i in range(win.kh):
        for j in range(win.kw):
            if groups == 1:  # a plain 2-D GEMM
                xp.matmul(wt[i, j, 0], gm[0], out=share[0])
            else:
                xp.matmul(wt[i, j], gm, out=share)
            rows, cols = win.tap(i, j)
            dxp[:, rows, cols] += share_pixels
    rows, cols = win.crop()
    return dxp[:, rows, cols].transpose(3, 0, 1, 2)


def _conv_weight_grad(x: Any, g: Any, geo: ConvGeometry, cols: Any = None) -> Any:
    """dL/dW of a convolution: ``g @ im2col(x)^T``, shape ``(C_out, C_in/G, kH, kW)``
    (``cols``: the columns of ``x`` when kept from the forward).

    Computed as ``(cols @ g^T)^T``: with the long ``OH*OW*N`` axis as the reduction, BLAS
    ran this orientation about 20% faster than ``g @ cols^T`` here (the transpose of the
    small result is a free view; the final reshape copies ``C_out*C_in/G*kH*kW`` numbers)."""
    cols = _im2col(x, geo) if cols is None else cols
    dw = _mT(_gemm(cols, _mT(_grad_matrix(g, geo))))
    return array_module(dw).ascontiguousarray(dw).reshape(geo.w_shape)


def _bias_grad(g: Any) -> Any:
    return _batch_last(g).reshape(g.shape[1], -1).sum(axis=1)


def _is_tangent(t: Any) -> bool:
    """Whether a jvp argument is a real tangent (operands that are not tensors get 0)."""
    return backend.is_array(t)


def _sum_terms(terms: list, shape: tuple, like: Any) -> Any:
    terms = [t for t in terms if t is not None]
    if not terms:
        return array_module(like).zeros(shape, dtype=like.dtype)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


# ---- convolution ops ----------------------------------------------------------------------


class Convolution(Op):
    """``y = conv(x, w) + b``: x ``(N, C_in, H, W)``, w ``(C_out, C_in/G, kH, kW)``, b
    ``(C_out,)`` or None; y ``(N, C_out, OH, OW)``."""

    name = "conv2d"

    @staticmethod
    def forward(ctx, x, w, b, *, geo):
        ctx.save_for_backward(x, w)
        ctx.geo = geo
        cols = _im2col(x, geo)
        needs = ctx.needs_input_grad
        if len(needs) > 1 and needs[1] and cols.nbytes <= KEEP_COLUMNS_BYTES:
            ctx.cols = cols  # dW needs them: keep them rather than rebuild them
        return _conv_forward(x, w, b, geo, cols)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        geo = ctx.geo
        nx, nw, nb = ctx.needs_input_grad
        if ctx.xp.is_graph:  # record the backward with the adjoint ops
            gx = ConvInputGrad.apply(g, w, geo=geo) if nx else None
            gw = ConvWeightGrad.apply(x, g, geo=geo) if nw else None
            gb = g.sum(axis=(0, 2, 3)) if nb else None
            return gx, gw, gb
        gx = _conv_input_grad(g, w, geo) if nx else None
        gw = _conv_weight_grad(x, g, geo, ctx.__dict__.get("cols")) if nw else None
        gb = _bias_grad(g) if nb else None
        return gx, gw, gb

    @staticmethod
    def jvp(ctx, tx, tw, tb):
        x, w = ctx.saved
        geo = ctx.geo
        out = _sum_terms(
            [
                _conv_forward(tx, w, None, geo) if _is_tangent(tx) else None,
                _conv_forward(x, tw, None, geo) if _is_tangent(tw) else None,
            ],
            geo.y_shape,
            x,
        )
        return out + tb[:, None, None] if _is_tangent(tb) else out


class ConvInputGrad(Op):
    """``dx = conv2d_input(g, w)``: the adjoint of the convolution in ``x`` (a transposed
    convolution). g ``(N, C_out, OH, OW)``, w ``(C_out, C_in/G, kH, kW)``; dx
    ``(N, C_in, H, W)``."""

    name = "conv2d_input"

    @staticmethod
    def forward(ctx, g, w, *, geo):
        ctx.save_for_backward(g, w)
        ctx.geo = geo
        return _conv_input_grad(g, w, geo)

    @staticmethod
    def backward(ctx, gg):
        g, w = ctx.saved
        geo = ctx.geo
        ng, nw = ctx.needs_input_grad
        if ctx.xp.is_graph:
            dg = Convolution.apply(gg, w, None, geo=geo) if ng else None
            dw = ConvWeightGrad.apply(gg, g, geo=geo) if nw else None
            return dg, dw
        dg = _conv_forward(gg, w, None, geo) if ng else None
        dw = _conv_weight_grad(gg, g, geo) if nw else None
        return dg, dw

    @staticmethod
    def jvp(ctx, tg, tw):
        g, w = ctx.saved
        geo = ctx.geo
        return _sum_terms(
            [
                _conv_input_grad(tg, w, geo) if _is_tangent(tg) else None,
                _conv_input_grad(g, tw, geo) if _is_tangent(tw) else None,
            ],
            geo.x_shape,
            g,
        )


class ConvWeightGrad(Op):
    """``dw = conv2d_weight(x, g)``: the adjoint of the convolution in ``w``. x
    ``(N, C_in, H, W)``, g ``(N, C_out, OH, OW)``; dw ``(C_out, C_in/G, kH, kW)``."""

    name = "conv2d_weight"

    @staticmethod
    def forward(ctx, x, g, *, geo):
        ctx.save_for_backward(x, g)
        ctx.geo = geo
        return _conv_weight_grad(x, g, geo)

    @staticmethod
    def backward(ctx, gg):
        x, g = ctx.saved
        geo = ctx.geo
        nx, ng = ctx.needs_input_grad
        if ctx.xp.is_graph:
            dx = ConvInputGrad.apply(g, gg, geo=geo) if nx else None
            dg = Convolution.apply(x, gg, None, geo=geo) if ng else None
            return dx, dg
        dx = _conv_input_grad(g, gg, geo) if nx else None
        dg = _conv_forward(x, gg, None, geo) if ng else None
        return dx, dg

    @staticmethod
    def jvp(ctx, tx, tg):
        x, g = ctx.saved
        geo = ctx.geo
        return _sum_terms(
            [
                _conv_weight_grad(tx, g, geo) if _is_tangent(tx) else None,
                _conv_weight_grad(x, tg, geo) if _is_tangent(tg) else None,
            ],
            geo.w_shape,
            x,
        )


# ---- pooling: raw-array cores -------------------------------------------------------------


def _taps(x: Any, win: Window) -> list:
    """The ``kH*kW`` strided views ``(N, C, OH, OW)`` of (padded) ``x``, one per kernel
    offset in row-major order."""
    out = []
    for i in range(win.kh):
        for j in range(win.kw):
            rows, cols = win.tap(i, j)
            out.append(x[:, :, rows, cols])
    return out


def _tiles_view(a: Any, win: Window) -> Any:
    """``a`` ``(N, C, H, W)`` cut into its tiles ``(N, C, OH, kH, OW, kW)`` (a view; only
    when the windows tile the input)."""
    xp = array_module(a)
    n, c = a.shape[:2]
    s_n, s_c, s_h, s_w = a.strides
    shape = (n, c, win.oh, win.kh, win.ow, win.kw)
    strides = (s_n, s_c, win.kh * s_h, s_h, win.kw * s_w, s_w)
    return _as_strided(xp, a, shape, strides)


def _max_pool_forward(x: Any, win: Window, with_mask: bool = True) -> tuple[Any, Any]:
    """The pooled maxima ``(N, C, OH, OW)`` and (when ``with_mask``) the mask
    ``(N, C, OH, kH, OW, kW)`` of the first maximum of each window; both with batch-last
    memory."""
    xp = array_module(x)
    n, c = x.shape[:2]
    taps = _taps(_padded(x, win, -math.inf), win)
    y = _batch_last_empty(xp, (n, c, win.oh, win.ow), x.dtype)
    if len(taps) == 1:
        y[...] = taps[0]
    else:
        xp.maximum(taps[0], taps[1], out=y)
        for t in taps[2:]:
            xp.maximum(y, t, out=y)
    if not with_mask:
        return y, None
    mask = xp.empty((c, win.oh, win.kh, win.ow, win.kw, n), dtype=bool).transpose(5, 0, 1, 2, 3, 4)
    per_tap = [mask[:, :, :, i, :, j] for i in range(win.kh) for j in range(win.kw)]
    # Tap by tap in window order: a tap is marked where it equals the maximum and no
    # earlier tap was (so ties go to the first). ``taken`` is kept batch-last like the rest:
    # a C-ordered copy here made this loop three times slower.
    taken = _batch_last_empty(xp, y.shape, bool)
    xp.equal(taps[0], y, out=taken)
    per_tap[0][...] = taken
    for k in range(1, len(taps)):
        m = per_tap[k]
        xp.equal(taps[k], y, out=m)
        xp.greater(m, taken, out=m)  # m and not taken
        if k < len(taps) - 1:
            xp.logical_or(taken, m, out=taken)
    return y, mask


def _g_batch_last(g: Any) -> Any:
    """``g`` ``(N, C, OH, OW)`` as a view of batch-last memory (copied if it is not)."""
    return _batch_last(g).transpose(3, 0, 1, 2)


def _scatter(g: Any, mask: Any, scale: float | None, win: Window, x_shape: tuple) -> Any:
    """Spread ``g`` ``(N, C, OH, OW)`` over each window (where ``mask`` is True, or times
    ``scale`` everywhere), summing where windows overlap; returns ``(N, C, H, W)``."""
    xp = array_module(g)
    gb = _g_batch_last(g)
    if win.tiles:
        rem = x_shape[2] != win.oh * win.kh or x_shape[3] != win.ow * win.kw
        dx = _batch_last_empty(xp, x_shape, g.dtype, zero=rem)
        core = _tiles_view(dx, win)
        ge = gb[:, :, :, None, :, None]
        if mask is not None:
            xp.multiply(ge, mask, out=core)
        else:
            xp.multiply(ge, scale, out=core)
        return dx
    n, c, _, _ = x_shape
    dxp = _batch_last_empty(xp, (n, c, *win.padded), g.dtype, zero=True)
    part = gb if mask is not None else gb * scale
    k = 0
    for i in range(win.kh):
        for j in range(win.kw):
            rows, cols = win.tap(i, j)
            dxp[:, :, rows, cols] += part * mask[:, :, :, i, :, j] if mask is not None else part
            k += 1
    rows, cols = win.crop()
    return dxp[:, :, rows, cols]


def _gather(t: Any, mask: Any, scale: float | None, win: Window) -> Any:
    """The adjoint of :func:`_scatter`: sum ``t`` ``(N, C, H, W)`` over each window (where
    ``mask`` is True, or times ``scale``); returns ``(N, C, OH, OW)``."""
    xp = array_module(t)
    taps = _taps(_padded(t, win, 0), win)
    n, c = t.shape[:2]
    out = _batch_last_empty(xp, (n, c, win.oh, win.ow), t.dtype, zero=True)
    k = 0
    for i in range(win.kh):
        for j in range(win.kw):
            out += taps[k] * mask[:, :, :, i, :, j] if mask is not None else taps[k]
            k += 1
    if scale is not None:
        out *= scale
    return out


def _avg_divisor(xp: Any, win: Window, count_include_pad: bool, dtype: Any) -> Any:
    """``1 / (window size)``: a number, or per output pixel ``(OH, OW)`` where windows count
    fewer elements: padding left out of the count, or a ceil-mode window hanging over the
    bottom or right edge (only the padded input counts, as PyTorch)."""
    pt, pb, pl, pr = win.pads
    overhang = (pb - pt, pr - pl)  # ceil mode's extra padding (pads are otherwise symmetric)
    if not win.has_padding or (count_include_pad and overhang == (0, 0)):
        return 1.0 / (win.kh * win.kw)
    if count_include_pad:  # count the padded input: it is the input of a window without pads
        win = replace(win, h=win.h + pt + pb - overhang[0], w=win.w + pl + pr - overhang[1],
                      pads=(0, overhang[0], 0, overhang[1]))  # fmt: skip
    ones = xp.ones((1, 1, win.h, win.w), dtype=dtype)
    counts = _gather(ones, None, None, win)[0, 0]
    return 1.0 / counts


# ---- pooling ops --------------------------------------------------------------------------


class MaxPool(Op):
    """``y = max over each window of x``: x ``(N, C, H, W)``, y ``(N, C, OH, OW)``; the
    gradient goes to the first maximal element of each window."""

    name = "max_pool2d"

    @staticmethod
    def forward(ctx, x, *, win):
        # The mask is only made when this call is recorded (not under no_grad).
        y, mask = _max_pool_forward(x, win, with_mask=bool(ctx.needs_input_grad))
        ctx.mask = mask
        ctx.win = win
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.xp.is_graph:
            return _MaxPoolScatter.apply(g, mask=ctx.mask, win=ctx.win, x_shape=ctx.x_shape)
        return _scatter(g, ctx.mask, None, ctx.win, ctx.x_shape)

    @staticmethod
    def jvp(ctx, t):
        return _gather(t, ctx.mask, None, ctx.win)


class _MaxPoolScatter(Op):
    """The backward of max pooling, linear in ``g``: ``g`` ``(N, C, OH, OW)`` placed at each
    window's maximum, giving ``(N, C, H, W)``. Its own backward is :class:`_MaxPoolGather`."""

    name = "max_pool2d_backward"

    @staticmethod
    def forward(ctx, g, *, mask, win, x_shape):
        ctx.mask, ctx.win = mask, win
        return _scatter(g, mask, None, win, x_shape)

    @staticmethod
    def backward(ctx, gg):
        if ctx.xp.is_graph:
            return _MaxPoolGather.apply(gg, mask=ctx.mask, win=ctx.win)
        return _gather(gg, ctx.mask, None, ctx.win)

    @staticmethod
    def jvp(ctx, t):
        return _scatter(t, ctx.mask, None, ctx.win, _x_shape(t, ctx.win))


class _MaxPoolGather(Op):
    """Each window's value at its maximum: ``t`` ``(N, C, H, W)`` -> ``(N, C, OH, OW)``; the
    adjoint of :class:`_MaxPoolScatter` (what double backward through max pooling needs)."""

    name = "max_pool2d_gather"

    @staticmethod
    def forward(ctx, t, *, mask, win):
        ctx.mask, ctx.win, ctx.x_shape = mask, win, t.shape
        return _gather(t, mask, None, win)

    @staticmethod
    def backward(ctx, g):
        if ctx.xp.is_graph:
            return _MaxPoolScatter.apply(g, mask=ctx.mask, win=ctx.win, x_shape=ctx.x_shape)
        return _scatter(g, ctx.mask, None, ctx.win, ctx.x_shape)

    @staticmethod
    def jvp(ctx, t):
        return _gather(t, ctx.mask, None, ctx.win)


def _x_shape(g: Any, win: Window) -> tuple:
    return (g.shape[0], g.shape[1], win.h, win.w)


class AvgPool(Op):
    """``y = mean over each window of x`` (zero padding counted, as PyTorch's default):
    x ``(N, C, H, W)``, y ``(N, C, OH, OW)``."""

    name = "avg_pool2d"

    @staticmethod
    def forward(ctx, x, *, win, scale):
        ctx.win, ctx.scale, ctx.x_shape = win, scale, x.shape
        return _gather(x, None, scale, win)

    @staticmethod
    def backward(ctx, g):
        if ctx.xp.is_graph:
            return _AvgPoolScatter.apply(g, win=ctx.win, scale=ctx.scale, x_shape=ctx.x_shape)
        return _scatter(g, None, ctx.scale, ctx.win, ctx.x_shape)

    @staticmethod
    def jvp(ctx, t):
        return _gather(t, None, ctx.scale, ctx.win)


class _AvgPoolScatter(Op):
    """The backward of average pooling (linear in ``g``); its backward is :class:`AvgPool`."""

    name = "avg_pool2d_backward"

    @staticmethod
    def forward(ctx, g, *, win, scale, x_shape):
        ctx.win, ctx.scale = win, scale
        return _scatter(g, None, scale, win, x_shape)

    @staticmethod
    def backward(ctx, gg):
        if ctx.xp.is_graph:
            return AvgPool.apply(gg, win=ctx.win, scale=ctx.scale)
        return _gather(gg, None, ctx.scale, ctx.win)

    @staticmethod
    def jvp(ctx, t):
        return _scatter(t, None, ctx.scale, ctx.win, _x_shape(t, ctx.win))


# ---- public functions ---------------------------------------------------------------------


def _hashable(v: Any) -> Any:
    return tuple(_hashable(e) for e in v) if isinstance(v, (list, tuple)) else v


@functools.lru_cache(maxsize=512)
def _cached_call(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _cached(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` remembered for repeated arguments (a training loop calls a layer with
    the same shapes every step, and working out the geometry costs more than the lookup).
    Errors are not cached; unhashable arguments skip the cache."""
    key = tuple(_hashable(a) for a in args)
    try:
        hash(key)
    except TypeError:
        return fn(*args)
    return _cached_call(fn, *key)


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _batched(x: Tensor, op: str, what: str) -> tuple[Tensor, bool]:
    """``x`` with a batch axis (an unbatched ``(C, H, W)`` gets one); and whether it was
    added."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x.reshape((1, *x.shape)), True
    raise ShapeError(f"{op}: expected {what} (4-D, or 3-D unbatched), got shape {x.shape}")


def _conv_geometry(
    op: str,
    xs: tuple,
    ws: tuple,
    bs: tuple | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    shown: str,
) -> ConvGeometry:
    if len(ws) != 4:
        raise ShapeError(f"{op}: weight must be (C_out, C_in/groups, kH, kW), got shape {ws}")
    if not isinstance(groups, int) or groups < 1:
        raise ArgumentError(f"{op}: groups must be a positive int, got {groups!r}")
    n, c, h, w = xs
    o, cg, kh, kw = ws
    if c % groups:
        raise ShapeError(
            f"{op}: input channels {c} of {shown} are not divisible by groups={groups}"
        )
    if o % groups:
        raise ShapeError(
            f"{op}: output channels {o} of weight {ws} are not divisible by groups={groups}"
        )
    if cg * groups != c:
        raise ShapeError(
            f"{op}: {shown} has {c} channels but weight {ws} expects "
            f"{cg} x groups={groups} = {cg * groups}"
        )
    if kh == 0 or kw == 0:
        raise ShapeError(
            f"{op}: weight {ws} has an empty kernel {(kh, kw)} (every kernel axis needs "
            "length >= 1)"
        )
    if bs is not None and tuple(bs) != (o,):
        raise ShapeError(
            f"{op}: bias shape {tuple(bs)} does not match the {o} output channels of weight {ws}"
        )
    stride = _positive(_pair(stride, "stride", op), "stride", op)
    dilation = _positive(_pair(dilation, "dilation", op), "dilation", op)
    win = _window(op, (h, w), (kh, kw), stride, padding, dilation, f"{shown}, weight {ws}")
    if min(n, o, win.oh, win.ow) == 0 or c == 0:
        raise ShapeError(f"{op}: empty input or output for {shown} and weight {ws}")
    return ConvGeometry(n, c, o, groups, win)


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch's ``conv2d``).

    x ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``), weight
    ``(C_out, C_in/groups, kH, kW)``, bias ``(C_out,)`` or None -> ``(N, C_out, OH, OW)`` with
    ``OH = (H + 2*pH - dH*(kH-1) - 1) // sH + 1``. ``stride``, ``padding`` and ``dilation``
    are ints or pairs; ``padding`` may also be ``"valid"`` (0) or ``"same"`` (stride 1 only;
    an odd total goes to the bottom/right, as PyTorch). Zero padding only.

    The result has batch-last memory (see the module docstring). Differentiable in ``x``,
    ``weight`` and ``bias`` in reverse mode (to any order) and forward mode.
    """
    x, weight = _as_tensor(x), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x4, unbatched = _batched(x, "conv2d", "input (N, C_in, H, W)")
    shown = f"input {x.shape}"
    geo = _cached(
        _conv_geometry,
        "conv2d",
        x4.shape,
        weight.shape,
        None if bias is None else bias.shape,
        stride,
        padding,
        dilation,
        groups,
        shown,
    )
    y = Convolution.apply(x4, weight, bias, geo=geo)
    return y.reshape(y.shape[1:]) if unbatched else y


def _one(v: Any, name: str, op: str) -> Any:
    """The value of a 1-D argument given as an int or a 1-tuple."""
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise ArgumentError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
        return v[0]
    return v


def _check_1d(op: str, x: Tensor, channels: str = "C") -> None:
    if x.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected input (N, {channels}, L) (3-D, or 2-D unbatched), "
                         f"got shape {x.shape}")  # fmt: skip


def _on_one_row(op: str, fn: Callable[..., Any], x: Tensor, *args: Any, shown: str,
                **kwargs: Any) -> Any:  # fmt: skip
    """``fn``, a 2-D op, over ``x`` ``(N, C, L)`` or ``(C, L)`` seen as one row
    ``(N, C, 1, L)``, its errors renamed to ``op`` with ``shown`` (the arguments given);
    returns its output (or outputs) without that row."""
    try:
        out = fn(x.reshape((*x.shape[:-1], 1, x.shape[-1])), *args, **kwargs)
    except (ShapeError, ArgumentError) as exc:
        two_d = op.replace("1d", "2d")
        raise type(exc)(f"{op}: {shown}: {str(exc).removeprefix(two_d + ': ')}") from None
    outs = out if isinstance(out, tuple) else (out,)
    flat = tuple(o.reshape((*o.shape[:-2], o.shape[-1])) for o in outs)
    return flat if isinstance(out, tuple) else flat[0]


def conv1d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution (PyTorch's ``conv1d``): x ``(N, C_in, L)`` (or ``(C_in, L)``), weight
    ``(C_out, C_in/groups, k)``, bias ``(C_out,)`` -> ``(N, C_out, L_out)`` with
    ``L_out = (L + 2*p - d*(k-1) - 1) // s + 1``; ``padding`` may be ``"valid"``/``"same"``.

    Computed as :func:`conv2d` on ``(N, C_in, 1, L)`` (same im2col core, one GEMM)."""
    x, weight = _as_tensor(x), _as_tensor(weight)
    _check_1d("conv1d", x, "C_in")
    if weight.ndim != 3:
        raise ShapeError(
            f"conv1d: weight must be (C_out, C_in/groups, k), got shape {weight.shape}"
        )
    pad = padding if isinstance(padding, str) else (0, _one(padding, "padding", "conv1d"))
    return _on_one_row(
        "conv1d", conv2d, x, weight.reshape((*weight.shape[:2], 1, weight.shape[2])), bias,
        stride=(1, _one(stride, "stride", "conv1d")), padding=pad,
        dilation=(1, _one(dilation, "dilation", "conv1d")), groups=groups,
        shown=f"input {x.shape}, weight {weight.shape}",
    )  # fmt: skip


def conv2d_input(
    input_size: Sequence[int],
    weight: Any,
    grad_output: Any,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """The gradient of :func:`conv2d` with respect to its input (``torch.nn.grad.
    conv2d_input``): a transposed convolution of ``grad_output`` ``(N, C_out, OH, OW)`` with
    ``weight`` ``(C_out, C_in/groups, kH, kW)``, giving ``input_size`` ``(N, C_in, H, W)``.
    Differentiable in ``weight`` and ``grad_output``."""
    weight, grad_output = _as_tensor(weight), _as_tensor(grad_output)
    xs = tuple(int(v) for v in input_size)
    if len(xs) != 4:
        raise ShapeError(f"conv2d_input: input_size must be (N, C_in, H, W), got {xs}")
    geo = _conv_geometry(
        "conv2d_input",
        xs,
        weight.shape,
        None,
        stride,
        padding,
        dilation,
        groups,
        f"input_size {xs}",
    )
    if tuple(grad_output.shape) != geo.y_shape:
        raise ShapeError(
            f"conv2d_input: grad_output shape {grad_output.shape} != output shape "
            f"{geo.y_shape} of the convolution"
        )
    return ConvInputGrad.apply(grad_output, weight, geo=geo)


def conv2d_weight(
    x: Any,
    weight_size: Sequence[int],
    grad_output: Any,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """The gradient of :func:`conv2d` with respect to its weight (``torch.nn.grad.
    conv2d_weight``): ``x`` ``(N, C_in, H, W)`` against ``grad_output``
    ``(N, C_out, OH, OW)``, giving ``weight_size`` ``(C_out, C_in/groups, kH, kW)``.
    Differentiable in ``x`` and ``grad_output``."""
    x, grad_output = _as_tensor(x), _as_tensor(grad_output)
    if x.ndim != 4:
        raise ShapeError(f"conv2d_weight: expected input (N, C_in, H, W), got shape {x.shape}")
    ws = tuple(int(v) for v in weight_size)
    geo = _conv_geometry(
        "conv2d_weight", x.shape, ws, None, stride, padding, dilation, groups, f"input {x.shape}"
    )
    if tuple(grad_output.shape) != geo.y_shape:
        raise ShapeError(
            f"conv2d_weight: grad_output shape {grad_output.shape} != output "
            f"shape {geo.y_shape} of the convolution"
        )
    return ConvWeightGrad.apply(x, grad_output, geo=geo)


def transposed_canvas(size: int, stride: int, dilation: int, kernel: int) -> int:
    """How many rows the windows of a transposed convolution cover along one axis, from
    ``size`` input rows (its output before padding is cropped and output padding added)."""
    return (size - 1) * stride + dilation * (kernel - 1) + 1


def _transpose_geometry(
    op: str,
    xs: tuple,
    ws: tuple,
    bs: tuple | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    dilation: Any,
    groups: int,
) -> tuple[ConvGeometry, tuple[int, int]]:
    """The convolution whose input adjoint is this transposed convolution, and the zero
    rows and columns to add after it.

    Along each axis the windows of the ``H`` input rows cover a canvas of
    ``(H - 1)*s + d*(k - 1) + 1`` rows; the output is that canvas less ``padding`` rows at
    the top and ``padding - output_padding`` at the bottom, so the convolution has those
    (uneven) pads. Output padding beyond ``padding`` lies past the canvas: zero rows, added
    after (PyTorch's values)."""  # fmt: skip
    if len(ws) != 4:
        raise ShapeError(f"{op}: weight must be (C_in, C_out/groups, kH, kW), got shape {ws}")
    if not isinstance(groups, int) or groups < 1:
        raise ArgumentError(f"{op}: groups must be a positive int, got {groups!r}")
    n, c, h, w = xs
    if ws[0] != c:
        raise ShapeError(
            f"{op}: input {xs} has {c} channels but weight {ws} expects {ws[0]} (weight is "
            "(C_in, C_out/groups, kH, kW))"
        )
    if c % groups:
        raise ShapeError(f"{op}: input channels {c} are not divisible by groups={groups}")
    if min(ws) == 0 or n == 0:
        raise ShapeError(f"{op}: empty input {xs} or weight {ws}")
    if isinstance(padding, str):
        raise ArgumentError(f"{op}: padding must be an int or a pair, got {padding!r}")
    stride = _positive(_pair(stride, "stride", op), "stride", op)
    dilation = _positive(_pair(dilation, "dilation", op), "dilation", op)
    pads, extra = _pair(padding, "padding", op), _pair(output_padding, "output_padding", op)
    if min(*pads, *extra) < 0:
        raise ArgumentError(f"{op}: padding and output_padding must be >= 0, got "
                            f"{padding!r} and {output_padding!r}")  # fmt: skip
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise ArgumentError(f"{op}: output_padding {extra} must be smaller than either "
                            f"stride {stride} or dilation {dilation}")  # fmt: skip
    c_out = ws[1] * groups
    if bs is not None and tuple(bs) != (c_out,):
        raise ShapeError(f"{op}: bias shape {tuple(bs)} does not match the {c_out} output "
                         f"channels of weight {ws} with groups={groups}")  # fmt: skip
    canvas = [transposed_canvas(i, s, d, k) for i, s, d, k in zip((h, w), stride, dilation,
                                                                  ws[2:])]  # fmt: skip
    out = [full - 2 * p + e for full, p, e in zip(canvas, pads, extra)]
    if min(out) < 1:
        raise ShapeError(f"{op}: input {xs} with weight {ws}, stride {stride} and padding "
                         f"{pads} gives output size {tuple(out)}, below 1")  # fmt: skip
    bottom = [max(p - e, 0) for p, e in zip(pads, extra)]
    reached = [full - p - b for full, p, b in zip(canvas, pads, bottom)]
    win = Window(reached[0], reached[1], ws[2], ws[3], *stride, *dilation,
                 (pads[0], bottom[0], pads[1], bottom[1]), h, w)  # fmt: skip
    unreached = (out[0] - reached[0], out[1] - reached[1])
    return ConvGeometry(n, c_out, c, groups, win), unreached


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> Tensor:
    """2-D transposed convolution (PyTorch's ``conv_transpose2d``, argument order included):
    the adjoint of :func:`conv2d` in its input, so ``conv_transpose2d(g, w)`` is the input
    gradient of ``conv2d(x, w)``.

    x ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``), weight
    ``(C_in, C_out/groups, kH, kW)``, bias ``(C_out,)`` or None -> ``(N, C_out, OH, OW)`` with
    ``OH = (H - 1)*sH - 2*pH + dH*(kH - 1) + output_padding + 1``. ``output_padding`` (less
    than the stride or the dilation) adds rows and columns at the bottom and right, which
    disambiguates the sizes a strided convolution maps to the same output size.

    Runs as the convolution's input-gradient op (one GEMM and one strided add per kernel
    offset), so it is differentiable in ``x``, ``weight`` and ``bias`` to any order and in
    forward mode."""
    x, weight = _as_tensor(x), _as_tensor(weight)
    bias = None if bias is None else _as_tensor(bias)
    x4, unbatched = _batched(x, "conv_transpose2d", "input (N, C_in, H, W)")
    geo, unreached = _cached(
        _transpose_geometry, "conv_transpose2d", x4.shape, weight.shape,
        None if bias is None else bias.shape, stride, padding, output_padding, dilation, groups,
    )  # fmt: skip
    y = ConvInputGrad.apply(x4, weight, geo=geo)
    if any(unreached):
        y = y.pad(((0, 0), (0, 0), (0, unreached[0]), (0, unreached[1])))
    if bias is not None:
        y = y + bias.reshape((-1, 1, 1))
    return y.reshape(y.shape[1:]) if unbatched else y


def conv_transpose1d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """1-D transposed convolution (PyTorch's ``conv_transpose1d``): x ``(N, C_in, L)`` (or
    ``(C_in, L)``), weight ``(C_in, C_out/groups, k)``, bias ``(C_out,)`` ->
    ``(N, C_out, L_out)`` with ``L_out = (L - 1)*s - 2*p + d*(k - 1) + output_padding + 1``.

    Computed as :func:`conv_transpose2d` on ``(N, C_in, 1, L)``."""
    x, weight = _as_tensor(x), _as_tensor(weight)
    _check_1d("conv_transpose1d", x, "C_in")
    if weight.ndim != 3:
        raise ShapeError("conv_transpose1d: weight must be (C_in, C_out/groups, k), got "
                         f"shape {weight.shape}")  # fmt: skip
    args = {"stride": stride, "padding": padding, "output_padding": output_padding,
            "dilation": dilation}  # fmt: skip
    pairs = {k: (0 if k.endswith("padding") else 1, _one(v, k, "conv_transpose1d"))
             for k, v in args.items()}  # fmt: skip
    return _on_one_row("conv_transpose1d", conv_transpose2d, x,
                       weight.reshape((*weight.shape[:2], 1, weight.shape[2])), bias,
                       groups=groups, shown=f"input {x.shape}, weight {weight.shape}",
                       **pairs)  # fmt: skip


def _pool_window(op: str, shape: tuple, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, ceil_mode: bool = False) -> Window:  # fmt: skip
    kernel = _positive(_pair(kernel_size, "kernel_size", op), "kernel_size", op)
    stride = kernel if stride is None else _positive(_pair(stride, "stride", op), "stride", op)
    dilation = _positive(_pair(dilation, "dilation", op), "dilation", op)
    ph, pw = _pair(padding, "padding", op)
    if ph < 0 or pw < 0 or 2 * ph > kernel[0] or 2 * pw > kernel[1]:
        raise ArgumentError(
            f"{op}: padding {(ph, pw)} must be >= 0 and at most half the kernel size {kernel}"
        )
    win = _window(op, shape[2:], kernel, stride, (ph, pw), dilation, f"input {shape}",
                  overhang=ceil_mode)  # fmt: skip
    if min(shape[:2]) == 0:
        raise ShapeError(f"{op}: empty input {shape}")
    if not ceil_mode:
        return win
    win = _ceil_mode(win)
    if min(win.oh, win.ow) < 1:
        raise ShapeError(f"{op}: input {shape} with kernel {kernel}, stride {stride}, padding "
                         f"{(ph, pw)} and dilation {dilation} gives output size "
                         f"{(win.oh, win.ow)}, below 1")  # fmt: skip
    return win


def _ceil_mode(win: Window) -> Window:
    """PyTorch's ceil mode: one more, partial window at the bottom (right) where the floor
    formula drops it, as long as it starts inside the input or its top (left) padding. The
    part that hangs over becomes extra bottom (right) padding."""
    pt, _, pl, _ = win.pads
    oh = _ceil_out_size(win.h, pt, win.kh, win.sh, win.dh)
    ow = _ceil_out_size(win.w, pl, win.kw, win.sw, win.dw)
    over_h = max(0, (oh - 1) * win.sh + win.dh * (win.kh - 1) + 1 - (win.h + 2 * pt))
    over_w = max(0, (ow - 1) * win.sw + win.dw * (win.kw - 1) + 1 - (win.w + 2 * pl))
    return replace(win, pads=(pt, pt + over_h, pl, pl + over_w), oh=oh, ow=ow)


def _ceil_out_size(size: int, pad: int, k: int, s: int, d: int) -> int:
    out = -(-(size + 2 * pad - d * (k - 1) - 1) // s) + 1
    return out - 1 if (out - 1) * s >= size + pad else out


def max_pool2d(
    x: Any,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """2-D max pooling (PyTorch's ``max_pool2d``): x ``(N, C, H, W)`` (or ``(C, H, W)``) ->
    ``(N, C, OH, OW)``, ``OH = floor((H + 2*padding - dilation*(kH-1) - 1) / stride) + 1``
    (``ceil`` with ``ceil_mode``, whose last window may hang over the edge but starts inside
    the input or its padding). ``stride`` defaults to ``kernel_size``; padding (at most half
    the kernel) counts as -inf. The gradient of each window goes to its first maximal
    element (row-major), as PyTorch's indices. With ``return_indices``, also those
    indices: int64 ``(N, C, OH, OW)``, each ``row * W + col`` in the unpadded input."""
    x = _as_tensor(x)
    x4, unbatched = _batched(x, "max_pool2d", "input (N, C, H, W)")
    win = _cached(_pool_window, "max_pool2d", x4.shape, kernel_size, stride, padding, dilation,
                  bool(ceil_mode))  # fmt: skip
    y = MaxPool.apply(x4, win=win)
    if return_indices:
        indices = Tensor(_max_pool_indices(x4.data, win))
        if unbatched:
            return y.reshape(y.shape[1:]), indices.reshape(indices.shape[1:])
        return y, indices
    return y.reshape(y.shape[1:]) if unbatched else y


def _max_pool_indices(x: Any, win: Window) -> Any:
    """Where each window's (first) maximum sits in ``x`` ``(N, C, H, W)``: the flat index
    ``row * W + col``, int64 ``(N, C, OH, OW)``."""
    xp = array_module(x)
    _, mask = _max_pool_forward(x, win)  # (N, C, OH, kH, OW, kW): the first maximum
    n, c = x.shape[:2]
    tap = mask.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, win.oh, win.ow, -1).argmax(axis=-1)
    i, j = tap // win.kw, tap % win.kw
    pt, _, pl, _ = win.pads
    rows = xp.arange(win.oh)[:, None] * win.sh + i * win.dh - pt
    cols = xp.arange(win.ow)[None, :] * win.sw + j * win.dw - pl
    return (rows * win.w + cols).astype(xp.int64)


def avg_pool2d(
    x: Any,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling (PyTorch's ``avg_pool2d``): x ``(N, C, H, W)`` (or ``(C, H, W)``)
    -> ``(N, C, OH, OW)``, ``OH = floor((H + 2*padding - kH) / stride) + 1`` (``ceil`` with
    ``ceil_mode``). ``stride`` defaults to ``kernel_size``; zero padding (at most half the
    kernel) is counted in the mean unless ``count_include_pad=False``; the part of a
    ceil-mode window beyond the padding never is. ``divisor_override`` divides every window
    sum by that number instead."""
    x = _as_tensor(x)
    x4, unbatched = _batched(x, "avg_pool2d", "input (N, C, H, W)")
    win = _cached(_pool_window, "avg_pool2d", x4.shape, kernel_size, stride, padding, 1,
                  bool(ceil_mode))  # fmt: skip
    if divisor_override is not None:
        try:
            divisor = 0 if isinstance(divisor_override, bool) else operator.index(divisor_override)
        except TypeError:
            divisor = 0
        if divisor <= 0:
            raise ArgumentError(
                f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}"
            )
        scale = 1.0 / divisor
    else:
        scale = _avg_divisor(array_module(x4.data), win, count_include_pad, x4.dtype)
    y = AvgPool.apply(x4, win=win, scale=scale)
    return y.reshape(y.shape[1:]) if unbatched else y


def _pool_1d(op: str, pool: Callable[..., Any], x: Any, *args: Any) -> Any:
    """``pool`` (a 2-D pool) over ``x`` seen as one row (see :func:`_on_one_row`)."""
    x = _as_tensor(x)
    _check_1d(op, x)
    return _on_one_row(op, pool, x, *args, shown=f"input {x.shape}")


def _on_row(v: Any, name: str, op: str, fill: int) -> tuple[int, Any]:
    """A 1-D argument as the 2-D pair for one row: ``(fill, v)``."""
    return fill, _one(v, name, op)


def max_pool1d(x: Any, kernel_size: int | Sequence[int], stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:  # fmt: skip
    """1-D max pooling (PyTorch's ``max_pool1d``): x ``(N, C, L)`` (or ``(C, L)``) ->
    ``(N, C, OL)`` as :func:`max_pool2d` over one row (indices are positions along L)."""
    op = "max_pool1d"
    return _pool_1d(op, max_pool2d, x, _on_row(kernel_size, "kernel_size", op, 1),
                    None if stride is None else _on_row(stride, "stride", op, 1),
                    _on_row(padding, "padding", op, 0), _on_row(dilation, "dilation", op, 1),
                    ceil_mode, return_indices)  # fmt: skip


def avg_pool1d(x: Any, kernel_size: int | Sequence[int], stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip
    """1-D average pooling (PyTorch's ``avg_pool1d``): x ``(N, C, L)`` (or ``(C, L)``) ->
    ``(N, C, OL)`` as :func:`avg_pool2d` over one row."""
    op = "avg_pool1d"
    return _pool_1d(op, avg_pool2d, x, _on_row(kernel_size, "kernel_size", op, 1),
                    None if stride is None else _on_row(stride, "stride", op, 1),
                    _on_row(padding, "padding", op, 0), ceil_mode, count_include_pad)  # fmt: skip


def adaptive_avg_pool1d(x: Any, output_size: int | Sequence[int]) -> Tensor:
    """Average pooling to ``output_size`` along L (PyTorch's ``adaptive_avg_pool1d``): x
    ``(N, C, L)`` (or ``(C, L)``) -> ``(N, C, output_size)``, PyTorch's windows."""
    op = "adaptive_avg_pool1d"
    return _pool_1d(op, adaptive_avg_pool2d, x, _on_row(output_size, "output_size", op, 1))


def _adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along one axis: ``[floor(i*size/out), ceil((i+1)*size/out))``."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_max_pool2d(
    x: Any, output_size: Any, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a fixed output size (PyTorch's ``adaptive_max_pool2d``): x
    ``(N, C, H, W)`` or ``(C, H, W)`` -> ``(N, C, OH, OW)`` over PyTorch's adaptive windows
    (those of :func:`adaptive_avg_pool2d`); the gradient goes to each window's first
    maximum. With ``return_indices`` also where each maximum sits (``row * W + col``, int64).
    Windows that tile the input run as :func:`max_pool2d`; others one max per window."""
    from chainrule import ops

    x = _as_tensor(x)
    if x.ndim not in (3, 4):
        raise ShapeError(f"adaptive_max_pool2d: input must be (N, C, H, W) or (C, H, W), got "
                         f"{x.shape}")  # fmt: skip
    h, w = x.shape[-2:]
    oh, ow = (full if size is None else size
              for size, full in zip(adaptive_output_size("adaptive_max_pool2d", output_size),
                                    (h, w)))  # fmt: skip
    if h % oh == 0 and w % ow == 0:
        return max_pool2d(x, (h // oh, w // ow), return_indices=return_indices)
    rows, cols = _adaptive_bounds(h, oh), _adaptive_bounds(w, ow)
    cells = [ops.max(x[..., r0:r1, c0:c1], axis=(-2, -1)) for r0, r1 in rows for c0, c1 in cols]
    y = ops.stack(cells, axis=-1).reshape((*x.shape[:-2], oh, ow))
    if not return_indices:
        return y
    xp = array_module(x.data)
    where = []
    for r0, r1 in rows:
        for c0, c1 in cols:
            window = x.data[..., r0:r1, c0:c1]
            flat = window.reshape((*window.shape[:-2], -1)).argmax(axis=-1)
            where.append((r0 + flat // (c1 - c0)) * w + c0 + flat % (c1 - c0))
    indices = xp.stack(where, axis=-1).reshape((*x.shape[:-2], oh, ow)).astype(xp.int64)
    return y, Tensor(indices)


def adaptive_max_pool1d(
    x: Any, output_size: int | Sequence[int], return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to ``output_size`` along L (PyTorch's ``adaptive_max_pool1d``): x
    ``(N, C, L)`` (or ``(C, L)``) -> ``(N, C, output_size)``."""
    op = "adaptive_max_pool1d"
    return _pool_1d(op, adaptive_max_pool2d, x, _on_row(output_size, "output_size", op, 1),
                    return_indices)  # fmt: skip


def _patch_index(op: str, spatial: tuple, kernel_size: Any, dilation: Any, padding: Any,
                 stride: Any) -> tuple[Window, Any, Any]:  # fmt: skip
    """The geometry of ``unfold``/``fold`` and, for the padded input, the row and column
    index arrays ``(kH*kW, OH*OW)`` of every kernel offset at every window position."""
    kernel = _positive(_pair(kernel_size, "kernel_size", op), "kernel_size", op)
    pads = _pair(padding, "padding", op)
    if min(pads) < 0:
        raise ArgumentError(f"{op}: padding must be >= 0, got {padding!r}")
    win = _window(op, spatial, kernel, _positive(_pair(stride, "stride", op), "stride", op),
                  pads, _positive(_pair(dilation, "dilation", op), "dilation", op),
                  f"spatial size {spatial}")  # fmt: skip
    i, j = np.meshgrid(np.arange(win.kh) * win.dh, np.arange(win.kw) * win.dw, indexing="ij")
    r, c = np.meshgrid(np.arange(win.oh) * win.sh, np.arange(win.ow) * win.sw, indexing="ij")
    rows = i.reshape(-1, 1) + r.reshape(1, -1)
    cols = j.reshape(-1, 1) + c.reshape(1, -1)
    return win, rows, cols


def unfold(x: Any, kernel_size: IntOrPair, dilation: IntOrPair = 1, padding: IntOrPair = 0,
           stride: IntOrPair = 1) -> Tensor:  # fmt: skip
    """Extract sliding patches (PyTorch's ``F.unfold``, im2col): x ``(N, C, H, W)`` (or
    ``(C, H, W)``) -> ``(N, C*kH*kW, L)``, ``L = OH*OW`` window positions in row-major order,
    each column one window (channel-major, then kernel row, then column). Zero padding.
    Its backward is :func:`fold` (overlapping windows sum)."""
    from chainrule import ops

    x = _as_tensor(x)
    x4, unbatched = _batched(x, "unfold", "input (N, C, H, W)")
    n, c, h, w = x4.shape
    win, rows, cols = _patch_index("unfold", (h, w), kernel_size, dilation, padding, stride)
    pt, pb, pl, pr = win.pads
    if win.has_padding:
        x4 = ops.pad(x4, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    xp = array_module(x4.data)
    patches = ops.getitem(x4, (slice(None), slice(None), xp.asarray(rows), xp.asarray(cols)))
    y = patches.reshape((n, c * win.kh * win.kw, win.oh * win.ow))
    return y.reshape(y.shape[1:]) if unbatched else y


def fold(x: Any, output_size: IntOrPair, kernel_size: IntOrPair, dilation: IntOrPair = 1,
         padding: IntOrPair = 0, stride: IntOrPair = 1) -> Tensor:  # fmt: skip
    """Sum sliding patches back into an image (PyTorch's ``F.fold``, col2im; the adjoint of
    :func:`unfold`): x ``(N, C*kH*kW, L)`` (or ``(C*kH*kW, L)``) -> ``(N, C, H, W)`` with
    ``(H, W) = output_size``; where windows overlap their values add up."""
    from chainrule import ops

    x = _as_tensor(x)
    if x.ndim not in (2, 3):
        raise ShapeError(f"fold: expected input (N, C*kH*kW, L) (3-D, or 2-D unbatched), "
                         f"got shape {x.shape}")  # fmt: skip
    x3 = x if x.ndim == 3 else x.reshape((1, *x.shape))
    size = _positive(_pair(output_size, "output_size", "fold"), "output_size", "fold")
    win, rows, cols = _patch_index("fold", size, kernel_size, dilation, padding, stride)
    k, positions = win.kh * win.kw, win.oh * win.ow
    n, ck, length = x3.shape
    if ck % k or length != positions:
        raise ShapeError(f"fold: input {x.shape} must be (N, C*{k}, {positions}) for kernel "
                         f"{(win.kh, win.kw)} and output_size {size} (C*kH*kW channels, one "
                         f"column per window position)")  # fmt: skip
    c = ck // k
    hp, wp = win.padded
    xp = array_module(x3.data)
    index = (slice(None), slice(None), xp.asarray(rows), xp.asarray(cols))
    canvas = ops.scatter_add((n, c, hp, wp), index, x3.reshape((n, c, k, length)))
    rows_kept, cols_kept = win.crop()
    y = canvas[:, :, rows_kept, cols_kept] if win.has_padding else canvas
    return y.reshape(y.shape[1:]) if x.ndim == 2 else y


def _adaptive_weights(size: int, out: int, dtype: Any) -> Any:
    """The ``(out, size)`` averaging matrix of adaptive pooling: row ``i`` averages
    ``[floor(i * size / out), ceil((i + 1) * size / out))``, PyTorch's windows."""
    rows = np.zeros((out, size), dtype=dtype)
    for i, (lo, hi) in enumerate(_adaptive_bounds(size, out)):
        rows[i, lo:hi] = 1.0 / (hi - lo)
    return rows


def adaptive_output_size(op: str, output_size: Any) -> tuple[int | None, int | None]:
    """``output_size`` (an int, or a pair of ints or None) as a checked pair."""
    pair = output_size if isinstance(output_size, tuple | list) else (output_size,) * 2
    if len(pair) != 2 or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in pair
    ):
        raise ArgumentError(
            f"{op}: output_size must be an int >= 1 or a pair of them (None keeps that size), "
            f"got {output_size!r}"
        )
    return pair[0], pair[1]


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (PyTorch's ``adaptive_avg_pool2d``): x
    ``(N, C, H, W)`` or ``(C, H, W)`` -> ``(N, C, OH, OW)``; ``output_size`` an int or a
    pair (None keeps that size). Output row ``i`` averages input rows
    ``floor(i*H/OH) .. ceil((i+1)*H/OH) - 1`` (columns likewise), computed as
    ``A_h @ x @ A_w^T`` with two small averaging matrices (``output_size=1``: the mean)."""
    x = _as_tensor(x)
    if x.ndim not in (3, 4):
        raise ShapeError(
            f"adaptive_avg_pool2d: input must be (N, C, H, W) or (C, H, W), got {x.shape}"
        )
    h, w = x.shape[-2:]
    oh, ow = (full if size is None else size
              for size, full in zip(adaptive_output_size("adaptive_avg_pool2d", output_size),
                                    (h, w)))  # fmt: skip
    from chainrule import ops

    if (oh, ow) == (1, 1):
        return ops.mean(x, axis=(-2, -1), keepdims=True)
    xp = array_module(x.data)
    a_h = xp.asarray(_adaptive_weights(h, oh, x.dtype))
    a_wt = xp.asarray(_adaptive_weights(w, ow, x.dtype).T)
    return ops.matmul(ops.matmul(a_h, x), a_wt)


__all__ = [
    "AvgPool", "ConvGeometry", "ConvInputGrad", "ConvWeightGrad", "Convolution", "MaxPool",
    "Window", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "adaptive_output_size", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d",
    "conv2d_input", "conv2d_weight", "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d",
    "max_pool2d", "same_padding", "transposed_canvas", "unfold",
]  # fmt: skip
