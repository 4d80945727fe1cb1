"""Transpose convolution (csrc/conv_transpose.c): F.conv_transpose1d, F.conv_transpose2d, their
backward, nn.ConvTranspose1d and nn.ConvTranspose2d. The adjoint identity, output_size, the fast
kernels against the engine's reference kernel and a property test are in
tests/test_conv_transpose.py."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import assert_close, rng_for, torch

from .common import (BIG, DERIVED, FIT, HUGE, LAYOUT_WT4, LAYOUT_X4, TF, TNN, TOO_LARGE, WT3, WT4, X3,
                     X4, case, check, empty, fmt, from_numpy, gradcheck, kwid, layer_case, normal, ones, pid,
                     ref_close, runs, tt)


def _op(c):
    return "conv_transpose1d" if c["dims"] == 1 else "conv_transpose2d"


# ---- against PyTorch --------------------------------------------------------------------------------

def convt_case(dims, n=2, ci=3, co=4, size=5, k=3, s=1, p=0, op=0, d=1, g=1, bias=True,
               output_size=None, form="batched"):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    k = (k,) * dims if isinstance(k, int) else tuple(k)
    c = dict(dims=dims, n=n, ci=ci, co=co, size=size, k=k, s=s, p=p, op=op, d=d, g=g, bias=bias,
             output_size=output_size, form=form)
    ident = (("" if n is None else f"N{n}-") + f"Ci{ci}-Co{co}-{'L' if dims == 1 else 'HW'}{fmt(size)}"
             f"-k{fmt(k)}-s{fmt(s)}-p{fmt(p)}-op{fmt(op)}-d{fmt(d)}-g{g}" + ("-bias" if bias else "")
             + ("" if output_size is None else f"-out{fmt(output_size)}")
             + ("" if form == "batched" else f"-{form}"))
    return pytest.param(c, id=ident)


CONVT2D_CASES = [
    convt_case(2, n=2, ci=3, co=4, size=5, k=3, bias=False),
    convt_case(2, n=2, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, op=1),
    convt_case(2, n=1, ci=2, co=3, size=(4, 3), k=(3, 4), s=(2, 3), p=(1, 0), op=(1, 2)),
    convt_case(2, n=2, ci=2, co=2, size=(5, 4), k=3, s=1, p=1, op=1, d=2),      # op < dilation
    convt_case(2, n=2, ci=4, co=6, size=(4, 5), k=3, s=2, p=(0, 1), d=(1, 2), g=2),
    convt_case(2, n=2, ci=4, co=4, size=5, k=3, s=2, p=1, g=4, bias=False),     # depthwise
    convt_case(2, n=1, ci=16, co=8, size=(5, 6), k=4, s=2, p=1),                 # long reduction
    convt_case(2, n=2, ci=3, co=2, size=4, k=2, s=2),                            # no overlap
    convt_case(2, n=2, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, output_size=(8, 10)),
    convt_case(2, n=2, ci=2, co=4, size=(3, 4), k=(3, 2), s=(3, 2), d=(2, 1), g=2,
               output_size=(12, 9)),
    convt_case(2, n=None, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, op=1, form="unbatched"),
    convt_case(2, n=None, ci=1, co=1, size=(4, 5), k=3, s=2, form="bare", bias=False),
    convt_case(2, n=2, ci=40, co=30, size=(20, 21), k=4, s=2, p=1),             # long reductions
    convt_case(2, n=1, ci=130, co=6, size=(12, 11), k=3, s=2, p=1, op=1, g=2),
]

CONVT1D_CASES = [
    convt_case(1, n=2, ci=3, co=4, size=6, k=3, bias=False),
    convt_case(1, n=2, ci=3, co=2, size=6, k=4, s=2, p=1, op=1),
    convt_case(1, n=2, ci=4, co=6, size=5, k=3, s=3, p=2, op=2, d=2, g=2),
    convt_case(1, n=2, ci=3, co=3, size=5, k=5, s=1, p=3, op=2, d=3, g=3),
    convt_case(1, n=2, ci=3, co=2, size=6, k=3, s=2, p=1, output_size=12),
    convt_case(1, n=None, ci=3, co=2, size=6, k=3, s=2, p=1, form="unbatched"),
    convt_case(1, n=None, ci=1, co=1, size=6, k=3, s=2, form="bare"),
]


def torch_convt(c):
    dims = c["dims"]

    def fn(x, w, b):
        if c["form"] == "bare":
            x, w = x[None, None], w[None, None]
        if c["output_size"] is not None:  # nn.ConvTranspose*'s output_size picks output_padding
            conv = TNN.ConvTranspose1d if dims == 1 else TNN.ConvTranspose2d
            m = conv(c["ci"], c["co"], c["k"], stride=c["s"], padding=c["p"], groups=c["g"],
                     bias=b is not None, dilation=c["d"], dtype=torch.float64)
            params = {"weight": w} if b is None else {"weight": w, "bias": b}
            size = c["output_size"]
            size = list(size) if isinstance(size, (tuple, list)) else [size]
            y = torch.func.functional_call(m, params, (x,), {"output_size": size})
        else:
            f = TF.conv_transpose1d if dims == 1 else TF.conv_transpose2d
            y = f(x, w, b, c["s"], c["p"], c["op"], c["g"], c["d"])
        return y[0, 0] if c["form"] == "bare" else y

    return fn


def torch_run(c):
    def run(dtype):
        rng = rng_for("conv_transpose", c, dtype)
        if c["form"] == "bare":
            x, w, b = normal(c["size"], dtype, rng), normal(c["k"], dtype, rng), None
        else:
            lead = (c["ci"],) if c["form"] == "unbatched" else (c["n"], c["ci"])
            x = normal(lead + c["size"], dtype, rng)
            w = normal((c["ci"], c["co"] // c["g"]) + c["k"], dtype, rng)
            b = normal((c["co"],), dtype, rng) if c["bias"] else None
        kwargs = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
                      dilation=c["d"], output_size=c["output_size"])
        k = math.prod(c["k"])
        scale = math.sqrt(max(c["ci"] * k, (c["n"] or 1) * math.prod(c["size"])))
        check(_op(c), [x, w, b], kwargs, torch_convt(c), dtype, rng, scale=scale)
    return run


def random_convt_cases(dims, count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        ci, co = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(2, 8, dims))
        k = tuple(int(v) for v in rng.integers(1, 6, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        d = tuple(int(v) for v in rng.integers(1, 3, dims))
        p = tuple(int(v) for v in rng.integers(0, 3, dims))
        op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
        out = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
               for n, ss, pp, dd, kk, oo in zip(size, s, p, d, k, op)]
        if min(out) < 1:
            continue
        # nn.ConvTranspose*'s output_size only reaches output_padding < stride (cnnpy's also
        # reaches output_padding < dilation: see conv_transpose2d-output_size-beyond-stride)
        use_size = rng.random() < 0.3 and all(oo < ss for oo, ss in zip(op, s))
        if dims == 1:
            size, k, s, d, p, op = size[0], k[0], s[0], d[0], p[0], op[0]
        cases.append(convt_case(dims, n=int(rng.integers(1, 3)), ci=ci, co=co, size=size, k=k, s=s,
                                p=p, op=0 if use_size else op, d=d, g=g,
                                bias=bool(rng.random() < 0.5),
                                output_size=tuple(out) if use_size else None))
    return cases


def output_size_beyond_stride(dtype):
    """output_padding may reach dilation - 1 when that exceeds stride - 1 (torch's functional
    accepts it); cnnpy's output_size reaches those sizes too, nn.ConvTranspose2d's does not. The
    result equals torch's functional conv_transpose2d with the matching output_padding."""
    rng = rng_for("convt_beyond", dtype)
    x, w, b = normal((2, 2, 5, 4), dtype, rng), normal((2, 3, 3, 3), dtype, rng), normal((3,), dtype, rng)
    kw = dict(stride=1, padding=1, dilation=2, output_size=(8, 7))    # output_padding (1, 1)
    check("conv_transpose2d", [x, w, b], kw,
          lambda a, c, e: TF.conv_transpose2d(a, c, e, 1, 1, 1, 1, 2), dtype, rng, scale=6)
    with pytest.raises(ValueError):
        TNN.ConvTranspose2d(2, 3, 3, stride=1, padding=1, dilation=2, dtype=torch.float64)(
            torch.from_numpy(x.astype(np.float64)), output_size=[8, 7])


TORCH = (runs(CONVT2D_CASES + CONVT1D_CASES, torch_run, _op)
         + runs(random_convt_cases(2, 25, 7) + random_convt_cases(1, 15, 8), torch_run,
                lambda c: f"{_op(c)}-random")
         + [pytest.param(output_size_beyond_stride, id="conv_transpose2d-output_size-beyond-stride")])


# ---- against the reference ----------------------------------------------------------------------------

# (N, C_in, C_out, H, W, k, stride, padding, output_padding, dilation, groups, bias)
REF_CASES = [
    (1, 1, 1, 3, 3, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, False),
    (2, 4, 6, 22, 22, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),   # the lecture's decoder
    (2, 6, 1, 45, 45, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),
    (2, 3, 4, 5, 4, (4, 4), (2, 2), (1, 1), (1, 0), (1, 1), 1, True),
    (1, 4, 6, 6, 7, (3, 2), (3, 2), (1, 0), (2, 1), (1, 2), 2, True),
    (2, 4, 4, 5, 5, (3, 3), (1, 1), (1, 1), (0, 0), (2, 2), 4, False),     # depthwise
    (1, 2, 3, 4, 4, (2, 2), (1, 1), (0, 0), (1, 1), (2, 2), 1, True),      # op < dilation, >= stride
    (1, 16, 8, 8, 8, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1, True),     # K = 128 (GEMM)
    (0, 3, 2, 4, 4, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),      # empty batch
]


def ref_case_id(c):
    n, ci, co, h, w, k, s, p, op, d, g, b = c
    return (f"N{n}-Ci{ci}-Co{co}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}"
            f"-op{op[0]}x{op[1]}-d{d[0]}x{d[1]}-g{g}" + ("-bias" if b else ""))


def ref_make(c, dtype, rng):
    n, ci, co, h, w, k, s, p, op, d, g, b = c
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((ci, co // g, *k)).astype(dtype)
    bias = rng.standard_normal(co).astype(dtype) if b else None
    return x, wt, bias, dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)


def ref_run(case):
    def run(dtype):
        rng = rng_for(case, "convT")
        x, w, b, kw = ref_make(case, dtype, rng)
        y = F.conv_transpose2d(x, w, b, **kw)
        y_ref = ref.conv_transpose2d(x, w, b, **kw)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert_close(y, y_ref, dtype, scale=10)
        gy = rng.standard_normal(y.shape).astype(dtype)
        got = F.conv_transpose2d_backward(gy, x, w, b, **kw)
        want = ref.conv_transpose2d_backward(gy, x, w, b, **kw)
        for a, e in zip(got, want):
            if e is None:
                assert a is None
            else:
                assert_close(a, e, dtype, scale=100)
    return run


def ref_conv_transpose1d(dtype):
    rng = rng_for("convT1d")
    x = rng.standard_normal((2, 4, 9)).astype(dtype)
    w = rng.standard_normal((4, 3, 4)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    kw = dict(stride=3, padding=1, output_padding=2, groups=2, dilation=1)
    y = F.conv_transpose1d(x, w, b, **kw)
    assert_close(y, ref.conv_transpose1d(x, w, b, **kw), dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    for a, e in zip(F.conv_transpose1d_backward(gy, x, w, b, **kw),
                    ref.conv_transpose1d_backward(gy, x, w, b, **kw)):
        assert_close(a, e, dtype, scale=100)


REFERENCE = ([pytest.param(ref_run(c), id=f"conv_transpose2d-{ref_case_id(c)}") for c in REF_CASES]
             + [pytest.param(ref_conv_transpose1d,
                             id="conv_transpose1d-N2-Ci4-Co6-L9-k4-s3-p1-op2-d1-g2-bias")])


# ---- the reference against PyTorch -------------------------------------------------------------------

REF_TORCH_CONVT2D_CASES = [
    dict(N=2, Ci=3, Co=4, H=5, W=5, k=(3, 3), s=(1, 1), p=(0, 0), op=(0, 0), d=(1, 1), g=1),
    dict(N=2, Ci=3, Co=2, H=4, W=5, k=(3, 3), s=(2, 2), p=(1, 1), op=(1, 0), d=(1, 1), g=1),
    dict(N=1, Ci=4, Co=6, H=3, W=4, k=(3, 2), s=(3, 2), p=(2, 0), op=(2, 1), d=(1, 2), g=2),
    dict(N=2, Ci=4, Co=4, H=5, W=4, k=(3, 3), s=(1, 2), p=(1, 2), op=(1, 1), d=(2, 2), g=4),
    dict(N=1, Ci=2, Co=3, H=6, W=6, k=(4, 4), s=(2, 2), p=(1, 1), op=(0, 0), d=(1, 1), g=1),
    dict(N=2, Ci=3, Co=3, H=3, W=3, k=(1, 1), s=(3, 3), p=(0, 0), op=(2, 0), d=(1, 1), g=1,
         bias=False),
    dict(N=1, Ci=6, Co=2, H=4, W=3, k=(2, 3), s=(2, 3), p=(0, 1), op=(1, 2), d=(2, 1), g=2),
]


def ref_torch_convt2d_run(c):
    def run():
        rng = rng_for("convT2d", sorted(c.items()))
        x = rng.standard_normal((c["N"], c["Ci"], c["H"], c["W"]))
        w = rng.standard_normal((c["Ci"], c["Co"] // c["g"]) + c["k"])
        b = None if c.get("bias") is False else rng.standard_normal(c["Co"])
        kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
                  dilation=c["d"])
        xt, wt = tt(x, True), tt(w, True)
        bt = tt(b, True) if b is not None else None
        yt = TF.conv_transpose2d(xt, wt, bt, **kw)
        y = ref.conv_transpose2d(x, w, b, **kw)
        assert y.shape == tuple(yt.shape)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        gx, gw, gb = ref.conv_transpose2d_backward(gy, x, w, b, **kw)
        ref_close(gx, xt.grad)
        ref_close(gw, wt.grad)
        if b is None:
            assert gb is None
        else:
            ref_close(gb, bt.grad)
    return run


REF_TORCH_CONVT1D_CASES = [
    dict(N=2, Ci=3, Co=4, L=6, k=3, s=1, p=0, op=0, d=1, g=1),
    dict(N=2, Ci=4, Co=2, L=5, k=3, s=2, p=1, op=1, d=2, g=2),
    dict(N=1, Ci=3, Co=6, L=4, k=4, s=3, p=2, op=2, d=1, g=3),
]


def ref_torch_convt1d_run(c):
    def run():
        rng = rng_for("convT1d", sorted(c.items()))
        x = rng.standard_normal((c["N"], c["Ci"], c["L"]))
        w = rng.standard_normal((c["Ci"], c["Co"] // c["g"], c["k"]))
        b = rng.standard_normal(c["Co"])
        kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
                  dilation=c["d"])
        xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
        yt = TF.conv_transpose1d(xt, wt, bt, **kw)
        y = ref.conv_transpose1d(x, w, b, **kw)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        gx, gw, gb = ref.conv_transpose1d_backward(gy, x, w, b, **kw)
        ref_close(gx, xt.grad)
        ref_close(gw, wt.grad)
        ref_close(gb, bt.grad)
    return run


REFERENCE_TORCH = (
    [pytest.param(ref_torch_convt2d_run(c), id=f"conv_transpose2d-{pid(**c)}")
     for c in REF_TORCH_CONVT2D_CASES]
    + [pytest.param(ref_torch_convt1d_run(c), id=f"conv_transpose1d-{pid(**c)}")
       for c in REF_TORCH_CONVT1D_CASES])


# ---- against finite differences --------------------------------------------------------------------------

GRAD_CONVT2D_CASES = [dict(stride=2), dict(stride=2, padding=1, output_padding=1),
                      dict(stride=(3, 1), dilation=(1, 2), groups=2), dict(stride=2, output_size=(10, 9))]


def grad_convt2d_run(kw):
    def run():
        rng = rng_for("gc-convT", kw)
        x, w = rng.standard_normal((2, 4, 4, 4)), rng.standard_normal((4, 3, 3, 2))
        b = rng.standard_normal(3 * kw.get("groups", 1))
        gradcheck(F.conv_transpose2d, F.conv_transpose2d_backward, (x, w, b), kw, rng)
    return run


def grad_convt1d():
    rng = rng_for("gc-convT1d")
    x, w = rng.standard_normal((2, 2, 5)), rng.standard_normal((2, 3, 3))
    gradcheck(F.conv_transpose1d, F.conv_transpose1d_backward, (x, w, None), dict(stride=2, padding=1), rng)


GRADCHECK = ([pytest.param(grad_convt2d_run(kw), id=f"conv_transpose2d-{kwid(kw)}")
              for kw in GRAD_CONVT2D_CASES]
             + [pytest.param(grad_convt1d, id="conv_transpose1d-stride=2-padding=1")])


# ---- bad, huge, empty and unusual input ---------------------------------------------------------------

ERRORS = [
    case("conv_transpose2d-output_padding-ge-stride-and-dilation",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_padding=2), ValueError,
         r"conv_transpose2d: output_padding must be smaller than stride \(2\) or dilation \(1\), got 2"),
    case("conv_transpose2d-output_padding-at-stride-1",
         lambda: F.conv_transpose2d(X4(), WT4(), output_padding=1), ValueError,
         r"output_padding must be smaller than stride \(1\) or dilation \(1\), got 1"),
    case("conv_transpose2d-output_padding-second-dim",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=(1, 2), output_padding=(0, 3)), ValueError,
         r"output_padding must be smaller than stride \(2\) or dilation \(1\), got 3"),
    case("conv_transpose1d-output_padding-ge-stride",
         lambda: F.conv_transpose1d(X3(), WT3(), stride=2, output_padding=2), ValueError,
         r"conv_transpose1d: output_padding must be smaller than stride \(2\) or dilation \(1\), got 2"),
    case("conv_transpose2d-output_padding-negative",
         lambda: F.conv_transpose2d(X4(), WT4(), output_padding=-1), ValueError,
         r"output_padding must be >= 0, got -1"),
    case("conv_transpose2d-output_padding-float",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_padding=0.5), TypeError,
         r"output_padding must be an int, got 0\.5"),
    case("conv_transpose2d-output_size-too-big",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_size=(20, 20)), ValueError,
         r"conv_transpose2d: requested output_size \(20, 20\), but valid sizes range from "
         r"\(11, 11\) to \(12, 12\)"),
    case("conv_transpose2d-output_size-too-small",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_size=(10, 12)), ValueError,
         r"output_size \(10, 12\), but valid sizes range from \(11, 11\) to \(12, 12\)"),
    case("conv_transpose1d-output_size-out-of-range",
         lambda: F.conv_transpose1d(X3(), WT3(), stride=2, output_size=30), ValueError,
         r"conv_transpose1d: requested output_size \(30,\), but valid sizes range from \(17,\) to \(18,\)"),
    case("conv_transpose2d-output_size-one-entry",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_size=(11,)), ValueError,
         r"output_size must have 2 entries, got \(11,\)"),
    case("conv_transpose2d-output_size-float",
         lambda: F.conv_transpose2d(X4(), WT4(), stride=2, output_size=(11, 1.5)), TypeError,
         r"output_size must be an int, got 1\.5"),
    case("conv_transpose2d-output_size-zero",
         lambda: F.conv_transpose2d(X4(), WT4(), output_size=(0, 7)), ValueError,
         r"output_size must be >= 1, got 0"),
    case("conv_transpose2d-padding-removes-output",
         lambda: F.conv_transpose2d(X4(), WT4(), padding=4), ValueError,
         r"conv_transpose2d: padding 4 on both sides removes more than the whole output of length 7"),
    case("conv_transpose1d-padding-removes-output",
         lambda: F.conv_transpose1d(X3(), WT3(), padding=6), ValueError,
         r"conv_transpose1d: padding 6 on both sides removes more than the whole output of length 10"),
    case("conv_transpose2d-padding-negative", lambda: F.conv_transpose2d(X4(), WT4(), padding=-1),
         ValueError, r"padding must be >= 0, got -1"),
    case("conv_transpose2d-padding-string", lambda: F.conv_transpose2d(X4(), WT4(), padding="same"),
         TypeError, r"padding must be an int, got 'same'"),
    case("conv_transpose2d-channel-mismatch", lambda: F.conv_transpose2d(X4(), ones(3, 3, 3, 3)),
         ValueError, r"conv_transpose2d: input has 2 channels but weight \(3, 3, 3, 3\) expects 3"),
    case("conv_transpose2d-groups-not-dividing",
         lambda: F.conv_transpose2d(X4(), WT4(), groups=3), ValueError,
         r"input channels 2 must be divisible by groups=3"),
    case("conv_transpose2d-groups-zero", lambda: F.conv_transpose2d(X4(), WT4(), groups=0),
         ValueError, r"groups must be >= 1, got 0"),
    case("conv_transpose2d-stride-zero", lambda: F.conv_transpose2d(X4(), WT4(), stride=0),
         ValueError, r"stride must be >= 1, got 0"),
    case("conv_transpose2d-stride-float", lambda: F.conv_transpose2d(X4(), WT4(), stride=1.5),
         TypeError, r"stride must be an int, got 1\.5"),
    case("conv_transpose2d-dilation-zero", lambda: F.conv_transpose2d(X4(), WT4(), dilation=0),
         ValueError, r"dilation must be >= 1, got 0"),
    case("conv_transpose2d-bias-length", lambda: F.conv_transpose2d(X4(), WT4(), ones(2)),
         ValueError, r"bias must have shape \(3,\), got \(2,\)"),
    case("conv_transpose2d-weight-3d", lambda: F.conv_transpose2d(X4(), ones(2, 3, 3)), ValueError,
         r"weight must be .*got shape \(2, 3, 3\)"),
    case("conv_transpose2d-zero-height", lambda: F.conv_transpose2d(ones(1, 2, 0, 5), WT4()),
         ValueError, r"spatial size 0x5 of the input must be non-zero"),
    case("conv_transpose2d-input-complex",
         lambda: F.conv_transpose2d(X4().astype(complex), WT4()), TypeError,
         r"conv_transpose2d: input must be a real numeric array, got dtype complex128"),
    case("conv_transpose2d_backward",
         lambda: F.conv_transpose2d_backward(ones(1, 3, 6, 6), X4(), WT4()), ValueError,
         r"conv_transpose2d_backward: grad_output must have the output's shape \(1, 3, 7, 7\), "
         r"got \(1, 3, 6, 6\)"),
    case("conv_transpose1d_backward",
         lambda: F.conv_transpose1d_backward(ones(1, 3, 9), X3(), WT3()), ValueError,
         r"conv_transpose1d_backward: grad_output .*\(1, 3, 10\), got \(1, 3, 9\)"),
]

HUGE_SIZES = [
    # transpose
    case("conv_transpose2d-stride-2**62", lambda: F.conv_transpose2d(X4(), WT4(), stride=BIG),
         OverflowError, DERIVED("conv_transpose2d", "output size", rf"\*{BIG}")),
    case("conv_transpose2d-stride-2**70", lambda: F.conv_transpose2d(X4(), WT4(), stride=HUGE),
         OverflowError, FIT("conv_transpose2d", "stride", HUGE)),
    case("conv_transpose2d-dilation-2**62", lambda: F.conv_transpose2d(X4(), WT4(), dilation=BIG),
         OverflowError, DERIVED("conv_transpose2d", "output size", rf"{BIG}\*")),
    case("conv_transpose2d-stride-2**31-area", lambda: F.conv_transpose2d(X4(), WT4(), stride=2 ** 31),
         OverflowError, TOO_LARGE("conv_transpose2d")),
    case("conv_transpose1d-stride-2**56-bytes-overflow",
         lambda: F.conv_transpose1d(X3(), WT3(), stride=2 ** 56), OverflowError,
         TOO_LARGE("conv_transpose1d")),
    case("conv_transpose2d-padding-2**62", lambda: F.conv_transpose2d(X4(), WT4(), padding=BIG),
         ValueError, rf"conv_transpose2d: padding {BIG} on both sides removes more than the whole output"),
    case("conv_transpose1d-output_size-2**70",
         lambda: F.conv_transpose1d(X3(), WT3(), output_size=HUGE), OverflowError,
         FIT("conv_transpose1d", "output_size", HUGE)),
    case("conv_transpose2d-output_padding-2**70",
         lambda: F.conv_transpose2d(X4(), WT4(), output_padding=HUGE), OverflowError,
         FIT("conv_transpose2d", "output_padding", HUGE)),
]

EMPTY = [
    empty(lambda dt: F.conv_transpose2d(ones(0, 2, 5, 5, dtype=dt), ones(2, 3, 3, 3, dtype=dt),
                                               ones(3, dtype=dt), stride=2), (0, 3, 11, 11),
                 id="conv_transpose2d"),
    empty(lambda dt: F.conv_transpose2d_backward(
        ones(0, 3, 11, 11, dtype=dt), ones(0, 2, 5, 5, dtype=dt), ones(2, 3, 3, 3, dtype=dt),
        stride=2)[0], (0, 2, 5, 5), id="conv_transpose2d_backward"),
]

FAILING = [
    pytest.param(lambda a: F.conv_transpose2d(a["x"], a["wt"], stride=2, output_size=(40, 40)),
                 id="conv_transpose2d-output_size"),
    pytest.param(lambda a: F.conv_transpose2d_backward(a["g"], a["x"], a["wt"]),
                 id="conv_transpose2d_backward-grad-shape"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X4, lambda x: F.conv_transpose2d(x, LAYOUT_WT4, stride=2), id="conv_transpose2d"),
]

NAN_INF = [
    pytest.param(lambda x: F.conv_transpose2d(x, LAYOUT_WT4.astype(x.dtype), stride=2),
                 lambda x: TF.conv_transpose2d(from_numpy(x), from_numpy(LAYOUT_WT4.astype(x.dtype)),
                                               stride=2),
                 (2, 3, 9, 9), id="conv_transpose2d"),
]


# ---- layers ---------------------------------------------------------------------------------------------

LAYERS = [
    layer_case("convtranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1),
               (2, 3, 4, 5), lambda: TNN.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)),
    layer_case("convtranspose1d", lambda: nn.ConvTranspose1d(2, 3, 3, stride=2), (2, 2, 5),
               lambda: TNN.ConvTranspose1d(2, 3, 3, stride=2)),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """conv_transpose2d forward and backward at stride 2 with output_padding, images (n, c, h, h)."""
    x, wt = rng.standard_normal((n, c, h, h)), rng.standard_normal((c, 2, 3, 3))
    return [
        F.conv_transpose2d(x, wt, rng.standard_normal(2), stride=2, output_padding=1),
        *F.conv_transpose2d_backward(rng.standard_normal((n, 2, 2 * h + 2, 2 * h + 2)), x, wt,
                                     rng.standard_normal(2), stride=2, output_padding=1),
    ]
