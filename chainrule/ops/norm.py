"""Normalisation and lookup ops: batch_norm, layer_norm, rms_norm, group_norm, instance_norm,
embedding, normalize, maxout.

``batch_norm`` (training) and ``layer_norm`` are fused ops: one node each, whose forward
computes ``y = xhat * weight + bias`` with ``xhat = (x - mean) * invstd`` and whose
backward is the classic closed form

    dx = invstd * (gw - mean(gw) - xhat * mean(gw * xhat)),   gw = g * weight

(means over the normalised axes). Only ``x``, ``weight`` and the statistics are kept for
backward. The rules are written against ``ctx.xp``: with ``create_graph=True`` they see
Tensors and recompute the statistics from ``x`` with differentiable ops, so the backward
is itself differentiable (double backward). ``embedding``, ``normalize`` and ``maxout`` are
compositions of core ops (indexing, reductions, reshape).

Semantics follow PyTorch (``torch.nn.functional``); axes are NumPy's ``axis=``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.function import Op
from chainrule.errors import DTypeError, IndexingError, ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _shape(x: Any) -> tuple | None:
    return None if x is None else tuple(getattr(x, "shape", ()))


def _bcast(t: Any, shape: tuple) -> Any:
    """A parameter (or its tangent) reshaped to broadcast against the input; Python
    numbers (the zero tangent of a constant) and None pass through."""
    if t is None or not hasattr(t, "shape") or t.shape == shape:
        return t
    return t.reshape(shape)


def _moments(xp: Any, x: Any, axes: tuple) -> tuple[Any, Any]:
    """Mean and biased variance over ``axes`` (keepdims), the variance taken around the
    mean (two passes: no cancellation for data far from 0); arrays or Tensors."""
    mean = xp.mean(x, axis=axes, keepdims=True)
    xc = x - mean
    return mean, xp.mean(xc * xc, axis=axes, keepdims=True)


def _stats(xp: Any, x: Any, axes: tuple, eps: float) -> tuple[Any, Any]:
    """Mean and ``1 / sqrt(var + eps)`` over ``axes`` (keepdims); runs on arrays (NumPy) or
    on Tensors (graph mode, differentiable)."""
    mean, var = _moments(xp, x, axes)
    return mean, 1 / xp.sqrt(var + eps)


class _AffineNorm(Op):
    """``(x - mean) * invstd * weight + bias`` with the statistics over ``axes`` taken from
    ``x`` itself (batch statistics, or per-sample statistics for layer norm).

    Params: ``mean`` and ``invstd`` (arrays, keepdims over ``axes``, computed by the caller
    so it can also update running statistics), ``axes``, ``pshape`` (the shape ``weight``
    and ``bias`` are reshaped to for broadcasting), ``paxes`` (the axes summed for their
    gradients), ``eps`` (to recompute the statistics in graph mode) and ``channel`` (True
    when the parameters are constant along ``axes``, as in batch norm: then the backward
    factors ``weight * invstd`` out of the reductions).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, mean, invstd, axes, pshape, paxes, eps, channel):
        ctx.axes, ctx.pshape, ctx.paxes, ctx.eps, ctx.channel = axes, pshape, paxes, eps, channel
        ctx.n = math.prod(x.shape[a] for a in axes)
        ctx.save_for_backward(x, weight, mean, invstd)
        if channel:  # y = x * scale + shift with per-channel scale and shift: two passes
            scale = invstd if weight is None else invstd * weight.reshape(pshape)
            shift = -mean * scale
            if bias is not None:
                shift = shift + bias.reshape(pshape)
            y = x * scale
            y += shift
            return y
        y = x - mean
        y *= invstd
        if weight is not None:
            y *= weight.reshape(pshape)
        if bias is not None:
            y += bias.reshape(pshape)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, invstd = ctx.saved
        xp = ctx.xp
        axes, pshape, paxes, n = ctx.axes, ctx.pshape, ctx.paxes, ctx.n
        if xp.is_graph:  # recompute the statistics as differentiable functions of x
            mean, invstd = _stats(xp, x, axes, ctx.eps)
        xhat = (x - mean) * invstd
        need_x, need_w, need_b = ctx.needs_input_grad
        w = _bcast(weight, pshape)
        if ctx.channel:
            # weight and invstd are constant along ``axes``: factor them out of the sums.
            s_g = xp.sum(g, axis=axes, keepdims=True)
            s_gx = xp.sum(g * xhat, axis=axes, keepdims=True)
            k = invstd if w is None else invstd * w
            dx = k * (g - s_g / n - xhat * (s_gx / n)) if need_x else None
            dw = xp.reshape(s_gx, (-1,)) if need_w else None
            db = xp.reshape(s_g, (-1,)) if need_b else None
            return dx, dw, db
        dx = None
        if need_x:
            gw = g if w is None else g * w
            m_g = xp.mean(gw, axis=axes, keepdims=True)
            m_gx = xp.mean(gw * xhat, axis=axes, keepdims=True)
            dx = invstd * (gw - m_g - xhat * m_gx)
        dw = _param_grad(xp, g * xhat, paxes) if need_w else None
        db = _param_grad(xp, g, paxes) if need_b else None
        return dx, dw, db

    @staticmethod
    def jvp(ctx, tx, tw, tb):
        x, weight, mean, invstd = ctx.saved
        axes, pshape = ctx.axes, ctx.pshape
        xhat = (x - mean) * invstd
        m_t = tx.mean(axis=axes, keepdims=True)
        m_xt = (xhat * tx).mean(axis=axes, keepdims=True)
        dxhat = invstd * (tx - m_t - xhat * m_xt)
        out = dxhat if weight is None else dxhat * weight.reshape(pshape)
        if hasattr(tw, "shape"):
            out = out + xhat * tw.reshape(pshape)
        if hasattr(tb, "shape"):
            out = out + tb.reshape(pshape)
        return out


def _param_grad(xp: Any, t: Any, paxes: tuple) -> Any:
    return xp.sum(t, axis=paxes) if paxes else t


class BatchNorm(_AffineNorm):
    """Batch normalisation with batch statistics (training mode); see :func:`batch_norm`."""

    name = "batch_norm"


class LayerNorm(_AffineNorm):
    """Layer normalisation over the trailing axes; see :func:`layer_norm`."""

    name = "layer_norm"


class GroupNorm(_AffineNorm):
    """Group normalisation over channel groups; see :func:`group_norm`."""

    name = "group_norm"


def _check_param(op: str, what: str, p: Any, shape: tuple, x_shape: tuple) -> None:
    if p is not None and _shape(p) != shape:
        raise ShapeError(
            f"{op}: {what} has shape {_shape(p)}, expected {shape} for input of shape {x_shape}"
        )


def _check_float(op: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")


def batch_norm(
    x: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    Shapes: ``x`` (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)); ``running_mean``,
    ``running_var``, ``weight`` and ``bias`` (C,) or None. Returns a Tensor shaped like ``x``.

    In training (``training=True``) each channel is normalised with the batch mean and the
    biased batch variance over every axis but 1, and, when given, ``running_mean`` and
    ``running_var`` (arrays or Tensors) are updated **in place**:
    ``running = (1 - momentum) * running + momentum * batch_stat`` where the variance that
    enters is the unbiased one (``n / (n - 1)`` times the biased one), exactly as PyTorch.
    With ``training=False`` the running statistics are used (they are then required); the
    output is an affine function of ``x`` and gradients flow only through ``x``, ``weight``
    and ``bias``. ``momentum=None`` is not accepted here (the module computes the
    cumulative-average factor itself).
    """
    x = _tensor(x)
    _check_float("batch_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, *), got {x.shape}")
    c = x.shape[1]
    for what, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        _check_param("batch_norm", what, p, (c,), x.shape)
    pshape = (1, c) + (1,) * (x.ndim - 2)
    axes = (0, *range(2, x.ndim))
    if not training:
        if running_mean is None or running_var is None:
            raise ArgumentError(
                "batch_norm: running_mean and running_var must be given in evaluation mode "
                "(training=False)"
            )
        return _batch_norm_eval(x, running_mean, running_var, weight, bias, eps, pshape)
    n = math.prod(x.shape[a] for a in axes)
    if n <= 1:
        raise ShapeError(
            f"batch_norm: expected more than 1 value per channel when training, got input "
            f"of shape {x.shape}"
        )
    mean, var = _moments(backend.ops_for(x.data), x.data, axes)
    invstd = 1 / backend.array_module(var).sqrt(var + eps)
    if running_mean is not None or running_var is not None:
        _update_running(mean, var, n, running_mean, running_var, momentum)
    return BatchNorm.apply(x, weight, bias, mean=mean, invstd=invstd, axes=axes, pshape=pshape,
                           paxes=axes, eps=eps, channel=True)  # fmt: skip


def _update_running(
    mean: Any, var: Any, n: int, running_mean: Any, running_var: Any, m: float
) -> None:
    """The in-place momentum update of the running statistics (unbiased variance)."""
    if running_mean is not None:
        rm = _data(running_mean)
        rm *= 1 - m
        rm += (m * mean.reshape(-1)).astype(rm.dtype, copy=False)
    if running_var is not None:
        rv = _data(running_var)
        unbiased = var.reshape(-1) * (n / (n - 1))
        rv *= 1 - m
        rv += (m * unbiased).astype(rv.dtype, copy=False)
    for t in (running_mean, running_var):  # a write that backward must notice
        if isinstance(t, Tensor):
            t._version[0] += 1


def _batch_norm_eval(
    x: Tensor, running_mean: Any, running_var: Any, weight: Any, bias: Any, eps: float,
    pshape: tuple,
) -> Tensor:  # fmt: skip
    """``(x - running_mean) * invstd * weight + bias`` with the running statistics as
    constants: an affine map, composed from core ops (differentiable to any order)."""
    from chainrule import ops

    dtype = x.dtype
    xp = backend.array_module(x.data)
    rm = xp.asarray(_data(running_mean)).astype(dtype, copy=False).reshape(pshape)
    rv = xp.asarray(_data(running_var)).astype(dtype, copy=False).reshape(pshape)
    invstd = (1 / xp.sqrt(rv + eps)).astype(dtype, copy=False)
    if weight is None and bias is None:
        return ops.mul(ops.sub(x, rm), invstd)
    if weight is None:
        return ops.add(ops.mul(ops.sub(x, rm), invstd), ops.reshape(bias, pshape))
    scale = ops.mul(ops.reshape(weight, pshape), invstd)
    y = ops.mul(ops.sub(x, rm), scale)
    return y if bias is None else ops.add(y, ops.reshape(bias, pshape))


def layer_norm(
    x: Any,
    normalized_shape: int | Sequence[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation, as ``torch.nn.functional.layer_norm``.

    Shapes: ``x`` (*, *normalized_shape); ``weight`` and ``bias`` ``normalized_shape`` or
    None. Each sample is normalised with the mean and the biased variance over its last
    ``len(normalized_shape)`` axes, then scaled and shifted elementwise. Returns a Tensor
    shaped like ``x``.
    """
    x = _tensor(x)
    ns, axes = _trailing_axes("layer_norm", x, normalized_shape)
    for what, p in (("weight", weight), ("bias", bias)):
        _check_param("layer_norm", what, p, ns, x.shape)
    paxes = tuple(range(x.ndim - len(ns)))
    mean, invstd = _stats(backend.ops_for(x.data), x.data, axes, eps)
    return LayerNorm.apply(x, weight, bias, mean=mean, invstd=invstd, axes=axes, pshape=ns,
                           paxes=paxes, eps=eps, channel=False)  # fmt: skip


def _trailing_axes(op: str, x: Tensor, normalized_shape: int | Sequence[int]) -> tuple:
    """``(normalized_shape as a tuple, the trailing axes of x it names)``, after checking
    that ``x`` is floating-point and ends with that shape."""
    _check_float(op, x)
    if isinstance(normalized_shape, int | np.integer):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(v) for v in normalized_shape)
    k = len(ns)
    if k == 0 or x.ndim < k or x.shape[x.ndim - k :] != ns:
        raise ShapeError(f"{op}: input of shape {x.shape} does not end with normalized_shape {ns}")
    return ns, tuple(range(x.ndim - k, x.ndim))


def rms_norm(
    x: Any, normalized_shape: int | Sequence[int], weight: Any = None, eps: float | None = None
) -> Tensor:
    """Root-mean-square normalisation, as ``torch.nn.functional.rms_norm``:
    ``x / sqrt(mean(x**2) + eps) * weight``, the mean over the last
    ``len(normalized_shape)`` axes (no centring, no bias).

    Shapes: ``x`` (*, *normalized_shape); ``weight`` ``normalized_shape`` or None. ``eps``
    None is the machine epsilon of ``x``'s dtype (PyTorch's default). Composed of core
    ops, so its gradients and double backward are theirs.
    """
    from chainrule import ops

    x = _tensor(x)
    ns, axes = _trailing_axes("rms_norm", x, normalized_shape)
    _check_param("rms_norm", "weight", weight, ns, x.shape)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    y = x * ops.rsqrt(ops.mean(x * x, axis=axes, keepdims=True) + eps)
    return y if weight is None else y * weight


def group_norm(
    x: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> Tensor:
    """Group normalisation, as ``torch.nn.functional.group_norm``.

    Shapes: ``x`` (N, C, *), ``weight`` and ``bias`` (C,) or None. The C channels are cut
    into ``num_groups`` groups of C / num_groups consecutive channels; each sample's group
    is normalised with its mean and biased variance (over its channels and all positions),
    then each channel is scaled and shifted. ``num_groups = 1`` normalises each whole sample,
    ``num_groups = C`` each channel of each sample (instance normalisation). Returns a
    Tensor shaped like ``x``. The same in training and eval (no running statistics).
    """
    x = _tensor(x)
    _check_float("group_norm", x)
    if isinstance(num_groups, bool) or not isinstance(num_groups, int | np.integer):
        raise TypeError(f"group_norm: num_groups must be an int, got {num_groups!r}")
    if x.ndim < 2:
        raise ShapeError(f"group_norm: expected input (N, C, *) with 2 or more axes, got "
                         f"shape {x.shape}")  # fmt: skip
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise ShapeError(f"group_norm: the {c} channels of input {x.shape} cannot be cut "
                         f"into num_groups={num_groups} equal groups")  # fmt: skip
    for what, p in (("weight", weight), ("bias", bias)):
        _check_param("group_norm", what, p, (c,), x.shape)
    grouped = (n, int(num_groups), c // num_groups, *x.shape[2:])
    xg = x.reshape(grouped)
    axes = tuple(range(2, xg.ndim))
    pshape = (num_groups, c // num_groups)
    weight = None if weight is None else _tensor(weight).reshape(pshape)
    bias = None if bias is None else _tensor(bias).reshape(pshape)
    mean, invstd = _stats(backend.ops_for(xg.data), xg.data, axes, eps)
    y = GroupNorm.apply(xg, weight, bias, mean=mean, invstd=invstd, axes=axes,
                        pshape=(1, *pshape) + (1,) * (xg.ndim - 3),
                        paxes=(0, *range(3, xg.ndim)), eps=eps, channel=False)  # fmt: skip
    return y.reshape(x.shape)


def instance_norm(
    x: Any,
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance normalisation, as ``torch.nn.functional.instance_norm``.

    Shapes: ``x`` (N, C, *) with at least one position axis; ``running_mean``,
    ``running_var``, ``weight``, ``bias`` (C,) or None. Returns a Tensor shaped like ``x``.

    With ``use_input_stats`` each channel of each sample is normalised over its positions
    (mean and biased variance: :func:`group_norm` with one channel per group) and, when
    given, the running statistics are updated in place with the batch average of the
    instances' means and *unbiased* variances (PyTorch's rule). Otherwise the running
    statistics normalise, as :func:`batch_norm` in evaluation.
    """
    x = _tensor(x)
    _check_float("instance_norm", x)
    if x.ndim < 3:
        raise ShapeError(f"instance_norm: expected input (N, C, *) with at least one "
                         f"position axis, got shape {x.shape}")  # fmt: skip
    c = x.shape[1]
    for what, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        _check_param("instance_norm", what, p, (c,), x.shape)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ArgumentError("instance_norm: running_mean and running_var must be given "
                                "when use_input_stats=False")  # fmt: skip
        return _batch_norm_eval(x, running_mean, running_var, weight, bias, eps,
                                (1, c) + (1,) * (x.ndim - 2))  # fmt: skip
    n = math.prod(x.shape[2:])
    if n <= 1:
        raise ShapeError(f"instance_norm: expected more than 1 position per channel when "
                         f"using input statistics, got input of shape {x.shape}")  # fmt: skip
    if running_mean is not None or running_var is not None:
        mean, var = _moments(backend.ops_for(x.data), x.data, tuple(range(2, x.ndim)))
        _update_running(mean.mean(axis=0), var.mean(axis=0), n, running_mean, running_var,
                        momentum)  # fmt: skip
    return group_norm(x, c, weight, bias, eps)


def check_embedding_options(name: str, max_norm: Any, norm_type: Any,
                            scale_grad_by_freq: bool, sparse: bool) -> None:  # fmt: skip
    """Embedding options chainrule takes (``max_norm`` > 0, ``norm_type`` > 0) and those it
    refuses (``scale_grad_by_freq``, ``sparse``), as :class:`ArgumentError`."""
    if max_norm is not None and (
        isinstance(max_norm, bool) or not isinstance(max_norm, int | float | np.number)
        or not max_norm > 0
    ):  # fmt: skip
        raise ArgumentError(f"{name}: max_norm must be None or a positive number, got "
                            f"{max_norm!r}")  # fmt: skip
    if (
        isinstance(norm_type, bool)
        or not isinstance(norm_type, int | float | np.number)
        or (not norm_type > 0)
    ):
        raise ArgumentError(f"{name}: norm_type must be a positive number, got {norm_type!r}")
    if scale_grad_by_freq:
        raise ArgumentError(f"{name}: scale_grad_by_freq=True is not supported (it makes the "
                            "weight gradient differ from the derivative)")  # fmt: skip
    if sparse:
        raise ArgumentError(f"{name}: sparse=True is not supported (gradients are dense)")


def embedding_renorm_(weight: Tensor, indices: Any, max_norm: float, norm_type: float) -> None:
    """Scale, in place and outside the graph, every row of ``weight`` that ``indices`` names
    and whose ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm`` (PyTorch's
    ``embedding_renorm_``: ``row *= max_norm / (norm + 1e-7)``). The write bumps the
    weight's version, so a graph that saved the old rows refuses to backprop through them."""
    w = weight.data
    xp = backend.array_module(w)
    rows = xp.unique(indices.reshape(-1))
    if rows.size == 0:
        return
    norms = xp.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if not bool(big.any()):
        return
    rows = rows[big]
    scale = max_norm / (norms[big].astype(np.float64) + 1e-7)  # (the scale in double, as torch)
    w[rows] *= scale.astype(w.dtype)[:, None]
    weight._version[0] += 1


def embedding(indices: Any, weight: Any, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:  # fmt: skip
    """Rows of ``weight`` looked up by integer ``indices``, as
    ``torch.nn.functional.embedding``.

    Shapes: ``indices`` any shape (*), integers in ``0 .. num_embeddings - 1``; ``weight``
    (num_embeddings, dim). Returns (*, dim). The gradient with respect to ``weight``
    scatter-adds: a row used several times gets the sum of the gradients of its uses. With
    ``padding_idx`` the output at that index is the row as usual but it gets no gradient.
    With ``max_norm`` the rows the indices name are first renormalised in place (see
    :func:`embedding_renorm_`), as PyTorch does; the lookup then reads the new rows.
    ``scale_grad_by_freq`` and ``sparse`` are refused (:class:`ArgumentError`). An index
    out of range raises :class:`chainrule.IndexingError` naming it and the table size;
    float indices raise :class:`chainrule.DTypeError`.
    """
    from chainrule import ops

    check_embedding_options("embedding", max_norm, norm_type, scale_grad_by_freq, sparse)
    weight = _tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(
            f"embedding: weight must be (num_embeddings, dim), got shape {weight.shape}"
        )
    idx = _data(indices)
    if not backend.is_array(idx):
        idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    num = weight.shape[0]
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexingError(
                f"embedding: index {bad} is out of range for a table of {num} embeddings "
                f"(valid indices are 0..{num - 1})"
            )
    if max_norm is not None:
        embedding_renorm_(weight, backend.to_device_of(idx, weight.data), max_norm, norm_type)
    rows = ops.getitem(weight, idx)
    if padding_idx is None:
        return rows
    if not -num <= padding_idx < num:
        raise IndexingError(
            f"embedding: padding_idx {padding_idx} is out of range for a table of {num} embeddings"
        )
    pad = (idx == padding_idx % num)[..., None]
    return ops.where(pad, rows.detach(), rows)


def normalize(x: Any, p: float = 2, axis: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``axis``, as ``torch.nn.functional.normalize``.

    Shapes: ``x`` any shape with ``axis`` in range; the result is shaped like ``x``. ``p=2``
    is the Euclidean norm, ``p=1`` the l1 norm, any ``p > 0`` and ``p=inf`` also work.
    Where the norm is below ``eps`` the denominator is the constant ``eps`` (no gradient
    flows through it there, and none is NaN at an all-zero slice).
    """
    from chainrule import ops
    from chainrule.ops._util import normalize_axis

    x = _tensor(x)
    _check_float("normalize", x)
    if not p > 0:
        raise ArgumentError(f"normalize: p must be positive, got {p}")
    axis = normalize_axis(axis, x.ndim, "normalize")
    if p == 2:  # sqrt(max(sum x^2, eps^2)) = max(||x||, eps), with a finite slope at 0
        sq = ops.sum(ops.mul(x, x), axis=axis, keepdims=True)
        denom = ops.sqrt(ops.maximum(sq, eps * eps))
    elif p == 1:
        denom = ops.maximum(ops.sum(ops.abs(x), axis=axis, keepdims=True), eps)
    elif math.isinf(p):
        denom = ops.maximum(ops.max(ops.abs(x), axis=axis, keepdims=True), eps)
    else:
        s = ops.sum(ops.pow(ops.abs(x), float(p)), axis=axis, keepdims=True)
        denom = ops.pow(ops.maximum(s, eps**p), 1.0 / p)
    return ops.div(x, denom)


def maxout(x: Any, pieces: int) -> Tensor:
    """Maxout: the maximum over groups of ``pieces`` consecutive features.

    Shapes: ``x`` (*, out * pieces) -> (*, out), where output feature ``j`` is the max of
    input features ``j * pieces .. (j + 1) * pieces - 1`` (``x.reshape(*, out, pieces)
    .max(-1)``). The gradient goes to the first maximal piece (as ``argmax``).
    """
    from chainrule import ops

    x = _tensor(x)
    if not isinstance(pieces, (int, np.integer)) or pieces < 1:
        raise ArgumentError(f"maxout: pieces must be a positive integer, got {pieces!r}")
    if x.ndim == 0 or x.shape[-1] % pieces:
        raise ShapeError(
            f"maxout: the last axis of input shape {x.shape} is not divisible by pieces={pieces}"
        )
    grouped = ops.reshape(x, (*x.shape[:-1], x.shape[-1] // pieces, int(pieces)))
    return ops.max(grouped, axis=-1)


__all__ = ["BatchNorm", "LayerNorm", "batch_norm", "embedding", "layer_norm", "maxout",
           "normalize"]  # fmt: skip
