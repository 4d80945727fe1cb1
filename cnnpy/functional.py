"""cnnpy.functional: every operation of the engine as a NumPy function, with PyTorch's names,
arguments and semantics, plus a matching ``<op>_backward``.

Arrays in, arrays out. float32 stays float32, float64 stays float64; integer and bool inputs compute
in float64. Inputs may be batched ``(N, C, ...)`` or unbatched ``(C, ...)``; ``conv1d``/``conv2d``
(and the transpose convolutions and pooling) also take a bare signal/image, which is
single-channel filtering and returns a bare result.

Every ``<op>_backward(grad_output, <the op's own arguments>)`` returns the gradient with respect to
each array argument of the op, in order: one array, or a tuple when the op has several (``None`` for
an argument that was None or holds integers, such as a bias left out or class indices).

>>> import numpy as np, cnnpy.functional as F
>>> image = np.array([[0, 1, 0, 0, 1]] * 5, dtype=float)
>>> F.conv2d(image, np.ones((3, 3)), padding=1).shape
(5, 5)
"""
from __future__ import annotations

import numpy as np

from . import _cnn
from ._args import (as_array, as_float, as_int, as_tuple, cast, check_groups, check_numel,
                    gelu_approximate, out_len, pad_mode, real_dtype, reduction)
from ._random import get_rng
from .shapes import conv_padding

__all__ = [
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pad", "interpolate",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "max_unpool1d", "max_unpool2d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "dropout",
    "dropout2d",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy", "correlation_loss",
]
__all__ += [name + "_backward" for name in __all__ if name != "interpolate"]

_ALGO = _cnn.ALGO_AUTO
# Fast paths: the common call (exact float32/float64 C-contiguous ndarrays, plain int arguments)
# checked in C; they return None for anything else and the function takes its full path.
_conv2d_fast, _linear_fast, _activation_fast = _cnn.conv2d_fast, _cnn.linear_fast, _cnn.activation_fast
_linear_backward_fast, _conv2d_backward_fast = _cnn.linear_backward_fast, _cnn.conv2d_backward_fast
_ALL3 = (True, True, True)  # the default output_mask of the backward functions


# ---- shape forms ---------------------------------------------------------------------------------

class _Form:
    """How a user's array maps to the engine's 4-D (N, C, H, W) layout and back.

    kind: 'batched' (N, C, *spatial), 'unbatched' (C, *spatial) or 'bare' (*spatial)."""

    def __init__(self, kind: str, spatial_dims: int):
        self.kind = kind
        self.dims = spatial_dims

    def to4d(self, a: np.ndarray) -> np.ndarray:
        if self.kind == "bare":
            a = a[None, None]
        elif self.kind == "unbatched":
            a = a[None]
        return a[:, :, None, :] if self.dims == 1 else a

    def user_shape(self, shape4) -> tuple:
        """The shape in the user's form of an engine array of 4-D shape `shape4`."""
        shape = list(shape4)
        if self.dims == 1:
            del shape[2]
        return tuple(shape[2:] if self.kind == "bare" else shape[1:] if self.kind == "unbatched" else shape)

    def from4d(self, a: np.ndarray) -> np.ndarray:
        if self.dims == 1:
            a = a[:, :, 0, :]
        if self.kind == "bare":
            return a[0, 0]
        if self.kind == "unbatched":
            return a[0]
        return a


def _input_form(op: str, x: np.ndarray, dims: int, allow_bare: bool) -> _Form:
    nd = x.ndim
    if nd == dims + 2:
        return _Form("batched", dims)
    if nd == dims + 1:
        return _Form("unbatched", dims)
    if nd == dims and allow_bare:
        return _Form("bare", dims)
    names = "L" if dims == 1 else "H, W"
    bare = f", or a bare ({names})" if allow_bare else ""
    raise ValueError(f"{op}: input must be (N, C, {names}) or (C, {names}){bare}; got shape {x.shape}")


def _weight_form(op: str, x: np.ndarray, w: np.ndarray, dims: int) -> _Form:
    """Convolutions: a bare input goes with a bare kernel, anything else with a full weight."""
    if x.ndim == dims and w.ndim == dims:
        return _Form("bare", dims)
    form = _input_form(op, x, dims, allow_bare=False)
    if w.ndim != dims + 2:
        shape = "(C_out, C_in/groups, k)" if dims == 1 else "(C_out, C_in/groups, kH, kW)"
        raise ValueError(f"{op}: weight must be {shape} for an input of shape {x.shape}; "
                         f"got shape {w.shape}")
    return form


def _spatial_ok(op: str, x4: np.ndarray, dims: int):
    sizes = x4.shape[2:] if dims == 2 else x4.shape[3:]
    if any(s == 0 for s in sizes):
        raise ValueError(f"{op}: spatial size {'x'.join(map(str, sizes))} of the input must be non-zero")


def _hw(values, dims):
    """A per-dim tuple of the op's dims as the engine's (h, w) pair."""
    return (1, values[0]) if dims == 1 else tuple(values)


def _size_text(hw, dims):
    return str(hw[1]) if dims == 1 else f"{hw[0]}x{hw[1]}"


def _grad4(op: str, form: _Form, grad_output, dtype, want) -> np.ndarray:
    """grad_output, checked to have the forward output's shape (in the user's form), as 4-D."""
    g = cast(as_array(op, "grad_output", grad_output), dtype)
    expect = form.user_shape(want)
    if g.shape != expect:
        raise ValueError(f"{op}: grad_output must have the output's shape {expect}, got {g.shape}")
    return form.to4d(g)


# ---- convolution ---------------------------------------------------------------------------------

class _ConvSetup:
    """Normalised arguments of conv1d/conv2d, shared by forward and backward."""

    def __init__(self, op, dims, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, value, mode):
        x = as_array(op, "input", input)
        w = as_array(op, "weight", weight)
        b = None if bias is None else as_array(op, "bias", bias)
        self.form = _weight_form(op, x, w, dims)
        self.w_form = _Form("bare", dims) if self.form.kind == "bare" else _Form("batched", dims)
        self.dtype = real_dtype(x, w, b)
        x4 = self.form.to4d(cast(x, self.dtype))
        w4 = self.w_form.to4d(cast(w, self.dtype))
        self.groups = as_int(op, "groups", groups, 1)
        c_in, c_out = x4.shape[1], w4.shape[0]
        if c_in != w4.shape[1] * self.groups:
            raise ValueError(f"{op}: input has {c_in} channels but weight {tuple(w.shape)} with "
                             f"groups={self.groups} expects {w4.shape[1] * self.groups}")
        check_groups(op, self.groups, {"out channels": c_out})
        if b is not None:
            b = cast(b, self.dtype)
            if b.shape != (c_out,):
                raise ValueError(f"{op}: bias must have shape ({c_out},), got {b.shape}")
        _spatial_ok(op, x4, dims)
        stride_t = as_tuple(op, "stride", stride, dims, 1)
        dil_t = as_tuple(op, "dilation", dilation, dims, 1)
        k_t = w4.shape[2:] if dims == 2 else w4.shape[3:]
        sizes = x4.shape[2:] if dims == 2 else x4.shape[3:]
        if any(k == 0 for k in k_t):
            raise ValueError(f"{op}: kernel size {'x'.join(map(str, k_t))} must be non-zero")
        pads = conv_padding(op, padding, dims, sizes, k_t, stride_t, dil_t)
        self.stride, self.dilation = _hw(stride_t, dims), _hw(dil_t, dims)
        self.mode_code = pad_mode(op, "padding_mode", padding_mode)
        self.value = 0.0 if padding_mode == "zeros" else as_float(op, "value", value)
        if not isinstance(mode, str):
            raise TypeError(f"{op}: mode must be a string, 'xcorr' or 'conv', got {mode!r}")
        if mode not in ("xcorr", "conv"):
            raise ValueError(f"{op}: mode must be 'xcorr' (cross-correlation) or 'conv' (true "
                             f"convolution), got {mode!r}")
        self.flip = mode == "conv"
        if self.flip:
            w4 = w4[:, :, ::-1, ::-1]
        # Zero (or constant-0) padding is implicit in the engine; other modes pad explicitly.
        self.explicit = not (self.mode_code == _cnn.PAD_CONSTANT and self.value == 0.0)
        self.pad_list = [0, 0, 0, 0, pads[0][0], pads[0][1], pads[1][0], pads[1][1]]
        self.x4_shape = x4.shape
        if self.explicit and any(self.pad_list):
            padded = [n + self.pad_list[2 * i] + self.pad_list[2 * i + 1] for i, n in enumerate(x4.shape)]
            check_numel(op, f"the input padded by {padding!r}", padded, self.dtype)
            x4 = _cnn.pad_forward(x4, self.pad_list, self.mode_code, self.value)
            self.engine_pads = ((0, 0), (0, 0))
        else:
            self.explicit = False
            self.engine_pads = pads
        kh, kw = w4.shape[2], w4.shape[3]
        (pt, pb), (pl, pr) = self.engine_pads
        h, w_ = x4.shape[2], x4.shape[3]
        sh, sw = self.stride
        dh, dw = self.dilation
        what = f"the output size for padding={padding!r}, dilation={dilation!r}"
        try:
            self.out_hw = (out_len(op, what, _cnn.conv_out_len, h, kh, sh, pt, pb, dh),
                           out_len(op, what, _cnn.conv_out_len, w_, kw, sw, pl, pr, dw))
        except ValueError:
            padded = (h + pt + pb, w_ + pl + pr)
            span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
            raise ValueError(f"{op}: padded input {_size_text(padded, dims)} is smaller than the "
                             f"dilated kernel {_size_text(span, dims)}") from None
        check_numel(op, "the output", (x4.shape[0], c_out, *self.out_hw), self.dtype)
        self.x4, self.w4, self.b = x4, w4, b
        self.dims = dims

    def engine_args(self):
        """The engine's geometry tuple and algorithm."""
        (pt, pb), (pl, pr) = self.engine_pads
        return (*self.stride, pt, pb, pl, pr, *self.dilation, self.groups), _ALGO


def _conv_forward(op, dims, *args):
    s = _ConvSetup(op, dims, *args)
    y = _cnn.conv2d_forward(s.x4, s.w4, s.b, *s.engine_args())
    return s.form.from4d(y)


def _mask(op, output_mask, n):
    """PyTorch's output_mask: which of the n gradients to compute (the others come back None)."""
    if not isinstance(output_mask, (tuple, list)) or len(output_mask) != n:
        raise ValueError(f"{op}: output_mask must be a sequence of {n} booleans, got {output_mask!r}")
    return tuple(bool(m) for m in output_mask)


def _conv_backward(op, dims, grad_output, *args, output_mask=(True, True, True)):
    need_x, need_w, need_b = _mask(op, output_mask, 3)
    s = _ConvSetup(op, dims, *args)
    g4 = _grad4(op, s.form, grad_output, s.dtype, (s.x4.shape[0], s.w4.shape[0], *s.out_hw))
    gx, gw, gb = _cnn.conv2d_backward(g4, s.x4, s.w4, need_x, need_w, need_b and s.b is not None,
                                      *s.engine_args())
    if gx is not None:
        if s.explicit:
            gx = _cnn.pad_backward(gx, s.x4_shape, s.pad_list, s.mode_code)
        gx = s.form.from4d(gx)
    if gw is not None:
        gw = s.w_form.from4d(gw[:, :, ::-1, ::-1].copy() if s.flip else gw)
    return gx, gw, gb


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", value=0.0, mode="xcorr"):
    """2-D convolution (cross-correlation by default, as CNNs compute).

    input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias (C_out) or
    None; or a bare image (H, W) with a bare kernel (kH, kW), giving a bare (OH, OW) result.
    padding: int, (pH, pW), ((top, bottom), (left, right)), 'valid', 'same' (any stride and
    dilation: output ceil(n / stride), the odd pixel at the end) or 'full'. padding_mode: 'zeros',
    'constant' (fills `value`), 'reflect'/'mirror', 'symmetric', 'replicate'/'edge',
    'circular'/'wrap'. mode='conv' flips the kernel (true convolution).

    >>> import numpy as np
    >>> I = np.array([[0,1,0,0,1]] * 2 + [[0,1,1,1,1]] + [[0,1,0,0,1]] * 2, dtype=float)
    >>> K = np.array([[1, 1, 1], [-1, -1, -1], [0, 0, 0]], dtype=float)
    >>> conv2d(I, K).tolist()
    [[0.0, 0.0, 0.0], [-1.0, -2.0, -2.0], [1.0, 2.0, 2.0]]

    PyTorch: ``torch.nn.functional.conv2d`` (padding_mode as in ``nn.Conv2d``).
    """
    if padding_mode == "zeros" and mode == "xcorr":  # the common call, checked in C
        y = _conv2d_fast(input, weight, bias, stride, padding, dilation, groups, _ALGO)
        if y is not None:
            return y
    return _conv_forward("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                         padding_mode, value, mode)


def conv2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, padding_mode="zeros", value=0.0, mode="xcorr", *,
                    output_mask=(True, True, True)):
    """Gradients of conv2d: (grad_input, grad_weight, grad_bias or None). ``output_mask`` (as in
    PyTorch's convolution_backward) skips the gradients not needed; they come back None."""
    if (padding_mode == "zeros" and mode == "xcorr" and type(output_mask) is tuple
            and len(output_mask) == 3):  # the common call, checked in C
        r = _conv2d_backward_fast(grad_output, input, weight, bias, stride, padding, dilation,
                                  groups, _ALGO, *output_mask)
        if r is not None:
            return r
    return _conv_backward("conv2d_backward", 2, grad_output, input, weight, bias, stride, padding,
                          dilation, groups, padding_mode, value, mode, output_mask=output_mask)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", value=0.0, mode="xcorr"):
    """1-D convolution: input (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k); or a bare
    signal (L,) with a bare kernel (k,). padding: int, (left, right), 'valid', 'same', 'full';
    other arguments as conv2d.

    >>> import numpy as np
    >>> conv1d(np.array([1., 2, 3, 4]), np.array([1., -1])).tolist()
    [-1.0, -1.0, -1.0]

    PyTorch: ``torch.nn.functional.conv1d``.
    """
    return _conv_forward("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                         padding_mode, value, mode)


def conv1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0, dilation=1,
                    groups=1, padding_mode="zeros", value=0.0, mode="xcorr", *,
                    output_mask=(True, True, True)):
    """Gradients of conv1d: (grad_input, grad_weight, grad_bias or None). ``output_mask`` (as in
    PyTorch's convolution_backward) skips the gradients not needed; they come back None."""
    return _conv_backward("conv1d_backward", 1, grad_output, input, weight, bias, stride, padding,
                          dilation, groups, padding_mode, value, mode, output_mask=output_mask)


# ---- transpose convolution ---------------------------------------------------------------------

class _TransposeSetup:
    def __init__(self, op, dims, input, weight, bias, stride, padding, output_padding, groups,
                 dilation, output_size):
        x = as_array(op, "input", input)
        w = as_array(op, "weight", weight)
        b = None if bias is None else as_array(op, "bias", bias)
        self.form = _weight_form(op, x, w, dims)
        self.w_form = _Form("bare", dims) if self.form.kind == "bare" else _Form("batched", dims)
        self.dtype = real_dtype(x, w, b)
        x4 = self.form.to4d(cast(x, self.dtype))
        w4 = self.w_form.to4d(cast(w, self.dtype))
        self.groups = as_int(op, "groups", groups, 1)
        c_in = x4.shape[1]
        if w4.shape[0] != c_in:
            raise ValueError(f"{op}: input has {c_in} channels but weight {tuple(w.shape)} expects "
                             f"{w4.shape[0]} (weight is (C_in, C_out/groups, ...))")
        check_groups(op, self.groups, {"input channels": c_in})
        c_out = w4.shape[1] * self.groups
        if b is not None:
            b = cast(b, self.dtype)
            if b.shape != (c_out,):
                raise ValueError(f"{op}: bias must have shape ({c_out},), got {b.shape}")
        _spatial_ok(op, x4, dims)
        k_t = w4.shape[2:] if dims == 2 else w4.shape[3:]
        if any(k == 0 for k in k_t):
            raise ValueError(f"{op}: kernel size {'x'.join(map(str, k_t))} must be non-zero")
        sizes = x4.shape[2:] if dims == 2 else x4.shape[3:]
        s_t = as_tuple(op, "stride", stride, dims, 1)
        p_t = as_tuple(op, "padding", padding, dims, 0)
        d_t = as_tuple(op, "dilation", dilation, dims, 1)
        if output_size is not None:
            op_t = self._output_padding_for(op, output_size, dims, sizes, k_t, s_t, p_t, d_t)
        else:
            op_t = as_tuple(op, "output_padding", output_padding, dims, 0)
        for o, s, d in zip(op_t, s_t, d_t):
            if o >= s and o >= d:
                raise ValueError(f"{op}: output_padding must be smaller than stride ({s}) or "
                                 f"dilation ({d}), got {o}")
        out = []
        for n, k, s, p, d, o in zip(sizes, k_t, s_t, p_t, d_t, op_t):
            try:
                out.append(out_len(op, f"the output size ({n} - 1)*{s} - 2*{p} + {d}*({k}-1) + {o} + 1",
                                   _cnn.conv_transpose_out_len, n, k, s, p, d, o))
            except ValueError:
                full = (n - 1) * s + d * (k - 1) + o + 1
                raise ValueError(f"{op}: padding {p} on both sides removes more than the whole "
                                 f"output of length {full}") from None
        self.out_hw = _hw(out, dims)
        check_numel(op, "the output", (x4.shape[0], c_out, *self.out_hw), self.dtype)
        self.args = ((*_hw(s_t, dims), *(_hw(p_t, dims) if dims == 2 else (0, p_t[0])),
                      *(_hw(op_t, dims) if dims == 2 else (0, op_t[0])), *_hw(d_t, dims),
                      self.groups), _ALGO)  # the engine's geometry tuple and algorithm
        self.x4, self.w4, self.b = x4, w4, b

    @staticmethod
    def _output_padding_for(op, output_size, dims, sizes, ks, ss, ps, ds):
        size = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size]
        if len(size) == dims + 2 or len(size) == dims + 1:
            size = size[-dims:]
        if len(size) != dims:
            raise ValueError(f"{op}: output_size must have {dims} entries, got {output_size!r}")
        size = [as_int(op, "output_size", v, 1) for v in size]
        lo = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, k, s, p, d in zip(sizes, ks, ss, ps, ds)]
        hi = [m + max(s, d) - 1 for m, s, d in zip(lo, ss, ds)]
        if any(not (a <= v <= b) for v, a, b in zip(size, lo, hi)):
            raise ValueError(f"{op}: requested output_size {tuple(size)}, but valid sizes range "
                             f"from {tuple(lo)} to {tuple(hi)} for an input of {tuple(sizes)}")
        return tuple(v - a for v, a in zip(size, lo))


def _transpose_forward(op, dims, *args):
    s = _TransposeSetup(op, dims, *args)
    return s.form.from4d(_cnn.conv_transpose2d_forward(s.x4, s.w4, s.b, *s.args))


def _transpose_backward(op, dims, grad_output, *args, output_mask=(True, True, True)):
    need_x, need_w, need_b = _mask(op, output_mask, 3)
    s = _TransposeSetup(op, dims, *args)
    g4 = _grad4(op, s.form, grad_output, s.dtype, (s.x4.shape[0], s.w4.shape[1] * s.groups, *s.out_hw))
    gx, gw, gb = _cnn.conv_transpose2d_backward(g4, s.x4, s.w4, need_x, need_w,
                                                need_b and s.b is not None, *s.args)
    return (None if gx is None else s.form.from4d(gx)), (None if gw is None else s.w_form.from4d(gw)), gb


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, output_size=None):
    """2-D transpose convolution (the gradient of conv2d with respect to its input).

    input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out/groups, kH, kW); or a bare image with
    a bare kernel. Output size ``(H-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1``;
    ``output_size`` picks output_padding (the error states the valid range).

    >>> import numpy as np
    >>> conv_transpose2d(np.ones((2, 2)), np.ones((3, 3)), stride=2).shape
    (5, 5)

    PyTorch: ``torch.nn.functional.conv_transpose2d`` (plus ``output_size`` as in ``nn.ConvTranspose2d``).
    """
    return _transpose_forward("conv_transpose2d", 2, input, weight, bias, stride, padding,
                              output_padding, groups, dilation, output_size)


def conv_transpose2d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1, output_size=None, *,
                              output_mask=(True, True, True)):
    """Gradients of conv_transpose2d: (grad_input, grad_weight, grad_bias or None); ``output_mask``
    skips gradients not needed (they come back None)."""
    return _transpose_backward("conv_transpose2d_backward", 2, grad_output, input, weight, bias,
                               stride, padding, output_padding, groups, dilation, output_size,
                               output_mask=output_mask)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, output_size=None):
    """1-D transpose convolution: input (N, C_in, L) or (C_in, L), weight (C_in, C_out/groups, k);
    or a bare signal with a bare kernel.

    >>> import numpy as np
    >>> conv_transpose1d(np.array([1., 2]), np.array([1., 1, 1]), stride=2).tolist()
    [1.0, 1.0, 3.0, 2.0, 2.0]

    PyTorch: ``torch.nn.functional.conv_transpose1d``.
    """
    return _transpose_forward("conv_transpose1d", 1, input, weight, bias, stride, padding,
                              output_padding, groups, dilation, output_size)


def conv_transpose1d_backward(grad_output, input, weight, bias=None, stride=1, padding=0,
                              output_padding=0, groups=1, dilation=1, output_size=None, *,
                              output_mask=(True, True, True)):
    """Gradients of conv_transpose1d: (grad_input, grad_weight, grad_bias or None); ``output_mask``
    skips gradients not needed (they come back None)."""
    return _transpose_backward("conv_transpose1d_backward", 1, grad_output, input, weight, bias,
                               stride, padding, output_padding, groups, dilation, output_size,
                               output_mask=output_mask)


# ---- padding -------------------------------------------------------------------------------------

def _pad_setup(op, input, pad_arg, mode, value):
    x = as_array(op, "input", input)
    x = cast(x, real_dtype(x))
    if not isinstance(pad_arg, (tuple, list)):
        raise TypeError(f"{op}: pad must be a tuple of ints (last dim first), got {pad_arg!r}")
    pads = [as_int(op, "pad", p) for p in pad_arg]
    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise ValueError(f"{op}: pad must have an even length of at most 2*ndim = {2 * x.ndim}, "
                         f"got {len(pads)} values for an input of shape {x.shape}")
    code = pad_mode(op, "mode", mode)
    val = as_float(op, "value", 0.0 if value is None else value)
    full = [0] * (2 * x.ndim)
    for i in range(len(pads) // 2):  # pad[2i], pad[2i+1] pad dim -1-i
        d = x.ndim - 1 - i
        full[2 * d], full[2 * d + 1] = pads[2 * i], pads[2 * i + 1]
    out = []
    for d in range(x.ndim):
        before, after = full[2 * d], full[2 * d + 1]
        try:
            out.append(out_len(op, f"the padded size {x.shape[d]} + {before} + {after} of dim {d}",
                               _cnn.pad_out_len, x.shape[d], before, after, code))
        except ValueError:
            raise ValueError(f"{op}: pads ({before}, {after}) do not fit dim {d} of "
                             f"size {x.shape[d]} in mode {mode!r}") from None
    check_numel(op, "the output", out, x.dtype)
    return x, full, code, val, tuple(out)


def pad(input, pad, mode="constant", value=0.0):
    """Pad (or, with negative values, crop) an array. ``pad`` lists (before, after) pairs starting
    from the LAST dim, as PyTorch: ``(left, right, top, bottom, ...)``. Modes: 'constant' (fills
    `value`; alias 'zeros'), 'reflect'/'mirror' (edge not repeated), 'symmetric' (edge repeated),
    'replicate'/'edge', 'circular'/'wrap'; pads wider than the input keep bouncing or wrapping as
    ``numpy.pad`` does. Negative pads crop; reflect/symmetric/replicate still mirror about the
    original edges, circular wraps around what is left (PyTorch's rules).

    >>> import numpy as np
    >>> pad(np.array([1., 2, 3]), (2, 2), mode="symmetric").tolist()
    [2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0]

    PyTorch: ``torch.nn.functional.pad`` (plus 'symmetric' and wide pads).
    """
    x, full, code, val, _ = _pad_setup("pad", input, pad, mode, value)
    return _cnn.pad_forward(x, full, code, val)


def pad_backward(grad_output, input, pad, mode="constant", value=0.0):
    """Gradient of pad with respect to its input."""
    op = "pad_backward"
    x, full, code, _, out = _pad_setup(op, input, pad, mode, value)
    g = cast(as_array(op, "grad_output", grad_output), x.dtype)
    if g.ndim != x.ndim:
        raise ValueError(f"{op}: the input has {x.ndim} dims, grad_output has {g.ndim}")
    for axis, (n, want) in enumerate(zip(g.shape, out)):
        if n != want:
            raise ValueError(f"{op}: grad_output has size {n} along axis {axis}, expected {want}")
    return _cnn.pad_backward(g, x.shape, full, code)


# ---- pooling -------------------------------------------------------------------------------------

class _PoolSetup:
    def __init__(self, op, dims, input, kernel_size, stride, padding, dilation, ceil_mode):
        x = as_array(op, "input", input)
        self.form = _input_form(op, x, dims, allow_bare=True)
        self.dtype = real_dtype(x)
        self.x4 = self.form.to4d(cast(x, self.dtype))
        _spatial_ok(op, self.x4, dims)
        k = as_tuple(op, "kernel_size", kernel_size, dims, 1)
        s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
            else as_tuple(op, "stride", stride, dims, 1)
        p = as_tuple(op, "padding", padding, dims, 0)
        d = as_tuple(op, "dilation", dilation, dims, 1)
        for ki, pi in zip(k, p):
            if pi > ki // 2:
                raise ValueError(f"{op}: padding must be at most half the kernel size "
                                 f"({ki} // 2 = {ki // 2}), got {pi}")
        self.k, self.s, self.p, self.d = _hw(k, dims), _hw(s, dims), (_hw(p, dims) if dims == 2 else (0, p[0])), _hw(d, dims)
        self.window = (*self.k, *self.s, *self.p, *self.d)  # the engine's window tuple
        self.ceil = bool(ceil_mode)
        h, w = self.x4.shape[2:]
        what = f"the output size for kernel_size={kernel_size!r}, padding={padding!r}, dilation={dilation!r}"
        try:
            self.out_hw = tuple(out_len(op, what, _cnn.pool_out_len, n, *a, self.ceil) for n, a in
                                zip((h, w), zip(self.k, self.s, self.p, self.d)))
        except ValueError:
            padded = (h + 2 * self.p[0], w + 2 * self.p[1])
            span = tuple(di * (ki - 1) + 1 for ki, di in zip(self.k, self.d))
            raise ValueError(f"{op}: padded input {_size_text(padded, dims)} is smaller than the "
                             f"window {_size_text(span, dims)}") from None
        check_numel(op, "the output", (*self.x4.shape[:2], *self.out_hw), self.dtype)
        self.dims = dims

    def check_grad(self, op, grad_output):
        return _grad4(op, self.form, grad_output, self.dtype, (*self.x4.shape[:2], *self.out_hw))


def _indices4(op, form, indices, shape, limit, missing=True, check=True):
    """User-given indices as int64 in the engine's 4-D layout, checked to have `shape` and (with
    `check`, or when the cast could wrap a value; else the engine checks them) to lie in [0, limit) (positions in an input or output
    plane) or, with `missing`, be -1 (max pooling's index of a window that holds no input element:
    it has no position)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer array, got dtype {idx.dtype}")
    idx4 = form.to4d(idx)
    if idx4.shape != tuple(shape):
        raise ValueError(f"{op}: indices of shape {idx.shape} do not match the output's shape "
                         f"{form.user_shape(shape)}")
    lowest = -1 if missing else 0
    if (check or idx4.dtype != np.int64) and idx4.size and (idx4.min() < lowest or idx4.max() >= limit):  # before the cast: quote the real value
        bad = idx4[(idx4 < lowest) | (idx4 >= limit)].flat[0]
        raise ValueError(f"{op}: indices must lie in [0, {limit}) (positions in a plane)"
                         + (" or be -1" if missing else "") + f", got {bad}")
    return idx4.astype(np.int64, copy=False)


def _max_pool(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    s = _PoolSetup(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode)
    y, idx = _cnn.max_pool2d_forward(s.x4, s.window, s.ceil)
    y = s.form.from4d(y)
    return (y, s.form.from4d(idx)) if return_indices else y


def _max_pool_backward(op, dims, grad_output, input, kernel_size, stride, padding, dilation,
                       ceil_mode, indices):
    s = _PoolSetup(op, dims, input, kernel_size, stride, padding, dilation, ceil_mode)
    g4 = s.check_grad(op, grad_output)
    h, w = s.x4.shape[2:]
    if indices is None:
        _, idx = _cnn.max_pool2d_forward(s.x4, s.window, s.ceil)
    else:  # the engine checks the indices as it reads them: no pass over them here
        idx = _indices4(op, s.form, indices, g4.shape, h * w, check=False)
    try:
        return s.form.from4d(_cnn.max_pool2d_backward(g4, idx, h, w))
    except ValueError:  # an index out of range: the message that quotes it
        _indices4(op, s.form, indices, g4.shape, h * w)
        raise


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling of (N, C, H, W), (C, H, W) or a bare (H, W). stride defaults to
    kernel_size; padding (implicit -inf) at most half the kernel; ceil_mode as PyTorch (a last
    window that would start in the right padding is dropped). NaN propagates. With
    return_indices, also the flat index ``ih*W + iw`` of each maximum in its plane.

    >>> import numpy as np
    >>> max_pool2d(np.array([[100., 0, 0, 0], [500, 10, 100, 0], [0, 100, 250, 0], [0, 0, 0, 250]]), 2).tolist()
    [[500.0, 100.0], [100.0, 250.0]]

    PyTorch: ``torch.nn.functional.max_pool2d``.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, return_indices=False, indices=None):
    """Gradient of max_pool2d with respect to its input. Pass the forward's ``indices`` to skip
    recomputing them."""
    return _max_pool_backward("max_pool2d_backward", 2, grad_output, input, kernel_size, stride,
                              padding, dilation, ceil_mode, indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling of (N, C, L), (C, L) or a bare (L,); as max_pool2d.

    >>> import numpy as np
    >>> max_pool1d(np.array([1., 3, 2, 5, 4]), 2).tolist()
    [3.0, 5.0]

    PyTorch: ``torch.nn.functional.max_pool1d``.
    """
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False, return_indices=False, indices=None):
    """Gradient of max_pool1d with respect to its input."""
    return _max_pool_backward("max_pool1d_backward", 1, grad_output, input, kernel_size, stride,
                              padding, dilation, ceil_mode, indices)


def _avg_setup(op, dims, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
               divisor_override):
    s = _PoolSetup(op, dims, input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is None:
        div = 0
    else:
        div = as_int(op, "divisor_override", divisor_override)
        if div <= 0:
            raise ValueError(f"{op}: divisor_override must be a positive int, got {div}")
    return s, (s.window, s.ceil, bool(count_include_pad), div)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling of (N, C, H, W), (C, H, W) or a bare (H, W), PyTorch's divisor rules: a
    window is divided by its size clipped to the padded input (count_include_pad=True), by its
    in-bounds count (False), or by divisor_override.

    >>> import numpy as np
    >>> avg_pool2d(np.array([[100., 0, 0, 0], [500, 10, 100, 0], [0, 100, 250, 0], [0, 0, 0, 250]]), 2).tolist()
    [[152.5, 25.0], [25.0, 125.0]]

    PyTorch: ``torch.nn.functional.avg_pool2d``.
    """
    s, args = _avg_setup("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, divisor_override)
    return s.form.from4d(_cnn.avg_pool2d_forward(s.x4, *args))


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d with respect to its input."""
    op = "avg_pool2d_backward"
    s, args = _avg_setup(op, 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)
    return s.form.from4d(_cnn.avg_pool2d_backward(s.check_grad(op, grad_output), *s.x4.shape[2:], *args))


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling of (N, C, L), (C, L) or a bare (L,).

    >>> import numpy as np
    >>> avg_pool1d(np.array([1., 3, 2, 6]), 2).tolist()
    [2.0, 4.0]

    PyTorch: ``torch.nn.functional.avg_pool1d``.
    """
    s, args = _avg_setup("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                         count_include_pad, None)
    return s.form.from4d(_cnn.avg_pool2d_forward(s.x4, *args))


def avg_pool1d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of avg_pool1d with respect to its input."""
    op = "avg_pool1d_backward"
    s, args = _avg_setup(op, 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                         None)
    return s.form.from4d(_cnn.avg_pool2d_backward(s.check_grad(op, grad_output), *s.x4.shape[2:], *args))


def _adaptive_setup(op, dims, input, output_size):
    x = as_array(op, "input", input)
    form = _input_form(op, x, dims, allow_bare=True)
    x4 = form.to4d(cast(x, real_dtype(x)))
    _spatial_ok(op, x4, dims)
    sizes = x4.shape[2:] if dims == 2 else x4.shape[3:]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != dims:
            raise ValueError(f"{op}: output_size must be an int or {dims} values, got {output_size!r}")
        out = [n if o is None else as_int(op, "output_size", o, 1) for n, o in zip(sizes, output_size)]
    else:
        out = [as_int(op, "output_size", output_size, 1)] * dims
    check_numel(op, "the output", (*x4.shape[:2], *out), x4.dtype)
    return form, x4, _hw(out, dims)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size: cell i covers
    ``[floor(i*n/out), ceil((i+1)*n/out))``. output_size: int or (oH, oW), None keeps a dim.

    >>> import numpy as np
    >>> adaptive_avg_pool2d(np.arange(16.).reshape(4, 4), 1).tolist()
    [[7.5]]

    PyTorch: ``torch.nn.functional.adaptive_avg_pool2d``.
    """
    form, x4, out = _adaptive_setup("adaptive_avg_pool2d", 2, input, output_size)
    return form.from4d(_cnn.adaptive_pool2d_forward(x4, *out, False))


def _adaptive_grad(op, form, x4, out, grad_output):
    return _grad4(op, form, grad_output, x4.dtype, (*x4.shape[:2], *out))


def adaptive_avg_pool2d_backward(grad_output, input, output_size):
    """Gradient of adaptive_avg_pool2d with respect to its input."""
    op = "adaptive_avg_pool2d_backward"
    form, x4, out = _adaptive_setup(op, 2, input, output_size)
    g4 = _adaptive_grad(op, form, x4, out, grad_output)
    return form.from4d(_cnn.adaptive_avg_pool2d_backward(g4, *x4.shape[2:]))


def adaptive_avg_pool1d(input, output_size):
    """1-D adaptive average pooling; as adaptive_avg_pool2d.

    PyTorch: ``torch.nn.functional.adaptive_avg_pool1d``."""
    form, x4, out = _adaptive_setup("adaptive_avg_pool1d", 1, input, output_size)
    return form.from4d(_cnn.adaptive_pool2d_forward(x4, *out, False))


def adaptive_avg_pool1d_backward(grad_output, input, output_size):
    """Gradient of adaptive_avg_pool1d with respect to its input."""
    op = "adaptive_avg_pool1d_backward"
    form, x4, out = _adaptive_setup(op, 1, input, output_size)
    g4 = _adaptive_grad(op, form, x4, out, grad_output)
    return form.from4d(_cnn.adaptive_avg_pool2d_backward(g4, *x4.shape[2:]))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (windows as adaptive_avg_pool2d; NaN propagates).

    >>> import numpy as np
    >>> adaptive_max_pool2d(np.arange(16.).reshape(4, 4), 2).tolist()
    [[5.0, 7.0], [13.0, 15.0]]

    PyTorch: ``torch.nn.functional.adaptive_max_pool2d``.
    """
    form, x4, out = _adaptive_setup("adaptive_max_pool2d", 2, input, output_size)
    y, idx = _cnn.adaptive_pool2d_forward(x4, *out, True)
    return (form.from4d(y), form.from4d(idx)) if return_indices else form.from4d(y)


def _adaptive_max_backward(op, dims, grad_output, input, output_size, indices):
    form, x4, out = _adaptive_setup(op, dims, input, output_size)
    g4 = _adaptive_grad(op, form, x4, out, grad_output)
    if indices is None:
        _, idx = _cnn.adaptive_pool2d_forward(x4, *out, True)
    else:
        idx = _indices4(op, form, indices, g4.shape, x4.shape[2] * x4.shape[3], missing=False)
    return form.from4d(_cnn.max_pool2d_backward(g4, idx, *x4.shape[2:]))


def adaptive_max_pool2d_backward(grad_output, input, output_size, return_indices=False,
                                 indices=None):
    """Gradient of adaptive_max_pool2d with respect to its input."""
    return _adaptive_max_backward("adaptive_max_pool2d_backward", 2, grad_output, input,
                                  output_size, indices)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """1-D adaptive max pooling; as adaptive_max_pool2d.

    PyTorch: ``torch.nn.functional.adaptive_max_pool1d``."""
    form, x4, out = _adaptive_setup("adaptive_max_pool1d", 1, input, output_size)
    y, idx = _cnn.adaptive_pool2d_forward(x4, *out, True)
    return (form.from4d(y), form.from4d(idx)) if return_indices else form.from4d(y)


def adaptive_max_pool1d_backward(grad_output, input, output_size, return_indices=False,
                                 indices=None):
    """Gradient of adaptive_max_pool1d with respect to its input."""
    return _adaptive_max_backward("adaptive_max_pool1d_backward", 1, grad_output, input,
                                  output_size, indices)


def _unpool_setup(op, dims, input, indices, kernel_size, stride, padding, output_size):
    x = as_array(op, "input", input)
    form = _input_form(op, x, dims, allow_bare=True)
    x4 = form.to4d(cast(x, real_dtype(x)))
    k = as_tuple(op, "kernel_size", kernel_size, dims, 1)
    s = k if stride is None else as_tuple(op, "stride", stride, dims, 1)
    p = as_tuple(op, "padding", padding, dims, 0)
    sizes = x4.shape[2:] if dims == 2 else x4.shape[3:]
    if output_size is None:
        out = [(n - 1) * si - 2 * pi + ki for n, ki, si, pi in zip(sizes, k, s, p)]
        if any(o > 2**63 - 1 for o in out):
            raise OverflowError(f"{op}: the default output size (n - 1)*stride - 2*padding + "
                                f"kernel_size = {tuple(out)} overflows int64 (kernel_size="
                                f"{kernel_size!r}, stride={stride!r})")
        if any(o < 1 for o in out):
            raise ValueError(f"{op}: the default output size (n - 1)*stride - 2*padding + kernel_size "
                             f"= {tuple(out)} is not positive: padding={padding!r} is too large for "
                             f"kernel_size={kernel_size!r}")
    else:
        out = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size]
        out = out[-dims:] if len(out) > dims else out
        if len(out) != dims:
            raise ValueError(f"{op}: output_size must have {dims} entries, got {output_size!r}")
    out = [as_int(op, "output_size", o, 1) for o in out]
    check_numel(op, "the output", (*x4.shape[:2], *out), x4.dtype)
    out = _hw(out, dims)
    idx4 = _indices4(op, form, indices, x4.shape, out[0] * out[1])
    return form, x4, idx4, out


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Inverse of max_pool2d: zeros with each value put back at its index. Default output size
    ``(H-1)*stride - 2*padding + kernel_size``.

    >>> import numpy as np
    >>> y, i = max_pool2d(np.array([[1., 2], [4, 3]]), 2, return_indices=True)
    >>> max_unpool2d(y, i, 2).tolist()
    [[0.0, 0.0], [4.0, 0.0]]

    PyTorch: ``torch.nn.functional.max_unpool2d``.
    """
    form, x4, idx4, out = _unpool_setup("max_unpool2d", 2, input, indices, kernel_size, stride,
                                        padding, output_size)
    return form.from4d(_cnn.max_unpool2d_forward(x4, idx4, *out))


def _max_unpool_backward(op, dims, grad_output, input, indices, kernel_size, stride, padding,
                         output_size):
    form, x4, idx4, out = _unpool_setup(op, dims, input, indices, kernel_size, stride, padding,
                                        output_size)
    g4 = _grad4(op, form, grad_output, x4.dtype, (*x4.shape[:2], *out))
    return form.from4d(_cnn.max_unpool2d_backward(g4, idx4)), None


def max_unpool2d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    """Gradients of max_unpool2d: (grad_input, None) — indices have no gradient."""
    return _max_unpool_backward("max_unpool2d_backward", 2, grad_output, input, indices,
                                kernel_size, stride, padding, output_size)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """1-D max unpooling; as max_unpool2d.

    PyTorch: ``torch.nn.functional.max_unpool1d``."""
    form, x4, idx4, out = _unpool_setup("max_unpool1d", 1, input, indices, kernel_size, stride,
                                        padding, output_size)
    return form.from4d(_cnn.max_unpool2d_forward(x4, idx4, *out))


def max_unpool1d_backward(grad_output, input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    """Gradients of max_unpool1d: (grad_input, None)."""
    return _max_unpool_backward("max_unpool1d_backward", 1, grad_output, input, indices,
                                kernel_size, stride, padding, output_size)


# ---- resizing --------------------------------------------------------------------------------------

def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize images (N, C, H, W), (C, H, W) or a bare (H, W) to ``size`` (an int or (oH, oW)) or
    by ``scale_factor`` (output floor(n * factor), indices from the output size as PyTorch's
    ``recompute_scale_factor=True``), with 'nearest' (the same pixels PyTorch picks, bitwise) or
    'bilinear' (align_corners=False, no antialias: PyTorch's source positions and weights; values
    agree with PyTorch's to a few ulps, the products being summed in another order). Forward
    only: this is for data transforms.

    >>> import numpy as np
    >>> interpolate(np.arange(4.).reshape(2, 2), size=4).tolist()[0]
    [0.0, 0.0, 1.0, 1.0]

    PyTorch: ``torch.nn.functional.interpolate`` (2-D, nearest/bilinear).
    """
    op = "interpolate"
    x = as_array(op, "input", input)
    form = _input_form(op, x, 2, allow_bare=True)
    x4 = form.to4d(cast(x, real_dtype(x)))
    modes = {"nearest": _cnn.RESIZE_NEAREST, "bilinear": _cnn.RESIZE_BILINEAR}
    if not isinstance(mode, str) or mode not in modes:
        raise ValueError(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}")
    if align_corners:
        raise ValueError(f"{op}: align_corners=True is not supported (PyTorch's default False is)")
    if align_corners is not None and mode == "nearest":
        raise ValueError(f"{op}: align_corners only applies to 'bilinear'")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    h, w = x4.shape[2:]
    if size is not None:
        out = as_tuple(op, "size", size, 2, 1)
    else:
        factors = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
        if len(factors) != 2:
            raise ValueError(f"{op}: scale_factor must be a number or 2 numbers, got {scale_factor!r}")
        factors = [as_float(op, "scale_factor", f) for f in factors]
        if any(not f > 0 for f in factors):
            raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
        out = (int(np.floor(h * factors[0])), int(np.floor(w * factors[1])))
        if min(out) < 1:
            raise ValueError(f"{op}: scale_factor {scale_factor!r} leaves no pixels of a {h}x{w} image")
    _spatial_ok(op, x4, 2)
    check_numel(op, "the output", (*x4.shape[:2], *out), x4.dtype)
    return form.from4d(_cnn.resize2d_forward(x4, out[0], out[1], modes[mode]))


# ---- dense ---------------------------------------------------------------------------------------

def _linear_setup(op, input, weight, bias):
    x = as_array(op, "input", input)
    w = as_array(op, "weight", weight)
    b = None if bias is None else as_array(op, "bias", bias)
    dt = real_dtype(x, w, b)
    if w.ndim != 2:
        raise ValueError(f"{op}: weight must be (out_features, in_features), got shape {w.shape}")
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"{op}: input's last dim must be in_features={w.shape[1]}, got shape {x.shape}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{op}: bias must have shape ({w.shape[0]},), got {b.shape}")
    x2 = cast(x, dt).reshape(int(np.prod(x.shape[:-1])), w.shape[1])
    return x, x2, cast(w, dt), cast(b, dt)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` for input ``(*, in_features)``, weight ``(out_features, in_features)``.

    >>> import numpy as np
    >>> linear(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4)).shape
    (2, 4)

    PyTorch: ``torch.nn.functional.linear``.
    """
    y = _linear_fast(input, weight, bias)  # the common call, checked in C
    if y is not None:
        return y
    x, x2, w, b = _linear_setup("linear", input, weight, bias)
    return _cnn.linear_forward(x2, w, b).reshape(*x.shape[:-1], w.shape[0])


def linear_backward(grad_output, input, weight, bias=None, *, output_mask=_ALL3):
    """Gradients of linear: (grad_input, grad_weight, grad_bias or None); ``output_mask`` skips
    gradients not needed (they come back None)."""
    if output_mask is _ALL3:  # the common call, checked in C (None: take the full path)
        grads = _linear_backward_fast(grad_output, input, weight, bias)
        if grads is not None:
            return grads
    op = "linear_backward"
    x, x2, w, b = _linear_setup(op, input, weight, bias)
    g = cast(as_array(op, "grad_output", grad_output), x2.dtype)
    if g.shape != (*x.shape[:-1], w.shape[0]):
        raise ValueError(f"{op}: grad_output must have shape {(*x.shape[:-1], w.shape[0])}, got {g.shape}")
    need_x, need_w, need_b = _mask(op, output_mask, 3)
    gx, gw, gb = _cnn.linear_backward(g.reshape(x2.shape[0], w.shape[0]), x2, w, need_x, need_w,
                                      need_b and b is not None)
    return (None if gx is None else gx.reshape(x.shape)), gw, gb


# ---- activations ---------------------------------------------------------------------------------

def _act(op, kind, input, slope=0.0):
    if kind != _cnn.ACT_LEAKY_RELU:  # the common call, checked in C (None: take the full path)
        y = _activation_fast(kind, input)
        if y is not None:
            return y
    x = as_array(op, "input", input)
    return _cnn.activation_forward(kind, cast(x, real_dtype(x)), slope)


def _act_backward(op, kind, grad_output, input, slope=0.0):
    x = as_array(op, "input", input)
    dt = real_dtype(x)
    g = cast(as_array(op, "grad_output", grad_output), dt)
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_output {g.shape} must have the input's shape {x.shape}")
    return _cnn.activation_backward(kind, g, cast(x, dt), slope)


def relu(input):
    """max(input, 0); NaN propagates.

    >>> import numpy as np
    >>> relu(np.array([-1., 2])).tolist()
    [0.0, 2.0]

    PyTorch: ``torch.nn.functional.relu``."""
    return _act("relu", _cnn.ACT_RELU, input)


def relu_backward(grad_output, input):
    """Gradient of relu with respect to its input (0 where input <= 0)."""
    return _act_backward("relu_backward", _cnn.ACT_RELU, grad_output, input)


def leaky_relu(input, negative_slope=0.01):
    """input where positive, negative_slope * input elsewhere.

    >>> import numpy as np
    >>> leaky_relu(np.array([-1., 2]), 0.1).tolist()
    [-0.1, 2.0]

    PyTorch: ``torch.nn.functional.leaky_relu``."""
    return _act("leaky_relu", _cnn.ACT_LEAKY_RELU, input,
                as_float("leaky_relu", "negative_slope", negative_slope))


def leaky_relu_backward(grad_output, input, negative_slope=0.01):
    """Gradient of leaky_relu with respect to its input."""
    return _act_backward("leaky_relu_backward", _cnn.ACT_LEAKY_RELU, grad_output, input,
                         as_float("leaky_relu_backward", "negative_slope", negative_slope))


def sigmoid(input):
    """1 / (1 + exp(-input)), computed stably.

    >>> import numpy as np
    >>> sigmoid(np.array([0.])).tolist()
    [0.5]

    PyTorch: ``torch.sigmoid``."""
    return _act("sigmoid", _cnn.ACT_SIGMOID, input)


def sigmoid_backward(grad_output, input):
    """Gradient of sigmoid with respect to its input."""
    return _act_backward("sigmoid_backward", _cnn.ACT_SIGMOID, grad_output, input)


def tanh(input):
    """Hyperbolic tangent.

    >>> import numpy as np
    >>> tanh(np.array([0.])).tolist()
    [0.0]

    PyTorch: ``torch.tanh``."""
    return _act("tanh", _cnn.ACT_TANH, input)


def tanh_backward(grad_output, input):
    """Gradient of tanh with respect to its input."""
    return _act_backward("tanh_backward", _cnn.ACT_TANH, grad_output, input)


def gelu(input, approximate="none"):
    """GELU, input * Phi(input) with Phi the standard normal CDF:
    0.5 * input * (1 + erf(input / sqrt(2))); ``approximate="tanh"`` computes
    0.5 * input * (1 + tanh(sqrt(2 / pi) * (input + 0.044715 * input**3))). float32 evaluates
    these expressions in float32, as PyTorch does.

    >>> import numpy as np
    >>> gelu(np.array([-1., 0., 1.])).round(4).tolist()
    [-0.1587, 0.0, 0.8413]
    >>> gelu(np.array([1.]), approximate="tanh").round(4).tolist()
    [0.8412]

    PyTorch: ``torch.nn.functional.gelu``."""
    return _act("gelu", gelu_approximate("gelu", approximate), input)


def gelu_backward(grad_output, input, approximate="none"):
    """Gradient of gelu with respect to its input: Phi(x) + x * phi(x) (phi the normal density),
    or the derivative of the tanh form, each written as PyTorch writes it."""
    op = "gelu_backward"
    return _act_backward(op, gelu_approximate(op, approximate), grad_output, input)


def _softmax_setup(op, input, dim):
    x = as_array(op, "input", input)
    x = cast(x, real_dtype(x))
    nd = max(x.ndim, 1)
    d = as_int(op, "dim", dim)
    if not -nd <= d < nd:
        raise ValueError(f"{op}: dim {d} is out of range for an input of shape {x.shape}")
    return x, d % nd


def softmax(input, dim=-1):
    """exp(input) / sum(exp(input)) along `dim` (default the last), computed stably.

    >>> import numpy as np
    >>> softmax(np.array([0., 0.])).tolist()
    [0.5, 0.5]

    PyTorch: ``torch.nn.functional.softmax(input, dim)``."""
    x, d = _softmax_setup("softmax", input, dim)
    return _cnn.softmax_forward(x, d, False)


def _softmax_grad(op, grad_output, x):
    g = cast(as_array(op, "grad_output", grad_output), x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_output {g.shape} must have the input's shape {x.shape}")
    return g


def softmax_backward(grad_output, input, dim=-1):
    """Gradient of softmax with respect to its input."""
    op = "softmax_backward"
    x, d = _softmax_setup(op, input, dim)
    g = _softmax_grad(op, grad_output, x)
    return _cnn.softmax_backward(g, _cnn.softmax_forward(x, d, False), d, False)


def log_softmax(input, dim=-1):
    """log(softmax(input)) along `dim`, computed stably.

    >>> import numpy as np
    >>> round(float(log_softmax(np.array([0., 0.]))[0]), 6)
    -0.693147

    PyTorch: ``torch.nn.functional.log_softmax(input, dim)``."""
    x, d = _softmax_setup("log_softmax", input, dim)
    return _cnn.softmax_forward(x, d, True)


def log_softmax_backward(grad_output, input, dim=-1):
    """Gradient of log_softmax with respect to its input."""
    op = "log_softmax_backward"
    x, d = _softmax_setup(op, input, dim)
    g = _softmax_grad(op, grad_output, x)
    return _cnn.softmax_backward(g, _cnn.softmax_forward(x, d, True), d, True)


def _dropout_setup(op, input, p, training):
    x = as_array(op, "input", input)
    x = cast(x, real_dtype(x))
    p = as_float(op, "p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")
    return x, p, bool(training)


def dropout(input, p=0.5, training=True, rng=None, return_mask=False):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p);
    the identity when not training. ``rng`` is a seed, a ``numpy.random.Generator`` or None
    (cnnpy's generator, see ``cnnpy.manual_seed``). With ``return_mask``, also the boolean keep
    mask (what dropout_backward needs).

    >>> import numpy as np
    >>> dropout(np.ones(4), 0.5, rng=0).tolist()   # kept elements are scaled by 1 / (1 - p)
    [2.0, 0.0, 0.0, 0.0]

    PyTorch: ``torch.nn.functional.dropout`` (with an explicit generator).
    """
    x, p, training = _dropout_setup("dropout", input, p, training)
    if not training:
        return (x.copy(), np.ones(x.shape, dtype=bool)) if return_mask else x.copy()
    mask = get_rng(rng, "dropout").random(x.shape) >= p
    y = _cnn.dropout(x, mask, p, False)
    return (y, mask) if return_mask else y


def dropout_backward(grad_output, input, p=0.5, training=True, rng=None, return_mask=False,
                     mask=None):
    """Gradient of dropout with respect to its input. Give the forward's ``mask``, or the same
    integer seed as ``rng`` so the mask can be drawn again."""
    op = "dropout_backward"
    x, p, training = _dropout_setup(op, input, p, training)
    g = cast(as_array(op, "grad_output", grad_output), x.dtype)
    if g.shape != x.shape:
        raise ValueError(f"{op}: grad_output {g.shape} must have the input's shape {x.shape}")
    if not training:
        return g.copy()
    if mask is None:
        if rng is None or isinstance(rng, np.random.Generator):
            raise ValueError(f"{op}: pass the mask from dropout(..., return_mask=True), or the "
                             f"integer seed used as rng, to recover which elements were dropped")
        mask = get_rng(rng, op).random(x.shape) >= p
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu":
        raise TypeError(f"{op}: mask must be a bool (or 0/1 integer) array, got dtype {mask.dtype}")
    if mask.shape != x.shape:
        raise ValueError(f"{op}: mask {mask.shape} must have the input's shape {x.shape}")
    return _cnn.dropout(g, mask, p, True)


def _channel_mask(op, x, p, rng):
    """A keep mask drawn per channel ((N, C) of (N, C, ...), or C of an unbatched (C, ...)),
    broadcast over the spatial dims."""
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C, ...) or (C, ...), got shape {x.shape}")
    lead = x.shape[:2]
    keep = get_rng(rng, op).random(lead) >= p
    return np.broadcast_to(keep.reshape(lead + (1,) * (x.ndim - 2)), x.shape)


def dropout2d(input, p=0.5, training=True, rng=None, return_mask=False):
    """Channel dropout: zero whole channels of (N, C, H, W) (or (C, H, W)) with probability p and
    scale the rest by 1/(1-p). ``return_mask`` also returns the (broadcast) boolean keep mask.

    >>> import numpy as np
    >>> dropout2d(np.ones((1, 4, 2, 2)), 0.5, rng=0)[0, :, 0, 0].tolist()
    [2.0, 0.0, 0.0, 0.0]

    PyTorch: ``torch.nn.functional.dropout2d``.
    """
    op = "dropout2d"
    x, p, training = _dropout_setup(op, input, p, training)
    if not training:
        return (x.copy(), np.ones(x.shape, dtype=bool)) if return_mask else x.copy()
    unbatched = x.ndim == 3
    mask = _channel_mask(op, x[None] if unbatched else x, p, rng)
    mask = mask[0] if unbatched else mask
    y = _cnn.dropout(x, mask, p, False)
    return (y, mask) if return_mask else y


def dropout2d_backward(grad_output, input, p=0.5, training=True, rng=None, return_mask=False,
                       mask=None):
    """Gradient of dropout2d: pass the forward's ``mask`` (or the same integer seed as ``rng``)."""
    op = "dropout2d_backward"
    x, p, training = _dropout_setup(op, input, p, training)
    if training and mask is None:
        if rng is None or isinstance(rng, np.random.Generator):
            raise ValueError(f"{op}: pass the mask from dropout2d(..., return_mask=True), or the "
                             f"integer seed used as rng, to recover which channels were dropped")
        unbatched = x.ndim == 3
        mask = _channel_mask(op, x[None] if unbatched else x, p, rng)
        mask = mask[0] if unbatched else mask
    return dropout_backward(grad_output, x, p, training, mask=mask)


# ---- losses ----------------------------------------------------------------------------------------

def _scalar_or_array(out: np.ndarray, red: int):
    return out if red == _cnn.REDUCE_NONE else out[()]


def _unbroadcast(g: np.ndarray, shape) -> np.ndarray:
    """Sum g down to `shape` (the adjoint of broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _broadcast(op, name, shape, to):
    try:
        return np.broadcast_shapes(shape, to)
    except ValueError:
        raise ValueError(f"{op}: {name} {shape} does not broadcast with the shape {to}") from None


class _PointwiseLoss:
    def __init__(self, op, input, target, reduction_, weight=None, pos_weight=None,
                 same_shape=False):
        x = as_array(op, "input", input)
        t = as_array(op, "target", target)
        w = None if weight is None else as_array(op, "weight", weight)
        pw = None if pos_weight is None else as_array(op, "pos_weight", pos_weight)
        self.op = op
        self.red = reduction(op, reduction_)
        self.dtype = real_dtype(x, t, w, pw)
        if same_shape and x.shape != t.shape:
            raise ValueError(f"{op}: target {t.shape} must have the input's shape {x.shape}")
        shape = _broadcast(op, "target", t.shape, x.shape)
        for extra, name in ((w, "weight"), (pw, "pos_weight")):
            if extra is not None and _broadcast(op, name, extra.shape, shape) != shape:
                raise ValueError(f"{op}: {name} {extra.shape} does not broadcast to the shape "
                                 f"{shape} of the loss")
        self.x_shape, self.t_shape = x.shape, t.shape
        self.shape = shape

        def full(a):
            return None if a is None else np.ascontiguousarray(np.broadcast_to(cast(a, self.dtype), shape))

        self.x, self.t, self.w, self.pw = full(x), full(t), full(w), full(pw)

    def _check_probabilities(self, kind):
        if kind == _cnn.LOSS_BCE and self.x.size and not ((self.x >= 0) & (self.x <= 1)).all():
            bad = self.x[~((self.x >= 0) & (self.x <= 1))].flat[0]
            raise ValueError(f"{self.op}: all elements of input must be probabilities in [0, 1], got {bad}")

    def forward(self, kind):
        self._check_probabilities(kind)
        return _scalar_or_array(_cnn.pointwise_loss_forward(kind, self.x, self.t, self.w, self.pw, self.red), self.red)

    def backward(self, kind, grad_output):
        op = self.op
        g = cast(as_array(op, "grad_output", grad_output), self.dtype)
        if self.red == _cnn.REDUCE_NONE:
            if g.shape != self.shape:
                raise ValueError(f"{op}: grad_output must have the unreduced loss's shape "
                                 f"{self.shape}, got {g.shape}")
        elif g.size != 1:
            raise ValueError(f"{op}: grad_output must be a scalar for reduction "
                             f"{['none', 'mean', 'sum'][self.red]!r}, got shape {g.shape}")
        self._check_probabilities(kind)
        gx, gt = _cnn.pointwise_loss_backward(kind, g, self.x, self.t, self.w, self.pw, self.red, True)
        return _unbroadcast(gx, self.x_shape), _unbroadcast(gt, self.t_shape)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target)^2``, reduced by 'mean', 'sum' or 'none'. Shapes
    broadcast as in NumPy.

    >>> import numpy as np
    >>> float(mse_loss(np.array([1., 2]), np.array([0., 0])))
    2.5

    PyTorch: ``torch.nn.functional.mse_loss``."""
    return _PointwiseLoss("mse_loss", input, target, reduction).forward(_cnn.LOSS_MSE)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """Gradients of mse_loss: (grad_input, grad_target)."""
    op = "mse_loss_backward"
    return _PointwiseLoss(op, input, target, reduction).backward(_cnn.LOSS_MSE, grad_output)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error ``|input - target|``.

    >>> import numpy as np
    >>> float(l1_loss(np.array([1., -2]), np.array([0., 0])))
    1.5

    PyTorch: ``torch.nn.functional.l1_loss``."""
    return _PointwiseLoss("l1_loss", input, target, reduction).forward(_cnn.LOSS_L1)


def l1_loss_backward(grad_output, input, target, reduction="mean"):
    """Gradients of l1_loss: (grad_input, grad_target); the derivative at input == target is 0."""
    op = "l1_loss_backward"
    return _PointwiseLoss(op, input, target, reduction).backward(_cnn.LOSS_L1, grad_output)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """``-weight * (t*log(x) + (1-t)*log(1-x))`` for probabilities x in [0, 1]; each log is clamped
    at -100 as in PyTorch. input and target have the same shape; weight broadcasts.

    >>> import numpy as np
    >>> round(float(binary_cross_entropy(np.array([0.5]), np.array([1.]))), 6)
    0.693147

    PyTorch: ``torch.nn.functional.binary_cross_entropy``."""
    return _PointwiseLoss("binary_cross_entropy", input, target, reduction, weight,
                          same_shape=True).forward(_cnn.LOSS_BCE)


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction="mean"):
    """Gradients of binary_cross_entropy: (grad_input, grad_target, None) — the weight is a
    constant."""
    op = "binary_cross_entropy_backward"
    gx, gt = _PointwiseLoss(op, input, target, reduction, weight, same_shape=True).backward(_cnn.LOSS_BCE, grad_output)
    return gx, gt, None


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross entropy of sigmoid(input), computed stably from the logits;
    ``pos_weight`` weighs the positive term and broadcasts along the last dim.

    >>> import numpy as np
    >>> round(float(binary_cross_entropy_with_logits(np.array([0.]), np.array([1.]))), 6)
    0.693147

    PyTorch: ``torch.nn.functional.binary_cross_entropy_with_logits``."""
    return _PointwiseLoss("binary_cross_entropy_with_logits", input, target, reduction, weight,
                          pos_weight, same_shape=True).forward(_cnn.LOSS_BCE_LOGITS)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None,
                                              reduction="mean", pos_weight=None):
    """Gradients of binary_cross_entropy_with_logits: (grad_input, grad_target, None, None) —
    weight and pos_weight are constants."""
    op = "binary_cross_entropy_with_logits_backward"
    gx, gt = _PointwiseLoss(op, input, target, reduction, weight, pos_weight,
                            same_shape=True).backward(_cnn.LOSS_BCE_LOGITS, grad_output)
    return gx, gt, None, None


class _CrossEntropy:
    def __init__(self, op, input, target, weight, ignore_index, reduction_, label_smoothing):
        x = as_array(op, "input", input)
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype}")
        w = None if weight is None else as_array(op, "weight", weight)
        self.red = reduction(op, reduction_)
        self.dtype = real_dtype(x, w)
        self.ignore = as_int(op, "ignore_index", ignore_index)
        self.ls = as_float(op, "label_smoothing", label_smoothing)
        if not 0.0 <= self.ls <= 1.0:
            raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {self.ls}")
        if x.ndim >= 1 and x.shape[0 if x.ndim == 1 else 1] == 0:
            raise ValueError(f"{op}: input must have at least one class, got shape {x.shape}")
        if x.ndim == 1:  # unbatched (C,) with a scalar target
            if t.ndim != 0:
                raise ValueError(f"{op}: an input of shape {x.shape} needs a scalar target, got {t.shape}")
            x3, t2 = x.reshape(1, -1, 1), t.reshape(1, 1)
        elif x.ndim >= 2:
            if t.shape != (x.shape[0], *x.shape[2:]):
                raise ValueError(f"{op}: target must have shape {(x.shape[0], *x.shape[2:])} for an "
                                 f"input of shape {x.shape}, got {t.shape}")
            inner = int(np.prod(x.shape[2:]))
            x3, t2 = x.reshape(x.shape[0], x.shape[1], inner), t.reshape(x.shape[0], inner)
        else:
            raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got shape {x.shape}")
        if w is not None and w.shape != (x3.shape[1],):
            raise ValueError(f"{op}: weight must have shape ({x3.shape[1]},), got {w.shape}")
        self.x_shape, self.t_shape = x.shape, t.shape
        self.x3, self.t2, self.w = cast(x3, self.dtype), t2.astype(np.int64, copy=False), cast(w, self.dtype)
        classes = x3.shape[1]
        bad = (self.t2 != self.ignore) & ((self.t2 < 0) | (self.t2 >= classes))
        if bad.any():
            raise ValueError(f"{op}: target class indices must lie in [0, {classes}) or equal "
                             f"ignore_index={self.ignore}, got {self.t2[bad].flat[0]}")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy of logits ``input`` (N, C), (N, C, d1, ...) or (C,) against integer class
    indices ``target`` (N,), (N, d1, ...) or (), with optional class ``weight``, ``ignore_index``
    and ``label_smoothing``; 'mean' divides by the summed weight of the targets not ignored.

    >>> import numpy as np
    >>> round(float(cross_entropy(np.array([[0., 0.]]), np.array([1]))), 6)
    0.693147

    PyTorch: ``torch.nn.functional.cross_entropy`` (class-index targets)."""
    s = _CrossEntropy("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing)
    out = _cnn.cross_entropy_forward(s.x3, s.t2, s.w, s.ignore, s.ls, s.red)
    return out.reshape(s.t_shape) if s.red == _cnn.REDUCE_NONE else out[()]


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           reduction="mean", label_smoothing=0.0):
    """Gradients of cross_entropy: (grad_input, None, None) — class indices and class weights
    have no gradient."""
    op = "cross_entropy_backward"
    s = _CrossEntropy(op, input, target, weight, ignore_index, reduction, label_smoothing)
    g = cast(as_array(op, "grad_output", grad_output), s.dtype)
    if s.red == _cnn.REDUCE_NONE:
        if g.shape != s.t_shape:
            raise ValueError(f"{op}: grad_output must have the target's shape {s.t_shape}, got {g.shape}")
        g = g.reshape(s.t2.shape)
    elif g.size != 1:
        raise ValueError(f"{op}: grad_output must be a scalar, got shape {g.shape}")
    gx = _cnn.cross_entropy_backward(g, s.x3, s.t2, s.w, s.ignore, s.ls, s.red)
    return gx.reshape(s.x_shape), None, None


def _corr_setup(op, input, target, reduction_):
    x = as_array(op, "input", input)
    t = as_array(op, "target", target)
    red = reduction(op, reduction_)
    dt = real_dtype(x, t)
    if x.shape != t.shape:
        raise ValueError(f"{op}: target {t.shape} must have the input's shape {x.shape}")
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have at least one dim")
    rows = 1 if x.ndim == 1 else x.shape[0]
    return x.shape, cast(x, dt).reshape(rows, -1), cast(t, dt).reshape(rows, -1), red


def correlation_loss(input, target, reduction="mean"):
    """``1 - r``, r the Pearson correlation of input and target. 'mean' and 'sum' correlate all
    elements of the batch at once (one r); 'none' gives one ``1 - r`` per sample (per row of the
    first dim). The lecture's "correlation loss" ``-r`` is ``correlation_loss(...) - 1``.

    >>> import numpy as np
    >>> float(correlation_loss(np.array([1., 2, 3]), np.array([2., 4, 6])))
    0.0

    No PyTorch counterpart (the lecture writes it by hand)."""
    shape, x2, t2, red = _corr_setup("correlation_loss", input, target, reduction)
    out = _cnn.correlation_forward(x2, t2, red)
    if red == _cnn.REDUCE_NONE:
        return out if len(shape) > 1 else out.reshape(())
    return out[()]


def correlation_loss_backward(grad_output, input, target, reduction="mean"):
    """Gradients of correlation_loss: (grad_input, grad_target)."""
    op = "correlation_loss_backward"
    shape, x2, t2, red = _corr_setup(op, input, target, reduction)
    g = cast(as_array(op, "grad_output", grad_output), x2.dtype)
    want = x2.shape[0] if red == _cnn.REDUCE_NONE else 1
    if g.size != want:
        raise ValueError(f"{op}: grad_output must have {want} value(s), got shape {g.shape}")
    gx, gt = _cnn.correlation_backward(g.reshape(-1), x2, t2, red, True)
    return gx.reshape(shape), gt.reshape(shape)
