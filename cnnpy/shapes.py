"""Output sizes of convolution, transpose convolution and pooling, with formulas that explain
themselves. The numbers come from the engine's one output-size function per op family (the same
ones the kernels use); this module only renders the formula around them.

>>> from cnnpy import conv_output_size
>>> conv_output_size(91, 3, padding=1, explain=True)
'floor((91 + 2*1 - 3) / 1) + 1 = 91'
"""
from __future__ import annotations

import numpy as np

from . import _cnn
from ._args import as_int, out_len

__all__ = ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "same_padding",
           "summary", "receptive_field", "Summary"]


def same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple:
    """(before, after) zero padding for ``padding="same"`` at any stride and dilation, TensorFlow's
    rule: the output has ceil(n / stride) elements, the total padding is
    max((out - 1)*stride + dilation*(kernel_size - 1) + 1 - n, 0), the odd element at the end.
    At stride 1 this is PyTorch's ``padding="same"``.

    >>> same_padding(91, 3, stride=2)
    (1, 1)
    """
    op = "same_padding"
    n = as_int(op, "n", n, 1)
    kernel_size = as_int(op, "kernel_size", kernel_size, 1)
    stride = as_int(op, "stride", stride, 1)
    dilation = as_int(op, "dilation", dilation, 1)
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (kernel_size - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def _resolve_padding(op: str, padding, n: int, k: int, s: int, d: int) -> tuple:
    """padding as an int, a (before, after) pair or 'valid' / 'same' / 'full' -> (before, after)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            return same_padding(n, k, s, d)
        if padding == "full":
            return d * (k - 1), d * (k - 1)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid', 'same' or 'full'; got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{op}: padding must be an int or a (before, after) pair, got {padding!r}")
        return as_int(op, "padding", padding[0], 0), as_int(op, "padding", padding[1], 0)
    p = as_int(op, "padding", padding, 0)
    return p, p


def _pad_text(pb: int, pa: int) -> str:
    return f"2*{pb}" if pb == pa else f"{pb} + {pa}"


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1, explain: bool = False):
    """Output length of a convolution: ``floor((n + 2p - dilation*(k-1) - 1) / stride) + 1``.

    ``n`` is an int or a sequence (one size per spatial dim; then every other argument may be an
    int or a matching sequence, and the result is a tuple). ``padding`` is an int, a
    (before, after) pair, or 'valid', 'same', 'full'. With ``explain=True`` the result is the
    formula with the numbers substituted (one line per dim).

    >>> conv_output_size(5, 3, stride=2, padding=1)
    3
    >>> conv_output_size(91, 3, padding=1, explain=True)
    'floor((91 + 2*1 - 3) / 1) + 1 = 91'

    PyTorch: the "Shape" formula of ``torch.nn.Conv2d``.
    """
    if isinstance(n, (tuple, list)):
        ks, ss, ps, ds = _per_dim_args("conv_output_size", n, kernel_size=kernel_size, stride=stride,
                                       padding=padding, dilation=dilation)
        res = [conv_output_size(ni, k, s, p, d, explain) for ni, k, s, p, d in zip(n, ks, ss, ps, ds)]
        return "\n".join(res) if explain else tuple(res)
    op = "conv_output_size"
    n = as_int(op, "n", n, 1)
    k = as_int(op, "kernel_size", kernel_size, 1)
    s = as_int(op, "stride", stride, 1)
    d = as_int(op, "dilation", dilation, 1)
    pb, pa = _resolve_padding(op, padding, n, k, s, d)
    if d == 1:
        formula = f"floor(({n} + {_pad_text(pb, pa)} - {k}) / {s}) + 1"
    else:
        formula = f"floor(({n} + {_pad_text(pb, pa)} - {d}*({k}-1) - 1) / {s}) + 1"
    try:
        out = out_len(op, f"the padded input {n} + {pb} + {pa} or the dilated kernel {d}*({k}-1)+1",
                      _cnn.conv_out_len, n, k, s, pb, pa, d)
    except ValueError:
        span = d * (k - 1) + 1
        raise ValueError(f"{op}: {formula} < 1: the padded input {n + pb + pa} is smaller than "
                         f"the dilated kernel {span}") from None
    if not explain:
        return out
    prefix = f"padding={padding!r} -> {pb} + {pa}; " if isinstance(padding, str) else ""
    return f"{prefix}{formula} = {out}"


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1,
                               explain: bool = False):
    """Output length of a transpose convolution:
    ``(n - 1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``
    (the lecture's ``N = s(M - 1) + k - 2p`` when dilation is 1 and output_padding 0).

    >>> conv_transpose_output_size(22, 3, stride=2)
    45
    >>> conv_transpose_output_size(22, 3, stride=2, explain=True)
    '(22 - 1)*2 + 3 - 2*0 = 45'

    PyTorch: the "Shape" formula of ``torch.nn.ConvTranspose2d``.
    """
    if isinstance(n, (tuple, list)):
        ks, ss, ps, ops, ds = _per_dim_args("conv_transpose_output_size", n, kernel_size=kernel_size,
                                            stride=stride, padding=padding,
                                            output_padding=output_padding, dilation=dilation)
        res = [conv_transpose_output_size(*a, explain=explain) for a in zip(n, ks, ss, ps, ops, ds)]
        return "\n".join(res) if explain else tuple(res)
    op = "conv_transpose_output_size"
    n = as_int(op, "n", n, 1)
    k = as_int(op, "kernel_size", kernel_size, 1)
    s = as_int(op, "stride", stride, 1)
    p = as_int(op, "padding", padding, 0)
    o = as_int(op, "output_padding", output_padding, 0)
    d = as_int(op, "dilation", dilation, 1)
    if o >= s and o >= d:
        raise ValueError(f"{op}: output_padding must be smaller than stride ({s}) or dilation "
                         f"({d}), got {o}")
    if d == 1:
        formula = f"({n} - 1)*{s} + {k} - 2*{p}" + (f" + {o}" if o else "")
    else:
        formula = f"({n} - 1)*{s} - 2*{p} + {d}*({k}-1) + {o} + 1"
    try:
        out = out_len(op, f"the output size {formula}", _cnn.conv_transpose_out_len, n, k, s, p, d, o)
    except ValueError:
        raise ValueError(f"{op}: {formula} < 0: padding {p} removes more than the whole output") from None
    return f"{formula} = {out}" if explain else out


def pool_output_size(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
                     explain: bool = False):
    """Output length of pooling, PyTorch's rule:
    ``floor_or_ceil((n + 2p - dilation*(k-1) - 1) / stride) + 1``; with ``ceil_mode`` a last window
    that would start inside the right padding is dropped. ``stride`` defaults to ``kernel_size``;
    ``padding`` may be at most half the kernel.

    >>> pool_output_size(5, 2, ceil_mode=True)
    3
    >>> pool_output_size(91, 2, explain=True)
    'floor((91 + 2*0 - 2) / 2) + 1 = 45'

    PyTorch: the "Shape" formula of ``torch.nn.MaxPool2d``.
    """
    if isinstance(n, (tuple, list)):
        stride = kernel_size if stride is None else stride
        ks, ss, ps, ds = _per_dim_args("pool_output_size", n, kernel_size=kernel_size, stride=stride,
                                       padding=padding, dilation=dilation)
        res = [pool_output_size(ni, k, s, p, d, ceil_mode, explain) for ni, k, s, p, d in zip(n, ks, ss, ps, ds)]
        return "\n".join(res) if explain else tuple(res)
    op = "pool_output_size"
    n = as_int(op, "n", n, 1)
    k = as_int(op, "kernel_size", kernel_size, 1)
    s = k if stride is None else as_int(op, "stride", stride, 1)
    p = as_int(op, "padding", padding, 0)
    d = as_int(op, "dilation", dilation, 1)
    if p > k // 2:
        raise ValueError(f"{op}: padding must be at most half the kernel size ({k} // 2 = {k // 2}), got {p}")
    rnd = "ceil" if ceil_mode else "floor"
    if d == 1:
        formula = f"{rnd}(({n} + 2*{p} - {k}) / {s}) + 1"
    else:
        formula = f"{rnd}(({n} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1"
    try:
        out = out_len(op, f"the padded input {n} + 2*{p} or the window {d}*({k}-1)+1",
                      _cnn.pool_out_len, n, k, s, p, d, bool(ceil_mode))
    except ValueError:
        raise ValueError(f"{op}: {formula} < 1: the padded input {n + 2 * p} is smaller than the "
                         f"window {d * (k - 1) + 1}") from None
    if not explain:
        return out
    if ceil_mode:
        unclipped = -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
        if unclipped != out:
            return (f"{formula} = {unclipped}, minus the last window, which would start in the "
                    f"right padding, = {out}")
    return f"{formula} = {out}"


def _per_dim_args(op, n, **args):
    """Each keyword argument as a list with one value per dim of n (an int is repeated)."""
    dims = len(n)
    out = []
    for name, a in args.items():
        if isinstance(a, (tuple, list)):
            if len(a) != dims:
                raise ValueError(f"{op}: {name} must be an int or {dims} values (one per dim of "
                                 f"n={tuple(n)}), got {a!r}")
            out.append(list(a))
        else:
            out.append([a] * dims)
    return out


# ---- model summary and receptive fields -------------------------------------------------------------

def _leaves(module, prefix=""):
    """(name, module) of the layers a Sequential runs, nested Sequentials expanded."""
    from .nn import Sequential
    if isinstance(module, Sequential):
        for name, child in module._modules.items():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix or type(module).__name__, module


def _layer_geometry(m, in_shape):
    """(kernel, stride, dilation, transposed) per spatial dim of a windowed layer, else None."""
    from . import nn
    spatial = len(in_shape) - 2
    windowed = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
    if isinstance(m, windowed):
        return m.kernel_size, m.stride, getattr(m, "dilation", (1,) * spatial), False
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.TiedConvTranspose2d)):
        return m.kernel_size, m.stride, m.dilation, True
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        out = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size,) * spatial
        sizes = in_shape[2:]
        k = tuple(-(-n // (o or n)) for n, o in zip(sizes, out))
        s = tuple(max(n // (o or n), 1) for n, o in zip(sizes, out))
        return k, s, (1,) * spatial, False
    return None


def _mult_adds(m, x_shape, y_shape) -> int:
    from . import nn
    numel = int(np.prod(y_shape))
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        return numel * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.TiedConvTranspose2d)):
        return int(np.prod(x_shape)) * (m.out_channels // m.groups) * int(np.prod(m.kernel_size))
    if isinstance(m, (nn.Linear, nn.TiedLinear)):
        return numel * m.in_features
    return 0


class Summary:
    """The per-layer table of ``summary``: ``rows`` (dicts with layer, type, output_shape, params,
    mult_adds, receptive_field, jump), ``total_params`` and ``total_mult_adds``; ``str()`` prints
    it."""

    def __init__(self, input_shape, rows):
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.total_params = sum(r["params"] for r in rows)
        self.total_mult_adds = sum(r["mult_adds"] for r in rows)

    def __str__(self):
        def fmt(v):
            return "-" if v is None else "x".join(str(round(a, 3) if isinstance(a, float) else a) for a in v)

        head = ("layer", "type", "output shape", "params", "mult-adds", "receptive field", "jump")
        body = [(r["layer"], r["type"], str(tuple(r["output_shape"])), f"{r['params']:,}",
                 f"{r['mult_adds']:,}", fmt(r["receptive_field"]), fmt(r["jump"])) for r in self.rows]
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
        line = "  ".join("{:<%d}" % w for w in widths)
        out = [f"input shape {self.input_shape}", line.format(*head), line.format(*["-" * w for w in widths])]
        out += [line.format(*row) for row in body]
        out.append(f"total parameters: {self.total_params:,}   total multiply-adds: {self.total_mult_adds:,}")
        return "\n".join(out)

    __repr__ = __str__


def summary(model, input_shape, dtype=np.float32) -> Summary:
    """Per layer of ``model``: output shape, parameters (a shared weight counted once),
    multiply-adds, receptive field and jump (per spatial dim, in input pixels) for an input of
    ``input_shape`` (batch dim included). Runs one forward pass on zeros in eval mode.

    >>> from cnnpy import nn, summary
    >>> net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
    >>> s = summary(net, (1, 1, 91, 91))
    >>> s.total_params, s.rows[-1]["output_shape"], s.rows[-1]["receptive_field"]
    (60, (1, 6, 45, 45), (4, 4))

    PyTorch: ``torchinfo.summary`` (plus receptive fields).
    """
    shape = tuple(as_int("summary", "input_shape", n, 0) for n in input_shape)
    x = np.zeros(shape, dtype=dtype)
    spatial = max(len(shape) - 2, 0)
    rf, jump = [1] * spatial, [1] * spatial
    seen, rows = set(), []
    was_training = model.training
    model.eval()
    try:
        for name, m in _leaves(model):
            y = m(x)
            if isinstance(y, tuple):  # layers with return_indices
                y = y[0]
            params = 0
            for _, p in m.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params += p.data.size
            geom = _layer_geometry(m, x.shape) if rf is not None and x.ndim == len(shape) else None
            if geom is not None:
                for i, (k, s, d) in enumerate(zip(*geom[:3])):
                    span = d * (k - 1) + 1
                    if geom[3]:  # transposed: each output sees ceil(span / s) inputs
                        rf[i] += (-(-span // s) - 1) * jump[i]
                        jump[i] = jump[i] // s if jump[i] % s == 0 else jump[i] / s
                    else:
                        rf[i] += (span - 1) * jump[i]
                        jump[i] *= s
            elif rf is not None and np.ndim(y) != len(shape):  # flattened: every input pixel counts
                rf, jump = None, None
            rows.append({"layer": name, "type": type(m).__name__, "output_shape": tuple(np.shape(y)),
                         "params": params, "mult_adds": _mult_adds(m, x.shape, np.shape(y)),
                         "receptive_field": tuple(rf) if rf is not None else tuple(shape[2:]),
                         "jump": tuple(jump) if jump is not None else None})
            x = y
    finally:
        model.train(was_training)
    return Summary(shape, rows)


def receptive_field(model, input_shape) -> list:
    """[(layer, receptive_field, jump)] for each layer: how many input pixels (per spatial dim)
    one output element sees, and how far apart (in input pixels) neighbouring outputs are. After a
    Flatten every output sees the whole input and the jump is None.

    >>> from cnnpy import nn, receptive_field
    >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    >>> receptive_field(net, (1, 1, 32, 32))[-1]
    ('2', (8, 8), (2, 2))
    """
    return [(r["layer"], r["receptive_field"], r["jump"]) for r in summary(model, input_shape).rows]
