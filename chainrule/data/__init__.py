"""Feeding data to a model: datasets, batching and shuffling (``cr.data``).

``Dataset`` is anything with ``__getitem__`` and ``__len__``; ``TensorDataset`` wraps
arrays that share their first dimension; ``DataLoader`` turns a dataset into batches of
chainrule Tensors, reshuffled every epoch from a seed; ``random_split`` cuts a dataset into
``Subset`` views. A loader's ``state_dict()`` records where it is (epoch, batch, seed), so a
resumed run sees exactly the batches an uninterrupted one would have seen.
"""

from chainrule.data.dataset import DataError, Dataset, Subset, TensorDataset, random_split
from chainrule.data.loader import DataLoader

__all__ = ["DataError", "DataLoader", "Dataset", "Subset", "TensorDataset", "random_split"]
