"""The C fast paths of conv2d (forward and backward), linear and the activations (exact float32/float64 C-contiguous
ndarrays, plain int arguments) give bitwise the full path's results, and hand everything else
back to the full path (None), which converts the inputs and raises the friendly errors."""
import numpy as np
import pytest

import cnnpy.functional as F
from cnnpy import _cnn
from helpers import rng_for

DT = [np.float32, np.float64]


def full_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    return F._conv_forward("conv2d", 2, x, w, b, stride, padding, dilation, groups, "zeros", 0.0,
                           "xcorr")


@pytest.mark.parametrize("dtype", DT, ids=["f32", "f64"])
@pytest.mark.parametrize("args", [
    dict(), dict(stride=2, padding=1), dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(groups=2, padding=1), dict(padding=3, dilation=2)], ids=str)
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_fast_path_equals_full_path(args, bias, dtype):
    rng = rng_for(str(args), bias, "fast")
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 4 // args.get("groups", 1), 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if bias else None
    fast = _cnn.conv2d_fast(x, w, b, args.get("stride", 1), args.get("padding", 0),
                            args.get("dilation", 1), args.get("groups", 1), _cnn.ALGO_AUTO)
    assert fast is not None and fast.dtype == dtype
    full = full_conv2d(x, w, b, **args)
    assert np.array_equal(fast, full)
    assert np.array_equal(F.conv2d(x, w, b, **args), full)


@pytest.mark.parametrize("dtype", DT, ids=["f32", "f64"])
@pytest.mark.parametrize("args", [
    dict(), dict(stride=2, padding=1), dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(groups=2, padding=1)], ids=str)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("mask", [(True, True, True), (True, False, True), (False, True, False)], ids=str)
def test_conv2d_backward_fast_path_equals_full_path(args, bias, mask, dtype):
    rng = rng_for(str(args), bias, mask, "fast-backward")
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 4 // args.get("groups", 1), 3, 2)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype) if bias else None
    gy = rng.standard_normal(full_conv2d(x, w, b, **args).shape).astype(dtype)
    geo = (args.get("stride", 1), args.get("padding", 0), args.get("dilation", 1), args.get("groups", 1))
    fast = _cnn.conv2d_backward_fast(gy, x, w, b, *geo, _cnn.ALGO_AUTO, *mask)
    full = F._conv_backward("conv2d_backward", 2, gy, x, w, b, *args_tuple(args), "zeros", 0.0,
                            "xcorr", output_mask=mask)
    assert fast is not None
    for got, want, public in zip(fast, full, F.conv2d_backward(gy, x, w, b, **args, output_mask=mask)):
        assert (got is None) == (want is None) == (public is None)
        if want is not None:
            assert got.dtype == dtype and np.array_equal(got, want) and np.array_equal(public, want)
    assert (fast[2] is None) == (not (bias and mask[2]))


def args_tuple(args):
    return (args.get("stride", 1), args.get("padding", 0), args.get("dilation", 1), args.get("groups", 1))


def test_conv2d_backward_fast_path_declines_what_it_does_not_take():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    gy = np.ones((1, 3, 3, 3), np.float32)

    def fast(*, gy=gy, x=x, w=w, b=None, p=0, mask=(True, True, True)):
        return _cnn.conv2d_backward_fast(gy, x, w, b, 1, p, 1, 1, _cnn.ALGO_AUTO, *mask)

    assert fast() is not None
    declined = [
        dict(gy=gy.astype(np.float64)),               # mixed dtypes
        dict(gy=np.ones((1, 3, 3, 4), np.float32)),   # grad_output of another shape
        dict(gy=gy[0]),                               # 3-D
        dict(gy=np.ones((1, 3, 6, 6), np.float32)[:, :, ::2, ::2]),  # not contiguous
        dict(x=x[0]), dict(p="same"),
        dict(mask=(1, 1, 1)), dict(mask=(True, True, None)),  # not exact bools
    ]
    for kw in declined:
        assert fast(**kw) is None, kw
    with pytest.raises(ValueError, match="grad_output"):  # the full path explains
        F.conv2d_backward(np.ones((1, 3, 3, 4), np.float32), x, w)


def test_conv2d_fast_path_declines_what_it_does_not_take():
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)

    def fast(*, x=x, w=w, b=None, s=1, p=0, d=1, g=1, algo=_cnn.ALGO_AUTO):
        return _cnn.conv2d_fast(x, w, b, s, p, d, g, algo)

    assert fast() is not None
    declined = [
        dict(x=x.astype(np.float64)),                 # mixed dtypes
        dict(x=x.astype(np.float16), w=w.astype(np.float16)),
        dict(x=x.astype(np.int64), w=w.astype(np.int64)),
        dict(x=x[:, :, ::2, ::2]),                    # not contiguous
        dict(x=x.tolist()),                           # not an ndarray
        dict(x=x[0]),                                 # 3-D (unbatched)
        dict(x=x.astype(">f4"), w=w.astype(">f4")),   # byte-swapped
        dict(x=np.ones((0, 2, 5, 5), np.float32)),    # empty
        dict(b=np.ones(3, np.float64)),               # bias dtype
        dict(b=np.ones(4, np.float32)),               # bias length
        dict(s=True), dict(s=np.int64(1)), dict(s=0), dict(s=(1, 2, 3)), dict(s=1.0),
        dict(p=-1), dict(p="same"), dict(p=((1, 1), (0, 0))), dict(p=2 ** 40),
        dict(d=0), dict(g=2), dict(g=(1, 1)), dict(g=0),
        dict(w=np.ones((3, 2, 7, 7), np.float32)),    # kernel larger than the input
        dict(algo=99), dict(algo=-2), dict(algo=2 ** 70), dict(algo=-2 ** 70),  # no pending error
    ]
    for kw in declined:
        assert fast(**kw) is None, kw
    with pytest.raises(ValueError, match="stride"):   # the full path still explains
        F.conv2d(x, w, stride=0)
    for kind in (2 ** 70, -2 ** 70, 99):  # kinds the activation path does not take: declined cleanly
        assert _cnn.activation_fast(kind, x) is None


@pytest.mark.parametrize("dtype", DT, ids=["f32", "f64"])
def test_linear_and_activation_fast_paths_equal_full_paths(dtype):
    rng = rng_for("fast-linear")
    x = rng.standard_normal((5, 7)).astype(dtype)
    w = rng.standard_normal((3, 7)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    for bias in (None, b):
        fast = _cnn.linear_fast(x, w, bias)
        assert fast is not None
        assert np.array_equal(fast, F.linear(np.asfortranarray(x), w, bias))  # the full path
    assert _cnn.linear_fast(x[:, :6], w, b) is None and _cnn.linear_fast(x, w, b[:2]) is None
    assert _cnn.linear_fast(x[None], w, b) is None
    for kind, fn in [(_cnn.ACT_RELU, F.relu), (_cnn.ACT_SIGMOID, F.sigmoid), (_cnn.ACT_TANH, F.tanh)]:
        for a in (x, np.asarray(x[0, 0]), rng.standard_normal((2, 3, 4)).astype(dtype)):
            fast = _cnn.activation_fast(kind, a)
            assert fast is not None and fast.shape == a.shape and fast.dtype == dtype
            assert np.array_equal(fast, _cnn.activation_forward(kind, a, 0.0))
            assert np.array_equal(fn(a), fast)
    assert _cnn.activation_fast(_cnn.ACT_LEAKY_RELU, x) is None
    assert _cnn.activation_fast(_cnn.ACT_RELU, x.T) is None
    assert _cnn.activation_fast(_cnn.ACT_RELU, x.astype(np.float16)) is None
    assert F.relu(x.astype(np.float16)).dtype == np.float32  # the full path's rule
