"""Spatial transformers: :func:`affine_grid` and :func:`grid_sample` (PyTorch's
``F.affine_grid`` / ``F.grid_sample``, Jaderberg et al. 2015).

Grids hold *normalised* coordinates, ``x`` (width) first: ``-1`` and ``1`` are the
centres of the corner pixels with ``align_corners=True``, their outer edges with
``align_corners=False``. Sampling follows ATen's ``GridSampler.h`` step by step:

1. unnormalise each coordinate to a pixel position: ``(g + 1) * (size - 1) / 2``
   (``align_corners=True``) or ``(g + 1) * size / 2 - 0.5``;
2. pad (bilinear and nearest): ``border`` clips the position to ``[0, size - 1]``;
   ``reflection`` reflects it about ``0`` and ``size - 1`` (``align_corners=True``) or
   ``-0.5`` and ``size - 0.5``, as often as needed, then clips; ``zeros`` leaves it;
3. read the corners around the position: the two floor/ceil neighbours per axis
   (bilinear, trilinear in 3-D), the rounded position (nearest, halves to even as C's
   ``nearbyint``) or the 4x4 taps ``floor - 1 .. floor + 2`` (bicubic, 2-D only, Keys'
   cubic convolution with ``A = -0.75``; there the *integer taps* are padded, the
   position is not, as PyTorch's ``get_value_bounded``). Corners outside the input read 0.

Everything is a composition of differentiable core ops, with no derivative rule of its
own: the integer corner indices come from the detached positions and the values are read
with one integer-array gather (whose backward scatter-adds, repeated corners
accumulating), while the interpolation weights stay functions of the grid. So the grid's
gradient is the weights' derivative (times the unnormalisation scale and the padding's
slope: 0 where ``border``/``reflection`` clip, including exactly at the borders, +-1
through reflections), as PyTorch's; nearest sampling has no grid gradient. Reverse mode,
forward mode and higher derivatives all come from the core ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import ops
from chainrule.backend import array_module
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

MODES = ("bilinear", "nearest", "bicubic")
PADDING_MODES = ("zeros", "border", "reflection")
CUBIC_A = -0.75  # PyTorch's (and OpenCV's) cubic convolution parameter
_SAFE = 2.0**40  # positions beyond this (and NaN/inf) index as -100: out of range, as ATen


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---- affine_grid ---------------------------------------------------------------------------


def _base_coords(n: int, align_corners: bool) -> np.ndarray:
    """PyTorch's ``linspace_from_neg_one``: the normalised centres of ``n`` pixels."""
    if n <= 1:
        return np.zeros(n)
    steps = np.linspace(-1.0, 1.0, n)
    return steps if align_corners else steps * (n - 1) / n


def affine_grid(theta: Any, size: Sequence[int], align_corners: bool | None = False) -> Tensor:
    """The sampling grid of a batch of affine maps (PyTorch's ``F.affine_grid``), for
    :func:`grid_sample`.

    - ``theta`` ``(N, 2, 3)`` with ``size = (N, C, H, W)`` gives ``(N, H, W, 2)``: output
      pixel ``(i, j)`` holds ``theta[n] @ (x_j, y_i, 1)``, where ``x_j`` and ``y_i`` are
      the normalised centres of column ``j`` and row ``i`` (``-1`` to ``1`` across the
      corner pixels' centres with ``align_corners=True``, across their outer edges with
      ``False``; ``0`` for an axis of length 1);
    - ``theta`` ``(N, 3, 4)`` with ``size = (N, C, D, H, W)`` gives ``(N, D, H, W, 3)``
      (``theta[n] @ (x, y, z, 1)``).

    ``C`` is ignored. Differentiable in ``theta`` (a matrix product with a constant base
    grid), to any order and in forward mode. ``align_corners=None`` means ``False``, as
    PyTorch's default (without its warning).

    Raises ``DTypeError`` for a non-floating ``theta``, ``ArgumentError`` for a ``size``
    that is not a sequence of ints, and ``ShapeError`` for a ``size`` of length other than
    4 or 5, a non-positive size, or a ``theta`` whose shape does not fit ``size``.
    """
    theta = _as_tensor(theta)
    if theta.dtype.kind != "f":
        raise DTypeError(f"affine_grid: theta must be floating point, got dtype {theta.dtype}")
    try:
        dims = tuple(size)
    except TypeError:
        raise ArgumentError(f"affine_grid: size must be a sequence of ints (N, C, H, W) or "
                            f"(N, C, D, H, W), got {size!r}") from None  # fmt: skip
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in dims):
        raise ArgumentError(f"affine_grid: size must hold ints, got {size!r}")
    dims = tuple(int(v) for v in dims)
    if len(dims) not in (4, 5):
        raise ShapeError(f"affine_grid: size must have length 4 (N, C, H, W) for 2-D or 5 "
                         f"(N, C, D, H, W) for 3-D transforms, got {dims} (length "
                         f"{len(dims)})")  # fmt: skip
    if min(dims) <= 0:
        raise ShapeError(f"affine_grid: every size must be positive, got {dims}")
    r = len(dims) - 2
    want = (dims[0], r, r + 1)
    if theta.shape != want:
        kind = "Nx2x3 (2-D)" if r == 2 else "Nx3x4 (3-D)"
        raise ShapeError(f"affine_grid: theta must be a batch of {kind} affine matrices of "
                         f"shape {want} for size {dims}, got shape {theta.shape}")  # fmt: skip
    spatial = dims[2:]  # (H, W) or (D, H, W)
    axes = [_base_coords(n, bool(align_corners)) for n in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # each (*spatial)
    # the homogeneous base points (x, y[, z], 1), x from the last spatial axis
    base = np.stack([*mesh[::-1], np.ones(spatial)], axis=-1).reshape(-1, r + 1)
    xp = array_module(theta.data)
    base = xp.asarray(base, dtype=theta.dtype)
    points = ops.matmul(base, ops.transpose(theta, (0, 2, 1)))  # (N, P, r)
    return ops.reshape(points, (dims[0], *spatial, r))


# ---- grid_sample: coordinates --------------------------------------------------------------


def _unnormalize(g: Tensor, size: int, align_corners: bool) -> Tensor:
    """Normalised coordinates to pixel positions (ATen's ``grid_sampler_unnormalize``,
    in the arithmetic of its vectorised CPU kernel)."""
    if align_corners:
        return (g + 1.0) * ((size - 1) / 2)
    return (g + 1.0) * (size / 2) - 0.5


def _clip(c: Tensor, size: int) -> Tensor:
    """``c`` clipped to ``[0, size - 1]``, with slope 1 strictly inside and 0 at and beyond
    the bounds (ATen's ``clip_coordinates_set_grad``: borders count as out of bounds). NaN
    becomes 0, as ATen's vectorised kernel."""
    d = c.data
    hi = size - 1
    xp = array_module(d)
    with np.errstate(invalid="ignore"):
        inside = (d > 0) & (d < hi)
        outside = xp.where(d >= hi, hi, 0).astype(d.dtype)
    return ops.where(inside, c, outside)


def _reflect(c: Tensor, size: int, align_corners: bool) -> Tensor:
    """``c`` reflected about the borders (``0`` and ``size - 1``, or ``-0.5`` and
    ``size - 0.5`` without ``align_corners``) until it lies between them, as ATen's
    ``reflect_coordinates``: piecewise ``+-c + const``, the sign and the constant read
    from the detached value."""
    if align_corners and size <= 1:
        return c * 0.0  # an empty span: every position reflects to 0
    low = 0.0 if align_corners else -0.5
    twice_span = 2.0 * (size - 1) if align_corners else 2.0 * size
    d = c.data
    xp = array_module(d)
    with np.errstate(invalid="ignore"):
        sign = xp.where(d - low < 0, -1.0, 1.0).astype(d.dtype)
        dist = sign * (c - low)  # |c - low|
        flips = xp.trunc(dist.data / twice_span)  # whole periods, removed as a constant
        extra = dist - flips * twice_span
        back = twice_span - extra
        return ops.where(extra.data > back.data, back, extra) + low


def _pad(c: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """ATen's ``compute_coordinates``: border clips, reflection reflects then clips."""
    if padding_mode == "border":
        return _clip(c, size)
    if padding_mode == "reflection":
        return _clip(_reflect(c, size, align_corners), size)
    return c


def _int_index(pos: Any) -> Any:
    """Whole-number float positions as int64; NaN, inf and huge ones as -100 (out of
    range, as ATen's ``safe_downgrade_to_int_range``)."""
    xp = array_module(pos)
    with np.errstate(invalid="ignore"):
        ok = xp.isfinite(pos) & (xp.abs(pos) < _SAFE)
    return xp.where(ok, pos, -100.0).astype(np.int64)


def _pad_taps(taps: Any, size: int, padding_mode: str, align_corners: bool) -> Any:
    """Bicubic's integer taps (as floats) padded as ATen's ``get_value_bounded``: the
    padding applied to the tap itself, then truncated to an int."""
    if padding_mode == "zeros":
        return _int_index(taps)
    xp = array_module(taps)
    with np.errstate(invalid="ignore"):  # NaN/inf taps: NaN here, then 0 after the clip
        if padding_mode == "reflection" and align_corners and size <= 1:
            taps = xp.zeros_like(taps)
        elif padding_mode == "reflection":
            low = 0.0 if align_corners else -0.5
            twice_span = 2.0 * (size - 1) if align_corners else 2.0 * size
            dist = xp.abs(taps - low)
            extra = dist - xp.trunc(dist / twice_span) * twice_span
            taps = xp.minimum(extra, twice_span - extra) + low
        taps = xp.where(taps >= size - 1, size - 1, xp.where(taps > 0, taps, 0.0))
    return _int_index(xp.trunc(taps))


def _cubic_weights(t: Tensor) -> Tensor:
    """The cubic-convolution weights of taps ``-1, 0, 1, 2`` at fraction ``t``, stacked on a
    new last axis (ATen's ``get_cubic_upsample_coefficients``, ``A = -0.75``, in its
    arithmetic): Keys' kernel at the distances ``t + 1, t, 1 - t, (1 - t) + 1``."""
    a = CUBIC_A
    s = 1.0 - t
    d = ops.stack([t + 1.0, t, s, s + 1.0], axis=-1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1.0  # |d| <= 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # 1 < |d| < 2
    xp = array_module(t.data)
    return ops.where(xp.asarray([False, True, True, False]), near, far)


def _axis_taps(g: Tensor, size: int, mode: str, padding_mode: str,
               align_corners: bool) -> tuple[Any, Any, Tensor | None]:  # fmt: skip
    """For one spatial axis: the integer taps ``(N, *out, T)``, whether each is inside the
    input, and their weights ``(N, *out, T)`` (None for nearest)."""
    xp = array_module(g.data)
    c = _unnormalize(g, size, align_corners)
    if mode == "bicubic":
        base = xp.floor(c.data)
        weights = _cubic_weights(c - base)
        taps = base[..., None] + xp.asarray([-1.0, 0.0, 1.0, 2.0], dtype=base.dtype)
        idx = _pad_taps(taps, size, padding_mode, align_corners)
    else:
        c = _pad(c, size, padding_mode, align_corners)
        if mode == "nearest":
            idx, weights = _int_index(xp.round(c.data))[..., None], None
        else:
            base = xp.floor(c.data)
            weights = ops.stack([(base + 1.0) - c, c - base], axis=-1)
            low = _int_index(base)[..., None]
            idx = xp.concatenate([low, low + 1], axis=-1)
    return idx, (idx >= 0) & (idx < size), weights


# ---- grid_sample ---------------------------------------------------------------------------


def _check_sample_args(x: Tensor, grid: Tensor, mode: str, padding_mode: str) -> None:
    if mode not in MODES:
        raise ArgumentError(f"grid_sample: mode must be one of {list(MODES)}, got {mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ArgumentError(f"grid_sample: padding_mode must be one of {list(PADDING_MODES)}, "
                            f"got {padding_mode!r}")  # fmt: skip
    if x.ndim not in (4, 5):
        raise ShapeError(f"grid_sample: input must be 4-D (N, C, H_in, W_in) or 5-D (N, C, "
                         f"D_in, H_in, W_in), got shape {x.shape}")  # fmt: skip
    r = x.ndim - 2
    if mode == "bicubic" and r != 2:
        raise ShapeError(f"grid_sample: mode='bicubic' takes 4-D input (N, C, H_in, W_in) "
                         f"only, got shape {x.shape}")  # fmt: skip
    out = "(N, H_out, W_out, 2)" if r == 2 else "(N, D_out, H_out, W_out, 3)"
    if grid.ndim != x.ndim or grid.shape[-1] != r:
        raise ShapeError(f"grid_sample: a {x.ndim}-D input {x.shape} needs a grid {out} "
                         f"(last axis {r}: x, y{', z' if r == 3 else ''}), got shape "
                         f"{grid.shape}")  # fmt: skip
    if grid.shape[0] != x.shape[0]:
        raise ShapeError(f"grid_sample: the grid's batch size {grid.shape[0]} (shape "
                         f"{grid.shape}) differs from the input's {x.shape[0]} (shape "
                         f"{x.shape})")  # fmt: skip
    if 0 in x.shape[2:]:
        raise ShapeError(f"grid_sample: the input's spatial sizes must be non-empty, got "
                         f"shape {x.shape}")  # fmt: skip
    for name, t in (("input", x), ("grid", grid)):
        if t.dtype.kind != "f":
            raise DTypeError(f"grid_sample: {name} must be floating point, got dtype {t.dtype}")
    if x.dtype != grid.dtype:
        raise DTypeError(f"grid_sample: input and grid must have the same dtype, got "
                         f"{x.dtype} and {grid.dtype}")  # fmt: skip


def grid_sample(
    input: Any,  # noqa: A002 - PyTorch's name
    grid: Any,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = False,
) -> Tensor:
    """Sample ``input`` at the positions in ``grid`` (PyTorch's ``F.grid_sample``).

    - 4-D: ``input`` ``(N, C, H_in, W_in)``, ``grid`` ``(N, H_out, W_out, 2)`` ->
      ``(N, C, H_out, W_out)``; ``grid[n, i, j] = (x, y)`` is the normalised position
      (``x`` along the width) that output pixel ``(i, j)`` reads.
    - 5-D: ``input`` ``(N, C, D_in, H_in, W_in)``, ``grid`` ``(N, D_out, H_out, W_out,
      3)`` of ``(x, y, z)`` -> ``(N, C, D_out, H_out, W_out)``.

    ``-1`` and ``1`` are the centres of the corner pixels with ``align_corners=True``, their
    outer edges with ``False`` (``None`` means ``False``, PyTorch's default).

    ``mode``: ``"bilinear"`` (trilinear for 5-D input), ``"nearest"`` (the nearest pixel,
    halves rounded to even) or ``"bicubic"`` (4-D only; the 4x4 neighbourhood with Keys'
    cubic convolution, ``A = -0.75``; it can overshoot the input's range).

    ``padding_mode``, for positions outside the input: ``"zeros"`` (corners outside read
    0), ``"border"`` (positions clipped to the border pixels) or ``"reflection"``
    (positions reflected about the borders, as often as needed; about the corner pixels'
    centres with ``align_corners=True``, their outer edges with ``False``). For bicubic
    the padding applies to each of the 16 integer taps rather than to the position, as
    PyTorch's.

    Differentiable in ``input`` (all modes) and in ``grid`` (bilinear and bicubic; the
    padding's clipping has slope 0, also exactly at the borders, and its reflections slope
    +-1), to any order and in forward mode, with PyTorch's gradients. ``"nearest"`` has no
    grid gradient: its output does not depend on ``grid`` in the graph (PyTorch returns a
    zero gradient). The derivative in ``grid`` jumps where a position crosses a pixel (and,
    with border or reflection padding, a border); there the one-sided value PyTorch
    picks is returned.

    Raises ``ArgumentError`` for an unknown ``mode`` or ``padding_mode``; ``ShapeError``
    for an input that is not 4-D or 5-D, bicubic with 5-D input, a grid whose rank or last
    axis (2 for 4-D input, 3 for 5-D) does not fit the input, a batch-size mismatch or an
    empty spatial input axis; ``DTypeError`` for a non-floating input or grid, or
    different dtypes.
    """
    x, grid = _as_tensor(input), _as_tensor(grid)
    _check_sample_args(x, grid, mode, padding_mode)
    align = bool(align_corners)
    n, c, *spatial = x.shape
    r = len(spatial)
    out_shape = grid.shape[1:-1]
    xp = array_module(x.data)
    flat = None  # the flat index into the spatial axes, (N, *out, T, ..., T)
    inside = None
    weight = None
    for a, size in enumerate(spatial):  # spatial axis a reads grid coordinate r - 1 - a
        g = ops.getitem(grid, (Ellipsis, r - 1 - a))
        idx, ok, w = _axis_taps(g, size, mode, padding_mode, align)
        # put this axis's taps at tap position a of r: (N, *out, 1, .., T, .., 1)
        shape = (*idx.shape[:-1], *(idx.shape[-1] if b == a else 1 for b in range(r)))
        idx, ok = xp.clip(idx, 0, size - 1).reshape(shape), ok.reshape(shape)
        stride = math.prod(spatial[a + 1 :])
        flat = idx * stride if flat is None else flat + idx * stride
        inside = ok if inside is None else inside & ok
        if w is not None:
            w = ops.reshape(w, shape)
            weight = w if weight is None else weight * w
    taps = math.prod(flat.shape[1 + len(out_shape) :])
    flat = flat.reshape(n, *out_shape, taps)
    inside = inside.reshape(n, *out_shape, taps)
    # the gather: (N, P, C) read at (n, flat) -> (N, *out, K, C); repeats accumulate in backward
    channels_last = ops.transpose(x, (0, *range(2, r + 2), 1))
    source = ops.reshape(channels_last, (n, math.prod(spatial), c))
    batch = xp.arange(n).reshape((n,) + (1,) * (len(out_shape) + 1))
    values = ops.getitem(source, (batch, flat))
    if not bool(inside.all()):
        values = ops.where(inside[..., None], values, 0.0)
    letters = "dhw"[3 - len(out_shape) :]
    if weight is None:  # nearest: one tap
        values = ops.reshape(values, (n, *out_shape, c))
        return ops.transpose(values, (0, r + 1, *range(1, r + 1)))
    weight = ops.reshape(weight, (n, *out_shape, taps))
    return ops.einsum(f"n{letters}k,n{letters}kc->nc{letters}", weight, values)


__all__ = ["affine_grid", "grid_sample"]
