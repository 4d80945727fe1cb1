"""Networks to and from PyTorch: ``to_torch(model)`` builds the equivalent ``torch.nn.Sequential``
with the same weights, ``from_torch(torch_model)`` the cnnpy network of a PyTorch one, layer for
layer. Train here, continue in PyTorch (or the other way round).

Names, weights and ``state_dict`` keys are kept: ``to_torch(model).state_dict()`` holds the
values of ``model.state_dict()`` under the same keys. Weights are copied, never shared between
the two networks; the training/eval mode of every layer is kept. PyTorch is never needed to
import cnnpy: it is imported when these functions are called.

What PyTorch has no layer for is converted exactly by a small ``torch.nn.Conv1d``/``Conv2d``
subclass, ``CnnpyConv1d``/``CnnpyConv2d`` (same weights and keys), that pads explicitly before
convolving: asymmetric padding, 'same' at stride > 1 (computed from the input size, as here),
padding_mode 'symmetric', and ``mode="conv"`` (the kernel flipped in forward, the stored weight
unflipped). Tied layers become ``CnnpyTiedLinear`` and ``CnnpyTiedConvTranspose2d``, which use the
weight of the layer they are tied to (trained from both uses, stored once). ``from_torch`` reads
all of these back, and a ConvTranspose2d whose weight *is* a Conv2d's Parameter (PyTorch's way of
tying) as an ``nn.TiedConvTranspose2d``.

Each layer type converts by one function in ``_TO_TORCH`` and one in ``_from_torch_table``;
adding a layer is one entry in each.

>>> import numpy as np, cnnpy
>>> from cnnpy import models
>>> net = models.GausNet(rng=0)
>>> tnet = cnnpy.to_torch(net)  # doctest: +SKIP
>>> import torch  # doctest: +SKIP
>>> x = np.ones((1, 1, 91, 91), np.float32)
>>> np.allclose(tnet(torch.from_numpy(x)).detach().numpy(), net(x), atol=1e-5)  # doctest: +SKIP
True
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from . import _cnn, nn
from ._args import PAD_MODES
from ._padding import pad_index
from .shapes import conv_padding

if TYPE_CHECKING:
    import torch

__all__ = ["to_torch", "from_torch"]

_TORCH_MODES = {_cnn.PAD_REFLECT: "reflect", _cnn.PAD_REPLICATE: "replicate",
                _cnn.PAD_CIRCULAR: "circular"}


def _torch(op):
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"cnnpy.{op} needs PyTorch (pip install torch); cnnpy itself never "
                          f"does") from exc
    return torch


@functools.lru_cache(maxsize=None)
def _torch_classes():
    """The torch.nn modules cnnpy layers need beyond PyTorch's own, made once torch is imported."""
    torch = _torch("to_torch")
    F = torch.nn.functional

    class _ExplicitPadding:
        """Padding of any cnnpy form and mode, applied before a convolution with padding 0;
        ``mode='conv'`` flips the kernel at each call (the stored weight stays cnnpy's)."""

        def _setup(self, padding, padding_mode, mode):
            self.cnnpy_padding, self.cnnpy_padding_mode, self.cnnpy_mode = padding, padding_mode, mode

        def _padded(self, x):
            dims = len(self.kernel_size)
            sizes = tuple(x.shape[-dims:])
            pads = conv_padding(type(self).__name__, self.cnnpy_padding, dims, sizes,
                                 self.kernel_size, self.stride, self.dilation)[-dims:]
            code = PAD_MODES[self.cnnpy_padding_mode]
            if code == _cnn.PAD_CONSTANT:
                flat = [v for b, a in reversed(pads) for v in (b, a)]  # last dim first
                return F.pad(x, flat) if any(flat) else x
            for axis, (n, (b, a)) in enumerate(zip(sizes, pads), start=x.dim() - dims):
                if b or a:
                    index = torch.from_numpy(pad_index(n, b, a, code)).to(x.device)
                    x = x.index_select(axis, index)
            return x

        def _kernel(self):
            if self.cnnpy_mode == "conv":
                return self.weight.flip(tuple(range(2, self.weight.dim())))
            return self.weight

        def extra_repr(self):
            return (super().extra_repr() + f", cnnpy_padding={self.cnnpy_padding!r}, "
                    f"cnnpy_padding_mode={self.cnnpy_padding_mode!r}, cnnpy_mode={self.cnnpy_mode!r}")

    class CnnpyConv2d(_ExplicitPadding, torch.nn.Conv2d):
        """torch.nn.Conv2d with cnnpy's padding forms and modes and mode='conv'."""

        def forward(self, x):
            return F.conv2d(self._padded(x), self._kernel(), self.bias, self.stride, 0,
                            self.dilation, self.groups)

    class CnnpyConv1d(_ExplicitPadding, torch.nn.Conv1d):
        """torch.nn.Conv1d with cnnpy's padding forms and modes and mode='conv'."""

        def forward(self, x):
            return F.conv1d(self._padded(x), self._kernel(), self.bias, self.stride, 0,
                            self.dilation, self.groups)

    class CnnpyTiedLinear(torch.nn.Module):
        """``x @ linear.weight + bias``: the transpose of a torch Linear, using (not copying) its
        weight, which is not registered here (state_dict keys as cnnpy's nn.TiedLinear)."""

        def __init__(self, linear, bias):
            super().__init__()
            object.__setattr__(self, "linear", linear)
            self.bias = bias

        def forward(self, x):
            return F.linear(x, self.linear.weight.t(), self.bias)

        def extra_repr(self):
            return f"in_features={self.linear.out_features}, out_features={self.linear.in_features}, tied"

    class CnnpyTiedConvTranspose2d(torch.nn.Module):
        """The transpose convolution of a torch Conv2d's weight (used, not copied; not registered
        here), with its own bias: cnnpy's nn.TiedConvTranspose2d."""

        def __init__(self, conv, stride, padding, output_padding, bias):
            super().__init__()
            object.__setattr__(self, "conv", conv)
            self.stride, self.padding, self.output_padding = stride, padding, output_padding
            self.bias = bias

        def forward(self, x):
            c = self.conv
            return F.conv_transpose2d(x, c.weight, self.bias, self.stride, self.padding,
                                      self.output_padding, c.groups, c.dilation)

        def extra_repr(self):
            return (f"stride={self.stride}, padding={self.padding}, "
                    f"output_padding={self.output_padding}, tied")

    for cls in (CnnpyConv2d, CnnpyConv1d, CnnpyTiedLinear, CnnpyTiedConvTranspose2d):
        cls.__module__ = __name__
    return {c.__name__: c for c in (CnnpyConv1d, CnnpyConv2d, CnnpyTiedLinear, CnnpyTiedConvTranspose2d)}


def __getattr__(name):  # the torch classes, by name, once torch is there
    if name.startswith("Cnnpy"):
        classes = _torch_classes()
        if name in classes:
            return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- the walk shared by both directions ------------------------------------------------------------

class _Walk:
    """One conversion: the converted module of every module seen so far (for tied layers), by id."""

    def __init__(self, op, table, torch):
        self.op, self.table, self.torch = op, table, torch
        self.done = {}
        self.weights = {}  # id of a torch conv weight -> the cnnpy Conv2d made from it

    def convert(self, module, name):
        """The converted module (name: its dotted path, '' for the model itself); a module used
        twice is converted once and used twice."""
        if id(module) in self.done:
            return self.done[id(module)]
        fn, kind = None, type(module).__name__
        for cls in type(module).__mro__:
            if cls in self.table:
                if type(module).forward is not cls.forward:
                    raise TypeError(f"cnnpy.{self.op}: layer {name or kind!r} ({kind}) overrides forward() "
                                    f"of {cls.__name__}; only the built-in computation can be converted")
                fn = self.table[cls]
                break
        if fn is None:
            names = ", ".join(sorted(c.__name__ for c in self.table))
            raise TypeError(f"cnnpy.{self.op}: layer {name or kind!r} ({kind}) has no equivalent; "
                            f"supported: {names}")
        out = fn(self, module, name)
        out.training = bool(module.training)  # this module's own mode (train() would recurse)
        self.done[id(module)] = out
        return out

    def children(self, module, name):
        return OrderedDict((k, self.convert(c, f"{name}.{k}" if name else k))
                           for k, c in module._modules.items())

    def fail(self, name, module, what):
        kind = type(module).__name__
        return ValueError(f"cnnpy.{self.op}: layer {name or kind!r} ({kind}): {what}")


# ---- cnnpy -> torch --------------------------------------------------------------------------------------

def _tensor(torch, array):
    return torch.nn.Parameter(torch.from_numpy(np.array(array, order="C")))  # a copy


def _set_weights(torch, out, m):
    """Copy a cnnpy layer's weight and bias into a torch layer made without initialisation."""
    with torch.no_grad():
        out.weight.copy_(torch.from_numpy(m.weight.data))
        if m.bias is not None:
            out.bias.copy_(torch.from_numpy(m.bias.data))
    return out


def _torch_dtype(torch, m):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[m.weight.dtype]


def _static_pads(m):
    """Per-dim (before, after) of a conv's padding when it does not depend on the input size."""
    if m.padding == "same":
        if any(s != 1 for s in m.stride):
            return None  # TensorFlow's rule at stride > 1 follows the input size
        return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(m.kernel_size, m.dilation)]
    return conv_padding(type(m).__name__, m.padding, m._dims, (1,) * m._dims, m.kernel_size,
                         m.stride, m.dilation)[-m._dims:]


def _conv_to_torch(walk, m, name):
    torch = walk.torch
    code = PAD_MODES[m.padding_mode]
    pads = _static_pads(m)
    args = (m.in_channels, m.out_channels, m.kernel_size)
    kw = dict(stride=m.stride, dilation=m.dilation, groups=m.groups, bias=m.bias is not None,
              dtype=_torch_dtype(torch, m))
    # PyTorch's own layer where it has the padding: equal on both sides, or 'same' at stride 1
    native_padding = pads is not None and (m.padding == "same" or all(b == a for b, a in pads))
    if m.mode == "xcorr" and (code == _cnn.PAD_CONSTANT or code in _TORCH_MODES) and native_padding:
        padding = "same" if m.padding == "same" else tuple(b for b, _ in pads)
        mode = "zeros" if code == _cnn.PAD_CONSTANT else _TORCH_MODES[code]
        cls = torch.nn.Conv2d if m._dims == 2 else torch.nn.Conv1d
        return _set_weights(torch, torch.nn.utils.skip_init(cls, *args, padding=padding,
                                                            padding_mode=mode, **kw), m)
    cls = _torch_classes()["CnnpyConv2d" if m._dims == 2 else "CnnpyConv1d"]
    out = torch.nn.utils.skip_init(cls, *args, padding=0, **kw)
    out._setup(m.padding, m.padding_mode, m.mode)
    return _set_weights(torch, out, m)


def _conv_transpose_to_torch(walk, m, name):
    torch = walk.torch
    cls = torch.nn.ConvTranspose2d if m._dims == 2 else torch.nn.ConvTranspose1d
    out = torch.nn.utils.skip_init(cls, m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                                   padding=m.padding, output_padding=m.output_padding, groups=m.groups,
                                   bias=m.bias is not None, dilation=m.dilation, dtype=_torch_dtype(torch, m))
    return _set_weights(torch, out, m)


def _tied_target(walk, m, name, target, kind):
    converted = walk.done.get(id(target))
    if converted is None:
        raise walk.fail(name, m, f"the {kind} it is tied to is not an earlier layer of the model")
    return converted


def _tied_conv_transpose_to_torch(walk, m, name):
    conv = _tied_target(walk, m, name, m._conv, "Conv2d")
    bias = None if m.bias is None else _tensor(walk.torch, m.bias.data)
    return _torch_classes()["CnnpyTiedConvTranspose2d"](conv, m.stride, m.padding, m.output_padding, bias)


def _linear_to_torch(walk, m, name):
    torch = walk.torch
    out = torch.nn.utils.skip_init(torch.nn.Linear, m.in_features, m.out_features, bias=m.bias is not None,
                                   dtype=_torch_dtype(torch, m))
    return _set_weights(torch, out, m)


def _tied_linear_to_torch(walk, m, name):
    linear = _tied_target(walk, m, name, m._linear, "Linear")
    bias = None if m.bias is None else _tensor(walk.torch, m.bias.data)
    return _torch_classes()["CnnpyTiedLinear"](linear, bias)


def _same_args(torch_name, *attrs):
    """A converter to the torch layer `torch_name` that takes the cnnpy layer's `attrs` as
    arguments of the same names."""
    def convert(walk, m, name):
        return getattr(walk.torch.nn, torch_name)(**{a: getattr(m, a) for a in attrs})
    return convert


def _avg_pool_to_torch(walk, m, name):
    kw = dict(kernel_size=m.kernel_size, stride=m.stride, padding=m.padding, ceil_mode=m.ceil_mode,
              count_include_pad=m.count_include_pad)
    if m._dims == 2:
        return walk.torch.nn.AvgPool2d(divisor_override=m.divisor_override, **kw)
    return walk.torch.nn.AvgPool1d(**kw)


def _sequential_to_torch(walk, m, name):
    return walk.torch.nn.Sequential(walk.children(m, name))


_POOL = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")
_TO_TORCH = {
    nn.Sequential: _sequential_to_torch,
    nn.Conv1d: _conv_to_torch,
    nn.Conv2d: _conv_to_torch,
    nn.ConvTranspose1d: _conv_transpose_to_torch,
    nn.ConvTranspose2d: _conv_transpose_to_torch,
    nn.TiedConvTranspose2d: _tied_conv_transpose_to_torch,
    nn.MaxPool1d: _same_args("MaxPool1d", *_POOL),
    nn.MaxPool2d: _same_args("MaxPool2d", *_POOL),
    nn.AvgPool1d: _avg_pool_to_torch,
    nn.AvgPool2d: _avg_pool_to_torch,
    nn.AdaptiveAvgPool2d: _same_args("AdaptiveAvgPool2d", "output_size"),
    nn.AdaptiveMaxPool2d: _same_args("AdaptiveMaxPool2d", "output_size", "return_indices"),
    nn.Linear: _linear_to_torch,
    nn.TiedLinear: _tied_linear_to_torch,
    nn.Flatten: _same_args("Flatten", "start_dim", "end_dim"),
    nn.Unflatten: _same_args("Unflatten", "dim", "unflattened_size"),
    nn.Identity: _same_args("Identity"),
    nn.ReLU: _same_args("ReLU"),
    nn.LeakyReLU: _same_args("LeakyReLU", "negative_slope"),
    nn.Sigmoid: _same_args("Sigmoid"),
    nn.Tanh: _same_args("Tanh"),
    nn.GELU: _same_args("GELU", "approximate"),
    nn.Softmax: _same_args("Softmax", "dim"),
    nn.Dropout: _same_args("Dropout", "p"),
    nn.Dropout2d: _same_args("Dropout2d", "p"),
}


def to_torch(model: nn.Module) -> torch.nn.Module:
    """The PyTorch equivalent of a cnnpy network: a ``torch.nn.Sequential`` (for an
    ``nn.Sequential``, nested ones included) or the one torch layer (for a single layer), with
    copies of the same weights under the same ``state_dict`` keys, in the same dtype and the same
    training/eval mode. Needs PyTorch (ImportError otherwise). A layer without an equivalent
    raises TypeError naming it.

    >>> import cnnpy
    >>> from cnnpy import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Flatten())
    >>> cnnpy.to_torch(net)  # doctest: +SKIP
    Sequential(
      (0): Conv2d(1, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
      (1): ReLU()
      (2): Flatten(start_dim=1, end_dim=-1)
    )

    PyTorch: the network as you would have written it there.
    """
    torch = _torch("to_torch")
    if not isinstance(model, nn.Module):
        raise TypeError(f"cnnpy.to_torch: model must be a cnnpy nn.Module, got {type(model).__name__}")
    for p in model.parameters():
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(f"cnnpy.to_torch: parameters must be float32 or float64, got {p.dtype}")
    return _Walk("to_torch", _TO_TORCH, torch).convert(model, "")


# ---- torch -> cnnpy --------------------------------------------------------------------------------------

def _numpy(t):
    return t.detach().cpu().numpy()


def _np_dtype(walk, name, module, tensor):
    dt = {walk.torch.float32: np.float32, walk.torch.float64: np.float64}.get(tensor.dtype)
    if dt is None:
        raise walk.fail(name, module, f"its parameters are {tensor.dtype}; cnnpy computes in float32 "
                        f"or float64 (convert with .float() first)")
    return dt


def _load(layer, weight, bias):
    """Copy torch values into a fresh cnnpy layer's parameters."""
    np.copyto(layer.weight.data, _numpy(weight))
    if bias is not None:
        np.copyto(layer.bias.data, _numpy(bias))
    return layer


def _conv_from_torch(walk, t, name):
    cls = nn.Conv2d if isinstance(t, walk.torch.nn.Conv2d) else nn.Conv1d
    if hasattr(t, "cnnpy_padding"):
        padding, padding_mode, mode = t.cnnpy_padding, t.cnnpy_padding_mode, t.cnnpy_mode
    else:
        padding = t.padding
        if not isinstance(padding, str) and len(set(padding)) == 1:
            padding = padding[0]  # (1, 1) as a user writes it: 1
        padding_mode, mode = t.padding_mode, "xcorr"
    layer = cls(t.in_channels, t.out_channels, t.kernel_size, stride=t.stride, padding=padding,
                dilation=t.dilation, groups=t.groups, bias=t.bias is not None,
                padding_mode=padding_mode, mode=mode, dtype=_np_dtype(walk, name, t, t.weight), rng=0)
    walk.weights[id(t.weight)] = layer
    return _load(layer, t.weight, t.bias)


def _conv_transpose_from_torch(walk, t, name):
    dims = 2 if isinstance(t, walk.torch.nn.ConvTranspose2d) else 1
    if t.padding_mode != "zeros":
        raise walk.fail(name, t, f"padding_mode={t.padding_mode!r}; transpose convolutions pad with zeros")
    conv = walk.weights.get(id(t.weight))
    if conv is not None:  # PyTorch's tying: the same Parameter as an earlier Conv2d's
        if dims != 2 or conv.groups != t.groups or tuple(conv.dilation) != tuple(t.dilation):
            raise walk.fail(name, t, "it shares its weight with a convolution whose groups or "
                            "dilation differ; cnnpy's TiedConvTranspose2d takes them from the Conv2d")
        return _tied_conv_transpose(conv, t)
    cls = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose1d
    layer = cls(t.in_channels, t.out_channels, t.kernel_size, stride=t.stride, padding=t.padding,
                output_padding=t.output_padding, groups=t.groups, bias=t.bias is not None,
                dilation=t.dilation, dtype=_np_dtype(walk, name, t, t.weight), rng=0)
    return _load(layer, t.weight, t.bias)


def _with_bias(layer, t):
    """A tied layer with the torch layer's own bias copied in."""
    if t.bias is not None:
        np.copyto(layer.bias.data, _numpy(t.bias))
    return layer


def _tied_conv_transpose(conv, t):
    return _with_bias(nn.TiedConvTranspose2d(conv, stride=t.stride, padding=t.padding,
                                             output_padding=t.output_padding, bias=t.bias is not None), t)


def _tied_linear_from_torch(walk, t, name):
    return _with_bias(nn.TiedLinear(_tied_target(walk, t, name, t.linear, "Linear"),
                                    bias=t.bias is not None), t)


def _tied_conv_transpose_from_torch(walk, t, name):
    return _tied_conv_transpose(_tied_target(walk, t, name, t.conv, "Conv2d"), t)


def _linear_from_torch(walk, t, name):
    layer = nn.Linear(t.in_features, t.out_features, bias=t.bias is not None,
                      dtype=_np_dtype(walk, name, t, t.weight), rng=0)
    return _load(layer, t.weight, t.bias)


def _same_args_from_torch(cls, *attrs):
    """A converter to the cnnpy layer `cls` that takes the torch layer's `attrs` as arguments of
    the same names."""
    def convert(walk, t, name):
        return cls(**{a: getattr(t, a) for a in attrs})
    return convert


def _avg_pool_from_torch(walk, t, name):
    kw = dict(kernel_size=t.kernel_size, stride=t.stride, padding=t.padding, ceil_mode=t.ceil_mode,
              count_include_pad=t.count_include_pad)
    if isinstance(t, walk.torch.nn.AvgPool2d):
        return nn.AvgPool2d(divisor_override=t.divisor_override, **kw)
    return nn.AvgPool1d(**kw)


def _softmax_from_torch(walk, t, name):
    if t.dim is None:
        raise walk.fail(name, t, "dim=None (PyTorch's deprecated implicit choice); give the dim")
    return nn.Softmax(t.dim)


def _sequential_from_torch(walk, t, name):
    return nn.Sequential(walk.children(t, name))


def _from_torch_table(torch):
    tnn = torch.nn
    classes = _torch_classes()
    table = {
        tnn.Sequential: _sequential_from_torch,
        tnn.Conv1d: _conv_from_torch,
        tnn.Conv2d: _conv_from_torch,
        tnn.ConvTranspose1d: _conv_transpose_from_torch,
        tnn.ConvTranspose2d: _conv_transpose_from_torch,
        classes["CnnpyConv1d"]: _conv_from_torch,
        classes["CnnpyConv2d"]: _conv_from_torch,
        classes["CnnpyTiedLinear"]: _tied_linear_from_torch,
        classes["CnnpyTiedConvTranspose2d"]: _tied_conv_transpose_from_torch,
        tnn.MaxPool1d: _same_args_from_torch(nn.MaxPool1d, *_POOL),
        tnn.MaxPool2d: _same_args_from_torch(nn.MaxPool2d, *_POOL),
        tnn.AvgPool1d: _avg_pool_from_torch,
        tnn.AvgPool2d: _avg_pool_from_torch,
        tnn.AdaptiveAvgPool2d: _same_args_from_torch(nn.AdaptiveAvgPool2d, "output_size"),
        tnn.AdaptiveMaxPool2d: _same_args_from_torch(nn.AdaptiveMaxPool2d, "output_size", "return_indices"),
        tnn.Linear: _linear_from_torch,
        tnn.Flatten: _same_args_from_torch(nn.Flatten, "start_dim", "end_dim"),
        tnn.Unflatten: _same_args_from_torch(nn.Unflatten, "dim", "unflattened_size"),
        tnn.Identity: _same_args_from_torch(nn.Identity),
        tnn.ReLU: _same_args_from_torch(nn.ReLU),
        tnn.LeakyReLU: _same_args_from_torch(nn.LeakyReLU, "negative_slope"),
        tnn.Sigmoid: _same_args_from_torch(nn.Sigmoid),
        tnn.Tanh: _same_args_from_torch(nn.Tanh),
        tnn.GELU: _same_args_from_torch(nn.GELU, "approximate"),
        tnn.Softmax: _softmax_from_torch,
        tnn.Dropout: _same_args_from_torch(nn.Dropout, "p"),
        tnn.Dropout2d: _same_args_from_torch(nn.Dropout2d, "p"),
    }
    return table


def from_torch(torch_model: torch.nn.Module) -> nn.Module:
    """The cnnpy network of a PyTorch one: a ``torch.nn.Sequential`` (nested ones included) or a
    single layer, of the layers cnnpy has (those ``to_torch`` makes among them), with copies of
    its weights under the same ``state_dict`` keys and the same training/eval mode. A layer
    without a cnnpy equivalent raises TypeError naming it; a weight shared other than as a tied
    transpose raises ValueError.

    >>> import cnnpy, torch  # doctest: +SKIP
    >>> tnet = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())  # doctest: +SKIP
    >>> cnnpy.from_torch(tnet)  # doctest: +SKIP
    Sequential(
      (0): Linear(in_features=4, out_features=3, bias=True)
      (1): ReLU()
    )
    """
    torch = _torch("from_torch")
    if not isinstance(torch_model, torch.nn.Module):
        raise TypeError(f"cnnpy.from_torch: expected a torch.nn.Module, got {type(torch_model).__name__}")
    model = _Walk("from_torch", _from_torch_table(torch), torch).convert(torch_model, "")
    _check_sharing(torch_model, model)
    return model


def _check_sharing(torch_model, model):
    """Every torch Parameter is one cnnpy Parameter: a weight shared other than as a tied
    transpose (which the converters turned into cnnpy's tied layers) is refused."""
    owners = {}
    for mod_name, m in torch_model.named_modules():
        for p_name, p in m.named_parameters(recurse=False):
            owners.setdefault(id(p), []).append(f"{mod_name}.{p_name}" if mod_name else p_name)
    n_torch = len(owners)
    n_cnnpy = len(model.parameters())
    if n_torch != n_cnnpy:
        shared = [names for names in owners.values() if len(names) > 1]
        raise ValueError(f"cnnpy.from_torch: parameters {shared} are one tensor; cnnpy shares a "
                         f"weight only between a Linear and its TiedLinear or a Conv2d and its "
                         f"TiedConvTranspose2d")
