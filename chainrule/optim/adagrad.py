"""Adagrad (Duchi, Hazan & Singer, 2011)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number
from chainrule.tensor import Tensor


class Adagrad(Optimizer):
    r"""Adagrad, exactly as ``torch.optim.Adagrad`` computes it (dense gradients).

    .. code-block:: text

        g  <- g + weight_decay * theta                  (if weight_decay != 0)
        lr_t <- lr / (1 + (t - 1) * lr_decay)
        s  <- s + g * g                                 (s starts at initial_accumulator_value)
        theta <- theta - lr_t * g / (sqrt(s) + eps)

    State per parameter: ``step`` and ``sum`` (s). Unlike torch, which fills the state
    when the optimiser is made, the state of a parameter appears at its first step.
    """

    _state_keys = ("sum",)
    _required_state_keys = ("step", "sum")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("lr_decay", group["lr_decay"])
        check_number("weight_decay", group["weight_decay"])
        check_number("initial_accumulator_value", group["initial_accumulator_value"])
        check_number("eps", group["eps"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        state = self.state.get(p)
        if state is None:
            init = group["initial_accumulator_value"]
            state = self.state[p] = {"step": 0, "sum": array_module(x).full_like(x, init)}
        step = state["step"] = state["step"] + 1
        wd = group["weight_decay"]
        g = self._l2(x, g, wd)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]
        t = self._scratch(x, 1)
        np.multiply(g, g, out=t)
        s += t
        np.sqrt(s, out=t)
        t += group["eps"]
        u = self._scratch(x, 0)
        np.multiply(g, -clr, out=u)
        u /= t
        x += u
