"""Reverse mode: run the chain rule backwards through the recorded graph.

Nodes are visited in reverse creation order (a reverse topological order) from a heap,
never by Python recursion, so a chain of 100,000 ops backprops. Gradients that fan in
to one node are summed before its rule runs.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd import hooks
from chainrule.autograd.function import Node, _graph_namespace, released_error
from chainrule.autograd.hooks import _leaf_hooks  # (one dict for the package's lifetime)
from chainrule.autograd.mode import state
from chainrule.errors import DTypeError, GraphError, ShapeError
from chainrule.tensor import Tensor, to_array, wrap


def backward(
    roots: Sequence[Tensor],
    grads: Sequence[Any],
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = False,
) -> list | None:
    """Backpropagate ``grads`` (one per root; None means ones for a one-element root).

    Without ``inputs`` the gradients accumulate into the ``.grad`` of every leaf that
    requires grad. With ``inputs`` the gradients with respect to those tensors are returned
    (None where an input is unreachable) and the walk stops at them: the op that made an
    input is not run (nor freed), so a later backward from that input still works. With
    ``inputs``, nothing accumulates unless ``accumulate=True``; then every other leaf gets
    its gradient in ``.grad`` as usual (the modular backward of ``nn.Module``: dL/dx
    returned, dL/dtheta accumulated). With ``create_graph`` the backward pass is itself
    recorded (gradients are Tensors with history), which is what higher derivatives need.
    """
    retain_graph = retain_graph or create_graph
    run = _Run(create_graph, inputs, accumulate)
    pending: dict[Node, Any] = {}
    for root, grad in zip(roots, grads):
        g = _root_grad(root, grad, create_graph)
        node = root._node
        if node is None:
            run.deliver_leaf(root, g)
        elif node.n_outputs == 1:
            pending[node] = g if node not in pending else pending[node] + g
        else:
            _accumulate_slot(pending, node, root._index, g)
    prev = state.grad_enabled
    state.grad_enabled = create_graph  # rules record only when the backward is wanted
    try:
        if pending:
            run.walk(pending, retain_graph)
        if run.held:
            run.deliver_held()
    finally:
        state.grad_enabled = prev
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
        g = backend.array_module(root.data).array(1, root.dtype)  # faster than ones(())
        if root.shape != ():
            g = g.reshape(root.shape)
        return wrap(g) if create_graph else g
    g = grad if isinstance(grad, Tensor) and create_graph else to_array(grad, copy=True)
    if g.shape != root.shape:
        raise ShapeError(f"backward: gradient shape {g.shape} != tensor shape {root.shape}")
    if not isinstance(g, Tensor):  # an array: to the root's dtype and device
        if g.dtype != root.dtype:
            g = g.astype(root.dtype)
        g = backend.to_device_of(g, root.data)
    return wrap(g) if create_graph and not isinstance(g, Tensor) else g


def _accumulate_slot(pending: dict, node: Node, idx: int, g: Any) -> None:
    slots = pending.get(node)
    if slots is None:
        slots = pending[node] = [None] * node.n_outputs
    slots[idx] = g if slots[idx] is None else slots[idx] + g


class _Run:
    """State of one backward call: where gradients land and what is captured."""

    def __init__(
        self, create_graph: bool, inputs: Sequence[Tensor] | None, accumulate: bool = False
    ) -> None:
        self.create_graph = create_graph
        self.accumulate = accumulate  # with targets: other leaves still get their .grad
        # Rules may return a gradient in the broadcast shape of their output; it is summed
        # back to the input's shape here, by the one shared helper.
        self.sum_to = _graph_namespace().sum_to if create_graph else backend.numpy_ops.sum_to
        self.delivered: set[int] = set()
        self.held: dict[int, tuple[Tensor, Any]] = {}  # leaves with hooks: summed gradient
        self.targets: dict[Any, int] = {}
        self.captured: list = []
        if inputs is not None:
            self.captured = [None] * len(inputs)
            for k, t in enumerate(inputs):
                key = id(t) if t._node is None else (t._node, t._index)
                self.targets[key] = k

    # ---- the walk ---------------------------------------------------------------------
    def walk(self, pending: dict, retain_graph: bool) -> None:
        # Nodes are numbered as they are made, so a node's inputs always have smaller
        # numbers than the node: popping the largest number first is a reverse topological
        # order, and by the time a node is popped every consumer has sent its gradient.
        heap = [(-node.seq, node) for node in pending]
        heapq.heapify(heap)
        fast = not (self.create_graph or self.targets or state.anomaly or state.record_grad_norms)
        deliver = self.deliver_leaf
        sum_to = self.sum_to
        while heap:
            node = heapq.heappop(heap)[1]
            g = pending.pop(node)
            if node.released:
                raise released_error(node)
            if node.hooks is not None:  # tensor hooks and retained gradients of its outputs
                g = hooks.apply_node_hooks(node, g, self.create_graph)
            if fast and node.n_outputs == 1 and node.fn.array_rules:
                for box, version in node.versions or ():  # check_versions, inlined
                    if box[0] != version:
                        node.check_versions()  # raises, naming the op
                input_grads = node.fn.backward(node, g)
                if type(input_grads) is not tuple:
                    input_grads = (input_grads,)
            elif self.targets and self._capture_node(node, g):
                continue  # the walk stops at a requested input: its op is not run nor freed
            else:
                input_grads = self._call_rule(node, g)
            if not retain_graph:  # Node.release, inlined on the hot path
                node.saved = ()
                node.saved_from = node.versions = node.hooks = None
                node.released = True
                node.__dict__.clear()
            for parent, gi in zip(node.parents, input_grads):
                if gi is None or parent is None:
                    continue
                if type(parent) is Node:
                    if gi.shape != parent.out_shape:  # the input was broadcast: undo it
                        gi = sum_to(gi, parent.out_shape)
                    prev = pending.get(parent)
                    if prev is None:
                        pending[parent] = gi
                        heapq.heappush(heap, (-parent.seq, parent))
                    else:
                        pending[parent] = prev + gi
                elif type(parent) is tuple:
                    pnode, k = parent
                    shape = pnode.out_meta[k][0]
                    if gi.shape != shape:
                        gi = sum_to(gi, shape)
                    if pnode not in pending:
                        heapq.heappush(heap, (-pnode.seq, pnode))
                    _accumulate_slot(pending, pnode, k, gi)
                else:  # a leaf tensor
                    deliver(parent, gi)

    def _owns_target(self, node: Node) -> bool:
        return any((node, k) in self.targets for k in range(node.n_outputs))

    def _capture_node(self, node: Node, g: Any) -> bool:
        if not self._owns_target(node):
            return False
        grads = g if node.n_outputs > 1 else [g]
        for k, gk in enumerate(grads):
            slot = self.targets.get((node, k))
            if slot is not None and gk is not None:
                self.captured[slot] = gk if self.create_graph else wrap(gk)
        return True

    # ---- one node, the general case -------------------------------------------------------
    def _call_rule(self, node: Node, g: Any) -> tuple:
        if node.versions:
            node.check_versions()
        fn = node.fn
        grads = self._fill_missing(node, g) if node.n_outputs > 1 else (g,)
        if state.record_grad_norms:
            node.grad_norm = sum(_sq_norm(gk) for gk in grads) ** 0.5
        if self.create_graph:
            out = node.run_on_tensors(fn.backward, *grads)
        elif fn.array_rules:
            out = fn.backward(node, *grads)
        else:  # a user Function: its backward sees Tensors, without recording
            out = _unwrap_all(node.run_on_tensors(fn.backward, *(wrap(gk) for gk in grads)))
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
    def deliver_leaf(self, leaf: Tensor, g: Any, hooked: bool = False) -> None:
        if g.shape != leaf.data.shape:
            g = self.sum_to(g, leaf.data.shape)
        if _leaf_hooks and not hooked and id(leaf) in _leaf_hooks:
            # held to the end of the walk: the hooks see the gradient summed over all uses
            prev = self.held.get(id(leaf))
            self.held[id(leaf)] = (leaf, g if prev is None else prev[1] + g)
            return
        if self.targets and (self._capture_leaf(leaf, g) or not self.accumulate):
            return
        if self.create_graph:
            if g.dtype != leaf.dtype:
                g = g.astype(leaf.dtype)
            leaf.grad = g if leaf.grad is None else leaf.grad + g
        else:
            if g.dtype != leaf.data.dtype:
                g = g.astype(leaf.data.dtype)
            if leaf.grad is None:
                # .grad must own its memory: optimisers and users may write into it
                if g.base is not None or id(g) in self.delivered:
                    g = g.copy()
                self.delivered.add(id(g))
                leaf.grad = wrap(g)
            else:
                leaf.grad = wrap(leaf.grad.data + g)

    def deliver_held(self) -> None:
        """Deliver the gradients held for leaves with hooks, through their hooks."""
        for leaf, g in self.held.values():
            self.deliver_leaf(leaf, hooks.apply_leaf_hooks(leaf, g, self.create_graph), True)
        self.held.clear()

    def _capture_leaf(self, leaf: Tensor, g: Any) -> bool:
        """Add ``g`` to the captured gradient if ``leaf`` is a requested input."""
        slot = self.targets.get(id(leaf))
        if slot is None:
            return False
        prev = self.captured[slot]
        if not self.create_graph:
            g = wrap(g) if prev is None else wrap(prev.data + g)
        elif prev is not None:
            g = prev + g
        self.captured[slot] = g
        return True


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
        if tuple(gk.shape) != tuple(shape):
            raise ShapeError(
                f"backward of '{node.name}' returned a gradient of shape {tuple(gk.shape)} "
                f"for input {k} of shape {tuple(shape)}"
            )
        if getattr(gk.dtype, "kind", "f") not in "fc":
            raise DTypeError(f"backward of '{node.name}' returned a {gk.dtype} gradient")
