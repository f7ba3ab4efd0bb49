"""Reverse mode: run the chain rule backwards through the recorded graph.

Nodes are visited in reverse topological order with an explicit work list (Kahn's
algorithm over dependency counts), never by Python recursion, so a chain of 100,000
ops backprops. Gradients that fan in to one node are summed before its rule runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.function import Node, _graph_namespace, _released_error
from chainrule.autograd.mode import enable_grad, no_grad, state
from chainrule.errors import DTypeError, GraphError, ShapeError
from chainrule.tensor import Tensor, to_array, wrap


def backward(
    roots: Sequence[Tensor],
    grads: Sequence[Any],
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> list | None:
    """Backpropagate ``grads`` (one per root; None means ones for a one-element root).

    Without ``inputs`` the gradients accumulate into the ``.grad`` of every leaf that
    requires grad. With ``inputs`` nothing accumulates: the gradients with respect to those
    tensors are returned (None where an input is unreachable), and the walk stops at them.
    """
    retain_graph = retain_graph or create_graph
    pending: dict[Node, Any] = {}
    leaf_roots = []
    for root, grad in zip(roots, grads):
        g = _root_grad(root, grad, create_graph)
        node = root._node
        if node is None:
            leaf_roots.append((root, g))
        elif node.n_outputs == 1:
            pending[node] = g if node not in pending else pending[node] + g
        else:
            slots = pending.setdefault(node, [None] * node.n_outputs)
            slots[root._index] = g if slots[root._index] is None else slots[root._index] + g
    run = _Run(create_graph, inputs)
    for leaf, g in leaf_roots:
        run.deliver_leaf(leaf, g)
    if pending:
        with enable_grad() if create_graph else no_grad():
            run.walk(pending, retain_graph)
    return run.captured if inputs is not None else None


def _root_grad(root: Tensor, grad: Any, create_graph: bool) -> Any:
    if not isinstance(root, Tensor) or not root.requires_grad:
        raise GraphError(
            "backward on a tensor that does not require grad: no input of the computation "
            "has requires_grad=True (or it was computed under no_grad)"
        )
    if grad is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward on a non-scalar tensor of shape {root.shape} needs a gradient "
                "argument of the same shape (or reduce it to a scalar first)"
            )
        g = backend.array_module(root.data).ones_like(root.data)
    else:
        g = to_array(grad, copy=True) if not isinstance(grad, Tensor) or not create_graph else grad
        if g.shape != root.shape:
            raise ShapeError(f"backward: gradient shape {g.shape} != tensor shape {root.shape}")
        if isinstance(g, Tensor):
            return g
        if g.dtype != root.dtype:
            g = g.astype(root.dtype)
    return wrap(g) if create_graph else g


class _Run:
    """State of one backward call: where gradients land and what is captured."""

    def __init__(self, create_graph: bool, inputs: Sequence[Tensor] | None) -> None:
        self.create_graph = create_graph
        self.delivered: set[int] = set()
        self.targets: dict[Any, int] = {}
        self.captured: list = []
        if inputs is not None:
            self.captured = [None] * len(inputs)
            for k, t in enumerate(inputs):
                key = id(t) if t._node is None else (t._node, t._index)
                self.targets[key] = k

    # ---- the walk ---------------------------------------------------------------------
    def walk(self, pending: dict, retain_graph: bool) -> None:
        deps = self._count_dependencies(list(pending))
        ready = [n for n in pending if deps.get(n, 0) == 0]
        graph_ns = _graph_namespace() if self.create_graph else None
        while ready:
            node = ready.pop()
            g = pending.pop(node, None)
            if node.released:
                raise _released_error(node)
            if g is not None and self._capture_node(node, g):
                g = None  # the walk stops at a requested input
            if g is not None:
                input_grads = self._call_rule(node, g, graph_ns)
            else:
                input_grads = (None,) * len(node.parents)
            if not retain_graph:
                node.release()
            for parent, gi in zip(node.parents, input_grads):
                if parent is None:
                    continue
                if isinstance(parent, Tensor):
                    if gi is not None:
                        self.deliver_leaf(parent, gi)
                    continue
                pnode, idx = parent if type(parent) is tuple else (parent, 0)
                if gi is not None:
                    self._accumulate(pending, pnode, idx, gi)
                deps[pnode] -= 1
                if deps[pnode] == 0:
                    ready.append(pnode)

    def _count_dependencies(self, roots: list) -> dict:
        deps: dict[Node, int] = {}
        stack = list(roots)
        seen = set(roots)
        while stack:
            node = stack.pop()
            if self.targets and self._owns_target(node):
                continue
            for parent in node.parents:
                if parent is None or isinstance(parent, Tensor):
                    continue
                pnode = parent[0] if type(parent) is tuple else parent
                deps[pnode] = deps.get(pnode, 0) + 1
                if pnode not in seen:
                    seen.add(pnode)
                    stack.append(pnode)
        return deps

    def _owns_target(self, node: Node) -> bool:
        return any((node, k) in self.targets for k in range(node.n_outputs))

    def _capture_node(self, node: Node, g: Any) -> bool:
        if not self.targets or not self._owns_target(node):
            return False
        grads = g if node.n_outputs > 1 else [g]
        for k, gk in enumerate(grads):
            slot = self.targets.get((node, k))
            if slot is not None and gk is not None:
                self.captured[slot] = gk if self.create_graph else wrap(gk)
        return True

    @staticmethod
    def _accumulate(pending: dict, node: Node, idx: int, g: Any) -> None:
        if node.n_outputs == 1:
            prev = pending.get(node)
            pending[node] = g if prev is None else prev + g
        else:
            slots = pending.setdefault(node, [None] * node.n_outputs)
            slots[idx] = g if slots[idx] is None else slots[idx] + g

    # ---- one node -----------------------------------------------------------------------
    def _call_rule(self, node: Node, g: Any, graph_ns: Any) -> tuple:
        node.check_versions()
        fn = node.fn
        grads = self._fill_missing(node, g) if node.n_outputs > 1 else (g,)
        if state.record_grad_norms:
            node.grad_norm = sum(_sq_norm(gk) for gk in grads) ** 0.5
        if self.create_graph:
            node.graph_mode, node.xp = True, graph_ns
            out = fn.backward(node, *grads)
        elif fn.array_rules:
            node.graph_mode = False
            out = fn.backward(node, *grads)
        else:  # a user Function: its backward sees Tensors, without recording
            node.graph_mode, node.xp = True, graph_ns or _graph_namespace()
            out = fn.backward(node, *(wrap(gk) for gk in grads))
            out = _unwrap_all(out)
        out = out if type(out) is tuple else (out,)
        if len(out) != len(node.parents):
            raise GraphError(
                f"backward of '{node.name}' returned {len(out)} gradients "
                f"for {len(node.parents)} inputs"
            )
        if not fn.array_rules:
            _check_user_grads(node, out)
        if state.anomaly:
            from chainrule.autodiff.anomaly import check_backward

            check_backward(node, out)
        return out

    def _fill_missing(self, node: Node, g: list) -> tuple:
        out = []
        for k, gk in enumerate(g):
            if gk is None:
                shape, dtype, xp = node.out_meta[k]
                gk = xp.zeros(shape, dtype)
                if self.create_graph:
                    gk = wrap(gk)
            out.append(gk)
        return tuple(out)

    # ---- leaves -----------------------------------------------------------------------
    def deliver_leaf(self, leaf: Tensor, g: Any) -> None:
        if self.targets:
            slot = self.targets.get(id(leaf))
            if slot is not None:
                prev = self.captured[slot]
                if not self.create_graph:
                    g = wrap(g) if prev is None else wrap(prev.data + g)
                elif prev is not None:
                    g = prev + g
                self.captured[slot] = g
            return
        if self.create_graph:
            if g.dtype != leaf.dtype:
                g = g.astype(leaf.dtype)
            leaf.grad = g if leaf.grad is None else leaf.grad + g
            return
        if g.dtype != leaf.data.dtype:
            g = g.astype(leaf.data.dtype)
        if leaf.grad is None:
            # .grad must own its memory: optimisers and users may write into it
            if getattr(g, "base", None) is not None or id(g) in self.delivered:
                g = g.copy()
            self.delivered.add(id(g))
            leaf.grad = wrap(g)
        else:
            leaf.grad = wrap(leaf.grad.data + g)


def _sq_norm(g: Any) -> float:
    arr = g.data if isinstance(g, Tensor) else g
    return float((arr.astype("float64") ** 2).sum())


def _unwrap_all(out: Any) -> Any:
    if type(out) is tuple:
        return tuple(o.data if isinstance(o, Tensor) else o for o in out)
    return out.data if isinstance(out, Tensor) else out


def _check_user_grads(node: Node, grads: tuple) -> None:
    for k, (gk, shape) in enumerate(zip(grads, node.in_shapes)):
        if gk is None or shape is None:
            continue
        gshape = gk.shape
        if tuple(gshape) != tuple(shape):
            raise ShapeError(
                f"backward of '{node.name}' returned a gradient of shape {tuple(gshape)} "
                f"for input {k} of shape {tuple(shape)}"
            )
        dtype = gk.dtype
        if getattr(dtype, "kind", "f") not in "fc":
            raise DTypeError(f"backward of '{node.name}' returned a {dtype} gradient")
