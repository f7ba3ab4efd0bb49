"""Tensor: an array that remembers which op made it.

A Tensor holds ``data`` (a NumPy or CuPy array), ``grad``, ``requires_grad`` and, when an
op made it while recording, ``_node`` (the op's graph node) and ``_index`` (which of the
node's outputs it is). The ops themselves live in ``chainrule.ops``; the methods here
only forward to them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.mode import state
from chainrule.errors import DTypeError, GraphError, ShapeError

_FLOAT_KINDS = "fc"
_NUMERIC_KINDS = "fciub"  # not strings, bytes, objects, dates or records


def as_dtype(dtype: Any) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"not a dtype: {dtype!r}") from exc


def to_array(data: Any, dtype: Any = None, copy: bool = False) -> Any:
    """Convert ``data`` following chainrule's rules: Python floats -> float32, ints -> int64,
    a NumPy (or CuPy) array keeps its dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        arr = data
        if dtype is not None and arr.dtype != as_dtype(dtype):
            arr = arr.astype(dtype)
        elif copy:
            arr = arr.copy()
        return _numeric(arr, data)
    if isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        try:
            arr = np.asarray(data)
        except ValueError as exc:
            raise ShapeError(f"cannot make a tensor from ragged nested data: {exc}") from exc
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
        elif arr.dtype == object:
            raise DTypeError(f"cannot make a tensor from {type(data).__name__} {data!r}")
    if dtype is not None:
        arr = arr.astype(as_dtype(dtype), copy=False)
    _numeric(arr, data)
    return arr.copy() if copy and isinstance(data, np.generic) else arr


def _numeric(arr: Any, data: Any) -> Any:
    """``arr``, after checking that it holds numbers (not strings, objects or dates)."""
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DTypeError(
            f"cannot make a tensor of dtype {arr.dtype} from {type(data).__name__} "
            f"{data!r:.80}: tensors hold numeric (float, int or bool) data"
        )
    return arr


def _read_only(a: Any) -> bool:
    return not getattr(a.flags, "writeable", True)  # a library without the flag: writable


def _write_error(t: Tensor, exc: Exception) -> Exception:
    if _read_only(t.data):
        return GraphError(
            f"in-place write into a read-only tensor of shape {t.shape} (an expand / "
            "broadcast_to result, whose elements share memory); clone() it first"
        )
    return ShapeError(f"in-place write into shape {t.shape}: {exc}")


def wrap(data: Any, requires_grad: bool = False, node: Any = None, index: int = 0) -> Tensor:
    """Make a Tensor around an array produced by an op (no conversion, no checks)."""
    if type(data) is not np.ndarray and not backend.is_array(data):
        data = np.asarray(data)
    t = Tensor.__new__(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._node = node
    t._index = index
    t._version = [0]
    t._tangent = None
    t._base = None
    return t


class Tensor:
    """An n-dimensional array with reverse- and forward-mode autodiff.

    ``Tensor(data, requires_grad=False)`` wraps ``data`` without copying a NumPy array;
    ``cr.tensor(...)`` copies.
    """

    # _base: for a view made by a view op, ``(base tensor, op class, op params, output
    # index, version)``: a recorded in-place write through the view is written back into
    # the base's history (_inplace), and a view whose memory was written since
    # ``version`` (through its base or another view) is made again from the base before
    # an op uses it (Function.apply): PyTorch's view tracking. None for other tensors.
    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "_version", "_tangent",
                 "_base", "__weakref__")  # fmt: skip
    __array_ufunc__ = None  # make NumPy defer to our reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = to_array(data, dtype)
        self.grad = None
        self.requires_grad = False
        self._node = None
        self._index = 0
        self._version = [0]
        self._tangent = None
        self._base = None
        if requires_grad:
            self.requires_grad_()

    # ---- properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.numpy()), separator=", ", prefix="tensor(")
        extra = "" if self.dtype == np.float32 else f", dtype={self.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True" if self._node is None else f", op={self._node.name}"
        return f"tensor({body}{extra})"

    # ---- conversion -------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared on the CPU, copied from a GPU)."""
        return backend.to_device(self.data, "cpu")

    def item(self) -> Any:
        if self.data.size != 1:
            raise ShapeError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def to(self, device: str | None = None, dtype: Any = None) -> Tensor:
        """This tensor on ``device`` and/or as ``dtype`` (differentiable)."""
        out = self
        if dtype is not None:
            out = out.astype(dtype)
        if device is not None and device != out.device:
            out = _ops.to_device(out, device)
        return out

    def astype(self, dtype: Any) -> Tensor:
        dtype = as_dtype(dtype)
        return self if dtype == self.dtype else _ops.astype(self, dtype)

    # ---- autograd ---------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise DTypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._node is not None:
            raise GraphError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` with this tensor's gradient (summed over its uses) whenever a
        backward computes it; a Tensor it returns replaces the gradient. Returns a handle
        with ``remove()``. PyTorch's ``register_hook``; see ``chainrule.autograd.hooks``."""
        from chainrule.autograd import hooks

        return hooks.register_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (accumulated as
        a leaf's; nothing to do for a leaf)."""
        from chainrule.autograd import hooks

        hooks.retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor after ``retain_grad()``."""
        from chainrule.autograd import hooks

        return hooks.retains_grad(self)

    def clone(self) -> Tensor:
        """A differentiable copy with its own memory (PyTorch's ``clone``)."""
        return _ops.clone(self)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        t = wrap(self.data)
        t._version = self._version
        return t

    def backward(
        self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        from chainrule.autograd import engine

        engine.backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

    # ---- in place ---------------------------------------------------------------------
    def _inplace(self, result: Tensor) -> Tensor:
        if result.shape != self.shape:
            raise ShapeError(
                f"in-place op would change the shape from {self.shape} to {result.shape}"
            )
        if result.requires_grad and self._node is None and self.requires_grad:
            raise GraphError(
                "in-place op on a leaf tensor that requires grad; do it inside cr.no_grad()"
            )
        try:
            self.data[...] = result.data
        except ValueError as exc:
            raise _write_error(self, exc) from None
        self._version[0] += 1
        self._tangent = result._tangent  # forward mode: the written tensor's new tangent
        if result.requires_grad:
            self.requires_grad = True
            self._node = result._node
            self._index = result._index
        if self._base is not None and (result.requires_grad or state.forward_active):
            self._write_back()  # the base's history (and tangent) must see the write
        return self

    def _write_back(self) -> None:
        """After a recorded in-place write through this view, record ``base[region] =
        view`` on the base (PyTorch's CopySlices): the base's memory already holds the new
        values, and now its history does too. Recursive for a view of a view."""
        base, op, params, k, _ = self._base
        self._base = (base, op, params, k, self._version[0])  # its node was just set: current
        index, value = op.write_back(self, base, params, k)
        base[index] = value  # bumps the shared version again, without changing this view
        self._base = (base, op, params, k, self._version[0])

    def _refresh_if_stale(self) -> None:
        """Refresh this tensor if it is a view whose memory was written since its node was
        set (Function.apply inlines this check on its hot path)."""
        if self._base is not None and self._version[0] != self._base[4]:
            self._refresh_view()

    def _refresh_view(self) -> None:
        """Make this view again from its base (recorded), keeping its memory: after the base
        or another view was written in place, its old node no longer explains its values."""
        base, op, params, k, _ = self._base
        fresh = op.apply(base, **params)
        fresh = fresh[k] if type(fresh) is tuple else fresh
        self.requires_grad = fresh.requires_grad
        self._node, self._index = fresh._node, fresh._index
        self._tangent = fresh._tangent
        self._base = (base, op, params, k, self._version[0])

    def _original(self) -> Tensor:
        """A copy of this tensor's values with its history (node and tangent): what an op
        reads when its result is about to be written into this tensor and it may save its
        input for backward (PyTorch's ``original_self``)."""
        t = wrap(self.data.copy(), self.requires_grad, self._node, self._index)
        t._tangent = self._tangent
        return t

    def _inplace_arith(self, inplace: Any, op: Any, other: Any) -> Tensor:
        """``self op= other``: straight into the array when nothing is recorded."""
        tracked = self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
        if (tracked and state.grad_enabled) or state.forward_active:
            self._refresh_if_stale()  # (the copy below takes self's node: make it current)
            # mul and div save their operands for backward: give them a copy of self, which
            # the in-place write would otherwise overwrite
            source = self._original() if op is _ops.mul or op is _ops.div else self
            return self._inplace(op(source, other))
        o = other.data if isinstance(other, Tensor) else other
        try:
            inplace(self.data, o)  # e.g. operator.isub: the array's own in-place operator
        except ValueError as exc:
            if _read_only(self.data):
                raise _write_error(self, exc) from None
            raise ShapeError(
                f"in-place {op.__name__} of shape {np.shape(o)} into shape {self.shape}: {exc}"
            ) from None
        except TypeError as exc:
            raise DTypeError(f"in-place {op.__name__} into a {self.dtype} tensor: {exc}") from None
        self._version[0] += 1
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace_arith(operator.iadd, _ops.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace_arith(operator.isub, _ops.sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace_arith(operator.imul, _ops.mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace_arith(operator.itruediv, _ops.div, other)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._inplace(_ops.index_put(self, index, value))

    # ---- operators ----------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # Comparisons and logic give bool tensors and carry no gradient.
    def __lt__(self, other: Any) -> Tensor:
        return _ops.less(self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.less_equal(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.greater(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.greater_equal(self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.equal(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ops.not_equal(self, other)

    __hash__ = object.__hash__

    def __and__(self, other: Any) -> Tensor:
        return _ops.logical_and(self, other)

    def __or__(self, other: Any) -> Tensor:
        return _ops.logical_or(self, other)

    def __invert__(self) -> Tensor:
        return _ops.logical_not(self)

    # ---- methods (NumPy signatures) -----------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        return _ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.prod(self, axis=axis, keepdims=keepdims)

    def cumprod(self, axis: int) -> Tensor:
        return _ops.cumprod(self, axis)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmax(self, axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        return _ops.argmin(self, axis, keepdims)

    def sort(self, axis: int = -1, descending: bool = False) -> Tensor:
        return _ops.sort(self, axis, descending)

    def argsort(self, axis: int = -1, descending: bool = False) -> Tensor:
        return _ops.argsort(self, axis, descending)

    def topk(self, k: int, axis: int = -1, largest: bool = True) -> tuple[Tensor, Tensor]:
        return _ops.topk(self, k, axis, largest)

    def any(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.any(self, axis, keepdims)

    def all(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.all(self, axis, keepdims)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return _ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
        return _ops.trace(self, offset, axis1, axis2)

    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.logsumexp(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.log_softmax(self, axis=axis)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def sin(self) -> Tensor:
        return _ops.sin(self)

    def cos(self) -> Tensor:
        return _ops.cos(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def square(self) -> Tensor:
        return _ops.square(self)

    def reciprocal(self) -> Tensor:
        return _ops.reciprocal(self)

    def rsqrt(self) -> Tensor:
        return _ops.rsqrt(self)

    def log2(self) -> Tensor:
        return _ops.log2(self)

    def log10(self) -> Tensor:
        return _ops.log10(self)

    def exp2(self) -> Tensor:
        return _ops.exp2(self)

    def floor(self) -> Tensor:
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        return _ops.ceil(self)

    def trunc(self) -> Tensor:
        return _ops.trunc(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _ops.round(self, decimals)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
        return _ops.std(self, axis, ddof, keepdims)

    def norm(self, ord: float = 2, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002
        """The vector ``ord``-norm over ``axis`` (see ``cr.vector_norm``)."""
        return _ops.vector_norm(self, ord, axis, keepdims)

    def repeat(self, *sizes: Any) -> Tensor:
        """PyTorch's ``repeat``: ``cr.tile(self, sizes)``."""
        return _ops.tile(self, sizes[0] if len(sizes) == 1 and not isinstance(sizes[0], int)
                         else sizes)  # fmt: skip

    def repeat_interleave(self, repeats: int, axis: int | None = None) -> Tensor:
        return _ops.repeat_interleave(self, repeats, axis)

    def cumsum(self, axis: int) -> Tensor:
        return _ops.cumsum(self, axis)

    def flip(self, axis: Any = None) -> Tensor:
        return _ops.flip(self, axis)

    def roll(self, shift: Any, axis: Any = None) -> Tensor:
        return _ops.roll(self, shift, axis)

    def gather(self, dim: int, index: Any) -> Tensor:
        """PyTorch's ``gather`` (see ``cr.gather``)."""
        return _ops.gather(self, dim, index)

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        """``value`` where ``mask`` (bool, broadcast) is True, else this tensor."""
        return _ops.where(mask, value, self)

    def tril(self, k: int = 0) -> Tensor:
        return _ops.tril(self, k)

    def triu(self, k: int = 0) -> Tensor:
        return _ops.triu(self, k)

    def log1p(self) -> Tensor:
        return _ops.log1p(self)

    def expm1(self) -> Tensor:
        return _ops.expm1(self)

    def tan(self) -> Tensor:
        return _ops.tan(self)

    def arctan(self) -> Tensor:
        return _ops.arctan(self)

    def arcsin(self) -> Tensor:
        return _ops.arcsin(self)

    def arccos(self) -> Tensor:
        return _ops.arccos(self)

    def sinh(self) -> Tensor:
        return _ops.sinh(self)

    def cosh(self) -> Tensor:
        return _ops.cosh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - NumPy's names
        return _ops.clip(self, min, max)

    def maximum(self, other: Any) -> Tensor:
        return _ops.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return _ops.minimum(self, other)

    def matmul(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: Any) -> Tensor:
        return _ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def swapaxes(self, a: int, b: int) -> Tensor:
        return _ops.swapaxes(self, a, b)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        return _ops.moveaxis(self, source, destination)

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        return _ops.flatten(self, start_axis, end_axis)

    def squeeze(self, axis: Any = None) -> Tensor:
        return _ops.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return _ops.unsqueeze(self, axis)

    def expand(self, *shape: Any) -> Tensor:
        return _ops.expand(self, shape[0] if len(shape) == 1 else shape)

    def split(self, indices_or_sections: Any, axis: int = 0) -> tuple:
        return _ops.split(self, indices_or_sections, axis)

    def pad(self, pad_width: Any, mode: str = "constant", value: float = 0) -> Tensor:
        return _ops.pad(self, pad_width, mode=mode, value=value)


from chainrule import ops as _ops  # noqa: E402  (ops build on Tensor; methods call them)
