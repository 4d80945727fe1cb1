"""The small-batch dense kernels (csrc/dense_simd.h: dot products forward, GEMMs backward reading A
in place, float32 with AVX2 / AVX-512, batches up to 64) against exact integer products under every
instruction set, the float64 NumPy product, PyTorch, and themselves at any thread count. Shapes
cover every tail: batch not a multiple of the row tile, outputs not a multiple of the output tile,
features not a multiple of the vector width or a multiple of 64 (B copied to panels), outputs past
one panel of 256 rows along k, and the batch sizes on both sides of 64."""
import numpy as np
import pytest

import cnnpy
import cnnpy.functional as F
from cnnpy import _cnn
from helpers import rng_for, torch

# (batch, in, out)
SHAPES = [(32, 784, 250), (32, 1936, 50), (64, 512, 512), (1, 8, 1), (3, 9, 2), (5, 37, 7),
          (16, 100, 11), (17, 64, 13), (63, 31, 9), (64, 8, 40), (65, 40, 6), (7, 5, 3),
          # features a multiple of 64 (the backward copies B to a panel), outputs past 256 (two
          # panels along k), every edge of the 4- and 8-row tiles
          (1, 64, 1), (7, 128, 257), (8, 192, 9), (9, 256, 15), (15, 64, 16), (16, 320, 17),
          (33, 128, 300), (1, 1, 1), (9, 7, 8)]


def shape_id(s):
    return "B{}-in{}-out{}".format(*s)


@pytest.fixture
def each_isa():
    before = cnnpy.get_isa()
    yield cnnpy.available_isas()
    cnnpy.set_isa(before)


def exact_products(x, w, b, g):
    """y, dx, dw, db in float64 (exact for the small integers used)."""
    x, w, b, g = (a.astype(np.float64) for a in (x, w, b, g))
    return x @ w.T + b, g @ w, g.T @ x, g.sum(0)


def integer_data(shape, tag):
    """x, w, b, g of small integers as float32 (every product and sum exact)."""
    batch, fin, fout = shape
    rng = rng_for(shape, tag)
    return tuple(rng.integers(-3, 4, s).astype(np.float32)
                 for s in ((batch, fin), (fout, fin), fout, (batch, fout)))


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_small_batch_kernels_are_exact_on_integers(shape, each_isa):
    x, w, b, g = integer_data(shape, "dense-int")
    want = exact_products(x, w, b, g)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        got = (F.linear(x, w, b), *F.linear_backward(g, x, w, b))
        for name, a, e in zip(("y", "dx", "dw", "db"), got, want):
            assert a.dtype == np.float32
            assert np.array_equal(a, e), f"{isa}: {name}"


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_small_batch_kernels_match_float64(shape, each_isa):
    batch, fin, fout = shape
    rng = rng_for(shape, "dense")
    x, w, b, g = (rng.standard_normal(s).astype(np.float32)
                  for s in ((batch, fin), (fout, fin), fout, (batch, fout)))
    want = exact_products(x, w, b, g)
    for isa in each_isa:
        cnnpy.set_isa(isa)
        got = (F.linear(x, w, b), *F.linear_backward(g, x, w, b))
        for a, e, n in zip(got, want, (fin, fout, batch, batch)):
            np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5 * np.sqrt(n) * max(1.0, np.abs(e).max()))


@pytest.mark.parametrize("shape", [(32, 784, 250), (5, 37, 7), (64, 100, 70), (33, 128, 300)],
                         ids=shape_id)
def test_small_batch_kernels_bitwise_equal_for_any_thread_count(shape):
    batch, fin, fout = shape
    rng = rng_for(shape, "dense-threads")
    x, w, b, g = (rng.standard_normal(s).astype(np.float32)
                  for s in ((batch, fin), (fout, fin), fout, (batch, fout)))
    before, work = cnnpy.get_num_threads(), _cnn.set_min_part_work(1)
    try:
        cnnpy.set_num_threads(1)
        want = (F.linear(x, w, b), *F.linear_backward(g, x, w, b))
        for n in (2, 3, 7):
            cnnpy.set_num_threads(n)
            for a, e in zip((F.linear(x, w, b), *F.linear_backward(g, x, w, b)), want):
                assert np.array_equal(a, e), f"{n} threads"
    finally:
        _cnn.set_min_part_work(work)
        cnnpy.set_num_threads(before)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("shape", [(32, 784, 250), (32, 1936, 50), (64, 512, 512), (17, 64, 13)], ids=shape_id)
def test_small_batch_kernels_match_pytorch(shape):
    batch, fin, fout = shape
    rng = rng_for(shape, "dense-torch")
    x, w, b, g = (rng.standard_normal(s).astype(np.float32)
                  for s in ((batch, fin), (fout, fin), fout, (batch, fout)))
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.from_numpy(g))
    got = (F.linear(x, w, b), *F.linear_backward(g, x, w, b))
    for a, e in zip(got, (ty.detach(), tx.grad, tw.grad, tb.grad)):
        e = e.numpy()
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(e).max())))


@pytest.mark.parametrize("shape", [(32, 784, 250), (5, 37, 7), (64, 512, 512), (3, 4, 5)], ids=shape_id)
def test_backward_writes_every_gradient_element(shape, each_isa):
    """linear_backward hands back gradients the kernels wrote over uninitialised memory: freed
    arrays of NaN of the same sizes, likely to be reused for them, must not show through."""
    batch, fin, fout = shape
    x, w, b, g = integer_data(shape, "dense-overwrite")
    want = exact_products(x, w, b, g)[1:]
    for isa in each_isa:
        cnnpy.set_isa(isa)
        for dtype in (np.float32, np.float64):
            for _ in range(3):
                junk = [np.full(s, np.nan, dtype) for s in ((batch, fin), (fout, fin), fout)]
                del junk
                got = F.linear_backward(g.astype(dtype), x.astype(dtype), w.astype(dtype), b.astype(dtype))
                for name, a, e in zip(("dx", "dw", "db"), got, want):
                    assert np.array_equal(a, e), f"{isa} {dtype.__name__}: {name}"


@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 5, 0), (4, 0, 3)], ids=shape_id)
def test_backward_of_empty_shapes_is_zero(shape):
    """No batch or no outputs: zero gradients (written, not left uninitialised); no features: db."""
    batch, fin, fout = shape
    x, w, b, g = integer_data(shape, "dense-empty")
    for dx, dw, db in (F.linear_backward(g, x, w, b), _cnn.linear_backward(g, x, w, True, True, True)):
        assert dx.shape == (batch, fin) and dw.shape == (fout, fin) and db.shape == (fout,)
        for a, e in zip((dx, dw, db), exact_products(x, w, b, g)[1:]):
            assert np.array_equal(a, e)


@pytest.mark.parametrize("shape", [(32, 784, 250), (5, 37, 7), (1, 1, 1)], ids=shape_id)
def test_backward_fast_path_matches_the_full_path(shape):
    """F.linear_backward's C fast path (every gradient, C-contiguous arrays of one dtype) gives the
    full path's results (an explicit output_mask takes the full path), with and without a bias,
    and arrays off the fast path (strided, mixed dtypes) still get the right gradients."""
    batch, fin, fout = shape
    x, w, b, g = integer_data(shape, "dense-fast")
    want = exact_products(x, w, b, g)[1:]
    for dtype in (np.float32, np.float64):
        xd, wd, bd, gd = (a.astype(dtype) for a in (x, w, b, g))
        for bias in (bd, None):
            fast = F.linear_backward(gd, xd, wd, bias)
            full = F.linear_backward(gd, xd, wd, bias, output_mask=(True, True, True))
            assert (fast[2] is None) == (bias is None) == (full[2] is None)
            for a, e in zip(fast, full):
                if e is not None:
                    assert a.dtype == dtype and np.array_equal(a, e)
    strided = np.asfortranarray(x)
    for args in ((g, strided, w, b), (g.astype(np.float64), x, w, b), (g, x, w, b.astype(np.float64))):
        for a, e in zip(F.linear_backward(*args), want):
            assert np.array_equal(a, e)
