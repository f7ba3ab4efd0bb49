"""Containers: Sequential, ModuleList, ModuleDict, and the multi-input modules Add,
Multiply and Concat (the joins of an ``nn.Graph``).

Containers need nothing special for the modular backward: ``seq.backward(dL_dy)`` walks
through the children's recorded graphs in one go. Calling each child's ``backward`` in
reverse order, feeding each the previous result, gives the same parameter gradients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from chainrule import backend, ops
from chainrule.errors import IndexingError, ShapeError
from chainrule.nn.module import Module, ModuleNameError, ModuleTypeError, raise_in
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "Add", "Concat", "ModuleDict", "ModuleList", "Multiply", "ParameterDict", "ParameterList",
    "Sequential",
]  # fmt: skip


def _index(n: int, idx: int, who: str) -> int:
    if not isinstance(idx, int):
        raise ModuleTypeError(f"{who} indices must be integers or slices, got {type(idx).__name__}")
    if not -n <= idx < n:
        raise IndexingError(f"index {idx} is out of range for {who} of length {n}")
    return idx % n


def _where(container: Module, key: str, child: Module) -> str:
    label = key if key.isdigit() else repr(key)
    return f"{container._get_name()}[{label}] ({child._get_name()})"


class Sequential(Module):
    """Children applied in order: ``Sequential(m0, m1, m2)(x) == m2(m1(m0(x)))``.

    Built from modules (named "0", "1", ...) or from one ``OrderedDict`` of named ones.
    Supports ``seq[i]``, ``seq[a:b]`` (a Sequential of the same modules), ``len``,
    iteration, ``append``, ``extend``, ``insert`` and ``del seq[i]``. An error inside a
    child names it: ``"in Sequential[2] (ReLU): ..."``.

    Shapes: input as the first child takes it, output as the last child gives it.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        for key, m in self._modules.items():
            try:
                x = m(x, *args, **kwargs)
            except Exception as exc:  # the message naming the child is built only here
                raise_in(_where(self, key, m), exc)
            args, kwargs = (), {}
        return x

    @overload
    def __getitem__(self, idx: int) -> Module: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    def __getitem__(self, idx: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        return items[_index(len(items), idx, "Sequential")][1]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(len(self), idx, "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        doomed = (
            keys[idx] if isinstance(idx, slice) else [keys[_index(len(keys), idx, "Sequential")]]
        )
        for k in doomed:
            del self._modules[k]
        if all(k.isdigit() for k in self._modules):  # renumber, as PyTorch does
            mods = list(self._modules.values())
            self._modules.clear()
            for i, m in enumerate(mods):
                self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        mods = list(self._modules.values())
        n = len(mods)
        if not -n <= index <= n:
            raise IndexingError(f"index {index} is out of range for Sequential of length {n}")
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)
        return self


class _ListOf(Module):
    """The list behaviour ModuleList and ParameterList share: entries of one of a Module's
    stores (``_store``), registered under "0", "1", ... and renumbered when one goes."""

    _store = "_modules"
    _what = "module"

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _entries(self) -> dict:
        return self.__dict__[self._store]

    def _put(self, key: str, value: Any) -> None:
        raise NotImplementedError

    def _renumber(self, values: list) -> None:
        self._entries().clear()
        for i, v in enumerate(values):
            self._put(str(i), v)

    def __getitem__(self, idx: int | slice) -> Any:
        values = list(self._entries().values())
        if isinstance(idx, slice):
            return type(self)(values[idx])
        return values[_index(len(values), idx, type(self).__name__)]

    def __setitem__(self, idx: int, value: Any) -> None:
        self._put(str(_index(len(self), idx, type(self).__name__)), value)

    def __delitem__(self, idx: int | slice) -> None:
        values = list(self._entries().values())
        if isinstance(idx, slice):
            del values[idx]
        else:
            del values[_index(len(values), idx, type(self).__name__)]
        self._renumber(values)

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries().values())

    def __add__(self, other: Iterable[Any]) -> Any:
        return type(self)([*self, *other])

    def append(self, value: Any) -> Any:
        self._put(str(len(self)), value)
        return self

    def extend(self, values: Iterable[Any]) -> Any:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise ModuleTypeError(f"{type(self).__name__}.extend needs an iterable of "
                                  f"{self._what}s, got {type(values).__name__}")  # fmt: skip
        for v in values:
            self.append(v)
        return self

    def insert(self, index: int, value: Any) -> None:
        values = list(self._entries().values())
        values.insert(index, value)
        self._renumber(values)


class _DictOf(Module):
    """The dict behaviour ModuleDict and ParameterDict share, over one of a Module's stores
    (``_store``), in insertion order."""

    _store = "_modules"
    _what = "module"

    def __init__(self, values: Mapping[str, Any] | Iterable | None = None) -> None:
        super().__init__()
        if values is not None:
            self.update(values)

    def _entries(self) -> dict:
        return self.__dict__[self._store]

    def __getitem__(self, key: str) -> Any:
        return self._entries()[self._known(key)]

    def __delitem__(self, key: str) -> None:
        del self._entries()[self._known(key)]

    def _known(self, key: str) -> str:
        if key not in self._entries():
            held = ", ".join(repr(k) for k in self._entries()) or "nothing"
            raise ModuleNameError(f"{type(self).__name__} has no {self._what} {key!r}; it "
                                  f"holds {held}")  # fmt: skip
        return key

    def __contains__(self, key: object) -> bool:
        return key in self._entries()

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def keys(self) -> Iterable[str]:
        return self._entries().keys()

    def values(self) -> Iterable[Any]:
        return self._entries().values()

    def items(self) -> Iterable[tuple[str, Any]]:
        return self._entries().items()

    def update(self, values: Mapping[str, Any] | Iterable) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        for key, v in pairs:
            self[key] = v

    def pop(self, key: str) -> Any:
        return self._entries().pop(self._known(key))

    def clear(self) -> None:
        self._entries().clear()


class ModuleList(_ListOf):
    """A list of modules, registered as children "0", "1", ... (no forward of its own:
    the owner decides how to call them). Indexing, slicing (a ModuleList), ``len``,
    iteration, ``append``, ``extend``, ``insert``, ``del``, ``+``."""

    def _put(self, key: str, value: Module) -> None:
        self.add_module(key, value)


class ModuleDict(_DictOf):
    """An ordered dict of named child modules (no forward of its own). ``md[name]``,
    ``md[name] = m``, ``del md[name]``, ``in``, ``len``, iteration over names, ``keys``,
    ``values``, ``items``, ``update``, ``pop``, ``clear``."""

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)


def _as_parameter(value: Any, who: str) -> Parameter:
    """``value`` as a Parameter: a Parameter itself; a Tensor's or an array's data wrapped
    (shared, not copied) in a new leaf that requires grad, as PyTorch's containers do."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor) or backend.is_array(value):
        return Parameter(value)
    raise ModuleTypeError(f"{who} holds Parameters (or Tensors and arrays, which it wraps), "
                          f"got {type(value).__name__}")  # fmt: skip


def _describe(entries: dict) -> str:
    return "\n".join(f"({k}): Parameter of shape {p.shape}, {p.dtype}" for k, p in entries.items())


class ParameterList(_ListOf):
    """A list of Parameters, registered as "0", "1", ... (PyTorch's ``nn.ParameterList``),
    so they appear in ``parameters()``, ``state_dict()``, ``to()`` and the optimiser. A
    Tensor or array put in is wrapped in a Parameter (sharing its memory). Indexing,
    slicing (a ParameterList of the same Parameters), ``len``, iteration, ``append``,
    ``extend``, ``insert``, ``del``; no forward of its own."""

    _store = "_parameters"
    _what = "Parameter"

    def _put(self, key: str, value: Any) -> None:
        self.register_parameter(key, _as_parameter(value, "ParameterList"))

    def extra_repr(self) -> str:
        return _describe(self._parameters)


class ParameterDict(_DictOf):
    """An ordered dict of named Parameters (PyTorch's ``nn.ParameterDict``), registered
    under their keys. ``pd[name]``, ``pd[name] = value`` (a Tensor or array is wrapped),
    ``del``, ``in``, ``len``, iteration over names, ``keys``, ``values``, ``items``,
    ``update``, ``pop``, ``clear``; no forward of its own."""

    _store = "_parameters"
    _what = "parameter"

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(key, _as_parameter(value, "ParameterDict"))

    def extra_repr(self) -> str:
        return _describe(self._parameters)


# ---------------------------------------------------------------------------------------
# Multi-input modules: the joins of a Graph.


def _same_shapes(who: str, xs: tuple) -> None:
    if not xs:
        raise ModuleTypeError(f"{who} needs at least one input")
    shapes = [tuple(x.shape) for x in xs]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError(
            f"{who}: inputs must have the same shape, got {', '.join(map(str, shapes))}"
        )


class Add(Module):
    """Elementwise sum of any number of inputs of one shape: ``Add()(a, b, c) = a + b + c``.

    Shapes: each input (*), output (*). Different shapes are a ShapeError (no silent
    broadcasting).
    """

    def forward(self, *xs: Tensor) -> Tensor:
        _same_shapes("Add", xs)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Multiply(Module):
    """Elementwise product of any number of inputs of one shape (a gate: ``a * b``).

    Shapes: each input (*), output (*).
    """

    def forward(self, *xs: Tensor) -> Tensor:
        _same_shapes("Multiply", xs)
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(Module):
    """Concatenate the inputs along ``axis`` (default 1, the feature/channel axis).

    Shapes: inputs (N, C_i, *) -> output (N, sum C_i, *) for ``axis=1``; the other axes
    must agree.
    """

    def __init__(self, axis: int = 1) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, *xs: Tensor) -> Tensor:
        if not xs:
            raise ModuleTypeError("Concat needs at least one input")
        return ops.concatenate(list(xs), axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"
