"""Module: the building block of every network.

A module holds parameters (learned Tensors), buffers (state such as running statistics)
and child modules, all registered by plain attribute assignment::

    class TwoLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)       # a child module
            self.fc2 = nn.Linear(8, 1)

        def forward(self, x):                # x: (N, 4) -> (N, 1)
            return self.fc2(self.fc1(x).relu())

Calling a module runs ``forward`` (with the hooks around it) and records the call, which
gives every module the modular-backprop view of the classic module API: after
``y = m(x)``, ``m.backward(dL_dy)`` returns ``dL_dx`` and accumulates ``dL_dtheta`` into each
parameter's ``.grad`` -- exactly what autodiff gives, because it *is* autodiff, run from
``y`` and stopped at ``x``.

A module with a hand-written backward is a ``cr.Function`` (forward and backward rules on
arrays/Tensors) called inside ``forward``; ``nn.utils.check_module(m, x)`` checks its input
and parameter Jacobians against central differences in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from chainrule import backend
from chainrule.autograd import engine
from chainrule.autograd.hooks import RemovableHandle
from chainrule.autograd.mode import no_grad, state
from chainrule.errors import ChainruleError, DTypeError, GraphError
from chainrule.nn.parameter import Buffer, Parameter, is_lazy
from chainrule.tensor import Tensor, as_dtype, to_array, wrap

__all__ = [
    "IncompatibleKeys",
    "Module",
    "ModuleError",
    "ModuleNameError",
    "ModuleTypeError",
    "RemovableHandle",
    "StateDictError",
    "UninitializedParameterError",
]


# ---------------------------------------------------------------------------------------
# Errors


class ModuleError(ChainruleError):
    """Base class of the errors raised by the module system."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ModuleTypeError(ModuleError, TypeError):
    """A value of the wrong type given to a module (e.g. a plain Tensor as a parameter)."""


class ModuleNameError(ModuleError, KeyError):
    """A bad or clashing name for a parameter, buffer or child module."""


class StateDictError(ModuleError, KeyError, ValueError):
    """``load_state_dict`` found missing keys, unexpected keys or shape mismatches."""


class UninitializedParameterError(ModuleError, ValueError, RuntimeError):
    """An uninitialized (lazy) parameter or buffer used before it has a shape: run the
    lazy module's first forward pass (or load a state dict) first. PyTorch raises a
    ValueError or a RuntimeError there; this is both."""


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


# ---------------------------------------------------------------------------------------
# Hooks


# ---------------------------------------------------------------------------------------
# Module


class Module:
    """Base class of every layer and container (PyTorch's ``nn.Module`` contract).

    Subclasses call ``super().__init__()`` first, then create parameters and children by
    attribute assignment, and define ``forward``. ``m(*inputs)`` runs forward-pre hooks,
    ``forward`` and forward hooks, records the output shape (shown by ``repr``) and, in
    grad mode, remembers the call's inputs and output for :meth:`backward` -- until the
    next call, or until a backward without ``retain_graph``.

    Attributes:
        training: True in training mode (the default), False after ``eval()``.
    """

    training: bool

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = {}
        d["_forward_hooks"] = {}
        d["_backward_hooks"] = {}
        d["_last_call"] = None
        d["_out_shape"] = None

    # ---- the forward pass -------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the output from the inputs; every subclass defines it."""
        raise ModuleError(f"{self._get_name()} defines no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        if d["_forward_pre_hooks"]:
            for hook in list(d["_forward_pre_hooks"].values()):
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        if d["_forward_hooks"]:
            for hook in list(d["_forward_hooks"].values()):
                res = hook(self, args, out)
                if res is not None:
                    out = res
        d["_out_shape"] = out.shape if isinstance(out, Tensor) else _shapes(out)
        d["_last_call"] = (args, kwargs, out) if state.grad_enabled else None
        return out

    # ---- the backward pass (modular view) -----------------------------------------------
    def backward(self, *grad_outputs: Any, retain_graph: bool = False) -> Any:
        """Backpropagate ``dL/dy`` through the last call: return ``dL/dx``, accumulate
        ``dL/dtheta`` into every parameter's ``.grad``.

        After ``y = m(x)``, ``m.backward(dL_dy)`` (``dL_dy`` has ``y``'s shape; omit it for a
        one-element ``y``) runs reverse mode from ``y`` and stops at ``x``: it does not go on
        into whatever computed ``x`` (that is the previous module's backward), and ``x``'s
        own ``.grad`` is left alone -- ``dL/dx`` is returned instead. Gradients of all
        parameters (and other leaves) reached on the way accumulate in their ``.grad``,
        exactly as ``y.backward(dL_dy)`` would put them there.

        Inputs and the return value: one positional input gives one gradient; several
        give a tuple in the same order (nested tuples mirrored, e.g. ``(dx, (dh0, dc0))``);
        non-Tensor arguments get None. Tensors passed by keyword (masks, options) are
        inputs too -- the walk stops at them -- but their gradients are not returned (pass a
        tensor positionally to get its gradient; ``nn.Graph`` returns its inputs' gradients
        however they were passed). An output that is a tuple takes a tuple of gradients
        (None for an output that does not feed the loss).

        An input that did not require grad (a plain data batch) had no graph recorded with
        respect to it: its gradient is None (like ``torch.autograd.grad(...,
        allow_unused=True)``), while the parameter gradients are still accumulated. Call
        ``x.requires_grad_()`` before ``m(x)`` to get ``dL/dx``.

        The graph of the call is freed afterwards unless ``retain_graph=True`` (a second
        backward then raises GraphError). Backward hooks of this module are called as
        ``hook(module, grad_input, grad_output)`` (tuples) and may return a replacement
        ``grad_input``. A container's backward runs through its children in one walk; their
        own backward hooks are not called (call a child's ``backward`` to use them).
        """
        call = self.__dict__["_last_call"]
        if call is None:
            raise GraphError(
                f"{self._get_name()}.backward() needs a forward call recorded in grad mode "
                "first (y = m(x)); after a backward without retain_graph=True, call the "
                "module again"
            )
        args, kwargs, out = call
        gstruct = grad_outputs[0] if len(grad_outputs) == 1 else (grad_outputs or None)
        outs = _leaves(out)
        if gstruct is None:
            gouts = [None] * len(outs)
            use = [True] * len(outs)
        else:
            gouts = _leaves_like(gstruct, out, self._get_name())
            use = [g is not None for g in gouts]
        roots, rgrads = [], []
        for o, g, u in zip(outs, gouts, use):
            if u and isinstance(o, Tensor) and o.requires_grad:
                roots.append(o)
                rgrads.append(g)
        in_struct = self._backward_inputs(args, kwargs)
        # keyword tensors (masks, states) are inputs too: the walk stops at them as well
        flat_in = [t for t in _leaves((in_struct, *kwargs.values())) if isinstance(t, Tensor)]
        uniq = list({id(t): t for t in flat_in}.values())
        captured = [None] * len(uniq)
        if roots:
            captured = engine.backward(
                roots, rgrads, retain_graph=retain_graph, inputs=uniq, accumulate=True
            )
        by_id = {id(t): g for t, g in zip(uniq, captured)}
        grad_in = _map(in_struct, lambda t: by_id.get(id(t)) if isinstance(t, Tensor) else None)
        if self._backward_hooks:
            single = not isinstance(in_struct, tuple)
            gin = (grad_in,) if single else grad_in
            gout = tuple(gouts)
            for hook in list(self._backward_hooks.values()):
                res = hook(self, gin, gout)
                if res is not None:
                    gin = res if isinstance(res, tuple) else (res,)
            grad_in = gin[0] if single else gin
        if not retain_graph:
            self.__dict__["_last_call"] = None
        return grad_in

    def _backward_inputs(self, args: tuple, kwargs: dict) -> Any:
        """What ``backward`` returns gradients for: the positional inputs (one -> itself)."""
        return args[0] if len(args) == 1 else args

    # ---- registration -----------------------------------------------------------------
    def _check_name(self, name: Any, kind: str, store: dict) -> None:
        if "_parameters" not in self.__dict__:
            raise ModuleError(
                f"cannot assign {kind} '{name}' before Module.__init__() is called; "
                "call super().__init__() first in your __init__"
            )
        if not isinstance(name, str):
            raise ModuleTypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if not name or "." in name:
            raise ModuleNameError(f"{kind} name must be non-empty and contain no '.': {name!r}")
        if name not in store and (name in self.__dict__ or hasattr(type(self), name)):
            raise ModuleNameError(f"attribute '{name}' already exists in {self._get_name()}")
        for other in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__[other]
            if d is not store and name in d:
                raise ModuleNameError(
                    f"'{name}' is already a {other[1:-1]} of {self._get_name()}; "
                    f"delete it before registering a {kind} with that name"
                )

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias``)."""
        self._check_name(name, "parameter", self.__dict__.get("_parameters", {}))
        if param is not None and not isinstance(param, Parameter):
            raise ModuleTypeError(
                f"cannot assign a {type(param).__name__} as parameter '{name}' "
                "(nn.Parameter or None expected); wrap it: nn.Parameter(tensor)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Register a buffer: module state that is not learned (running statistics).

        ``tensor`` is a Tensor, an array (wrapped without copying) or None. Persistent
        buffers are saved in ``state_dict``; ``to(dtype=)`` casts floating ones.
        """
        self._check_name(name, "buffer", self.__dict__.get("_buffers", {}))
        if tensor is not None and not isinstance(tensor, Tensor):
            if not backend.is_array(tensor):
                raise ModuleTypeError(
                    f"buffer '{name}' must be a Tensor, an array or None, "
                    f"got {type(tensor).__name__}"
                )
            tensor = Tensor(tensor)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module (None keeps the slot empty)."""
        self._check_name(name, "module", self.__dict__.get("_modules", {}))
        if module is not None and not isinstance(module, Module):
            raise ModuleTypeError(f"child '{name}' must be a Module, got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._forget(name)
            self.register_parameter(name, value)
        elif isinstance(value, Buffer):
            self._forget(name)
            self.register_buffer(name, Tensor(value.data), persistent=value.persistent)
        elif params is not None and name in params:
            if value is not None:
                raise ModuleTypeError(
                    f"cannot assign a {type(value).__name__} as parameter '{name}' "
                    "(nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            self.add_module(name, value)
        elif name in d.get("_modules", ()):
            if value is not None:
                raise ModuleTypeError(
                    f"cannot assign a {type(value).__name__} as child module '{name}' "
                    "(a Module or None expected)"
                )
            d["_modules"][name] = None
        elif name in d.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                if not backend.is_array(value):
                    raise ModuleTypeError(
                        f"cannot assign a {type(value).__name__} as buffer '{name}' "
                        "(a Tensor, an array or None expected)"
                    )
                value = Tensor(value)
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from wherever it lives, before it is registered anew."""
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d:
                d[store].pop(name, None)
        if "_non_persistent_buffers" in d:
            d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            members = d.get(store)
            if members is not None and name in members:
                return members[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    def __getstate__(self) -> dict:
        state_ = self.__dict__.copy()
        state_["_last_call"] = None  # a recorded graph is not part of the module
        return state_

    def __setstate__(self, state_: dict) -> None:
        self.__dict__.update(state_)

    # ---- traversal ----------------------------------------------------------------------
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(qualified name, module)`` for this module ("") and all descendants, depth first;
        a module reachable twice is listed once."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)  # fmt: skip

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, store: str, prefix: str, recurse: bool, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, mod in mods:
            for name, t in mod.__dict__[store].items():
                if t is None or id(t) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(qualified name, parameter)``, e.g. ``("0.weight", W)``; shared ones once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` ("" is this module)."""
        mod: Module = self
        for part in target.split(".") if target else []:
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{mod._get_name()} has no child module '{part}' ({target})")
            mod = child
        return mod

    def num_parameters(self) -> int:
        """Number of scalar parameters (shared ones counted once). Raises
        UninitializedParameterError while a lazy module has not run (PyTorch's ``numel``
        of an uninitialized parameter raises too)."""
        lazy = [name for name, p in self.named_parameters() if is_lazy(p)]
        if lazy:
            raise UninitializedParameterError(
                f"{self._get_name()}.num_parameters(): {len(lazy)} parameter(s) are "
                f"uninitialized ({', '.join(lazy)}) and have no size yet; run a forward pass "
                "with a sample batch first (or load a state dict)"
            )
        return sum(int(p.size) for p in self.parameters())

    # ---- modes and gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active, BatchNorm uses batch statistics) on this
        module and every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ModuleTypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient recording on or off for every parameter (freezing)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: ``.grad = None`` (or zeros in place)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    # ---- state ----------------------------------------------------------------------------
    def state_dict(
        self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Tensor]:
        """Parameters and persistent buffers by qualified name (``"0.weight"``), as Tensors
        sharing memory with the module (detached unless ``keep_vars``). An uninitialized
        (lazy) entry is the UninitializedParameter/Buffer itself, as in PyTorch."""
        out: dict[str, Tensor] = {} if destination is None else destination
        d = self.__dict__
        for name, p in d["_parameters"].items():
            if p is not None:
                out[prefix + name] = p if keep_vars or is_lazy(p) else p.detach()
        for name, b in d["_buffers"].items():
            if b is not None and name not in d["_non_persistent_buffers"]:
                out[prefix + name] = b if keep_vars or is_lazy(b) else b.detach()
        for name, m in d["_modules"].items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into the existing parameters and buffers (same arrays, cast to their
        dtype, so optimisers holding them stay valid).

        With ``strict=True`` (default) the keys must match exactly; any shape mismatch is an
        error in either mode. The StateDictError lists all missing keys, unexpected keys and
        mismatched shapes at once, and nothing is copied. Returns ``(missing_keys,
        unexpected_keys)``.

        Lazy modules (PyTorch's ``_lazy_load_hook``): an uninitialized parameter or buffer
        given a real tensor is materialised with that shape -- a lazy module reads its
        missing size from the checkpoint and checks every entry against it -- and then
        takes the values; an uninitialized checkpoint entry loaded into an uninitialized
        one leaves it as it is, into an initialized one is a size mismatch.
        """
        if not isinstance(state_dict, dict):
            raise ModuleTypeError(
                f"load_state_dict expects a dict, got {type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values, mismatched, lazy_sizes = {}, [], []
        for prefix, m in self.named_modules():
            plan = getattr(m, "_lazy_load_plan", None)  # a lazy module still waiting
            if plan is not None:
                size, errors = plan(state_dict, prefix + "." if prefix else "")
                mismatched += errors
                if size is not None:
                    lazy_sizes.append((m, size))
        for k, dst in own.items():
            if k not in state_dict:
                continue
            value = state_dict[k]
            if is_lazy(value):
                if not is_lazy(dst):
                    mismatched.append(
                        f"'{k}': the checkpoint's entry is uninitialized (a lazy module's), "
                        f"model shape {tuple(dst.shape)}"
                    )
                continue  # uninitialized into uninitialized: nothing to copy
            try:
                arr = to_array(value)
            except ChainruleError as exc:
                raise ModuleTypeError(f"state_dict['{k}']: {exc}") from exc
            if is_lazy(dst):  # its shape comes from the checkpoint (checked by the plan)
                values[k] = arr
                continue
            if tuple(arr.shape) != tuple(dst.shape):
                mismatched.append(
                    f"'{k}': checkpoint shape {tuple(arr.shape)}, model shape {tuple(dst.shape)}"
                )
            values[k] = arr
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"error(s) in loading state_dict for {self._get_name()}:"]
            if missing:
                lines.append(f"  missing keys ({len(missing)}): " + ", ".join(map(repr, missing)))
            if unexpected:
                lines.append(
                    f"  unexpected keys ({len(unexpected)}): " + ", ".join(map(repr, unexpected))
                )
            if mismatched:
                lines.append(f"  size mismatch ({len(mismatched)}): " + "; ".join(mismatched))
            raise StateDictError("\n".join(lines))
        with no_grad():
            for m, size in lazy_sizes:
                m._materialize_for(size)  # the lazy tensors, in place, initialised
            for k, arr in values.items():
                dst = own[k]
                if is_lazy(dst):  # one no lazy module planned for (a user's own)
                    dst.materialize(arr.shape)
                arr = backend.to_device(arr, dst.device)
                dst.data[...] = arr.astype(dst.dtype, copy=False)
                dst._version[0] += 1
        return IncompatibleKeys(missing, unexpected)

    # ---- hooks ------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args)`` before forward; may return new args (a tuple, or one)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args, output)`` after forward; may return a new output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_backward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` (tuples) in this module's
        :meth:`backward`; may return a replacement ``grad_input`` tuple."""
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        return handle

    register_full_backward_hook = register_backward_hook

    # ---- dtype and device -------------------------------------------------------------------
    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move and/or cast floating parameters and buffers in place (integer buffers keep
        their dtype); parameters stay the same objects, so optimisers stay valid. Gradients
        are converted too. ``device`` is "cpu" or "cuda"; ``dtype`` a floating dtype.
        Uninitialized (lazy) ones record the dtype and device for their materialisation."""
        if isinstance(device, np.dtype | type) and dtype is None:  # m.to(cr.float64)
            device, dtype = None, device
        if dtype is not None:
            dtype = as_dtype(dtype)
            if dtype.kind not in "fc":
                raise DTypeError(f"Module.to() casts to floating dtypes only, got {dtype}")

        def convert(arr: Any) -> Any:
            if dtype is not None and arr.dtype.kind in "fc" and arr.dtype != dtype:
                arr = arr.astype(dtype)
            if device is not None:
                arr = backend.to_device(arr, device)
            return arr

        seen: set[int] = set()
        for m in self.modules():
            for store in ("_parameters", "_buffers"):
                for t in m.__dict__[store].values():
                    if t is None or id(t) in seen:
                        continue
                    seen.add(id(t))
                    if is_lazy(t):  # recorded for materialisation, as in PyTorch
                        floating = t.dtype.kind in "fc"
                        t._convert_later(dtype if floating else None, device)
                        continue
                    new = convert(t.data)
                    if new is not t.data:
                        t.data = new
                        t._version[0] += 1
                    if t.grad is not None:
                        t.grad = wrap(convert(t.grad.data))
        return self

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64."""
        return self.to(dtype=np.float64)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    def cpu(self) -> Module:
        return self.to(device="cpu")

    def cuda(self) -> Module:
        return self.to(device="cuda")

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant (children first) and on self; returns self.
        Typical use: custom initialisation, ``model.apply(init_fn)``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- printing -----------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr line."""
        return ""

    def _repr_note(self) -> str:
        parts = []
        shape = self.__dict__.get("_out_shape")
        if shape is not None:
            parts.append(f"out {_fmt_shape(shape)}")
        params = list(self.parameters())
        n = sum(int(p.size) for p in params if not is_lazy(p))
        if n:
            parts.append(f"{n:,} params")
        lazy = sum(1 for p in params if is_lazy(p))
        if lazy:
            parts.append(f"{lazy} uninitialized params")
        return ", ".join(parts)

    def _child_label(self, name: str) -> str:
        return f"({name})"

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        note = self._repr_note()
        note = f"  # {note}" if note else ""
        children = [(k, m) for k, m in self._modules.items() if m is not None]
        if not children and len(extra_lines) <= 1:
            return f"{self._get_name()}({extra}){note}"
        lines = [f"{self._get_name()}({note}"]
        lines += ["  " + line for line in extra_lines]
        for key, m in children:
            sub = repr(m).split("\n")
            lines.append(f"  {self._child_label(key)}: {sub[0]}")
            lines += ["  " + line for line in sub[1:]]
        lines.append(")")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Helpers shared with the containers


def _shapes(out: Any) -> Any:
    """The shape structure of an output (tuples mirrored; None for non-tensors)."""
    if isinstance(out, Tensor):
        return out.shape
    if isinstance(out, tuple | list):
        return tuple(_shapes(o) for o in out)
    return None


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape):
        return "(" + ", ".join(str(s) for s in shape) + ")"
    return "(" + ", ".join(_fmt_shape(s) for s in shape) + ")"


def _leaves(struct: Any) -> list:
    """The leaves of nested tuples/lists, in order."""
    if isinstance(struct, tuple | list):
        return [leaf for s in struct for leaf in _leaves(s)]
    return [struct]


def _leaves_like(grads: Any, out: Any, who: str) -> list:
    """The leaves of ``grads`` matched to the structure of ``out``."""
    if isinstance(out, tuple | list):
        if grads is None:
            return [None] * len(_leaves(out))
        if not isinstance(grads, tuple | list) or len(grads) != len(out):
            raise ModuleTypeError(
                f"{who}.backward: the output is a sequence of {len(out)}; pass one gradient "
                f"per output (None for an unused one), got {type(grads).__name__}"
            )
        return [leaf for g, o in zip(grads, out) for leaf in _leaves_like(g, o, who)]
    return [grads]


def _map(struct: Any, fn: Callable) -> Any:
    if isinstance(struct, tuple | list):
        return tuple(_map(s, fn) for s in struct)
    return fn(struct)


def call_child(where: str, child: Module, *args: Any, **kwargs: Any) -> Any:
    """``child(*args, **kwargs)``; an error raised inside says where it happened.

    ``where`` names the child in its container, e.g. ``"Sequential[2] (ReLU)"``. A
    ChainruleError is raised again as the same class with ``"in <where>: "`` in front of
    its message (nested containers stack up the path) and the original error as
    ``__cause__``; any other exception keeps its identity and gets a note (PEP 678).
    """
    try:
        return child(*args, **kwargs)
    except Exception as exc:
        raise_in(where, exc)


def raise_in(where: str, exc: Exception) -> None:
    """Re-raise ``exc`` (being handled) with ``where`` added; see :func:`call_child`."""
    if isinstance(exc, ChainruleError):
        origin = getattr(exc, "_chainrule_origin", exc)
        try:
            new = type(exc)(f"in {where}: {exc}")
        except Exception:  # an unusual constructor: fall back to a note
            new = None
        if new is not None:
            new._chainrule_origin = origin
            raise new from origin
    exc.add_note(f"  in {where}")
    raise exc
