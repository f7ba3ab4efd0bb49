"""grad, value_and_grad, vjp, jvp, jacobian, jacrev, jacfwd, hessian: small functions over
one engine.

Reverse-mode transforms run ``f`` once while recording, then ask the engine for the
gradients with respect to the arguments only (nothing accumulates in ``.grad``). When an
argument is already tracked by an enclosing transform, the backward pass is recorded too
(``create_graph``), which is how ``grad(grad(f))`` and ``hessian`` work.

``jvp`` is true forward mode: one pass of ``f`` with tangents riding along each op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import backend, ops
from chainrule.autograd import engine
from chainrule.autograd.mode import enable_grad, state
from chainrule.errors import DTypeError, GraphError, IndexingError, ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, to_array, wrap


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _track(args: Sequence[Any], argnums: Sequence[int]) -> tuple[list, bool]:
    """Arguments with the differentiated ones made tracked tensors; and whether an
    enclosing computation already tracks one of them (then the backward is recorded)."""
    args = list(args)
    nested = False
    for i in argnums:
        if not 0 <= i < len(args):
            raise IndexingError(f"argnums {i} is out of range for {len(args)} arguments")
        a = args[i]
        if isinstance(a, Tensor) and a._tangent is not None and state.forward_active:
            raise GraphError(
                "reverse mode inside jvp (forward-over-reverse) is not supported; "
                "use hessian() or jacobian(..., mode='rev') for second derivatives"
            )
        if isinstance(a, Tensor) and a.requires_grad and state.grad_enabled:
            nested = True
            continue
        t = wrap(to_array(a))
        if t.dtype.kind not in "fc":
            raise DTypeError(
                f"cannot differentiate with respect to argument {i} of dtype {t.dtype}"
            )
        t.requires_grad = True
        args[i] = t
    return args, nested


def check_outputs(name: str, out: Any) -> None:
    """``f``'s result must be a Tensor or a tuple/list of them (a NumPy array or a number
    has left the graph: its derivative would silently read as zero)."""
    for o in out if isinstance(out, (tuple, list)) else (out,):
        if not isinstance(o, Tensor):
            raise ShapeError(
                f"{name}: f must return a Tensor or a tuple of Tensors, got {type(o).__name__} "
                "(compute the result with chainrule ops; .numpy() and .item() leave the graph)"
            )


def _gradients(outs: Sequence[Tensor], cts: Sequence[Any], inputs: list, nested: bool) -> list:
    roots, grads = [], []
    for o, c in zip(outs, cts):
        if isinstance(o, Tensor) and o.requires_grad:
            roots.append(o)
            grads.append(c)
    got = [None] * len(inputs)
    if roots:
        got = engine.backward(roots, grads, retain_graph=True, create_graph=nested, inputs=inputs)
    return [g if g is not None else wrap(backend.array_module(x.data).zeros_like(x.data))
            for g, x in zip(got, inputs)]  # fmt: skip


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """A function returning ``(f(*args), df/d args[argnums])``; ``f`` must return a scalar."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def value_and_grad_f(*args: Any) -> tuple:
        targs, nested = _track(args, nums)
        with enable_grad():
            out = f(*targs)
        if not isinstance(out, Tensor) or out.size != 1:
            shape = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise ShapeError(f"grad needs f to return a one-element Tensor, got {shape}")
        grads = _gradients([out], [None], [targs[i] for i in nums], nested)
        value = out if nested else out.detach()
        return value, grads[0] if isinstance(argnums, int) else tuple(grads)

    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient function of a scalar ``f``: ``grad(f)(x)`` is df/dx, shaped like x."""
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return vg(*args)[1]

    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` is the tuple of
    cotangent-Jacobian products, one per primal. ``vjp_fn`` may be called many times."""
    return vjp_named("vjp", f, *primals)


def vjp_named(name: str, f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """:func:`vjp`, with errors about ``f``'s result naming ``name`` (the caller)."""
    targs, nested = _track(primals, range(len(primals)))
    with enable_grad():
        out = f(*targs)
    check_outputs(name, out)
    outs = _as_tuple(out)

    def vjp_fn(cotangent: Any) -> tuple:
        cts = _as_tuple(cotangent) if isinstance(out, (tuple, list)) else (cotangent,)
        if len(cts) != len(outs):
            raise ShapeError(f"vjp: {len(cts)} cotangents for {len(outs)} outputs")
        for o, c in zip(outs, cts):
            if tuple(np.shape(c.data if isinstance(c, Tensor) else c)) != o.shape:
                raise ShapeError(f"vjp: cotangent shape {np.shape(c)} != output shape {o.shape}")
        deep = nested or any(isinstance(c, Tensor) and c.requires_grad for c in cts)
        return tuple(_gradients(outs, cts, targs, deep))

    value = out if nested else _detach_all(out)
    return value, vjp_fn


def _detach_all(out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return type(out)(o.detach() if isinstance(o, Tensor) else o for o in out)
    return out.detach() if isinstance(out, Tensor) else out


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """Forward mode: ``(f(*primals), J @ tangents)`` in one pass of ``f``, no backward pass."""
    return jvp_named("jvp", f, primals, tangents)


def jvp_named(name: str, f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """:func:`jvp`, with errors about ``f``'s result naming ``name`` (the caller)."""
    if state.forward_active:
        raise GraphError("nested jvp (forward-over-forward) is not supported")
    primals, tangents = _as_tuple(primals), _as_tuple(tangents)
    if len(primals) != len(tangents):
        raise ShapeError(f"jvp: {len(tangents)} tangents for {len(primals)} primals")
    args = []
    for i, (p, t) in enumerate(zip(primals, tangents)):
        x = p if isinstance(p, Tensor) else wrap(to_array(p))
        tv = backend.to_device_of(to_array(t), x.data)
        if tv.shape != x.shape:
            raise ShapeError(f"jvp: tangent {i} has shape {tv.shape}, primal has {x.shape}")
        x = wrap(x.data, x.requires_grad, x._node, x._index) if x.requires_grad else wrap(x.data)
        x._tangent = tv.astype(x.dtype, copy=False)
        args.append(x)
    state.forward_active = True
    try:
        out = f(*args)
    finally:
        state.forward_active = False
    check_outputs(name, out)
    outs = _as_tuple(out)
    touts = []
    for o in outs:
        t = o._tangent
        o._tangent = None
        touts.append(wrap(t if t is not None else backend.array_module(o.data).zeros_like(o.data)))
    if isinstance(out, (tuple, list)):
        return _detach_all(out), type(out)(touts)
    return out.detach(), touts[0]


def jacobian(f: Callable, x: Any, mode: str = "rev") -> Tensor:
    """The Jacobian of ``f`` at ``x``, shaped ``f(x).shape + x.shape``.

    ``mode="rev"`` builds it row by row with vjp (cheap for few outputs); ``mode="fwd"``
    column by column with jvp (cheap for few inputs). Both give the same matrix.
    """
    if mode not in ("rev", "fwd"):
        raise ArgumentError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    x = x if isinstance(x, Tensor) else wrap(to_array(x))
    if mode == "rev":
        out, vjp_fn = vjp_named("jacobian", f, x)
        xp = backend.array_module(out.data)
        rows = []
        for i in range(out.size):
            ct = xp.zeros(out.size, dtype=out.dtype)
            ct[i] = 1
            rows.append(vjp_fn(wrap(ct.reshape(out.shape)))[0])
        if not rows:
            return wrap(xp.zeros(out.shape + x.shape, dtype=x.dtype))
        return ops.reshape(ops.stack(rows), out.shape + x.shape)
    xp = backend.array_module(x.data)
    cols = []
    out = None
    for j in range(x.size):
        t = xp.zeros(x.size, dtype=x.dtype)
        t[j] = 1
        out, col = jvp_named("jacobian", f, (x,), (t.reshape(x.shape),))
        cols.append(col.data.reshape(-1))
    if out is None:
        out = f(x)
        check_outputs("jacobian", out)
    jac = xp.stack(cols, axis=-1) if cols else xp.zeros((out.size, 0), dtype=out.dtype)
    return wrap(jac.reshape(out.shape + x.shape))


def _jacobian_function(name: str, f: Callable, argnums: int | Sequence[int],
                       mode: str) -> Callable:  # fmt: skip
    """``jacrev`` / ``jacfwd``: a function of ``f``'s arguments returning the Jacobian of
    ``f`` in ``args[argnums]`` (a tuple of them for a sequence of argnums)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    def jac(*args: Any) -> Any:
        if not all(isinstance(k, int) and -len(args) <= k < len(args) for k in nums):
            raise ArgumentError(f"{name}: argnums {argnums!r} out of range for {len(args)} "
                                "arguments")  # fmt: skip
        out = []
        for k in (k % len(args) for k in nums):

            def of_one(xk: Any, k: int = k) -> Any:
                return f(*args[:k], xk, *args[k + 1 :])

            out.append(jacobian(of_one, args[k], mode=mode))
        return out[0] if isinstance(argnums, int) else tuple(out)

    return jac


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """``jacrev(f, argnums)(*args)``: the Jacobian of ``f`` in ``args[argnums]`` by reverse
    mode, shaped ``f(*args).shape + args[argnums].shape`` (JAX's and ``torch.func``'s
    ``jacrev``; a tuple of Jacobians for a sequence of argnums). Cheap for few outputs."""
    return _jacobian_function("jacrev", f, argnums, "rev")


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """:func:`jacrev` by forward mode, one jvp per input element: cheap for few inputs."""
    return _jacobian_function("jacfwd", f, argnums, "fwd")


def hessian(f: Callable, x: Any) -> Tensor:
    """The Hessian of a scalar ``f`` at ``x`` (reverse over reverse), shaped ``x.shape * 2``."""
    return jacobian(grad(f), x, mode="rev")
