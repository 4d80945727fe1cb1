"""1x1 convolutions (stride 1, no padding) on the dense layer's GEMM (csrc/pointwise_simd.h, the
float32 BLOCKED/AUTO path of the AVX2 and AVX-512 tables): forward and input gradient exactly equal
to the reference kernel on small integers under every instruction set, close to the float64 NumPy
reference and PyTorch on random data, bitwise identical for any thread count; the 4 KB-plane rule's
both sides. (That the input gradient adds onto a non-zero dx, which the binding never hands the
engine, is checked in C: tests/c/test_engine.c.)"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import reference as ref
from cnnpy import _cnn
from helpers import assert_close, rng_for, torch

GEOMETRY = (1, 1, 0, 0, 0, 0, 1, 1, 1)  # stride 1, no padding, dilation 1; groups set per case

# (N, C_in, C_out, H, W, groups)
CASES = [
    (1, 32, 24, 7, 7, 1),       # one 24-column block and a partial one
    (2, 3, 5, 1, 1, 1),         # 1x1 images: one masked column
    (3, 1, 1, 9, 11, 1),        # one channel each way
    (2, 300, 7, 3, 5, 1),       # a reduction longer than one 256-row panel of B
    (1, 7, 300, 2, 3, 1),       # many outputs, rows past the last 4-row tile
    (2, 12, 18, 6, 8, 3),       # groups
    (1, 8, 8, 5, 5, 8),         # depthwise
    (1, 16, 16, 32, 32, 1),     # 4 KB planes, < 64 outputs: the blocked kernel
    (1, 8, 64, 32, 32, 1),      # 4 KB planes, 64 outputs: the GEMM, its B panel copied
    (1, 16, 24, 16, 16, 1),     # 1 KB planes: the GEMM, B panel copied
    (2, 10, 20, 11, 13, 2),     # odd sizes everywhere
]


def case_id(c):
    n, ci, co, h, w, g = c
    return f"N{n}-Ci{ci}-Co{co}-{h}x{w}-g{g}"


def geometry(groups):
    return GEOMETRY[:-1] + (groups,)


def arrays(case, dtype, rng, integers=False):
    n, ci, co, h, w, g = case
    draw = (lambda shape: rng.integers(-3, 4, shape)) if integers else rng.standard_normal
    return (draw((n, ci, h, w)).astype(dtype), draw((co, ci // g, 1, 1)).astype(dtype),
            draw(co).astype(dtype), draw((n, co, h, w)).astype(dtype))


def run(case, algo, x, wt, b, gy):
    geo = geometry(case[-1])
    y = _cnn.conv2d_forward(x, wt, b, geo, algo)
    return (y, *_cnn.conv2d_backward(gy, x, wt, True, True, True, geo, algo))


@pytest.fixture
def each_isa():
    before = cnnpy.get_isa()
    yield cnnpy.available_isas()
    cnnpy.set_isa(before)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pointwise_equals_the_reference_kernel_on_integers(case, each_isa):
    x, wt, b, gy = arrays(case, np.float32, rng_for(case, "pw-int"), integers=True)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
        for algo in (_cnn.ALGO_BLOCKED, _cnn.ALGO_AUTO):
            for name, a, e in zip(("y", "dx", "dw", "db"), run(case, algo, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{isa} algo {algo}: {name} differs from the reference kernel"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pointwise_matches_the_numpy_reference(case, each_isa):
    x, wt, b, gy = arrays(case, np.float32, rng_for(case, "pw-ref"))
    g = case[-1]
    y_ref = ref.conv2d(x, wt, b, groups=g)
    gx_ref, gw_ref, gb_ref = ref.conv2d_backward(gy, x, wt, b, groups=g)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        y, gx, gw, gb = run(case, _cnn.ALGO_AUTO, x, wt, b, gy)
        assert_close(y, y_ref, np.float32, scale=10)
        assert_close(gx, gx_ref, np.float32, scale=10)
        assert_close(gw, gw_ref, np.float32, scale=100)
        assert_close(gb, gb_ref, np.float32, scale=100)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pointwise_bitwise_equal_for_any_thread_count(case):
    x, wt, b, gy = arrays(case, np.float32, rng_for(case, "pw-threads"))
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        want = run(case, _cnn.ALGO_AUTO, x, wt, b, gy)
        for n in (2, 3, 5):
            cnnpy.set_num_threads(n)
            for a, e in zip(run(case, _cnn.ALGO_AUTO, x, wt, b, gy), want):
                assert np.array_equal(a, e), f"{n} threads differ from 1 thread"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)


@settings(deadline=None, max_examples=60)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40), st.integers(1, 20),
       st.integers(1, 40), st.sampled_from([1, 2, 4]), st.booleans())
def test_pointwise_property_against_the_reference_kernel(n, ci, co, h, w, g, bias):
    ci, co = ci * g, co * g
    case = (n, ci, co, h, w, g)
    x, wt, b, gy = arrays(case, np.float32, rng_for(case, "pw-prop"), integers=True)
    b = b if bias else None
    want = run(case, _cnn.ALGO_REFERENCE, x, wt, b, gy)
    for name, a, e in zip(("y", "dx", "dw", "db"), run(case, _cnn.ALGO_AUTO, x, wt, b, gy), want):
        assert np.array_equal(a, e), f"{name} differs from the reference kernel"


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("case", [(2, 64, 96, 14, 14, 1), (1, 24, 32, 30, 31, 2)], ids=case_id)
def test_pointwise_matches_pytorch(case):
    x, wt, b, gy = arrays(case, np.float32, rng_for(case, "pw-torch"))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, wt, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, groups=case[-1])
    ty.backward(torch.from_numpy(gy))
    for a, e in zip(run(case, _cnn.ALGO_AUTO, x, wt, b, gy), (ty.detach(), tx.grad, tw.grad, tb.grad)):
        e = e.numpy().astype(np.float64)
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max())))
