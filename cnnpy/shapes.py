"""Output sizes of convolution, transpose convolution and pooling, with formulas that explain
themselves, and the padding arithmetic behind ``padding="same"``. The numbers come from the
engine's one output-size function per op family (the same ones the kernels use); this module only
renders the formula around them. It is a leaf: it imports nothing of cnnpy but the engine and the
argument checks, so every other module may use it (model summaries live in
``cnnpy.model_summary``).

>>> from cnnpy import conv_output_size
>>> conv_output_size(91, 3, padding=1, explain=True)
'floor((91 + 2*1 - 3) / 1) + 1 = 91'
"""
from __future__ import annotations

from . import _cnn
from ._args import as_int, out_len

__all__ = ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "same_padding",
           "resolve_padding", "conv_padding"]


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


def resolve_padding(op: str, padding, n: int, k: int, s: int, d: int) -> tuple:
    """The (before, after) padding of one dim of length ``n`` for a window of ``k`` taps, stride
    ``s`` and dilation ``d``: ``padding`` is an int, a (before, after) pair or 'valid', 'same',
    'full'. Errors name ``op``, the function that was called.

    >>> resolve_padding("conv2d", "same", 91, 4, 1, 1), resolve_padding("conv2d", "full", 5, 3, 1, 2)
    ((1, 2), (4, 4))
    """
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
    pb, pa = resolve_padding(op, padding, n, k, s, d)
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


def __getattr__(name):
    """``cnnpy.shapes.summary``, ``receptive_field`` and ``Summary`` moved to
    ``cnnpy.model_summary``; the old names still resolve (lazily, so this module imports no layer)."""
    if name in ("summary", "receptive_field", "Summary"):
        from . import model_summary
        return getattr(model_summary, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def conv_padding(op: str, padding, dims: int, sizes, ks, ss, ds) -> tuple:
    """((top, bottom), (left, right)) for the engine from any padding form of ``F.conv1d``/``F.conv2d``
    (an int, per-dim ints or pairs, 'valid', 'same', 'full'), given the `dims` spatial sizes,
    kernel sizes, strides and dilations; 1-D gives ((0, 0), (left, right)). `op` names the caller
    in errors.

    >>> conv_padding("conv2d", "same", 2, (91, 91), (3, 3), (2, 2), (1, 1))
    ((1, 1), (1, 1))
    """
    def one(p, d):  # one dim's padding: an int, a (before, after) pair or a string
        return resolve_padding(op, tuple(p) if isinstance(p, list) else p, sizes[d], ks[d], ss[d], ds[d])

    if isinstance(padding, (tuple, list)):
        items = list(padding)
        if dims == 1 and len(items) == 2 and not any(isinstance(p, (str, tuple, list)) for p in items):
            per = [one(tuple(items), 0)]  # (left, right)
        elif len(items) == dims:
            per = [one(p, d) for d, p in enumerate(items)]
        else:
            form = "(p,), (left, right) or ((left, right),)" if dims == 1 else \
                "(pH, pW) or ((top, bottom), (left, right))"
            raise ValueError(f"{op}: padding must be an int, 'valid', 'same', 'full', {form}; got {padding!r}")
    else:
        per = [one(padding, d) for d in range(dims)]
    return ((0, 0), per[0]) if dims == 1 else (per[0], per[1])
