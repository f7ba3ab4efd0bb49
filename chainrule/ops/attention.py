"""Attention: scaled dot-product attention and the multi-head attention forward pass.

Both are compositions of core ops (matmul, softmax, where, reshape, transpose), so their
reverse, forward and double-backward rules come from those ops. Semantics follow
``torch.nn.MultiheadAttention``; masks follow its convention everywhere:

* a **bool** mask is True where attention is *not allowed* (the score becomes ``-inf``);
* a **float** mask is *added* to the scores (``-inf`` entries also mask out).

Note that ``torch.nn.functional.scaled_dot_product_attention`` uses the opposite bool
convention (True = may attend); chainrule's :func:`scaled_dot_product_attention` uses the
``MultiheadAttention`` one so that both functions here read the same masks. A query row
whose keys are all masked gets NaN weights and outputs, as in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.errors import ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _as_mask(m: Any, what: str) -> Any:
    """A mask as an array (bool or float) or, for a float Tensor, the Tensor itself (an
    additive mask may be learned)."""
    if isinstance(m, Tensor):
        return m.data if m.dtype == bool or not m.requires_grad else m
    return m if backend.is_array(m) else np.asarray(m)


def _apply_mask(scores: Tensor, mask: Any, shape: tuple, what: str) -> Tensor:
    """``scores`` with ``mask`` (reshaped to ``shape``) applied: bool -> ``-inf`` where
    True, float -> added."""
    from chainrule import ops

    m = _as_mask(mask, what)
    try:
        np.broadcast_shapes(tuple(shape), scores.shape)
    except ValueError:
        raise ShapeError(
            f"attention: {what} of shape {tuple(m.shape)} does not broadcast to the attention "
            f"scores of shape {scores.shape}"
        ) from None
    if m.dtype == bool:
        return ops.where(m.reshape(shape), -math.inf, scores)
    if m.dtype.kind != "f":
        raise ShapeError(f"attention: {what} must be bool or float, got dtype {m.dtype}")
    if not isinstance(m, Tensor):
        m = m.astype(scores.dtype, copy=False)
    return ops.add(scores, ops.reshape(m, shape))


def _mask_scores(scores: Tensor, attn_mask: Any, key_padding_mask: Any) -> Tensor:
    """Apply an attention mask (broadcast against (..., L, S)) and a key padding mask
    ((N, S), aligned with the leading batch axis and the key axis)."""
    if attn_mask is not None:
        shape = tuple(_as_mask(attn_mask, "attn_mask").shape)
        scores = _apply_mask(scores, attn_mask, shape, "attn_mask")
    if key_padding_mask is not None:
        kshape = tuple(_as_mask(key_padding_mask, "key_padding_mask").shape)
        if scores.ndim < 3 or len(kshape) != 2:
            if scores.ndim == 2 and len(kshape) == 1:  # unbatched (L, S) scores, (S,) mask
                return _apply_mask(scores, key_padding_mask, (1, kshape[0]), "key_padding_mask")
            raise ShapeError(
                f"attention: key_padding_mask must be (N, S), got shape {kshape} for scores of "
                f"shape {scores.shape}"
            )
        n, s = kshape
        if n != scores.shape[0] or s != scores.shape[-1]:
            raise ShapeError(
                f"attention: key_padding_mask of shape {kshape} does not match batch "
                f"{scores.shape[0]} and {scores.shape[-1]} keys (scores of shape {scores.shape})"
            )
        shape = (n,) + (1,) * (scores.ndim - 2) + (s,)
        scores = _apply_mask(scores, key_padding_mask, shape, "key_padding_mask")
    return scores


def scaled_dot_product_attention(
    q: Any,
    k: Any,
    v: Any,
    attn_mask: Any = None,
    key_padding_mask: Any = None,
    scale: float | None = None,
    return_weights: bool = False,
    dropout_p: float = 0.0,
) -> Any:
    """``softmax(q @ k^T * scale + masks) @ v``.

    Shapes: ``q`` (*, L, E), ``k`` (*, S, E), ``v`` (*, S, Ev) with broadcastable batch
    axes (*); ``attn_mask`` broadcastable to (*, L, S); ``key_padding_mask`` (N, S) where N
    is the first batch axis (with no batch axes: (S,)). Bool masks are True where
    attention is *not* allowed; float masks are added (module docstring). ``scale``
    defaults to ``1 / sqrt(E)``. With ``dropout_p > 0`` the attention weights go through
    inverted dropout (chainrule's generator) before they multiply ``v``. Returns
    (*, L, Ev), or ``(out, weights)`` with weights (*, L, S) (after dropout, as PyTorch)
    when ``return_weights``.
    """
    from chainrule import ops

    q, k, v = _tensor(q), _tensor(k), _tensor(v)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(
            f"scaled_dot_product_attention: q, k, v must be at least 2-D, got shapes "
            f"{q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(
            f"scaled_dot_product_attention: shapes q {q.shape}, k {k.shape}, v {v.shape} do "
            "not fit (need q (*, L, E), k (*, S, E), v (*, S, Ev))"
        )
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = ops.matmul(ops.mul(q, scale), ops.swapaxes(k, -1, -2))
    scores = _mask_scores(scores, attn_mask, key_padding_mask)
    weights = ops.softmax(scores, axis=-1)
    if dropout_p:
        weights = _dropout(weights, dropout_p)
    out = ops.matmul(weights, v)
    return (out, weights) if return_weights else out


def _dropout(w: Tensor, p: float) -> Tensor:
    """Inverted dropout: zero each element with probability ``p``, scale the rest by
    ``1 / (1 - p)`` (the same mask rule as ``chainrule.nn.functional.dropout``)."""
    from chainrule import ops

    if not 0 <= p <= 1:
        raise ArgumentError(f"attention: dropout_p must be a probability in [0, 1], got {p}")
    data = w.data
    if p == 1:
        return ops.mul(w, backend.array_module(data).zeros_like(data))
    keep = backend.rng().random(data.shape, dtype=np.float32) >= p
    scale = np.asarray(keep * (1.0 / (1.0 - p)), dtype=data.dtype)
    return ops.mul(w, backend.to_device(scale, w.device))


def _linear(x: Tensor, w: Any, b: Any) -> Tensor:
    """``x @ w.T + b`` over the last axis of ``x`` (*, in) -> (*, out), as one GEMM."""
    from chainrule import ops

    lead = x.shape[:-1]
    y = ops.matmul(ops.reshape(x, (-1, x.shape[-1])), ops.transpose(w))
    if b is not None:
        y = ops.add(y, b)
    return ops.reshape(y, (*lead, y.shape[-1]))


def multi_head_attention_forward(
    query: Any,
    key: Any,
    value: Any,
    num_heads: int,
    in_proj_weight: Any,
    in_proj_bias: Any,
    out_proj_weight: Any,
    out_proj_bias: Any,
    attn_mask: Any = None,
    key_padding_mask: Any = None,
    batch_first: bool = False,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    dropout_p: float = 0.0,
    training: bool = True,
    q_proj_weight: Any = None,
    k_proj_weight: Any = None,
    v_proj_weight: Any = None,
) -> tuple[Tensor, Tensor | None]:
    """The forward pass of ``torch.nn.MultiheadAttention``, with dropout on the attention
    weights.

    Shapes: ``query`` (L, N, E), ``key`` and ``value`` (S, N, E), or (N, L, E) / (N, S, E)
    with ``batch_first``, or unbatched (L, E) / (S, E); ``in_proj_weight`` (3E, E) (rows
    q, k, v), ``in_proj_bias`` (3E,) or None, ``out_proj_weight`` (E, E),
    ``out_proj_bias`` (E,) or None; ``attn_mask`` (L, S), shared by every batch element
    and head, or (N * num_heads, L, S), one per batch element and head (entry
    ``n * num_heads + h``; unbatched: (num_heads, L, S)), bool (True = masked out) or
    float (added); ``key_padding_mask`` (N, S) (unbatched: (S,)), bool (True = ignore that
    key) or float (added).

    Keys and values of other sizes (PyTorch's ``kdim``, ``vdim``): ``in_proj_weight`` None
    and separate projections ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim); key (S, N, kdim), value (S, N, vdim).

    ``dropout_p``: when ``training`` is True and ``dropout_p > 0``, the attention weights
    go through inverted dropout (each zeroed with probability ``dropout_p``, the rest
    scaled by ``1 / (1 - dropout_p)``, masks from chainrule's generator) before they
    multiply the values; with ``training=False`` there is no dropout (as
    ``torch.nn.functional.multi_head_attention_forward``).

    Returns ``(out, weights)``: out shaped like ``query``; weights (N, L, S) averaged over
    heads (``(N, num_heads, L, S)`` with ``average_attn_weights=False``; no N when
    unbatched), taken after dropout as in PyTorch, or None when ``need_weights`` is False.
    """
    from chainrule import ops

    self_attention = query is key and key is value
    query, key, value = _tensor(query), _tensor(key), _tensor(value)
    unbatched = query.ndim == 2
    if unbatched:
        if key.ndim != 2 or value.ndim != 2:
            raise ShapeError(
                f"multi_head_attention: unbatched query {query.shape} needs 2-D key and value, "
                f"got {key.shape} and {value.shape}"
            )
        axis = 0 if batch_first else 1
        query, key, value = (ops.unsqueeze(t, axis) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = ops.unsqueeze(_tensor(key_padding_mask), 0)
        if attn_mask is not None and np.ndim(_data(attn_mask)) == 3:
            attn_mask = ops.unsqueeze(_tensor(attn_mask), 0)  # (H, L, S) -> (1, H, L, S)
    if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
        raise ShapeError(
            f"multi_head_attention: query, key and value must be 3-D, got shapes "
            f"{query.shape}, {key.shape}, {value.shape}"
        )
    b_ax, s_ax = (0, 1) if batch_first else (1, 0)
    e = query.shape[-1]
    n, tgt = query.shape[b_ax], query.shape[s_ax]
    src = key.shape[s_ax]
    separate = in_proj_weight is None
    kdim, vdim = (key.shape[-1], value.shape[-1]) if separate else (e, e)
    if (key.shape[:-1] != value.shape[:-1] or key.shape[b_ax] != n or key.shape[-1] != kdim
            or value.shape[-1] != vdim):  # fmt: skip
        raise ShapeError(
            f"multi_head_attention: key {key.shape} and value {value.shape} do not fit query "
            f"{query.shape} (batch_first={batch_first}; key and value need the query's "
            "embedding size unless the projections are separate: kdim, vdim)"
        )
    if num_heads < 1 or e % num_heads:
        raise ShapeError(
            f"multi_head_attention: embed_dim {e} is not divisible by num_heads {num_heads}"
        )
    expected = (("q_proj_weight", q_proj_weight, (e, e)),
                ("k_proj_weight", k_proj_weight, (e, kdim)),
                ("v_proj_weight", v_proj_weight, (e, vdim))) if separate else (
                ("in_proj_weight", in_proj_weight, (3 * e, e)),)  # fmt: skip
    for name, w, shape in expected:
        got = None if w is None else tuple(_tensor(w).shape)
        if got != shape:
            raise ShapeError(
                f"multi_head_attention: {name} has shape {got}, expected {shape} for query "
                f"{query.shape}, key {key.shape} and value {value.shape}"
            )
    if tuple(_tensor(out_proj_weight).shape) != (e, e):
        raise ShapeError(
            f"multi_head_attention: out_proj_weight has shape "
            f"{tuple(_tensor(out_proj_weight).shape)}, expected {(e, e)}"
        )
    h, hd = num_heads, e // num_heads

    # Input projections; self-attention (one tensor for all three) takes one GEMM.
    if self_attention and not separate:
        q, k, v = ops.split(_linear(query, in_proj_weight, in_proj_bias), 3, axis=-1)
    else:
        ws = ((q_proj_weight, k_proj_weight, v_proj_weight) if separate
              else ops.split(_tensor(in_proj_weight), 3, axis=0))  # fmt: skip
        bs = (None,) * 3 if in_proj_bias is None else ops.split(_tensor(in_proj_bias), 3)
        q, k, v = (_linear(t, w, b) for t, w, b in zip((query, key, value), ws, bs))

    # (T, N, E) or (N, T, E) -> (N, H, T, hd)
    perm = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)

    def heads(t: Tensor) -> Tensor:
        return ops.transpose(ops.reshape(t, (*t.shape[:2], h, hd)), perm)

    if attn_mask is not None:
        attn_mask = _mha_attn_mask(attn_mask, n, h, tgt, src)
    out, weights = scaled_dot_product_attention(
        heads(q), heads(k), heads(v), attn_mask=attn_mask, key_padding_mask=key_padding_mask,
        return_weights=True, dropout_p=dropout_p if training else 0.0,
    )  # fmt: skip
    # (N, H, L, hd) -> (L, N, H, hd) or (N, L, H, hd) -> (..., E)
    back = (0, 2, 1, 3) if batch_first else (2, 0, 1, 3)
    out = ops.transpose(out, back)
    out = _linear(ops.reshape(out, (*out.shape[:2], e)), out_proj_weight, out_proj_bias)
    if need_weights:
        weights = ops.mean(weights, axis=1) if average_attn_weights else weights
    else:
        weights = None
    if unbatched:
        out = ops.squeeze(out, 0 if batch_first else 1)
        weights = None if weights is None else ops.squeeze(weights, 0)
    return out, weights


def _mha_attn_mask(mask: Any, n: int, h: int, tgt: int, src: int) -> Any:
    """A (L, S) mask as is; a (N * H, L, S) one reshaped to (N, H, L, S); the (1, H, L, S)
    that an unbatched call makes of a (H, L, S) mask as is."""
    from chainrule import ops

    m = _as_mask(mask, "attn_mask")
    shape = tuple(m.shape)
    if shape == (tgt, src):
        return m
    if shape == (n * h, tgt, src):
        return (
            ops.reshape(m, (n, h, tgt, src)) if isinstance(m, Tensor) else m.reshape(n, h, tgt, src)
        )
    if shape == (1, h, tgt, src) and n == 1:  # the unbatched (H, L, S) mask
        return m
    raise ShapeError(
        f"multi_head_attention: attn_mask has shape {shape}, expected {(tgt, src)} or "
        f"{(n * h, tgt, src)}"
    )


__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]
