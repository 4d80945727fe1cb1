"""Random number generators for cnnpy: one library-level numpy Generator that
`cnnpy.manual_seed` resets, and the rule by which every random choice takes a seed or Generator.
Nothing here touches NumPy's global random state."""
from __future__ import annotations

import numbers

import numpy as np

_default = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Make cnnpy's random choices (dropout masks, initialisation, shuffling) reproducible.

    >>> import cnnpy
    >>> cnnpy.manual_seed(0)

    PyTorch: ``torch.manual_seed(0)``.
    """
    global _default
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed: seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _default = np.random.default_rng(int(seed))


def get_rng(rng=None, op: str = "rng") -> np.random.Generator:
    """The Generator to draw from: `rng` itself, a new one seeded by an int `rng`, or cnnpy's
    library generator when `rng` is None."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"{op}: rng seed must be a non-negative int, got {rng}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"{op}: rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")
