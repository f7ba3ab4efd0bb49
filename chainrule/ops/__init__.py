"""chainrule's differentiable ops as functions: ``cr.exp(x)``, ``cr.sum(x, axis=1)``, ...

Each function checks and converts its arguments, then calls one :class:`Op` from the
core family modules (elementwise, reduction, linalg, shape), where the op's forward, vjp
and jvp sit side by side. ``graph_ops`` at the bottom is the NumPy-like namespace that
derivative rules see as ``ctx.xp`` when the backward pass itself is recorded.

The package's other modules are not re-exported here; import them as submodules:
``nn`` (fused activations, losses, linear), ``norm`` (batch/layer norm, embedding,
normalize, maxout), ``attention`` (scaled dot-product and multi-head attention),
``conv`` (convolution and pooling), ``resample`` (interpolation) and ``grid``
(``affine_grid``, ``grid_sample``), both composed of the ops above, ``ctc`` (the CTC loss)
and ``rnn`` (fused LSTM/GRU/RNN layers). Users reach them through :mod:`chainrule.nn`:
:mod:`chainrule.nn.functional` wraps ``nn`` and re-exports ``conv``'s, ``resample``'s and
``grid``'s functions, and the layer modules build on them all.
"""

from __future__ import annotations

import builtins
import math
import types
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import IndexingError, ShapeError
from chainrule.ops import elementwise as _ew
from chainrule.ops import linalg as _la
from chainrule.ops import reduction as _red
from chainrule.ops import shape as _sh
from chainrule.ops._util import normalize_axes, normalize_axis
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, wrap


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


# ---- arithmetic ------------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    return _ew.Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    return _ew.Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    return _ew.Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    return _ew.Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - the op's name
    return _ew.Pow.apply(a, b)


def neg(x: Any) -> Tensor:
    return _ew.Neg.apply(x)


def clone(x: Any) -> Tensor:
    """A differentiable copy of ``x`` with its own memory (PyTorch's ``clone``)."""
    return _ew.Clone.apply(_tensor(x))


def maximum(a: Any, b: Any) -> Tensor:
    return _ew.Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    return _ew.Minimum.apply(a, b)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` is true, else ``b`` (broadcast together)."""
    c = _data(cond)
    if not backend.is_array(c):
        c = np.asarray(c, dtype=bool)
    elif c.dtype != bool:
        c = c.astype(bool)
    return _ew.Where.apply(c, a, b)


def matmul(a: Any, b: Any) -> Tensor:
    return _la.MatMul.apply(a, b)


def _einsum_spec(subscripts: str, shapes: list[tuple]) -> tuple[tuple[str, ...], str]:
    """``subscripts`` as explicit ``(inputs, output)`` letters: ``...`` becomes fresh
    letters (broadcast dimensions, right-aligned) and a missing ``->`` NumPy's implicit
    output (the letters used once, sorted, after the broadcast ones)."""
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ArgumentError(f"einsum: {subscripts!r} names {len(ins)} operands, got "
                            f"{len(shapes)}")  # fmt: skip
    used = set(spec) - set(".,->")
    if not builtins.all(c.isascii() and c.isalpha() for c in used):
        raise ArgumentError(f"einsum: subscripts must be letters (and ...), got {subscripts!r}")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used]
    width = builtins.max([len(sh) - len(s.replace("...", "")) for s, sh in zip(ins, shapes)
                          if "..." in s] or [0])  # fmt: skip
    fill = "".join(spare[:width])
    expanded = []
    for s, shape in zip(ins, shapes):
        if "..." in s:
            s = s.replace("...", fill[width - (len(shape) - len(s.replace("...", ""))) :])
        if len(s) != len(shape):
            raise ShapeError(f"einsum: operand {s!r} of {subscripts!r} has {len(s)} subscripts "
                             f"for shape {shape}")  # fmt: skip
        if len(set(s)) != len(s):
            raise ArgumentError(f"einsum: a letter repeated within one operand ({s!r}: a "
                                "diagonal or trace) is not supported")  # fmt: skip
        expanded.append(s)
    letters = "".join(expanded)
    if arrow:
        out = rhs.replace("...", fill)
    else:
        out = fill + "".join(sorted(c for c in set(letters) - set(fill) if letters.count(c) == 1))
    if len(set(out)) != len(out) or not set(out) <= set(letters):
        raise ArgumentError(f"einsum: output {rhs!r} repeats a letter or names one no "
                            f"operand has ({subscripts!r})")  # fmt: skip
    return tuple(expanded), out


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation, as NumPy's and PyTorch's ``einsum``: ``"ij,jk->ik"`` is a matrix
    product, ``"bhqd,bhkd->bhqk"`` attention scores, ``"i,j->ij"`` an outer product; ``...``
    stands for broadcast dimensions and without ``->`` the output is NumPy's implicit one.
    A letter may not repeat within one operand (no diagonals or traces). Differentiable in
    every operand, to any order and in forward mode."""
    ts = [_tensor(o) for o in operands]
    if not ts:
        raise ArgumentError("einsum: needs at least one operand")
    spec = _einsum_spec(subscripts, [t.shape for t in ts])
    try:
        return _la.Einsum.apply(*ts, spec=spec)
    except ValueError as exc:
        shapes = ", ".join(str(t.shape) for t in ts)
        raise ShapeError(f"einsum: {subscripts!r} does not fit shapes {shapes}: {exc}") from None


# ---- unary -----------------------------------------------------------------------------
def exp(x: Any) -> Tensor:
    return _ew.Exp.apply(x)


def log(x: Any) -> Tensor:
    return _ew.Log.apply(x)


def sqrt(x: Any) -> Tensor:
    return _ew.Sqrt.apply(x)


def abs(x: Any) -> Tensor:  # noqa: A001
    return _ew.Abs.apply(x)


def sin(x: Any) -> Tensor:
    return _ew.Sin.apply(x)


def cos(x: Any) -> Tensor:
    return _ew.Cos.apply(x)


def log1p(x: Any) -> Tensor:
    """``log(1 + x)``, accurate where ``x`` is tiny."""
    return _ew.Log1p.apply(x)


def expm1(x: Any) -> Tensor:
    """``exp(x) - 1``, accurate where ``x`` is tiny."""
    return _ew.Expm1.apply(x)


def log2(x: Any) -> Tensor:
    return _ew.Log2.apply(x)


def log10(x: Any) -> Tensor:
    return _ew.Log10.apply(x)


def exp2(x: Any) -> Tensor:
    return _ew.Exp2.apply(x)


def square(x: Any) -> Tensor:
    x = _tensor(x)
    return mul(x, x)


def reciprocal(x: Any) -> Tensor:
    return div(1.0, x)


def rsqrt(x: Any) -> Tensor:
    """``1 / sqrt(x)``."""
    return div(1.0, sqrt(x))


def tan(x: Any) -> Tensor:
    return _ew.Tan.apply(x)


def arctan(x: Any) -> Tensor:
    return _ew.Arctan.apply(x)


def arcsin(x: Any) -> Tensor:
    return _ew.Arcsin.apply(x)


def arccos(x: Any) -> Tensor:
    return _ew.Arccos.apply(x)


def sinh(x: Any) -> Tensor:
    return _ew.Sinh.apply(x)


def cosh(x: Any) -> Tensor:
    return _ew.Cosh.apply(x)


def tanh(x: Any) -> Tensor:
    return _ew.Tanh.apply(x)


def sigmoid(x: Any) -> Tensor:
    return _ew.Sigmoid.apply(x)


def relu(x: Any) -> Tensor:
    return _ew.Relu.apply(x)


def clip(x: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - NumPy's names
    """Limit ``x`` to ``[min, max]``; either bound may be None."""
    if min is None and max is None:
        raise ArgumentError("clip: give min, max or both")
    return _ew.Clip.apply(x, lo=min, hi=max)


def astype(x: Any, dtype: Any) -> Tensor:
    return _ew.Astype.apply(_tensor(x), dtype=np.dtype(dtype))


def to_device(x: Any, device: str) -> Tensor:
    return _ew.ToDevice.apply(_tensor(x), device=device)


# ---- reductions ------------------------------------------------------------------------
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _red.Sum.apply(_tensor(x), axis=axis, keepdims=keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _red.Mean.apply(_tensor(x), axis=axis, keepdims=keepdims)


def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Variance (NumPy's ``ddof``: 0 gives the biased estimate)."""
    return _red.Var.apply(_tensor(x), axis=axis, ddof=ddof, keepdims=keepdims)


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation, ``sqrt(var(x, axis, ddof))`` (NumPy's ``ddof``; PyTorch's
    ``std`` defaults to ``correction=1``). Where the variance is 0 the gradient is taken as
    0, as PyTorch's (the square root's slope is infinite there)."""
    v = var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    flat = v.data == 0
    return where(flat, 0.0, sqrt(where(flat, 1.0, v)))


def vector_norm(x: Any, ord: float = 2, axis: Any = None,  # noqa: A002
                keepdims: bool = False) -> Tensor:  # fmt: skip
    """The vector ``ord``-norm over ``axis`` (all axes by default): PyTorch's
    ``linalg.vector_norm`` / NumPy's ``linalg.norm`` of a flattened vector (named so: the
    package has a module ``norm``). ``ord`` > 0 or
    ``inf``. Where the norm is 0 its gradient is taken as 0, as PyTorch's."""
    x = _tensor(x)
    if not (ord == math.inf or (isinstance(ord, int | float) and ord > 0)):
        raise ArgumentError(f"vector_norm: ord must be > 0 or inf, got {ord!r}")
    a = abs(x)
    if ord == math.inf:
        return max(a, axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(a, axis=axis, keepdims=keepdims)
    total = sum(a * a if ord == 2 else a**ord, axis=axis, keepdims=keepdims)
    zero = total.data == 0
    root = sqrt(where(zero, 1.0, total)) if ord == 2 else where(zero, 1.0, total) ** (1 / ord)
    return where(zero, 0.0, root)


def cumsum(x: Any, axis: int) -> Tensor:
    """Running sum along ``axis`` (PyTorch's ``cumsum(dim)``; the axis is required)."""
    x = _tensor(x)
    return _red.Cumsum.apply(x, axis=normalize_axis(axis, builtins.max(x.ndim, 1), "cumsum"))


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (all axes by default). Each element's gradient is the product
    of the others in its slice, exact where elements are zero (as PyTorch's)."""
    return _red.Prod.apply(x, axis=axis, keepdims=keepdims)


def cumprod(x: Any, axis: int) -> Tensor:
    """Running product along ``axis`` (PyTorch's ``cumprod(dim)``; the axis is required).
    The gradient is exact where elements are zero."""
    x = _tensor(x)
    if x.ndim == 0:  # NumPy's cumprod of a number is one element long
        x = reshape(x, (1,))
    return _red.Cumprod.apply(x, axis=normalize_axis(axis, x.ndim, "cumprod"))


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) largest element, over the flattened tensor or along ``axis``."""
    return _arg_extreme("argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the (first) smallest element, over the flattened tensor or along ``axis``."""
    return _arg_extreme("argmin", x, axis, keepdims)


def _arg_extreme(op: str, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    d = _tensor(x).data
    if axis is not None:
        axis = normalize_axis(axis, builtins.max(d.ndim, 1), op)
    if d.size == 0:
        raise ShapeError(f"{op}: cannot reduce an empty tensor of shape {d.shape}")
    return wrap(getattr(d, op)(axis=axis, keepdims=keepdims))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient goes to the first maximal element."""
    return _red.Max.apply(_tensor(x), axis=axis, keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis``; the gradient goes to the first minimal element."""
    return _red.Min.apply(_tensor(x), axis=axis, keepdims=keepdims)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    return _red.LogSumExp.apply(_tensor(x), axis=axis, keepdims=keepdims)


def softmax(x: Any, axis: int = -1) -> Tensor:
    return _red.Softmax.apply(_tensor(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    return _red.LogSoftmax.apply(_tensor(x), axis=axis)


# ---- shapes ----------------------------------------------------------------------------
def _shape_arg(shape: Any) -> tuple:
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def reshape(x: Any, shape: Any) -> Tensor:
    return _sh.Reshape.apply(_tensor(x), shape=_shape_arg(shape))


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute axes (reverse them when ``axes`` is None), as NumPy."""
    x = _tensor(x)
    if axes is not None:
        axes = tuple(axes)
        if len(axes) != x.ndim:
            raise ShapeError(f"transpose: {len(axes)} axes given for shape {x.shape}")
    return _sh.Transpose.apply(x, axes=axes)


def _axes(x: Tensor, axis: Any, op: str) -> tuple:
    """``axis`` (None for all, an int or a sequence) as a tuple of distinct axes >= 0."""
    raw = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(normalize_axis(a, x.ndim, op) for a in raw)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: repeated axis in {axis!r}")
    return axes


def flip(x: Any, axis: Any = None) -> Tensor:
    """``x`` reversed along ``axis`` (an int, a sequence, or None for every axis), as
    NumPy's ``flip`` (a copy)."""
    x = _tensor(x)
    return _sh.Flip.apply(x, axis=_axes(x, axis, "flip"))


def roll(x: Any, shift: Any, axis: Any = None) -> Tensor:
    """``x`` shifted cyclically by ``shift`` along ``axis`` (NumPy's ``roll``: with
    ``axis=None`` the flattened array rolls; ``shift`` and ``axis`` may be matching
    sequences)."""
    x = _tensor(x)
    if isinstance(shift, int) != (axis is None or isinstance(axis, int)):
        raise ArgumentError(f"roll: shift {shift!r} and axis {axis!r} must both be ints (or "
                            "axis None) or matching sequences")  # fmt: skip
    if not isinstance(shift, int):
        shift, axis = tuple(int(v) for v in shift), tuple(axis)
        if len(shift) != len(axis):
            raise ArgumentError(f"roll: {len(shift)} shifts for {len(axis)} axes")
        axis = tuple(normalize_axis(a, x.ndim, "roll") for a in axis)
    elif axis is not None:
        axis = normalize_axis(axis, x.ndim, "roll")
    return _sh.Roll.apply(x, shift=shift, axis=axis)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    x = _tensor(x)
    axes = list(range(x.ndim))
    a, b = normalize_axis(axis1, x.ndim, "swapaxes"), normalize_axis(axis2, x.ndim, "swapaxes")
    axes[a], axes[b] = axes[b], axes[a]
    return _sh.Transpose.apply(x, axes=tuple(axes))


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """NumPy's ``moveaxis`` (PyTorch's ``movedim``): axes ``source`` moved to positions
    ``destination``, the others kept in order."""
    x = _tensor(x)
    src = _axis_list(source, x.ndim, "moveaxis")
    dst = _axis_list(destination, x.ndim, "moveaxis")
    if len(src) != len(dst):
        raise ArgumentError(f"moveaxis: {len(src)} source axes but {len(dst)} destinations")
    order = [a for a in range(x.ndim) if a not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return transpose(x, tuple(order))


def _axis_list(axes: Any, ndim: int, op: str) -> list[int]:
    """``axes`` (an int or a sequence, in the caller's order) normalized, without repeats."""
    out = [normalize_axis(a, ndim, op) for a in ((axes,) if isinstance(axes, int) else axes)]
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axes}")
    return out


def flatten(x: Any, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` (inclusive) into one, as ``torch.flatten``."""
    x = _tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_axis(start_axis, x.ndim, "flatten")
    e = normalize_axis(end_axis, x.ndim, "flatten")
    if s > e:
        raise ShapeError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    return reshape(x, x.shape[:s] + (-1,) + x.shape[e + 1 :])


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Drop axes of length 1 (all of them, or those named; naming a longer axis is an error)."""
    x = _tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = tuple(normalize_axis(a, x.ndim, "squeeze") for a in _shape_arg(axis))
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Any, axis: int) -> Tensor:
    """Insert an axis of length 1 at ``axis`` (negative counts from the end of the result)."""
    x = _tensor(x)
    a = normalize_axis(axis, x.ndim + 1, "unsqueeze")
    return reshape(x, x.shape[:a] + (1,) + x.shape[a:])


expand_dims = unsqueeze


def expand(x: Any, shape: Any) -> Tensor:
    """Broadcast to ``shape`` without copying; -1 keeps an axis's length (as torch)."""
    x = _tensor(x)
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: cannot broadcast {x.shape} to fewer dimensions {shape}")
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    return _sh.BroadcastTo.apply(x, shape=shape)


def broadcast_to(x: Any, shape: Any) -> Tensor:
    return _sh.BroadcastTo.apply(_tensor(x), shape=_shape_arg(shape))


def _counts(op: str, reps: Any) -> tuple[int, ...]:
    reps = tuple(reps) if isinstance(reps, tuple | list) else (reps,)
    if not builtins.all(isinstance(r, int | np.integer) and not isinstance(r, bool) and r >= 0
               for r in reps):  # fmt: skip
        raise ArgumentError(f"{op}: repetitions must be ints >= 0, got {reps!r}")
    return tuple(int(r) for r in reps)


def tile(x: Any, reps: Any) -> Tensor:
    """NumPy's ``tile`` (PyTorch's ``Tensor.repeat``): ``x`` repeated ``reps[i]`` times along
    axis i (``reps`` longer than the rank adds leading axes). A broadcast and a reshape, so
    the gradient sums the copies."""
    x, reps = _tensor(x), _counts("tile", reps)
    n = builtins.max(len(reps), x.ndim)
    shape = (1,) * (n - x.ndim) + tuple(x.shape)
    reps = (1,) * (n - len(reps)) + reps
    paired = tuple(v for r, s in zip(reps, shape) for v in (r, s))  # (r0, s0, r1, s1, ...)
    spread = broadcast_to(reshape(x, tuple(v for s in shape for v in (1, s))), paired)
    return reshape(spread, tuple(r * s for r, s in zip(reps, shape)))


def repeat_interleave(x: Any, repeats: int, axis: int | None = None) -> Tensor:
    """Each element repeated ``repeats`` times in place along ``axis`` (NumPy's ``repeat``
    with one count; PyTorch's ``repeat_interleave``); ``axis=None`` flattens first."""
    x = _tensor(x)
    (r,) = _counts("repeat_interleave", repeats)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim, "repeat_interleave")
    shape = tuple(x.shape)
    spread = broadcast_to(unsqueeze(x, axis + 1), shape[: axis + 1] + (r,) + shape[axis + 1 :])
    return reshape(spread, shape[:axis] + (shape[axis] * r,) + shape[axis + 1 :])


def sum_to(x: Any, shape: Any) -> Tensor:
    """Sum ``x`` down to ``shape`` (the adjoint of broadcasting ``shape`` to ``x.shape``)."""
    x = _tensor(x)
    shape = _shape_arg(shape)
    return x if x.shape == shape else _sh.SumTo.apply(x, shape=shape)


def getitem(x: Any, index: Any) -> Tensor:
    index, basic = _sh.normalize_index(index)
    return _sh.GetItem.apply(_tensor(x), index=index, basic=basic)


def _int_index(op: str, x: Tensor, indices: Any) -> Any:
    idx = _data(indices)
    idx = idx if backend.is_array(idx) else np.asarray(idx)
    if idx.dtype.kind not in "iu" or idx.ndim != x.ndim:
        raise IndexingError(f"{op}: indices must be integers of the input's rank {x.ndim}, "
                            f"got dtype {idx.dtype} and shape {idx.shape}")  # fmt: skip
    return idx


def gather(x: Any, axis: int, indices: Any) -> Tensor:
    """PyTorch's ``gather(dim, index)``: ``out[i][j][k] = x[i][indices[i][j][k]][k]`` for
    ``axis=1``, and so on; ``out`` has the shape of ``indices`` (integers of ``x``'s rank,
    no larger than ``x`` on the other axes; negative ones count from the end, which
    PyTorch refuses). An integer-array index underneath, so repeated indices accumulate
    their gradients."""
    x = _tensor(x)
    idx = _int_index("gather", x, indices)
    axis = normalize_axis(axis, x.ndim, "gather")
    if builtins.any(n > m for a, (n, m) in enumerate(zip(idx.shape, x.shape)) if a != axis):
        raise IndexingError(f"gather: indices of shape {idx.shape} are larger than the input "
                            f"{x.shape} on an axis other than {axis}")  # fmt: skip
    if idx.size and (idx.min() < -x.shape[axis] or idx.max() >= x.shape[axis]):
        raise IndexingError(f"gather: indices out of range for axis {axis} of size "
                            f"{x.shape[axis]}")  # fmt: skip
    xp = backend.array_module(idx)
    grids = xp.ix_(*[xp.arange(n) for n in idx.shape]) if idx.ndim else ()
    return getitem(x, tuple(idx if a == axis else grids[a] for a in range(x.ndim)))


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """NumPy's ``take_along_axis``: :func:`gather`, with ``indices`` broadcast against
    ``x`` on the other axes."""
    x = _tensor(x)
    idx = _int_index("take_along_axis", x, indices)
    axis = normalize_axis(axis, x.ndim, "take_along_axis")
    try:
        shape = [n if a == axis else np.broadcast_shapes((n,), (m,))[0]
                 for a, (n, m) in enumerate(zip(idx.shape, x.shape))]  # fmt: skip
    except ValueError:
        raise IndexingError(f"take_along_axis: indices of shape {idx.shape} do not broadcast "
                            f"against the input {x.shape} off axis {axis}") from None  # fmt: skip
    return gather(x, axis, backend.array_module(idx).broadcast_to(idx, tuple(shape)))


def argsort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``axis``; stable both ways (equal elements keep their
    order), and NaN counts as the largest value (last ascending, first descending)."""
    d = _tensor(x).data
    axis = normalize_axis(axis, d.ndim, "argsort")
    xp = backend.array_module(d)
    if not descending:
        return wrap(xp.argsort(d, axis=axis, kind="stable"))
    # a stable ascending sort of the reversed axis, read backwards: descending, and equal
    # elements still in their original order
    rev = xp.flip(xp.argsort(xp.flip(d, axis), axis=axis, kind="stable"), axis)
    return wrap(d.shape[axis] - 1 - rev)


def sort(x: Any, axis: int = -1, descending: bool = False) -> Tensor:
    """``x`` sorted along ``axis`` (NumPy's ``sort``: the values; :func:`argsort` gives the
    order). Each value's gradient goes back to where it came from."""
    x = _tensor(x)
    return take_along_axis(x, argsort(x, axis, descending).data, axis)


def topk(x: Any, k: int, axis: int = -1, largest: bool = True) -> tuple[Tensor, Tensor]:
    """The ``k`` largest (``largest=False``: smallest) elements along ``axis`` and their
    indices, as PyTorch's ``topk`` and JAX's ``lax.top_k``: ``(values, indices)``, in order,
    ties in index order. The values are differentiable."""
    x = _tensor(x)
    axis = normalize_axis(axis, x.ndim, "topk")
    n = x.shape[axis]
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or not 0 <= k <= n:
        raise ArgumentError(f"topk: k must be an int from 0 to {n} (the length of axis "
                            f"{axis} of shape {x.shape}), got {k!r}")  # fmt: skip
    order = argsort(x, axis, descending=largest).data
    idx = order[(slice(None),) * axis + (slice(0, int(k)),)]
    return take_along_axis(x, idx, axis), wrap(idx)


def tril(x: Any, k: int = 0) -> Tensor:
    """The lower triangle of the last two axes (``j <= i + k``); the rest 0 (NumPy's)."""
    x = _tensor(x)
    keep = backend.array_module(x.data).tri(*x.shape[-2:], k=k, dtype=bool)
    return where(keep, x, 0)


def triu(x: Any, k: int = 0) -> Tensor:
    """The upper triangle of the last two axes (``j >= i + k``); the rest 0 (NumPy's)."""
    x = _tensor(x)
    keep = ~backend.array_module(x.data).tri(*x.shape[-2:], k=k - 1, dtype=bool)
    return where(keep, x, 0)


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """NumPy's ``diagonal``: the elements ``[i, i + offset]`` of axes ``axis1`` and
    ``axis2``, as the last axis of the result (the other axes first, in order). Its
    gradient is scattered back onto the diagonal."""
    x = _tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs a tensor of at least 2 dimensions, got shape {x.shape}")
    a1, a2 = normalize_axis(axis1, x.ndim, "diagonal"), normalize_axis(axis2, x.ndim, "diagonal")
    if a1 == a2:
        raise ShapeError(f"diagonal: axis1 and axis2 must differ, both are axis {a1}")
    if not isinstance(offset, int | np.integer) or isinstance(offset, bool):
        raise ArgumentError(f"diagonal: offset must be an int, got {offset!r}")
    rest = tuple(a for a in range(x.ndim) if a not in (a1, a2))
    xp = backend.array_module(x.data)
    first = builtins.max(0, -int(offset))
    length = builtins.max(0, builtins.min(x.shape[a1] - first, x.shape[a2] - first - offset))
    rows = xp.arange(first, first + length)
    return getitem(transpose(x, rest + (a1, a2)), (Ellipsis, rows, rows + offset))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """Sum of :func:`diagonal` (NumPy's ``trace``)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(x: Any, k: int = 0) -> Tensor:
    """NumPy's ``diag``: a vector becomes a square matrix with it on diagonal ``k``; a
    matrix gives its diagonal ``k``."""
    x = _tensor(x)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ShapeError(f"diag: needs a vector or a matrix, got shape {x.shape}")
    if not isinstance(k, int | np.integer) or isinstance(k, bool):
        raise ArgumentError(f"diag: k must be an int, got {k!r}")
    n = x.shape[0] + builtins.abs(int(k))
    i = backend.array_module(x.data).arange(x.shape[0])
    return scatter_add((n, n), (i + builtins.max(0, -k), i + builtins.max(0, k)), x)


def outer(a: Any, b: Any) -> Tensor:
    """``a[i] * b[j]`` over the flattened inputs (NumPy's ``outer``)."""
    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def kron(a: Any, b: Any) -> Tensor:
    """The Kronecker product (NumPy's ``kron``): blocks ``a[i, j] * b``; the shorter shape
    is padded with leading 1s."""
    a, b = _tensor(a), _tensor(b)
    nd = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    # a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...), then each pair merged
    wide_a = reshape(a, tuple(n for m in sa for n in (m, 1)))
    wide_b = reshape(b, tuple(n for m in sb for n in (1, m)))
    return reshape(wide_a * wide_b, tuple(m * n for m, n in zip(sa, sb)))


def cross(a: Any, b: Any, axis: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``axis`` (PyTorch's ``linalg.cross``), the other
    axes broadcast."""
    a, b = _tensor(a), _tensor(b)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cross: shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None  # fmt: skip
    ax = normalize_axis(axis, len(shape), "cross") - len(shape)  # from the right: both align
    for t in (a, b):
        if t.ndim < -ax or t.shape[ax] != 3:
            raise ShapeError(f"cross: axis {axis} must have length 3 in both inputs, got "
                             f"shapes {a.shape} and {b.shape}")  # fmt: skip
    pick = (Ellipsis,) + (slice(None),) * (-ax - 1)
    a0, a1, a2 = (getitem(a, pick[:1] + (i,) + pick[1:]) for i in range(3))
    b0, b1, b2 = (getitem(b, pick[:1] + (i,) + pick[1:]) for i in range(3))
    return stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=ax)


def scatter_add(shape: Any, index: Any, values: Any, basic: bool = False) -> Tensor:
    """``zeros(shape)`` with ``values`` added at ``index``; repeated indices accumulate."""
    index, is_basic = _sh.normalize_index(index)
    return _sh.ScatterAdd.apply(_tensor(values), shape=_shape_arg(shape), index=index,
                                basic=basic and is_basic)  # fmt: skip


def index_put(x: Any, index: Any, value: Any) -> Tensor:
    """A copy of ``x`` with ``x[index] = value``."""
    index, _ = _sh.normalize_index(index)
    return _sh.IndexPut.apply(_tensor(x), value, index=index)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    tensors = [_tensor(t) for t in tensors]
    if builtins.any(t.ndim == 0 for t in tensors):
        raise ShapeError("concatenate: 0-d tensors cannot be concatenated; use stack")
    return _sh.Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = [_tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("stack: needs at least one tensor")
    first = tensors[0].shape
    for t in tensors[1:]:
        if t.shape != first:
            raise ShapeError(f"stack: all shapes must match, got {first} and {t.shape}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> tuple:
    """NumPy's split: ``n`` equal sections, or the indices where each new part starts."""
    ios = indices_or_sections
    ios = ios if isinstance(ios, (int, np.integer)) else tuple(ios)
    return _sh.Split.apply(_tensor(x), indices_or_sections=ios, axis=axis)


_PAD_MODES = {"constant", "edge", "reflect", "symmetric", "wrap"}


def pad(x: Any, pad_width: Any, mode: str = "constant", value: float = 0) -> Tensor:
    """NumPy's pad. ``constant`` fills with ``value``; ``edge``, ``reflect``, ``symmetric``
    and ``wrap`` gather existing elements, so their gradient flows through indexing."""
    x = _tensor(x)
    if mode not in _PAD_MODES:
        raise ArgumentError(f"pad: unknown mode {mode!r}; expected one of {sorted(_PAD_MODES)}")
    try:
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit shape {x.shape}") from None
    if (widths < 0).any():
        raise ArgumentError(f"pad: negative pad_width {pad_width!r}")
    widths = tuple((int(b), int(a)) for b, a in widths)
    if mode == "constant":
        return _sh.Pad.apply(x, pad_width=widths, value=value)
    out = x
    for axis, (before, after) in enumerate(widths):
        if before or after:
            if x.shape[axis] == 0:
                raise ShapeError(f"pad: mode {mode!r} cannot pad empty axis {axis}")
            idx = np.pad(np.arange(x.shape[axis]), (before, after), mode=mode)
            out = getitem(out, (slice(None),) * axis + (idx,))
    return out


# ---- no gradient -----------------------------------------------------------------------
def _compare(ufunc: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        da, db = _data(a), _data(b)
        return wrap(
            getattr(backend.array_module(da if backend.is_array(da) else db), ufunc)(da, db)
        )

    op.__name__ = ufunc
    op.__doc__ = f"Elementwise ``{ufunc}``; a bool tensor with no gradient."
    return op


less = _compare("less")
less_equal = _compare("less_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")
logical_and = _compare("logical_and")
logical_or = _compare("logical_or")


def _no_grad_unary(name: str, doc: str) -> Any:
    def op(x: Any) -> Tensor:
        d = _data(x)
        return wrap(getattr(backend.array_module(d), name)(d))

    op.__name__ = name
    op.__doc__ = doc
    return op


_STEP = "no gradient: the result does not require grad (its derivative is 0 almost everywhere)"
logical_not = _no_grad_unary("logical_not", "Elementwise ``not``: a bool tensor.")
sign = _no_grad_unary("sign", f"-1, 0 or 1 by the sign of ``x``, elementwise; {_STEP}.")
floor = _no_grad_unary("floor", f"Round down, elementwise; {_STEP}.")
ceil = _no_grad_unary("ceil", f"Round up, elementwise; {_STEP}.")
trunc = _no_grad_unary("trunc", f"Round towards zero, elementwise; {_STEP}.")
isnan = _no_grad_unary("isnan", "Where ``x`` is NaN: a bool tensor.")
isinf = _no_grad_unary("isinf", "Where ``x`` is +-inf: a bool tensor.")
isfinite = _no_grad_unary("isfinite", "Where ``x`` is neither NaN nor +-inf: a bool tensor.")


def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001 - NumPy's name
    """Round to ``decimals`` places, halves to even (NumPy's and PyTorch's rule); no
    gradient, as :func:`floor`."""
    d = _data(x)
    return wrap(backend.array_module(d).round(d, decimals))


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any element (over ``axis``) is nonzero: a bool tensor."""
    d = _tensor(x).data
    return wrap(d.any(axis=normalize_axes(axis, d.ndim, "any"), keepdims=keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element (over ``axis``) is nonzero: a bool tensor."""
    d = _tensor(x).data
    return wrap(d.all(axis=normalize_axes(axis, d.ndim, "all"), keepdims=keepdims))


def isclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:  # fmt: skip
    """``|a - b| <= atol + rtol * |b|`` elementwise (NumPy's ``isclose``): a bool tensor."""
    da, db = _data(a), _data(b)
    xp = backend.array_module(da if backend.is_array(da) else db)
    try:
        return wrap(xp.isclose(da, db, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise _ew._broadcast_error("isclose", da, db) from None


def allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:  # fmt: skip
    """Whether :func:`isclose` holds everywhere: a Python bool."""
    return bool(isclose(a, b, rtol, atol, equal_nan).data.all())


def zeros_like(x: Any) -> Tensor:
    d = _data(x)
    return wrap(backend.array_module(d).zeros_like(d))


def ones_like(x: Any) -> Tensor:
    d = _data(x)
    return wrap(backend.array_module(d).ones_like(d))


# The namespace derivative rules use as ``ctx.xp`` when the backward pass is recorded:
# the same names and signatures as backend.numpy_ops, but every function builds graph.
graph_ops = types.SimpleNamespace(
    exp=exp, log=log, sqrt=sqrt, abs=abs, sin=sin, cos=cos, sinh=sinh, cosh=cosh, tanh=tanh,
    sign=sign, flip=flip, roll=roll, cumsum=cumsum, cumprod=cumprod, einsum=einsum,
    where=where, maximum=maximum, minimum=minimum, sum=sum, mean=mean, matmul=matmul,
    reshape=reshape, transpose=transpose, swapaxes=swapaxes, expand_dims=unsqueeze,
    squeeze=squeeze, broadcast_to=broadcast_to, concatenate=concatenate, split=split,
    zeros_like=zeros_like, ones_like=ones_like, sum_to=sum_to, scatter_add=scatter_add,
    is_graph=True,
)  # fmt: skip
