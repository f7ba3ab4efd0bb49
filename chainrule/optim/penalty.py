"""Penalties to add to the loss, beside the optimisers' ``weight_decay``.

``weight_decay=λ`` in SGD/Adam/RMSprop/Adagrad adds ``λ·θ`` to each gradient: the
gradient of the L2 penalty ``λ/2·Σθ²``, applied without building a graph (AdamW instead
shrinks θ directly). An L1 penalty ``λ·Σ|θ|`` has no such shortcut that stays exact, so
it is written as a term of the loss and differentiated like the rest of it::

    loss = loss_fn(model(x), y) + cr.optim.l1_penalty(model.parameters(), 1e-4)
    loss.backward()

Its gradient is ``λ·sign(θ)`` (0 where θ == 0), which pushes weights to exactly zero and
so favours sparse models.
"""

from __future__ import annotations

from collections.abc import Iterable

from chainrule import ops
from chainrule.optim.optimizer import OptimizerError, check_number
from chainrule.tensor import Tensor


def l1_penalty(params: Tensor | Iterable[Tensor], weight: float) -> Tensor:
    """``weight * Σ_p Σ|p|`` as a differentiable 0-d Tensor, to add to the loss.

    ``params`` is a Tensor or an iterable of Tensors (e.g. ``model.parameters()``;
    pass only the weights if biases should not be penalised). ``weight`` must be >= 0.
    """
    check_number("L1 penalty weight", weight)
    if isinstance(params, Tensor):
        params = [params]
    total = None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise OptimizerError(
                f"l1_penalty takes chainrule Tensors, but item {i} is a {type(p).__name__}"
            )
        term = ops.sum(ops.abs(p))
        total = term if total is None else total + term
    if total is None:
        raise OptimizerError("l1_penalty got no parameters")
    return total * weight
