"""Parameter: a tensor that a module owns and learns; Buffer: one it owns and does not learn.

Assigning a Parameter to a module attribute registers it (``module.weight = Parameter(w)``),
so it shows up in ``parameters()``, ``state_dict()`` and the optimiser; assigning a Buffer
registers a buffer (``module.mean = Buffer(zeros(3))``, PyTorch's ``nn.Buffer``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and that modules register.

    ``Parameter(data, requires_grad=True)`` wraps ``data`` (a Tensor's array is shared, a
    NumPy array is used without copying, Python lists become float32). Ops on a Parameter
    return plain Tensors; in-place updates under ``cr.no_grad()`` keep it a Parameter.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True, dtype: Any = None) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data: Any, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad=requires_grad)


class Buffer(Tensor):
    """A marker for module state that is not learned (PyTorch's ``nn.Buffer``): assigning
    ``Buffer(data, persistent=True)`` to a module attribute is ``register_buffer(name,
    data, persistent)``; the module then holds a plain Tensor sharing ``data``'s array.
    Non-persistent buffers are left out of ``state_dict``."""

    __slots__ = ("persistent",)

    def __init__(self, data: Any, *, persistent: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.persistent = bool(persistent)
