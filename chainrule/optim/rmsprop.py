"""RMSprop (Hinton's lecture 6e), optionally centred (Graves, 2013) and with momentum."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.adam import lerp_
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number
from chainrule.tensor import Tensor


class RMSprop(Optimizer):
    r"""RMSprop, exactly as ``torch.optim.RMSprop`` computes it.

    .. code-block:: text

        g  <- g + weight_decay * theta                  (if weight_decay != 0)
        v  <- alpha * v + (1 - alpha) * g * g
        a  <- alpha * a + (1 - alpha) * g               (centered)
        d  <- sqrt(v - a * a) + eps   if centered else   sqrt(v) + eps
        b  <- momentum * b + g / d;  theta <- theta - lr * b     (if momentum > 0)
        theta <- theta - lr * g / d                              (otherwise)

    State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, when
    ``momentum > 0``) and ``grad_avg`` (a, when ``centered``).
    """

    _state_keys = ("square_avg", "momentum_buffer", "grad_avg")
    _required_state_keys = ("step", "square_avg")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("alpha", group["alpha"])
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])
        check_number("momentum", group["momentum"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        xp = array_module(x)
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(x)}
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        wd, momentum = group["weight_decay"], group["momentum"]
        state["step"] += 1
        g = self._l2(x, g, wd)
        v = state["square_avg"]
        t = self._scratch(x, 1)
        v *= alpha
        np.multiply(g, 1 - alpha, out=t)
        t *= g
        v += t
        avg = t
        if group["centered"]:
            a = state.get("grad_avg")
            if a is None:
                a = state["grad_avg"] = xp.zeros_like(x)
            lerp_(a, g, 1 - alpha, t)
            np.multiply(a, -1, out=avg)  # v - a * a, rounded as torch's addcmul
            avg *= a
            avg += v
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(v, out=avg)
        avg += eps
        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(x)
            buf *= momentum
            np.divide(g, avg, out=avg)
            buf += avg
            np.multiply(buf, lr, out=avg)
            x -= avg
        else:
            u = self._scratch(x, 0)  # may be g itself: fine, g is read first
            np.multiply(g, -lr, out=u)
            u /= avg
            x += u
