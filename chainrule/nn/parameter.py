"""Parameter: a tensor that a module owns and learns; Buffer: one it owns and does not learn.

Assigning a Parameter to a module attribute registers it (``module.weight = Parameter(w)``),
so it shows up in ``parameters()``, ``state_dict()`` and the optimiser; assigning a Buffer
registers a buffer (``module.mean = Buffer(zeros(3))``, PyTorch's ``nn.Buffer``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import DTypeError, ShapeError
from chainrule.tensor import Tensor, as_dtype


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and that modules register.

    ``Parameter(data, requires_grad=True)`` wraps ``data`` (a Tensor's array is shared, a
    NumPy array is used without copying, Python lists become float32). Ops on a Parameter
    return plain Tensors; in-place updates under ``cr.no_grad()`` keep it a Parameter.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True, dtype: Any = None) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.data.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            p.grad = Tensor(self.grad.data.copy())
        memo[id(self)] = p
        return p

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return (_rebuild_parameter, (self.data, self.requires_grad))


def _rebuild_parameter(data: Any, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad=requires_grad)


class Buffer(Tensor):
    """A marker for module state that is not learned (PyTorch's ``nn.Buffer``): assigning
    ``Buffer(data, persistent=True)`` to a module attribute is ``register_buffer(name,
    data, persistent)``; the module then holds a plain Tensor sharing ``data``'s array.
    Non-persistent buffers are left out of ``state_dict``."""

    __slots__ = ("persistent",)

    def __init__(self, data: Any, *, persistent: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data)
        self.persistent = bool(persistent)


# ---------------------------------------------------------------------------------------
# Uninitialized parameters and buffers (PyTorch's ``torch.nn.parameter`` lazy tensors)


class _Unmaterialized:
    """What the ``data`` slot of an uninitialized tensor holds: the dtype and device its
    array will get when it is materialised (``Module.to()`` changes them)."""

    __slots__ = ("device", "dtype")

    def __init__(self, dtype: np.dtype, device: str) -> None:
        self.dtype = dtype
        self.device = device

    def __repr__(self) -> str:
        return f"<unmaterialized dtype={self.dtype} device={self.device}>"


_SLOT = Tensor.__dict__["data"]  # the slot behind Tensor.data, under the property below

# in-place operators, named in the error an uninitialized tensor raises
_INPLACE_OPS = {"__iadd__": "+=", "__isub__": "-=", "__imul__": "*=", "__itruediv__": "/=",
                "__setitem__": "item assignment (t[...] = v)"}  # fmt: skip
# Tensor methods an uninitialized tensor keeps (its own versions of some are below)
_KEPT = {"__init__", "__repr__", "__hash__", "__init_subclass__", "requires_grad_",
         "__reduce_ex__", "__deepcopy__"}  # fmt: skip


def uninitialized_error(t: Any, what: str) -> Exception:
    """The error an uninitialized parameter or buffer raises when ``what`` is asked of it."""
    from chainrule.nn.module import UninitializedParameterError  # (module imports us)

    kind = type(t).__name__
    return UninitializedParameterError(
        f"cannot {what}: this {kind} has no shape or data yet (a lazy module, such as "
        f"nn.LazyLinear, reads its sizes from its first input). Run a forward pass with a "
        f"sample batch first, or load a state dict with real tensors, or call "
        f"{kind}.materialize(shape)"
    )


def _describe(name: str) -> str:
    if name in _INPLACE_OPS:
        return f"write in place ('{_INPLACE_OPS[name]}')"
    if name.startswith("__"):
        return f"apply {name}"
    return f"call .{name}()"


def _refuse(name: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise uninitialized_error(self, _describe(name))

    method.__name__ = method.__qualname__ = name
    return method


def _refuse_property(what: str) -> property:
    def get(self: Any) -> Any:
        raise uninitialized_error(self, f"ask for the {what}")

    return property(get)


def _checked_shape(shape: Any, owner: str) -> tuple[int, ...]:
    from chainrule.nn.module import ModuleTypeError

    items = (shape,) if isinstance(shape, int | np.integer) else shape
    try:
        items = tuple(items)
    except TypeError:
        items = None
    if items is None or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    ):
        raise ModuleTypeError(
            f"{owner}.materialize: shape must be an int or a sequence of ints, got {shape!r}"
        )
    if any(v < 0 for v in items):
        raise ShapeError(f"{owner}.materialize: shape must have sizes >= 0, got {shape!r}")
    return tuple(int(v) for v in items)


class UninitializedTensorMixin:
    """What :class:`UninitializedParameter` and :class:`UninitializedBuffer` share
    (PyTorch's ``UninitializedTensorMixin``).

    Such a tensor has a dtype, a device and ``requires_grad``, but no shape and no data:
    every op, method or property that would need them (``shape``, ``size``, ``ndim``,
    ``data``, arithmetic, in-place writes, ``numpy()``...) raises
    :class:`~chainrule.nn.module.UninitializedParameterError` saying what to do.
    :meth:`materialize` gives it an array in place and turns it into the plain class
    (``cls_to_become``), so everything holding it -- its module, an optimiser -- keeps
    working.
    """

    __slots__ = ()
    cls_to_become: type

    def _setup(self, requires_grad: bool, device: Any, dtype: Any) -> None:
        dt = backend.float32 if dtype is None else as_dtype(dtype)
        if requires_grad and dt.kind not in "fc":
            raise DTypeError(f"only floating-point tensors can require gradients, got {dt}")
        _SLOT.__set__(self, _Unmaterialized(dt, "cpu" if device is None else str(device)))
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self._index = 0
        self._version = [0]
        self._tangent = None
        self._base = None

    def _pending(self) -> _Unmaterialized:
        return _SLOT.__get__(self)

    @property
    def data(self) -> Any:
        raise uninitialized_error(self, "read the data (to use it in an op)")

    @data.setter
    def data(self, value: Any) -> None:
        raise uninitialized_error(self, "assign .data (use materialize(shape))")

    shape = _refuse_property("shape")
    size = _refuse_property("size (number of elements)")
    ndim = _refuse_property("number of axes")
    T = _refuse_property("transpose")

    @property
    def dtype(self) -> np.dtype:
        """The dtype it will be materialised with."""
        return self._pending().dtype

    @property
    def device(self) -> str:
        """The device it will be materialised on."""
        return self._pending().device

    def requires_grad_(self, requires_grad: bool = True) -> Any:
        if requires_grad and self.dtype.kind not in "fc":
            raise DTypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def _convert_later(self, dtype: Any = None, device: str | None = None) -> None:
        """Record a dtype and/or device for materialisation (what ``Module.to`` does to an
        uninitialized tensor, as PyTorch records a conversion before the first forward)."""
        pending = self._pending()
        if device is not None:
            backend.to_device(np.empty(0, np.float32), device)  # an unknown device fails now
        _SLOT.__set__(self, _Unmaterialized(
            pending.dtype if dtype is None else as_dtype(dtype),
            pending.device if device is None else device))  # fmt: skip

    def materialize(self, shape: Any, device: str | None = None, dtype: Any = None) -> None:
        """Give this tensor an array of ``shape`` (zeros; the module initialises it) with
        its recorded dtype and device (or those given), in place, and make it the plain
        class: an UninitializedParameter becomes a Parameter, an UninitializedBuffer a
        Tensor -- the same object."""
        name = type(self).__name__
        shape = _checked_shape(shape, name)
        pending = self._pending()
        dt = pending.dtype if dtype is None else as_dtype(dtype)
        if self.requires_grad and dt.kind not in "fc":
            raise DTypeError(f"{name}.materialize: a tensor that requires grad must be "
                             f"floating-point, got dtype {dt}")  # fmt: skip
        arr = np.zeros(shape, dtype=dt)
        dev = pending.device if device is None else device
        if dev != "cpu":
            arr = backend.to_device(arr, dev)
        _SLOT.__set__(self, arr)
        self._version[0] += 1
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __deepcopy__(self, memo: dict) -> Any:
        if id(self) in memo:
            return memo[id(self)]
        pending = self._pending()
        result = type(self)(self.requires_grad, pending.device, pending.dtype)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: Any) -> tuple:
        pending = self._pending()
        return (type(self), (self.requires_grad, pending.device, pending.dtype.str))


# every other Tensor method raises, naming itself (its own versions above are kept)
for _name, _value in list(vars(Tensor).items()):
    if callable(_value) and _name not in _KEPT and _name not in vars(UninitializedTensorMixin):
        setattr(UninitializedTensorMixin, _name, _refuse(_name))


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (PyTorch's ``nn.UninitializedParameter``):
    what a lazy module holds until its first forward pass. Only its dtype, device and
    ``requires_grad`` may be used (``Module.to()`` records a new dtype for later); it
    becomes a :class:`Parameter` -- the same object -- when :meth:`materialize` is called.
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        self._setup(requires_grad, device, dtype)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (PyTorch's ``nn.UninitializedBuffer``); it
    becomes a plain Tensor -- the same object -- when :meth:`materialize` is called."""

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None) -> None:
        self._setup(requires_grad, device, dtype)


def is_lazy(t: Any) -> bool:
    """True for an UninitializedParameter or UninitializedBuffer (PyTorch's ``is_lazy``)."""
    return isinstance(t, UninitializedTensorMixin)
