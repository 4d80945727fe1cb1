"""The classic hand-made filters, as float arrays ready for ``F.conv2d`` (which cross-correlates, as
CNNs do: ``out[i, j] = sum K[a, b] * x[i + a - r, j + b - r]``). Before learning, these are what a
convolution kernel is: edge detectors, smoothers, a Laplacian. Every function takes ``dtype``
(float64 unless told).

>>> import numpy as np
>>> import cnnpy.functional as F
>>> from cnnpy import kernels
>>> I = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, float)
>>> F.conv2d(I, kernels.edge()).tolist()            # the lecture's worked example
[[0.0, 0.0, 0.0], [-1.0, -2.0, -2.0], [1.0, 2.0, 2.0]]
"""
from __future__ import annotations

import math

import numpy as np

from ._args import as_float, as_int, as_tuple

__all__ = ["edge", "sobel", "prewitt", "laplacian", "box", "gaussian2d"]


def _float_dtype(op: str, dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{op}: dtype must be float32 or float64, got {dt}")
    return dt


def _axis(op: str, axis) -> int:
    axis = as_int(op, "axis", axis)
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"{op}: axis must be 0 (rows) or 1 (columns), got {axis}")
    return axis % 2


def edge(orientation: str = "horizontal", dtype=np.float64) -> np.ndarray:
    """The lecture's edge detector: ``[[1, 1, 1], [-1, -1, -1], [0, 0, 0]]`` for ``"horizontal"``
    (it answers where a bright row lies above a dark one), its transpose for ``"vertical"``.

    >>> edge().tolist()
    [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]]
    >>> edge("vertical").tolist()
    [[1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, -1.0, 0.0]]
    """
    op = "edge"
    k = np.array([[1, 1, 1], [-1, -1, -1], [0, 0, 0]], dtype=_float_dtype(op, dtype))
    if orientation == "horizontal":
        return k
    if orientation == "vertical":
        return np.ascontiguousarray(k.T)
    raise ValueError(f"{op}: orientation must be 'horizontal' or 'vertical', got {orientation!r}")


def _derivative(op: str, smooth, axis, dtype) -> np.ndarray:
    """Central difference [-1, 0, 1] along ``axis`` times ``smooth`` along the other axis."""
    k = np.outer([-1, 0, 1], smooth).astype(_float_dtype(op, dtype))
    return k if _axis(op, axis) == 0 else np.ascontiguousarray(k.T)


def sobel(axis: int = 0, dtype=np.float64) -> np.ndarray:
    """The Sobel derivative along ``axis``: the difference ``[-1, 0, 1]`` along it, smoothed by
    ``[1, 2, 1]`` across it. ``axis=0`` differentiates down the rows (it finds horizontal edges),
    ``axis=1`` along the columns (vertical edges). Cross-correlating with it (``F.conv2d``) gives
    ``scipy.ndimage.sobel(x, axis)``.

    >>> sobel(0).tolist()
    [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]
    >>> sobel(1).tolist()
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    """
    return _derivative("sobel", [1, 2, 1], axis, dtype)


def prewitt(axis: int = 0, dtype=np.float64) -> np.ndarray:
    """The Prewitt derivative along ``axis``: ``[-1, 0, 1]`` along it, ``[1, 1, 1]`` across it
    (``scipy.ndimage.prewitt(x, axis)`` when cross-correlated).

    >>> prewitt(1).tolist()
    [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    """
    return _derivative("prewitt", [1, 1, 1], axis, dtype)


def laplacian(neighbours: int = 4, dtype=np.float64) -> np.ndarray:
    """The discrete Laplacian, centre negative: ``neighbours=4`` gives
    ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]`` (``scipy.ndimage.laplace``), ``neighbours=8`` the
    variant that adds the diagonals, ``[[1, 1, 1], [1, -8, 1], [1, 1, 1]]``. Both sum to 0.

    >>> laplacian().tolist()
    [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
    >>> float(laplacian(8)[1, 1])
    -8.0
    """
    op = "laplacian"
    neighbours = as_int(op, "neighbours", neighbours)
    dt = _float_dtype(op, dtype)
    if neighbours == 4:
        return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=dt)
    if neighbours == 8:
        return np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], dtype=dt)
    raise ValueError(f"{op}: neighbours must be 4 or 8, got {neighbours}")


def box(size=3, dtype=np.float64) -> np.ndarray:
    """The mean filter: ``size`` x ``size`` (or an (h, w) pair) of ``1 / (h * w)``, summing to 1.

    >>> box(2).tolist()
    [[0.25, 0.25], [0.25, 0.25]]
    >>> box((1, 4)).shape
    (1, 4)
    """
    op = "box"
    h, w = as_tuple(op, "size", size, 2, 1)
    return np.full((h, w), 1.0 / (h * w), dtype=_float_dtype(op, dtype))


def gaussian2d(size=5, sigma=1.0, normalize: bool = True, dtype=np.float64) -> np.ndarray:
    """The lecture's 2-D Gaussian ``G(x, y) = 1 / (2 pi sigma^2) * exp(-(x^2 + y^2) / (2 sigma^2))``
    sampled at pixel offsets from the centre (``x = i - (size - 1) / 2``, so an even size is
    centred between pixels), then divided by its sum so the kernel sums to 1 and smoothing keeps
    the mean brightness. ``normalize=False`` returns the sampled formula itself (it sums to a
    little less than 1 when the kernel is cut short). ``size`` is an int or an (h, w) pair.

    With ``size = 2 * round(truncate * sigma) + 1`` it is the kernel of
    ``scipy.ndimage.gaussian_filter(x, sigma, truncate=truncate)``.

    >>> k = gaussian2d(3, 1.0)
    >>> round(float(k.sum()), 12), k.shape, bool(k[1, 1] == k.max())
    (1.0, (3, 3), True)
    >>> round(float(gaussian2d(1, 2.0, normalize=False)[0, 0]), 6)   # 1 / (2 pi 2^2)
    0.039789
    """
    op = "gaussian2d"
    h, w = as_tuple(op, "size", size, 2, 1)
    sigma = as_float(op, "sigma", sigma)
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"{op}: sigma must be a positive number, got {sigma}")
    dt = _float_dtype(op, dtype)
    y = np.arange(h) - (h - 1) / 2
    x = np.arange(w) - (w - 1) / 2
    r2 = y[:, None] ** 2 + x[None, :] ** 2
    if normalize:  # the prefactor cancels; measuring from the nearest offset keeps tiny sigmas finite
        g = np.exp(-((r2 - r2.min()) / sigma / sigma) / 2)
        return (g / g.sum()).astype(dt)
    return (np.exp(-r2 / (2 * sigma ** 2)) / (2 * math.pi * sigma ** 2)).astype(dt)
