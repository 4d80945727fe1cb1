"""Pooling against the float64 reference: max/avg 1-D and 2-D with padding, dilation, ceil_mode
(PyTorch's rule), count_include_pad, divisor_override; NaN and -inf windows; adaptive pooling;
max unpooling; the input forms; a property test over random geometry."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from helpers import DTYPES, assert_close, rng_for

# (N, C, H, W, k, stride, padding, dilation, ceil_mode)
MAX_CASES = [
    (1, 1, 4, 4, (2, 2), (2, 2), (0, 0), (1, 1), False),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), (1, 1), False),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), (1, 1), True),
    (1, 2, 5, 5, (2, 2), (2, 2), (0, 0), (1, 1), True),      # partial last window
    (1, 2, 9, 8, (3, 2), (2, 3), (1, 1), (2, 2), True),
    (2, 2, 6, 6, (2, 2), (2, 2), (1, 1), (1, 1), True),      # last window would start in padding
    (1, 1, 2, 2, (2, 2), (3, 3), (1, 1), (3, 3), False),     # dilated window missing the input
    (0, 2, 5, 5, (2, 2), (2, 2), (0, 0), (1, 1), False),     # empty batch
]


def mid(c):
    n, ch, h, w, k, s, p, d, cm = c
    return f"N{n}-C{ch}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}-d{d[0]}x{d[1]}" + ("-ceil" if cm else "")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", MAX_CASES, ids=mid)
def test_max_pool2d_matches_reference(case, dtype):
    n, ch, h, w, k, s, p, d, cm = case
    rng = rng_for(case, "max")
    x = rng.standard_normal((n, ch, h, w)).astype(dtype)
    y, idx = F.max_pool2d(x, k, s, p, d, cm, return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x, k, s, p, d, cm)
    assert y.dtype == dtype and idx.dtype == np.int64
    assert_close(y, y_ref, dtype)
    if n:  # a window with no input element has index -1; every other index is inside
        np.testing.assert_array_equal(idx, idx_ref)
        assert idx.min() >= -1 and idx.max() < h * w
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = F.max_pool2d_backward(gy, x, k, s, p, d, cm)
    assert gx.shape == x.shape and gx.dtype == dtype
    if n:
        assert_close(gx, ref.max_pool2d_backward(gy, x.shape, idx), dtype)
    assert np.array_equal(F.max_pool2d_backward(gy, x, k, s, p, d, cm, indices=idx), gx)


def test_max_pool_nan_inf_and_ties():
    x = np.array([[[[1.0, np.nan, 3.0, 3.0],
                    [np.nan, 0.0, 3.0, 2.0],
                    [-np.inf, -np.inf, 5.0, 5.0],
                    [-np.inf, -np.inf, 5.0, 1.0]]]])
    for dtype in DTYPES:
        xd = x.astype(dtype)
        y, idx = F.max_pool2d(xd, 2, return_indices=True)
        y_ref, idx_ref = ref.max_pool2d(xd, (2, 2))
        np.testing.assert_array_equal(y, y_ref)          # NaN compares equal in assert_array_equal
        np.testing.assert_array_equal(idx, idx_ref)
        assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 4      # the last NaN of the window
        assert y[0, 0, 0, 1] == 3 and idx[0, 0, 0, 1] == 2           # ties keep the first
        assert y[0, 0, 1, 0] == -np.inf and idx[0, 0, 1, 0] == 8     # all -inf: first element
        assert idx[0, 0, 1, 1] == 10
    y1, i1 = F.max_pool1d(np.array([2.0, np.nan, 1.0, -np.inf, -np.inf]), 2, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y1, [np.nan, 1.0, -np.inf])
    np.testing.assert_array_equal(i1, [1, 2, 4])


# (N, C, H, W, k, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CASES = [
    (1, 1, 4, 4, (2, 2), (2, 2), (0, 0), False, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), False, False, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), True, True, None),
    (2, 3, 7, 6, (3, 3), (2, 2), (1, 1), True, False, None),
    (1, 2, 5, 5, (2, 2), (2, 2), (0, 0), True, True, None),    # partial window divides by in-bounds
    (1, 2, 8, 9, (3, 4), (3, 2), (1, 2), True, True, 5),
    (1, 2, 6, 6, (2, 2), (2, 2), (1, 1), True, False, None),
]


def aid(c):
    n, ch, h, w, k, s, p, cm, cip, dv = c
    return (f"N{n}-C{ch}-H{h}W{w}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-p{p[0]}x{p[1]}" + ("-ceil" if cm else "")
            + ("" if cip else "-nopad") + (f"-div{dv}" if dv else ""))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", AVG_CASES, ids=aid)
def test_avg_pool2d_matches_reference(case, dtype):
    n, ch, h, w, k, s, p, cm, cip, dv = case
    rng = rng_for(case, "avg")
    x = rng.standard_normal((n, ch, h, w)).astype(dtype)
    y = F.avg_pool2d(x, k, s, p, cm, cip, dv)
    assert y.dtype == dtype
    assert_close(y, ref.avg_pool2d(x, k, s, p, cm, cip, dv), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.avg_pool2d_backward(gy, x, k, s, p, cm, cip, dv),
                 ref.avg_pool2d_backward(gy, x.shape, k, s, p, cm, cip, dv), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_pool1d_matches_reference(dtype):
    rng = rng_for("pool1d")
    x = rng.standard_normal((2, 3, 11)).astype(dtype)
    y, idx = F.max_pool1d(x, 3, 2, 1, 2, True, return_indices=True)
    y_ref, idx_ref = ref.max_pool1d(x, 3, 2, 1, 2, True)
    assert_close(y, y_ref, dtype)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool1d_backward(gy, x, 3, 2, 1, 2, True), ref.max_pool1d_backward(gy, x.shape, idx), dtype)
    a = F.avg_pool1d(x, 4, 3, 2, True, False)
    assert_close(a, ref.avg_pool1d(x, 4, 3, 2, True, False), dtype)
    gy = rng.standard_normal(a.shape).astype(dtype)
    assert_close(F.avg_pool1d_backward(gy, x, 4, 3, 2, True, False),
                 ref.avg_pool1d_backward(gy, x.shape, 4, 3, 2, True, False), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("h,w,oh,ow", [(7, 9, 3, 4), (5, 5, 5, 5), (4, 6, 1, 1), (3, 3, 5, 4)])
def test_adaptive_pooling_matches_reference(h, w, oh, ow, dtype):
    rng = rng_for("adaptive", h, w, oh, ow)
    x = rng.standard_normal((2, 3, h, w)).astype(dtype)
    a = F.adaptive_avg_pool2d(x, (oh, ow))
    assert_close(a, ref.adaptive_avg_pool2d(x, (oh, ow)), dtype)
    gy = rng.standard_normal(a.shape).astype(dtype)
    assert_close(F.adaptive_avg_pool2d_backward(gy, x, (oh, ow)), ref.adaptive_avg_pool2d_backward(gy, x.shape), dtype)
    m, idx = F.adaptive_max_pool2d(x, (oh, ow), return_indices=True)
    m_ref, idx_ref = ref.adaptive_max_pool2d(x, (oh, ow))
    assert_close(m, m_ref, dtype)
    np.testing.assert_array_equal(idx, idx_ref)
    assert_close(F.adaptive_max_pool2d_backward(gy, x, (oh, ow)),
                 ref.adaptive_max_pool2d_backward(gy, x.shape, idx), dtype)
    assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, h, 2)
    x1 = x[:, :, 0, :]
    assert_close(F.adaptive_avg_pool1d(x1, ow), ref.adaptive_avg_pool2d(x1[:, :, None], (1, ow))[:, :, 0], dtype)
    assert_close(F.adaptive_max_pool1d(x1, ow), ref.adaptive_max_pool2d(x1[:, :, None], (1, ow))[0][:, :, 0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_max_unpool_inverts_max_pool(dtype):
    rng = rng_for("unpool")
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    u = F.max_unpool2d(y, idx, 2, output_size=x.shape[2:])
    assert u.shape == x.shape
    assert_close(u, ref.max_unpool2d(y, idx, x.shape[2:]), dtype)
    with pytest.raises(ValueError, match="indices"):  # planes of width 7 do not fit the default 6x6
        F.max_unpool2d(y, idx, 2)
    y6, i6 = F.max_pool2d(x[..., :6], 2, return_indices=True)
    assert F.max_unpool2d(y6, i6, 2).shape == (2, 3, 6, 6)
    gu = rng.standard_normal(u.shape).astype(dtype)
    gx, gi = F.max_unpool2d_backward(gu, y, idx, 2, output_size=x.shape[2:])
    assert gi is None
    assert_close(gx, ref.max_unpool2d_backward(gu, idx), dtype)
    y1, i1 = F.max_pool1d(x[0, 0], 3, return_indices=True)
    u1 = F.max_unpool1d(y1, i1, 3, output_size=7)
    assert u1.shape == (6, 7) and np.array_equal(u1.max(axis=-1), y1.max(axis=-1))


def test_forms_and_lecture_examples():
    m = np.array([[100., 0, 0, 0], [500, 10, 100, 0], [0, 100, 250, 0], [0, 0, 0, 250]])
    assert F.max_pool2d(m, 2).tolist() == [[500, 100], [100, 250]]
    assert F.avg_pool2d(m, 2).tolist() == [[152.5, 25], [25, 125]]
    assert F.max_pool2d(m[None], 2).shape == (1, 2, 2)
    assert F.max_pool2d(m[None, None], 2).shape == (1, 1, 2, 2)
    rows = np.array([np.arange(1, 7), np.arange(6, 0, -1), np.arange(2, 8), np.arange(7, 1, -1),
                     np.arange(3, 9), np.arange(8, 2, -1)], dtype=float)
    assert F.max_pool2d(rows, 2).tolist() == [[6, 4, 6], [7, 5, 7], [8, 6, 8]]
    assert F.max_pool2d(rows, 3).tolist() == [[6, 7], [8, 8]]
    assert cnnpy.pool_output_size(5, 2, ceil_mode=True) == 3


@st.composite
def pool_geometry(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    h = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 10))
    w = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 10))
    return dict(k=k, d=d, p=p, h=h, w=w, s=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
                ceil=draw(st.booleans()), cip=draw(st.booleans()), ties=draw(st.booleans()),
                seed=draw(st.integers(0, 2**31)))


@given(pool_geometry())
def test_pooling_property_against_reference(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((2, 2, c["h"], c["w"]))
    if c["ties"]:
        x = np.round(x)
    y, idx = F.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"], return_indices=True)
    y_ref, idx_ref = ref.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    assert idx.min() >= -1 and idx.max() < c["h"] * c["w"]
    gy = rng.standard_normal(y.shape)
    assert_close(F.max_pool2d_backward(gy, x, c["k"], c["s"], c["p"], c["d"], c["ceil"]),
                 ref.max_pool2d_backward(gy, x.shape, idx))
    if c["h"] + 2 * c["p"][0] >= c["k"][0] and c["w"] + 2 * c["p"][1] >= c["k"][1]:
        a = F.avg_pool2d(x, c["k"], c["s"], c["p"], c["ceil"], c["cip"])
        assert_close(a, ref.avg_pool2d(x, c["k"], c["s"], c["p"], c["ceil"], c["cip"]))
        gy = rng.standard_normal(a.shape)
        assert_close(F.avg_pool2d_backward(gy, x, c["k"], c["s"], c["p"], c["ceil"], c["cip"]),
                     ref.avg_pool2d_backward(gy, x.shape, c["k"], c["s"], c["p"], c["ceil"], c["cip"]))
