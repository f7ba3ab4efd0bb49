"""detect_anomaly: stop at the first NaN or Inf, naming the op and the line that made it.

Inside the block every op records the user source line that created it and checks its
outputs in forward and the gradients its rule returns in backward.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.mode import state
from chainrule.errors import AnomalyError
from chainrule.tensor import Tensor


class detect_anomaly:
    """Context manager (and decorator-free): ``with cr.detect_anomaly(): ...``."""

    def __enter__(self) -> detect_anomaly:
        self._prev = state.anomaly
        state.anomaly = True
        return self

    def __exit__(self, *exc: Any) -> None:
        state.anomaly = self._prev


def _bad(x: Any) -> bool:
    arr = x.data if isinstance(x, Tensor) else x
    if not backend.is_array(arr) or arr.dtype.kind not in "fc":
        return False
    return not bool(backend.array_module(arr).isfinite(arr).all())


def check_forward(node: Any, outputs: tuple) -> None:
    for k, o in enumerate(outputs):
        if _bad(o):
            raise AnomalyError(
                f"op '{node.name}' produced NaN or Inf in forward (output {k}, shape "
                f"{o.shape}), at {node.created_at}"
            )


def check_backward(node: Any, grads: tuple) -> None:
    for k, g in enumerate(grads):
        if g is not None and _bad(g):
            raise AnomalyError(
                f"backward of op '{node.name}' produced NaN or Inf in the gradient of its "
                f"input {k}; the op was created at {node.created_at}"
            )
