"""Optimizer: the base class of chainrule's optimisers.

An optimiser holds ``param_groups``, a list of dicts, each with ``"params"`` (a list of
Tensors) and that group's hyper-parameters (``"lr"``, ``"momentum"``...). ``step()`` reads
every parameter's ``.grad`` and updates ``p.data`` in place with NumPy ``out=`` operations
and preallocated buffers, so stepping builds no graph and creates no Tensors. Per-parameter
buffers (momenta, running averages) live in ``optimizer.state[p]``.

``state_dict()`` has PyTorch's structure::

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

where parameters are numbered in the order the groups list them; the values are NumPy
arrays (copies, always on the CPU), Python numbers, bools and tuples, so ``cr.save`` can
write them without pickle. ``load_state_dict()`` checks the numbers of groups and
parameters and every buffer's shape before it changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import enable_grad
from chainrule.errors import ChainruleError, ShapeError
from chainrule.tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


class OptimizerError(ChainruleError, ValueError, TypeError):
    """A bad optimiser or scheduler argument, or a state dict that does not fit.

    It subclasses both ``ValueError`` and ``TypeError`` so that code written against
    PyTorch's exceptions (which uses either) keeps catching it.
    """


class _Required:
    """Marks a hyper-parameter that has no default and must be given."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()

_SET_MESSAGE = (
    "parameters must be given in an ordered collection (a list), not a set: the order of a "
    "set changes between runs, and state dicts number parameters by it"
)


def check_pair(name: str, value: Any, parts: str) -> tuple:
    """``value`` as a tuple, after checking that it is a pair (a tuple or list of two);
    ``parts`` names them in the error."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise OptimizerError(f"{name} must be a pair {parts}, got {value!r}")
    return tuple(value)


def check_bool(name: str, value: Any) -> None:
    """Raise OptimizerError unless ``value`` is a bool (a flag such as ``maximize``)."""
    if not isinstance(value, bool | np.bool_):
        raise OptimizerError(f"{name} must be a bool, got {value!r}")


def check_number(
    name: str, value: Any, low: float = 0.0, high: float | None = None, high_open: bool = False
) -> None:
    """Raise OptimizerError unless ``low <= value`` (and ``value <= high`` or ``< high``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise OptimizerError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bad = math.isnan(value) or value < low
    if high is not None:
        bad = bad or (value >= high if high_open else value > high)
    if bad:
        close = ")" if high_open else "]"
        rng = f">= {low}" if high is None else f"in [{low}, {high}{close}"
        raise OptimizerError(f"invalid {name}: {value!r} (it must be {rng})")


def grad_array(p: Tensor) -> Any:
    """The array behind ``p.grad`` (a Tensor or, leniently, a raw array), or None."""
    g = p.grad
    if g is None:
        return None
    return g.data if isinstance(g, Tensor) else g


def _to_host(value: Any) -> Any:
    """A deep copy of a state value with every array a NumPy array on the CPU."""
    if backend.is_array(value):
        return np.array(backend.to_device(value, "cpu"), copy=True)
    if isinstance(value, dict):
        return {k: _to_host(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_host(v) for v in value)
    return value


class Optimizer:
    """Base class of every optimiser.

    ``Optimizer(params, defaults)``: ``params`` is an iterable of Tensors, of
    ``(name, Tensor)`` pairs, or of dicts (parameter groups) such as
    ``[{"params": model.body.parameters()}, {"params": head_params, "lr": 1e-3}]``;
    ``defaults`` holds the hyper-parameters a group does not set itself.

    Subclasses define ``_update(p, g, group)`` which changes ``p.data`` in place given
    the gradient array ``g``, and may override ``_check_group(group)`` to validate the
    hyper-parameters of each group and ``_state_keys``/``_scalar_state_keys`` (the names
    its per-parameter state may hold; ``_required_state_keys``, those it must hold).
    """

    _state_keys: tuple[str, ...] = ()
    _scalar_state_keys: tuple[str, ...] = ("step",)
    _required_state_keys: tuple[str, ...] = ()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._work: dict[tuple, Any] = {}
        if isinstance(params, Tensor):
            raise OptimizerError(
                "params must be an iterable of Tensors or of dicts (parameter groups), got a "
                "single Tensor; wrap it in a list: [p]"
            )
        if isinstance(params, dict):
            raise OptimizerError(
                "params must be an iterable of Tensors or of dicts (parameter groups), got a "
                "dict; wrap it in a list: [group]"
            )
        if isinstance(params, set | frozenset):
            raise OptimizerError(_SET_MESSAGE)
        try:
            groups = list(params)
        except TypeError as exc:
            raise OptimizerError(
                f"params must be an iterable of Tensors or dicts, got {type(params).__name__}"
            ) from exc
        if not groups:
            raise OptimizerError(
                "optimizer got an empty parameter list (does the model have parameters? "
                "a generator such as model.parameters() can only be consumed once)"
            )
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- parameter groups ------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, e.g. a layer unfrozen while fine-tuning.

        Hyper-parameters the group does not set are taken from the optimiser's defaults.
        """
        if not isinstance(param_group, dict):
            raise OptimizerError(
                f"a parameter group must be a dict, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise OptimizerError("a parameter group needs a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set | frozenset):
            raise OptimizerError(_SET_MESSAGE)
        else:
            try:
                params = list(params)
            except TypeError as exc:
                raise OptimizerError(
                    f"a group's 'params' must be an iterable of Tensors, got "
                    f"{type(params).__name__}"
                ) from exc
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise OptimizerError("either all parameters of a group have names or none do")
        if not tensors:
            raise OptimizerError("a parameter group has an empty 'params' list")
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor):
                raise OptimizerError(
                    f"an optimiser can only optimise chainrule Tensors, but parameter {i} of "
                    f"the group is a {type(p).__name__}"
                )
            if p._node is not None:
                raise OptimizerError(
                    f"parameter {i} of the group is not a leaf tensor (an op made it), so it "
                    "cannot be optimised; optimise the tensor it was computed from, or "
                    "detach() it"
                )
            if p.dtype.kind != "f":
                raise OptimizerError(
                    f"parameter {i} of the group has dtype {p.dtype}; only real floating-point "
                    "tensors can be optimised"
                )
        ids = [id(p) for p in tensors]
        if len(set(ids)) != len(ids):
            raise OptimizerError("a parameter group lists the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if seen.intersection(ids):
            raise OptimizerError("some parameters appear in more than one parameter group")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            if key not in group:
                if default is required:
                    raise OptimizerError(
                        f"parameter group did not specify '{key}', which "
                        f"{type(self).__name__} needs (it has no default)"
                    )
                group[key] = default
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise OptimizerError if a group's hyper-parameters are invalid."""
        check_number("learning rate (lr)", group["lr"])

    # ---- gradients and steps ---------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: ``p.grad = None`` (the default, which frees
        the memory) or, with ``set_to_none=False``, fill the existing ``.grad`` with zeros
        in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    grad_array(p)[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (parameters whose ``.grad`` is None
        are skipped). ``closure``, if given, re-evaluates the model and returns the loss;
        it runs with grad mode on and its result is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if isinstance(g, Tensor):  # (a raw array is accepted, as grad_array does)
                    g = g.data
                if g.shape != p.data.shape:
                    raise ShapeError(
                        f"{type(self).__name__}.step: a parameter of shape {p.data.shape} has a "
                        f"gradient of shape {g.shape}"
                    )
                self._update(p, g, group)
                p._version[0] += 1  # like any in-place write: stale graphs notice
        return loss

    def _update(self, p: Tensor, g: Any, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _l2(self, x: Any, g: Any, weight_decay: float) -> Any:
        """``g + weight_decay * x`` (the L2 penalty's gradient added) in work array 0, or
        ``g`` itself when there is no decay."""
        if weight_decay == 0:
            return g
        d = self._scratch(x, 0)
        np.multiply(x, weight_decay, out=d)
        d += g
        return d

    def _scratch(self, like: Any, k: int) -> Any:
        """Work array number ``k`` with the shape, dtype and device of ``like``; shared by
        every parameter of that shape, so its contents do not outlive one update."""
        key = (like.shape, like.dtype, type(like), k)  # the array type tells the device
        buf = self._work.get(key)
        if buf is None:
            buf = self._work[key] = backend.array_module(like).empty_like(like)
        return buf

    # ---- state dicts -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state as ``{"state": {index: {name: value}}, "param_groups":
        [{hyper-parameters..., "params": [indices]}]}``; a snapshot (copies of the buffers,
        as NumPy arrays) that later steps do not change."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _to_host(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = _to_host(self.state[p])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (of an optimiser of the same kind
        over parameters of the same shapes, in the same order). The saved hyper-parameters
        replace the current ones. Raises OptimizerError, changing nothing, if the state
        does not fit."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise OptimizerError(
                f"{name}.load_state_dict needs a dict with 'state' and 'param_groups' (as "
                "returned by state_dict())"
            )
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, list | tuple) or len(saved_groups) != len(
            self.param_groups
        ):
            n = len(saved_groups) if isinstance(saved_groups, list | tuple) else "no"
            raise OptimizerError(
                f"{name}.load_state_dict: the state has {n} parameter groups, the optimiser "
                f"has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise OptimizerError(f"{name}.load_state_dict: parameter group {i} is malformed")
            if len(saved["params"]) != len(group["params"]):
                raise OptimizerError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                    f"parameters in the state but {len(group['params'])} in the optimiser"
                )
            missing = [k for k in self.defaults if k not in saved]
            if missing:
                raise OptimizerError(
                    f"{name}.load_state_dict: parameter group {i} lacks {missing} (was the "
                    "state saved from a different kind of optimiser?)"
                )
            for k, p in zip(saved["params"], group["params"]):
                k = int(k)
                if k in by_index:
                    raise OptimizerError(
                        f"{name}.load_state_dict: parameter index {k} appears twice"
                    )
                by_index[k] = p
            new = {}
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(self.defaults.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)  # e.g. betas after a JSON round trip
                new[key] = _to_host(value)
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            self._check_group(new)
            new_groups.append(new)
        saved_state = state_dict["state"]
        if not isinstance(saved_state, dict):
            raise OptimizerError(f"{name}.load_state_dict: 'state' must be a dict")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, entry in saved_state.items():
            try:
                p = by_index[int(k)]
            except (KeyError, ValueError, TypeError):
                raise OptimizerError(
                    f"{name}.load_state_dict: the state has an entry for parameter {k!r}, "
                    f"which no parameter group lists"
                ) from None
            if not isinstance(entry, dict):
                raise OptimizerError(
                    f"{name}.load_state_dict: the state of parameter {k} is not a dict"
                )
            xp = backend.array_module(p.data)
            shapes = self._state_shapes(p)
            known = set(shapes) | set(self._scalar_state_keys)
            restored: dict[str, Any] = {}
            for key, value in entry.items():
                if key not in known:
                    raise OptimizerError(
                        f"{name}.load_state_dict: unexpected state '{key}' for parameter {k} "
                        f"({name} keeps {sorted(known)}; was the state saved from a different "
                        "kind of optimiser?)"
                    )
                if key in self._scalar_state_keys:
                    restored[key] = int(value) if float(value).is_integer() else float(value)
                    continue
                if value is None:
                    restored[key] = None
                    continue
                shape = tuple(getattr(value, "shape", np.shape(value)))
                if shape != shapes[key]:
                    needs = "" if shapes[key] == p.data.shape else f", so it needs {shapes[key]}"
                    raise OptimizerError(
                        f"{name}.load_state_dict: state '{key}' of parameter {k} has shape "
                        f"{shape}, but the parameter has shape {p.data.shape}{needs}"
                    )
                arr = np.asarray(
                    backend.to_device(value, "cpu") if backend.is_array(value) else value
                )
                restored[key] = xp.array(arr, dtype=p.data.dtype, copy=True)
            lacking = [key for key in self._required_keys(p) if key not in restored]
            if lacking:
                raise OptimizerError(
                    f"{name}.load_state_dict: the state of parameter {k} lacks {lacking}"
                )
            new_state[p] = restored
        self.param_groups[:] = new_groups
        self.state = new_state

    def _state_shapes(self, p: Tensor) -> dict[str, tuple]:
        """The array states parameter ``p`` may keep and their shapes (for checking a
        loaded state): by default every key of ``_state_keys``, shaped like ``p``."""
        return dict.fromkeys(self._state_keys, p.data.shape)

    def _required_keys(self, p: Tensor) -> tuple[str, ...]:
        """The states parameter ``p`` must have after its first step."""
        return self._required_state_keys

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
