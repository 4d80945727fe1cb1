"""Run-time choices of the engine: the instruction set its kernels use (``CNNPY_ISA``)."""
from __future__ import annotations

import os

from . import _cnn

__all__ = ["get_isa", "set_isa", "available_isas"]


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
    _cnn.set_isa(name)


_env = os.environ.get("CNNPY_ISA")
if _env:
    try:
        set_isa(_env.strip().lower())
    except ValueError as exc:
        raise ImportError(f"CNNPY_ISA={_env!r} cannot be used: {exc}; this machine offers "
                          f"{available_isas()}") from None
