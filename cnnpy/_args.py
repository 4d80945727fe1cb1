"""Argument checking shared by cnnpy's public functions: every message names the function, the
argument and the value it got."""
from __future__ import annotations

import numbers

import numpy as np

from . import _cnn

PAD_MODES = {
    "zeros": _cnn.PAD_CONSTANT,
    "constant": _cnn.PAD_CONSTANT,
    "reflect": _cnn.PAD_REFLECT,
    "mirror": _cnn.PAD_REFLECT,
    "symmetric": _cnn.PAD_SYMMETRIC,
    "replicate": _cnn.PAD_REPLICATE,
    "edge": _cnn.PAD_REPLICATE,
    "circular": _cnn.PAD_CIRCULAR,
    "wrap": _cnn.PAD_CIRCULAR,
}

REDUCTIONS = {"none": _cnn.REDUCE_NONE, "mean": _cnn.REDUCE_MEAN, "sum": _cnn.REDUCE_SUM}


def as_int(op: str, name: str, value, minimum: int | None = None) -> int:
    """`value` as a Python int (bool and non-integral values refused), at least `minimum`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return value


def as_tuple(op: str, name: str, value, n: int, minimum: int | None = None) -> tuple:
    """An int repeated n times, or a sequence of n ints, as a tuple of ints >= minimum."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if len(items) != n:
            raise ValueError(f"{op}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        return tuple(as_int(op, name, v, minimum) for v in items)
    v = as_int(op, name, value, minimum)
    return (v,) * n


def as_array(op: str, name: str, value) -> np.ndarray:
    """Any array-like of bool, integer or floating values, as an ndarray (no copy when possible)."""
    if value is None:
        raise TypeError(f"{op}: {name} must be an array, got None")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{op}: {name} must be a real numeric array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def real_dtype(*arrays) -> np.dtype:
    """The dtype a call computes in: float32 when the arrays' common type is float32 or smaller
    floating, float64 otherwise (integer and bool inputs compute in float64)."""
    dt = np.result_type(*[a.dtype for a in arrays if a is not None])
    if dt.kind == "f" and dt.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def cast(arr, dtype):
    return None if arr is None else np.asarray(arr, dtype=dtype)


def pad_mode(op: str, name: str, mode) -> int:
    if not isinstance(mode, str) or mode not in PAD_MODES:
        choices = ", ".join(repr(m) for m in PAD_MODES)
        raise ValueError(f"{op}: {name} must be one of {choices}; got {mode!r}")
    return PAD_MODES[mode]


def reduction(op: str, value) -> int:
    if not isinstance(value, str) or value not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {value!r}")
    return REDUCTIONS[value]


def as_float(op: str, name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)
