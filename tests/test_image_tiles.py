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

from cnnpy import _cnn
from helpers import rng_for, torch
from test_channel_tiles import (check_drawn_geometry, check_numpy_reference,
                                check_reference_kernel_exactly, check_thread_counts)
from test_conv_kernels import ALGO_BLOCKED, arrays, case_id, check_against_pytorch, engine_args

# (N, C_in, C_out, (H, W), (kH, kW), stride, ((top, bottom), (left, right)), dilation, groups)
CASES = [
    (32, 10, 20, (13, 13), (5, 5), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # the MNIST net
    (30, 16, 16, (10, 10), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),   # a partly filled block; dx
    (16, 8, 8, (16, 16), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),     # stride 2
    (32, 16, 24, (9, 11), (3, 3), (1, 1), ((2, 1), (0, 2)), (2, 2), 2),    # groups, dilation, pads
    (32, 8, 32, (12, 12), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1),    # dx phases
    (16, 12, 8, (8, 14), (2, 3), (2, 1), ((0, 1), (1, 1)), (1, 2), 1),     # non-square kernel, stride
    (16, 2, 11, (10, 10), (7, 7), (1, 1), ((3, 3), (3, 3)), (1, 1), 1),    # 11 channels: short block
    (32, 16, 16, (1, 20), (1, 5), (1, 1), ((0, 0), (2, 2)), (1, 1), 1),    # 1-D
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_image_tiles_equal_the_reference_kernel_exactly(case):
    check_reference_kernel_exactly(case, "image-int")


@pytest.mark.parametrize("case", CASES[:5], ids=case_id)
def test_image_tiles_match_the_numpy_reference(case):
    check_numpy_reference(case, "image-ref")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_image_tiles_bitwise_equal_for_any_thread_count(case):
    check_thread_counts(case, "image-threads")


SYMMETRIC = [c for c in CASES if c[6][0][0] == c[6][0][1] and c[6][1][0] == c[6][1][1]]  # PyTorch's padding


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", SYMMETRIC, ids=case_id)
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
    case = (draw(st.integers(14, 34)), ci, co, (h, w), (kh, kw), s, pads, (dh, dw), g)
    return case, draw(st.integers(0, 2**31))


@settings(deadline=None, max_examples=60)
@given(geometry())
def test_image_tiles_property_exact_on_integers(drawn):
    """Any geometry in the range, batches of 14-34: BLOCKED (image, channel or pixel tiles, as
    the rules pick) gives exactly the reference kernel's sums of small integers, and the same
    bits at 1 and 2 threads."""
    check_drawn_geometry(*drawn)


def test_image_tiles_in_the_last_round_of_a_strided_input_gradient():
    """The input gradient of a stride-2 layer goes by phases, a round of images at a time
    (bk_phase_images: 40 here). The rounds' batches differ (40, then 31): the last one takes the
    image tiles where a whole round (40 of 48 lanes) does not, and the scratch must hold either."""
    case = (71, 45, 16, (48, 48), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1)
    rng = rng_for(case, "image-rounds")
    x, wt, b = arrays(case, np.float32, rng, integers=True)
    gy = rng.integers(-3, 4, _cnn.conv2d_forward(x, wt, b, engine_args(case), 1).shape).astype(np.float32)
    args = engine_args(case)
    want = _cnn.conv2d_backward(gy, x, wt, True, False, False, args, _cnn.ALGO_REFERENCE)[0]
    got = _cnn.conv2d_backward(gy, x, wt, True, False, False, args, ALGO_BLOCKED)[0]
    assert np.array_equal(got, want)
