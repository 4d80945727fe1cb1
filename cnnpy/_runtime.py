"""Run-time choices of the engine: the instruction set its kernels use (``CNNPY_ISA``) and the
threads they split their work over (``CNNPY_NUM_THREADS``)."""
from __future__ import annotations

import os

import numpy as np

from . import _cnn

__all__ = ["get_isa", "set_isa", "available_isas", "get_num_threads", "set_num_threads"]


def get_isa() -> str:
    """The instruction set the engine's kernels use: 'scalar', 'avx2' or 'avx512'.

    >>> get_isa() in available_isas()
    True
    """
    return _cnn.isa()


def available_isas() -> list:
    """The instruction sets this machine and build can use, 'scalar' first."""
    return _cnn.available_isas()


def set_isa(name: str) -> None:
    """Use the kernels compiled for ``name`` ('scalar', 'avx2', 'avx512'); the best available one
    is the default. Environment: ``CNNPY_ISA`` chooses it at import. Not while other threads run
    cnnpy operations."""
    if not isinstance(name, str):
        raise TypeError(f"set_isa: name must be a string, got {name!r}")
    if name not in ("scalar", "avx2", "avx512"):
        raise ValueError(f"set_isa: unknown instruction set {name!r}; use 'scalar', 'avx2' or "
                         f"'avx512'")
    if name not in available_isas():
        raise ValueError(f"set_isa: {name} is not available on this machine or build")
    _cnn.set_isa(name)


def get_num_threads() -> int:
    """The threads the engine's kernels split a convolution, pooling or GEMM over (default:
    ``CNNPY_NUM_THREADS``, else the CPU count). Results are bitwise identical for any count.

    >>> get_num_threads() >= 1
    True
    """
    return _cnn.num_threads()


def set_num_threads(n: int) -> None:
    """Split the kernels' work over ``n`` threads (1 to 256), like ``torch.set_num_threads``.
    Not while other threads run cnnpy operations."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: n must be an int, got {n!r}")
    if not 1 <= int(n) <= 256:
        raise ValueError(f"set_num_threads: n must be between 1 and 256, got {n}")
    _cnn.set_num_threads(int(n))


_env = os.environ.get("CNNPY_ISA")
if _env:
    try:
        set_isa(_env.strip().lower())
    except ValueError as exc:
        raise ImportError(f"CNNPY_ISA={_env!r} cannot be used: {exc}; this machine offers "
                          f"{available_isas()}") from None
