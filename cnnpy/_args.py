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

GELU_APPROXIMATIONS = {"none": _cnn.ACT_GELU, "tanh": _cnn.ACT_GELU_TANH}


INT64_MAX = 2**63 - 1


def _scalar(value):
    """A 0-d NumPy array is its item (so np.array(2) works where 2 does)."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def as_int(op: str, name: str, value, minimum: int | None = None) -> int:
    """`value` as a Python int (bool and non-integral values refused), at least `minimum`, and
    within int64 (OverflowError beyond)."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    value = int(value)
    if not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise OverflowError(f"{op}: {name}={value} does not fit in int64")
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value}")
    return value


def check_groups(op: str, groups: int, channels: dict) -> None:
    """Refuse channel counts that ``groups`` does not divide. ``channels`` maps how the message
    names each count (an argument such as ``"in_channels"``, or ``"out channels"`` read from a
    weight's shape) to the count. The one owner of this rule: layers check it when they are built
    (as PyTorch's do), cnnpy.functional on every call; the engine only refuses a descriptor that
    breaks it."""
    for name, n in channels.items():
        if n % groups:
            raise ValueError(f"{op}: {name} {n} must be divisible by groups={groups}")


def as_tuple(op: str, name: str, value, n: int, minimum: int | None = None) -> tuple:
    """An int repeated n times, or a sequence of n ints, as a tuple of ints >= minimum."""
    value = _scalar(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if len(items) != n:
            raise ValueError(f"{op}: {name} must be an int or a sequence of {n} ints, got {value!r}")
        return tuple(as_int(op, name, v, minimum) for v in items)
    v = as_int(op, name, value, minimum)
    return (v,) * n


def out_len(op: str, what: str, fn, *args) -> int:
    """An engine output-size function, with its overflow reported in the caller's words."""
    try:
        return fn(*args)
    except OverflowError:
        raise OverflowError(f"{op}: {what} overflows int64") from None


def check_numel(op: str, what: str, shape, dtype) -> None:
    """Refuse an array of `shape` whose element or byte count does not fit in int64."""
    n = 1
    for d in shape:
        n *= int(d)
    if n * np.dtype(dtype).itemsize > INT64_MAX:
        raise OverflowError(f"{op}: {what} of shape {tuple(int(d) for d in shape)} is too large "
                            f"(its size overflows int64)")


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
    if not isinstance(mode, str):
        raise TypeError(f"{op}: {name} must be a string, got {mode!r}")
    if mode not in PAD_MODES:
        choices = ", ".join(repr(m) for m in PAD_MODES)
        raise ValueError(f"{op}: {name} must be one of {choices}; got {mode!r}")
    return PAD_MODES[mode]


def reduction(op: str, value) -> int:
    if not isinstance(value, str):
        raise TypeError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {value!r}")
    if value not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {value!r}")
    return REDUCTIONS[value]


def gelu_approximate(op: str, value) -> int:
    """The engine's activation kind of GELU's ``approximate`` ('none' or 'tanh', as PyTorch)."""
    if not isinstance(value, str):
        raise TypeError(f"{op}: approximate must be 'none' or 'tanh', got {value!r}")
    if value not in GELU_APPROXIMATIONS:
        raise ValueError(f"{op}: approximate must be 'none' or 'tanh', got {value!r}")
    return GELU_APPROXIMATIONS[value]


def as_float(op: str, name: str, value) -> float:
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    return float(value)
