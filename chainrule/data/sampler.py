"""Samplers: which indices a :class:`~chainrule.data.DataLoader` reads, and in what order
(PyTorch's ``torch.utils.data`` samplers, with NumPy generators).

A sampler with ``generator=None`` draws from chainrule's global generator
(``chainrule.backend.rng()``) each time it is iterated, so ``cr.manual_seed`` makes it
repeatable; a ``numpy.random.Generator`` passed as ``generator`` is used instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.data.dataset import DataError
from chainrule.tensor import Tensor

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]


def _is_int(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def _check_positive_int(owner: str, name: str, value: Any) -> int:
    if not _is_int(value) or value <= 0:
        raise DataError(f"{owner}: {name} must be a positive int, got {name}={value!r}")
    return int(value)


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise DataError(f"{owner}: {name} must be a bool, got {name}={value!r}")
    return bool(value)


def _check_generator(owner: str, generator: Any) -> np.random.Generator | None:
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise DataError(
            f"{owner}: generator must be a numpy.random.Generator or None (chainrule's "
            f"global generator), got {type(generator).__name__}"
        )
    return generator


class Sampler:
    """The base class of samplers: ``__iter__`` yields dataset indices (or, for a batch
    sampler, lists of them); ``__len__``, when defined, is how many it yields."""

    def __init__(self, data_source: Any = None) -> None:  # accepted, unused (as in torch)
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices of ``data_source`` in a random order.

    Without replacement each epoch is a permutation; ``num_samples`` larger than the
    dataset gives whole permutations back to back and then part of one (as in PyTorch).
    With ``replacement=True`` it draws ``num_samples`` indices uniformly and independently.
    ``num_samples`` defaults to ``len(data_source)``.
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = _check_bool("RandomSampler", "replacement", replacement)
        self._num_samples = num_samples
        self.generator = _check_generator("RandomSampler", generator)
        _check_positive_int("RandomSampler", "num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        # the dataset may change size after the sampler is made, as in torch
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if n == 0:
            raise DataError("RandomSampler: data_source is empty; there is nothing to sample")
        rng = self.generator if self.generator is not None else backend.rng()
        k = self.num_samples
        if self.replacement:
            yield from rng.integers(0, n, size=k).tolist()
            return
        for _ in range(k // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[: k % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices``, in a new random order every iteration."""

    def __init__(self, indices: Sequence[int], generator: np.random.Generator | None = None):
        self.indices = indices
        self.generator = _check_generator("SubsetRandomSampler", generator)

    def __iter__(self) -> Iterator[Any]:
        rng = self.generator if self.generator is not None else backend.rng()
        for i in rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in ``range(len(weights))``, index ``i`` drawn with
    probability ``weights[i] / sum(weights)`` (weights need not sum to 1).

    With ``replacement=False`` an index is drawn at most once, so ``num_samples`` may not
    exceed the number of non-zero weights. Weights must be finite and non-negative, with a
    positive sum; a zero weight is never drawn.
    """

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray,
        num_samples: int,
        replacement: bool = True,
        generator: np.random.Generator | None = None,
    ) -> None:
        owner = "WeightedRandomSampler"
        self.num_samples = _check_positive_int(owner, "num_samples", num_samples)
        self.replacement = _check_bool(owner, "replacement", replacement)
        self.generator = _check_generator(owner, generator)
        if isinstance(weights, Tensor):
            weights = backend.to_device(weights.data, "cpu")
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{owner}: weights must be a 1-D sequence of numbers ({exc})") from exc
        if w.ndim != 1 or w.size == 0:
            raise DataError(
                f"{owner}: weights must be a non-empty 1-D sequence, got shape {w.shape}"
            )
        if not np.isfinite(w).all():
            raise DataError(f"{owner}: weights must be finite, got {float(w[~np.isfinite(w)][0])}")
        if (w < 0).any():
            i = int(np.argmax(w < 0))
            raise DataError(f"{owner}: weights must be non-negative; weights[{i}] = {float(w[i])}")
        if w.sum() <= 0:
            raise DataError(f"{owner}: weights sum to 0; at least one must be positive")
        nonzero = int(np.count_nonzero(w))
        if not self.replacement and self.num_samples > nonzero:
            raise DataError(
                f"{owner}: cannot draw num_samples={self.num_samples} indices without "
                f"replacement from {nonzero} non-zero weights"
            )
        self.weights = w

    def __iter__(self) -> Iterator[int]:
        rng = self.generator if self.generator is not None else backend.rng()
        p = self.weights / self.weights.sum()
        idx = rng.choice(p.size, size=self.num_samples, replace=self.replacement, p=p)
        yield from idx.tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler`` (any iterable of indices); the last
    list is shorter unless ``drop_last=True``, which drops it."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.batch_size = _check_positive_int("BatchSampler", "batch_size", batch_size)
        self.drop_last = _check_bool("BatchSampler", "drop_last", drop_last)
        self.sampler = sampler

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
