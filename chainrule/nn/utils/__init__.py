"""Module utilities: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``,
``get_total_norm``, ``clip_grads_with_norm_``), sequence padding (:mod:`.rnn`),
weight and spectral normalisation (:mod:`.parametrizations`, built on :mod:`.parametrize`),
``parameters_to_vector`` / ``vector_to_parameters``, and :func:`check_module`, the one-call
check of a module's derivatives (Torch7's ``testJacobian`` and ``testJacobianParameters``)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autodiff.gradcheck import gradcheck
from chainrule.errors import AnomalyError, ChainruleError, GradcheckError, GraphError, ShapeError
from chainrule.nn.module import Module, ModuleTypeError, _leaves, _map
from chainrule.nn.utils import fusion, parametrizations, parametrize, rnn, stateless
from chainrule.nn.utils.fusion import (
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
)
from chainrule.tensor import Tensor, to_array, wrap

__all__ = [
    "ClipError", "check_module", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
    "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
    "fusion", "get_total_norm", "parameters_to_vector", "parametrizations", "parametrize", "rnn",
    "stateless", "vector_to_parameters",
]  # fmt: skip


class ClipError(ChainruleError, ValueError):
    """A bad argument to gradient clipping."""


def _check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ClipError(f"{name} must be a number, got {value!r}")
    if math.isnan(float(value)) or float(value) < 0:
        raise ClipError(f"invalid {name}: {value!r} (it must be >= 0)")


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Any]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise ClipError(
                f"gradient clipping takes chainrule Tensors, but item {i} is a {type(p).__name__}"
            )
        g = p.grad.data if isinstance(p.grad, Tensor) else p.grad
        if g is not None:
            out.append(g)
    return out


def _vector_norm(x: Any, order: float) -> Any:
    """``torch.linalg.vector_norm(x, order)`` of an array, as a 0-d array of x's dtype."""
    xp = backend.array_module(x)
    if x.size == 0:
        return xp.asarray(math.inf if order == -math.inf else 0.0, dtype=x.dtype)
    a = xp.abs(x)
    if order == math.inf:
        return a.max()
    if order == -math.inf:
        return a.min()
    if order == 0:
        return xp.asarray(xp.count_nonzero(a), dtype=x.dtype)
    if order == 1:
        return a.sum()
    if order == 2:
        return xp.sqrt(xp.vdot(a.ravel(), a.ravel())).astype(x.dtype)
    return (a**order).sum() ** (1.0 / order)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` together, as if concatenated into one vector
    (``"inf"`` for the max-norm), as a 0-d Tensor (PyTorch's ``get_total_norm``; pass the
    gradients, ``[p.grad for p in params]``; None entries are skipped). With
    ``error_if_nonfinite=True`` a NaN or infinite norm raises AnomalyError. ``foreach`` is
    accepted for PyTorch's signature and ignored."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    arrays = []
    for i, t in enumerate(tensors):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise ClipError(f"get_total_norm takes chainrule Tensors, but item {i} is a "
                            f"{type(t).__name__}")  # fmt: skip
        arrays.append(t.data)
    return wrap(_total_norm(arrays, float(norm_type), error_if_nonfinite))


def _total_norm(arrays: list, norm_type: float, error_if_nonfinite: bool) -> Any:
    if not arrays:
        return np.asarray(0.0, dtype=np.float32)
    xp = backend.array_module(arrays[0])
    dtype = np.result_type(*[a.dtype for a in arrays])
    with np.errstate(over="ignore", invalid="ignore"):  # inf/nan are reported, not warned
        norms = [_vector_norm(a, norm_type) for a in arrays]
        stacked = xp.stack([xp.asarray(n, dtype=dtype) for n in norms])
        total = xp.asarray(_vector_norm(stacked, norm_type), dtype=dtype)
    value = float(total)
    if error_if_nonfinite and not math.isfinite(value):
        raise AnomalyError(
            f"the total norm of order {norm_type} of the gradients is {value}, so they cannot "
            "be clipped; to scale them by the non-finite norm anyway, pass "
            "error_if_nonfinite=False"
        )
    return total


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Any,
    foreach: bool | None = None,
) -> None:
    """Multiply every gradient by ``min(max_norm / (total_norm + 1e-6), 1)``, in place
    (PyTorch's ``clip_grads_with_norm_``: the second half of :func:`clip_grad_norm_`, for a
    ``total_norm`` from :func:`get_total_norm`). Parameters without a gradient are skipped;
    an infinite norm gives NaNs, as in PyTorch."""
    _check_nonnegative("max_norm", max_norm)
    _scale_grads(_grads(parameters), max_norm, total_norm)


def _scale_grads(grads: list, max_norm: float, total_norm: Any) -> None:
    if not grads:
        return
    xp = backend.array_module(grads[0])
    total = total_norm.data if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
    dtype = np.result_type(*[g.dtype for g in grads])
    total = total.astype(dtype, copy=False)
    coef = xp.minimum(float(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= coef


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale the gradients so that their total norm is at most ``max_norm``; in place.

    The total norm is the ``norm_type``-norm of all gradients together (as if they were
    concatenated into one vector; ``"inf"`` for the max-norm). Every gradient is
    multiplied by ``min(max_norm / (total + 1e-6), 1)``, as torch does. Parameters
    without a gradient are skipped. Returns the total norm (before clipping) as a 0-d
    Tensor. With ``error_if_nonfinite=True`` a NaN or infinite norm raises AnomalyError
    instead of spreading NaNs into every gradient. The two halves are
    :func:`get_total_norm` and :func:`clip_grads_with_norm_`.
    """
    _check_nonnegative("max_norm", max_norm)
    grads = _grads(parameters)
    total = _total_norm(grads, float(norm_type), error_if_nonfinite)
    _scale_grads(grads, max_norm, total)
    return wrap(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient to ``[-clip_value, clip_value]``, in place; parameters
    without a gradient are skipped."""
    _check_nonnegative("clip_value", clip_value)
    c = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -c, c, out=g)


# ---------------------------------------------------------------------------------------
# check_module


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and joined into one 1-D Tensor, in order (PyTorch's
    ``parameters_to_vector``); differentiable, so a gradient flows back to each."""
    from chainrule import ops

    params = list(parameters)
    if not params or not all(isinstance(p, Tensor) for p in params):
        raise ModuleTypeError("parameters_to_vector takes a non-empty iterable of Tensors")
    return ops.concatenate([p.reshape((-1,)) for p in params])


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' values, in place (the
    inverse of :func:`parameters_to_vector`; PyTorch's ``vector_to_parameters``)."""
    params = list(parameters)
    v = to_array(vec)
    total = sum(p.size for p in params)
    if v.ndim != 1 or v.shape[0] != total:
        raise ShapeError(f"vector_to_parameters: expected a 1-D vector of the {total} "
                         f"parameter values, got shape {tuple(v.shape)}")  # fmt: skip
    start = 0
    for p in params:
        p.data[...] = backend.to_device(v[start : start + p.size], p.device).reshape(p.shape)
        p._version[0] += 1  # an in-place write: graphs that saved p notice
        start += p.size


def check_module(
    module: Module,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    check_forward: bool | None = None,
    check_backward: bool = True,
) -> bool:
    """Check a module's derivatives in one call; returns True or raises GradcheckError.

    On a float64 deep copy of ``module`` (the module itself is untouched), at ``inputs``:

    * the input Jacobian: reverse mode, forward mode and central differences agree for
      every floating input (``cr.gradcheck``);
    * the parameter Jacobian: the same for every parameter that requires grad, seen as
      an input of the module (Torch7's ``testJacobianParameters``);
    * the modular backward: ``m.backward(u)`` after ``y = m(x)`` returns the same ``dL/dx``
      and accumulates the same parameter gradients as autodiff of ``sum(u * y)``.

    A module with a hand-written backward (a ``cr.Function`` used in ``forward``) is checked
    the same way; a wrong rule fails here. ``check_forward=None`` checks forward mode when
    every op in the module has a jvp rule and skips it otherwise (True insists, False
    skips). Random layers are checked with the same random draws at every evaluation.
    Integer inputs (labels, indices) are passed through unchecked.
    """
    if not isinstance(module, Module):
        raise ModuleTypeError(f"check_module needs an nn.Module, got {type(module).__name__}")
    m = copy.deepcopy(module).double()
    xs = [_as_float64(x) for x in inputs]
    rng_state = copy.deepcopy(backend.get_rng_state())
    name = module._get_name()

    def call(*args: Any) -> Any:
        backend.set_rng_state(copy.deepcopy(rng_state))  # the same dropout mask every time
        return m(*args)

    try:
        if any(_is_float(x) for x in xs):
            _gradcheck(call, xs, f"{name}: input Jacobian", eps, atol, rtol, check_forward)
        for pname, p in list(m.named_parameters()):
            if p.requires_grad:
                f = _with_parameter(m, pname, xs, call)
                label = f"{name}: parameter '{pname}' Jacobian"
                _gradcheck(f, [wrap(p.data)], label, eps, atol, rtol, check_forward)
        if check_backward:
            _check_modular_backward(m, xs, call, name, atol, rtol)
    finally:
        backend.set_rng_state(rng_state)
    return True


def _is_float(x: Any) -> bool:
    return isinstance(x, Tensor) and x.dtype.kind == "f"


def _as_float64(x: Any) -> Any:
    if isinstance(x, Tensor) or backend.is_array(x):
        arr = to_array(x)
        return wrap(arr.astype(np.float64)) if arr.dtype.kind == "f" else wrap(arr)
    return x


def _gradcheck(
    f: Callable, xs: list, label: str, eps: float, atol: float, rtol: float, fwd: bool | None
) -> None:
    f = _flat_outputs(f)
    try:
        try:
            gradcheck(f, xs, eps=eps, atol=atol, rtol=rtol, check_forward=fwd is not False)
        except GraphError as exc:
            if fwd is not None or "no jvp rule" not in str(exc):
                raise
            gradcheck(f, xs, eps=eps, atol=atol, rtol=rtol, check_forward=False)
    except GradcheckError as exc:
        raise GradcheckError(f"check_module: {label}: {exc}") from exc


def _flat_outputs(f: Callable) -> Callable:
    """``f`` with its floating Tensor outputs as one flat tuple: gradcheck takes a Tensor or
    a flat tuple, while modules may return nested ones (an LSTM's ``(out, (h, c))``) or
    None (attention weights when not asked for)."""

    def flat(*args: Any) -> Any:
        out = f(*args)
        if isinstance(out, Tensor):
            return out
        return tuple(o for o in _leaves(out) if _is_float(o))

    return flat


def _with_parameter(m: Module, pname: str, xs: list, call: Callable) -> Callable:
    """The module's output as a function of parameter ``pname`` alone."""

    def f(w: Tensor) -> Any:
        with stateless.swapped(m, {pname: w}):
            return call(*xs)

    return f


def _check_modular_backward(
    m: Module, xs: list, call: Callable, name: str, atol: float, rtol: float
) -> None:
    rng = np.random.default_rng(0)

    def leaves() -> list:
        out = []
        for x in xs:
            if _is_float(x):
                x = wrap(x.data.copy())
                x.requires_grad = True
            out.append(x)
        return out

    params = [p for p in m.parameters() if p.requires_grad]
    # reference: autodiff of sum(u * y)
    a = leaves()
    m.zero_grad()
    y = call(*a)
    us = _map(y, lambda o: rng.standard_normal(o.shape) if _is_float(o) else None)
    terms = [
        (o * u).sum()
        for o, u in zip(_leaves(y), _leaves(us))
        if isinstance(o, Tensor) and o.requires_grad and u is not None
    ]
    if not terms:
        return
    loss = terms[0]
    for t in terms[1:]:
        loss = loss + t
    loss.backward()
    want_x = [x.grad for x in a if _is_float(x)]
    want_p = [p.grad for p in params]
    # the modular backward
    b = leaves()
    m.zero_grad()
    call(*b)
    got = m.backward(us)
    got_x = [got] if len(b) == 1 else list(got)
    got_x = [g for g, x in zip(got_x, b) if _is_float(x)]
    checks = [(f"input {k}", g, w) for k, (g, w) in enumerate(zip(got_x, want_x))]
    named = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    checks += [(f"parameter '{n}'", p.grad, w) for (n, p), w in zip(named, want_p)]
    for what, g, w in checks:
        g_arr = None if g is None else np.asarray(g.numpy())
        w_arr = None if w is None else np.asarray(w.numpy())
        if (g_arr is None) != (w_arr is None) or (
            g_arr is not None and not np.allclose(g_arr, w_arr, atol=atol, rtol=rtol)
        ):
            raise GradcheckError(
                f"check_module: {name}: modular backward disagrees with autodiff for {what}: "
                f"backward gave {g_arr}, autodiff {w_arr}"
            )
    m.zero_grad()
