"""cnnpy.nn.init: PyTorch's ``torch.nn.init``, filling a ``Parameter`` (its ``.data``) or a
floating-point NumPy array IN PLACE and returning it.

The formulas are PyTorch's (``bound = gain * sqrt(3 / fan)`` and so on). Every random initializer
takes one extra keyword, ``rng``: an int seed, a ``numpy.random.Generator``, or None for cnnpy's own
generator (reset by ``cnnpy.manual_seed``); NumPy's global random state is never touched. Values
are drawn in float64 and then cast to the array's dtype, so a float32 and a float64 array filled
from the same seed hold the same numbers up to rounding. An array with no elements is left as it is.

>>> import numpy as np
>>> from cnnpy.nn import init
>>> w = np.empty((8, 3, 3, 3), dtype=np.float32)             # a Conv2d(3, 8, 3) weight
>>> init._calculate_fan_in_and_fan_out(w)
(27, 72)
>>> init.kaiming_uniform_(w, nonlinearity="relu", rng=0) is w  # bound = sqrt(2) * sqrt(3 / 27)
True
>>> bool(np.abs(w).max() <= np.float32(np.sqrt(6 / 27))), w.dtype
(True, dtype('float32'))

PyTorch: ``torch.nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g)``.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple, Union

import numpy as np

from .._random import get_rng
from .module import Parameter

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "default_init_",
]

Tensor = Union[Parameter, np.ndarray]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d",
               "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid")
_NONLINEARITIES = _LINEAR_FNS + ("tanh", "relu", "leaky_relu", "selu")


# ---- argument checks -----------------------------------------------------------------------------

def _target(op: str, tensor, name: str = "tensor") -> np.ndarray:
    """The array to fill: a Parameter's ``.data`` or the array itself (floating, writeable)."""
    arr = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: {name} must be a Parameter or a floating-point numpy array, "
                        f"got {type(tensor).__name__}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must hold floating-point values to be filled in place, "
                        f"got dtype {arr.dtype}")
    if not arr.flags.writeable:
        raise ValueError(f"{op}: {name} must be writeable, got a read-only array")
    return arr


def _gain(op: str, gain) -> float:
    gain = _real(op, "gain", gain)
    if gain < 0:
        raise ValueError(f"{op}: gain must be >= 0, got {gain}")
    return gain


def _real(op: str, name: str, value, finite: bool = True) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    return value


def _shape(op: str, tensor) -> tuple:
    if isinstance(tensor, Parameter):
        return tuple(tensor.data.shape)
    if isinstance(tensor, np.ndarray):
        return tuple(tensor.shape)
    raise TypeError(f"{op}: tensor must be a Parameter or a numpy array, got {type(tensor).__name__}")


def _fill(tensor, arr: np.ndarray, values) -> Tensor:
    np.copyto(arr, values, casting="unsafe")
    return tensor


# ---- gains and fans ------------------------------------------------------------------------------

def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended gain for a nonlinearity (a ``torch.nn.functional`` name): 1 for
    ``"linear"``, the convolutions and ``"sigmoid"``; 5/3 for ``"tanh"``; sqrt(2) for ``"relu"``;
    sqrt(2 / (1 + slope**2)) for ``"leaky_relu"`` (``param`` is the slope, default 0.01);
    3/4 for ``"selu"``.

    >>> from cnnpy.nn import init
    >>> init.calculate_gain("tanh"), init.calculate_gain("leaky_relu", 1)
    (1.6666666666666667, 1.0)

    PyTorch: ``torch.nn.init.calculate_gain("tanh")``.
    """
    return _calculate_gain("calculate_gain", nonlinearity, param)


def _calculate_gain(op: str, nonlinearity, param) -> float:
    if not isinstance(nonlinearity, str):
        raise TypeError(f"{op}: nonlinearity must be a string, got {nonlinearity!r}")
    if nonlinearity not in _NONLINEARITIES:
        choices = ", ".join(repr(n) for n in _NONLINEARITIES)
        raise ValueError(f"{op}: nonlinearity must be one of {choices}; got {nonlinearity!r}")
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    slope = 0.01 if param is None else _real(op, "param (the negative slope)", param)
    return math.sqrt(2.0 / (1 + slope ** 2))


def _calculate_fan_in_and_fan_out(tensor) -> Tuple[int, int]:
    """(fan_in, fan_out) of a weight: ``shape[1] * receptive field`` and ``shape[0] * receptive
    field``, where the receptive field is the product of ``shape[2:]``. That is (in, out) for a
    Linear ``(out, in)`` and a Conv ``(C_out, C_in/groups, k...)`` weight, and — PyTorch's rule,
    kept as is — ``(C_out/groups * k, C_in * k)`` for a ConvTranspose ``(C_in, C_out/groups, k...)``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init._calculate_fan_in_and_fan_out(np.empty((4, 10)))          # Linear(10, 4)
    (10, 4)

    PyTorch: ``torch.nn.init._calculate_fan_in_and_fan_out(w)``.
    """
    return _fans("_calculate_fan_in_and_fan_out", tensor)


def _fans(op: str, tensor) -> Tuple[int, int]:
    shape = _shape(op, tensor)
    if len(shape) < 2:
        raise ValueError(f"{op}: tensor must have at least 2 dimensions (fan_in and fan_out need "
                         f"them), got shape {shape}")
    receptive_field = math.prod(int(s) for s in shape[2:])
    return int(shape[1]) * receptive_field, int(shape[0]) * receptive_field


def _correct_fan(op: str, tensor, mode) -> int:
    if not isinstance(mode, str):
        raise TypeError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    if mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(op, tensor)
    return fan_in if mode.lower() == "fan_in" else fan_out


# ---- plain distributions -------------------------------------------------------------------------

def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill with values drawn from U(a, b).

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> w = init.uniform_(np.empty(1000), -0.5, 0.5, rng=0)
    >>> bool(w.min() >= -0.5 and w.max() < 0.5)
    True

    PyTorch: ``torch.nn.init.uniform_(w, -0.5, 0.5)``.
    """
    op = "uniform_"
    arr = _target(op, tensor)
    a, b = _real(op, "a", a), _real(op, "b", b)
    if a > b:
        raise ValueError(f"{op}: a must be <= b, got a={a}, b={b}")
    gen = get_rng(rng, op)
    return _fill(tensor, arr, gen.uniform(a, b, size=arr.shape)) if arr.size else tensor


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill with values drawn from N(mean, std**2).

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.normal_(np.empty((2, 3), dtype=np.float32), std=0.01, rng=0).dtype
    dtype('float32')

    PyTorch: ``torch.nn.init.normal_(w, std=0.01)``.
    """
    op = "normal_"
    arr = _target(op, tensor)
    mean, std = _real(op, "mean", mean), _real(op, "std", std)
    if std < 0:
        raise ValueError(f"{op}: std must be >= 0, got {std}")
    gen = get_rng(rng, op)
    return _fill(tensor, arr, gen.normal(mean, std, size=arr.shape)) if arr.size else tensor


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.constant_(np.empty(3), 0.5).tolist()
    [0.5, 0.5, 0.5]

    PyTorch: ``torch.nn.init.constant_(w, 0.5)``.
    """
    arr = _target("constant_", tensor)
    return _fill(tensor, arr, _real("constant_", "val", val, finite=False))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.zeros_(np.ones(2)).tolist()
    [0.0, 0.0]

    PyTorch: ``torch.nn.init.zeros_(w)``.
    """
    return _fill(tensor, _target("zeros_", tensor), 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.ones_(np.zeros(2)).tolist()
    [1.0, 1.0]

    PyTorch: ``torch.nn.init.ones_(w)``.
    """
    return _fill(tensor, _target("ones_", tensor), 1.0)


# ---- Xavier (Glorot) and Kaiming (He) ------------------------------------------------------------

def xavier_uniform_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> w = init.xavier_uniform_(np.empty((20, 30)), rng=0)        # a = sqrt(6 / 50)
    >>> bool(np.abs(w).max() < np.sqrt(6 / 50))
    True

    PyTorch: ``torch.nn.init.xavier_uniform_(w)``.
    """
    op = "xavier_uniform_"
    arr = _target(op, tensor)
    gain = _gain(op, gain)
    fan_in, fan_out = _fans(op, arr)
    gen = get_rng(rng, op)
    if arr.size == 0:
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return _fill(tensor, arr, gen.uniform(-bound, bound, size=arr.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.xavier_normal_(np.empty((20, 30)), rng=0).shape
    (20, 30)

    PyTorch: ``torch.nn.init.xavier_normal_(w)``.
    """
    op = "xavier_normal_"
    arr = _target(op, tensor)
    gain = _gain(op, gain)
    fan_in, fan_out = _fans(op, arr)
    gen = get_rng(rng, op)
    if arr.size == 0:
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _fill(tensor, arr, gen.normal(0.0, std, size=arr.shape))


def _kaiming_std(op: str, arr: np.ndarray, a, mode, nonlinearity) -> float:
    a = _real(op, "a", a)
    fan = _correct_fan(op, arr, mode)
    gain = _calculate_gain(op, nonlinearity, a)
    return gain / math.sqrt(fan) if fan else 0.0


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng=None) -> Tensor:
    """He et al. (2015): U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``, where ``fan`` is
    fan_in or fan_out (``mode``) and ``gain = calculate_gain(nonlinearity, a)`` (``a`` is the
    leaky ReLU's negative slope, used only with ``"leaky_relu"``).

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> w = init.kaiming_uniform_(np.empty((10, 6)), nonlinearity="relu", rng=0)
    >>> bool(np.abs(w).max() < 1.0)                                 # bound = sqrt(2) * sqrt(3 / 6)
    True

    PyTorch: ``torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")``.
    """
    op = "kaiming_uniform_"
    arr = _target(op, tensor)
    std = _kaiming_std(op, arr, a, mode, nonlinearity)
    gen = get_rng(rng, op)
    if arr.size == 0:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill(tensor, arr, gen.uniform(-bound, bound, size=arr.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng=None) -> Tensor:
    """He et al. (2015): N(0, std**2) with ``std = gain / sqrt(fan)``; arguments as in
    ``kaiming_uniform_``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> init.kaiming_normal_(np.empty((16, 3, 5, 5)), mode="fan_out", nonlinearity="relu").shape
    (16, 3, 5, 5)

    PyTorch: ``torch.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")``.
    """
    op = "kaiming_normal_"
    arr = _target(op, tensor)
    std = _kaiming_std(op, arr, a, mode, nonlinearity)
    gen = get_rng(rng, op)
    if arr.size == 0:
        return tensor
    return _fill(tensor, arr, gen.normal(0.0, std, size=arr.shape))


# ---- the layers' default -------------------------------------------------------------------------

def default_init_(weight: Tensor, bias: Optional[Tensor], fan_in: int, rng=None):
    """PyTorch's default initialisation of Linear, Conv and ConvTranspose layers:
    ``kaiming_uniform_(weight, a=sqrt(5))`` — U(-1/sqrt(fan), 1/sqrt(fan)) with the weight's own
    fan_in — then, unless ``bias`` is None, bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (zeros when
    ``fan_in`` is 0). The caller passes ``fan_in = _calculate_fan_in_and_fan_out(weight)[0]``, which
    is ``C_out/groups * k`` for a ConvTranspose weight, as in PyTorch. Weight and bias are drawn one
    after the other from one generator, so an int seed gives a reproducible pair. Returns
    ``(weight, bias)``.

    >>> import numpy as np
    >>> from cnnpy.nn import init
    >>> w, b = np.empty((4, 9)), np.empty(4)                       # Linear(9, 4)
    >>> _ = init.default_init_(w, b, fan_in=9, rng=0)
    >>> bool(np.abs(w).max() < 1 / 3 and np.abs(b).max() < 1 / 3)
    True

    PyTorch: ``torch.nn.Linear.reset_parameters()`` / ``torch.nn.Conv2d.reset_parameters()``.
    """
    op = "default_init_"
    if isinstance(fan_in, (bool, np.bool_)) or not isinstance(fan_in, numbers.Integral):
        raise TypeError(f"{op}: fan_in must be an int, got {fan_in!r}")
    if fan_in < 0:
        raise ValueError(f"{op}: fan_in must be >= 0, got {fan_in}")
    _target(op, weight, "weight")
    if bias is not None:
        _target(op, bias, "bias")
    gen = get_rng(rng, op)
    kaiming_uniform_(weight, a=math.sqrt(5), rng=gen)
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, rng=gen)
    return weight, bias
