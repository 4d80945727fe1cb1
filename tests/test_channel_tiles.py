"""The blocked convolution's tiles over vectors of output channels (csrc/blocked_channels.h: the
forward, the stride-1 input gradient as the forward of its transposed problem, the weight
gradient), which the cost model picks where rows waste more vector lanes than channels do (the
MNIST net's (32,10->20,13x13) 5x5 layer): against the engine's reference kernel exactly on small
integers under every instruction set, against the float64 NumPy reference and PyTorch, and bitwise
identical for any thread count. The geometries span channel counts that are no multiple of the
vector (1-25), kernels 1-7, strides 1-3, paddings, dilations, groups, widths 1-20 and batches 1-3;
about a quarter of those drawn take each channel path on AVX2 (tests/test_conv_kernels.py covers
the pixel tiles the rest take)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import reference as ref
from cnnpy import _cnn
from helpers import assert_close, rng_for, torch
from test_conv_kernels import ALGO_BLOCKED, arrays, case_id, check_against_pytorch, engine_args, run

# (N, C_in, C_out, (H, W), (kH, kW), stride, ((top, bottom), (left, right)), dilation, groups)
# that the cost model sends to the channel tiles with AVX2's 8-lane vectors (which passes: the comment)
CASES = [
    (2, 10, 20, (13, 13), (5, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # the MNIST net: fwd, dw
    (1, 12, 7, (9, 7), (7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),      # fwd, dw: 7 channels, stride 2
    (2, 8, 16, (10, 17), (5, 5), (3, 3), ((2, 2), (2, 2)), (2, 2), 1),    # fwd, dw: stride 3, dilation 2
    (1, 20, 20, (9, 7), (5, 5), (1, 1), ((2, 2), (2, 2)), (2, 2), 2),     # fwd, dx, dw: groups, dilation
    (2, 24, 16, (12, 17), (7, 7), (1, 1), ((3, 2), (3, 4)), (2, 2), 1),   # fwd, dx, dw: 24 channels, uneven pads
    (1, 12, 16, (7, 7), (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1), 1),     # fwd, dx, dw
    (3, 12, 24, (17, 17), (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1), 2),   # dx with groups, batch 3
    (2, 24, 24, (7, 7), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 2),     # fwd, dx, dw: 12 per group
    (1, 17, 25, (9, 9), (7, 7), (2, 2), ((3, 3), (3, 3)), (1, 1), 1),     # fwd, dw: 25 channels, 4 vectors
    (2, 12, 25, (3, 3), (7, 7), (2, 1), ((3, 3), (3, 3)), (1, 1), 1),     # fwd, dw on 3-wide rows
    (1, 16, 24, (11, 11), (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1), 1),   # dw of a 1x1 stride 2
    (1, 25, 9, (3, 3), (3, 3), (2, 1), ((1, 1), (1, 1)), (1, 1), 1),      # fwd, dw: 9 channels on 3 rows
]


def each_isa_run(check):
    before = cnnpy.get_isa()
    try:
        for isa in cnnpy.available_isas():
            cnnpy.set_isa(isa)
            check(isa)
    finally:
        cnnpy.set_isa(before)


def check_reference_kernel_exactly(case, salt):
    """BLOCKED and AUTO give exactly the reference kernel's y, dx, dw, db on small integers, under
    every instruction set (also tests/test_image_tiles.py)."""
    rng = rng_for(case, salt)
    x, wt, b = arrays(case, np.float32, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)

    def check(isa):
        for algo in (ALGO_BLOCKED, _cnn.ALGO_AUTO):
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, algo, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{isa} algo {algo}: {name} differs from the reference kernel"
    each_isa_run(check)


def check_numpy_reference(case, salt):
    """BLOCKED's y, dx, dw, db on random float32 data against the float64 NumPy reference, under
    every instruction set."""
    rng = rng_for(case, salt)
    x, wt, b = arrays(case, np.float32, rng)
    _, _, _, _, _, s, p, d, g = case
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    y_ref = ref.conv2d(x, wt, b, **kw)
    gy = rng.standard_normal(y_ref.shape).astype(np.float32)
    want = (y_ref, *ref.conv2d_backward(gy, x, wt, b, **kw))

    def check(isa):
        got = run(case, ALGO_BLOCKED, x, wt, b, gy)
        for a, e, scale in zip(got, want, (10, 10, 100, 100)):
            assert_close(a, e, np.float32, scale=scale)
    each_isa_run(check)


def check_thread_counts(case, salt, counts=(2, 3)):
    """BLOCKED's y, dx, dw, db on random float32 data: the same bits at 1 thread and at `counts`
    (with parts as small as the pool makes them)."""
    rng = rng_for(case, salt) if isinstance(salt, str) else np.random.default_rng(salt)
    x, wt, b = arrays(case, np.float32, rng)
    gy = rng.standard_normal(_cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        want = run(case, ALGO_BLOCKED, x, wt, b, gy)
        for n in counts:
            cnnpy.set_num_threads(n)
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{case_id(case)}, {n} threads: {name} differs from 1 thread"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)


def check_drawn_geometry(case, seed):
    """A drawn geometry: BLOCKED (whichever tiles its rules pick) gives exactly the reference
    kernel's sums of small integers, and the same bits at 1 and 2 threads."""
    rng = np.random.default_rng(seed)
    x, wt, b = arrays(case, np.float32, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
    for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, x, wt, b, gy), want):
        assert np.array_equal(a, e), f"{case_id(case)}: {name} differs from the reference kernel"
    check_thread_counts(case, seed + 1, counts=(2,))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_channel_tiles_equal_the_reference_kernel_exactly(case):
    check_reference_kernel_exactly(case, "channel-int")


@pytest.mark.parametrize("case", CASES[:6], ids=case_id)
def test_channel_tiles_match_the_numpy_reference(case):
    check_numpy_reference(case, "channel-ref")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_channel_tiles_bitwise_equal_for_any_thread_count(case):
    check_thread_counts(case, "channel-threads")


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", [c for c in CASES if c[6][0][0] == c[6][0][1] and c[6][1][0] == c[6][1][1]][:5],
                         ids=case_id)
def test_channel_tiles_match_pytorch(case):
    check_against_pytorch(case, rng_for(case, "channel-torch"))


@st.composite
def geometry(draw):
    g = draw(st.integers(1, 3))
    ci, co = g * draw(st.integers(1, 25 // g)), g * draw(st.integers(1, 25 // g))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h0, w0 = max(1, dh * (kh - 1) + 1 - sum(pads[0])), max(1, dw * (kw - 1) + 1 - sum(pads[1]))
    h, w = draw(st.integers(h0, h0 + 8)), draw(st.integers(w0, w0 + 19))  # output widths 1-20
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (draw(st.integers(1, 3)), ci, co, (h, w), (kh, kw), s, pads, (dh, dw), g), draw(st.integers(0, 2**31))


@settings(deadline=None, max_examples=150)
@given(geometry())
def test_channel_tiles_property_exact_on_integers(drawn):
    """Any geometry in the range: BLOCKED (channel or pixel tiles, as the cost model picks) gives
    exactly the reference kernel's sums of small integers, and the same bits at 1 and 2 threads."""
    check_drawn_geometry(*drawn)
