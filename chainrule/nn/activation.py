"""Activation modules: thin wrappers over ``chainrule.nn.functional`` (no parameters but
``PReLU``'s slope).

Every module maps an input of any shape to an output of the same shape, except
``Softmax``/``LogSoftmax``/``Softmin``, which normalise along ``dim``, and ``GLU``, which
halves ``dim``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import _checks
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, as_dtype

__all__ = [
    "CELU", "ELU", "GELU", "GLU", "HardTanh", "Hardshrink", "Hardsigmoid", "Hardswish",
    "Hardtanh", "LeakyReLU", "LogSigmoid", "LogSoftmax", "Mish", "NoisyReLU", "PReLU", "RReLU",
    "ReLU", "ReLU6", "SELU", "SiLU", "Sigmoid", "Softmax", "Softmax2d", "Softmin", "Softplus",
    "Softshrink", "Softsign", "Tanh", "Tanhshrink", "Threshold",
]  # fmt: skip


class ReLU(Module):
    """``max(x, 0)``."""

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class RReLU(Module):
    """Randomized leaky ReLU (PyTorch's ``nn.RReLU``): ``x`` where ``x >= 0``, else
    ``a * x``, with ``a ~ U(lower, upper)`` per element in training (chainrule's generator)
    and ``a = (lower + upper) / 2`` in eval."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3) -> None:
        super().__init__()
        F._check_rrelu_bounds("RReLU", lower, upper)
        self.lower, self.upper = lower, upper

    def forward(self, x: Any) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"


class NoisyReLU(Module):
    """In training ``max(0, x + e)`` with ``e ~ N(0, sigmoid(x))``; in eval ``max(0, x)``."""

    def forward(self, x: Any) -> Tensor:
        return F.noisy_relu(x, training=self.training)


class ELU(Module):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """``log(1 + exp(beta x)) / beta`` (``x`` above ``threshold``); no overflow."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Sigmoid(Module):
    """``1 / (1 + exp(-x))`` without overflow."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class SiLU(Module):
    """SiLU (swish) ``x * sigmoid(x)``."""

    def forward(self, x: Any) -> Tensor:
        return F.silu(x)


class Tanh(Module):
    """``tanh(x)``."""

    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class HardTanh(Module):
    """``clip(x, min_val, max_val)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Any) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


Hardtanh = HardTanh  # PyTorch's spelling


class Threshold(Module):
    """``x`` where ``x > threshold``, else ``value`` (PyTorch's ``nn.Threshold``)."""

    def __init__(self, threshold: float, value: float) -> None:
        super().__init__()
        self.threshold, self.value = threshold, value

    def forward(self, x: Any) -> Tensor:
        return F.threshold(x, self.threshold, self.value)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}"


class GELU(Module):
    """``x * Phi(x)``, exact (``approximate="none"``) or the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """``exp(x) / sum(exp(x))`` along ``dim`` (default -1, the last axis)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax over the channels of every position: (N, C, H, W) or (C, H, W), along
    axis -3 (PyTorch's ``nn.Softmax2d``)."""

    def forward(self, x: Any) -> Tensor:
        x = F._tensor(x)
        if x.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected input (N, C, H, W) or (C, H, W), got shape "
                             f"{x.shape}")  # fmt: skip
        return F.softmax(x, -3)


class LogSoftmax(Module):
    """``x - logsumexp(x)`` along ``dim`` (default -1)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _Elementwise(Module):
    """An activation with no arguments: ``forward`` applies ``F.<_fn>``."""

    _fn = ""

    def forward(self, x: Any) -> Tensor:
        return getattr(F, self._fn)(x)


class ReLU6(_Elementwise):
    """``min(max(x, 0), 6)``."""

    _fn = "relu6"


class Hardsigmoid(_Elementwise):
    """``relu6(x + 3) / 6``."""

    _fn = "hardsigmoid"


class Hardswish(_Elementwise):
    """``x * relu6(x + 3) / 6`` (MobileNetV3)."""

    _fn = "hardswish"


class Mish(_Elementwise):
    """``x * tanh(softplus(x))``."""

    _fn = "mish"


class Softsign(_Elementwise):
    """``x / (1 + |x|)``."""

    _fn = "softsign"


class LogSigmoid(_Elementwise):
    """``log(sigmoid(x))``, finite for any ``x``."""

    _fn = "logsigmoid"


class SELU(_Elementwise):
    """``1.0507 * elu(x, 1.6733)`` (self-normalising)."""

    _fn = "selu"


class Tanhshrink(_Elementwise):
    """``x - tanh(x)``."""

    _fn = "tanhshrink"


class CELU(Module):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Any) -> Tensor:
        return F.celu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Hardshrink(Module):
    """``x`` where ``|x| > lambd``, else 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Any) -> Tensor:
        return F.hardshrink(x, self.lambd)

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""

    def forward(self, x: Any) -> Tensor:
        return F.softshrink(x, self.lambd)


class GLU(Module):
    """Gated linear unit ``a * sigmoid(b)`` of the two halves of ``dim`` (which halves)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmin(Softmax):
    """``softmax(-x)`` along ``dim`` (default -1)."""

    def forward(self, x: Any) -> Tensor:
        return F.softmin(x, self.dim)


class PReLU(Module):
    """``x`` where ``x > 0``, else ``weight * x``, with a learned slope (PyTorch's
    ``nn.PReLU``): ``num_parameters`` 1 (one shared slope) or C (one per channel of inputs
    (N, C, *)), each initialised to ``init``.

    Attributes: weight (num_parameters,).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = _checks.size("PReLU", "num_parameters", num_parameters, 1)
        self.init = init
        dt = float32 if dtype is None else as_dtype(dtype)
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=dt))

    def reset_parameters(self) -> None:
        """PyTorch's default: every slope ``init`` (0.25)."""
        self.weight.data[...] = self.init

    def forward(self, x: Any) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
