"""conv_transpose1d / conv_transpose2d beyond their table (tests/ops/conv_transpose.py): the
adjoint identity with conv2d, output_size, the lecture's sizes, the fast kernels against the
engine's reference kernel, and a property test against the float64 reference (a direct
scatter)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from cnnpy import _cnn
from helpers import DTYPES, assert_close, rng_for
from ops.conv_transpose import REF_CASES, ref_case_id, ref_make


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
@pytest.mark.parametrize("case", REF_CASES, ids=ref_case_id)
def test_fast_kernels_match_reference_kernel(case, algo, dtype):
    n, ci, co, h, w, k, s, p, op, d, g, b = case
    rng = rng_for(case, "algoT")
    x, wt, bias, _ = ref_make(case, dtype, rng)
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
