"""Adafactor (Shazeer & Stern, 2018), in the form torch.optim.Adafactor computes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.backend import array_module
from chainrule.optim.adam import lerp_
from chainrule.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_bool,
    check_number,
    check_pair,
)
from chainrule.tensor import Tensor

_FACTORED = ("row_var", "col_var")


def _norm(a: Any) -> float:
    """The 2-norm of all of ``a``'s elements, as a Python float (rounded in ``a``'s dtype,
    as torch's ``tensor.norm(2).item()``)."""
    return float(array_module(a).linalg.norm(a.reshape(-1)))


def _factored_shapes(shape: tuple) -> tuple[tuple, tuple]:
    """The shapes of ``row_var`` (last axis reduced) and ``col_var`` (next to last axis
    reduced) of a parameter with ``ndim >= 2``."""
    return shape[:-1] + (1,), shape[:-2] + (1, shape[-1])


class Adafactor(Optimizer):
    r"""Adafactor, exactly as ``torch.optim.Adafactor`` computes it (single-tensor path):
    Adam without first moment whose second moment, for a matrix (or a stack of matrices:
    any ``ndim >= 2``, factored over the last two axes), is the outer product of a row
    and a column average, so it costs ``O(m + n)`` memory instead of ``O(mn)``.

    .. code-block:: text

        g  <- -g                                        (if maximize)
        beta2_t <- 1 - t ** beta2_decay                 (so 1 - beta2_t = t ** beta2_decay)
        rho_t <- min(lr, 1 / sqrt(t))
        alpha <- max(eps2, rms(theta)) * rho_t          (rms: sqrt(mean of squares))
        theta <- theta * (1 - lr * weight_decay)        (decoupled, after alpha is taken)
        ndim >= 2:  R <- lerp(R, mean(g*g, axis=-1), 1 - beta2_t)     (row_var)
                    C <- lerp(C, mean(g*g, axis=-2), 1 - beta2_t)     (col_var)
                    v <- R C / max(mean(R, axis=-2), eps1)
        otherwise:  V <- lerp(V, g*g, 1 - beta2_t)                    (variance)
                    v <- V
        u  <- g / sqrt(max(v, eps1 ** 2))
        theta <- theta - alpha / max(1, rms(u) / d) * u

    ``lr`` is a relative step size (the update is scaled by the parameters' RMS, at
    least ``eps2``); ``eps=(eps1, eps2)``, where ``eps1=None`` means the machine epsilon
    of each parameter's dtype; ``d`` clips the update's RMS. ``foreach`` is accepted for
    compatibility with torch and ignored (there is one implementation).

    State per parameter: ``step`` (an int) and either ``row_var`` and ``col_var`` (shaped
    like the parameter with the last, respectively next-to-last, axis of size 1) or
    ``variance`` (shaped like the parameter, for vectors and scalars).
    """

    _state_keys = ("row_var", "col_var", "variance")
    _required_state_keys = ("step",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": tuple(eps) if isinstance(eps, list) else eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_number("beta2_decay", group["beta2_decay"], -math.inf, 0.0)
        eps = group["eps"] = check_pair("eps", group["eps"], "(eps1 or None, eps2)")
        if eps[0] is not None:
            check_number("eps1 (eps[0])", eps[0])
        check_number("eps2 (eps[1])", eps[1])
        check_number("d", group["d"], 1.0)
        check_number("weight_decay", group["weight_decay"])
        if group["foreach"] is not None:
            check_bool("foreach", group["foreach"])
        check_bool("maximize", group["maximize"])

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        x = p.data
        xp = array_module(x)
        factored = x.ndim >= 2
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = {"step": 0}
            if factored:
                rows, cols = _factored_shapes(x.shape)
                state["row_var"] = xp.zeros(rows, dtype=x.dtype)
                state["col_var"] = xp.zeros(cols, dtype=x.dtype)
            else:
                state["variance"] = xp.zeros_like(x)
        if group["maximize"]:
            g = np.negative(g, out=self._scratch(x, 0))
        lr, wd, d = group["lr"], group["weight_decay"], group["d"]
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = float(np.finfo(x.dtype).eps)
        step = state["step"] = state["step"] + 1
        t = float(step)
        w = t ** group["beta2_decay"]  # 1 - beta2_t
        rho = min(lr, 1 / t**0.5)
        alpha = max(eps2, _norm(x) / x.size**0.5) * rho
        if wd != 0:
            x *= 1 - lr * wd
        v = self._scratch(x, 1)  # g * g, then the variance estimate, then the update
        np.multiply(g, g, out=v)
        if factored:
            row, col = state["row_var"], state["col_var"]
            for acc, axis, k in ((row, -1, 2), (col, -2, 4)):
                # torch takes the mean of squares as norm(g, axis) ** 2 / n
                mean = self._scratch(acc, k)
                np.sum(v, axis=axis, keepdims=True, out=mean)
                np.sqrt(mean, out=mean)
                np.square(mean, out=mean)
                mean /= x.shape[axis]
                lerp_(acc, mean, w, self._scratch(acc, k + 1))
            np.multiply(row, col, out=v)
            scale = xp.mean(row, axis=-2, keepdims=True)
            np.maximum(scale, eps1, out=scale)
            v /= scale
        else:
            var = state["variance"]
            lerp_(var, v, w, self._scratch(x, 2))
            v[...] = var
        np.maximum(v, eps1 * eps1, out=v)
        np.sqrt(v, out=v)
        np.divide(1, v, out=v)  # rsqrt, rounded twice as torch's
        v *= g
        denom = max(1.0, _norm(v) / (v.size**0.5 * d))
        v *= alpha / denom
        x -= v

    def _state_shapes(self, p: Tensor) -> dict[str, tuple]:
        if p.data.ndim < 2:
            return {"variance": p.data.shape}
        return dict(zip(_FACTORED, _factored_shapes(p.data.shape)))

    def _required_keys(self, p: Tensor) -> tuple[str, ...]:
        return ("step", *self._state_shapes(p))
