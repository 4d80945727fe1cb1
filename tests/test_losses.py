"""Losses against the float64 reference, every reduction, both dtypes, and the gradients with
respect to the target (analytic identities and finite differences)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import cnnpy.functional as F
import reference as ref
from helpers import DTYPES, assert_close, check_grad, numeric_grad, rng_for

REDUCTIONS = ["mean", "sum", "none"]


def grad_for(red, shape, rng, dtype):
    return np.asarray(rng.standard_normal() if red != "none" else rng.standard_normal(shape), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses(name, red, dtype):
    rng = rng_for(name, red)
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    t = rng.standard_normal((4, 3, 5)).astype(dtype)
    out = getattr(F, name)(x, t, reduction=red)
    assert np.asarray(out).dtype == dtype
    assert_close(out, getattr(ref, name)(x, t, reduction=red), dtype)
    g = grad_for(red, x.shape, rng, dtype)
    gx, gt = getattr(F, name + "_backward")(g, x, t, reduction=red)
    assert_close(gx, getattr(ref, name + "_backward")(g, x, t, reduction=red), dtype)
    assert_close(gt, -gx, dtype)


def test_mse_broadcasts_and_unbroadcasts_gradients():
    rng = rng_for("bcast")
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((3,))
    assert_close(F.mse_loss(x, t), ref.mse_loss(x, np.broadcast_to(t, x.shape)))
    gx, gt = F.mse_loss_backward(1.0, x, t)
    assert gx.shape == x.shape and gt.shape == t.shape
    assert_close(gt, -gx.sum(axis=0))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(red, weighted, dtype):
    rng = rng_for("bce", red, weighted)
    x = rng.uniform(0.02, 0.98, (6, 4)).astype(dtype)
    x[0, :2] = [0.0, 1.0]  # logs clamp at -100
    t = rng.uniform(0, 1, (6, 4)).astype(dtype)
    w = rng.uniform(0.5, 2, (4,)).astype(dtype) if weighted else None
    out = F.binary_cross_entropy(x, t, w, reduction=red)
    wf = None if w is None else np.broadcast_to(w, x.shape)
    assert_close(out, ref.binary_cross_entropy(x, t, wf, reduction=red), dtype, scale=100)
    g = grad_for(red, x.shape, rng, dtype)
    gx, gt, gw = F.binary_cross_entropy_backward(g, x, t, w, reduction=red)
    assert gw is None
    assert_close(gx, ref.binary_cross_entropy_backward(g, x, t, wf, reduction=red), dtype, scale=1e6)
    inner = slice(1, None)  # finite differences of the target where the logs are not clamped
    num = numeric_grad(lambda tt: float(np.sum(np.asarray(g, np.float64) *
                                               ref.binary_cross_entropy(x.astype(np.float64), tt, wf, reduction=red))),
                       t.astype(np.float64))
    check_grad(np.asarray(gt)[inner], num[inner], rtol=1e-3 if dtype == np.float32 else 1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_with_logits(red, weighted, dtype):
    rng = rng_for("bcel", red, weighted)
    x = (rng.standard_normal((5, 3)) * 4).astype(dtype)
    x[0, :2] = [60.0, -60.0]
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)
    w = rng.uniform(0.5, 2, (5, 1)).astype(dtype) if weighted else None
    pw = rng.uniform(0.5, 3, (3,)).astype(dtype) if weighted else None
    out = F.binary_cross_entropy_with_logits(x, t, w, reduction=red, pos_weight=pw)
    wf = None if w is None else np.broadcast_to(w, x.shape)
    pwf = None if pw is None else np.broadcast_to(pw, x.shape)
    assert_close(out, ref.binary_cross_entropy_with_logits(x, t, wf, pwf, reduction=red), dtype, scale=10)
    g = grad_for(red, x.shape, rng, dtype)
    gx, gt, _, _ = F.binary_cross_entropy_with_logits_backward(g, x, t, w, reduction=red, pos_weight=pw)
    assert_close(gx, ref.binary_cross_entropy_with_logits_backward(g, x, t, wf, pwf, reduction=red), dtype, scale=10)
    num = numeric_grad(lambda tt: float(np.sum(np.asarray(g, np.float64) * ref.binary_cross_entropy_with_logits(
        x.astype(np.float64), tt, wf, pwf, reduction=red))), t.astype(np.float64))
    check_grad(gt, num, rtol=1e-4 if dtype == np.float32 else 1e-6, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("red", REDUCTIONS)
@pytest.mark.parametrize("shape,weighted,ignore,ls", [
    ((6, 4), False, -100, 0.0), ((6, 4), True, 2, 0.0), ((6, 4), False, 1, 0.2),
    ((6, 4), True, 0, 0.3), ((3, 5, 2, 3), True, -100, 0.1), ((5,), False, -100, 0.0)], ids=str)
def test_cross_entropy(shape, weighted, ignore, ls, red, dtype):
    rng = rng_for("ce", shape, weighted, ignore, ls, red)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
    t = rng.integers(0, classes, tshape)
    w = rng.uniform(0.5, 2, classes).astype(dtype) if weighted else None
    kw = dict(weight=w, ignore_index=ignore, label_smoothing=ls)
    out = F.cross_entropy(x, t, reduction=red, **kw)
    assert_close(out, ref.cross_entropy(x, t, reduction=red, **kw), dtype, scale=10)
    g = grad_for(red, tshape, rng, dtype)
    gx, gt, gw = F.cross_entropy_backward(g, x, t, reduction=red, **kw)
    assert gt is None and gw is None
    assert_close(gx, ref.cross_entropy_backward(g, x, t, reduction=red, **kw), dtype, scale=10)


def test_cross_entropy_all_ignored_is_nan_like_pytorch():
    assert np.isnan(F.cross_entropy(np.zeros((2, 3)), np.array([-100, -100])))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("red", REDUCTIONS)
def test_correlation_loss(red, dtype):
    rng = rng_for("corr", red)
    x = rng.standard_normal((4, 1, 5, 5)).astype(dtype)
    t = (0.6 * x + 0.4 * rng.standard_normal(x.shape)).astype(dtype)
    out = F.correlation_loss(x, t, reduction=red)
    assert_close(out, ref.correlation_loss(x, t, reduction=red), dtype)
    if red != "none":
        r = np.corrcoef(x.ravel().astype(np.float64), t.ravel().astype(np.float64))[0, 1]
        assert_close(out, 1 - r, dtype)
    g = grad_for(red, (4,), rng, dtype)
    gx, gt = F.correlation_loss_backward(g, x, t, reduction=red)
    assert_close(gx, ref.correlation_loss_backward(g, x, t, reduction=red), dtype, scale=10)
    # symmetry: swapping input and target swaps the gradients
    gt2, gx2 = F.correlation_loss_backward(g, t, x, reduction=red)
    assert_close(gt, gt2, dtype, scale=10)
    assert_close(gx, gx2, dtype, scale=10)


def test_losses_return_scalars_and_arrays():
    x, t = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    m = F.mse_loss(x, t)
    assert isinstance(m, np.float32) and float(m) == 1.0
    assert F.mse_loss(x, t, reduction="none").shape == (2, 3)
    assert F.cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 4), int), reduction="none").shape == (2, 4)


@given(st.data())
def test_losses_property_against_reference(data):
    """Random shapes, reductions and options for every loss, forward and backward, against the reference."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    red = data.draw(st.sampled_from(REDUCTIONS))
    n, c = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    extra = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    x = rng.standard_normal((n, c, *extra))
    t = rng.standard_normal(x.shape)
    g = rng.standard_normal() if red != "none" else rng.standard_normal(x.shape)
    for name in ("mse_loss", "l1_loss"):
        assert_close(getattr(F, name)(x, t, reduction=red), getattr(ref, name)(x, t, reduction=red))
        assert_close(getattr(F, name + "_backward")(g, x, t, reduction=red)[0],
                     getattr(ref, name + "_backward")(g, x, t, reduction=red))
    p, q = 1 / (1 + np.exp(-x)), rng.uniform(0, 1, x.shape)
    assert_close(F.binary_cross_entropy(p, q, reduction=red), ref.binary_cross_entropy(p, q, reduction=red))
    assert_close(F.binary_cross_entropy_backward(g, p, q, reduction=red)[0],
                 ref.binary_cross_entropy_backward(g, p, q, reduction=red), scale=1e3)
    pw = rng.uniform(0.5, 2, x.shape) if data.draw(st.booleans()) else None
    assert_close(F.binary_cross_entropy_with_logits(x, q, reduction=red, pos_weight=pw),
                 ref.binary_cross_entropy_with_logits(x, q, None, pw, reduction=red))
    assert_close(F.binary_cross_entropy_with_logits_backward(g, x, q, reduction=red, pos_weight=pw)[0],
                 ref.binary_cross_entropy_with_logits_backward(g, x, q, None, pw, reduction=red))
    cls = rng.integers(0, c, (n, *extra))
    w = rng.uniform(0.5, 2, c) if data.draw(st.booleans()) else None
    kw = dict(weight=w, ignore_index=data.draw(st.sampled_from([-100, 0])),
              label_smoothing=data.draw(st.sampled_from([0.0, 0.25])))
    gc = rng.standard_normal() if red != "none" else rng.standard_normal(cls.shape)
    want = ref.cross_entropy(x, cls, reduction=red, **kw)
    got = F.cross_entropy(x, cls, reduction=red, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-11, equal_nan=True)
    if not np.any(np.isnan(want)):
        assert_close(F.cross_entropy_backward(gc, x, cls, reduction=red, **kw)[0],
                     ref.cross_entropy_backward(gc, x, cls, reduction=red, **kw))
    if x[0].size > 1:  # a one-element sample has no correlation
        gr = rng.standard_normal() if red != "none" else rng.standard_normal(n)
        assert_close(F.correlation_loss(x, t, reduction=red), ref.correlation_loss(x, t, reduction=red))
        assert_close(F.correlation_loss_backward(gr, x, t, reduction=red)[0],
                     ref.correlation_loss_backward(gr, x, t, reduction=red), scale=10)
