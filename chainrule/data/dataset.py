"""Datasets: the abstract ``Dataset``, ``TensorDataset`` over arrays, ``Subset`` and
``random_split``."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

import chainrule.ops  # noqa: F401  (load order: ops first, then tensor; see tensor.py)
from chainrule import backend
from chainrule.errors import ChainruleError, IndexingError, ShapeError
from chainrule.tensor import Tensor, to_array

__all__ = ["DataError", "Dataset", "Subset", "TensorDataset", "random_split"]


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
