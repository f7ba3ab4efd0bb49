"""Padding layers (PyTorch's ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``,
``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``, ``CircularPad1d/2d/3d``) over
:func:`chainrule.nn.functional.pad`.

``padding`` is an int (every side) or a tuple ``(left, right)`` for the 1-D layers,
``(left, right, top, bottom)`` for the 2-D ones and ``(left, right, top, bottom, front,
back)`` for the 3-D ones. Shapes: 1-D (N, C, L) or (C, L) -> (N, C, L + left + right);
2-D (N, C, H, W) or (C, H, W) -> (N, C, H + top + bottom, W + left + right); 3-D
(N, C, D, H, W) or (C, D, H, W) -> (N, C, D + front + back, H + top + bottom,
W + left + right). No parameters.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn import _checks
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d",
]  # fmt: skip


class _Pad(Module):
    _dims = 1
    _mode = "constant"

    def __init__(self, padding: Any, value: float = 0.0) -> None:
        super().__init__()
        name, sides = type(self).__name__, 2 * self._dims
        if self._mode == "constant":  # negative widths crop (as F.pad)
            items = tuple(padding) if isinstance(padding, tuple | list) else (padding,) * sides
            if len(items) != sides or not all(_checks.is_int(v) for v in items):
                raise ArgumentError(f"{name}: padding must be an int or {sides} ints, got "
                                    f"{padding!r}")  # fmt: skip
            self.padding = tuple(int(v) for v in items)
        else:
            self.padding = _checks.sizes(name, "padding", padding, sides, 0)
        self.value = value

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim not in (self._dims + 1, self._dims + 2):
            raise ArgumentError(f"{type(self).__name__}: expected a {self._dims + 1}-D or "
                                f"{self._dims + 2}-D input, got shape {x.shape}")  # fmt: skip
        value = self.value if self._mode == "constant" else None
        return F.pad(x, self.padding, mode=self._mode, value=value)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_Pad):
    """Pads the last axis with zeros."""


class ZeroPad2d(_Pad):
    """Pads the last two axes with zeros."""

    _dims = 2


class ZeroPad3d(_Pad):
    """Pads the last three axes with zeros."""

    _dims = 3


class ConstantPad1d(_Pad):
    """Pads the last axis with ``value``."""

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(ConstantPad1d):
    """Pads the last two axes with ``value``."""

    _dims = 2


class ConstantPad3d(ConstantPad1d):
    """Pads the last three axes with ``value``."""

    _dims = 3


class ReflectionPad1d(_Pad):
    """Pads the last axis with its reflection (the edge not repeated); each width must be
    smaller than the axis."""

    _mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Pads the last two axes with their reflection."""

    _dims = 2


class ReflectionPad3d(ReflectionPad1d):
    """Pads the last three axes with their reflection."""

    _dims = 3


class ReplicationPad1d(_Pad):
    """Pads the last axis by repeating its edge values."""

    _mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Pads the last two axes by repeating their edge values."""

    _dims = 2


class ReplicationPad3d(ReplicationPad1d):
    """Pads the last three axes by repeating their edge values."""

    _dims = 3


class CircularPad1d(_Pad):
    """Pads the last axis periodically (wrapping around); widths at most the axis."""

    _mode = "circular"


class CircularPad2d(CircularPad1d):
    """Pads the last two axes periodically."""

    _dims = 2


class CircularPad3d(CircularPad1d):
    """Pads the last three axes periodically."""

    _dims = 3
