"""Padding as a gather: which input element each padded position copies (cnnpy.interop and
cnnpy.onnx express cnnpy's padding modes with index arrays where PyTorch or ONNX lack them)."""
from __future__ import annotations

import numpy as np

from . import _cnn
from .functional import pad

_MODE_NAME = {_cnn.PAD_REFLECT: "reflect", _cnn.PAD_SYMMETRIC: "symmetric",
              _cnn.PAD_REPLICATE: "replicate", _cnn.PAD_CIRCULAR: "circular"}


def pad_index(n: int, before: int, after: int, code: int) -> np.ndarray:
    """Indices into 0..n-1 of cnnpy's padding of a length-n axis in mode `code` (an engine
    constant: reflect, symmetric, replicate, circular; any width cnnpy accepts), computed by the
    engine's own ``F.pad`` of the positions."""
    return pad(np.arange(n, dtype=np.float64), (before, after), mode=_MODE_NAME[code]).astype(np.int64)
