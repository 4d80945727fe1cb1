"""Datasets and batching: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split`` and
``DataLoader``, with PyTorch's names. Every random choice takes a seed.

>>> import numpy as np
>>> from cnnpy import data
>>> ds = data.TensorDataset(np.arange(10.).reshape(5, 2), np.arange(5))
>>> loader = data.DataLoader(ds, batch_size=2)
>>> [x.shape for x, y in loader]
[(2, 2), (2, 2), (1, 2)]
"""
from __future__ import annotations

import numbers

import numpy as np

from ._random import get_rng

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate"]


class Dataset:
    """A sized collection of samples: subclasses implement ``__len__`` and ``__getitem__(i)``
    (returning one sample, usually a tuple such as (image, label)).

    PyTorch: ``torch.utils.data.Dataset``.
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")


class TensorDataset(Dataset):
    """Samples taken along the first axis of equally long arrays; ``transform`` (if given) is
    applied to the first array's sample on every access, so random augmentation draws anew each
    pass and ``len`` is unchanged.

    >>> import numpy as np
    >>> from cnnpy.data import TensorDataset
    >>> ds = TensorDataset(np.zeros((3, 1, 4, 4)), np.array([0, 1, 0]))
    >>> len(ds), int(ds[1][1])
    (3, 1)

    PyTorch: ``torch.utils.data.TensorDataset`` (plus ``transform``).
    """

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = len(self.arrays[0]) if self.arrays[0].ndim else None
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != n:
                raise ValueError(f"TensorDataset: array {i} has shape {a.shape}; every array needs "
                                 f"the same first dimension ({n})")
        if transform is not None and not callable(transform):
            raise TypeError(f"TensorDataset: transform must be callable, got {transform!r}")
        self.transform = transform

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        items = [a[index] for a in self.arrays]
        if self.transform is not None:
            items[0] = self.transform(items[0])
        return tuple(items)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``.

    An int index gives one sample; a slice or an index array passes the matching indices of
    ``dataset`` on (TensorDataset takes them and returns whole arrays).

    PyTorch: ``torch.utils.data.Subset``."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, numbers.Integral):
            return self.dataset[int(self.indices[index])]
        return self.dataset[self.indices[index]]  # a slice or index array: the dataset's indices


def random_split(dataset, lengths, seed=None):
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (ints summing to
    ``len(dataset)``, or fractions summing to 1, remainders going round-robin as in PyTorch).

    >>> from cnnpy.data import TensorDataset, random_split
    >>> import numpy as np
    >>> train, test = random_split(TensorDataset(np.arange(10)), [0.9, 0.1], seed=0)
    >>> len(train), len(test)
    (9, 1)

    PyTorch: ``torch.utils.data.random_split`` (a seed instead of a generator).
    """
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(v, float) for v in lengths) and abs(sum(lengths) - 1) < 1e-9:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(not isinstance(v, numbers.Integral) or v < 0 for v in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: lengths must be non-negative ints summing to the dataset's "
                         f"length {n} (or fractions summing to 1), got {lengths}")
    order = get_rng(seed, "random_split").permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length]))
        start += length
    return out


def default_collate(samples):
    """Stack a list of samples (tuples of arrays or numbers) into a tuple of batch arrays."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(np.stack([np.asarray(s[i]) for s in samples]) for i in range(len(first)))
    return np.stack([np.asarray(s) for s in samples])


def _indexable(dataset):
    """(arrays, rows) when every batch of ``dataset`` is arrays[rows[idx]] (rows None: idx itself):
    a TensorDataset without a transform, or Subsets of one; else (None, None)."""
    rows = None
    while isinstance(dataset, Subset):
        rows = dataset.indices if rows is None else dataset.indices[rows]
        dataset = dataset.dataset
    if type(dataset) is TensorDataset and dataset.transform is None:
        return dataset.arrays, rows
    return None, None


class DataLoader:
    """Batches of a dataset: ``for x, y in DataLoader(ds, batch_size=32, shuffle=True, seed=0)``.
    With ``shuffle``, each pass draws a new order from a generator seeded once by ``seed`` (or
    cnnpy's generator), so a seeded loader repeats the same sequence of epochs. ``drop_last``
    drops a final incomplete batch. TensorDatasets without a transform, and Subsets of them (as
    ``random_split`` makes), are batched by indexing, without a Python loop per sample.

    PyTorch: ``torch.utils.data.DataLoader`` (single process; a seed instead of a generator).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 collate_fn=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn or default_collate
        self._rng = np.random.default_rng(get_rng(seed, "DataLoader").integers(2**63)) if shuffle else None

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        arrays, index_map = _indexable(self.dataset) if self.collate_fn is default_collate else (None, None)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                break
            if arrays is not None:
                rows = idx if index_map is None else index_map[idx]
                yield tuple(a[rows] for a in arrays)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in idx])
