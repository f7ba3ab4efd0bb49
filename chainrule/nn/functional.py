# ruff: noqa: A002 - ``input`` is PyTorch's argument name
"""``chainrule.nn.functional``: activations, dropout, padding, linear maps, losses and
distances as differentiable functions, with PyTorch's names and semantics
(``import chainrule.nn.functional as F``); it also re-exports the convolutions, pools,
resampling and normalisations of :mod:`chainrule.ops` under PyTorch's names.

Every function takes and returns :class:`~chainrule.Tensor` (NumPy arrays are accepted as
inputs) and is differentiable in reverse mode, forward mode and to second order. Ops that
need a fused or stable rule (``leaky_relu``, ``elu``, ``softplus``, ``hardtanh``,
``hardswish``, ``gelu``, ``linear``, ``cross_entropy``,
``binary_cross_entropy[_with_logits]``) are single ops from :mod:`chainrule.ops.nn`; the
rest are compositions of chainrule ops.

Shapes: activations are elementwise (any shape -> the same shape) unless stated. Losses
take ``reduction="mean" | "sum" | "none"`` (keyword-only): "mean" averages over every
loss element, "sum" adds them, "none" returns them unreduced (shape given per loss).

Errors: a wrong target shape raises :class:`chainrule.ShapeError` naming the loss and
both shapes; a class label outside ``0..C-1``, class labels of a non-integer dtype, or
binary hinge targets other than +-1 raise :class:`LabelError`; other bad argument values
(``reduction``, ``p``, ``approximate``...) raise :class:`ArgumentError`. All three
subclass :class:`chainrule.ChainruleError` and ``ValueError``.

Differences from PyTorch: loss options other than ``weight`` (PyTorch's third positional
argument) are keyword-only, and the ``inplace=`` flags are not supported (PyTorch's in-place
functions ``relu_``, ``elu_``, ``celu_``, ``selu_``, ``leaky_relu_``, ``hardtanh_``,
``rrelu_`` and ``threshold_`` are); ``mse_loss``, ``l1_loss``, ``huber_loss`` and the
binary cross-entropies require ``target.shape == input.shape`` (PyTorch broadcasts with a
warning); a ``weight`` that requires grad gets its gradient (PyTorch refuses).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend, ops
from chainrule.autograd.mode import state as _state
from chainrule.errors import DTypeError, IndexingError, ShapeError
from chainrule.nn import _checks
from chainrule.ops import ctc as _ctc
from chainrule.ops import nn as _nn
from chainrule.ops import norm as _norm
from chainrule.ops.conv import (  # the same functions, under torch's names
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    unfold,
)
from chainrule.ops.conv import same_padding as _same_padding
from chainrule.ops.conv import transposed_canvas as _transposed_canvas
from chainrule.ops.grid import affine_grid, grid_sample  # the same
from chainrule.ops.nn import ArgumentError, LabelError
from chainrule.ops.norm import (  # the same functions
    batch_norm,
    embedding,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)
from chainrule.ops.resample import interpolate, pixel_shuffle, pixel_unshuffle  # the same
from chainrule.tensor import Tensor, to_array

_REDUCTIONS = ("mean", "sum", "none")


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> Any:
    """The raw array behind ``x`` (lists and numbers converted as chainrule converts)."""
    return x.data if isinstance(x, Tensor) else to_array(x)


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _same_shape(name: str, x: Tensor, target: Any) -> None:
    ts = tuple(getattr(target, "shape", ()))
    if ts != x.shape:
        raise ShapeError(
            f"{name}: target shape {ts} does not match input shape {x.shape}; they must be equal"
        )


def _check_rrelu_bounds(name: str, lower: float, upper: float) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper) and 0 <= lower <= upper):
        raise ArgumentError(f"{name}: need 0 <= lower <= upper, got lower={lower}, "
                            f"upper={upper}")  # fmt: skip


def _check_binary_targets(name: str, target: Any) -> None:
    """Binary targets must lie in [0, 1] (hard 0/1 labels or soft probabilities)."""
    t = _data(target)
    if t.size:
        lo, hi = float(t.min()), float(t.max())
        if not (lo >= 0 and hi <= 1):
            raise LabelError(
                f"{name}: target must hold values in [0, 1], got values in [{lo:g}, {hi:g}] "
                "(map -1/+1 targets to 0/1 with (t + 1) / 2, or use hinge_loss)"
            )


def _check_labels(name: str, labels: Any, n_classes: int, ignore_index: int | None = None,
                  ) -> tuple[Any, Any]:  # fmt: skip
    """``(labels as int64, keep)`` after checking the dtype and that every label is in
    0..C-1 or equals ``ignore_index``. ``keep`` is None when no label is ignored; otherwise
    it is the bool mask of the labels that count, and ignored labels are replaced by 0 (a
    valid index) so that they can still index the input."""
    if labels.dtype.kind not in "iu":
        raise LabelError(
            f"{name}: class labels must have an integer dtype, got {labels.dtype} of shape "
            f"{labels.shape}"
        )
    keep = None
    if labels.size:
        lo, hi = int(labels.min()), int(labels.max())
        if ignore_index is not None and lo <= ignore_index <= hi:  # (never, for -100)
            ignored = labels == ignore_index
            if ignored.any():
                keep = ~ignored
                labels = backend.array_module(labels).where(ignored, 0, labels)
                lo, hi = int(labels.min()), int(labels.max())
        bad = lo if lo < 0 else hi if hi >= n_classes else None
        if bad is not None:
            also = "" if ignore_index in (None, -100) else f" or ignore_index {ignore_index}"
            raise LabelError(
                f"{name}: label {bad} is outside the valid range 0..{n_classes - 1}{also} "
                f"(the input has {n_classes} classes)"
            )
    return labels.astype(np.int64, copy=False), keep


def _class_axis(name: str, x: Tensor) -> int:
    if x.ndim == 0:
        raise ShapeError(f"{name}: input must have a class axis, got a 0-d input")
    return 1 if x.ndim >= 2 else 0


def _label_shape(x: Tensor, axis: int) -> tuple:
    return x.shape[:axis] + x.shape[axis + 1 :]


def _labels_for(name: str, x: Tensor, target: Any, axis: int, ignore_index: int | None = None,
                ) -> tuple[Any, Any]:  # fmt: skip
    """Checked int64 class labels for input ``x`` with classes on ``axis``, on ``x``'s
    device (NumPy labels for a CUDA input are copied over, as the training loop would),
    and the mask of the labels that count (None: all; see :func:`_check_labels`)."""
    labels = backend.to_device_of(_data(target), x.data)
    want = _label_shape(x, axis)
    if labels.dtype.kind in "iu" and labels.shape != want:
        raise ShapeError(
            f"{name}: target shape {labels.shape} does not match input shape {x.shape}: "
            f"expected class labels of shape {want}"
        )
    return _check_labels(name, labels, x.shape[axis], ignore_index)


def _weight_tensor(weight: Any, x: Tensor) -> Tensor:
    """A loss weight as a Tensor; arrays and lists go to ``x``'s device, as labels do."""
    if isinstance(weight, Tensor):
        return weight
    return Tensor(backend.to_device_of(_data(weight), x.data))


def _class_weight(name: str, weight: Any, x: Tensor, axis: int) -> Tensor | None:
    """A loss's per-class ``weight`` (C,) as a Tensor of ``x``'s dtype (None stays None).
    A Tensor that requires grad keeps its history: the weighted loss is differentiable in
    the weights too (PyTorch refuses that)."""
    if weight is None:
        return None
    w = _weight_tensor(weight, x)
    n_classes = x.shape[axis]
    if w.shape != (n_classes,):
        raise ShapeError(
            f"{name}: weight shape {w.shape} does not match input shape {x.shape}: expected "
            f"one weight per class, shape ({n_classes},)"
        )
    return w if w.dtype == x.dtype else w.astype(x.dtype)


def _along(w: Tensor, ndim: int, axis: int) -> Tensor:
    """The class weights (C,) shaped to broadcast along ``axis`` of an ``ndim``-d input."""
    return w.reshape((-1,) + (1,) * (ndim - axis - 1)) if ndim - axis > 1 else w


def _check_smoothing(name: str, label_smoothing: float) -> float:
    try:
        eps = float(label_smoothing)
    except (TypeError, ValueError):
        eps = math.nan
    if not 0.0 <= eps <= 1.0:
        raise ArgumentError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return eps


def _at_labels(x: Tensor, labels: Any, axis: int) -> Tensor:
    """``x`` at each label on the class axis: ``x[n, labels[n, d...], d...]``, shaped like
    ``labels`` (differentiable: an indexing op)."""
    if axis == 0:
        return x[int(labels)]
    rest = labels.ndim
    xp = backend.array_module(labels)
    index = [xp.arange(x.shape[0]).reshape((-1,) + (1,) * (rest - 1)), labels]
    for k in range(1, rest):  # spatial axes d1, d2, ...
        index.append(xp.arange(labels.shape[k]).reshape((1,) * k + (-1,) + (1,) * (rest - k - 1)))
    return x[tuple(index)]


def _label_weights(w: Tensor | None, labels: Any, keep: Any, dtype: Any) -> Any:
    """The weight of each label's loss term: ``weight[label]``, 0 where the label is
    ignored; None when every term weighs 1."""
    if w is None:
        return None if keep is None else keep.astype(dtype)
    wy = w[labels]
    return wy if keep is None else wy * keep.astype(dtype)


def _weighted_mean(total: Tensor, wy: Any, count: int) -> Tensor:
    """``total`` divided by the summed label weights (PyTorch's weighted mean), or by the
    number of terms when they all weigh 1. When every label is ignored the mean is 0/0:
    NaN with zero gradients, as PyTorch."""
    if wy is None:
        return total / count
    denom = ops.sum(wy) if isinstance(wy, Tensor) else wy.sum()
    if float(_data(denom)) == 0:
        return total + np.nan  # (the terms' gradients are already 0: each weighs 0)
    return total / denom


def _nll_terms(logp: Tensor, labels: Any, keep: Any, w: Tensor | None, axis: int,
               reduction: str) -> Tensor:  # fmt: skip
    """Weighted NLL of log-probabilities ``logp`` at ``labels``, reduced."""
    loss = -_at_labels(logp, labels, axis)
    wy = _label_weights(w, labels, keep, logp.dtype)
    if wy is not None:
        loss = loss * wy
    if reduction == "mean":
        return _weighted_mean(ops.sum(loss), wy, loss.size)
    return _reduce(loss, reduction)


# ---- activations ----------------------------------------------------------------------------


def relu(input: Any) -> Tensor:
    """``max(x, 0)``; the slope at 0 is 0 (as PyTorch)."""
    return ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return _nn.LeakyRelu.apply(_tensor(input), negative_slope=float(negative_slope))


def noisy_relu(input: Any, training: bool = True) -> Tensor:
    """Noisy ReLU (Nair & Hinton): in training ``max(0, x + e)`` with
    ``e ~ N(0, sigmoid(x))`` (``sigmoid(x)`` is the variance), drawn from chainrule's RNG
    (so ``cr.manual_seed`` makes it reproducible); the noise is a constant in backward, so
    the slope is ``1[x + e > 0]``. In eval (``training=False``) it is ``relu``."""
    x = _tensor(input)
    if not training:
        return ops.relu(x)
    data = x.data
    std = np.sqrt(_nn.sigmoid_array(backend.to_device(data, "cpu")))
    noise = np.asarray(backend.rng().standard_normal(data.shape) * std, dtype=data.dtype)
    return ops.relu(x + backend.to_device(noise, x.device))


def elu(input: Any, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)`` (no overflow for large ``x``)."""
    return _nn.Elu.apply(_tensor(input), alpha=float(alpha))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold`` (PyTorch's
    definition); finite with no overflow warning for any ``x`` (|x| = 1e4 included)."""
    if beta == 0:
        raise ArgumentError("softplus: beta must be nonzero")
    return _nn.Softplus.apply(_tensor(input), beta=float(beta), threshold=float(threshold))


def sigmoid(input: Any) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow for any ``x``."""
    return ops.sigmoid(input)


def tanh(input: Any) -> Tensor:
    return ops.tanh(input)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """``clip(x, min_val, max_val)``; the gradient passes strictly inside the bounds."""
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}")
    return _nn.Hardtanh.apply(_tensor(input), min_val=float(min_val), max_val=float(max_val))


def threshold(input: Any, threshold: float, value: float) -> Tensor:
    """``x`` where ``x > threshold``, else ``value`` (PyTorch's ``F.threshold``); the
    gradient passes where ``x > threshold``."""
    x = _tensor(input)
    return ops.where(x.data > threshold, x, value)


def silu(input: Any) -> Tensor:
    """SiLU (swish) ``x * sigmoid(x)``, without overflow for any ``x``."""
    x = _tensor(input)
    return x * ops.sigmoid(x)


# PyTorch's SELU constants (Klambauer et al., 2017)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu6(input: Any) -> Tensor:
    """``min(max(x, 0), 6)``: :func:`hardtanh` on ``[0, 6]`` (the gradient is 0 at both
    ends, as PyTorch's)."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Any) -> Tensor:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between (slope 0 at the ends)."""
    return hardtanh(_tensor(input) + 3.0, 0.0, 6.0) / 6.0


def hardswish(input: Any) -> Tensor:
    """``x * relu6(x + 3) / 6`` (MobileNetV3), with PyTorch's slope at the kinks."""
    return _nn.Hardswish.apply(_tensor(input))


def mish(input: Any) -> Tensor:
    """Mish ``x * tanh(softplus(x))``, without overflow for any ``x``."""
    x = _tensor(input)
    return x * ops.tanh(softplus(x, threshold=math.inf))


def softsign(input: Any) -> Tensor:
    """``x / (1 + |x|)``."""
    x = _tensor(input)
    return x / (ops.abs(x) + 1.0)


def logsigmoid(input: Any) -> Tensor:
    """``log(sigmoid(x)) = -softplus(-x)``, finite for any ``x``."""
    return -softplus(-_tensor(input), threshold=math.inf)


def selu(input: Any) -> Tensor:
    """SELU ``scale * elu(x, alpha)`` with the self-normalising constants
    ``alpha = 1.6733``, ``scale = 1.0507`` (PyTorch's)."""
    return _SELU_SCALE * elu(input, _SELU_ALPHA)


def celu(input: Any, alpha: float = 1.0) -> Tensor:
    """CELU ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``, i.e.
    ``alpha * elu(x / alpha)``."""
    if alpha == 0:
        raise ArgumentError("celu: alpha must be nonzero")
    return float(alpha) * elu(_tensor(input) / float(alpha))


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False) -> Tensor:  # fmt: skip
    """Randomized leaky ReLU (PyTorch's ``F.rrelu``): ``x`` where ``x >= 0``, else ``a * x``.
    In training ``a ~ U(lower, upper)`` afresh for every element, drawn with chainrule's
    generator (a constant in backward); otherwise ``a = (lower + upper) / 2``."""
    x = _tensor(input)
    _check_rrelu_bounds("rrelu", lower, upper)
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    slope = backend.rng().uniform(lower, upper, x.shape).astype(x.dtype)
    slope = backend.to_device(slope, x.device)
    return ops.where(x.data >= 0, x, x * slope)


# ---- in-place activations (PyTorch's ``F.relu_`` ...) -----------------------------------------


def _in_place(name: str, input: Any, fn: Any) -> Tensor:
    """``input`` overwritten with ``fn(input)`` and returned, through Tensor's in-place
    machinery (as ``x[...] = v`` or ``x *= v``): the version counter bumps; on a tensor in a
    graph (or carrying a tangent) the write is recorded, so gradients flow through it to
    whatever made ``input``; a leaf that requires grad raises :class:`GraphError` (outside
    ``cr.no_grad()``), as PyTorch. ``fn`` reads a copy of the values when recorded (an op
    may save its input for backward, which the write would otherwise overwrite)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"{name}: input must be a Tensor (it is written in place), got "
                         f"{type(input).__name__}")  # fmt: skip
    x = input
    source = x
    if (x.requires_grad and _state.grad_enabled) or _state.forward_active:
        x._refresh_if_stale()  # a view written through its base: make its node current
        source = x._original()
    result = fn(source)
    if result.dtype != x.dtype:
        if result.dtype.kind != x.dtype.kind:
            raise DTypeError(f"{name}: the result has dtype {result.dtype}, which cannot be "
                             f"written in place into a {x.dtype} input")  # fmt: skip
        result = result.astype(x.dtype)
    return x._inplace(result)


def relu_(input: Tensor) -> Tensor:
    """:func:`relu` written into ``input``, which is returned (PyTorch's ``relu_``)."""
    return _in_place("relu_", input, relu)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """:func:`elu` written into ``input``, which is returned (PyTorch's ``elu_``)."""
    return _in_place("elu_", input, lambda x: elu(x, alpha))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """:func:`celu` written into ``input``, which is returned (PyTorch's ``celu_``)."""
    return _in_place("celu_", input, lambda x: celu(x, alpha))


def selu_(input: Tensor) -> Tensor:
    """:func:`selu` written into ``input``, which is returned (PyTorch's ``selu_``)."""
    return _in_place("selu_", input, selu)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """:func:`leaky_relu` written into ``input``, which is returned (PyTorch's
    ``leaky_relu_``)."""
    return _in_place("leaky_relu_", input, lambda x: leaky_relu(x, negative_slope))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """:func:`hardtanh` written into ``input``, which is returned (PyTorch's
    ``hardtanh_``)."""
    return _in_place("hardtanh_", input, lambda x: hardtanh(x, min_val, max_val))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:  # fmt: skip
    """:func:`rrelu` written into ``input``, which is returned (PyTorch's ``rrelu_``)."""
    return _in_place("rrelu_", input, lambda x: rrelu(x, lower, upper, training))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """:func:`threshold` written into ``input``, which is returned (PyTorch's
    ``threshold_``)."""
    return _in_place("threshold_", input, lambda x: _threshold(x, threshold, value))


_threshold = threshold  # (``threshold_`` has an argument of that name)


def prelu(input: Any, weight: Any) -> Tensor:
    """``x`` where ``x > 0``, else ``weight * x``, with a learned slope: ``weight`` (1,)
    shared, or (C,) one per channel of ``x`` (N, C, *) (as PyTorch's)."""
    x, w = _tensor(input), _tensor(weight)
    channels = x.shape[1] if x.ndim >= 2 else 1
    if x.ndim == 0 or w.ndim != 1 or w.shape[0] not in (1, channels):
        raise ShapeError(f"prelu: weight must have shape (1,) or ({channels},) (the channels "
                         f"of input {x.shape}), got {w.shape}")  # fmt: skip
    if w.shape[0] > 1:
        w = w.reshape((channels,) + (1,) * (x.ndim - 2))
    return ops.where(x.data > 0, x, w * x)


def tanhshrink(input: Any) -> Tensor:
    """``x - tanh(x)``."""
    x = _tensor(input)
    return x - ops.tanh(x)


def _check_lambd(op: str, lambd: float) -> float:
    if lambd < 0:
        raise ArgumentError(f"{op}: lambd must be >= 0, got {lambd}")
    return float(lambd)


def hardshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0."""
    x, lambd = _tensor(input), _check_lambd("hardshrink", lambd)
    return ops.where(abs(x.data) > lambd, x, 0.0)


def softshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    x, lambd = _tensor(input), _check_lambd("softshrink", lambd)
    return ops.where(x.data > lambd, x - lambd, ops.where(x.data < -lambd, x + lambd, 0.0))


def glu(input: Any, dim: int = -1) -> Tensor:
    """Gated linear unit: ``x`` split in halves ``a, b`` along ``dim``, ``a * sigmoid(b)``
    (that axis halves)."""
    x = _tensor(input)
    if x.ndim == 0 or x.shape[dim] % 2:
        raise ShapeError(f"glu: input {x.shape} must have an even size along dim {dim}")
    a, b = ops.split(x, 2, axis=dim)
    return a * ops.sigmoid(b)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """GELU ``x * Phi(x)``: exact (``approximate="none"``, via an erf accurate to ~1e-16)
    or PyTorch's tanh approximation (``approximate="tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _nn.Gelu.apply(_tensor(input), approximate=approximate)


def softmax(input: Any, dim: int = -1) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (max-subtracted, stable)."""
    return ops.softmax(input, axis=dim)


def softmin(input: Any, dim: int = -1) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return softmax(-_tensor(input), dim)


def gumbel_softmax(logits: Any, tau: float = 1.0, hard: bool = False, dim: int = -1) -> Tensor:
    """A sample from the Gumbel-softmax (concrete) distribution (PyTorch's
    ``F.gumbel_softmax``): ``softmax((logits + g) / tau)`` along ``dim`` with
    ``g = -log(E)``, ``E ~ Exp(1)`` drawn with chainrule's generator. ``hard=True`` returns
    the one-hot of the sample's argmax whose gradient is the soft sample's (straight
    through: ``y_hard - y_soft.detach() + y_soft``)."""
    x = _tensor(logits)
    if not tau > 0:
        raise ArgumentError(f"gumbel_softmax: tau must be > 0, got {tau}")
    g = -np.log(backend.rng().standard_exponential(x.shape))
    y = softmax((x + backend.to_device(g.astype(x.dtype), x.device)) / tau, dim)
    if not hard:
        return y
    xp = backend.array_module(y.data)
    axis = dim % max(y.ndim, 1)
    rows = xp.eye(y.shape[axis], dtype=y.dtype)[xp.argmax(y.data, axis=axis)]
    return xp.moveaxis(rows, -1, axis) - y.detach() + y


def log_softmax(input: Any, dim: int = -1) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (stable)."""
    return ops.log_softmax(input, axis=dim)


# ---- dropout, padding, linear maps -------------------------------------------------------------


def dropout(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: in training each element is zeroed with probability ``p`` and the
    survivors are scaled by ``1 / (1 - p)``, so eval needs no rescaling. The mask is
    ``rng.random(shape, dtype=float32) >= p`` with chainrule's generator
    (``cr.manual_seed`` makes it reproducible). With ``training=False`` (or ``p == 0``) the
    input is returned unchanged; ``p == 1`` gives zeros."""
    x = _tensor(input)
    return _dropout("dropout", x, p, training, x.shape)


def _dropout(name: str, x: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    """``x`` times a keep mask of ``mask_shape`` (broadcast over ``x``) scaled by
    ``1 / (1 - p)``; the mask is ``rng.random(mask_shape, dtype=float32) >= p``."""
    if not 0 <= p <= 1:
        raise ArgumentError(f"{name}: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    data = x.data
    if p == 1:
        return x * backend.array_module(data).zeros_like(data)
    keep = backend.rng().random(mask_shape, dtype=np.float32) >= p
    scale = np.asarray(keep * (1.0 / (1.0 - p)), dtype=data.dtype)
    return x * backend.to_device(scale, x.device)


def _channel_dropout(name: str, input: Any, p: float, training: bool, spatial: int) -> Tensor:
    """Dropout of whole channels: input ``(N, C, *spatial)`` or unbatched ``(C, *spatial)``,
    one keep decision per (sample, channel)."""
    x = _tensor(input)
    if x.ndim not in (spatial + 1, spatial + 2):
        axes = ("L",) if spatial == 1 else ("D", "H", "W")[3 - spatial :]
        raise ShapeError(f"{name}: expected input (N, C, {', '.join(axes)}) or unbatched "
                         f"(C, {', '.join(axes)}), got shape {x.shape}")  # fmt: skip
    return _dropout(name, x, p, training, x.shape[: x.ndim - spatial] + (1,) * spatial)


def dropout1d(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout for (N, C, L) or (C, L): each channel of each sample is zeroed whole
    with probability ``p`` (the survivors scaled by ``1 / (1 - p)``)."""
    return _channel_dropout("dropout1d", input, p, training, 1)


def dropout2d(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout for (N, C, H, W) or (C, H, W): each feature map is zeroed whole with
    probability ``p``. A 3-D input is unbatched (C, H, W), as PyTorch documents (its code
    still treats one as (N, C, L), with a warning)."""
    return _channel_dropout("dropout2d", input, p, training, 2)


def dropout3d(input: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout for (N, C, D, H, W) or unbatched (C, D, H, W): each volume (one per
    sample and channel) is zeroed whole with probability ``p``, the survivors scaled by
    ``1 / (1 - p)``."""
    return _channel_dropout("dropout3d", input, p, training, 3)


# SELU's negative saturation value, -scale * alpha: what alpha dropout sets dropped units to
_SELU_SATURATION = -1.0507009873554805 * 1.6732632423543772


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False) -> Tensor:
    """Dropout for self-normalizing (SELU) networks (PyTorch's ``F.alpha_dropout``): each
    element is set with probability ``p`` to SELU's saturation value ``s = -1.7581``, and
    then ``a * x + b`` with ``a = ((1 - p) (1 + p s^2))^(-1/2)`` and ``b = -a s p`` keeps a
    zero-mean, unit-variance input so. The mask is ``rng.random(shape) >= p`` with
    chainrule's generator; identity with ``training=False`` (the default, as PyTorch) or
    ``p == 0``; ``p == 1`` gives zeros."""
    x = _tensor(input)
    return _alpha_dropout("alpha_dropout", x, p, training, x.shape)


def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False) -> Tensor:
    """:func:`alpha_dropout` of whole channels: input (N, C, *), one decision per
    (sample, channel)."""
    x = _tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"feature_alpha_dropout: expected input (N, C, *), got shape {x.shape}")
    return _alpha_dropout("feature_alpha_dropout", x, p, training,
                          x.shape[:2] + (1,) * (x.ndim - 2))  # fmt: skip


def _alpha_dropout(name: str, x: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:
    if not 0 <= p <= 1:
        raise ArgumentError(f"{name}: p must be a probability in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * backend.array_module(x.data).zeros_like(x.data)
    keep = backend.rng().random(mask_shape, dtype=np.float32) >= p
    s = _SELU_SATURATION
    a = 1.0 / math.sqrt((s * s * p + 1) * (1 - p))
    scale = backend.to_device(np.asarray(keep * a, dtype=x.dtype), x.device)
    shift = backend.to_device(np.asarray(~keep * (a * s) - a * s * p, dtype=x.dtype), x.device)
    return x * scale + shift


# PyTorch's padding modes and the ``ops.pad`` (NumPy) mode of each
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}  # fmt: skip


def pad(input: Any, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's ``F.pad``: ``pad`` lists ``(before, after)`` widths from the last axis
    backwards, ``(left, right)`` for the last axis, ``(left, right, top, bottom)`` for the
    last two, and so on. ``mode``: "constant" (``value``, default 0; negative widths crop),
    "reflect" (widths smaller than the axis), "replicate" or "circular" (widths at most the
    axis). Unlike PyTorch, the non-constant modes take any number of axes and any rank.
    Differentiable: padding gathers elements, so the gradient sums back onto them."""
    x = _tensor(input)
    widths_in = tuple(pad)
    if len(widths_in) % 2 or len(widths_in) // 2 > x.ndim:
        raise ShapeError(f"pad: pad {widths_in} must hold (before, after) pairs for at most "
                         f"the {x.ndim} axes of input {x.shape}")  # fmt: skip
    if not all(isinstance(w, int | np.integer) and not isinstance(w, bool) for w in widths_in):
        raise ArgumentError(f"pad: widths must be ints, got {widths_in!r}")
    if mode not in _PAD_MODES:
        raise ArgumentError(f"pad: mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    if value is not None and mode != "constant":
        raise ArgumentError(f"pad: mode {mode!r} takes no value (only 'constant' does)")
    widths = [(0, 0)] * x.ndim
    for k in range(len(widths_in) // 2):
        widths[x.ndim - 1 - k] = (int(widths_in[2 * k]), int(widths_in[2 * k + 1]))
    if any(w < 0 for pair in widths for w in pair):
        if mode != "constant":
            raise ArgumentError(f"pad: negative widths {widths_in} crop, in 'constant' mode only")
        x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
        widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    limit = {"reflect": (0, "smaller than"), "circular": (1, "at most")}.get(mode)
    for axis, ((b, a), n) in enumerate(zip(widths, x.shape)):
        if limit is not None and max(b, a) >= n + limit[0]:
            raise ShapeError(f"pad: {mode} padding {(b, a)} of axis {axis} must be {limit[1]} "
                             f"its size {n} (input {x.shape})")  # fmt: skip
    return ops.pad(x, widths, mode=_PAD_MODES[mode], value=0.0 if value is None else value)


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """``input @ weight.T + bias``: ``input`` (..., in), ``weight`` (out, in) (PyTorch's
    layout), ``bias`` (out,) or None -> (..., out). One fused op."""
    x, w = _tensor(input), _tensor(weight)
    xs, ws = x.data.shape, w.data.shape
    if len(ws) != 2 or not xs or xs[-1] != ws[1]:
        raise ShapeError(
            f"linear: input shape {xs} and weight shape {ws} do not fit: expected "
            "input (..., in) and weight (out, in)"
        )
    if bias is None:
        return _nn.Linear.apply(x, w)
    b = _tensor(bias)
    if b.data.shape != ws[:1]:
        raise ShapeError(f"linear: bias shape {b.shape} does not fit weight shape {ws}")
    return _nn.Linear.apply(x, w, b)


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """``y_k = x1 @ weight[k] @ x2 + bias_k`` (PyTorch's ``F.bilinear``): ``input1``
    (*, in1), ``input2`` (*, in2) with the same leading axes, ``weight`` (out, in1, in2),
    ``bias`` (out,) or None -> (*, out). One GEMM with the weight laid out (in1, out*in2),
    then a product with ``x2`` summed over in2."""
    a, b, w = _tensor(input1), _tensor(input2), _tensor(weight)
    if w.ndim != 3 or not a.ndim or a.shape[:-1] != b.shape[:-1] or (
            (a.shape[-1], b.shape[-1]) != w.shape[1:]):  # fmt: skip
        raise ShapeError(f"bilinear: inputs {a.shape} and {b.shape} and weight {w.shape} do "
                         f"not fit: expected (*, in1), (*, in2) and (out, in1, in2)")  # fmt: skip
    out, in1, in2 = w.shape
    if bias is not None and tuple(_tensor(bias).shape) != (out,):
        raise ShapeError(f"bilinear: bias shape {_tensor(bias).shape} does not fit weight "
                         f"shape {w.shape}")  # fmt: skip
    wm = ops.transpose(w, (1, 0, 2)).reshape((in1, out * in2))
    t = (a @ wm).reshape((*a.shape[:-1], out, in2))
    y = ops.sum(t * b.reshape((*b.shape[:-1], 1, in2)), axis=-1)
    return y if bias is None else y + bias


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:  # fmt: skip
    """PyTorch's ``F.scaled_dot_product_attention``: ``softmax(q @ k^T * scale + mask) @ v``
    with q (*, L, E), k (*, S, E), v (*, S, Ev) -> (*, L, Ev); ``scale`` defaults to
    ``1 / sqrt(E)``.

    As in PyTorch's function, a *bool* ``attn_mask`` is True where attention is allowed
    (the opposite of ``MultiheadAttention``'s masks and of
    ``chainrule.ops.attention.scaled_dot_product_attention``); a float mask is added to
    the scores. ``is_causal`` lets query ``i`` see keys ``j <= i`` (top-left aligned when
    L != S; no ``attn_mask`` then). ``dropout_p`` drops attention weights whenever it is
    nonzero (pass 0 in evaluation, as with PyTorch's). ``enable_gqa``: k and v may have
    fewer heads (axis -3) than q, each shared by a group of query heads."""
    from chainrule.ops import attention as _attention

    q, k, v = _tensor(query), _tensor(key), _tensor(value)
    if is_causal and attn_mask is not None:
        raise ArgumentError("scaled_dot_product_attention: give attn_mask or is_causal=True, "
                            "not both")  # fmt: skip
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        hq, hk = q.shape[-3], k.shape[-3]
        if hq % hk or v.shape[-3] != hk:
            raise ShapeError(f"scaled_dot_product_attention: {hq} query heads cannot be shared "
                             f"among {hk} key and {v.shape[-3]} value heads")  # fmt: skip
        xp = backend.array_module(k.data)
        heads = xp.repeat(xp.arange(hk), hq // hk)  # each key/value head for its query group
        k, v = k[..., heads, :, :], v[..., heads, :, :]
    mask = attn_mask
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else mask
        m = m if backend.is_array(m) else np.asarray(m)  # (lists of bools too)
        mask = mask if isinstance(mask, Tensor) else m
        if m.dtype == np.bool_:  # torch's "may attend" ...
            mask = backend.array_module(m).logical_not(m)  # ... as MultiheadAttention's
    elif is_causal:
        xp = backend.array_module(q.data)
        mask = xp.triu(xp.ones((q.shape[-2], k.shape[-2]), dtype=bool), k=1)
    return _attention.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale,
                                                   dropout_p=dropout_p)  # fmt: skip


# ---- losses ---------------------------------------------------------------------------------
# ---- losses ---------------------------------------------------------------------------------


def mse_loss(input: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target)^2``; ``target`` has ``input``'s shape; "none" keeps
    that shape."""
    _check_reduction("mse_loss", reduction)
    x = _tensor(input)
    _same_shape("mse_loss", x, target)
    d = x - target
    return _reduce(d * d, reduction)


def l1_loss(input: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """Absolute error ``|input - target|``; ``target`` has ``input``'s shape."""
    _check_reduction("l1_loss", reduction)
    x = _tensor(input)
    _same_shape("l1_loss", x, target)
    return _reduce(ops.abs(x - target), reduction)


def _huber_terms(name: str, input: Any, target: Any, delta: float) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, elementwise."""
    x = _tensor(input)
    _same_shape(name, x, target)
    d = x - target
    a = ops.abs(d)
    return ops.where(a.data < delta, 0.5 * (d * d), delta * (a - 0.5 * delta))


def huber_loss(input: Any, target: Any, *, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, with
    ``d = input - target`` (PyTorch's HuberLoss); ``target`` has ``input``'s shape."""
    _check_reduction("huber_loss", reduction)
    if delta <= 0:
        raise ArgumentError(f"huber_loss: delta must be positive, got {delta}")
    return _reduce(_huber_terms("huber_loss", input, target, delta), reduction)


def smooth_l1_loss(input: Any, target: Any, *, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:  # fmt: skip
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (PyTorch's
    SmoothL1Loss: the Huber loss divided by ``beta``; ``beta = 0`` is the L1 loss)."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ArgumentError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        x = _tensor(input)
        _same_shape("smooth_l1_loss", x, target)
        return _reduce(ops.abs(x - target), reduction)
    return _reduce(_huber_terms("smooth_l1_loss", input, target, beta) / beta, reduction)


def kl_div(input: Any, target: Any, *, reduction: str = "mean",
           log_target: bool = False) -> Tensor:  # fmt: skip
    """Kullback-Leibler divergence of ``target`` from ``input`` log-probabilities (PyTorch's
    ``kl_div``): elementwise ``target * (log(target) - input)`` (0 where target is 0), or
    ``exp(target) * (target - input)`` with ``log_target=True``. Shapes: input and target
    alike. ``reduction`` also takes ``"batchmean"``: the sum divided by the batch size
    (axis 0), which is the KL divergence per sample; ``"mean"`` averages over every
    element, as PyTorch's (not the KL divergence)."""
    if reduction not in (*_REDUCTIONS, "batchmean"):
        raise ArgumentError(f"kl_div: reduction must be 'mean', 'batchmean', 'sum' or 'none', "
                            f"got {reduction!r}")  # fmt: skip
    x, t = _tensor(input), _tensor(target)
    _same_shape("kl_div", x, t)
    if log_target:
        loss = ops.exp(t) * (t - x)
    else:
        lowest = float(t.data.min()) if t.size else 0.0
        if lowest < 0:
            raise LabelError(f"kl_div: target probabilities must be >= 0 (or pass "
                             f"log_target=True), got a minimum of {lowest}")  # fmt: skip
        zero = t.data == 0
        loss = ops.where(zero, 0.0, t * ops.log(ops.where(zero, 1.0, t))) - t * x
    if reduction == "batchmean":
        return ops.sum(loss) / (x.shape[0] if x.ndim else 1)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Any, input2: Any, target: Any, *, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:  # fmt: skip
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` 1 says ``input1`` should
    rank higher, -1 lower. All three of one shape (*)."""
    _check_reduction("margin_ranking_loss", reduction)
    x1 = _tensor(input1)
    _same_shape("margin_ranking_loss", x1, input2)
    _same_shape("margin_ranking_loss", x1, target)
    return _reduce(ops.relu(-_tensor(target) * (x1 - input2) + margin), reduction)


def soft_margin_loss(input: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` with targets -1 or 1, of
    ``input``'s shape; finite for any input."""
    _check_reduction("soft_margin_loss", reduction)
    x = _tensor(input)
    _same_shape("soft_margin_loss", x, target)
    return _reduce(softplus(-_tensor(target) * x, threshold=math.inf), reduction)


def poisson_nll_loss(input: Any, target: Any, *, log_input: bool = True, full: bool = False,
                     eps: float = 1e-8, reduction: str = "mean") -> Tensor:  # fmt: skip
    """Negative log-likelihood of a Poisson ``target`` with rate ``exp(input)``
    (``log_input=True``: ``exp(input) - target * input``) or ``input``
    (``input - target * log(input + eps)``). ``full`` adds Stirling's approximation of
    ``log(target!)``, ``target log(target) - target + 0.5 log(2 pi target)``, where
    ``target > 1`` (as PyTorch). Input and target of one shape."""
    _check_reduction("poisson_nll_loss", reduction)
    x, t = _tensor(input), _tensor(target)
    _same_shape("poisson_nll_loss", x, t)
    loss = ops.exp(x) - t * x if log_input else x - t * ops.log(x + eps)
    if full:
        big = t.data > 1
        safe = ops.where(big, t, 1.0)
        stirling = safe * ops.log(safe) - safe + 0.5 * ops.log(2 * math.pi * safe)
        loss = loss + ops.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, *, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:  # fmt: skip
    """``1 - cos(x1, x2)`` where ``target`` is 1 and ``max(0, cos(x1, x2) - margin)`` where
    it is -1 (PyTorch's ``cosine_embedding_loss``): ``x1, x2`` (N, D) or (D,), ``target``
    (N,) or (). The cosine is PyTorch's here: ``x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 +
    1e-12))``."""
    _check_reduction("cosine_embedding_loss", reduction)
    a, b, t = _tensor(input1), _tensor(input2), _tensor(target)
    if a.shape != b.shape or a.ndim not in (1, 2) or t.shape != a.shape[:-1]:
        raise ShapeError(f"cosine_embedding_loss: inputs {a.shape} and {b.shape} must be one "
                         f"shape, (N, D) or (D,), and target {t.shape} (N,) or ()")  # fmt: skip
    dot = ops.sum(a * b, axis=-1)
    norms = (ops.sum(a * a, axis=-1) + 1e-12) * (ops.sum(b * b, axis=-1) + 1e-12)
    cos = dot / ops.sqrt(norms)
    loss = ops.where(t.data == 1, 1.0 - cos, 0.0) + ops.where(
        t.data == -1, ops.relu(cos - margin), 0.0)  # fmt: skip
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Any, target: Any, *, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:  # fmt: skip
    """``x`` where ``target`` is 1 and ``max(0, margin - x)`` where it is -1 (PyTorch's
    ``hinge_embedding_loss``, for distances ``x`` between pairs labelled similar (1) or
    dissimilar (-1)); ``target`` of ``input``'s shape."""
    _check_reduction("hinge_embedding_loss", reduction)
    x, t = _tensor(input), _tensor(target)
    _same_shape("hinge_embedding_loss", x, t)
    loss = ops.where(t.data != 1, ops.relu(margin - x), 0.0) + ops.where(t.data != -1, x, 0.0)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, *, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        reduction: str = "mean") -> Tensor:  # fmt: skip
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the :func:`pairwise_distance`
    (PyTorch's ``triplet_margin_loss``); ``swap`` uses ``min(d(a, n), d(p, n))`` as the
    negative distance. ``anchor``, ``positive``, ``negative`` (N, D) or (D,)."""
    _check_reduction("triplet_margin_loss", reduction)
    a = _tensor(anchor)
    shapes = {a.shape, _tensor(positive).shape, _tensor(negative).shape}
    if len(shapes) != 1 or a.ndim not in (1, 2):
        raise ShapeError(f"triplet_margin_loss: anchor, positive and negative must be one "
                         f"shape, (N, D) or (D,), got {sorted(shapes)}")  # fmt: skip
    d_pos = pairwise_distance(a, positive, p, eps)
    d_neg = pairwise_distance(a, negative, p, eps)
    if swap:
        d_neg = ops.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(ops.relu(d_pos - d_neg + margin), reduction)


def triplet_margin_with_distance_loss(
    anchor: Any, positive: Any, negative: Any, *, distance_function: Any = None,
    margin: float = 1.0, swap: bool = False, reduction: str = "mean",
) -> Tensor:  # fmt: skip
    """``max(d(a, p) - d(a, n) + margin, 0)`` with any distance ``d`` (PyTorch's
    ``triplet_margin_with_distance_loss``): ``distance_function(x1, x2)`` maps two Tensors
    to their distances (None: :func:`pairwise_distance`, the Euclidean distance along the
    last axis); ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance.
    ``anchor``, ``positive``, ``negative`` of one number of dimensions (any shape the
    distance accepts; (N, D) or (D,) for the default). "none" returns the distances'
    shape, (N,) for the default. ``margin`` must be > 0."""
    name = "triplet_margin_with_distance_loss"
    _check_reduction(name, reduction)
    number = isinstance(margin, int | float | np.integer | np.floating)
    if isinstance(margin, bool) or not number or not margin > 0:
        raise ArgumentError(f"{name}: margin must be a number > 0, got {margin!r}")
    if distance_function is not None and not callable(distance_function):
        raise ArgumentError(f"{name}: distance_function must be callable (two Tensors -> "
                            f"distances) or None, got {distance_function!r}")  # fmt: skip
    a, p, n = _tensor(anchor), _tensor(positive), _tensor(negative)
    if not a.ndim == p.ndim == n.ndim:
        raise ShapeError(f"{name}: anchor, positive and negative must have the same number of "
                         f"dimensions, got shapes {a.shape}, {p.shape} and {n.shape}")  # fmt: skip
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = _tensor(dist(a, p))
    d_neg = _tensor(dist(a, n))
    if swap:
        d_neg = ops.minimum(d_neg, _tensor(dist(p, n)))
    return _reduce(ops.relu(d_pos - d_neg + margin), reduction)


def multilabel_soft_margin_loss(input: Any, target: Any, weight: Any = None, *,
                                reduction: str = "mean") -> Tensor:  # fmt: skip
    """Binary cross-entropy of each of C labels from logits, averaged over the labels
    (PyTorch's ``multilabel_soft_margin_loss``): ``input`` (N, C) or (C,), ``target`` 0/1 of
    its shape, ``weight`` (C,) per label. "none" returns (N,) or ()."""
    _check_reduction("multilabel_soft_margin_loss", reduction)
    x, t = _tensor(input), _tensor(target)
    _same_shape("multilabel_soft_margin_loss", x, t)
    if x.ndim not in (1, 2):
        raise ShapeError(f"multilabel_soft_margin_loss: input must be (N, C) or (C,), got "
                         f"{x.shape}")  # fmt: skip
    loss = -(t * logsigmoid(x) + (1.0 - t) * logsigmoid(-x))
    if weight is not None:
        loss = loss * weight
    return _reduce(ops.mean(loss, axis=-1), reduction)


def gaussian_nll_loss(input: Any, target: Any, var: Any, *, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:  # fmt: skip
    """Negative log-likelihood of ``target`` under a Gaussian with mean ``input`` and
    variance ``var``: ``0.5 (log(var) + (input - target)^2 / var)`` (+ ``0.5 log(2 pi)``
    with ``full``). ``var`` has ``input``'s shape, or that shape with the last axis 1 or
    dropped (one variance per sample). As PyTorch, variances below ``eps`` are raised to
    ``eps`` in the value while the gradient flows to ``var`` as if they were not; a
    negative variance is an error."""
    _check_reduction("gaussian_nll_loss", reduction)
    x, v = _tensor(input), _tensor(var)
    _same_shape("gaussian_nll_loss", x, target)
    if v.shape != x.shape:
        if v.shape == x.shape[:-1]:
            v = v.reshape((*v.shape, 1))
        elif not (v.shape[:-1] == x.shape[:-1] and v.shape[-1:] == (1,)):
            raise ShapeError(f"gaussian_nll_loss: var shape {v.shape} must be input's shape "
                             f"{x.shape}, or it with the last axis 1 or dropped")  # fmt: skip
    if v.size and float(v.data.min()) < 0:
        raise ArgumentError(f"gaussian_nll_loss: var has a negative entry, "
                            f"{float(v.data.min())}")  # fmt: skip
    xp = backend.array_module(v.data)
    v = v + (xp.maximum(v.data, eps) - v.data)  # clamped value, identity gradient
    d = x - target
    loss = 0.5 * (ops.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def cross_entropy(input: Any, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:  # fmt: skip
    """Softmax cross-entropy of logits, fused (log-softmax + NLL in one op).

    ``input``: logits (N, C), (N, C, d1, ...) or unbatched (C,). ``target``: integer class
    labels of shape (N,), (N, d1, ...) or () with values in ``0..C-1``; or class
    probabilities of ``input``'s shape (a floating target of that shape). "none" returns
    (N,) / (N, d1, ...) / (); "mean" divides by N * d1 * ... Finite loss and gradient
    for logits of any size (+-1e4 included); the gradient is ``softmax - onehot``.

    PyTorch's options: ``weight`` (C,) scales each class's terms (with labels, "mean" then
    divides by the summed weights of the labels); labels equal to ``ignore_index`` add
    nothing and are not counted (every label ignored gives NaN under "mean", as PyTorch);
    ``label_smoothing`` ``e`` in [0, 1] mixes the target with the uniform distribution,
    ``(1 - e) * target + e / C``. Without them one fused op runs; with them the loss is
    composed from log_softmax and indexing (so ``weight`` may itself require grad).
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    eps = _check_smoothing(name, label_smoothing)
    x = _tensor(input)
    axis = _class_axis(name, x)
    w = _class_weight(name, weight, x, axis)
    t = _data(target)
    if t.dtype.kind == "f" and t.shape == x.shape:
        if ignore_index >= 0:
            raise ArgumentError(
                f"{name}: ignore_index ({ignore_index}) applies to class labels, not to a "
                "target of class probabilities"
            )
        probs = target if isinstance(target, Tensor) else t
        if w is None and eps == 0:
            return _nn.CrossEntropy.apply(x, probs, axis=axis, probs=True, reduction=reduction)
        return _soft_cross_entropy(x, probs, axis, w, eps, reduction)
    if t.dtype.kind in "fb" and t.shape == _label_shape(x, axis):
        raise LabelError(
            f"{name}: class labels must have an integer dtype, got {t.dtype} of shape "
            f"{t.shape}; for class probabilities pass a target of the input's shape {x.shape}"
        )
    if t.dtype.kind not in "iu":
        raise ShapeError(
            f"{name}: target shape {t.shape} ({t.dtype}) does not match input shape "
            f"{x.shape}: expected integer labels of shape {_label_shape(x, axis)} or "
            f"probabilities of shape {x.shape}"
        )
    labels, keep = _labels_for(name, x, t, axis, ignore_index)
    if w is None and eps == 0 and keep is None:
        return _nn.CrossEntropy.apply(x, labels, axis=axis, probs=False, reduction=reduction)
    logp = ops.log_softmax(x, axis=axis)
    loss = _nll_terms(logp, labels, keep, w, axis, reduction)
    if eps == 0:
        return loss
    # PyTorch's label smoothing: (1 - e) * NLL + e / C * (the weighted sum of -logp over
    # the classes), ignored labels left out and "mean" divided as the NLL is
    smooth = -ops.sum(logp if w is None else logp * _along(w, x.ndim, axis), axis=axis)
    if keep is not None:
        smooth = smooth * keep.astype(x.dtype)
    if reduction == "mean":
        wy = _label_weights(w, labels, keep, x.dtype)
        smooth = _weighted_mean(ops.sum(smooth), wy, smooth.size)
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - eps) * loss + (eps / x.shape[axis]) * smooth


def _soft_cross_entropy(x: Tensor, probs: Any, axis: int, w: Tensor | None, eps: float,
                        reduction: str) -> Tensor:  # fmt: skip
    """Cross-entropy against class probabilities with class weights and/or smoothing;
    "mean" divides by N * d1 * ... (not by the weights), as PyTorch."""
    if eps:
        probs = probs * (1 - eps) + eps / x.shape[axis]
    terms = ops.log_softmax(x, axis=axis) * probs
    if w is not None:
        terms = terms * _along(w, x.ndim, axis)
    return _reduce(-ops.sum(terms, axis=axis), reduction)


def nll_loss(input: Any, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:  # fmt: skip
    """Negative log-likelihood ``-input[n, label_n]`` of log-probabilities ``input``
    (N, C), (N, C, d1, ...) or (C,) with integer labels (N,), (N, d1, ...) or ().
    ``weight`` (C,) and ``ignore_index`` as in :func:`cross_entropy` ("mean" divides by the
    summed weights of the labels that count)."""
    name = "nll_loss"
    _check_reduction(name, reduction)
    x = _tensor(input)
    axis = _class_axis(name, x)
    w = _class_weight(name, weight, x, axis)
    labels, keep = _labels_for(name, x, target, axis, ignore_index)
    return _nll_terms(x, labels, keep, w, axis, reduction)


def _ctc_lengths(name: str, what: str, value: Any, n: int | None, like: Any) -> Any:
    """``input_lengths`` / ``target_lengths`` as an int64 (N,) array on ``like``'s device
    (``n`` None: unbatched, one length)."""
    arr = _data(value)
    if not backend.is_array(arr):
        arr = np.asarray(arr)
    if arr.dtype.kind not in "iu":
        raise ArgumentError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    want = (1,) if n is None else (n,)
    if arr.shape != want and not (n is None and arr.shape == ()):
        shape = "an int or shape (1,)" if n is None else f"shape ({n},), one per sample"
        raise ShapeError(f"{name}: {what} must have {shape}, got shape {arr.shape}")
    arr = backend.to_device_of(arr.reshape(-1), like).astype(np.int64, copy=False)
    if arr.size and int(arr.min()) < 0:
        raise ArgumentError(f"{name}: {what} must be >= 0, got {int(arr.min())}")
    return arr


def ctc_loss(log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any, *,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False,
             ) -> Tensor:  # fmt: skip
    """The connectionist temporal classification loss (PyTorch's ``ctc_loss``): the
    negative log-likelihood of each target sequence summed over all its alignments with the
    ``log_probs`` (T, N, C) (or unbatched (T, C)) of C classes, ``blank`` among them.

    ``targets`` are either padded (N, S) (unbatched (S,)) or concatenated
    ``(sum(target_lengths),)``; integer labels in 0..C-1 other than ``blank`` (entries past a
    sample's target length are ignored). ``input_lengths`` and ``target_lengths`` (N,) (ints,
    lists, arrays or Tensors; unbatched an int) give the time steps and labels that count:
    ``input_lengths <= T``, ``target_lengths <= S``. "mean" divides each sample's loss by its
    target length (clamped at 1) and then averages over the batch, as PyTorch; "none" gives
    (N,) (unbatched ()). An impossible alignment gives ``inf``; ``zero_infinity=True`` makes
    it 0 with a zero gradient (the gradient of an infinite loss is 0 here; PyTorch's is NaN).

    The gradient is the exact derivative with respect to ``log_probs``; PyTorch's adds
    ``exp(log_probs)`` (within the input lengths), which changes nothing behind a
    ``log_softmax`` (the intended use): see :mod:`chainrule.ops.ctc`."""
    name = "ctc_loss"
    _check_reduction(name, reduction)
    x = _tensor(log_probs)
    if x.ndim not in (2, 3):
        raise ShapeError(
            f"{name}: log_probs must be (T, N, C) or unbatched (T, C), got shape {x.shape}"
        )
    if x.dtype.kind != "f":
        raise DTypeError(f"{name}: log_probs must be floating, got dtype {x.dtype}")
    batched = x.ndim == 3
    if not batched:
        x = ops.reshape(x, (x.shape[0], 1, x.shape[1]))
    T, N, C = x.shape
    if not 0 <= int(blank) < C:
        raise ArgumentError(f"{name}: blank must be in 0..{C - 1} (the number of classes is "
                            f"{C}), got {blank}")  # fmt: skip
    blank = int(blank)
    il = _ctc_lengths(name, "input_lengths", input_lengths, N if batched else None, x.data)
    tl = _ctc_lengths(name, "target_lengths", target_lengths, N if batched else None, x.data)
    if il.size and int(il.max()) > T:
        raise ArgumentError(f"{name}: input_lengths must be <= the number of time steps "
                            f"T={T}, got {int(il.max())}")  # fmt: skip
    tg = backend.to_device_of(_data(targets), x.data)
    if tg.dtype.kind not in "iu":
        raise LabelError(f"{name}: targets must have an integer dtype, got {tg.dtype}")
    xp = backend.array_module(tg)
    tg = tg.astype(np.int64, copy=False)
    if batched and tg.ndim == 2:
        if tg.shape[0] != N:
            raise ShapeError(f"{name}: padded targets {tg.shape} must have one row per sample "
                             f"(N={N}, log_probs shape {x.shape})")  # fmt: skip
        padded = tg
    elif tg.ndim == 1 and not batched:
        padded = tg.reshape(1, -1)
    elif tg.ndim == 1:  # concatenated
        total = int(tl.sum())
        if tg.shape[0] != total:
            raise ShapeError(
                f"{name}: concatenated targets have length {tg.shape[0]}, but target_lengths "
                f"sum to {total}"
            )
        width = int(tl.max()) if N else 0
        starts = xp.cumsum(tl) - tl
        cols = xp.arange(width)[None, :]
        inside = cols < tl[:, None]
        padded = xp.where(inside, tg[xp.where(inside, starts[:, None] + cols, 0)], blank)
        if total == 0:
            padded = xp.full((N, width), blank, dtype=np.int64)
    else:
        want = "(N, S) or concatenated (sum(target_lengths),)" if batched else "(S,)"
        raise ShapeError(f"{name}: targets must be {want} for log_probs {x.shape}, got shape "
                         f"{tg.shape}")  # fmt: skip
    S = padded.shape[1]
    if tl.size and int(tl.max()) > S:
        raise ArgumentError(f"{name}: target_lengths must be <= the target length S={S}, got "
                            f"{int(tl.max())}")  # fmt: skip
    counted = padded[xp.arange(S)[None, :] < tl[:, None]]
    if counted.size:
        bad = counted[(counted < 0) | (counted >= C) | (counted == blank)]
        if bad.size:
            v = int(bad[0])
            why = "equals blank" if v == blank else f"is outside the valid range 0..{C - 1}"
            raise LabelError(f"{name}: target label {v} {why} (the input has {C} classes, "
                             f"blank={blank})")  # fmt: skip
    ext = _ctc.extend_targets(xp, padded, tl, blank)
    loss = _ctc.ctc_nll(x, ext, il, tl)
    if zero_infinity:
        loss = ops.where(xp.isinf(loss.data), 0.0, loss)
    if reduction == "mean":
        return ops.mean(loss / xp.maximum(tl, 1).astype(loss.dtype))
    if reduction == "sum":
        return ops.sum(loss)
    return loss if batched else ops.reshape(loss, ())


def _broadcast_weight(name: str, what: str, weight: Any, x: Tensor) -> Tensor | None:
    """An elementwise loss weight as a Tensor of ``x``'s dtype that broadcasts to ``x``'s
    shape (None stays None)."""
    if weight is None:
        return None
    w = _weight_tensor(weight, x)
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"{name}: {what} shape {w.shape} does not broadcast to input shape {x.shape}"
        )
    return w if w.dtype == x.dtype else w.astype(x.dtype)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, *,
                         reduction: str = "mean") -> Tensor:  # fmt: skip
    """``-(t log p + (1 - t) log(1 - p))`` on probabilities ``p`` in [0, 1] (``input``) and
    targets ``t`` in [0, 1] of the same shape; each log is clamped to ``>= -100`` (as
    PyTorch). ``weight`` (broadcast to the input's shape) scales each element's loss;
    "mean" still divides by the number of elements."""
    name = "binary_cross_entropy"
    _check_reduction(name, reduction)
    p = _tensor(input)
    _same_shape(name, p, target)
    _check_binary_targets(name, target)
    if p.size and not (p.data.min() >= 0 and p.data.max() <= 1):
        raise ArgumentError(
            f"{name}: input must hold probabilities in [0, 1], got values in "
            f"[{float(p.data.min()):g}, {float(p.data.max()):g}] (use "
            "binary_cross_entropy_with_logits for logits)"
        )
    w = _broadcast_weight(name, "weight", weight, p)
    loss = _nn.BinaryCrossEntropy.apply(p, target)
    return _reduce(loss if w is None else loss * w, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, *,
                                     reduction: str = "mean", pos_weight: Any = None,
                                     ) -> Tensor:  # fmt: skip
    """Binary cross-entropy of ``sigmoid(input)`` computed from the logits directly
    (``max(x, 0) - x t + log1p(exp(-|x|))``): stable for any logit; ``target`` has
    ``input``'s shape and values in [0, 1]. ``weight`` scales each element's loss;
    ``pos_weight`` (e.g. (C,) for (N, C) logits, broadcast to the input's shape) scales
    the positive term, ``-pos_weight * t * log sigmoid(x)``, as PyTorch."""
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    x = _tensor(input)
    _same_shape(name, x, target)
    _check_binary_targets(name, target)
    w = _broadcast_weight(name, "weight", weight, x)
    pw = _broadcast_weight(name, "pos_weight", pos_weight, x)
    loss = _nn.BinaryCrossEntropyWithLogits.apply(x, target)
    if pw is not None:  # -log sigmoid(x) is the loss at target 1: stable as well
        ones = backend.array_module(x.data).ones_like(x.data)
        loss = loss + (pw - 1) * target * _nn.BinaryCrossEntropyWithLogits.apply(x, ones)
    return _reduce(loss if w is None else loss * w, reduction)


def hinge_loss(input: Any, target: Any, *, reduction: str = "mean", margin: float = 1.0,
               ) -> Tensor:  # fmt: skip
    """Hinge loss.

    * 1-D scores (N,) with targets (N,) in {-1, +1}: ``max(0, margin - t * y)``; "none"
      gives (N,).
    * (N, C) scores with integer labels (N,): PyTorch's ``MultiMarginLoss`` (p=1), for
      each sample ``sum over i != y of max(0, margin - x[y] + x[i]) / C``; "none" gives (N,).
    """
    _check_reduction("hinge_loss", reduction)
    x = _tensor(input)
    t = _data(target)
    if x.ndim == 1:
        if t.shape != x.shape:
            raise ShapeError(
                f"hinge_loss: target shape {t.shape} does not match input shape {x.shape}; "
                "1-D scores need targets of the same shape with values -1 or +1"
            )
        if t.size and not np.all(np.abs(backend.to_device(t, "cpu")) == 1):
            bad = t[np.abs(t) != 1].ravel()[0]
            raise LabelError(f"hinge_loss: binary targets must be -1 or +1, got {bad}")
        return _reduce(ops.relu(margin - x * t.astype(x.dtype)), reduction)
    if x.ndim != 2:
        raise ShapeError(
            f"hinge_loss: input must be 1-D scores (N,) or 2-D scores (N, C), got shape {x.shape}"
        )
    return _reduce(_multi_margin("hinge_loss", x, target, 1, margin, None), reduction)


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0,
                      weight: Any = None, *, reduction: str = "mean") -> Tensor:  # fmt: skip
    """The multi-class hinge loss (PyTorch's ``multi_margin_loss``): scores (N, C) or (C,)
    and integer labels (N,) or (); each sample's loss is the sum over the wrong classes
    ``i != y`` of ``w[y] * max(0, margin - x[y] + x[i]) ** p``, divided by C, with ``p`` 1
    or 2 and ``weight`` (C,) (as PyTorch computes it: the weight outside the power). "none"
    gives (N,) or ()."""
    _check_reduction("multi_margin_loss", reduction)
    if p not in (1, 2) or isinstance(p, bool):
        raise ArgumentError(f"multi_margin_loss: p must be 1 or 2, got {p!r}")
    x = _tensor(input)
    if x.ndim not in (1, 2):
        raise ShapeError(f"multi_margin_loss: input must be (N, C) or (C,), got shape {x.shape}")
    if x.ndim == 2:
        return _reduce(_multi_margin("multi_margin_loss", x, target, p, margin, weight), reduction)
    labels = backend.array_module(_data(target)).reshape(_data(target), (1,))
    loss = _multi_margin("multi_margin_loss", ops.reshape(x, (1, -1)), labels, p, margin, weight)
    return _reduce(ops.reshape(loss, ()), reduction)


def _multi_margin(name: str, x: Tensor, target: Any, p: int, margin: float,
                  weight: Any) -> Tensor:  # fmt: skip
    """The per-sample multi-class hinge of scores (N, C): shape (N,)."""
    n, c = x.shape
    labels, _ = _labels_for(name, x, target, 1)
    xp = backend.array_module(labels)
    picked = ops.reshape(_at_labels(x, labels, 1), (n, 1))
    margins = ops.relu(margin - picked + x)
    if p == 2:
        margins = margins * margins
    w = _class_weight(name, weight, x, 1)
    if w is not None:
        margins = margins * ops.reshape(w[labels], (n, 1))
    others = (xp.arange(c) != labels[:, None]).astype(x.dtype)
    return ops.sum(margins * others, axis=1) / c


def multilabel_margin_loss(input: Any, target: Any, *, reduction: str = "mean") -> Tensor:
    """The multi-label hinge loss (PyTorch's ``multilabel_margin_loss``): scores (N, C) or
    (C,) and integer targets of the same shape that list each sample's classes and end at
    the first negative entry (``[3, 0, -1, 1]`` means classes 3 and 0). Each sample's loss
    is the sum over its listed classes ``j`` (a class listed twice counts twice) and its
    other classes ``i`` of ``max(0, 1 - (x[j] - x[i]))``, divided by C. "none" gives (N,)
    or ()."""
    name = "multilabel_margin_loss"
    _check_reduction(name, reduction)
    x = _tensor(input)
    if x.ndim not in (1, 2):
        raise ShapeError(f"{name}: input must be (N, C) or (C,), got shape {x.shape}")
    labels = backend.to_device_of(_data(target), x.data)
    _same_shape(name, x, labels)
    if labels.dtype.kind not in "iu":
        raise LabelError(f"{name}: targets must have an integer dtype, got {labels.dtype}")
    xp = backend.array_module(labels)
    rows = labels.reshape(-1, x.shape[-1]).astype(np.int64)
    c = rows.shape[1]
    listed = xp.cumprod(rows >= 0, axis=1).astype(bool)  # entries before the first negative
    if bool((listed & (rows >= c)).any()):
        bad = int(rows[listed & (rows >= c)][0])
        raise LabelError(
            f"{name}: label {bad} is outside the valid range 0..{c - 1} (the input has {c} "
            "classes; a negative entry ends a sample's list)"
        )
    hits = (rows[:, :, None] == xp.arange(c)) & listed[:, :, None]  # (N, entry, class)
    counts = hits.sum(axis=1)  # how often each class is listed
    others = counts == 0
    pairs = (counts[:, :, None] * others[:, None, :]).astype(x.dtype)  # (N, j, i)
    scores = ops.reshape(x, rows.shape)
    hinge = ops.relu(1 - ops.reshape(scores, rows.shape + (1,)) + ops.reshape(scores, (-1, 1, c)))
    loss = ops.sum(hinge * pairs, axis=(1, 2)) / c
    return _reduce(loss if x.ndim == 2 else ops.reshape(loss, ()), reduction)


# ---- pooling, channels and resampling by composition ------------------------------------------


def lp_pool1d(input: Any, norm_type: float, kernel_size: int, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:  # fmt: skip
    """Power-average pooling (PyTorch's ``lp_pool1d``): ``(sum over the window of
    x^p)^(1/p)`` for input (N, C, L) or (C, L), computed as PyTorch does, from
    :func:`avg_pool1d` of ``x^p`` times the window size (so a window cut short by
    ``ceil_mode`` is scaled as a full one). Odd or fractional ``p`` on negative sums give
    NaN, as in PyTorch."""
    p = _lp_norm("lp_pool1d", norm_type)
    k = _checks.sizes("lp_pool1d", "kernel_size", kernel_size, 1, 1)[0]
    pooled = avg_pool1d(_tensor(input) ** p, k, stride, 0, ceil_mode)
    return (pooled * k) ** (1.0 / p)


def lp_pool2d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:  # fmt: skip
    """:func:`lp_pool1d` over (N, C, H, W) or (C, H, W) with a ``(kH, kW)`` window."""
    p = _lp_norm("lp_pool2d", norm_type)
    kh, kw = _checks.sizes("lp_pool2d", "kernel_size", kernel_size, 2, 1)
    pooled = avg_pool2d(_tensor(input) ** p, (kh, kw), stride, 0, ceil_mode)
    return (pooled * (kh * kw)) ** (1.0 / p)


def _lp_norm(name: str, norm_type: Any) -> float:
    if (
        isinstance(norm_type, bool)
        or not isinstance(norm_type, int | float)
        or not (0 < norm_type < math.inf)
    ):
        raise ArgumentError(f"{name}: norm_type must be a finite number > 0, got {norm_type!r}")
    return float(norm_type)


def max_unpool1d(input: Any, indices: Any, kernel_size: int, stride: Any = None,
                 padding: int = 0, output_size: Any = None) -> Tensor:  # fmt: skip
    """The partial inverse of :func:`max_pool1d` (PyTorch's ``max_unpool1d``): zeros of
    length ``(L - 1) * stride - 2 * padding + kernel_size`` (or ``output_size``) with each
    input value put back at its index from ``max_pool1d(..., return_indices=True)``.
    Input and indices (N, C, L) or (C, L)."""
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size, 1)  # fmt: skip


def max_unpool2d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:  # fmt: skip
    """The partial inverse of :func:`max_pool2d` (PyTorch's ``max_unpool2d``): input and
    indices (N, C, H, W) or (C, H, W) -> zeros of (N, C, OH, OW),
    ``OH = (H - 1) * stride - 2 * padding + kH`` (or ``output_size``), each value put at its
    flat index ``row * OW + col``. Indices repeated (overlapping windows) hold the same
    value, which is put once; its gradient reaches every copy."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size, 2)  # fmt: skip


def max_unpool3d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:  # fmt: skip
    """The partial inverse of :func:`max_pool3d` (PyTorch's ``max_unpool3d``): input and
    indices (N, C, D, H, W) or (C, D, H, W) -> zeros of (N, C, OD, OH, OW), each size
    ``(n - 1) * stride - 2 * padding + k`` (or ``output_size``), each value put at its flat
    index ``(d * OH + h) * OW + w``; repeated indices as :func:`max_unpool2d`'s."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size, 3)  # fmt: skip


def _max_unpool(name: str, input: Any, indices: Any, kernel_size: Any, stride: Any,
                padding: Any, output_size: Any, nd: int) -> Tensor:  # fmt: skip
    x = _tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        axes = ("L", "H, W", "D, H, W")[nd - 1]
        raise ShapeError(f"{name}: expected input (N, C, {axes}) or unbatched (C, {axes}), got "
                         f"shape {x.shape}")  # fmt: skip
    idx = backend.to_device_of(_data(indices), x.data)
    if tuple(idx.shape) != x.shape:
        raise ShapeError(f"{name}: indices shape {tuple(idx.shape)} does not match input shape "
                         f"{x.shape}")  # fmt: skip
    if idx.dtype.kind not in "iu":
        raise LabelError(f"{name}: indices must have an integer dtype, got {idx.dtype}")
    k = _checks.sizes(name, "kernel_size", kernel_size, nd, 1)
    st = k if stride is None else _checks.sizes(name, "stride", stride, nd, 1)
    pad = _checks.sizes(name, "padding", padding, nd, 0)
    spatial = x.shape[-nd:]
    default = tuple((n - 1) * s - 2 * q + kk for n, s, q, kk in zip(spatial, st, pad, k))
    out = default
    if output_size is not None:
        out = tuple(int(v) for v in tuple(output_size)[-nd:])
        if len(out) != nd or any(not d - s < o < d + s for o, d, s in zip(out, default, st)):
            raise ShapeError(f"{name}: output_size {tuple(output_size)} must be within a stride "
                             f"of the default size {default} (stride {st})")  # fmt: skip
    plane = math.prod(out)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= plane):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise LabelError(f"{name}: index {bad} is outside the output plane of size {out} "
                         f"(valid 0..{plane - 1})")  # fmt: skip
    lead = x.shape[:-nd]
    rows = math.prod(lead)
    xp = backend.array_module(idx)
    flat_idx = idx.reshape(rows, -1).astype(np.int64)
    row_idx = xp.broadcast_to(xp.arange(rows)[:, None], flat_idx.shape)
    zeros = Tensor(xp.zeros((rows, plane), dtype=x.dtype))
    put = ops.index_put(zeros, (row_idx, flat_idx), ops.reshape(x, flat_idx.shape))
    return ops.reshape(put, lead + out)


# ---- 3-D convolution and pooling by composition of the 2-D ones ------------------------------


def _batched_3d(name: str, input: Any, what: str) -> tuple[Tensor, bool]:
    """``input`` with a batch axis (an unbatched 4-D input gets one); and whether it was
    added."""
    x = _tensor(input)
    if x.ndim == 5:
        return x, False
    if x.ndim == 4:
        return x.reshape((1, *x.shape)), True
    raise ShapeError(f"{name}: expected {what} (5-D, or 4-D unbatched), got shape {x.shape}")


def _renamed(name: str, shown: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn`` (a 2-D op), its errors (a case the checks here miss) renamed to ``name``."""
    try:
        return fn(*args, **kwargs)
    except (ShapeError, ArgumentError) as exc:
        raise type(exc)(f"{name}: {shown}: {exc}") from None


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """3-D convolution (cross-correlation, PyTorch's ``conv3d``): input
    ``(N, C_in, D, H, W)`` (or unbatched ``(C_in, D, H, W)``), weight
    ``(C_out, C_in/groups, kD, kH, kW)``, bias ``(C_out,)`` or None ->
    ``(N, C_out, OD, OH, OW)``, ``OD = (D + 2*pD - dD*(kD-1) - 1) // sD + 1`` (OH, OW
    likewise). ``stride``, ``padding`` and ``dilation`` are ints or triples; ``padding`` may
    also be ``"valid"`` or ``"same"`` (stride 1; an odd total goes after, as PyTorch).

    Computed as one :func:`conv2d`: the ``kD`` depth taps of every output depth (strided and
    dilated slices along D of the zero-padded input) are stacked into the channels of the
    batch ``N * OD`` (group-major, so ``groups`` carries over) against the weight as
    ``(C_out, kD * C_in/groups, kH, kW)``; hence differentiable in every argument, in reverse
    mode (to any order) and forward mode."""
    name = "conv3d"
    x, w = _tensor(input), _tensor(weight)
    x5, unbatched = _batched_3d(name, x, "input (N, C_in, D, H, W)")
    if w.ndim != 5:
        raise ShapeError(f"{name}: weight must be (C_out, C_in/groups, kD, kH, kW), got shape "
                         f"{w.shape}")  # fmt: skip
    if not _checks.is_int(groups) or groups < 1:
        raise ArgumentError(f"{name}: groups must be a positive int, got {groups!r}")
    n, c, d, h, wd = x5.shape
    o, cg, kd, kh, kw = w.shape
    if c % groups:
        raise ShapeError(f"{name}: input channels {c} of input {x.shape} are not divisible by "
                         f"groups={groups}")  # fmt: skip
    if o % groups:
        raise ShapeError(f"{name}: output channels {o} of weight {w.shape} are not divisible by "
                         f"groups={groups}")  # fmt: skip
    if cg * groups != c:
        raise ShapeError(f"{name}: input {x.shape} has {c} channels but weight {w.shape} "
                         f"expects {cg} x groups={groups} = {cg * groups}")  # fmt: skip
    if 0 in (kd, kh, kw):
        raise ShapeError(f"{name}: weight {w.shape} has an empty kernel {(kd, kh, kw)} (every "
                         "kernel axis needs length >= 1)")  # fmt: skip
    if bias is not None and tuple(_tensor(bias).shape) != (o,):
        raise ShapeError(f"{name}: bias shape {tuple(_tensor(bias).shape)} does not match the "
                         f"{o} output channels of weight {w.shape}")  # fmt: skip
    st = _checks.sizes(name, "stride", stride, 3, 1)
    dil = _checks.sizes(name, "dilation", dilation, 3, 1)
    kernel = (kd, kh, kw)
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ArgumentError(f"{name}: padding must be an int, 3 ints, 'valid' or 'same', "
                                f"got {padding!r}")  # fmt: skip
        if padding == "same" and st != (1, 1, 1):
            raise ArgumentError(f"{name}: padding='same' needs stride 1, got {stride!r}")
        pads = [_same_padding(k, dd) if padding == "same" else (0, 0)
                for k, dd in zip(kernel, dil)]  # fmt: skip
    else:
        pads = [(p, p) for p in _checks.sizes(name, "padding", padding, 3, 0)]
    out = tuple((size + b + a - dd * (k - 1) - 1) // s + 1
                for size, (b, a), k, s, dd in zip((d, h, wd), pads, kernel, st, dil))  # fmt: skip
    if min(out) < 1 or min(n, c, o) == 0:
        raise ShapeError(f"{name}: input {x.shape} and weight {w.shape} (stride {st}, padding "
                         f"{padding!r}, dilation {dil}) give an empty output {out}")  # fmt: skip
    od = out[0]
    if pads[0] != (0, 0):
        x5 = ops.pad(x5, [(0, 0), (0, 0), pads[0], (0, 0), (0, 0)], mode="constant", value=0.0)
    taps = [x5[:, :, i * dil[0] : i * dil[0] + (od - 1) * st[0] + 1 : st[0]] for i in range(kd)]
    cols = taps[0].reshape((n, c, 1, od, h, wd)) if kd == 1 else ops.stack(taps, axis=2)
    # (N, C, kD, OD, H, W) -> (N * OD, groups * kD * C_in/groups, H, W), group-major
    cols = ops.transpose(cols.reshape((n, groups, cg, kd, od, h, wd)), (0, 4, 1, 3, 2, 5, 6))
    cols = cols.reshape((n * od, c * kd, h, wd))
    w2 = ops.transpose(w, (0, 2, 1, 3, 4)).reshape((o, kd * cg, kh, kw))
    hw_pad = "same" if padding == "same" else (pads[1][0], pads[2][0])
    y = _renamed(name, f"input {x.shape}, weight {w.shape}", conv2d, cols, w2, bias,
                 st[1:], hw_pad, dil[1:], groups)  # fmt: skip
    y = ops.transpose(y.reshape((n, od, o, *y.shape[2:])), (0, 2, 1, 3, 4))
    return y.reshape(y.shape[1:]) if unbatched else y


def _pool_3d_args(name: str, shape: tuple, kernel_size: Any, stride: Any, padding: Any,
                  dilation: Any, ceil_mode: bool) -> tuple[tuple[int, ...], ...]:  # fmt: skip
    """The checked ``(kernel, stride, padding, dilation)`` triples of a 3-D pool of an input
    of ``shape`` (N, C, D, H, W), and its output size checked non-empty."""
    k = _checks.sizes(name, "kernel_size", kernel_size, 3, 1)
    s = k if stride is None else _checks.sizes(name, "stride", stride, 3, 1)
    p = _checks.sizes(name, "padding", padding, 3, 0)
    dl = _checks.sizes(name, "dilation", dilation, 3, 1)
    if any(2 * pp > kk for pp, kk in zip(p, k)):
        raise ArgumentError(f"{name}: padding {p} must be at most half the kernel size {k}")
    out = []
    for size, kk, ss, pp, dd in zip(shape[2:], k, s, p, dl):
        span = size + 2 * pp - dd * (kk - 1) - 1
        o = (-(-span // ss) if ceil_mode else span // ss) + 1
        if ceil_mode and (o - 1) * ss >= size + pp:  # the last window must start inside
            o -= 1
        out.append(o)
    if min(out) < 1 or min(shape[:2]) == 0:
        raise ShapeError(f"{name}: input {shape} with kernel {k}, stride {s}, padding {p} and "
                         f"dilation {dl} gives output size {tuple(out)}, below 1")  # fmt: skip
    return k, s, p, dl


def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:  # fmt: skip
    """3-D max pooling (PyTorch's ``max_pool3d``): input (N, C, D, H, W) or unbatched
    (C, D, H, W) -> (N, C, OD, OH, OW), each size as :func:`max_pool2d`'s (``ceil_mode``
    included). Computed as :func:`max_pool2d` over (H, W) of every depth slice, then over
    D (a ``(kD, 1)`` window); the maximum is separable and each stage sends its gradient to
    its first maximum, so the whole to the window's first maximum in (d, h, w) order, as
    PyTorch. With ``return_indices`` also where each maximum sits: int64 like the output,
    ``(d * H + h) * W + w`` in the unpadded input (the first stage's index at the depth
    the second stage picked)."""
    name = "max_pool3d"
    x5, unbatched = _batched_3d(name, input, "input (N, C, D, H, W)")
    n, c, d, h, w = x5.shape
    k, s, p, dl = _pool_3d_args(name, x5.shape, kernel_size, stride, padding, dilation,
                                bool(ceil_mode))  # fmt: skip
    shown, indices = f"input {x5.shape}", bool(return_indices)
    y = _renamed(name, shown, max_pool2d, x5.reshape((n, c * d, h, w)), k[1:], s[1:], p[1:],
                 dl[1:], bool(ceil_mode), indices)  # fmt: skip
    y, plane_idx = y if indices else (y, None)
    oh, ow = y.shape[-2:]
    y = _renamed(name, shown, max_pool2d, y.reshape((n, c, d, oh * ow)), (k[0], 1), (s[0], 1),
                 (p[0], 0), (dl[0], 1), bool(ceil_mode), indices)  # fmt: skip
    y, depth_idx = y if indices else (y, None)
    od = y.shape[2]
    y = y.reshape((n, c, od, oh, ow))
    if not indices:
        return y.reshape(y.shape[1:]) if unbatched else y
    xp = backend.array_module(depth_idx.data)
    depth = (depth_idx.data // (oh * ow)).reshape((n, c, od, oh, ow))  # the picked slice
    within = xp.take_along_axis(plane_idx.data.reshape((n, c, d, oh, ow)), depth, axis=2)
    idx = Tensor(depth * (h * w) + within)
    return (y.reshape(y.shape[1:]), idx.reshape(idx.shape[1:])) if unbatched else (y, idx)


def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:  # fmt: skip
    """3-D average pooling (PyTorch's ``avg_pool3d``): input (N, C, D, H, W) or unbatched
    (C, D, H, W) -> (N, C, OD, OH, OW), sizes and ``count_include_pad`` as
    :func:`avg_pool2d`'s; ``divisor_override`` divides every window sum by that number.
    Computed as :func:`avg_pool2d` over (H, W), then over D: PyTorch's divisor (the window
    clipped to the padded input, or to the input without ``count_include_pad``) is the
    product of one count per axis, so the two stages' divisors multiply to it."""
    name = "avg_pool3d"
    x5, unbatched = _batched_3d(name, input, "input (N, C, D, H, W)")
    n, c, d, h, w = x5.shape
    k, s, p, _ = _pool_3d_args(name, x5.shape, kernel_size, stride, padding, 1,
                               bool(ceil_mode))  # fmt: skip
    if divisor_override is not None and (
        not _checks.is_int(divisor_override) or divisor_override < 1
    ):
        raise ArgumentError(f"{name}: divisor_override must be a positive int, got "
                            f"{divisor_override!r}")  # fmt: skip
    shown = f"input {x5.shape}"
    first = None if divisor_override is None else 1  # the window sums, divided at the end
    y = _renamed(name, shown, avg_pool2d, x5.reshape((n, c * d, h, w)), k[1:], s[1:], p[1:],
                 bool(ceil_mode), count_include_pad, first)  # fmt: skip
    oh, ow = y.shape[-2:]
    y = _renamed(name, shown, avg_pool2d, y.reshape((n, c, d, oh * ow)), (k[0], 1), (s[0], 1),
                 (p[0], 0), bool(ceil_mode), count_include_pad, divisor_override)  # fmt: skip
    y = y.reshape((n, c, y.shape[2], oh, ow))
    return y.reshape(y.shape[1:]) if unbatched else y


def _adaptive_output_size_3d(name: str, output_size: Any) -> tuple[int | None, ...]:
    """``output_size`` (an int, or a triple of ints or None) as a checked triple."""
    triple = tuple(output_size) if isinstance(output_size, tuple | list) else (output_size,) * 3
    if len(triple) != 3 or not all(v is None or (_checks.is_int(v) and v >= 1) for v in triple):
        raise ArgumentError(f"{name}: output_size must be an int >= 1 or 3 of them (None keeps "
                            f"that size), got {output_size!r}")  # fmt: skip
    return tuple(None if v is None else int(v) for v in triple)


def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:
    """Average pooling to a fixed output size (PyTorch's ``adaptive_avg_pool3d``): input
    (N, C, D, H, W) or (C, D, H, W) -> (N, C, OD, OH, OW); ``output_size`` an int or a
    triple (None keeps that size); PyTorch's windows ``floor(i*D/OD) .. ceil((i+1)*D/OD)-1``
    per axis. Computed as :func:`adaptive_avg_pool2d` over (H, W), then over D."""
    name = "adaptive_avg_pool3d"
    od, oh, ow = _adaptive_output_size_3d(name, output_size)
    x5, unbatched = _batched_3d(name, input, "input (N, C, D, H, W)")
    n, c, d, h, w = x5.shape
    if min(n, c, d, h, w) == 0:
        raise ShapeError(f"{name}: empty input {x5.shape}")
    y = adaptive_avg_pool2d(x5.reshape((n, c * d, h, w)), (oh, ow))
    oh, ow = y.shape[-2:]
    y = adaptive_avg_pool2d(y.reshape((n, c, d, oh * ow)), (od, None))
    y = y.reshape((n, c, y.shape[2], oh, ow))
    return y.reshape(y.shape[1:]) if unbatched else y


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:  # fmt: skip
    """3-D transposed convolution (PyTorch's ``conv_transpose3d``, argument order included),
    the adjoint of :func:`conv3d` in its input: input ``(N, C_in, D, H, W)`` (or unbatched
    ``(C_in, D, H, W)``), weight ``(C_in, C_out/groups, kD, kH, kW)``, bias ``(C_out,)`` or
    None -> ``(N, C_out, OD, OH, OW)``,
    ``OD = (D - 1)*sD - 2*pD + dD*(kD - 1) + output_padding + 1`` (OH, OW likewise).
    ``stride``, ``padding``, ``output_padding`` and ``dilation`` are ints or triples;
    ``output_padding`` must be smaller than the stride or the dilation on each axis.

    Computed as one :func:`conv_transpose2d` over (H, W): every depth slice of the input
    (a batch of ``N * D`` images) against the ``kD`` depth taps of the weight stacked into
    its output channels (``(C_in, kD * C_out/groups, kH, kW)``, group-major, so ``groups``
    carries over); depth slice ``d``, tap ``i`` lands at depth ``d*sD + i*dD`` of the
    canvas, added there by one scatter-add, which is then cropped by ``pD`` at the front and
    ``OD`` long (depths past the canvas are zero, as PyTorch's). Hence differentiable in
    every argument, in reverse mode (to any order) and forward mode."""
    name = "conv_transpose3d"
    x, w = _tensor(input), _tensor(weight)
    x5, unbatched = _batched_3d(name, x, "input (N, C_in, D, H, W)")
    if w.ndim != 5:
        raise ShapeError(f"{name}: weight must be (C_in, C_out/groups, kD, kH, kW), got shape "
                         f"{w.shape}")  # fmt: skip
    if not _checks.is_int(groups) or groups < 1:
        raise ArgumentError(f"{name}: groups must be a positive int, got {groups!r}")
    n, c, d, h, wd = x5.shape
    ci, og, kd, kh, kw = w.shape
    if ci != c:
        raise ShapeError(f"{name}: input {x.shape} has {c} channels but weight {w.shape} "
                         f"expects {ci} (weight is (C_in, C_out/groups, kD, kH, kW))")  # fmt: skip
    if c % groups:
        raise ShapeError(f"{name}: input channels {c} of input {x.shape} are not divisible by "
                         f"groups={groups}")  # fmt: skip
    if 0 in (kd, kh, kw):
        raise ShapeError(f"{name}: weight {w.shape} has an empty kernel {(kd, kh, kw)} (every "
                         "kernel axis needs length >= 1)")  # fmt: skip
    o = og * groups
    if bias is not None and tuple(_tensor(bias).shape) != (o,):
        raise ShapeError(f"{name}: bias shape {tuple(_tensor(bias).shape)} does not match the "
                         f"{o} output channels of weight {w.shape} with "
                         f"groups={groups}")  # fmt: skip
    if isinstance(padding, str):
        raise ArgumentError(f"{name}: padding must be an int or 3 ints, got {padding!r}")
    st = _checks.sizes(name, "stride", stride, 3, 1)
    dil = _checks.sizes(name, "dilation", dilation, 3, 1)
    pads = _checks.sizes(name, "padding", padding, 3, 0)
    extra = _checks.sizes(name, "output_padding", output_padding, 3, 0)
    if any(e >= max(s, dd) for e, s, dd in zip(extra, st, dil)):
        raise ArgumentError(f"{name}: output_padding {extra} must be smaller than either "
                            f"stride {st} or dilation {dil}")  # fmt: skip
    canvas = [_transposed_canvas(size, s, dd, k)
              for size, s, dd, k in zip((d, h, wd), st, dil, (kd, kh, kw))]  # fmt: skip
    out = tuple(full - 2 * p + e for full, p, e in zip(canvas, pads, extra))
    if min(out) < 1 or min(n, c, o) == 0:
        raise ShapeError(f"{name}: input {x.shape} and weight {w.shape} (stride {st}, padding "
                         f"{pads}, output_padding {extra}, dilation {dil}) give an empty output "
                         f"{out}")  # fmt: skip
    # every depth slice an image: (N * D, C_in, H, W); weight (C_in, kD * C_out/groups, kH, kW)
    x2 = ops.transpose(x5, (0, 2, 1, 3, 4)).reshape((n * d, c, h, wd))
    w2 = ops.transpose(w, (0, 2, 1, 3, 4)).reshape((c, kd * og, kh, kw))
    y = _renamed(name, f"input {x.shape}, weight {w.shape}", conv_transpose2d, x2, w2, None,
                 st[1:], pads[1:], extra[1:], groups, dil[1:])  # fmt: skip
    oh, ow = y.shape[-2:]
    # (N, D, groups, kD, C_out/groups, OH, OW) -> (N, C_out, D, kD, OH, OW)
    y = ops.transpose(y.reshape((n, d, groups, kd, og, oh, ow)), (0, 2, 4, 1, 3, 5, 6))
    y = y.reshape((n, o, d, kd, oh, ow))
    xp = backend.array_module(x5.data)
    depth = xp.arange(d)[:, None] * st[0] + xp.arange(kd)[None, :] * dil[0]  # (D, kD)
    full = max(canvas[0], pads[0] + out[0])  # output padding may reach past the canvas
    y = ops.scatter_add((n, o, full, oh, ow), (slice(None), slice(None), depth), y)
    if (pads[0], out[0]) != (0, full):
        y = y[:, :, pads[0] : pads[0] + out[0]]
    if bias is not None:
        y = y + _tensor(bias).reshape((-1, 1, 1, 1))
    return y.reshape(y.shape[1:]) if unbatched else y


def lp_pool3d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:  # fmt: skip
    """:func:`lp_pool1d` over (N, C, D, H, W) or (C, D, H, W) with a ``(kD, kH, kW)``
    window (PyTorch's ``lp_pool3d``): ``(avg_pool3d(x^p) * kD*kH*kW)^(1/p)``."""
    name = "lp_pool3d"
    p = _lp_norm(name, norm_type)
    x5, unbatched = _batched_3d(name, input, "input (N, C, D, H, W)")
    k, s, _, _ = _pool_3d_args(name, x5.shape, kernel_size, stride, 0, 1, bool(ceil_mode))
    pooled = avg_pool3d(x5**p, k, s, 0, bool(ceil_mode))
    y = (pooled * math.prod(k)) ** (1.0 / p)
    return y.reshape(y.shape[1:]) if unbatched else y


def _adaptive_max_along(x: Tensor, axis: int, out: int) -> tuple[Tensor, Any]:
    """The maximum over each of PyTorch's ``out`` adaptive windows along ``axis`` (a gather,
    so the gradient goes to the chosen element), and the position along ``axis`` of each
    window's first maximum (an int64 array of the result's shape)."""
    size = x.shape[axis]
    bounds = [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]
    longest = max(hi - lo for lo, hi in bounds)
    # (out, longest): each window's positions, its last one repeated to the common length
    # (a repeat comes after the original, so the first maximum is never a repeat)
    taps = np.array([[min(lo + j, hi - 1) for j in range(longest)] for lo, hi in bounds])
    xp = backend.array_module(x.data)
    taps = backend.to_device_of(taps, x.data)
    windows = xp.moveaxis(x.data, axis, -1)[..., taps]  # (..., out, longest)
    where = taps[xp.arange(out), windows.argmax(axis=-1)]  # NaN counts as the maximum
    where = xp.moveaxis(where, -1, axis).astype(np.int64)
    return ops.take_along_axis(x, where, axis), where


def adaptive_max_pool3d(
    input: Any, output_size: Any, return_indices: bool = False
) -> Tensor | tuple[Tensor, Tensor]:
    """Max pooling to a fixed output size (PyTorch's ``adaptive_max_pool3d``): input
    (N, C, D, H, W) or (C, D, H, W) -> (N, C, OD, OH, OW); ``output_size`` an int or a
    triple (None keeps that size); PyTorch's windows ``floor(i*D/OD) .. ceil((i+1)*D/OD)-1``
    per axis. With ``return_indices`` also where each maximum sits: int64 like the output,
    ``(d * H + h) * W + w``.

    Computed one axis at a time (W, then H, then D), each stage a gather of every window's
    first maximum along its axis; the maximum is separable over the box-shaped windows, so
    the gradient reaches each window's first maximum in (d, h, w) order (the first depth
    holding the maximum, then the first row there, then the first column), as PyTorch's
    indices."""
    name = "adaptive_max_pool3d"
    sizes = _adaptive_output_size_3d(name, output_size)
    x5, unbatched = _batched_3d(name, input, "input (N, C, D, H, W)")
    n, c, d, h, w = x5.shape
    if min(n, c, d, h, w) == 0:
        raise ShapeError(f"{name}: empty input {x5.shape}")
    od, oh, ow = (full if v is None else v for v, full in zip(sizes, (d, h, w)))
    y, at_w = _adaptive_max_along(x5, 4, ow)  # (N, C, D, H, OW)
    y, at_h = _adaptive_max_along(y, 3, oh)  # (N, C, D, OH, OW)
    y, at_d = _adaptive_max_along(y, 2, od)  # (N, C, OD, OH, OW)
    if not return_indices:
        return y.reshape(y.shape[1:]) if unbatched else y
    xp = backend.array_module(at_d)
    at_w = xp.take_along_axis(xp.take_along_axis(at_w, at_h, axis=3), at_d, axis=2)
    at_h = xp.take_along_axis(at_h, at_d, axis=2)
    idx = Tensor((at_d * h + at_h) * w + at_w)
    return (y.reshape(y.shape[1:]), idx.reshape(idx.shape[1:])) if unbatched else (y, idx)


# PyTorch's ``*_with_indices`` names: the pools with ``return_indices=True``; their own
# ``return_indices`` argument is accepted and ignored, as PyTorch's


def max_pool1d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`max_pool1d` returning ``(output, indices)`` (PyTorch's alias)."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`max_pool2d` returning ``(output, indices)`` (PyTorch's alias)."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                            dilation: Any = 1, ceil_mode: bool = False,
                            return_indices: bool = False) -> tuple[Tensor, Tensor]:  # fmt: skip
    """:func:`max_pool3d` returning ``(output, indices)`` (PyTorch's alias)."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`adaptive_max_pool1d` returning ``(output, indices)`` (PyTorch's alias)."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`adaptive_max_pool2d` returning ``(output, indices)`` (PyTorch's alias)."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(
    input: Any, output_size: Any, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`adaptive_max_pool3d` returning ``(output, indices)`` (PyTorch's alias)."""
    return adaptive_max_pool3d(input, output_size, True)


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups (PyTorch's ``channel_shuffle``, from
    ShuffleNet): (N, C, *) -> (N, C, *), channel ``g * (C / groups) + k`` moving to
    ``k * groups + g``. C must divide by ``groups``."""
    x = _tensor(input)
    g = _checks.size("channel_shuffle", "groups", groups, 1)
    if x.ndim < 3:
        raise ShapeError(f"channel_shuffle: expected input (N, C, *) with more than 2 "
                         f"dimensions, got shape {x.shape}")  # fmt: skip
    n, c, *rest = x.shape
    if c % g:
        raise ShapeError(f"channel_shuffle: {c} channels do not split into {g} groups "
                         f"(input shape {x.shape})")  # fmt: skip
    grouped = ops.reshape(x, (n, g, c // g, *rest))
    return ops.reshape(ops.swapaxes(grouped, 1, 2), x.shape)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:  # fmt: skip
    """Local response normalization across channels (PyTorch's ``local_response_norm``,
    AlexNet's): input (N, C, *), ``y_c = x_c / (k + alpha / size * sum x_j^2) ^ beta`` over
    the ``size`` channels ``j`` from ``c - size // 2`` to ``c + (size - 1) // 2`` (channels
    past either end count as zeros)."""
    x = _tensor(input)
    n = _checks.size("local_response_norm", "size", size, 1)
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm: expected input (N, C, *) with 3 or more "
                         f"dimensions, got shape {x.shape}")  # fmt: skip
    c = x.shape[1]
    widths = [(0, 0)] * x.ndim
    widths[1] = (n // 2, (n - 1) // 2)
    sq = ops.pad(x * x, widths)
    window = sq[:, 0:c]
    for j in range(1, n):
        window = window + sq[:, j : j + c]
    return x / (window * (alpha / n) + k) ** beta


def pdist(input: Any, p: float = 2.0) -> Tensor:
    """The ``p``-norm distance between every pair of rows (PyTorch's ``pdist``): (N, M) ->
    (N * (N - 1) / 2,), the pairs ``(i, j)``, ``i < j``, in row-major order. ``p`` >= 0 or
    ``inf``; ``p = 0`` counts the differing coordinates (no gradient). A zero distance has a
    zero gradient, as in PyTorch."""
    x = _tensor(input)
    if x.ndim != 2:
        raise ShapeError(f"pdist: expected a 2-D input (N, M), got shape {x.shape}")
    if isinstance(p, bool) or not isinstance(p, int | float) or not p >= 0:
        raise ArgumentError(f"pdist: p must be >= 0 or inf, got {p!r}")
    xp = backend.array_module(x.data)
    i, j = xp.triu_indices(x.shape[0], 1)
    d = x[i] - x[j]
    if p == 0:
        return Tensor((d.data != 0).sum(axis=-1).astype(x.dtype))
    return ops.vector_norm(d, ord=p, axis=-1)


# ---- embedding bags ---------------------------------------------------------------------------

_BAG_MODES = ("sum", "mean", "max")


def _int_array(name: str, what: str, value: Any, like: Any) -> Any:
    """``value`` (indices or offsets) as an integer array on ``like``'s device."""
    arr = _data(value)
    if not backend.is_array(arr):
        arr = np.asarray(arr)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    return backend.to_device_of(arr, like).astype(np.int64, copy=False)


def _bag_layout(name: str, idx: Any, offsets: Any, include_last_offset: bool,
                like: Any) -> tuple[Any, Any, int]:  # fmt: skip
    """The flat indices (L,), the bag of each (L,) and the number of bags B, for 2-D
    indices (B, N) without offsets or 1-D indices with 1-D offsets (checked)."""
    xp = backend.array_module(idx)
    if idx.ndim == 2:
        if offsets is not None:
            raise ArgumentError(
                f"{name}: offsets must be None for 2-D input {idx.shape} (each row is one bag "
                "of fixed length); pass 1-D input with 1-D offsets for bags of varying length"
            )
        b, n = idx.shape
        return idx.reshape(-1), xp.repeat(xp.arange(b), n), b
    if idx.ndim != 1:
        raise ShapeError(f"{name}: input must be 1-D (with offsets) or 2-D (B, N), got shape "
                         f"{idx.shape}")  # fmt: skip
    if offsets is None:
        raise ArgumentError(
            f"{name}: 1-D input {idx.shape} needs 1-D offsets (the start of each bag); or "
            "pass 2-D input (B, N) for bags of equal length"
        )
    off = _int_array(name, "offsets", offsets, idx)
    length = idx.shape[0]
    if off.ndim != 1 or off.shape[0] == 0:
        raise ShapeError(f"{name}: offsets must be 1-D with at least one entry, got shape "
                         f"{off.shape}")  # fmt: skip
    if int(off[0]) != 0:
        raise ArgumentError(f"{name}: offsets must start at 0 (the first bag starts at the "
                            f"first index), got offsets[0] = {int(off[0])}")  # fmt: skip
    steps = xp.diff(off)
    if steps.size and int(steps.min()) < 0:
        k = int(xp.argmax(steps < 0))
        raise ArgumentError(f"{name}: offsets must be non-decreasing, got offsets[{k}] = "
                            f"{int(off[k])} > offsets[{k + 1}] = {int(off[k + 1])}")  # fmt: skip
    last = int(off[-1])
    if include_last_offset and last != length:
        raise ArgumentError(f"{name}: with include_last_offset the last offset must equal the "
                            f"input length {length}, got {last}")  # fmt: skip
    if last > length:
        raise ArgumentError(f"{name}: offsets must lie in 0..{length} (the input length), got "
                            f"offsets[-1] = {last}")  # fmt: skip
    starts = off[:-1] if include_last_offset else off
    # entry j belongs to the last bag that starts at or before j (empty bags share a start)
    bags = xp.searchsorted(starts, xp.arange(length), side="right") - 1
    return idx, bags, starts.shape[0]


def embedding_bag(input: Any, weight: Any, offsets: Any = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights: Any = None,
                  include_last_offset: bool = False, padding_idx: int | None = None,
                  ) -> Tensor:  # fmt: skip
    """The sum, mean or max of bags of ``weight``'s rows (PyTorch's ``embedding_bag``),
    without building the (bag, index, dim) lookups.

    Shapes: ``weight`` (num_embeddings, D); integer ``input`` (B, N) (B bags of N indices)
    without ``offsets``, or 1-D (L,) with 1-D ``offsets`` (B,): bag b holds
    ``input[offsets[b]:offsets[b + 1]]`` (the last runs to the end; with
    ``include_last_offset`` offsets has B + 1 entries, the last equal to L). Returns (B, D);
    an empty bag gives zeros. ``mode``: "sum", "mean" or "max" (per feature);
    ``per_sample_weights`` (the input's shape, "sum" only) scale each row first. Entries
    equal to ``padding_idx`` are skipped (not counted by "mean"; a bag of only those is
    empty).

    Gradients as PyTorch's: repeated indices accumulate into their row; "max" gives each
    bag's gradient, per feature, to the first entry of the bag that attains the maximum
    (one element even when several tie). Built from gathers and a scatter-add, so forward
    mode and double backward work. With ``max_norm`` the rows the input names are first
    renormalised in place, as PyTorch does (:func:`chainrule.ops.norm.embedding_renorm_`).
    ``scale_grad_by_freq`` and ``sparse`` are not supported (:class:`ArgumentError`); bad
    indices raise
    :class:`chainrule.IndexingError`, non-integer indices or offsets
    :class:`chainrule.DTypeError`, bad offsets :class:`ArgumentError`.
    """
    name = "embedding_bag"
    _norm.check_embedding_options(name, max_norm, norm_type, scale_grad_by_freq, sparse)
    if mode not in _BAG_MODES:
        raise ArgumentError(f"{name}: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    w = _tensor(weight)
    if w.ndim != 2:
        raise ShapeError(f"{name}: weight must be (num_embeddings, dim), got shape {w.shape}")
    num, dim = w.shape
    idx = _int_array(name, "indices", input, w.data)
    flat, bags, n_bags = _bag_layout(name, idx, offsets, include_last_offset, w.data)
    if flat.size:
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= num:
            raise IndexingError(f"{name}: index {lo if lo < 0 else hi} is out of range for a "
                                f"table of {num} embeddings (valid indices are "
                                f"0..{num - 1})")  # fmt: skip
    if max_norm is not None:
        _norm.embedding_renorm_(w, flat, max_norm, norm_type)
    psw = None
    if per_sample_weights is not None:
        if mode != "sum":
            raise ArgumentError(f"{name}: per_sample_weights are only supported with mode "
                                f"'sum', got mode {mode!r}")  # fmt: skip
        psw = _weight_tensor(per_sample_weights, w)
        if psw.shape != idx.shape:
            raise ShapeError(f"{name}: per_sample_weights shape {psw.shape} does not match "
                             f"input shape {idx.shape}; they must be equal")  # fmt: skip
        psw = ops.reshape(psw if psw.dtype == w.dtype else psw.astype(w.dtype), (-1,))
    xp = backend.array_module(flat)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise IndexingError(f"{name}: padding_idx {padding_idx} is out of range for a "
                                f"table of {num} embeddings")  # fmt: skip
        kept = xp.nonzero(flat != padding_idx % num)[0]
        flat, bags = flat[kept], bags[kept]
        if psw is not None:
            psw = psw[kept]
    if mode == "max" and flat.size:
        return _bag_max(w, flat, bags, n_bags)
    rows = w[flat]  # (L, D); repeated indices accumulate their gradients
    if psw is not None:
        rows = rows * ops.reshape(psw, (-1, 1))
    out = ops.scatter_add((n_bags, dim), bags, rows)
    if mode == "mean":
        counts = xp.bincount(bags, minlength=n_bags)
        out = out / xp.maximum(counts, 1).astype(w.dtype)[:, None]
    return out


def _bag_max(w: Tensor, flat: Any, bags: Any, n_bags: int) -> Tensor:
    """Per bag and feature, ``w[flat[j], d]`` at the first entry ``j`` of the bag holding
    the maximum (PyTorch's choice among ties); zeros for an empty bag."""
    xp = backend.array_module(flat)
    dim = w.shape[1]
    n = flat.shape[0]
    counts = xp.bincount(bags, minlength=n_bags)
    starts = xp.cumsum(counts) - counts
    pos = xp.arange(n) - starts[bags]  # each entry's place in its bag
    dense = xp.full((n_bags, int(counts.max()), dim), -xp.inf, dtype=w.dtype)
    dense[bags, pos] = w.data[flat]
    first = xp.argmax(dense, axis=1)  # (B, D): the first maximal place (0 in an empty bag)
    entry = xp.minimum(starts[:, None] + first, n - 1)
    picked = w[flat[entry], xp.arange(dim)[None, :]]
    return ops.where((counts == 0)[:, None], 0.0, picked)


# ---- utilities ------------------------------------------------------------------------------


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim`` (PyTorch's ``F.normalize``; the module is
    ``nn.Normalize(p, axis, eps)``)."""
    return _norm.normalize(input, p=p, axis=dim, eps=eps)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2) / (||x1|| * ||x2||)`` along ``dim`` (PyTorch's: each input divided by
    its norm clamped below at ``eps``, so a zero vector gives 0, not NaN). ``x1`` and ``x2``
    broadcast; the result drops ``dim``."""
    a, b = _tensor(x1), _tensor(x2)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cosine_similarity: shapes {a.shape} and {b.shape} do not "
                         f"broadcast") from None  # fmt: skip
    if not -len(shape) <= dim < len(shape):
        raise ShapeError(f"cosine_similarity: dim {dim} is out of range for shape {shape}")

    def unit(v: Tensor) -> Tensor:
        # max(||v||, eps) as sqrt(max(||v||^2, eps^2)): a zero vector gets a zero gradient
        return v / ops.sqrt(ops.maximum(ops.sum(v * v, axis=dim, keepdims=True), eps * eps))

    return ops.sum(unit(a) * unit(b), axis=dim)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:  # fmt: skip
    """The ``p``-norm of ``x1 - x2 + eps`` along the last axis (PyTorch's; ``eps`` keeps the
    gradient finite where the inputs meet). ``p`` > 0, or ``inf`` for the largest
    difference. (N, D), (N, D) -> (N,) (or (N, 1) with ``keepdim``)."""
    if not p > 0:
        raise ArgumentError(f"pairwise_distance: p must be > 0, got {p}")
    a = _tensor(x1)
    d = ops.abs(a - x2 + eps)
    if p == math.inf:
        return ops.max(d, axis=-1, keepdims=keepdim)
    if p == 2:
        return ops.sqrt(ops.sum(d * d, axis=-1, keepdims=keepdim))
    return ops.sum(d**p, axis=-1, keepdims=keepdim) ** (1.0 / p)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer class labels ``(*)`` -> int64 one-hot rows ``(*, num_classes)`` (PyTorch's
    ``F.one_hot``; ``num_classes=-1``: the largest label + 1). No gradient."""
    labels = _data(tensor)
    if labels.dtype.kind not in "iu":
        raise LabelError(f"one_hot: labels must have an integer dtype, got {labels.dtype}")
    if labels.size and int(labels.min()) < 0:
        raise LabelError(f"one_hot: labels must be >= 0, got {int(labels.min())}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ArgumentError(f"one_hot: num_classes must be an int >= 1 or -1, got {num_classes!r}")
    labels, _ = _check_labels("one_hot", labels, num_classes)
    xp = backend.array_module(labels)
    return Tensor(xp.arange(num_classes) == labels[..., None]).astype(np.int64)


__all__ = [
    "ArgumentError", "LabelError", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices", "affine_grid", "alpha_dropout", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "batch_norm", "bilinear", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "celu", "celu_", "channel_shuffle", "conv1d", "conv2d",
    "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "cosine_embedding_loss", "cosine_similarity", "cross_entropy", "ctc_loss", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "elu", "elu_", "embedding", "embedding_bag",
    "feature_alpha_dropout", "fold", "gaussian_nll_loss", "gelu", "glu", "grid_sample",
    "group_norm", "gumbel_softmax", "hardshrink", "hardsigmoid", "hardswish", "hardtanh",
    "hardtanh_", "hinge_embedding_loss", "hinge_loss", "huber_loss", "instance_norm",
    "interpolate", "kl_div", "l1_loss", "layer_norm", "leaky_relu", "leaky_relu_", "linear",
    "local_response_norm", "log_softmax", "logsigmoid", "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "margin_ranking_loss", "max_pool1d", "max_pool1d_with_indices", "max_pool2d",
    "max_pool2d_with_indices", "max_pool3d", "max_pool3d_with_indices", "max_unpool1d",
    "max_unpool2d", "max_unpool3d", "mish", "mse_loss", "multi_margin_loss",
    "multilabel_margin_loss", "multilabel_soft_margin_loss", "nll_loss", "noisy_relu",
    "normalize", "one_hot", "pad", "pairwise_distance", "pdist", "pixel_shuffle",
    "pixel_unshuffle", "poisson_nll_loss", "prelu", "relu", "relu6", "relu_", "rms_norm",
    "rrelu", "rrelu_", "scaled_dot_product_attention", "selu", "selu_", "sigmoid", "silu",
    "smooth_l1_loss", "soft_margin_loss", "softmax", "softmin", "softplus", "softshrink",
    "softsign", "tanh", "tanhshrink", "threshold", "threshold_", "triplet_margin_loss",
    "triplet_margin_with_distance_loss", "unfold",
]  # fmt: skip
