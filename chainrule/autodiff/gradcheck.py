"""gradcheck: reverse mode, forward mode and central differences must agree (float64).

For small inputs the whole Jacobian is compared entry by entry; for large ones, random
projections ``u^T J v`` (one vjp, one jvp and two evaluations of ``f`` each). The probe
vectors and the comparison live on the host (NumPy); ``f`` runs on its inputs' device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autodiff.transforms import check_outputs, jvp_named, vjp, vjp_named
from chainrule.autograd.mode import no_grad
from chainrule.errors import GradcheckError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, wrap

FULL_JACOBIAN_LIMIT = 4096  # compare entry by entry when inputs x outputs stays below this
RANDOM_DIRECTIONS = 6


def _flat_outputs(out: Any) -> np.ndarray:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    arrays = [o.data if isinstance(o, Tensor) else o for o in outs]
    return np.concatenate([_host(a).ravel() for a in arrays])


def _host(a: Any) -> np.ndarray:
    return np.asarray(backend.to_device(a, "cpu") if backend.is_array(a) else a, np.float64)


def _prepare(inputs: Any, name: str = "gradcheck") -> tuple[list, list]:
    """Inputs as float64 tensors, and which of them to check (those that require grad,
    or every floating one when none does); an error when there is none to check."""
    xs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    out = []
    for x in xs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            t = wrap(x.data.astype(np.float64))
            t.requires_grad = x.requires_grad
            out.append(t)
        else:
            out.append(x)
    floats = [i for i, x in enumerate(out) if isinstance(x, Tensor) and x.dtype.kind == "f"]
    wanted = [i for i in floats if out[i].requires_grad] or floats
    if not wanted:
        got = ", ".join(
            f"{x.dtype} Tensor" if isinstance(x, Tensor) else type(x).__name__ for x in xs
        )
        raise ArgumentError(
            f"{name}: no floating-point Tensor among the inputs to check (got {got or 'none'}); "
            "pass them as float Tensors, e.g. cr.tensor(x, dtype=cr.float64)"
        )
    for i in floats:
        out[i].requires_grad = False
    return out, wanted


class _Problem:
    """f at fixed inputs, seen as a function of input ``i`` alone."""

    def __init__(self, f: Callable, xs: list, i: int) -> None:
        self.f, self.xs, self.i = f, xs, i
        self.x0 = xs[i].data

    def call(self, xi: np.ndarray) -> np.ndarray:
        with no_grad():
            return _flat_outputs(self.only_i(wrap(xi)))

    def numeric(self, v: np.ndarray, eps: float) -> np.ndarray:
        v = backend.to_device_of(v, self.x0)
        return (self.call(self.x0 + eps * v) - self.call(self.x0 - eps * v)) / (2 * eps)

    def only_i(self, xi: Tensor) -> Any:
        args = list(self.xs)
        args[self.i] = xi
        return self.f(*args)

    def forward(self, v: np.ndarray) -> np.ndarray:
        _, tout = jvp_named("gradcheck", self.only_i, (wrap(self.x0),), (v,))
        return _flat_outputs(tout)

    def reverse_fn(self) -> tuple[Callable, list]:
        out, vjp_fn = vjp_named("gradcheck", self.only_i, wrap(self.x0))
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        shapes = [o.shape for o in outs]

        def reverse(u: np.ndarray) -> np.ndarray:
            cts, k = [], 0
            for s in shapes:
                n = int(np.prod(s))
                cts.append(wrap(backend.to_device_of(u[k : k + n].reshape(s), self.x0)))
                k += n
            (g,) = vjp_fn(tuple(cts) if isinstance(out, (tuple, list)) else cts[0])
            return _host(g.data).ravel()

        return reverse, shapes


def gradcheck(
    f: Callable,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    check_forward: bool = True,
    seed: int = 0,
) -> bool:
    """Check ``f``'s derivatives at ``inputs``; returns True or raises GradcheckError.

    Floating inputs are promoted to float64. Only inputs that require grad are checked
    (all floating ones when none does); with no floating Tensor among ``inputs`` it raises
    ``ArgumentError`` rather than pass vacuously.
    """
    xs, wanted = _prepare(inputs)
    rng = np.random.default_rng(seed)
    for i in wanted:
        prob = _Problem(f, xs, i)
        reverse, shapes = prob.reverse_fn()
        n_in = prob.x0.size
        n_out = int(sum(int(np.prod(s)) for s in shapes))
        if n_in * n_out <= FULL_JACOBIAN_LIMIT:
            _check_full(prob, reverse, n_in, n_out, eps, atol, rtol, check_forward)
        else:
            _check_random(prob, reverse, n_out, eps, atol, rtol, check_forward, rng)
    return True


def _close(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    return np.abs(a - b) <= atol + rtol * np.abs(b)


def _check_full(prob: _Problem, reverse: Callable, n_in: int, n_out: int, eps: float,
                atol: float, rtol: float, check_forward: bool) -> None:  # fmt: skip
    shape = prob.x0.shape
    num = np.zeros((n_out, n_in))
    fwd = np.zeros((n_out, n_in))
    for j in range(n_in):
        v = np.zeros(n_in)
        v[j] = 1
        v = v.reshape(shape)
        num[:, j] = prob.numeric(v, eps)
        if check_forward:
            fwd[:, j] = prob.forward(v)
    rev = np.zeros((n_out, n_in))
    for k in range(n_out):
        u = np.zeros(n_out)
        u[k] = 1
        rev[k] = reverse(u)
    if not check_forward:
        fwd = rev
    bad = ~(
        _close(rev, num, atol, rtol) & _close(fwd, num, atol, rtol) & _close(rev, fwd, atol, rtol)
    )
    if bad.any():
        k, j = np.argwhere(bad)[0]
        where = np.unravel_index(j, shape) if shape else ()
        raise GradcheckError(
            f"gradcheck failed for input {prob.i} at element {tuple(int(w) for w in where)}, "
            f"output element {int(k)}: reverse mode {rev[k, j]:.8g}, forward mode "
            f"{fwd[k, j]:.8g}, central differences {num[k, j]:.8g}"
        )


def _check_random(prob: _Problem, reverse: Callable, n_out: int, eps: float, atol: float,
                  rtol: float, check_forward: bool, rng: np.random.Generator) -> None:  # fmt: skip
    for d in range(RANDOM_DIRECTIONS):
        v = rng.standard_normal(prob.x0.shape)
        u = rng.standard_normal(n_out)
        num = float(u @ prob.numeric(v, eps))
        rev = float(reverse(u).reshape(-1) @ v.reshape(-1))
        fwd = float(u @ prob.forward(v)) if check_forward else rev
        vals = np.array([rev, fwd])
        if not _close(vals, np.array([num, num]), atol * np.sqrt(n_out), rtol).all():
            raise GradcheckError(
                f"gradcheck failed for input {prob.i} along random direction {d} "
                f"(u^T J v): reverse mode {rev:.8g}, forward mode {fwd:.8g}, "
                f"central differences {num:.8g}"
            )


def gradgradcheck(
    f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
    seed: int = 0,
) -> bool:  # fmt: skip
    """Check second derivatives: the map ``(inputs, u) -> vjp(f)(u)`` is itself checked
    (reverse over reverse against central differences of the first-order vjp)."""
    xs, wanted = _prepare(inputs, "gradgradcheck")
    rng = np.random.default_rng(seed)
    with no_grad():
        out = f(*xs)
    check_outputs("gradgradcheck", out)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    us = [wrap(backend.to_device_of(rng.standard_normal(o.shape), o.data)) for o in outs]
    n = len(xs)

    def first_order(*args: Any) -> tuple:
        primals, cts = list(args[:n]), args[n:]

        def fw(*ws: Any) -> Any:
            full = list(primals)
            for k, w in zip(wanted, ws):
                full[k] = w
            return f(*full)

        _, vjp_fn = vjp(fw, *(primals[k] for k in wanted))
        return vjp_fn(tuple(cts) if isinstance(out, (tuple, list)) else cts[0])

    for k in wanted:
        xs[k].requires_grad = True
    for u in us:
        u.requires_grad = True
    return gradcheck(first_order, (*xs, *us), eps=eps, atol=atol, rtol=rtol,
                     check_forward=False, seed=seed)  # fmt: skip
