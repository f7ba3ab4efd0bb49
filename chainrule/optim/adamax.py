"""Adamax (Kingma & Ba, 2015, section 7): Adam with the infinity norm."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.adam import Adam, lerp_
from chainrule.tensor import Tensor


class Adamax(Adam):
    r"""Adamax, as ``torch.optim.Adamax`` computes it.

    .. code-block:: text

        g  <- g + weight_decay * theta                  (if weight_decay != 0)
        m  <- beta1 * m + (1 - beta1) * g
        u  <- max(beta2 * u, |g| + eps)
        theta <- theta - lr / (1 - beta1^t) * m / u

    State per parameter: ``step``, ``exp_avg`` (m) and ``exp_inf`` (u). Default
    ``lr=2e-3``.
    """

    _state_keys = ("exp_avg", "exp_inf")
    _required_state_keys = ("step", "exp_avg", "exp_inf")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay)
        for group in self.param_groups:  # Adam's amsgrad is no Adamax option
            group.pop("amsgrad", None)
        self.defaults.pop("amsgrad", None)

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        state = self.state.get(p)
        if state is None:
            xp = array_module(x)
            state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x),
                                     "exp_inf": xp.zeros_like(x)}  # fmt: skip
        beta1, beta2 = group["betas"]
        step = state["step"] = state["step"] + 1
        g = self._l2(x, g, group["weight_decay"])
        m, u = state["exp_avg"], state["exp_inf"]
        t = self._scratch(x, 1)
        lerp_(m, g, 1 - beta1, t)
        u *= beta2
        np.abs(g, out=t)
        t += group["eps"]
        np.maximum(u, t, out=u)
        clr = group["lr"] / (1 - beta1**step)
        np.multiply(m, -clr, out=t)
        t /= u
        x += t
