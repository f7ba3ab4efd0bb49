"""Datasets: the abstract ``Dataset`` and ``IterableDataset``, ``TensorDataset`` over
arrays, ``Subset``, the combinators ``ConcatDataset``, ``ChainDataset`` and ``StackDataset``,
``random_split`` and ``default_collate``."""

from __future__ import annotations

import abc
import bisect
import collections.abc
import copy
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

import chainrule.ops  # noqa: F401  (load order: ops first, then tensor; see tensor.py)
from chainrule import backend
from chainrule.errors import ChainruleError, IndexingError, ShapeError
from chainrule.tensor import Tensor, to_array

__all__ = [
    "ChainDataset",
    "ConcatDataset",
    "DataError",
    "Dataset",
    "IterableDataset",
    "StackDataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
]


class DataError(ChainruleError, ValueError):
    """A bad argument to a dataset, loader or split (e.g. ``batch_size=0``)."""


class Dataset(abc.ABC):
    """A finite, indexable collection of samples.

    Subclasses implement ``__getitem__(i)`` (one sample, usually a tuple such as
    ``(x, y)``) and ``__len__()``. A :class:`~chainrule.data.DataLoader` batches them.
    """

    @abc.abstractmethod
    def __getitem__(self, index: int) -> Any:
        """The sample at ``index`` (0 <= index < len(self))."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of samples."""

    def __add__(self, other: Any) -> ConcatDataset:
        """``a + b`` is ``ConcatDataset([a, b])``."""
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses implement ``__iter__`` (and may implement
    ``__len__``). A DataLoader batches it in the order it yields; it cannot be indexed,
    shuffled or given a sampler."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Any]:
        """The samples, one by one."""

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset and cannot be indexed")

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} is an IterableDataset without a __len__")

    def __add__(self, other: Any) -> ChainDataset:  # type: ignore[override]
        """``a + b`` is ``ChainDataset([a, b])``."""
        return ChainDataset([self, other])


def _as_host_array(data: Any) -> np.ndarray:
    """A NumPy array for ``data`` (a Tensor, an array or nested lists), without copying
    a NumPy array."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        return backend.to_device(data, "cpu")
    return to_array(data)


class TensorDataset(Dataset):
    """Samples are rows of arrays (or Tensors) that share their first dimension.

    ``TensorDataset(X, y)[i]`` is ``(X[i], y[i])`` as NumPy values. The arrays are kept as
    given (a NumPy array is not copied; a Tensor's data is used directly); lists follow
    chainrule's rules (Python floats -> float32, ints -> int64). A DataLoader over a
    TensorDataset gathers a whole batch with one indexing call per array.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise DataError("TensorDataset needs at least one array")
        converted = [_as_host_array(a) for a in arrays]
        for k, a in enumerate(converted):
            if a.ndim == 0:
                raise ShapeError(
                    f"TensorDataset: array {k} is 0-d (shape ()); every array needs a first "
                    "dimension that indexes the samples"
                )
        n = converted[0].shape[0]
        for k, a in enumerate(converted[1:], start=1):
            if a.shape[0] != n:
                shapes = ", ".join(str(tuple(b.shape)) for b in converted)
                raise ShapeError(
                    f"TensorDataset: every array must have the same first dimension; array 0 "
                    f"has {n} samples but array {k} has {a.shape[0]} (shapes {shapes})"
                )
        self.arrays: tuple[np.ndarray, ...] = tuple(converted)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        if isinstance(index, int | np.integer):
            n = len(self)
            if not -n <= index < n:
                raise IndexingError(
                    f"TensorDataset: index {index} is out of range for {n} samples "
                    f"(valid indices are {-n}..{n - 1})"
                )
        return tuple(a[index] for a in self.arrays)

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (in that order); no data is copied."""

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DataError(f"Subset: indices must be a 1-D sequence of ints, got {indices!r}")
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise DataError(f"Subset: an index is out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices: np.ndarray = np.where(idx < 0, idx + n, idx).astype(np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} samples)"


def _split_counts(n: int, lengths: Sequence[int | float]) -> list[int]:
    """Turn ``lengths`` (counts, or fractions summing to 1) into counts summing to ``n``."""
    lengths = list(lengths)
    if not lengths:
        raise DataError("random_split: lengths is empty")
    for v in lengths:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise DataError(f"random_split: lengths must be ints or fractions, got {v!r}")
        if v < 0:
            raise DataError(f"random_split: negative length {v!r}")
    if all(isinstance(v, int | np.integer) for v in lengths):
        counts = [int(v) for v in lengths]
        if sum(counts) != n:
            raise DataError(
                f"random_split: lengths {counts} sum to {sum(counts)}, but the dataset has "
                f"{n} samples (give counts that sum to {n}, or fractions that sum to 1)"
            )
        return counts
    total = float(sum(float(v) for v in lengths))
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-6) or any(v > 1 for v in lengths):
        raise DataError(
            f"random_split: fractions {lengths} sum to {total}, not 1 (or give integer "
            f"counts that sum to {n})"
        )
    # like torch: floor each share, then hand the remainder out one by one from the first
    counts = [math.floor(n * float(v)) for v in lengths]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(
    dataset: Any, lengths: Sequence[int | float], seed: int | None = None
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (each
    share is floored and the remainder is given one by one to the first subsets, as in
    PyTorch). With ``seed=None`` the permutation comes from chainrule's global generator,
    so ``cr.manual_seed`` makes it repeatable; an int ``seed`` gives the same split always.
    """
    n = len(dataset)
    counts = _split_counts(n, lengths)
    rng = backend.rng() if seed is None else np.random.default_rng(seed)
    perm = rng.permutation(n).astype(np.int64)
    out: list[Subset] = []
    start = 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c]))
        start += c
    return out


# ---- combinators --------------------------------------------------------------------------


class ConcatDataset(Dataset):
    """The samples of several map-style datasets, one after the other.

    ``cumulative_sizes[k]`` is the number of samples in ``datasets[:k + 1]``. Negative
    indices count from the end; an index out of range is an ``IndexingError``.
    """

    @staticmethod
    def cumsum(sequence: Iterable[Any]) -> list[int]:
        out: list[int] = []
        total = 0
        for d in sequence:
            total += len(d)
            out.append(total)
        return out

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise DataError("ConcatDataset: datasets is empty; give at least one dataset")
        for k, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise DataError(
                    f"ConcatDataset: datasets[{k}] is an IterableDataset "
                    f"({type(d).__name__}); use ChainDataset for streams"
                )
            if not (hasattr(d, "__len__") and hasattr(d, "__getitem__")):
                raise DataError(
                    f"ConcatDataset: datasets[{k}] must support len() and indexing, got "
                    f"{type(d).__name__}"
                )
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if not isinstance(index, int | np.integer) or isinstance(index, bool):
            raise IndexingError(f"ConcatDataset: index must be an int, got {index!r}")
        if not -n <= index < n:
            raise IndexingError(
                f"ConcatDataset: index {index} is out of range for {n} samples "
                f"(valid indices are {-n}..{n - 1})"
            )
        index = int(index) + n if index < 0 else int(index)
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[k - 1] if k else 0
        return self.datasets[k][index - start]

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self.datasets)} datasets, {len(self)} samples)"


class ChainDataset(IterableDataset):
    """Several IterableDatasets, one after the other (each is iterated afresh every time
    the chain is). ``len()`` is the sum of their lengths, when they all have one."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets
        if isinstance(datasets, list | tuple):
            for k, d in enumerate(datasets):
                self._check(k, d)

    @staticmethod
    def _check(k: int, d: Any) -> None:
        if not isinstance(d, IterableDataset):
            raise DataError(
                f"ChainDataset: datasets[{k}] must be an IterableDataset, got "
                f"{type(d).__name__} (use ConcatDataset for map-style datasets)"
            )

    def __iter__(self) -> Iterator[Any]:
        for k, d in enumerate(self.datasets):
            self._check(k, d)
            yield from d

    def __len__(self) -> int:
        total = 0
        for k, d in enumerate(self.datasets):
            self._check(k, d)
            total += len(d)
        return total


class StackDataset(Dataset):
    """Several datasets of the same length, side by side: ``StackDataset(a, b)[i]`` is
    ``(a[i], b[i])`` and ``StackDataset(x=a, y=b)[i]`` is ``{"x": a[i], "y": b[i]}``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and kwargs:
            raise DataError(
                "StackDataset: give the datasets either positionally (tuple samples) or "
                "by keyword (dict samples), not both"
            )
        if not args and not kwargs:
            raise DataError("StackDataset: give at least one dataset")
        named = list(kwargs.items()) if kwargs else [(str(k), d) for k, d in enumerate(args)]
        lengths = {name: len(d) for name, d in named}
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{name}: {n}" for name, n in lengths.items())
            raise DataError(f"StackDataset: the datasets have different lengths ({sizes})")
        self.datasets: tuple[Any, ...] | dict[str, Any] = dict(kwargs) if kwargs else args
        self._length = next(iter(lengths.values()))

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


# ---- collation ----------------------------------------------------------------------------

_COLLATE_TYPES = "Tensors, NumPy arrays, numbers, strings, dicts or lists"


def _stack_arrays(arrays: list[np.ndarray]) -> Tensor:
    if arrays[0].dtype.kind in "OSUV":
        raise TypeError(
            f"default_collate: cannot collate NumPy arrays of dtype {arrays[0].dtype}; a batch "
            f"must contain {_COLLATE_TYPES}"
        )
    try:
        return Tensor(np.stack(arrays))
    except ValueError as exc:
        shapes = sorted({str(a.shape) for a in arrays})
        raise ShapeError(
            f"default_collate: cannot stack arrays of shapes {', '.join(shapes)} ({exc})"
        ) from exc


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, following PyTorch's ``default_collate``.

    Tensors and NumPy arrays (and NumPy scalars) are stacked into one Tensor along a new
    first axis, keeping their dtype; Python ints become an int64 Tensor, Python floats a
    float32 one (chainrule's rule; PyTorch uses float64), bools a bool one; strings and
    bytes are left as a list. Dicts (mappings) are collated key by key into the same type,
    named tuples field by field, tuples into a list of collated fields (as in PyTorch),
    other sequences into the same type; sequences of different lengths are a DataError.
    """
    if not isinstance(batch, Sequence) or isinstance(batch, str | bytes):
        batch = list(batch)
    if not batch:
        raise DataError("default_collate: the batch is empty")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_arrays([backend.to_device(t.data, "cpu") for t in batch])
    if isinstance(elem, np.ndarray | np.generic) and not isinstance(elem, np.str_ | np.bytes_):
        return _stack_arrays([np.asarray(b) for b in batch])
    if isinstance(elem, bool):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float32))
    if isinstance(elem, str | bytes):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            out = copy.copy(elem)
            out.update(collated)
            return out
        try:
            return type(elem)(collated)  # type: ignore[call-arg]
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for b in batch:
            if len(b) != size:
                raise DataError(
                    f"default_collate: each sequence in the batch must have the same length; "
                    f"got lengths {size} and {len(b)}"
                )
        fields = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                out = copy.copy(elem)
                for i, f in enumerate(fields):
                    out[i] = f
                return out
            return type(elem)(fields)  # type: ignore[call-arg]
        except TypeError:
            return fields
    raise TypeError(f"default_collate: a batch must contain {_COLLATE_TYPES}; found {type(elem)}")
