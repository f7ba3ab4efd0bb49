"""The module oracle: a declarative table of chainrule's ``nn`` modules and checks run over it.

The op oracle (:mod:`chainrule.testing.oracle`) checks functions; this table checks
*modules* -- objects with parameters, buffers, train/eval modes and a modular backward.
Every module class exported by :mod:`chainrule.nn` has at least one :class:`ModuleInfo`
entry in :data:`MODULES`: a constructor, the matching PyTorch module (or a few lines of
torch that compute the same thing, where torch has no such module), a weight-copy function,
a sample-input generator (small float64 inputs, integer labels and indices, masks) and the
modes to test. Every loss appears once per ``reduction``.

Each check takes ``(info, case)``, where a :class:`ModuleCase` is one sample in one mode
("train" or "eval"); it builds a fresh float64 module (seeded, so the same weights every
time), raises :class:`chainrule.GradcheckError` on a mismatch and otherwise returns the
largest absolute error it saw (``None`` when the check does not apply):

* :func:`check_input_jacobian` -- the Jacobian of every output with respect to every
  floating input, reverse mode against float64 central differences (Torch7's
  ``testJacobian``);
* :func:`check_param_jacobian` -- the same with respect to every parameter, seen as an
  input of the module (Torch7's ``testJacobianParameters``);
* :func:`check_fwd_rev` -- both Jacobians built column by column in forward mode against
  row by row in reverse mode;
* :func:`check_backward` -- the modular backward: ``m.backward(dL_dy)`` after ``y = m(x)``
  returns the same ``dL/dx`` and accumulates the same parameter gradients as autodiff of
  ``sum(dL_dy * y)``;
* :func:`check_torch` -- outputs, the gradients of every input and every parameter, and
  the buffers after the call (running statistics) against the torch module with the same
  weights copied across, in the same mode; ``None`` when torch cannot be imported.

Random modules (``Dropout`` and ``NoisyReLU`` in training, and containers holding them)
are called right after ``cr.manual_seed(SEED)`` every time (the RNG state is restored
afterwards), so every evaluation sees the same mask; their torch counterparts replay that
mask. ``NoisyReLU``'s noise scale depends on ``x`` but is a constant in backward by
definition, so central differences of its input measure another function: its input
Jacobian in training is not checked (forward vs reverse, the modular backward and torch
still are).

:func:`run_modules` runs the table and :func:`format_modules` prints it
(``chainrule gradcheck`` shows it below the op table); ``tests/nn/test_module_oracle.py``
parametrizes every check over every entry, so **adding an entry is enough to test a
module**. Conv1d/Conv2d/MaxPool2d/AvgPool2d and RNN/LSTM/GRU entries join the table
automatically once :mod:`chainrule.nn` exports those classes (see :func:`_optional`).

torch is imported lazily, only by the torch check.
"""

from __future__ import annotations

import functools
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import backend, nn
from chainrule.errors import GradcheckError
from chainrule.nn.module import Module, _leaves, _map
from chainrule.nn.utils.stateless import swapped
from chainrule.tensor import Tensor
from chainrule.testing.oracle import (
    EXACT_ATOL,
    EXACT_RTOL,
    Domain,
    Sample,
    _jacobian,
    _numeric_jacobian,
    _tm,
    assert_close,
    away_from,
    compose,
    distinct,
    torch_available,
)
from chainrule.testing.oracle_nn import (
    REDUCTIONS,
    SEED,
    _cosine_apart,
    _diff_away,
    _dropout_scale,
    _margins_apart,
    _multilabel_margins_apart,
    _multilabel_targets,
    _noise,
    _pooled_and_indices,
    _ranking_apart,
    _signs,
    _softmax_rows,
    _sq_distance,
    _squash,
    _triplet_apart,
    _triplet_distance_apart,
    _with_labels_ignored,
)

MODES = ("train", "eval")


# ---- the table entry ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ModuleCase:
    """One sample in one mode ("train" or "eval")."""

    sample: Sample
    mode: str

    def describe(self) -> str:
        return f"{self.mode}: {self.sample.describe()}"


@dataclass(frozen=True, eq=False)
class ModuleInfo:
    """Everything the module checks need to know about one module configuration.

    Attributes:
        name: the row label, e.g. ``"MSELoss[sum]"``.
        ctor: builds the chainrule module (called after ``cr.manual_seed``, so its
            initialisation is reproducible; the checks cast it to float64).
        inputs: ``rng -> list of Sample``; positional arrays go to ``forward`` (floating
            ones are differentiated, integer ones -- labels, indices -- pass unchanged as
            Tensors), keyword arrays (masks) go to ``forward`` by name, never
            differentiated.
        torch_ctor: builds the equivalent torch module (or None: no torch check).
        copy_weights: ``(chainrule module, torch module) -> None``; by default the
            chainrule ``state_dict`` loaded into the torch module, strictly (so the names
            must match).
        modes: the modes every check runs in.
        skip: check name -> modes where that check does not apply (returns None).
        random: reseed chainrule's RNG right before every call (dropout masks, noise).
        supports_fwd: every op inside has a jvp rule (forward mode is checked).
        covers: extra ``chainrule.nn`` classes this entry exercises (for classes such as
            ``ModuleList`` that are only used inside another module).
        domain: maps the floating sample arguments away from kinks and ties.
    """

    name: str
    ctor: Callable[[], Module]
    inputs: Callable[[np.random.Generator], list]
    torch_ctor: Callable[[], Any] | None = None
    copy_weights: Callable[[Module, Any], None] | None = None
    modes: tuple[str, ...] = MODES
    skip: dict[str, tuple[str, ...]] = field(default_factory=dict)
    random: bool = False
    supports_fwd: bool = True
    covers: tuple[type, ...] = ()
    domain: Domain | None = None
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3
    ref_atol: float = EXACT_ATOL
    ref_rtol: float = EXACT_RTOL

    def samples(self) -> list[Sample]:
        """The samples, drawn from a generator seeded by the entry's name (deterministic),
        each mapped into the domain."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        out = []
        for case in self.inputs(rng):
            s = case if isinstance(case, Sample) else Sample(tuple(case))
            s = replace(s, args=tuple(np.asarray(a) if isinstance(a, np.generic) else a
                                      for a in s.args))  # fmt: skip
            if self.domain is not None:
                s = replace(s, args=tuple(self.domain(s.args)))
            out.append(s)
        return out

    def cases(self) -> list[ModuleCase]:
        """Every sample in every mode."""
        return [ModuleCase(s, mode) for mode in self.modes for s in self.samples()]

    def applies(self, check: str, mode: str) -> bool:
        return mode not in self.skip.get(check, ())

    def build(self, mode: str = "train") -> Module:
        """A fresh float64 module in ``mode``, initialised after ``manual_seed`` (the
        caller's RNG state is restored)."""
        state = backend.get_rng_state()
        backend.manual_seed(zlib.crc32(self.name.encode()))
        try:
            m = self.ctor()
        finally:
            backend.set_rng_state(state)
        return m.double().train(mode == "train")

    def build_torch(self, m: Module, mode: str) -> Any:
        """The torch module in float64 and ``mode``, with ``m``'s weights copied across."""
        tm = self.torch_ctor().double()
        (self.copy_weights or copy_state)(m, tm)
        return tm.train(mode == "train")

    def classes(self) -> set[type]:
        """The chainrule.nn classes this entry exercises directly."""
        return {type(self.build()), *self.covers}


def copy_state(m: Module, tm: Any) -> None:
    """Load ``m.state_dict()`` into the torch module ``tm`` (strict: names must match)."""
    torch = _tm()
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                        m.state_dict().items()}, strict=True)  # fmt: skip


# ---- calling a module on a case -------------------------------------------------------------


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _arrays(args: Any) -> list:
    """The leaves of (possibly nested) sample arguments, in order: ``(x, (h0, c0))`` gives
    ``[x, h0, c0]``."""
    return _leaves(tuple(args))


def _rebuild(args: Any, leaves: Sequence[Any]) -> tuple:
    """``args`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)
    return _map(tuple(args), lambda _: next(it))


def _call(info: ModuleInfo, m: Module, args: Sequence[Any], kwargs: dict) -> Any:
    """``m(*args, **kwargs)``; random entries right after ``manual_seed(SEED)``."""
    if not info.random:
        return m(*args, **kwargs)
    state = backend.get_rng_state()
    backend.manual_seed(SEED)
    try:
        return m(*args, **kwargs)
    finally:
        backend.set_rng_state(state)


def _cr_kwargs(sample: Sample) -> dict:
    return {k: cr.tensor(v) if isinstance(v, np.ndarray) else v for k, v in sample.kwargs.items()}


def _float_positions(sample: Sample) -> list[int]:
    """Positions of the floating arrays among the sample's argument leaves."""
    return [i for i, a in enumerate(_arrays(sample.args)) if _is_float(a)]


def _bind(info: ModuleInfo, m: Module, sample: Sample) -> tuple[Callable, list[np.ndarray]]:
    """The module as a function of the sample's floating arrays alone, and those arrays."""
    leaves = _arrays(sample.args)
    pos = _float_positions(sample)
    kwargs = _cr_kwargs(sample)

    def f(*xs: Tensor) -> Any:
        new = [cr.tensor(a) for a in leaves]
        for p, x in zip(pos, xs):
            new[p] = x
        return _call(info, m, _rebuild(sample.args, new), kwargs)

    return f, [leaves[p] for p in pos]


def _float_leaves(out: Any) -> list[Tensor]:
    return [o for o in _leaves(out) if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _flat(out: Any) -> Tensor:
    """Every floating output (nested tuples too) raveled and joined into one 1-D Tensor."""
    flat = [cr.reshape(o, (-1,)) for o in _float_leaves(out)]
    return flat[0] if len(flat) == 1 else cr.concatenate(flat)


def _of_input(f: Callable, xs: list[np.ndarray], i: int) -> Callable[[Tensor], Tensor]:
    def g(xi: Tensor) -> Tensor:
        args = [cr.tensor(x) for x in xs]
        args[i] = xi
        return _flat(f(*args))

    return g


def _of_param(m: Module, pname: str, f: Callable, xs: list[np.ndarray]) -> Callable:
    """The module's flat output as a function of parameter ``pname`` alone (the parameter
    is swapped for the argument during the call, as ``nn.utils.check_module`` does)."""

    def g(w: Tensor) -> Tensor:
        with swapped(m, {pname: w}):
            return _flat(f(*[cr.tensor(x) for x in xs]))

    return g


def _label(info: ModuleInfo, case: ModuleCase) -> str:
    return f"{info.name} [{case.describe()}]"


def _functions(info: ModuleInfo, case: ModuleCase, which: str) -> list[tuple[str, Callable, Any]]:
    """``(what, flat-output function of one array, that array)`` for every floating input
    (``which="inputs"``) or every parameter that requires grad (``"params"``)."""
    m = info.build(case.mode)
    f, xs = _bind(info, m, case.sample)
    if which == "inputs":
        return [(f"input {i}", _of_input(f, xs, i), x) for i, x in enumerate(xs)]
    return [(f"parameter '{n}'", _of_param(m, n, f, xs), p.numpy().copy())
            for n, p in m.named_parameters() if p.requires_grad]  # fmt: skip


def _jacobian_vs_numeric(info: ModuleInfo, case: ModuleCase, which: str) -> float:
    err = 0.0
    for what, g, x in _functions(info, case, which):
        rev = _jacobian(g, x, "rev")
        num = _numeric_jacobian(g, x, info.eps)
        label = f"{_label(info, case)}: Jacobian of {what}, reverse mode vs central differences"
        err = max(err, assert_close(rev, num, info.atol, info.rtol, label))
    return err


# ---- the checks ------------------------------------------------------------------------------


def check_input_jacobian(info: ModuleInfo, case: ModuleCase) -> float | None:
    """Reverse-mode Jacobian with respect to every floating input against float64 central
    differences; None without floating inputs."""
    if not info.applies("input_jac", case.mode) or not _float_positions(case.sample):
        return None
    return _jacobian_vs_numeric(info, case, "inputs")


def check_param_jacobian(info: ModuleInfo, case: ModuleCase) -> float | None:
    """Reverse-mode Jacobian with respect to every parameter against float64 central
    differences; None without parameters."""
    if not info.applies("param_jac", case.mode):
        return None
    if not any(p.requires_grad for p in info.build(case.mode).parameters()):
        return None
    return _jacobian_vs_numeric(info, case, "params")


def check_fwd_rev(info: ModuleInfo, case: ModuleCase) -> float | None:
    """Forward-mode against reverse-mode Jacobians, with respect to every floating input
    and every parameter."""
    if not info.supports_fwd or not info.applies("fwd_rev", case.mode):
        return None
    funcs = _functions(info, case, "inputs") + _functions(info, case, "params")
    if not funcs:
        return None
    err = 0.0
    for what, g, x in funcs:
        fwd = _jacobian(g, x, "fwd")
        rev = _jacobian(g, x, "rev")
        label = f"{_label(info, case)}: forward-mode vs reverse-mode Jacobian of {what}"
        err = max(err, assert_close(fwd, rev, info.ref_atol, info.ref_rtol, label))
    return err


def _cotangents(outs: Sequence[Tensor], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(o.shape), dtype=o.dtype) for o in outs]


def _seed(info: ModuleInfo, case: ModuleCase) -> int:
    return zlib.crc32(f"{info.name}/{case.describe()}".encode())


def _leaf_args(sample: Sample) -> tuple[tuple, list[Tensor]]:
    """Fresh Tensors for the sample's arguments (floating ones require grad): the argument
    structure and its leaves."""
    leaves = [cr.tensor(a.copy(), requires_grad=_is_float(a)) for a in _arrays(sample.args)]
    return _rebuild(sample.args, leaves), leaves


def _grad_array(t: Any, like: Any) -> np.ndarray:
    if t is None:
        return np.zeros(like.shape, dtype=like.dtype)
    return np.asarray(t.numpy() if isinstance(t, Tensor) else t)


def _sum_terms(terms: list) -> Any:
    loss = terms[0]
    for t in terms[1:]:
        loss = loss + t
    return loss


def _cotangent_struct(y: Any, cts: Sequence[np.ndarray]) -> Any:
    """``y``'s structure with the k-th floating output replaced by ``cts[k]`` (None for
    outputs that are not floating or do not require grad)."""
    it = iter(cts)

    def one(o: Any) -> Any:
        if not (isinstance(o, Tensor) and o.dtype.kind == "f"):
            return None
        u = next(it)
        return cr.tensor(u) if o.requires_grad else None

    return _map(y, one)


def check_backward(info: ModuleInfo, case: ModuleCase) -> float | None:
    """The modular backward (``m.backward(u)`` after ``y = m(x)``) against autodiff of
    ``sum(u * y)``: the returned input gradients and the accumulated parameter gradients."""
    if not info.applies("backward", case.mode):
        return None
    label = _label(info, case)
    kwargs = _cr_kwargs(case.sample)
    # reference: autodiff of sum(u * y)
    m = info.build(case.mode)
    args, a = _leaf_args(case.sample)
    y = _call(info, m, args, kwargs)
    outs = _float_leaves(y)
    cts = _cotangents(outs, _seed(info, case))
    terms = [(o * cr.tensor(u)).sum() for o, u in zip(outs, cts) if o.requires_grad]
    if not terms:
        return None
    _sum_terms(terms).backward()
    want_x = [x.grad for x in a]
    want_p = {n: p.grad for n, p in m.named_parameters() if p.requires_grad}
    # the modular backward, on a fresh module with the same weights
    m2 = info.build(case.mode)
    args2, b = _leaf_args(case.sample)
    y2 = _call(info, m2, args2, kwargs)
    got = m2.backward(_cotangent_struct(y2, cts))
    got_x = _leaves(got if len(args2) == 1 else tuple(got))
    if len(got_x) != len(b):
        raise GradcheckError(f"{label}: backward returned {len(got_x)} gradients for "
                             f"{len(b)} inputs")  # fmt: skip
    err = 0.0
    for k, (g, w, x) in enumerate(zip(got_x, want_x, b)):
        if x.dtype.kind != "f":
            continue
        what = f"{label}: modular backward vs autodiff, gradient of input {k}"
        err = max(err, assert_close(_grad_array(g, x), _grad_array(w, x),
                                    info.ref_atol, info.ref_rtol, what))  # fmt: skip
    for n, p in m2.named_parameters():
        if not p.requires_grad:
            continue
        what = f"{label}: modular backward vs autodiff, gradient of parameter '{n}'"
        err = max(err, assert_close(_grad_array(p.grad, p), _grad_array(want_p[n], p),
                                    info.ref_atol, info.ref_rtol, what))  # fmt: skip
    return err


# ---- torch ------------------------------------------------------------------------------------


def check_torch(info: ModuleInfo, case: ModuleCase) -> float | None:
    """Outputs, gradients of every floating input and every parameter (for a random
    cotangent), and the buffers after the call, against the torch module with the same
    weights, in the same mode; None without torch or without a torch counterpart."""
    if info.torch_ctor is None or not info.applies("torch", case.mode) or not torch_available():
        return None
    torch = _tm()
    label = _label(info, case)
    sample = case.sample
    m = info.build(case.mode)
    tm = info.build_torch(m, case.mode)
    tol = (info.ref_atol, info.ref_rtol)
    # chainrule: outputs, then the gradients of sum(u * y)
    args, a = _leaf_args(sample)
    y = _call(info, m, args, _cr_kwargs(sample))
    outs = _float_leaves(y)
    cts = _cotangents(outs, _seed(info, case))
    terms = [(o * cr.tensor(u)).sum() for o, u in zip(outs, cts) if o.requires_grad]
    if terms:
        _sum_terms(terms).backward()
    # torch: the same
    ta = [torch.from_numpy(x.copy()).requires_grad_(_is_float(x)) for x in _arrays(sample.args)]
    tkw = {k: torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) else v
           for k, v in sample.kwargs.items()}  # fmt: skip
    ty = tm(*_rebuild(sample.args, ta), **tkw)
    touts = [o for o in _leaves(ty) if isinstance(o, torch.Tensor) and o.is_floating_point()]
    if len(touts) != len(outs):
        raise GradcheckError(f"{label}: {len(outs)} floating outputs, torch gives {len(touts)}")
    err = 0.0
    for k, (o, t) in enumerate(zip(outs, touts)):
        what = f"{label}: output {k} vs torch"
        err = max(err, assert_close(o.numpy(), t.detach().numpy(), *tol, what))
    tterms = [(t * torch.from_numpy(u)).sum() for t, u in zip(touts, cts) if t.requires_grad]
    if tterms:
        sum(tterms).backward()
    for k, (x, t) in enumerate(zip(a, ta)):
        if x.dtype.kind == "f":
            what = f"{label}: gradient of input {k} vs torch"
            err = max(err, assert_close(_grad_array(x.grad, x), _t_grad(t), *tol, what))
    tparams = dict(tm.named_parameters())
    for n, p in m.named_parameters():
        if n not in tparams:
            raise GradcheckError(f"{label}: the torch module has no parameter '{n}'")
        what = f"{label}: gradient of parameter '{n}' vs torch"
        err = max(err, assert_close(_grad_array(p.grad, p), _t_grad(tparams[n]), *tol, what))
    tbufs = dict(tm.named_buffers())
    for n, buf in m.named_buffers():
        if n in tbufs:
            what = f"{label}: buffer '{n}' after the call vs torch"
            err = max(err, assert_close(buf.numpy(), tbufs[n].numpy(), *tol, what))
    return err


def _t_grad(t: Any) -> np.ndarray:
    if t.grad is None:
        return np.zeros(tuple(t.shape), dtype=t.detach().numpy().dtype)
    return t.grad.detach().numpy()


CHECKS: dict[str, Callable[[ModuleInfo, ModuleCase], float | None]] = {
    "input_jac": check_input_jacobian,
    "param_jac": check_param_jacobian,
    "fwd_rev": check_fwd_rev,
    "backward": check_backward,
    "torch": check_torch,
}


# ---- torch modules where torch has none (built lazily, torch imported on first use) ----------


@functools.cache
def _torch_extras() -> SimpleNamespace:
    """Small torch modules computing what a chainrule module computes where torch.nn has no
    such module (or draws its own random numbers), with chainrule's parameter names."""
    torch = _tm()
    tnn, tF = torch.nn, torch.nn.functional

    class NoisyReLU(tnn.Module):
        """relu(x + noise), the noise chainrule draws after manual_seed(SEED) (constant)."""

        def forward(self, x: Any) -> Any:
            if not self.training:
                return torch.relu(x)
            return torch.relu(x + torch.from_numpy(_noise(x.detach().numpy())))

    class Dropout(tnn.Module):
        """Inverted dropout replaying the mask chainrule draws after manual_seed(SEED)."""

        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x: Any) -> Any:
            if not self.training or self.p == 0:
                return x
            return x * torch.from_numpy(_dropout_scale(tuple(x.shape), self.p, np.float64))

    class ChannelDropout(tnn.Module):
        """Channel dropout replaying chainrule's mask after manual_seed(SEED)."""

        def __init__(self, p: float, spatial: int) -> None:
            super().__init__()
            self.p, self.spatial = p, spatial

        def forward(self, x: Any) -> Any:
            if not self.training or self.p == 0:
                return x
            shape = tuple(x.shape[: x.ndim - self.spatial]) + (1,) * self.spatial
            return x * torch.from_numpy(_dropout_scale(shape, self.p, np.float64))

    class Maxout(tnn.Module):
        def __init__(self, n_in: int, n_out: int, pieces: int, bias: bool = True) -> None:
            super().__init__()
            self.pieces = pieces
            self.linear = tnn.Linear(n_in, n_out * pieces, bias=bias)

        def forward(self, x: Any) -> Any:
            y = self.linear(x)
            return y.unflatten(-1, (y.shape[-1] // self.pieces, self.pieces)).amax(-1)

    class Normalize(tnn.Module):
        def __init__(self, p: float = 2, axis: int = 1, eps: float = 1e-12) -> None:
            super().__init__()
            self.p, self.axis, self.eps = p, axis, eps

        def forward(self, x: Any) -> Any:
            return tF.normalize(x, p=self.p, dim=self.axis, eps=self.eps)

    class HingeLoss(tnn.Module):
        """max(0, margin - t*y) on 1-D scores; MultiMarginLoss on (N, C)."""

        def __init__(self, reduction: str = "mean", margin: float = 1.0) -> None:
            super().__init__()
            self.reduction, self.margin = reduction, margin

        def forward(self, x: Any, t: Any) -> Any:
            if x.ndim > 1:
                return tF.multi_margin_loss(x, t, margin=self.margin, reduction=self.reduction)
            loss = torch.clamp(self.margin - t * x, min=0)
            return {"mean": loss.mean, "sum": loss.sum}.get(self.reduction, lambda: loss)()

    class SoftMarginLoss(tnn.Module):
        """torch's SoftMarginLoss refuses a target gradient: its definition, in torch ops."""

        def __init__(self, reduction: str = "mean") -> None:
            super().__init__()
            self.reduction = reduction

        def forward(self, x: Any, t: Any) -> Any:
            loss = tF.softplus(-t * x)
            return {"mean": loss.mean, "sum": loss.sum}.get(self.reduction, lambda: loss)()

    class Add(tnn.Module):
        def forward(self, *xs: Any) -> Any:
            return functools.reduce(lambda p, q: p + q, xs)

    class Multiply(tnn.Module):
        def forward(self, *xs: Any) -> Any:
            return functools.reduce(lambda p, q: p * q, xs)

    class Concat(tnn.Module):
        def __init__(self, axis: int = 1) -> None:
            super().__init__()
            self.axis = axis

        def forward(self, *xs: Any) -> Any:
            return torch.cat(xs, dim=self.axis)

    class SkipGraph(tnn.Module):
        """API.md's Graph: y = Linear(relu(Linear(x)) + Linear(x)), named as its nodes."""

        def __init__(self) -> None:
            super().__init__()
            self.h, self.skip, self.y = tnn.Linear(4, 8), tnn.Linear(4, 8), tnn.Linear(8, 1)

        def forward(self, x: Any) -> Any:
            return self.y(torch.relu(self.h(x)) + self.skip(x))

    class TwoHeadGraph(tnn.Module):
        """The two-input, two-output Graph of the table (see ``_two_head_graph``)."""

        def __init__(self) -> None:
            super().__init__()
            self.hx, self.hz, self.y = tnn.Linear(3, 4), tnn.Linear(2, 4), tnn.Linear(8, 2)

        def forward(self, x: Any, z: Any) -> Any:
            hx = self.hx(x)
            g = hx * torch.tanh(self.hz(z))
            return self.y(torch.cat([g, hx], dim=1)), g

    class ListNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = tnn.ModuleList([tnn.Linear(3, 4), tnn.Tanh(), tnn.Linear(4, 2)])

        def forward(self, x: Any) -> Any:
            for layer in self.layers:
                x = layer(x)
            return x

    class DictNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = tnn.ModuleDict({"a": tnn.Linear(3, 2), "b": tnn.Linear(3, 4)})

        def forward(self, x: Any) -> Any:
            return self.heads["a"](x), self.heads["b"](x)

    class ParamNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ws = tnn.ParameterList([torch.randn(3, 4), torch.randn(4, 2)])
            self.biases = tnn.ParameterDict({"hidden": torch.randn(4), "out": torch.randn(2)})

        def forward(self, x: Any) -> Any:
            h = torch.tanh(x @ self.ws[0] + self.biases["hidden"])
            return h @ self.ws[1] + self.biases["out"]

    class CTCOfLogits(tnn.Module):
        """CTCLoss behind a log_softmax over the classes."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            self.ctc = tnn.CTCLoss(**kwargs)

        def forward(self, x: Any, *args: Any) -> Any:
            return self.ctc(tF.log_softmax(x, -1), *args)

    return SimpleNamespace(**{c.__name__: c for c in (
        NoisyReLU, Dropout, ChannelDropout, Maxout, Normalize, HingeLoss, SoftMarginLoss, Add,
        Multiply, Concat, SkipGraph, TwoHeadGraph, ListNet, DictNet, ParamNet,
        CTCOfLogits)})  # fmt: skip


def _tnn(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """A constructor of ``torch.nn.<name>(*args, **kwargs)`` (torch looked up at call time)."""
    return lambda: getattr(_tm().nn, name)(*args, **kwargs)


def _tx(name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """A constructor of one of :func:`_torch_extras`' modules."""
    return lambda: getattr(_torch_extras(), name)(*args, **kwargs)


# ---- chainrule modules used only by the table ---------------------------------------------


class _CTCOfLogits(Module):
    """``nn.CTCLoss`` behind a log_softmax over the classes: PyTorch's gradient w.r.t. the
    log-probabilities adds exp(log_probs), which log_softmax's backward cancels, so the
    torch check compares gradients with respect to the logits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.ctc = nn.CTCLoss(**kwargs)

    def forward(self, x: Tensor, *args: Any) -> Tensor:
        return self.ctc(nn.functional.log_softmax(x, dim=-1), *args)


class _ListNet(Module):
    """Linear -> Tanh -> Linear held in an ``nn.ModuleList`` (parameters ``layers.k.*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)])

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class _DictNet(Module):
    """Two heads held in an ``nn.ModuleDict``; returns both (a tuple output)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 2), "b": nn.Linear(3, 4)})

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.heads["a"](x), self.heads["b"](x)


class _ParamNet(Module):
    """A two-layer net whose weights sit in an ``nn.ParameterList`` (``ws.k``) and biases in
    an ``nn.ParameterDict`` (``biases.hidden``, ``biases.out``)."""

    def __init__(self) -> None:
        super().__init__()
        self.ws = nn.ParameterList([cr.randn(3, 4), cr.randn(4, 2)])
        self.biases = nn.ParameterDict({"hidden": cr.randn(4), "out": cr.randn(2)})

    def forward(self, x: Tensor) -> Tensor:
        h = (x @ self.ws[0] + self.biases["hidden"]).tanh()
        return h @ self.ws[1] + self.biases["out"]


def _skip_graph() -> nn.Graph:
    """API.md's Graph: a skip connection joined by ``nn.Add``."""
    g = nn.Graph(inputs=["x"], outputs=["y"])
    g.add("h", nn.Linear(4, 8), inputs=["x"])
    g.add("a", nn.ReLU(), inputs=["h"])
    g.add("skip", nn.Linear(4, 8), inputs=["x"])
    g.add("s", nn.Add(), inputs=["a", "skip"])
    g.add("y", nn.Linear(8, 1), inputs=["s"])
    return g


def _two_head_graph() -> nn.Graph:
    """Two inputs, two outputs: a gate (``Multiply``), ``Concat`` and a head."""
    g = nn.Graph(inputs=["x", "z"], outputs=["y", "g"])
    g.add("hx", nn.Linear(3, 4), inputs=["x"])
    g.add("hz", nn.Linear(2, 4), inputs=["z"])
    g.add("t", nn.Tanh(), inputs=["hz"])
    g.add("g", nn.Multiply(), inputs=["hx", "t"])
    g.add("c", nn.Concat(axis=1), inputs=["g", "hx"])
    g.add("y", nn.Linear(8, 2), inputs=["c"])
    return g


def _perturbed(ctor: Callable[[], Module]) -> Callable[[], Module]:
    """``ctor`` with its affine parameters and running statistics moved off their
    defaults (weight 1, bias 0, mean 0, variance 1), so every derivative is exercised."""

    def build() -> Module:
        m = ctor()
        rng = np.random.default_rng(7)
        for n, t in [*m.named_parameters(), *m.named_buffers()]:
            if t.dtype.kind != "f":
                continue
            if n.endswith("running_var"):
                t.data[...] = rng.uniform(0.5, 2.0, t.shape)
            else:
                t.data[...] += 0.3 * rng.standard_normal(t.shape)
        return m

    return build


# ---- sample inputs ---------------------------------------------------------------------------


def _r(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


def _x(*shapes: tuple, **kwargs: Any) -> Callable[[np.random.Generator], list[Sample]]:
    """One single-input sample per shape (``kwargs`` go to every call)."""
    return lambda rng: [Sample((_r(rng, s),), dict(kwargs)) for s in shapes]


def _xs(*shapes: tuple) -> Callable[[np.random.Generator], list[Sample]]:
    """One sample with one input per shape (multi-input modules)."""
    return lambda rng: [Sample(tuple(_r(rng, s) for s in shapes))]


def _pair(*shapes: tuple) -> Callable[[np.random.Generator], list[Sample]]:
    """(input, target) float pairs of one shape."""
    return lambda rng: [Sample((_r(rng, s), _r(rng, s))) for s in shapes]


def _ce_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,)))),
        Sample((_r(rng, (2, 3, 2)), rng.integers(0, 3, (2, 2)))),
        Sample((_r(rng, (4, 5)), _softmax_rows(rng, (4, 5), 1)), note="probabilities (4, 5)"),
    ]


def _asm_inputs(n_in: int, targets: tuple[list, ...], unbatched: int | None = None,
                ) -> Callable[[np.random.Generator], list[Sample]]:  # fmt: skip
    """AdaptiveLogSoftmaxWithLoss samples: features (N, n_in) with the given integer
    targets (chosen to reach the shortlist and every cluster, or to leave a tail unused),
    and an unbatched (n_in,) sample with target ``unbatched``."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = [Sample((_r(rng, (len(t), n_in)), np.array(t))) for t in targets]
        if unbatched is not None:
            out.append(Sample((_r(rng, (n_in,)), np.array(unbatched)), note="unbatched"))
        return out

    return gen


def _asm_entry(note: str, *args: Any, inputs: Callable, **kwargs: Any) -> ModuleInfo:
    """An ``nn.AdaptiveLogSoftmaxWithLoss`` entry (a loss: train mode only); its output is
    the named tuple ``(output, loss)``, both compared and differentiated."""
    return ModuleInfo(name=f"AdaptiveLogSoftmaxWithLoss[{note}]",
                      ctor=lambda: nn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs),
                      torch_ctor=_tnn("AdaptiveLogSoftmaxWithLoss", *args, **kwargs),
                      inputs=inputs, modes=("train",))  # fmt: skip


def _nll_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,)))),
        Sample((_r(rng, (2, 3, 2)), rng.integers(0, 3, (2, 2)))),
    ]


def _ctc_inputs(rng: np.random.Generator) -> list[Sample]:
    """Logits (T, N, C) with padded and concatenated targets (a repeated label, lengths per
    sample), and an unbatched (T, C) case."""
    tg = np.array([[1, 1, 3], [2, 3, 0]])
    il, tl = np.array([6, 5]), np.array([3, 2])
    return [
        Sample((_r(rng, (6, 2, 4)), tg, il, tl), note="padded"),
        Sample((_r(rng, (6, 2, 4)), np.array([1, 1, 3, 2, 3]), il, tl), note="concatenated"),
        Sample((_r(rng, (5, 4)), np.array([2, 2]), np.asarray(5), np.asarray(2)),
               note="unbatched"),
    ]  # fmt: skip


def _log_softmaxed(inputs: Callable) -> Callable:
    """``inputs`` with the first argument log_softmax'd over its last axis."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = []
        for s in inputs(rng):
            x = s.args[0] - s.args[0].max(-1, keepdims=True)
            x = x - np.log(np.exp(x).sum(-1, keepdims=True))
            out.append(replace(s, args=(x, *s.args[1:])))
        return out

    return gen


def _hinge_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (6,)), rng.choice(np.array([-1, 1]), 6)), note="binary (6,)"),
        Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))), note="multi-class (4, 5)"),
    ]


def _multi_class_scores(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (4, 5)), rng.integers(0, 5, (4,))), note="(4, 5)"),
        Sample((_r(rng, (5,)), np.array(2)), note="unbatched (5,)"),
    ]


def _hinge_domain(xs: tuple) -> tuple:
    """Binary: scores off the kinks at +-1; multi-class: margins away from 0."""
    if xs[0].ndim == 1:
        return away_from(-1.0, 1.0, args=(0,))(xs)
    return _margins_apart(xs)


def _kl_pairs(rng: np.random.Generator) -> list[Sample]:
    """(log-probabilities, probabilities), rows of each summing to 1."""
    return [Sample((np.log(_softmax_rows(rng, (3, 4), 1)), _softmax_rows(rng, (3, 4), 1)))]


def _ranking_triples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (3, 4)), _r(rng, (3, 4)), _signs(rng, (3, 4)))),
            Sample((_r(rng, (5,)), _r(rng, (5,)), _signs(rng, (5,))))]  # fmt: skip


def _signed_pairs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (3, 4)) * 3, _signs(rng, (3, 4))))]


def _count_pairs(positive: bool) -> Callable[[np.random.Generator], list[Sample]]:
    def gen(rng: np.random.Generator) -> list[Sample]:
        x = _r(rng, (3, 4))
        return [Sample((np.abs(x) + 0.2 if positive else x,
                        rng.integers(0, 5, (3, 4)).astype(float)))]  # fmt: skip

    return gen


def _gaussian_triples(rng: np.random.Generator) -> list[Sample]:
    x, t = _r(rng, (3, 4)), _r(rng, (3, 4))
    return [Sample((x, t, np.abs(_r(rng, (3, 4))) + 0.3)),
            Sample((x, t, np.abs(_r(rng, (3, 1))) + 0.3), note="one variance per row")]  # fmt: skip


def _embedding_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((np.array([[1, 3, 1], [0, 4, 3]]),), note="indices (2, 3), repeated"),
        Sample((np.array([2, 2, 0]),), note="indices (3,)"),
    ]


def _bag_inputs(psw: bool = False, last: bool = False) -> Callable[[np.random.Generator], list]:
    """Indices into a table of 5: (2, 3) (repeated in a bag) and 1-D with offsets (an empty
    bag; B + 1 offsets with ``last``); with ``psw``, 1-D indices, offsets and per-sample
    weights (differentiated)."""
    idx, off = np.array([1, 3, 3, 0, 4, 2, 1]), np.array([0, 3, 3, 7] if last else [0, 3, 3])

    def gen(rng: np.random.Generator) -> list[Sample]:
        if psw:
            return [Sample((idx, off, _r(rng, idx.shape)), note="offsets, per_sample_weights")]
        out = [Sample((idx, off), note="offsets, an empty bag")]
        if not last:
            out.insert(0, Sample((np.array([[1, 3, 3], [0, 4, 2]]),), note="(2, 3), repeated"))
        return out

    return gen


def _transformer_inputs(batch_first: bool, decoder: bool, mask_name: str = "src_mask",
                        ) -> Callable[[np.random.Generator], list]:  # fmt: skip
    """Sequences of E=4 with N=2: source/target length 3 and memory length 4; a plain sample
    and one with a causal float mask and a key padding mask (every query keeps a key).
    ``mask_name``: the encoder's mask argument (``mask`` for ``TransformerEncoder``)."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        def seq(n: int) -> np.ndarray:
            return _r(rng, (2, n, 4) if batch_first else (n, 2, 4))

        causal = np.triu(np.full((3, 3), -np.inf), k=1)
        padding = np.array([[False, False, True], [False, False, False]])
        if not decoder:
            return [Sample((seq(3),)),
                    Sample((seq(3),), {mask_name: causal, "src_key_padding_mask": padding},
                           note="causal mask, key padding")]  # fmt: skip
        memory_padding = np.array([[False, True, False, True], [False] * 4])
        return [Sample((seq(3), seq(4))),
                Sample((seq(3), seq(4)), {"tgt_mask": causal, "tgt_key_padding_mask": padding,
                                          "memory_key_padding_mask": memory_padding},
                       note="causal mask, key padding")]  # fmt: skip

    return gen


def _seq2seq_inputs(rng: np.random.Generator) -> list[Sample]:
    """(src, tgt) for a Transformer with E=4, N=2: source length 4, target length 3; a
    plain sample and one with a causal target mask and key padding on both sides."""
    src, tgt = _r(rng, (4, 2, 4)), _r(rng, (3, 2, 4))
    causal = np.triu(np.full((3, 3), -np.inf), k=1)
    src_padding = np.array([[False, True, False, True], [False] * 4])
    tgt_padding = np.array([[False, False, True], [False, False, False]])
    return [Sample((src, tgt)),
            Sample((src, tgt), {"tgt_mask": causal, "src_key_padding_mask": src_padding,
                                "tgt_key_padding_mask": tgt_padding,
                                "memory_key_padding_mask": src_padding},
                   note="causal target mask, key padding")]  # fmt: skip


def _torch_transformer() -> Any:
    t = _tm().nn.Transformer(4, 2, 1, 1, 6, 0.0)
    t.encoder.use_nested_tensor = False  # (its eval fast path zeroes padded positions)
    return t


def _torch_encoder() -> Any:
    tnn = _tm().nn
    return tnn.TransformerEncoder(tnn.TransformerEncoderLayer(4, 2, 6, 0.0), 2,
                                  norm=tnn.LayerNorm(4), enable_nested_tensor=False)  # fmt: skip


def _mha_inputs(batch_first: bool, masks: bool) -> Callable[[np.random.Generator], list]:
    """query (L=3), key/value (S=4), batch N=2, E=4. Without masks, also an unbatched
    sample; with masks, bool masks (True = may not attend) and float (additive) masks,
    ``attn_mask`` (L, S) and ``key_padding_mask`` (N, S), leaving every query some key."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        def seq(n: int) -> np.ndarray:
            return _r(rng, (2, n, 4) if batch_first else (n, 2, 4))

        if not masks:
            return [
                Sample((seq(3), seq(4), seq(4))),
                Sample((_r(rng, (3, 4)), _r(rng, (4, 4)), _r(rng, (4, 4))),
                       note="unbatched (3, 4), (4, 4), (4, 4)"),
            ]  # fmt: skip
        attn = np.zeros((3, 4), dtype=bool)
        attn[0, 3] = attn[2, 0] = True
        kpm = np.zeros((2, 4), dtype=bool)
        kpm[1, 2] = True
        float_masks = {"attn_mask": rng.uniform(-1, 0, (3, 4)),
                       "key_padding_mask": np.where(kpm, -np.inf, 0.0)}  # fmt: skip
        return [
            Sample((seq(3), seq(4), seq(4)), {"attn_mask": attn, "key_padding_mask": kpm},
                   note="bool masks"),
            Sample((seq(3), seq(4), seq(4)), float_masks, note="float masks"),
        ]  # fmt: skip

    return gen


# ---- the table -------------------------------------------------------------------------------


def _same(name: str, cls: type, tname: str | None, *args: Any, inputs: Callable,
          domain: Domain | None = None, skip: dict | None = None, random: bool = False,
          **kwargs: Any) -> ModuleInfo:  # fmt: skip
    """An entry whose chainrule module ``cls`` and ``torch.nn.<tname>`` take the same
    constructor arguments ``*args, **kwargs``."""
    return ModuleInfo(name=name, ctor=lambda: cls(*args, **kwargs), inputs=inputs,
                      torch_ctor=None if tname is None else _tnn(tname, *args, **kwargs),
                      domain=domain, skip=skip or {}, random=random)  # fmt: skip


_ACT = _x((3, 4), (2, 1, 3))


def _loss_entries(
    cls: type,
    tname: str | None,
    inputs: Callable,
    domain: Domain | None = None,
    extra: tuple[dict, ...] = ({},),
) -> list[ModuleInfo]:
    """One entry per reduction (and per extra constructor keywords)."""
    out = []
    for kw in extra:
        for red in REDUCTIONS:
            note = "".join(f", {k}={v}" for k, v in kw.items())
            ctor_kw = {"reduction": red, **kw}
            t_ctor = (_tx(tname, **ctor_kw) if tname in ("HingeLoss", "SoftMarginLoss")
                      else _tnn(tname, **ctor_kw))  # fmt: skip
            out.append(ModuleInfo(
                name=f"{cls.__name__}[{red}{note}]",
                ctor=functools.partial(cls, **ctor_kw), inputs=inputs, domain=domain,
                torch_ctor=None if tname is None else t_ctor, modes=("train",),
            ))  # fmt: skip
    return out


def _weighted_loss_entries(
    cls: type,
    tname: str,
    inputs: Callable,
    weights: dict[str, tuple],
    domain: Domain | None = None,
    **kwargs: Any,
) -> list[ModuleInfo]:
    """One entry per reduction for a loss built with weight buffers (name -> shape; drawn
    once, seeded by the entry's name) and constructor keywords ``kwargs``; the torch loss
    gets placeholder tensors of those shapes, then chainrule's buffers by ``copy_state``."""
    out = []
    for red in REDUCTIONS:
        note = ", ".join([*weights, *(f"{k}={v}" for k, v in kwargs.items())])
        name = f"{cls.__name__}[{red}, {note}]"
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        drawn = {k: rng.uniform(0.2, 2.0, shape) for k, shape in weights.items()}

        def ctor(drawn: dict = drawn, red: str = red) -> Module:
            return cls(**drawn, reduction=red, **kwargs)

        def torch_ctor(red: str = red) -> Any:
            torch = _tm()
            placeholders = {k: torch.ones(shape) for k, shape in weights.items()}
            return getattr(torch.nn, tname)(**placeholders, reduction=red, **kwargs)

        out.append(ModuleInfo(name=name, ctor=ctor, inputs=inputs, domain=domain,
                              torch_ctor=torch_ctor, modes=("train",)))  # fmt: skip
    return out


def _class_inputs(probs: bool) -> Callable[[np.random.Generator], list[Sample]]:
    """Scores (5, 4) and (2, 4, 3) over 4 classes with labels, some of them 2 (the
    ignore_index of the entries that use one); with ``probs``, probability targets too."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = [Sample((_r(rng, (5, 4)), _with_labels_ignored(rng, (5,), 4))),
               Sample((_r(rng, (2, 4, 3)), _with_labels_ignored(rng, (2, 3), 4)))]  # fmt: skip
        if probs:
            out.append(Sample((_r(rng, (5, 4)), _softmax_rows(rng, (5, 4), 1)), note="probs"))
        return out

    return gen


def _core() -> list[ModuleInfo]:
    return [
        # layers
        _same("Linear", nn.Linear, "Linear", 3, 2, inputs=_x((4, 3), (3,), (2, 1, 3))),
        _same("Linear[bias=False]", nn.Linear, "Linear", 3, 2, bias=False, inputs=_x((4, 3))),
        _same("Flatten", nn.Flatten, "Flatten", inputs=_x((2, 3, 2), (2, 3))),
        _same("Flatten(0, 1)", nn.Flatten, "Flatten", 0, 1, inputs=_x((2, 3, 2))),
        _same("Identity", nn.Identity, "Identity", inputs=_x((3, 4))),
        # activations
        _same("ReLU", nn.ReLU, "ReLU", inputs=_ACT, domain=away_from(0.0)),
        _same("LeakyReLU", nn.LeakyReLU, "LeakyReLU", inputs=_ACT, domain=away_from(0.0)),
        _same("LeakyReLU(0.2)", nn.LeakyReLU, "LeakyReLU", 0.2, inputs=_ACT,
              domain=away_from(0.0)),
        ModuleInfo(name="NoisyReLU", ctor=nn.NoisyReLU, torch_ctor=_tx("NoisyReLU"),
                   inputs=_ACT, domain=away_from(0.0), random=True,
                   skip={"input_jac": ("train",)}),
        _same("ELU", nn.ELU, "ELU", inputs=_ACT, domain=away_from(0.0)),
        _same("ELU(0.5)", nn.ELU, "ELU", 0.5, inputs=_ACT, domain=away_from(0.0)),
        _same("Softplus", nn.Softplus, "Softplus", inputs=_ACT),
        _same("Softplus(2, 1)", nn.Softplus, "Softplus", 2.0, 1.0, inputs=_ACT,
              domain=away_from(0.5, margin=0.1)),
        _same("Sigmoid", nn.Sigmoid, "Sigmoid", inputs=_ACT),
        _same("SiLU", nn.SiLU, "SiLU", inputs=_ACT),
        _same("Tanh", nn.Tanh, "Tanh", inputs=_ACT),
        _same("HardTanh", nn.HardTanh, "Hardtanh", inputs=_ACT,
              domain=away_from(-1.0, 1.0, margin=0.05)),
        _same("HardTanh(-0.5, 2)", nn.HardTanh, "Hardtanh", -0.5, 2.0, inputs=_ACT,
              domain=away_from(-0.5, 2.0, margin=0.05)),
        _same("Threshold(0.1, 20)", nn.Threshold, "Threshold", 0.1, 20.0, inputs=_ACT,
              domain=away_from(0.1, margin=0.05)),
        _same("ReLU6", nn.ReLU6, "ReLU6", inputs=_x((3, 4)), domain=away_from(0.0, 6.0)),
        _same("Hardsigmoid", nn.Hardsigmoid, "Hardsigmoid", inputs=_ACT,
              domain=away_from(-3.0, 3.0)),
        _same("Hardswish", nn.Hardswish, "Hardswish", inputs=_ACT, domain=away_from(-3.0, 3.0)),
        _same("Mish", nn.Mish, "Mish", inputs=_ACT),
        _same("Softsign", nn.Softsign, "Softsign", inputs=_ACT, domain=away_from(0.0)),
        _same("LogSigmoid", nn.LogSigmoid, "LogSigmoid", inputs=_ACT),
        _same("SELU", nn.SELU, "SELU", inputs=_ACT, domain=away_from(0.0)),
        _same("CELU(0.5)", nn.CELU, "CELU", 0.5, inputs=_ACT, domain=away_from(0.0)),
        _same("Tanhshrink", nn.Tanhshrink, "Tanhshrink", inputs=_ACT),
        _same("Hardshrink", nn.Hardshrink, "Hardshrink", inputs=_ACT,
              domain=away_from(-0.5, 0.5, margin=0.05)),
        _same("Softshrink(0.3)", nn.Softshrink, "Softshrink", 0.3, inputs=_ACT,
              domain=away_from(-0.3, 0.3, margin=0.05)),
        _same("GLU", nn.GLU, "GLU", inputs=_x((3, 4), (2, 1, 6))),
        _same("GLU(dim=1)", nn.GLU, "GLU", dim=1, inputs=_x((2, 4, 3))),
        _same("Softmin(dim=1)", nn.Softmin, "Softmin", dim=1, inputs=_x((2, 3, 2))),
        ModuleInfo(name="PReLU", ctor=_perturbed(lambda: nn.PReLU()), torch_ctor=_tnn("PReLU"),
                   inputs=_ACT, domain=away_from(0.0)),
        ModuleInfo(name="PReLU(3)", ctor=_perturbed(lambda: nn.PReLU(3)),
                   torch_ctor=_tnn("PReLU", 3), inputs=_x((2, 3, 4), (4, 3)),
                   domain=away_from(0.0)),
        _same("GELU", nn.GELU, "GELU", inputs=_ACT),
        _same("GELU[tanh]", nn.GELU, "GELU", approximate="tanh", inputs=_ACT),
        # chainrule's default dim is -1; torch's implicit choice differs for 3-D inputs
        ModuleInfo(name="Softmax", ctor=nn.Softmax, torch_ctor=_tnn("Softmax", dim=-1),
                   inputs=_x((3, 4), (5,), (2, 3, 2))),
        _same("Softmax(dim=1)", nn.Softmax, "Softmax", dim=1, inputs=_x((2, 3, 2))),
        ModuleInfo(name="LogSoftmax", ctor=nn.LogSoftmax, torch_ctor=_tnn("LogSoftmax", dim=-1),
                   inputs=_x((3, 4), (5,), (2, 3, 2))),
        _same("LogSoftmax(dim=0)", nn.LogSoftmax, "LogSoftmax", dim=0, inputs=_x((3, 4))),
        # losses, each with every reduction
        *_loss_entries(nn.MSELoss, "MSELoss", _pair((3, 4), ())),
        *_loss_entries(nn.L1Loss, "L1Loss", _pair((3, 4)), domain=_diff_away(0.0)),
        *_loss_entries(nn.HuberLoss, "HuberLoss", _pair((3, 4)),
                       domain=_diff_away(1.0, 0.5, margin=0.05),
                       extra=({}, {"delta": 0.5})),
        *_loss_entries(nn.CrossEntropyLoss, "CrossEntropyLoss", _ce_inputs),
        *_loss_entries(nn.NLLLoss, "NLLLoss", _nll_inputs),
        # CTCLoss on log-probabilities: numeric checks only (torch's gradient w.r.t. them
        # adds exp(log_probs)); behind a log_softmax against torch
        *_loss_entries(nn.CTCLoss, None, _log_softmaxed(_ctc_inputs),
                       extra=({}, {"zero_infinity": True, "blank": 0})),
        *[ModuleInfo(name=f"CTCLoss[log_softmax, {red}]",
                     ctor=functools.partial(_CTCOfLogits, reduction=red), inputs=_ctc_inputs,
                     torch_ctor=_tx("CTCOfLogits", reduction=red), modes=("train",),
                     covers=(nn.CTCLoss,)) for red in REDUCTIONS],
        # adaptive softmax: the shortlist and every cluster reached; a tail left unused
        _asm_entry("cutoffs=[2, 5], div_value=2, head_bias", 6, 8, [2, 5], div_value=2.0,
                   head_bias=True, inputs=_asm_inputs(6, ([0, 3, 7, 1, 6],), unbatched=6)),
        _asm_entry("cutoffs=[3]", 5, 6, [3], inputs=_asm_inputs(5, ([0, 4, 2, 5], [0, 1, 2]))),
        *_loss_entries(nn.BCELoss, "BCELoss", _pair((3, 4)),
                       domain=compose(_squash(0.05, 0.95, (0,)), _squash(0.0, 1.0, (1,)))),
        *_loss_entries(nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", _pair((3, 4)),
                       domain=_squash(0.0, 1.0, (1,))),
        *_loss_entries(nn.HingeLoss, "HingeLoss", _hinge_inputs, domain=_hinge_domain),
        *_loss_entries(nn.SmoothL1Loss, "SmoothL1Loss", _pair((3, 4)),
                       domain=_diff_away(1.0, 0.5, margin=0.05), extra=({}, {"beta": 0.5})),
        *_loss_entries(nn.KLDivLoss, "KLDivLoss", _kl_pairs),
        _same("KLDivLoss[batchmean]", nn.KLDivLoss, "KLDivLoss", reduction="batchmean",
              inputs=_kl_pairs),
        _same("KLDivLoss[log_target]", nn.KLDivLoss, "KLDivLoss", reduction="batchmean",
              log_target=True, inputs=_pair((3, 4))),
        *_loss_entries(nn.MarginRankingLoss, "MarginRankingLoss", _ranking_triples,
                       domain=_ranking_apart, extra=({}, {"margin": 0.3})),
        *_loss_entries(nn.SoftMarginLoss, "SoftMarginLoss", _signed_pairs),
        *_loss_entries(nn.PoissonNLLLoss, "PoissonNLLLoss", _count_pairs(False)),
        *_loss_entries(nn.PoissonNLLLoss, "PoissonNLLLoss", _count_pairs(True),
                       extra=({"log_input": False},)),
        *_loss_entries(nn.CosineEmbeddingLoss, "CosineEmbeddingLoss",
                       lambda rng: [Sample((_r(rng, (5, 3)), _r(rng, (5, 3)),
                                            np.array([1.0, -1.0, -1.0, 1.0, -1.0])))],
                       domain=_cosine_apart, extra=({}, {"margin": 0.1})),
        *_loss_entries(nn.HingeEmbeddingLoss, "HingeEmbeddingLoss",
                       lambda rng: [Sample((np.abs(_r(rng, (3, 4))) * 2, _signs(rng, (3, 4))))],
                       domain=away_from(1.0, args=(0,))),
        *_loss_entries(nn.TripletMarginLoss, "TripletMarginLoss", _xs((4, 3), (4, 3), (4, 3)),
                       domain=_triplet_apart, extra=({}, {"margin": 0.5, "p": 1.0, "swap": True})),
        *_loss_entries(nn.TripletMarginWithDistanceLoss, "TripletMarginWithDistanceLoss",
                       _xs((4, 3), (4, 3), (4, 3)), domain=_triplet_distance_apart,
                       extra=({}, {"margin": 0.5, "swap": True})),
        ModuleInfo(name="TripletMarginWithDistanceLoss[mean, squared distance, swap]",
                   ctor=lambda: nn.TripletMarginWithDistanceLoss(distance_function=_sq_distance,
                                                                 margin=0.5, swap=True),
                   torch_ctor=_tnn("TripletMarginWithDistanceLoss", distance_function=_sq_distance,
                                   margin=0.5, swap=True),
                   inputs=_xs((4, 3), (4, 3), (4, 3)), domain=_triplet_distance_apart,
                   modes=("train",)),
        *_loss_entries(nn.MultiMarginLoss, "MultiMarginLoss", _multi_class_scores,
                       domain=_margins_apart, extra=({}, {"p": 2})),
        *_weighted_loss_entries(nn.MultiMarginLoss, "MultiMarginLoss", _multi_class_scores,
                                {"weight": (5,)}, domain=_margins_apart, p=2),
        *_loss_entries(nn.MultiLabelSoftMarginLoss, "MultiLabelSoftMarginLoss",
                       lambda rng: [Sample((_r(rng, (4, 3)),
                                            (rng.random((4, 3)) < 0.5).astype(float)))]),
        *_loss_entries(nn.GaussianNLLLoss, "GaussianNLLLoss", _gaussian_triples,
                       extra=({}, {"full": True})),
        # PyTorch's loss options: class weights, ignore_index, label smoothing, pos_weight
        *_weighted_loss_entries(nn.CrossEntropyLoss, "CrossEntropyLoss", _class_inputs(False),
                                {"weight": (4,)}, ignore_index=2, label_smoothing=0.2),
        *_weighted_loss_entries(nn.CrossEntropyLoss, "CrossEntropyLoss", _class_inputs(True),
                                {"weight": (4,)}, label_smoothing=0.2),
        *_weighted_loss_entries(nn.NLLLoss, "NLLLoss", _class_inputs(False),
                                {"weight": (4,)}, ignore_index=2),
        *_weighted_loss_entries(nn.BCELoss, "BCELoss", _pair((4, 3)), {"weight": (3,)},
                                domain=compose(_squash(0.05, 0.95, (0,)),
                                               _squash(0.0, 1.0, (1,)))),
        *_weighted_loss_entries(nn.BCEWithLogitsLoss, "BCEWithLogitsLoss", _pair((4, 3)),
                                {"weight": (4, 3), "pos_weight": (3,)},
                                domain=_squash(0.0, 1.0, (1,))),
        # normalisation (weights and running statistics moved off their defaults)
        ModuleInfo(name="BatchNorm1d", ctor=_perturbed(lambda: nn.BatchNorm1d(3)),
                   torch_ctor=_tnn("BatchNorm1d", 3), inputs=_x((4, 3), (3, 3, 2))),
        ModuleInfo(name="BatchNorm1d[affine=False, momentum=None]",
                   ctor=_perturbed(lambda: nn.BatchNorm1d(3, affine=False, momentum=None)),
                   torch_ctor=_tnn("BatchNorm1d", 3, affine=False, momentum=None),
                   inputs=_x((4, 3))),
        _same("InstanceNorm1d", nn.InstanceNorm1d, "InstanceNorm1d", 3,
              inputs=_x((2, 3, 4), (3, 5))),
        ModuleInfo(name="InstanceNorm2d[affine, track_running_stats]",
                   ctor=_perturbed(lambda: nn.InstanceNorm2d(2, affine=True,
                                                             track_running_stats=True)),
                   torch_ctor=_tnn("InstanceNorm2d", 2, affine=True, track_running_stats=True),
                   inputs=_x((3, 2, 2, 3), (2, 3, 2))),
        ModuleInfo(name="BatchNorm2d", ctor=_perturbed(lambda: nn.BatchNorm2d(2)),
                   torch_ctor=_tnn("BatchNorm2d", 2), inputs=_x((3, 2, 2, 2))),
        ModuleInfo(name="BatchNorm2d[track_running_stats=False]",
                   ctor=_perturbed(lambda: nn.BatchNorm2d(2, track_running_stats=False)),
                   torch_ctor=_tnn("BatchNorm2d", 2, track_running_stats=False),
                   inputs=_x((2, 2, 2, 2))),
        ModuleInfo(name="BatchNorm3d", ctor=_perturbed(lambda: nn.BatchNorm3d(2)),
                   torch_ctor=_tnn("BatchNorm3d", 2), inputs=_x((2, 2, 2, 2, 2))),
        ModuleInfo(name="InstanceNorm3d[affine, track_running_stats]",
                   ctor=_perturbed(lambda: nn.InstanceNorm3d(2, affine=True,
                                                             track_running_stats=True)),
                   torch_ctor=_tnn("InstanceNorm3d", 2, affine=True, track_running_stats=True),
                   inputs=_x((2, 2, 2, 2, 3), (2, 2, 3, 2))),
        ModuleInfo(name="LayerNorm", ctor=_perturbed(lambda: nn.LayerNorm(4)),
                   torch_ctor=_tnn("LayerNorm", 4), inputs=_x((3, 4), (2, 1, 4))),
        ModuleInfo(name="LayerNorm((2, 3))", ctor=_perturbed(lambda: nn.LayerNorm((2, 3))),
                   torch_ctor=_tnn("LayerNorm", (2, 3)), inputs=_x((2, 2, 3))),
        ModuleInfo(name="LayerNorm[bias=False]",
                   ctor=_perturbed(lambda: nn.LayerNorm(4, bias=False)),
                   torch_ctor=_tnn("LayerNorm", 4, bias=False), inputs=_x((3, 4))),
        ModuleInfo(name="RMSNorm", ctor=_perturbed(lambda: nn.RMSNorm(4)),
                   torch_ctor=_tnn("RMSNorm", 4), inputs=_x((3, 4), (2, 1, 4))),
        ModuleInfo(name="RMSNorm((2, 3), eps=1e-3)",
                   ctor=_perturbed(lambda: nn.RMSNorm((2, 3), eps=1e-3)),
                   torch_ctor=_tnn("RMSNorm", (2, 3), eps=1e-3), inputs=_x((2, 2, 3))),
        _same("RMSNorm[elementwise_affine=False]", nn.RMSNorm, "RMSNorm", 4,
              elementwise_affine=False, inputs=_x((3, 4))),
        ModuleInfo(name="GroupNorm(3, 6)", ctor=_perturbed(lambda: nn.GroupNorm(3, 6)),
                   torch_ctor=_tnn("GroupNorm", 3, 6), inputs=_x((2, 6, 3, 2), (2, 6, 4))),
        _same("GroupNorm[affine=False]", nn.GroupNorm, "GroupNorm", 2, 4, affine=False,
              inputs=_x((3, 4), (1, 4, 2, 3))),
        _same("LayerNorm[elementwise_affine=False]", nn.LayerNorm, "LayerNorm", 4,
              elementwise_affine=False, inputs=_x((3, 4))),
        # embedding, dropout, maxout, normalize
        _same("Embedding", nn.Embedding, "Embedding", 5, 3, inputs=_embedding_inputs),
        # the padding row gets no gradient by definition (central differences see one)
        _same("Embedding[padding_idx=3]", nn.Embedding, "Embedding", 5, 3, padding_idx=3,
              inputs=_embedding_inputs, skip={"param_jac": MODES}),
        _same("EmbeddingBag", nn.EmbeddingBag, "EmbeddingBag", 5, 3, inputs=_bag_inputs()),
        _same("EmbeddingBag[sum, per_sample_weights]", nn.EmbeddingBag, "EmbeddingBag", 5, 3,
              mode="sum", inputs=_bag_inputs(psw=True)),
        # the padding row is skipped, so it has no effect and no gradient
        _same("EmbeddingBag[max, padding_idx=3, include_last_offset]", nn.EmbeddingBag,
              "EmbeddingBag", 5, 3, mode="max", padding_idx=3, include_last_offset=True,
              inputs=_bag_inputs(last=True)),
        ModuleInfo(name="Dropout", ctor=lambda: nn.Dropout(0.5), torch_ctor=_tx("Dropout", 0.5),
                   inputs=_x((3, 4), (2, 1, 3)), random=True),
        ModuleInfo(name="Dropout(0.2)", ctor=lambda: nn.Dropout(0.2),
                   torch_ctor=_tx("Dropout", 0.2), inputs=_x((4, 5)), random=True),
        ModuleInfo(name="Dropout1d(0.5)", ctor=lambda: nn.Dropout1d(0.5),
                   torch_ctor=_tx("ChannelDropout", 0.5, 1), inputs=_x((4, 3, 5), (6, 2)),
                   random=True),
        ModuleInfo(name="Dropout2d(0.3)", ctor=lambda: nn.Dropout2d(0.3),
                   torch_ctor=_tx("ChannelDropout", 0.3, 2), inputs=_x((3, 4, 2, 2), (5, 2, 3)),
                   random=True),
        ModuleInfo(name="Dropout3d(0.4)", ctor=lambda: nn.Dropout3d(0.4),
                   torch_ctor=_tx("ChannelDropout", 0.4, 3),
                   inputs=_x((3, 4, 2, 2, 1), (5, 2, 1, 3)), random=True),
        ModuleInfo(name="Maxout", ctor=lambda: nn.Maxout(3, 2, 3),
                   torch_ctor=_tx("Maxout", 3, 2, 3), inputs=_x((4, 3), (3,))),
        ModuleInfo(name="Normalize", ctor=nn.Normalize, torch_ctor=_tx("Normalize"),
                   inputs=_x((3, 4), (2, 3, 2))),
        ModuleInfo(name="Normalize(p=1, axis=-1)", ctor=lambda: nn.Normalize(p=1, axis=-1),
                   torch_ctor=_tx("Normalize", p=1, axis=-1), inputs=_x((3, 4)),
                   domain=away_from(0.0)),
        # attention
        ModuleInfo(name="MultiheadAttention", ctor=lambda: nn.MultiheadAttention(4, 2),
                   torch_ctor=_tnn("MultiheadAttention", 4, 2),
                   inputs=_mha_inputs(batch_first=False, masks=False)),
        ModuleInfo(name="MultiheadAttention[masks, batch_first]",
                   ctor=lambda: nn.MultiheadAttention(4, 2, batch_first=True),
                   torch_ctor=_tnn("MultiheadAttention", 4, 2, batch_first=True),
                   inputs=_mha_inputs(batch_first=True, masks=True)),
        ModuleInfo(name="MultiheadAttention[bias=False, masks]",
                   ctor=lambda: nn.MultiheadAttention(4, 1, bias=False),
                   torch_ctor=_tnn("MultiheadAttention", 4, 1, bias=False),
                   inputs=_mha_inputs(batch_first=False, masks=True)),
        ModuleInfo(name="MultiheadAttention[kdim=3, vdim=5]",
                   ctor=lambda: nn.MultiheadAttention(4, 2, kdim=3, vdim=5),
                   torch_ctor=_tnn("MultiheadAttention", 4, 2, kdim=3, vdim=5),
                   inputs=lambda rng: [Sample((_r(rng, (3, 2, 4)), _r(rng, (4, 2, 3)),
                                               _r(rng, (4, 2, 5)))),
                                       Sample((_r(rng, (3, 4)), _r(rng, (2, 3)), _r(rng, (2, 5))),
                                              note="unbatched")]),
        # attention dropout: torch draws its own masks, so torch only in eval
        ModuleInfo(name="MultiheadAttention[dropout=0.5]",
                   ctor=lambda: nn.MultiheadAttention(4, 2, dropout=0.5),
                   torch_ctor=_tnn("MultiheadAttention", 4, 2, dropout=0.5),
                   inputs=_mha_inputs(batch_first=False, masks=False), random=True,
                   skip={"torch": ("train",)}),
        _same("Bilinear(3, 2, 4)", nn.Bilinear, "Bilinear", 3, 2, 4,
              inputs=_xs((5, 3), (5, 2))),
        _same("Unflatten(1, (2, -1))", nn.Unflatten, "Unflatten", 1, (2, -1),
              inputs=_x((3, 6), (2, 4, 2))),
        _same("CosineSimilarity", nn.CosineSimilarity, "CosineSimilarity",
              inputs=_xs((3, 4), (3, 4))),
        _same("PairwiseDistance(p=1)", nn.PairwiseDistance, "PairwiseDistance", p=1.0,
              inputs=_xs((3, 4), (3, 4)), domain=_diff_away(0.0)),
        _same("Unfold(2, padding=1)", _nn("Unfold"), "Unfold", 2, padding=1,
              inputs=_x((2, 2, 3, 4), (2, 3, 3))),
        _same("Fold((3, 4), 2)", _nn("Fold"), "Fold", (3, 4), 2, inputs=_x((2, 8, 6), (4, 6))),
        _same("PixelShuffle(2)", _nn("PixelShuffle"), "PixelShuffle", 2,
              inputs=_x((2, 8, 2, 3), (4, 1, 2))),
        _same("PixelUnshuffle(2)", _nn("PixelUnshuffle"), "PixelUnshuffle", 2,
              inputs=_x((2, 2, 4, 2), (1, 2, 4))),
        _same("AdaptiveMaxPool2d((2, 3))", _nn("AdaptiveMaxPool2d"), "AdaptiveMaxPool2d",
              (2, 3), inputs=_x((2, 2, 5, 4), (2, 3, 5)), domain=distinct(0.05)),
        _same("AdaptiveMaxPool1d(3)", _nn("AdaptiveMaxPool1d"), "AdaptiveMaxPool1d", 3,
              inputs=_x((2, 2, 7), (2, 5)), domain=distinct(0.05)),
        # 1-D pools
        _same("MaxPool1d(3, 2, 1)", _nn("MaxPool1d"), "MaxPool1d", 3, 2, 1,
              inputs=_x((2, 2, 7), (2, 5)), domain=distinct(0.05)),
        _same("AvgPool1d(2)", _nn("AvgPool1d"), "AvgPool1d", 2, inputs=_x((2, 2, 7), (2, 5))),
        _same("AdaptiveAvgPool1d(3)", _nn("AdaptiveAvgPool1d"), "AdaptiveAvgPool1d", 3,
              inputs=_x((2, 2, 7), (2, 5))),
        # padding layers
        *[_same(f"{name}{args}", _nn(name), name, *args, inputs=_x(shape))
          for name, args, shape in [
              ("ZeroPad1d", (2,), (2, 3, 4)), ("ZeroPad2d", ((1, 0, 2, -1),), (1, 2, 3, 3)),
              ("ConstantPad1d", ((1, 2), 0.5), (3, 4)), ("ConstantPad2d", (1, -0.5), (2, 3, 2)),
              ("ReflectionPad1d", ((2, 1),), (2, 3, 4)), ("ReflectionPad2d", (1,), (1, 2, 3, 3)),
              ("ReplicationPad1d", (2,), (2, 2, 3)),
              ("ReplicationPad2d", ((0, 2, 1, 0),), (2, 3, 2)),
              ("CircularPad1d", (3,), (2, 2, 3)), ("CircularPad2d", ((1, 2, 2, 0),), (1, 2, 3, 3)),
              ("ZeroPad3d", ((1, 0, 2, -1, 0, 1),), (1, 2, 2, 3, 3)),
              ("ConstantPad3d", (1, 0.5), (2, 2, 1, 2)),
              ("ReflectionPad3d", ((1, 0, 2, 1, 1, 0),), (1, 1, 2, 3, 3)),
              ("ReplicationPad3d", ((0, 2, 1, 0, 1, 1),), (2, 2, 3, 2)),
              ("CircularPad3d", ((1, 2, 2, 0, 1, 0),), (1, 1, 2, 3, 3)),
          ]],
        # transformer layers (dropout 0: torch draws its own masks)
        _same("TransformerEncoderLayer", nn.TransformerEncoderLayer, "TransformerEncoderLayer",
              4, 2, 6, 0.0, inputs=_transformer_inputs(False, decoder=False)),
        _same("TransformerEncoderLayer[norm_first, batch_first, gelu, masks]",
              nn.TransformerEncoderLayer, "TransformerEncoderLayer", 4, 2, 6, 0.0,
              activation="gelu", batch_first=True, norm_first=True,
              inputs=_transformer_inputs(True, decoder=False)),
        _same("TransformerDecoderLayer", nn.TransformerDecoderLayer, "TransformerDecoderLayer",
              4, 2, 6, 0.0, inputs=_transformer_inputs(False, decoder=True)),
        _same("TransformerDecoderLayer[norm_first, bias=False, masks]",
              nn.TransformerDecoderLayer, "TransformerDecoderLayer", 4, 1, 5, 0.0,
              norm_first=True, bias=False, inputs=_transformer_inputs(False, decoder=True)),
        ModuleInfo(name="TransformerEncoder(2 layers, norm)",
                   ctor=lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 2, 6, 0.0),
                                                      2, norm=nn.LayerNorm(4)),
                   torch_ctor=_torch_encoder,
                   inputs=_transformer_inputs(False, decoder=False, mask_name="mask")),
        ModuleInfo(name="TransformerDecoder(2 layers)",
                   ctor=lambda: nn.TransformerDecoder(nn.TransformerDecoderLayer(4, 2, 6, 0.0),
                                                      2),
                   torch_ctor=lambda: _tm().nn.TransformerDecoder(
                       _tm().nn.TransformerDecoderLayer(4, 2, 6, 0.0), 2),
                   inputs=_transformer_inputs(False, decoder=True),
                   # its layer's entries take the numeric Jacobians (8 s here for the stack)
                   skip={"param_jac": MODES, "fwd_rev": MODES}),
        ModuleInfo(name="Transformer(1+1 layers)",
                   ctor=lambda: nn.Transformer(4, 2, 1, 1, 6, 0.0),
                   torch_ctor=_torch_transformer, inputs=_seq2seq_inputs,
                   # its layers' entries take the numeric Jacobians of the parameters
                   skip={"param_jac": MODES, "fwd_rev": MODES}),
        # joins and containers
        ModuleInfo(name="Add", ctor=nn.Add, torch_ctor=_tx("Add"),
                   inputs=_xs((3, 4), (3, 4), (3, 4))),
        ModuleInfo(name="Multiply", ctor=nn.Multiply, torch_ctor=_tx("Multiply"),
                   inputs=_xs((3, 4), (3, 4))),
        ModuleInfo(name="Concat", ctor=nn.Concat, torch_ctor=_tx("Concat"),
                   inputs=_xs((3, 2), (3, 4))),
        ModuleInfo(name="Concat(axis=0)", ctor=lambda: nn.Concat(axis=0),
                   torch_ctor=_tx("Concat", axis=0), inputs=_xs((2, 3), (1, 3), (3, 3))),
        ModuleInfo(name="Sequential",
                   ctor=_perturbed(lambda: nn.Sequential(
                       nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Dropout(0.3),
                       nn.Linear(5, 3))),
                   torch_ctor=lambda: _tm().nn.Sequential(
                       _tm().nn.Linear(4, 5), _tm().nn.BatchNorm1d(5), _tm().nn.Tanh(),
                       _torch_extras().Dropout(0.3), _tm().nn.Linear(5, 3)),
                   inputs=_x((4, 4)), random=True),
        ModuleInfo(name="Graph[skip connection]", ctor=_skip_graph,
                   torch_ctor=_tx("SkipGraph"), inputs=_x((3, 4))),
        ModuleInfo(name="Graph[two inputs, two outputs]", ctor=_two_head_graph,
                   torch_ctor=_tx("TwoHeadGraph"), inputs=_xs((3, 3), (3, 2))),
        ModuleInfo(name="ModuleList", ctor=_ListNet, torch_ctor=_tx("ListNet"),
                   inputs=_x((2, 3)), covers=(nn.ModuleList,)),
        ModuleInfo(name="ModuleDict", ctor=_DictNet, torch_ctor=_tx("DictNet"),
                   inputs=_x((2, 3)), covers=(nn.ModuleDict,)),
        ModuleInfo(name="ParameterList+ParameterDict", ctor=_ParamNet,
                   torch_ctor=_tx("ParamNet"), inputs=_x((2, 3)),
                   covers=(nn.ParameterList, nn.ParameterDict)),
    ]  # fmt: skip


# ---- modules other helpers are adding (conv, pooling, recurrent) ------------------------------


def _nn(name: str) -> Any:
    """``chainrule.nn.<name>`` (a class other helpers may not have exported yet)."""
    return getattr(nn, name)


def _exported(*names: str) -> bool:
    return all(isinstance(getattr(nn, n, None), type) for n in names)


def _lazy(cls_name: str, shape: tuple, *args: Any, **kwargs: Any) -> Callable[[], Module]:
    """A constructor of ``nn.<cls_name>(*args, **kwargs)`` after its first call on zeros
    of ``shape`` (in float64): the regular module it has become."""

    def build() -> Module:
        m = _nn(cls_name)(*args, **kwargs).double()
        m(cr.tensor(np.zeros(shape)))
        return m

    return build


def _lazy_entries() -> list[ModuleInfo]:
    def entry(name: str, shape: tuple, tname: str, targs: tuple, args: tuple, kwargs: dict,
              inputs: Callable, ctor_wrap: Callable = lambda c: c) -> ModuleInfo:  # fmt: skip
        return ModuleInfo(name=name, ctor=ctor_wrap(_lazy(name, shape, *args, **kwargs)),
                          torch_ctor=_tnn(tname, *targs, *args, **kwargs), inputs=inputs,
                          covers=(_nn(name),))  # fmt: skip

    return [
        entry("LazyLinear", (1, 3), "Linear", (3,), (2,), {}, _x((4, 3), (3,))),
        entry("LazyConv1d", (1, 2, 5), "Conv1d", (2,), (3, 3), {"padding": 1},
              _x((2, 2, 5), (2, 4))),
        entry("LazyConv2d", (1, 2, 4, 4), "Conv2d", (2,), (3, 3), {"padding": 1},
              _x((2, 2, 4, 4))),
        entry("LazyConv3d", (1, 2, 3, 3, 3), "Conv3d", (2,), (2, 2), {}, _x((1, 2, 3, 3, 3))),
        entry("LazyConvTranspose1d", (1, 2, 4), "ConvTranspose1d", (2,), (3, 3), {"stride": 2},
              _x((2, 2, 4))),
        entry("LazyConvTranspose2d", (1, 2, 3, 3), "ConvTranspose2d", (2,), (3, 3), {},
              _x((2, 2, 3, 3))),
        entry("LazyConvTranspose3d", (1, 2, 2, 2, 2), "ConvTranspose3d", (2,), (2, 2), {},
              _x((1, 2, 2, 2, 2))),
        entry("LazyBatchNorm1d", (2, 3), "BatchNorm1d", (3,), (), {}, _x((4, 3), (3, 3, 2)),
              _perturbed),
        entry("LazyBatchNorm2d", (2, 3, 2, 2), "BatchNorm2d", (3,), (), {}, _x((2, 3, 3, 3)),
              _perturbed),
        entry("LazyBatchNorm3d", (2, 3, 2, 2, 2), "BatchNorm3d", (3,), (), {},
              _x((2, 3, 2, 2, 2)), _perturbed),
        # PyTorch's lazy instance norms default to affine=True, track_running_stats=True
        entry("LazyInstanceNorm1d", (2, 3, 4), "InstanceNorm1d", (3,), (),
              {"affine": True, "track_running_stats": True}, _x((2, 3, 5)), _perturbed),
        entry("LazyInstanceNorm2d", (2, 3, 3, 3), "InstanceNorm2d", (3,), (),
              {"affine": True, "track_running_stats": True}, _x((2, 3, 3, 3)), _perturbed),
        entry("LazyInstanceNorm3d", (2, 3, 2, 2, 2), "InstanceNorm3d", (3,), (),
              {"affine": True, "track_running_stats": True}, _x((2, 3, 2, 2, 3)), _perturbed),
    ]  # fmt: skip


def _optional() -> list[ModuleInfo]:
    """Entries for modules that join ``chainrule.nn`` separately: each group is in the table
    as soon as ``chainrule.nn`` exports its classes (PyTorch's constructor arguments)."""
    out: list[ModuleInfo] = []
    if _exported("Conv1d", "Conv2d"):
        out += [
            _same("Conv2d", _nn("Conv2d"), "Conv2d", 2, 3, 3, padding=1,
                  inputs=_x((2, 2, 4, 4), (2, 3, 3))),
            _same("Conv2d[stride, dilation, groups]", _nn("Conv2d"), "Conv2d", 4, 2,
                  (2, 3), stride=2, padding=(1, 0), dilation=(1, 2), groups=2, bias=False,
                  inputs=_x((1, 4, 5, 6))),
            _same("Conv1d", _nn("Conv1d"), "Conv1d", 2, 3, 3, stride=2, padding=1,
                  inputs=_x((2, 2, 5), (2, 4))),
            _same("Conv2d[padding_mode=reflect]", _nn("Conv2d"), "Conv2d", 2, 3, (3, 2),
                  padding=(2, 1), padding_mode="reflect", inputs=_x((1, 2, 4, 5), (2, 3, 4))),
            _same("Conv2d[padding='same', replicate]", _nn("Conv2d"), "Conv2d", 2, 2, (2, 3),
                  padding="same", dilation=(2, 1), padding_mode="replicate",
                  inputs=_x((1, 2, 4, 4))),
            _same("Conv1d[padding_mode=circular]", _nn("Conv1d"), "Conv1d", 2, 3, 3, stride=2,
                  padding=2, padding_mode="circular", inputs=_x((2, 2, 5), (2, 3))),
        ]  # fmt: skip
    if _exported("Conv3d"):
        out += [
            _same("Conv3d", _nn("Conv3d"), "Conv3d", 2, 3, (2, 3, 2), padding=(1, 1, 0),
                  inputs=_x((1, 2, 3, 4, 3), (2, 2, 3, 3))),
            _same("Conv3d[stride, dilation, groups]", _nn("Conv3d"), "Conv3d", 4, 2, 2,
                  stride=(2, 1, 2), padding=(0, 1, 1), dilation=(1, 2, 1), groups=2, bias=False,
                  inputs=_x((1, 4, 3, 4, 4))),
            _same("Conv3d[padding='same', circular]", _nn("Conv3d"), "Conv3d", 2, 2, (2, 3, 2),
                  padding="same", padding_mode="circular", inputs=_x((1, 2, 3, 3, 3))),
        ]  # fmt: skip
    if _exported("MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d"):
        out += [
            _same("MaxPool3d", _nn("MaxPool3d"), "MaxPool3d", 2,
                  inputs=_x((1, 2, 3, 4, 4), (2, 2, 3, 3)), domain=distinct(0.05)),
            _same("MaxPool3d((3, 2, 3), stride=2, padding=1, ceil_mode)", _nn("MaxPool3d"),
                  "MaxPool3d", (3, 2, 3), stride=2, padding=(1, 0, 1), ceil_mode=True,
                  inputs=_x((1, 2, 4, 3, 4)), domain=distinct(0.05)),
            _same("MaxPool3d(2, stride=1, dilation=(2, 1, 1))", _nn("MaxPool3d"), "MaxPool3d",
                  2, stride=1, dilation=(2, 1, 1), inputs=_x((1, 2, 3, 3, 3)),
                  domain=distinct(0.05)),
            _same("AvgPool3d", _nn("AvgPool3d"), "AvgPool3d", 2, inputs=_x((1, 2, 3, 4, 4))),
            _same("AvgPool3d(3, stride=2, padding=1, ceil_mode, count_include_pad=False)",
                  _nn("AvgPool3d"), "AvgPool3d", 3, stride=2, padding=1, ceil_mode=True,
                  count_include_pad=False, inputs=_x((1, 2, 4, 3, 4), (2, 3, 3, 4))),
            _same("AvgPool3d(2, divisor_override=3)", _nn("AvgPool3d"), "AvgPool3d", 2,
                  padding=1, divisor_override=3, inputs=_x((1, 2, 3, 3, 2))),
            _same("AdaptiveAvgPool3d((2, None, 3))", _nn("AdaptiveAvgPool3d"),
                  "AdaptiveAvgPool3d", (2, None, 3), inputs=_x((1, 2, 3, 2, 4), (2, 5, 2, 2))),
        ]  # fmt: skip
    if _exported("ConvTranspose3d", "AdaptiveMaxPool3d", "LPPool3d"):
        out += [
            _same("ConvTranspose3d", _nn("ConvTranspose3d"), "ConvTranspose3d", 2, 3, (2, 3, 2),
                  stride=(2, 1, 2), padding=(1, 1, 0), output_padding=(1, 0, 1),
                  inputs=_x((1, 2, 2, 3, 2), (2, 2, 2, 2))),
            _same("ConvTranspose3d[groups, dilation]", _nn("ConvTranspose3d"),
                  "ConvTranspose3d", 4, 2, 2, stride=(1, 2, 1), padding=(0, 1, 1), groups=2,
                  dilation=(2, 1, 1), bias=False, inputs=_x((1, 4, 2, 2, 3))),
            _same("AdaptiveMaxPool3d((2, None, 3))", _nn("AdaptiveMaxPool3d"),
                  "AdaptiveMaxPool3d", (2, None, 3), inputs=_x((1, 2, 3, 2, 5), (2, 5, 2, 4)),
                  domain=distinct(0.05)),
            _same("LPPool3d(2, (2, 2, 1))", _nn("LPPool3d"), "LPPool3d", 2, (2, 2, 1),
                  inputs=_positive((1, 2, 4, 3, 2), (2, 2, 4, 3))),
            _same("LPPool3d(1.5, 2, stride=1, ceil_mode)", _nn("LPPool3d"), "LPPool3d", 1.5, 2,
                  stride=1, ceil_mode=True, inputs=_positive((1, 2, 3, 3, 2))),
        ]  # fmt: skip
    if _exported("Upsample"):
        out += [
            _same("Upsample(scale_factor=2)", _nn("Upsample"), "Upsample", scale_factor=2,
                  inputs=_x((2, 2, 3, 2), (1, 2, 3))),
            _same("Upsample[bilinear, align_corners]", _nn("Upsample"), "Upsample",
                  size=(4, 5), mode="bilinear", align_corners=True, inputs=_x((1, 2, 3, 3))),
            _same("Upsample[linear]", _nn("Upsample"), "Upsample", scale_factor=1.5,
                  mode="linear", inputs=_x((2, 2, 4))),
        ]  # fmt: skip
    if _exported("ConvTranspose1d", "ConvTranspose2d"):
        out += [
            _same("ConvTranspose2d", _nn("ConvTranspose2d"), "ConvTranspose2d", 2, 3, 3,
                  stride=2, padding=1, output_padding=1, inputs=_x((2, 2, 3, 3), (2, 2, 3))),
            _same("ConvTranspose2d[groups, dilation]", _nn("ConvTranspose2d"),
                  "ConvTranspose2d", 4, 2, (2, 3), stride=(1, 2), padding=(1, 0), groups=2,
                  dilation=(2, 1), bias=False, inputs=_x((1, 4, 3, 2))),
            _same("ConvTranspose1d", _nn("ConvTranspose1d"), "ConvTranspose1d", 2, 3, 3,
                  stride=2, output_padding=1, inputs=_x((2, 2, 4), (2, 3))),
        ]  # fmt: skip
    if _exported("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"):
        out += [
            _same("MaxPool2d", _nn("MaxPool2d"), "MaxPool2d", 2,
                  inputs=_x((2, 2, 4, 4), (1, 3, 3)), domain=distinct(0.05)),
            _same("MaxPool2d(3, stride=2, padding=1)", _nn("MaxPool2d"), "MaxPool2d", 3,
                  stride=2, padding=1, inputs=_x((1, 2, 5, 5)), domain=distinct(0.05)),
            _same("AvgPool2d", _nn("AvgPool2d"), "AvgPool2d", 2,
                  inputs=_x((2, 2, 4, 4))),
            _same("AvgPool2d(3, stride=2, padding=1)", _nn("AvgPool2d"), "AvgPool2d",
                  3, stride=2, padding=1, count_include_pad=False, inputs=_x((1, 2, 5, 5))),
            _same("MaxPool2d(3, stride=2, ceil_mode=True)", _nn("MaxPool2d"), "MaxPool2d", 3,
                  stride=2, ceil_mode=True, inputs=_x((1, 2, 6, 6)), domain=distinct(0.05)),
            _same("AvgPool2d(3, stride=2, padding=1, ceil_mode=True)", _nn("AvgPool2d"),
                  "AvgPool2d", 3, stride=2, padding=1, ceil_mode=True, inputs=_x((1, 2, 6, 6))),
            _same("AdaptiveAvgPool2d((2, 3))", _nn("AdaptiveAvgPool2d"), "AdaptiveAvgPool2d",
                  (2, 3), inputs=_x((2, 2, 5, 7), (2, 4, 4))),
            _same("AvgPool2d(2, divisor_override=3)", _nn("AvgPool2d"), "AvgPool2d", 2,
                  divisor_override=3, inputs=_x((1, 2, 4, 4))),
        ]  # fmt: skip
    if _exported("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"):
        rnn, lstm, gru = _nn("RNN"), _nn("LSTM"), _nn("GRU")

        def seq(*extra: tuple) -> Callable[[np.random.Generator], list[Sample]]:
            # x (T=3, B=2, F=2) and the given initial states
            return lambda rng: [Sample((_r(rng, (3, 2, 2)), *(_r(rng, s) for s in extra)))]

        def lstm_seq(rng: np.random.Generator) -> list[Sample]:
            return [Sample((_r(rng, (2, 3, 2)), (_r(rng, (2, 2, 3)), _r(rng, (2, 2, 3)))))]

        out += [
            _same("RNN", rnn, "RNN", 2, 3, inputs=seq((1, 2, 3))),
            _same("RNN[relu, 2 layers, batch_first]", rnn, "RNN", 2, 3, num_layers=2,
                  nonlinearity="relu", batch_first=True, inputs=_x((2, 3, 2))),
            _same("LSTM", lstm, "LSTM", 2, 3, inputs=_x((3, 2, 2), (3, 2))),
            _same("LSTM[2 layers, batch_first, (h0, c0)]", lstm, "LSTM", 2, 3, num_layers=2,
                  batch_first=True, inputs=lstm_seq),
            _same("GRU", gru, "GRU", 2, 3, inputs=seq((1, 2, 3))),
            _same("GRU[bidirectional]", gru, "GRU", 2, 3, bidirectional=True,
                  inputs=_x((3, 2, 2))),
            # cells: one step; input (B, F) or (F,), states optional
            _same("RNNCell", _nn("RNNCell"), "RNNCell", 2, 3,
                  inputs=lambda rng: [Sample((_r(rng, (2, 2)), _r(rng, (2, 3)))),
                                      Sample((_r(rng, (2,)),), note="unbatched, no state")]),
            _same("RNNCell[relu, bias=False]", _nn("RNNCell"), "RNNCell", 2, 3, bias=False,
                  nonlinearity="relu", inputs=_x((2, 2))),
            _same("LSTMCell", _nn("LSTMCell"), "LSTMCell", 2, 3,
                  inputs=lambda rng: [Sample((_r(rng, (2, 2)), (_r(rng, (2, 3)), _r(rng, (2, 3))))),
                                      Sample((_r(rng, (2,)),), note="unbatched, no state")]),
            _same("GRUCell", _nn("GRUCell"), "GRUCell", 2, 3,
                  inputs=lambda rng: [Sample((_r(rng, (2, 2)), _r(rng, (2, 3)))),
                                      Sample((_r(rng, (2,)), _r(rng, (3,))), note="unbatched")]),
            # dropout between layers: torch draws its own masks, so torch only in eval
            _same("LSTM[dropout=0.5]", lstm, "LSTM", 2, 3, num_layers=2, dropout=0.5,
                  inputs=_x((3, 2, 2)), random=True, skip={"torch": ("train",)}),
        ]  # fmt: skip
    if _exported("LPPool2d", "MaxUnpool2d", "LocalResponseNorm", "MultiLabelMarginLoss"):
        out += _pools_and_channels()
    if _exported("LazyLinear"):
        out += _lazy_entries()
    return out


def _positive(*shapes: tuple) -> Callable[[np.random.Generator], list[Sample]]:
    """One single-input sample per shape, entries in [0.1, ...) (real powers of any order)."""
    return lambda rng: [Sample((np.abs(_r(rng, s)) + 0.1,)) for s in shapes]


def _unpool_samples(nd: int, k: Any, shapes: tuple, output_size: Any = None) -> Callable:
    """Values of a pooled shape and the indices of a max pool (windows apart, so no index
    repeats) of a random input of each shape, with ``output_size`` as a keyword."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        kw = {} if output_size is None else {"output_size": output_size}
        return [Sample(_pooled_and_indices(rng, nd, shape, k), kw) for shape in shapes]

    return gen


def _multilabel_margin_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (4, 5)), _multilabel_targets(rng, 4, 5))),
            Sample((_r(rng, (5,)), np.array([2, 0, -1, 4, 4])), note="unbatched")]  # fmt: skip


def _pools_and_channels() -> list[ModuleInfo]:
    """Pooling, unpooling, channel and random modules made of functional compositions."""
    positive = _positive((2, 2, 5, 4), (2, 5, 4))
    return [
        _same("LPPool2d(2, (2, 3))", _nn("LPPool2d"), "LPPool2d", 2, (2, 3), inputs=positive),
        _same("LPPool2d(1.5, 2, stride=1, ceil_mode)", _nn("LPPool2d"), "LPPool2d", 1.5, 2,
              stride=1, ceil_mode=True, inputs=positive),
        _same("LPPool1d(3, 2)", _nn("LPPool1d"), "LPPool1d", 3, 2,
              inputs=_positive((2, 3, 5), (3, 4))),
        _same("MaxUnpool2d(2)", _nn("MaxUnpool2d"), "MaxUnpool2d", 2,
              inputs=_unpool_samples(2, 2, ((2, 2, 4, 6), (2, 4, 4)))),
        _same("MaxUnpool2d((2, 3)) with output_size", _nn("MaxUnpool2d"), "MaxUnpool2d",
              (2, 3), inputs=_unpool_samples(2, (2, 3), ((1, 2, 5, 7),), (5, 7))),
        _same("MaxUnpool1d(2)", _nn("MaxUnpool1d"), "MaxUnpool1d", 2,
              inputs=_unpool_samples(1, 2, ((2, 3, 6), (3, 6)))),
        _same("MaxUnpool3d(2)", _nn("MaxUnpool3d"), "MaxUnpool3d", 2,
              inputs=_unpool_samples(3, 2, ((1, 2, 4, 4, 2), (2, 2, 4, 4)))),
        _same("ChannelShuffle(3)", _nn("ChannelShuffle"), "ChannelShuffle", 3,
              inputs=_x((2, 6, 2, 2), (1, 6, 3))),
        _same("LocalResponseNorm(3)", _nn("LocalResponseNorm"), "LocalResponseNorm", 3,
              alpha=0.5, beta=0.7, k=1.5, inputs=_x((2, 5, 3, 2), (2, 4, 3))),
        _same("Softmax2d", _nn("Softmax2d"), "Softmax2d", inputs=_x((2, 3, 2, 2), (3, 2, 4))),
        _same("UpsamplingNearest2d", _nn("UpsamplingNearest2d"), "UpsamplingNearest2d",
              scale_factor=2, inputs=_x((1, 2, 3, 2))),
        _same("UpsamplingBilinear2d", _nn("UpsamplingBilinear2d"), "UpsamplingBilinear2d",
              size=(4, 5), inputs=_x((1, 2, 3, 3))),
        *_loss_entries(_nn("MultiLabelMarginLoss"), "MultiLabelMarginLoss",
                       _multilabel_margin_samples, domain=_multilabel_margins_apart),
        # random in training: torch draws its own numbers, so torch only in eval (the
        # functional table replays chainrule's draws in torch for training)
        _same("RReLU(0.1, 0.4)", _nn("RReLU"), "RReLU", 0.1, 0.4, inputs=_ACT,
              domain=away_from(0.0), random=True, skip={"torch": ("train",)}),
        _same("AlphaDropout(0.3)", _nn("AlphaDropout"), "AlphaDropout", 0.3,
              inputs=_x((3, 4)), random=True, skip={"torch": ("train",)}),
        _same("FeatureAlphaDropout(0.4)", _nn("FeatureAlphaDropout"), "FeatureAlphaDropout",
              0.4, inputs=_x((3, 4, 2)), random=True, skip={"torch": ("train",)}),
    ]  # fmt: skip


MODULES: list[ModuleInfo] = [*_core(), *_optional()]

_BY_NAME = {m.name: m for m in MODULES}
if len(_BY_NAME) != len(MODULES):  # pragma: no cover - a table edit mistake
    raise RuntimeError("duplicate names in the module oracle table")


def get_module(name: str) -> ModuleInfo:
    """The entry of :data:`MODULES` called ``name``."""
    return _BY_NAME[name]


# ---- the whole table, for the command line ------------------------------------------------


def run_modules(infos: Sequence[ModuleInfo] | None = None, checks: Sequence[str] | None = None,
                ) -> list[dict]:  # fmt: skip
    """Run ``checks`` (all by default) over every case of ``infos`` (the whole table by
    default). One row per entry: ``module``, ``cases`` (samples x modes), the max abs
    error per check (None where it did not apply), ``failures`` (messages), ``ok`` and
    ``seconds``."""
    names = list(checks or CHECKS)
    rows = []
    for info in MODULES if infos is None else infos:
        start = time.perf_counter()
        row: dict[str, Any] = {"module": info.name, "cases": 0, **dict.fromkeys(names),
                               "failures": []}  # fmt: skip
        for k, case in enumerate(info.cases()):
            row["cases"] += 1
            for name in names:
                try:
                    err = CHECKS[name](info, case)
                except Exception as exc:  # report every failure, keep going
                    row["failures"].append(
                        f"{name} case {k} ({case.describe()}): {type(exc).__name__}: {exc}"
                    )
                    continue
                if err is not None:
                    row[name] = err if row[name] is None else max(row[name], err)
        row["ok"] = not row["failures"]
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def format_modules(rows: Sequence[dict]) -> str:
    """``run_modules``' rows as a text table (``-`` where a check did not apply)."""
    names = [k for k in CHECKS if any(k in r for r in rows)]
    header = ["module", "cases", *names, "status"]
    lines = [header]
    for r in rows:
        cells = [r["module"], str(r["cases"])]
        cells += ["-" if r.get(n) is None else f"{r[n]:.1e}" for n in names]
        cells.append("ok" if r["ok"] else f"FAIL ({len(r['failures'])})")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    failures = [f"{r['module']}: {msg}" for r in rows for msg in r["failures"]]
    return "\n".join(out + ([""] + failures if failures else []))


def exported_module_classes() -> set[type]:
    """Every concrete Module subclass that ``chainrule.nn`` exports (not Module itself)."""
    return {
        obj for name in dir(nn) if not name.startswith("_")
        for obj in [getattr(nn, name)]
        if isinstance(obj, type) and issubclass(obj, Module) and obj is not Module
    }  # fmt: skip


__all__ = [
    "CHECKS", "MODES", "MODULES", "ModuleCase", "ModuleInfo", "check_backward",
    "check_fwd_rev", "check_input_jacobian", "check_param_jacobian", "check_torch",
    "copy_state", "exported_module_classes", "format_modules", "get_module", "run_modules",
]  # fmt: skip
