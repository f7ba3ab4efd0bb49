"""Calling a module with other parameters and buffers (PyTorch's ``functional_call``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from chainrule.nn.module import Module, ModuleError, ModuleNameError, ModuleTypeError
from chainrule.tensor import Tensor

__all__ = ["functional_call", "swapped"]


def functional_call(module: Module, parameter_and_buffer_dicts: Any, args: Any = (),
                    kwargs: dict | None = None, *, strict: bool = False) -> Any:  # fmt: skip
    """``module(*args, **kwargs)`` with some of its parameters and buffers replaced by the
    given tensors for this one call (``torch.func.functional_call``): the module's own
    tensors are put back afterwards, even if the call fails, and gradients flow to the
    given tensors, not to the module's. This is how a module becomes a function of its
    weights, for ``cr.func.grad``, ``jacrev`` or meta-learning::

        def loss(w, b):
            return loss_fn(functional_call(model, {"weight": w, "bias": b}, (x,)), y)

        gw, gb = cr.func.grad(loss, argnums=(0, 1))(model.weight.detach(), model.bias.detach())

    ``parameter_and_buffer_dicts``: a mapping from dotted names (``"0.weight"``, as
    ``named_parameters`` gives them) to Tensors or arrays, or a sequence of such mappings
    (a name may appear in one only). ``args``: one argument or a tuple of them. A name the
    module does not have is an error; with ``strict=True`` every parameter and buffer must
    be given. Tensors are used as given (not copied; shapes are not checked, so a batched
    weight works where the module's forward allows it)."""
    given = _merged(parameter_and_buffer_dicts)
    slots = _resolve("functional_call", module, given)
    if strict:
        missing = sorted(n for n, _ in _named_tensors(module) if n not in given)
        if missing:
            raise ModuleNameError(f"functional_call: strict=True and no tensor given for "
                                  f"{missing}")  # fmt: skip
    with _put(slots):
        call_args = args if isinstance(args, tuple) else (args,)
        return module(*call_args, **(kwargs or {}))


def swapped(module: Module, tensors: Mapping[str, Any]) -> contextlib.AbstractContextManager:
    """A context in which ``module``'s parameters and buffers named in ``tensors`` (dotted
    names to Tensors or arrays) are those tensors; the module's own come back on exit, even
    after an error. What :func:`functional_call` calls the module inside; ``check_module``
    and the oracle tables use it to see a module as a function of one parameter."""
    return _put(_resolve("swapped", module, tensors))


def _resolve(caller: str, module: Module, tensors: Mapping[str, Any]) -> list[tuple]:
    """``(store dict, local name, tensor)`` for each dotted name, checked."""
    kind = type(module).__name__
    slots = []
    for path, value in tensors.items():
        owner_path, _, name = path.rpartition(".")
        try:
            owner = module.get_submodule(owner_path) if owner_path else module
        except (AttributeError, ModuleError) as exc:
            raise ModuleNameError(f"{caller}: {kind} has no submodule for '{path}'") from exc
        store = next((d for d in (owner._parameters, owner._buffers) if name in d), None)
        if store is None:
            raise ModuleNameError(
                f"{caller}: {kind} has no parameter or buffer '{path}' (it has "
                f"{sorted(n for n, _ in _named_tensors(module))})"
            )
        slots.append((store, name, value if isinstance(value, Tensor) else Tensor(value)))
    return slots


@contextlib.contextmanager
def _put(slots: list[tuple]) -> Iterator[None]:
    saved = [(store, name, store[name]) for store, name, _ in slots]
    try:
        for store, name, value in slots:
            store[name] = value  # read back through Module.__getattr__
        yield
    finally:
        for store, name, own in saved:
            store[name] = own


def _merged(dicts: Any) -> dict[str, Any]:
    if isinstance(dicts, Mapping):
        return dict(dicts)
    if not isinstance(dicts, Sequence) or not all(isinstance(d, Mapping) for d in dicts):
        raise ModuleTypeError(
            "functional_call: parameter_and_buffer_dicts must be a dict of name -> Tensor, or "
            f"a sequence of such dicts, got {type(dicts).__name__}"
        )
    merged: dict[str, Any] = {}
    for d in dicts:
        twice = sorted(set(merged) & set(d))
        if twice:
            raise ModuleNameError(f"functional_call: {twice} given in more than one dict")
        merged.update(d)
    return merged


def _named_tensors(module: Module) -> list[tuple[str, Tensor]]:
    return [*module.named_parameters(), *module.named_buffers()]
