"""The private binding cnnpy._cnn called directly: its geometry tuples (read by O& converters into
the engine's descriptors) give the functional API's results, and a spoiled tuple or an array that
does not fit the descriptor is refused with an exception, never a crash and never a write."""
import gc
import sys

import numpy as np
import pytest

import cnnpy.functional as F
from cnnpy import _cnn
from helpers import rng_for

_R = rng_for("binding")
X = _R.standard_normal((2, 2, 7, 6))
W, B = _R.standard_normal((4, 1, 3, 2)), _R.standard_normal(4)
WT, BT = _R.standard_normal((2, 3, 3, 2)), _R.standard_normal(6)
# the same calls through cnnpy.functional, and the tuples the binding gets for them
CONV_ARGS = dict(stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), groups=2)
CONV = (2, 1, 1, 0, 2, 1, 1, 2, 2)  # stride_h, stride_w, pad_top, pad_bottom, pad_left, pad_right, dilation_h, _w, groups
TRANSPOSE_ARGS = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2), groups=2)
TRANSPOSE = (2, 1, 1, 0, 1, 0, 1, 2, 2)  # stride_h, _w, pad_h, _w, output_padding_h, _w, dilation_h, _w, groups
MAX_ARGS = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, dilation=(1, 2))
WINDOW = (3, 2, 2, 1, 1, 1, 1, 2)  # kernel_h, _w, stride_h, _w, pad_h, _w, dilation_h, _w
AVG_ARGS = dict(kernel_size=(3, 2), stride=(2, 1), padding=1, ceil_mode=True)
AVG_WINDOW = (3, 2, 2, 1, 1, 1, 1, 1)
DY = _R.standard_normal(F.conv2d(X, W, B, **CONV_ARGS).shape)
DYT = _R.standard_normal(F.conv_transpose2d(X, WT, BT, **TRANSPOSE_ARGS).shape)
DYA = _R.standard_normal(F.avg_pool2d(X, **AVG_ARGS).shape)

TUPLES = {"conv": CONV, "transpose": TRANSPOSE, "window": WINDOW, "avg": AVG_WINDOW}


def calls(conv=CONV, transpose=TRANSPOSE, window=WINDOW, avg=AVG_WINDOW):
    """Every binding function that takes a geometry tuple, by the tuple it takes."""
    auto = _cnn.ALGO_AUTO
    return {
        "conv": [lambda: _cnn.conv2d_forward(X, W, B, conv, auto),
                 lambda: _cnn.conv2d_backward(DY, X, W, True, True, True, conv, auto)],
        "transpose": [lambda: _cnn.conv_transpose2d_forward(X, WT, BT, transpose, auto),
                      lambda: _cnn.conv_transpose2d_backward(DYT, X, WT, True, True, True, transpose, auto)],
        "window": [lambda: _cnn.max_pool2d_forward(X, window, False)],
        "avg": [lambda: _cnn.avg_pool2d_forward(X, avg, True, True, 0),
                lambda: _cnn.avg_pool2d_backward(DYA, 7, 6, avg, True, True, 0)],
    }


def test_geometry_tuples_give_the_functional_results():
    got = calls()
    pairs = [
        (got["conv"][0](), F.conv2d(X, W, B, **CONV_ARGS)),
        (got["conv"][1](), F.conv2d_backward(DY, X, W, B, **CONV_ARGS)),
        (got["transpose"][0](), F.conv_transpose2d(X, WT, BT, **TRANSPOSE_ARGS)),
        (got["transpose"][1](), F.conv_transpose2d_backward(DYT, X, WT, BT, **TRANSPOSE_ARGS)),
        (got["window"][0](), F.max_pool2d(X, return_indices=True, **MAX_ARGS)),
        (got["avg"][0](), F.avg_pool2d(X, **AVG_ARGS)),
        (got["avg"][1](), F.avg_pool2d_backward(DYA, X, **AVG_ARGS)),
    ]
    for got_one, want in pairs:
        for a, e in zip(*(v if isinstance(v, tuple) else (v,) for v in (got_one, want))):
            np.testing.assert_array_equal(a, e)


SPOILED = {  # the spoiled tuple, from the valid one -> the exception
    "list": (list, TypeError),
    "one-short": (lambda t: t[:-1], TypeError),
    "float": (lambda t: t[:-1] + (1.0,), TypeError),
    "string": (lambda t: "geometry", TypeError),
    "2**70": (lambda t: t[:-1] + (2 ** 70,), OverflowError),
}


@pytest.mark.parametrize("spoil", sorted(SPOILED))
def test_a_malformed_geometry_tuple_is_refused(spoil):
    make, exc = SPOILED[spoil]
    for kind, valid in TUPLES.items():
        for call in calls(**{kind: make(valid)})[kind]:
            with pytest.raises(exc):
                call()


@pytest.mark.parametrize("spoil", ["one-short", "2**70"])
def test_a_refused_tuple_leaks_nothing(spoil):
    """The tuple is read after the arrays were converted: PyArg_ParseTuple must release them."""
    make, exc = SPOILED[spoil]
    arrays = [X, W, B, WT, BT, DY, DYT, DYA]
    refused = [call for kind, valid in TUPLES.items() for call in calls(**{kind: make(valid)})[kind]]

    def run(n):
        for call in refused:
            for _ in range(n):
                try:
                    call()
                except exc:
                    pass

    run(100)
    gc.collect()
    refs, blocks = [sys.getrefcount(a) for a in arrays], sys.getallocatedblocks()
    run(1000)
    gc.collect()
    assert [sys.getrefcount(a) for a in arrays] == refs
    assert sys.getallocatedblocks() - blocks < 100


@pytest.mark.parametrize("value", [-3, 0, 2 ** 62, -2 ** 63, 2 ** 63 - 1])
def test_any_geometry_value_is_refused_or_computed_never_a_crash(value):
    """Each position of each tuple in turn set to a hostile value: the call computes (the value is
    valid there) or raises a ValueError/OverflowError; no input array is ever written."""
    arrays = [X, W, B, WT, BT, DY, DYT, DYA]
    before = [a.copy() for a in arrays]
    for kind, valid in TUPLES.items():
        for i in range(len(valid)):
            for call in calls(**{kind: valid[:i] + (value,) + valid[i + 1:]})[kind]:
                try:
                    call()
                except (ValueError, OverflowError):
                    pass
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


def test_arrays_that_do_not_fit_the_descriptor_are_refused():
    """What memory safety needs, checked after the engine validated the geometry."""
    wide = np.ones((4, 2, 3, 2))  # C_in/groups = 1, not 2
    with pytest.raises(ValueError, match="^conv2d: weight does not fit the input and groups$"):
        _cnn.conv2d_forward(X, wide, B, CONV, _cnn.ALGO_AUTO)
    with pytest.raises(ValueError, match="^conv2d: bias does not fit the input and groups$"):
        _cnn.conv2d_forward(X, W, B[:3], CONV, _cnn.ALGO_AUTO)
    with pytest.raises(ValueError, match="^conv2d: incompatible shapes$"):  # groups=3: the engine's own check
        _cnn.conv2d_forward(X, W, B, CONV[:-1] + (3,), _cnn.ALGO_AUTO)
    with pytest.raises(ValueError, match="^conv_transpose2d: weight has size 3 along axis 0, expected 2$"):
        _cnn.conv_transpose2d_forward(X, np.ones((3, 3, 3, 2)), BT, TRANSPOSE, _cnn.ALGO_AUTO)
    with pytest.raises(ValueError, match=r"^conv2d_backward: grad_output has size \d+ along axis 3"):
        _cnn.conv2d_backward(DY[..., 1:], X, W, True, True, True, CONV, _cnn.ALGO_AUTO)
    # the fast path declines what does not fit; the full path then explains
    assert _cnn.conv2d_fast(X, wide, B, 1, 0, 1, 2, _cnn.ALGO_AUTO) is None
    with pytest.raises(ValueError, match=r"^conv2d: input has 2 channels but weight \(4, 2, 3, 2\)"):
        F.conv2d(X, wide, B, groups=2)
