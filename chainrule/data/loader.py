"""``DataLoader``: batches of chainrule Tensors from a dataset, reshuffled every epoch, or
drawn by a sampler, or read from an ``IterableDataset``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.data.dataset import DataError, IterableDataset, Subset, TensorDataset
from chainrule.data.sampler import BatchSampler
from chainrule.errors import ShapeError
from chainrule.tensor import Tensor, to_array

__all__ = ["DataLoader"]

Batch = tuple[Tensor, ...]


def _fast_source(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """``(arrays, index)`` when ``dataset`` is a TensorDataset, or Subsets of one (``index``
    maps the dataset's positions to rows of the arrays; None means the identity)."""
    index: np.ndarray | None = None
    while isinstance(dataset, Subset):
        index = dataset.indices if index is None else dataset.indices[index]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:  # a subclass may override __getitem__
        return None
    return dataset.arrays, index


def _finish(arr: np.ndarray, fresh: bool) -> Tensor:
    """Wrap one batch field: integers become int64, floats and bools keep their dtype; the
    batch never shares memory with the dataset."""
    if arr.dtype.kind in "iu" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif not fresh:
        arr = arr.copy()
    return Tensor(arr)


def _collate_field(items: list[Any], field: int) -> np.ndarray:
    first = items[0]
    try:
        if isinstance(first, Tensor):
            return np.stack([backend.to_device(t.data, "cpu") for t in items])
        if isinstance(first, np.ndarray | np.generic):
            return np.stack(items)
        return to_array(items)  # Python numbers and lists: float -> float32, int -> int64
    except (ValueError, TypeError) as exc:
        shapes = sorted({str(np.shape(x.data if isinstance(x, Tensor) else x)) for x in items})
        raise ShapeError(
            f"DataLoader: cannot stack field {field} of the samples into a batch; the samples "
            f"have shapes {', '.join(shapes)} ({exc})"
        ) from exc


def _convert(sample: Any) -> Batch:
    """One sample as a tuple of Tensors, one per field, with the batches' dtype rules and no
    batch axis (what the loader yields with ``batch_size=None``)."""
    fields = sample if isinstance(sample, tuple | list) else (sample,)
    return tuple(_finish(_collate_field([f], k)[0], fresh=True) for k, f in enumerate(fields))


def _collate(samples: list[Any]) -> Batch:
    """Stack per-sample tuples field by field (a sample that is not a tuple is one field)."""
    first = samples[0]
    if isinstance(first, tuple | list):
        width = len(first)
        for s in samples:
            if not isinstance(s, tuple | list) or len(s) != width:
                raise DataError(
                    f"DataLoader: samples have different structures ({first!r:.60} vs {s!r:.60})"
                )
        fields = [[s[k] for s in samples] for k in range(width)]
    else:
        fields = [samples]
    return tuple(_finish(_collate_field(f, k), fresh=True) for k, f in enumerate(fields))


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors.

    Each batch is a tuple with one Tensor per field of the samples, e.g. ``(xb, yb)`` for a
    ``TensorDataset(X, y)``. Integer fields become int64 (labels), float and bool fields
    keep their dtype (float32 stays float32); Python floats become float32. Batches are
    fresh arrays: changing one never changes the dataset.

    With ``shuffle=True`` every epoch (every ``iter(loader)``) has a new order. Epoch ``e``
    uses the permutation drawn from ``SeedSequence(seed, spawn_key=(e,))``, so the order is
    a function of ``(seed, e)`` alone; with ``seed=None`` the seed is drawn once, when the
    loader is made, from chainrule's global generator, so ``cr.manual_seed`` makes it
    repeatable. ``drop_last=True`` drops a last, short batch. ``len(loader)`` is the number
    of batches per epoch.

    ``num_workers`` must be 0 (batches are loaded in the calling process) and
    ``pin_memory`` is accepted and has no effect: both are there so PyTorch code that
    passes them runs unchanged.

    ``batch_size=None`` turns batching off, as in PyTorch: the loader yields one sample at a
    time (in the order of ``shuffle`` or ``sampler``), each field a Tensor without a batch
    axis, or ``collate_fn(sample)`` when one is given; ``drop_last`` must then be False.

    ``state_dict()`` records the epoch, the number of batches already handed out in it and
    the seed; ``load_state_dict()`` on a fresh loader continues from exactly that batch.
    Over a :class:`TensorDataset` (or Subsets of one) a batch is gathered with one indexing
    call per array, never copying the whole set; other datasets are indexed sample by
    sample and stacked with ``np.stack``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        *,
        sampler: Iterable[Any] | None = None,
        batch_sampler: Iterable[Any] | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise DataError(
                "DataLoader: dataset must support len() and indexing (a Dataset such as "
                f"TensorDataset(X, y), or a list of samples), got {type(dataset).__name__}"
            )
        if batch_size is None:
            if drop_last:
                raise DataError(
                    "DataLoader: batch_size=None turns batching off, so drop_last=True means "
                    "nothing; leave drop_last False"
                )
        elif isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise DataError(
                f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}"
            )
        elif batch_size < 1:
            raise DataError(
                f"DataLoader: batch_size must be a positive int or None, got {batch_size}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise DataError(f"DataLoader: seed must be an int or None, got {seed!r}")
        if (
            isinstance(num_workers, bool)
            or not isinstance(num_workers, int | np.integer)
            or (num_workers < 0)
        ):
            raise DataError(f"DataLoader: num_workers must be a non-negative int, got "
                            f"{num_workers!r}")  # fmt: skip
        if num_workers > 0:
            raise DataError(
                f"DataLoader: num_workers={num_workers} is not supported: batches are loaded "
                "in the main process (num_workers=0); loading over a TensorDataset is one "
                "indexing call per array"
            )
        if not isinstance(pin_memory, bool | np.bool_):
            raise DataError(f"DataLoader: pin_memory must be a bool, got {pin_memory!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise DataError(f"DataLoader: collate_fn must be callable, got {collate_fn!r}")
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value is not None and not hasattr(value, "__iter__"):
                raise DataError(
                    f"DataLoader: {name} must be an iterable of indices (a Sampler), got "
                    f"{type(value).__name__}"
                )
        if iterable:  # PyTorch's rules: a stream has its own order
            for name, value in (("shuffle", shuffle or None), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):  # fmt: skip
                if value is not None:
                    raise DataError(
                        f"DataLoader with IterableDataset: expected unspecified {name} "
                        f"option, but got {name}={value!r}"
                    )
        if sampler is not None and shuffle:
            raise DataError(
                "DataLoader: sampler option is mutually exclusive with shuffle (got "
                "shuffle=True and a sampler; the sampler decides the order)"
            )
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise DataError(
                "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                f"shuffle, sampler, and drop_last (got batch_size={batch_size!r}, "
                f"shuffle={shuffle!r}, sampler={sampler!r}, drop_last={drop_last!r})"
            )
        self.dataset = dataset
        self.sampler = sampler
        self.collate_fn = collate_fn
        self.num_workers, self.pin_memory = 0, bool(pin_memory)  # (pinning has no effect)
        self.shuffle = bool(shuffle)
        # batching: by the batch sampler (as in PyTorch), by batch_size, or off (None)
        self.batch_size: int | None = None
        self.drop_last = False
        if batch_sampler is None and batch_size is not None:
            self.batch_size = int(batch_size)
            self.drop_last = bool(drop_last)
        self._one_by_one = batch_sampler is None and batch_size is None
        if sampler is not None and not self._one_by_one:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.batch_sampler = batch_sampler
        self._iterable = iterable
        if seed is None and self.shuffle:
            seed = int(backend.rng().integers(0, 2**63 - 1))
        self.seed: int | None = None if seed is None else int(seed)
        self._epoch = 0  # the epoch the next iter() starts
        self._resume_batch = 0  # the batch it starts at (non-zero only after load_state_dict)
        self._position: tuple[int, int] | None = None  # (epoch, batches handed out) while open
        self._token = 0  # which iterator owns _position

    # ---- sizes ------------------------------------------------------------------------
    def __len__(self) -> int:
        """Batches per epoch, or samples with ``batch_size=None`` (a TypeError for an
        IterableDataset, or a sampler, without a ``len()``)."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        if self._one_by_one:
            return len(self.sampler if self.sampler is not None else self.dataset)  # type: ignore[arg-type]
        n = len(self.dataset)
        bs = self.batch_size
        assert bs is not None
        return n // bs if self.drop_last else math.ceil(n / bs)

    @property
    def epoch(self) -> int:
        """The epoch being iterated (or, between epochs, the next one to start)."""
        return self._position[0] if self._position is not None else self._epoch

    # ---- order ------------------------------------------------------------------------
    def _order(self, epoch: int, n: int) -> np.ndarray | None:
        """The permutation of ``range(n)`` for ``epoch`` (None: the natural order)."""
        if not self.shuffle:
            return None
        seq = np.random.SeedSequence(self.seed, spawn_key=(epoch,))
        return np.random.default_rng(seq).permutation(n).astype(np.int64)

    # ---- iteration --------------------------------------------------------------------
    def __iter__(self) -> Iterator[Batch]:
        epoch, start = self._epoch, self._resume_batch
        self._epoch, self._resume_batch = epoch + 1, 0
        self._token += 1
        self._position = (epoch, start)
        return self._batches(epoch, start, self._token)

    def _batches(self, epoch: int, start: int, token: int) -> Iterator[Any]:
        if self._one_by_one:
            yield from self._tracked(self._samples(epoch), epoch, start, token)
            return
        if self.batch_sampler is not None or self._iterable or self.collate_fn is not None:
            source = self._index_batches(epoch) if not self._iterable else self._stream_batches()
            yield from self._tracked(source, epoch, start, token)
            return
        n = len(self.dataset)
        order = self._order(epoch, n)
        source = _fast_source(self.dataset)
        bs = self.batch_size
        try:
            for b in range(start, len(self)):
                lo, hi = b * bs, min(n, (b + 1) * bs)
                if source is not None:
                    batch = self._gather(source, order, lo, hi)
                else:
                    idx = range(lo, hi) if order is None else order[lo:hi]
                    batch = _collate([self.dataset[int(i)] for i in idx])
                if self._token == token:
                    self._position = (epoch, b + 1)
                yield batch
        finally:  # finished, or abandoned (break): the next iter() starts the next epoch
            if self._token == token:
                self._position = None

    def _tracked(self, source: Iterator[Any], epoch: int, start: int, token: int) -> Iterator[Any]:
        """Yield the batches of ``source`` after the first ``start`` (skipped without being
        loaded where possible), keeping the loader's position up to date."""
        try:
            for b, make in enumerate(source):
                if b < start:
                    continue
                batch = make()
                if self._token == token:
                    self._position = (epoch, b + 1)
                yield batch
        finally:
            if self._token == token:
                self._position = None

    def _samples(self, epoch: int) -> Iterator[Callable[[], Any]]:
        """One thunk per sample, batching off: from the stream, the sampler or the epoch's
        order."""
        convert = self.collate_fn if self.collate_fn is not None else _convert
        if self._iterable:
            for sample in self.dataset:
                yield lambda s=sample: convert(s)
            return
        if self.sampler is not None:
            indices: Iterable[Any] = self.sampler
        else:
            order = self._order(epoch, len(self.dataset))
            indices = range(len(self.dataset)) if order is None else order
        for i in indices:
            yield lambda i=i: convert(self.dataset[int(i)])

    def _make(self, samples: list[Any]) -> Any:
        return self.collate_fn(samples) if self.collate_fn is not None else _collate(samples)

    def _index_batches(self, epoch: int) -> Iterator[Callable[[], Any]]:
        """One thunk per batch of indices (from the batch sampler, or the epoch's order
        batched)."""
        batches: Iterable[Any] = self.batch_sampler  # type: ignore[assignment]
        if batches is None:
            bs = self.batch_size
            assert bs is not None
            n = len(self.dataset)
            order = self._order(epoch, n)
            stop = n - n % bs if self.drop_last else n
            batches = (
                range(lo, min(lo + bs, stop)) if order is None else order[lo : min(lo + bs, stop)]
                for lo in range(0, stop, bs)
            )
        fast = _fast_source(self.dataset) if self.collate_fn is None else None
        for indices in batches:
            if fast is not None:
                idx = np.asarray(list(indices), dtype=np.int64)
                yield lambda idx=idx: self._gather(fast, idx, 0, idx.shape[0])
            else:
                yield lambda ix=indices: self._make([self.dataset[int(i)] for i in ix])

    def _stream_batches(self) -> Iterator[Callable[[], Any]]:
        """One thunk per batch of an IterableDataset (the samples are read to make the
        batches, so skipped batches are still read)."""
        bs = self.batch_size
        assert bs is not None
        chunk: list[Any] = []
        for sample in self.dataset:
            chunk.append(sample)
            if len(chunk) == bs:
                yield lambda c=chunk: self._make(c)
                chunk = []
        if chunk and not self.drop_last:
            yield lambda c=chunk: self._make(c)

    @staticmethod
    def _gather(
        source: tuple[tuple[np.ndarray, ...], np.ndarray | None],
        order: np.ndarray | None,
        lo: int,
        hi: int,
    ) -> Batch:
        arrays, base = source
        if order is None and base is None:  # a slice: views, copied once in _finish
            return tuple(_finish(a[lo:hi], fresh=False) for a in arrays)
        idx = order[lo:hi] if order is not None else np.arange(lo, hi)
        if base is not None:
            idx = base[idx]
        return tuple(_finish(np.take(a, idx, axis=0), fresh=True) for a in arrays)

    # ---- resuming ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: ``{"epoch", "batch", "seed"}``.

        Inside an epoch, ``batch`` is how many batches of it were handed out so far;
        between epochs it is 0 and ``epoch`` is the next one. Plain ints (JSON- and
        ``cr.save``-friendly).
        """
        if self._position is not None:
            epoch, batch = self._position
        else:
            epoch, batch = self._epoch, self._resume_batch
        return {"epoch": int(epoch), "batch": int(batch), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict`): the next ``iter()`` resumes
        that epoch at that batch, with that epoch's order."""
        try:
            epoch, batch, seed = state["epoch"], state["batch"], state["seed"]
        except (KeyError, TypeError) as exc:
            raise DataError(
                f"DataLoader.load_state_dict: expected a dict with 'epoch', 'batch' and "
                f"'seed', got {state!r:.200}"
            ) from exc
        for name, v in (("epoch", epoch), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise DataError(f"DataLoader.load_state_dict: bad {name} {v!r}")
        if self._has_len() and int(batch) > len(self):
            raise DataError(
                f"DataLoader.load_state_dict: batch {batch} is past the end of an epoch of "
                f"{len(self)} batches (different dataset or batch_size?)"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise DataError(f"DataLoader.load_state_dict: bad seed {seed!r}")
        if self.shuffle and seed is None:
            raise DataError(
                "DataLoader.load_state_dict: the state has no seed but this loader shuffles"
            )
        self.seed = None if seed is None else int(seed)
        self._epoch, self._resume_batch = int(epoch), int(batch)
        self._position = None
        self._token += 1  # iterators started before this no longer report positions

    def _has_len(self) -> bool:
        try:
            len(self)
        except TypeError:
            return False
        return True

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={type(v).__name__}"
            for name, v in (("batch_sampler", self.batch_sampler), ("collate_fn", self.collate_fn))
            if v is not None
        )
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}{extra})"
        )
