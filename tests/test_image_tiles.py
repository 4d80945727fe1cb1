"""The blocked convolution's tiles over vectors of images (csrc/blocked_batch.h: the forward, and
the input gradient where its transposed problem or a stride's phase qualifies), which the rule
picks for batches that fill the vectors, short rows and long reductions (the MNIST net's
(32,10->20,13x13) 5x5 layer): against the engine's reference kernel exactly on small integers
under every instruction set, against the float64 NumPy reference and PyTorch, and bitwise
identical for any thread count. The cases below take the image tiles in the forward with 16-lane
(AVX-512) vectors, and all but the 20-wide 1-D case with 8-lane (AVX2) ones (wider than AVX2's
12): batches of 16 to 32 with a partly filled last block (30),
strides, dilations, uneven padding, groups, non-square kernels, channel counts that leave a tile's
channel block partly empty. Cases 2, 4 and 8 also take them in the input gradient (stride 1: the
transposed problem, which adds to dx), case 5 in some of its stride-2 input gradient's phases (a
planted error in each of these was caught, under both instruction sets)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import reference as ref
from cnnpy import _cnn
from helpers import assert_close, rng_for, torch
from test_channel_tiles import each_isa_run
from test_conv_kernels import ALGO_BLOCKED, arrays, case_id, check_against_pytorch, engine_args, run

# (N, C_in, C_out, (H, W), (kH, kW), stride, ((top, bottom), (left, right)), dilation, groups)
CASES = [
    (32, 10, 20, (13, 13), (5, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # the MNIST net
    (30, 16, 16, (10, 10), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # a partly filled image block; dx
    (16, 8, 8, (16, 16), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # stride 2
    (32, 16, 24, (9, 11), (3, 3), (1, 1), ((2, 1), (0, 2)), (2, 2), 2),    # groups, dilation, uneven pads
    (32, 8, 32, (12, 12), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),    # dx phases
    (16, 12, 8, (8, 14), (2, 3), (2, 1), ((0, 1), (1, 1)), (1, 2), 1),     # non-square kernel and stride
    (16, 2, 11, (10, 10), (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1), 1),    # 11 channels: a short block
    (32, 16, 16, (1, 20), (1, 5), (1, 1), ((0, 0), (2, 2)), (1, 1), 1),    # 1-D
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_image_tiles_equal_the_reference_kernel_exactly(case):
    rng = rng_for(case, "image-int")
    x, wt, b = arrays(case, np.float32, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)

    def check(isa):
        for algo in (ALGO_BLOCKED, _cnn.ALGO_AUTO):
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, algo, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{isa} algo {algo}: {name} differs from the reference kernel"
    each_isa_run(check)


@pytest.mark.parametrize("case", CASES[:5], ids=case_id)
def test_image_tiles_match_the_numpy_reference(case):
    rng = rng_for(case, "image-ref")
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


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_image_tiles_bitwise_equal_for_any_thread_count(case):
    rng = rng_for(case, "image-threads")
    x, wt, b = arrays(case, np.float32, rng)
    gy = rng.standard_normal(_cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        want = run(case, ALGO_BLOCKED, x, wt, b, gy)
        for n in (2, 3):
            cnnpy.set_num_threads(n)
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{n} threads: {name} differs from 1 thread"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", [c for c in CASES if c[6][0][0] == c[6][0][1] and c[6][1][0] == c[6][1][1]],
                         ids=case_id)
def test_image_tiles_match_pytorch(case):
    check_against_pytorch(case, rng_for(case, "image-torch"))


@st.composite
def geometry(draw):
    g = draw(st.integers(1, 2))
    ci, co = g * draw(st.integers(1, 16 // g)), g * draw(st.integers(1, 24 // g))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    h0, w0 = max(1, dh * (kh - 1) + 1 - sum(pads[0])), max(1, dw * (kw - 1) + 1 - sum(pads[1]))
    h, w = draw(st.integers(h0, h0 + 6)), draw(st.integers(w0, w0 + 23))  # output widths 1-24
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    return (draw(st.integers(14, 34)), ci, co, (h, w), (kh, kw), s, pads, (dh, dw), g), draw(st.integers(0, 2**31))


@settings(deadline=None, max_examples=60)
@given(geometry())
def test_image_tiles_property_exact_on_integers(drawn):
    """Any geometry in the range, batches of 14-34: BLOCKED (image, channel or pixel tiles, as
    the rules pick) gives exactly the reference kernel's sums of small integers, and the same
    bits at 1 and 2 threads."""
    case, seed = drawn
    rng = np.random.default_rng(seed)
    x, wt, b = arrays(case, np.float32, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
    for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, x, wt, b, gy), want):
        assert np.array_equal(a, e), f"{case_id(case)}: {name} differs from the reference kernel"
    xf, wf, bf = arrays(case, np.float32, rng)
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        one = run(case, ALGO_BLOCKED, xf, wf, bf, gy)
        cnnpy.set_num_threads(2)
        for name, a, e in zip(("y", "dx", "dw", "db"), run(case, ALGO_BLOCKED, xf, wf, bf, gy), one):
            assert np.array_equal(a, e), f"{case_id(case)}: {name} differs at 2 threads"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)
