"""Convolution (csrc/conv.c): F.conv1d, F.conv2d, their backward, nn.Conv1d and nn.Conv2d.
Semantics no table expresses (padding forms, true convolution, input forms, the fast kernels
against the engine's reference kernel, a property test) are in tests/test_conv.py."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import _cnn, nn
from helpers import assert_close, rng_for, torch

from .common import (BIG, DERIVED, FIT, HUGE, HUGE_TYPES, LAYOUT_G4, LAYOUT_W4, LAYOUT_X4, TF, TNN,
                     TOO_LARGE, W3, W4, X3, X4, case, check, empty, fmt, from_numpy, gradcheck, kwid,
                     layer_case, normal, ones, pid, ref_close, runs, tt)


def _op(c):
    return "conv1d" if c["dims"] == 1 else "conv2d"


# ---- against PyTorch --------------------------------------------------------------------------------

def conv_case(dims, n=2, ci=3, co=4, size=7, k=3, s=1, p=0, d=1, g=1, bias=True, mode="zeros",
              form="batched", flip=False):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    k = (k,) * dims if isinstance(k, int) else tuple(k)
    c = dict(dims=dims, n=n, ci=ci, co=co, size=size, k=k, s=s, p=p, d=d, g=g, bias=bias, mode=mode,
             form=form, flip=flip)
    ident = (("" if n is None else f"N{n}-") + f"Ci{ci}-Co{co}-{'L' if dims == 1 else 'HW'}{fmt(size)}"
             f"-k{fmt(k)}-s{fmt(s)}-p{fmt(p)}-d{fmt(d)}-g{g}" + ("-bias" if bias else "")
             + ("" if mode == "zeros" else f"-{mode}")
             + ("" if form == "batched" else f"-{form}") + ("-flip" if flip else ""))
    return pytest.param(c, id=ident)


CONV2D_CASES = [
    conv_case(2, n=2, ci=3, co=4, size=7, k=3, bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 8), k=3, s=2, p=1),
    conv_case(2, n=1, ci=4, co=6, size=(9, 10), k=(3, 2), s=(2, 1), p=(1, 0), d=(2, 1), g=2),
    conv_case(2, n=2, ci=4, co=4, size=8, k=3, p=1, g=4, bias=False),          # depthwise
    conv_case(2, n=2, ci=3, co=6, size=(8, 9), k=3, s=2, p=1, g=3),            # depthwise x2
    conv_case(2, n=2, ci=16, co=8, size=(6, 7), k=1),                          # pointwise
    conv_case(2, n=1, ci=12, co=10, size=(12, 11), k=3, s=2, p=1, d=2),        # long reduction
    conv_case(2, n=2, ci=2, co=3, size=(10, 12), k=(5, 4), s=(3, 2), p=(2, 0), d=(1, 2)),
    conv_case(2, n=2, ci=1, co=3, size=4, k=4),                                # 1x1 output
    conv_case(2, n=0, ci=3, co=4, size=5, k=3, p=1),                           # empty batch
    conv_case(2, n=2, ci=3, co=2, size=(7, 8), k=3, p=((1, 0), (2, 1))),       # explicit pairs
    conv_case(2, n=1, ci=2, co=2, size=(6, 9), k=(2, 3), s=(1, 2), p=((0, 1), (1, 0)), bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=3, p="same"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 6), k=4, p="same", bias=False),     # even kernel
    conv_case(2, n=1, ci=2, co=2, size=(9, 8), k=(2, 3), p="same", d=2),       # odd total pad
    conv_case(2, n=2, ci=4, co=2, size=(8, 7), k=(3, 5), p="same", d=(2, 1), g=2),
    conv_case(2, n=2, ci=3, co=4, size=(7, 8), k=3, s=2, p="valid"),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=1, mode="reflect"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=5, s=2, p=2, mode="reflect", bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=(1, 2), mode="replicate"),
    conv_case(2, n=1, ci=4, co=4, size=(6, 5), k=3, s=2, p=(2, 1), d=(1, 2), g=2, mode="replicate"),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=(2, 1), mode="circular"),
    conv_case(2, n=2, ci=2, co=2, size=(5, 6), k=(5, 3), p=(4, 1), mode="circular", g=2),  # pad = k-1
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=3, p="same", mode="reflect"),
    conv_case(2, n=1, ci=2, co=2, size=(7, 6), k=4, p="same", mode="circular"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=3, p=((2, 0), (1, 2)), mode="reflect"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=3, p=((0, 2), (2, 1)), mode="circular"),
    conv_case(2, n=None, ci=3, co=4, size=(7, 6), k=3, s=2, p=1, form="unbatched"),
    conv_case(2, n=None, ci=3, co=4, size=(7, 6), k=3, p=1, mode="reflect", form="unbatched"),
    conv_case(2, n=None, ci=2, co=4, size=(7, 6), k=3, p="same", g=2, form="unbatched", bias=False),
    conv_case(2, n=None, ci=1, co=1, size=(7, 6), k=3, p=1, form="bare", bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=(3, 2), p=1, flip=True),
    # the engine's GEMM path (reduction > 64), crossing its packing blocks (K 256, M 128, N 2048)
    # and im2col tiles; the 1x1 stride-1 case reads the image itself as the column matrix
    conv_case(2, n=2, ci=30, co=130, size=(46, 47), k=3, p=1),
    conv_case(2, n=2, ci=40, co=12, size=(25, 30), k=(3, 5), s=2, p=(2, 3), d=2, g=2),
    conv_case(2, n=2, ci=80, co=20, size=(20, 21), k=1),
    conv_case(2, n=1, ci=70, co=6, size=(9, 9), k=1, s=2, bias=False),
    conv_case(2, n=1, ci=9, co=5, size=(40, 41), k=3, p=1, mode="reflect"),
]

CONV1D_CASES = [
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, bias=False),
    conv_case(1, n=2, ci=3, co=5, size=10, k=4, s=2, p=1),
    conv_case(1, n=2, ci=4, co=6, size=13, k=3, s=3, p=2, d=2, g=2),
    conv_case(1, n=3, ci=5, co=5, size=11, k=5, p=2, g=5),                      # depthwise
    conv_case(1, n=2, ci=24, co=8, size=15, k=7, s=2, p=3),                     # long reduction
    conv_case(1, n=2, ci=3, co=2, size=9, k=3, p=(2, 1)),                        # (left, right)
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, p="same"),
    conv_case(1, n=2, ci=3, co=4, size=9, k=4, d=3, p="same", bias=False),
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, s=2, p="valid"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=5, p=2, mode="reflect"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=3, s=2, p=2, mode="replicate"),
    conv_case(1, n=2, ci=2, co=4, size=6, k=5, p=4, d=1, mode="circular", g=2),
    conv_case(1, n=2, ci=3, co=4, size=8, k=4, p="same", mode="reflect"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=3, p=(0, 2), mode="circular"),
    conv_case(1, n=None, ci=3, co=4, size=9, k=3, s=2, p=1, form="unbatched"),
    conv_case(1, n=None, ci=3, co=4, size=9, k=3, p=1, mode="replicate", form="unbatched"),
    conv_case(1, n=None, ci=1, co=1, size=9, k=4, form="bare"),
    conv_case(1, n=2, ci=3, co=4, size=9, k=4, p=2, flip=True),
    conv_case(1, n=2, ci=40, co=33, size=700, k=7, s=1, p=3),              # GEMM, several tiles
]


def _explicit_pairs(p, dims):
    if dims == 1:
        return isinstance(p, (tuple, list)) and len(p) == 2
    return isinstance(p, (tuple, list)) and all(isinstance(e, (tuple, list)) for e in p)


def torch_conv(c):
    """PyTorch's conv: nn.Conv1d/Conv2d (its own padding_mode logic) through functional_call, or,
    for asymmetric explicit pads that nn.Conv* cannot express, F.pad + F.conv*."""
    dims = c["dims"]

    def fn(x, w, b):
        if c["form"] == "bare":
            x, w = x[None, None], w[None, None]
        if c["flip"]:
            w = torch.flip(w, dims=tuple(range(2, 2 + dims)))
        p, mode = c["p"], c["mode"]
        if _explicit_pairs(p, dims):
            pairs = [p] if dims == 1 else list(p)
            flat = [v for pair in reversed(pairs) for v in pair]  # torch: last dim first
            x = TF.pad(x, flat, mode="constant" if mode == "zeros" else mode)
            p, mode = 0, "zeros"
        conv = TNN.Conv1d if dims == 1 else TNN.Conv2d
        m = conv(c["ci"], c["co"], c["k"], stride=c["s"], padding=p, dilation=c["d"],
                 groups=c["g"], bias=b is not None, padding_mode=mode, dtype=torch.float64)
        params = {"weight": w} if b is None else {"weight": w, "bias": b}
        y = torch.func.functional_call(m, params, (x,))
        return y[0, 0] if c["form"] == "bare" else y

    return fn


def conv_arrays(c, dtype, rng):
    dims = c["dims"]
    if c["form"] == "bare":
        return normal(c["size"], dtype, rng), normal(c["k"], dtype, rng), None
    lead = (c["ci"],) if c["form"] == "unbatched" else (c["n"], c["ci"])
    x = normal(lead + c["size"], dtype, rng)
    w = normal((c["co"], c["ci"] // c["g"]) + c["k"], dtype, rng)
    b = normal((c["co"],), dtype, rng) if c["bias"] else None
    assert len(c["k"]) == dims
    return x, w, b


def conv_scale(c):
    k = math.prod(c["k"])

    def scale(y):
        out = math.prod(y.shape[-c["dims"]:]) * (c["n"] or 1)
        return math.sqrt(max(c["ci"] // c["g"] * k, c["co"] // c["g"] * k, out))

    return scale


def torch_run(c):
    def run(dtype):
        rng = rng_for("conv", c, dtype)
        x, w, b = conv_arrays(c, dtype, rng)
        kwargs = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"],
                      padding_mode=c["mode"], mode="conv" if c["flip"] else "xcorr")
        check(_op(c), [x, w, b], kwargs, torch_conv(c), dtype, rng, scale=conv_scale(c))
    return run


def random_conv_cases(dims, count, seed):
    """Seeded random geometries: many more configurations than the list above."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        ci, co = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(3, 11, dims))
        k = tuple(int(v) for v in rng.integers(1, 6, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        d = tuple(int(v) for v in rng.integers(1, 3, dims))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        if rng.random() < 0.25:
            p, s = "same", (1,) * dims
            pads = [dd * (kk - 1) for kk, dd in zip(k, d)]
            pads = [(t // 2, t - t // 2) for t in pads]
        else:
            p = tuple(int(v) for v in rng.integers(0, 4, dims))
            pads = [(v, v) for v in p]
        if mode == "reflect" and any(max(pp) >= n for pp, n in zip(pads, size)):
            continue
        if mode == "circular" and any(max(pp) > n for pp, n in zip(pads, size)):
            continue
        if any(n + sum(pp) < dd * (kk - 1) + 1 for n, pp, kk, dd in zip(size, pads, k, d)):
            continue
        if dims == 1:
            size, k, s, d = size[0], k[0], s[0], d[0]
            p = p if p == "same" else p[0]
        cases.append(conv_case(dims, n=int(rng.integers(1, 3)), ci=ci, co=co, size=size, k=k, s=s,
                               p=p, d=d, g=g, bias=bool(rng.random() < 0.5), mode=mode))
    return cases


TORCH = (runs(CONV2D_CASES + CONV1D_CASES, torch_run, _op)
         + runs(random_conv_cases(2, 30, 2024) + random_conv_cases(1, 20, 2025), torch_run,
                lambda c: f"{_op(c)}-random"))


# ---- against the reference ----------------------------------------------------------------------------

# (N, C_in, C_out, H, W, kH, kW, stride, ((top, bottom), (left, right)), dilation, groups, bias)
REF_CONV2D_CASES = [
    (1, 1, 1, 5, 5, 3, 3, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, False),
    (2, 3, 4, 7, 6, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True),
    (2, 3, 4, 9, 8, 3, 2, (2, 1), ((1, 0), (2, 1)), (1, 1), 1, True),
    (1, 4, 6, 11, 10, 3, 3, (2, 3), ((0, 2), (1, 1)), (2, 1), 2, True),
    (3, 4, 4, 8, 8, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 4, False),   # depthwise
    (2, 2, 6, 8, 8, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 2, True),    # groups, multiplier 3
    (2, 16, 8, 6, 7, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, True),   # pointwise
    (1, 12, 10, 9, 9, 3, 3, (2, 2), ((1, 1), (1, 1)), (2, 2), 1, True),  # K = 108: GEMM path
    (1, 3, 2, 10, 12, 5, 4, (3, 2), ((2, 2), (0, 3)), (1, 2), 1, False),
    (2, 1, 3, 4, 4, 4, 4, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, True),    # 1x1 output
    (0, 3, 4, 5, 5, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True),    # empty batch
]


def ref_case_id(c):
    n, ci, co, h, w, kh, kw, s, p, d, g, b = c
    return (f"N{n}-Ci{ci}-Co{co}-H{h}W{w}-k{kh}x{kw}-s{s[0]}x{s[1]}-p{p[0][0]}{p[0][1]}{p[1][0]}{p[1][1]}"
            f"-d{d[0]}x{d[1]}-g{g}" + ("-bias" if b else ""))


def ref_make(case, dtype, rng):
    n, ci, co, h, w, kh, kw, s, p, d, g, b = case
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((co, ci // g, kh, kw)).astype(dtype)
    bias = rng.standard_normal(co).astype(dtype) if b else None
    return x, wt, bias


def ref_conv2d_run(case):
    def run(dtype):
        rng = rng_for(case, "conv2d")
        _, _, _, _, _, _, _, s, p, d, g, _ = case
        x, w, b = ref_make(case, dtype, rng)
        y = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        y_ref = ref.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert_close(y, y_ref, dtype, scale=10)
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx, gw, gb = F.conv2d_backward(gy, x, w, b, stride=s, padding=p, dilation=d, groups=g)
        rx, rw, rb = ref.conv2d_backward(gy, x, w, b, stride=s, padding=p, dilation=d, groups=g)
        assert gx.dtype == dtype and gw.dtype == dtype
        assert_close(gx, rx, dtype, scale=10)
        assert_close(gw, rw, dtype, scale=100)
        if b is None:
            assert gb is None and rb is None
        else:
            assert_close(gb, rb, dtype, scale=100)
    return run


# (N, C_in, C_out, L, k, stride, (left, right), dilation, groups)
REF_CONV1D_CASES = [
    (2, 3, 4, 20, 3, 1, (1, 1), 1, 1),
    (1, 4, 2, 17, 5, 2, (0, 3), 2, 2),
    (3, 2, 2, 9, 2, 3, (1, 0), 1, 2),
]


def ref_conv1d_run(case):
    def run(dtype):
        n, ci, co, length, k, s, p, d, g = case
        rng = rng_for("conv1d", n, ci, co, length, k, s, p, d, g)
        x = rng.standard_normal((n, ci, length)).astype(dtype)
        w = rng.standard_normal((co, ci // g, k)).astype(dtype)
        b = rng.standard_normal(co).astype(dtype)
        y = F.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
        assert_close(y, ref.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=g), dtype, scale=10)
        gy = rng.standard_normal(y.shape).astype(dtype)
        got = F.conv1d_backward(gy, x, w, b, stride=s, padding=p, dilation=d, groups=g)
        want = ref.conv1d_backward(gy, x, w, b, stride=s, padding=p, dilation=d, groups=g)
        for a, e in zip(got, want):
            assert_close(a, e, dtype, scale=100)
    return run


def _ref_conv1d_id(c):
    n, ci, co, length, k, s, p, d, g = c
    return f"N{n}-Ci{ci}-Co{co}-L{length}-k{k}-s{s}-p{fmt(p)}-d{d}-g{g}"


REFERENCE = ([pytest.param(ref_conv2d_run(c), id=f"conv2d-{ref_case_id(c)}") for c in REF_CONV2D_CASES]
             + [pytest.param(ref_conv1d_run(c), id=f"conv1d-{_ref_conv1d_id(c)}") for c in REF_CONV1D_CASES])


# ---- the reference against PyTorch -------------------------------------------------------------------

def _conv2d_case(N, Ci, Co, H, W, k, s=(1, 1), p=((0, 0), (0, 0)), d=(1, 1), g=1, bias=True):
    return dict(N=N, Ci=Ci, Co=Co, H=H, W=W, k=k, s=s, p=p, d=d, g=g, bias=bias)


REF_TORCH_CONV2D_CASES = [
    _conv2d_case(2, 3, 4, 12, 12, (3, 3), p=((1, 1), (1, 1))),
    _conv2d_case(2, 3, 4, 7, 7, (3, 3)),
    _conv2d_case(2, 3, 5, 7, 8, (3, 3), s=(2, 2), p=((1, 1), (1, 1))),
    _conv2d_case(1, 2, 3, 9, 10, (3, 2), s=(3, 2), p=((2, 0), (1, 3)), d=(2, 1)),
    _conv2d_case(2, 4, 6, 9, 7, (3, 3), s=(1, 3), p=((0, 2), (2, 1)), d=(2, 2), g=2),
    _conv2d_case(2, 4, 4, 8, 8, (3, 3), p=((2, 2), (2, 2)), d=(2, 2), g=4),
    _conv2d_case(1, 3, 6, 6, 7, (3, 3), s=(2, 1), p=((1, 0), (0, 1)), g=3),
    _conv2d_case(2, 3, 2, 5, 6, (1, 1), s=(2, 3), bias=False),
    _conv2d_case(1, 2, 3, 11, 9, (5, 4), s=(3, 3), p=((1, 2), (3, 0))),
    _conv2d_case(2, 2, 2, 4, 5, (4, 5)),
    _conv2d_case(1, 6, 4, 10, 10, (2, 3), s=(2, 2), p=((0, 1), (1, 0)), d=(3, 2), g=2, bias=False),
    _conv2d_case(3, 1, 1, 6, 6, (3, 3), s=(3, 3), p=((3, 3), (3, 3))),
]


def ref_torch_conv2d_run(c):
    def run():
        rng = rng_for("conv2d", sorted(c.items()))
        x = rng.standard_normal((c["N"], c["Ci"], c["H"], c["W"]))
        w = rng.standard_normal((c["Co"], c["Ci"] // c["g"]) + c["k"])
        b = rng.standard_normal(c["Co"]) if c["bias"] else None
        kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
        y = ref.conv2d(x, w, b, **kw)
        xt, wt = tt(x, True), tt(w, True)
        bt = tt(b, True) if b is not None else None
        (t, bo), (left, right) = c["p"]
        yt = TF.conv2d(TF.pad(xt, (left, right, t, bo)), wt, bt, stride=c["s"], dilation=c["d"],
                       groups=c["g"])
        assert y.shape == tuple(yt.shape)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        gx, gw, gb = ref.conv2d_backward(gy, x, w, b, **kw)
        ref_close(gx, xt.grad)
        ref_close(gw, wt.grad)
        if b is None:
            assert gb is None
        else:
            ref_close(gb, bt.grad)
    return run


REF_TORCH_CONV1D_CASES = [
    dict(N=2, Ci=3, Co=4, L=12, k=3, s=1, p=(1, 1), d=1, g=1),
    dict(N=2, Ci=4, Co=6, L=11, k=3, s=2, p=(2, 0), d=2, g=2),
    dict(N=1, Ci=3, Co=3, L=9, k=4, s=3, p=(0, 3), d=1, g=3),
    dict(N=3, Ci=2, Co=5, L=7, k=1, s=2, p=(0, 0), d=1, g=1),
    dict(N=1, Ci=2, Co=2, L=10, k=3, s=1, p=(4, 1), d=3, g=1),
]


def ref_torch_conv1d_run(c):
    def run():
        rng = rng_for("conv1d", sorted(c.items()))
        x = rng.standard_normal((c["N"], c["Ci"], c["L"]))
        w = rng.standard_normal((c["Co"], c["Ci"] // c["g"], c["k"]))
        b = rng.standard_normal(c["Co"])
        kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
        xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
        yt = TF.conv1d(TF.pad(xt, c["p"]), wt, bt, stride=c["s"], dilation=c["d"], groups=c["g"])
        y = ref.conv1d(x, w, b, **kw)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        gx, gw, gb = ref.conv1d_backward(gy, x, w, b, **kw)
        ref_close(gx, xt.grad)
        ref_close(gw, wt.grad)
        ref_close(gb, bt.grad)
    return run


REFERENCE_TORCH = (
    [pytest.param(ref_torch_conv2d_run(c), id=f"conv2d-{pid(**c)}") for c in REF_TORCH_CONV2D_CASES]
    + [pytest.param(ref_torch_conv1d_run(c), id=f"conv1d-{pid(**c)}") for c in REF_TORCH_CONV1D_CASES])


# ---- against finite differences --------------------------------------------------------------------------

GRAD_CONV2D_CASES = [
    dict(stride=1, padding=1),
    dict(stride=2, padding=((0, 2), (1, 0)), dilation=(2, 1)),
    dict(stride=(2, 1), padding="same", padding_mode="reflect"),
    dict(padding=3, padding_mode="symmetric"),
    dict(padding=2, padding_mode="circular", mode="conv"),
    dict(padding=(1, 2), padding_mode="replicate", groups=2),
    dict(padding=1, padding_mode="constant", value=0.7),
    dict(padding="full", dilation=2),
]


def grad_conv2d_run(kw):
    def run():
        rng = rng_for("gc-conv2d", kw)
        x = rng.standard_normal((2, 4, 6, 5))
        w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 2))
        b = rng.standard_normal(6)
        gradcheck(F.conv2d, F.conv2d_backward, (x, w, b), kw, rng)
    return run


def grad_conv1d():
    rng = rng_for("gc-conv1d")
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 4)), rng.standard_normal(2)
    gradcheck(F.conv1d, F.conv1d_backward, (x, w, b), dict(stride=2, padding=(1, 2), padding_mode="reflect"), rng)


GRADCHECK = ([pytest.param(grad_conv2d_run(kw), id=f"conv2d-{kwid(kw)}") for kw in GRAD_CONV2D_CASES]
             + [pytest.param(grad_conv1d, id="conv1d-stride=2-padding=1x2-padding_mode=reflect")])


# ---- bad, huge, empty and unusual input ---------------------------------------------------------------

ERRORS = [
    # shapes
    case("conv2d-input-5d", lambda: F.conv2d(ones(1, 1, 2, 5, 5), W4()), ValueError,
         r"conv2d: input must be \(N, C, H, W\).*got shape \(1, 1, 2, 5, 5\)"),
    case("conv2d-input-1d", lambda: F.conv2d(ones(5), W4()), ValueError,
         r"conv2d: input .*got shape \(5,\)"),
    case("conv2d-bare-input-full-weight", lambda: F.conv2d(ones(5, 5), W4()), ValueError,
         r"conv2d: input .*got shape \(5, 5\)"),
    case("conv2d-weight-3d", lambda: F.conv2d(X4(), ones(3, 2, 3)), ValueError,
         r"conv2d: weight must be \(C_out, C_in/groups, kH, kW\).*got shape \(3, 2, 3\)"),
    case("conv2d-channel-mismatch", lambda: F.conv2d(X4(), ones(3, 3, 3, 3)), ValueError,
         r"conv2d: input has 2 channels but weight \(3, 3, 3, 3\)"),
    case("conv2d-groups-in-channels", lambda: F.conv2d(ones(1, 3, 5, 5), ones(4, 1, 3, 3), groups=2),
         ValueError, r"conv2d: input has 3 channels .*groups=2"),
    case("conv2d-groups-out-channels", lambda: F.conv2d(X4(), ones(3, 1, 3, 3), groups=2),
         ValueError, r"conv2d: out channels 3 .*divisible by groups=2"),
    case("conv2d-zero-height", lambda: F.conv2d(ones(1, 2, 0, 5), W4()), ValueError,
         r"conv2d: spatial size 0x5 of the input must be non-zero"),
    case("conv2d-zero-kernel", lambda: F.conv2d(X4(), ones(3, 2, 0, 3)), ValueError,
         r"conv2d: kernel size 0x3 must be non-zero"),
    case("conv2d-bias-length", lambda: F.conv2d(X4(), W4(), ones(2)), ValueError,
         r"conv2d: bias must have shape \(3,\), got \(2,\)"),
    case("conv2d-bias-2d", lambda: F.conv2d(X4(), W4(), ones(3, 1)), ValueError,
         r"conv2d: bias must have shape \(3,\), got \(3, 1\)"),
    case("conv2d-bare-bias-length", lambda: F.conv2d(ones(5, 5), ones(3, 3), ones(2)), ValueError,
         r"conv2d: bias must have shape \(1,\), got \(2,\)"),
    # kernel larger than the padded input: quote both sizes
    case("conv2d-kernel-too-big", lambda: F.conv2d(X4(), ones(3, 2, 7, 7)), ValueError,
         r"conv2d: padded input 5x5 is smaller than the dilated kernel 7x7"),
    case("conv2d-kernel-too-big-asym-pad",
         lambda: F.conv2d(X4(), ones(3, 2, 9, 9), padding=((1, 0), (0, 2))), ValueError,
         r"padded input 6x7 is smaller than the dilated kernel 9x9"),
    case("conv2d-kernel-too-big-reflect",
         lambda: F.conv2d(X4(), ones(3, 2, 9, 9), padding=1, padding_mode="reflect"), ValueError,
         r"padded input 7x7 is smaller than the dilated kernel 9x9"),
    case("conv2d-dilated-kernel-too-big", lambda: F.conv2d(ones(1, 2, 4, 4), W4(), dilation=(2, 1)),
         ValueError, r"padded input 4x4 is smaller than the dilated kernel 5x3"),
    # stride
    case("conv2d-stride-zero", lambda: F.conv2d(X4(), W4(), stride=0), ValueError,
         r"conv2d: stride must be >= 1, got 0"),
    case("conv2d-stride-negative", lambda: F.conv2d(X4(), W4(), stride=-1), ValueError,
         r"stride must be >= 1, got -1"),
    case("conv2d-stride-pair-zero", lambda: F.conv2d(X4(), W4(), stride=(2, 0)), ValueError,
         r"stride must be >= 1, got 0"),
    case("conv2d-stride-float", lambda: F.conv2d(X4(), W4(), stride=1.5), TypeError,
         r"conv2d: stride must be an int, got 1\.5"),
    case("conv2d-stride-integral-float", lambda: F.conv2d(X4(), W4(), stride=1.0), TypeError,
         r"stride must be an int, got 1\.0"),
    case("conv2d-stride-float-array", lambda: F.conv2d(X4(), W4(), stride=np.array([1.5, 1])),
         TypeError, r"stride must be an int, got .*1\.5"),
    case("conv2d-stride-0d-float-array", lambda: F.conv2d(X4(), W4(), stride=np.array(2.0)),
         TypeError, r"conv2d: stride must be an int, got .*2\.0"),
    case("conv2d-stride-bool", lambda: F.conv2d(X4(), W4(), stride=True), TypeError,
         r"stride must be an int, got True"),
    case("conv2d-stride-None", lambda: F.conv2d(X4(), W4(), stride=None), TypeError,
         r"stride must be an int, got None"),
    case("conv2d-stride-str", lambda: F.conv2d(X4(), W4(), stride="1"), TypeError,
         r"stride must be an int, got '1'"),
    case("conv2d-stride-3-values", lambda: F.conv2d(X4(), W4(), stride=(1, 1, 1)), ValueError,
         r"stride must be an int or a sequence of 2 ints, got \(1, 1, 1\)"),
    case("conv2d-stride-empty", lambda: F.conv2d(X4(), W4(), stride=[]), ValueError,
         r"stride must be an int or a sequence of 2 ints, got \[\]"),
    # dilation
    case("conv2d-dilation-zero", lambda: F.conv2d(X4(), W4(), dilation=0), ValueError,
         r"conv2d: dilation must be >= 1, got 0"),
    case("conv2d-dilation-negative", lambda: F.conv2d(X4(), W4(), dilation=(1, -1)), ValueError,
         r"dilation must be >= 1, got -1"),
    case("conv2d-dilation-float", lambda: F.conv2d(X4(), W4(), dilation=1.5), TypeError,
         r"dilation must be an int, got 1\.5"),
    # groups
    case("conv2d-groups-zero", lambda: F.conv2d(X4(), W4(), groups=0), ValueError,
         r"conv2d: groups must be >= 1, got 0"),
    case("conv2d-groups-negative", lambda: F.conv2d(X4(), W4(), groups=-2), ValueError,
         r"groups must be >= 1, got -2"),
    case("conv2d-groups-float", lambda: F.conv2d(X4(), W4(), groups=1.0), TypeError,
         r"groups must be an int, got 1\.0"),
    case("conv2d-groups-bool", lambda: F.conv2d(X4(), W4(), groups=True), TypeError,
         r"groups must be an int, got True"),
    # padding
    case("conv2d-padding-negative", lambda: F.conv2d(X4(), W4(), padding=-1), ValueError,
         r"conv2d: padding must be >= 0, got -1"),
    case("conv2d-padding-negative-pair", lambda: F.conv2d(X4(), W4(), padding=(1, -1)), ValueError,
         r"padding must be >= 0, got -1"),
    case("conv2d-padding-negative-explicit",
         lambda: F.conv2d(X4(), W4(), padding=((0, 0), (-1, 0))), ValueError,
         r"padding must be >= 0, got -1"),
    case("conv2d-padding-float", lambda: F.conv2d(X4(), W4(), padding=1.5), TypeError,
         r"padding must be an int, got 1\.5"),
    case("conv2d-padding-None", lambda: F.conv2d(X4(), W4(), padding=None), TypeError,
         r"padding must be an int, got None"),
    case("conv2d-padding-set", lambda: F.conv2d(X4(), W4(), padding={1, 2}), TypeError,
         r"padding must be an int, got \{1, 2\}"),
    case("conv2d-padding-unknown-string", lambda: F.conv2d(X4(), W4(), padding="bogus"), ValueError,
         r"conv2d: padding must be .*'valid', 'same' or 'full'; got 'bogus'"),
    case("conv2d-padding-3-values", lambda: F.conv2d(X4(), W4(), padding=(1, 2, 3)), ValueError,
         r"padding must be .*got \(1, 2, 3\)"),
    case("conv2d-padding-short-pair", lambda: F.conv2d(X4(), W4(), padding=((1, 2), (3,))),
         ValueError, r"padding must be an int or a \(before, after\) pair, got \(3,\)"),
    # modes
    case("conv2d-padding_mode-unknown",
         lambda: F.conv2d(X4(), W4(), padding=1, padding_mode="bogus"), ValueError,
         r"conv2d: padding_mode must be one of 'zeros', .*; got 'bogus'"),
    case("conv2d-padding_mode-list",
         lambda: F.conv2d(X4(), W4(), padding=1, padding_mode=["zeros"]), TypeError,
         r"conv2d: padding_mode must be a string, got \['zeros'\]"),
    case("conv2d-padding_mode-None",
         lambda: F.conv2d(X4(), W4(), padding=1, padding_mode=None), TypeError,
         r"conv2d: padding_mode must be a string, got None"),
    case("conv2d-mode-unknown", lambda: F.conv2d(X4(), W4(), mode="bogus"), ValueError,
         r"conv2d: mode must be 'xcorr' .* or 'conv' .*got 'bogus'"),
    case("conv2d-mode-convolution", lambda: F.conv2d(X4(), W4(), mode="convolution"), ValueError,
         r"mode must be 'xcorr' .*got 'convolution'"),
    case("conv2d-mode-None", lambda: F.conv2d(X4(), W4(), mode=None), TypeError,
         r"conv2d: mode must be .*got None"),
    case("conv2d-mode-list", lambda: F.conv2d(X4(), W4(), mode=["xcorr"]), TypeError,
         r"conv2d: mode must be .*got \['xcorr'\]"),
    case("conv2d-value-str",
         lambda: F.conv2d(X4(), W4(), padding=2, padding_mode="constant", value="a"), TypeError,
         r"conv2d: value must be a real number, got 'a'"),
    case("conv2d-value-complex",
         lambda: F.conv2d(X4(), W4(), padding=2, padding_mode="constant", value=1 + 2j), TypeError,
         r"value must be a real number, got \(1\+2j\)"),
    # dtypes
    case("conv2d-input-object", lambda: F.conv2d(X4().astype(object), W4()), TypeError,
         r"conv2d: input must be a real numeric array, got dtype object"),
    case("conv2d-input-complex", lambda: F.conv2d(X4().astype(complex), W4()), TypeError,
         r"input must be a real numeric array, got dtype complex128"),
    case("conv2d-input-str", lambda: F.conv2d(np.array([["a"]]), ones(1, 1)), TypeError,
         r"input must be a real numeric array, got dtype <U1"),
    case("conv2d-input-None", lambda: F.conv2d(None, W4()), TypeError,
         r"conv2d: input must be an array, got None"),
    case("conv2d-input-ragged", lambda: F.conv2d([[1, 2], [3]], [[1]]), TypeError,
         r"conv2d: input must be a real numeric array"),
    case("conv2d-weight-None", lambda: F.conv2d(X4(), None), TypeError,
         r"weight must be an array, got None"),
    case("conv2d-weight-complex", lambda: F.conv2d(X4(), W4().astype(complex)), TypeError,
         r"weight must be a real numeric array, got dtype complex128"),
    case("conv2d-bias-complex", lambda: F.conv2d(X4(), W4(), ones(3).astype(complex)), TypeError,
         r"bias must be a real numeric array, got dtype complex128"),
    case("conv2d-bias-str", lambda: F.conv2d(X4(), W4(), "abc"), TypeError,
         r"bias must be a real numeric array, got dtype <U3"),
    # conv1d
    case("conv1d-input-4d", lambda: F.conv1d(ones(2, 2, 2, 8), W3()), ValueError,
         r"conv1d: input must be \(N, C, L\).*got shape \(2, 2, 2, 8\)"),
    case("conv1d-bare-input-full-weight", lambda: F.conv1d(ones(8), W3()), ValueError,
         r"conv1d: input .*got shape \(8,\)"),
    case("conv1d-weight-1d", lambda: F.conv1d(ones(2, 8), ones(3)), ValueError,
         r"conv1d: weight must be \(C_out, C_in/groups, k\).*got shape \(3,\)"),
    case("conv1d-channel-mismatch", lambda: F.conv1d(X3(), ones(3, 3, 3)), ValueError,
         r"conv1d: input has 2 channels but weight \(3, 3, 3\)"),
    case("conv1d-groups", lambda: F.conv1d(X3(), W3(), groups=4), ValueError, r"groups=4"),
    case("conv1d-zero-length", lambda: F.conv1d(ones(1, 2, 0), W3()), ValueError,
         r"conv1d: spatial size .*0 of the input must be non-zero"),
    case("conv1d-kernel-too-big", lambda: F.conv1d(X3(), ones(3, 2, 9)), ValueError,
         r"conv1d: padded input 8 is smaller than the dilated kernel 9"),
    case("conv1d-dilated-kernel-too-big", lambda: F.conv1d(X3(), W3(), dilation=5), ValueError,
         r"padded input 8 is smaller than the dilated kernel 11"),
    case("conv1d-stride-zero", lambda: F.conv1d(X3(), W3(), stride=0), ValueError,
         r"conv1d: stride must be >= 1, got 0"),
    case("conv1d-padding-negative", lambda: F.conv1d(X3(), W3(), padding=-2), ValueError,
         r"conv1d: padding must be >= 0, got -2"),
    case("conv1d-padding-negative-explicit", lambda: F.conv1d(X3(), W3(), padding=((1, -2),)),
         ValueError, r"padding must be >= 0, got -2"),
    case("conv1d-padding-unknown-string", lambda: F.conv1d(X3(), W3(), padding="bogus"),
         ValueError, r"conv1d: padding .*got 'bogus'"),
    case("conv1d-padding-3-values", lambda: F.conv1d(X3(), W3(), padding=(1, 2, 3)), ValueError,
         r"conv1d: padding must be .*got \(1, 2, 3\)"),
    case("conv1d-padding_mode-unknown",
         lambda: F.conv1d(X3(), W3(), padding=3, padding_mode="reflectx"), ValueError,
         r"conv1d: padding_mode must be one of .*got 'reflectx'"),
    case("conv1d-mode-unknown", lambda: F.conv1d(X3(), W3(), mode="convolution"), ValueError,
         r"conv1d: mode must be 'xcorr' .*got 'convolution'"),
    case("conv1d-bias-length", lambda: F.conv1d(X3(), W3(), ones(4)), ValueError,
         r"conv1d: bias must have shape \(3,\), got \(4,\)"),
    case("conv2d_backward", lambda: F.conv2d_backward(ones(1, 3, 4, 4), X4(), W4()), ValueError,
         r"conv2d_backward: grad_output must have the output's shape \(1, 3, 3, 3\), got \(1, 3, 4, 4\)"),
    case("conv1d_backward", lambda: F.conv1d_backward(ones(1, 3, 5), X3(), W3()), ValueError,
         r"conv1d_backward: grad_output must have the output's shape \(1, 3, 6\), got \(1, 3, 5\)"),
    case("conv2d_backward-bare", lambda: F.conv2d_backward(ones(4, 4), ones(5, 5), ones(3, 3)),
         ValueError, r"grad_output must have the output's shape \(3, 3\), got \(4, 4\)"),
]

HUGE_SIZES = [
    # conv
    case("conv2d-stride-2**70", lambda: F.conv2d(X4(), W4(), stride=HUGE), OverflowError,
         FIT("conv2d", "stride", HUGE)),
    case("conv2d-stride-pair-2**63", lambda: F.conv2d(X4(), W4(), stride=(1, 2 ** 63)), OverflowError,
         FIT("conv2d", "stride", 2 ** 63)),
    case("conv2d-stride-minus-2**70", lambda: F.conv2d(X4(), W4(), stride=-HUGE), OverflowError,
         FIT("conv2d", "stride", -HUGE)),
    case("conv2d-dilation-2**62", lambda: F.conv2d(X4(), W4(), dilation=BIG), OverflowError,
         DERIVED("conv2d", f"dilation={BIG}")),
    case("conv2d-dilation-2**70", lambda: F.conv2d(X4(), W4(), dilation=HUGE), OverflowError,
         FIT("conv2d", "dilation", HUGE)),
    case("conv2d-padding-2**62", lambda: F.conv2d(X4(), W4(), padding=BIG), OverflowError,
         DERIVED("conv2d", f"padding={BIG}")),
    case("conv2d-padding-2**70", lambda: F.conv2d(X4(), W4(), padding=HUGE), OverflowError,
         FIT("conv2d", "padding", HUGE)),
    case("conv2d-padding-2**61", lambda: F.conv2d(X4(), W4(), padding=2 ** 61), OverflowError,
         TOO_LARGE("conv2d")),
    case("conv2d-bottom-padding-2**62", lambda: F.conv2d(X4(), W4(), padding=((0, BIG), (0, 0))),
         OverflowError, TOO_LARGE("conv2d")),
    case("conv2d-padding-2**29-bytes-overflow", lambda: F.conv2d(X4(), W4(), padding=2 ** 29),
         OverflowError, TOO_LARGE("conv2d")),
    case("conv2d-padding-2**27-alloc", lambda: F.conv2d(X4(), W4(), padding=2 ** 27), HUGE_TYPES,
         r"conv2d: .*(padding|output)"),  # MemoryError (1.5 EiB): no message required
    case("conv2d-reflect-padding-2**62",
         lambda: F.conv2d(X4(), W4(), padding=BIG, padding_mode="reflect"), OverflowError,
         TOO_LARGE("conv2d", f"the input padded by {BIG}")),
    case("conv2d-same-padding-dilation-2**62",
         lambda: F.conv2d(X4(), W4(), padding="same", dilation=BIG), OverflowError,
         DERIVED("conv2d", "padding='same'", f"dilation={BIG}")),
    case("conv2d-full-padding-dilation-2**62",
         lambda: F.conv2d(X4(), W4(), padding="full", dilation=BIG), OverflowError,
         DERIVED("conv2d", "padding='full'", f"dilation={BIG}")),
    case("conv2d-groups-2**62", lambda: F.conv2d(X4(), W4(), groups=BIG), ValueError,
         rf"conv2d: .*groups={BIG}"),
    case("conv1d-padding-2**62", lambda: F.conv1d(X3(), W3(), padding=BIG), OverflowError,
         DERIVED("conv1d", f"padding={BIG}")),
    case("conv1d-dilation-2**62", lambda: F.conv1d(X3(), W3(), dilation=BIG), OverflowError,
         DERIVED("conv1d", f"dilation={BIG}")),
]

EMPTY = [
    empty(lambda dt: F.conv2d(ones(0, 2, 5, 5, dtype=dt), ones(3, 2, 3, 3, dtype=dt),
                                     ones(3, dtype=dt), padding=1), (0, 3, 5, 5), id="conv2d"),
    empty(lambda dt: F.conv2d(ones(0, 2, 5, 5, dtype=dt), ones(4, 1, 3, 3, dtype=dt),
                                     stride=2, groups=2, padding=1, padding_mode="reflect"),
                 (0, 4, 3, 3), id="conv2d-groups-reflect"),
    empty(lambda dt: F.conv1d(ones(0, 2, 8, dtype=dt), ones(3, 2, 3, dtype=dt)), (0, 3, 6),
                 id="conv1d"),
    empty(lambda dt: F.conv2d_backward(ones(0, 3, 3, 3, dtype=dt), ones(0, 2, 5, 5, dtype=dt),
                                              ones(3, 2, 3, 3, dtype=dt))[0], (0, 2, 5, 5),
                 id="conv2d_backward"),
    empty(lambda dt: F.conv1d(ones(0, 2, 8, dtype=dt), ones(3, 2, 3, dtype=dt), padding="same"),
                 (0, 3, 8), id="conv1d-same"),
]

FAILING = [
    pytest.param(lambda a: F.conv2d(a["x"], a["w"], a["b"], stride=0), id="conv2d-stride"),
    pytest.param(lambda a: F.conv2d(a["x32"], a["w"], a["b"], mode="bogus"), id="conv2d-f32-mode"),
    pytest.param(lambda a: F.conv2d(a["xnc"], a["w"], a["b"], padding=2, padding_mode="reflect",
                                    dilation=5), id="conv2d-noncontiguous-reflect-too-small"),
    pytest.param(lambda a: F.conv2d_backward(a["g"], a["x"], a["w"], a["b"], mode="conv"),
                 id="conv2d_backward-grad-shape"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X4, lambda x: F.conv2d(x, LAYOUT_W4, padding=1, padding_mode="circular"), id="conv2d"),
    pytest.param(LAYOUT_W4, lambda w: F.conv2d(LAYOUT_X4, w, stride=2), id="conv2d-weight"),
    pytest.param(LAYOUT_G4, lambda g: F.conv2d_backward(g, LAYOUT_X4, LAYOUT_W4, padding=1),
                 id="conv2d_backward"),
]

NAN_INF = [
    pytest.param(lambda x: F.conv2d(x, LAYOUT_W4.astype(x.dtype), padding=1),
                 lambda x: TF.conv2d(from_numpy(x), from_numpy(LAYOUT_W4.astype(x.dtype)), padding=1),
                 (2, 3, 9, 9), id="conv2d"),
    pytest.param(lambda x: F.conv2d(x, LAYOUT_W4.astype(x.dtype), padding=2, stride=2, dilation=2),
                 lambda x: TF.conv2d(from_numpy(x), from_numpy(LAYOUT_W4.astype(x.dtype)), padding=2,
                                     stride=2, dilation=2), (2, 3, 9, 9), id="conv2d-stride-dilation"),
    pytest.param(lambda x: F.conv2d(x, LAYOUT_W4.astype(x.dtype), padding=1, padding_mode="reflect"),
                 lambda x: TF.conv2d(TF.pad(from_numpy(x), (1, 1, 1, 1), mode="reflect"),
                                     from_numpy(LAYOUT_W4.astype(x.dtype))), (2, 3, 9, 9),
                 id="conv2d-reflect"),
]


# ---- layers ---------------------------------------------------------------------------------------------

LAYERS = [
    layer_case("conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 6),
               lambda: TNN.Conv2d(3, 4, 3, stride=2, padding=1)),
    layer_case("conv2d-same-reflect", lambda: nn.Conv2d(2, 3, (3, 2), padding="same", padding_mode="reflect"),
               (2, 2, 6, 5)),
    layer_case("conv2d-groups-dilation", lambda: nn.Conv2d(4, 6, 3, dilation=2, groups=2, bias=False),
               (1, 4, 8, 8)),
    layer_case("conv2d-true-convolution", lambda: nn.Conv2d(1, 2, 3, padding=1, mode="conv"), (2, 1, 5, 5)),
    layer_case("conv1d", lambda: nn.Conv1d(2, 3, 4, stride=2, padding=1, padding_mode="circular"), (2, 2, 11),
               lambda: TNN.Conv1d(2, 3, 4, stride=2, padding=1, padding_mode="circular")),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """conv2d through the C fast path (float32), the full path (reflect, stride; mixed dtypes,
    dilation), its backward through both (zero padding; reflect), and the algorithm rule; images
    (n, c, h, h)."""
    x, w, b = rng.standard_normal((n, c, h, h)), rng.standard_normal((4, c, 3, 3)), rng.standard_normal(4)
    x32, w32 = x.astype(np.float32), w.astype(np.float32)
    return [
        F.conv2d(x32, w32, None, padding=1),
        F.conv2d(x, w, b, padding=1, stride=2, padding_mode="reflect"),
        F.conv2d(x, w32, b, padding=1, dilation=2),
        *F.conv2d_backward(rng.standard_normal((n, 4, h, h)), x, w, b, padding=1),
        *F.conv2d_backward(rng.standard_normal((n, 4, h, h)), x, w, b, padding=1, padding_mode="reflect"),
        _cnn.conv_choose_algo(c, 4, h, h, 3, 3, 1),
    ]


def _slow_conv(s):
    rng = rng_for("slow", "conv2d", s)
    x = rng.standard_normal((s, 16, 64, 64), dtype=np.float32)
    w = rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    return lambda: F.conv2d(x, w, padding=1)


def _slow_conv_backward(s):
    rng = rng_for("slow", "conv2d_backward", s)
    x = rng.standard_normal((s, 8, 64, 64))
    w = rng.standard_normal((8, 8, 5, 5))
    g = rng.standard_normal((s, 8, 64, 64))
    return lambda: F.conv2d_backward(g, x, w, padding=2)


SLOW = [pytest.param(_slow_conv, id="conv2d"), pytest.param(_slow_conv_backward, id="conv2d_backward")]
