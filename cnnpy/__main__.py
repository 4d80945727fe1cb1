"""Command line: ``python -m cnnpy info`` (version, instruction set, threads), ``python -m cnnpy
demo`` (the lecture's edge detection, then GausNet trained on its 2-D Gaussians), ``python -m
cnnpy bench`` (benchmarks/run.py of a source checkout, against PyTorch and SciPy) and ``python -m
cnnpy bench steps`` (benchmarks/train_step.py: whole training steps, compiled and layer by layer,
against PyTorch, with page faults and peak memory)."""
from __future__ import annotations

import argparse
import platform
import runpy
import sys
import time
from pathlib import Path

import numpy as np

import cnnpy
import cnnpy.functional as F


def info() -> None:
    print(f"cnnpy {cnnpy.__version__}")
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.system()})")
    print(f"numpy {np.__version__}")
    print(f"instruction set: {cnnpy.get_isa()} (available: {', '.join(cnnpy.available_isas())}; "
          f"CNNPY_ISA chooses)")
    print(f"threads: {cnnpy.get_num_threads()} (CNNPY_NUM_THREADS chooses)")
    print("engine: C11 kernels (direct rows, im2col tiles + packed GEMM), float32 and float64")


def demo(epochs: int = 4, seed: int = 0, progress: bool = True) -> float:
    """The lecture's edge detection, then GausNet trained for ``epochs`` with the lecture's recipe
    (BCE with logits, Adam 1e-3, batch 32, 90/10 split); returns the test accuracy."""
    image = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)
    kernel = cnnpy.kernels.edge()
    with np.printoptions(formatter={"float": lambda v: f"{v:4.0f}"}):
        _show(image, kernel)
    return _train_gausnet(epochs, seed, progress)


def _train_gausnet(epochs: int, seed: int, progress: bool) -> float:
    from cnnpy import data, datasets, models, nn, optim

    print(f"\nGausNet: is the Gaussian in a 91x91 image narrow (sigma 1.8) or wide (2.4)? "
          f"{epochs} epochs, seed {seed}")
    cnnpy.manual_seed(seed)
    images, labels = datasets.gaussians(n_per_class=1000, seed=seed)
    train_set, test_set = data.random_split(data.TensorDataset(images, labels), [0.9, 0.1], seed=seed)
    model = models.GausNet()
    print(cnnpy.summary(model, (1, 1, 91, 91)))
    start = time.perf_counter()
    hist = cnnpy.train(model, data.DataLoader(train_set, batch_size=32, shuffle=True, seed=seed),
                       nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-3), epochs,
                       val_loader=data.DataLoader(test_set, batch_size=200), metrics=["accuracy"],
                       progress=progress)
    seconds = time.perf_counter() - start
    acc = hist["val_accuracy"][-1] if epochs else cnnpy.evaluate(
        model, data.DataLoader(test_set, batch_size=200), nn.BCEWithLogitsLoss(), ["accuracy"])["accuracy"]
    how = ("trained in C: one engine call per step (cnnpy.compile)" if hist.compiled
           else "trained layer by layer")
    print(f"test accuracy {acc:.1%} on {len(test_set)} images after {epochs} epochs "
          f"({seconds:.1f} s, {how}, {cnnpy.get_num_threads()} threads, {cnnpy.get_isa()})")
    return acc


def bench(args) -> int:
    """Runs benchmarks/run.py of the source checkout this package was imported from, or with
    ``steps`` first, benchmarks/train_step.py (whole training steps: compiled, layer by layer and
    PyTorch's; page faults; peak memory)."""
    name = "run.py"
    if args[:1] == ["steps"]:
        name, args = "train_step.py", args[1:]
    script = Path(cnnpy.__file__).resolve().parent.parent / "benchmarks" / name
    if not script.is_file():
        print(f"python -m cnnpy bench runs benchmarks/{name} of a source checkout; this installation "
              f"has none (looked for {script}). Clone the repository and install it with "
              "pip install -e '.[test]'.", file=sys.stderr)
        return 2
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _show(image: np.ndarray, kernel: np.ndarray) -> None:
    print("The lecture's image I and horizontal-edge kernel K:")
    print(image, "\n", kernel, sep="")
    print("\nconv2d(I, K)                      (valid, " + cnnpy.conv_output_size(5, 3, explain=True) + ")")
    print(F.conv2d(image, kernel))
    print("\nconv2d(I, K, padding=1)           (" + cnnpy.conv_output_size(5, 3, padding=1, explain=True) + ")")
    print(F.conv2d(image, kernel, padding=1))
    print("\nconv2d(I, K, padding=1, stride=2) (" + cnnpy.conv_output_size(5, 3, 2, 1, explain=True) + ")")
    print(F.conv2d(image, kernel, padding=1, stride=2))
    for mode in ("reflect", "symmetric", "replicate", "circular"):
        print(f"\nconv2d(I, K, padding=1, padding_mode={mode!r})")
        print(F.conv2d(image, kernel, padding=1, padding_mode=mode))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the rest goes to benchmarks/run.py, or after "steps" to train_step.py
        return bench(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m cnnpy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, instruction set and threads")
    d = sub.add_parser("demo", help="the lecture's edge detection, then GausNet trained briefly")
    d.add_argument("--epochs", type=int, default=4, help="GausNet training epochs (default 4)")
    d.add_argument("--seed", type=int, default=0, help="seed of the data and the model (default 0)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    sub.add_parser("bench", help="benchmarks/run.py against PyTorch and SciPy; 'bench steps': whole "
                                 "training steps, compiled and layer by layer (source checkout)")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    elif args.command == "demo":
        if args.epochs < 0:
            parser.error(f"--epochs must be >= 0, got {args.epochs}")
        demo(args.epochs, args.seed, not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())
