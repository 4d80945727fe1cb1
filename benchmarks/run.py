"""cnnpy against PyTorch (when installed) and SciPy, side by side in one process.

For every case the same data and weights go to each library; each result is checked against the
others first (a mismatch is reported loudly and the exit status becomes 1), then the libraries are
timed interleaved (warm-up, then alternating repetitions, the median per call) at each thread
count, PyTorch set to the same count as cnnpy. The table gives per case the time in µs, cnnpy's
GFLOP/s and its share of the FMA peak measured by benchmarks/fma_probe.c, and the ratio
torch/cnnpy (above 1: cnnpy is faster), with the geometric mean per family.

    python benchmarks/run.py [--threads 1,2] [--quick] [--filter SUBSTRING[|SUBSTRING]]
                             [--json PATH] [--float64] [--no-torch] [--list]

Importable by path (``benchmarks/`` is not a package): ``spec_from_file_location`` it and call
``main(argv) -> int``. See benchmarks/README.md for what each column means.
"""

# (no `from __future__ import annotations`: with it, dataclasses look the module up in
# sys.modules, which a module loaded by path with spec_from_file_location is not in)
import argparse
import gc
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

import cnnpy
import cnnpy.functional as F

HERE = Path(__file__).resolve().parent


# ---- FLOP counts ---------------------------------------------------------------------------------
# One multiply-add is 2 FLOPs. Backward of a conv or linear layer = 2x its forward (dx and dw each
# cost one forward; db is negligible). Pooling and activations have no FLOP count here.

def conv_flops(n: int, c_in: int, c_out: int, out_size: Sequence[int], kernel_size: Sequence[int],
               groups: int = 1) -> int:
    """FLOPs of one conv forward: ``2 * N * C_out * prod(out_size) * C_in/groups * prod(kernel)``.

    >>> conv_flops(1, 1, 6, (91, 91), (3, 3))
    894348
    """
    return 2 * n * c_out * math.prod(out_size) * (c_in // groups) * math.prod(kernel_size)


def conv_transpose_flops(n: int, c_in: int, c_out: int, in_size: Sequence[int],
                         kernel_size: Sequence[int], groups: int = 1) -> int:
    """FLOPs of one transpose-conv forward: every input pixel scatters a ``C_out/groups x kernel``
    patch, ``2 * N * C_in * prod(in_size) * C_out/groups * prod(kernel)`` (the FLOPs of the conv
    whose input gradient it is)."""
    return 2 * n * c_in * math.prod(in_size) * (c_out // groups) * math.prod(kernel_size)


def linear_flops(n: int, in_features: int, out_features: int) -> int:
    """FLOPs of one linear forward: ``2 * N * in * out``.

    >>> linear_flops(32, 1936, 50)
    6195200
    """
    return 2 * n * in_features * out_features


def model_flops(model, input_shape) -> int:
    """Forward FLOPs of a cnnpy model: 2x the multiply-adds ``cnnpy.summary`` counts for its conv,
    transpose-conv and linear layers (the same formulas as above)."""
    return 2 * cnnpy.summary(model, input_shape).total_mult_adds


# ---- cases ---------------------------------------------------------------------------------------

@dataclass
class Env:
    """What a case needs to build its runners: dtype, seed and the optional libraries."""
    dtype: np.dtype
    seed: int
    torch: Any = None
    signal: Any = None  # scipy.signal

    def rng(self, name: str) -> np.random.Generator:
        """A Generator seeded from --seed and the case's name: the same data whatever --filter says."""
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def normal(self, rng, shape, scale=1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(self.dtype)

    def tensor(self, a: np.ndarray, grad: bool = False):
        t = self.torch.from_numpy(a.copy() if grad else a)
        return t.requires_grad_() if grad else t


@dataclass
class Case:
    family: str
    name: str
    build: Callable[[Env], dict]  # -> {library: zero-argument callable}, cnnpy always present
    flops: Optional[int] = None   # per call; None: reported as "-"
    length: int = 1               # longest sum behind one output element (scales the tolerance)
    outputs: tuple = ("output",)  # names of the compared results, for messages
    check_calls: int = 1          # calls whose results are compared (training: two steps)

    @property
    def label(self) -> str:
        return f"{self.family}: {self.name}"


def _geom(n, ci, co, hw, k=3, s=1, p=1) -> str:
    return f"({n},{ci}->{co},{hw}x{hw}) k{k}" + (f" s{s}" if s != 1 else "") + (f" p{p}" if p else "")


def _torch_grads(env: Env, forward, arrays, g):
    """torch's backward alone: the forward is run once here, its graph kept, and each call is
    ``torch.autograd.grad(out, inputs, g, retain_graph=True)``."""
    inputs = [env.tensor(a, grad=True) for a in arrays]
    out = forward(*inputs)
    gt = env.tensor(g)
    return lambda: env.torch.autograd.grad(out, inputs, gt, retain_graph=True)


def conv2d_case(family, n, ci, co, hw, k=3, s=1, p=1, backward=False, prefix="") -> Case:
    name = prefix + _geom(n, ci, co, hw, k, s, p)
    oh = cnnpy.conv_output_size(hw, k, s, p)

    def build(env):
        rng = env.rng(family + name)
        x = env.normal(rng, (n, ci, hw, hw))
        w = env.normal(rng, (co, ci, k, k), 1 / math.sqrt(ci * k * k))
        b = env.normal(rng, co, 0.1)
        g = env.normal(rng, (n, co, oh, oh))
        r = {}
        if backward:
            r["cnnpy"] = lambda: F.conv2d_backward(g, x, w, b, stride=s, padding=p)
            if env.torch:
                conv = env.torch.nn.functional.conv2d
                r["torch"] = _torch_grads(env, lambda a, c, d: conv(a, c, d, stride=s, padding=p), (x, w, b), g)
        else:
            r["cnnpy"] = lambda: F.conv2d(x, w, b, stride=s, padding=p)
            if env.torch:
                tx, tw, tb = env.tensor(x), env.tensor(w), env.tensor(b)
                conv = env.torch.nn.functional.conv2d
                r["torch"] = lambda: conv(tx, tw, tb, stride=s, padding=p)
        return r

    fwd = conv_flops(n, ci, co, (oh, oh), (k, k))
    return Case(family, name, build, flops=2 * fwd if backward else fwd,
                length=max(n * oh * oh, co * k * k) if backward else ci * k * k,
                outputs=("grad_input", "grad_weight", "grad_bias") if backward else ("output",))


def conv1d_case(family, n, ci, co, length, k, p, backward) -> Case:
    name = ("bwd " if backward else "fwd ") + f"({n},{ci}->{co},L={length}) k{k} p{p}"
    ol = cnnpy.conv_output_size(length, k, 1, p)

    def build(env):
        rng = env.rng(family + name)
        x = env.normal(rng, (n, ci, length))
        w = env.normal(rng, (co, ci, k), 1 / math.sqrt(ci * k))
        b = env.normal(rng, co, 0.1)
        g = env.normal(rng, (n, co, ol))
        r = {}
        if backward:
            r["cnnpy"] = lambda: F.conv1d_backward(g, x, w, b, padding=p)
            if env.torch:
                conv = env.torch.nn.functional.conv1d
                r["torch"] = _torch_grads(env, lambda a, c, d: conv(a, c, d, padding=p), (x, w, b), g)
        else:
            r["cnnpy"] = lambda: F.conv1d(x, w, b, padding=p)
            if env.torch:
                tx, tw, tb = env.tensor(x), env.tensor(w), env.tensor(b)
                conv = env.torch.nn.functional.conv1d
                r["torch"] = lambda: conv(tx, tw, tb, padding=p)
        return r

    fwd = conv_flops(n, ci, co, (ol,), (k,))
    return Case(family, name, build, flops=2 * fwd if backward else fwd,
                length=max(n * ol, co * k) if backward else ci * k,
                outputs=("grad_input", "grad_weight", "grad_bias") if backward else ("output",))


def conv_transpose2d_case(family, n, ci, co, hw, k, s, p, backward) -> Case:
    name = ("bwd " if backward else "fwd ") + _geom(n, ci, co, hw, k, s, p)
    oh = cnnpy.conv_transpose_output_size(hw, k, s, p)

    def build(env):
        rng = env.rng(family + name)
        x = env.normal(rng, (n, ci, hw, hw))
        w = env.normal(rng, (ci, co, k, k), 1 / math.sqrt(ci * k * k / (s * s)))
        b = env.normal(rng, co, 0.1)
        g = env.normal(rng, (n, co, oh, oh))
        kw = {"stride": s, "padding": p}
        r = {}
        if backward:
            r["cnnpy"] = lambda: F.conv_transpose2d_backward(g, x, w, b, **kw)
            if env.torch:
                conv = env.torch.nn.functional.conv_transpose2d
                r["torch"] = _torch_grads(env, lambda a, c, d: conv(a, c, d, **kw), (x, w, b), g)
        else:
            r["cnnpy"] = lambda: F.conv_transpose2d(x, w, b, **kw)
            if env.torch:
                tx, tw, tb = env.tensor(x), env.tensor(w), env.tensor(b)
                conv = env.torch.nn.functional.conv_transpose2d
                r["torch"] = lambda: conv(tx, tw, tb, **kw)
        return r

    fwd = conv_transpose_flops(n, ci, co, (hw, hw), (k, k))
    return Case(family, name, build, flops=2 * fwd if backward else fwd,
                length=max(n * hw * hw, ci * k * k) if backward else ci * k * k,
                outputs=("grad_input", "grad_weight", "grad_bias") if backward else ("output",))


def pool_case(family, kind, n, c, hw, k, s, p, backward) -> Case:
    name = f"{kind} {'bwd' if backward else 'fwd'} ({n},{c},{hw}x{hw}) k{k} s{s}" + (f" p{p}" if p else "")
    oh = cnnpy.pool_output_size(hw, k, s, p)

    def build(env):
        rng = env.rng(family + name)
        x = env.normal(rng, (n, c, hw, hw))
        g = env.normal(rng, (n, c, oh, oh))
        r = {}
        if kind == "max":
            _, idx = F.max_pool2d(x, k, s, p, return_indices=True)
            fwd = lambda: F.max_pool2d(x, k, s, p)
            bwd = lambda: F.max_pool2d_backward(g, x, k, s, p, indices=idx)
        else:
            fwd = lambda: F.avg_pool2d(x, k, s, p)
            bwd = lambda: F.avg_pool2d_backward(g, x, k, s, p)
        r["cnnpy"] = bwd if backward else fwd
        if env.torch:
            pool = getattr(env.torch.nn.functional, f"{kind}_pool2d")
            if backward:
                r["torch"] = _torch_grads(env, lambda a: pool(a, k, s, p), (x,), g)
            else:
                tx = env.tensor(x)
                r["torch"] = lambda: pool(tx, k, s, p)
        return r

    return Case(family, name, build, flops=None, length=k * k,
                outputs=("grad_input",) if backward else ("output",))


def linear_case(family, n, fin, fout, backward) -> Case:
    name = ("bwd " if backward else "fwd ") + f"({n},{fin}->{fout})"

    def build(env):
        rng = env.rng(family + name)
        x = env.normal(rng, (n, fin))
        w = env.normal(rng, (fout, fin), 1 / math.sqrt(fin))
        b = env.normal(rng, fout, 0.1)
        g = env.normal(rng, (n, fout))
        r = {}
        if backward:
            r["cnnpy"] = lambda: F.linear_backward(g, x, w, b)
            if env.torch:
                r["torch"] = _torch_grads(env, env.torch.nn.functional.linear, (x, w, b), g)
        else:
            r["cnnpy"] = lambda: F.linear(x, w, b)
            if env.torch:
                tx, tw, tb = env.tensor(x), env.tensor(w), env.tensor(b)
                lin = env.torch.nn.functional.linear
                r["torch"] = lambda: lin(tx, tw, tb)
        return r

    fwd = linear_flops(n, fin, fout)
    return Case(family, name, build, flops=2 * fwd if backward else fwd,
                length=max(n, fin, fout) if backward else fin,
                outputs=("grad_input", "grad_weight", "grad_bias") if backward else ("output",))


def _train_step_module():
    """benchmarks/train_step.py (the three networks and how a step is timed), loaded by path."""
    spec = importlib.util.spec_from_file_location("cnnpy_bench_train_step", HERE / "train_step.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def train_step_cases(family, batch=32) -> list:
    """train_step.py's networks, each as a compiled step (cnnpy.compile) and a layer-by-layer step
    against the same PyTorch step (zero_grad, forward, loss, backward, optimizer step)."""
    ts = _train_step_module()
    cases = []
    for net in (n for n in ts.NETS if not n.inference):
        for variant, label in (("compiled", "compiled"), ("layer", "layer by layer")):
            def build(env, net=net, variant=variant):
                r = {"cnnpy": ts.build(net, variant, batch, env.dtype, env.seed)}
                if env.torch:
                    r["torch"] = ts.build(net, "torch", batch, env.dtype, env.seed, torch=env.torch)
                return r

            x, _ = net.data(np.random.default_rng(0), batch)
            cases.append(Case(family, f"{net.name}, batch {batch}, {label}", build,
                              flops=3 * model_flops(net.make(0), x.shape), length=1,
                              outputs=("loss step 1", "loss step 2"), check_calls=2))
    return cases


def filter_case(family, size, k, mode) -> Case:
    name = f"{k}x{k} '{mode}' ({size}x{size})"
    o = size if mode == "same" else size - k + 1

    def build(env):
        rng = env.rng(family + name)
        img = env.normal(rng, (size, size))
        ker = env.normal(rng, (k, k), 1 / k)
        r = {"cnnpy": lambda: F.conv2d(img, ker, padding=mode)}
        if env.torch:
            ti, tk = env.tensor(img)[None, None], env.tensor(ker)[None, None]
            conv = env.torch.nn.functional.conv2d
            r["torch"] = lambda: conv(ti, tk, padding=mode)[0, 0]
        if env.signal:
            corr = env.signal.correlate2d
            r["scipy"] = lambda: corr(img, ker, mode=mode)
        return r

    return Case(family, name, build, flops=conv_flops(1, 1, 1, (o, o), (k, k)), length=k * k)


def overhead_cases(family) -> list:
    def relu(env):
        x = env.normal(env.rng("relu8"), 8)
        r = {"cnnpy": lambda: F.relu(x)}
        if env.torch:
            tx, f = env.tensor(x), env.torch.relu
            r["torch"] = lambda: f(tx)
        return r

    def conv(env):
        rng = env.rng("conv4x4")
        x, w = env.normal(rng, (1, 1, 4, 4)), env.normal(rng, (1, 1, 3, 3))
        r = {"cnnpy": lambda: F.conv2d(x, w, padding=1)}
        if env.torch:
            tx, tw, f = env.tensor(x), env.tensor(w), env.torch.nn.functional.conv2d
            r["torch"] = lambda: f(tx, tw, padding=1)
        return r

    return [Case(family, "relu, 8 floats", relu, length=1),
            Case(family, "conv2d (1,1->1,4x4) k3 p1", conv, length=9)]


def all_cases() -> list:
    """Every case, in table order."""
    cases = []
    fam = "conv2d forward, lecture shapes"
    for n, ci, co, hw in ((1, 1, 6, 91), (1, 6, 4, 89), (32, 1, 6, 91), (32, 6, 4, 89)):
        cases.append(conv2d_case(fam, n, ci, co, hw))
    fam = "conv2d forward, larger shapes"
    for n, ci, co, hw, k, s, p in ((1, 64, 64, 56, 3, 1, 1), (1, 128, 128, 28, 3, 1, 1),
                                   (8, 16, 32, 32, 3, 2, 1), (1, 256, 256, 14, 1, 1, 0)):
        cases.append(conv2d_case(fam, n, ci, co, hw, k, s, p))
    fam = "conv2d backward (dx, dw, db; torch: autograd.grad on a kept graph, no forward)"
    for n, ci, co, hw in ((1, 1, 6, 91), (1, 6, 4, 89), (32, 1, 6, 91), (32, 6, 4, 89), (1, 64, 64, 56)):
        cases.append(conv2d_case(fam, n, ci, co, hw, backward=True))
    # -- issue 12 (convolution and dense kernels): the wide layers' backward, the MNIST net --
    fam = "conv2d backward, larger shapes"
    for n, ci, co, hw, k, s, p in ((1, 128, 128, 28, 3, 1, 1), (8, 16, 32, 32, 3, 2, 1),
                                   (1, 256, 256, 14, 1, 1, 0)):
        cases.append(conv2d_case(fam, n, ci, co, hw, k, s, p, backward=True))
    fam = "conv2d, the MNIST net (5x5 p1)"
    for n, ci, co, hw in ((32, 1, 10, 28), (32, 10, 20, 13)):
        cases += [conv2d_case(fam, n, ci, co, hw, 5, 1, 1, backward=bwd, prefix="bwd " if bwd else "fwd ")
                  for bwd in (False, True)]
    # --
    fam = "conv1d"
    cases += [conv1d_case(fam, 16, 8, 16, 1024, 5, 2, bwd) for bwd in (False, True)]
    # transpose convolution and pooling (issue 12): the wide layer, the Gaussian autoencoder's two
    # decoder layers (22 -> 45 -> 91) and its 2x2 pooling of (32, 6, 91, 91)
    fam = "conv_transpose2d"
    for n, ci, co, hw, k, s, p in ((8, 32, 16, 16, 4, 2, 1), (32, 4, 6, 22, 3, 2, 0), (32, 6, 1, 45, 3, 2, 0)):
        cases += [conv_transpose2d_case(fam, n, ci, co, hw, k, s, p, bwd) for bwd in (False, True)]
    fam = "pooling (no FLOP count)"
    for kind in ("max", "avg"):
        for n, c, hw, k, s, p in ((32, 16, 56, 2, 2, 0), (8, 64, 56, 3, 2, 1), (32, 6, 91, 2, 2, 0)):
            cases += [pool_case(fam, kind, n, c, hw, k, s, p, bwd) for bwd in (False, True)]
    fam = "linear"
    for n, fin, fout in ((32, 784, 250), (32, 1936, 50), (64, 512, 512)):
        cases += [linear_case(fam, n, fin, fout, bwd) for bwd in (False, True)]
    cases += train_step_cases("training step (forward, loss, backward, optimizer; FLOPs ~ 3x forward)")
    fam = "single-channel filtering vs scipy.signal.correlate2d"
    cases += [filter_case(fam, 512, k, mode) for k in (3, 7) for mode in ("same", "valid")]
    cases += overhead_cases("call overhead (per call)")
    return cases


# ---- checking ------------------------------------------------------------------------------------

def as_arrays(result) -> list:
    """A library's native result (array, tensor, tuple of them, float) as float64 NumPy arrays."""
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in as_arrays(r)]
    if hasattr(result, "detach"):
        result = result.detach().numpy()
    return [np.asarray(result, dtype=np.float64)]


def tolerance(dtype, length: int) -> float:
    """Normwise relative tolerance: 1e-4 (float32) or 1e-10 (float64), grown by sqrt(length/100)
    for long sums (rounding errors of a sum of L terms grow like sqrt(L))."""
    base = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    return base * max(1.0, math.sqrt(length / 100))


def compare(ours: list, ref: list, tol: float, names: Sequence[str]):
    """(worst normwise relative difference, message or None). The difference of one result is
    max|ours - ref| / max|ref| over the whole array; NaN/inf must sit at the same places."""
    if len(ours) != len(ref):
        return math.inf, f"{len(ours)} results against {len(ref)}"
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours, ref)):
        what = names[i] if i < len(names) else f"result {i}"
        if a.shape != b.shape:
            return math.inf, f"{what}: shape {a.shape} against {b.shape}"
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not np.array_equal(fa, fb) or not np.array_equal(a[~fa], b[~fb]):
            return math.inf, f"{what}: NaN/inf at different places"
        if not fa.any():
            continue
        diff = float(np.max(np.abs(a[fa] - b[fb])))
        scale = float(np.max(np.abs(b[fb])))
        rel = diff / scale if scale > 0 else diff
        worst = max(worst, rel)
        if rel > tol:
            return rel, (f"{what}: max |diff| = {diff:.3g}, max |ref| = {scale:.3g}, "
                         f"relative {rel:.3g} > tolerance {tol:.3g}")
    return worst, None


# ---- timing --------------------------------------------------------------------------------------

class LoadMeter:
    """CPU time other processes took while we timed (Linux /proc/stat minus our own os.times()),
    in CPUs on average: 0.0 on a quiet machine, 1.0 when something else kept one CPU busy. Times
    taken while others ran, threaded ones above all, are not to be trusted."""

    @staticmethod
    def _busy() -> Optional[float]:
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, AttributeError):
            return None

    def __enter__(self):
        self.others = None
        self.paused = 0.0
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), sum(os.times()[:2])
        return self

    def pause(self, seconds):
        """Sleep, leaving the pause out of the measured wall time (the other processes' share)."""
        time.sleep(seconds)
        self.paused += seconds

    def __exit__(self, *exc):
        busy = self._busy()
        wall = time.perf_counter() - self.t0 - self.paused
        if busy is not None and self.busy0 is not None and wall > 0:
            own = sum(os.times()[:2]) - self.own0
            self.others = max(0.0, (busy - self.busy0 - own) / wall)
        return False


@dataclass
class Budget:
    seconds: float = 0.3       # per case, all libraries together
    min_reps: int = 5
    max_reps: int = 2000
    sample_s: float = 1e-3     # fast calls are looped so that one sample lasts about this long


# Blocks per library per case, and the pause before each block when more than one thread runs:
# idle worker threads keep spinning for a while after an operation (cnnpy's for 0.5 ms, PyTorch's
# OpenMP workers for milliseconds), and timed against another library's spinning workers a
# library's own threads would share the cores with them. Each library is timed as it runs alone.
BLOCKS = 6
SETTLE_S = 0.03


def measure(fns: dict, budget: Budget, threads: int = 1) -> tuple:
    """Median seconds per call of each function, timed interleaved: warm-up, then BLOCKS rounds in
    which every library runs a block of repetitions, the order reversed every other round (ABBA),
    the garbage collector off. With more than one thread, each block starts after a SETTLE_S pause
    and one untimed call. Returns ({library: seconds}, repetitions, CPUs other processes used)."""
    est = {}
    for lib, fn in fns.items():  # warm-up: two calls each, the second one estimates the cost
        fn()
        t0 = time.perf_counter()
        fn()
        est[lib] = max(time.perf_counter() - t0, 1e-8)
    number = {lib: max(1, min(100_000, int(budget.sample_s / e))) for lib, e in est.items()}
    per_rep = sum(number[lib] * est[lib] for lib in fns)
    reps = int(min(budget.max_reps, max(budget.min_reps, budget.seconds / per_rep)))
    blocks = min(BLOCKS, reps)
    per_block = -(-reps // blocks)
    samples = {lib: [] for lib in fns}
    order = list(fns)
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        with LoadMeter() as meter:
            for blk in range(blocks):
                for lib in (order if blk % 2 == 0 else order[::-1]):
                    fn, k = fns[lib], number[lib]
                    if threads > 1:
                        meter.pause(SETTLE_S)
                        fn()
                    for _ in range(per_block):
                        t0 = time.perf_counter()
                        for _ in range(k):
                            fn()
                        samples[lib].append((time.perf_counter() - t0) / k)
    finally:
        if gc_was_on:
            gc.enable()
    reps = blocks * per_block
    return {lib: statistics.median(s) for lib, s in samples.items()}, reps, meter.others


# ---- machine facts -------------------------------------------------------------------------------

def fma_peak(trial_ms: int = 100) -> tuple:
    """Compile benchmarks/fma_probe.c with cc/gcc from PATH (``-O2 -march=native``) into a temporary
    directory, run it, and return (GFLOP/s per core or None, the probe's line or why not)."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None, "no C compiler (cc, gcc, clang) on PATH"
    src = HERE / "fma_probe.c"
    with tempfile.TemporaryDirectory(prefix="cnnpy-fma-") as tmp:
        exe = os.path.join(tmp, "fma_probe")
        errors = ""
        for flags in (["-O2", "-march=native"], ["-O2"]):
            try:
                r = subprocess.run([cc, *flags, str(src), "-o", exe], check=False, capture_output=True, text=True,
                                   timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                return None, f"{cc} failed: {e}"
            if r.returncode == 0:
                break
            errors = r.stderr.strip().splitlines()[-1:] if r.stderr else ""
        else:
            return None, f"{cc} could not build fma_probe.c: {errors}"
        try:
            r = subprocess.run([exe, str(trial_ms)], check=False, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.SubprocessError) as e:
            return None, f"fma_probe failed: {e}"
    m = re.search(r"([0-9.]+) GFLOP/s", r.stdout)
    if r.returncode != 0 or not m:
        return None, f"fma_probe failed: {r.stdout.strip()} {r.stderr.strip()}"
    details = re.search(r"\((.*)\)", r.stdout)
    line = details.group(1) if details else r.stdout.strip()
    if flags[-1] != "-march=native":
        line += " [built without -march=native]"
    return float(m.group(1)), line


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"}).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
        if m:
            return m.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown"


def engine_isa() -> Optional[str]:
    try:
        from cnnpy import _cnn
    except ImportError:
        return None
    isa = getattr(_cnn, "isa", None)
    if callable(isa):
        isa = isa()
    return None if isa is None else str(isa)


def set_threads(n: int, torch) -> int:
    """Sets both libraries to n threads; returns the thread count cnnpy runs with (what its
    get_num_threads says; n without one; 1 when this cnnpy has no set_num_threads either)."""
    if torch is not None:
        torch.set_num_threads(n)
    setter = getattr(cnnpy, "set_num_threads", None)
    getter = getattr(cnnpy, "get_num_threads", None)
    if setter is not None:
        setter(n)
    return int(getter()) if getter else n if setter else 1


# ---- the run -------------------------------------------------------------------------------------

@dataclass
class Row:
    family: str
    case: str
    threads: int
    us: dict = field(default_factory=dict)  # library -> median µs per call
    gflops: Optional[float] = None
    pct_peak: Optional[float] = None
    ratio: dict = field(default_factory=dict)  # "torch" / "scipy" -> their time / cnnpy's
    check: str = "-"
    max_rel_diff: Optional[float] = None
    reps: int = 0
    others: Optional[float] = None  # CPUs other processes used during the timing


def run_case(case: Case, env: Env, n_threads: int, budget: Budget, peak: Optional[float],
             failures: list, first_results: dict, cnnpy_threads: int) -> Row:
    row = Row(case.family, case.name, n_threads)
    where = f"{case.label} @ {n_threads} thread(s)"
    try:
        fns = case.build(env)
        results = {lib: [] for lib in fns}
        for _ in range(case.check_calls):
            for lib, fn in fns.items():
                results[lib] += as_arrays(fn())
    except Exception as e:  # one broken case must not hide the others
        failures.append(f"{where}: ERROR {type(e).__name__}: {e}")
        print(f"ERROR {where}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        row.check = "ERROR"
        return row
    tol = tolerance(env.dtype, case.length)
    worst, bad = 0.0, []
    for lib in fns:
        if lib == "cnnpy":
            continue
        rel, msg = compare(results["cnnpy"], results[lib], tol, case.outputs)
        worst = max(worst, rel)
        if msg:
            bad.append(f"cnnpy vs {lib}: {msg}")
    key = case.label
    if key in first_results:  # the engine promises bitwise-identical results at any thread count
        first_n, ref = first_results[key]
        if len(ref) != len(results["cnnpy"]) or not all(
                np.array_equal(a, b, equal_nan=True) for a, b in zip(results["cnnpy"], ref)):
            bad.append(f"cnnpy at {n_threads} thread(s) is not bitwise equal to cnnpy at {first_n}")
    else:
        first_results[key] = (n_threads, results["cnnpy"])
    row.max_rel_diff = worst if len(fns) > 1 else None
    if bad:
        row.check = "MISMATCH" + (f" {worst:.0e}" if math.isfinite(worst) and worst > 0 else "")
        for b in bad:
            failures.append(f"{where}: {b}")
            print(f"MISMATCH {where}: {b}", file=sys.stderr, flush=True)
    elif len(fns) > 1:
        row.check = f"ok {worst:.0e}"
    try:
        times, row.reps, row.others = measure(fns, budget, n_threads)
    except Exception as e:
        failures.append(f"{where}: ERROR while timing {type(e).__name__}: {e}")
        print(f"ERROR {where}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        row.check = "ERROR"
        return row
    row.us = {lib: t * 1e6 for lib, t in times.items()}
    for lib in ("torch", "scipy"):
        if lib in times:
            row.ratio[lib] = times[lib] / times["cnnpy"]
    if case.flops is not None:
        row.gflops = case.flops / times["cnnpy"] * 1e-9
        if peak:
            row.pct_peak = 100 * row.gflops / (peak * cnnpy_threads)
    return row


def geomean(values) -> Optional[float]:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def _micro() -> str:
    """'µs' where stdout can print it, 'us' elsewhere."""
    try:
        "µ".encode(sys.stdout.encoding or "ascii")
        return "µ"
    except (UnicodeEncodeError, LookupError):
        return "u"


def _fmt_us(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def format_family(family: str, rows: list, have_torch: bool, threads: Sequence[int]) -> str:
    mu = _micro()
    scipy = any("scipy" in r.us for r in rows)
    cols = ["case", "threads", f"cnnpy {mu}s"]
    if have_torch:
        cols.append(f"torch {mu}s")
    if scipy:
        cols.append(f"scipy {mu}s")
    cols += ["cnnpy GFLOP/s", "% peak"]
    if have_torch:
        cols.append("torch/cnnpy")
    if scipy:
        cols.append("scipy/cnnpy")
    cols.append("check")
    loads = any(r.others is not None for r in rows)
    if loads:
        cols.append("others")
    table = []
    for r in rows:
        line = [r.case, str(r.threads), _fmt_us(r.us.get("cnnpy"))]
        if have_torch:
            line.append(_fmt_us(r.us.get("torch")))
        if scipy:
            line.append(_fmt_us(r.us.get("scipy")))
        line.append("-" if r.gflops is None else f"{r.gflops:.2f}" if r.gflops < 10 else f"{r.gflops:.1f}")
        line.append("-" if r.gflops is None else "n/a" if r.pct_peak is None else f"{r.pct_peak:.1f}")
        if have_torch:
            line.append(f"{r.ratio['torch']:.2f}" if "torch" in r.ratio else "-")
        if scipy:
            line.append(f"{r.ratio['scipy']:.2f}" if "scipy" in r.ratio else "-")
        line.append(r.check)
        if loads:
            line.append("-" if r.others is None else f"{r.others:.1f}")
        table.append(line)
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    out = [f"== {family} =="]
    fmt = lambda cells: "  ".join(
        c.ljust(w) if cols[i] in ("case", "check") else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out.append(fmt(cols).rstrip())
    out += [fmt(t).rstrip() for t in table]
    for lib in ("torch", "scipy") if have_torch else ("scipy",):
        if lib == "scipy" and not scipy:
            continue
        parts = []
        for n in threads:
            g = geomean(r.ratio.get(lib) for r in rows if r.threads == n)
            if g is not None:
                parts.append(f"{n} thread{'s' if n > 1 else ''} {g:.2f}")
        if parts:
            out.append(f"geomean {lib}/cnnpy: " + ", ".join(parts))
    return "\n".join(out)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--quick", action="store_true", help="few repetitions, small time budget (tests)")
    p.add_argument("--filter", action="append", default=[], metavar="SUBSTRING",
                   help="run only cases whose 'family: case' (see --list) contains SUBSTRING "
                        "(case-insensitive); repeat it, or separate substrings with '|', for several")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--float64", action="store_true", help="float64 instead of float32 everywhere")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="timing budget per case (default 0.3, --quick 0.02)")
    p.add_argument("--seed", type=int, default=0, help="seed of the input data (default 0)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    args = p.parse_args(argv)
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if not args.threads or min(args.threads) < 1:
        p.error(f"--threads must be positive, got {args.threads}")
    args.filter = [s.strip().lower() for f in args.filter for s in f.split("|") if s.strip()]
    return args


def main(argv=None) -> int:
    """Run the benchmark; returns 0, or 1 when a result disagreed or a case failed."""
    args = parse_args(argv)
    cases = [c for c in all_cases() if not args.filter or any(f in c.label.lower() for f in args.filter)]
    if args.list:
        for c in cases:
            print(c.label)
        return 0
    if not cases:
        print(f"no case matches --filter {args.filter}", file=sys.stderr)
        return 1

    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    try:
        import scipy
        from scipy import signal
    except ImportError:
        scipy = signal = None
    dtype = np.dtype(np.float64 if args.float64 else np.float32)
    env = Env(dtype, args.seed, torch, signal)
    budget = Budget(0.02, 3, 200, 2e-4) if args.quick else Budget()
    if args.budget is not None:
        budget.seconds = args.budget

    peak, probe = fma_peak(20 if args.quick else 100)
    header = {
        "machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cnnpy": cnnpy.__version__,
        "cnnpy ISA": engine_isa() or "not reported by cnnpy._cnn",
        "torch": (f"{torch.__version__}" + (f" (CPU capability {torch.backends.cpu.get_cpu_capability()})"
                                           if hasattr(torch.backends, "cpu") else ""))
        if torch else ("left out (--no-torch)" if args.no_torch else "not installed"),
        "scipy": scipy.__version__ if scipy else "not installed",
        "dtype": str(dtype) + (" (% peak against half the float32 peak)" if dtype == np.float64 else ""),
        "threads": ", ".join(map(str, args.threads)),
        "load average": ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a",
        "peak (FMA probe)": f"{peak:.1f} GFLOP/s per core ({probe})" if peak else f"n/a ({probe})",
    }
    print("cnnpy benchmark: " + ("quick" if args.quick else "full") +
          f" run, median of interleaved repetitions, about {budget.seconds:g} s per case")
    for k, v in header.items():
        print(f"{k}: {v}")
    if not hasattr(cnnpy, "set_num_threads"):
        n = cnnpy.get_num_threads() if hasattr(cnnpy, "get_num_threads") else "1 assumed"
        print("NOTE: this cnnpy has no set_num_threads(): cnnpy runs with its default thread count "
              f"({n}) at every thread setting; only PyTorch follows the threads column")
    print("columns: times are medians per call; " + ("torch/cnnpy and " if torch else "") +
          "scipy/cnnpy = their time over cnnpy's "
          "(above 1: cnnpy is faster); % peak = cnnpy GFLOP/s over (peak x cnnpy's threads); "
          "check = worst normwise relative difference from the other libraries; others = CPUs that "
          "other processes used during the timing (above ~0.2 the row is not to be trusted)")
    big = [n for n in args.threads if n > (os.cpu_count() or 1)]
    if big:
        print(f"WARNING: {big} thread(s) asked for, but only {os.cpu_count()} logical CPUs")
    print(flush=True)

    # the probe measures float32; a float64 vector holds half as many lanes
    dtype_peak = peak / 2 if peak and dtype == np.float64 else peak
    failures, rows, first_results = [], [], {}
    before = (cnnpy.get_num_threads() if hasattr(cnnpy, "get_num_threads") else None,
              torch.get_num_threads() if torch else None)
    try:
        for n in args.threads:
            cnnpy_threads = set_threads(n, torch)
            for case in cases:
                rows.append(run_case(case, env, n, budget, dtype_peak, failures, first_results, cnnpy_threads))
    finally:  # leave both libraries as they were (main() may run inside a test or a notebook)
        if before[0] is not None:
            cnnpy.set_num_threads(before[0])
        if before[1] is not None:
            torch.set_num_threads(before[1])

    families = list(dict.fromkeys(c.family for c in cases))
    order = {c.label: i for i, c in enumerate(cases)}
    for fam in families:
        fam_rows = sorted((r for r in rows if r.family == fam),
                          key=lambda r: (order[f"{r.family}: {r.case}"], r.threads))
        print(format_family(fam, fam_rows, torch is not None, args.threads))
        print()

    if args.json:
        doc = {"header": header, "peak_gflops_per_core": peak, "budget_s": budget.seconds,
               "results": [vars(r) for r in rows], "failures": failures}
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str))
    busy = [r for r in rows if r.others is not None and r.others > 0.2]
    if busy:
        print(f"WARNING: other processes used more than 0.2 CPU while {len(busy)} of {len(rows)} rows "
              f"were timed (column 'others', worst {max(r.others for r in busy):.1f}); rerun those on "
              "a quiet machine before trusting them")
    if failures:
        print(f"FAILED: {len(failures)} check(s) failed:")
        for f in failures:
            print(f"  {f}")
        return 1
    compared = sum(r.max_rel_diff is not None for r in rows)
    print(f"all {compared} compared results agree" +
          (f"; {len(rows) - compared} row(s) had no other library to compare with" if compared < len(rows) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
