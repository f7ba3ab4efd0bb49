"""Padding variable-length sequences into one batch (PyTorch's ``nn.utils.rnn``).

chainrule's recurrent layers take padded batches; packed sequences
(``pack_padded_sequence``) are not supported: run the padded batch and read each sequence's
last valid step (``out[lengths - 1, arange(B)]``), or mask the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import ops
from chainrule.errors import ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor

__all__ = ["pad_sequence", "unpad_sequence"]


def pad_sequence(sequences: Sequence[Any], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:  # fmt: skip
    """Stack sequences of lengths ``L_i`` and one trailing shape ``(*)`` into one padded
    batch: ``(L_max, B, *)``, or ``(B, L_max, *)`` with ``batch_first``. Each sequence is
    padded with ``padding_value`` after its steps (``padding_side="right"``) or before them
    ("left"). Differentiable: each sequence's gradient is its part of the batch's."""
    if padding_side not in ("right", "left"):
        raise ArgumentError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                            f"{padding_side!r}")  # fmt: skip
    seqs = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not seqs:
        raise ShapeError("pad_sequence: got no sequences")
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ShapeError(
                f"pad_sequence: every sequence must be (L, *) with the trailing shape of the "
                f"first, {trailing}; sequence {i} has shape {s.shape}"
            )
    longest = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        gap = longest - s.shape[0]
        before, after = (0, gap) if padding_side == "right" else (gap, 0)
        widths = [(before, after)] + [(0, 0)] * len(trailing)
        padded.append(ops.pad(s, widths, value=padding_value) if gap else s)
    return ops.stack(padded, axis=0 if batch_first else 1)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """The inverse of :func:`pad_sequence` (right padding): the ``B`` sequences of a padded
    batch ``(L_max, B, *)`` (or ``(B, L_max, *)``), sequence ``b`` cut to ``lengths[b]``
    steps."""
    x = padded_sequences if isinstance(padded_sequences, Tensor) else Tensor(padded_sequences)
    if x.ndim < 2:
        raise ShapeError(f"unpad_sequence: expected a padded batch (L, B, *), got shape {x.shape}")
    sizes = [int(n) for n in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
    b_axis, l_axis = (0, 1) if batch_first else (1, 0)
    if len(sizes) != x.shape[b_axis]:
        raise ShapeError(f"unpad_sequence: {len(sizes)} lengths for a batch of "
                         f"{x.shape[b_axis]} sequences (shape {x.shape})")  # fmt: skip
    bad = [n for n in sizes if not 0 <= n <= x.shape[l_axis]]
    if bad:
        raise ShapeError(f"unpad_sequence: length {bad[0]} is outside 0..{x.shape[l_axis]} "
                         f"(shape {x.shape})")  # fmt: skip
    if batch_first:
        return [x[b, :n] for b, n in enumerate(sizes)]
    return [x[:n, b] for b, n in enumerate(sizes)]
