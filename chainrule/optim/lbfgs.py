"""L-BFGS: a quasi-Newton method that remembers the last few steps (Nocedal, 1980)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import enable_grad
from chainrule.errors import ChainruleError, ShapeError
from chainrule.optim.optimizer import Optimizer, OptimizerError, ParamsT, check_number, grad_array
from chainrule.tensor import Tensor

_ARRAY_STATE = ("d", "prev_flat_grad")  # flat vectors (or None)
_LIST_STATE = ("old_dirs", "old_stps")  # lists of flat vectors
_FLOAT_STATE = ("t", "H_diag", "prev_loss")  # Python floats (or None)


def _scalar(x: Any) -> Any:
    """A 0-d result (a NumPy scalar, or a 0-d CuPy array) as a NumPy scalar of its dtype,
    so that later scalar arithmetic stays in that dtype, as PyTorch's 0-d tensors do."""
    return x.dtype.type(x.item())


def _cubic_minimum(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any,
                   bounds: tuple[Any, Any] | None = None) -> Any:  # fmt: skip
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2,
    clipped to ``bounds`` (default: the interval between x1 and x2); the middle of the
    bounds when the cubic has no minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(x, low), high)


def _strong_wolfe(evaluate: Callable[[Any], tuple[float, Any]], d: Any, t: Any, f: float,
                  g: Any, gtd: Any, max_ls: int, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9) -> tuple[float, Any, Any, int]:  # fmt: skip
    """A step length ``t`` along ``d`` that satisfies the strong Wolfe conditions
    (sufficient decrease ``f(t) <= f + c1 t gtd`` and small slope ``|g(t).d| <= -c2 gtd``),
    found as minFunc's ``WolfeLineSearch`` (and PyTorch) find it: grow ``t`` by cubic
    extrapolation until an interval brackets such a point, then shrink the interval by
    cubic interpolation. ``evaluate(t)`` returns the loss and flat gradient at ``x + t d``;
    at most ``max_ls`` evaluations after the first. Returns ``(f, g, t, evaluations)``."""
    xp = backend.array_module(d)
    d_norm = _scalar(xp.max(xp.abs(d)))
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = _scalar(xp.dot(g_new, d))
    # a point is (t, f, g, g.d); the bracket holds one point (done) or two
    prev = (0, f, g, gtd)
    done = False
    ls_iter = 0
    bracket: list[tuple] = []
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= prev[1]):
            bracket = [prev, (t, f_new, g_new, gtd_new)]  # too far: the minimum is between
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, done = [(t, f_new, g_new, gtd_new)], True  # both conditions hold
            break
        if gtd_new >= 0:
            bracket = [prev, (t, f_new, g_new, gtd_new)]  # the slope turned: bracketed
            break
        # still going down steeply: extrapolate, to between 1.01 t and 10 t (roughly)
        t_next = _cubic_minimum(prev[0], prev[1], prev[3], t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - prev[0]), t * 10))  # fmt: skip
        prev, t = (t, f_new, g_new, gtd_new), t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _scalar(xp.dot(g_new, d))
        ls_iter += 1
    if ls_iter == max_ls:  # out of evaluations (the slopes are not used from here on)
        bracket = [(0, f, g, None), (t, f_new, g_new, None)]

    # zoom: shrink the bracket around a point that satisfies both conditions
    insufficient = False
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    while not done and ls_iter < max_ls:
        (a, fa, _, ga), (b, fb, _, gb) = bracket
        if abs(b - a) * d_norm < tolerance_change:
            break  # the bracket is too small to matter
        t = _cubic_minimum(a, fa, ga, b, fb, gb)
        # a trial too close to an end (twice running, or outside) is moved to 10% inside
        left, right = min(a, b), max(a, b)
        eps = 0.1 * (right - left)
        if min(right - t, t - left) < eps:
            if insufficient or t >= right or t <= left:
                t = right - eps if abs(t - right) < abs(t - left) else left + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = _scalar(xp.dot(g_new, d))
        ls_iter += 1
        point = (t, f_new, g_new, gtd_new)
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = point  # not low enough: the new high end
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]  # the slope points away from the old high end
            bracket[low] = point
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


class LBFGS(Optimizer):
    r"""L-BFGS, as ``torch.optim.LBFGS`` computes it (after minFunc): a quasi-Newton
    method that approximates the inverse Hessian from the last ``history_size`` pairs of
    steps ``s`` and gradient changes ``y``. ``step(closure)`` runs up to ``max_iter``
    iterations (and ``max_eval`` closure calls), each

    .. code-block:: text

        y, s <- g - g_prev, t_prev * d_prev     (kept only if y.s > 1e-10; H_diag <- y.s/y.y)
        d  <- -H g                              (the two-loop recursion over the history;
                                                 d = -g on the very first iteration)
        t  <- lr, or min(1, 1/|g|_1) * lr on the very first iteration
        t  <- a strong-Wolfe step from t along d, if line_search_fn="strong_wolfe"
        x  <- x + t * d

    and stops early when ``max|g| <= tolerance_grad``, when the slope ``g.d`` is above
    ``-tolerance_change``, when ``max|t d| <= tolerance_change`` or when the loss changed
    by less than ``tolerance_change``. Without a line search the last iteration does not
    re-evaluate the closure. (As in PyTorch, the line search's own bracket tolerance is
    fixed at 1e-9, whatever ``tolerance_change`` is.)

    ``closure`` must clear the gradients, evaluate the model, call ``backward()`` and
    return the loss; it is called with grad mode on, and ``step`` returns what its first
    call returned. The parameters are treated as one flat vector (all on one device); a
    parameter whose ``.grad`` is None counts as a zero gradient. Only one parameter group
    is allowed. ``max_eval`` defaults to ``max_iter * 5 // 4``; unlike PyTorch, which
    accepts them and then does nothing or fails, ``max_iter``, ``max_eval`` and
    ``history_size`` below 1 are errors (and a ``history_size`` lowered between steps
    drops the oldest pairs rather than failing).

    State: L-BFGS has one global state, kept (as PyTorch keeps it) under the first
    parameter, so ``state_dict()["state"]`` has the single entry ``0``: ``func_evals`` and
    ``n_iter`` (totals over all steps), ``d`` and ``prev_flat_grad`` (flat 1-D arrays the
    size of all parameters together, in the dtype they promote to), ``old_dirs`` and
    ``old_stps`` (lists of such arrays: the ``y`` and ``s`` of the history, oldest first),
    ``ro`` (the list of ``1/y.s``), and ``t``, ``H_diag`` and ``prev_loss`` (Python
    floats). PyTorch's ``al`` is scratch space rewritten by every iteration, so it is not
    kept (a state that has it loads, ignoring it). ``load_state_dict`` checks every
    vector's size against the parameters.
    """

    _state_keys = (*_ARRAY_STATE, *_LIST_STATE, "ro", *_FLOAT_STATE)
    _scalar_state_keys = ("func_evals", "n_iter")
    _required_state_keys = ("func_evals", "n_iter")

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:  # fmt: skip
        if max_eval is None and isinstance(max_iter, int | np.integer):
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}  # fmt: skip
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise OptimizerError(
                "LBFGS supports only one parameter group (no per-parameter options): it "
                "treats all parameters as one vector"
            )
        super().add_param_group(param_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        for name in ("max_iter", "max_eval", "history_size"):
            value = group[name]
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise OptimizerError(f"{name} must be an integer >= 1, got {value!r}")
            group[name] = int(value)
        check_number("tolerance_grad", group["tolerance_grad"])
        check_number("tolerance_change", group["tolerance_change"])
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise OptimizerError(
                f"line_search_fn must be None or 'strong_wolfe', got {group['line_search_fn']!r}"
            )

    # ---- the parameters as one flat vector ----------------------------------------------
    @property
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    def _xp(self) -> Any:
        """The array module of the parameters, after checking they share one device."""
        xp = backend.array_module(self._params[0].data)
        if any(backend.array_module(p.data) is not xp for p in self._params):
            raise OptimizerError("LBFGS needs all its parameters on one device")
        return xp

    def _flat_dtype(self) -> np.dtype:
        return np.result_type(*(p.data.dtype for p in self._params))

    def _flat_grad(self) -> Any:
        """Every parameter's gradient, flattened and joined (zeros where ``.grad`` is None)."""
        xp = self._xp()
        parts = []
        for p in self._params:
            g = grad_array(p)
            if g is None:
                parts.append(xp.zeros(p.data.size, p.data.dtype))
                continue
            if g.shape != p.data.shape:
                raise ShapeError(
                    f"LBFGS.step: a parameter of shape {p.data.shape} has a gradient of shape "
                    f"{g.shape}"
                )
            parts.append(g.reshape(-1))
        return xp.concatenate(parts)

    def _add_to_params(self, t: Any, d: Any) -> None:
        """``x <- x + t * d``, ``x`` the flat vector of parameters."""
        offset = 0
        for p in self._params:
            n = p.data.size
            p.data += t * d[offset : offset + n].reshape(p.data.shape)
            p._version[0] += 1
            offset += n

    def _set_params(self, saved: list[Any]) -> None:
        for p, x in zip(self._params, saved):
            p.data[...] = x
            p._version[0] += 1

    @staticmethod
    def _evaluate(closure: Callable[[], Any]) -> tuple[Any, float]:
        """Call the closure (grad mode on); its result, and that as a float."""
        with enable_grad():
            loss = closure()
        try:
            return loss, float(loss)
        except (TypeError, ValueError, ChainruleError) as exc:
            raise OptimizerError(
                f"LBFGS: the closure must return the loss (a one-element Tensor or a number), "
                f"got {type(loss).__name__}"
            ) from exc

    # ---- the step ------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` (required) re-evaluates the
        model, fills the gradients and returns the loss. Returns the loss of its first call."""
        if closure is None or not callable(closure):
            raise OptimizerError(
                "LBFGS.step needs a closure: a function that clears the gradients, evaluates "
                "the model, calls backward() and returns the loss (L-BFGS evaluates it "
                f"several times per step), got {closure!r}"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        xp = self._xp()
        state = self.state.setdefault(self._params[0], {"func_evals": 0, "n_iter": 0})

        first_loss, loss = self._evaluate(closure)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if _scalar(xp.max(xp.abs(flat_grad))) <= tolerance_grad:
            return first_loss  # already at a stationary point

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps = state.get("old_dirs"), state.get("old_stps")
        ro, h_diag = state.get("ro"), state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            first = state["n_iter"] == 1

            # ---- the direction: d = -H g ------------------------------------------------
            if first:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _scalar(xp.dot(y, s))
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    while len(old_dirs) >= history_size:  # forget the oldest
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / _scalar(xp.dot(y, y))  # the initial Hessian's scale
                # two-loop recursion: newest to oldest, scale, then oldest to newest
                q = -flat_grad
                al = [None] * len(old_dirs)
                for i in reversed(range(len(old_dirs))):
                    al[i] = _scalar(xp.dot(old_stps[i], q)) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = _scalar(xp.dot(old_dirs[i], d)) * ro[i]
                    d += (al[i] - be_i) * old_stps[i]
            prev_flat_grad, prev_loss = flat_grad, loss

            # ---- the step length -------------------------------------------------------
            # (no curvature known yet on the very first: a step of length at most lr)
            t = min(1.0, 1.0 / _scalar(xp.sum(xp.abs(flat_grad)))) * lr if first else lr
            gtd = _scalar(xp.dot(flat_grad, d))
            if gtd > -tolerance_change:
                break  # not a descent direction (to tolerance)

            step_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.data.copy() for p in self._params]

                def along(t_try: Any, x0: list = x0, d: Any = d) -> tuple[float, Any]:
                    self._add_to_params(t_try, d)
                    value = self._evaluate(closure)[1]
                    g_try = self._flat_grad()
                    self._set_params(x0)
                    return value, g_try

                loss, flat_grad, t, step_evals = _strong_wolfe(
                    along, d, t, loss, flat_grad, gtd, max_ls=max_eval - evals
                )
                self._add_to_params(t, d)
                converged = _scalar(xp.max(xp.abs(flat_grad))) <= tolerance_grad
            else:
                self._add_to_params(t, d)
                converged = False
                if n_iter != max_iter:  # the last iteration's loss would go unused
                    loss = self._evaluate(closure)[1]
                    flat_grad = self._flat_grad()
                    converged = _scalar(xp.max(xp.abs(flat_grad))) <= tolerance_grad
                    step_evals = 1
            evals += step_evals
            state["func_evals"] += step_evals

            # ---- stopping ----------------------------------------------------------------
            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if _scalar(xp.max(xp.abs(d * t))) <= tolerance_change:
                break  # the step is negligible
            if abs(loss - prev_loss) < tolerance_change:
                break  # so is the change of the loss

        state.update({"d": d, "t": float(t), "old_dirs": old_dirs, "old_stps": old_stps,
                      "ro": [float(r) for r in ro], "H_diag": float(h_diag),
                      "prev_flat_grad": prev_flat_grad, "prev_loss": float(prev_loss)})  # fmt: skip
        return first_loss

    # ---- state dicts -------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (see the class docstring for its
        layout). Raises OptimizerError, changing nothing, if the state does not fit."""
        saved = state_dict.get("state") if isinstance(state_dict, dict) else None
        if not isinstance(saved, dict):  # let the base class word the error
            super().load_state_dict(state_dict)
            return
        restored = None
        for k, entry in saved.items():
            try:
                index = int(k)
            except (ValueError, TypeError):
                index = None
            if index != 0:
                raise OptimizerError(
                    f"LBFGS.load_state_dict: the state has an entry for parameter {k!r}, but "
                    "LBFGS keeps its state under parameter 0 only"
                )
            restored = self._restore_state(entry)
        super().load_state_dict({**state_dict, "state": {}})  # checks and sets the groups
        self.state = {} if restored is None else {self._params[0]: restored}

    def _restore_state(self, entry: Any) -> dict[str, Any]:
        """The saved global state ``entry`` checked, with its vectors on the parameters'
        device in their dtype."""
        where = "LBFGS.load_state_dict: the state"
        if not isinstance(entry, dict):
            raise OptimizerError(f"{where} of parameter 0 is not a dict")
        known = {*self._scalar_state_keys, *self._state_keys, "al"}
        unexpected = sorted(set(entry) - known)
        if unexpected:
            raise OptimizerError(
                f"{where} has unexpected entries {unexpected} (LBFGS keeps {sorted(known)}; "
                "was the state saved from a different kind of optimiser?)"
            )
        n_iter = entry.get("n_iter", 0)
        started = isinstance(n_iter, int | float | np.number) and n_iter > 0
        # after an iteration, all of it is there
        needed = self._required_state_keys + (self._state_keys if started else ())
        lacking = [key for key in needed if entry.get(key) is None]
        if lacking:
            raise OptimizerError(f"{where} lacks {lacking}")
        xp, dtype = self._xp(), self._flat_dtype()
        size = sum(p.data.size for p in self._params)

        def vector(name: str, value: Any) -> Any:
            shape = tuple(getattr(value, "shape", np.shape(value)))
            if shape != (size,):
                raise OptimizerError(
                    f"{where}: '{name}' has shape {shape}, but the parameters have {size} "
                    f"elements together (shape ({size},) expected)"
                )
            host = backend.to_device(value, "cpu") if backend.is_array(value) else value
            return xp.array(np.asarray(host), dtype=dtype, copy=True)

        out: dict[str, Any] = {}
        try:
            for key in self._scalar_state_keys:
                out[key] = int(entry[key])
            for key in _ARRAY_STATE:
                if entry.get(key) is not None:
                    out[key] = vector(key, entry[key])
            for key in _FLOAT_STATE:
                if entry.get(key) is not None:
                    out[key] = float(entry[key])
            if any(entry.get(key) is not None for key in (*_LIST_STATE, "ro")):
                lists = [list(entry.get(key) or []) for key in (*_LIST_STATE, "ro")]
                if len({len(v) for v in lists}) != 1:
                    raise OptimizerError(
                        f"{where}: old_dirs, old_stps and ro have different lengths "
                        f"({', '.join(str(len(v)) for v in lists)})"
                    )
                for key, values in zip(_LIST_STATE, lists):
                    out[key] = [vector(f"{key}[{i}]", v) for i, v in enumerate(values)]
                out["ro"] = [float(r) for r in lists[2]]
        except OptimizerError:
            raise
        except (TypeError, ValueError) as exc:
            raise OptimizerError(f"{where} is malformed: {exc}") from exc
        return out
