"""The network engine's training step (C, tests/c/test_net.c `bench`) against PyTorch on the same
lecture networks, batch 32, float32, at one thread count, alternating the two back to back and
reporting medians, so that both see the same machine load.

    python benchmarks/net_vs_torch.py [--threads 1] [--rounds 5] [--steps 15] [--exe PATH]

Without --exe the script builds test_net (gcc, csrc/*.c, setup.py's -O3 flags) into a temporary directory. The C
side times `cnn_net_step` (compiled, fused); PyTorch times zero_grad, forward, loss, backward and
the optimizer step. The models are cnnpy/models.py's (GausNet, GaussianAutoencoder, AllConvNet,
MnistNet, DenseAutoencoder), with the losses and optimizers test_net's bench gives them: Adam
(AdamW, weight decay 0.01, for the MNIST net; its cross entropy has label_smoothing 0.1 as in
test_net's models), BCE-with-logits for the classifiers, MSE for the autoencoders; and GausNet
inference (eval, no grad) on a batch of 200.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["-std=c11", "-O3", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast"]  # setup.py's


def build(out: Path) -> Path:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    exe = out / "test_net"
    cmd = [cc, *FLAGS, f"-I{ROOT / 'csrc'}", str(ROOT / "tests" / "c" / "test_net.c"),
           *map(str, sorted((ROOT / "csrc").glob("*.c"))), "-o", str(exe), "-pthread", "-lm"]
    subprocess.run(cmd, check=True)
    return exe


def torch_models(torch):
    t = torch.nn

    def gausnet(pool2=None, pool5=None):
        return t.Sequential(t.Conv2d(1, 6, 3, padding=1), t.ReLU(), pool2 or t.AvgPool2d(2, 2),
                            t.Conv2d(6, 4, 3, padding=1), t.ReLU(), pool5 or t.AvgPool2d(2, 2),
                            t.Flatten(), t.Linear(1936, 50), t.Linear(50, 1))

    def ae():
        return t.Sequential(t.Conv2d(1, 6, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                            t.Conv2d(6, 4, 3, padding=1), t.ReLU(), t.MaxPool2d(2),
                            t.ConvTranspose2d(4, 6, 3, stride=2), t.ReLU(),
                            t.ConvTranspose2d(6, 1, 3, stride=2))

    def mnist():
        return t.Sequential(t.Conv2d(1, 10, 5, padding=1), t.MaxPool2d(2), t.ReLU(),
                            t.Conv2d(10, 20, 5, padding=1), t.MaxPool2d(2), t.ReLU(),
                            t.Flatten(), t.Linear(500, 50), t.ReLU(), t.Linear(50, 10))

    def dense():
        return t.Sequential(t.Linear(784, 250), t.ReLU(), t.Linear(250, 50), t.ReLU(),
                            t.Linear(50, 250), t.ReLU(), t.Linear(250, 784), t.Sigmoid())

    g = torch.Generator().manual_seed(0)
    img = torch.randn(32, 1, 91, 91, generator=g)
    labels = (torch.rand(32, 1, generator=g) > 0.5).float()
    digits = torch.rand(32, 1, 28, 28, generator=g)
    classes = torch.randint(0, 10, (32,), generator=g)
    flat = torch.rand(32, 784, generator=g)
    adam = torch.optim.Adam
    return {
        "GausNet": (gausnet(), t.BCEWithLogitsLoss(), adam, img, labels),
        "Gaussian autoencoder": (ae(), t.MSELoss(), adam, img, img),
        "All-Conv": (gausnet(t.Conv2d(6, 6, 2, stride=2), t.Conv2d(4, 4, 2, stride=2)),
                     t.BCEWithLogitsLoss(), adam, img, labels),
        "MnistNet": (mnist(), t.CrossEntropyLoss(label_smoothing=0.1),
                     lambda p, lr: torch.optim.AdamW(p, lr=lr, weight_decay=0.01), digits, classes),
        "dense autoencoder": (dense(), t.MSELoss(), adam, flat, flat),
    }


def torch_ms(torch, case, steps: int) -> float:
    if case == "GausNet inference":
        model = torch_models.cache["GausNet"][0].eval()
        x = torch.randn(200, 1, 91, 91)
        times = []
        with torch.no_grad():
            for k in range(steps + 3):
                t0 = time.perf_counter()
                model(x)
                if k >= 3:
                    times.append(time.perf_counter() - t0)
        model.train()
        return 1e3 * statistics.median(times)
    model, loss_fn, opt_cls, x, y = torch_models.cache[case]
    opt = torch_models.opts.setdefault(case, opt_cls(model.parameters(), lr=1e-3))
    times = []
    for k in range(steps + 3):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if k >= 3:
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def c_ms(exe: Path, case: str, threads: int, steps: int) -> float:
    out = subprocess.run([str(exe), "bench", str(steps), str(threads), case], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"(\d+\.\d+) ms wall", out)
    if not m:
        raise RuntimeError(f"no timing in test_net's output:\n{out}")
    return float(m.group(1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--exe", type=Path)
    ap.add_argument("--only", help="one case (its name)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch_models.cache = torch_models(torch)
    torch_models.opts = {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = args.exe or build(Path(tmp))
        cases = [*torch_models.cache, "GausNet inference"]
        if args.only:
            cases = [c for c in cases if c == args.only]
        print(f"torch {torch.__version__}, {args.threads} thread(s), batch 32 (inference 200), float32; "
              f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        print(f"{'network':24s} {'cnn_net ms':>10s} {'torch ms':>9s} {'ratio':>6s}  (medians of {args.rounds} "
              f"alternating rounds of {args.steps} steps)")
        for case in cases:
            cs, ts = [], []
            for _ in range(args.rounds):
                cs.append(c_ms(exe, case, args.threads, args.steps))
                ts.append(torch_ms(torch, case, args.steps))
            c, t = statistics.median(cs), statistics.median(ts)
            print(f"{case:24s} {c:10.3f} {t:9.3f} {t / c:6.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
