"""Losses beyond their table (tests/ops/losses.py): broadcasting and its gradient, an
all-ignored batch, scalar and array results, and a property test against the float64 reference."""
import numpy as np
from hypothesis import given, strategies as st

import cnnpy.functional as F
import reference as ref
from helpers import assert_close, rng_for

REDUCTIONS = ["mean", "sum", "none"]


def test_mse_broadcasts_and_unbroadcasts_gradients():
    rng = rng_for("bcast")
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((3,))
    assert_close(F.mse_loss(x, t), ref.mse_loss(x, np.broadcast_to(t, x.shape)))
    gx, gt = F.mse_loss_backward(1.0, x, t)
    assert gx.shape == x.shape and gt.shape == t.shape
    assert_close(gt, -gx.sum(axis=0))


def test_cross_entropy_all_ignored_is_nan_like_pytorch():
    assert np.isnan(F.cross_entropy(np.zeros((2, 3)), np.array([-100, -100])))


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
