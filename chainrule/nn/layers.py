"""Normalisation, embedding, dropout and maxout layers (PyTorch's names, arguments,
parameter and buffer layouts and default initialisation).

Each layer is a thin :class:`~chainrule.nn.Module` around a functional op in
:mod:`chainrule.ops.norm` (fused batch/layer/group norm with closed-form backward) or
:mod:`chainrule.nn.functional` (dropout), so the modular ``backward`` and every autodiff
transform work on them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.backend import float32
from chainrule.errors import ShapeError
from chainrule.nn import _checks, init
from chainrule.nn import functional as F
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops import norm as _norm
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = [
    "AlphaDropout", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Dropout", "Dropout1d",
    "Dropout2d", "Dropout3d", "Embedding", "EmbeddingBag", "FeatureAlphaDropout", "GroupNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "LocalResponseNorm",
    "Maxout", "Normalize",
]  # fmt: skip


def _dtype(dtype: Any) -> np.dtype:
    return float32 if dtype is None else as_dtype(dtype)


class _BatchNorm(Module):
    """Shared implementation of BatchNorm1d/2d/3d (PyTorch's ``_BatchNorm``)."""

    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_features = _checks.size(type(self).__name__, "num_features", num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = _dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dt))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dt))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """PyTorch's default: running statistics reset, weight 1, bias 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        shape = tuple(getattr(x, "shape", np.shape(x)))
        if len(shape) not in self._ndims:
            raise ShapeError(
                f"{self._get_name()}: expected input of shape {self._layout}, got {shape}"
            )
        if shape[1] != self.num_features:
            raise ShapeError(
                f"{self._get_name()}({self.num_features}): input of shape {shape} has "
                f"{shape[1]} channels (axis 1), expected {self.num_features}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        batch_stats = self.training or self.running_mean is None
        update = not self.training or self.track_running_stats
        return _norm.batch_norm(
            x,
            self.running_mean if update else None,
            self.running_var if update else None,
            self.weight,
            self.bias,
            training=batch_stats,
            momentum=factor,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs (PyTorch's ``nn.BatchNorm1d``).

    In training mode each channel is normalised with the batch mean and biased variance
    (over N, or N and L), and the running statistics are updated with ``momentum`` from the
    batch mean and *unbiased* variance (``momentum=None``: cumulative average over
    ``num_batches_tracked``). In eval mode the running statistics are used; without
    ``track_running_stats`` batch statistics are used in both modes.

    Args:
        num_features: C.
        eps: added to the variance. momentum: running-average factor (or None).
        affine: learn ``weight`` (init 1) and ``bias`` (init 0), each (C,).
        track_running_stats: keep the buffers ``running_mean`` (init 0), ``running_var``
            (init 1), each (C,), and ``num_batches_tracked`` (int64 scalar).

    Shapes: (N, C) -> (N, C); (N, C, L) -> (N, C, L).
    """

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) inputs, per channel (PyTorch's
    ``nn.BatchNorm2d``); arguments, buffers and modes as :class:`BatchNorm1d`.

    Shapes: (N, C, H, W) -> (N, C, H, W).
    """

    _ndims = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) inputs, per channel (PyTorch's
    ``nn.BatchNorm3d``); arguments, buffers and modes as :class:`BatchNorm1d`.

    Shapes: (N, C, D, H, W) -> (N, C, D, H, W).
    """

    _ndims = (5,)
    _layout = "(N, C, D, H, W)"


class _InstanceNorm(_BatchNorm):
    """Shared implementation of InstanceNorm1d/2d/3d (PyTorch's ``_InstanceNorm``)."""

    _spatial = 1

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        s = self._spatial
        if x.ndim not in (s + 1, s + 2):
            raise ShapeError(f"{self._get_name()}: expected input of shape {self._layout}, "
                             f"got {x.shape}")  # fmt: skip
        batched = x if x.ndim == s + 2 else x.reshape((1, *x.shape))
        if batched.shape[1] != self.num_features:
            raise ShapeError(f"{self._get_name()}({self.num_features}): input of shape "
                             f"{x.shape} has {batched.shape[1]} channels, expected "
                             f"{self.num_features}")  # fmt: skip
        y = _norm.instance_norm(
            batched, self.running_mean, self.running_var, self.weight, self.bias,
            use_input_stats=self.training or not self.track_running_stats,
            momentum=0.0 if self.momentum is None else self.momentum, eps=self.eps,
        )  # fmt: skip
        return y if y.ndim == x.ndim else y.reshape(x.shape)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation (PyTorch's ``nn.InstanceNorm1d``): each channel of each
    sample normalised over its positions, in training and (without
    ``track_running_stats``) in eval. Defaults as PyTorch: ``affine=False``,
    ``track_running_stats=False``; with tracking, training updates the running statistics
    with the batch average of the instances' statistics (``momentum=None`` leaves them
    unchanged, as PyTorch) and eval uses them. Parameters and buffers as
    :class:`BatchNorm1d`'s (``num_batches_tracked`` is kept but not counted, as PyTorch).

    Shapes: (N, C, L) -> (N, C, L); unbatched (C, L).
    """

    _layout = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of feature maps (PyTorch's ``nn.InstanceNorm2d``); as
    :class:`InstanceNorm1d`.

    Shapes: (N, C, H, W) -> (N, C, H, W); unbatched (C, H, W).
    """

    _spatial = 2
    _layout = "(N, C, H, W) or (C, H, W)"


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of volumes (PyTorch's ``nn.InstanceNorm3d``); as
    :class:`InstanceNorm1d`.

    Shapes: (N, C, D, H, W) -> (N, C, D, H, W); unbatched (C, D, H, W).
    """

    _spatial = 3
    _layout = "(N, C, D, H, W) or (C, D, H, W)"


def _normalized_shape(owner: str, shape: int | Sequence[int]) -> tuple:
    """A norm's ``normalized_shape`` as a tuple of positive sizes (an int is one axis)."""
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    return _checks.sizes(owner, "normalized_shape", shape, len(shape), 0)


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` axes of each sample
    (PyTorch's ``nn.LayerNorm``), the same in training and eval.

    Args:
        normalized_shape: an int or a tuple, the trailing shape to normalise over.
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (init 1) and, with ``bias``, ``bias`` (init 0),
            each of shape ``normalized_shape``.

    Shapes: (*, *normalized_shape) -> the same.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape("LayerNorm", normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = _dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight 1, bias 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        return _norm.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` axes of each
    sample (PyTorch's ``nn.RMSNorm``): ``x / sqrt(mean(x**2) + eps) * weight``, no centring
    and no bias, the same in training and eval.

    Args:
        normalized_shape: an int or a tuple, the trailing shape to normalise over.
        eps: added to the mean square; None (the default) is the machine epsilon of the
            input's dtype, as PyTorch.
        elementwise_affine: learn ``weight`` (init 1) of shape ``normalized_shape``.

    Shapes: (*, *normalized_shape) -> the same.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape("RMSNorm", normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=_dtype(dtype)))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight 1."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Any) -> Tensor:
        return _norm.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """Group normalisation (PyTorch's ``nn.GroupNorm``): the channels are cut into
    ``num_groups`` groups and each sample's group is normalised with its own mean and
    biased variance, the same in training and eval (no running statistics, so it does not
    depend on the batch size).

    Args:
        num_groups: groups of ``num_channels / num_groups`` consecutive channels.
        num_channels: C, which ``num_groups`` must divide.
        eps: added to the variance.
        affine: learn a per-channel ``weight`` (init 1) and ``bias`` (init 0), shape (C,).

    Shapes: (N, C, *) -> the same.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        self.num_groups = _checks.size("GroupNorm", "num_groups", num_groups, 1)
        self.num_channels = _checks.size("GroupNorm", "num_channels", num_channels, 1)
        if self.num_channels % self.num_groups:
            raise ArgumentError(f"GroupNorm: num_channels {num_channels} must be divisible by "
                                f"num_groups {num_groups}")  # fmt: skip
        self.eps, self.affine = eps, affine
        if affine:
            dt = _dtype(dtype)
            self.weight = Parameter(np.ones(self.num_channels, dtype=dt))
            self.bias = Parameter(np.zeros(self.num_channels, dtype=dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight 1, bias 0."""
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm: expected input (N, {self.num_channels}, *), got "
                             f"shape {x.shape}")  # fmt: skip
        return _norm.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


def _embedding_init(weight: Parameter, padding_idx: int | None) -> None:
    """PyTorch's embedding initialisation: N(0, 1), the padding row zero."""
    init.normal_(weight)
    if padding_idx is not None:
        weight.data[padding_idx] = 0


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors (PyTorch's ``nn.Embedding``).

    Args:
        num_embeddings: table size. embedding_dim: vector size.
        padding_idx: a row that is initialised to zeros and gets no gradient.
        max_norm: if given, each forward first rescales, in place, the rows the indices
            name whose ``norm_type``-norm (default 2) exceeds it to that norm (as PyTorch).
        ``scale_grad_by_freq=True`` and ``sparse=True`` are not supported
        (:class:`~chainrule.ops.nn.ArgumentError`).

    Attributes:
        weight: (num_embeddings, embedding_dim), initialised N(0, 1) like PyTorch.

    Shapes: integer indices (*) -> (*, embedding_dim). Repeated indices accumulate their
    gradients into the same row; an index outside ``0..num_embeddings-1`` raises
    :class:`chainrule.IndexingError`.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _checks.size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _checks.size("Embedding", "embedding_dim", embedding_dim)
        _norm.check_embedding_options("Embedding", max_norm, norm_type, scale_grad_by_freq,
                                      sparse)  # fmt: skip
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = False, False
        if padding_idx is not None:
            padding_idx = _checks.size(
                "Embedding", "padding_idx", padding_idx, -self.num_embeddings
            )
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ArgumentError(
                    f"Embedding: padding_idx {padding_idx} must be within "
                    f"[-{self.num_embeddings}, {self.num_embeddings - 1}]"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight = Parameter(np.empty(shape, dtype=_dtype(dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: N(0, 1), the padding row zero."""
        _embedding_init(self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:  # fmt: skip
        """An Embedding whose table is a copy of ``embeddings`` (num, dim); frozen
        (``requires_grad=False``) unless ``freeze=False``."""
        data = np.array(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: expected (num, dim), got {data.shape}")
        m = cls(data.shape[0], data.shape[1], padding_idx, max_norm, norm_type,
                scale_grad_by_freq, sparse, dtype=data.dtype)  # fmt: skip
        m.weight.data[...] = data
        m.weight.requires_grad = not freeze
        return m

    def forward(self, indices: Any) -> Tensor:
        return _norm.embedding(indices, self.weight, self.padding_idx, self.max_norm,
                               self.norm_type)  # fmt: skip

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        norm = _max_norm_repr(self.max_norm, self.norm_type)
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}{norm}"


def _max_norm_repr(max_norm: float | None, norm_type: float) -> str:
    """The renormalisation options as PyTorch's embedding reprs show them."""
    s = f", max_norm={max_norm}" if max_norm is not None else ""
    return s + (f", norm_type={norm_type}" if norm_type != 2 else "")


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without building the per-index lookups
    (PyTorch's ``nn.EmbeddingBag``); ``forward(input, offsets=None,
    per_sample_weights=None)`` is :func:`chainrule.nn.functional.embedding_bag`.

    Args:
        num_embeddings: table size. embedding_dim: vector size.
        mode: "sum", "mean" (default) or "max" (per feature).
        include_last_offset: ``offsets`` has B + 1 entries, the last the input length (CSR).
        padding_idx: entries equal to it are skipped (and not counted by "mean"); its row
            is initialised to zeros.
        _weight: an initial table (num_embeddings, embedding_dim), used as is.
        max_norm: if given, each forward first rescales, in place, the rows the input
            names whose ``norm_type``-norm exceeds it to that norm (as PyTorch).
        ``scale_grad_by_freq=True`` and ``sparse=True`` are not supported
        (:class:`~chainrule.ops.nn.ArgumentError`).

    Attributes:
        weight: (num_embeddings, embedding_dim), initialised N(0, 1) like PyTorch.

    Shapes: integer input (B, N) without offsets, or (L,) with offsets (B,) (each the
    start of a bag; (B + 1,) with ``include_last_offset``) -> (B, embedding_dim). An empty
    bag gives zeros. ``per_sample_weights`` (the input's shape, "sum" only) scale each row.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = "EmbeddingBag"
        self.num_embeddings = _checks.size(name, "num_embeddings", num_embeddings)
        self.embedding_dim = _checks.size(name, "embedding_dim", embedding_dim)
        _norm.check_embedding_options(name, max_norm, norm_type, scale_grad_by_freq, sparse)
        if mode not in F._BAG_MODES:
            raise ArgumentError(f"{name}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if padding_idx is not None:
            padding_idx = _checks.size(name, "padding_idx", padding_idx, -self.num_embeddings)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ArgumentError(
                    f"{name}: padding_idx {padding_idx} must be within "
                    f"[-{self.num_embeddings}, {self.num_embeddings - 1}]"
                )
            padding_idx %= self.num_embeddings
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, False
        self.mode, self.sparse = mode, False
        self.include_last_offset = bool(include_last_offset)
        self.padding_idx = padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.empty(shape, dtype=_dtype(dtype)))
            self.reset_parameters()
        else:
            data = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if tuple(data.shape) != shape:
                raise ShapeError(f"{name}: _weight must have shape {shape} (num_embeddings, "
                                 f"embedding_dim), got {tuple(data.shape)}")  # fmt: skip
            self.weight = Parameter(data if dtype is None else data.astype(_dtype(dtype)))

    def reset_parameters(self) -> None:
        """PyTorch's default: N(0, 1), the padding row zero."""
        _embedding_init(self.weight, self.padding_idx)

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, max_norm: float | None = None,
        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
        sparse: bool = False, include_last_offset: bool = False, padding_idx: int | None = None,
    ) -> EmbeddingBag:  # fmt: skip
        """An EmbeddingBag whose table is a copy of ``embeddings`` (num, dim); frozen
        (``requires_grad=False``) unless ``freeze=False``."""
        data = np.array(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if data.ndim != 2:
            raise ShapeError(f"EmbeddingBag.from_pretrained: expected (num, dim), got {data.shape}")
        m = cls(data.shape[0], data.shape[1], max_norm, norm_type, scale_grad_by_freq, mode,
                sparse, data, include_last_offset, padding_idx)  # fmt: skip
        m.weight.requires_grad = not freeze
        return m

    def forward(self, input: Any, offsets: Any = None, per_sample_weights: Any = None) -> Tensor:  # noqa: A002
        return F.embedding_bag(
            input, self.weight, offsets, self.max_norm, self.norm_type, mode=self.mode,
            per_sample_weights=per_sample_weights, include_last_offset=self.include_last_offset,
            padding_idx=self.padding_idx,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        s += _max_norm_repr(self.max_norm, self.norm_type) + f", mode={self.mode!r}"
        if self.include_last_offset:
            s += ", include_last_offset=True"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class Dropout(Module):
    """Inverted dropout (PyTorch's ``nn.Dropout``): in training each element is zeroed with
    probability ``p`` and the rest scaled by ``1 / (1 - p)``; in eval the input passes
    unchanged. Masks come from chainrule's generator (``cr.manual_seed``).

    Shapes: (*) -> (*).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _checks.probability(type(self).__name__, "p", p)
        self.p = p

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout1d(Dropout):
    """Channel dropout (PyTorch's ``nn.Dropout1d``): in training each channel of each
    sample is zeroed whole with probability ``p`` and the rest scaled by ``1 / (1 - p)``;
    identity in eval.

    Shapes: (N, C, L) or (C, L) -> the same.
    """

    def forward(self, x: Any) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Channel dropout of feature maps (PyTorch's ``nn.Dropout2d``), as :class:`Dropout1d`.

    Shapes: (N, C, H, W) or (C, H, W) -> the same (a 3-D input is unbatched).
    """

    def forward(self, x: Any) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class Dropout3d(Dropout):
    """Channel dropout of volumes (PyTorch's ``nn.Dropout3d``), as :class:`Dropout1d`: one
    keep decision per (sample, channel).

    Shapes: (N, C, D, H, W) or (C, D, H, W) -> the same (a 4-D input is unbatched).
    """

    def forward(self, x: Any) -> Tensor:
        return F.dropout3d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """Dropout for self-normalizing (SELU) networks (PyTorch's ``nn.AlphaDropout``): in
    training each element is set with probability ``p`` to SELU's saturation value and an
    affine map restores the mean and variance (see
    :func:`~chainrule.nn.functional.alpha_dropout`); identity in eval.

    Shapes: (*) -> (*).
    """

    def forward(self, x: Any) -> Tensor:
        return F.alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """:class:`AlphaDropout` of whole channels (PyTorch's ``nn.FeatureAlphaDropout``): one
    decision per (sample, channel).

    Shapes: (N, C, *) -> the same.
    """

    def forward(self, x: Any) -> Tensor:
        return F.feature_alpha_dropout(x, self.p, self.training)


class LocalResponseNorm(Module):
    """Local response normalization across channels (PyTorch's ``nn.LocalResponseNorm``,
    AlexNet's): ``y_c = x_c / (k + alpha / size * sum x_j^2) ^ beta`` over the ``size``
    neighbouring channels ``j`` (see :func:`~chainrule.nn.functional.local_response_norm`).
    No parameters.

    Shapes: (N, C, *) -> the same.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = _checks.size("LocalResponseNorm", "size", size, 1)
        self.alpha, self.beta, self.k = alpha, beta, k

    def forward(self, x: Any) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Maxout(Module):
    """Maxout (Goodfellow et al., 2013): a Linear map to ``out_features * pieces`` units,
    then the max over each group of ``pieces`` consecutive units.

    Args:
        in_features, out_features: sizes of each input and output sample.
        pieces: linear pieces per output unit. bias: whether the Linear has a bias.

    Attributes:
        linear: the :class:`~chainrule.nn.Linear` (in_features -> out_features * pieces),
            PyTorch's Linear initialisation; output unit ``j`` is the max of its units
            ``j * pieces .. (j + 1) * pieces - 1``.

    Shapes: (*, in_features) -> (*, out_features).
    """

    def __init__(
        self, in_features: int, out_features: int, pieces: int, bias: bool = True,
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.in_features = _checks.size("Maxout", "in_features", in_features)
        self.out_features = _checks.size("Maxout", "out_features", out_features)
        self.pieces = _checks.size("Maxout", "pieces", pieces, 1)
        self.linear = Linear(self.in_features, self.out_features * self.pieces, bias, dtype)

    def forward(self, x: Any) -> Tensor:
        return _norm.maxout(self.linear(x), self.pieces)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"pieces={self.pieces}"
        )


class Normalize(Module):
    """``x / max(||x||_p, eps)`` along ``axis`` (``torch.nn.functional.normalize``; l2 by
    default, l1 with ``p=1``).

    Shapes: (*) -> (*); with the default ``axis=1``, (N, D) rows become unit vectors.
    """

    def __init__(self, p: float = 2, axis: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        if not p > 0:
            raise ArgumentError(f"Normalize: p must be positive, got {p}")
        self.p = p
        self.axis = axis
        self.eps = eps

    def forward(self, x: Any) -> Tensor:
        return _norm.normalize(x, p=self.p, axis=self.axis, eps=self.eps)

    def extra_repr(self) -> str:
        return f"p={self.p}, axis={self.axis}, eps={self.eps}"
