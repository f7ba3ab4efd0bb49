"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, OptimizerError, ParamsT, check_number
from chainrule.tensor import Tensor


class SGD(Optimizer):
    r"""Stochastic gradient descent, exactly as ``torch.optim.SGD`` computes it.

    With gradient :math:`g_t` of parameter :math:`\theta`:

    .. code-block:: text

        g  <- g + weight_decay * theta                 (if weight_decay != 0)
        b  <- g                      on the first step, then
        b  <- momentum * b + (1 - dampening) * g       (if momentum != 0)
        g  <- g + momentum * b   if nesterov else   g <- b
        theta <- theta - lr * g

    ``weight_decay`` is the L2 penalty ``weight_decay / 2 * |theta|^2`` added to the loss;
    for an L1 penalty add :func:`chainrule.optim.l1_penalty` to the loss instead.
    Nesterov momentum needs ``momentum > 0`` and ``dampening == 0``.

    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``).
    """

    _state_keys = ("momentum_buffer",)
    _scalar_state_keys = ()

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("momentum", group["momentum"])
        check_number("dampening", group["dampening"])
        check_number("weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise OptimizerError("Nesterov momentum needs momentum > 0 and dampening == 0")

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = self._l2(x, g, wd)
        if momentum != 0:
            state = self.state.setdefault(p, {})
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = array_module(x).array(g, dtype=x.dtype, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= momentum
                if group["dampening"] == 0:
                    buf += g
                else:
                    t = self._scratch(x, 1)
                    np.multiply(g, 1 - group["dampening"], out=t)
                    buf += t
            if group["nesterov"]:  # g + momentum * buf
                d = self._scratch(x, 0)
                if g is d:
                    t = self._scratch(x, 1)
                    np.multiply(buf, momentum, out=t)
                    d += t
                else:
                    np.multiply(buf, momentum, out=d)
                    d += g
                g = d
            else:
                g = buf
        t = self._scratch(x, 1)
        np.multiply(g, lr, out=t)
        x -= t
