"""Tensor hooks: functions that see, and may replace, a tensor's gradient in backward.

``t.register_hook(fn)``: in every backward that reaches ``t``, ``fn(grad)`` is called with
the gradient of ``t`` (a Tensor of ``t``'s shape, summed over all of ``t``'s uses) before
that gradient moves on -- into the op that made ``t``, or into a leaf's ``.grad`` -- and
a Tensor that ``fn`` returns replaces it (PyTorch's ``Tensor.register_hook``).
``t.retain_grad()`` keeps a non-leaf tensor's gradient in its ``.grad``, accumulated as a
leaf's is, after its hooks ran.

Where they live: a non-leaf's hooks on the node that made it (``node.hooks``, per output,
dropped with the node's saved state when backward frees it), so a hook registered before
an in-place write to ``t`` sees the gradient of the value it was registered on, as in
PyTorch; a leaf's hooks in :data:`_leaf_hooks`, keyed by the tensor's id and dropped when
the tensor is. The engine pays one attribute test per node and one dict test per leaf
delivery when no hook exists.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from chainrule.errors import DTypeError, GraphError, ShapeError
from chainrule.tensor import Tensor, to_array, wrap

# id(leaf tensor) -> {handle id: hook}
_leaf_hooks: dict[int, dict[int, Callable]] = {}
# ids of the non-leaf tensors that retain their gradient (for ``Tensor.retains_grad``,
# which must still answer after backward freed the node)
_retaining: set[int] = set()


class RemovableHandle:
    """Returned by ``register_*hook``; ``handle.remove()`` unregisters the hook (also a
    context manager that removes it on exit)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict) -> None:
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class _OutputHooks:
    """The hooks of one output of a node, and the tensor that retains its gradient."""

    __slots__ = ("fns", "retain")

    def __init__(self) -> None:
        self.fns: dict[int, Callable] = {}
        self.retain: weakref.ref | None = None


def _output_hooks(t: Tensor) -> _OutputHooks:
    node = t._node
    table = node.hooks
    if table is None:
        table = node.hooks = {}
    out = table.get(t._index)
    if out is None:
        out = table[t._index] = _OutputHooks()
    return out


def _needs_grad(t: Tensor, what: str) -> None:
    if not t.requires_grad:
        raise GraphError(f"{what} on a tensor that does not require grad: it gets no gradient")


def register_hook(t: Tensor, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
    """Call ``hook(grad)`` whenever the gradient of ``t`` is computed (see the module
    docstring); returns a handle whose ``remove()`` unregisters it."""
    _needs_grad(t, "register_hook")
    if not callable(hook):
        raise TypeError(f"register_hook needs a callable, got {type(hook).__name__}")
    if t._node is None:
        fns = _leaf_hooks.get(id(t))
        if fns is None:
            fns = _leaf_hooks[id(t)] = {}
            weakref.finalize(t, _leaf_hooks.pop, id(t), None)
    else:
        fns = _output_hooks(t).fns
    handle = RemovableHandle(fns)
    fns[handle.id] = hook
    return handle


def retain_grad(t: Tensor) -> None:
    """Keep the gradient of non-leaf ``t`` in ``t.grad`` (a leaf keeps it anyway)."""
    _needs_grad(t, "retain_grad")
    if t._node is None:
        return
    _output_hooks(t).retain = weakref.ref(t)
    if id(t) not in _retaining:
        _retaining.add(id(t))
        weakref.finalize(t, _retaining.discard, id(t))


def retains_grad(t: Tensor) -> bool:
    """Whether non-leaf ``t`` keeps its gradient (``t.retain_grad()`` was called)."""
    return t._node is not None and id(t) in _retaining


def _run(fns: dict, g: Any, graph: bool) -> Any:
    """``g`` (an array, or a Tensor when the backward is recorded) through each hook."""
    for fn in list(fns.values()):
        out = fn(g if graph else wrap(g))
        if out is None:
            continue
        out = out if isinstance(out, Tensor) else wrap(to_array(out))
        if out.shape != g.shape:
            raise ShapeError(
                f"a gradient hook returned shape {out.shape} for a gradient of shape {g.shape}"
            )
        if out.dtype != g.dtype:
            raise DTypeError(
                f"a gradient hook returned dtype {out.dtype} for a gradient of dtype {g.dtype}"
            )
        g = out if graph else out.data
    return g


def apply_node_hooks(node: Any, g: Any, graph: bool) -> Any:
    """The gradient(s) of ``node``'s outputs after their hooks (``g`` is one gradient, or
    one slot per output of a multi-output node, None where no gradient arrived); retained
    gradients are stored on their tensors."""
    multi = node.n_outputs > 1
    slots = list(g) if multi else [g]
    for k, out in node.hooks.items():
        if slots[k] is None:
            continue
        if out.fns:
            slots[k] = _run(out.fns, slots[k], graph)
        t = out.retain() if out.retain is not None else None
        if t is not None:
            gk = slots[k] if graph else wrap(slots[k].copy())
            t.grad = gk if t.grad is None else t.grad + gk
    return slots if multi else slots[0]


def apply_leaf_hooks(leaf: Tensor, g: Any, graph: bool) -> Any:
    """The gradient of ``leaf`` after its hooks."""
    return _run(_leaf_hooks.get(id(leaf), {}), g, graph)
