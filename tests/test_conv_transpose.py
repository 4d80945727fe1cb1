"""conv_transpose1d / conv_transpose2d against the float64 reference (a direct scatter), the
adjoint identity with conv2d, output_size, and the fast kernels against the reference kernel."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from cnnpy import _cnn
from helpers import DTYPES, assert_close, rng_for

# (N, C_in, C_out, H, W, k, stride, padding, output_padding, dilation, groups, bias)
CASES = [
    (1, 1, 1, 3, 3, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1), 1, False),
    (2, 4, 6, 22, 22, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),   # the lecture's decoder
    (2, 6, 1, 45, 45, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),
    (2, 3, 4, 5, 4, (4, 4), (2, 2), (1, 1), (1, 0), (1, 1), 1, True),
    (1, 4, 6, 6, 7, (3, 2), (3, 2), (1, 0), (2, 1), (1, 2), 2, True),
    (2, 4, 4, 5, 5, (3, 3), (1, 1), (1, 1), (0, 0), (2, 2), 4, False),     # depthwise
    (1, 2, 3, 4, 4, (2, 2), (1, 1), (0, 0), (1, 1), (2, 2), 1, True),      # op < dilation, >= stride
    (1, 16, 8, 8, 8, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1, True),     # K = 128 (GEMM)
    (0, 3, 2, 4, 4, (3, 3), (2, 2), (0, 0), (0, 0), (1, 1), 1, True),      # empty batch
]


def cid(c):
    n, ci, co, h, w, k, s, p, op, d, g, b = c
    return (f"N{n}-Ci{ci}-Co{co}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}"
            f"-op{op[0]}x{op[1]}-d{d[0]}x{d[1]}-g{g}" + ("-bias" if b else ""))


def make(c, dtype, rng):
    n, ci, co, h, w, k, s, p, op, d, g, b = c
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((ci, co // g, *k)).astype(dtype)
    bias = rng.standard_normal(co).astype(dtype) if b else None
    return x, wt, bias, dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=cid)
def test_conv_transpose2d_matches_reference(case, dtype):
    rng = rng_for(case, "convT")
    x, w, b, kw = make(case, dtype, rng)
    y = F.conv_transpose2d(x, w, b, **kw)
    y_ref = ref.conv_transpose2d(x, w, b, **kw)
    assert y.dtype == dtype and y.shape == y_ref.shape
    assert_close(y, y_ref, dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    got = F.conv_transpose2d_backward(gy, x, w, b, **kw)
    want = ref.conv_transpose2d_backward(gy, x, w, b, **kw)
    for a, e in zip(got, want):
        if e is None:
            assert a is None
        else:
            assert_close(a, e, dtype, scale=100)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_conv_transpose1d_matches_reference(dtype):
    rng = rng_for("convT1d")
    x = rng.standard_normal((2, 4, 9)).astype(dtype)
    w = rng.standard_normal((4, 3, 4)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    kw = dict(stride=3, padding=1, output_padding=2, groups=2, dilation=1)
    y = F.conv_transpose1d(x, w, b, **kw)
    assert_close(y, ref.conv_transpose1d(x, w, b, **kw), dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    for a, e in zip(F.conv_transpose1d_backward(gy, x, w, b, **kw),
                    ref.conv_transpose1d_backward(gy, x, w, b, **kw)):
        assert_close(a, e, dtype, scale=100)


def test_transpose_is_the_adjoint_of_convolution():
    """<conv(x), y> == <x, conv_transpose(y)> for the same kernel and geometry."""
    rng = rng_for("adjoint")
    x = rng.standard_normal((2, 3, 11, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    y = F.conv2d(x, w, stride=2, padding=1, dilation=1)
    v = rng.standard_normal(y.shape)
    xt = F.conv_transpose2d(v, w, stride=2, padding=1, output_size=x.shape[2:])
    assert xt.shape == x.shape
    assert np.isclose(np.sum(y * v), np.sum(x * xt), rtol=1e-12)
    assert_close(xt, F.conv2d_backward(v, x, w, stride=2, padding=1)[0])


def test_output_size_chooses_output_padding():
    x = np.ones((1, 1, 4, 4))
    w = np.ones((1, 1, 3, 3))
    for size in (9, 10):
        assert F.conv_transpose2d(x, w, stride=2, output_size=(size, size)).shape == (1, 1, size, size)
    assert F.conv_transpose2d(x, w, stride=2, output_size=(1, 1, 10, 9)).shape == (1, 1, 10, 9)
    with pytest.raises(ValueError, match=r"valid sizes range from \(9, 9\) to \(10, 10\)"):
        F.conv_transpose2d(x, w, stride=2, output_size=(11, 9))


def test_bare_transpose_and_lecture_sizes():
    y = F.conv_transpose2d(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((2, 2)), stride=2)
    assert y.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    # the lecture's autoencoder decoder: 22 -> 45 -> 91
    assert cnnpy.conv_transpose_output_size(22, 3, stride=2) == 45
    assert cnnpy.conv_transpose_output_size(45, 3, stride=2) == 91


ALGOS = [_cnn.ALGO_DIRECT, _cnn.ALGO_GEMM, _cnn.ALGO_AUTO]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("algo", ALGOS, ids=["direct", "gemm", "auto"])
@pytest.mark.parametrize("case", CASES, ids=cid)
def test_fast_kernels_match_reference_kernel(case, algo, dtype):
    n, ci, co, h, w, k, s, p, op, d, g, b = case
    rng = rng_for(case, "algoT")
    x, wt, bias, _ = make(case, dtype, rng)
    args = (*s, *p, *op, *d, g)
    y_ref = _cnn.conv_transpose2d_forward(x, wt, bias, args, _cnn.ALGO_REFERENCE)
    assert_close(_cnn.conv_transpose2d_forward(x, wt, bias, args, algo), y_ref, dtype, scale=10)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    want = _cnn.conv_transpose2d_backward(gy, x, wt, True, True, True, args, _cnn.ALGO_REFERENCE)
    got = _cnn.conv_transpose2d_backward(gy, x, wt, True, True, True, args, algo)
    for a, e in zip(got, want):
        assert_close(a, e, dtype, scale=100)


@st.composite
def transpose_geometry(draw):
    g = draw(st.integers(1, 2))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    full = [(n - 1) * si + di * (ki - 1) + o + 1 for n, si, di, ki, o in zip((h, w), s, d, k, op)]
    p = tuple(draw(st.integers(0, (f - 1) // 2)) for f in full)
    return dict(n=draw(st.integers(1, 2)), ci=g * draw(st.integers(1, 2)), co=g * draw(st.integers(1, 3)),
                g=g, h=h, w=w, k=k, s=s, d=d, op=op, p=p, bias=draw(st.booleans()),
                algo=draw(st.sampled_from(ALGOS)), seed=draw(st.integers(0, 2**31)))


@given(transpose_geometry())
def test_conv_transpose2d_property_against_reference(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"]))
    w = rng.standard_normal((c["ci"], c["co"] // c["g"], *c["k"]))
    b = rng.standard_normal(c["co"]) if c["bias"] else None
    kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"], dilation=c["d"])
    y_ref = ref.conv_transpose2d(x, w, b, **kw)
    args = ((*c["s"], *c["p"], *c["op"], *c["d"], c["g"]), c["algo"])
    assert_close(_cnn.conv_transpose2d_forward(x, w, b, *args), y_ref)
    gy = rng.standard_normal(y_ref.shape)
    got = _cnn.conv_transpose2d_backward(gy, x, w, True, True, b is not None, *args)
    for a, e in zip(got, ref.conv_transpose2d_backward(gy, x, w, b, **kw)):
        if e is None:
            assert a is None
        else:
            assert_close(a, e)
