"""Feeding data to a model: datasets, samplers, batching and shuffling (``cr.data``).

``Dataset`` is anything with ``__getitem__`` and ``__len__``; ``TensorDataset`` wraps
arrays that share their first dimension; ``DataLoader`` turns a dataset into batches of
chainrule Tensors, reshuffled every epoch from a seed; ``random_split`` cuts a dataset into
``Subset`` views. A loader's ``state_dict()`` records where it is (epoch, batch, seed), so a
resumed run sees exactly the batches an uninterrupted one would have seen.

As in ``torch.utils.data``: samplers (``SequentialSampler``, ``RandomSampler``,
``SubsetRandomSampler``, ``WeightedRandomSampler``, ``BatchSampler``) choose the indices a
loader reads (``DataLoader(..., sampler=..., batch_sampler=..., collate_fn=...)``);
``IterableDataset`` is a stream of samples; ``ConcatDataset``, ``ChainDataset`` and
``StackDataset`` combine datasets; ``default_collate`` merges samples into a batch.
"""

from chainrule.data.dataset import (
    ChainDataset,
    ConcatDataset,
    DataError,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from chainrule.data.loader import DataLoader
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataError",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "random_split",
]
