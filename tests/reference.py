"""Independent float64 NumPy reference implementations (test oracle).

Everything here is plain NumPy, computes in float64 and follows PyTorch's
semantics (``torch.nn.functional``) unless a docstring says otherwise.  The
code favours clarity over speed: convolutions loop over kernel taps, pooling
loops over output positions.  Nothing in this module imports torch or the
library under test.

Layouts: 2-D ops take (N, C, H, W); 1-D ops take (N, C, L) and are computed by
the 2-D version with H = 1.
"""

import math

import numpy as np

__all__ = [
    # padding
    "pad", "pad_backward",
    # convolution
    "conv2d", "conv2d_backward", "conv1d", "conv1d_backward",
    "conv_transpose2d", "conv_transpose2d_backward",
    "conv_transpose1d", "conv_transpose1d_backward",
    # pooling
    "pool_out_len",
    "max_pool2d", "max_pool2d_backward", "max_pool1d", "max_pool1d_backward",
    "avg_pool2d", "avg_pool2d_backward", "avg_pool1d", "avg_pool1d_backward",
    "adaptive_avg_pool2d", "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d", "adaptive_max_pool2d_backward",
    "max_unpool2d", "max_unpool2d_backward",
    # dense / elementwise
    "linear", "linear_backward",
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "gelu", "gelu_backward",
    "softmax", "softmax_backward", "log_softmax", "log_softmax_backward",
    "dropout_apply", "dropout_apply_backward", "dropout_backward",
    # losses
    "mse_loss", "mse_loss_backward", "l1_loss", "l1_loss_backward",
    "binary_cross_entropy", "binary_cross_entropy_backward",
    "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits_backward",
    "cross_entropy", "cross_entropy_backward",
    "correlation_loss", "correlation_loss_backward",
]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _f64(x):
    """Return ``x`` as a float64 ndarray."""
    return np.asarray(x, dtype=np.float64)


def _tuple(v, n, name="argument"):
    """Expand an int to an n-tuple of ints, or validate an n-sequence of ints."""
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    if len(t) != n:
        raise ValueError(f"{name} must have {n} entries, got {v!r}")
    return t


def _one(v, name="argument"):
    """An int, or the single entry of a 1-sequence, as int (for the 1-D ops)."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    return _tuple(v, 1, name)[0]


def _pad_pairs_2d(padding):
    """Normalise 2-D conv padding to ((top, bottom), (left, right)).

    Accepts an int p, a pair (pH, pW) meaning symmetric padding, or the
    explicit ((top, bottom), (left, right)).
    """
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return (p, p), (p, p)
    a, b = padding
    if isinstance(a, (int, np.integer)):
        a = (int(a), int(a))
    if isinstance(b, (int, np.integer)):
        b = (int(b), int(b))
    (t, bo), (l, r) = _tuple(a, 2, "padding"), _tuple(b, 2, "padding")
    if min(t, bo, l, r) < 0:
        raise ValueError("convolution padding must be non-negative")
    return (t, bo), (l, r)


def _pad_pair_1d(padding):
    """Normalise 1-D conv padding to (left, right); an int p means (p, p)."""
    if isinstance(padding, (int, np.integer)):
        return int(padding), int(padding)
    return _tuple(padding, 2, "padding")


def _check_reduction(reduction):
    """Raise unless reduction is "mean", "sum" or "none"."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}")


def _reduce(loss, reduction):
    """Apply 'mean' (average of all elements), 'sum' or 'none' to a loss array."""
    _check_reduction(reduction)
    if reduction == "none":
        return np.array(loss, dtype=np.float64)
    if reduction == "sum":
        return np.float64(loss.sum())
    return np.float64(loss.mean())


def _reduce_grad(grad_output, shape, reduction):
    """Upstream gradient of an elementwise loss broadcast to ``shape``.

    mean: g / numel ; sum: g ; none: grad_output (already shaped like the loss).
    """
    _check_reduction(reduction)
    g = _f64(grad_output)
    if reduction == "none":
        return np.broadcast_to(g, shape).astype(np.float64)
    n = int(np.prod(shape))
    scale = g / n if reduction == "mean" else g
    return np.full(shape, float(scale))


# --------------------------------------------------------------------------
# padding
# --------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "symmetric", "replicate", "circular")


def _periodic_source(i, m, mode):
    """Source index in [0, m) of positions i (relative to an axis of length m), or -1 to fill:
        constant : i if 0 <= i < m else -1 (meaning "fill value")
        replicate: clip(i, 0, m-1)                       (numpy 'edge')
        circular : i mod m                               (numpy 'wrap')
        symmetric: j = i mod 2m; j if j < m else 2m-1-j  (numpy 'symmetric')
        reflect  : j = i mod 2(m-1); j if j < m else 2(m-1)-j  (numpy 'reflect';
                   m == 1 repeats the single element, as numpy does)
    These periodic extensions equal numpy.pad also for pads wider than m."""
    if mode == "constant":
        return np.where((i >= 0) & (i < m), i, -1)
    if m == 0 and i.size:
        raise ValueError(f"cannot pad an empty dimension in mode {mode!r}")
    if mode == "replicate":
        return np.clip(i, 0, m - 1)
    if mode == "circular":
        return np.mod(i, m)
    if mode == "symmetric":
        j = np.mod(i, 2 * m)
        return np.where(j < m, j, 2 * m - 1 - j)
    if mode == "reflect":
        if m == 1:
            return np.zeros_like(i)
        period = 2 * (m - 1)
        j = np.mod(i, period)
        return np.where(j < m, j, period - j)
    raise ValueError(f"unknown padding mode {mode!r}; expected one of {_PAD_MODES}")


def _pad_source_index(n, left, right, mode):
    """Source index along one axis of length ``n`` for every output position.

    Output position o reads position p = o - left of the original axis (negative
    pads crop), mapped into [0, n) by ``_periodic_source`` -- reflecting about the
    ORIGINAL edges, as torch's reflect/replicate do.  Circular mode is torch's
    exception: negative pads crop first and the positive pads then wrap around
    the cropped segment (what torch's circular pad computes).
    """
    length = n + left + right
    if length < 0:
        raise ValueError(f"negative padding ({left}, {right}) crops more than the size {n}")
    if mode != "circular":
        return _periodic_source(np.arange(length) - left, n, mode)
    lo = max(-left, 0)
    m = n - lo - max(-right, 0)
    if m < 0:
        raise ValueError(f"negative padding ({left}, {right}) crops more than the size {n}")
    src = _periodic_source(np.arange(-max(left, 0), m + max(right, 0)), m, mode)
    return np.where(src >= 0, src + lo, -1)


def _pad_any(a, pad, mode, fill):
    """Pad/crop array ``a`` (any dtype) following F.pad's pad-tuple order.

    pad = (last_left, last_right, prev_left, prev_right, ...).  Each padded axis
    is gathered with the index map of ``_pad_source_index``; constant-filled
    positions are set to ``fill``.
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 != 0 or len(pad) // 2 > a.ndim:
        raise ValueError(f"pad {pad} needs an even length <= 2*ndim ({a.ndim})")
    out = a
    for k in range(len(pad) // 2):
        axis = a.ndim - 1 - k
        src = _pad_source_index(out.shape[axis], pad[2 * k], pad[2 * k + 1], mode)
        fill_here = src < 0
        if fill_here.all():
            shape = list(out.shape)
            shape[axis] = src.size
            out = np.full(shape, fill, dtype=out.dtype)
            continue
        out = np.take(out, np.where(fill_here, 0, src), axis=axis)
        if fill_here.any():
            sel = [slice(None)] * out.ndim
            sel[axis] = fill_here
            out[tuple(sel)] = fill
    return out


def pad(x, pad, mode="constant", value=0.0):
    """F.pad: pad (or crop, for negative entries) the trailing dims of ``x``.

    ``pad`` = (left, right) for the last dim, then (top, bottom) for the one
    before, etc.  Modes: "constant" (fill ``value``), "reflect" (edge not
    repeated, numpy 'reflect'), "symmetric" (edge repeated), "replicate"
    (numpy 'edge'), "circular" (numpy 'wrap').  Negative pads crop; reflect,
    symmetric and replicate then extend about the original edges (torch's
    reflect/replicate), circular wraps around the cropped segment (torch's
    circular).  Pads wider than the dimension keep reflecting/wrapping exactly
    as numpy.pad does.
    """
    x = _f64(x)
    return np.array(_pad_any(x, pad, mode, float(value)), dtype=np.float64)


def pad_backward(grad_out, x_shape, pad, mode="constant"):
    """Adjoint of ``pad``: every output element's gradient is added to the input
    element it was copied from; constant-filled positions contribute nothing."""
    x_shape = tuple(int(s) for s in x_shape)
    n = int(np.prod(x_shape))
    src = _pad_any(np.arange(n, dtype=np.int64).reshape(x_shape), pad, mode, -1)
    g = _f64(grad_out)
    if g.shape != src.shape:
        raise ValueError(f"grad_out shape {g.shape} != padded shape {src.shape}")
    gx = np.zeros(n)
    keep = src >= 0
    np.add.at(gx, src[keep], g[keep])
    return gx.reshape(x_shape)


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

def _conv_out_len(n, k, s, p_lo, p_hi, d):
    """floor((n + p_lo + p_hi - d*(k-1) - 1) / s) + 1"""
    out = (n + p_lo + p_hi - d * (k - 1) - 1) // s + 1
    if out <= 0:
        raise ValueError("convolution output size would be <= 0")
    return int(out)


def _tap(start, step, count):
    """slice(start, start + step*(count-1) + 1, step): ``count`` indices start + i*step."""
    return slice(start, start + step * (count - 1) + 1, step)


def _conv2d_setup(x, w, stride, padding, dilation, groups):
    """Validate conv2d arguments and return all sizes, including OH and OW."""
    N, C, H, W = x.shape
    Co, Cg, kH, kW = w.shape
    sH, sW = _tuple(stride, 2, "stride")
    dH, dW = _tuple(dilation, 2, "dilation")
    (pt, pb), (pl, pr) = _pad_pairs_2d(padding)
    if C != Cg * groups or Co % groups != 0:
        raise ValueError("channel counts do not match groups")
    OH = _conv_out_len(H, kH, sH, pt, pb, dH)
    OW = _conv_out_len(W, kW, sW, pl, pr, dW)
    return (N, C, H, W, Co, Cg, kH, kW, sH, sW, dH, dW, pt, pb, pl, pr, OH, OW)


def conv2d(x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """2-D cross-correlation (F.conv2d) with per-side zero padding.

    x (N, C_in, H, W), w (C_out, C_in/groups, kH, kW), b (C_out,) or None,
    padding ((top, bottom), (left, right)).  With xp the zero-padded input and
    g the group of output channel o:
        y[n,o,i,j] = b[o] + sum_{c in g, kh, kw} xp[n,c, i*sH + kh*dH, j*sW + kw*dW] * w[o,c',kh,kw]
    OH = floor((H + top + bottom - dH*(kH-1) - 1) / sH) + 1 (same for OW).
    """
    x, w = _f64(x), _f64(w)
    (N, C, H, W, Co, Cg, kH, kW, sH, sW, dH, dW,
     pt, pb, pl, pr, OH, OW) = _conv2d_setup(x, w, stride, padding, dilation, groups)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    cog = Co // groups
    y = np.zeros((N, Co, OH, OW))
    for g in range(groups):
        xg = xp[:, g * Cg:(g + 1) * Cg]
        wg = w[g * cog:(g + 1) * cog]
        for kh in range(kH):
            for kw in range(kW):
                patch = xg[:, :, _tap(kh * dH, sH, OH), _tap(kw * dW, sW, OW)]  # (N, Cg, OH, OW)
                y[:, g * cog:(g + 1) * cog] += np.einsum("nchw,oc->nohw", patch, wg[:, :, kh, kw])
    if b is not None:
        y += _f64(b)[None, :, None, None]
    return y


def conv2d_backward(grad_y, x, w, b=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                    dilation=(1, 1), groups=1):
    """Gradients of ``conv2d``: returns (grad_x, grad_w, grad_b or None).

    grad_w[o,c',kh,kw] = sum_{n,i,j} gy[n,o,i,j] * xp[n,c, i*sH+kh*dH, j*sW+kw*dW]
    grad_xp[n,c, i*sH+kh*dH, j*sW+kw*dW] += sum_o gy[n,o,i,j] * w[o,c',kh,kw]
    grad_x = grad_xp with the padding cropped; grad_b[o] = sum_{n,i,j} gy[n,o,i,j].
    """
    x, w, gy = _f64(x), _f64(w), _f64(grad_y)
    (N, C, H, W, Co, Cg, kH, kW, sH, sW, dH, dW,
     pt, pb, pl, pr, OH, OW) = _conv2d_setup(x, w, stride, padding, dilation, groups)
    if gy.shape != (N, Co, OH, OW):
        raise ValueError(f"grad_y shape {gy.shape} != {(N, Co, OH, OW)}")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    cog = Co // groups
    for g in range(groups):
        ci = slice(g * Cg, (g + 1) * Cg)
        co = slice(g * cog, (g + 1) * cog)
        for kh in range(kH):
            for kw in range(kW):
                rows, cols = _tap(kh * dH, sH, OH), _tap(kw * dW, sW, OW)
                gw[co, :, kh, kw] += np.einsum("nohw,nchw->oc", gy[:, co], xp[:, ci, rows, cols])
                gxp[:, ci, rows, cols] += np.einsum("nohw,oc->nchw", gy[:, co], w[co, :, kh, kw])
    gx = gxp[:, :, pt:pt + H, pl:pl + W].copy()
    gb = gy.sum(axis=(0, 2, 3)) if b is not None else None
    return gx, gw, gb


def conv1d(x, w, b=None, stride=1, padding=(0, 0), dilation=1, groups=1):
    """1-D cross-correlation (F.conv1d): x (N,C_in,L), w (C_out,C_in/groups,k),
    padding (left, right).  Computed as ``conv2d`` with H = 1."""
    x, w = _f64(x), _f64(w)
    l, r = _pad_pair_1d(padding)
    y = conv2d(x[:, :, None, :], w[:, :, None, :], b, stride=(1, _one(stride)),
               padding=((0, 0), (l, r)), dilation=(1, _one(dilation)), groups=groups)
    return y[:, :, 0, :]


def conv1d_backward(grad_y, x, w, b=None, stride=1, padding=(0, 0), dilation=1, groups=1):
    """Gradients of ``conv1d``: (grad_x, grad_w, grad_b or None), via ``conv2d_backward``."""
    x, w, gy = _f64(x), _f64(w), _f64(grad_y)
    l, r = _pad_pair_1d(padding)
    gx, gw, gb = conv2d_backward(gy[:, :, None, :], x[:, :, None, :], w[:, :, None, :], b,
                                 stride=(1, _one(stride)), padding=((0, 0), (l, r)),
                                 dilation=(1, _one(dilation)), groups=groups)
    return gx[:, :, 0, :], gw[:, :, 0, :], gb


def _convT2d_setup(x, w, stride, padding, output_padding, groups, dilation):
    """Validate conv_transpose2d arguments; OH = (H-1)*sH - 2*pH + dH*(kH-1) + opH + 1 (0 when the
    padding crops the whole output: an empty output)."""
    N, Ci, H, W = x.shape
    Ci_w, cog, kH, kW = w.shape
    if Ci != Ci_w or Ci % groups != 0:
        raise ValueError("channel counts do not match groups")
    sH, sW = _tuple(stride, 2, "stride")
    pH, pW = _tuple(padding, 2, "padding")
    opH, opW = _tuple(output_padding, 2, "output_padding")
    dH, dW = _tuple(dilation, 2, "dilation")
    OH = (H - 1) * sH - 2 * pH + dH * (kH - 1) + opH + 1
    OW = (W - 1) * sW - 2 * pW + dW * (kW - 1) + opW + 1
    if OH < 0 or OW < 0:
        raise ValueError("transposed convolution output size would be < 0")
    return N, Ci, H, W, cog, kH, kW, sH, sW, pH, pW, dH, dW, int(OH), int(OW)


def conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                     groups=1, dilation=(1, 1)):
    """Transposed 2-D convolution (F.conv_transpose2d), computed as a scatter.

    x (N, C_in, H, W), w (C_in, C_out/groups, kH, kW).  Each input pixel times
    the kernel is added into an uncropped buffer:
        full[n, o, ih*sH + kh*dH, iw*sW + kw*dW] += x[n,c,ih,iw] * w[c,o',kh,kw]
    (c in group g, o = g*C_out/groups + o'), then y = full[:, :, pH:pH+OH, pW:pW+OW] + b
    with OH = (H-1)*sH - 2*pH + dH*(kH-1) + opH + 1.  The buffer has OH + 2*pH rows,
    so output_padding rows at the bottom receive only the bias.
    """
    x, w = _f64(x), _f64(w)
    (N, Ci, H, W, cog, kH, kW, sH, sW, pH, pW, dH, dW,
     OH, OW) = _convT2d_setup(x, w, stride, padding, output_padding, groups, dilation)
    cig = Ci // groups
    full = np.zeros((N, cog * groups, OH + 2 * pH, OW + 2 * pW))
    for g in range(groups):
        ci = slice(g * cig, (g + 1) * cig)
        co = slice(g * cog, (g + 1) * cog)
        for kh in range(kH):
            for kw in range(kW):
                full[:, co, _tap(kh * dH, sH, H), _tap(kw * dW, sW, W)] += np.einsum(
                    "nchw,co->nohw", x[:, ci], w[ci, :, kh, kw])
    y = full[:, :, pH:pH + OH, pW:pW + OW].copy()
    if b is not None:
        y += _f64(b)[None, :, None, None]
    return y


def conv_transpose2d_backward(grad_y, x, w, b=None, stride=(1, 1), padding=(0, 0),
                              output_padding=(0, 0), groups=1, dilation=(1, 1)):
    """Gradients of ``conv_transpose2d``: (grad_x, grad_w, grad_b or None).

    With gfull = grad_y placed at [pH:pH+OH, pW:pW+OW] of a zero buffer:
        grad_x[n,c,ih,iw]  = sum_{o',kh,kw} gfull[n,o, ih*sH+kh*dH, iw*sW+kw*dW] * w[c,o',kh,kw]
        grad_w[c,o',kh,kw] = sum_{n,ih,iw} x[n,c,ih,iw] * gfull[n,o, ih*sH+kh*dH, iw*sW+kw*dW]
        grad_b[o] = sum_{n,i,j} grad_y[n,o,i,j]
    """
    x, w, gy = _f64(x), _f64(w), _f64(grad_y)
    (N, Ci, H, W, cog, kH, kW, sH, sW, pH, pW, dH, dW,
     OH, OW) = _convT2d_setup(x, w, stride, padding, output_padding, groups, dilation)
    if gy.shape != (N, cog * groups, OH, OW):
        raise ValueError(f"grad_y shape {gy.shape} != {(N, cog * groups, OH, OW)}")
    cig = Ci // groups
    gfull = np.zeros((N, cog * groups, OH + 2 * pH, OW + 2 * pW))
    gfull[:, :, pH:pH + OH, pW:pW + OW] = gy
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    for g in range(groups):
        ci = slice(g * cig, (g + 1) * cig)
        co = slice(g * cog, (g + 1) * cog)
        for kh in range(kH):
            for kw in range(kW):
                gsl = gfull[:, co, _tap(kh * dH, sH, H), _tap(kw * dW, sW, W)]  # (N, cog, H, W)
                gx[:, ci] += np.einsum("nohw,co->nchw", gsl, w[ci, :, kh, kw])
                gw[ci, :, kh, kw] += np.einsum("nchw,nohw->co", x[:, ci], gsl)
    gb = gy.sum(axis=(0, 2, 3)) if b is not None else None
    return gx, gw, gb


def conv_transpose1d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution (F.conv_transpose1d): x (N,C_in,L), w (C_in,C_out/groups,k);
    L_out = (L-1)*s - 2p + d*(k-1) + op + 1.  Computed as ``conv_transpose2d`` with H = 1."""
    x, w = _f64(x), _f64(w)
    y = conv_transpose2d(x[:, :, None, :], w[:, :, None, :], b, stride=(1, _one(stride)),
                         padding=(0, _one(padding)), output_padding=(0, _one(output_padding)),
                         groups=groups, dilation=(1, _one(dilation)))
    return y[:, :, 0, :]


def conv_transpose1d_backward(grad_y, x, w, b=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """Gradients of ``conv_transpose1d``: (grad_x, grad_w, grad_b or None)."""
    x, w, gy = _f64(x), _f64(w), _f64(grad_y)
    gx, gw, gb = conv_transpose2d_backward(
        gy[:, :, None, :], x[:, :, None, :], w[:, :, None, :], b, stride=(1, _one(stride)),
        padding=(0, _one(padding)), output_padding=(0, _one(output_padding)), groups=groups,
        dilation=(1, _one(dilation)))
    return gx[:, :, 0, :], gw[:, :, 0, :], gb


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def pool_out_len(n, k, s, p, d=1, ceil_mode=False):
    """PyTorch's pooling output length:
    out = floor((n + 2p - d*(k-1) - 1 + (s-1 if ceil_mode else 0)) / s) + 1,
    and with ceil_mode, if (out-1)*s >= n + p (last window starts in the right
    padding) then out -= 1."""
    n, k, s, p, d = int(n), int(k), int(s), int(p), int(d)
    out = (n + 2 * p - d * (k - 1) - 1 + ((s - 1) if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return int(out)


def _pool_params(kernel_size, stride, padding, dilation=(1, 1)):
    """Normalise pooling arguments to 2-tuples; stride None (or empty) means kernel_size."""
    k = _tuple(kernel_size, 2, "kernel_size")
    s = k if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0) \
        else _tuple(stride, 2, "stride")
    return k, s, _tuple(padding, 2, "padding"), _tuple(dilation, 2, "dilation")


def _first_nonneg(start, step):
    """First value of start, start+step, ... that is >= 0 (torch: while (i<0) i += step)."""
    while start < 0:
        start += step
    return start


def max_pool2d(x, kernel_size, stride=None, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    """F.max_pool2d(..., return_indices=True) -> (y, indices).

    Window of output (oh, ow): rows oh*sH - pH + i*dH (i < kH), cols likewise;
    out-of-bounds positions (implicit -inf padding) are skipped.  Following
    PyTorch's CPU kernel, the in-bounds positions are scanned in row-major
    order with maxval = -inf and maxindex = first in-bounds position, updating
    when (val > maxval) or isnan(val): ties keep the first, a NaN wins (the
    last NaN of the window), an all -inf window yields -inf at its first
    position.  indices (int64) are ih*W + iw within the input plane.  A window
    with no in-bounds position yields -inf and index -1 (cnnpy's rule: PyTorch
    reports a position outside the plane there).
    stride=None means stride = kernel_size.
    """
    x = _f64(x)
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (pH, pW), (dH, dW) = _pool_params(kernel_size, stride, padding, dilation)
    OH = pool_out_len(H, kH, sH, pH, dH, ceil_mode)
    OW = pool_out_len(W, kW, sW, pW, dW, ceil_mode)
    y = np.empty((N, C, OH, OW))
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for oh in range(OH):
        h0 = oh * sH - pH
        rows = [h0 + i * dH for i in range(kH) if 0 <= h0 + i * dH < H]
        for ow in range(OW):
            w0 = ow * sW - pW
            cols = [w0 + j * dW for j in range(kW) if 0 <= w0 + j * dW < W]
            maxval = np.full((N, C), -np.inf)
            first = _first_nonneg(h0, dH) * W + _first_nonneg(w0, dW) if rows and cols else -1
            maxidx = np.full((N, C), first, dtype=np.int64)
            for ih in rows:
                for iw in cols:
                    val = x[:, :, ih, iw]
                    upd = (val > maxval) | np.isnan(val)
                    maxval = np.where(upd, val, maxval)
                    maxidx = np.where(upd, ih * W + iw, maxidx)
            y[:, :, oh, ow] = maxval
            idx[:, :, oh, ow] = maxidx
    return y, idx


def _scatter_add_plane(grad_y, x_shape, indices):
    """grad_x.flat_in_plane[indices] += grad_y (per (n, c) plane); index -1 adds nothing."""
    x_shape = tuple(int(s) for s in x_shape)
    N, C = x_shape[:2]
    plane = int(np.prod(x_shape[2:]))
    gy = _f64(grad_y).reshape(N, C, -1)
    ind = np.asarray(indices, dtype=np.int64).reshape(N, C, -1)
    gx = np.zeros((N, C, plane))
    for n in range(N):
        for c in range(C):
            keep = ind[n, c] >= 0
            np.add.at(gx[n, c], ind[n, c][keep], gy[n, c][keep])
    return gx.reshape(x_shape)


def max_pool2d_backward(grad_y, x_shape, indices):
    """Gradient of max_pool2d: grad_x[n,c].flat[indices[n,c,i,j]] += grad_y[n,c,i,j]."""
    return _scatter_add_plane(grad_y, x_shape, indices)


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """F.max_pool1d(..., return_indices=True) on (N, C, L) -> (y, indices in [0, L)).
    Same scan/tie/NaN rules as ``max_pool2d`` (computed with H = 1)."""
    x = _f64(x)
    s = _one(kernel_size) if stride is None else _one(stride)
    y, idx = max_pool2d(x[:, :, None, :], (1, _one(kernel_size)), (1, s), (0, _one(padding)),
                        (1, _one(dilation)), ceil_mode)
    return y[:, :, 0, :], idx[:, :, 0, :]


def max_pool1d_backward(grad_y, x_shape, indices):
    """Gradient of max_pool1d: grad_x[n,c,indices[n,c,i]] += grad_y[n,c,i]."""
    return _scatter_add_plane(grad_y, x_shape, indices)


def _avg_windows(n, k, s, p, ceil_mode):
    """PyTorch avg-pool windows along one axis: list of (start, end, pool_len).

    start = o*s - p, end = min(start + k, n + p), pool_len = end - start
    (before clipping), then start = max(start, 0), end = min(end, n).
    """
    out = pool_out_len(n, k, s, p, 1, ceil_mode)
    wins = []
    for o in range(out):
        a = o * s - p
        e = min(a + k, n + p)
        wins.append((max(a, 0), min(e, n), e - a))
    return wins


def _avg_divisor(hs, he, ph, ws, we, pw, count_include_pad, divisor_override):
    """divisor_override, else pool_size (ph*pw, unclipped) if count_include_pad, else clipped count."""
    if divisor_override is not None:
        return float(divisor_override)
    if count_include_pad:
        return float(ph * pw)
    return float((he - hs) * (we - ws))


def avg_pool2d(x, kernel_size, stride=None, padding=(0, 0), ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """F.avg_pool2d.  For output (oh, ow): hstart = oh*sH - pH,
    hend = min(hstart + kH, H + pH), pool_size = (hend-hstart)*(wend-wstart)
    computed BEFORE clipping to [0, H) x [0, W); the clipped window is summed
    and divided by divisor_override if given, else pool_size if
    count_include_pad, else the clipped element count.  An empty clipped
    window gives 0.  stride=None means stride = kernel_size.
    """
    x = _f64(x)
    N, C, H, W = x.shape
    (kH, kW), (sH, sW), (pH, pW), _ = _pool_params(kernel_size, stride, padding)
    hwins = _avg_windows(H, kH, sH, pH, ceil_mode)
    wwins = _avg_windows(W, kW, sW, pW, ceil_mode)
    y = np.zeros((N, C, len(hwins), len(wwins)))
    for oh, (hs, he, ph) in enumerate(hwins):
        for ow, (ws, we, pw) in enumerate(wwins):
            if hs >= he or ws >= we:
                continue
            div = _avg_divisor(hs, he, ph, ws, we, pw, count_include_pad, divisor_override)
            y[:, :, oh, ow] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / div
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride=None, padding=(0, 0),
                        ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Gradient of avg_pool2d: each grad_y[n,c,oh,ow] / divisor is added to every
    element of its clipped window (same windows and divisors as the forward)."""
    gy = _f64(grad_y)
    N, C, H, W = (int(s) for s in x_shape)
    (kH, kW), (sH, sW), (pH, pW), _ = _pool_params(kernel_size, stride, padding)
    hwins = _avg_windows(H, kH, sH, pH, ceil_mode)
    wwins = _avg_windows(W, kW, sW, pW, ceil_mode)
    if gy.shape != (N, C, len(hwins), len(wwins)):
        raise ValueError(f"grad_y shape {gy.shape} != {(N, C, len(hwins), len(wwins))}")
    gx = np.zeros((N, C, H, W))
    for oh, (hs, he, ph) in enumerate(hwins):
        for ow, (ws, we, pw) in enumerate(wwins):
            if hs >= he or ws >= we:
                continue
            div = _avg_divisor(hs, he, ph, ws, we, pw, count_include_pad, divisor_override)
            gx[:, :, hs:he, ws:we] += gy[:, :, oh, ow][:, :, None, None] / div
    return gx


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """F.avg_pool1d on (N, C, L): ``avg_pool2d`` with H = 1 (same divisor rule)."""
    x = _f64(x)
    s = _one(kernel_size) if stride is None else _one(stride)
    y = avg_pool2d(x[:, :, None, :], (1, _one(kernel_size)), (1, s), (0, _one(padding)),
                   ceil_mode, count_include_pad, divisor_override)
    return y[:, :, 0, :]


def avg_pool1d_backward(grad_y, x_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """Gradient of ``avg_pool1d`` (via ``avg_pool2d_backward`` with H = 1)."""
    N, C, L = (int(s) for s in x_shape)
    s = _one(kernel_size) if stride is None else _one(stride)
    gx = avg_pool2d_backward(_f64(grad_y)[:, :, None, :], (N, C, 1, L), (1, _one(kernel_size)),
                             (1, s), (0, _one(padding)), ceil_mode, count_include_pad,
                             divisor_override)
    return gx[:, :, 0, :]


def _adaptive_windows(n_in, n_out):
    """Adaptive windows: [floor(i*n_in/n_out), ceil((i+1)*n_in/n_out)) for i < n_out."""
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def _adaptive_out_size(output_size, H, W):
    """(OH, OW) from an int or a pair whose None entries mean "keep the input size"."""
    if isinstance(output_size, (int, np.integer)):
        return int(output_size), int(output_size)
    oh, ow = output_size
    return (H if oh is None else int(oh)), (W if ow is None else int(ow))


def adaptive_avg_pool2d(x, output_size):
    """F.adaptive_avg_pool2d: y[n,c,i,j] = mean of x over rows
    [floor(i*H/OH), ceil((i+1)*H/OH)) and cols [floor(j*W/OW), ceil((j+1)*W/OW)).
    ``output_size`` is (OH, OW) (an int or None entries are accepted)."""
    x = _f64(x)
    N, C, H, W = x.shape
    OH, OW = _adaptive_out_size(output_size, H, W)
    y = np.empty((N, C, OH, OW))
    for i, (hs, he) in enumerate(_adaptive_windows(H, OH)):
        for j, (ws, we) in enumerate(_adaptive_windows(W, OW)):
            y[:, :, i, j] = x[:, :, hs:he, ws:we].sum(axis=(2, 3)) / ((he - hs) * (we - ws))
    return y


def adaptive_avg_pool2d_backward(grad_y, x_shape):
    """Gradient of adaptive_avg_pool2d: grad_y[n,c,i,j] / window_area is added to
    every element of window (i, j)."""
    gy = _f64(grad_y)
    N, C, H, W = (int(s) for s in x_shape)
    OH, OW = gy.shape[2:]
    gx = np.zeros((N, C, H, W))
    for i, (hs, he) in enumerate(_adaptive_windows(H, OH)):
        for j, (ws, we) in enumerate(_adaptive_windows(W, OW)):
            gx[:, :, hs:he, ws:we] += gy[:, :, i, j][:, :, None, None] / ((he - hs) * (we - ws))
    return gx


def adaptive_max_pool2d(x, output_size):
    """F.adaptive_max_pool2d(..., return_indices=True) -> (y, indices).
    Windows as in ``adaptive_avg_pool2d``; scan rule as in ``max_pool2d``
    (row-major, update on val > max or NaN, index starts at the window's first
    element); indices are ih*W + iw."""
    x = _f64(x)
    N, C, H, W = x.shape
    OH, OW = _adaptive_out_size(output_size, H, W)
    y = np.empty((N, C, OH, OW))
    idx = np.empty((N, C, OH, OW), dtype=np.int64)
    for i, (hs, he) in enumerate(_adaptive_windows(H, OH)):
        for j, (ws, we) in enumerate(_adaptive_windows(W, OW)):
            maxval = np.full((N, C), -np.inf)
            maxidx = np.full((N, C), hs * W + ws, dtype=np.int64)
            for ih in range(hs, he):
                for iw in range(ws, we):
                    val = x[:, :, ih, iw]
                    upd = (val > maxval) | np.isnan(val)
                    maxval = np.where(upd, val, maxval)
                    maxidx = np.where(upd, ih * W + iw, maxidx)
            y[:, :, i, j] = maxval
            idx[:, :, i, j] = maxidx
    return y, idx


def adaptive_max_pool2d_backward(grad_y, x_shape, indices):
    """Gradient of adaptive_max_pool2d: scatter-add grad_y at ``indices``."""
    return _scatter_add_plane(grad_y, x_shape, indices)


def max_unpool2d(x, indices, output_size):
    """F.max_unpool2d: y (N, C, OH, OW) is zero except y[n,c].flat[indices[n,c,...]] = x[n,c,...].
    ``output_size`` is (OH, OW) (a 4-tuple (N, C, OH, OW) is also accepted).
    With duplicate indices the last one written wins; index -1 puts its value nowhere."""
    x = _f64(x)
    N, C = x.shape[:2]
    OH, OW = (int(s) for s in tuple(output_size)[-2:])
    ind = np.asarray(indices, dtype=np.int64).reshape(N, C, -1)
    if ind.size and (ind.min() < -1 or ind.max() >= OH * OW):
        raise ValueError("max_unpool2d: index out of range")
    xf = x.reshape(N, C, -1)
    y = np.zeros((N, C, OH * OW))
    for n in range(N):
        for c in range(C):
            keep = ind[n, c] >= 0
            y[n, c, ind[n, c][keep]] = xf[n, c][keep]
    return y.reshape(N, C, OH, OW)


def max_unpool2d_backward(grad_y, indices):
    """Gradient of max_unpool2d (a gather): grad_x[n,c,...] = grad_y[n,c].flat[indices[n,c,...]],
    0 where an index is -1."""
    gy = _f64(grad_y)
    ind = np.asarray(indices, dtype=np.int64)
    N, C = gy.shape[:2]
    flat = ind.reshape(N, C, -1)
    g = np.take_along_axis(gy.reshape(N, C, -1), np.maximum(flat, 0), axis=2)
    return np.where(flat >= 0, g, 0.0).reshape(ind.shape)


# --------------------------------------------------------------------------
# dense and elementwise
# --------------------------------------------------------------------------

def linear(x, w, b=None):
    """F.linear: y = x @ w.T + b, x (*, in), w (out, in), b (out,) or None."""
    x, w = _f64(x), _f64(w)
    y = x @ w.T
    if b is not None:
        y = y + _f64(b)
    return y


def linear_backward(grad_y, x, w, b=None):
    """Gradients of linear: gx = gy @ w, gw = sum over leading dims of gy^T x,
    gb = sum over leading dims of gy (None if b is None)."""
    x, w, gy = _f64(x), _f64(w), _f64(grad_y)
    out_f, in_f = w.shape
    gx = gy @ w
    gy2 = gy.reshape(-1, out_f)
    gw = gy2.T @ x.reshape(-1, in_f)
    gb = gy2.sum(axis=0) if b is not None else None
    return gx, gw, gb


def relu(x):
    """max(x, 0) (NaN propagates, like torch.relu)."""
    return np.maximum(_f64(x), 0.0)


def relu_backward(grad_y, x):
    """grad_y where x > 0, else 0 (gradient 0 at x == 0, like torch)."""
    x = _f64(x)
    return np.where(x <= 0, 0.0, _f64(grad_y))


def leaky_relu(x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x."""
    x = _f64(x)
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(grad_y, x, negative_slope=0.01):
    """grad_y if x > 0 else negative_slope * grad_y (slope at x == 0 is negative_slope)."""
    x, g = _f64(x), _f64(grad_y)
    return np.where(x > 0, g, g * negative_slope)


def sigmoid(x):
    """1 / (1 + exp(-x)), evaluated stably as 1/(1+e) for x >= 0 and e/(1+e) for
    x < 0 with e = exp(-|x|)."""
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_backward(grad_y, x):
    """grad_y * s * (1 - s) with s = sigmoid(x)."""
    s = sigmoid(x)
    return _f64(grad_y) * s * (1.0 - s)


def tanh(x):
    """np.tanh(x)."""
    return np.tanh(_f64(x))


def tanh_backward(grad_y, x):
    """grad_y * (1 - tanh(x)^2)."""
    t = np.tanh(_f64(x))
    return _f64(grad_y) * (1.0 - t * t)


def _normal_cdf(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2 (erfc keeps the small values of x << 0 exact)."""
    return 0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-_f64(x) / math.sqrt(2.0))


def _gelu_tanh_u(x):
    """GELU's tanh form: u(x) = sqrt(2/pi) (x + 0.044715 x^3) and u'(x)."""
    c = math.sqrt(2.0 / math.pi)
    return c * (x + 0.044715 * x ** 3), c * (1.0 + 3 * 0.044715 * x ** 2)


def gelu(x, approximate="none"):
    """x Phi(x), Phi the standard normal CDF; approximate="tanh": x/2 (1 + tanh(u(x)))."""
    x = _f64(x)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_gelu_tanh_u(x)[0]))
    return x * _normal_cdf(x)


def gelu_backward(grad_y, x, approximate="none"):
    """grad_y * (Phi(x) + x phi(x)), phi the normal density; approximate="tanh": the product rule
    on x/2 (1 + tanh(u(x)))."""
    x = _f64(x)
    if approximate == "tanh":
        u, du = _gelu_tanh_u(x)
        t = np.tanh(u)
        return _f64(grad_y) * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
    phi = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return _f64(grad_y) * (_normal_cdf(x) + x * phi)


def softmax(x, dim):
    """exp(x - max) / sum(exp(x - max)) along ``dim``."""
    x = _f64(x)
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def softmax_backward(grad_y, x, dim):
    """grad_x = y * (grad_y - sum(grad_y * y, dim)) with y = softmax(x, dim)."""
    y = softmax(x, dim)
    g = _f64(grad_y)
    return y * (g - np.sum(g * y, axis=dim, keepdims=True))


def log_softmax(x, dim):
    """(x - max) - log(sum(exp(x - max))) along ``dim``."""
    x = _f64(x)
    z = x - np.max(x, axis=dim, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


def log_softmax_backward(grad_y, x, dim):
    """grad_x = grad_y - softmax(x) * sum(grad_y, dim)."""
    g = _f64(grad_y)
    return g - softmax(x, dim) * np.sum(g, axis=dim, keepdims=True)


def dropout_apply(x, keep_mask, p):
    """Training-mode dropout with a given mask: x * keep_mask / (1 - p); p == 1 gives zeros."""
    x = _f64(x)
    m = _f64(keep_mask)
    if p >= 1.0:
        return np.zeros(np.broadcast_shapes(x.shape, m.shape))
    return x * m / (1.0 - p)


def dropout_apply_backward(grad_y, keep_mask, p):
    """Gradient of dropout_apply: grad_y * keep_mask / (1 - p); zeros when p == 1."""
    return dropout_apply(grad_y, keep_mask, p)


dropout_backward = dropout_apply_backward


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------

def mse_loss(input, target, reduction="mean"):
    """(input - target)^2, reduced by mean (over all elements), sum or none."""
    d = _f64(input) - _f64(target)
    return _reduce(d * d, reduction)


def mse_loss_backward(grad_output, input, target, reduction="mean"):
    """2 * (input - target) * g, with g = grad_output / numel for mean."""
    d = _f64(input) - _f64(target)
    return 2.0 * d * _reduce_grad(grad_output, d.shape, reduction)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced by mean, sum or none."""
    return _reduce(np.abs(_f64(input) - _f64(target)), reduction)


def l1_loss_backward(grad_output, input, target, reduction="mean"):
    """sign(input - target) * g (0 where input == target)."""
    d = _f64(input) - _f64(target)
    return np.sign(d) * _reduce_grad(grad_output, d.shape, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """F.binary_cross_entropy: -w * (t * max(log(x), -100) + (1 - t) * max(log1p(-x), -100)).
    Each log term is clamped at -100 before multiplying by t or 1 - t."""
    x, t = _f64(input), _f64(target)
    with np.errstate(divide="ignore"):
        log_x = np.maximum(np.log(x), -100.0)
        log_1mx = np.maximum(np.log1p(-x), -100.0)
    loss = -(t * log_x + (1.0 - t) * log_1mx)
    if weight is not None:
        loss = loss * _f64(weight)
    return _reduce(np.broadcast_to(loss, x.shape), reduction)


_BCE_EPS = float(np.float32(1e-12))


def binary_cross_entropy_backward(grad_output, input, target, weight=None, reduction="mean"):
    """PyTorch's formula: g * w * (x - t) / max(x * (1 - x), EPS).

    EPS is 1e-12 rounded to float32 (9.999999960041972e-13), which is what
    torch's CPU kernel uses even for float64 (observable when x is 0 or 1).
    """
    x, t = _f64(input), _f64(target)
    grad = (x - t) / np.maximum((1.0 - x) * x, _BCE_EPS)
    if weight is not None:
        grad = grad * _f64(weight)
    return grad * _reduce_grad(grad_output, x.shape, reduction)


def _log_sigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))."""
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None,
                                     reduction="mean"):
    """F.binary_cross_entropy_with_logits:
    loss = w * [ (1 - t) * x - (1 + (pos_weight - 1) * t) * log_sigmoid(x) ]
         = -w * [ pos_weight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)) ]
    (pos_weight broadcasts against the last dim)."""
    x, t = _f64(input), _f64(target)
    coef = 1.0 if pos_weight is None else 1.0 + (_f64(pos_weight) - 1.0) * t
    loss = (1.0 - t) * x - coef * _log_sigmoid(x)
    if weight is not None:
        loss = loss * _f64(weight)
    return _reduce(np.broadcast_to(loss, x.shape), reduction)


def binary_cross_entropy_with_logits_backward(grad_output, input, target, weight=None,
                                              pos_weight=None, reduction="mean"):
    """d loss / dx = w * [ (1 + (pos_weight - 1) * t) * sigmoid(x) - pos_weight * t ]
    (= w * (sigmoid(x) - t) without pos_weight), times the upstream gradient."""
    x, t = _f64(input), _f64(target)
    pw = 1.0 if pos_weight is None else _f64(pos_weight)
    grad = (pw * t + 1.0 - t) * sigmoid(x) - pw * t
    if weight is not None:
        grad = grad * _f64(weight)
    return np.broadcast_to(grad, x.shape) * _reduce_grad(grad_output, x.shape, reduction)


def _ce_prepare(input, target, weight, ignore_index):
    """Flatten cross-entropy inputs to logits z (M, C), targets tt (M,), weights w (C,),
    validity mask (M,) and the loss shape; also return the input layout info."""
    x = _f64(input)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError("cross_entropy reference expects integer class-index targets")
    unbatched = x.ndim == 1
    xb = x[None] if unbatched else x
    tb = t.reshape(1) if unbatched else t
    C = xb.shape[1]
    if tb.shape != xb.shape[:1] + xb.shape[2:]:
        raise ValueError(f"target shape {t.shape} does not match input shape {x.shape}")
    z = np.moveaxis(xb, 1, -1).reshape(-1, C)
    tt = tb.reshape(-1).astype(np.int64)
    valid = tt != ignore_index
    if np.any((tt[valid] < 0) | (tt[valid] >= C)):
        raise ValueError("target class index out of range")
    w = np.ones(C) if weight is None else _f64(weight)
    safe_t = np.where(valid, tt, 0)
    return z, tt, safe_t, valid, w, C, t.shape, xb.shape, unbatched


def cross_entropy(input, target, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean"):
    """F.cross_entropy with class-index targets.

    input (N, C), (N, C, d1, ...) or unbatched (C,); target (N,), (N, d1, ...) or ().
    With logp = log_softmax over the class dim, eps = label_smoothing, and
    v_i = (t_i != ignore_index):
        loss_i = v_i * [ -(1 - eps) * w[t_i] * logp[i, t_i] - (eps / C) * sum_c w[c] * logp[i, c] ]
    "mean" = sum_i loss_i / sum_i v_i * w[t_i] (NaN if every target is ignored),
    "sum" = sum_i loss_i, "none" = loss shaped like target.
    """
    _check_reduction(reduction)
    z, tt, safe_t, valid, w, C, t_shape, _, _ = _ce_prepare(input, target, weight, ignore_index)
    logp = log_softmax(z, 1)
    M = z.shape[0]
    nll = -w[safe_t] * logp[np.arange(M), safe_t]
    smooth = -(logp * w[None, :]).sum(axis=1)
    loss = np.where(valid, (1.0 - label_smoothing) * nll + (label_smoothing / C) * smooth, 0.0)
    if reduction == "none":
        return loss.reshape(t_shape)
    if reduction == "sum":
        return np.float64(loss.sum())
    denom = np.sum(np.where(valid, w[safe_t], 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(loss.sum() / denom)


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100,
                           label_smoothing=0.0, reduction="mean"):
    """Gradient of ``cross_entropy`` w.r.t. the logits.

    With s_i the upstream scale (grad_output[i] for none, g for sum,
    g / sum_i v_i w[t_i] for mean), the gradient w.r.t. logp is
        a[i, c] = -v_i * s_i * ((1 - eps) * w[t_i] * [c == t_i] + (eps / C) * w[c])
    and the logits get a - softmax(z) * sum_c a[i, c] (log_softmax backward).
    """
    _check_reduction(reduction)
    z, tt, safe_t, valid, w, C, t_shape, xb_shape, unbatched = _ce_prepare(
        input, target, weight, ignore_index)
    M = z.shape[0]
    g = _f64(grad_output)
    if reduction == "none":
        scale = np.broadcast_to(g, t_shape).reshape(-1)
    elif reduction == "sum":
        scale = np.full(M, float(g))
    else:
        denom = np.sum(np.where(valid, w[safe_t], 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.full(M, float(g) / denom)
    a = -(label_smoothing / C) * np.tile(w[None, :], (M, 1))
    a[np.arange(M), safe_t] -= (1.0 - label_smoothing) * w[safe_t]
    a = a * np.where(valid, scale, 0.0)[:, None]
    gz = a - softmax(z, 1) * a.sum(axis=1, keepdims=True)
    moved = (xb_shape[0],) + xb_shape[2:] + (C,)
    gx = np.moveaxis(gz.reshape(moved), -1, 1)
    return gx[0] if unbatched else np.ascontiguousarray(gx)


def _pearson_parts(x, y):
    """Centered vectors and sums for r = Sxy / sqrt(Sxx * Syy) along the last axis."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    sxy = (xc * yc).sum(axis=-1)
    sxx = (xc * xc).sum(axis=-1)
    syy = (yc * yc).sum(axis=-1)
    return xc, yc, sxy, sxx, syy


def _corr_view(x, t, reduction):
    """Rows over which r is computed: one row of everything (mean/sum) or one per sample (none)."""
    _check_reduction(reduction)
    if x.shape != t.shape:
        raise ValueError("correlation_loss: input and target must have the same shape")
    if reduction == "none":
        return x.reshape(x.shape[0], -1), t.reshape(t.shape[0], -1)
    return x.reshape(1, -1), t.reshape(1, -1)


def correlation_loss(input, target, reduction="mean"):
    """1 - Pearson r, r = sum((x-mx)(y-my)) / sqrt(sum((x-mx)^2) * sum((y-my)^2)).

    "mean" and "sum": one r over ALL elements of input and target (scalar; sum == mean).
    "none": per-sample r_i over each sample's flattened elements, shape (N,).
    """
    x, t = _f64(input), _f64(target)
    xv, tv = _corr_view(x, t, reduction)
    _, _, sxy, sxx, syy = _pearson_parts(xv, tv)
    loss = 1.0 - sxy / np.sqrt(sxx * syy)
    if reduction == "none":
        return loss
    return np.float64(loss[0])


def correlation_loss_backward(grad_output, input, target, reduction="mean"):
    """Exact gradient of ``correlation_loss`` w.r.t. input:
    d(1 - r)/dx_k = -[ (y_k - my) - (Sxy / Sxx) * (x_k - mx) ] / sqrt(Sxx * Syy),
    times grad_output (per sample for "none")."""
    x, t = _f64(input), _f64(target)
    xv, tv = _corr_view(x, t, reduction)
    xc, yc, sxy, sxx, syy = _pearson_parts(xv, tv)
    dr = (yc - (sxy / sxx)[:, None] * xc) / np.sqrt(sxx * syy)[:, None]
    g = _f64(grad_output)
    g = np.broadcast_to(g, (xv.shape[0],)) if reduction == "none" else np.full(1, float(g))
    return (-dr * g[:, None]).reshape(x.shape)
