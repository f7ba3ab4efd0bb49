"""Rprop: resilient backpropagation (Riedmiller and Braun, 1993)."""

from __future__ import annotations

from typing import Any

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number, check_pair
from chainrule.tensor import Tensor


class Rprop(Optimizer):
    r"""Rprop, as ``torch.optim.Rprop`` computes it: each weight has its own step size,
    grown while its gradient keeps its sign and shrunk when the sign flips; only the sign
    of the gradient is used.

    .. code-block:: text

        s  <- sign(g * prev)
        step_size <- clip(step_size * (etaplus if s > 0, etaminus if s < 0, 1 if s = 0),
                          step_size_min, step_size_max)
        g  <- 0 where the sign flipped (no move, and no flip seen next step)
        theta <- theta - sign(g) * step_size
        prev <- g

    State per parameter: ``step``, ``prev`` and ``step_size`` (filled with ``lr`` on the
    first step: later changes of ``lr``, by a scheduler say, do not reach it, as in
    PyTorch). Meant for full-batch training; minibatch noise flips signs at random.
    """

    _state_keys = ("prev", "step_size")
    _required_state_keys = ("step", "prev", "step_size")

    def __init__(self, params: ParamsT, lr: float = 0.01, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50.0)) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes)})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        etaminus, etaplus = group["etas"] = check_pair("etas", group["etas"], "of numbers")
        check_number("etaminus (etas[0])", etaminus, 0.0, 1.0, high_open=True)
        check_number("etaplus (etas[1])", etaplus, 1.0)
        low, high = group["step_sizes"] = check_pair("step_sizes", group["step_sizes"],
                                                     "of numbers")  # fmt: skip
        check_number("step_sizes[0]", low)
        check_number("step_sizes[1]", high, float(low))

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        xp = array_module(x)
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0, "prev": xp.zeros_like(x),
                                     "step_size": xp.full_like(x, group["lr"])}  # fmt: skip
        state["step"] += 1
        etaminus, etaplus = group["etas"]
        prev, size = state["prev"], state["step_size"]
        s = xp.sign(g * prev)
        # PyTorch's order: > 0, then < 0, then == 0 (a NaN stays NaN)
        factor = xp.where(s > 0, etaplus, xp.where(s < 0, etaminus, xp.where(s == 0, 1.0, s)))
        size *= factor
        xp.clip(size, *group["step_sizes"], out=size)
        g = xp.where(factor == etaminus, 0.0, g)
        x -= xp.sign(g) * size
        prev[...] = g
