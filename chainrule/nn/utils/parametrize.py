"""Parametrizations: a module's tensor computed from other tensors on every access
(PyTorch's ``nn.utils.parametrize``).

After ``register_parametrization(m, "weight", P)``, ``m.weight`` is ``P(original)``,
recomputed each time it is read, and the learned tensor is
``m.parametrizations.weight.original`` (or ``original0``, ``original1``, ... when ``P``'s
``right_inverse`` returns several tensors, as weight normalisation's does). State-dict
keys are PyTorch's: ``parametrizations.weight.original``, and a parametrization's own
buffers under ``parametrizations.weight.0.<name>``.

How the computed attribute works: as in PyTorch, the module's class is replaced (once)
by a dynamically created subclass ``Parametrized<Class>`` holding a ``property`` per
parametrized tensor. A class property is found by ordinary attribute lookup before
``Module.__getattr__`` (which only runs for names not found), so ``forward`` methods
reading ``self.weight`` need no change, and ``Module`` itself none either. Assigning a
Tensor or array (``m.weight = X``) goes to the property's setter, which calls the
parametrizations' ``right_inverse`` (identity where they define none) and writes the
result into the originals in place. Parametrized modules copy (``copy.deepcopy``) and
pickle: the subclass is rebuilt from the original class on loading.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.mode import no_grad
from chainrule.nn.containers import ModuleDict, ModuleList
from chainrule.nn.module import Module, ModuleError, ModuleTypeError
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

__all__ = [
    "ParametrizationError",
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "type_before_parametrizations",
]


class ParametrizationError(ModuleError, ValueError):
    """A bad argument to a parametrization, or a parametrization that breaks its tensor."""


# ---------------------------------------------------------------------------------------
# caching

_cache_depth = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Inside ``with cached():`` each parametrized tensor is computed once, on its first
    access, and reused (PyTorch's ``parametrize.cached``): for a module called several
    times per step (an RNN cell), or a weight read twice. Nesting is allowed; the cache is
    emptied when the outermost context exits."""
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if _cache_depth == 0:
            _cache.clear()


# ---------------------------------------------------------------------------------------
# the list of parametrizations of one tensor


def _describe(module: Module) -> str:
    return module._get_name()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the original tensor(s)
    they are applied to: ``original`` or ``original0``, ``original1``, ... (Parameters where
    the parametrized tensor was one, buffers otherwise). ``self()`` is the parametrized
    value; ``right_inverse(value)`` writes originals that give ``value``."""

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False):
        super().__init__(modules)
        self.unsafe = unsafe
        new: Any = original
        with no_grad():
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        if not isinstance(new, Tensor) and not isinstance(new, Sequence):
            raise ParametrizationError(
                f"{_describe(self[0])}.right_inverse must return a Tensor or a sequence of "
                f"Tensors, got {type(new).__name__}"
            )
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        is_param = isinstance(original, Parameter)
        if self.is_tensor:
            if not unsafe:
                _check_same(new, original, f"{_describe(self[0])}.right_inverse")
            if new is not original:  # keep the same object: optimisers holding it stay valid
                arr = backend.to_device(new.data, original.device)
                if tuple(arr.shape) == tuple(original.shape):
                    original.data[...] = arr.astype(original.dtype, copy=False)
                else:  # unsafe: the original changes shape
                    original.data = arr.copy()
                original._version[0] += 1
            self._store_original("original", original, is_param)
        else:
            for i, t in enumerate(new):
                if not isinstance(t, Tensor):
                    raise ParametrizationError(
                        f"{_describe(self[0])}.right_inverse returned a {type(t).__name__} "
                        f"at position {i}; Tensors expected"
                    )
                data = t.detach().data.copy()
                if is_param:
                    t = Parameter(data, requires_grad=original.requires_grad)
                else:
                    t = Tensor(data)
                self._store_original(f"original{i}", t, is_param)

    def _store_original(self, name: str, t: Tensor, is_param: bool) -> None:
        if is_param:
            self.register_parameter(name, t)
        else:
            self.register_buffer(name, t)

    def _originals(self) -> list[Tensor]:
        if self.is_tensor:
            return [self.original]
        return [getattr(self, f"original{i}") for i in range(self.ntensors)]

    def forward(self) -> Tensor:
        mods = list(self)
        x = mods[0](*self._originals())
        for m in mods[1:]:
            x = m(x)
        return x

    def right_inverse(self, value: Any) -> None:
        """Set the originals so that the parametrized tensor is ``value`` (through each
        parametrization's ``right_inverse``, last first; identity where it has none)."""
        if not isinstance(value, Tensor):
            value = Tensor(value)
        with no_grad():
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    value = m.right_inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ParametrizationError(
                        "right_inverse must return a Tensor here (the parametrization was "
                        f"registered with one original), got {type(value).__name__}"
                    )
                targets, values = [self.original], [value]
            else:
                if not isinstance(value, Sequence) or len(value) != self.ntensors:
                    raise ParametrizationError(
                        f"right_inverse must return a sequence of {self.ntensors} Tensors "
                        "here, as when the parametrization was registered"
                    )
                targets, values = self._originals(), list(value)
            for dst, v in zip(targets, values):
                _check_same(v, dst, "right_inverse")
                dst.data[...] = backend.to_device(v.data, dst.device).astype(dst.dtype)
                dst._version[0] += 1


def _check_same(new: Any, old: Tensor, who: str) -> None:
    if not isinstance(new, Tensor):
        raise ParametrizationError(f"{who} must return a Tensor, got {type(new).__name__}")
    if tuple(new.shape) != tuple(old.shape) or new.dtype != old.dtype:
        raise ParametrizationError(
            f"{who} changed the tensor: shape {tuple(old.shape)} dtype {old.dtype} became "
            f"shape {tuple(new.shape)} dtype {new.dtype}; a parametrization must keep both "
            "(pass unsafe=True to skip this check)"
        )


# ---------------------------------------------------------------------------------------
# the parametrized class


def _new_parametrized(orig_cls: type, names: tuple[str, ...]) -> Module:
    """An empty instance of the parametrized subclass of ``orig_cls`` with properties for
    ``names``: what deepcopy and pickle rebuild; the state is set afterwards."""
    obj = orig_cls.__new__(orig_cls)
    _inject_new_class(obj)
    for name in names:
        _inject_property(obj, name)
    return obj


def _reduce_ex(self: Module, protocol: Any) -> tuple:
    orig_cls = type(self).__bases__[0]
    names = tuple(self.__dict__["_modules"]["parametrizations"].keys())
    return (_new_parametrized, (orig_cls, names), self.__getstate__())


def _inject_new_class(module: Module) -> None:
    cls = type(module)
    new_cls = type(
        f"Parametrized{cls.__name__}",
        (cls,),
        {"__reduce_ex__": _reduce_ex},
    )
    new_cls.__module__ = cls.__module__
    new_cls.__qualname__ = f"Parametrized{cls.__qualname__}"
    module.__class__ = new_cls


def _inject_property(module: Module, name: str) -> None:
    def get(self: Module) -> Tensor:
        plist = self.parametrizations[name]
        if _cache_depth:
            key = (id(plist), name)
            if key not in _cache:
                _cache[key] = plist()
            return _cache[key]
        return plist()

    def set_(self: Module, value: Any) -> None:
        # (a Parameter never gets here: Module.__setattr__ registers those, and refuses the
        # name, as torch does; call remove_parametrizations first)
        self.parametrizations[name].right_inverse(value)

    setattr(type(module), name, property(get, set_))


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered (its own otherwise)."""
    return type(module).__bases__[0] if is_parametrized(module) else type(module)


# ---------------------------------------------------------------------------------------
# the public functions


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has any parametrization (``tensor_name=None``), or one on
    ``tensor_name``."""
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    if tensor_name is None:
        return len(plists) > 0
    return tensor_name in plists


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization`` applied to the
    original tensor; returns ``module``.

    ``tensor_name`` is a parameter or buffer of ``module`` (or an already parametrized
    tensor: the new parametrization is then applied after the existing ones). The original
    moves to ``module.parametrizations[tensor_name].original`` -- the same Parameter object,
    so an optimiser holding it stays valid -- after being set to
    ``parametrization.right_inverse(original)`` if the parametrization defines one (which
    may return a tuple: ``original0``, ``original1``, ...). Unless ``unsafe``, the
    parametrized value must keep the tensor's shape and dtype.
    """
    if not isinstance(module, Module):
        raise ModuleTypeError(
            f"register_parametrization needs a Module, got {type(module).__name__}"
        )
    if not isinstance(parametrization, Module):
        raise ModuleTypeError(
            f"the parametrization of '{tensor_name}' must be an nn.Module, got "
            f"{type(parametrization).__name__}"
        )
    parametrization.train(module.training)
    where = f"'{tensor_name}' of {module._get_name()}"
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            try:
                x = parametrization(y)
            except TypeError as exc:
                raise ParametrizationError(
                    f"{where} is already parametrized; a parametrization added to it is "
                    f"called on the parametrized tensor alone, and {_describe(parametrization)}"
                    f" failed so: {exc}"
                ) from exc
            _check_same(x, y, f"{_describe(parametrization)} (added to {where})")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        plist.unsafe |= unsafe
        return module
    d = module.__dict__
    if tensor_name not in d["_parameters"] and tensor_name not in d["_buffers"]:
        held = [*d["_parameters"], *d["_buffers"]]
        raise ParametrizationError(
            f"{module._get_name()} has no parameter, buffer or parametrized tensor named "
            f"{tensor_name!r} (it has {', '.join(map(repr, held)) or 'none'})"
        )
    original = getattr(module, tensor_name)
    if original is None:
        raise ParametrizationError(f"{where} is None; there is nothing to parametrize")
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    if not unsafe:
        with no_grad():
            _check_same(plist(), original, f"{_describe(parametrization)} (on {where})")
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    _inject_property(module, tensor_name)
    module.parametrizations[tensor_name] = plist
    return module


def remove_parametrizations(
    module: Module, tensor_name: str, leave_parametrized: bool = True
) -> Module:
    """Remove the parametrizations of ``tensor_name``; returns ``module``.

    With ``leave_parametrized=True`` the tensor keeps its current parametrized value (in the
    original Parameter object, when there is one original); with False it goes back to the
    original tensor (only possible with a single original). When no parametrization is
    left, the module gets its own class back and loses its ``parametrizations`` attribute.
    """
    if not is_parametrized(module, tensor_name):
        raise ParametrizationError(
            f"{module._get_name()} has no parametrization on {tensor_name!r}"
        )
    plist = module.parametrizations[tensor_name]
    if plist.is_tensor:
        original = plist.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
            with no_grad():
                if tuple(t.shape) == tuple(original.shape) and t.dtype == original.dtype:
                    original.data[...] = t.data
                    original._version[0] += 1
                elif isinstance(original, Parameter):
                    original = Parameter(t.data.copy(), requires_grad=original.requires_grad)
                else:
                    original = Tensor(t.data.copy())
    else:
        if not leave_parametrized:
            raise ParametrizationError(
                f"cannot remove the parametrization of '{tensor_name}' of "
                f"{module._get_name()} with leave_parametrized=False: it has "
                f"{plist.ntensors} original tensors, not one"
            )
        with no_grad():
            t = getattr(module, tensor_name)
        first = plist.original0
        if isinstance(first, Parameter):
            original = Parameter(t.data.copy(), requires_grad=first.requires_grad)
        else:
            original = Tensor(t.data.copy())
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, original)
    else:
        module.register_buffer(tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module
