"""Global switches of the autograd engine: grad mode, forward-mode level, anomaly mode.

They live in one tiny object so the hot path reads a single attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _State:
    __slots__ = ("grad_enabled", "forward_active", "anomaly", "record_grad_norms")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.forward_active = False  # inside cr.jvp: ops carry tangents
        self.anomaly = False  # inside cr.detect_anomaly: every op checks for NaN/Inf
        self.record_grad_norms = False  # inside cr.viz.record_grad_norms


state = _State()


def is_grad_enabled() -> bool:
    return state.grad_enabled


class _GradMode:
    """Sets grad mode inside a ``with`` block, or around a function when used as a decorator."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = self.enabled

    def __exit__(self, *exc: Any) -> None:
        state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        enabled = self.enabled

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = state.grad_enabled
            state.grad_enabled = enabled
            try:
                return fn(*args, **kwargs)
            finally:
                state.grad_enabled = prev

        return wrapper


class no_grad(_GradMode):
    """Ops inside record no graph: for inference and in-place parameter updates."""

    enabled = False


class enable_grad(_GradMode):
    """Turns recording back on inside a ``no_grad`` region."""

    enabled = True
