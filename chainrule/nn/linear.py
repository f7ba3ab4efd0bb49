"""Linear layers and shape helpers: Linear, Bilinear, Flatten, Unflatten, Identity."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import _checks, init
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = ["Bilinear", "Flatten", "Identity", "Linear", "Unflatten"]


class Linear(Module):
    """Affine map ``y = x @ W.T + b`` (PyTorch's ``nn.Linear``).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).
        dtype: parameter dtype (default float32).

    Shapes:
        input (*, in_features) -> output (*, out_features); ``*`` is any number of leading
        axes (none for a single sample).

    Attributes:
        weight: (out_features, in_features), initialised like PyTorch:
            ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in_features), 1/sqrt(in_features)).
        bias: (out_features,), U(-1/sqrt(in_features), 1/sqrt(in_features)); None without
            bias.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = _checks.size("Linear", "in_features", in_features)
        self.out_features = _checks.size("Linear", "out_features", out_features)
        dt = float32 if dtype is None else as_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((self.out_features,), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight ``kaiming_uniform_(a=sqrt(5))`` (bound
        1/sqrt(fan_in)), bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)  # one fused op: x @ W.T + b

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Bilinear(Module):
    """``y = x1^T W x2 + b`` per output unit (PyTorch's ``nn.Bilinear``).

    Shapes: ``m(x1, x2)``: (*, in1_features), (*, in2_features) -> (*, out_features).

    Attributes:
        weight: (out_features, in1_features, in2_features), bias: (out_features,); both
            initialised as PyTorch: U(-1/sqrt(in1_features), 1/sqrt(in1_features)).
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        sizes = [_checks.size("Bilinear", name, v) for name, v in (
            ("in1_features", in1_features), ("in2_features", in2_features),
            ("out_features", out_features))]  # fmt: skip
        self.in1_features, self.in2_features, self.out_features = sizes
        dt = float32 if dtype is None else as_dtype(dtype)
        self.weight = Parameter(np.empty((sizes[2], sizes[0], sizes[1]), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty((sizes[2],), dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias U(-1/sqrt(in1_features), 1/sqrt(in1_features))."""
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")  # fmt: skip


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` (inclusive) into one.

    Shapes: (N, C, H, W) -> (N, C*H*W) with the defaults ``start_dim=1, end_dim=-1``.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (PyTorch's ``nn.Unflatten``; the inverse
    of :class:`Flatten`; one size may be -1).

    Shapes: (N, C*H*W) -> (N, C, H, W) with ``Unflatten(1, (C, H, W))``.
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        sizes = tuple(unflattened_size)
        if (
            not sizes
            or sum(v == -1 for v in sizes) > 1
            or any(
                not isinstance(v, int | np.integer) or isinstance(v, bool) or v < -1 for v in sizes
            )
        ):
            raise ArgumentError(f"Unflatten: unflattened_size must be sizes >= 0 with at most "
                                f"one -1, got {unflattened_size!r}")  # fmt: skip
        self.dim, self.unflattened_size = dim, sizes

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ShapeError(f"Unflatten: dim {self.dim} is out of range for input {x.shape}")
        axis = self.dim % x.ndim
        sizes, n = self.unflattened_size, x.shape[axis]
        known = math.prod(v for v in sizes if v != -1)
        if (n != known) if -1 not in sizes else (known == 0 or n % known):
            raise ShapeError(f"Unflatten: axis {self.dim} of input {x.shape} has {n} "
                             f"elements, which {sizes} cannot hold")  # fmt: skip
        sizes = tuple(n // known if v == -1 else v for v in sizes)
        return x.reshape(x.shape[:axis] + sizes + x.shape[axis + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Identity(Module):
    """Returns its input unchanged (any extra arguments are ignored).

    Shapes: input (*) -> output (*), the same tensor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        return x
