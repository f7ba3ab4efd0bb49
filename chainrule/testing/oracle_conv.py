"""Oracle table entries for convolution, pooling and resampling (``chainrule.ops.conv``,
``chainrule.ops.resample``).

:data:`CONV_OPS` is a list of :class:`~chainrule.testing.oracle.OpInfo` in the format of
``chainrule.testing.oracle.OPS``, checked by the same generic checks (gradcheck, forward vs
reverse mode, double backward, PyTorch in float64, a NumPy reference). The samples cover
stride, padding (ints, pairs, ``"same"`` with an asymmetric split, ``"valid"``), dilation,
groups (including depthwise), bias and no bias, odd and non-square sizes, kernels as large
as the input, 1x1 kernels, ``conv1d``, the transposed convolutions (output padding within
and beyond the padding), both adjoints (``conv2d_input``/``conv2d_weight`` against
``torch.nn.grad``), both pools (tiling windows, overlapping windows, padding, dilation,
leftover rows) and ``interpolate`` in every mode (nearest in 1 to 3 dimensions, linear,
bilinear with and without ``align_corners``, area; sizes and scale factors). Max-pool
samples have distinct values (no ties), so the numeric derivatives are well defined.

The NumPy references are written independently of chainrule's im2col: a convolution is
``einsum`` over ``sliding_window_view`` windows, a pool a reduction over them, a transposed
convolution a scatter of each kernel offset's products onto a canvas that is then cropped,
a resampling a loop over output positions.

Neither torch nor hypothesis is imported at module level.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np

from chainrule.ops import conv as _conv
from chainrule.ops import resample as _resample
from chainrule.testing.oracle import OpInfo, Sample, _r, _tm, distinct

# ---- NumPy references ----------------------------------------------------------------------


def _np_pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _np_pads(padding: Any, k: tuple, d: tuple) -> tuple[tuple[int, int], tuple[int, int]]:
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
        return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
    ph, pw = _np_pair(padding)
    return (ph, ph), (pw, pw)


def _np_windows(
    x: np.ndarray, k: tuple, s: tuple, d: tuple, pads: tuple, fill: float = 0.0
) -> np.ndarray:
    """``(N, C, OH, OW, kH, kW)`` windows of zero- (or ``fill``-) padded ``x``."""
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]), constant_values=fill)
    eh, ew = d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (eh, ew), axis=(2, 3))
    return win[:, :, :: s[0], :: s[1], :: d[0], :: d[1]]


def np_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> np.ndarray:
    """Reference 2-D convolution: einsum over the windows, group by group."""
    k, s, d = w.shape[2:], _np_pair(stride), _np_pair(dilation)
    win = _np_windows(x, k, s, d, _np_pads(padding, k, d))
    n, _, oh, ow = win.shape[:4]
    o, cg = w.shape[:2]
    win = win.reshape(n, groups, cg, oh, ow, *k)
    wg = w.reshape(groups, o // groups, cg, *k)
    y = np.einsum("ngchwij,gocij->ngohw", win, wg).reshape(n, o, oh, ow)
    return y if b is None else y + b[:, None, None]


def np_conv1d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> np.ndarray:
    pad = padding if isinstance(padding, str) else (0, padding)
    y = np_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pad, (1, dilation), groups)
    return y[:, :, 0]


def np_conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> np.ndarray:
    """Reference transposed convolution, by its definition: input pixel ``(i, j)`` times
    kernel offset ``(a, b)`` lands on canvas pixel ``(i*s + a*d, j*s + b*d)``; the output is
    the canvas cropped by ``padding`` at the top and left, ``output_size`` rows long (rows
    past the canvas are zero)."""
    (sh, sw), (dh, dw) = _np_pair(stride), _np_pair(dilation)
    (ph, pw), (eh, ew) = _np_pair(padding), _np_pair(output_padding)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + eh + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ew + 1
    canvas = np.zeros((n, og * groups, ph + max(oh, (h - 1) * sh + dh * (kh - 1) + 1),
                       pw + max(ow, (wd - 1) * sw + dw * (kw - 1) + 1)), dtype=x.dtype)  # fmt: skip
    xg = x.reshape(n, groups, c // groups, h, wd)
    wg = w.reshape(groups, c // groups, og, kh, kw)
    for a in range(kh):
        for bb in range(kw):
            part = np.einsum("ngchw,gco->ngohw", xg, wg[:, :, :, a, bb])
            rows = slice(a * dh, a * dh + (h - 1) * sh + 1, sh)
            cols = slice(bb * dw, bb * dw + (wd - 1) * sw + 1, sw)
            canvas[:, :, rows, cols] += part.reshape(n, og * groups, h, wd)
    y = canvas[:, :, ph : ph + oh, pw : pw + ow]
    return y if b is None else y + b[:, None, None]


def np_conv_transpose1d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                        stride: Any = 1, padding: Any = 0, output_padding: Any = 0,
                        groups: int = 1, dilation: Any = 1) -> np.ndarray:  # fmt: skip
    y = np_conv_transpose2d(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding),
                            (0, output_padding), groups, (1, dilation))  # fmt: skip
    return y[:, :, 0]


def np_interpolate(x: np.ndarray, size: Any = None, scale_factor: Any = None,
                   mode: str = "nearest", align_corners: Any = None,
                   recompute_scale_factor: Any = None) -> np.ndarray:  # fmt: skip
    """Reference resampling, output position by output position along each axis, from
    PyTorch's documented source coordinates (``area`` is the adaptive-pool reference)."""
    rank = x.ndim - 2
    if size is not None:
        out = size if isinstance(size, tuple) else (size,) * rank
        scales = [i / o for i, o in zip(x.shape[2:], out)]
    else:
        f = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * rank
        out = tuple(math.floor(i * fi) for i, fi in zip(x.shape[2:], f))
        scales = [i / o if recompute_scale_factor else 1 / fi
                  for i, o, fi in zip(x.shape[2:], out, f)]  # fmt: skip
    if mode == "area":
        x4 = x if rank == 2 else x[:, :, None]
        y = np_adaptive_avg_pool2d(x4, out if rank == 2 else (1, out[0]))
        return y if rank == 2 else y[:, :, 0]
    y = x
    for axis, (n_in, n_out, scale) in enumerate(zip(x.shape[2:], out, scales), start=2):
        if n_in == n_out and (mode != "nearest" or size is not None or rank == 2):
            continue
        moved = np.moveaxis(y, axis, -1)
        res = np.zeros(moved.shape[:-1] + (n_out,))
        for i in range(n_out):
            if mode == "nearest":
                legacy = rank == 2 and n_out == 2 * n_in
                j = i // 2 if legacy else min(int(np.floor(np.float32(i) * np.float32(scale))),
                                              n_in - 1)  # fmt: skip
                res[..., i] = moved[..., j]
                continue
            if align_corners:
                src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            else:
                src = max((i + 0.5) * scale - 0.5, 0.0)
            lo = min(int(np.floor(src)), n_in - 1)
            t = min(max(src - lo, 0.0), 1.0)
            res[..., i] = (1 - t) * moved[..., lo] + t * moved[..., min(lo + 1, n_in - 1)]
        y = np.moveaxis(res, -1, axis)
    return y


def np_unfold(x: np.ndarray, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
              stride: Any = 1) -> np.ndarray:  # fmt: skip
    """Reference im2col: window by window, each window's (C, kH, kW) values as a column."""
    (kh, kw), (dh, dw) = _np_pair(kernel_size), _np_pair(dilation)
    (ph, pw), (sh, sw) = _np_pair(padding), _np_pair(stride)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    cols = [xp[:, :, r * sh : r * sh + dh * (kh - 1) + 1 : dh,
               c * sw : c * sw + dw * (kw - 1) + 1 : dw].reshape(x.shape[0], -1)
            for r in range(oh) for c in range(ow)]  # fmt: skip
    return np.stack(cols, axis=-1)


def np_fold(x: np.ndarray, output_size: Any, kernel_size: Any, dilation: Any = 1,
            padding: Any = 0, stride: Any = 1) -> np.ndarray:  # fmt: skip
    """Reference col2im: the transpose of :func:`np_unfold`, built from its Jacobian."""
    (h, w), (kh, kw) = _np_pair(output_size), _np_pair(kernel_size)
    c = x.shape[1] // (kh * kw)
    size = c * h * w
    jac = np.stack([np_unfold(e.reshape(1, c, h, w), kernel_size, dilation, padding,
                              stride).ravel() for e in np.eye(size)], 1)  # fmt: skip
    return np.stack([(xi.ravel() @ jac).reshape(c, h, w) for xi in x])


def np_pixel_shuffle(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """Reference: output ``[c, h*r + i, w*r + j] = input[c*r*r + i*r + j, h, w]``."""
    r = upscale_factor
    *lead, crr, h, w = x.shape
    y = np.empty((*lead, crr // (r * r), h * r, w * r), dtype=x.dtype)
    for ch in range(crr):
        c, i, j = ch // (r * r), (ch // r) % r, ch % r
        y[..., c, i::r, j::r] = x[..., ch, :, :]
    return y


def np_pixel_unshuffle(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    r = downscale_factor
    *lead, c, hr, wr = x.shape
    y = np.empty((*lead, c * r * r, hr // r, wr // r), dtype=x.dtype)
    for ch in range(c * r * r):
        y[..., ch, :, :] = x[..., ch // (r * r), (ch // r) % r :: r, ch % r :: r]
    return y


def _np_pool_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length of a pool (PyTorch's formula; in ceil mode the last window must start
    inside the input or its left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = math.ceil(span / s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


def np_max_pool2d(
    x: np.ndarray,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    k = _np_pair(kernel_size)
    s = k if stride is None else _np_pair(stride)
    p, d = _np_pair(padding), _np_pair(dilation)
    pads = []
    for i in range(2):  # -inf padding, and more of it where a ceil-mode window hangs over
        out = _np_pool_size(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode)
        over = max(0, (out - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (x.shape[2 + i] + 2 * p[i]))
        pads.append((p[i], p[i] + over))
    return _np_windows(x, k, s, d, tuple(pads), -np.inf).max(axis=(-2, -1))


def np_avg_pool2d(
    x: np.ndarray,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Window by window, as PyTorch's CPU kernel: the divisor is the window clipped to the
    padded input (``count_include_pad``) or to the input itself."""
    (kh, kw), (ph, pw) = _np_pair(kernel_size), _np_pair(padding)
    sh, sw = (kh, kw) if stride is None else _np_pair(stride)
    h, w = x.shape[2:]
    oh = _np_pool_size(h, kh, sh, ph, 1, ceil_mode)
    ow = _np_pool_size(w, kw, sw, pw, 1, ceil_mode)
    y = np.empty(x.shape[:2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - ph, j * sw - pw
            r1, c1 = min(r0 + kh, h + ph), min(c0 + kw, w + pw)
            padded_count = (r1 - r0) * (c1 - c0)
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
            total = x[:, :, r0:r1, c0:c1].sum(axis=(-2, -1))
            count = padded_count if count_include_pad else (r1 - r0) * (c1 - c0)
            y[:, :, i, j] = total / (divisor_override or count)
    return y


def np_adaptive_avg_pool2d(x: np.ndarray, output_size: Any) -> np.ndarray:
    """Window by window: output ``(i, j)`` averages rows ``floor(i*H/OH)..ceil((i+1)*H/OH)``
    and the same for columns (PyTorch's adaptive windows)."""
    h, w = x.shape[-2:]
    pair = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    oh, ow = (h if pair[0] is None else pair[0]), (w if pair[1] is None else pair[1])
    y = np.empty(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
            c0, c1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            y[..., i, j] = x[..., r0:r1, c0:c1].mean(axis=(-2, -1))
    return y


def np_conv2d_input(w: np.ndarray, g: np.ndarray, input_size: tuple, **kw: Any) -> np.ndarray:
    """Reference dL/dx: the transpose of the reference convolution, built column by column
    from its Jacobian (small sizes only)."""
    n_in = int(np.prod(input_size))
    jac = np.stack([np_conv2d(e.reshape(input_size), w, **kw).ravel() for e in np.eye(n_in)], 1)
    return (g.ravel() @ jac).reshape(input_size)


def np_conv2d_weight(x: np.ndarray, g: np.ndarray, weight_size: tuple, **kw: Any) -> np.ndarray:
    """Reference dL/dW from the Jacobian of the reference convolution in W (small sizes)."""
    n_w = int(np.prod(weight_size))
    jac = np.stack([np_conv2d(x, e.reshape(weight_size), **kw).ravel() for e in np.eye(n_w)], 1)
    return (g.ravel() @ jac).reshape(weight_size)


# ---- torch equivalents (torch imported lazily) ---------------------------------------------


def _quiet(fn: Any) -> Any:
    """``fn`` with torch's warning about padding='same' with even kernels silenced."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(*args, **kwargs)

    return wrapped


@_quiet
def t_conv2d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _tm().nn.functional.conv2d(x, w, b, **kw)


@_quiet
def t_conv1d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _tm().nn.functional.conv1d(x, w, b, **kw)


def t_conv_transpose2d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _tm().nn.functional.conv_transpose2d(x, w, b, **kw)


def t_conv_transpose1d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _tm().nn.functional.conv_transpose1d(x, w, b, **kw)


def t_interpolate(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.interpolate(x, **kw)


def t_max_pool1d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.max_pool1d(x, **kw)


def t_avg_pool1d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.avg_pool1d(x, **kw)


def t_adaptive_avg_pool1d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.adaptive_avg_pool1d(x, **kw)


def np_pool1d(pool: Any) -> Any:
    """A 2-D reference pool run over ``(N, C, L)`` seen as one row."""

    def ref(x: np.ndarray, **kw: Any) -> np.ndarray:
        kw = {k: v if k in ("ceil_mode", "count_include_pad") else
              ((0, v) if k == "padding" else (1, v)) for k, v in kw.items()}  # fmt: skip
        x4 = x[:, :, None] if x.ndim == 3 else x[None, :, None]
        y = pool(x4, **kw)[:, :, 0]
        return y if x.ndim == 3 else y[0]

    return ref


def t_unfold(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.unfold(x, **kw)


def t_fold(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.fold(x, **kw)


def t_pixel_shuffle(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.pixel_shuffle(x, **kw)


def t_pixel_unshuffle(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.pixel_unshuffle(x, **kw)


def t_adaptive_max_pool2d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.adaptive_max_pool2d(x, **kw)


def np_adaptive_max_pool2d(x: np.ndarray, output_size: Any) -> np.ndarray:
    """Window by window, PyTorch's adaptive windows (as :func:`np_adaptive_avg_pool2d`)."""
    h, w = x.shape[-2:]
    oh, ow = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    y = np.empty(x.shape[:-2] + (oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, r1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
            c0, c1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            y[..., i, j] = x[..., r0:r1, c0:c1].max(axis=(-2, -1))
    return y


def t_max_pool2d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.max_pool2d(x, **kw)


def t_avg_pool2d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.avg_pool2d(x, **kw)


def t_adaptive_avg_pool2d(x: Any, **kw: Any) -> Any:
    return _tm().nn.functional.adaptive_avg_pool2d(x, **kw)


def t_conv2d_input(w: Any, g: Any, input_size: tuple, **kw: Any) -> Any:
    return _tm().nn.grad.conv2d_input(input_size, w, g, **kw)


def t_conv2d_weight(x: Any, g: Any, weight_size: tuple, **kw: Any) -> Any:
    return _tm().nn.grad.conv2d_weight(x, weight_size, g, **kw)


# ---- chainrule calls -----------------------------------------------------------------------


def _conv2d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _conv.conv2d(x, w, b, **kw)


def _conv1d(x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
    return _conv.conv1d(x, w, b, **kw)


def _conv2d_input(w: Any, g: Any, input_size: tuple, **kw: Any) -> Any:
    return _conv.conv2d_input(input_size, w, g, **kw)


def _conv2d_weight(x: Any, g: Any, weight_size: tuple, **kw: Any) -> Any:
    return _conv.conv2d_weight(x, weight_size, g, **kw)


# ---- samples -------------------------------------------------------------------------------

# (x shape, weight shape, bias?, kwargs)
CONV2D_CASES: list[tuple[tuple, tuple, bool, dict]] = [
    ((2, 3, 6, 5), (4, 3, 3, 2), True, {}),
    ((2, 3, 5, 5), (2, 3, 3, 3), False, {}),
    ((1, 2, 7, 6), (3, 2, 3, 3), True, {"stride": 2, "padding": 1}),
    ((1, 2, 8, 7), (2, 2, 2, 3), False, {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1)}),
    ((2, 4, 5, 5), (6, 2, 3, 3), True, {"padding": 1, "groups": 2}),
    ((1, 3, 6, 7), (3, 1, 3, 3), True, {"stride": 2, "groups": 3}),  # depthwise
    ((1, 2, 5, 6), (2, 2, 2, 4), True, {"padding": "same"}),  # even kernel: asymmetric pad
    ((1, 2, 6, 5), (3, 2, 3, 3), False, {"padding": "same", "dilation": 2}),
    ((2, 2, 5, 4), (3, 2, 2, 2), True, {"padding": "valid", "stride": 3}),
    ((2, 3, 5, 5), (2, 3, 1, 1), True, {"stride": 2}),  # 1x1 kernel
    ((1, 2, 4, 3), (2, 2, 4, 3), True, {}),  # kernel as large as the input
    ((3, 2, 4, 4), (2, 1, 3, 2), False, {"padding": (2, 1), "dilation": (1, 2), "groups": 2}),
]

CONV1D_CASES: list[tuple[tuple, tuple, bool, dict]] = [
    ((2, 3, 9), (4, 3, 3), True, {}),
    ((2, 2, 8), (3, 2, 2), False, {"stride": 2, "padding": 1}),
    ((1, 4, 7), (4, 2, 3), True, {"groups": 2, "padding": "same", "dilation": 2}),
    ((2, 2, 6), (2, 2, 4), True, {"padding": "same"}),
]

# (x shape, weight shape (C_in, C_out/groups, k...), bias?, kwargs)
CONV_TRANSPOSE2D_CASES: list[tuple[tuple, tuple, bool, dict]] = [
    ((2, 3, 3, 4), (3, 2, 3, 2), True, {}),
    ((1, 2, 3, 3), (2, 3, 3, 3), False, {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 2, 3), (4, 1, 2, 3), True, {"stride": (2, 1), "groups": 2, "dilation": (1, 2)}),
    ((2, 2, 3, 2), (2, 2, 2, 2), True, {"padding": (1, 0), "dilation": 2,
                                        "output_padding": 1}),  # rows past the canvas
    ((1, 3, 2, 2), (3, 1, 3, 3), False, {"stride": 3, "padding": 1, "groups": 3,
                                         "output_padding": (2, 0)}),
]  # fmt: skip

CONV_TRANSPOSE1D_CASES: list[tuple[tuple, tuple, bool, dict]] = [
    ((2, 3, 4), (3, 2, 3), True, {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 3), (4, 1, 2), False, {"groups": 2, "dilation": 2}),
]

# (x shape, kwargs)
MAX_POOL_CASES: list[tuple[tuple, dict]] = [
    ((2, 3, 6, 6), {"kernel_size": 2}),  # windows tile the input: the fast path
    ((1, 2, 7, 5), {"kernel_size": 2}),  # tiles with a leftover row and column
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 2, 5, 7), {"kernel_size": (2, 3), "stride": 1}),  # overlapping windows
    ((1, 2, 7, 7), {"kernel_size": 3, "stride": 2, "dilation": 2}),
    ((1, 3, 4, 6), {"kernel_size": (1, 3)}),
    ((1, 2, 7, 6), {"kernel_size": 2, "ceil_mode": True}),  # a partial last window
    ((1, 2, 8, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 7, 8), {"kernel_size": 2, "stride": 3, "dilation": 2, "ceil_mode": True}),
]

ADAPTIVE_CASES: list[tuple[tuple, dict]] = [
    ((2, 3, 6, 6), {"output_size": 1}),  # global average pooling
    ((2, 2, 7, 5), {"output_size": 3}),  # overlapping, uneven windows
    ((1, 2, 5, 8), {"output_size": (2, 4)}),
    ((1, 2, 4, 5), {"output_size": (None, 7)}),  # keep H; W upsampled (windows of 1)
    ((3, 5, 4), {"output_size": 2}),  # unbatched
]

# (x shape, kwargs) for interpolate
INTERPOLATE_CASES: list[tuple[tuple, dict]] = [
    ((2, 2, 3, 4), {"scale_factor": 2}),  # nearest, the default
    ((1, 2, 5, 3), {"size": (3, 7)}),  # nearest, down along H and up along W
    ((2, 3, 5), {"scale_factor": 1.5}),
    ((1, 2, 2, 3, 2), {"size": (3, 3, 4)}),  # nearest, 3 spatial axes
    ((2, 2, 4), {"size": 7, "mode": "linear"}),
    ((2, 2, 3, 4), {"scale_factor": (2, 1.5), "mode": "bilinear"}),
    ((1, 2, 5, 4), {"size": (3, 6), "mode": "bilinear", "align_corners": True}),
    ((1, 2, 4, 3), {"scale_factor": 2.5, "mode": "bilinear", "recompute_scale_factor": True}),
    ((1, 2, 6, 5), {"size": (4, 2), "mode": "area"}),
    ((2, 2, 7), {"size": 3, "mode": "area"}),
]

POOL1D_CASES: list[tuple[tuple, dict]] = [
    ((2, 3, 7), {"kernel_size": 2}),
    ((1, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 5), {"kernel_size": 2, "stride": 1}),  # unbatched
]

_CEIL_PADDED = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}

AVG_POOL_CASES: list[tuple[tuple, dict]] = [
    ((2, 3, 6, 6), {"kernel_size": 2}),
    ((1, 2, 7, 5), {"kernel_size": (3, 2)}),
    ((1, 2, 7, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 6, 5), {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False}),
    ((2, 2, 5, 7), {"kernel_size": (2, 3), "stride": (1, 2)}),
    ((1, 2, 7, 6), {"kernel_size": 2, "ceil_mode": True}),
    ((1, 2, 8, 7), _CEIL_PADDED),
    ((1, 2, 8, 7), {**_CEIL_PADDED, "count_include_pad": False}),
    ((1, 2, 6, 5), {"kernel_size": (3, 2), "padding": 1, "divisor_override": 4}),
]


def _conv_inputs(cases: list, transposed: bool = False) -> Any:
    def gen(rng: np.random.Generator) -> list[Sample]:
        out = []
        for xs, ws, bias, kw in cases:
            out_channels = ws[1] * kw.get("groups", 1) if transposed else ws[0]
            args = (_r(rng, xs), _r(rng, ws)) + ((_r(rng, (out_channels,)),) if bias else ())
            out.append(Sample(args, kw))
        return out

    return gen


def _pool_inputs(cases: list) -> Any:
    def gen(rng: np.random.Generator) -> list[Sample]:
        return [Sample((_r(rng, xs),), kw) for xs, kw in cases]

    return gen


def _out_shape(xs: tuple, ws: tuple, kw: dict) -> tuple:
    return np_conv2d(np.zeros(xs), np.zeros(ws), **kw).shape


def _input_grad_inputs(rng: np.random.Generator) -> list[Sample]:
    out = []
    for xs, ws, _, kw in CONV2D_CASES[:6] + CONV2D_CASES[-1:]:
        g = _r(rng, _out_shape(xs, ws, kw))
        out.append(Sample((_r(rng, ws), g), {"input_size": xs, **kw}))
    return out


def _weight_grad_inputs(rng: np.random.Generator) -> list[Sample]:
    out = []
    for xs, ws, _, kw in CONV2D_CASES[:6] + CONV2D_CASES[-1:]:
        g = _r(rng, _out_shape(xs, ws, kw))
        out.append(Sample((_r(rng, xs), g), {"weight_size": ws, **kw}))
    return out


# ---- the table -----------------------------------------------------------------------------

CONV_OPS: list[OpInfo] = [
    OpInfo(name="conv2d", fn=_conv2d, torch_fn=t_conv2d, ref_fn=np_conv2d,
           inputs=_conv_inputs(CONV2D_CASES)),
    OpInfo(name="conv1d", fn=_conv1d, torch_fn=t_conv1d, ref_fn=np_conv1d,
           inputs=_conv_inputs(CONV1D_CASES)),
    OpInfo(name="conv_transpose2d", fn=_conv.conv_transpose2d, torch_fn=t_conv_transpose2d,
           ref_fn=np_conv_transpose2d, inputs=_conv_inputs(CONV_TRANSPOSE2D_CASES, True)),
    OpInfo(name="conv_transpose1d", fn=_conv.conv_transpose1d, torch_fn=t_conv_transpose1d,
           ref_fn=np_conv_transpose1d, inputs=_conv_inputs(CONV_TRANSPOSE1D_CASES, True)),
    OpInfo(name="conv2d_input", fn=_conv2d_input, torch_fn=t_conv2d_input,
           ref_fn=np_conv2d_input, inputs=_input_grad_inputs),
    OpInfo(name="conv2d_weight", fn=_conv2d_weight, torch_fn=t_conv2d_weight,
           ref_fn=np_conv2d_weight, inputs=_weight_grad_inputs),
    OpInfo(name="max_pool2d", fn=_conv.max_pool2d, torch_fn=t_max_pool2d,
           ref_fn=np_max_pool2d, inputs=_pool_inputs(MAX_POOL_CASES), domain=distinct()),
    OpInfo(name="adaptive_avg_pool2d", fn=_conv.adaptive_avg_pool2d,
           torch_fn=t_adaptive_avg_pool2d, ref_fn=np_adaptive_avg_pool2d,
           inputs=_pool_inputs(ADAPTIVE_CASES)),
    OpInfo(name="max_pool1d", fn=_conv.max_pool1d, torch_fn=t_max_pool1d,
           ref_fn=np_pool1d(np_max_pool2d),
           inputs=_pool_inputs(POOL1D_CASES + [((1, 2, 8), {"kernel_size": 2, "dilation": 3})]),
           domain=distinct()),
    OpInfo(name="avg_pool1d", fn=_conv.avg_pool1d, torch_fn=t_avg_pool1d,
           ref_fn=np_pool1d(np_avg_pool2d),
           inputs=_pool_inputs(POOL1D_CASES + [((1, 2, 6), {"kernel_size": 3, "padding": 1,
                                                            "count_include_pad": False})])),
    OpInfo(name="adaptive_avg_pool1d", fn=_conv.adaptive_avg_pool1d,
           torch_fn=t_adaptive_avg_pool1d,
           ref_fn=lambda x, output_size: np_adaptive_avg_pool2d(x[..., None, :],
                                                                (1, output_size))[..., 0, :],
           inputs=_pool_inputs([((2, 3, 7), {"output_size": 3}), ((3, 5), {"output_size": 8})])),
    OpInfo(name="adaptive_max_pool2d", fn=_conv.adaptive_max_pool2d,
           torch_fn=t_adaptive_max_pool2d, ref_fn=np_adaptive_max_pool2d, domain=distinct(),
           inputs=_pool_inputs([((2, 2, 7, 5), {"output_size": 3}),  # overlapping windows
                                ((1, 2, 6, 4), {"output_size": (3, 2)}),  # tiles: max_pool2d
                                ((3, 5, 4), {"output_size": (2, 3)})])),
    OpInfo(name="unfold", fn=_conv.unfold, torch_fn=t_unfold, ref_fn=np_unfold,
           inputs=_pool_inputs([((2, 2, 4, 5), {"kernel_size": 2}),
                                ((1, 2, 5, 4), {"kernel_size": (3, 2), "dilation": (1, 2),
                                                "padding": 1, "stride": 2})])),
    OpInfo(name="fold", fn=_conv.fold, torch_fn=t_fold, ref_fn=np_fold,
           inputs=_pool_inputs([((2, 8, 12), {"output_size": (4, 5), "kernel_size": 2}),
                                ((1, 12, 6), {"output_size": (5, 4), "kernel_size": (3, 2),
                                              "dilation": (1, 2), "padding": 1,
                                              "stride": 2})])),
    OpInfo(name="pixel_shuffle", fn=_resample.pixel_shuffle, torch_fn=t_pixel_shuffle,
           ref_fn=np_pixel_shuffle,
           inputs=_pool_inputs([((2, 8, 2, 3), {"upscale_factor": 2}),
                                ((9, 2, 1), {"upscale_factor": 3})])),
    OpInfo(name="pixel_unshuffle", fn=_resample.pixel_unshuffle, torch_fn=t_pixel_unshuffle,
           ref_fn=np_pixel_unshuffle,
           inputs=_pool_inputs([((2, 2, 4, 6), {"downscale_factor": 2}),
                                ((1, 3, 6), {"downscale_factor": 3})])),
    OpInfo(name="interpolate", fn=_resample.interpolate, torch_fn=t_interpolate,
           ref_fn=np_interpolate, inputs=_pool_inputs(INTERPOLATE_CASES)),
    OpInfo(name="avg_pool2d", fn=_conv.avg_pool2d, torch_fn=t_avg_pool2d,
           ref_fn=np_avg_pool2d, inputs=_pool_inputs(AVG_POOL_CASES)),
]  # fmt: skip

__all__ = [
    "ADAPTIVE_CASES", "AVG_POOL_CASES", "CONV1D_CASES", "CONV2D_CASES", "CONV_OPS",
    "CONV_TRANSPOSE1D_CASES", "CONV_TRANSPOSE2D_CASES", "INTERPOLATE_CASES", "MAX_POOL_CASES",
    "POOL1D_CASES", "np_adaptive_avg_pool2d", "np_adaptive_max_pool2d", "np_avg_pool2d",
    "np_conv1d", "np_conv2d", "np_conv2d_input", "np_conv2d_weight", "np_conv_transpose1d",
    "np_conv_transpose2d", "np_fold", "np_interpolate", "np_max_pool2d", "np_pixel_shuffle",
    "np_pixel_unshuffle", "np_pool1d", "np_unfold",
]  # fmt: skip
