"""Lazy modules (PyTorch's ``torch.nn.modules.lazy``): layers that read one size from
their first input.

``nn.LazyLinear(out_features)`` is a ``Linear`` whose ``in_features`` is not given: until
the first call its ``weight`` and ``bias`` are :class:`~chainrule.nn.UninitializedParameter`
s (no shape, no data; an optimiser may already hold them). The first call reads
``in_features`` from the input (``x.shape[-1]``), materialises the parameters in place
with their shapes, initialises them with ``Linear.reset_parameters`` and turns the module
into a plain ``Linear`` (``cls_to_become``) before running ``Linear.forward``: from then on
its class, repr, state dict and behaviour are Linear's.

The convolutions read ``in_channels`` and the norms ``num_features`` from the channel
axis: axis 1 of a batched input, axis 0 of an unbatched one where the regular module
accepts unbatched inputs. ``load_state_dict`` with real tensors materialises a lazy module
too (the size is read from the checkpoint; the class changes at the first call, as in
PyTorch).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from chainrule.autograd.mode import no_grad
from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import conv as _conv
from chainrule.nn import layers as _layers
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, ModuleTypeError, UninitializedParameterError
from chainrule.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = [
    "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d", "LazyConv2d",
    "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
    "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "LazyLinear",
    "LazyModuleMixin",
]  # fmt: skip

_KNOWN = "_lazy_size_known"  # instance flag: the inferred size has been set


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", np.shape(x)))


class LazyModuleMixin:
    """What every lazy module shares (PyTorch's ``LazyModuleMixin``); put it first in the
    bases, before the regular module class, and set ``cls_to_become`` to that class.

    A subclass names the size it infers (``_lazy_size``, e.g. ``"in_features"``) and
    defines ``_input_size(x)`` (the size read from the first input, after checking its
    rank), ``_lazy_shapes(size)`` (the shape of every lazy tensor, by attribute name) and
    ``_size_from(name, shape)`` (the size a checkpoint entry implies, or None).
    """

    cls_to_become: type[Module] | None = None
    _lazy_size = ""

    # ---- PyTorch's interface ----------------------------------------------------------
    def has_uninitialized_params(self) -> bool:
        """True while a parameter or buffer of this module is uninitialized."""
        d = self.__dict__
        return any(is_lazy(t) for t in itertools.chain(d["_parameters"].values(),
                                                       d["_buffers"].values()))  # fmt: skip

    def initialize_parameters(self, input: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        """Read the missing size from ``input`` (the forward's first argument), materialise
        the uninitialized tensors and initialise them with the regular module's
        ``reset_parameters``. Nothing to do once the size is known."""
        if self.__dict__.get(_KNOWN) and not self.has_uninitialized_params():
            return
        self._materialize_for(self._input_size(input))

    def reset_parameters(self) -> None:
        """The regular module's initialisation, once the tensors have shapes."""
        if self.__dict__.get(_KNOWN) and not self.has_uninitialized_params():
            super().reset_parameters()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not args:
            raise ModuleTypeError(
                f"{self._get_name()} reads {self._lazy_size} from its first positional "
                "input; call it with the input tensor as the first argument"
            )
        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise UninitializedParameterError(
                f"module {self._get_name()} has not been fully initialized"
            )
        self._become_regular()
        return self(*args, **kwargs)  # the regular class's __call__ now

    # ---- the machinery ----------------------------------------------------------------
    def _become_regular(self) -> None:
        self.__dict__.pop(_KNOWN, None)
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become

    def _lazy_tensors(self) -> dict[str, Tensor]:
        d = self.__dict__
        found = {k: t for k, t in d["_parameters"].items() if is_lazy(t)}
        found.update((k, t) for k, t in d["_buffers"].items() if is_lazy(t))
        return found

    def _materialize_for(self, size: int) -> None:
        """Set the inferred size, give every uninitialized tensor its shape and initialise
        the module (``reset_parameters``)."""
        self._check_size(size)
        setattr(self, self._lazy_size, size)
        self.__dict__[_KNOWN] = True
        shapes = self._lazy_shapes(size)
        with no_grad():
            for name, t in self._lazy_tensors().items():
                t.materialize(shapes[name])
            self.reset_parameters()

    def _check_size(self, size: int) -> None:
        """Raise if ``size`` does not suit the module's other arguments."""

    def _lazy_load_plan(self, state_dict: dict, prefix: str) -> tuple[int | None, list[str]]:
        """For ``load_state_dict``: the size the checkpoint gives this module (None when it
        holds no real tensor for its uninitialized entries), and the problems found."""
        name = self._get_name()
        lazy = [k for k in self._lazy_tensors() if k not in self._non_persistent_buffers]
        given = {}
        for k in lazy:
            v = state_dict.get(prefix + k)
            if v is not None and not is_lazy(v):
                given[k] = _shape(v)
        if not given:
            return None, []
        size = source = None
        for k, shape in given.items():
            size = self._size_from(k, shape)
            if size is not None:
                source = k
                break
        if size is None:
            return None, [f"'{prefix}{k}': cannot tell {name}'s {self._lazy_size} from "
                          f"{sorted(given)} with shapes {list(given.values())}"]  # fmt: skip
        try:
            self._check_size(size)
        except ArgumentError as exc:
            return None, [f"'{prefix}{source}': {exc}"]
        expected = self._lazy_shapes(size)
        errors = [f"'{prefix}{k}': checkpoint shape {shape}, {name} with {self._lazy_size}="
                  f"{size} (read from '{prefix}{source}') expects {expected[k]}"
                  for k, shape in given.items() if shape != expected[k]]  # fmt: skip
        return (None if errors else size), errors

    def _rank_error(self, shape: tuple, expected: str) -> ShapeError:
        return ShapeError(f"{self._get_name()}: expected input of shape {expected} to read "
                          f"{self._lazy_size} from, got shape {shape}")  # fmt: skip

    def _input_size(self, x: Any) -> int:
        raise NotImplementedError

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def _size_from(self, name: str, shape: tuple) -> int | None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Linear


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`~chainrule.nn.Linear` whose ``in_features`` is read from the first
    input's last axis (PyTorch's ``nn.LazyLinear``); it becomes a ``Linear`` then.

    Args: out_features, bias=True, dtype=None (float32), as Linear's.
    """

    cls_to_become = Linear
    _lazy_size = "in_features"

    def __init__(self, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__(0, out_features, False, dtype)  # no bias yet: it is lazy below
        dt = self.weight.dtype
        self.weight = UninitializedParameter(dtype=dt)
        if bias:
            self.bias = UninitializedParameter(dtype=dt)

    def _input_size(self, x: Any) -> int:
        shape = _shape(x)
        if not shape:
            raise self._rank_error(shape, "(*, in_features)")
        return shape[-1]

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.out_features, size), "bias": (self.out_features,)}

    def _size_from(self, name: str, shape: tuple) -> int | None:
        return shape[1] if name == "weight" and len(shape) == 2 else None


# ---------------------------------------------------------------------------------------
# Convolutions


class _LazyConvMixin(LazyModuleMixin):
    """``in_channels`` from the channel axis: 1 of a batched input, 0 of an unbatched one."""

    _lazy_size = "in_channels"

    def _make_lazy(self, bias: bool) -> None:
        dt = self.weight.dtype
        self.weight = UninitializedParameter(dtype=dt)
        if bias:
            self.bias = UninitializedParameter(dtype=dt)

    def _input_size(self, x: Any) -> int:
        shape, n = _shape(x), self._dims
        if len(shape) not in (n + 1, n + 2):
            spatial = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
            raise self._rank_error(shape, f"(N, C_in, {spatial}) or (C_in, {spatial})")
        return shape[1] if len(shape) == n + 2 else shape[0]

    def _check_size(self, size: int) -> None:
        if size % self.groups:
            raise ArgumentError(f"{self._get_name()}: in_channels {size} (from the input) "
                                f"must be divisible by groups={self.groups}")  # fmt: skip

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        out, g, k = self.out_channels, self.groups, self.kernel_size
        weight = (size, out // g, *k) if self._transposed else (out, size // g, *k)
        return {"weight": weight, "bias": (out,)}

    def _size_from(self, name: str, shape: tuple) -> int | None:
        if name != "weight" or len(shape) != self._dims + 2:
            return None
        return shape[0] if self._transposed else shape[1] * self.groups


class _LazyConvNd(_LazyConvMixin):
    def __init__(
        self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
        dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(0, out_channels, kernel_size, stride, padding, dilation, groups,
                         False, padding_mode, dtype)  # fmt: skip
        self._make_lazy(bias)


class _LazyConvTransposeNd(_LazyConvMixin):
    def __init__(
        self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
        output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
        padding_mode: str = "zeros", dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(0, out_channels, kernel_size, stride, padding, output_padding,
                         groups, False, dilation, padding_mode, dtype)  # fmt: skip
        self._make_lazy(bias)


class LazyConv1d(_LazyConvNd, _conv.Conv1d):
    """A :class:`~chainrule.nn.Conv1d` whose ``in_channels`` is read from the first input
    (PyTorch's ``nn.LazyConv1d``): ``LazyConv1d(out_channels, kernel_size, stride=1,
    padding=0, dilation=1, groups=1, bias=True, padding_mode="zeros", dtype=None)``."""

    cls_to_become = _conv.Conv1d


class LazyConv2d(_LazyConvNd, _conv.Conv2d):
    """A :class:`~chainrule.nn.Conv2d` whose ``in_channels`` is read from the first input
    (PyTorch's ``nn.LazyConv2d``); arguments as :class:`LazyConv1d`'s."""

    cls_to_become = _conv.Conv2d


class LazyConv3d(_LazyConvNd, _conv.Conv3d):
    """A :class:`~chainrule.nn.Conv3d` whose ``in_channels`` is read from the first input
    (PyTorch's ``nn.LazyConv3d``); arguments as :class:`LazyConv1d`'s."""

    cls_to_become = _conv.Conv3d


class LazyConvTranspose1d(_LazyConvTransposeNd, _conv.ConvTranspose1d):
    """A :class:`~chainrule.nn.ConvTranspose1d` whose ``in_channels`` is read from the
    first input (PyTorch's ``nn.LazyConvTranspose1d``): ``LazyConvTranspose1d(out_channels,
    kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True, dilation=1,
    padding_mode="zeros", dtype=None)``."""

    cls_to_become = _conv.ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTransposeNd, _conv.ConvTranspose2d):
    """A :class:`~chainrule.nn.ConvTranspose2d` whose ``in_channels`` is read from the
    first input (PyTorch's ``nn.LazyConvTranspose2d``); as :class:`LazyConvTranspose1d`."""

    cls_to_become = _conv.ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTransposeNd, _conv.ConvTranspose3d):
    """A :class:`~chainrule.nn.ConvTranspose3d` whose ``in_channels`` is read from the
    first input (PyTorch's ``nn.LazyConvTranspose3d``); as :class:`LazyConvTranspose1d`."""

    cls_to_become = _conv.ConvTranspose3d


# ---------------------------------------------------------------------------------------
# Normalisation


class _LazyNormMixin(LazyModuleMixin):
    """``num_features`` from the channel axis; ``weight``, ``bias``, ``running_mean`` and
    ``running_var`` lazy (those the flags ask for), ``num_batches_tracked`` a real 0."""

    _lazy_size = "num_features"

    def __init__(
        self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
        track_running_stats: bool = True, dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__(0, eps, momentum, False, False, dtype)  # no tensors yet
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = float32 if dtype is None else as_dtype(dtype)
        if affine:
            self.weight = UninitializedParameter(dtype=dt)
            self.bias = UninitializedParameter(dtype=dt)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dt)
            self.running_var = UninitializedBuffer(dtype=dt)
            self.num_batches_tracked = Tensor(np.zeros((), dtype=np.int64))

    def _input_size(self, x: Any) -> int:
        shape = _shape(x)
        if len(shape) not in self._ndims:
            raise self._rank_error(shape, self._layout)
        return shape[1]  # BatchNorm: always batched

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return dict.fromkeys(("weight", "bias", "running_mean", "running_var"), (size,))

    def _size_from(self, name: str, shape: tuple) -> int | None:
        return shape[0] if len(shape) == 1 else None


class LazyBatchNorm1d(_LazyNormMixin, _layers.BatchNorm1d):
    """A :class:`~chainrule.nn.BatchNorm1d` whose ``num_features`` is read from the first
    input's axis 1 (PyTorch's ``nn.LazyBatchNorm1d``): ``LazyBatchNorm1d(eps=1e-5,
    momentum=0.1, affine=True, track_running_stats=True, dtype=None)``."""

    cls_to_become = _layers.BatchNorm1d


class LazyBatchNorm2d(_LazyNormMixin, _layers.BatchNorm2d):
    """A :class:`~chainrule.nn.BatchNorm2d` whose ``num_features`` is read from the first
    input (PyTorch's ``nn.LazyBatchNorm2d``); arguments as :class:`LazyBatchNorm1d`'s."""

    cls_to_become = _layers.BatchNorm2d


class LazyBatchNorm3d(_LazyNormMixin, _layers.BatchNorm3d):
    """A :class:`~chainrule.nn.BatchNorm3d` whose ``num_features`` is read from the first
    input (PyTorch's ``nn.LazyBatchNorm3d``); arguments as :class:`LazyBatchNorm1d`'s."""

    cls_to_become = _layers.BatchNorm3d


class _LazyInstanceNormMixin(_LazyNormMixin):
    """As PyTorch's, the defaults are ``affine=True, track_running_stats=True`` (those of
    the lazy batch norms, not InstanceNorm's False, False: PyTorch's docstrings say False,
    its code says True, and the code decides what a checkpoint holds)."""

    def _input_size(self, x: Any) -> int:
        shape, s = _shape(x), self._spatial
        if len(shape) not in (s + 1, s + 2):
            raise self._rank_error(shape, self._layout)
        return shape[1] if len(shape) == s + 2 else shape[0]  # unbatched: channel axis 0


class LazyInstanceNorm1d(_LazyInstanceNormMixin, _layers.InstanceNorm1d):
    """A :class:`~chainrule.nn.InstanceNorm1d` whose ``num_features`` is read from the
    first input's channel axis, (N, C, L) or unbatched (C, L) (PyTorch's
    ``nn.LazyInstanceNorm1d``): ``LazyInstanceNorm1d(eps=1e-5, momentum=0.1,
    affine=True, track_running_stats=True, dtype=None)`` -- PyTorch's defaults, which
    are not InstanceNorm1d's (False, False)."""

    cls_to_become = _layers.InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNormMixin, _layers.InstanceNorm2d):
    """A :class:`~chainrule.nn.InstanceNorm2d` whose ``num_features`` is read from the
    first input (PyTorch's ``nn.LazyInstanceNorm2d``); as :class:`LazyInstanceNorm1d`."""

    cls_to_become = _layers.InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNormMixin, _layers.InstanceNorm3d):
    """A :class:`~chainrule.nn.InstanceNorm3d` whose ``num_features`` is read from the
    first input (PyTorch's ``nn.LazyInstanceNorm3d``); as :class:`LazyInstanceNorm1d`."""

    cls_to_become = _layers.InstanceNorm3d
