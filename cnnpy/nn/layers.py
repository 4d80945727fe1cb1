"""Layers: PyTorch's names, arguments and default initialisation, with an explicit backward.

Each layer's ``forward`` caches only what its ``backward`` needs (the input, max-pool indices, the
dropout mask); ``backward(grad_output)`` adds parameter gradients into ``Parameter.grad`` and
returns the gradient with respect to the input. Every number is computed by the C engine through
``cnnpy.functional``.

>>> import numpy as np
>>> from cnnpy import nn
>>> conv = nn.Conv2d(1, 6, 3, padding=1)
>>> y = conv(np.zeros((2, 1, 91, 91), np.float32))
>>> y.shape, conv.backward(np.ones_like(y)).shape
((2, 6, 91, 91), (2, 1, 91, 91))
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .._args import as_float, as_int, as_tuple, check_groups, gelu_approximate, pad_mode
from . import init
from .module import Module, Parameter

__all__ = [
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d",
    "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Linear", "Flatten",
    "Unflatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "Dropout", "Dropout2d",
    "Identity", "TiedLinear", "TiedConvTranspose2d",
]


def _dtype(dtype):
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


class _Cached(Module):
    """A module that keeps its last input for backward."""

    def _cache(self, **values):
        object.__setattr__(self, "_saved", values)

    def _saved_values(self):
        saved = self.__dict__.get("_saved")
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return saved


# ---- convolution ----------------------------------------------------------------------------------

class _ConvNd(_Cached):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", mode="xcorr", dtype=None, rng=None):
        super().__init__()
        name = type(self).__name__
        self.in_channels = as_int(name, "in_channels", in_channels, 1)
        self.out_channels = as_int(name, "out_channels", out_channels, 1)
        self.groups = as_int(name, "groups", groups, 1)
        check_groups(name, self.groups, {"in_channels": self.in_channels,
                                         "out_channels": self.out_channels})
        self.kernel_size = as_tuple(name, "kernel_size", kernel_size, self._dims, 1)
        self.stride = as_tuple(name, "stride", stride, self._dims, 1)
        self.dilation = as_tuple(name, "dilation", dilation, self._dims, 1)
        if isinstance(padding, str) and padding not in ("valid", "same", "full"):
            raise ValueError(f"{name}: padding must be an int, a tuple, 'valid', 'same' or 'full', got {padding!r}")
        self.padding = padding
        pad_mode(name, "padding_mode", padding_mode)
        self.padding_mode = padding_mode
        if mode not in ("xcorr", "conv"):
            raise ValueError(f"{name}: mode must be 'xcorr' or 'conv', got {mode!r}")
        self.mode = mode
        dt = _dtype(dtype)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels // self.groups,
                                          *self.kernel_size), dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weights, U(+-1/sqrt(fan_in)) bias."""
        fan_in = init._calculate_fan_in_and_fan_out(self.weight)[0]
        init.default_init_(self.weight, self.bias, fan_in, rng=rng)

    def _args(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, padding_mode=self.padding_mode, mode=self.mode)

    def forward(self, x):
        self._cache(x=x)
        conv = F.conv2d if self._dims == 2 else F.conv1d
        return conv(x, self.weight.data, None if self.bias is None else self.bias.data, **self._args())

    def backward(self, grad_output, input_grad=True):
        """Adds the weight and bias gradients; returns the input's gradient (None, and not
        computed, with ``input_grad=False``)."""
        x = self._saved_values()["x"]
        conv_backward = F.conv2d_backward if self._dims == 2 else F.conv1d_backward
        gx, gw, gb = conv_backward(grad_output, x, self.weight.data,
                                   None if self.bias is None else self.bias.data, **self._args(),
                                   output_mask=(input_grad, True, True))
        self.weight.grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def summary_stats(self, input_shape, output_shape):
        taps = (self.in_channels // self.groups) * math.prod(self.kernel_size)
        return {"mult_adds": math.prod(output_shape) * taps,
                "window": (self.kernel_size, self.stride, self.dilation)}

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}, padding={self.padding!r}")
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        if self.mode != "xcorr":
            s += f", mode={self.mode!r}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution layer: weight (out_channels, in_channels/groups, kH, kW), bias
    (out_channels). ``padding`` takes every form of ``F.conv2d`` ('same' at any stride);
    ``padding_mode`` 'zeros', 'constant', 'reflect', 'symmetric', 'replicate', 'circular';
    ``mode='conv'`` for true convolution. ``rng`` seeds the initialisation.

    >>> from cnnpy import nn
    >>> nn.Conv2d(1, 6, 3, padding=1).weight.shape
    (6, 1, 3, 3)

    PyTorch: ``torch.nn.Conv2d``.
    """

    _dims = 2


class Conv1d(_ConvNd):
    """1-D convolution layer (Conv2d with H = 1): weight (out_channels, in_channels/groups, k).

    >>> from cnnpy import nn
    >>> nn.Conv1d(2, 4, 5).weight.shape
    (4, 2, 5)

    PyTorch: ``torch.nn.Conv1d``.
    """

    _dims = 1


class _ConvTransposeNd(_Cached):
    _dims = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 dtype=None, rng=None):
        super().__init__()
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch), "
                             f"got {padding_mode!r}")
        self.in_channels = as_int(name, "in_channels", in_channels, 1)
        self.out_channels = as_int(name, "out_channels", out_channels, 1)
        self.groups = as_int(name, "groups", groups, 1)
        check_groups(name, self.groups, {"in_channels": self.in_channels,
                                         "out_channels": self.out_channels})
        self.kernel_size = as_tuple(name, "kernel_size", kernel_size, self._dims, 1)
        self.stride = as_tuple(name, "stride", stride, self._dims, 1)
        self.padding = as_tuple(name, "padding", padding, self._dims, 0)
        self.output_padding = as_tuple(name, "output_padding", output_padding, self._dims, 0)
        self.dilation = as_tuple(name, "dilation", dilation, self._dims, 1)
        for o, s, d in zip(self.output_padding, self.stride, self.dilation):
            if o >= s and o >= d:
                raise ValueError(f"{name}: output_padding must be smaller than stride or dilation, "
                                 f"got output_padding={self.output_padding}")
        dt = _dtype(dtype)
        self.weight = Parameter(np.empty((self.in_channels, self.out_channels // self.groups,
                                          *self.kernel_size), dt))
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        """PyTorch's default; fan_in from weight.shape[1] * kernel area, as PyTorch computes it."""
        fan_in = init._calculate_fan_in_and_fan_out(self.weight)[0]
        init.default_init_(self.weight, self.bias, fan_in, rng=rng)

    def _args(self, output_size):
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                    groups=self.groups, dilation=self.dilation, output_size=output_size)

    def _fn(self):
        return (F.conv_transpose2d, F.conv_transpose2d_backward) if self._dims == 2 else \
            (F.conv_transpose1d, F.conv_transpose1d_backward)

    def _weight(self):
        return self.weight

    def forward(self, x, output_size=None):
        self._cache(x=x, output_size=output_size)
        bias = None if self.bias is None else self.bias.data
        return self._fn()[0](x, self._weight().data, bias, **self._args(output_size))

    def backward(self, grad_output, input_grad=True):
        """Adds the weight and bias gradients; returns the input's gradient (None, and not
        computed, with ``input_grad=False``)."""
        saved = self._saved_values()
        bias = None if self.bias is None else self.bias.data
        gx, gw, gb = self._fn()[1](grad_output, saved["x"], self._weight().data, bias,
                                   **self._args(saved["output_size"]),
                                   output_mask=(input_grad, True, True))
        self._weight().grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def summary_stats(self, input_shape, output_shape):
        taps = (self.out_channels // self.groups) * math.prod(self.kernel_size)
        return {"mult_adds": math.prod(input_shape) * taps, "transposed": True,
                "window": (self.kernel_size, self.stride, self.dilation)}

    def extra_repr(self):
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if any(self.padding):
            s += f", padding={self.padding}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self._dims:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transpose convolution layer: weight (in_channels, out_channels/groups, kH, kW). Output
    size ``(H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``; ``forward(x,
    output_size=...)`` picks output_padding.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.ConvTranspose2d(4, 6, 3, stride=2)(np.zeros((1, 4, 22, 22), np.float32)).shape
    (1, 6, 45, 45)

    PyTorch: ``torch.nn.ConvTranspose2d``.
    """

    _dims = 2


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transpose convolution layer: weight (in_channels, out_channels/groups, k).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.ConvTranspose1d(2, 3, 3, stride=2)(np.zeros((1, 2, 5), np.float32)).shape
    (1, 3, 11)

    PyTorch: ``torch.nn.ConvTranspose1d``.
    """

    _dims = 1


class TiedConvTranspose2d(_ConvTransposeNd):
    """A transpose convolution that uses (shares, not copies) the weight of a ``Conv2d``: it maps
    the conv's output channels back to its input channels, and its gradients add into the conv's
    weight gradient. It has its own bias (conv.in_channels) unless ``bias=False``. The shared weight
    is listed once by ``parameters()``.

    >>> from cnnpy import nn
    >>> enc = nn.Conv2d(1, 4, 3, stride=2)
    >>> dec = nn.TiedConvTranspose2d(enc, stride=2)
    >>> dec.weight is enc.weight, len(nn.Sequential(enc, dec).parameters())
    (True, 3)
    """

    _dims = 2

    def __init__(self, conv2d, stride=1, padding=0, output_padding=0, bias=True, rng=None):
        if not isinstance(conv2d, Conv2d):
            raise TypeError(f"TiedConvTranspose2d: expected a Conv2d to share weights with, got "
                            f"{type(conv2d).__name__}")
        Module.__init__(self)
        name = "TiedConvTranspose2d"
        object.__setattr__(self, "_conv", conv2d)  # not a child: its parameters stay its own
        self.in_channels, self.out_channels = conv2d.out_channels, conv2d.in_channels
        self.groups, self.kernel_size, self.dilation = conv2d.groups, conv2d.kernel_size, conv2d.dilation
        self.stride = as_tuple(name, "stride", stride, 2, 1)
        self.padding = as_tuple(name, "padding", padding, 2, 0)
        self.output_padding = as_tuple(name, "output_padding", output_padding, 2, 0)
        for o, s, d in zip(self.output_padding, self.stride, self.dilation):
            if o >= s and o >= d:
                raise ValueError(f"{name}: output_padding must be smaller than stride or dilation, "
                                 f"got output_padding={self.output_padding}")
        dt = conv2d.weight.dtype
        self.bias = Parameter(np.empty(self.out_channels, dt)) if bias else None
        if self.bias is not None:  # PyTorch's ConvTranspose bias bound: weight.shape[1] * kernel area
            fan_in = init._calculate_fan_in_and_fan_out(conv2d.weight)[0]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound, rng=rng)

    @property
    def weight(self):
        return self._conv.weight

    def _weight(self):
        return self._conv.weight

    def reset_parameters(self, rng=None):
        raise TypeError("TiedConvTranspose2d shares its weight; reset the Conv2d instead")


# ---- pooling --------------------------------------------------------------------------------------

class _MaxPoolNd(_Cached):
    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = as_tuple(name, "kernel_size", kernel_size, self._dims, 1)
        self.stride = self.kernel_size if stride is None else as_tuple(name, "stride", stride, self._dims, 1)
        self.padding = as_tuple(name, "padding", padding, self._dims, 0)
        self.dilation = as_tuple(name, "dilation", dilation, self._dims, 1)
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def _args(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    dilation=self.dilation, ceil_mode=self.ceil_mode)

    def forward(self, x):
        pool = F.max_pool2d if self._dims == 2 else F.max_pool1d
        y, idx = pool(x, return_indices=True, **self._args())
        self._cache(x=x, indices=idx)
        return (y, idx) if self.return_indices else y

    def backward(self, grad_output):
        saved = self._saved_values()
        back = F.max_pool2d_backward if self._dims == 2 else F.max_pool1d_backward
        return back(grad_output, saved["x"], indices=saved["indices"], **self._args())

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": 0, "window": (self.kernel_size, self.stride, self.dilation)}

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                + (f", dilation={self.dilation}" if self.dilation != (1,) * self._dims else "")
                + (", ceil_mode=True" if self.ceil_mode else ""))


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling (stride defaults to kernel_size; ceil_mode as PyTorch; NaN propagates).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.MaxPool2d(2)(np.arange(16.).reshape(1, 1, 4, 4)).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]

    PyTorch: ``torch.nn.MaxPool2d``.
    """

    _dims = 2


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.MaxPool1d(2)(np.array([[[1., 3, 2, 4]]])).tolist()
    [[[3.0, 4.0]]]

    PyTorch: ``torch.nn.MaxPool1d``.
    """

    _dims = 1


class _AvgPoolNd(_Cached):
    _dims = 2

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = as_tuple(name, "kernel_size", kernel_size, self._dims, 1)
        self.stride = self.kernel_size if stride is None else as_tuple(name, "stride", stride, self._dims, 1)
        self.padding = as_tuple(name, "padding", padding, self._dims, 0)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override
        if self._dims == 1 and divisor_override is not None:
            raise TypeError("AvgPool1d: divisor_override is not an argument of 1-D average pooling")

    def _args(self):
        args = dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    ceil_mode=self.ceil_mode, count_include_pad=self.count_include_pad)
        if self._dims == 2:
            args["divisor_override"] = self.divisor_override
        return args

    def forward(self, x):
        self._cache(x=x)
        return (F.avg_pool2d if self._dims == 2 else F.avg_pool1d)(x, **self._args())

    def backward(self, grad_output):
        back = F.avg_pool2d_backward if self._dims == 2 else F.avg_pool1d_backward
        return back(grad_output, self._saved_values()["x"], **self._args())

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": 0, "window": (self.kernel_size, self.stride, (1,) * self._dims)}

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling (count_include_pad, ceil_mode and divisor_override as PyTorch).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.AvgPool2d(2)(np.arange(16.).reshape(1, 1, 4, 4)).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]

    PyTorch: ``torch.nn.AvgPool2d``.
    """

    _dims = 2


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.AvgPool1d(2)(np.array([[[1., 3, 2, 4]]])).tolist()
    [[[2.0, 3.0]]]

    PyTorch: ``torch.nn.AvgPool1d``.
    """

    _dims = 1


def _adaptive_window(output_size, input_shape):
    """The window an adaptive pooling of input_shape (N, C, ...) to output_size slides: kernel
    ceil(n / out), stride max(n // out, 1), per spatial dim (None keeps a dim)."""
    sizes = input_shape[2:]
    out = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * len(sizes)
    k = tuple(-(-n // (o or n)) for n, o in zip(sizes, out))
    s = tuple(max(n // (o or n), 1) for n, o in zip(sizes, out))
    return k, s, (1,) * len(k)


class AdaptiveAvgPool2d(_Cached):
    """Average pooling to a fixed output size (int or (oH, oW); None keeps a dim).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.AdaptiveAvgPool2d(1)(np.ones((2, 3, 7, 5))).shape
    (2, 3, 1, 1)

    PyTorch: ``torch.nn.AdaptiveAvgPool2d``.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        self._cache(x=x)
        return F.adaptive_avg_pool2d(x, self.output_size)

    def backward(self, grad_output):
        return F.adaptive_avg_pool2d_backward(grad_output, self._saved_values()["x"], self.output_size)

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": 0, "window": _adaptive_window(self.output_size, input_shape)}

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_Cached):
    """Max pooling to a fixed output size.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.AdaptiveMaxPool2d((2, 2))(np.arange(16.).reshape(1, 1, 4, 4)).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]

    PyTorch: ``torch.nn.AdaptiveMaxPool2d``.
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = bool(return_indices)

    def forward(self, x):
        y, idx = F.adaptive_max_pool2d(x, self.output_size, return_indices=True)
        self._cache(x=x, indices=idx)
        return (y, idx) if self.return_indices else y

    def backward(self, grad_output):
        saved = self._saved_values()
        return F.adaptive_max_pool2d_backward(grad_output, saved["x"], self.output_size,
                                              indices=saved["indices"])

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": 0, "window": _adaptive_window(self.output_size, input_shape)}

    def extra_repr(self):
        return f"output_size={self.output_size}"


# ---- dense ----------------------------------------------------------------------------------------

class Linear(_Cached):
    """``y = x @ weight.T + bias`` with weight (out_features, in_features).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.Linear(1936, 50)(np.zeros((32, 1936), np.float32)).shape
    (32, 50)

    PyTorch: ``torch.nn.Linear``.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=None, rng=None):
        super().__init__()
        self.in_features = as_int("Linear", "in_features", in_features, 0)
        self.out_features = as_int("Linear", "out_features", out_features, 0)
        dt = _dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        self.bias = Parameter(np.empty(self.out_features, dt)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        init.default_init_(self.weight, self.bias, self.in_features, rng=rng)

    def forward(self, x):
        self._cache(x=x)
        return F.linear(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, grad_output, input_grad=True):
        """Adds the weight and bias gradients; returns the input's gradient (None, and not
        computed, with ``input_grad=False``)."""
        gx, gw, gb = F.linear_backward(grad_output, self._saved_values()["x"], self.weight.data,
                                       None if self.bias is None else self.bias.data,
                                       output_mask=(input_grad, True, True))
        self.weight.grad += gw
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": math.prod(output_shape) * self.in_features, "window": None}

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class TiedLinear(_Cached):
    """The transpose of a ``Linear``, sharing (not copying) its weight: maps out_features back to
    in_features with ``y = x @ linear.weight + bias``. Gradients from both uses add into the one
    weight, which ``parameters()`` lists once. Own bias (in_features) unless ``bias=False``.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> enc = nn.Linear(784, 50)
    >>> dec = nn.TiedLinear(enc)
    >>> dec(np.zeros((2, 50), np.float32)).shape, dec.weight is enc.weight
    ((2, 784), True)
    """

    def __init__(self, linear, bias=True, rng=None):
        super().__init__()
        if not isinstance(linear, Linear):
            raise TypeError(f"TiedLinear: expected a Linear to share weights with, got {type(linear).__name__}")
        object.__setattr__(self, "_linear", linear)  # not a child: its parameters stay its own
        self.in_features, self.out_features = linear.out_features, linear.in_features
        self.bias = Parameter(np.empty(self.out_features, linear.weight.dtype)) if bias else None
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound, rng=rng)

    @property
    def weight(self):
        return self._linear.weight

    def forward(self, x):
        self._cache(x=x)
        return F.linear(x, self.weight.data.T, None if self.bias is None else self.bias.data)

    def backward(self, grad_output, input_grad=True):
        gx, gwt, gb = F.linear_backward(grad_output, self._saved_values()["x"], self.weight.data.T,
                                        None if self.bias is None else self.bias.data,
                                        output_mask=(input_grad, True, True))
        self.weight.grad += gwt.T
        if self.bias is not None:
            self.bias.grad += gb
        return gx

    def summary_stats(self, input_shape, output_shape):
        return {"mult_adds": math.prod(output_shape) * self.in_features, "window": None}

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, tied"


# ---- shape ----------------------------------------------------------------------------------------

class Flatten(_Cached):
    """Flatten dims start_dim..end_dim into one (default: all but the batch dim).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.Flatten()(np.zeros((32, 4, 22, 22))).shape
    (32, 1936)

    PyTorch: ``torch.nn.Flatten``.
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = as_int("Flatten", "start_dim", start_dim)
        self.end_dim = as_int("Flatten", "end_dim", end_dim)

    def forward(self, x):
        x = np.asarray(x)
        self._cache(shape=x.shape)
        nd = x.ndim
        s, e = self.start_dim % max(nd, 1), self.end_dim % max(nd, 1)
        if s > e:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim {self.end_dim} "
                             f"for an input of shape {x.shape}")
        return x.reshape(*x.shape[:s], int(np.prod(x.shape[s:e + 1])), *x.shape[e + 1:])

    def backward(self, grad_output):
        return np.asarray(grad_output).reshape(self._saved_values()["shape"])


class Unflatten(_Cached):
    """Expand dim ``dim`` into ``unflattened_size``.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.Unflatten(1, (1, 28, 28))(np.zeros((2, 784))).shape
    (2, 1, 28, 28)

    PyTorch: ``torch.nn.Unflatten``.
    """

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim = as_int("Unflatten", "dim", dim)
        self.unflattened_size = tuple(as_int("Unflatten", "unflattened_size", s, 0) for s in unflattened_size)

    def forward(self, x):
        x = np.asarray(x)
        self._cache(shape=x.shape)
        d = self.dim % x.ndim
        if int(np.prod(self.unflattened_size)) != x.shape[d]:
            raise ValueError(f"Unflatten: unflattened_size {self.unflattened_size} does not multiply "
                             f"to dim {self.dim} of size {x.shape[d]}")
        return x.reshape(*x.shape[:d], *self.unflattened_size, *x.shape[d + 1:])

    def backward(self, grad_output):
        return np.asarray(grad_output).reshape(self._saved_values()["shape"])


class Identity(Module):
    """Returns its input.

    PyTorch: ``torch.nn.Identity``."""

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


# ---- activations ----------------------------------------------------------------------------------

class ReLU(_Cached):
    """max(x, 0).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.ReLU()(np.array([-1., 2.])).tolist()
    [0.0, 2.0]

    PyTorch: ``torch.nn.ReLU``."""

    def forward(self, x):
        self._cache(x=x)
        return F.relu(x)

    def backward(self, grad_output):
        return F.relu_backward(grad_output, self._saved_values()["x"])


class LeakyReLU(_Cached):
    """x where positive, negative_slope * x elsewhere.

    PyTorch: ``torch.nn.LeakyReLU``."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = as_float("LeakyReLU", "negative_slope", negative_slope)

    def forward(self, x):
        self._cache(x=x)
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, grad_output):
        return F.leaky_relu_backward(grad_output, self._saved_values()["x"], self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(_Cached):
    """1 / (1 + exp(-x)).

    PyTorch: ``torch.nn.Sigmoid``."""

    def forward(self, x):
        self._cache(x=x)
        return F.sigmoid(x)

    def backward(self, grad_output):
        return F.sigmoid_backward(grad_output, self._saved_values()["x"])


class Tanh(_Cached):
    """Hyperbolic tangent.

    PyTorch: ``torch.nn.Tanh``."""

    def forward(self, x):
        self._cache(x=x)
        return F.tanh(x)

    def backward(self, grad_output):
        return F.tanh_backward(grad_output, self._saved_values()["x"])


class GELU(_Cached):
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` takes the tanh form (see
    ``cnnpy.functional.gelu``). An unknown ``approximate`` is refused here, when the layer is built.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.GELU()(np.array([0., 1.])).round(4).tolist()
    [0.0, 0.8413]

    PyTorch: ``torch.nn.GELU``."""

    def __init__(self, approximate="none"):
        super().__init__()
        gelu_approximate("GELU", approximate)
        self.approximate = approximate

    def forward(self, x):
        self._cache(x=x)
        return F.gelu(x, self.approximate)

    def backward(self, grad_output):
        return F.gelu_backward(grad_output, self._saved_values()["x"], self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(_Cached):
    """Softmax along ``dim`` (default the last).

    PyTorch: ``torch.nn.Softmax``."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = as_int("Softmax", "dim", dim)

    def forward(self, x):
        self._cache(x=x)
        return F.softmax(x, self.dim)

    def backward(self, grad_output):
        return F.softmax_backward(grad_output, self._saved_values()["x"], self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class _DropoutBase(_Cached):
    def __init__(self, p=0.5, rng=None):
        super().__init__()
        name = type(self).__name__
        self.p = as_float(name, "p", p)
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"{name}: p must be a probability in [0, 1], got {self.p}")
        object.__setattr__(self, "_rng", rng)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout(_DropoutBase):
    """Inverted dropout in training mode (zero with probability p, scale the rest by 1/(1-p)),
    the identity after ``eval()``. Masks come from ``rng`` (a seed or Generator, drawn anew each
    call) or cnnpy's generator (``cnnpy.manual_seed``).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> d = nn.Dropout(0.5).eval()
    >>> d(np.ones(3)).tolist()
    [1.0, 1.0, 1.0]

    PyTorch: ``torch.nn.Dropout``.
    """

    _fn = staticmethod(F.dropout)
    _back = staticmethod(F.dropout_backward)

    def __init__(self, p=0.5, rng=None):
        super().__init__(p, rng)
        if isinstance(rng, (int, np.integer)):  # a seed starts one generator, not the same mask each call
            object.__setattr__(self, "_rng", np.random.default_rng(int(rng)))

    def forward(self, x):
        y, mask = self._fn(x, self.p, self.training, self._rng, return_mask=True)
        self._cache(x=x, mask=mask, training=self.training)
        return y

    def backward(self, grad_output):
        saved = self._saved_values()
        return self._back(grad_output, saved["x"], self.p, saved["training"], mask=saved["mask"])


class Dropout2d(Dropout):
    """Channel dropout: whole channels of (N, C, H, W) zeroed with probability p in training.

    PyTorch: ``torch.nn.Dropout2d``.
    """

    _fn = staticmethod(F.dropout2d)
    _back = staticmethod(F.dropout2d_backward)
