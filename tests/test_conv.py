"""conv1d / conv2d beyond their table (tests/ops/conv.py): every padding form and mode against its
explicit padding, true convolution, the three input forms and dtypes, the fast kernels (direct,
GEMM) against the engine's plain reference kernel, output_mask, and a property test against the
float64 NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from cnnpy import _cnn
from helpers import DTYPES, assert_close, rng_for
from ops.conv import REF_CONV2D_CASES, ref_case_id, ref_make


# ---- padding forms ----------------------------------------------------------------------------------

def tf_same(n, k, s, d):
    """TensorFlow's SAME padding, written out independently of cnnpy."""
    out = (n + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("h,w,k,s,d", [(7, 8, 3, 1, 1), (7, 8, 3, 2, 1), (9, 10, 4, 3, 1),
                                       (91, 91, 3, 2, 1), (10, 9, 3, 2, 2), (5, 5, 5, 4, 1),
                                       (6, 6, 2, 1, 3)])
def test_same_padding_any_stride_and_dilation(h, w, k, s, d):
    rng = rng_for("same", h, w, k, s, d)
    x = rng.standard_normal((1, 2, h, w))
    wt = rng.standard_normal((3, 2, k, k))
    y = F.conv2d(x, wt, padding="same", stride=s, dilation=d)
    assert y.shape[2:] == (-(-h // s), -(-w // s))
    pads = (tf_same(h, k, s, d), tf_same(w, k, s, d))
    assert_close(y, ref.conv2d(x, wt, stride=(s, s), padding=pads, dilation=(d, d)))


def test_valid_and_full_padding():
    rng = rng_for("valid-full")
    x = rng.standard_normal((2, 1, 6, 7))
    w = rng.standard_normal((2, 1, 3, 2))
    assert_close(F.conv2d(x, w, padding="valid"), ref.conv2d(x, w))
    full = F.conv2d(x, w, padding="full", dilation=2)
    assert full.shape[2:] == (6 + 2 * 2, 7 + 2 * 1)
    assert_close(full, ref.conv2d(x, w, padding=((4, 4), (2, 2)), dilation=(2, 2)))


@pytest.mark.parametrize("padding,pairs", [
    (1, ((1, 1), (1, 1))),
    ((2, 1), ((2, 2), (1, 1))),
    (((0, 2), (3, 1)), ((0, 2), (3, 1))),
    ([[1, 0], [0, 1]], ((1, 0), (0, 1))),
])
def test_conv2d_padding_forms(padding, pairs):
    rng = rng_for("forms", padding)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((1, 2, 3, 3))
    assert_close(F.conv2d(x, w, padding=padding), ref.conv2d(x, w, padding=pairs))


@pytest.mark.parametrize("padding,pair", [(2, (2, 2)), ((1,), (1, 1)), ((0, 3), (0, 3)), (((2, 1),), (2, 1)),
                                          ("same", (1, 1)), ("full", (2, 2))])
def test_conv1d_padding_forms(padding, pair):
    rng = rng_for("forms1d", padding)
    x = rng.standard_normal((2, 3, 9))
    w = rng.standard_normal((2, 3, 3))
    assert_close(F.conv1d(x, w, padding=padding), ref.conv1d(x, w, padding=pair))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode,alias", [("constant", None), ("reflect", "mirror"), ("symmetric", None),
                                        ("replicate", "edge"), ("circular", "wrap")])
def test_padding_modes_equal_explicit_padding(mode, alias, dtype):
    """A padding mode is the same as padding the input first (the reference's pad) with
    valid convolution, forward and backward; aliases give identical results."""
    rng = rng_for("modes", mode)
    x = rng.standard_normal((2, 2, 5, 4)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    pads = ((2, 1), (3, 6))  # wider than the input along W: keeps bouncing/wrapping
    kw = dict(padding=pads, padding_mode=mode, value=1.5)
    y = F.conv2d(x, w, b, **kw)
    xp = ref.pad(x, (3, 6, 2, 1), mode, value=1.5)
    assert_close(y, ref.conv2d(xp, w, b), dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, b, **kw)
    rxp, rw, rb = ref.conv2d_backward(gy, xp, w, b)
    assert_close(gx, ref.pad_backward(rxp, x.shape, (3, 6, 2, 1), mode), dtype, scale=100)
    assert_close(gw, rw, dtype, scale=100)
    if alias:
        assert np.array_equal(F.conv2d(x, w, b, padding=pads, padding_mode=alias), y)


def test_zeros_mode_ignores_value_and_constant_uses_it():
    x = np.ones((1, 1, 3, 3))
    w = np.ones((1, 1, 3, 3))
    assert F.conv2d(x, w, padding=1, padding_mode="zeros", value=7.0)[0, 0, 0, 0] == 4.0
    assert F.conv2d(x, w, padding=1, padding_mode="constant", value=2.0)[0, 0, 0, 0] == 4.0 + 5 * 2.0


# ---- true convolution --------------------------------------------------------------------------------

def test_true_convolution_flips_the_kernel():
    rng = rng_for("conv-mode")
    x = rng.standard_normal((2, 3, 8, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    y = F.conv2d(x, w, b, padding=1, stride=2, mode="conv")
    assert_close(y, ref.conv2d(x, w[:, :, ::-1, ::-1], b, stride=(2, 2), padding=((1, 1), (1, 1))))
    gy = rng.standard_normal(y.shape)
    gx, gw, gb = F.conv2d_backward(gy, x, w, b, padding=1, stride=2, mode="conv")
    rx, rw, rb = ref.conv2d_backward(gy, x, w[:, :, ::-1, ::-1], b, stride=(2, 2), padding=((1, 1), (1, 1)))
    assert_close(gx, rx)
    assert_close(gw, rw[:, :, ::-1, ::-1])
    assert_close(gb, rb)


def test_true_convolution_is_numpy_convolve():
    rng = rng_for("convolve")
    sig, ker = rng.standard_normal(20), rng.standard_normal(5)
    assert_close(F.conv1d(sig, ker, mode="conv", padding="full"), np.convolve(sig, ker, "full"))
    assert_close(F.conv1d(sig, ker, mode="conv"), np.convolve(sig, ker, "valid"))
    assert_close(F.conv1d(sig, ker, padding="full"), np.correlate(sig, ker, "full"))


# ---- input forms -------------------------------------------------------------------------------------

def test_bare_unbatched_and_batched_forms_agree():
    rng = rng_for("forms-agree")
    img, ker = rng.standard_normal((6, 7)), rng.standard_normal((3, 3))
    bare = F.conv2d(img, ker, padding=1)
    assert bare.shape == (6, 7)
    unbatched = F.conv2d(img[None], ker[None, None], padding=1)
    assert unbatched.shape == (1, 6, 7)
    batched = F.conv2d(img[None, None], ker[None, None], padding=1)
    assert np.array_equal(bare, unbatched[0]) and np.array_equal(bare, batched[0, 0])
    gx, gw, gb = F.conv2d_backward(np.ones((6, 7)), img, ker, padding=1)
    assert gx.shape == img.shape and gw.shape == ker.shape and gb is None
    sig = rng.standard_normal(10)
    assert F.conv1d(sig, np.ones(3)).shape == (8,)
    assert F.conv1d(sig[None], np.ones((2, 1, 3))).shape == (2, 8)


def test_array_likes_are_converted():
    rng = rng_for("convert")
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    want = F.conv2d(x, w)
    assert np.array_equal(F.conv2d(x.tolist(), w.tolist()), want)
    assert np.array_equal(F.conv2d(np.asfortranarray(x), w), want)
    assert np.array_equal(F.conv2d(x.astype(">f8"), w.astype(">f8")), want)
    big = np.zeros((2, 3, 12, 10))
    big[:, :, ::2, ::2] = x
    assert np.array_equal(F.conv2d(big[:, :, ::2, ::2], w), want)
    ro = x.copy()
    ro.setflags(write=False)
    assert np.array_equal(F.conv2d(ro, w), want)


def test_dtypes():
    x = np.arange(16, dtype=np.int32).reshape(4, 4)
    k = np.ones((2, 2), dtype=np.int64)
    y = F.conv2d(x, k)
    assert y.dtype == np.float64 and y[0, 0] == 0 + 1 + 4 + 5
    assert F.conv2d(x.astype(np.float32), k.astype(np.float32)).dtype == np.float32
    assert F.conv2d(x.astype(np.float32), k.astype(np.float64)).dtype == np.float64
    assert F.conv2d(x > 3, k).dtype == np.float64


@pytest.fixture
def scalar_isa():
    before = cnnpy.get_isa()
    cnnpy.set_isa("scalar")
    yield
    cnnpy.set_isa(before)


# ---- fast kernels against the plain reference kernel --------------------------------------------------

ALGOS = {"direct": _cnn.ALGO_DIRECT, "gemm": _cnn.ALGO_GEMM, "auto": _cnn.ALGO_AUTO}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("algo", list(ALGOS), ids=list(ALGOS))
@pytest.mark.parametrize("case", REF_CONV2D_CASES + [
    (2, 1, 6, 91, 91, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True),   # the lecture's GausNet layer 1
    (2, 6, 4, 45, 45, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True),   # GausNet layer 2
    (1, 20, 24, 13, 11, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, True),  # several K blocks
    (1, 300, 20, 3, 3, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1), 1, False),  # K > one GEMM panel
], ids=ref_case_id)
def test_fast_kernels_match_reference_kernel(case, algo, dtype):
    n, ci, co, h, w, kh, kw, s, p, d, g, b = case
    rng = rng_for(case, "algo")
    x, wt, bias = ref_make(case, dtype, rng)
    args = (s[0], s[1], p[0][0], p[0][1], p[1][0], p[1][1], d[0], d[1], g)
    y_ref = _cnn.conv2d_forward(x, wt, bias, args, _cnn.ALGO_REFERENCE)
    y = _cnn.conv2d_forward(x, wt, bias, args, ALGOS[algo])
    assert_close(y, y_ref, dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    want = _cnn.conv2d_backward(gy, x, wt, True, True, True, args, _cnn.ALGO_REFERENCE)
    got = _cnn.conv2d_backward(gy, x, wt, True, True, True, args, ALGOS[algo])
    for a, e in zip(got, want):
        assert_close(a, e, dtype, scale=100)


def test_auto_rule_picks_direct_for_short_reductions(scalar_isa):
    # the rule without the blocked kernels (the scalar ISA; tests/test_conv_kernels.py has the rest)
    assert _cnn.conv_choose_algo(1, 6, 91, 91, 3, 3, 1) == _cnn.ALGO_DIRECT
    assert _cnn.conv_choose_algo(6, 4, 45, 45, 3, 3, 1) == _cnn.ALGO_DIRECT
    assert _cnn.conv_choose_algo(64, 64, 56, 56, 3, 3, 1) == _cnn.ALGO_GEMM
    assert _cnn.conv_choose_algo(256, 256, 14, 14, 1, 1, 1) == _cnn.ALGO_GEMM
    assert _cnn.conv_choose_algo(64, 64, 56, 56, 3, 3, 64) == _cnn.ALGO_DIRECT  # depthwise
    # a stride along the width: GEMM unless a group has fewer than 4 output channels
    assert _cnn.conv_choose_algo(6, 6, 91, 91, 2, 2, 1, 2) == _cnn.ALGO_GEMM    # AllConvNet
    assert _cnn.conv_choose_algo(1, 6, 91, 91, 3, 3, 1, 2) == _cnn.ALGO_GEMM
    assert _cnn.conv_choose_algo(1, 3, 91, 91, 3, 3, 1, 2) == _cnn.ALGO_DIRECT
    assert _cnn.conv_choose_algo(6, 6, 91, 91, 3, 3, 6, 2) == _cnn.ALGO_DIRECT  # depthwise
    assert _cnn.conv_choose_algo(6, 6, 91, 91, 2, 2, 1, 1) == _cnn.ALGO_DIRECT


# ---- property test -----------------------------------------------------------------------------------

@st.composite
def conv_geometry(draw):
    g = draw(st.integers(1, 3))
    ci = g * draw(st.integers(1, 3))
    co = g * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 12))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 12))
    return dict(n=draw(st.integers(1, 2)), ci=ci, co=co, g=g, h=h, w=w, kh=kh, kw=kw,
                s=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), d=(dh, dw), pads=pads,
                bias=draw(st.booleans()), algo=draw(st.sampled_from(list(ALGOS.values()))),
                seed=draw(st.integers(0, 2**31)))


@given(conv_geometry())
def test_conv2d_property_against_reference(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"]))
    w = rng.standard_normal((c["co"], c["ci"] // c["g"], c["kh"], c["kw"]))
    b = rng.standard_normal(c["co"]) if c["bias"] else None
    kw = dict(stride=c["s"], padding=c["pads"], dilation=c["d"], groups=c["g"])
    y_ref = ref.conv2d(x, w, b, **kw)
    (pt, pb), (pl, pr) = c["pads"]
    args = ((*c["s"], pt, pb, pl, pr, *c["d"], c["g"]), c["algo"])
    assert_close(_cnn.conv2d_forward(x, w, b, *args), y_ref)
    gy = rng.standard_normal(y_ref.shape)
    got = _cnn.conv2d_backward(gy, x, w, True, True, b is not None, *args)
    for a, e in zip(got, ref.conv2d_backward(gy, x, w, b, **kw)):
        if e is None:
            assert a is None
        else:
            assert_close(a, e)


@pytest.mark.parametrize("fn,args", [
    ("conv2d", dict(stride=2, padding=1)), ("conv1d", dict(padding="same")),
    ("conv_transpose2d", dict(stride=2)), ("conv_transpose1d", dict(stride=3)),
])
def test_output_mask_skips_gradients(fn, args):
    rng = rng_for("mask", fn)
    dims = 1 if fn.endswith("1d") else 2
    transpose = "transpose" in fn
    x = rng.standard_normal((2, 4) + (7,) * dims)
    w = rng.standard_normal(((4, 3) if transpose else (3, 4)) + (3,) * dims)
    b = rng.standard_normal(3)
    y = getattr(F, fn)(x, w, b, **args)
    g = rng.standard_normal(y.shape)
    full = getattr(F, fn + "_backward")(g, x, w, b, **args)
    part = getattr(F, fn + "_backward")(g, x, w, b, **args, output_mask=(False, True, False))
    assert part[0] is None and part[2] is None
    np.testing.assert_array_equal(part[1], full[1])
    only_x = getattr(F, fn + "_backward")(g, x, w, b, **args, output_mask=[True, False, False])
    np.testing.assert_array_equal(only_x[0], full[0])
    assert only_x[1] is None
    with pytest.raises(ValueError, match="output_mask"):
        getattr(F, fn + "_backward")(g, x, w, b, **args, output_mask=(True,))
