"""Synthetic datasets of the lecture (no downloads). Every generator takes a ``seed``.

>>> from cnnpy import datasets
>>> images, labels = datasets.gaussians(n_per_class=4, seed=0)
>>> images.shape, labels.shape, images.dtype
((8, 1, 91, 91), (8, 1), dtype('float32'))
"""
from __future__ import annotations

import numpy as np

from ._args import as_float, as_int
from ._random import get_rng

__all__ = ["gaussians"]


def _grid(size: int):
    x = np.linspace(-4, 4, size)
    return np.meshgrid(x, x)


def gaussians(n_per_class=1000, size=91, widths=(1.8, 2.4), noise=0.2, seed=None):
    """The GausNet data: 2-D Gaussians of two widths on ``linspace(-4, 4, size)``, centred at
    2*N(0, 1) per axis, ``exp(-((X-cx)^2 + (Y-cy)^2) / (2 sigma^2))`` plus N(0, 1)*noise (the
    lecture's N(0,1)/5), returned as float32 images (N, 1, size, size) and labels (N, 1): label k
    for ``widths[k]``, classes interleaved (0, 1, 0, 1, ...) as in the course.

    >>> import numpy as np
    >>> x, y = gaussians(n_per_class=50, seed=1)
    >>> int(y.sum()), x.shape[2:]
    (50, (91, 91))
    """
    op = "gaussians"
    n = as_int(op, "n_per_class", n_per_class, 0)
    size = as_int(op, "size", size, 2)
    widths = [as_float(op, "widths", w) for w in widths]
    if not widths or any(w <= 0 for w in widths):
        raise ValueError(f"{op}: widths must be positive, got {widths}")
    noise = as_float(op, "noise", noise)
    rng = get_rng(seed, op)
    X, Y = _grid(size)
    total = n * len(widths)
    labels = np.arange(total) % len(widths)
    sigma = np.asarray(widths)[labels][:, None, None]
    centres = 2 * rng.standard_normal((total, 2))
    r2 = (X[None] - centres[:, 0, None, None]) ** 2 + (Y[None] - centres[:, 1, None, None]) ** 2
    images = np.exp(-r2 / (2 * sigma ** 2)) + rng.standard_normal((total, size, size)) * noise
    return images[:, None].astype(np.float32), labels[:, None].astype(np.float32)
