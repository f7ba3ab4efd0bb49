"""checkpoint: trade compute for memory by recomputing a segment in backward.

Forward runs ``fn`` without recording, so only the segment's inputs are kept. Backward
runs ``fn`` again with recording on (with the random state it had the first time, so
dropout masks match) and backpropagates through that fresh graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autodiff.transforms import check_outputs
from chainrule.autograd import engine
from chainrule.autograd.function import Function, apply_recorded, gradient_parent
from chainrule.autograd.mode import enable_grad, no_grad, state
from chainrule.errors import GraphError
from chainrule.tensor import Tensor, wrap


class _Recompute(Function):
    name = "checkpoint"

    @staticmethod
    def forward(ctx, *arrays, fn, is_tensor, rng_state):
        args = [wrap(a) if t else a for a, t in zip(arrays, is_tensor)]
        with no_grad():
            out = fn(*args)
        check_outputs("checkpoint", out)
        # not ctx.fn: the node's own ``fn`` slot holds the Function class the engine calls
        ctx.segment, ctx.is_tensor, ctx.rng_state = fn, is_tensor, rng_state
        ctx.save_for_backward(*arrays)
        if isinstance(out, (tuple, list)):
            return tuple(o.data for o in out)
        return out.data

    @staticmethod
    def backward(ctx, *grads):
        if state.grad_enabled:
            raise GraphError("checkpoint does not support create_graph=True (double backward)")
        inputs = []
        for value, is_t, needs in zip(ctx.saved_tensors, ctx.is_tensor, ctx.needs_input_grad):
            if is_t:
                value = wrap(value.data)
                value.requires_grad = needs
            inputs.append(value)
        current = backend.get_rng_state()
        backend.set_rng_state(ctx.rng_state)
        try:
            with enable_grad():
                out = ctx.segment(*inputs)
        finally:
            backend.set_rng_state(current)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
        if pairs:
            engine.backward([o for o, _ in pairs], [g.data for _, g in pairs])
        return tuple(x.grad if isinstance(x, Tensor) and x.requires_grad else None
                     for x in inputs)  # fmt: skip


def checkpoint(fn: Callable, *args: Any) -> Any:
    """``fn(*args)``, keeping only ``args`` for backward and recomputing the rest there.

    Parameters that ``fn`` closes over (a module's weights) get their gradients in the
    recomputation. Not for ``create_graph=True``.
    """
    if not state.grad_enabled or state.forward_active:
        return fn(*args)
    for a in args:  # as Function.apply does: a view written since takes up its history
        if isinstance(a, Tensor):
            a._refresh_if_stale()
    is_tensor = tuple(isinstance(a, Tensor) for a in args)
    arrays = [a.data if t else a for a, t in zip(args, is_tensor)]
    params = {"fn": fn, "is_tensor": is_tensor, "rng_state": backend.get_rng_state()}
    parents = [gradient_parent(a) if isinstance(a, Tensor) else None for a in args]
    needs = [p is not None for p in parents]
    return apply_recorded(_Recompute, args, arrays, parents, needs, params, grad=True)
