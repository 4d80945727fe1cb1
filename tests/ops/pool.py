"""Pooling (csrc/pool.c): max and average pooling (1-D, 2-D), adaptive pooling, max unpooling,
their backward and layers. The lecture's examples, the NaN / tie rules by hand, the input forms
and property tests are in tests/test_pool.py."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import assert_close, distinct, rng_for, torch

from .common import (BIG, DERIVED, FIT, HUGE, HUGE_TYPES, IDX, LAYOUT_X4, TF, TNN, TOO_LARGE, X3, X4,
                     case, check, empty, fmt, from_numpy, grad_for, gradcheck, kwid, layer_case, leaf,
                     normal, ones, pid, ref_close, torch_close, torch_form, tt)


# ---- against PyTorch --------------------------------------------------------------------------------

def pool_case(dims, n=2, c=3, size=7, k=3, s=None, p=0, d=1, ceil=False, form="batched", **extra):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    case = dict(dims=dims, n=n, c=c, size=size, k=k, s=s, p=p, d=d, ceil=ceil, form=form, **extra)
    ident = (("" if n is None else f"N{n}-") + ("" if c is None else f"C{c}-")
             + f"{'L' if dims == 1 else 'HW'}{fmt(size)}" + ("" if k is None else f"-k{fmt(k)}")
             + ("" if s is None else f"-s{fmt(s)}") + ("" if k is None else f"-p{fmt(p)}")
             + ("" if d == 1 else f"-d{fmt(d)}") + ("-ceil" if ceil else "")
             + ("" if form == "batched" else f"-{form}")
             + "".join(f"-{key}{fmt(v)}" for key, v in extra.items()))
    return pytest.param(case, id=ident)


def pool_input(case, dtype, rng):
    shape = case["size"]
    if case["form"] == "unbatched":
        shape = (case["c"],) + shape
    elif case["form"] == "batched":
        shape = (case["n"], case["c"]) + shape
    return normal(shape, dtype, rng)


def pool_kwargs(case):
    return dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], dilation=case["d"],
                ceil_mode=case["ceil"])


def check_max_pool(case, x, dtype, rng, equal_nan=False):
    """Values and indices exactly torch's (a max is a selection), the backward with and without
    the indices."""
    name = "max_pool1d" if case["dims"] == 1 else "max_pool2d"
    kw = pool_kwargs(case)
    y, idx = getattr(F, name)(x, **kw, return_indices=True)
    xt = leaf(x)
    yt, it = torch_form(case["form"], getattr(TF, name))(xt, **kw, return_indices=True)
    assert y.dtype == dtype and idx.dtype.kind == "i"
    np.testing.assert_array_equal(idx, it.numpy(), err_msg=f"{name} indices")
    torch_close(y, yt, dtype, equal_nan=equal_nan, what=f"{name} forward")
    # a max is a selection: the value must be exactly the input's
    np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
    np.testing.assert_array_equal(getattr(F, name)(x, **kw), y)
    g = grad_for(y.shape, dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    for indices in (None, idx):
        gx = getattr(F, name + "_backward")(g, x, **kw, indices=indices)
        assert gx.dtype == dtype
        torch_close(gx, xt.grad, dtype, scale=math.prod(np.atleast_1d(case["k"])),
                    what=f"{name} backward (indices={'given' if indices is not None else 'None'})")


MAXPOOL2D_CASES = [
    pool_case(2, size=8, k=2),
    pool_case(2, size=(7, 9), k=3, s=2, p=1),
    pool_case(2, size=(9, 8), k=(3, 2), s=(2, 1), p=(1, 0), d=(2, 1)),
    pool_case(2, size=(8, 9), k=3, s=2, ceil=True),                 # last window hangs over
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True),                 # last window dropped
    pool_case(2, size=(10, 7), k=3, s=2, p=1, d=2, ceil=True),
    pool_case(2, size=(6, 7), k=(2, 3), s=(3, 1), ceil=True),
    pool_case(2, size=(7, 6), k=4, s=1, p=2),
    pool_case(2, n=1, c=1, size=(9, 11), k=3, s=3, p=1, ceil=True),
    pool_case(2, n=None, size=(7, 8), k=3, s=2, p=1, form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 8), k=2, ceil=True, form="bare"),
]

MAXPOOL1D_CASES = [
    pool_case(1, size=10, k=2),
    pool_case(1, size=11, k=3, s=2, p=1),
    pool_case(1, size=12, k=3, s=2, p=1, d=2),
    pool_case(1, size=10, k=3, s=2, ceil=True),
    pool_case(1, size=7, k=2, s=2, p=1, ceil=True),
    pool_case(1, size=13, k=4, s=3, p=2, d=2, ceil=True),
    pool_case(1, n=None, size=9, k=3, s=1, p=1, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=2, ceil=True, form="bare"),
]


def max_pool_run(case):
    def run(dtype):
        rng = rng_for("max_pool", case, dtype)
        check_max_pool(case, pool_input(case, dtype, rng), dtype, rng)
    return run


def max_pool_nan_inf_run(case):
    """NaN propagates (torch reports the last NaN of a window as its index); windows holding only
    -inf give -inf and the index of their first in-bounds element."""
    def run(dtype):
        rng = rng_for("max_pool_nan", case, dtype)
        x = pool_input(case, dtype, rng)
        flat = x.reshape(-1)
        pos = rng.permutation(flat.size)
        flat[pos[: flat.size // 8]] = np.nan
        flat[pos[flat.size // 8: flat.size // 4]] = -np.inf
        flat[pos[flat.size // 4: flat.size // 4 + 2]] = np.inf
        if case["dims"] == 2:
            x[0, 0, :3, :3] = -np.inf  # whole windows of -inf
        else:
            x[0, 0, :4] = -np.inf
        check_max_pool(case, x, dtype, rng, equal_nan=True)
    return run


def max_pool_ties_run(case):
    """Many equal values in a window: the first maximum in scan order wins, as in torch."""
    def run(dtype):
        rng = rng_for("max_pool_ties", case, dtype)
        x = rng.integers(0, 3, (case["n"], case["c"]) + case["size"]).astype(dtype)
        check_max_pool(case, x, dtype, rng)
    return run


MAXPOOL_NAN_INF_CASES = [
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True),
    pool_case(2, size=(6, 6), k=2),
    pool_case(1, size=11, k=3, s=2, p=1, ceil=True),
    pool_case(1, size=10, k=2, s=1),
]

MAXPOOL_TIES_CASES = [pool_case(2, size=(6, 7), k=3, s=2, p=1, ceil=True),
                      pool_case(1, size=9, k=3, s=1, p=1)]

AVGPOOL2D_CASES = [
    pool_case(2, size=8, k=2),
    pool_case(2, size=(7, 9), k=3, s=2, p=1),
    pool_case(2, size=(7, 9), k=3, s=2, p=1, cip=False),
    pool_case(2, size=(8, 9), k=3, s=2, ceil=True),
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True),
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True, cip=False),
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True),                 # last window dropped
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True, cip=False),
    pool_case(2, size=(9, 7), k=(3, 2), s=(2, 3), p=(1, 1), ceil=True),
    pool_case(2, size=(7, 8), k=3, s=2, p=1, div=5),
    pool_case(2, size=(7, 8), k=3, s=2, p=1, ceil=True, cip=False, div=2),
    pool_case(2, size=(10, 6), k=(4, 2), s=1, p=(2, 1)),
    pool_case(2, n=None, size=(7, 8), k=3, s=2, p=1, ceil=True, form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 8), k=2, s=1, form="bare"),
]

AVGPOOL1D_CASES = [
    pool_case(1, size=10, k=2),
    pool_case(1, size=11, k=3, s=2, p=1),
    pool_case(1, size=11, k=3, s=2, p=1, cip=False),
    pool_case(1, size=10, k=3, s=2, ceil=True),
    pool_case(1, size=10, k=4, s=3, p=2, ceil=True),
    pool_case(1, size=10, k=4, s=3, p=2, ceil=True, cip=False),
    pool_case(1, size=7, k=2, s=2, p=1, ceil=True),
    pool_case(1, n=None, size=9, k=3, s=1, p=1, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=2, ceil=True, form="bare"),
]


def avg_pool_run(case):
    def run(dtype):
        rng = rng_for("avg_pool", case, dtype)
        x = pool_input(case, dtype, rng)
        name = "avg_pool1d" if case["dims"] == 1 else "avg_pool2d"
        kw = dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], ceil_mode=case["ceil"],
                  count_include_pad=case.get("cip", True))
        if "div" in case:
            kw["divisor_override"] = case["div"]
        torch_fn = torch_form(case["form"], lambda t: getattr(TF, name)(t, **kw))
        check(name, [x], kw, torch_fn, dtype, rng, scale=math.prod(np.atleast_1d(case["k"])))
    return run


ADAPTIVE_CASES = [
    pool_case(2, size=(7, 10), k=None, out=(3, 4)),
    pool_case(2, size=(9, 9), k=None, out=4),
    pool_case(2, size=(8, 5), k=None, out=(None, 3)),
    pool_case(2, size=(5, 6), k=None, out=1),
    pool_case(2, size=(3, 4), k=None, out=(5, 7)),                  # bigger than the input
    pool_case(2, size=(6, 8), k=None, out=(3, 4)),                  # divisible
    pool_case(2, n=None, size=(7, 6), k=None, out=(4, 5), form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 6), k=None, out=(3, 4), form="bare"),
    pool_case(1, size=10, k=None, out=3),
    pool_case(1, size=11, k=None, out=7),
    pool_case(1, size=4, k=None, out=6),
    pool_case(1, n=None, size=9, k=None, out=4, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=None, out=2, form="bare"),
]


def _adaptive_name(kind, case):
    return f"adaptive_{kind}_pool{case['dims']}d"


def adaptive_avg_run(case):
    def run(dtype):
        rng = rng_for("adaptive_avg", case, dtype)
        x = pool_input(case, dtype, rng)
        name = _adaptive_name("avg", case)
        out = case["out"]
        torch_fn = torch_form(case["form"], lambda t: getattr(TF, name)(t, out))
        check(name, [x], dict(output_size=out), torch_fn, dtype, rng, scale=4)
    return run


def adaptive_max_run(case):
    def run(dtype):
        rng = rng_for("adaptive_max", case, dtype)
        x = pool_input(case, dtype, rng)
        name = _adaptive_name("max", case)
        out = case["out"]
        y, idx = getattr(F, name)(x, out, return_indices=True)
        xt = leaf(x)
        yt, it = torch_form(case["form"], getattr(TF, name))(xt, out, return_indices=True)
        np.testing.assert_array_equal(idx, it.numpy(), err_msg=f"{name} indices")
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
        np.testing.assert_array_equal(getattr(F, name)(x, out), y)
        g = grad_for(y.shape, dtype, rng)
        yt.backward(torch.from_numpy(g.astype(np.float64)))
        for indices in (None, idx):
            gx = getattr(F, name + "_backward")(g, x, out, indices=indices)
            assert gx.dtype == dtype
            torch_close(gx, xt.grad, dtype, scale=4, what=f"{name} backward")
    return run


def adaptive_max_nan_run(dims):
    def run(dtype):
        rng = rng_for("adaptive_max_nan", dims, dtype)
        x = normal((2, 3) + (7,) * dims, dtype, rng)
        x.reshape(-1)[rng.permutation(x.size)[:10]] = np.nan
        x.reshape(-1)[rng.permutation(x.size)[:10]] = -np.inf
        name = f"adaptive_max_pool{dims}d"
        y, idx = getattr(F, name)(x, 3, return_indices=True)
        yt, it = getattr(TF, name)(torch.from_numpy(x.astype(np.float64)), 3, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy().astype(dtype))  # NaN == NaN here
        np.testing.assert_array_equal(idx, it.numpy())
    return run


UNPOOL_CASES = [
    pool_case(2, size=(6, 8), k=2, s=None, p=0, out=None),
    pool_case(2, size=(7, 9), k=3, s=2, p=1, out=None),
    pool_case(2, size=(7, 9), k=2, s=2, p=0, out=(7, 9)),           # output_size picks the odd size
    pool_case(2, size=(8, 8), k=3, s=1, p=1, out=None),             # overlapping windows
    pool_case(2, size=(8, 9), k=(3, 2), s=(2, 3), p=(1, 0), out=(8, 9)),
    pool_case(2, n=None, size=(6, 7), k=2, s=2, p=0, out=(6, 7), form="unbatched"),
    pool_case(1, size=10, k=2, s=None, p=0, out=None),
    pool_case(1, size=11, k=3, s=2, p=1, out=(11,)),
]


def max_unpool_run(case):
    def run(dtype):
        rng = rng_for("max_unpool", case, dtype)
        x = pool_input(case, dtype, rng)
        dims = case["dims"]
        y, idx = getattr(F, f"max_pool{dims}d")(x, case["k"], case["s"], case["p"], return_indices=True)
        name = f"max_unpool{dims}d"
        kw = dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], output_size=case["out"])
        torch_fn = torch_form(case["form"], lambda t, i: getattr(TF, name)(t, i, **kw))
        out = check(name, [y, idx], kw, torch_fn, dtype, rng)
        # unpooling only moves values: exact
        expected = getattr(TF, name)(torch.from_numpy(y), torch.from_numpy(idx.astype(np.int64)), **kw)
        np.testing.assert_array_equal(out, expected.numpy())
    return run


def _pool_len(n, k, s, p, d, ceil):
    """PyTorch's pooling output length (0 or less: not a valid configuration)."""
    span = d * (k - 1) + 1
    if n + 2 * p < span:
        return 0
    num = n + 2 * p - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def random_pool_cases(dims, count, seed, avg):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        size = tuple(int(v) for v in rng.integers(2, 12, dims))
        k = tuple(int(v) for v in rng.integers(1, 5, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = (1,) * dims if avg else tuple(int(v) for v in rng.integers(1, 3, dims))
        ceil = bool(rng.random() < 0.5)
        if any(_pool_len(*a, ceil) < 1 for a in zip(size, k, s, p, d)):
            continue
        extra = {}
        if avg:
            extra["cip"] = bool(rng.random() < 0.5)
            if dims == 2 and rng.random() < 0.3:
                extra["div"] = int(rng.integers(1, 10))
        if dims == 1:
            size, k, s, p, d = size[0], k[0], s[0], p[0], d[0]
        cases.append(pool_case(dims, n=int(rng.integers(1, 3)), c=int(rng.integers(1, 4)),
                               size=size, k=k, s=s, p=p, d=d, ceil=ceil, **extra))
    return cases


def _runs(params, run, op, tag=""):
    return [pytest.param(run(p.values[0]), id=f"{op(p.values[0])}{tag}-{p.id}") for p in params]


def _max(c):
    return f"max_pool{c['dims']}d"


def _avg(c):
    return f"avg_pool{c['dims']}d"


TORCH = (_runs(MAXPOOL2D_CASES + MAXPOOL1D_CASES, max_pool_run, _max)
         + _runs(MAXPOOL_NAN_INF_CASES, max_pool_nan_inf_run, _max, "-nan-inf")
         + _runs(MAXPOOL_TIES_CASES, max_pool_ties_run, _max, "-ties")
         + _runs(AVGPOOL2D_CASES + AVGPOOL1D_CASES, avg_pool_run, _avg)
         + _runs(ADAPTIVE_CASES, adaptive_avg_run, lambda c: _adaptive_name("avg", c))
         + _runs(ADAPTIVE_CASES, adaptive_max_run, lambda c: _adaptive_name("max", c))
         + [pytest.param(adaptive_max_nan_run(d), id=f"adaptive_max_pool{d}d-nan") for d in (1, 2)]
         + _runs(UNPOOL_CASES, max_unpool_run, lambda c: f"max_unpool{c['dims']}d")
         + _runs(random_pool_cases(2, 30, 11, False) + random_pool_cases(1, 20, 12, False),
                 max_pool_run, _max, "-random")
         + _runs(random_pool_cases(2, 30, 13, True) + random_pool_cases(1, 20, 14, True),
                 avg_pool_run, _avg, "-random"))


# ---- against the reference ----------------------------------------------------------------------------

# (N, C, H, W, k, stride, padding, dilation, ceil_mode)
REF_MAX_CASES = [
    (1, 1, 4, 4, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), (1, 1), False),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (1, 2, 5, 5, (2, 2), (2, 2), (0, 0), (1, 1), True),      # partial last window
    (1, 2, 9, 8, (3, 2), (2, 3), (1, 1), (2, 2), True),
    (2, 2, 6, 6, (2, 2), (2, 2), (1, 1), (1, 1), True),      # last window would start in padding
    (1, 1, 2, 2, (2, 2), (3, 3), (1, 1), (3, 3), False),     # dilated window missing the input
    (0, 2, 5, 5, (2, 2), (2, 2), (0, 0), (1, 1), False),     # empty batch
]


def _max_id(c):
    n, ch, h, w, k, s, p, d, cm = c
    return f"N{n}-C{ch}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}-d{d[0]}x{d[1]}" + ("-ceil" if cm else "")


def ref_max_run(case):
    def run(dtype):
        n, ch, h, w, k, s, p, d, cm = case
        rng = rng_for(case, "max")
        x = rng.standard_normal((n, ch, h, w)).astype(dtype)
        y, idx = F.max_pool2d(x, k, s, p, d, cm, return_indices=True)
        y_ref, idx_ref = ref.max_pool2d(x, k, s, p, d, cm)
        assert y.dtype == dtype and idx.dtype == np.int64
        assert_close(y, y_ref, dtype)
        if n:  # a window with no input element has index -1; every other index is inside
            np.testing.assert_array_equal(idx, idx_ref)
            assert idx.min() >= -1 and idx.max() < h * w
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx = F.max_pool2d_backward(gy, x, k, s, p, d, cm)
        assert gx.shape == x.shape and gx.dtype == dtype
        if n:
            assert_close(gx, ref.max_pool2d_backward(gy, x.shape, idx), dtype)
        assert np.array_equal(F.max_pool2d_backward(gy, x, k, s, p, d, cm, indices=idx), gx)
    return run


# (N, C, H, W, k, stride, padding, ceil_mode, count_include_pad, divisor_override)
REF_AVG_CASES = [
    (1, 1, 4, 4, (2, 2), (2, 2), (0, 0), False, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False, False, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), True, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), True, False, None),
    (1, 2, 5, 5, (2, 2), (2, 2), (0, 0), True, True, None),    # partial window divides by in-bounds
    (1, 2, 8, 9, (3, 4), (3, 2), (1, 2), True, True, 5),
    (1, 2, 6, 6, (2, 2), (2, 2), (1, 1), True, False, None),
]


def _avg_id(c):
    n, ch, h, w, k, s, p, cm, cip, dv = c
    return (f"N{n}-C{ch}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}" + ("-ceil" if cm else "")
            + ("" if cip else "-nopad") + (f"-div{dv}" if dv else ""))


def ref_avg_run(case):
    def run(dtype):
        n, ch, h, w, k, s, p, cm, cip, dv = case
        rng = rng_for(case, "avg")
        x = rng.standard_normal((n, ch, h, w)).astype(dtype)
        y = F.avg_pool2d(x, k, s, p, cm, cip, dv)
        assert y.dtype == dtype
        assert_close(y, ref.avg_pool2d(x, k, s, p, cm, cip, dv), dtype)
        gy = rng.standard_normal(y.shape).astype(dtype)
        assert_close(F.avg_pool2d_backward(gy, x, k, s, p, cm, cip, dv),
                     ref.avg_pool2d_backward(gy, x.shape, k, s, p, cm, cip, dv), dtype)
    return run


def ref_pool1d(dtype):
    rng = rng_for("pool1d")
    x = rng.standard_normal((2, 3, 11)).astype(dtype)
    y, idx = F.max_pool1d(x, 3, 2, 1, 2, True, return_indices=True)
    y_ref, idx_ref = ref.max_pool1d(x, 3, 2, 1, 2, True)
    assert_close(y, y_ref, dtype)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool1d_backward(gy, x, 3, 2, 1, 2, True), ref.max_pool1d_backward(gy, x.shape, idx), dtype)
    a = F.avg_pool1d(x, 4, 3, 2, True, False)
    assert_close(a, ref.avg_pool1d(x, 4, 3, 2, True, False), dtype)
    gy = rng.standard_normal(a.shape).astype(dtype)
    assert_close(F.avg_pool1d_backward(gy, x, 4, 3, 2, True, False),
                 ref.avg_pool1d_backward(gy, x.shape, 4, 3, 2, True, False), dtype)


def ref_adaptive_run(h, w, oh, ow):
    def run(dtype):
        rng = rng_for("adaptive", h, w, oh, ow)
        x = rng.standard_normal((2, 3, h, w)).astype(dtype)
        a = F.adaptive_avg_pool2d(x, (oh, ow))
        assert_close(a, ref.adaptive_avg_pool2d(x, (oh, ow)), dtype)
        gy = rng.standard_normal(a.shape).astype(dtype)
        assert_close(F.adaptive_avg_pool2d_backward(gy, x, (oh, ow)), ref.adaptive_avg_pool2d_backward(gy, x.shape), dtype)
        m, idx = F.adaptive_max_pool2d(x, (oh, ow), return_indices=True)
        m_ref, idx_ref = ref.adaptive_max_pool2d(x, (oh, ow))
        assert_close(m, m_ref, dtype)
        np.testing.assert_array_equal(idx, idx_ref)
        assert_close(F.adaptive_max_pool2d_backward(gy, x, (oh, ow)),
                     ref.adaptive_max_pool2d_backward(gy, x.shape, idx), dtype)
        assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, h, 2)
        x1 = x[:, :, 0, :]
        assert_close(F.adaptive_avg_pool1d(x1, ow), ref.adaptive_avg_pool2d(x1[:, :, None], (1, ow))[:, :, 0], dtype)
        assert_close(F.adaptive_max_pool1d(x1, ow), ref.adaptive_max_pool2d(x1[:, :, None], (1, ow))[0][:, :, 0], dtype)
    return run


def ref_max_unpool(dtype):
    rng = rng_for("unpool")
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    u = F.max_unpool2d(y, idx, 2, output_size=x.shape[2:])
    assert u.shape == x.shape
    assert_close(u, ref.max_unpool2d(y, idx, x.shape[2:]), dtype)
    with pytest.raises(ValueError, match="indices"):  # planes of width 7 do not fit the default 6x6
        F.max_unpool2d(y, idx, 2)
    y6, i6 = F.max_pool2d(x[..., :6], 2, return_indices=True)
    assert F.max_unpool2d(y6, i6, 2).shape == (2, 3, 6, 6)
    gu = rng.standard_normal(u.shape).astype(dtype)
    gx, gi = F.max_unpool2d_backward(gu, y, idx, 2, output_size=x.shape[2:])
    assert gi is None
    assert_close(gx, ref.max_unpool2d_backward(gu, idx), dtype)
    y1, i1 = F.max_pool1d(x[0, 0], 3, return_indices=True)
    u1 = F.max_unpool1d(y1, i1, 3, output_size=7)
    assert u1.shape == (6, 7) and np.array_equal(u1.max(axis=-1), y1.max(axis=-1))


REFERENCE = ([pytest.param(ref_max_run(c), id=f"max_pool2d-{_max_id(c)}") for c in REF_MAX_CASES]
             + [pytest.param(ref_avg_run(c), id=f"avg_pool2d-{_avg_id(c)}") for c in REF_AVG_CASES]
             + [pytest.param(ref_pool1d, id="max_pool1d-avg_pool1d-N2-C3-L11")]
             + [pytest.param(ref_adaptive_run(*c), id=f"adaptive_pool2d-HW{c[0]}x{c[1]}-out{c[2]}x{c[3]}")
                for c in [(7, 9, 3, 4), (5, 5, 5, 5), (4, 6, 1, 1), (3, 3, 5, 4)]]
             + [pytest.param(ref_max_unpool, id="max_unpool2d-max_unpool1d-inverts-max_pool")])


# ---- the reference against PyTorch -------------------------------------------------------------------

def _pool_ref_input(rng, shape, kind):
    if kind == "randn":
        return rng.standard_normal(shape)
    if kind == "ties":  # lots of exact ties
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    if kind == "nan-inf":
        x = rng.integers(-3, 4, size=shape).astype(np.float64)
        flat = x.reshape(-1)
        m = flat.size
        flat[rng.choice(m, m // 6, replace=False)] = np.nan
        flat[rng.choice(m, m // 4, replace=False)] = -np.inf
        x[0, 0] = -np.inf  # a whole plane of -inf
        if shape[1] > 1:
            x[0, 1] = np.nan  # a whole plane of NaN
        return x
    raise ValueError(kind)


REF_TORCH_MAXPOOL2D_CASES = [
    dict(N=2, C=3, H=12, W=12, k=(3, 3), s=(2, 2), p=(1, 1), d=(1, 1), ceil=False),
    dict(N=2, C=3, H=8, W=8, k=(3, 3), s=(2, 2), p=(0, 0), d=(1, 1), ceil=True),
    dict(N=1, C=2, H=7, W=9, k=(2, 3), s=(3, 2), p=(1, 1), d=(1, 1), ceil=True),
    dict(N=1, C=2, H=5, W=5, k=(2, 2), s=(2, 2), p=(1, 1), d=(1, 1), ceil=True),
    dict(N=2, C=2, H=9, W=10, k=(3, 3), s=(1, 2), p=(1, 0), d=(2, 2), ceil=False),
    dict(N=1, C=3, H=10, W=9, k=(3, 2), s=(3, 3), p=(1, 1), d=(2, 3), ceil=True),
    dict(N=2, C=1, H=6, W=6, k=(2, 2), s=(2, 2), p=(0, 0), d=(1, 1), ceil=False),
    dict(N=1, C=2, H=11, W=6, k=(4, 3), s=(3, 1), p=(2, 1), d=(1, 1), ceil=True),
    dict(N=1, C=1, H=4, W=4, k=(4, 4), s=(1, 1), p=(0, 0), d=(1, 1), ceil=False),
]


def ref_torch_max2d_run(c, kind):
    def run():
        rng = rng_for("maxpool2d", sorted(c.items()), kind)
        shape = (c["N"], c["C"], c["H"], c["W"])
        x = _pool_ref_input(rng, shape, kind)
        y, idx = ref.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
        xt = tt(x, True)
        yt, it = TF.max_pool2d(xt, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"],
                               return_indices=True)
        assert y.shape == tuple(yt.shape)
        assert idx.dtype == np.int64
        ref_close(y, yt, equal_nan=True)
        np.testing.assert_array_equal(idx, it.numpy())
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.max_pool2d_backward(gy, shape, idx), xt.grad)
    return run


REF_TORCH_MAXPOOL1D_CASES = [
    dict(N=2, C=3, L=12, k=3, s=2, p=1, d=1, ceil=False),
    dict(N=1, C=2, L=8, k=3, s=2, p=0, d=1, ceil=True),
    dict(N=2, C=2, L=11, k=3, s=3, p=1, d=2, ceil=True),
    dict(N=1, C=1, L=5, k=2, s=2, p=1, d=1, ceil=True),
]


def ref_torch_max1d_run(c, kind):
    def run():
        rng = rng_for("maxpool1d", sorted(c.items()), kind)
        shape = (c["N"], c["C"], c["L"])
        x = _pool_ref_input(rng, shape, kind)
        y, idx = ref.max_pool1d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
        xt = tt(x, True)
        yt, it = TF.max_pool1d(xt, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"],
                               return_indices=True)
        ref_close(y, yt, equal_nan=True)
        np.testing.assert_array_equal(idx, it.numpy())
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.max_pool1d_backward(gy, shape, idx), xt.grad)
    return run


REF_TORCH_AVGPOOL2D_CASES = [
    dict(N=2, C=3, H=12, W=12, k=(3, 3), s=(2, 2), p=(1, 1), ceil=False),
    dict(N=2, C=2, H=8, W=8, k=(3, 3), s=(2, 2), p=(0, 0), ceil=True),
    dict(N=1, C=2, H=7, W=9, k=(2, 3), s=(3, 2), p=(1, 1), ceil=True),
    dict(N=1, C=2, H=5, W=5, k=(2, 2), s=(2, 2), p=(1, 1), ceil=True),
    dict(N=2, C=1, H=9, W=10, k=(4, 3), s=(3, 3), p=(2, 1), ceil=True),
    dict(N=1, C=3, H=6, W=7, k=(3, 2), s=(1, 2), p=(1, 0), ceil=False),
    dict(N=1, C=1, H=11, W=6, k=(5, 3), s=(3, 1), p=(2, 1), ceil=True),
    dict(N=2, C=2, H=4, W=4, k=(2, 2), s=(2, 2), p=(0, 0), ceil=False),
]


def ref_torch_avg2d_run(c, include_pad, divisor):
    def run():
        rng = rng_for("avgpool2d", sorted(c.items()), include_pad, divisor)
        shape = (c["N"], c["C"], c["H"], c["W"])
        x = rng.standard_normal(shape)
        kw = dict(ceil_mode=c["ceil"], count_include_pad=include_pad, divisor_override=divisor)
        y = ref.avg_pool2d(x, c["k"], c["s"], c["p"], **kw)
        xt = tt(x, True)
        yt = TF.avg_pool2d(xt, c["k"], c["s"], c["p"], **kw)
        assert y.shape == tuple(yt.shape)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.avg_pool2d_backward(gy, shape, c["k"], c["s"], c["p"], **kw), xt.grad)
    return run


REF_TORCH_AVGPOOL1D_CASES = [
    dict(N=2, C=3, L=12, k=3, s=2, p=1, ceil=False),
    dict(N=1, C=2, L=8, k=3, s=2, p=0, ceil=True),
    dict(N=2, C=2, L=11, k=4, s=3, p=2, ceil=True),
    dict(N=1, C=1, L=5, k=2, s=2, p=1, ceil=True),
]


def ref_torch_avg1d_run(c, include_pad):
    def run():
        rng = rng_for("avgpool1d", sorted(c.items()), include_pad)
        shape = (c["N"], c["C"], c["L"])
        x = rng.standard_normal(shape)
        y = ref.avg_pool1d(x, c["k"], c["s"], c["p"], c["ceil"], include_pad)
        xt = tt(x, True)
        yt = TF.avg_pool1d(xt, c["k"], c["s"], c["p"], c["ceil"], include_pad)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.avg_pool1d_backward(gy, shape, c["k"], c["s"], c["p"], c["ceil"], include_pad),
                  xt.grad)
    return run


REF_TORCH_ADAPTIVE_CASES = [
    dict(N=2, C=3, H=12, W=12, out=(3, 3)),
    dict(N=1, C=2, H=7, W=10, out=(3, 4)),
    dict(N=2, C=2, H=5, W=5, out=(5, 5)),
    dict(N=1, C=2, H=4, W=3, out=(7, 5)),
    dict(N=1, C=1, H=9, W=8, out=(1, 1)),
    dict(N=1, C=2, H=6, W=11, out=(4, 2)),
]


def ref_torch_adaptive_avg_run(c):
    def run():
        rng = rng_for("aavg", sorted(c.items()))
        shape = (c["N"], c["C"], c["H"], c["W"])
        x = rng.standard_normal(shape)
        xt = tt(x, True)
        yt = TF.adaptive_avg_pool2d(xt, c["out"])
        y = ref.adaptive_avg_pool2d(x, c["out"])
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.adaptive_avg_pool2d_backward(gy, shape), xt.grad)
    return run


def ref_torch_adaptive_max_run(c, kind):
    def run():
        rng = rng_for("amax", sorted(c.items()), kind)
        shape = (c["N"], c["C"], c["H"], c["W"])
        x = _pool_ref_input(rng, shape, kind)
        xt = tt(x, True)
        yt, it = TF.adaptive_max_pool2d(xt, c["out"], return_indices=True)
        y, idx = ref.adaptive_max_pool2d(x, c["out"])
        ref_close(y, yt, equal_nan=True)
        np.testing.assert_array_equal(idx, it.numpy())
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.adaptive_max_pool2d_backward(gy, shape, idx), xt.grad)
    return run


REF_TORCH_UNPOOL_CASES = [
    dict(N=2, C=3, H=8, W=8, k=(2, 2), s=(2, 2), p=(0, 0), out=(8, 8)),
    dict(N=1, C=2, H=7, W=9, k=(3, 3), s=(3, 3), p=(1, 1), out=(8, 9)),
    dict(N=1, C=2, H=9, W=6, k=(3, 2), s=(3, 2), p=(0, 0), out=(10, 7)),
]


def ref_torch_unpool_run(c):
    def run():
        rng = rng_for("unpool", sorted(c.items()))
        x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
        pooled, idx = ref.max_pool2d(x, c["k"], c["s"], c["p"], (1, 1), False)
        v = rng.standard_normal(pooled.shape)
        vt = tt(v, True)
        yt = TF.max_unpool2d(vt, torch.from_numpy(idx), c["k"], c["s"], c["p"], output_size=c["out"])
        y = ref.max_unpool2d(v, idx, c["out"])
        assert y.shape == tuple(yt.shape)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        ref_close(ref.max_unpool2d_backward(gy, idx), vt.grad)
    return run


def _adaptive_none_output():
    x = rng_for("none-out").standard_normal((1, 2, 5, 6))
    ref_close(ref.adaptive_avg_pool2d(x, (None, 3)), TF.adaptive_avg_pool2d(tt(x), (None, 3)))


REFERENCE_TORCH = (
    [pytest.param(ref_torch_max2d_run(c, kind), id=f"max_pool2d-{pid(**c)}-{kind}")
     for c in REF_TORCH_MAXPOOL2D_CASES for kind in ("randn", "ties", "nan-inf")]
    + [pytest.param(ref_torch_max1d_run(c, kind), id=f"max_pool1d-{pid(**c)}-{kind}")
       for c in REF_TORCH_MAXPOOL1D_CASES for kind in ("randn", "nan-inf")]
    + [pytest.param(ref_torch_avg2d_run(c, pad, div),
                    id=f"avg_pool2d-{pid(**c)}-{'incl' if pad else 'excl'}_pad-div{div}")
       for c in REF_TORCH_AVGPOOL2D_CASES for pad in (True, False) for div in (None, 5)]
    + [pytest.param(ref_torch_avg1d_run(c, pad), id=f"avg_pool1d-{pid(**c)}-{'incl' if pad else 'excl'}_pad")
       for c in REF_TORCH_AVGPOOL1D_CASES for pad in (True, False)]
    + [pytest.param(ref_torch_adaptive_avg_run(c), id=f"adaptive_avg_pool2d-{pid(**c)}")
       for c in REF_TORCH_ADAPTIVE_CASES]
    + [pytest.param(ref_torch_adaptive_max_run(c, kind), id=f"adaptive_max_pool2d-{pid(**c)}-{kind}")
       for c in REF_TORCH_ADAPTIVE_CASES for kind in ("randn", "ties", "nan-inf")]
    + [pytest.param(_adaptive_none_output, id="adaptive_avg_pool2d-output-None")]
    + [pytest.param(ref_torch_unpool_run(c), id=f"max_unpool2d-{pid(**c)}") for c in REF_TORCH_UNPOOL_CASES])


# ---- against finite differences --------------------------------------------------------------------------

GRAD_MAXPOOL2D_CASES = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                        dict(kernel_size=(2, 3), dilation=2, ceil_mode=True)]
GRAD_AVGPOOL2D_CASES = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                        dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
                        dict(kernel_size=2, divisor_override=3)]


def grad_max2d_run(kw):
    def run():
        rng = rng_for("gc-max", kw)
        gradcheck(F.max_pool2d, F.max_pool2d_backward, (distinct((2, 2, 7, 6), rng),), kw, rng, max_entries=None)
    return run


def grad_max1d():
    rng = rng_for("gc-max1d")
    gradcheck(F.max_pool1d, F.max_pool1d_backward, (distinct((2, 3, 9), rng),), dict(kernel_size=3, stride=2, padding=1), rng)


def grad_avg2d_run(kw):
    def run():
        rng = rng_for("gc-avg", kw)
        gradcheck(F.avg_pool2d, F.avg_pool2d_backward, (rng.standard_normal((2, 2, 7, 6)),), kw, rng)
    return run


def grad_avg1d():
    rng = rng_for("gc-avg1d")
    gradcheck(F.avg_pool1d, F.avg_pool1d_backward, (rng.standard_normal((2, 2, 9)),), dict(kernel_size=4, stride=3, padding=2), rng)


def grad_adaptive_run(name, shape, output_size, inputs):
    def run():
        rng = rng_for("gc-adaptive", name)
        gradcheck(getattr(F, name), getattr(F, name + "_backward"), (inputs(shape, rng),),
                  dict(output_size=output_size), rng)
    return run


def _normal(shape, rng):
    return rng.standard_normal(shape)


def grad_max_unpool():
    rng = rng_for("gc-unpool")
    y, idx = F.max_pool2d(distinct((2, 2, 6, 6), rng), 2, return_indices=True)

    def op(x):
        return F.max_unpool2d(x, idx, 2)

    def back(g, x):
        return F.max_unpool2d_backward(g, x, idx, 2)[0]
    gradcheck(op, back, (y,), {}, rng)


GRADCHECK = ([pytest.param(grad_max2d_run(kw), id=f"max_pool2d-{kwid(kw)}") for kw in GRAD_MAXPOOL2D_CASES]
             + [pytest.param(grad_max1d, id="max_pool1d-kernel_size=3-stride=2-padding=1")]
             + [pytest.param(grad_avg2d_run(kw), id=f"avg_pool2d-{kwid(kw)}") for kw in GRAD_AVGPOOL2D_CASES]
             + [pytest.param(grad_avg1d, id="avg_pool1d-kernel_size=4-stride=3-padding=2")]
             + [pytest.param(grad_adaptive_run(name, shape, out, inputs), id=f"{name}-output_size={fmt(out)}")
                for name, shape, out, inputs in [
                    ("adaptive_avg_pool2d", (2, 2, 7, 5), (3, 4), _normal),
                    ("adaptive_max_pool2d", (2, 2, 7, 5), (3, 2), distinct),
                    ("adaptive_avg_pool1d", (2, 9), 4, _normal),
                    ("adaptive_max_pool1d", (2, 9), 4, distinct)]]
             + [pytest.param(grad_max_unpool, id="max_unpool2d-kernel_size=2")])


# ---- bad, huge, empty and unusual input ---------------------------------------------------------------

ERRORS = [
    case("max_pool2d-padding-over-half-kernel", lambda: F.max_pool2d(X4(), 3, padding=2), ValueError,
         r"max_pool2d: padding must be at most half the kernel size \(3 // 2 = 1\), got 2"),
    case("max_pool1d-padding-over-half-kernel", lambda: F.max_pool1d(X3(), 3, padding=2), ValueError,
         r"max_pool1d: padding must be at most half the kernel size \(3 // 2 = 1\), got 2"),
    case("avg_pool2d-padding-over-half-kernel", lambda: F.avg_pool2d(X4(), 3, padding=2), ValueError,
         r"avg_pool2d: padding must be at most half the kernel size .*got 2"),
    case("avg_pool1d-padding-negative", lambda: F.avg_pool1d(X3(), 2, padding=-1), ValueError,
         r"avg_pool1d: padding must be >= 0, got -1"),
    case("max_pool2d-kernel-zero", lambda: F.max_pool2d(X4(), 0), ValueError,
         r"max_pool2d: kernel_size must be >= 1, got 0"),
    case("max_pool2d-kernel-negative", lambda: F.max_pool2d(X4(), -1), ValueError,
         r"kernel_size must be >= 1, got -1"),
    case("max_pool1d-kernel-zero", lambda: F.max_pool1d(X3(), 0), ValueError,
         r"max_pool1d: kernel_size must be >= 1, got 0"),
    case("avg_pool2d-kernel-zero", lambda: F.avg_pool2d(X4(), 0), ValueError,
         r"avg_pool2d: kernel_size must be >= 1, got 0"),
    case("max_pool2d-kernel-float", lambda: F.max_pool2d(X4(), 2.0), TypeError,
         r"kernel_size must be an int, got 2\.0"),
    case("max_pool2d-kernel-None", lambda: F.max_pool2d(X4(), None), TypeError,
         r"kernel_size must be an int, got None"),
    case("max_pool2d-kernel-3-values", lambda: F.max_pool2d(X4(), (2, 2, 2)), ValueError,
         r"kernel_size must be an int or a sequence of 2 ints, got \(2, 2, 2\)"),
    case("max_pool2d-window-too-big", lambda: F.max_pool2d(X4(), 7), ValueError,
         r"max_pool2d: padded input 5x5 is smaller than the window 7x7"),
    case("max_pool2d-dilated-window-too-big", lambda: F.max_pool2d(X4(), 3, padding=1, dilation=4),
         ValueError, r"padded input 7x7 is smaller than the window 9x9"),
    case("max_pool1d-window-too-big", lambda: F.max_pool1d(X3(), 9), ValueError,
         r"max_pool1d: padded input 8 is smaller than the window 9"),
    case("avg_pool2d-window-too-big", lambda: F.avg_pool2d(X4(), 6), ValueError,
         r"avg_pool2d: padded input 5x5 is smaller than the window 6x6"),
    case("avg_pool1d-window-too-big", lambda: F.avg_pool1d(X3(), 9), ValueError,
         r"avg_pool1d: padded input 8 is smaller than the window 9"),
    case("max_pool2d-stride-zero", lambda: F.max_pool2d(X4(), 2, stride=0), ValueError,
         r"stride must be >= 1, got 0"),
    case("max_pool2d-stride-float", lambda: F.max_pool2d(X4(), 2, stride=1.5), TypeError,
         r"stride must be an int, got 1\.5"),
    case("max_pool2d-dilation-zero", lambda: F.max_pool2d(X4(), 2, dilation=0), ValueError,
         r"dilation must be >= 1, got 0"),
    case("avg_pool2d-divisor_override-zero", lambda: F.avg_pool2d(X4(), 2, divisor_override=0),
         ValueError, r"avg_pool2d: divisor_override must be a positive int, got 0"),
    case("avg_pool2d-divisor_override-negative",
         lambda: F.avg_pool2d(X4(), 2, divisor_override=-3), ValueError,
         r"divisor_override must be a positive int, got -3"),
    case("avg_pool2d-divisor_override-float", lambda: F.avg_pool2d(X4(), 2, divisor_override=1.5),
         TypeError, r"divisor_override must be an int, got 1\.5"),
    case("avg_pool2d-divisor_override-bool", lambda: F.avg_pool2d(X4(), 2, divisor_override=True),
         TypeError, r"divisor_override must be an int, got True"),
    case("max_pool2d-input-5d", lambda: F.max_pool2d(ones(1, 1, 1, 5, 5), 2), ValueError,
         r"max_pool2d: input must be \(N, C, H, W\).*got shape \(1, 1, 1, 5, 5\)"),
    case("max_pool2d-zero-height", lambda: F.max_pool2d(ones(1, 2, 0, 5), 2), ValueError,
         r"max_pool2d: spatial size 0x5 of the input must be non-zero"),
    case("avg_pool2d-input-complex", lambda: F.avg_pool2d(X4().astype(complex), 2), TypeError,
         r"avg_pool2d: input must be a real numeric array, got dtype complex128"),
    case("max_pool2d-input-object", lambda: F.max_pool2d(X4().astype(object), 2), TypeError,
         r"input must be a real numeric array, got dtype object"),
    case("max_pool2d-input-None", lambda: F.max_pool2d(None, 2), TypeError,
         r"max_pool2d: input must be an array, got None"),
    # adaptive pooling
    case("adaptive_avg_pool2d-output_size-zero", lambda: F.adaptive_avg_pool2d(X4(), 0), ValueError,
         r"adaptive_avg_pool2d: output_size must be >= 1, got 0"),
    case("adaptive_avg_pool2d-output_size-zero-in-pair", lambda: F.adaptive_avg_pool2d(X4(), (2, 0)),
         ValueError, r"output_size must be >= 1, got 0"),
    case("adaptive_avg_pool2d-output_size-negative", lambda: F.adaptive_avg_pool2d(X4(), -1),
         ValueError, r"output_size must be >= 1, got -1"),
    case("adaptive_avg_pool2d-output_size-3-values",
         lambda: F.adaptive_avg_pool2d(X4(), (2, 2, 2)), ValueError,
         r"output_size must be an int or 2 values, got \(2, 2, 2\)"),
    case("adaptive_avg_pool2d-output_size-float", lambda: F.adaptive_avg_pool2d(X4(), 1.5),
         TypeError, r"output_size must be an int, got 1\.5"),
    case("adaptive_avg_pool2d-output_size-None", lambda: F.adaptive_avg_pool2d(X4(), None),
         TypeError, r"output_size must be an int, got None"),
    case("adaptive_max_pool2d-output_size-zero", lambda: F.adaptive_max_pool2d(X4(), 0), ValueError,
         r"adaptive_max_pool2d: output_size must be >= 1, got 0"),
    case("adaptive_avg_pool1d-output_size-zero", lambda: F.adaptive_avg_pool1d(X3(), 0), ValueError,
         r"adaptive_avg_pool1d: output_size must be >= 1, got 0"),
    case("adaptive_max_pool2d-zero-height", lambda: F.adaptive_max_pool2d(ones(1, 2, 0, 5), 2),
         ValueError, r"spatial size 0x5 of the input must be non-zero"),
    # max_unpool
    case("max_unpool2d-index-too-big", lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(16), 2),
         ValueError, r"max_unpool2d: indices must lie in \[0, 16\) \(positions in a plane\) or be -1, got 16$"),
    case("max_unpool2d-index-negative", lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(-2), 2),
         ValueError, r"max_unpool2d: indices must lie in \[0, 16\) \(positions in a plane\) or be -1, got -2$"),
    case("max_unpool2d-index-beyond-int64",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(2 ** 63, dtype=np.uint64), 2), ValueError,
         r"max_unpool2d: indices must lie in \[0, 16\)"),
    case("max_unpool2d-index-beyond-int64-quoted",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(2 ** 63, dtype=np.uint64), 2), ValueError,
         rf"max_unpool2d: indices must lie in \[0, 16\) .*got {2 ** 63}$"),
    case("max_unpool2d-index-vs-output_size",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(3), 2, output_size=(1, 1)), ValueError,
         r"max_unpool2d: indices must lie in \[0, 1\) \(positions in a plane\) or be -1, got 3$"),
    case("max_unpool1d-index-too-big", lambda: F.max_unpool1d(ones(1, 2, 2), IDX(4, (1, 2, 2)), 2),
         ValueError, r"max_unpool1d: indices must lie in \[0, 4\) \(positions in a plane\) or be -1, got 4$"),
    case("max_unpool2d-indices-float",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0, dtype=np.float64), 2), TypeError,
         r"max_unpool2d: indices must be an integer array, got dtype float64"),
    case("max_unpool2d-indices-bool", lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0, dtype=bool), 2),
         TypeError, r"indices must be an integer array, got dtype bool"),
    case("max_unpool2d-indices-None", lambda: F.max_unpool2d(ones(1, 2, 2, 2), None, 2), TypeError,
         r"indices must be an integer array"),
    case("max_unpool2d-indices-shape",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0, (1, 2, 2, 3)), 2), ValueError,
         r"max_unpool2d: indices of shape \(1, 2, 2, 3\) do not match the output's shape "
         r"\(1, 2, 2, 2\)"),
    case("max_unpool2d-output_size-one-entry",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 2, output_size=(3,)), ValueError,
         r"output_size must have 2 entries, got \(3,\)"),
    case("max_unpool2d-output_size-zero",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 2, output_size=(0, 4)), ValueError,
         r"output_size must be >= 1, got 0"),
    case("max_unpool2d-kernel-zero", lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 0), ValueError,
         r"max_unpool2d: kernel_size must be >= 1, got 0"),
    case("max_unpool2d-padding-removes-output",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 2, padding=3), ValueError,
         r"max_unpool2d: .*padding=3 is too large for kernel_size=2"),
    case("max_pool2d_backward", lambda: F.max_pool2d_backward(ones(1, 2, 3, 3), X4(), 2), ValueError,
         r"max_pool2d_backward: grad_output must have the output's shape \(1, 2, 2, 2\), got \(1, 2, 3, 3\)"),
    case("max_pool1d_backward", lambda: F.max_pool1d_backward(ones(1, 2, 3), X3(), 2), ValueError,
         r"max_pool1d_backward: grad_output .*\(1, 2, 4\), got \(1, 2, 3\)"),
    case("avg_pool2d_backward", lambda: F.avg_pool2d_backward(ones(1, 2, 3, 3), X4(), 2), ValueError,
         r"avg_pool2d_backward: grad_output .*\(1, 2, 2, 2\), got \(1, 2, 3, 3\)"),
    case("avg_pool1d_backward", lambda: F.avg_pool1d_backward(ones(1, 2, 3), X3(), 2), ValueError,
         r"avg_pool1d_backward: grad_output .*\(1, 2, 4\), got \(1, 2, 3\)"),
    case("adaptive_avg_pool2d_backward",
         lambda: F.adaptive_avg_pool2d_backward(ones(1, 2, 3, 3), X4(), 2), ValueError,
         r"adaptive_avg_pool2d_backward: grad_output .*got \(1, 2, 3, 3\)"),
    case("adaptive_max_pool2d_backward",
         lambda: F.adaptive_max_pool2d_backward(ones(1, 2, 3, 3), X4(), 2), ValueError,
         r"adaptive_max_pool2d_backward: grad_output .*got \(1, 2, 3, 3\)"),
    case("max_unpool2d_backward",
         lambda: F.max_unpool2d_backward(ones(1, 2, 3, 3), ones(1, 2, 2, 2), IDX(0), 2), ValueError,
         r"max_unpool2d_backward: grad_output .*got \(1, 2, 3, 3\)"),
    # indices handed to backward
    case("max_pool2d_backward-indices-shape",
         lambda: F.max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(0, (1, 2, 3, 3))),
         ValueError, r"^max_pool2d_backward: indices of shape \(1, 2, 3, 3\) do not match the output's "
         r"shape \(1, 2, 2, 2\)$"),
    case("max_pool2d_backward-indices-out-of-range",
         lambda: F.max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(99)), ValueError,
         r"^max_pool2d_backward: indices must lie in \[0, 25\) \(positions in a plane\) or be -1, got 99$"),
    case("adaptive_max_pool2d_backward-indices-out-of-range",
         lambda: F.adaptive_max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(-1)),
         ValueError,
         r"^adaptive_max_pool2d_backward: indices must lie in \[0, 25\) \(positions in a plane\), got -1$"),
    case("max_unpool2d_backward-indices-out-of-range",
         lambda: F.max_unpool2d_backward(ones(1, 2, 4, 4), ones(1, 2, 2, 2), IDX(99), 2), ValueError,
         r"^max_unpool2d_backward: indices must lie in \[0, 16\) \(positions in a plane\) or be -1, got 99$"),
    case("max_pool2d_backward-indices-float",
         lambda: F.max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(0.5, dtype=float)),
         TypeError, r"^max_pool2d_backward: indices must be an integer array, got dtype float64$"),
    case("adaptive_max_pool2d_backward-indices-float",
         lambda: F.adaptive_max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(0, dtype=float)),
         TypeError, r"^adaptive_max_pool2d_backward: indices must be an integer array, got dtype float64$"),
    case("adaptive_max_pool2d_backward-indices-shape",
         lambda: F.adaptive_max_pool2d_backward(ones(1, 2, 2, 2), X4(), 2, indices=IDX(0, (1, 2, 3, 3))),
         ValueError, r"^adaptive_max_pool2d_backward: indices of shape \(1, 2, 3, 3\) do not match the "
         r"output's shape \(1, 2, 2, 2\)$"),
    case("max_unpool2d_backward-indices-shape",
         lambda: F.max_unpool2d_backward(ones(1, 2, 4, 4), ones(1, 2, 2, 2), IDX(0, (1, 2, 2, 3)), 2),
         ValueError, r"^max_unpool2d_backward: indices of shape \(1, 2, 2, 3\) do not match"),
    case("max_unpool2d_backward-indices-float",
         lambda: F.max_unpool2d_backward(ones(1, 2, 4, 4), ones(1, 2, 2, 2), IDX(0, dtype=float), 2),
         TypeError, r"max_unpool2d_backward: indices must be an integer array, got dtype float64"),
]

HUGE_SIZES = [
    # pooling
    case("max_pool2d-kernel-2**62", lambda: F.max_pool2d(X4(), BIG), ValueError,
         rf"max_pool2d: padded input 5x5 is smaller than the window {BIG}x{BIG}"),
    case("max_pool2d-kernel-2**70", lambda: F.max_pool2d(X4(), HUGE), OverflowError,
         FIT("max_pool2d", "kernel_size", HUGE)),
    case("max_pool2d-stride-2**70", lambda: F.max_pool2d(X4(), 3, stride=HUGE), OverflowError,
         FIT("max_pool2d", "stride", HUGE)),
    case("max_pool2d-dilation-2**62", lambda: F.max_pool2d(X4(), 3, dilation=BIG), OverflowError,
         DERIVED("max_pool2d", f"dilation={BIG}")),
    # the int64 check comes first, before "padding must be at most half the kernel size"
    case("max_pool1d-padding-2**70", lambda: F.max_pool1d(X3(), 3, padding=HUGE), OverflowError,
         FIT("max_pool1d", "padding", HUGE)),
    case("avg_pool2d-divisor_override-2**70",
         lambda: F.avg_pool2d(X4(), 2, divisor_override=HUGE), OverflowError,
         FIT("avg_pool2d", "divisor_override", HUGE)),
    case("adaptive_avg_pool2d-output_size-2**40",
         lambda: F.adaptive_avg_pool2d(X4(), 2 ** 40), OverflowError,
         TOO_LARGE("adaptive_avg_pool2d")),
    case("adaptive_max_pool2d-output_size-2**62",
         lambda: F.adaptive_max_pool2d(X4(), (BIG, BIG)), OverflowError,
         TOO_LARGE("adaptive_max_pool2d")),
    case("adaptive_avg_pool2d-output_size-2**70",
         lambda: F.adaptive_avg_pool2d(X4(), HUGE), OverflowError,
         FIT("adaptive_avg_pool2d", "output_size", HUGE)),
    case("adaptive_avg_pool2d-output_size-2**28-alloc",
         lambda: F.adaptive_avg_pool2d(X4(), 2 ** 28), HUGE_TYPES,
         r"adaptive_avg_pool2d: .*output_size"),  # MemoryError (1 EiB)
    case("max_unpool2d-output_size-2**62",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 2, output_size=(BIG, BIG)), OverflowError,
         TOO_LARGE("max_unpool2d")),
    case("max_unpool2d-output_size-2**70",
         lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), 2, output_size=(HUGE, 2)), OverflowError,
         FIT("max_unpool2d", "output_size", HUGE)),
    case("max_unpool2d-kernel-2**62", lambda: F.max_unpool2d(ones(1, 2, 2, 2), IDX(0), BIG),
         OverflowError, r"^max_unpool2d: .*default output size.*overflows int64"),
]

EMPTY = [
    empty(lambda dt: F.max_pool2d(ones(0, 2, 5, 5, dtype=dt), 2), (0, 2, 2, 2), id="max_pool2d"),
    empty(lambda dt: F.max_pool2d(ones(0, 2, 5, 5, dtype=dt), 3, stride=2, padding=1,
                                         ceil_mode=True, return_indices=True)[1], (0, 2, 3, 3),
                 id="max_pool2d-indices", out_dtype=np.int64),
    empty(lambda dt: F.avg_pool2d(ones(0, 2, 5, 5, dtype=dt), 2), (0, 2, 2, 2), id="avg_pool2d"),
    empty(lambda dt: F.max_pool2d_backward(ones(0, 2, 2, 2, dtype=dt), ones(0, 2, 5, 5, dtype=dt), 2),
                 (0, 2, 5, 5), id="max_pool2d_backward"),
    empty(lambda dt: F.avg_pool2d_backward(ones(0, 2, 2, 2, dtype=dt), ones(0, 2, 5, 5, dtype=dt), 2),
                 (0, 2, 5, 5), id="avg_pool2d_backward"),
    empty(lambda dt: F.adaptive_avg_pool2d(ones(0, 2, 4, 4, dtype=dt), 2), (0, 2, 2, 2),
                 id="adaptive_avg_pool2d"),
    empty(lambda dt: F.adaptive_max_pool2d(ones(0, 2, 4, 4, dtype=dt), 3), (0, 2, 3, 3),
                 id="adaptive_max_pool2d"),
    empty(lambda dt: F.max_unpool2d(ones(0, 2, 2, 2, dtype=dt), np.zeros((0, 2, 2, 2), np.int64), 2),
                 (0, 2, 4, 4), id="max_unpool2d"),
]

FAILING = [
    pytest.param(lambda a: F.max_pool2d_backward(a["x"][:, :, :3, :3], a["x"], 2, indices=a["idx"]),
                 id="max_pool2d_backward-indices"),
    pytest.param(lambda a: F.max_unpool2d(a["x"][:, :, :3, :3], a["idx"], 2), id="max_unpool2d-indices"),
    pytest.param(lambda a: F.avg_pool2d(a["xnc"], 2, divisor_override=0), id="avg_pool2d-divisor"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X4, lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True), id="max_pool2d"),
    pytest.param(LAYOUT_X4, lambda x: F.avg_pool2d(x, 2, ceil_mode=True), id="avg_pool2d"),
    pytest.param(LAYOUT_X4, lambda x: F.adaptive_avg_pool2d(x, 4), id="adaptive_avg_pool2d"),
    pytest.param(LAYOUT_X4, lambda x: F.adaptive_max_pool2d(x, 4), id="adaptive_max_pool2d"),
]

NAN_INF = [
    pytest.param(lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(from_numpy(x), 3, 2, 1),
                 (2, 3, 9, 9), id="max_pool2d"),
    pytest.param(lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(from_numpy(x), 3, 2, 1),
                 (2, 3, 9, 9), id="avg_pool2d"),
    pytest.param(lambda x: F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False),
                 lambda x: TF.avg_pool2d(from_numpy(x), 2, ceil_mode=True, count_include_pad=False),
                 (2, 3, 9, 9), id="avg_pool2d-ceil-nopad"),
    pytest.param(lambda x: F.adaptive_avg_pool2d(x, 4), lambda x: TF.adaptive_avg_pool2d(from_numpy(x), 4),
                 (2, 3, 9, 9), id="adaptive_avg_pool2d"),
    pytest.param(lambda x: F.adaptive_max_pool2d(x, 4), lambda x: TF.adaptive_max_pool2d(from_numpy(x), 4),
                 (2, 3, 9, 9), id="adaptive_max_pool2d"),
]


# ---- layers ---------------------------------------------------------------------------------------------

def _distinct(shape, rng):
    return distinct(shape, rng)


LAYERS = [
    layer_case("maxpool2d", lambda: nn.MaxPool2d(2), (2, 2, 6, 6), fd_input=_distinct),
    layer_case("maxpool2d-ceil", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (1, 2, 7, 6),
               lambda: TNN.MaxPool2d(3, 2, padding=1, ceil_mode=True), fd_input=_distinct),
    layer_case("maxpool1d", lambda: nn.MaxPool1d(2), (2, 2, 9), fd_input=_distinct),
    layer_case("avgpool2d", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 2, 7, 7),
               lambda: TNN.AvgPool2d(3, 2, padding=1, count_include_pad=False), fd_input=_distinct),
    layer_case("avgpool1d", lambda: nn.AvgPool1d(2), (2, 2, 9), fd_input=_distinct),
    layer_case("adaptiveavg", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5),
               lambda: TNN.AdaptiveAvgPool2d((3, 2))),
    layer_case("adaptivemax", lambda: nn.AdaptiveMaxPool2d(2), (2, 2, 5, 5), lambda: TNN.AdaptiveMaxPool2d(2),
               fd_input=_distinct),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """Every pooling entry point on images (n, c, h, h), h even: max (indices given to the
    backward; dilated with ceil_mode), average (with and without the padding counted), adaptive
    average and max, max unpooling; forward and backward."""
    x = rng.standard_normal((n, c, h, h))
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    hp = (h + 1) // 2  # the output size of a 3-window, stride 2, padding 1 pooling
    return [
        y, idx, F.max_pool2d_backward(rng.standard_normal(y.shape), x, 2, indices=idx),
        F.max_pool2d(x, 3, 2, 1, dilation=2, ceil_mode=True),
        F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        F.avg_pool2d_backward(rng.standard_normal((n, c, hp, hp)), x, 3, 2, 1),
        F.adaptive_avg_pool2d(x, 3), F.adaptive_avg_pool2d_backward(rng.standard_normal((n, c, 3, 3)), x, 3),
        *F.adaptive_max_pool2d(x, 3, return_indices=True),
        F.adaptive_max_pool2d_backward(rng.standard_normal((n, c, 3, 3)), x, 3),
        F.max_unpool2d(y, idx, 2), F.max_unpool2d_backward(rng.standard_normal((n, c, h, h)), y, idx, 2)[0],
    ]


def _slow_max_pool(s):
    x = rng_for("slow", "max_pool2d", s).standard_normal((s, 16, 64, 64))
    return lambda: F.max_pool2d(x, 3, 1, 1)


SLOW = [pytest.param(_slow_max_pool, id="max_pool2d")]
