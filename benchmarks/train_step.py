"""Whole training steps of the lecture's networks: cnnpy's compiled step (``cnnpy.compile``: the
network in the engine, one call per step), cnnpy's layer-by-layer step (``zero_grad``, forward,
loss, backward, ``optimizer.step()``) and PyTorch's, timed interleaved in one process at the same
thread count, from the same weights and data (the first step's losses are checked to agree).
Also: GausNet inference on a batch of 200, minor page faults per steady-state step, and the peak
memory (RSS) of training, each library in a fresh process.

    python benchmarks/train_step.py [--threads 1,2] [--repeats 30] [--batch 32] [--filter NAME]
                                    [--no-rss] [--json PATH]
    python -m cnnpy bench steps [same options]

Columns: times are medians of interleaved steps (blocks of steps of each variant in turn, see
``interleaved``); torch/compiled and torch/layer are PyTorch's time
over cnnpy's (above 1: cnnpy is faster); faults = minor page faults (``ru_minflt``) per step over
20 steps after warm-up; RSS = the process's peak resident memory (``VmHWM``) in a fresh process
that trains 20 steps, and "training" = that peak less the resident memory after the imports and
the data (what training itself added).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple, Optional

import numpy as np

import cnnpy
from cnnpy import models, nn, optim


class Net(NamedTuple):
    """One benchmark network: the model, its data, its loss and optimizer, for cnnpy and torch."""
    name: str
    make: Callable[[int], nn.Module]                # seed -> model
    data: Callable[[np.random.Generator, int], tuple]  # rng, batch -> (x, target)
    loss: Callable[[], nn.Module]
    torch_loss: str                                 # the torch.nn class of the same loss
    optimizer: str = "Adam"                         # the class of cnnpy.optim and torch.optim
    lr: float = 1e-3
    inference: bool = False                         # time step.forward / model(x) in eval mode


def _gaussians(rng, b):
    return rng.standard_normal((b, 1, 91, 91)), (rng.random((b, 1)) > 0.5) * 1.0


def _same(x):
    return x, x


NETS = [
    Net("GausNet (BCE-with-logits, Adam)", lambda s: models.GausNet(rng=s), _gaussians,
        nn.BCEWithLogitsLoss, "BCEWithLogitsLoss"),
    Net("Gaussian autoencoder (MSE, Adam)", lambda s: models.GaussianAutoencoder(rng=s),
        lambda rng, b: _same(rng.standard_normal((b, 1, 91, 91))), nn.MSELoss, "MSELoss"),
    Net("All-Convolutional net (BCE-with-logits, Adam)", lambda s: models.AllConvNet(rng=s), _gaussians,
        nn.BCEWithLogitsLoss, "BCEWithLogitsLoss"),
    Net("MnistNet (cross entropy, AdamW)", lambda s: models.MnistNet(rng=s),
        lambda rng, b: (rng.random((b, 1, 28, 28)), rng.integers(0, 10, b)), nn.CrossEntropyLoss,
        "CrossEntropyLoss", optimizer="AdamW"),
    Net("dense autoencoder 784-250-50 (MSE, Adam)", lambda s: models.DenseAutoencoder(rng=s),
        lambda rng, b: _same(rng.random((b, 784))), nn.MSELoss, "MSELoss"),
    Net("GausNet inference", lambda s: models.GausNet(rng=s), _gaussians, nn.BCEWithLogitsLoss,
        "BCEWithLogitsLoss", inference=True),
]

VARIANTS = ("compiled", "layer", "torch")


def _arrays(net: Net, batch: int, dtype, seed: int = 0):
    x, y = net.data(np.random.default_rng(seed), batch)
    x = np.ascontiguousarray(x, dtype)
    y = np.ascontiguousarray(y, np.int64 if y.dtype.kind in "iu" else dtype)
    return x, y


def build(net: Net, variant: str, batch: int, dtype=np.float32, seed: int = 0, torch=None):
    """A function that runs one step (or one inference) of `variant` and returns the loss (or
    the output), each variant on its own copy of the same initial weights."""
    model = net.make(seed)
    model.astype(dtype)
    x, y = _arrays(net, batch, dtype, seed)
    if variant == "torch":
        tmodel = cnnpy.to_torch(model)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        if net.inference:
            tmodel.eval()

            def infer():
                with torch.no_grad():
                    return tmodel(tx).numpy()
            return infer
        topt = getattr(torch.optim, net.optimizer)(tmodel.parameters(), lr=net.lr)
        tcrit = getattr(torch.nn, net.torch_loss)()

        def torch_step():
            topt.zero_grad()
            loss = tcrit(tmodel(tx), ty)
            loss.backward()
            topt.step()
            return loss.item()
        return torch_step
    opt = getattr(optim, net.optimizer)(model.parameters(), lr=net.lr)
    crit = net.loss()
    if variant == "compiled":
        step = cnnpy.compile(model, crit, opt)
        if net.inference:
            model.eval()
            return lambda: step.forward(x)
        return lambda: step(x, y)
    if net.inference:
        model.eval()
        return lambda: model(x)

    def layer_step():
        opt.zero_grad()
        loss = crit(model(x), y)
        model.backward(crit.backward())
        opt.step()
        return float(loss)
    return layer_step


def minor_faults(fn, steps: int = 20) -> float:
    """Minor page faults per call of fn over `steps` calls (after two warm-up calls)."""
    fn(), fn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps


BLOCKS = 6       # rounds of interleaving; each variant runs repeats / BLOCKS steps in a row per round
SETTLE_S = 0.03  # with threads: the pause before a block


def interleaved(fns: dict, repeats: int, threads: int = 1) -> dict:
    """Median seconds per call of each function, timed interleaved: BLOCKS rounds in which every
    function runs a block of about repeats / BLOCKS calls, the order reversed every other round.
    With more than one thread, each block starts after a SETTLE_S pause and one untimed call: a
    thread pool spins for a while after its work (PyTorch's OpenMP threads, and cnnpy's for half a
    millisecond), and one call after another library's would find the second core taken by the
    other library's spinning thread — that measured cnnpy's compiled steps 0.65-0.90x slower at 2
    threads than at 1, and 1.07-2.05x faster without PyTorch in the process."""
    for f in fns.values():
        f()
    times = {k: [] for k in fns}
    blocks = max(1, min(BLOCKS, repeats))
    per_block = -(-repeats // blocks)
    order = list(fns)
    for blk in range(blocks):
        for k in (order if blk % 2 == 0 else order[::-1]):
            f = fns[k]
            if threads > 1:
                time.sleep(SETTLE_S)
                f()
            for _ in range(per_block):
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_child(name: str, variant: str, batch: int, steps: int) -> dict:
    """In this (fresh) process: the peak RSS of `steps` steps of one variant, in KiB."""
    net = next(n for n in NETS if n.name == name)
    torch = None
    if variant == "torch":
        import torch
        torch.set_num_threads(1)
    cnnpy.set_num_threads(1)
    _arrays(net, batch, np.float32)  # the data's memory belongs to the baseline
    base = _status_kib("VmRSS")
    fn = build(net, variant, batch, np.float32, torch=torch)
    for _ in range(steps):
        fn()
    # VmHWM, not ru_maxrss: a child keeps the forking parent's ru_maxrss across exec
    peak = _status_kib("VmHWM")
    return {"baseline_kib": base, "peak_kib": peak, "training_kib": peak - base}


def measure_rss(net: Net, variant: str, batch: int, steps: int = 20) -> Optional[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), "--_rss-child", net.name, variant,
           "--batch", str(batch), "--steps", str(steps)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"RSS of {net.name} ({variant}) failed:\n{r.stderr}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def _losses_agree(values: dict, tol: float = 1e-4) -> Optional[str]:
    ref = values.get("torch", values["layer"])
    for k, v in values.items():
        a, b = np.asarray(v, np.float64), np.asarray(ref, np.float64)
        if a.shape != b.shape or np.max(np.abs(a - b), initial=0) > tol * max(1.0, np.max(np.abs(b), initial=0)):
            return f"{k} gives {a.ravel()[:3]}..., expected {b.ravel()[:3]}..."
    return None


def run(nets, threads, repeats: int, batch: int, torch, rss: bool) -> dict:
    rows = []
    for n_threads in threads:
        cnnpy.set_num_threads(n_threads)
        if torch:
            torch.set_num_threads(n_threads)
        for net in nets:
            b = 200 if net.inference else batch
            variants = [v for v in VARIANTS if v != "torch" or torch]
            fns = {v: build(net, v, b, torch=torch) for v in variants}
            first = {v: fns[v]() for v in variants}
            problem = _losses_agree(first)
            if problem:
                raise SystemExit(f"{net.name}: the first step disagrees: {problem}")
            med = interleaved(fns, repeats, n_threads)
            faults = {v: minor_faults(fns[v]) for v in variants}
            rows.append({"network": net.name, "batch": b, "threads": n_threads,
                         "ms": {v: med[v] * 1e3 for v in variants}, "faults_per_step": faults})
    memory = []
    if rss:
        for net in nets:
            if net.inference:
                continue
            memory.append({"network": net.name, "batch": batch,
                           **{v: measure_rss(net, v, batch) for v in VARIANTS if v != "torch" or torch}})
    return {"rows": rows, "memory": memory}


def report(result: dict, have_torch: bool) -> str:
    out = []
    for n_threads in sorted({r["threads"] for r in result["rows"]}):
        out.append(f"\n{n_threads} thread(s)")
        head = f"{'network':47s} {'batch':>5s} {'compiled ms':>11s} {'layer ms':>9s}"
        if have_torch:
            head += f" {'torch ms':>9s} {'torch/compiled':>14s} {'torch/layer':>11s}"
        out.append(head + f"   faults/step (compiled, layer{', torch' if have_torch else ''})")
        for r in (r for r in result["rows"] if r["threads"] == n_threads):
            ms = r["ms"]
            line = f"{r['network']:47s} {r['batch']:5d} {ms['compiled']:11.2f} {ms['layer']:9.2f}"
            if have_torch:
                line += (f" {ms['torch']:9.2f} {ms['torch'] / ms['compiled']:14.2f}"
                         f" {ms['torch'] / ms['layer']:11.2f}")
            f = r["faults_per_step"]
            line += "   " + ", ".join(f"{f[v]:.1f}" for v in VARIANTS if v in f)
            out.append(line)
    by = {(r["network"], r["threads"]): r["ms"]["compiled"] for r in result["rows"]}
    pairs = [(name, by[(name, 1)] / by[(name, 2)]) for (name, t) in by if t == 1 and (name, 2) in by]
    if pairs:
        out.append("\ncompiled step, 2 threads over 1 thread (speed-up)")
        out += [f"{name:47s} {s:5.2f}x" for name, s in pairs]
    if result["memory"]:
        out.append("\npeak RSS of 20 training steps in a fresh process, MiB (training = peak less "
                   "the RSS after imports and data)")
        out.append(f"{'network':47s} " + " ".join(f"{v + ' peak':>14s} {v + ' training':>17s}"
                                                  for v in VARIANTS if v in result["memory"][0]))
        for m in result["memory"]:
            cells = []
            for v in VARIANTS:
                if v not in m:
                    continue
                r = m[v]
                cells.append(f"{r['peak_kib'] / 1024:14.1f} {r['training_kib'] / 1024:17.1f}" if r
                             else f"{'failed':>14s} {'':>17s}")
            out.append(f"{m['network']:47s} " + " ".join(cells))
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="benchmarks/train_step.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeats", type=int, default=30,
                   help="timed steps per variant, in interleaved blocks (default 30)")
    p.add_argument("--batch", type=int, default=32, help="training batch (default 32; inference 200)")
    p.add_argument("--filter", action="append", default=[], metavar="SUBSTRING",
                   help="only networks whose name contains it (case-insensitive; repeatable)")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--_rss-child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=20, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._rss_child:
        print(json.dumps(rss_child(*args._rss_child, args.batch, args.steps)))
        return 0
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if not threads or min(threads) < 1:
        p.error(f"--threads must be positive, got {args.threads!r}")
    if args.repeats < 1 or args.batch < 1:
        p.error(f"--repeats and --batch must be >= 1, got {args.repeats} and {args.batch}")
    nets = [n for n in NETS if not args.filter or any(f.lower() in n.name.lower() for f in args.filter)]
    if not nets:
        p.error(f"no network matches --filter {args.filter}")
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"cnnpy {cnnpy.__version__} ({cnnpy.get_isa()}), "
          + (f"torch {torch.__version__}" if torch else "no torch")
          + f", float32, median of {args.repeats} interleaved steps; {platform.machine()}, "
            f"{os.cpu_count()} CPUs, load average {load}", flush=True)
    before = cnnpy.get_num_threads(), torch.get_num_threads() if torch else None
    try:
        result = run(nets, threads, args.repeats, args.batch, torch, not args.no_rss)
    finally:
        cnnpy.set_num_threads(before[0])
        if torch:
            torch.set_num_threads(before[1])
    print(report(result, torch is not None))
    if args.json:
        result["header"] = {"cnnpy": cnnpy.__version__, "isa": cnnpy.get_isa(),
                            "torch": torch.__version__ if torch else None, "load average": load,
                            "repeats": args.repeats}
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
