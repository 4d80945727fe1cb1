"""The blocked convolution kernels (CNN_ALGO_BLOCKED, csrc/blocked_simd.h) and the AUTO rule:
against the engine's reference kernel under every instruction set this machine has (exactly, on
small integers, where every summation order gives the same sums), against the float64 NumPy
reference and PyTorch, bitwise identical for any thread count, float32 and float64, and every
stride / padding / dilation / groups combination (hypothesis)."""
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import reference as ref
from cnnpy import _cnn
from helpers import DTYPES, assert_close, rng_for, torch

# cnn.h's CNN_ALGO_BLOCKED (the binding exports constants up to ALGO_GEMM)
ALGO_BLOCKED = getattr(_cnn, "ALGO_BLOCKED", 4)

# (N, C_in, C_out, (H, W), (kH, kW), stride, ((top, bottom), (left, right)), dilation, groups)
CASES = [
    (1, 16, 16, (12, 12), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),    # wide, stride 1
    (2, 8, 12, (11, 13), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # stride 2: four phases
    (1, 12, 10, (9, 10), (3, 3), (2, 2), ((1, 1), (1, 1)), (2, 2), 1),     # stride 2 + dilation 2
    (2, 6, 9, (10, 9), (3, 2), (3, 2), ((2, 0), (0, 3)), (1, 3), 3),       # groups, odd phases
    (1, 32, 24, (7, 7), (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),      # pointwise
    (1, 9, 7, (8, 8), (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),        # 1x1 stride 2: one phase
    (2, 4, 4, (9, 9), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 4),        # depthwise
    (3, 1, 6, (17, 19), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),      # the lecture's one input channel
    (2, 10, 20, (13, 13), (5, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),    # the MNIST net's second layer
    (2, 3, 5, (1, 30), (1, 5), (1, 2), ((0, 0), (2, 2)), (1, 1), 1),       # 1-D
    (1, 5, 3, (6, 6), (2, 2), (1, 1), ((3, 3), (3, 3)), (3, 3), 1),        # padding wider than the kernel
    (1, 4, 13, (5, 40), (2, 4), (1, 3), ((0, 1), (3, 0)), (2, 1), 1),      # 13 channels: uneven blocks
    (2, 0, 3, (5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),        # no input channels: the bias
]


def case_id(c):
    n, ci, co, (h, w), (kh, kw), s, p, d, g = c
    return f"N{n}-Ci{ci}-Co{co}-{h}x{w}-k{kh}x{kw}-s{s[0]}x{s[1]}-p{p}-d{d[0]}x{d[1]}-g{g}".replace(" ", "")


def engine_args(case):
    _, _, _, _, _, s, ((pt, pb), (pl, pr)), d, g = case
    return (s[0], s[1], pt, pb, pl, pr, d[0], d[1], g)


def arrays(case, dtype, rng, integers=False):
    n, ci, co, (h, w), (kh, kw), _, _, _, g = case
    draw = (lambda shape: rng.integers(-3, 4, shape)) if integers else rng.standard_normal
    x = draw((n, ci, h, w)).astype(dtype)
    wt = draw((co, ci // g, kh, kw)).astype(dtype)
    b = draw(co).astype(dtype)
    return x, wt, b


def run(case, algo, x, wt, b, gy):
    args = engine_args(case)
    y = _cnn.conv2d_forward(x, wt, b, args, algo)
    return (y, *_cnn.conv2d_backward(gy, x, wt, True, True, True, args, algo))


@pytest.fixture
def each_isa():
    """Runs the test body under every instruction set the machine has, then restores the ISA."""
    before = cnnpy.get_isa()
    yield cnnpy.available_isas()
    cnnpy.set_isa(before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_blocked_equals_reference_kernel_exactly_on_integers(case, dtype, each_isa):
    rng = rng_for(case, "blocked-int")
    x, wt, b = arrays(case, dtype, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(dtype)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
        for algo in (ALGO_BLOCKED, _cnn.ALGO_AUTO):
            got = run(case, algo, x, wt, b, gy)
            for name, a, e in zip(("y", "dx", "dw", "db"), got, want):
                assert np.array_equal(a, e), f"{isa} algo {algo}: {name} differs from the reference kernel"


# The forward tiles (csrc/blocked_simd.h, bk_by_rows): along the output rows with a partial last
# vector, or across rows with buffered stores, chosen by width and channel block; every width from 1
# to 17 and the lecture's 91, an odd height, and the tile shapes of one channel (6 vectors), 4 and 6
# channels, the MNIST net's blocks of 5, a stride down the height and a dilation.
ROW_TILE_LAYERS = [  # (C_in, C_out, k, stride, padding, dilation)
    (1, 6, 3, (1, 1), 1, 1), (6, 4, 3, (1, 1), 1, 1), (10, 20, 5, (1, 1), 1, 1),
    (2, 1, 3, (2, 1), 1, 1), (3, 5, 3, (1, 1), 2, 2),
]


@pytest.mark.parametrize("width", [*range(1, 18), 91])
def test_blocked_row_tiles_equal_the_reference_at_every_width(width, each_isa):
    rng = np.random.default_rng(width)
    for ci, co, k, s, p, d in ROW_TILE_LAYERS:
        w_in = width + d * (k - 1) - 2 * p  # an output width of `width`
        if w_in < 1:
            continue
        case = (2, ci, co, (5, w_in), (k, k), s, ((p, p), (p, p)), (d, d), 1)
        x, wt, b = arrays(case, np.float32, rng, integers=True)
        y0 = _cnn.conv2d_forward(x, wt, b, engine_args(case), _cnn.ALGO_REFERENCE)
        assert y0.shape[3] == width
        gy = rng.integers(-3, 4, y0.shape).astype(np.float32)
        for isa in each_isa:
            cnnpy.set_isa(isa)
            want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{isa} {case_id(case)}: {name} differs from the reference kernel"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_blocked_matches_the_numpy_reference(case, dtype, each_isa):
    rng = rng_for(case, "blocked")
    x, wt, b = arrays(case, dtype, rng)
    _, _, _, _, _, s, p, d, g = case
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    y_ref = ref.conv2d(x, wt, b, **kw)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    rx, rw, rb = ref.conv2d_backward(gy, x, wt, b, **kw)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        y, gx, gw, gb = run(case, ALGO_BLOCKED, x, wt, b, gy)
        assert y.dtype == dtype and y.shape == y_ref.shape
        assert_close(y, y_ref, dtype, scale=10)
        assert_close(gx, rx, dtype, scale=10)
        assert_close(gw, rw, dtype, scale=100)
        assert_close(gb, rb, dtype, scale=100)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", [c for c in CASES if c[1] > 0], ids=case_id)
def test_blocked_bitwise_equal_for_any_thread_count(case, dtype):
    rng = rng_for(case, "blocked-threads")
    x, wt, b = arrays(case, dtype, rng)
    gy = rng.standard_normal(_cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(dtype)
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        want = run(case, ALGO_BLOCKED, x, wt, b, gy)
        for n in (2, 3, 7):
            cnnpy.set_num_threads(n)
            for a, e in zip(run(case, ALGO_BLOCKED, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{n} threads differ from 1 thread"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", [
    (1, 64, 64, (20, 20), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    (2, 16, 32, (16, 16), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),
    (1, 96, 64, (7, 7), (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    (2, 10, 20, (13, 13), (5, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
], ids=case_id)
def test_blocked_matches_pytorch(case):
    check_against_pytorch(case, rng_for(case, "blocked-torch"))


def check_against_pytorch(case, rng):
    """BLOCKED's y, dx, dw, db against PyTorch's on random float32 data (symmetric padding)."""
    x, wt, b = arrays(case, np.float32, rng)
    _, _, _, _, _, s, ((pt, _), (pl, _)), d, g = case
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, wt, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=(pt, pl), dilation=d, groups=g)
    gy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.from_numpy(gy))
    got = run(case, ALGO_BLOCKED, x, wt, b, gy)
    for a, e in zip(got, (ty.detach(), tx.grad, tw.grad, tb.grad)):
        e = e.numpy().astype(np.float64)
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max())))


@st.composite
def geometry(draw):
    g = draw(st.integers(1, 3))
    ci, co = g * draw(st.integers(1, 4)), g * draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 14))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 20))
    return dict(n=draw(st.integers(1, 2)), ci=ci, co=co, g=g, h=h, w=w, kh=kh, kw=kw,
                s=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), d=(dh, dw), pads=pads,
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**31)))


@settings(deadline=None, max_examples=60)
@given(geometry())
def test_blocked_property_against_reference(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"])).astype(c["dtype"])
    w = rng.standard_normal((c["co"], c["ci"] // c["g"], c["kh"], c["kw"])).astype(c["dtype"])
    b = rng.standard_normal(c["co"]).astype(c["dtype"])
    kw = dict(stride=c["s"], padding=c["pads"], dilation=c["d"], groups=c["g"])
    y_ref = ref.conv2d(x, w, b, **kw)
    (pt, pb), (pl, pr) = c["pads"]
    args = ((*c["s"], pt, pb, pl, pr, *c["d"], c["g"]), ALGO_BLOCKED)
    assert_close(_cnn.conv2d_forward(x, w, b, *args), y_ref, c["dtype"], scale=10)
    gy = rng.standard_normal(y_ref.shape).astype(c["dtype"])
    got = _cnn.conv2d_backward(gy, x, w, True, True, True, *args)
    for a, e, scale in zip(got, ref.conv2d_backward(gy, x, w, b, **kw), (10, 100, 100)):
        assert_close(a, e, c["dtype"], scale=scale)


# ---- the AUTO rule ---------------------------------------------------------------------------------
# (c_in, c_out, h, w, kh, kw, groups, stride) as _cnn.conv_choose_algo takes them (no padding)
BLOCKED_LAYERS = [
    (1, 6, 91, 91, 3, 3, 1, 1), (6, 4, 89, 89, 3, 3, 1, 1),        # the lecture's GausNet
    (1, 10, 28, 28, 5, 5, 1, 1), (10, 20, 13, 13, 5, 5, 1, 1),     # the MNIST net
    (16, 16, 12, 12, 3, 3, 1, 1), (32, 32, 12, 12, 3, 3, 1, 1),    # 3x3 too small for Winograd
    (16, 32, 32, 32, 3, 3, 1, 2), (6, 6, 91, 91, 2, 2, 1, 2),      # strided (AllConvNet)
    (256, 256, 14, 14, 1, 1, 1, 1), (32, 32, 56, 56, 3, 3, 32, 1),  # pointwise, depthwise
]


def test_auto_picks_blocked_where_the_isa_has_it(each_isa):
    for isa in each_isa:
        cnnpy.set_isa(isa)
        blocked = isa != "scalar"  # csrc/blocked_simd.h: AVX2 and AVX-512
        for layer in BLOCKED_LAYERS:
            algo = _cnn.conv_choose_algo(*layer)
            if blocked:
                assert algo == ALGO_BLOCKED, (isa, layer)
            else:
                assert algo in (_cnn.ALGO_DIRECT, _cnn.ALGO_GEMM), (isa, layer)
        # a kernel much wider than the output: the planes would be mostly dropped columns
        # (Wq = 50 + 100 = 150 > 2 * OW): the direct/GEMM rule (K = 404: GEMM)
        assert _cnn.conv_choose_algo(4, 4, 1, 150, 1, 101, 1) == _cnn.ALGO_GEMM
        assert _cnn.conv_choose_algo(4, 4, 1, 150, 1, 51, 1) == (ALGO_BLOCKED if blocked else _cnn.ALGO_GEMM)


def test_auto_runs_what_the_rule_picks():
    """AUTO gives bitwise the result of the algorithm conv_choose_algo names."""
    rng = rng_for("auto-runs")
    for layer in [(6, 4, 20, 21, 3, 3, 1, 1), (4, 4, 1, 150, 1, 101, 1, 1), (8, 8, 9, 9, 3, 3, 8, 2)]:
        ci, co, h, w, kh, kw, g, s = layer
        x = rng.standard_normal((2, ci, h, w)).astype(np.float32)
        wt = rng.standard_normal((co, ci // g, kh, kw)).astype(np.float32)
        args = (s, s, 0, 0, 0, 0, 1, 1, g)
        picked = _cnn.conv_choose_algo(*layer)
        assert np.array_equal(_cnn.conv2d_forward(x, wt, None, args, _cnn.ALGO_AUTO),
                              _cnn.conv2d_forward(x, wt, None, args, picked))


def test_wide_rows_zero_their_padding_in_a_dirty_workspace(each_isa):
    """bk_fill (csrc/blocked_simd.h) writes the zero padding of plane rows of 64 floats and more
    itself (bk_zero_vectors). After a call that leaves the reused workspace full of data, a layer
    padded by more than a vector on each side (rows of 110 floats, 20 of them padding per side)
    still equals the reference kernel exactly, forward and backward."""
    rng = rng_for("dirty-workspace")
    dirty = rng.integers(1, 4, (2, 8, 100, 100)).astype(np.float32)
    dirty_w = np.ones((8, 8, 3, 3), np.float32)
    x = rng.integers(-3, 4, (2, 2, 5, 70)).astype(np.float32)
    wt = rng.integers(-3, 4, (3, 2, 3, 3)).astype(np.float32)
    b = rng.integers(-3, 4, 3).astype(np.float32)
    case = (2, 2, 3, (5, 70), (3, 3), (1, 1), ((1, 1), (20, 20)), (1, 1), 1)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
        for algo in (ALGO_BLOCKED, _cnn.ALGO_AUTO):
            _cnn.conv2d_forward(dirty, dirty_w, None, (1, 1, 0, 0, 0, 0, 1, 1, 1), ALGO_BLOCKED)
            got = run(case, algo, x, wt, b, gy)
            for name, a, e in zip(("y", "dx", "dw", "db"), got, want):
                assert np.array_equal(a, e), f"{isa} algo {algo}: {name} differs from the reference kernel"


def test_one_channel_3x3_weight_gradient_runs_the_direct_kernel(each_isa):
    """kernel_support.h's conv_direct_weight_wins: with AVX2, the weight gradient of a one-input-
    channel 3x3 stride-1 layer is the direct kernel's, bitwise, under AUTO and BLOCKED alike; two
    output channels, a 5x5 kernel, two input channels or a stride keep the blocked kernel, and so
    does AVX-512 (not measured there). Every result is close to the float64 reference."""
    rng = rng_for("direct-weight-rule")
    layers = [(1, 6, 3, 1, True), (1, 1, 3, 1, True), (1, 2, 3, 1, False), (1, 6, 5, 1, False),
              (2, 6, 3, 1, False), (1, 6, 3, 2, False)]  # (C_in, C_out, k, stride, the rule applies)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        for ci, co, k, s, rule in layers:
            x = rng.standard_normal((3, ci, 20, 23)).astype(np.float32)
            wt = rng.standard_normal((co, ci, k, k)).astype(np.float32)
            args = (s, s, 1, 1, 1, 1, 1, 1, 1)
            gy = rng.standard_normal(_cnn.conv2d_forward(x, wt, None, args, 1).shape).astype(np.float32)
            dw = {a: _cnn.conv2d_backward(gy, x, wt, False, True, False, args, a)[1]
                  for a in (_cnn.ALGO_AUTO, ALGO_BLOCKED, _cnn.ALGO_DIRECT)}
            want = ref.conv2d_backward(gy.astype(np.float64), x.astype(np.float64), wt.astype(np.float64),
                                       None, stride=s, padding=1)[1]
            for a, got in dw.items():
                assert_close(got, want, np.float32, scale=100)
            assert np.array_equal(dw[_cnn.ALGO_AUTO], dw[ALGO_BLOCKED]), (isa, ci, co, k, s)
            if isa == "avx2" and rule:
                assert np.array_equal(dw[ALGO_BLOCKED], dw[_cnn.ALGO_DIRECT]), (isa, ci, co, k, s)


# ---- the AVX-512 shapes of the kernels, on any machine with AVX2 -------------------------------------

ROOT = Path(__file__).resolve().parents[1]
CC = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


@pytest.mark.c_program
@pytest.mark.skipif(CC is None or "avx2" not in cnnpy.available_isas(), reason="needs a C compiler and AVX2")
def test_sixteen_lane_kernels_on_an_emulated_vector(tmp_path):
    """tests/c/test_lanes16.c: blocked_simd.h and dense_simd.h with 16-lane vectors (AVX-512's tile
    sizes and masks) made of two AVX2 halves, exact against naive loops, under ASan + UBSan where
    the compiler has them, so a machine without AVX-512 still checks that instantiation's logic."""
    exe = tmp_path / "test_lanes16"
    base = [CC, "-std=c11", "-O1", "-g", "-fno-trapping-math", "-ffp-contract=fast", "-Wall", "-Wextra",
            "-Werror", "-Wno-unused-function", f"-I{ROOT / 'csrc'}", str(ROOT / "tests" / "c" / "test_lanes16.c"),
            str(ROOT / "csrc" / "threads.c"), str(ROOT / "csrc" / "common.c"),
            str(ROOT / "csrc" / "platform.c"), "-o", str(exe), "-pthread", "-lm"]
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    res = subprocess.run(base + sanitize, capture_output=True, text=True)
    if res.returncode != 0:
        res = subprocess.run(base, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
    env.pop("LD_PRELOAD", None)
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0 and "checks passed" in run.stdout, run.stdout + run.stderr
