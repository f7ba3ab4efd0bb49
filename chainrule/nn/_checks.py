"""Checks of the layers' constructor arguments, so that a bad size fails where it is given
(``Linear(-1, 2)``) and names the layer, the argument and the value, instead of surfacing
later from NumPy ("negative dimensions are not allowed") or being truncated (``2.5``).

A size must be an int (a NumPy integer too; never a bool, or a float that ``int()`` would
truncate): a wrong type is a :class:`~chainrule.nn.module.ModuleTypeError`, an int out of
range an :class:`~chainrule.ops.nn.ArgumentError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.nn.module import ModuleTypeError
from chainrule.ops.nn import ArgumentError


def is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def size(owner: str, name: str, value: Any, minimum: int = 0) -> int:
    """``value`` as an int, after checking that it is one and that it is ``>= minimum``."""
    if not is_int(value):
        raise ModuleTypeError(f"{owner}: {name} must be an int, got {value!r}")
    if value < minimum:
        raise ArgumentError(f"{owner}: {name} must be an int >= {minimum}, got {value}")
    return int(value)


def sizes(owner: str, name: str, value: Any, n: int, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints (``kernel_size``, ``stride``...), each
    ``>= minimum``, as a tuple of ``n`` ints."""
    items = tuple(value) if isinstance(value, tuple | list) else (value,) * n
    if len(items) != n:
        raise ArgumentError(f"{owner}: {name} must be an int or {n} ints, got {value!r}")
    if not all(is_int(v) for v in items):
        raise ModuleTypeError(f"{owner}: {name} must be an int or {n} ints, got {value!r}")
    if min(items, default=minimum) < minimum:
        raise ArgumentError(f"{owner}: {name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def probability(owner: str, name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ModuleTypeError(f"{owner}: {name} must be a number in [0, 1], got {value!r}")
    if not 0 <= value <= 1:
        raise ArgumentError(f"{owner}: {name} must be a probability in [0, 1], got {value}")
    return float(value)
