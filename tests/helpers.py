"""Helpers shared by the test files: tolerances per dtype, seeded generators, finite-difference
gradient checks and the optional PyTorch import."""
import zlib

import numpy as np

try:
    import torch
except ImportError:  # the reference tests skip cleanly without it
    torch = None

DTYPES = [np.float32, np.float64]


def tol(dtype):
    """(rtol, atol) for comparing a result of `dtype` with a float64 reference."""
    return (1e-4, 1e-5) if np.dtype(dtype) == np.float32 else (1e-10, 1e-11)


def assert_close(actual, expected, dtype=np.float64, scale=1.0, **kw):
    rtol, atol = tol(dtype)
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64),
                               rtol=rtol, atol=atol * scale, **kw)


def rng_for(*key):
    """A generator seeded from the test's own parameters (independent of PYTHONHASHSEED)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def numeric_grad(f, x, eps=1e-6, max_entries=None, rng=None):
    """Central differences of the scalar function f at x (float64). With max_entries, only that
    many randomly chosen entries are differentiated; the rest are NaN (skipped by check_grad)."""
    x = np.array(x, dtype=np.float64)
    g = np.full(x.shape, np.nan)
    idx = list(np.ndindex(x.shape))
    if max_entries is not None and len(idx) > max_entries:
        rng = rng or np.random.default_rng(0)
        idx = [idx[i] for i in rng.choice(len(idx), max_entries, replace=False)]
    for i in idx:
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def check_grad(analytic, numeric, rtol=1e-6, atol=1e-7):
    analytic = np.asarray(analytic, dtype=np.float64)
    mask = ~np.isnan(numeric)
    assert analytic.shape == numeric.shape
    assert mask.any()
    np.testing.assert_allclose(analytic[mask], numeric[mask], rtol=rtol, atol=atol)


def distinct(shape, rng, spacing=0.05):
    """Values all at least `spacing` apart (no ties: max pooling stays differentiable)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2).reshape(shape) + rng.uniform(0, spacing / 10, shape)


def away_from_zero(shape, rng, margin=0.1):
    """Random values with |v| >= margin (no ReLU kinks)."""
    v = rng.uniform(margin, 2, shape)
    return v * rng.choice([-1.0, 1.0], shape)


def read_only(a):
    """A read-only copy of a."""
    a = a.copy()
    a.flags.writeable = False
    return a
