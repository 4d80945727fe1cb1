"""The pooling kernels of csrc/generic/pool.h through Python: the fast paths (output-stationary
max blocks, gathers that write each input gradient once) and their fallbacks for wide rows and
windows, on every instruction set, against the float64 reference; and max pooling's window that
holds no input element (issue 10): index -1, no gradient, nowhere to unpool. The bitwise
comparison with the C reference loops and the compact uint8 argmax: tests/c/test_pool_convt.c."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from helpers import DTYPES, assert_close, check_grad, distinct, numeric_grad, rng_for, torch

# ---- a window with no input element (issue 10) ----------------------------------------------------------


def test_the_reported_example_has_no_gradient():
    """max_pool1d of length-1 signals, kernel 2, stride 1, padding 1, dilation 2: the window's taps
    (-1 and 1) miss the input, so the output is -inf whatever the input and its gradient is 0."""
    x = np.array([[[5.0]], [[7.0]]])
    y, idx = F.max_pool1d(x, 2, 1, 1, 2, return_indices=True)
    assert np.all(y == -np.inf) and np.all(idx == -1)
    np.testing.assert_array_equal(F.max_pool1d_backward(np.ones((2, 1, 1)), x, 2, 1, 1, 2), np.zeros((2, 1, 1)))
    np.testing.assert_array_equal(F.max_pool1d_backward(np.ones((2, 1, 1)), x, 2, 1, 1, 2, indices=idx),
                                  np.zeros((2, 1, 1)))


# (H, W, k, stride, padding, dilation, ceil_mode): geometries with windows that miss the input.
# With padding <= k/2 and a padded input at least as long as the dilated window, that takes
# k = 2, padding 1 and dilation n + 1 along an axis (taps -1 and n): every window misses.
EMPTY = [(3, 6, (2, 3), (1, 2), (1, 1), (4, 1), False),
         (4, 2, (2, 2), (2, 1), (0, 1), (1, 3), True),
         (1, 5, (2, 2), (1, 2), (1, 1), (2, 1), True),
         (2, 2, (2, 2), (3, 3), (1, 1), (3, 3), False)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", EMPTY, ids=lambda c: "H{}W{}-k{}-s{}-p{}-d{}-ceil{}".format(*c))
def test_windows_without_input_send_no_gradient(case, dtype):
    """By the definition (the output of such a window does not depend on the input): index -1,
    the backward equals the backward with those windows' gradients zeroed, and finite differences
    of sum(g * y) over the outputs that exist."""
    h, w, k, s, p, d, cm = case
    rng = rng_for(case, dtype)
    x = distinct((2, 3, h, w), rng).astype(dtype)
    y, idx = F.max_pool2d(x, k, s, p, d, cm, return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x, k, s, p, d, cm)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    empty = idx == -1
    assert empty.all() and np.all(y == -np.inf)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = F.max_pool2d_backward(gy, x, k, s, p, d, cm)
    np.testing.assert_array_equal(gx, np.zeros_like(x))
    np.testing.assert_array_equal(gx, F.max_pool2d_backward(gy, x, k, s, p, d, cm, indices=idx))
    assert_close(gx, ref.max_pool2d_backward(gy, x.shape, idx_ref), dtype)
    if dtype == np.float64:  # the output does not move when the input does
        check_grad(gx, numeric_grad(lambda v: float(np.sum(gy * np.maximum(F.max_pool2d(v, k, s, p, d, cm), -1e300))), x))


def test_unpooling_puts_a_missing_window_nowhere():
    """max_unpool and its backward skip index -1, as the pooling's backward does."""
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    y, idx = F.max_pool2d(x, 2, 3, 1, 3, return_indices=True)  # windows at -1, 2: the first holds x[0,0]
    assert idx.min() == -1
    u = F.max_unpool2d(y, idx, 2, 3, 1, output_size=(2, 2))
    np.testing.assert_array_equal(u, ref.max_unpool2d(y, idx, (2, 2)))
    assert np.isfinite(u).all()
    gu = np.arange(4.0).reshape(1, 1, 2, 2) + 1
    gx, _ = F.max_unpool2d_backward(gu, y, idx, 2, 3, 1, output_size=(2, 2))
    np.testing.assert_array_equal(gx, ref.max_unpool2d_backward(gu, idx))
    assert np.all(gx[idx == -1] == 0)
    with pytest.raises(ValueError, match="or be -1"):
        F.max_unpool2d(y, idx - 1, 2, 3, 1, output_size=(2, 2))


# ---- the fast paths and their fallbacks, on every instruction set -----------------------------------------

# (N, C, H, W, k, stride, padding, dilation): interior blocks with ragged ends, the benchmark's and
# the autoencoder's shapes, and the fallbacks (rows over 1024, windows over 32 columns or 8 rows,
# strides over 32)
SHAPES = [(2, 3, 9, 45, (3, 3), (2, 2), (1, 1), (1, 1)), (1, 4, 12, 91, (2, 2), (2, 2), (0, 0), (1, 1)),
          (2, 2, 11, 37, (3, 2), (1, 3), (1, 1), (2, 1)), (1, 2, 20, 30, (4, 4), (3, 1), (2, 2), (1, 3)),
          (1, 2, 3, 1100, (2, 3), (1, 2), (1, 1), (1, 1)), (1, 1, 4, 80, (2, 33), (1, 1), (0, 16), (1, 1)),
          (1, 1, 24, 9, (9, 2), (2, 1), (4, 1), (1, 1)), (1, 1, 4, 200, (1, 2), (1, 34), (0, 1), (1, 1))]


@pytest.mark.parametrize("isa", cnnpy.available_isas())
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", SHAPES, ids=lambda c: "N{}C{}-{}x{}-k{}-s{}-p{}-d{}".format(*c))
def test_fast_paths_and_fallbacks_match_the_reference(case, dtype, isa):
    n, c, h, w, k, s, p, d = case
    rng = rng_for(case, dtype, "fast")
    x = np.round(rng.standard_normal((n, c, h, w)) * 3).astype(dtype)  # ties
    x.flat[rng.choice(x.size, 3, replace=False)] = np.nan
    x.flat[rng.choice(x.size, 5, replace=False)] = -np.inf
    before = cnnpy.get_isa()
    try:
        cnnpy.set_isa(isa)
        for ceil in (False, True):
            y, idx = F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)
            y_ref, idx_ref = ref.max_pool2d(x, k, s, p, d, ceil)
            np.testing.assert_array_equal(y, y_ref)
            np.testing.assert_array_equal(idx, idx_ref)
            gy = rng.standard_normal(y.shape).astype(dtype)
            assert_close(F.max_pool2d_backward(gy, x, k, s, p, d, ceil, indices=idx),
                         ref.max_pool2d_backward(gy, x.shape, idx), dtype)
            xa = np.nan_to_num(x, nan=1.0, neginf=-2.0)
            for cip in (True, False):
                a = F.avg_pool2d(xa, k, s, p, ceil, cip)
                assert_close(a, ref.avg_pool2d(xa, k, s, p, ceil, cip), dtype)
                ga = rng.standard_normal(a.shape).astype(dtype)
                assert_close(F.avg_pool2d_backward(ga, xa, k, s, p, ceil, cip),
                             ref.avg_pool2d_backward(ga, x.shape, k, s, p, ceil, cip), dtype)
    finally:
        cnnpy.set_isa(before)


@st.composite
def wide_geometry(draw):
    """Rows wide enough for several vector blocks, windows up to 5x5 with dilation."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 16))
    w = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 70))
    return dict(k=k, d=d, p=p, h=h, w=w, s=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
                ceil=draw(st.booleans()), f32=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


@settings(max_examples=80, deadline=None)
@given(wide_geometry())
def test_wide_rows_property(c):
    dtype = np.float32 if c["f32"] else np.float64
    rng = np.random.default_rng(c["seed"])
    x = np.round(rng.standard_normal((1, 2, c["h"], c["w"])) * 2).astype(dtype)
    y, idx = F.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"], return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(gy, x, c["k"], c["s"], c["p"], c["d"], c["ceil"], indices=idx),
                 ref.max_pool2d_backward(gy, x.shape, idx), dtype)
    if c["h"] + 2 * c["p"][0] >= c["k"][0] and c["w"] + 2 * c["p"][1] >= c["k"][1]:
        a = F.avg_pool2d(x, c["k"], c["s"], c["p"], c["ceil"])
        assert_close(a, ref.avg_pool2d(x, c["k"], c["s"], c["p"], c["ceil"]), dtype)
        ga = rng.standard_normal(a.shape).astype(dtype)
        assert_close(F.avg_pool2d_backward(ga, x, c["k"], c["s"], c["p"], c["ceil"]),
                     ref.avg_pool2d_backward(ga, x.shape, c["k"], c["s"], c["p"], c["ceil"]), dtype)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", [((4, 16, 56, 56), 2, 2, 0), ((2, 64, 56, 56), 3, 2, 1), ((4, 6, 91, 91), 2, 2, 0)],
                         ids=["k2s2", "k3s2p1", "gausnet"])
def test_benchmark_shapes_match_pytorch(case, kind):
    shape, k, s, p = case
    rng = rng_for(case, kind)
    x = rng.standard_normal(shape).astype(np.float32)
    pool = getattr(torch.nn.functional, f"{kind}_pool2d")
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = pool(tx, k, s, p)
    y = getattr(F, f"{kind}_pool2d")(x, k, s, p)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-7)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    ty.backward(torch.from_numpy(gy))
    gx = getattr(F, f"{kind}_pool2d_backward")(gy, x, k, s, p)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-6, atol=1e-7)


# ---- max pooling's backward from flat indices: each plane zeroed in cache, then scattered (issue 12) ------


def _scatter_into_zeros(gy, idx, shape):
    """The definition, in the order of the outputs: dx = 0, then dx[idx] += gy (index -1: nothing)."""
    n, c = gy.shape[:2]
    dx = np.zeros((n * c, shape[2] * shape[3]), gy.dtype)
    g2, i2 = gy.reshape(n * c, -1), np.asarray(idx).reshape(n * c, -1)
    for p in range(n * c):
        for j in range(i2.shape[1]):
            if i2[p, j] >= 0:
                dx[p, i2[p, j]] += g2[p, j]
    return dx.reshape(shape)


# (N, C, H, W, k, stride, padding, dilation, ceil_mode): overlapping windows (ties: one maximum
# that several windows share gets their terms in output order), the benchmark's k2 s2 and k3 s2 p1
# at odd sizes, batch 1, windows without input (index -1), a plane larger than the grain
SCATTER = [(2, 3, 7, 9, 3, 1, 1, 1, False), (1, 2, 11, 13, 2, 2, 0, 1, True),
           (3, 4, 9, 9, 3, 2, 1, 1, False), (1, 1, 6, 6, 2, 3, 1, 3, False),
           (2, 1, 5, 4, (2, 3), (1, 2), (1, 1), (2, 1), True), (1, 2, 200, 190, 3, 2, 1, 1, False)]


@pytest.mark.parametrize("isa", cnnpy.available_isas())
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", SCATTER, ids=lambda c: "N{}C{}-{}x{}-k{}-s{}-p{}-d{}-ceil{}".format(*c))
def test_max_backward_from_indices_is_the_scatter_into_zeros(case, dtype, isa):
    """Bitwise the definition's scatter into zeros, for 1 and 2 threads, from the forward's
    indices and from user indices that lie outside their window (the engine must not assume
    that they came from the forward)."""
    n, c, h, w, k, s, p, d, cm = case
    rng = rng_for(case, dtype, "scatter")
    x = np.round(rng.standard_normal((n, c, h, w)) * 2).astype(dtype)  # ties
    before, threads = cnnpy.get_isa(), cnnpy.get_num_threads()
    try:
        cnnpy.set_isa(isa)
        y, idx = F.max_pool2d(x, k, s, p, d, cm, return_indices=True)
        gy = rng.standard_normal(y.shape).astype(dtype)
        gy.flat[0] = -0.0
        wild = rng.integers(-1, h * w, idx.shape)  # anywhere in the plane, or -1
        for indices in (idx, wild, wild.astype(np.int32)):
            want = _scatter_into_zeros(gy, indices, x.shape)
            for t in (1, 2):
                cnnpy.set_num_threads(t)
                got = F.max_pool2d_backward(gy, x, k, s, p, d, cm, indices=indices)
                np.testing.assert_array_equal(got, want)
                np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    finally:
        cnnpy.set_isa(before)
        cnnpy.set_num_threads(threads)


@pytest.mark.parametrize("bad", [-2, 64, 2**62])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint64])
def test_max_backward_rejects_an_index_outside_the_plane(bad, dtype):
    """The engine checks the indices as it reads them; the message quotes the value given (an
    unsigned value that the cast to int64 would wrap included)."""
    if dtype == np.int32 and bad == 2**62:
        bad = 2**31 - 1
    if dtype == np.uint64 and bad == -2:
        bad = 2**64 - 1  # int64 -1 after the cast: must not pass for "no position"
    x = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    idx = idx.astype(dtype)
    idx[1, 2, 3, 3] = bad
    with pytest.raises(ValueError, match=f"got {bad}"):
        F.max_pool2d_backward(np.ones_like(y), x, 2, indices=idx)
