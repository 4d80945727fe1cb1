"""cnnpy — convolutional networks from NumPy arrays, computed by a small, exact, fast C11 engine.

>>> import numpy as np, cnnpy
>>> import cnnpy.functional as F
>>> F.conv2d(np.eye(3), np.ones((2, 2))).tolist()
[[2.0, 1.0], [1.0, 2.0]]
"""
from . import data, datasets, functional, kernels, models, nn, optim, transforms
from ._random import manual_seed
from ._runtime import available_isas, get_isa, get_num_threads, set_isa, set_num_threads
from .compiled import compile
from .interop import from_torch, to_torch
from .model_summary import receptive_field, summary
from .serialization import load, save
from .shapes import conv_output_size, conv_transpose_output_size, pool_output_size, same_padding
from .training import History, evaluate, train
from ._version import __version__

__all__ = [
    "functional", "nn", "optim", "data", "datasets", "transforms", "models", "kernels",
    "manual_seed", "save", "load", "train", "compile", "evaluate", "History",
    "conv_output_size", "conv_transpose_output_size", "pool_output_size", "same_padding",
    "summary", "receptive_field", "get_isa", "set_isa", "available_isas", "get_num_threads",
    "set_num_threads", "to_torch", "from_torch", "onnx", "__version__",
]


def __getattr__(name):
    """cnnpy.onnx is imported on first use (``import cnnpy`` never needs the onnx package)."""
    if name == "onnx":
        import importlib
        return importlib.import_module(".onnx", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
