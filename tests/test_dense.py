"""linear, activations, softmax/log_softmax and dropout beyond their tables (tests/ops/linear.py,
activation.py, softmax.py, dropout.py): NaN through every activation, the float32 sigmoid and tanh
within a few ulp everywhere, float32 gelu as its float32 formula everywhere, dropout's seeds and
modes, and a property test against the float64 reference."""
import functools

import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from helpers import assert_close, rng_for, torch
from ops.activation import OPS as ACTIVATIONS


def test_activations_propagate_nan():
    x = np.array([np.nan, -1.0, 1.0])
    for op in ACTIVATIONS:
        for kw in op.variants:
            assert np.isnan(op.fn(x, **kw)[0]), (op.name, kw)


def _every_binade_f32():
    """Every 997th positive float32 bit pattern below inf (all binades, subnormals included), its
    negatives, and the special values."""
    pos = np.arange(0, 0x7F800000, 997, dtype=np.uint32).view(np.float32)
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e-45, -1e-45, 88.72, -103.9, 0.625,
                        -0.625, np.nextafter(np.float32(0.625), np.float32(0))], np.float32)
    return np.concatenate([pos, -pos, special])


def _ulps(got, want64):
    """|got - want| in units of the float32 spacing at want (the subnormal spacing at least)."""
    spacing = np.spacing(np.abs(want64.astype(np.float32))).astype(np.float64)
    spacing = np.maximum(spacing, float(np.finfo(np.float32).smallest_subnormal))
    return np.abs(got.astype(np.float64) - want64) / spacing


@pytest.mark.parametrize("isa", cnnpy.available_isas())
def test_float32_sigmoid_and_tanh_are_within_a_few_ulp_everywhere(isa):
    """float32 sigmoid and tanh run call-free approximations (they vectorise); against float64
    NumPy they stay within 2.5 and 1.5 ulp over every binade, on every instruction set, with
    NaN, +-inf and the sign of zero as libm, and their backward uses the same values."""
    x = _every_binade_f32()
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore"):
        want = {"sigmoid": 1 / (1 + np.exp(-x64)), "tanh": np.tanh(x64)}
    before = cnnpy.get_isa()
    try:
        cnnpy.set_isa(isa)
        for name, bound in (("sigmoid", 2.5), ("tanh", 1.5)):
            got = getattr(F, name)(x)
            finite = np.isfinite(x)
            assert _ulps(got[finite], want[name][finite]).max() <= bound, name
            np.testing.assert_array_equal(got[~finite], want[name][~finite].astype(np.float32))
            np.testing.assert_array_equal(np.signbit(got[x == 0]), np.signbit(want[name][x == 0]))
            dx = getattr(F, name + "_backward")(np.ones_like(x), x)
            y64 = got.astype(np.float64)
            dwant = y64 * (1 - y64) if name == "sigmoid" else 1 - y64 * y64
            np.testing.assert_allclose(dx[finite], dwant[finite], rtol=1e-6, atol=2.0 ** -23)
    finally:
        cnnpy.set_isa(before)


@functools.lru_cache(maxsize=None)
def _gelu_f64(approximate):
    """The float64 reference gelu and its derivative at _every_binade_f32() (computed once)."""
    x64 = _every_binade_f32().astype(np.float64)
    with np.errstate(all="ignore"):  # inf * 0 at +-inf
        return ref.gelu(x64, approximate), ref.gelu_backward(np.ones_like(x64), x64, approximate)


@pytest.mark.parametrize("isa", cnnpy.available_isas())
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_float32_gelu_is_its_formula_rounded_to_float32_everywhere(isa, approximate):
    """float32 gelu evaluates PyTorch's expressions in float32 with a call-free erf (exact form)
    or tanh: over every binade, on every instruction set, forward and backward stay within the
    rounding of those expressions, eps * (|x| + |y|) and 2 eps * (1 + |x|) (1 + erf(x / sqrt 2)
    cancels for x << 0, so the error scales with |x|, not |y|, as in PyTorch); inf, -inf and NaN
    give the float64 formula's inf, NaN, NaN; the backward is NaN exactly where PyTorch's
    float32 backward is (tanh form: where x^2 overflows)."""
    x = _every_binade_f32()
    x64 = x.astype(np.float64)
    want, dwant = _gelu_f64(approximate)
    eps = float(np.finfo(np.float32).eps)
    tiny = float(np.finfo(np.float32).smallest_subnormal)
    finite = np.isfinite(x)
    before = cnnpy.get_isa()
    try:
        cnnpy.set_isa(isa)
        got = F.gelu(x, approximate).astype(np.float64)
        err = np.abs(got[finite] - want[finite])
        assert (err <= eps * (np.abs(x64) + np.abs(want))[finite] + tiny).all(), err.max()
        np.testing.assert_array_equal(got[~finite], [np.inf, np.nan, np.nan])  # inf, -inf, NaN
        dx = F.gelu_backward(np.ones_like(x), x, approximate).astype(np.float64)
        moderate = np.abs(x64) < 1e18
        err = np.abs(dx[moderate] - dwant[moderate])
        assert (err <= 2 * eps * (1 + np.abs(x64[moderate]))).all(), err.max()
    finally:
        cnnpy.set_isa(before)
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_()
        torch.nn.functional.gelu(xt, approximate=approximate).backward(torch.ones_like(xt))
        np.testing.assert_array_equal(np.isnan(dx), np.isnan(xt.grad.numpy()))


def test_dropout():
    rng = rng_for("dropout")
    x = rng.standard_normal((50, 40))
    y, mask = F.dropout(x, 0.3, rng=np.random.default_rng(5), return_mask=True)
    assert mask.dtype == bool and 0.6 < mask.mean() < 0.8
    assert_close(y, ref.dropout_apply(x, mask, 0.3))
    assert np.array_equal(y, F.dropout(x, 0.3, rng=np.random.default_rng(5)))  # same generator state
    assert np.array_equal(F.dropout(x, 0.3, rng=7), F.dropout(x, 0.3, rng=7))   # seeds reproduce
    assert np.array_equal(F.dropout(x, 0.3, training=False), x)
    assert np.array_equal(F.dropout(x, 0.0, rng=1), x)
    assert np.array_equal(F.dropout(x, 1.0, rng=1), np.zeros_like(x))
    gy = rng.standard_normal(x.shape)
    assert_close(F.dropout_backward(gy, x, 0.3, mask=mask), ref.dropout_apply_backward(gy, mask, 0.3))
    _, m7 = F.dropout(x, 0.3, rng=7, return_mask=True)
    assert_close(F.dropout_backward(gy, x, 0.3, rng=7), ref.dropout_apply_backward(gy, m7, 0.3))
    assert np.array_equal(F.dropout_backward(gy, x, 0.3, training=False), gy)
    cnnpy.manual_seed(3)
    a = F.dropout(x, 0.5)
    cnnpy.manual_seed(3)
    assert np.array_equal(a, F.dropout(x, 0.5))
    assert F.dropout(x.astype(np.float32), 0.5, rng=0).dtype == np.float32


@given(st.data())
def test_dense_property_against_reference(data):
    """Random shapes for linear, an activation and softmax along a random dim, against the reference."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    lead = tuple(data.draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    fin, fout = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    x = rng.standard_normal((*lead, fin))
    w, b = rng.standard_normal((fout, fin)), rng.standard_normal(fout)
    bias = b if data.draw(st.booleans()) else None
    y = F.linear(x, w, bias)
    assert_close(y, ref.linear(x, w, bias))
    gy = rng.standard_normal(y.shape)
    for a, e in zip(F.linear_backward(gy, x, w, bias), ref.linear_backward(gy, x, w, bias)):
        if e is None:
            assert a is None
        else:
            assert_close(a, e)
    name, kw = data.draw(st.sampled_from([(op.name, kw) for op in ACTIVATIONS for kw in op.variants]))
    assert_close(getattr(F, name)(y, **kw), getattr(ref, name)(y, **kw))
    assert_close(getattr(F, name + "_backward")(gy, y, **kw), getattr(ref, name + "_backward")(gy, y, **kw))
    dim = data.draw(st.integers(-y.ndim, y.ndim - 1))
    sm = data.draw(st.sampled_from(["softmax", "log_softmax"]))
    assert_close(getattr(F, sm)(y, dim), getattr(ref, sm)(y, dim))
    assert_close(getattr(F, sm + "_backward")(gy, y, dim), getattr(ref, sm + "_backward")(gy, y, dim))


