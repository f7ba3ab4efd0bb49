"""Variable-length sequences (PyTorch's ``nn.utils.rnn``): padding and packing.

* :func:`pad_sequence` / :func:`unpad_sequence`: sequences ``(L_i, *)`` to one padded batch
  ``(L_max, B, *)`` (or batch first) and back.
* :class:`PackedSequence`, :func:`pack_padded_sequence`, :func:`pad_packed_sequence`,
  :func:`pack_sequence`, :func:`unpack_sequence`: PyTorch's packed layout. ``data`` is
  ``(sum(lengths), *)``, time-major and interleaved: step 0 of every sequence (longest
  first), then step 1 of every sequence still running, and so on; ``batch_sizes[t]`` (an
  int64 Tensor) is the number of sequences longer than ``t``. With
  ``enforce_sorted=False`` the batch is sorted by decreasing length first (a stable sort:
  equal lengths keep their order, as PyTorch's) and ``sorted_indices`` /
  ``unsorted_indices`` record the permutation; with ``enforce_sorted=True`` the lengths
  must already decrease and both are None. ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` take a
  PackedSequence and return one (:mod:`chainrule.nn.rnn`).

Everything here is integer-array indexing (gathers), slicing, concatenation and stacking
of the data, so reverse mode, forward mode and higher derivatives flow through with no
rules of their own; positions past a sequence's end never reach the packed data, so they
get no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from chainrule import backend, ops
from chainrule.errors import DTypeError, ShapeError
from chainrule.ops.nn import ArgumentError
from chainrule.tensor import Tensor, wrap

__all__ = [
    "PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
    "pad_sequence", "unpack_sequence", "unpad_sequence",
]  # fmt: skip


def pad_sequence(sequences: Sequence[Any], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:  # fmt: skip
    """Stack sequences of lengths ``L_i`` and one trailing shape ``(*)`` into one padded
    batch: ``(L_max, B, *)``, or ``(B, L_max, *)`` with ``batch_first``. Each sequence is
    padded with ``padding_value`` after its steps (``padding_side="right"``) or before them
    ("left"). Differentiable: each sequence's gradient is its part of the batch's."""
    if padding_side not in ("right", "left"):
        raise ArgumentError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                            f"{padding_side!r}")  # fmt: skip
    seqs = _sequences("pad_sequence", sequences)
    trailing = seqs[0].shape[1:]
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


# ---- packed sequences ----------------------------------------------------------------------


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedSequenceFields):
    """A batch of variable-length sequences in PyTorch's packed layout (a named tuple, so
    ``data, batch_sizes, sorted_indices, unsorted_indices = packed`` works).

    * ``data`` ``(sum(lengths), *)``: step 0 of every sequence (longest first), then step 1
      of every sequence still running, and so on;
    * ``batch_sizes``: int64 Tensor ``(max(lengths),)``, the number of sequences longer
      than ``t`` (positive, non-increasing, summing to ``len(data)``);
    * ``sorted_indices``: int64 Tensor, the original batch index of the ``i``-th longest
      sequence, or None when the batch was packed already sorted
      (``enforce_sorted=True``);
    * ``unsorted_indices``: its inverse permutation (computed when only
      ``sorted_indices`` is given), or None.

    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence` rather than by
    hand; ``PackedSequence(data, batch_sizes, sorted_indices=None, unsorted_indices=None)``
    checks that the parts fit together.
    """

    __slots__ = ()

    def __new__(cls, data: Any, batch_sizes: Any = None, sorted_indices: Any = None,
                unsorted_indices: Any = None) -> PackedSequence:  # fmt: skip
        if batch_sizes is None:  # PyTorch's legacy form: PackedSequence((data, batch_sizes))
            if not (isinstance(data, tuple | list) and len(data) == 2):
                raise ArgumentError("PackedSequence: pass data and batch_sizes, or one pair "
                                    "(data, batch_sizes)")  # fmt: skip
            data, batch_sizes = data
        data = _as_tensor(data)
        if data.ndim == 0:
            raise ShapeError("PackedSequence: data must be (sum(lengths), *), got a 0-d tensor")
        bs = _check_batch_sizes(_int_array("PackedSequence", "batch_sizes", batch_sizes),
                                data.shape[0])  # fmt: skip
        order = _permutation("sorted_indices", sorted_indices, int(bs[0]))
        inverse = _permutation("unsorted_indices", unsorted_indices, int(bs[0]))
        if order is not None and inverse is None:
            inverse = np.argsort(order)
        elif order is not None and not np.array_equal(order[inverse], np.arange(len(order))):
            raise ArgumentError(
                f"PackedSequence: unsorted_indices {inverse.tolist()} is not the inverse of "
                f"sorted_indices {order.tolist()}"
            )
        return super().__new__(cls, data, wrap(bs), _wrap_ints(order), _wrap_ints(inverse))

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """The same packing with ``data.to(*args, **kwargs)``."""
        return self._replace(data=self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        """The same packing with float32 data."""
        return self._replace(data=self.data.astype(np.float32))

    def double(self) -> PackedSequence:
        """The same packing with float64 data."""
        return self._replace(data=self.data.astype(np.float64))


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:  # fmt: skip
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose sequence
    ``b`` has ``lengths[b]`` valid steps (a list, array or int64 Tensor, ``1 <= lengths[b] <=
    T``). With ``enforce_sorted=True`` the lengths must decrease; ``enforce_sorted=False``
    sorts the batch by decreasing length (stably) and records the permutation. The padding
    is dropped, so it gets no gradient."""
    fn = "pack_padded_sequence"
    x = _as_tensor(input)
    if x.ndim < 2:
        layout = "(B, T, *)" if batch_first else "(T, B, *)"
        raise ShapeError(f"{fn}: expected a padded batch {layout}, got shape {x.shape}")
    b_axis, t_axis = (0, 1) if batch_first else (1, 0)
    lens = _check_lengths(fn, lengths, x.shape[b_axis], x.shape[t_axis], x.shape, enforce_sorted)
    order = None if enforce_sorted else np.argsort(-lens, kind="stable")
    layout = PackedLayout(_batch_sizes(lens if order is None else lens[order]))
    cols = layout.rows if order is None else order[layout.rows]
    index = (cols, layout.steps_of) if batch_first else (layout.steps_of, cols)
    data = x[tuple(_on(i, x) for i in index)]
    return _packed(data, layout.batch_sizes, order)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The inverse of :func:`pack_padded_sequence`: ``(padded, lengths)`` with ``padded``
    ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), in the original batch order, filled
    with ``padding_value`` past each sequence's end, and ``lengths`` an int64 Tensor in
    the same order. ``T`` is the longest length, or ``total_length`` when given (it may
    not be shorter)."""
    fn = "pad_packed_sequence"
    data, layout, inverse = _unpack_parts(fn, sequence)
    steps = layout.steps
    if total_length is not None:
        if int(total_length) < steps:
            raise ShapeError(
                f"{fn}: total_length={int(total_length)} is shorter than the longest sequence "
                f"({steps} steps); pass total_length >= {steps} or None"
            )
        steps = int(total_length)
    lens = layout.lengths[inverse]
    t = np.arange(steps)[:, None]
    starts = np.concatenate((layout.offsets, np.zeros(steps - layout.steps, np.int64)))
    index = np.where(t < lens, starts[:, None] + inverse, layout.total)  # (steps, B)
    source = data
    if steps > layout.steps or not (t < lens).all():  # one row of padding to gather from
        xp = backend.array_module(data.data)
        fill = xp.full((1, *data.shape[1:]), padding_value, dtype=data.dtype)
        source = ops.concatenate([data, wrap(fill)])
    padded = source[_on(index.T if batch_first else index, data)]
    return padded, wrap(lens.astype(np.int64))


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (one trailing shape, ``L_i >= 1``), as
    ``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=...)`` would,
    without padding first."""
    fn = "pack_sequence"
    seqs = _sequences(fn, sequences)
    lens = np.array([s.shape[0] for s in seqs], np.int64)
    lens = _check_lengths(fn, lens, len(seqs), int(lens.max()), None, enforce_sorted)
    order = None if enforce_sorted else np.argsort(-lens, kind="stable")
    layout = PackedLayout(_batch_sizes(lens if order is None else lens[order]))
    which = layout.rows if order is None else order[layout.rows]
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    flat = ops.concatenate(seqs) if len(seqs) > 1 else seqs[0]
    data = flat[_on(starts[which] + layout.steps_of, flat)]
    return _packed(data, layout.batch_sizes, order)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of :func:`pack_sequence`: the list of sequences ``(L_i, *)``, in the
    original batch order."""
    data, layout, inverse = _unpack_parts("unpack_sequence", packed_sequences)
    return [data[_on(layout.offsets[: layout.lengths[i]] + i, data)] for i in inverse]


# ---- helpers ------------------------------------------------------------------------------


class PackedLayout:
    """The index arithmetic of a packed batch with ``batch_sizes`` (positive,
    non-increasing), sequences numbered in sorted (decreasing-length) order:

    * ``offsets[t]``: the row of ``data`` where step ``t`` starts;
    * ``lengths[i]``: the length of sorted sequence ``i``;
    * ``steps_of[r]``, ``rows[r]``: the step and the sorted sequence of data row ``r``.
    """

    def __init__(self, batch_sizes: np.ndarray) -> None:
        bs = batch_sizes
        self.batch_sizes = bs
        self.steps = len(bs)
        self.batch = int(bs[0])
        self.total = int(bs.sum())
        self.offsets = np.concatenate(([0], np.cumsum(bs)[:-1])).astype(np.int64)
        # lengths[i] = #{t : bs[t] > i}; -bs is non-decreasing
        self.lengths = np.searchsorted(-bs, -np.arange(self.batch), side="left").astype(np.int64)
        self.steps_of = np.repeat(np.arange(self.steps, dtype=np.int64), bs)
        self.rows = np.arange(self.total, dtype=np.int64) - np.repeat(self.offsets, bs)

    def reversal(self) -> np.ndarray:
        """The data rows with every sequence reversed within its own length (the row of
        step ``L_i - 1 - t`` for step ``t``); a permutation that is its own inverse."""
        return self.offsets[self.lengths[self.rows] - 1 - self.steps_of] + self.rows

    def segments(self) -> list[tuple[int, int, int, int, int]]:
        """The runs of steps with one batch size: ``(first row, end row, steps, batch size,
        batch size after the run)`` (0 after the last run)."""
        bs = self.batch_sizes
        starts = [0, *(np.flatnonzero(np.diff(bs)) + 1).tolist()]
        stops = [*starts[1:], self.steps]
        out = []
        for t0, t1 in zip(starts, stops):
            b = int(bs[t0])
            after = int(bs[t1]) if t1 < self.steps else 0
            row = int(self.offsets[t0])
            out.append((row, row + (t1 - t0) * b, t1 - t0, b, after))
        return out


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _sequences(fn: str, sequences: Sequence[Any]) -> list[Tensor]:
    """``sequences`` as Tensors, checked: at least one, each ``(L, *)`` with the first's
    trailing shape."""
    seqs = [_as_tensor(s) for s in sequences]
    if not seqs:
        raise ShapeError(f"{fn}: got no sequences (an empty list of sequences)")
    trailing = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ShapeError(
                f"{fn}: every sequence must be (L, *) with the trailing shape of the first, "
                f"{trailing}; sequence {i} has shape {s.shape}"
            )
    return seqs


def _on(index: np.ndarray, like: Tensor) -> Any:
    """An index array on the device of ``like``'s data."""
    return backend.to_device_of(index, like.data)


def _wrap_ints(a: np.ndarray | None) -> Tensor | None:
    return None if a is None else wrap(np.ascontiguousarray(a, dtype=np.int64))


def _int_array(fn: str, what: str, values: Any) -> np.ndarray:
    """``values`` (a list, array or Tensor) as a 1-D int64 NumPy array; floats are taken
    when they hold whole numbers."""
    arr = values.numpy() if isinstance(values, Tensor) else np.asarray(values)
    arr = np.asarray(backend.to_device(arr, "cpu")) if backend.is_array(arr) else arr
    if arr.ndim != 1:
        raise ShapeError(f"{fn}: {what} must be 1-D (one entry per sequence), got shape "
                         f"{arr.shape}")  # fmt: skip
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{fn}: {what} must be integers, got dtype {arr.dtype}: "
                         f"{arr.tolist()}")  # fmt: skip
    return arr.astype(np.int64)


def _check_lengths(fn: str, lengths: Any, batch: int, steps: int, shape: tuple | None,
                   enforce_sorted: bool) -> np.ndarray:  # fmt: skip
    """The lengths of a batch as int64, checked: one per sequence, each in ``1..steps``,
    decreasing when ``enforce_sorted``."""
    lens = _int_array(fn, "lengths", lengths)
    of = "" if shape is None else f" (input shape {shape})"
    if batch == 0:
        raise ShapeError(f"{fn}: the batch holds no sequences{of}")
    if len(lens) != batch:
        raise ShapeError(f"{fn}: got {len(lens)} lengths for a batch of {batch} sequences{of}")
    short = np.flatnonzero(lens <= 0)
    if short.size:
        i = int(short[0])
        raise ArgumentError(f"{fn}: every sequence needs at least one step, but lengths[{i}] = "
                            f"{int(lens[i])} (lengths {lens.tolist()})")  # fmt: skip
    long = np.flatnonzero(lens > steps)
    if long.size:
        i = int(long[0])
        raise ShapeError(f"{fn}: lengths[{i}] = {int(lens[i])} is longer than the {steps} "
                         f"steps of the padded input{of}")  # fmt: skip
    if enforce_sorted and (np.diff(lens) > 0).any():
        raise ArgumentError(
            f"{fn}: lengths must be sorted in decreasing order when enforce_sorted=True, got "
            f"{lens.tolist()}; pass enforce_sorted=False to pack sequences in any order"
        )
    return lens


def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    """``batch_sizes[t]`` = the number of lengths greater than ``t``."""
    counts = np.bincount(sorted_lengths, minlength=int(sorted_lengths[0]) + 1)
    return (len(sorted_lengths) - np.cumsum(counts)[: int(sorted_lengths[0])]).astype(np.int64)


def _check_batch_sizes(bs: np.ndarray, rows: int) -> np.ndarray:
    if bs.size == 0 or (bs <= 0).any() or (np.diff(bs) > 0).any() or int(bs.sum()) != rows:
        raise ShapeError(
            f"PackedSequence: batch_sizes must be positive, non-increasing and sum to the "
            f"{rows} rows of data, got {bs.tolist()}"
        )
    return bs


def _permutation(what: str, values: Any, batch: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = _int_array("PackedSequence", what, values)
    if not np.array_equal(np.sort(arr), np.arange(batch)):
        raise ShapeError(f"PackedSequence: {what} must be a permutation of 0..{batch - 1} (the "
                         f"batch of batch_sizes[0] = {batch}), got {arr.tolist()}")  # fmt: skip
    return arr


def _packed(data: Tensor, batch_sizes: np.ndarray, order: np.ndarray | None) -> PackedSequence:
    """A PackedSequence from parts already known to fit."""
    inverse = None if order is None else np.argsort(order)
    return PackedSequence._make((data, wrap(batch_sizes), _wrap_ints(order), _wrap_ints(inverse)))


def packed_layout(
    fn: str, sequence: Any
) -> tuple[PackedLayout, np.ndarray | None, np.ndarray | None]:
    """The layout of a PackedSequence and its permutations (None when sorted) as arrays."""
    if not isinstance(sequence, PackedSequence):
        raise ArgumentError(f"{fn}: expected a PackedSequence, got {type(sequence).__name__}")
    rows = _as_tensor(sequence.data).shape[0] if np.ndim(sequence.data) else 0
    layout = PackedLayout(
        _check_batch_sizes(_int_array(fn, "batch_sizes", sequence.batch_sizes), rows)
    )
    order = sequence.sorted_indices
    inverse = sequence.unsorted_indices
    order = None if order is None else _int_array(fn, "sorted_indices", order)
    inverse = None if inverse is None else _int_array(fn, "unsorted_indices", inverse)
    return layout, order, inverse


def _unpack_parts(fn: str, sequence: Any) -> tuple[Tensor, PackedLayout, np.ndarray]:
    """Data, layout and the sorted position of each original sequence."""
    layout, _, inverse = packed_layout(fn, sequence)
    if inverse is None:
        inverse = np.arange(layout.batch)
    return _as_tensor(sequence.data), layout, inverse
