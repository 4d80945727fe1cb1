"""Pooling beyond its table (tests/ops/pool.py): the NaN, -inf and tie rules by hand, the
lecture's examples and the input forms, and a property test over random geometry against the
float64 reference."""
import numpy as np
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from helpers import DTYPES, assert_close


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
