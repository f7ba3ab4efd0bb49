"""The op oracle: a declarative table of chainrule's ops and generic checks run over it.

In the spirit of PyTorch's ``OpInfo`` and tinygrad's ``helper_test_op``, every built-in op
has one :class:`OpInfo` entry in :data:`OPS`: the chainrule call (``fn``), the same
computation in PyTorch (``torch_fn``) and in NumPy (``ref_fn``), a sample-input generator
(``inputs``) that covers the op's edge cases (broadcasting, size-1 and 0-d arrays, negative
axes, keepdims, batched and 1-D matmul, repeated indices, ...), a ``domain`` that keeps the
samples where the op is differentiable (positive for ``log``, away from kinks and ties for
``abs``, ``relu``, ``clip``, ``max``...), capability flags and tolerances.

The generic checks each take ``(op, sample)``, raise :class:`chainrule.GradcheckError` on
a mismatch and otherwise return the largest absolute error they saw (``None`` when the
check does not apply):

* :func:`check_gradcheck` -- ``cr.gradcheck`` (reverse, forward and central differences
  in float64); the error reported is reverse mode vs central differences;
* :func:`check_fwd_rev` -- ``cr.jacobian(mode="fwd")`` against ``mode="rev"``;
* :func:`check_gradgrad` -- ``cr.gradgradcheck``; the error reported is the Jacobian of
  the vjp (double backward) vs central differences of the vjp;
* :func:`check_torch` -- forward values and gradients (for a random cotangent) against
  PyTorch in float64; ``None`` when torch cannot be imported;
* :func:`check_reference` -- forward values against the NumPy reference.

**Adding an op to the table is enough to test it**: ``tests/test_oracle.py`` parametrizes
every check over ``OPS`` (and ``chainrule gradcheck`` prints :func:`run_table`), so a new
``OpInfo`` is gradchecked, forward-vs-reverse checked, double-backward checked and compared
with torch and NumPy without writing a test. Sample arguments are NumPy arrays: floating
ones become Tensors that are differentiated, others (bool masks, integer indices) pass to
``fn`` unchanged; per-sample keyword arguments (``axis=``, ``shape=``, ``index=``...) go
to ``fn``, ``torch_fn`` and ``ref_fn`` alike.

Neither torch nor hypothesis is imported here at module level; torch is imported lazily
by the torch check.
"""

from __future__ import annotations

import functools
import math
import operator
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.errors import GradcheckError
from chainrule.tensor import Tensor, wrap

Domain = Callable[[tuple], tuple]

# Tolerances for comparisons that should agree to rounding (fwd vs rev, torch, NumPy).
EXACT_ATOL = 1e-9
EXACT_RTOL = 1e-7


@dataclass(frozen=True, eq=False)
class Sample:
    """One set of arguments for an op: positional arrays and static keyword arguments."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    note: str = ""

    def describe(self) -> str:
        """A short label: the note, or the argument shapes and keyword arguments."""
        if self.note:
            return self.note
        shapes = ",".join(str(a.shape) if isinstance(a, np.ndarray) else repr(a) for a in self.args)
        kw = " ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        return f"{shapes} {kw}".strip()


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    if isinstance(v, tuple):
        return "(" + ",".join(_short(x) for x in v) + ")"
    return repr(v)


@dataclass(frozen=True, eq=False)
class OpInfo:
    """Everything the generic checks need to know about one op."""

    name: str
    fn: Callable[..., Any]
    inputs: Callable[[np.random.Generator], list]
    torch_fn: Callable[..., Any] | None = None
    ref_fn: Callable[..., Any] | None = None
    domain: Domain | None = None
    supports_fwd: bool = True  # has a jvp rule: forward mode is checked
    supports_gradcheck: bool = True  # numeric checks make sense (not for float32 casts)
    supports_double: bool = True  # double backward is checked
    eps: float = 1e-6
    atol: float = 1e-5
    rtol: float = 1e-3
    ref_atol: float = EXACT_ATOL
    ref_rtol: float = EXACT_RTOL

    def samples(self) -> list[Sample]:
        """The sample cases, drawn from a generator seeded by the op's name (deterministic),
        each mapped into the op's domain."""
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        out = []
        for case in self.inputs(rng):
            s = case if isinstance(case, Sample) else Sample(tuple(case))
            if self.domain is not None:
                s = replace(s, args=tuple(self.domain(s.args)))
            if any(isinstance(a, np.generic) for a in s.args):  # 0-d results of NumPy ops
                s = replace(s, args=tuple(np.asarray(a) if isinstance(a, np.generic) else a
                                          for a in s.args))  # fmt: skip
            out.append(s)
        return out


# ---- domains ------------------------------------------------------------------------------


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _map_floats(args: tuple, fn: Callable, which: Sequence[int] | None) -> tuple:
    return tuple(
        np.asarray(fn(a), dtype=a.dtype) if _is_float(a) and (which is None or i in which) else a
        for i, a in enumerate(args)
    )


def positive(low: float = 0.5, args: Sequence[int] | None = None) -> Domain:
    """Floating arguments (or those at positions ``args``) made ``>= low``."""

    def domain(xs: tuple) -> tuple:
        return _map_floats(xs, lambda a: low + np.abs(a), args)

    return domain


def bounded(limit: float, args: Sequence[int] | None = None) -> Domain:
    """Floating arguments squashed into ``(-limit, limit)`` (``limit * tanh(a)``), for
    functions defined or smooth only there (arcsin, arccos, tan)."""

    def domain(xs: tuple) -> tuple:
        return _map_floats(xs, lambda a: limit * np.tanh(a), args)

    return domain


def away_from(*points: float, margin: float = 0.1, args: Sequence[int] | None = None) -> Domain:
    """Values within ``margin`` of a kink in ``points`` pushed to ``margin`` from it."""

    def push(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        for p in points:
            d = a - p
            near = np.abs(d) < margin
            a[near] = p + np.where(d[near] >= 0, margin, -margin)
        return a

    def domain(xs: tuple) -> tuple:
        return _map_floats(xs, push, args)

    return domain


def distinct(gap: float = 0.1, args: Sequence[int] | None = None) -> Domain:
    """All floating arguments together made pairwise ``>= gap`` apart, keeping their order
    (no ties for max/min reductions, or between the two operands of maximum/minimum)."""

    def domain(xs: tuple) -> tuple:
        idx = [i for i, a in enumerate(xs) if _is_float(a) and (args is None or i in args)]
        if not idx:
            return xs
        flat = np.concatenate([xs[i].ravel() for i in idx])
        order = np.argsort(flat, kind="stable")
        vals = flat[order]
        for k in range(1, vals.size):
            vals[k] = max(vals[k], vals[k - 1] + gap)
        new = np.empty_like(flat)
        new[order] = vals
        out, start = list(xs), 0
        for i in idx:
            n = xs[i].size
            out[i] = new[start : start + n].reshape(xs[i].shape)
            start += n
        return tuple(out)

    return domain


def compose(*domains: Domain) -> Domain:
    """Apply domains left to right."""

    def domain(xs: tuple) -> tuple:
        return functools.reduce(lambda acc, d: d(acc), domains, xs)

    return domain


# ---- torch helpers (torch is imported lazily) --------------------------------------------


@functools.cache
def _torch_module() -> Any:
    try:
        import torch
    except Exception:  # ImportError, or a broken install
        return None
    return torch


def torch_available() -> bool:
    """Whether PyTorch can be imported (the torch check is skipped otherwise)."""
    return _torch_module() is not None


def _tm() -> Any:
    torch = _torch_module()
    if torch is None:
        raise ModuleNotFoundError("torch is not installed")
    return torch


def _to_torch(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _tm().from_numpy(x.copy())
    if isinstance(x, tuple):
        return tuple(_to_torch(v) for v in x)
    if isinstance(x, list):
        return [_to_torch(v) for v in x]
    return x


def _torch_dtype(dtype: Any) -> Any:
    return _tm().from_numpy(np.zeros(0, dtype=dtype)).dtype


def _dims(axis: Any, ndim: int) -> Any:
    return tuple(range(ndim)) if axis is None else axis


def _t_reduce(name: str) -> Callable[..., Any]:
    def fn(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        return getattr(_tm(), name)(x, dim=_dims(axis, x.ndim), keepdim=keepdims, **kw)

    return fn


def _t_var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return _tm().var(x, dim=_dims(axis, x.ndim), correction=ddof, keepdim=keepdims)


def _t_std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return _tm().std(x, dim=_dims(axis, x.ndim), correction=ddof, keepdim=keepdims)


def _t_flip(x: Any, axis: Any = None) -> Any:
    dims = tuple(range(x.ndim)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    return _tm().flip(x, dims)


def _t_roll(x: Any, shift: Any, axis: Any = None) -> Any:
    return _tm().roll(x, shift, axis)


def _np_vector_norm(x: np.ndarray, ord: float = 2, axis: Any = None,  # noqa: A002
                    keepdims: bool = False) -> np.ndarray:  # fmt: skip
    a = np.abs(x)
    if ord == math.inf:
        return a.max(axis=axis, keepdims=keepdims)
    return (a**ord).sum(axis=axis, keepdims=keepdims) ** (1 / ord)


def _t_vector_norm(x: Any, ord: float = 2, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    return _tm().linalg.vector_norm(x, ord=ord, dim=axis, keepdim=keepdims)


def _t_tile(x: Any, reps: Any) -> Any:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    return x.repeat(*((1,) * (x.ndim - len(reps)) + reps))


def _np_repeat(x: np.ndarray, repeats: int, axis: int | None = None) -> np.ndarray:
    return np.repeat(x, repeats, axis)


def _einsum(*operands: Any, spec: str) -> Any:
    return cr.einsum(spec, *operands)


def _np_einsum(*operands: Any, spec: str) -> Any:
    return np.einsum(spec, *operands)


def _t_einsum(*operands: Any, spec: str) -> Any:
    return _tm().einsum(spec, *operands)


def _einsum_inputs(rng: np.random.Generator) -> list[Sample]:
    """Products, contractions, transposes, an implicit output, a letter summed out by one
    operand alone, and broadcast (``...``) batch axes with a size-1 one."""
    specs = [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
             ("i,i->", [(4,), (4,)]), ("ij->ji", [(3, 4)]), ("ijk,k->ij", [(2, 3, 4), (4,)]),
             ("ij,jk", [(3, 4), (4, 2)]), ("i,j->ij", [(3,), (2,)]),
             ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 2, 4)]),
             ("...ij,...jk->...ik", [(2, 1, 3, 2), (3, 2, 4)]), ("ij,kj,lj->ikl",
             [(2, 3), (2, 3), (2, 3)])]  # fmt: skip
    return [Sample(tuple(_r(rng, sh) for sh in shapes), {"spec": spec}, note=spec)
            for spec, shapes in specs]  # fmt: skip


def _gather_inputs(rng: np.random.Generator) -> list[Sample]:
    """Repeated indices (their gradients add up) and index blocks smaller than the input."""
    return [Sample((_r(rng, (3, 4)),), {"axis": 1, "indices": rng.integers(0, 4, (3, 6))}),
            Sample((_r(rng, (3, 4, 2)),), {"axis": 0, "indices": rng.integers(0, 3, (5, 2, 2))}),
            Sample((_r(rng, (5,)),), {"axis": 0, "indices": np.array([4, 4, 0])})]  # fmt: skip


def _np_gather(x: np.ndarray, axis: int, indices: np.ndarray) -> np.ndarray:
    grids = np.ix_(*[np.arange(n) for n in indices.shape])
    return x[tuple(indices if a == axis else grids[a] for a in range(x.ndim))]


def _take_along_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, (3, 4)),), {"indices": rng.integers(0, 4, (3, 2)), "axis": 1}),
            Sample((_r(rng, (3, 4, 2)),), {"indices": rng.integers(0, 4, (1, 5, 2)),
                                            "axis": 1}, note="broadcast indices")]  # fmt: skip


def _t_take_along_axis(x: Any, indices: Any, axis: int) -> Any:
    return _tm().take_along_dim(x, indices, axis)


def _t(name: str) -> Callable[..., Any]:
    """``torch.<name>`` looked up at call time."""

    def fn(*args: Any, **kwargs: Any) -> Any:
        return getattr(_tm(), name)(*args, **kwargs)

    return fn


def _t_getitem(x: Any, index: Any) -> Any:
    """``x[index]`` in torch, where negative-step slices become flips."""
    items = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(it, slice) and (it.step or 1) < 0 for it in items):
        return x[index]
    new, dim = [], 0
    for it in items:
        if isinstance(it, slice) and it.step is not None and it.step < 0:
            if it.start is not None or it.stop is not None:
                raise NotImplementedError("negative-step slices with bounds")
            x = x.flip(dim)
            it = slice(None, None, -it.step)
        if it is Ellipsis:
            raise NotImplementedError("Ellipsis together with negative steps")
        if it is not None:
            dim += 1
        new.append(it)
    return x[tuple(new) if isinstance(index, tuple) else new[0]]


def _t_scatter_add(v: Any, shape: tuple, index: Any) -> Any:
    torch = _tm()
    items = index if isinstance(index, tuple) else (index,)
    out = torch.zeros(shape, dtype=v.dtype)
    if all(isinstance(i, torch.Tensor) for i in items):
        return out.index_put(items, v, accumulate=True)
    out[index] = v  # basic indexing: no repeated elements
    return out


_TORCH_PAD_MODES = {"edge": "replicate", "reflect": "reflect", "wrap": "circular"}


def _t_pad(x: Any, pad_width: Any, mode: str = "constant", value: float = 0) -> Any:
    torch = _tm()
    widths = np.broadcast_to(np.asarray(pad_width), (x.ndim, 2)).tolist()
    flat = [w for pair in reversed(widths) for w in pair]
    if mode == "constant":
        return torch.nn.functional.pad(x, flat, value=value)
    if mode in _TORCH_PAD_MODES and x.ndim in (1, 2):  # torch pads the last 1-2 dims of (C,...)
        return torch.nn.functional.pad(x[None], flat, mode=_TORCH_PAD_MODES[mode])[0]
    for axis, (before, after) in enumerate(widths):  # symmetric: gather the same elements
        idx = np.pad(np.arange(x.shape[axis]), (before, after), mode=mode)
        x = x[(slice(None),) * axis + (torch.from_numpy(idx),)]
    return x


# ---- NumPy references --------------------------------------------------------------------


def _np_logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _np_flatten(x: np.ndarray, start_axis: int = 0, end_axis: int = -1) -> np.ndarray:
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_axis % x.ndim, end_axis % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1 :])


def _np_pad(x: np.ndarray, pad_width: Any, mode: str = "constant", value: float = 0) -> Any:
    extra = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, pad_width, mode=mode, **extra)


def _np_scatter_add(v: np.ndarray, shape: tuple, index: Any) -> np.ndarray:
    out = np.zeros(shape, dtype=v.dtype)
    np.add.at(out, index, v)
    return out


# ---- functions shared by chainrule, torch and NumPy --------------------------------------


def _getitem(x: Any, index: Any) -> Any:
    return x[index]


def _index_put(x: Any, v: Any, index: Any) -> Any:
    """``y = x * 1; y[index] = v``: what a user's in-place write records."""
    y = x * 1
    y[index] = v
    return y


def _index_put_constant(x: Any, index: Any) -> Any:
    """``y[index] = 0.5``: a Python number written into a tracked tensor."""
    y = x * 1
    y[index] = 0.5
    return y


def _fan_out(x: Any) -> Any:
    """One input reaching the output along several paths (gradients must add up)."""
    return x * x + (x * 2).sum(axis=-1, keepdims=True) * x - x


def _unused_output(x: Any) -> Any:
    """Only one output of a multi-output op used (the engine fills the others with zeros)."""
    return cr.split(x, 2, axis=-1)[1] * 3.0


# ---- sample inputs -----------------------------------------------------------------------


def _r(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape), dtype=np.float64)


BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((1,), (3, 1)),
    ((), ()),
]
UNARY_SHAPES = [(3, 4), (), (1,), (2, 1, 3)]
REDUCE_CASES = [
    ((3, 4), {}),
    ((3, 4), {"axis": 0}),
    ((3, 4), {"axis": -1, "keepdims": True}),
    ((2, 3, 4), {"axis": (0, 2)}),
    ((2, 3, 4), {"axis": (-1, 0), "keepdims": True}),
    ((2, 3), {"keepdims": True}),
    ((), {}),
    ((4,), {"axis": -1}),
    ((3, 1), {"axis": 1}),
]


def binary_inputs(rng: np.random.Generator) -> list[Sample]:
    """Pairs covering same shape, broadcasting both ways, size-1 axes and 0-d."""
    return [Sample((_r(rng, a), _r(rng, b))) for a, b in BINARY_SHAPES]


def unary_inputs(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_r(rng, s),)) for s in UNARY_SHAPES]


def reduce_inputs(rng: np.random.Generator) -> list[Sample]:
    """None, int, negative, tuple axes, keepdims, 0-d and size-1 axes."""
    return [Sample((_r(rng, s),), kw) for s, kw in REDUCE_CASES]


def _with_kwargs(shape_kwargs: list[tuple[tuple, dict]]) -> Callable:
    def gen(rng: np.random.Generator) -> list[Sample]:
        return [Sample((_r(rng, s),), kw) for s, kw in shape_kwargs]

    return gen


def _scaled(gen: Callable, shift: float) -> Callable:
    """``gen``'s samples plus copies shifted by ``shift`` (large values: stability)."""

    def out(rng: np.random.Generator) -> list[Sample]:
        cases = gen(rng)
        return cases + [
            replace(s, args=(s.args[0] + shift, *s.args[1:]), note=f"{s.describe()} +{shift}")
            for s in cases[:2]
        ]

    return out


def _var_inputs(rng: np.random.Generator) -> list[Sample]:
    cases = reduce_inputs(rng)
    return cases + [
        Sample((_r(rng, (3, 4)),), {"axis": 1, "ddof": 1}),
        Sample((_r(rng, (2, 3, 4)),), {"axis": (0, -1), "ddof": 1, "keepdims": True}),
        Sample((_r(rng, (5,)),), {"ddof": 1}),
    ]


def _softmax_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), {}), ((2, 3, 4), {"axis": 1}), ((2, 3, 4), {"axis": 0}),
             ((5,), {"axis": -1}), ((3, 1), {"axis": -1}), ((3, 4), {"axis": -2})]  # fmt: skip
    return _scaled(_with_kwargs(specs), 500.0)(rng)


def _matmul_inputs(rng: np.random.Generator) -> list[Sample]:
    pairs = [((3, 4), (4, 2)), ((4,), (4,)), ((4,), (4, 3)), ((3, 4), (4,)),
             ((2, 3, 4), (2, 4, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((4,), (2, 4, 3)),
             ((2, 3, 4), (4,)), ((1, 1), (1, 1))]  # fmt: skip
    return [Sample((_r(rng, a), _r(rng, b))) for a, b in pairs]


def _where_inputs(rng: np.random.Generator) -> list[Sample]:
    specs = [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((), (2, 3), (2, 3)),
             ((2, 3), (), ()), ((2, 1, 3), (1, 4, 1), (3,))]  # fmt: skip
    return [Sample((np.asarray(rng.random(c) < 0.5), _r(rng, a), _r(rng, b)))
            for c, a, b in specs]  # fmt: skip


def _mask(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    m = rng.random(shape) < 0.5
    m.flat[0] = True  # never an empty selection
    return m


def _getitem_basic(rng: np.random.Generator) -> list[Sample]:
    s = slice
    specs = [((3, 4), 1), ((3, 4), (s(None), 1)), ((3, 4), (s(1, 3),)), ((2, 3, 4), (Ellipsis, 0)),
             ((3, 4), (None, s(None), -1)), ((5, 4), (s(None, None, 2), s(1, None))),
             ((4,), 2), ((2, 3, 4), (1, s(None), s(0, 4, 3))), ((5,), s(None, None, -1)),
             ((3, 5), (s(None), s(None, None, -2))), ((1, 3), (0, None)), ((), ()),
             ((), None), ((2, 3), ())]  # fmt: skip
    return [Sample((_r(rng, shape),), {"index": idx}) for shape, idx in specs]


def _getitem_advanced(rng: np.random.Generator) -> list[Sample]:
    a = np.array
    specs = [((4,), a([0, 2, 0, 0])),  # repeated indices accumulate
             ((3, 4), a([2, 0, 2])),
             ((3, 4), (a([0, 1, 1]), a([2, 0, 2]))),
             ((3, 4), (slice(None), a([[0, 1], [1, 1]]))),
             ((3, 4), a([-1, 0])),
             ((3, 4), (a([1, 0]), slice(1, 3))),
             ((2, 3, 4), (0, a([1, 1]))),
             ((2, 3, 4), (a([1, 0, 1]), slice(None), a([3, 3, 0])))]  # fmt: skip
    return [Sample((_r(rng, shape),), {"index": idx}) for shape, idx in specs]


def _getitem_mask(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (3, 4)),), {"index": _mask(rng, (3, 4))}),
        Sample((_r(rng, (3, 4)),), {"index": _mask(rng, (3,))}),
        Sample((_r(rng, (3, 4)),), {"index": (slice(None), _mask(rng, (4,)))}),
        Sample((_r(rng, (2, 3, 2)),), {"index": _mask(rng, (2, 3))}),
    ]


def _index_put_inputs(rng: np.random.Generator) -> list[Sample]:
    # Repeated indices are left out on purpose: which write wins is unspecified (as in
    # NumPy and torch), so that case has no single right gradient.
    a = np.array
    m = _mask(rng, (3, 4))
    specs = [((3, 4), (3,), (slice(None), 1)), ((3, 4), (), 0), ((3, 4), (4,), a([2, 0])),
             ((3, 4), (2,), (a([0, 2]), a([1, 3]))), ((3, 4), (), m),
             ((3, 4), (int(m.sum()),), m), ((2, 3), (2, 1), (slice(None), slice(1, 3))),
             ((4,), (), ())]  # fmt: skip
    return [Sample((_r(rng, xs), _r(rng, vs)), {"index": idx}) for xs, vs, idx in specs]


def _scatter_add_inputs(rng: np.random.Generator) -> list[Sample]:
    a = np.array
    specs = [((4,), (5,), a([0, 2, 0, 4])), ((3,), (3, 4), (a([0, 0, 2]), a([1, 1, 3]))),
             ((2, 4), (3, 4), a([1, 1])), ((3,), (3, 4), (slice(None), 1))]  # fmt: skip
    return [Sample((_r(rng, vs),), {"shape": shape, "index": idx}) for vs, shape, idx in specs]


def _many(specs: list[tuple[tuple, dict]]) -> Callable:
    """Samples of several arrays: ``specs`` is ``[(shapes, kwargs), ...]``."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        return [Sample(tuple(_r(rng, s) for s in shapes), kw) for shapes, kw in specs]

    return gen


CONCAT_SPECS = [
    (((2, 3), (4, 3)), {"axis": 0}),
    (((2, 3), (2, 1), (2, 2)), {"axis": -1}),
    (((3,), (2,)), {}),
    (((2, 1, 3), (2, 2, 3)), {"axis": 1}),
    (((1, 2),), {"axis": 0}),
]
STACK_SPECS = [
    (((3,), (3,)), {}),
    (((2, 3), (2, 3), (2, 3)), {"axis": -1}),
    (((), ()), {}),
    (((2, 2), (2, 2)), {"axis": 1}),
]


def _pad_inputs(mode: str) -> Callable:
    def gen(rng: np.random.Generator) -> list[Sample]:
        if mode == "constant":
            specs = [((2, 3), ((1, 2), (0, 1)), {}), ((3,), 1, {"value": 1.5}),
                     ((2, 2, 3), ((0, 0), (1, 0), (2, 1)), {}), ((1, 1), 2, {})]  # fmt: skip
        else:
            specs = [((3, 4), ((1, 2), (2, 1)), {}), ((4,), 2, {}), ((3, 4), ((0, 0), (1, 3)), {}),
                     ((4, 3), ((2, 0), (0, 0)), {})]  # fmt: skip
        return [Sample((_r(rng, s),), {"pad_width": w, "mode": mode, **kw}) for s, w, kw in specs]

    return gen


def _astype_inputs(rng: np.random.Generator) -> list[Sample]:
    return [
        Sample((_r(rng, (3, 4)),), {"dtype": np.float32}),
        Sample((_r(rng, (3, 4)).astype(np.float32),), {"dtype": np.float64}),
        Sample((_r(rng, ()),), {"dtype": np.float32}),
    ]


def _with_zeros(cases: list[tuple[tuple, dict]], zeros: list[tuple]) -> Callable:
    """Samples of ``cases`` and, for each ``(shape, kwargs, flat positions)`` in ``zeros``,
    one with those elements exactly 0 (products: the gradient must not divide)."""

    def gen(rng: np.random.Generator) -> list[Sample]:
        out = [Sample((_r(rng, s),), kw) for s, kw in cases]
        for shape, kw, where in zeros:
            x = _r(rng, shape)
            x.flat[list(where)] = 0.0
            out.append(Sample((x,), kw, note=f"{shape} {kw} zeros at {where}"))
        return out

    return gen


_PROD_ZEROS = [((3, 4), {"axis": 1}, (1,)), ((3, 4), {"axis": 1}, (4, 6)),
               ((2, 3, 4), {"axis": (0, 2)}, (0, 5, 13)), ((5,), {}, (2,)),
               ((3, 4), {"axis": 0}, (0, 4, 8))]  # fmt: skip
_CUMPROD_CASES = [((3, 4), {"axis": 1}), ((2, 3, 4), {"axis": 0}), ((2, 3, 4), {"axis": -2}),
                  ((5,), {"axis": 0}), ((1, 3), {"axis": 0})]  # fmt: skip
_CUMPROD_ZEROS = [((6,), {"axis": 0}, (2,)), ((6,), {"axis": 0}, (1, 4)),
                  ((3, 5), {"axis": 1}, (0, 7, 14)), ((4, 3), {"axis": 0}, (3, 4, 5))]  # fmt: skip


def _t_prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """torch.prod over several axes (torch takes one dim at a time)."""
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    for a in sorted((a % x.ndim for a in axes), reverse=True) if x.ndim else ():
        x = x.prod(dim=a, keepdim=keepdims)
    return x


def _np_sort(x: np.ndarray, axis: int = -1, descending: bool = False) -> np.ndarray:
    return -np.sort(-x, axis) if descending else np.sort(x, axis)


def _np_topk(x: np.ndarray, k: int, axis: int = -1, largest: bool = True) -> np.ndarray:
    return np.take(_np_sort(x, axis, largest), range(k), axis=axis)


def _topk_values(x: Any, k: int, axis: int = -1, largest: bool = True) -> Any:
    return cr.topk(x, k, axis, largest)[0]


# ---- the table -----------------------------------------------------------------------------

_unary = functools.partial(OpInfo, inputs=unary_inputs)
_binary = functools.partial(OpInfo, inputs=binary_inputs)
_reduce = functools.partial(OpInfo, inputs=reduce_inputs)

_add, _sub, _mul, _div, _pow, _neg, _mm = (operator.add, operator.sub, operator.mul,
    operator.truediv, operator.pow, operator.neg, operator.matmul)  # fmt: skip


def _rsub(x: Any) -> Any:
    return 1.5 - x


def _rdiv(x: Any) -> Any:
    return 2.0 / x


def _affine(x: Any) -> Any:
    return 2.0 * x + 1.0 - x / 4.0


def _pow_scalar(x: Any, p: float) -> Any:
    return x**p


def _rpow_scalar(x: Any, base: float) -> Any:
    return base**x


def _transpose_t(x: Any) -> Any:
    return x.T


def _t_transpose(x: Any, axes: Any = None) -> Any:
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes)


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


OPS: list[OpInfo] = [
    # arithmetic (operators) with NumPy broadcasting
    _binary(name="add", fn=_add, torch_fn=_add, ref_fn=_add),
    _binary(name="sub", fn=_sub, torch_fn=_sub, ref_fn=_sub),
    _binary(name="mul", fn=_mul, torch_fn=_mul, ref_fn=_mul),
    _binary(name="div", fn=_div, torch_fn=_div, ref_fn=_div, domain=away_from(0.0, margin=0.3)),
    _binary(name="pow", fn=_pow, torch_fn=_pow, ref_fn=_pow, domain=positive(0.3, args=(0,))),
    _unary(name="neg", fn=_neg, torch_fn=_neg, ref_fn=_neg),
    _unary(name="rsub_scalar", fn=_rsub, torch_fn=_rsub, ref_fn=_rsub),
    _unary(name="rdiv_scalar", fn=_rdiv, torch_fn=_rdiv, ref_fn=_rdiv,
           domain=away_from(0.0, margin=0.3)),
    _unary(name="scalar_affine", fn=_affine, torch_fn=_affine, ref_fn=_affine),
    OpInfo(name="pow_scalar", fn=_pow_scalar, torch_fn=_pow_scalar, ref_fn=_pow_scalar,
           inputs=_with_kwargs([((3, 4), {"p": 2}), ((3,), {"p": 3.0}), ((), {"p": 0.5}),
                                ((2, 2), {"p": -1.5}), ((3,), {"p": 0})]),
           domain=positive(0.3)),
    OpInfo(name="rpow_scalar", fn=_rpow_scalar, torch_fn=_rpow_scalar, ref_fn=_rpow_scalar,
           inputs=_with_kwargs([((3, 4), {"base": 2.0}), ((), {"base": 0.5})])),
    _binary(name="maximum", fn=cr.maximum, torch_fn=_t("maximum"), ref_fn=np.maximum,
            domain=distinct()),
    _binary(name="minimum", fn=cr.minimum, torch_fn=_t("minimum"), ref_fn=np.minimum,
            domain=distinct()),
    OpInfo(name="where", fn=cr.where, torch_fn=_t("where"), ref_fn=np.where,
           inputs=_where_inputs),
    # unary
    _unary(name="clone", fn=cr.clone, torch_fn=_t("clone"), ref_fn=np.copy),
    _unary(name="exp", fn=cr.exp, torch_fn=_t("exp"), ref_fn=np.exp),
    _unary(name="log", fn=cr.log, torch_fn=_t("log"), ref_fn=np.log, domain=positive(0.3)),
    _unary(name="sqrt", fn=cr.sqrt, torch_fn=_t("sqrt"), ref_fn=np.sqrt, domain=positive(0.3)),
    _unary(name="abs", fn=cr.abs, torch_fn=_t("abs"), ref_fn=np.abs, domain=away_from(0.0)),
    _unary(name="sin", fn=cr.sin, torch_fn=_t("sin"), ref_fn=np.sin),
    _unary(name="log1p", fn=cr.log1p, torch_fn=_t("log1p"), ref_fn=np.log1p,
           domain=positive(0.3)),
    _unary(name="expm1", fn=cr.expm1, torch_fn=_t("expm1"), ref_fn=np.expm1),
    _unary(name="tan", fn=cr.tan, torch_fn=_t("tan"), ref_fn=np.tan, domain=bounded(1.2)),
    _unary(name="arctan", fn=cr.arctan, torch_fn=_t("atan"), ref_fn=np.arctan),
    _unary(name="arcsin", fn=cr.arcsin, torch_fn=_t("asin"), ref_fn=np.arcsin,
           domain=bounded(0.9)),
    _unary(name="arccos", fn=cr.arccos, torch_fn=_t("acos"), ref_fn=np.arccos,
           domain=bounded(0.9)),
    _unary(name="log2", fn=cr.log2, torch_fn=_t("log2"), ref_fn=np.log2, domain=positive(0.3)),
    _unary(name="log10", fn=cr.log10, torch_fn=_t("log10"), ref_fn=np.log10,
           domain=positive(0.3)),
    _unary(name="exp2", fn=cr.exp2, torch_fn=_t("exp2"), ref_fn=np.exp2),
    _unary(name="square", fn=cr.square, torch_fn=_t("square"), ref_fn=np.square),
    _unary(name="reciprocal", fn=cr.reciprocal, torch_fn=_t("reciprocal"),
           ref_fn=np.reciprocal, domain=away_from(0.0, margin=0.3)),
    _unary(name="rsqrt", fn=cr.rsqrt, torch_fn=_t("rsqrt"), ref_fn=lambda x: 1 / np.sqrt(x),
           domain=positive(0.3)),
    _unary(name="sinh", fn=cr.sinh, torch_fn=_t("sinh"), ref_fn=np.sinh),
    _unary(name="cosh", fn=cr.cosh, torch_fn=_t("cosh"), ref_fn=np.cosh),
    _unary(name="cos", fn=cr.cos, torch_fn=_t("cos"), ref_fn=np.cos),
    _unary(name="tanh", fn=cr.tanh, torch_fn=_t("tanh"), ref_fn=np.tanh),
    _unary(name="sigmoid", fn=cr.sigmoid, torch_fn=_t("sigmoid"), ref_fn=_np_sigmoid),
    _unary(name="relu", fn=cr.relu, torch_fn=_t("relu"), ref_fn=lambda x: np.maximum(x, 0),
           domain=away_from(0.0)),
    OpInfo(name="clip", fn=cr.clip, torch_fn=_t("clamp"), ref_fn=np.clip,
           inputs=_with_kwargs([((3, 4), {"min": -0.5, "max": 0.5}), ((3, 4), {"min": -0.2}),
                                ((2, 3), {"max": 0.3}), ((), {"min": -0.5, "max": 0.5})]),
           domain=away_from(-0.5, -0.2, 0.3, 0.5, margin=0.05)),
    # reductions
    _reduce(name="sum", fn=cr.sum, torch_fn=_t_reduce("sum"), ref_fn=np.sum),
    _reduce(name="mean", fn=cr.mean, torch_fn=_t_reduce("mean"), ref_fn=np.mean),
    OpInfo(name="var", fn=cr.var, torch_fn=_t_var, ref_fn=np.var, inputs=_var_inputs),
    OpInfo(name="std", fn=cr.std, torch_fn=_t_std, ref_fn=np.std, inputs=_var_inputs),
    OpInfo(name="cumsum", fn=cr.cumsum, ref_fn=np.cumsum,
           torch_fn=lambda x, axis: _tm().cumsum(x, dim=axis),
           inputs=_with_kwargs([((3, 4), {"axis": 1}), ((2, 3, 4), {"axis": 0}),
                                ((2, 3, 4), {"axis": -2}), ((5,), {"axis": 0})])),
    OpInfo(name="prod", fn=cr.prod, ref_fn=np.prod, torch_fn=_t_prod,
           inputs=_with_zeros(REDUCE_CASES, _PROD_ZEROS)),
    OpInfo(name="cumprod", fn=cr.cumprod, ref_fn=np.cumprod,
           torch_fn=lambda x, axis: _tm().cumprod(x, dim=axis),
           inputs=_with_zeros(_CUMPROD_CASES, _CUMPROD_ZEROS)),
    OpInfo(name="sort", fn=cr.sort, ref_fn=_np_sort, domain=distinct(),
           torch_fn=lambda x, axis=-1, descending=False: _tm().sort(
               x, dim=axis, descending=descending, stable=True).values,
           inputs=_with_kwargs([((5,), {}), ((3, 4), {"axis": 0}),
                                ((2, 3, 4), {"descending": True}),
                                ((3, 4), {"axis": -2, "descending": True})])),
    OpInfo(name="topk", fn=_topk_values, ref_fn=_np_topk, domain=distinct(),
           torch_fn=lambda x, k, axis=-1, largest=True: _tm().topk(
               x, k, dim=axis, largest=largest).values,
           inputs=_with_kwargs([((6,), {"k": 3}), ((3, 5), {"k": 2, "axis": 0}),
                                ((2, 3, 4), {"k": 4, "largest": False}),
                                ((3, 4), {"k": 0})])),
    _reduce(name="max", fn=cr.max, torch_fn=_t_reduce("amax"), ref_fn=np.max, domain=distinct()),
    _reduce(name="min", fn=cr.min, torch_fn=_t_reduce("amin"), ref_fn=np.min, domain=distinct()),
    OpInfo(name="logsumexp", fn=cr.logsumexp, torch_fn=_t_reduce("logsumexp"),
           ref_fn=_np_logsumexp, inputs=_scaled(reduce_inputs, 500.0)),
    OpInfo(name="softmax", fn=cr.softmax, ref_fn=_np_softmax, inputs=_softmax_inputs,
           torch_fn=lambda x, axis=-1: _tm().softmax(x, dim=axis)),
    OpInfo(name="log_softmax", fn=cr.log_softmax, inputs=_softmax_inputs,
           ref_fn=lambda x, axis=-1: np.log(_np_softmax(x, axis)),
           torch_fn=lambda x, axis=-1: _tm().log_softmax(x, dim=axis)),
    # matmul: 2-D, 1-D on either side, batched, broadcast batch axes
    OpInfo(name="matmul", fn=_mm, torch_fn=_mm, ref_fn=_mm, inputs=_matmul_inputs),
    # shapes
    OpInfo(name="reshape", fn=cr.reshape, ref_fn=np.reshape,
           torch_fn=lambda x, shape: x.reshape(shape),
           inputs=_with_kwargs([((3, 4), {"shape": (2, 6)}), ((3, 4), {"shape": (-1,)}),
                                ((2, 3, 4), {"shape": (4, -1)}), ((), {"shape": (1,)}),
                                ((1,), {"shape": ()}), ((2, 3), {"shape": (3, 1, 2)})])),
    OpInfo(name="vector_norm", fn=cr.vector_norm, ref_fn=_np_vector_norm, domain=away_from(0.0),
           torch_fn=_t_vector_norm,
           inputs=_with_kwargs([((3, 4), {}), ((3, 4), {"ord": 1, "axis": 1}),
                                ((2, 3, 4), {"ord": 3, "axis": (0, 2), "keepdims": True}),
                                ((5,), {"ord": math.inf}), ((3, 4), {"ord": 0.5, "axis": 0})])),
    OpInfo(name="tile", fn=cr.tile, ref_fn=np.tile, torch_fn=_t_tile,
           inputs=_with_kwargs([((2, 3), {"reps": (2, 3)}), ((3,), {"reps": 2}),
                                ((2, 3), {"reps": (2, 1, 2)}), ((2, 1), {"reps": (1, 4)})])),
    OpInfo(name="repeat_interleave", fn=cr.repeat_interleave, ref_fn=_np_repeat,
           torch_fn=lambda x, repeats, axis=None: _tm().repeat_interleave(x, repeats, dim=axis),
           inputs=_with_kwargs([((2, 3), {"repeats": 2, "axis": 0}),
                                ((2, 3), {"repeats": 3, "axis": -1}), ((2, 3), {"repeats": 2})])),
    OpInfo(name="einsum", fn=_einsum, ref_fn=_np_einsum, torch_fn=_t_einsum,
           inputs=_einsum_inputs),
    OpInfo(name="gather", fn=cr.gather, ref_fn=_np_gather, inputs=_gather_inputs,
           torch_fn=lambda x, axis, indices: _tm().gather(x, axis, indices)),
    OpInfo(name="take_along_axis", fn=cr.take_along_axis, ref_fn=np.take_along_axis,
           torch_fn=_t_take_along_axis, inputs=_take_along_inputs),
    OpInfo(name="tril", fn=cr.tril, ref_fn=np.tril, torch_fn=lambda x, k=0: _tm().tril(x, k),
           inputs=_with_kwargs([((4, 4), {}), ((2, 3, 5), {"k": 1}), ((5, 3), {"k": -1})])),
    OpInfo(name="triu", fn=cr.triu, ref_fn=np.triu, torch_fn=lambda x, k=0: _tm().triu(x, k),
           inputs=_with_kwargs([((4, 4), {}), ((2, 3, 5), {"k": -1}), ((5, 3), {"k": 2})])),
    OpInfo(name="diagonal", fn=cr.diagonal, ref_fn=np.diagonal,
           torch_fn=lambda x, offset=0, axis1=0, axis2=1: _tm().diagonal(x, offset, axis1, axis2),
           inputs=_with_kwargs([((3, 4), {}), ((4, 3), {"offset": 1}),
                                ((2, 3, 4), {"offset": -1, "axis1": 1, "axis2": 2}),
                                ((3, 3), {"axis1": 1, "axis2": 0, "offset": 1}),
                                ((3, 2, 4), {"axis1": -1, "axis2": 0})])),
    OpInfo(name="trace", fn=cr.trace, ref_fn=np.trace,
           torch_fn=lambda x, offset=0, axis1=0, axis2=1: _tm().diagonal(
               x, offset, axis1, axis2).sum(-1),
           inputs=_with_kwargs([((3, 4), {}), ((2, 3, 4), {"axis1": 0, "axis2": 2}),
                                ((4, 4), {"offset": -2})])),
    OpInfo(name="diag", fn=cr.diag, ref_fn=np.diag, torch_fn=lambda x, k=0: _tm().diag(x, k),
           inputs=_with_kwargs([((3,), {}), ((3,), {"k": -1}), ((2,), {"k": 2}),
                                ((3, 4), {"k": 1}), ((4, 3), {})])),
    OpInfo(name="outer", fn=cr.outer, ref_fn=np.outer,
           torch_fn=lambda a, b: _tm().outer(a.flatten(), b.flatten()),
           inputs=_many([(((3,), (4,)), {}), (((2, 2), (3,)), {}), (((1,), (1,)), {})])),
    OpInfo(name="kron", fn=cr.kron, ref_fn=np.kron, torch_fn=_t("kron"),
           inputs=_many([(((2, 3), (2, 2)), {}), (((3,), (2, 3)), {}), (((), (2,)), {}),
                         (((2, 1, 2), (1, 3, 2)), {})])),
    OpInfo(name="cross", fn=cr.cross, ref_fn=lambda a, b, axis=-1: np.cross(a, b, axis=axis),
           torch_fn=lambda a, b, axis=-1: _tm().linalg.cross(*_tm().broadcast_tensors(a, b),
                                                             dim=axis),
           inputs=_many([(((4, 3), (3,)), {}), (((3, 2), (3, 2)), {"axis": 0}),
                         (((2, 1, 3), (4, 3)), {"axis": -1}), (((3,), (3,)), {})])),
    OpInfo(name="moveaxis", fn=cr.moveaxis, ref_fn=np.moveaxis,
           torch_fn=lambda x, source, destination: _tm().movedim(x, source, destination),
           inputs=_with_kwargs([((2, 3, 4), {"source": 0, "destination": -1}),
                                ((2, 3, 4), {"source": (0, 1), "destination": (2, 0)}),
                                ((2, 3), {"source": -1, "destination": 0})])),
    OpInfo(name="flip", fn=cr.flip, ref_fn=np.flip, torch_fn=_t_flip,
           inputs=_with_kwargs([((3, 4), {}), ((2, 3, 4), {"axis": 1}),
                                ((2, 3, 4), {"axis": (0, -1)}), ((5,), {"axis": 0})])),
    OpInfo(name="roll", fn=cr.roll, ref_fn=np.roll, torch_fn=_t_roll,
           inputs=_with_kwargs([((3, 4), {"shift": 1, "axis": 1}), ((2, 3, 4), {"shift": 5}),
                                ((2, 3, 4), {"shift": (1, -2), "axis": (0, 2)}),
                                ((5,), {"shift": -1, "axis": 0})])),
    OpInfo(name="transpose", fn=cr.transpose, ref_fn=np.transpose, torch_fn=_t_transpose,
           inputs=_with_kwargs([((3, 4), {}), ((2, 3, 4), {"axes": (1, 0, 2)}),
                                ((2, 3, 4), {"axes": (-1, 0, 1)}), ((2, 3, 4), {}),
                                ((4,), {}), ((), {})])),
    OpInfo(name="T", fn=_transpose_t, ref_fn=_transpose_t, torch_fn=_t_transpose,
           inputs=_with_kwargs([((3, 4), {}), ((2, 3, 4), {}), ((5,), {})])),
    OpInfo(name="swapaxes", fn=cr.swapaxes, ref_fn=np.swapaxes,
           torch_fn=lambda x, axis1, axis2: x.swapaxes(axis1, axis2),
           inputs=_with_kwargs([((3, 4), {"axis1": 0, "axis2": -1}),
                                ((2, 3, 4), {"axis1": 1, "axis2": 2}),
                                ((2, 3, 4), {"axis1": -1, "axis2": -3}),
                                ((3, 4), {"axis1": 1, "axis2": 1})])),
    OpInfo(name="flatten", fn=cr.flatten, ref_fn=_np_flatten,
           torch_fn=lambda x, start_axis=0, end_axis=-1: x.flatten(start_axis, end_axis),
           inputs=_with_kwargs([((2, 3, 4), {}), ((2, 3, 4), {"start_axis": 1}),
                                ((2, 3, 4), {"start_axis": 0, "end_axis": -2}), ((), {}),
                                ((3,), {})])),
    OpInfo(name="squeeze", fn=cr.squeeze, ref_fn=np.squeeze,
           torch_fn=lambda x, axis=None: x.squeeze() if axis is None else x.squeeze(axis),
           inputs=_with_kwargs([((3, 1, 4), {}), ((3, 1, 4), {"axis": 1}),
                                ((2, 3, 1), {"axis": -1}), ((1, 3, 1), {"axis": (0, 2)}),
                                ((1,), {}), ((1, 1), {})])),
    OpInfo(name="unsqueeze", fn=cr.unsqueeze, ref_fn=np.expand_dims, torch_fn=_t("unsqueeze"),
           inputs=_with_kwargs([((3, 4), {"axis": 0}), ((3, 4), {"axis": -1}),
                                ((3, 4), {"axis": 1}), ((), {"axis": 0}), ((2,), {"axis": -2})])),
    OpInfo(name="expand", fn=cr.expand, torch_fn=lambda x, shape: x.expand(shape),
           inputs=_with_kwargs([((3, 1), {"shape": (3, 4)}), ((3, 1), {"shape": (2, 3, 4)}),
                                ((3, 1), {"shape": (2, -1, 4)}), ((), {"shape": (2, 3)}),
                                ((1,), {"shape": (3,)})])),
    OpInfo(name="broadcast_to", fn=cr.ops.broadcast_to, ref_fn=np.broadcast_to,
           torch_fn=lambda x, shape: x.broadcast_to(shape),
           inputs=_with_kwargs([((3, 1), {"shape": (3, 4)}), ((4,), {"shape": (2, 3, 4)}),
                                ((), {"shape": (2,)}), ((2, 3), {"shape": (2, 3)})])),
    OpInfo(name="sum_to", fn=cr.ops.sum_to, torch_fn=lambda x, shape: x.sum_to_size(shape),
           inputs=_with_kwargs([((2, 3, 4), {"shape": (3, 1)}), ((2, 3), {"shape": ()}),
                                ((3, 4), {"shape": (1, 4)}), ((2, 3), {"shape": (2, 3)}),
                                ((2, 3, 4), {"shape": (4,)})])),
    # indexing
    OpInfo(name="getitem_basic", fn=_getitem, torch_fn=_t_getitem, ref_fn=_getitem,
           inputs=_getitem_basic),
    OpInfo(name="getitem_advanced", fn=_getitem, torch_fn=_getitem, ref_fn=_getitem,
           inputs=_getitem_advanced),
    OpInfo(name="getitem_mask", fn=_getitem, torch_fn=_getitem, ref_fn=_getitem,
           inputs=_getitem_mask),
    OpInfo(name="index_put", fn=_index_put, torch_fn=_index_put, ref_fn=_index_put,
           inputs=_index_put_inputs),
    OpInfo(name="index_put_constant", fn=_index_put_constant, torch_fn=_index_put_constant,
           ref_fn=_index_put_constant,
           inputs=_with_kwargs([((3, 4), {"index": (slice(None), 1)}),
                                ((3, 4), {"index": np.array([2, 0])}), ((2,), {"index": 0})])),
    OpInfo(name="scatter_add", inputs=_scatter_add_inputs, ref_fn=_np_scatter_add,
           fn=lambda v, shape, index: cr.ops.scatter_add(shape, index, v),
           torch_fn=_t_scatter_add),
    # joining and splitting
    OpInfo(name="concatenate", fn=lambda *xs, axis=0: cr.concatenate(xs, axis=axis),
           torch_fn=lambda *xs, axis=0: _tm().cat(xs, dim=axis),
           ref_fn=lambda *xs, axis=0: np.concatenate(xs, axis=axis), inputs=_many(CONCAT_SPECS)),
    OpInfo(name="cat", fn=lambda *xs, axis=0: cr.cat(xs, axis=axis),
           torch_fn=lambda *xs, axis=0: _tm().cat(xs, dim=axis),
           ref_fn=lambda *xs, axis=0: np.concatenate(xs, axis=axis),
           inputs=_many(CONCAT_SPECS[:2])),
    OpInfo(name="stack", fn=lambda *xs, axis=0: cr.stack(xs, axis=axis),
           torch_fn=lambda *xs, axis=0: _tm().stack(xs, dim=axis),
           ref_fn=lambda *xs, axis=0: np.stack(xs, axis=axis), inputs=_many(STACK_SPECS)),
    OpInfo(name="split", fn=cr.split, ref_fn=np.split,
           torch_fn=lambda x, indices_or_sections, axis=0: _tm().tensor_split(
               x, indices_or_sections, dim=axis),
           inputs=_with_kwargs([((6,), {"indices_or_sections": 3}),
                                ((2, 6), {"indices_or_sections": [1, 4], "axis": -1}),
                                ((4, 3), {"indices_or_sections": 2, "axis": 0}),
                                ((3, 2), {"indices_or_sections": [0, 2]}),
                                ((2, 3), {"indices_or_sections": 1, "axis": 1})])),
    *[OpInfo(name=f"pad_{mode}", fn=cr.pad, torch_fn=_t_pad, ref_fn=_np_pad,
             inputs=_pad_inputs(mode))
      for mode in ("constant", "edge", "reflect", "symmetric", "wrap")],
    # compositions: engine paths rather than single ops
    OpInfo(name="fan_out", fn=_fan_out, torch_fn=_fan_out, ref_fn=_fan_out,
           inputs=_with_kwargs([((3, 4), {}), ((2,), {}), ((2, 1, 3), {})])),
    OpInfo(name="unused_output", fn=_unused_output,
           torch_fn=lambda x: x.chunk(2, -1)[1] * 3.0,
           ref_fn=lambda x: np.split(x, 2, axis=-1)[1] * 3.0,
           inputs=_with_kwargs([((3, 4), {}), ((2,), {})])),
    # dtype and device
    OpInfo(name="astype", fn=lambda x, dtype: x.astype(dtype),
           ref_fn=lambda x, dtype: x.astype(dtype),
           torch_fn=lambda x, dtype: x.to(_torch_dtype(dtype)), inputs=_astype_inputs,
           supports_gradcheck=False, supports_double=False),
    _unary(name="to_device", fn=lambda x: cr.ops.to_device(x, "cpu"),
           torch_fn=lambda x: x.to("cpu"), ref_fn=lambda x: x),
]  # fmt: skip

_BY_NAME = {op.name: op for op in OPS}
if len(_BY_NAME) != len(OPS):  # pragma: no cover - a table edit mistake
    raise RuntimeError("duplicate op names in the oracle table")


def get_op(name: str) -> OpInfo:
    """The table entry called ``name``."""
    return _BY_NAME[name]


# ---- calling an op on a sample --------------------------------------------------------------


def _float_positions(sample: Sample) -> list[int]:
    return [i for i, a in enumerate(sample.args) if _is_float(a)]


def bind(op: OpInfo, sample: Sample) -> tuple[Callable[..., Any], list[np.ndarray]]:
    """``op.fn`` as a function of the sample's floating arguments alone, and those arrays."""
    pos = _float_positions(sample)

    def f(*xs: Any) -> Any:
        args = list(sample.args)
        for p, x in zip(pos, xs):
            args[p] = x
        return op.fn(*args, **sample.kwargs)

    return f, [sample.args[p] for p in pos]


def _outputs(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _flat_output(out: Any) -> Tensor:
    """All outputs raveled and joined into one 1-D Tensor (for Jacobians)."""
    flat = [cr.reshape(o, (-1,)) for o in _outputs(out)]
    return flat[0] if len(flat) == 1 else cr.concatenate(flat)


def _of_one(f: Callable, xs: list[np.ndarray], i: int) -> Callable[[Tensor], Tensor]:
    """``f`` as a function of input ``i`` alone (others fixed) with a flat output."""

    def g(xi: Tensor) -> Tensor:
        args = [cr.tensor(x) for x in xs]
        args[i] = xi
        return _flat_output(f(*args))

    return g


def _jacobian(g: Callable, x: np.ndarray, mode: str) -> np.ndarray:
    jac = cr.jacobian(g, cr.tensor(x), mode=mode).numpy()
    return jac.reshape(-1, x.size)


def _numeric_jacobian(g: Callable, x: np.ndarray, eps: float) -> np.ndarray:
    x = x.astype(np.float64)
    with cr.no_grad():
        n_out = g(cr.tensor(x)).size
        jac = np.zeros((n_out, x.size))
        for j in range(x.size):
            d = np.zeros(x.size)
            d[j] = eps
            d = d.reshape(x.shape)
            hi = g(cr.tensor(x + d)).numpy().astype(np.float64)
            lo = g(cr.tensor(x - d)).numpy().astype(np.float64)
            jac[:, j] = (hi - lo) / (2 * eps)
    return jac


def _label(op: OpInfo, sample: Sample) -> str:
    return f"{op.name} [{sample.describe()}]"


def assert_close(got: Any, want: Any, atol: float, rtol: float, what: str) -> float:
    """Raise GradcheckError naming the first bad element unless ``got`` matches ``want``
    (shape, and values within ``atol + rtol * |want|``); return the max abs error."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise GradcheckError(f"{what}: shape {got.shape} != expected {want.shape}")
    if got.size == 0:
        return 0.0
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    err = np.abs(g64 - w64)
    both_nan = np.isnan(g64) & np.isnan(w64)
    bad = ~(err <= atol + rtol * np.abs(w64)) & ~both_nan
    if bad.any():
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), got.shape))
        raise GradcheckError(
            f"{what}: element {idx}: got {g64[idx]:.10g}, expected {w64[idx]:.10g} "
            f"(max abs error {np.nanmax(np.where(both_nan, 0, err)):.3g})"
        )
    return float(np.nanmax(np.where(both_nan, 0.0, err)))


# ---- the generic checks -------------------------------------------------------------------


def check_gradcheck(op: OpInfo, sample: Sample) -> float | None:
    """``cr.gradcheck`` (reverse, forward and central differences in float64); returns the
    max abs error between the reverse-mode and the numeric Jacobian."""
    if not op.supports_gradcheck:
        return None
    f, xs = bind(op, sample)
    try:
        cr.gradcheck(f, [cr.tensor(x) for x in xs], eps=op.eps, atol=op.atol, rtol=op.rtol,
                     check_forward=op.supports_fwd)  # fmt: skip
    except GradcheckError as exc:
        raise GradcheckError(f"{_label(op, sample)}: {exc}") from None
    err = 0.0
    for i, x in enumerate(xs):
        g = _of_one(f, xs, i)
        rev = _jacobian(g, x, "rev")
        num = _numeric_jacobian(g, x, op.eps)
        if rev.size:
            err = max(err, float(np.abs(rev - num).max()))
    return err


def check_fwd_rev(op: OpInfo, sample: Sample) -> float | None:
    """The Jacobian built column by column in forward mode equals the one built row by row
    in reverse mode; returns the max abs difference."""
    if not op.supports_fwd:
        return None
    f, xs = bind(op, sample)
    err = 0.0
    for i, x in enumerate(xs):
        g = _of_one(f, xs, i)
        fwd = _jacobian(g, x, "fwd")
        rev = _jacobian(g, x, "rev")
        what = f"{_label(op, sample)}: forward-mode vs reverse-mode Jacobian of input {i}"
        err = max(err, assert_close(fwd, rev, op.ref_atol, op.ref_rtol, what))
    return err


def check_gradgrad(op: OpInfo, sample: Sample) -> float | None:
    """``cr.gradgradcheck`` (the vjp's own reverse mode vs central differences); returns the
    max abs error of the vjp's Jacobian with respect to each input against numeric."""
    if not (op.supports_double and op.supports_gradcheck):
        return None
    f, xs = bind(op, sample)
    try:
        cr.gradgradcheck(f, [cr.tensor(x) for x in xs], eps=op.eps, atol=op.atol, rtol=op.rtol)
    except GradcheckError as exc:
        raise GradcheckError(f"{_label(op, sample)} (double backward): {exc}") from None
    with cr.no_grad():
        outs = _outputs(f(*[cr.tensor(x) for x in xs]))
    cts = _cotangents(outs, _seed(op, sample))
    err = 0.0
    for i, x in enumerate(xs):

        def vjp_of_i(xi: Tensor, i: int = i) -> Tensor:
            args = [cr.tensor(x) for x in xs]
            args[i] = xi
            _, vjp_fn = cr.vjp(f, *args)
            grads = vjp_fn(cts if len(outs) > 1 else cts[0])
            return _flat_output(tuple(grads))

        rev = _jacobian(vjp_of_i, x, "rev")
        num = _numeric_jacobian(vjp_of_i, x, op.eps)
        if rev.size:
            err = max(err, float(np.abs(rev - num).max()))
    return err


def _seed(op: OpInfo, sample: Sample) -> int:
    return zlib.crc32(f"{op.name}/{sample.describe()}".encode())


def _cotangents(outs: Sequence[Any], seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    return tuple(
        wrap(np.asarray(rng.standard_normal(o.shape)).astype(o.dtype, copy=False)) for o in outs
    )


def chainrule_values_and_grads(op: OpInfo, sample: Sample, cts: Sequence[Any] | None = None,
                               ) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """chainrule's outputs and the gradients of ``sum(out * ct)`` with respect to every
    floating argument (random cotangents seeded by the sample when ``cts`` is None)."""
    f, xs = bind(op, sample)
    outs, vjp_fn = cr.vjp(f, *[cr.tensor(x) for x in xs])
    multi = isinstance(outs, (tuple, list))
    outs = _outputs(outs)
    if cts is None:
        cts = _cotangents(outs, _seed(op, sample))
    cts = tuple(c if isinstance(c, Tensor) else wrap(np.asarray(c)) for c in cts)
    grads = vjp_fn(cts if multi else cts[0])
    return [o.numpy() for o in outs], [g.numpy() for g in grads]


def torch_values_and_grads(op: OpInfo, sample: Sample, cts: Sequence[Any] | None = None,
                           ) -> tuple[list[np.ndarray], list[np.ndarray]]:  # fmt: skip
    """The same as :func:`chainrule_values_and_grads`, computed by ``op.torch_fn``."""
    torch = _tm()
    pos = _float_positions(sample)
    targs = [_to_torch(a) for a in sample.args]
    for p in pos:
        targs[p].requires_grad_(True)
    kwargs = {k: _to_torch(v) for k, v in sample.kwargs.items()}
    outs = _outputs(op.torch_fn(*targs, **kwargs))
    values = [o.detach().numpy() for o in outs]
    if cts is None:
        cts = _cotangents([np.empty(v.shape, v.dtype) for v in values], _seed(op, sample))
    cts_t = [torch.from_numpy(np.array(c.data if isinstance(c, Tensor) else c)) for c in cts]
    pairs = [(o, c) for o, c in zip(outs, cts_t) if o.requires_grad]
    inputs = [targs[p] for p in pos]
    if pairs:
        got = torch.autograd.grad([o for o, _ in pairs], inputs, [c for _, c in pairs],
                                  allow_unused=True)  # fmt: skip
    else:
        got = [None] * len(inputs)
    grads = [
        (g if g is not None else torch.zeros_like(x)).detach().numpy() for g, x in zip(got, inputs)
    ]
    return values, grads


def check_torch(op: OpInfo, sample: Sample) -> float | None:
    """Forward values (shape, dtype, values) and gradients for a random cotangent against
    ``op.torch_fn`` in float64; ``None`` without torch or without a torch_fn."""
    if op.torch_fn is None or not torch_available():
        return None
    label = _label(op, sample)
    values, grads = chainrule_values_and_grads(op, sample)
    t_values, t_grads = torch_values_and_grads(op, sample)
    return _compare_all(op, label, "torch", values, grads, t_values, t_grads)


def _compare_all(op: OpInfo, label: str, oracle: str, values: list, grads: list,
                 o_values: list, o_grads: list | None) -> float:  # fmt: skip
    if len(values) != len(o_values):
        raise GradcheckError(f"{label}: {len(values)} outputs, {oracle} gives {len(o_values)}")
    err = 0.0
    for k, (v, w) in enumerate(zip(values, o_values)):
        if v.dtype != w.dtype:
            raise GradcheckError(f"{label}: output {k} has dtype {v.dtype}, {oracle} {w.dtype}")
        what = f"{label}: output {k} vs {oracle}"
        err = max(err, assert_close(v, w, op.ref_atol, op.ref_rtol, what))
    for k, (g, w) in enumerate(zip(grads, o_grads or ())):
        what = f"{label}: gradient of input {k} vs {oracle}"
        err = max(err, assert_close(g, w, op.ref_atol, op.ref_rtol, what))
    return err


def check_reference(op: OpInfo, sample: Sample) -> float | None:
    """Forward values (shape, dtype, values) against the NumPy reference ``op.ref_fn``."""
    if op.ref_fn is None:
        return None
    f, xs = bind(op, sample)
    with cr.no_grad():
        values = [o.numpy() for o in _outputs(f(*[cr.tensor(x) for x in xs]))]
    ref = [np.asarray(r) for r in _outputs(op.ref_fn(*sample.args, **sample.kwargs))]
    return _compare_all(op, _label(op, sample), "NumPy", values, [], ref, None)


CHECKS: dict[str, Callable[[OpInfo, Sample], float | None]] = {
    "gradcheck": check_gradcheck,
    "fwd_rev": check_fwd_rev,
    "gradgrad": check_gradgrad,
    "torch": check_torch,
    "numpy": check_reference,
}


# ---- the whole table, for the command line ------------------------------------------------


def run_table(ops: Sequence[OpInfo] | None = None, checks: Sequence[str] | None = None,
              ) -> list[dict]:  # fmt: skip
    """Run ``checks`` (all by default) over every sample of ``ops`` (the whole table by
    default). One row per op: ``op``, ``cases``, the max abs error per check (None where it
    did not apply), ``failures`` (messages) and ``ok``."""
    names = list(checks or CHECKS)
    rows = []
    for op in ops if ops is not None else OPS:
        row: dict[str, Any] = {"op": op.name, "cases": 0, **dict.fromkeys(names), "failures": []}
        for k, sample in enumerate(op.samples()):
            row["cases"] += 1
            for name in names:
                try:
                    err = CHECKS[name](op, sample)
                except Exception as exc:  # report every failure, keep going
                    row["failures"].append(f"{name} case {k}: {type(exc).__name__}: {exc}")
                    continue
                if err is not None:
                    row[name] = err if row[name] is None else max(row[name], err)
        row["ok"] = not row["failures"]
        rows.append(row)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """``run_table``'s rows as a text table (``-`` where a check did not apply)."""
    names = [k for k in CHECKS if any(k in r for r in rows)]
    header = ["op", "cases", *names, "status"]
    lines = [header]
    for r in rows:
        cells = [r["op"], str(r["cases"])]
        cells += ["-" if r.get(n) is None else f"{r[n]:.1e}" for n in names]
        cells.append("ok" if r["ok"] else f"FAIL ({len(r['failures'])})")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    failures = [f"{r['op']}: {msg}" for r in rows for msg in r["failures"]]
    return "\n".join(out + ([""] + failures if failures else []))


__all__ = [
    "BINARY_SHAPES", "CHECKS", "OPS", "OpInfo", "REDUCE_CASES", "Sample", "UNARY_SHAPES",
    "assert_close", "away_from", "bind", "chainrule_values_and_grads", "check_fwd_rev",
    "check_gradcheck", "check_gradgrad", "check_reference", "check_torch", "compose",
    "distinct", "format_table", "get_op", "positive", "run_table", "torch_available",
    "torch_values_and_grads",
]  # fmt: skip
