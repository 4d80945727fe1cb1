"""F.pad against numpy.pad (every mode, pads wider than the input) and the float64 reference
(negative pads crop first), and its backward (the adjoint) against the reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy.functional as F
import reference as ref
from helpers import DTYPES, assert_close, rng_for

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "symmetric": "symmetric",
              "replicate": "edge", "circular": "wrap"}
ALIASES = {"zeros": "constant", "mirror": "reflect", "edge": "replicate", "wrap": "circular"}


def numpy_pad(x, pad, mode, value):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=NUMPY_MODE[mode], **kw)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("shape,pad", [((5,), (2, 3)), ((3, 4), (1, 2, 2, 1)), ((2, 3, 4), (7, 9, 5, 11)),
                                       ((1, 2, 3, 2), (1, 1, 2, 0)), ((2, 1, 3), (0, 0, 3, 4, 1, 2)),
                                       ((1,), (4, 5))], ids=str)
def test_pad_matches_numpy(shape, pad, mode, dtype):
    rng = rng_for("pad", shape, pad, mode)
    x = rng.standard_normal(shape).astype(dtype)
    y = F.pad(x, pad, mode=mode, value=2.5)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, numpy_pad(x, pad, mode, 2.5))
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.pad_backward(gy, x, pad, mode=mode), ref.pad_backward(gy, x.shape, pad, mode), dtype)


@pytest.mark.parametrize("alias", list(ALIASES))
def test_aliases(alias):
    x = np.arange(12.0).reshape(3, 4)
    assert np.array_equal(F.pad(x, (2, 1, 1, 2), mode=alias), F.pad(x, (2, 1, 1, 2), mode=ALIASES[alias]))


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("pad", [(-1, 2), (3, -2), (-1, -1), (-2, 0, 1, -1), (2, -4)], ids=str)
def test_negative_pads_crop_first(pad, mode):
    rng = rng_for("crop", pad, mode)
    x = rng.standard_normal((3, 5))
    y = F.pad(x, pad, mode=mode, value=-1.0)
    np.testing.assert_array_equal(y, ref.pad(x, pad, mode, value=-1.0))
    gy = rng.standard_normal(y.shape)
    assert_close(F.pad_backward(gy, x, pad, mode=mode), ref.pad_backward(gy, x.shape, pad, mode))


def test_pad_docs_picture():
    row = np.array([1.0, 2, 3])
    assert F.pad(row, (2, 2), "constant", 9).tolist() == [9, 9, 1, 2, 3, 9, 9]
    assert F.pad(row, (2, 2), "reflect").tolist() == [3, 2, 1, 2, 3, 2, 1]
    assert F.pad(row, (2, 2), "symmetric").tolist() == [2, 1, 1, 2, 3, 3, 2]
    assert F.pad(row, (2, 2), "replicate").tolist() == [1, 1, 1, 2, 3, 3, 3]
    assert F.pad(row, (2, 2), "circular").tolist() == [2, 3, 1, 2, 3, 1, 2]


def test_integer_input_pads_in_float64():
    y = F.pad(np.arange(3), (1, 1))
    assert y.dtype == np.float64 and y.tolist() == [0, 0, 1, 2, 0]


@given(st.data())
def test_pad_property(data):
    ndim = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.integers(1, 5)) for _ in range(ndim))
    mode = data.draw(st.sampled_from(list(NUMPY_MODE)))
    npairs = data.draw(st.integers(1, ndim))
    pad = []
    for i in range(npairs):
        n = shape[ndim - 1 - i]
        before = data.draw(st.integers(-(n - 1), 8))
        after = data.draw(st.integers(-(n - 1 + min(before, 0)), 8))
        pad += [before, after]
    x = np.random.default_rng(data.draw(st.integers(0, 2**31))).standard_normal(shape)
    y = F.pad(x, tuple(pad), mode=mode, value=0.5)
    np.testing.assert_array_equal(y, ref.pad(x, tuple(pad), mode, value=0.5))
    if all(p >= 0 for p in pad):
        np.testing.assert_array_equal(y, numpy_pad(x, pad, mode, 0.5))
    gy = np.random.default_rng(1).standard_normal(y.shape)
    assert_close(F.pad_backward(gy, x, tuple(pad), mode=mode), ref.pad_backward(gy, x.shape, tuple(pad), mode))
