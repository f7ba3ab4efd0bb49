"""Adadelta (Zeiler, 2012)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number
from chainrule.tensor import Tensor


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta`` computes it.

    .. code-block:: text

        g  <- g + weight_decay * theta                  (if weight_decay != 0)
        v  <- rho * v + (1 - rho) * g * g
        d  <- sqrt(a + eps) / sqrt(v + eps) * g
        a  <- rho * a + (1 - rho) * d * d
        theta <- theta - lr * d

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (a). Default
    ``lr=1.0`` (the method's own step sizes need no learning rate; it scales them).
    """

    _state_keys = ("square_avg", "acc_delta")
    _required_state_keys = ("step", "square_avg", "acc_delta")

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("rho", group["rho"], 0.0, 1.0)
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        state = self.state.get(p)
        if state is None:
            xp = array_module(x)
            state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(x),
                                     "acc_delta": xp.zeros_like(x)}  # fmt: skip
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        g = self._l2(x, g, group["weight_decay"])
        v, a = state["square_avg"], state["acc_delta"]
        t = self._scratch(x, 1)
        v *= rho
        np.multiply(g, 1 - rho, out=t)
        t *= g
        v += t
        d = self._scratch(x, 2)
        np.add(a, eps, out=d)
        np.sqrt(d, out=d)
        np.add(v, eps, out=t)
        np.sqrt(t, out=t)
        d /= t
        d *= g
        a *= rho
        np.multiply(d, 1 - rho, out=t)
        t *= d
        a += t
        d *= -group["lr"]
        x += d
