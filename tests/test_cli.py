"""The command line: ``python -m cnnpy info | demo | bench``."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnpy
import cnnpy.functional as F
from cnnpy.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args, timeout=300, threads=None):
    env = dict(os.environ, **({"CNNPY_NUM_THREADS": str(threads)} if threads else {}))
    return subprocess.run([sys.executable, "-m", "cnnpy", *args], capture_output=True, text=True,
                          check=False, timeout=timeout, cwd=ROOT, env=env)


def test_info_names_version_isa_and_threads():
    out = run("info", threads=3)
    assert out.returncode == 0, out.stderr
    assert f"cnnpy {cnnpy.__version__}" in out.stdout
    assert f"instruction set: {cnnpy.get_isa()}" in out.stdout
    assert "threads: 3 (CNNPY_NUM_THREADS chooses)" in out.stdout


def test_demo_edge_detection_and_untrained_gausnet(capsys):
    """With --epochs 0 the demo prints the lecture's results and the untrained net's accuracy."""
    assert main(["demo", "--epochs", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    image = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, float)
    valid = F.conv2d(image, cnnpy.kernels.edge())
    for row in valid:  # the printed valid result, row by row
        assert " ".join(f"{v:4.0f}" for v in row).strip() in out
    assert "total parameters: 97,181" in out
    assert "test accuracy" in out and "after 0 epochs" in out


@pytest.mark.slow
def test_demo_trains_gausnet_to_the_lecture_accuracy():
    out = run("demo", "--no-progress")
    assert out.returncode == 0, out.stderr
    line = [s for s in out.stdout.splitlines() if s.startswith("test accuracy")][-1]
    acc = float(line.split()[2].rstrip("%")) / 100
    assert acc >= 0.9, line


def test_bad_arguments_are_refused():
    out = run("demo", "--epochs", "-1")
    assert out.returncode != 0 and "--epochs must be >= 0, got -1" in out.stderr
    out = run("train")
    assert out.returncode != 0 and "invalid choice: 'train'" in out.stderr


def test_bench_forwards_its_arguments_to_the_benchmark_script():
    """From a source checkout, bench runs its benchmarks/run.py; from an installed wheel (CI's
    .ci/wheel.sh) there is none, and it says so."""
    out = run("bench", "--help")
    script = Path(cnnpy.__file__).resolve().parent.parent / "benchmarks" / "run.py"
    if not script.is_file():
        assert out.returncode == 2 and "runs benchmarks/run.py of a source checkout" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert "usage" in out.stdout.lower()


def test_bench_steps_runs_the_training_step_benchmark():
    out = run("bench", "steps", "--help")
    script = Path(cnnpy.__file__).resolve().parent.parent / "benchmarks" / "train_step.py"
    if not script.is_file():
        assert out.returncode == 2 and "runs benchmarks/train_step.py of a source checkout" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert "benchmarks/train_step.py" in out.stdout and "--threads" in out.stdout
