"""Losses against the float64 reference, every reduction, both dtypes, and the gradients with
respect to the target (analytic identities and finite differences)."""
import numpy as np
import pytest

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
