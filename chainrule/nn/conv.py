"""Convolution, pooling and upsampling layers over ``chainrule.ops.conv`` (im2col + one
GEMM) and ``chainrule.ops.resample``.

Layouts are PyTorch's: inputs (N, C, L) for 1-D, (N, C, H, W) for 2-D and (N, C, D, H, W)
for 3-D, or unbatched (C, L) / (C, H, W) / (C, D, H, W) (the output then has no N axis
either); weights (C_out, C_in / groups, *kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import ops
from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import _checks, init
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.conv import adaptive_output_size, same_padding, transposed_canvas
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "ChannelShuffle", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "Fold", "LPPool1d", "LPPool2d", "LPPool3d", "MaxPool1d", "MaxPool2d",
    "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "PixelShuffle", "PixelUnshuffle",
    "Unfold", "Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d",
]  # fmt: skip

# PyTorch's padding modes and the ``ops.pad`` (NumPy) mode of each
_PADDING_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                  "circular": "wrap"}  # fmt: skip


class _ConvNd(Module):
    _dims = 2
    _transposed = False  # weight (C_in, C_out/groups, *kernel) instead of (C_out, C_in/groups, ...)

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
        padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
        padding_mode: str = "zeros", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__()
        name, n = type(self).__name__, self._dims
        in_channels = _checks.size(name, "in_channels", in_channels)
        out_channels = _checks.size(name, "out_channels", out_channels)
        groups = _checks.size(name, "groups", groups, 1)
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(
                f"{name}: in_channels {in_channels} and out_channels "
                f"{out_channels} must both be divisible by groups={groups}"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _checks.sizes(name, "kernel_size", kernel_size, n, 1)
        self.stride = _checks.sizes(name, "stride", stride, n, 1)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ArgumentError(
                    f"{name}: padding must be an int, {n} ints, 'valid' or 'same', got {padding!r}"
                )
            if padding == "same" and self.stride != (1,) * n:
                raise ArgumentError(f"{name}: padding='same' needs stride 1, got {stride!r}")
            self.padding = padding
        else:
            self.padding = _checks.sizes(name, "padding", padding, n, 0)
        self.dilation = _checks.sizes(name, "dilation", dilation, n, 1)
        if padding_mode not in _PADDING_MODES:
            raise ArgumentError(
                f"{name}: padding_mode must be one of {sorted(_PADDING_MODES)}, got "
                f"{padding_mode!r}"
            )
        self.padding_mode = padding_mode
        dt = float32 if dtype is None else as_dtype(dtype)
        if self._transposed:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((out_channels,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ``kaiming_uniform_(a=sqrt(5))``, bias
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = ``weight.shape[1] * prod(kernel)``
        (C_in/groups, or C_out/groups for a transposed convolution, as PyTorch)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")  # fmt: skip
        if self.padding not in ((0,) * self._dims, "valid"):
            s += f", padding={self.padding}"
        if self._transposed and self.output_padding != (0,) * self._dims:
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s + ("" if self.bias is not None else ", bias=False")

    def _pad_input(self, x: Any) -> tuple[Any, Any]:
        """``(input, padding)`` for the convolution: with ``padding_mode`` other than
        "zeros", the input padded by that mode (``ops.pad``, differentiable) and padding 0;
        else both as they are. "same" splits its padding as PyTorch (any odd extra after)."""
        if self.padding_mode == "zeros" or self.padding in ("valid", (0,) * self._dims):
            return x, self.padding
        if self.padding == "same":
            widths = [same_padding(k, d) for k, d in zip(self.kernel_size, self.dilation)]
        else:
            widths = [(p, p) for p in self.padding]
        x = x if isinstance(x, Tensor) else Tensor(x)
        spatial = x.shape[x.ndim - self._dims :]
        # PyTorch's limits: reflect pads less than the size, circular at most the size
        slack, words = {"reflect": (0, "less than"), "circular": (1, "at most")}.get(
            self.padding_mode, (None, "")
        )
        for size, (before, after) in zip(spatial, widths):
            if slack is not None and max(before, after) >= size + slack:
                raise ShapeError(
                    f"{type(self).__name__}: padding {self.padding} with padding_mode="
                    f"{self.padding_mode!r} must be {words} the input size; got input shape "
                    f"{x.shape}"
                )
        pad = [(0, 0)] * (x.ndim - self._dims) + widths
        return ops.pad(x, pad, mode=_PADDING_MODES[self.padding_mode]), 0


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, OH, OW) with
    ``OH = (H + 2*padding - dilation*(k-1) - 1) // stride + 1`` (OW likewise along W);
    ``padding`` may be an int, a pair, ``"valid"`` or ``"same"``; ``padding_mode`` "zeros"
    (default), "reflect", "replicate" or "circular" as PyTorch. Unbatched
    (C_in, H, W) -> (C_out, OH, OW).

    Attributes: weight (C_out, C_in/groups, kH, kW), bias (C_out,), initialised as PyTorch.
    """

    _dims = 2

    def forward(self, x: Any) -> Tensor:
        x, padding = self._pad_input(x)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)  # fmt: skip


class Conv1d(_ConvNd):
    """1-D convolution: (N, C_in, L) -> (N, C_out, OL) with
    ``OL = (L + 2*padding - dilation*(k-1) - 1) // stride + 1``; ``padding`` may be an int,
    ``"valid"`` or ``"same"``; ``padding_mode`` as :class:`Conv2d`'s. Unbatched
    (C_in, L) -> (C_out, OL).

    Attributes: weight (C_out, C_in/groups, k), bias (C_out,), initialised as PyTorch.
    """

    _dims = 1

    def forward(self, x: Any) -> Tensor:
        x, padding = self._pad_input(x)
        return F.conv1d(x, self.weight, self.bias, self.stride[0],
                        padding if isinstance(padding, str | int) else padding[0],
                        self.dilation[0], self.groups)  # fmt: skip


class Conv3d(_ConvNd):
    """3-D (volumetric) convolution: (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW) with
    ``OD = (D + 2*padding - dilation*(k-1) - 1) // stride + 1`` (OH, OW likewise);
    ``padding`` may be an int, a triple, ``"valid"`` or ``"same"``; ``padding_mode`` as
    :class:`Conv2d`'s. Unbatched (C_in, D, H, W) -> (C_out, OD, OH, OW). Computed by
    :func:`~chainrule.nn.functional.conv3d` as one 2-D convolution.

    Attributes: weight (C_out, C_in/groups, kD, kH, kW), bias (C_out,), initialised as
    PyTorch.
    """

    _dims = 3

    def forward(self, x: Any) -> Tensor:
        x, padding = self._pad_input(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                        self.groups)  # fmt: skip


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
        padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
        dilation: Any = 1, padding_mode: str = "zeros", dtype: Any = None,
    ) -> None:  # fmt: skip
        name, n = type(self).__name__, self._dims
        if isinstance(padding, str):
            raise ArgumentError(f"{name}: padding must be an int or {n} ints, got {padding!r}")
        if padding_mode != "zeros":
            raise ArgumentError(f"{name}: only padding_mode='zeros' is supported (as in "
                                f"PyTorch), got {padding_mode!r}")  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)  # fmt: skip
        self.output_padding = _checks.sizes(name, "output_padding", output_padding, n, 0)
        if any(e >= max(s, d) for e, s, d in zip(self.output_padding, self.stride,
                                                  self.dilation)):  # fmt: skip
            raise ArgumentError(f"{name}: output_padding {self.output_padding} must be smaller "
                                f"than either stride {self.stride} or dilation "
                                f"{self.dilation}")  # fmt: skip

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        """``output_padding``, or the one that gives ``output_size`` (spatial sizes, or the
        whole output shape), as PyTorch's ``forward(input, output_size)``."""
        if output_size is None:
            return self.output_padding
        name, n = type(self).__name__, self._dims
        sizes = tuple(output_size)
        if len(sizes) == x.ndim:
            sizes = sizes[-n:]
        if len(sizes) != n:
            raise ShapeError(f"{name}: output_size must have {n} or {x.ndim} elements for "
                             f"input {x.shape}, got {tuple(output_size)}")  # fmt: skip
        spatial = x.shape[x.ndim - n :]
        smallest = tuple(transposed_canvas(i, s, d, k) - 2 * p for i, s, p, d, k in zip(
            spatial, self.stride, self.padding, self.dilation, self.kernel_size))  # fmt: skip
        largest = tuple(lo + s - 1 for lo, s in zip(smallest, self.stride))
        if not all(lo <= v <= hi for lo, v, hi in zip(smallest, sizes, largest)):
            raise ShapeError(f"{name}: output_size {sizes} is not reachable from input "
                             f"{x.shape}: valid sizes range from {smallest} to "
                             f"{largest}")  # fmt: skip
        return tuple(v - lo for v, lo in zip(sizes, smallest))


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (the adjoint of :class:`Conv2d` in its input; a learned
    upsampling): (N, C_in, H, W) -> (N, C_out, OH, OW) with
    ``OH = (H - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1`` (OW likewise).
    ``forward(x, output_size=None)`` picks ``output_padding`` from a wanted output size, as
    PyTorch's. Unbatched (C_in, H, W) -> (C_out, OH, OW).

    Attributes: weight (C_in, C_out/groups, kH, kW), bias (C_out,), initialised as PyTorch.
    """

    _dims = 2

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)  # fmt: skip


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution (the adjoint of :class:`Conv3d` in its input):
    (N, C_in, D, H, W) -> (N, C_out, OD, OH, OW) with
    ``OD = (D - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1`` (OH, OW
    likewise); the arguments are ints or triples; ``forward(x, output_size=None)`` as
    :class:`ConvTranspose2d`'s. Unbatched (C_in, D, H, W) -> (C_out, OD, OH, OW). Computed by
    :func:`~chainrule.nn.functional.conv_transpose3d` as one 2-D transposed convolution.

    Attributes: weight (C_in, C_out/groups, kD, kH, kW), bias (C_out,), initialised as
    PyTorch.
    """

    _dims = 3

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return F.conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)  # fmt: skip


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: (N, C_in, L) -> (N, C_out, OL) with
    ``OL = (L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``;
    ``forward(x, output_size=None)`` as :class:`ConvTranspose2d`'s. Unbatched
    (C_in, L) -> (C_out, OL).

    Attributes: weight (C_in, C_out/groups, k), bias (C_out,), initialised as PyTorch.
    """

    _dims = 1

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        return F.conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)  # fmt: skip


def _check_pool(name: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                dims: int = 2) -> None:  # fmt: skip
    """The pooling arguments as given (kept as they are, for the repr), checked."""
    _checks.sizes(name, "kernel_size", kernel_size, dims, 1)
    if stride is not None:
        _checks.sizes(name, "stride", stride, dims, 1)
    _checks.sizes(name, "padding", padding, dims, 0)
    _checks.sizes(name, "dilation", dilation, dims, 1)


class MaxPool2d(Module):
    """Max over ``kernel_size`` windows: (N, C, H, W) -> (N, C, OH, OW) with
    ``OH = (H + 2*padding - dilation*(k-1) - 1) // stride + 1`` (OW likewise; rounded up
    with ``ceil_mode``), or unbatched (C, H, W) -> (C, OH, OW). ``stride`` defaults to
    ``kernel_size``; padding (at most half the kernel) counts as -inf; the gradient goes to
    each window's first maximum. With ``return_indices`` the call returns ``(y, indices)``,
    indices int64 like ``y``: where each maximum sits, ``row * W + col``, as PyTorch."""

    _dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        _check_pool(type(self).__name__, kernel_size, stride, padding, dilation, self._dims)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, bool(ceil_mode)
        self.return_indices = bool(return_indices)

    def forward(self, x: Any) -> Tensor | tuple[Tensor, Tensor]:
        pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[self._dims - 1]
        return pool(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                    self.return_indices)  # fmt: skip

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (
            f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
            f"dilation={self.dilation}" + (", ceil_mode=True" if self.ceil_mode else "")
        )


class AvgPool2d(Module):
    """Mean over ``kernel_size`` windows: (N, C, H, W) -> (N, C, OH, OW) with
    ``OH = (H + 2*padding - k) // stride + 1`` (OW likewise; rounded up with
    ``ceil_mode``), or unbatched (C, H, W) -> (C, OH, OW). ``stride`` defaults to
    ``kernel_size``; zero padding (at most half the kernel) counts in the mean unless
    ``count_include_pad=False`` (PyTorch's default is True); ``divisor_override`` replaces
    the window size as the divisor."""

    _dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:  # fmt: skip
        super().__init__()
        _check_pool(type(self).__name__, kernel_size, stride, padding, 1, self._dims)
        if divisor_override is not None:
            _checks.sizes(type(self).__name__, "divisor_override", divisor_override, 1, 1)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)  # fmt: skip

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        extra = ", ceil_mode=True" if self.ceil_mode else ""
        if self.divisor_override is not None:
            extra += f", divisor_override={self.divisor_override}"
        return (
            f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
            f"count_include_pad={self.count_include_pad}{extra}"
        )


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool2d``):
    (N, C, H, W) -> (N, C, *output_size), or unbatched (C, H, W); ``output_size`` an int
    or a pair (None keeps that size). ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        adaptive_output_size("AdaptiveAvgPool2d", output_size)  # checked here, at construction
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """Max over ``kernel_size`` windows along L: (N, C, L) -> (N, C, OL), or unbatched
    (C, L) -> (C, OL); the arguments (ints) as :class:`MaxPool2d`'s, indices are positions
    along L."""

    _dims = 1


class MaxPool3d(MaxPool2d):
    """Max over ``kernel_size`` windows of volumes: (N, C, D, H, W) -> (N, C, OD, OH, OW),
    or unbatched (C, D, H, W); the arguments (ints or triples) and sizes as
    :class:`MaxPool2d`'s, the gradient to each window's first maximum in (d, h, w) order.
    With ``return_indices`` the call returns ``(y, indices)``, indices int64 like ``y``:
    ``(d * H + h) * W + w``, as PyTorch."""

    _dims = 3


class AvgPool3d(AvgPool2d):
    """Mean over ``kernel_size`` windows of volumes: (N, C, D, H, W) -> (N, C, OD, OH, OW),
    or unbatched (C, D, H, W); the arguments (ints or triples), ``count_include_pad`` and
    ``divisor_override`` as :class:`AvgPool2d`'s."""

    _dims = 3

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)  # fmt: skip


class AdaptiveAvgPool3d(Module):
    """Average pooling to a fixed output size (PyTorch's ``nn.AdaptiveAvgPool3d``):
    (N, C, D, H, W) -> (N, C, *output_size), or unbatched (C, D, H, W); ``output_size`` an
    int or a triple (None keeps that size)."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        F._adaptive_output_size_3d("AdaptiveAvgPool3d", output_size)  # checked here
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool3d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AvgPool1d(Module):
    """Mean over ``kernel_size`` windows along L: (N, C, L) -> (N, C, OL), or unbatched
    (C, L) -> (C, OL); the arguments (ints) as :class:`AvgPool2d`'s (no divisor_override,
    as PyTorch)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:  # fmt: skip
        super().__init__()
        _check_pool("AvgPool1d", kernel_size, stride, padding, 1, dims=1)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), count_include_pad

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)  # fmt: skip

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        extra = ", ceil_mode=True" if self.ceil_mode else ""
        return (f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}{extra}")  # fmt: skip


class LPPool2d(Module):
    """Power-average pooling (PyTorch's ``nn.LPPool2d``): ``(sum over the window of
    x^p)^(1/p)`` (see :func:`~chainrule.nn.functional.lp_pool2d`): (N, C, H, W) ->
    (N, C, OH, OW) as :class:`AvgPool2d` without padding, or unbatched (C, H, W)."""

    _dims = 2

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        name = type(self).__name__
        self.norm_type = F._lp_norm(name, norm_type)
        _check_pool(name, kernel_size, stride, 0, 1, self._dims)
        self.kernel_size, self.stride, self.ceil_mode = kernel_size, stride, bool(ceil_mode)

    def forward(self, x: Any) -> Tensor:
        pool = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self._dims - 1]
        return pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type:g}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")  # fmt: skip


class LPPool1d(LPPool2d):
    """:class:`LPPool2d` along L: (N, C, L) -> (N, C, OL), or unbatched (C, L)."""

    _dims = 1


class LPPool3d(LPPool2d):
    """:class:`LPPool2d` over volumes (PyTorch's ``nn.LPPool3d``): (N, C, D, H, W) ->
    (N, C, OD, OH, OW) as :class:`AvgPool3d` without padding, or unbatched (C, D, H, W);
    ``kernel_size`` and ``stride`` ints or triples."""

    _dims = 3


class MaxUnpool2d(Module):
    """The partial inverse of :class:`MaxPool2d` (PyTorch's ``nn.MaxUnpool2d``):
    ``forward(x, indices, output_size=None)`` puts each value of ``x`` (N, C, H, W) at its
    index from ``MaxPool2d(..., return_indices=True)`` in zeros of (N, C, OH, OW),
    ``OH = (H - 1) * stride - 2 * padding + kH`` unless ``output_size`` is given (pass the
    pooled input's size when the pool dropped a remainder)."""

    _dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        _check_pool(type(self).__name__, kernel_size, stride, padding, 1, self._dims)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any, indices: Any, output_size: Any = None) -> Tensor:
        unpool = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self._dims - 1]
        return unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class MaxUnpool1d(MaxUnpool2d):
    """:class:`MaxUnpool2d` along L: (N, C, L) -> (N, C, OL), indices from
    :class:`MaxPool1d`."""

    _dims = 1


class MaxUnpool3d(MaxUnpool2d):
    """:class:`MaxUnpool2d` over volumes: (N, C, D, H, W) -> (N, C, OD, OH, OW), indices
    from :class:`MaxPool3d`."""

    _dims = 3


class AdaptiveAvgPool1d(Module):
    """Average pooling to ``output_size`` along L (PyTorch's ``nn.AdaptiveAvgPool1d``):
    (N, C, L) -> (N, C, output_size), or unbatched (C, L)."""

    def __init__(self, output_size: int) -> None:
        super().__init__()
        self.output_size = _checks.size("AdaptiveAvgPool1d", "output_size", output_size, 1)

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (PyTorch's ``nn.AdaptiveMaxPool2d``):
    (N, C, H, W) -> (N, C, *output_size), or unbatched; ``output_size`` an int or a pair
    (None keeps that size). ``AdaptiveMaxPool2d(1)`` is global max pooling. With
    ``return_indices`` the call returns ``(y, indices)`` as :class:`MaxPool2d`'s."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        adaptive_output_size("AdaptiveMaxPool2d", output_size)
        self.output_size, self.return_indices = output_size, bool(return_indices)

    def forward(self, x: Any) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool3d(Module):
    """Max pooling to a fixed output size (PyTorch's ``nn.AdaptiveMaxPool3d``):
    (N, C, D, H, W) -> (N, C, *output_size), or unbatched (C, D, H, W); ``output_size`` an
    int or a triple (None keeps that size). The gradient goes to each window's first
    maximum in (d, h, w) order; with ``return_indices`` the call returns ``(y, indices)``,
    indices int64 like ``y``: ``(d * H + h) * W + w``, as PyTorch."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        F._adaptive_output_size_3d("AdaptiveMaxPool3d", output_size)  # checked here
        self.output_size, self.return_indices = output_size, bool(return_indices)

    def forward(self, x: Any) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(Module):
    """Max pooling to ``output_size`` along L: (N, C, L) -> (N, C, output_size), or
    unbatched (C, L)."""

    def __init__(self, output_size: int, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = _checks.size("AdaptiveMaxPool1d", "output_size", output_size, 1)
        self.return_indices = bool(return_indices)

    def forward(self, x: Any) -> Tensor | tuple[Tensor, Tensor]:
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Upsample(Module):
    """Resampling to ``size`` or by ``scale_factor`` (PyTorch's ``nn.Upsample``; see
    :func:`chainrule.nn.functional.interpolate`): (N, C, *spatial) -> (N, C, *out).

    ``mode``: "nearest" (1 to 3 spatial axes), "linear" (N, C, L), "bilinear" (N, C, H, W)
    or "area"; ``align_corners`` for the linear modes. No parameters.
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:  # fmt: skip
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ArgumentError(f"Upsample: give exactly one of size and scale_factor, got "
                                f"size={size!r}, scale_factor={scale_factor!r}")  # fmt: skip
        self.size = tuple(size) if isinstance(size, list) else size
        # PyTorch keeps the factor as floats
        if isinstance(scale_factor, tuple | list):
            scale_factor = tuple(float(f) for f in scale_factor)
        self.scale_factor = None if scale_factor is None else (
            scale_factor if isinstance(scale_factor, tuple) else float(scale_factor))  # fmt: skip
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Any) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)  # fmt: skip

    def extra_repr(self) -> str:
        shown = f"size={self.size!r}" if self.size is not None else (
            f"scale_factor={self.scale_factor!r}")  # fmt: skip
        return f"{shown}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """:class:`Upsample` with ``mode="nearest"`` (PyTorch's ``nn.UpsamplingNearest2d``):
    (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """:class:`Upsample` with ``mode="bilinear"`` and ``align_corners=True`` (PyTorch's
    ``nn.UpsamplingBilinear2d``): (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class Unfold(Module):
    """Sliding patches as columns (PyTorch's ``nn.Unfold``, im2col): (N, C, H, W) ->
    (N, C*kH*kW, L), L the number of window positions; see :func:`~chainrule.nn.functional.
    unfold`."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = (kernel_size, dilation,
                                                                      padding, stride)  # fmt: skip

    def forward(self, x: Any) -> Tensor:
        return F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")  # fmt: skip


class Fold(Unfold):
    """Columns summed back into an image (PyTorch's ``nn.Fold``, col2im; the adjoint of
    :class:`Unfold`): (N, C*kH*kW, L) -> (N, C, *output_size)."""

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1) -> None:  # fmt: skip
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)  # fmt: skip

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, " + super().extra_repr()


class PixelShuffle(Module):
    """Sub-pixel upsampling (PyTorch's ``nn.PixelShuffle``): (*, C*r*r, H, W) ->
    (*, C, H*r, W*r) with ``r = upscale_factor``."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = _checks.size("PixelShuffle", "upscale_factor", upscale_factor, 1)

    def forward(self, x: Any) -> Tensor:
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """The inverse of :class:`PixelShuffle`: (*, C, H*r, W*r) -> (*, C*r*r, H, W)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = _checks.size("PixelUnshuffle", "downscale_factor",
                                             downscale_factor, 1)  # fmt: skip

    def forward(self, x: Any) -> Tensor:
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (PyTorch's ``nn.ChannelShuffle``, from
    ShuffleNet): (N, C, *) -> (N, C, *); see
    :func:`~chainrule.nn.functional.channel_shuffle`."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = _checks.size("ChannelShuffle", "groups", groups, 1)

    def forward(self, x: Any) -> Tensor:
        return F.channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
