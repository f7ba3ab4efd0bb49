"""ASGD: averaged stochastic gradient descent (Polyak & Juditsky, 1992)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, ParamsT, check_bool, check_number
from chainrule.tensor import Tensor


def _f32(value: float) -> float:
    """``value`` rounded to float32, as a Python float (torch keeps ASGD's eta and mu in
    float32 0-d tensors, whatever the parameter's dtype)."""
    return float(np.float32(value))


class ASGD(Optimizer):
    r"""Averaged SGD, exactly as ``torch.optim.ASGD`` computes it (single-tensor path).

    .. code-block:: text

        g  <- -g                                       (if maximize)
        g  <- g + weight_decay * theta                 (if weight_decay != 0)
        theta <- theta * (1 - lambd * eta)
        theta <- theta - eta * g
        ax <- theta              if mu == 1, else   ax <- ax + mu * (theta - ax)
        eta <- lr / (1 + lambd * lr * t) ** alpha
        mu  <- 1 / max(1, t - t0)

    ``theta`` follows plain SGD with a learning rate that decays as ``t ** -alpha``;
    ``ax`` is the running average of the iterates from step ``t0`` on (before it, ``ax``
    just tracks ``theta``). The averaged weights are in ``optimizer.state[p]["ax"]``:
    copy them into the model to evaluate it (``p.data[...] = opt.state[p]["ax"]``).

    State per parameter: ``step`` (an int), ``eta`` and ``mu`` (Python floats rounded to
    float32, as torch keeps them in float32 tensors; ``eta`` starts at ``lr``) and
    ``ax``, an array shaped like the parameter.
    """

    _state_keys = ("ax",)
    _scalar_state_keys = ("step", "eta", "mu")
    _required_state_keys = ("step", "eta", "mu", "ax")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("lambd", group["lambd"])
        check_number("alpha", group["alpha"])
        check_number("t0", group["t0"], -math.inf)
        check_number("weight_decay", group["weight_decay"])
        check_bool("maximize", group["maximize"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {
                "step": 0,
                "eta": _f32(group["lr"]),
                "mu": 1.0,
                "ax": array_module(x).zeros_like(x),
            }
        lr, lambd, wd = group["lr"], group["lambd"], group["weight_decay"]
        step = state["step"] = state["step"] + 1
        if group["maximize"]:
            g = np.negative(g, out=self._scratch(x, 2))
        g = self._l2(x, g, wd)
        eta = state["eta"]
        x *= 1 - lambd * eta
        t = self._scratch(x, 1)
        np.multiply(g, eta, out=t)
        x -= t
        ax, mu = state["ax"], state["mu"]
        if mu != 1:
            np.subtract(x, ax, out=t)
            t *= mu
            ax += t
        else:
            ax[...] = x
        state["eta"] = _f32(lr / (1 + lambd * lr * step) ** group["alpha"])
        state["mu"] = _f32(1 / max(1, step - group["t0"]))
