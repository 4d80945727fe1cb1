"""benchmarks/run.py: its FLOP formulas, its result check, and a quick run end to end (the timings
themselves are not tested; benchmarks/ is not part of the pass/fail suite)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnpy
from cnnpy import nn

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/run.py loaded by path, as `python -m cnnpy bench` will load it."""
    spec = importlib.util.spec_from_file_location("cnnpy_benchmarks_run", RUN_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- FLOP formulas -------------------------------------------------------------------------------

@pytest.mark.parametrize("n, c_in, c_out, hw, k, s, p, groups", [
    (1, 1, 6, 91, 3, 1, 1, 1),      # lecture
    (32, 6, 4, 89, 3, 1, 1, 1),     # lecture, batched
    (8, 16, 32, 32, 3, 2, 1, 1),    # strided
    (1, 256, 256, 14, 1, 1, 0, 1),  # 1x1
    (2, 4, 8, 9, 3, 1, 0, 2),       # grouped
], ids=lambda v: str(v))
def test_conv_flops_is_twice_the_multiply_adds_of_summary(bench, n, c_in, c_out, hw, k, s, p, groups):
    oh = cnnpy.conv_output_size(hw, k, s, p)
    expected = 2 * n * c_out * oh * oh * (c_in // groups) * k * k
    assert bench.conv_flops(n, c_in, c_out, (oh, oh), (k, k), groups) == expected
    layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, groups=groups)
    assert expected == 2 * cnnpy.summary(layer, (n, c_in, hw, hw)).total_mult_adds


def test_conv_flops_known_values(bench):
    assert bench.conv_flops(1, 1, 6, (91, 91), (3, 3)) == 894_348
    assert bench.conv_flops(16, 8, 16, (1024,), (5,)) == 2 * 16 * 16 * 1024 * 8 * 5  # conv1d


def test_conv_transpose_flops_equal_the_conv_it_transposes(bench):
    # (8, 32->16, 16x16) k4 s2 p1 gives 32x32; it is the input gradient of the conv 16->32, 32x32 -> 16x16
    assert bench.conv_transpose_flops(8, 32, 16, (16, 16), (4, 4)) == bench.conv_flops(8, 16, 32, (16, 16), (4, 4))
    layer = nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1)
    assert bench.conv_transpose_flops(8, 32, 16, (16, 16), (4, 4)) == \
        2 * cnnpy.summary(layer, (8, 32, 16, 16)).total_mult_adds


def test_linear_flops(bench):
    assert bench.linear_flops(32, 1936, 50) == 2 * 32 * 1936 * 50
    assert bench.linear_flops(64, 512, 512) == 2 * 64 * 512 * 512


def test_model_flops_of_gausnet(bench):
    net = next(n for n in bench._train_step_module().NETS if n.name.startswith("GausNet")).make(0)
    by_hand = 2 * (32 * 6 * 91 * 91 * 1 * 9      # conv 1->6, 91x91
                   + 32 * 4 * 45 * 45 * 6 * 9    # conv 6->4 after the first 2x2 average pool
                   + 32 * 1936 * 50 + 32 * 50)   # the two linear layers
    assert bench.model_flops(net, (32, 1, 91, 91)) == by_hand


def test_case_flops_backward_is_twice_forward(bench):
    fwd = bench.conv2d_case("f", 1, 64, 64, 56)
    bwd = bench.conv2d_case("f", 1, 64, 64, 56, backward=True)
    assert fwd.flops == bench.conv_flops(1, 64, 64, (56, 56), (3, 3))
    assert bwd.flops == 2 * fwd.flops
    assert bench.linear_case("l", 64, 512, 512, True).flops == 2 * bench.linear_flops(64, 512, 512)
    assert bench.pool_case("p", "max", 8, 64, 56, 3, 2, 1, False).flops is None


# ---- the result check ----------------------------------------------------------------------------

def test_compare_flags_a_wrong_result_and_accepts_rounding(bench):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((4, 5))
    tol = bench.tolerance(np.float32, 9)
    assert tol == pytest.approx(1e-4)
    rel, msg = bench.compare([ref * (1 + 1e-6)], [ref], tol, ("output",))
    assert msg is None and rel < tol
    bad = ref.copy()
    bad[1, 2] += 0.01
    rel, msg = bench.compare([bad], [ref], tol, ("output",))
    assert msg is not None and "output" in msg and rel > tol
    nan = ref.copy()
    nan[0, 0] = np.nan
    assert bench.compare([nan], [ref], tol, ("output",))[1] is not None
    assert bench.compare([ref[:2]], [ref], tol, ("output",))[1] is not None


def test_tolerance_grows_with_the_length_of_the_sum(bench):
    assert bench.tolerance(np.float32, 10_000) == pytest.approx(1e-3)
    assert bench.tolerance(np.float64, 1) == pytest.approx(1e-10)


def test_a_mismatch_makes_main_fail(bench, monkeypatch, capsys):
    x = np.arange(6.0, dtype=np.float32)
    wrong = bench.Case("fake family", "relu off by one", lambda env: {
        "cnnpy": lambda: cnnpy.functional.relu(x), "scipy": lambda: x + 1}, length=1)
    monkeypatch.setattr(bench, "all_cases", lambda: [wrong])
    monkeypatch.setattr(bench, "fma_peak", lambda trial_ms=100: (None, "not measured in tests"))
    assert bench.main(["--quick", "--threads", "1", "--no-torch", "--budget", "0.001"]) == 1
    out, err = capsys.readouterr()
    assert "MISMATCH" in err and "relu off by one" in err
    assert "FAILED: 1 check(s) failed" in out
    assert "peak (FMA probe): n/a" in out


# ---- a quick run end to end ----------------------------------------------------------------------

def _run(*args, timeout=120):
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, str(RUN_PY), *args], check=False, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=RUN_PY.parent.parent)


def test_quick_run_against_torch(tmp_path):
    pytest.importorskip("torch")
    out_json = tmp_path / "bench.json"
    r = _run("--quick", "--threads", "1", "--filter", "relu, 8 floats",
             "--filter", "linear: fwd (32,1936->50)", "--filter", "3x3 'valid'", "--json", str(out_json))
    assert r.returncode == 0, r.stdout + r.stderr
    for column in ("case", "threads", "cnnpy µs", "torch µs", "scipy µs", "cnnpy GFLOP/s", "% peak",
                   "torch/cnnpy", "scipy/cnnpy", "check"):
        assert column in r.stdout, column
    assert "peak (FMA probe):" in r.stdout
    assert "geomean torch/cnnpy: 1 thread" in r.stdout
    assert "MISMATCH" not in r.stdout + r.stderr
    doc = json.loads(out_json.read_text())
    rows = doc["results"]
    assert sorted(r["case"] for r in rows) == ["3x3 'valid' (512x512)", "fwd (32,1936->50)", "relu, 8 floats"]
    for row in rows:
        assert row["threads"] == 1 and row["us"]["cnnpy"] > 0 and row["us"]["torch"] > 0
        assert row["check"].startswith("ok")
    assert rows[0]["gflops"] is None or rows[0]["gflops"] > 0


def test_quick_run_without_torch():
    r = _run("--quick", "--threads", "1", "--no-torch", "--filter", "relu, 8 floats", "--filter", "3x3 'same'")
    assert r.returncode == 0, r.stdout + r.stderr
    headers = [line for line in r.stdout.splitlines() if line.startswith("case ")]
    assert len(headers) == 2
    assert all("torch" not in h and "cnnpy µs" in h for h in headers)
    assert "torch/cnnpy" not in r.stdout and "torch: left out (--no-torch)" in r.stdout
    assert "scipy µs" in r.stdout and "geomean scipy/cnnpy" in r.stdout


def test_list_and_unknown_filter():
    r = _run("--list")
    assert r.returncode == 0 and "conv2d forward, lecture shapes: (1,1->6,91x91) k3 p1" in r.stdout
    assert _run("--filter", "no such case").returncode == 1


# ---- benchmarks/train_step.py: whole steps, compiled and layer by layer ------------------------------

TRAIN_STEP_PY = RUN_PY.parent / "train_step.py"


def test_train_step_quick_run(tmp_path):
    pytest.importorskip("torch")
    out_json = tmp_path / "steps.json"
    r = subprocess.run([sys.executable, str(TRAIN_STEP_PY), "--threads", "1,2", "--repeats", "2",
                        "--filter", "MnistNet", "--json", str(out_json)], capture_output=True, text=True,
                       timeout=300, cwd=RUN_PY.parent.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    for text in ("torch/compiled", "torch/layer", "faults/step", "2 threads over 1 thread", "peak RSS"):
        assert text in r.stdout, text
    doc = json.loads(out_json.read_text())
    assert {row["threads"] for row in doc["rows"]} == {1, 2}
    for row in doc["rows"]:
        assert set(row["ms"]) == {"compiled", "layer", "torch"} and min(row["ms"].values()) > 0
        assert all(f >= 0 for f in row["faults_per_step"].values())
    (memory,) = doc["memory"]
    for variant in ("compiled", "layer", "torch"):
        m = memory[variant]
        assert m["peak_kib"] >= m["baseline_kib"] > 0 and m["training_kib"] == m["peak_kib"] - m["baseline_kib"]


def test_train_step_networks_agree_with_torch_on_the_first_step():
    """Every network of train_step.py: the compiled, layer-by-layer and PyTorch variants start from
    the same weights and data (what the benchmark checks before it times anything)."""
    torch = pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("cnnpy_bench_train_step", TRAIN_STEP_PY)
    ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ts)
    for net in ts.NETS:
        batch = 4
        first = {v: ts.build(net, v, batch, torch=torch)() for v in ts.VARIANTS}
        assert ts._losses_agree(first) is None, net.name
    with pytest.raises(SystemExit):
        ts.main(["--filter", "no such network"])
