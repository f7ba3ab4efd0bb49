"""The autograd core: graph nodes, the Function protocol, grad mode and the engine."""

from chainrule.autograd.function import Function, Node, Op
from chainrule.autograd.mode import enable_grad, is_grad_enabled, no_grad

__all__ = ["Function", "Node", "Op", "enable_grad", "is_grad_enabled", "no_grad"]
