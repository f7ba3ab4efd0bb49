"""Transformer layers (PyTorch's ``nn.TransformerEncoderLayer``, ``TransformerEncoder``,
``TransformerDecoderLayer``, ``TransformerDecoder`` and the whole ``Transformer``): modules
of modules, built from
:class:`MultiheadAttention`, :class:`Linear`, :class:`LayerNorm` and :class:`Dropout`, with
PyTorch's child names, so a ``state_dict`` moves between the two key for key.

Sequences are (S, N, E) (or (N, S, E) with ``batch_first=True``; unbatched (S, E)). Masks
follow :class:`MultiheadAttention`: ``*_mask`` (S, S) or (N * nhead, S, S), bool (True: may
not attend) or float (added to the scores); ``*_key_padding_mask`` (N, S).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.errors import ShapeError
from chainrule.nn import _checks, init
from chainrule.nn import functional as F
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.containers import ModuleList
from chainrule.nn.layers import Dropout, LayerNorm
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

__all__ = [
    "Transformer", "TransformerDecoder", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerEncoderLayer", "generate_square_subsequent_mask",
]  # fmt: skip

_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


def generate_square_subsequent_mask(size: int, device: str | None = None,
                                    dtype: Any = np.float32) -> Tensor:  # fmt: skip
    """The causal mask ``(size, size)``: 0 on and below the diagonal, ``-inf`` above (so
    position ``i`` attends to positions ``<= i``), on ``device`` (default the CPU), as
    PyTorch's ``nn.Transformer.generate_square_subsequent_mask``."""
    size = _checks.size("generate_square_subsequent_mask", "size", size, 1)
    mask = Tensor(np.triu(np.full((size, size), -np.inf, dtype=dtype), k=1))
    return mask if device in (None, "cpu") else mask.to(device)


def _activation(owner: str, activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ArgumentError(f"{owner}: activation must be 'relu', 'gelu' or a callable, got "
                            f"{activation!r}")  # fmt: skip
    return _ACTIVATIONS[activation]


def _causal(mask: Any, is_causal: bool, x: Any, seq_axis: int) -> Any:
    """``mask``, or the causal mask when ``is_causal`` is set without one (PyTorch requires
    the mask as well; its ``is_causal`` is only a hint)."""
    if not is_causal or mask is not None:
        return mask
    x = x if isinstance(x, Tensor) else Tensor(x)
    size = x.shape[seq_axis if x.ndim == 3 else 0]
    return generate_square_subsequent_mask(size, x.device, x.dtype)


class _Layer(Module):
    """What the encoder and decoder layers share: their arguments, children and the
    feed-forward block. A decoder layer (``_cross``) adds attention over the memory, with
    its own norm and dropout (PyTorch's names: ``multihead_attn``, ``norm3``, ``dropout3``)."""

    _cross = False

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
        activation: str | Callable = "relu", layer_norm_eps: float = 1e-5,
        batch_first: bool = False, norm_first: bool = False, bias: bool = True,
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__()

        def attention() -> MultiheadAttention:
            return MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                      batch_first=batch_first, dtype=dtype)  # fmt: skip

        def norm() -> LayerNorm:
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)

        self.self_attn = attention()
        if self._cross:
            self.multihead_attn = attention()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first, self.batch_first = norm_first, batch_first
        self.activation = _activation(type(self).__name__, activation)
        self.norm1, self.norm2 = norm(), norm()
        if self._cross:
            self.norm3 = norm()
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        if self._cross:
            self.dropout3 = Dropout(dropout)

    def _attend(self, attn: MultiheadAttention, q: Any, kv: Any, mask: Any, padding: Any,
                drop: Dropout) -> Tensor:  # fmt: skip
        out, _ = attn(q, kv, kv, attn_mask=mask, key_padding_mask=padding, need_weights=False)
        return drop(out)

    def _ff_block(self, x: Any, drop: Dropout) -> Tensor:
        return drop(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    @property
    def _seq_axis(self) -> int:
        return 1 if self.batch_first else 0


class TransformerEncoderLayer(_Layer):
    """Self-attention then a feed-forward block, each with a residual connection and layer
    norm (PyTorch's ``nn.TransformerEncoderLayer``, "Attention Is All You Need").

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, where
    ``ff(x) = linear2(dropout(activation(linear1(x))))``.

    Args:
        d_model: E. nhead: heads (must divide E). dim_feedforward: the hidden size of ff.
        dropout: on the attention weights, inside ff and on each block's output.
        activation: "relu", "gelu" or a callable. layer_norm_eps: the norms' eps.
        batch_first: (N, S, E) instead of (S, N, E). bias: every Linear and LayerNorm bias.

    Shapes: ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``:
    (S, N, E) -> (S, N, E). ``is_causal=True`` without ``src_mask`` uses
    :func:`generate_square_subsequent_mask`.
    """

    def forward(self, src: Any, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:  # fmt: skip
        mask = _causal(src_mask, is_causal, src, self._seq_axis)
        x = src if isinstance(src, Tensor) else Tensor(src)

        def sa(h: Any) -> Tensor:
            return self._attend(self.self_attn, h, h, mask, src_key_padding_mask, self.dropout1)

        if self.norm_first:
            x = x + sa(self.norm1(x))
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + sa(x))
        return self.norm2(x + self._ff_block(x, self.dropout2))


class TransformerDecoderLayer(_Layer):
    """Masked self-attention, attention over the encoder's output ``memory``, then a
    feed-forward block; each with a residual connection and layer norm (PyTorch's
    ``nn.TransformerDecoderLayer``; ``norm_first`` as :class:`TransformerEncoderLayer`).

    Shapes: ``forward(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
    memory_is_causal=False)``: tgt (T, N, E), memory (S, N, E) -> (T, N, E); ``memory_mask``
    (T, S).
    """

    _cross = True

    def forward(
        self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
        tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False, memory_is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        tgt_mask = _causal(tgt_mask, tgt_is_causal, tgt, self._seq_axis)
        memory_mask = _causal(memory_mask, memory_is_causal, memory, self._seq_axis)
        x = tgt if isinstance(tgt, Tensor) else Tensor(tgt)

        def sa(h: Any) -> Tensor:
            return self._attend(self.self_attn, h, h, tgt_mask, tgt_key_padding_mask,
                                self.dropout1)  # fmt: skip

        def mha(h: Any) -> Tensor:
            return self._attend(self.multihead_attn, h, memory, memory_mask,
                                memory_key_padding_mask, self.dropout2)  # fmt: skip

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + mha(self.norm2(x))
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + sa(x))
        x = self.norm2(x + mha(x))
        return self.norm3(x + self._ff_block(x, self.dropout3))


def _clones(owner: str, layer: Module, num_layers: int) -> ModuleList:
    num_layers = _checks.size(owner, "num_layers", num_layers, 1)
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` (deep copies, as PyTorch's)
    applied in turn, then ``norm`` if given. Parameters ``layers.k.*`` and ``norm.*``.

    Shapes: ``forward(src, mask=None, src_key_padding_mask=None, is_causal=False)`` as the
    layer's.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:  # fmt: skip
        super().__init__()
        self.layers = _clones("TransformerEncoder", encoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(self, src: Any, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:  # fmt: skip
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)  # fmt: skip
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer`` applied in turn (each attends
    to the same ``memory``), then ``norm`` if given. Parameters ``layers.k.*`` and
    ``norm.*``.

    Shapes: ``forward(tgt, memory, tgt_mask=None, memory_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
    memory_is_causal=False)`` as the layer's.
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:  # fmt: skip
        super().__init__()
        self.layers = _clones("TransformerDecoder", decoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(
        self, tgt: Any, memory: Any, tgt_mask: Any = None, memory_mask: Any = None,
        tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False, memory_is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                      memory_key_padding_mask, tgt_is_causal, memory_is_causal)  # fmt: skip
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder model of "Attention Is All You Need" (PyTorch's
    ``nn.Transformer``): ``num_encoder_layers`` encoder layers and ``num_decoder_layers``
    decoder layers, each stack ending in a LayerNorm (or ``custom_encoder`` /
    ``custom_decoder``). Parameters ``encoder.*`` and ``decoder.*``, as PyTorch's; every
    parameter with more than one dimension starts Xavier-uniform (PyTorch's
    ``_reset_parameters``), the rest as their layers make them.

    Shapes: ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=False, tgt_is_causal=False, memory_is_causal=False)``: src (S, N, E), tgt
    (T, N, E) -> (T, N, E); (N, S, E) and (N, T, E) with ``batch_first``; unbatched (S, E)
    and (T, E). ``tgt_mask`` is usually ``generate_square_subsequent_mask(T)`` (or pass
    ``tgt_is_causal=True`` alone).
    """

    def __init__(
        self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
        num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
        activation: str | Callable = "relu", custom_encoder: Module | None = None,
        custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
        batch_first: bool = False, norm_first: bool = False, bias: bool = True,
        dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__()
        layer_kw = {"dim_feedforward": dim_feedforward, "dropout": dropout,
                    "activation": activation, "layer_norm_eps": layer_norm_eps,
                    "batch_first": batch_first, "norm_first": norm_first, "bias": bias,
                    "dtype": dtype}  # fmt: skip

        def norm() -> LayerNorm:
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)

        if custom_encoder is None:
            layer = TransformerEncoderLayer(d_model, nhead, **layer_kw)
            custom_encoder = TransformerEncoder(layer, num_encoder_layers, norm())
        if custom_decoder is None:
            layer = TransformerDecoderLayer(d_model, nhead, **layer_kw)
            custom_decoder = TransformerDecoder(layer, num_decoder_layers, norm())
        self.encoder, self.decoder = custom_encoder, custom_decoder
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform for every matrix (parameters of two or more dimensions)."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(
        self, src: Any, tgt: Any, src_mask: Any = None, tgt_mask: Any = None,
        memory_mask: Any = None, src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
        src_is_causal: bool = False, tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        src_shape, tgt_shape = np.shape(src), np.shape(tgt)
        batch = 0 if self.batch_first else 1
        if len(src_shape) == 3 and len(tgt_shape) == 3 and src_shape[batch] != tgt_shape[batch]:
            raise ShapeError(f"Transformer: src {src_shape} and tgt {tgt_shape} have different "
                             f"batch sizes (axis {batch})")  # fmt: skip
        if src_shape[-1:] != (self.d_model,) or tgt_shape[-1:] != (self.d_model,):
            raise ShapeError(f"Transformer: src {src_shape} and tgt {tgt_shape} must both end "
                             f"with d_model={self.d_model} features")  # fmt: skip
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)  # fmt: skip
        return self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                            memory_key_padding_mask, tgt_is_causal, memory_is_causal)  # fmt: skip

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)
