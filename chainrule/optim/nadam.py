"""NAdam (Dozat, 2016) and RAdam (Liu et al., 2020): Adam with Nesterov momentum, and Adam
with a rectified warm-up of the adaptive step."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.adam import Adam, moments_
from chainrule.optim.optimizer import ParamsT, check_number
from chainrule.tensor import Tensor


class _AdamFamily(Adam):
    """Adam's arguments without ``amsgrad``, plus ``decoupled_weight_decay`` (AdamW's
    decay) and any ``extra`` hyper-parameters."""

    _state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsT, lr: float, betas: tuple[float, float], eps: float,
                 weight_decay: float, decoupled_weight_decay: bool,
                 **extra: Any) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay)
        for group in [self.defaults, *self.param_groups]:
            group.pop("amsgrad", None)
            group.setdefault("decoupled_weight_decay", decoupled_weight_decay)
            for k, v in extra.items():
                group.setdefault(k, v)
            self._check_group(group)

    def _moments(self, p: Tensor, g: Any, group: dict[str, Any]) -> tuple[dict, Any, int]:
        """Weight decay, then the updated moments; returns (state, g, step)."""
        x = p.data
        state = self.state.get(p)
        if state is None:
            xp = array_module(x)
            state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x),
                                     "exp_avg_sq": xp.zeros_like(x)}  # fmt: skip
            state |= self._fresh_state()
        step = state["step"] = state["step"] + 1
        lr, wd = group["lr"], group["weight_decay"]
        if wd != 0 and group["decoupled_weight_decay"]:
            x *= 1 - lr * wd
        elif wd != 0:
            g = self._l2(x, g, wd)
        beta1, beta2 = group["betas"]
        moments_(state["exp_avg"], state["exp_avg_sq"], g, beta1, beta2, self._scratch(x, 1))
        return state, g, step

    def _fresh_state(self) -> dict[str, Any]:
        return {}


class NAdam(_AdamFamily):
    r"""NAdam, as ``torch.optim.NAdam`` computes it: Adam whose update looks ahead with
    the next step's momentum, with the momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))``.

    .. code-block:: text

        m, v  as Adam;  d <- sqrt(v / (1 - beta2^t)) + eps
        theta <- theta - lr (1 - mu_t) / (1 - prod mu_1..t) * g / d
                       - lr mu_{t+1} / (1 - prod mu_1..t+1) * m / d

    State per parameter: ``step``, ``mu_product`` (kept in float32, as PyTorch),
    ``exp_avg``, ``exp_avg_sq``. Default ``lr=2e-3``.
    """

    _scalar_state_keys = ("step", "mu_product")
    _required_state_keys = ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay,
                         momentum_decay=momentum_decay)  # fmt: skip

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if "momentum_decay" in group:
            check_number("momentum_decay", group["momentum_decay"])

    def _fresh_state(self) -> dict[str, Any]:
        return {"mu_product": 1.0}

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        state, g, step = self._moments(p, g, group)
        x, lr, (beta1, beta2) = p.data, group["lr"], group["betas"]
        decay = group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        mu_product = state["mu_product"] = float(np.float32(state["mu_product"]) * np.float32(mu))
        d = self._scratch(x, 2)
        np.divide(state["exp_avg_sq"], 1 - beta2**step, out=d)
        np.sqrt(d, out=d)
        d += group["eps"]
        t = self._scratch(x, 1)
        np.multiply(g, -lr * (1.0 - mu) / (1.0 - mu_product), out=t)
        t /= d
        x += t
        np.multiply(state["exp_avg"], -lr * mu_next / (1.0 - mu_product * mu_next), out=t)
        t /= d
        x += t


class RAdam(_AdamFamily):
    r"""RAdam, as ``torch.optim.RAdam`` computes it: while the variance of the adaptive
    step is intractable (``rho_t <= 5``) the update is SGD with momentum; after that,
    Adam's step times the rectification ``r_t``.

    .. code-block:: text

        m, v  as Adam;  rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m_hat = m / (1 - beta1^t)
        theta <- theta - lr * m_hat * r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)  (rho_t > 5)
        theta <- theta - lr * m_hat                                             (otherwise)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))

    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _required_state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay)

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        state, g, step = self._moments(p, g, group)
        x, lr, (beta1, beta2) = p.data, group["lr"], group["betas"]
        bias1, bias2 = 1 - beta1**step, 1 - beta2**step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2**step / bias2
        t = self._scratch(x, 1)
        np.divide(state["exp_avg"], bias1, out=t)  # m_hat
        t *= lr
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))  # fmt: skip
            d = self._scratch(x, 2)
            np.sqrt(state["exp_avg_sq"], out=d)
            d += group["eps"]
            np.divide(math.sqrt(bias2), d, out=d)  # the adaptive learning rate
            t *= d
            t *= rect
        x -= t
