"""Resampling of images and sequences: :func:`interpolate` (PyTorch's ``F.interpolate``)
and the sub-pixel rearrangements :func:`pixel_shuffle` / :func:`pixel_unshuffle`.

The modes are separable, so each spatial axis is resampled on its own, with PyTorch's
source coordinates (the same outputs for the same weights):

- ``nearest``: output index ``i`` reads input ``min(floor(i * scale), size - 1)`` (float32
  arithmetic, as PyTorch's kernel; for 2-D inputs also its legacy shortcuts, see
  :func:`_nearest_index`), by integer indexing, whose backward accumulates the repeated
  rows;
- ``linear`` / ``bilinear``: output ``i`` blends the two input rows around
  ``(i + 0.5) * scale - 0.5`` (clamped at 0), or ``i * (size - 1) / (out - 1)`` with
  ``align_corners=True``; applied as a small ``(out, size)`` interpolation matrix per axis;
- ``area``: adaptive average pooling.

``scale`` is ``size / out``, or ``1 / scale_factor`` when a scale factor is given (unless
``recompute_scale_factor=True``). Everything is a composition of differentiable ops, so
every derivative mode works. No new Op: this module sits above the core ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import ops
from chainrule.backend import array_module
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.conv import adaptive_avg_pool2d
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

# mode -> the spatial ranks it takes (inputs are (N, C, *spatial))
_MODES = {"nearest": (1, 2, 3), "linear": (1,), "bilinear": (2,), "area": (1, 2)}


def _per_axis(value: Any, n: int, name: str, ok: Any) -> tuple:
    items = tuple(value) if isinstance(value, tuple | list) else (value,) * n
    if len(items) != n or not all(ok(v) for v in items):
        raise ArgumentError(f"interpolate: {name} must be one value or {n} values, each "
                            f"{ok.__doc__}, got {value!r}")  # fmt: skip
    return items


def _is_size(v: Any) -> bool:
    """an int >= 1"""
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1


def _is_factor(v: Any) -> bool:
    """a number > 0"""
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and v > 0


def _sizes_and_scales(
    spatial: tuple, size: Any, scale_factor: Any, recompute: bool
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """The output sizes, and per axis the ``1 / scale_factor`` to use for coordinates (None:
    use ``size / out``)."""
    n = len(spatial)
    if (size is None) == (scale_factor is None):
        raise ArgumentError(f"interpolate: give exactly one of size and scale_factor, got "
                            f"size={size!r}, scale_factor={scale_factor!r}")  # fmt: skip
    if size is not None:
        return tuple(int(v) for v in _per_axis(size, n, "size", _is_size)), (None,) * n
    factors = _per_axis(scale_factor, n, "scale_factor", _is_factor)
    out = tuple(math.floor(i * float(f)) for i, f in zip(spatial, factors))
    if min(out) < 1:
        raise ShapeError(f"interpolate: scale_factor {scale_factor!r} shrinks input size "
                         f"{spatial} to {out}; every output size must be >= 1")  # fmt: skip
    return out, (None,) * n if recompute else tuple(1 / float(f) for f in factors)


def _nearest_index(size: int, out: int, inv_scale: float | None, legacy: bool) -> np.ndarray:
    """The input index each output index reads. ``legacy``: PyTorch's ``nearest_idx``
    shortcuts, which its CPU kernel applies to 2-D inputs only: an axis that keeps its size
    is copied and one that doubles reads ``i // 2``, whatever the scale factor."""
    if legacy and out in (size, 2 * size):
        return np.arange(out) // (out // size)
    scale = np.float32(size / out if inv_scale is None else inv_scale)
    src = np.floor(np.arange(out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, size - 1)


def _linear_matrix(size: int, out: int, inv_scale: float | None, align_corners: bool,
                   dtype: Any) -> np.ndarray:  # fmt: skip
    """The ``(out, size)`` matrix of linear interpolation with PyTorch's source
    coordinates (each row has weights ``1 - t`` and ``t`` on two neighbouring inputs)."""
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        src = dst * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        scale = size / out if inv_scale is None else inv_scale
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), size - 1)
    t = np.clip(src - lo, 0.0, 1.0)
    hi = np.minimum(lo + 1, size - 1)
    m = np.zeros((out, size))
    np.add.at(m, (np.arange(out), lo), 1.0 - t)
    np.add.at(m, (np.arange(out), hi), t)
    return m.astype(dtype)


def interpolate(
    x: Any,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> Tensor:
    """Resample ``x`` ``(N, C, *spatial)`` to ``size`` or by ``scale_factor`` (PyTorch's
    ``F.interpolate``): ``(N, C, *out)`` with ``out = size``, or
    ``floor(spatial * scale_factor)``.

    ``mode``: ``"nearest"`` (1 to 3 spatial axes), ``"linear"`` (``(N, C, L)``),
    ``"bilinear"`` (``(N, C, H, W)``) or ``"area"`` (adaptive average pooling, 1 or 2 axes).
    ``align_corners`` (linear modes only) maps the corner pixels' centres onto each other.
    Differentiable in ``x`` in every mode and to any order.
    """
    x = x if isinstance(x, Tensor) else Tensor(x)
    if mode not in _MODES:
        raise ArgumentError(f"interpolate: mode must be one of {sorted(_MODES)}, got {mode!r}")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ArgumentError(f"interpolate: align_corners is only for the linear modes "
                            f"(linear, bilinear), not mode={mode!r}")  # fmt: skip
    rank = x.ndim - 2
    if rank not in _MODES[mode]:
        wanted = " or ".join(f"{r + 2}-D" for r in _MODES[mode])
        raise ShapeError(f"interpolate: mode={mode!r} takes {wanted} input (N, C, *spatial), "
                         f"got shape {x.shape}")  # fmt: skip
    if mode != "nearest" and x.dtype.kind != "f":
        raise DTypeError(f"interpolate: mode={mode!r} needs a floating-point input, got dtype "
                         f"{x.dtype} (nearest takes any dtype)")  # fmt: skip
    spatial = x.shape[2:]
    out, inv_scales = _sizes_and_scales(spatial, size, scale_factor, bool(recompute_scale_factor))
    if mode == "area":
        y = adaptive_avg_pool2d(x if rank == 2 else x.reshape((*x.shape[:2], 1, -1)),
                                out if rank == 2 else (1, out[0]))  # fmt: skip
        return y if rank == 2 else y.reshape((*x.shape[:2], out[0]))
    xp = array_module(x.data)
    y = x
    for axis, (n_in, n_out, inv) in enumerate(zip(spatial, out, inv_scales), start=2):
        if n_in == n_out and (linear or inv is None or rank == 2):
            continue  # an axis that keeps its size is copied (see _nearest_index)
        if linear:  # the linear modes resample the last one or two axes: H by M @ y, W by y @ M^T
            m = xp.asarray(_linear_matrix(n_in, n_out, inv, bool(align_corners), x.dtype))
            y = ops.matmul(y, m.T) if axis == x.ndim - 1 else ops.matmul(m, y)
        else:
            index = (slice(None),) * axis + (
                xp.asarray(_nearest_index(n_in, n_out, inv, rank == 2)),
            )
            y = ops.getitem(y, index)
    return y


def _factor(op: str, factor: Any) -> int:
    if not _is_size(factor):
        raise ArgumentError(f"{op}: the factor must be an int >= 1, got {factor!r}")
    return int(factor)


def pixel_shuffle(x: Any, upscale_factor: int) -> Tensor:
    """Sub-pixel upsampling (PyTorch's ``pixel_shuffle``, Shi et al. 2016): x
    ``(*, C*r*r, H, W)`` -> ``(*, C, H*r, W*r)``; channel ``c*r*r + i*r + j`` becomes pixel
    ``(i, j)`` of each ``r x r`` block of output channel ``c``. A reshape and a transpose."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    r = _factor("pixel_shuffle", upscale_factor)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ShapeError(f"pixel_shuffle: input {x.shape} must be (*, C*{r * r}, H, W) for "
                         f"upscale_factor {r}")  # fmt: skip
    *lead, crr, h, w = x.shape
    c, k = crr // (r * r), len(lead)
    y = x.reshape((*lead, c, r, r, h, w))
    y = ops.transpose(y, (*range(k), k, k + 3, k + 1, k + 4, k + 2))  # (*, C, H, r, W, r)
    return y.reshape((*lead, c, h * r, w * r))


def pixel_unshuffle(x: Any, downscale_factor: int) -> Tensor:
    """The inverse of :func:`pixel_shuffle`: x ``(*, C, H*r, W*r)`` -> ``(*, C*r*r, H, W)``."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    r = _factor("pixel_unshuffle", downscale_factor)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ShapeError(f"pixel_unshuffle: input {x.shape} must be (*, C, H*{r}, W*{r}) for "
                         f"downscale_factor {r}")  # fmt: skip
    *lead, c, hr, wr = x.shape
    h, w, k = hr // r, wr // r, len(lead)
    y = x.reshape((*lead, c, h, r, w, r))
    y = ops.transpose(y, (*range(k), k, k + 2, k + 4, k + 1, k + 3))  # (*, C, r, r, H, W)
    return y.reshape((*lead, c * r * r, h, w))


__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle"]
