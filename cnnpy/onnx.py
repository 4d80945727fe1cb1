"""Export a network to ONNX: ``cnnpy.onnx.export(model, path, input_shape)`` writes a standard ONNX
model (opset 19) of any ``nn.Sequential`` of cnnpy layers, which ONNX Runtime and every other ONNX
consumer runs. Needs the ``onnx`` package: ``pip install "cnnpy[onnx]"``.

The model is exported in inference form (Dropout is the identity) with its weights as they are
now; ``input_shape`` (batch dim included) fixes every size the graph needs, and the batch dim
stays free unless ``dynamic_batch=False``. Initializers carry the ``state_dict`` names
(``"0.weight"``); a weight shared by tied layers is stored once.

How each cnnpy feature becomes ONNX:

- padding ints, pairs, 'same' (any stride) and 'full': the Conv's own (possibly asymmetric) pads;
- padding_mode 'reflect', 'replicate', 'circular': an explicit ``Pad`` (reflect, edge, wrap) before
  the Conv; 'symmetric', and pads wider than ONNX's Pad defines (cnnpy keeps bouncing as numpy.pad
  does): a ``Gather`` per spatial axis whose indices are cnnpy's own padding of 0..n-1;
- ``mode="conv"``: the Conv with the weights flipped;
- ceil_mode pooling: MaxPool's ceil_mode, or its floor, whichever gives PyTorch's size (a last
  window starting in the right padding is dropped); an average whose last window overhangs the
  padded input, and divisor_override, as AveragePool sums times the exact per-window factor;
- adaptive pools: AveragePool/MaxPool when the size divides evenly, else averaging matrices
  (MatMul) or per-window index lists (Gather + ReduceMax);
- tied layers use the same initializer as the layer they share it with (Gemm's transB, the
  ConvTranspose's own weight layout).
- GELU (opset 19 has no Gelu op): its formula in ``Erf`` (or ``Tanh``), ``Mul`` and ``Add`` nodes
  (ONNX Runtime has no double ``Erf``: a float64 model runs there when exported with
  ``dtype=np.float32``).

A layer type is exported by one function in ``_EXPORTERS``; adding a layer is one entry there.

>>> import numpy as np, cnnpy
>>> from cnnpy import models
>>> model = models.GausNet(rng=0).eval()
>>> proto = cnnpy.onnx.export(model, None, (1, 1, 91, 91))  # doctest: +SKIP
>>> [n.op_type for n in proto.graph.node]  # doctest: +SKIP
['Conv', 'Relu', 'AveragePool', 'Conv', 'Relu', 'AveragePool', 'Reshape', 'Gemm', 'Gemm']

PyTorch: ``torch.onnx.export(model, torch.zeros(input_shape), path)``.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, BinaryIO, Sequence

import numpy as np

from . import _cnn, nn
from ._args import PAD_MODES, as_int
from ._padding import pad_index
from ._version import __version__
from .shapes import conv_padding

if TYPE_CHECKING:
    import onnx

__all__ = ["export", "OPSET"]

OPSET = 19  # Pad's 'wrap' mode (circular padding) arrived in opset 19


def _onnx():
    """The onnx package (the real one: this module is cnnpy.onnx, imports are absolute)."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("cnnpy.onnx.export needs the onnx package, an optional extra of cnnpy: "
                          "pip install 'cnnpy[onnx]'") from exc
    return onnx


# ---- the graph under construction -------------------------------------------------------------------

class _Layer:
    """What an exporter knows about the layer it exports: its dotted name, the module, and the
    shapes of its input and output for the export's input_shape (the batch dim included)."""

    def __init__(self, name, module, in_shape, out_shape):
        self.name, self.module = name, module
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.kind = type(module).__name__

    def fail(self, what):
        return ValueError(f"cnnpy.onnx.export: layer {self.name!r} ({self.kind}): {what}")


class _Graph:
    """The nodes and initializers so far, and the probe: a zero input run through the model layer
    by layer, which gives every layer's input and output shapes by cnnpy's own rules."""

    def __init__(self, onnx, model, dtype, dynamic_batch, probe):
        self.onnx, self.dtype, self.dynamic_batch = onnx, np.dtype(dtype), dynamic_batch
        self.probe = probe
        self.nodes, self.initializers, self._used = [], [], set()
        self._shared = {}  # (id of the Parameter, transform) -> initializer name
        self.param_names = {id(p): name for name, p in model.named_parameters()}  # state_dict keys
        self.batch_axis, self.batch_alone = 0, True  # where the (free) batch dim is now

    def _unique(self, name):
        base, i = name, 1
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def node(self, layer, op, inputs, **attrs):
        """Append an ONNX node (named as its output); returns its output's name."""
        out = self._unique(f"{layer.name}/{op}")
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def constant(self, name, array, dtype=None):
        """An initializer holding `array` (in the model's float dtype unless `dtype`)."""
        arr = np.array(array, dtype=dtype or self.dtype, order="C")  # 0-d stays 0-d
        name = self._unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, name, values):
        return self.constant(name, np.asarray(values, np.int64), np.int64)

    def weight(self, param, transform=None, suffix=""):
        """The initializer of a Parameter (after `transform`), named by its state_dict key (plus
        `suffix`) and made once per Parameter and transform, so tied layers share it."""
        key = (id(param), suffix)
        if key not in self._shared:
            data = param.data if transform is None else transform(param.data)
            self._shared[key] = self.constant(self.param_names[id(param)] + suffix, data)
        return self._shared[key]

    def needs_batch_first(self, layer):
        """Window layers read spatial sizes: with a free batch dim, it must be dim 0 alone."""
        if self.dynamic_batch and (self.batch_axis != 0 or not self.batch_alone):
            raise layer.fail("the batch dim was moved or merged by an earlier Flatten/Unflatten; "
                             "export with dynamic_batch=False")


def _spatial(layer, dims):
    if len(layer.in_shape) != dims + 2:
        names = "L" if dims == 1 else "H, W"
        raise layer.fail(f"ONNX needs a batched (N, C, {names}) input here, got shape {layer.in_shape}")
    return layer.in_shape[2:]


def _onnx_pads(per_dim):
    """[(before, after), ...] -> ONNX's [begin_1, ..., begin_n, end_1, ..., end_n]."""
    return [int(b) for b, _ in per_dim] + [int(a) for _, a in per_dim]


# ---- explicit padding ----------------------------------------------------------------------------------

_ONNX_PAD_MODE = {_cnn.PAD_REFLECT: "reflect", _cnn.PAD_REPLICATE: "edge", _cnn.PAD_CIRCULAR: "wrap"}


def _fits_onnx_pad(code, n, before, after):
    """Whether ONNX's Pad defines this padding as cnnpy does (reflect needs pads < n, wrap <= n)."""
    if code == _cnn.PAD_REPLICATE:
        return True
    limit = n - 1 if code == _cnn.PAD_REFLECT else n
    return code in _ONNX_PAD_MODE and max(before, after) <= limit


def _explicit_pad(g, layer, x, sizes, per_dim, code):
    """x padded on its trailing spatial axes in cnnpy mode `code` (reflect, symmetric, replicate,
    circular): one ONNX Pad where ONNX has the mode, else a Gather per axis whose indices are
    cnnpy's own padding of 0..n-1 (exact for every mode and width cnnpy accepts)."""
    rank = len(layer.in_shape)
    if all(_fits_onnx_pad(code, n, b, a) for n, (b, a) in zip(sizes, per_dim)):
        pads = [0, 0] + [b for b, _ in per_dim] + [0, 0] + [a for _, a in per_dim]
        return g.node(layer, "Pad", [x, g.ints(f"{layer.name}/pads", pads)], mode=_ONNX_PAD_MODE[code])
    for axis, (n, (b, a)) in enumerate(zip(sizes, per_dim), start=rank - len(sizes)):
        if b or a:
            index = g.ints(f"{layer.name}/pad_index", pad_index(n, b, a, code))
            x = g.node(layer, "Gather", [x, index], axis=axis)
    return x


# ---- convolution -------------------------------------------------------------------------------------

def _flip(w):
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


def _conv(g, layer, x):
    m = layer.module
    g.needs_batch_first(layer)
    sizes = _spatial(layer, m._dims)
    per_dim = conv_padding(layer.kind, m.padding, m._dims, sizes, m.kernel_size, m.stride,
                            m.dilation)[-m._dims:]
    code = PAD_MODES[m.padding_mode]
    if code != _cnn.PAD_CONSTANT and any(b or a for b, a in per_dim):
        x = _explicit_pad(g, layer, x, sizes, per_dim, code)
        per_dim = [(0, 0)] * m._dims
    if m.mode == "conv":  # true convolution is cross-correlation with the kernel flipped
        w = g.weight(m.weight, _flip, ".flipped")
    else:
        w = g.weight(m.weight)
    inputs = [x, w] + ([g.weight(m.bias)] if m.bias is not None else [])
    return g.node(layer, "Conv", inputs, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                  dilations=list(m.dilation), group=m.groups, pads=_onnx_pads(per_dim))


def _conv_transpose(g, layer, x):
    m = layer.module
    g.needs_batch_first(layer)
    _spatial(layer, m._dims)
    w = g.weight(m.weight)  # a tied layer's is the Conv2d's, unflipped
    bias = g.weight(m.bias) if m.bias is not None else None
    attrs = dict(kernel_shape=list(m.kernel_size), strides=list(m.stride), dilations=list(m.dilation),
                 group=m.groups)
    if all(o < s for o, s in zip(m.output_padding, m.stride)):
        return g.node(layer, "ConvTranspose", [x, w] + ([bias] if bias else []),
                      pads=list(m.padding) * 2, output_padding=list(m.output_padding), **attrs)
    # output_padding >= stride (PyTorch allows it below the dilation; ONNX Runtime does not): the
    # extra rows are the uncropped end of the full result, then beyond it zeros plus the bias.
    ends = [p - o for p, o in zip(m.padding, m.output_padding)]
    y = g.node(layer, "ConvTranspose", [x, w], pads=list(m.padding) + [max(e, 0) for e in ends], **attrs)
    if any(e < 0 for e in ends):
        zeros = [0] * (2 + m._dims) + [0, 0] + [max(-e, 0) for e in ends]
        y = g.node(layer, "Pad", [y, g.ints(f"{layer.name}/pads", zeros)])
    if bias is None:
        return y
    shape = g.ints(f"{layer.name}/bias_shape", [-1] + [1] * m._dims)
    return g.node(layer, "Add", [y, g.node(layer, "Reshape", [bias, shape])])


# ---- pooling -------------------------------------------------------------------------------------------

def _pool_geometry(layer, span):
    """Per spatial dim: (n, pad, out, floor count, extra): the floor count is ONNX's output size
    without ceil_mode, extra how far PyTorch's last window reaches past the padded input."""
    m = layer.module
    rows = []
    for n, k, s, p, o in zip(_spatial(layer, m._dims), span, m.stride, m.padding, layer.out_shape[2:]):
        rows.append((n, p, o, (n + 2 * p - k) // s + 1, max((o - 1) * s + k - (n + 2 * p), 0)))
    return rows


def _max_pool(g, layer, x):
    m = layer.module
    g.needs_batch_first(layer)
    _no_indices(layer)
    span = [d * (k - 1) + 1 for k, d in zip(m.kernel_size, m.dilation)]
    # Per dim, the ceil_mode values whose ONNX size is PyTorch's (which drops a last window that
    # would start in the right padding; the max over a window overhanging the padding is the same).
    modes = []
    for (n, p, o, f, _), sp, s in zip(_pool_geometry(layer, span), span, m.stride):
        modes.append({c for c, count in ((0, f), (1, -(-(n + 2 * p - sp) // s) + 1)) if count == o})
    common = set.intersection(*modes)
    if common:
        return g.node(layer, "MaxPool", [x], kernel_shape=list(m.kernel_size), strides=list(m.stride),
                      dilations=list(m.dilation), pads=list(m.padding) * 2, ceil_mode=min(common))
    # No one ceil_mode fits every dim: the max over a box is the max over each axis in turn.
    dims = len(span)
    for i, allowed in enumerate(modes):
        one = [1] * dims
        pads = [0] * (2 * dims)
        pads[i] = pads[dims + i] = m.padding[i]
        x = g.node(layer, "MaxPool", [x], kernel_shape=_put(one, i, m.kernel_size[i]),
                   strides=_put(one, i, m.stride[i]), dilations=_put(one, i, m.dilation[i]),
                   pads=pads, ceil_mode=min(allowed))
    return x


def _put(values, i, v):
    return values[:i] + [v] + values[i + 1:]


def _window_divisors(n, k, s, p, out, count_include_pad):
    """PyTorch's divisor of each average-pool window along one dim: the window clipped to the
    padded input (count_include_pad) or to the input itself."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if count_include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, n) - np.maximum(start, 0)).astype(np.float64)


def _avg_pool(g, layer, x):
    m = layer.module
    g.needs_batch_first(layer)
    rows = _pool_geometry(layer, m.kernel_size)
    override = getattr(m, "divisor_override", None)
    if override is None and not any(extra for *_, extra in rows):
        return g.node(layer, "AveragePool", [x], kernel_shape=list(m.kernel_size),
                      strides=list(m.stride), pads=list(m.padding) * 2,
                      count_include_pad=int(m.count_include_pad))
    # Window sums (an average over the whole kernel, padding included, times its area), each
    # divided by PyTorch's divisor: one AveragePool and one Mul by an exact factor per window.
    pads = list(m.padding) + [p + extra for _, p, _, _, extra in rows]
    divisor = np.ones(())
    for (n, p, o, _, _), k, s in zip(rows, m.kernel_size, m.stride):
        divisor = np.multiply.outer(divisor, _window_divisors(n, k, s, p, o, m.count_include_pad))
    if override is not None:
        divisor = np.full(layer.out_shape[2:], float(override))
    factor = float(np.prod(m.kernel_size)) / divisor
    mean = g.node(layer, "AveragePool", [x], kernel_shape=list(m.kernel_size), strides=list(m.stride),
                  pads=pads, count_include_pad=1)
    return g.node(layer, "Mul", [mean, g.constant(f"{layer.name}/window_factor", factor[None, None])])


def _adaptive_windows(n, out):
    """[(start, end)] of adaptive pooling: cell i covers [floor(i*n/out), ceil((i+1)*n/out))."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _no_indices(layer):
    if getattr(layer.module, "return_indices", False):
        raise layer.fail("return_indices=True returns a pair, which a Sequential cannot pass on")


def _adaptive_plan(g, layer):
    """(kernel, axes): one pool's kernel (= stride) when every size divides evenly, else None and
    the (axis, n, out) of each axis whose size changes, W first."""
    g.needs_batch_first(layer)
    _no_indices(layer)
    size = layer.module.output_size
    sizes = _spatial(layer, 2)
    wanted = size if isinstance(size, (tuple, list)) else (size, size)
    outs = [n if o is None else int(o) for n, o in zip(sizes, wanted)]
    if all(n % o == 0 for n, o in zip(sizes, outs)):
        return [n // o for n, o in zip(sizes, outs)], []
    return None, [(axis, n, o) for axis, n, o in ((3, sizes[1], outs[1]), (2, sizes[0], outs[0])) if n != o]


def _adaptive_avg(g, layer, x):
    kernel, axes = _adaptive_plan(g, layer)
    if kernel:
        return g.node(layer, "AveragePool", [x], kernel_shape=kernel, strides=kernel)
    for axis, n, o in axes:
        a = np.zeros((o, n))
        for i, (s, e) in enumerate(_adaptive_windows(n, o)):
            a[i, s:e] = 1.0 / (e - s)
        if axis == 3:  # (N, C, H, W) @ (W, oW)
            x = g.node(layer, "MatMul", [x, g.constant(f"{layer.name}/average_w", a.T)])
        else:  # (oH, H) @ (N, C, H, oW)
            x = g.node(layer, "MatMul", [g.constant(f"{layer.name}/average_h", a), x])
    return x


def _adaptive_max(g, layer, x):
    kernel, axes = _adaptive_plan(g, layer)
    if kernel:
        return g.node(layer, "MaxPool", [x], kernel_shape=kernel, strides=kernel)
    for axis, n, o in axes:
        windows = _adaptive_windows(n, o)
        width = max(e - s for s, e in windows)
        # every window as `width` indices, the last one repeated (a repeat does not change a max)
        index = np.array([[min(s + j, e - 1) for j in range(width)] for s, e in windows], np.int64)
        x = g.node(layer, "Gather", [x, g.ints(f"{layer.name}/window_index", index)], axis=axis)
        x = g.node(layer, "ReduceMax", [x, g.ints(f"{layer.name}/window_axis", [axis + 1])], keepdims=0)
    return x


# ---- dense and shape -----------------------------------------------------------------------------------

def _dense(g, layer, x, weight, bias, tied):
    """y = x @ W.T + b (Linear, W (out, in)) or x @ W + b (TiedLinear, the same W)."""
    if len(layer.in_shape) == 2:
        inputs = [x, weight] + ([bias] if bias else [])
        return g.node(layer, "Gemm", inputs, transB=0 if tied else 1)
    if not tied:
        weight = g.node(layer, "Transpose", [weight], perm=[1, 0])
    y = g.node(layer, "MatMul", [x, weight])
    return g.node(layer, "Add", [y, bias]) if bias else y


def _linear(g, layer, x):
    m = layer.module
    bias = g.weight(m.bias) if m.bias is not None else None
    return _dense(g, layer, x, g.weight(m.weight), bias, tied=False)


def _tied_linear(g, layer, x):
    m = layer.module
    bias = g.weight(m.bias) if m.bias is not None else None
    return _dense(g, layer, x, g.weight(m.weight), bias, tied=True)


def _reshape(g, layer, x):
    """Reshape to the layer's output shape; a free batch dim becomes -1 where it now lies."""
    target = list(layer.out_shape)
    if g.dynamic_batch and g.batch_axis is not None:
        target[g.batch_axis] = -1
    return g.node(layer, "Reshape", [x, g.ints(f"{layer.name}/shape", target)])


def _flatten(g, layer, x):
    m = layer.module
    nd = len(layer.in_shape)
    s, e = m.start_dim % max(nd, 1), m.end_dim % max(nd, 1)
    b = g.batch_axis
    if b is not None and s <= b <= e:
        others = [layer.in_shape[i] for i in range(s, e + 1) if i != b]
        g.batch_axis, g.batch_alone = s, g.batch_alone and all(n == 1 for n in others)
    elif b is not None and b > e:
        g.batch_axis = b - (e - s)
    return _reshape(g, layer, x)


def _unflatten(g, layer, x):
    m = layer.module
    d = m.dim % len(layer.in_shape)
    if g.dynamic_batch and d == g.batch_axis:
        raise layer.fail("it splits the batch dim; export with dynamic_batch=False")
    if g.batch_axis is not None and d < g.batch_axis:
        g.batch_axis += len(m.unflattened_size) - 1
    return _reshape(g, layer, x)


# ---- element-wise ----------------------------------------------------------------------------------------

def _simple(op, **attrs):
    """An exporter for a layer that is one ONNX op with fixed attributes."""
    return lambda g, layer, x: g.node(layer, op, [x], **attrs)


def _leaky_relu(g, layer, x):
    return g.node(layer, "LeakyRelu", [x], alpha=float(layer.module.negative_slope))


def _gelu(g, layer, x):
    """Opset 19 has no Gelu: cnnpy's (and PyTorch's) formula in Mul/Add/Erf/Tanh nodes, in the
    order cnnpy evaluates it: x * 0.5 * (1 + erf(x / sqrt 2)), or
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))."""
    def const(what, value):
        return g.constant(f"{layer.name}/{what}", np.asarray(value))

    one, half = const("one", 1.0), const("half", 0.5)
    if layer.module.approximate == "tanh":
        cube = g.node(layer, "Mul", [g.node(layer, "Mul", [x, x]), x])
        inner = g.node(layer, "Add", [x, g.node(layer, "Mul", [const("kappa", 0.044715), cube])])
        inner = g.node(layer, "Mul", [const("sqrt_2_over_pi", math.sqrt(2.0 / math.pi)), inner])
        t = g.node(layer, "Add", [one, g.node(layer, "Tanh", [inner])])
        return g.node(layer, "Mul", [g.node(layer, "Mul", [half, x]), t])
    e = g.node(layer, "Erf", [g.node(layer, "Mul", [x, const("sqrt1_2", math.sqrt(0.5))])])
    return g.node(layer, "Mul", [g.node(layer, "Mul", [x, half]), g.node(layer, "Add", [one, e])])


def _softmax(g, layer, x):
    return g.node(layer, "Softmax", [x], axis=int(layer.module.dim))


def _dropout(g, layer, x):
    """ONNX Dropout without training_mode: the identity, recording p."""
    ratio = g.constant(f"{layer.name}/ratio", np.asarray(layer.module.p))
    return g.node(layer, "Dropout", [x, ratio])


def _sequential(g, layer, x):
    """Children in order (a nested Sequential keeps its names: "1.0.weight")."""
    for name, child in layer.module._modules.items():
        x = _emit(g, child, f"{layer.name}.{name}" if layer.name else name, x)
    return x


_EXPORTERS = {
    nn.Sequential: _sequential,
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.ConvTranspose1d: _conv_transpose,
    nn.ConvTranspose2d: _conv_transpose,
    nn.TiedConvTranspose2d: _conv_transpose,
    nn.MaxPool1d: _max_pool,
    nn.MaxPool2d: _max_pool,
    nn.AvgPool1d: _avg_pool,
    nn.AvgPool2d: _avg_pool,
    nn.AdaptiveAvgPool2d: _adaptive_avg,
    nn.AdaptiveMaxPool2d: _adaptive_max,
    nn.Linear: _linear,
    nn.TiedLinear: _tied_linear,
    nn.Flatten: _flatten,
    nn.Unflatten: _unflatten,
    nn.Identity: _simple("Identity"),
    nn.ReLU: _simple("Relu"),
    nn.LeakyReLU: _leaky_relu,
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.GELU: _gelu,
    nn.Softmax: _softmax,
    nn.Dropout: _dropout,
    nn.Dropout2d: _dropout,
}


def _exporter_for(module, name):
    """The exporter of the nearest class in the module's MRO that has one; a subclass with its own
    forward is refused (its computation is not the base class's)."""
    for cls in type(module).__mro__:
        fn = _EXPORTERS.get(cls)
        if fn is None:
            continue
        if type(module).forward is not cls.forward:
            raise TypeError(f"cnnpy.onnx.export: layer {name!r} ({type(module).__name__}) overrides "
                            f"forward() of {cls.__name__}; only the built-in computation can be exported")
        return fn
    raise TypeError(f"cnnpy.onnx.export: layer {name!r} ({type(module).__name__}) has no ONNX "
                    f"export; supported: {', '.join(sorted(c.__name__ for c in _EXPORTERS))}")


def _emit(g, module, name, x):
    """Export `module` (dotted name `name`, '' for the model) reading tensor `x`; returns the name
    of its output tensor."""
    fn = _exporter_for(module, name or type(module).__name__)
    if fn is _sequential:
        return fn(g, _Layer(name, module, g.probe.shape, ()), x)
    y = module(g.probe)
    out_shape = np.shape(y[0] if isinstance(y, tuple) else y)
    out = fn(g, _Layer(name or type(module).__name__, module, g.probe.shape, out_shape), x)
    g.probe = y
    return out


# ---- the public function ---------------------------------------------------------------------------------

def _model_dtype(model):
    dtypes = {p.dtype for p in model.parameters()}
    if len(dtypes) > 1:
        raise TypeError(f"cnnpy.onnx.export: the model mixes parameter dtypes {sorted(map(str, dtypes))}; "
                        f"convert it with model.astype(np.float32) first")
    return dtypes.pop() if dtypes else np.dtype(np.float32)


def export(model: nn.Module, path: str | os.PathLike | BinaryIO | None, input_shape: Sequence[int], *,
           dynamic_batch: bool = True, dtype=None, input_name: str = "input",
           output_name: str = "output") -> onnx.ModelProto:
    """Write ``model`` (an ``nn.Sequential`` of cnnpy layers, or a single layer) as an ONNX model
    (opset 19) for inputs of ``input_shape`` (batch dim included; with ``dynamic_batch`` the
    batch size stays free). ``path`` is a file name, a path-like or a binary file object (None:
    nothing written). The model is checked with ``onnx.checker`` (full check, shape inference
    included) and returned as an ``onnx.ModelProto``. The graph computes in ``dtype`` (float32
    or float64; default the model's: ONNX Runtime's CPU provider has no float64 Conv, so export a
    float64 convolutional model with ``dtype=np.float32``). Dropout is exported in inference form;
    the model's training/eval modes are left as they were.

    A layer that cannot be exported (an unknown layer, a subclass with its own forward, return_indices)
    raises TypeError or ValueError naming the layer.

    >>> import cnnpy
    >>> from cnnpy import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding="same", padding_mode="reflect"), nn.ReLU())
    >>> proto = cnnpy.onnx.export(net, None, (1, 1, 8, 8))  # doctest: +SKIP
    >>> [n.op_type for n in proto.graph.node]  # doctest: +SKIP
    ['Pad', 'Conv', 'Relu']

    PyTorch: ``torch.onnx.export(model, torch.zeros(input_shape), path)``.
    """
    onnx = _onnx()
    if not isinstance(model, nn.Module):
        raise TypeError(f"cnnpy.onnx.export: model must be a cnnpy nn.Module, got {type(model).__name__}")
    if isinstance(input_shape, (int, np.integer)) or not hasattr(input_shape, "__len__"):
        raise TypeError(f"cnnpy.onnx.export: input_shape must be a sequence of ints (batch dim "
                        f"first), got {input_shape!r}")
    shape = tuple(as_int("cnnpy.onnx.export", "input_shape", n, 1) for n in input_shape)
    if not shape:
        raise ValueError("cnnpy.onnx.export: input_shape must have at least one dim")
    dtype = _model_dtype(model) if dtype is None else np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"cnnpy.onnx.export: dtype must be float32 or float64, got {dtype}")
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    dynamic_batch = bool(dynamic_batch) and len(shape) >= 2  # a 1-D input has no batch dim
    g = _Graph(onnx, model, dtype, dynamic_batch, np.zeros(shape, _model_dtype(model)))
    modes = {id(m): m.training for m in model.modules()}
    model.eval()  # the probe (and so the exported graph) computes in inference form
    try:
        out = _emit(g, model, "", input_name)
    finally:
        for m in model.modules():
            object.__setattr__(m, "training", modes[id(m)])
    if g.nodes and g.nodes[-1].output[0] == out:
        g.nodes[-1].output[0] = output_name  # the last node writes the graph's output
    else:  # an empty Sequential: the graph still needs a node
        g.nodes.append(onnx.helper.make_node("Identity", [out], [output_name], name=output_name))
    in_dims = [("batch" if dynamic_batch and i == 0 else n) for i, n in enumerate(shape)]
    out_dims = list(np.shape(g.probe[0] if isinstance(g.probe, tuple) else g.probe))
    if dynamic_batch and g.batch_axis is not None:
        out_dims[g.batch_axis] = "batch" if g.batch_alone else None
    graph = onnx.helper.make_graph(
        g.nodes, type(model).__name__,
        [onnx.helper.make_tensor_value_info(input_name, elem, in_dims)],
        [onnx.helper.make_tensor_value_info(output_name, elem, out_dims)],
        initializer=g.initializers)
    opsets = [onnx.helper.make_opsetid("", OPSET)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="cnnpy",
                                   producer_version=__version__,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save_model(proto, os.fspath(path) if isinstance(path, os.PathLike) else path)
    return proto

