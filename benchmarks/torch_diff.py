"""How far is cnnpy.functional from PyTorch? For every op, forward and backward separately, and for
float32 and float64, run a handful of random valid configurations through cnnpy and through
``torch.nn.functional`` (CPU, autograd for the gradients) and print a table:

    op, direction, then per dtype: passed/tried, max |cnnpy - torch|, max relative difference

The relative difference is normwise: max |cnnpy - torch| / max |torch| over the whole result (an
elementwise ratio means nothing next to zeros). "pass" uses the test suite's tolerances:
float64 rtol=1e-10, atol=1e-10; float32 rtol=1e-4, atol=1e-5*sqrt(L), L the longest reduction
feeding one element. Max-pooling indices must match exactly. NaN/inf must sit at the same places.

By default torch computes in the same dtype as cnnpy (what a user switching libraries sees);
``--reference float64`` makes torch compute in float64 on the same inputs, which isolates
cnnpy's own float32 rounding.

    python benchmarks/torch_diff.py [--trials 5] [--seed 0] [--reference same|float64]

Needs PyTorch (imported only when the script runs); exits with a message without it. The exit
status is 1 when any comparison fails.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings

import numpy as np

torch = None  # set by main()
TF = None


# ---- random configurations ---------------------------------------------------------------------------
# Each generator takes (rng, dtype) and returns a Case: the cnnpy op name, its array arguments
# (positional), its other keyword arguments, the torch function of the (tensor) array arguments,
# the indices of array arguments that are constants (no gradient in either library), and the
# reduction length L for the float32 tolerance.

class Case:
    def __init__(self, op, arrays, kwargs, torch_fn, const=(), length=1, indices=False):
        self.op, self.arrays, self.kwargs, self.torch_fn = op, arrays, kwargs, torch_fn
        self.const, self.length, self.indices = tuple(const), length, indices


def _r(rng, lo, hi):
    return int(rng.integers(lo, hi + 1))


def _normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _pool_len(n, k, s, p, d, ceil):
    span = d * (k - 1) + 1
    if n + 2 * p < span:
        return 0
    num = n + 2 * p - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def gen_conv(dims):
    def gen(rng, dtype):
        while True:
            g = int(rng.choice([1, 1, 2, 3]))
            ci, co = g * _r(rng, 1, 4), g * _r(rng, 1, 4)
            size = [_r(rng, 3, 12) for _ in range(dims)]
            k = [_r(rng, 1, 5) for _ in range(dims)]
            s = [_r(rng, 1, 3) for _ in range(dims)]
            d = [_r(rng, 1, 2) for _ in range(dims)]
            mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
            if rng.random() < 0.25:
                padding, s = "same", [1] * dims
                pads = [(dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for kk, dd in zip(k, d)]
            else:
                p = [_r(rng, 0, 3) for _ in range(dims)]
                padding, pads = tuple(p), [(v, v) for v in p]
            if mode == "reflect" and any(max(pp) >= n for pp, n in zip(pads, size)):
                continue
            if mode == "circular" and any(max(pp) > n for pp, n in zip(pads, size)):
                continue
            if any(n + sum(pp) < dd * (kk - 1) + 1 for n, pp, kk, dd in zip(size, pads, k, d)):
                continue
            break
        n = _r(rng, 1, 3)
        x = _normal(rng, (n, ci, *size), dtype)
        w = _normal(rng, (co, ci // g, *k), dtype)
        b = _normal(rng, (co,), dtype) if rng.random() < 0.7 else None
        mod = torch.nn.Conv1d if dims == 1 else torch.nn.Conv2d

        def torch_fn(xt, wt, bt):
            m = mod(ci, co, tuple(k), stride=tuple(s), padding=padding, dilation=tuple(d), groups=g,
                    bias=bt is not None, padding_mode=mode, dtype=xt.dtype)
            params = {"weight": wt} if bt is None else {"weight": wt, "bias": bt}
            return torch.func.functional_call(m, params, (xt,))

        kw = dict(stride=tuple(s), padding=padding, dilation=tuple(d), groups=g, padding_mode=mode)
        length = max(ci // g * math.prod(k), co // g * math.prod(k), n * math.prod(size))
        return Case(f"conv{dims}d", [x, w, b], kw, torch_fn, length=length)
    return gen


def gen_conv_transpose(dims):
    def gen(rng, dtype):
        while True:
            g = int(rng.choice([1, 1, 2, 3]))
            ci, co = g * _r(rng, 1, 4), g * _r(rng, 1, 4)
            size = [_r(rng, 2, 8) for _ in range(dims)]
            k = [_r(rng, 1, 5) for _ in range(dims)]
            s = [_r(rng, 1, 3) for _ in range(dims)]
            d = [_r(rng, 1, 2) for _ in range(dims)]
            p = [_r(rng, 0, 2) for _ in range(dims)]
            op = [_r(rng, 0, max(ss, dd) - 1) for ss, dd in zip(s, d)]
            out = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
                   for n, ss, pp, dd, kk, oo in zip(size, s, p, d, k, op)]
            if min(out) >= 1:
                break
        n = _r(rng, 1, 3)
        x = _normal(rng, (n, ci, *size), dtype)
        w = _normal(rng, (ci, co // g, *k), dtype)
        b = _normal(rng, (co,), dtype) if rng.random() < 0.7 else None
        f = TF.conv_transpose1d if dims == 1 else TF.conv_transpose2d
        kw = dict(stride=tuple(s), padding=tuple(p), groups=g, dilation=tuple(d))
        if rng.random() < 0.3:
            kw["output_size"] = tuple(out)  # cnnpy picks output_padding from it
        else:
            kw["output_padding"] = tuple(op)

        def torch_fn(xt, wt, bt):
            return f(xt, wt, bt, tuple(s), tuple(p), tuple(op), g, tuple(d))

        length = max(ci * math.prod(k), n * math.prod(size))
        return Case(f"conv_transpose{dims}d", [x, w, b], kw, torch_fn, length=length)
    return gen


def _pool_geometry(rng, dims, with_dilation):
    while True:
        size = [_r(rng, 2, 12) for _ in range(dims)]
        k = [_r(rng, 1, 4) for _ in range(dims)]
        s = [_r(rng, 1, 3) for _ in range(dims)]
        p = [_r(rng, 0, kk // 2) for kk in k]
        d = [_r(rng, 1, 2) if with_dilation else 1 for _ in range(dims)]
        ceil = bool(rng.random() < 0.5)
        if all(_pool_len(*a, ceil) >= 1 for a in zip(size, k, s, p, d)):
            return size, k, s, p, d, ceil


def gen_max_pool(dims):
    def gen(rng, dtype):
        size, k, s, p, d, ceil = _pool_geometry(rng, dims, True)
        x = _normal(rng, (_r(rng, 1, 3), _r(rng, 1, 3), *size), dtype)
        kw = dict(kernel_size=tuple(k), stride=tuple(s), padding=tuple(p), dilation=tuple(d),
                  ceil_mode=ceil)
        f = TF.max_pool1d if dims == 1 else TF.max_pool2d
        return Case(f"max_pool{dims}d", [x], kw, lambda t: f(t, **kw), length=math.prod(k),
                    indices=True)
    return gen


def gen_avg_pool(dims):
    def gen(rng, dtype):
        size, k, s, p, _, ceil = _pool_geometry(rng, dims, False)
        x = _normal(rng, (_r(rng, 1, 3), _r(rng, 1, 3), *size), dtype)
        kw = dict(kernel_size=tuple(k), stride=tuple(s), padding=tuple(p), ceil_mode=ceil,
                  count_include_pad=bool(rng.random() < 0.5))
        if dims == 2 and rng.random() < 0.3:
            kw["divisor_override"] = _r(rng, 1, 9)
        f = TF.avg_pool1d if dims == 1 else TF.avg_pool2d
        return Case(f"avg_pool{dims}d", [x], kw, lambda t: f(t, **kw), length=math.prod(k))
    return gen


def gen_adaptive(kind, dims):
    def gen(rng, dtype):
        size = [_r(rng, 1, 12) for _ in range(dims)]
        out = tuple(_r(rng, 1, 8) for _ in range(dims))
        x = _normal(rng, (_r(rng, 1, 3), _r(rng, 1, 3), *size), dtype)
        name = f"adaptive_{kind}_pool{dims}d"
        f = getattr(TF, name)
        length = math.prod(-(-n // o) + 1 for n, o in zip(size, out))
        return Case(name, [x], dict(output_size=out), lambda t: f(t, out), length=length,
                    indices=kind == "max")
    return gen


def gen_max_unpool(dims):
    import cnnpy.functional as F

    def gen(rng, dtype):
        while True:
            size = [_r(rng, 2, 10) for _ in range(dims)]
            k = [_r(rng, 1, 3) for _ in range(dims)]
            s = [_r(rng, 1, 3) for _ in range(dims)]
            p = [_r(rng, 0, kk // 2) for kk in k]
            if all(_pool_len(n, kk, ss, pp, 1, False) >= 1 for n, kk, ss, pp in zip(size, k, s, p)):
                break
        x = _normal(rng, (_r(rng, 1, 3), _r(rng, 1, 3), *size), dtype)
        pool = F.max_pool1d if dims == 1 else F.max_pool2d
        y, idx = pool(x, tuple(k), tuple(s), tuple(p), return_indices=True)
        kw = dict(kernel_size=tuple(k), stride=tuple(s), padding=tuple(p), output_size=tuple(size))
        f = TF.max_unpool1d if dims == 1 else TF.max_unpool2d
        return Case(f"max_unpool{dims}d", [y, idx], kw, lambda t, i: f(t, i, **kw))
    return gen


def gen_pad(rng, dtype):
    mode = str(rng.choice(["constant", "reflect", "replicate", "circular"]))
    nd = _r(rng, 3, 5)
    shape = (_r(rng, 1, 3), _r(rng, 1, 3)) + tuple(_r(rng, 2, 7) for _ in range(nd - 2))
    npairs = _r(rng, 1, nd) if mode == "constant" else nd - 2
    pad = []
    for i in range(npairs):
        n = shape[nd - 1 - i]
        if mode == "constant" or mode == "replicate":
            pair = [_r(rng, -(n // 2), 4), _r(rng, -(n // 2), 4)]
        elif mode == "reflect":  # cnnpy differs from torch for reflect with a crop on one side
            pair = [_r(rng, 0, n - 1), _r(rng, 0, n - 1)]
        else:
            pair = [_r(rng, 0, n), _r(rng, 0, n)]
        pad += pair
    pad = tuple(pad)
    value = float(np.round(rng.standard_normal(), 2)) if mode == "constant" else 0.0
    tkw = dict(mode=mode, value=value) if mode == "constant" else dict(mode=mode)
    x = _normal(rng, shape, dtype)
    return Case("pad", [x], dict(pad=pad, mode=mode, value=value),
                lambda t: TF.pad(t, pad, **tkw), length=4)


def gen_linear(rng, dtype):
    lead = tuple(_r(rng, 1, 5) for _ in range(_r(rng, 0, 2)))
    fin, fout = _r(rng, 1, 300), _r(rng, 1, 150)
    x = _normal(rng, (*lead, fin), dtype)
    w = _normal(rng, (fout, fin), dtype)
    b = _normal(rng, (fout,), dtype) if rng.random() < 0.7 else None
    return Case("linear", [x, w, b], {}, TF.linear, length=max(fin, math.prod(lead), fout))


def _act_input(rng, dtype):
    x = rng.standard_normal((_r(rng, 1, 4), _r(rng, 1, 6), _r(rng, 1, 6))) * 4
    x.reshape(-1)[: max(1, x.size // 10)] = 0.0
    return x.astype(dtype)


def gen_elementwise(name):
    def gen(rng, dtype):
        x = _act_input(rng, dtype)
        if name == "leaky_relu":
            slope = float(rng.choice([0.01, 0.2, 0.0, -0.3, 1.5]))
            return Case(name, [x], dict(negative_slope=slope), lambda t: TF.leaky_relu(t, slope))
        f = {"relu": TF.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name]
        return Case(name, [x], {}, f)
    return gen


def gen_softmax(name):
    def gen(rng, dtype):
        shape = tuple(_r(rng, 1, 7) for _ in range(_r(rng, 1, 4)))
        dim = _r(rng, -len(shape), len(shape) - 1)
        x = _normal(rng, shape, dtype, 3.0)
        return Case(name, [x], dict(dim=dim), lambda t: getattr(TF, name)(t, dim),
                    length=shape[dim])
    return gen


def gen_dropout(rng, dtype):
    import cnnpy.functional as F

    p = float(rng.choice([0.0, 0.1, 0.5, 0.9, 1.0]))
    x = _normal(rng, (_r(rng, 1, 4), _r(rng, 1, 8), _r(rng, 1, 8)), dtype)
    seed = _r(rng, 0, 10**6)
    if p in (0.0, 1.0):
        return Case("dropout", [x], dict(p=p, rng=seed), lambda t: TF.dropout(t, p, training=True))
    _, mask = F.dropout(x, p, rng=seed, return_mask=True)
    keep = mask.astype(np.float64)
    return Case("dropout", [x], dict(p=p, rng=seed),
                lambda t: t * torch.from_numpy(keep).to(t.dtype) / (1 - p))


def gen_regression(name):
    def gen(rng, dtype):
        shape = tuple(_r(rng, 1, 6) for _ in range(_r(rng, 1, 3)))
        tshape = shape if rng.random() < 0.7 else shape[1:] or shape
        red = str(rng.choice(["mean", "sum", "none"]))
        x, t = _normal(rng, shape, dtype), _normal(rng, tshape, dtype)
        return Case(name, [x, t], dict(reduction=red),
                    lambda a, b: getattr(TF, name)(a, b, reduction=red), length=math.prod(shape))
    return gen


def gen_bce(rng, dtype):
    shape = tuple(_r(rng, 1, 6) for _ in range(_r(rng, 1, 3)))
    red = str(rng.choice(["mean", "sum", "none"]))
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.1, 2, shape[-1:]).astype(dtype) if rng.random() < 0.5 else None
    return Case("binary_cross_entropy", [x, t, w], dict(reduction=red),
                lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=red), const=(2,),
                length=math.prod(shape))


def gen_bce_logits(rng, dtype):
    shape = tuple(_r(rng, 1, 6) for _ in range(_r(rng, 1, 3)))
    red = str(rng.choice(["mean", "sum", "none"]))
    x = _normal(rng, shape, dtype, 4.0)
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = rng.uniform(0.1, 2, shape[-1:]).astype(dtype) if rng.random() < 0.5 else None
    pw = rng.uniform(0.2, 3, shape[-1:]).astype(dtype) if rng.random() < 0.5 else None

    def torch_fn(a, b, c):
        pwt = None if pw is None else torch.from_numpy(pw).to(a.dtype)
        return TF.binary_cross_entropy_with_logits(a, b, c, reduction=red, pos_weight=pwt)

    return Case("binary_cross_entropy_with_logits", [x, t, w], dict(reduction=red, pos_weight=pw),
                torch_fn, const=(2,), length=math.prod(shape))


def gen_cross_entropy(rng, dtype):
    c = _r(rng, 2, 8)
    form = _r(rng, 0, 2)
    n = _r(rng, 1, 6)
    shape = (c,) if form == 0 else (n, c) if form == 1 else (n, c, _r(rng, 1, 4), _r(rng, 1, 4))
    tshape = () if form == 0 else (n,) if form == 1 else (n,) + shape[2:]
    x = _normal(rng, shape, dtype, 2.0)
    t = rng.integers(0, c, tshape).astype(np.int64)
    ignore = -100 if rng.random() < 0.5 else _r(rng, 0, c - 1)
    if t.size > 1 and rng.random() < 0.5:
        t.reshape(-1)[0] = ignore  # at least one target left: 'mean' stays finite
    w = rng.uniform(0.2, 2, c).astype(dtype) if rng.random() < 0.5 else None
    kw = dict(ignore_index=ignore, reduction=str(rng.choice(["mean", "sum", "none"])),
              label_smoothing=float(rng.choice([0.0, 0.0, 0.1, 0.3])))
    if kw["reduction"] == "mean" and (t != ignore).sum() == 0:
        t.reshape(-1)[:] = (ignore + 1) % c
    return Case("cross_entropy", [x, t, w], kw, lambda a, b, ww: TF.cross_entropy(a, b, ww, **kw),
                const=(2,), length=x.size)


def generators():
    g = [("conv1d", gen_conv(1)), ("conv2d", gen_conv(2)),
         ("conv_transpose1d", gen_conv_transpose(1)), ("conv_transpose2d", gen_conv_transpose(2)),
         ("pad", gen_pad),
         ("max_pool1d", gen_max_pool(1)), ("max_pool2d", gen_max_pool(2)),
         ("avg_pool1d", gen_avg_pool(1)), ("avg_pool2d", gen_avg_pool(2))]
    for kind in ("avg", "max"):
        for dims in (1, 2):
            g.append((f"adaptive_{kind}_pool{dims}d", gen_adaptive(kind, dims)))
    g += [("max_unpool1d", gen_max_unpool(1)), ("max_unpool2d", gen_max_unpool(2)),
          ("linear", gen_linear)]
    g += [(name, gen_elementwise(name)) for name in ("relu", "leaky_relu", "sigmoid", "tanh")]
    g += [(name, gen_softmax(name)) for name in ("softmax", "log_softmax")]
    g += [("dropout", gen_dropout), ("mse_loss", gen_regression("mse_loss")),
          ("l1_loss", gen_regression("l1_loss")), ("binary_cross_entropy", gen_bce),
          ("binary_cross_entropy_with_logits", gen_bce_logits), ("cross_entropy", gen_cross_entropy)]
    return g


# ---- comparison -----------------------------------------------------------------------------------------

class Stat:
    def __init__(self):
        self.tried = self.passed = 0
        self.abs = self.rel = 0.0
        self.notes = set()

    def add(self, ok, abs_diff, rel_diff, note=None):
        self.tried += 1
        self.passed += bool(ok)
        self.abs, self.rel = max(self.abs, abs_diff), max(self.rel, rel_diff)
        if note:
            self.notes.add(note)


def compare(actual, expected, dtype, length):
    """-> (ok, max abs diff, normwise rel diff) of two arrays."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return False, math.inf, math.inf
    finite = np.isfinite(e)
    same_special = np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(a[~finite & ~np.isnan(e)],
                                                                               e[~finite & ~np.isnan(e)])
    if not same_special or not np.isfinite(a[finite]).all():
        return False, math.inf, math.inf
    if not finite.any():
        return True, 0.0, 0.0
    diff = np.abs(a[finite] - e[finite])
    top = float(np.abs(e[finite]).max())
    abs_diff = float(diff.max())
    rel_diff = abs_diff / top if top > 0 else (0.0 if abs_diff == 0 else math.inf)
    if np.dtype(dtype) == np.float64:
        rtol, atol = 1e-10, 1e-10
    else:
        rtol, atol = 1e-4, 1e-5 * math.sqrt(max(1, length))
    ok = bool((diff <= atol + rtol * np.abs(e[finite])).all())
    return ok, abs_diff, rel_diff


def run_case(case, dtype, ref_dtype, rng, fwd, bwd):
    import cnnpy.functional as F

    same = torch.float32 if dtype == np.float32 else torch.float64
    tdt = torch.float64 if ref_dtype == "float64" else same
    tensors = []
    for i, a in enumerate(case.arrays):
        if a is None:
            tensors.append(None)
        elif a.dtype.kind in "iu":
            tensors.append(torch.from_numpy(a.astype(np.int64)))
        else:
            tensors.append(torch.tensor(a, dtype=tdt, requires_grad=i not in case.const))
    try:
        y = getattr(F, case.op)(*case.arrays, **case.kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yt = case.torch_fn(*tensors)
    except Exception as exc:  # a config one library refuses: a failure to report
        fwd.add(False, math.inf, math.inf, f"{type(exc).__name__}: {exc}")
        bwd.add(False, math.inf, math.inf, f"{type(exc).__name__}: {exc}")
        return
    indices_ok = True
    if case.indices:
        _, idx = getattr(F, case.op)(*case.arrays, **case.kwargs, return_indices=True)
        _, it = getattr(TF, case.op)(*[t.detach() if t is not None else None for t in tensors],
                                     **{k: v for k, v in case.kwargs.items()}, return_indices=True)
        indices_ok = np.array_equal(idx, it.numpy())
    ok, ad, rd = compare(y, yt.detach().numpy(), dtype, case.length)
    fwd.add(ok and indices_ok, ad, rd, None if indices_ok else "indices differ")

    g = np.asarray(rng.standard_normal(np.shape(y))).astype(dtype)
    grads = getattr(F, case.op + "_backward")(g, *case.arrays, **case.kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if yt.requires_grad:
        yt.backward(torch.from_numpy(g).to(tdt))
    ok_all, ad_all, rd_all = True, 0.0, 0.0
    for i, t in enumerate(tensors):
        gi = grads[i] if i < len(grads) else None
        if t is None or not t.requires_grad:
            ok_all &= gi is None
            continue
        expected = t.grad if t.grad is not None else torch.zeros_like(t)
        if gi is None:
            ok, ad, rd = False, math.inf, math.inf
        else:
            ok, ad, rd = compare(gi, expected.numpy(), dtype, case.length)
            ok &= gi.dtype == dtype
        ok_all, ad_all, rd_all = ok_all and ok, max(ad_all, ad), max(rd_all, rd)
    bwd.add(ok_all, ad_all, rd_all)


def main(argv=None):
    global torch, TF
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="random configurations per op and dtype")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", choices=["same", "float64"], default="same",
                        help="dtype torch computes in: the same as cnnpy, or always float64")
    args = parser.parse_args(argv)
    try:
        import torch as _torch
    except ImportError:
        sys.exit("benchmarks/torch_diff.py compares cnnpy with PyTorch, which is not installed "
                 "(pip install torch)")
    torch, TF = _torch, _torch.nn.functional
    torch.manual_seed(args.seed)

    dtypes = [np.float32, np.float64]
    rows = []
    start = time.perf_counter()
    for k, (name, gen) in enumerate(generators()):
        stats = {}
        for dt in dtypes:
            fwd, bwd = Stat(), Stat()
            rng = np.random.default_rng([args.seed, k, np.dtype(dt).itemsize])
            for _ in range(args.trials):
                run_case(gen(rng, dt), dt, args.reference, rng, fwd, bwd)
            stats[dt] = (fwd, bwd)
        for j, direction in enumerate(("forward", "backward")):
            rows.append((name, direction, [stats[dt][j] for dt in dtypes]))
    elapsed = time.perf_counter() - start

    def cell(st):
        return [f"{st.passed}/{st.tried}", f"{st.abs:.2e}", f"{st.rel:.2e}"]

    header = ["op", "dir", "f32 pass", "f32 max abs", "f32 max rel", "f64 pass", "f64 max abs",
              "f64 max rel"]
    table = [header] + [[n, d] + cell(s[0]) + cell(s[1]) for n, d, s in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    ref = "float64" if args.reference == "float64" else "the same dtype"
    print(f"cnnpy.functional vs torch {torch.__version__} (torch computing in {ref}), "
          f"{args.trials} random configurations per op and dtype, seed {args.seed}")
    for i, r in enumerate(table):
        print("  ".join(v.ljust(w) if c < 2 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    failed = [(n, d, s) for n, d, ss in rows for s in ss if s.passed < s.tried]
    for n, d, s in failed:
        for note in sorted(s.notes):
            print(f"  {n} {d}: {note}")
    total = sum(s.tried for _, _, ss in rows for s in ss)
    bad = sum(s.tried - s.passed for _, _, ss in rows for s in ss)
    print(f"{total - bad}/{total} comparisons passed in {elapsed:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
