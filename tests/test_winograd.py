"""The Winograd F(2x2, 3x3) convolution (CNN_ALGO_WINOGRAD, csrc/winograd_simd.h): forward, input
and weight gradients against the float64 NumPy reference and PyTorch for every padding (each side 0-3), group
count, batch and image size (smaller than a tile, not a multiple of one); bitwise identical at 1
and 2 threads; the dx contract (added onto dx, as every algorithm does); the fallbacks (float64,
other geometries, the scalar ISA) and the AUTO rule that picks it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import reference as ref
from cnnpy import _cnn
from helpers import assert_close, rng_for, torch

WINOGRAD = _cnn.ALGO_WINOGRAD
# F(2,3)'s rounding is no larger than a direct sum's (measured max error 3.7e-7 of the largest
# output over such cases, 8e-7 for BLOCKED): the tolerance the suite's reference convolution
# tests use for the forward and input gradient (tests/ops/conv.py: atol 1e-5 * 10, rtol 1e-4).
SCALE = 10
# The weight gradient sums over every pixel of the batch (thousands of terms) and its F(2,3)
# transforms add cancellation: measured 0.8-2.5e-6 of the largest element on wide layers, against
# 1.1-3.0e-6 for PyTorch's own weight gradient and 2-4e-7 for BLOCKED; the tolerance the suite's
# other weight-gradient tests use (tests/test_conv_kernels.py: scale 100).
DW_SCALE = 100


@pytest.fixture
def each_isa():
    before = cnnpy.get_isa()
    yield cnnpy.available_isas()
    cnnpy.set_isa(before)


def draw_case(draw):
    g = draw(st.integers(1, 4))
    ci, co = g * draw(st.integers(1, 40 // g)), g * draw(st.integers(1, 40 // g))
    pads = [draw(st.integers(0, 3)) for _ in range(4)]  # top, bottom, left, right
    h = draw(st.integers(max(1, 3 - pads[0] - pads[1]), 30))
    w = draw(st.integers(max(1, 3 - pads[2] - pads[3]), 30))
    return dict(n=draw(st.integers(1, 3)), ci=ci, co=co, g=g, h=h, w=w, pads=pads,
                bias=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


def arrays(c, dtype=np.float32):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"])).astype(dtype)
    w = rng.standard_normal((c["co"], c["ci"] // c["g"], 3, 3)).astype(dtype)
    b = rng.standard_normal(c["co"]).astype(dtype) if c["bias"] else None
    return rng, x, w, b


def geometry(c):
    pt, pb, pl, pr = c["pads"]
    return (1, 1, pt, pb, pl, pr, 1, 1, c["g"])


def ref_padding(c):
    pt, pb, pl, pr = c["pads"]
    return ((pt, pb), (pl, pr))


def torch_conv(x, w, b, c):
    """PyTorch's forward and input gradient, its asymmetric padding as an explicit F.pad."""
    F = torch.nn.functional
    pt, pb, pl, pr = c["pads"]
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt, None if b is None else torch.from_numpy(b),
                 groups=c["g"])
    return y, xt, wt


@settings(deadline=None, max_examples=40)
@given(st.composite(draw_case)())
def test_winograd_matches_the_reference_and_pytorch(c):
    rng, x, w, b = arrays(c)
    args = geometry(c)
    y = _cnn.conv2d_forward(x, w, b, args, WINOGRAD)
    y_ref = ref.conv2d(x, w, b, padding=ref_padding(c), groups=c["g"])
    assert y.shape == y_ref.shape
    assert_close(y, y_ref, np.float32, scale=SCALE)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = _cnn.conv2d_backward(gy, x, w, True, True, b is not None, args, WINOGRAD)
    rx, rw, rb = ref.conv2d_backward(gy, x, w, b, padding=ref_padding(c), groups=c["g"])
    assert_close(dx, rx, np.float32, scale=SCALE)
    assert_close(dw, rw, np.float32, scale=DW_SCALE)
    if b is not None:
        assert_close(db, rb, np.float32, scale=SCALE)
    if torch is not None:
        yt, xt, wt = torch_conv(x, w, b, c)
        gxt, gwt = torch.autograd.grad(yt, (xt, wt), torch.from_numpy(gy))
        assert_close(y, yt.detach().numpy(), np.float32, scale=SCALE)
        assert_close(dx, gxt.numpy(), np.float32, scale=SCALE)
        assert_close(dw, gwt.numpy(), np.float32, scale=DW_SCALE)


# (N, C_in, C_out, H, W, pads (t, b, l, r), groups): tiles cut by the image edge on every side, a
# one-pixel image, an image smaller than one tile, pads of 2 and 3 (the input gradient's transposed
# problem then crops dy), more tiles than one block, and the thread split of a single image.
CASES = [
    (2, 8, 12, 13, 11, (1, 1, 1, 1), 1), (1, 5, 7, 1, 1, (1, 1, 1, 1), 1),
    (3, 6, 6, 3, 5, (0, 2, 3, 0), 2), (1, 40, 36, 30, 29, (3, 3, 2, 0), 4),
    (2, 24, 24, 57, 61, (1, 0, 0, 1), 1), (1, 16, 20, 4, 30, (3, 2, 1, 0), 1),
]


def case_id(case):
    n, ci, co, h, w, p, g = case
    return f"N{n}-Ci{ci}-Co{co}-{h}x{w}-p{'.'.join(map(str, p))}-g{g}"


def case_dict(case, bias=True, seed=0):
    n, ci, co, h, w, p, g = case
    return dict(n=n, ci=ci, co=co, g=g, h=h, w=w, pads=list(p), bias=bias, seed=seed)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_winograd_bitwise_the_same_at_one_and_two_threads(case):
    c = case_dict(case)
    rng, x, w, b = arrays(c)
    args = geometry(c)
    gy = rng.standard_normal(_cnn.conv2d_forward(x, w, b, args, _cnn.ALGO_REFERENCE).shape).astype(np.float32)
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)  # split even small problems
    try:
        got = []
        for threads in (1, 2):
            cnnpy.set_num_threads(threads)
            got.append((_cnn.conv2d_forward(x, w, b, args, WINOGRAD),
                        *_cnn.conv2d_backward(gy, x, w, True, True, True, args, WINOGRAD)))
    finally:
        cnnpy.set_num_threads(before)
        _cnn.set_min_part_work(work)
    for a, e in zip(*got):
        assert np.array_equal(a, e)
    y_ref = ref.conv2d(x, w, b, padding=ref_padding(c), groups=c["g"])
    assert_close(got[0][0], y_ref, np.float32, scale=SCALE)
    rx, rw, _ = ref.conv2d_backward(gy, x, w, b, padding=ref_padding(c), groups=c["g"])
    assert_close(got[0][1], rx, np.float32, scale=SCALE)
    assert_close(got[0][2], rw, np.float32, scale=DW_SCALE)


@pytest.mark.parametrize("case", CASES[:3], ids=case_id)
def test_winograd_falls_back_where_it_does_not_apply(case, each_isa):
    """float64 and the scalar ISA run what BLOCKED runs (bitwise); so do other geometries."""
    c = case_dict(case)
    args = geometry(c)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        for dtype in ((np.float32, np.float64) if isa == "scalar" else (np.float64,)):
            rng, x, w, b = arrays(c, dtype)
            gy = rng.standard_normal(_cnn.conv2d_forward(x, w, b, args, 1).shape).astype(dtype)
            want = (_cnn.conv2d_forward(x, w, b, args, _cnn.ALGO_BLOCKED),
                    *_cnn.conv2d_backward(gy, x, w, True, True, True, args, _cnn.ALGO_BLOCKED))
            got = (_cnn.conv2d_forward(x, w, b, args, WINOGRAD),
                   *_cnn.conv2d_backward(gy, x, w, True, True, True, args, WINOGRAD))
            for a, e in zip(got, want):
                assert np.array_equal(a, e), (isa, dtype)
            assert_close(got[0], ref.conv2d(x, w, b, padding=ref_padding(c), groups=c["g"]), dtype, scale=SCALE)
    # other geometries (5x5, stride 2, dilation 2) on the default ISA: BLOCKED's results
    cnnpy.set_isa(each_isa[-1])
    rng = rng_for("winograd-elsewhere")
    x = rng.standard_normal((2, 6, 11, 12)).astype(np.float32)
    for k, s, d in ((5, 1, 1), (3, 2, 1), (3, 1, 2), (1, 1, 1)):
        w = rng.standard_normal((4, 6, k, k)).astype(np.float32)
        args = (s, s, 1, 1, 1, 1, d, d, 1)
        y = _cnn.conv2d_forward(x, w, None, args, _cnn.ALGO_BLOCKED)
        gy = rng.standard_normal(y.shape).astype(np.float32)
        assert np.array_equal(_cnn.conv2d_forward(x, w, None, args, WINOGRAD), y)
        for a, e in zip(_cnn.conv2d_backward(gy, x, w, True, True, True, args, WINOGRAD),
                        _cnn.conv2d_backward(gy, x, w, True, True, True, args, _cnn.ALGO_BLOCKED)):
            assert np.array_equal(a, e)


# That a Winograd dx is added onto the dx it is given (the engine's backward contract, which the
# binding's fresh zeros cannot show) is checked with every algorithm in tests/c/test_engine.c.


# ---- the AUTO rule ---------------------------------------------------------------------------------
# (c_in, c_out, h, w, kh, kw, groups, stride) as _cnn.conv_choose_algo takes them (no padding)
WIDE = [(64, 64, 58, 58, 3, 3, 1, 1), (128, 128, 30, 30, 3, 3, 1, 1),  # the benchmark's wide layers
        (64, 64, 56, 56, 3, 3, 1, 1), (64, 128, 22, 22, 3, 3, 2, 1), (64, 64, 9, 9, 3, 3, 1, 1)]
NOT_WINOGRAD = [
    (1, 6, 91, 91, 3, 3, 1, 1), (6, 4, 89, 89, 3, 3, 1, 1),        # the lecture's GausNet
    (1, 10, 28, 28, 5, 5, 1, 1), (10, 20, 13, 13, 5, 5, 1, 1),     # the MNIST net (5x5)
    (16, 32, 32, 32, 3, 3, 1, 2), (64, 64, 56, 56, 1, 1, 1, 1),    # strided, pointwise
    (32, 32, 56, 56, 3, 3, 32, 1), (24, 24, 56, 56, 3, 3, 1, 1),   # depthwise, 24 channels
    (32, 32, 16, 16, 3, 3, 1, 1), (48, 96, 20, 20, 3, 3, 1, 1),    # 32 and 48 channels, 14x14 and 18x18
]


def test_auto_picks_winograd_for_the_wide_3x3_layers(each_isa):
    for isa in each_isa:
        cnnpy.set_isa(isa)
        for layer in WIDE:
            algo = _cnn.conv_choose_algo(*layer)
            assert (algo == WINOGRAD) == (isa != "scalar"), (isa, layer, algo)
        for layer in NOT_WINOGRAD:
            assert _cnn.conv_choose_algo(*layer) != WINOGRAD, (isa, layer)


def test_auto_runs_what_the_rule_picks_bitwise(each_isa):
    rng = rng_for("winograd-auto")
    x = rng.standard_normal((1, 64, 10, 10)).astype(np.float32)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    gy = rng.standard_normal((1, 64, 8, 8)).astype(np.float32)
    args = (1, 1, 0, 0, 0, 0, 1, 1, 1)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        pick = _cnn.conv_choose_algo(64, 64, 10, 10, 3, 3, 1)
        assert (pick == WINOGRAD) == (isa != "scalar")
        for algo_auto, algo_pick in ((_cnn.ALGO_AUTO, pick),):
            assert np.array_equal(_cnn.conv2d_forward(x, w, b, args, algo_auto),
                                  _cnn.conv2d_forward(x, w, b, args, algo_pick))
            for a, e in zip(_cnn.conv2d_backward(gy, x, w, True, True, True, args, algo_auto),
                            _cnn.conv2d_backward(gy, x, w, True, True, True, args, algo_pick)):
                assert np.array_equal(a, e)
