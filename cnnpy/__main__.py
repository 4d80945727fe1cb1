"""Command line: ``python -m cnnpy info`` (version and build facts) and ``python -m cnnpy demo``
(the lecture's edge detection, computed by the engine)."""
from __future__ import annotations

import argparse
import platform
import sys

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


def demo() -> None:
    image = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)
    kernel = np.array([[1, 1, 1], [-1, -1, -1], [0, 0, 0]], dtype=float)
    with np.printoptions(formatter={"float": lambda v: f"{v:4.0f}"}):
        _show(image, kernel)


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
    parser = argparse.ArgumentParser(prog="python -m cnnpy", description=__doc__)
    parser.add_argument("command", choices=["info", "demo"])
    args = parser.parse_args(argv)
    {"info": info, "demo": demo}[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
