"""The lecture's datasets, nothing downloaded: synthetic Gaussian images (every generator takes a
``seed``: an int, a ``numpy.random.Generator``, or None for cnnpy's generator, see
``cnnpy.manual_seed``), MNIST-format IDX files already on disk, and scikit-learn's bundled digits.

>>> from cnnpy import datasets
>>> images, labels = datasets.gaussians(n_per_class=4, seed=0)
>>> images.shape, labels.shape, images.dtype
((8, 1, 91, 91), (8, 1), dtype('float32'))
"""
from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from ._args import as_float, as_int
from ._random import get_rng

__all__ = ["gaussians", "gaussian_params", "occluded_gaussians", "load_mnist", "load_digits"]


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


# ---- the regression practice --------------------------------------------------------------------

def gaussian_params(n=1000, size=91, noise=0.1, widths=(5, 15), centre_scale=2.0, seed=None):
    """The "find the Gaussian's parameters" data: ``n`` 2-D Gaussians on ``linspace(-4, 4, size)``
    with centre ``centre_scale * N(0, 1)`` per axis and width ``U(widths[0], widths[1])`` used as
    ``exp(-((X-cx)^2 + (Y-cy)^2) / width)`` (no factor 2: the course's recipe), plus N(0, 1)*noise
    (the lecture's N(0,1)/10). Returns float32 images (n, 1, size, size) and targets (n, 3) =
    (cx, cy, width); cx runs along the columns (X), cy along the rows (Y).

    Draws, in this order, from one generator: the centres (n, 2), the widths (n,), the noise.

    >>> x, t = gaussian_params(n=4, seed=0)
    >>> x.shape, t.shape, x.dtype
    ((4, 1, 91, 91), (4, 3), dtype('float32'))
    >>> bool(((t[:, 2] >= 5) & (t[:, 2] <= 15)).all())
    True
    """
    op = "gaussian_params"
    n = as_int(op, "n", n, 0)
    size = as_int(op, "size", size, 2)
    noise = as_float(op, "noise", noise)
    lo, hi = _pair(op, "widths", widths)
    if not 0 < lo <= hi:
        raise ValueError(f"{op}: widths must be a pair 0 < low <= high, got {tuple(widths)!r}")
    centre_scale = as_float(op, "centre_scale", centre_scale)
    rng = get_rng(seed, op)
    X, Y = _grid(size)
    centres = centre_scale * rng.standard_normal((n, 2))
    width = rng.uniform(lo, hi, n)
    r2 = (X[None] - centres[:, 0, None, None]) ** 2 + (Y[None] - centres[:, 1, None, None]) ** 2
    images = np.exp(-r2 / width[:, None, None]) + rng.standard_normal((n, size, size)) * noise
    targets = np.column_stack([centres, width])
    return images[:, None].astype(np.float32), targets.astype(np.float32)


# ---- the autoencoder practices ------------------------------------------------------------------

def occluded_gaussians(n=1000, size=91, widths=(2, 20), centre_scale=1.5, noise=0.2, bar_range=None,
                       seed=None, occlude=True, bar_thickness=(2, 5), return_bars=False):
    """The data of the Gaussian autoencoder practices, as ``(inputs, targets)`` float32 arrays of
    shape (n, 1, size, size).

    Each image is a 2-D Gaussian on ``linspace(-4, 4, size)``: width ``linspace(widths[0],
    widths[1], n)[i]`` for image i (in that order, as the course does) used as
    ``exp(-((X-cx)^2 + (Y-cy)^2) / width)``, centre ``centre_scale * N(0, 1)`` per axis, plus
    N(0, 1)*noise (the lecture's N(0,1)/5). Then one noise-free bar of 1s is written over it: a
    horizontal bar (rows ``start:start+thickness``) or a vertical one (those columns) with
    probability 1/2 each, ``start`` uniform on the inclusive range ``bar_range`` and ``thickness``
    uniform on the inclusive range ``bar_thickness`` (2..5 px; a bar reaching past the edge is cut
    there).

    - ``occlude=True`` (the occlusion-removal practice): inputs carry the bar, targets are the same
      images without it (noise included); default ``bar_range=(10, size - 11)``, i.e. 10..80 at
      size 91 (the course's ``np.arange(10, imgSize-10)``).
    - ``occlude=False`` (the Gaussian-autoencoder practice, where the bar is part of the data and
      the loss is MSE(output, input)): inputs and targets are equal (two separate arrays); default
      ``bar_range=(2, 27)`` (the course's ``np.arange(2, 28)``, independent of size).

    With ``return_bars=True`` a third array (n, 3) int64 holds each bar as (axis, start,
    thickness): axis 0 for rows (a horizontal bar), 1 for columns.

    Draws, in this order, from one generator: the centres (n, 2), the noise (n, size, size), the
    bar axes, starts and thicknesses (n each).

    >>> x, clean = occluded_gaussians(n=8, seed=0)
    >>> x.shape, clean.shape, bool((x != clean).any())
    ((8, 1, 91, 91), (8, 1, 91, 91), True)
    >>> x, same = occluded_gaussians(n=8, seed=0, occlude=False)
    >>> bool((x == same).all())
    True
    """
    op = "occluded_gaussians"
    n = as_int(op, "n", n, 0)
    size = as_int(op, "size", size, 2)
    w0, w1 = _pair(op, "widths", widths)
    if w0 <= 0 or w1 <= 0:
        raise ValueError(f"{op}: widths must be positive, got {tuple(widths)!r}")
    centre_scale = as_float(op, "centre_scale", centre_scale)
    noise = as_float(op, "noise", noise)
    if bar_range is None:
        bar_range = (10, size - 11) if occlude else (2, 27)
    b0, b1 = (as_int(op, "bar_range", b) for b in _pair(op, "bar_range", bar_range, float_ok=False))
    if not 0 <= b0 <= b1 <= size - 1:
        raise ValueError(f"{op}: bar_range must be an inclusive range of rows/columns 0 <= first <= "
                         f"last <= size-1 = {size - 1}, got {(b0, b1)}")
    t0, t1 = (as_int(op, "bar_thickness", t) for t in _pair(op, "bar_thickness", bar_thickness, float_ok=False))
    if not 1 <= t0 <= t1:
        raise ValueError(f"{op}: bar_thickness must be an inclusive range 1 <= min <= max, got {(t0, t1)}")
    rng = get_rng(seed, op)
    X, Y = _grid(size)
    width = np.linspace(w0, w1, n)
    centres = centre_scale * rng.standard_normal((n, 2))
    r2 = (X[None] - centres[:, 0, None, None]) ** 2 + (Y[None] - centres[:, 1, None, None]) ** 2
    clean = np.exp(-r2 / width[:, None, None]) + rng.standard_normal((n, size, size)) * noise
    bars = np.column_stack([(rng.standard_normal(n) <= 0).astype(np.int64),   # course: randn() > 0 -> rows
                            rng.integers(b0, b1 + 1, n), rng.integers(t0, t1 + 1, n)])
    barred = clean.copy()
    for img, (axis, start, thick) in zip(barred, bars):
        if axis == 0:
            img[start:start + thick, :] = 1.0
        else:
            img[:, start:start + thick] = 1.0
    inputs = barred[:, None].astype(np.float32)
    targets = (clean if occlude else barred)[:, None].astype(np.float32)
    return (inputs, targets, bars) if return_bars else (inputs, targets)


def _pair(op, name, value, float_ok=True):
    """A sequence of exactly two numbers (float_ok=False leaves them for as_int to check)."""
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be a pair of numbers, got {value!r}") from None
    if len(items) != 2:
        raise ValueError(f"{op}: {name} must be a pair of numbers, got {value!r}")
    return tuple(as_float(op, name, v) for v in items) if float_ok else tuple(items)


# ---- MNIST (IDX files) ----------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8}


def _read_idx(op: str, path: str, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes with ``ndim`` dimensions (plain or gzip) as a uint8 array."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{op}: {path} is not a complete gzip file ({exc})") from None
    expected = 0x0800 + ndim
    if len(raw) < 4:
        raise ValueError(f"{op}: {path} is truncated: {len(raw)} bytes, shorter than the 4-byte "
                         f"IDX magic number")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected:
        raise ValueError(f"{op}: {path} has bad magic number 0x{magic:08x}; expected 0x{expected:08x} "
                         f"(an IDX file of unsigned bytes with {ndim} dimension{'s' * (ndim > 1)})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{op}: {path} is truncated: {len(raw)} bytes, shorter than its "
                         f"{header}-byte header")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    count = math.prod(dims)
    have = len(raw) - header
    if have < count:
        raise ValueError(f"{op}: {path} is truncated: the header gives shape {dims} "
                         f"({count} bytes of data), the file holds {have}")
    if have > count:
        raise ValueError(f"{op}: {path} has {have - count} bytes after the data of shape {dims}")
    return np.frombuffer(raw, np.uint8, count, header).reshape(dims)


def _find_idx(op: str, folder: str, prefixes, what: str, ndim: int) -> str:
    tried = []
    for prefix in prefixes:
        for sep in ("-", "."):
            for ext in ("", ".gz"):
                p = os.path.join(folder, f"{prefix}-{what}{sep}idx{ndim}-ubyte{ext}")
                if os.path.isfile(p):
                    return p
                tried.append(os.path.basename(p))
    raise FileNotFoundError(f"{op}: no {what} file in {folder!r} (looked for {', '.join(tried)})")


def load_mnist(path, kind="train"):
    """Read MNIST-format IDX files (MNIST, Fashion-MNIST, ...) from the folder ``path``: images
    ``{kind}-images-idx3-ubyte`` and labels ``{kind}-labels-idx1-ubyte``, each plain or ``.gz``
    (the ``{kind}-images.idx3-ubyte`` spelling is found too). ``kind`` is ``"train"``, ``"t10k"``
    (alias ``"test"``) or any other file prefix. Nothing is downloaded.

    Returns images float32 (N, 1, rows, cols) scaled to [0, 1] (``/255``; 28x28 for MNIST) and
    labels int64 (N,). A missing folder or file raises FileNotFoundError naming what was looked
    for; a bad magic number, a truncated or over-long file, a broken gzip stream or image and label
    counts that differ raise ValueError naming the file.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:       # one 2x2 image, one label
    ...     with open(os.path.join(d, "train-images-idx3-ubyte"), "wb") as f:
    ...         _ = f.write(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 51, 102]))
    ...     with open(os.path.join(d, "train-labels-idx1-ubyte"), "wb") as f:
    ...         _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7]))
    ...     x, y = load_mnist(d)
    >>> x.shape, (x * 255).round().tolist(), y.tolist(), x.dtype, y.dtype
    ((1, 1, 2, 2), [[[[0.0, 255.0], [51.0, 102.0]]]], [7], dtype('float32'), dtype('int64'))
    """
    op = "load_mnist"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{op}: path must be a folder name, got {path!r}")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"{op}: kind must be 'train', 't10k'/'test' or a file prefix, got {kind!r}")
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{op}: {folder!r} is not a folder (pass the folder holding the "
                                f"IDX files)")
    prefixes = [kind] + (["t10k"] if kind == "test" else [])
    images = _read_idx(op, _find_idx(op, folder, prefixes, "images", 3), 3)
    labels_path = _find_idx(op, folder, prefixes, "labels", 1)
    labels = _read_idx(op, labels_path, 1)
    if len(labels) != len(images):
        raise ValueError(f"{op}: {labels_path} holds {len(labels)} labels for {len(images)} images")
    x = (images.astype(np.float32) / np.float32(255))[:, None]
    return x, labels.astype(np.int64)


# ---- scikit-learn's digits ------------------------------------------------------------------------

def load_digits(size=28):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, nothing downloaded), embedded
    in ``size`` x ``size`` images as the lecture does: values ``/16`` (so in [0, 1]), each pixel a
    ``b x b`` block with ``b = size // 8``, then zero padding of ``size - 8b`` pixels, half before
    (rounded down) and the rest after. At the default size 28: 3x3 blocks and 2 zero pixels on
    every side (8*3 + 2*2 = 28). Returns images float32 (1797, 1, size, size) and labels int64
    (1797,). Deterministic (nothing random); needs scikit-learn (``pip install scikit-learn`` or
    ``pip install cnnpy[digits]``).

    >>> x, y = load_digits()
    >>> x.shape, y.shape, float(x.max())
    ((1797, 1, 28, 28), (1797,), 1.0)
    """
    op = "load_digits"
    size = as_int(op, "size", size, 8)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:
        raise ImportError(f"{op} needs scikit-learn, which is not installed ({exc}); install it "
                          f"with `pip install scikit-learn` or `pip install cnnpy[digits]`") from None
    bunch = sk_load_digits()
    b = size // 8
    before = (size - 8 * b) // 2
    after = size - 8 * b - before
    small = np.asarray(bunch.images, dtype=np.float64) / 16.0                 # (1797, 8, 8)
    big = np.repeat(np.repeat(small, b, axis=1), b, axis=2)
    big = np.pad(big, ((0, 0), (before, after), (before, after)))
    return big[:, None].astype(np.float32), np.asarray(bunch.target, dtype=np.int64)
