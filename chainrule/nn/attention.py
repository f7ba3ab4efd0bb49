"""Multi-head attention as a module (PyTorch's ``nn.MultiheadAttention`` layout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.backend import float32
from chainrule.nn import _checks, init
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.ops.attention import multi_head_attention_forward
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, as_dtype

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head scaled dot-product attention (PyTorch's ``nn.MultiheadAttention``).

    Each head ``h`` attends with ``softmax(q_h k_h^T / sqrt(head_dim) + masks) v_h``, where
    q, k, v are the input projections; the heads are concatenated and projected by
    ``out_proj``.

    Args (all after ``num_heads`` keyword-only: PyTorch's third positional argument is
    ``dropout``, chainrule's documented signature lists ``bias`` there):
        embed_dim: E. num_heads: H (must divide E; head_dim = E / H).
        dropout: dropout probability on the attention weights (training only).
        bias: learn ``in_proj_bias`` and ``out_proj.bias``.
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).
        kdim, vdim: the sizes of key and value (default E).

    Attributes (PyTorch's names, layouts and default initialisation):
        in_proj_weight: (3E, E), the q, k, v projections stacked; ``xavier_uniform_``.
            When ``kdim`` or ``vdim`` differs from E it is None, and the projections are
            separate, as PyTorch's: ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
            ``v_proj_weight`` (E, vdim), each ``xavier_uniform_``.
        in_proj_bias: (3E,), zeros (None without bias).
        out_proj: a :class:`~chainrule.nn.Linear` (E -> E); weight with Linear's default
            initialisation, bias zeros.

    Call ``m(query, key, value, attn_mask=None, key_padding_mask=None, need_weights=True,
    average_attn_weights=True)`` (the masks and flags are keyword-only, since PyTorch's
    positional order differs from chainrule's documented one) -> ``(out, weights)``.

    Shapes: query (L, N, E), key (S, N, kdim) and value (S, N, vdim) (batch_first:
    (N, L, E), (N, S, kdim); unbatched: (L, E), (S, kdim)); ``attn_mask`` (L, S), shared
    by every batch element and head, or (N * H, L, S), one per batch element and head
    (entry ``n * H + h``; unbatched input: (H, L, S)), bool (True = may not attend) or
    float (added to the scores); ``key_padding_mask`` (N, S) (unbatched: (S,)), bool
    (True = ignore that key) or float.
    ``out`` is shaped like query; ``weights`` (N, L, S) averaged over heads ((N, H, L, S)
    with ``average_attn_weights=False``; no N when unbatched), or None when
    ``need_weights=False``. A query whose keys are all masked gets NaN, as in PyTorch.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.embed_dim = _checks.size("MultiheadAttention", "embed_dim", embed_dim, 1)
        self.num_heads = _checks.size("MultiheadAttention", "num_heads", num_heads, 1)
        if self.embed_dim % self.num_heads:
            raise ArgumentError(
                f"MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads "
                f"{num_heads}"
            )
        _checks.probability("MultiheadAttention", "dropout", dropout)
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        dt = float32 if dtype is None else as_dtype(dtype)
        e = self.embed_dim
        self.kdim = e if kdim is None else _checks.size("MultiheadAttention", "kdim", kdim, 1)
        self.vdim = e if vdim is None else _checks.size("MultiheadAttention", "vdim", vdim, 1)
        if self.kdim == e and self.vdim == e:
            self.in_proj_weight = Parameter(np.empty((3 * e, e), dtype=dt))
        else:  # separate projections, as PyTorch (its parameter names and order)
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(np.empty((e, e), dtype=dt))
            self.k_proj_weight = Parameter(np.empty((e, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(np.empty((e, self.vdim), dtype=dt))
        if bias:
            self.in_proj_bias = Parameter(np.empty((3 * e,), dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, dtype=dt)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: ``xavier_uniform_`` on the input projection(s), zero biases
        (``out_proj.weight`` keeps Linear's initialisation)."""
        if self.in_proj_weight is not None:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
        if self.out_proj.bias is not None:
            init.zeros_(self.out_proj.bias)

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        *,
        attn_mask: Any = None,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        average_attn_weights: bool = True,
    ) -> tuple[Tensor, Tensor | None]:
        return multi_head_attention_forward(
            query, key, value, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.out_proj.weight, self.out_proj.bias, attn_mask=attn_mask,
            key_padding_mask=key_padding_mask, batch_first=self.batch_first,
            need_weights=need_weights, average_attn_weights=average_attn_weights,
            dropout_p=self.dropout, training=self.training,
            **({} if self.in_proj_weight is not None else {
                "q_proj_weight": self.q_proj_weight, "k_proj_weight": self.k_proj_weight,
                "v_proj_weight": self.v_proj_weight}),
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
            f"bias={self.in_proj_bias is not None}, batch_first={self.batch_first}"
            + ("" if self.in_proj_weight is not None else f", kdim={self.kdim}, vdim={self.vdim}")
        )
