"""Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.optimizer import Optimizer, ParamsT, check_number, check_pair
from chainrule.tensor import Tensor


def lerp_(a: Any, b: Any, w: float, tmp: Any) -> None:
    """``a <- a + w * (b - a)`` in place, rounded as ``torch.lerp`` rounds it."""
    np.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= a.dtype.type(1) - a.dtype.type(w)
        np.subtract(b, tmp, out=a)


def moments_(m: Any, v: Any, g: Any, beta1: float, beta2: float, tmp: Any) -> None:
    """Adam's moment estimates in place, rounded as torch's ``lerp_`` and ``addcmul_``:
    ``m <- beta1 * m + (1 - beta1) * g`` and ``v <- beta2 * v + (1 - beta2) * g * g``."""
    lerp_(m, g, 1 - beta1, tmp)
    v *= beta2
    np.multiply(g, 1 - beta2, out=tmp)
    tmp *= g
    v += tmp


class Adam(Optimizer):
    r"""Adam, exactly as ``torch.optim.Adam`` computes it.

    .. code-block:: text

        g  <- g + weight_decay * theta          (L2 penalty; AdamW decays theta instead)
        m  <- beta1 * m + (1 - beta1) * g
        v  <- beta2 * v + (1 - beta2) * g * g
        v_max <- max(v_max, v)                  (amsgrad; then v_max is used for v below)
        theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    State per parameter: ``step`` (an int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    ``amsgrad``, ``max_exp_avg_sq``.
    """

    _state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _required_state_keys = ("step", "exp_avg", "exp_avg_sq")
    _decoupled = False

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"] = check_pair("betas", group["betas"], "(beta1, beta2)")
        check_number("beta1 (betas[0])", betas[0], 0.0, 1.0, high_open=True)
        check_number("beta2 (betas[1])", betas[1], 0.0, 1.0, high_open=True)
        check_number("eps", group["eps"])
        check_number("weight_decay", group["weight_decay"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        state = self.state.get(p)
        if state is None:
            xp = array_module(x)
            state = self.state[p] = {
                "step": 0,
                "exp_avg": xp.zeros_like(x),
                "exp_avg_sq": xp.zeros_like(x),
            }
        if group["amsgrad"] and state.get("max_exp_avg_sq") is None:
            state["max_exp_avg_sq"] = array_module(x).zeros_like(x)
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        beta1, beta2 = group["betas"]
        step = state["step"] = state["step"] + 1
        if self._decoupled:
            if wd != 0:
                x *= 1 - lr * wd
        else:
            g = self._l2(x, g, wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        t = self._scratch(x, 1)
        moments_(m, v, g, beta1, beta2, t)
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        denom = t
        np.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += eps
        u = self._scratch(x, 0)  # g is no longer needed
        np.multiply(m, -step_size, out=u)
        u /= denom
        x += u


class AdamW(Adam):
    r"""Adam with decoupled weight decay, exactly as ``torch.optim.AdamW`` computes it:
    before the Adam update, ``theta <- theta * (1 - lr * weight_decay)``; the decay does
    not pass through the moment estimates. Default ``weight_decay=1e-2``.
    """

    _decoupled = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
