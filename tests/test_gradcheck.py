"""float64 finite-difference checks of every backward function: L = sum(G * op(inputs)) for a
random G, differentiated numerically with respect to each array argument and compared with the
op's own *_backward. Inputs stay away from kinks (ReLU at 0, |x - t| at 0, ties in max pooling)."""
import numpy as np
import pytest

import cnnpy.functional as F
from helpers import away_from_zero, check_grad, distinct, numeric_grad, rng_for


def gradcheck(op, backward, arrays, kwargs, rng, max_entries=40, rtol=1e-6, atol=1e-8):
    """Check backward(G, *arrays, **kwargs) against central differences of sum(G * op(...))."""
    out = op(*arrays, **kwargs)
    g = rng.standard_normal(np.shape(out))
    grads = backward(g, *arrays, **kwargs)
    if not isinstance(grads, tuple):
        grads = (grads,)
    for i, a in enumerate(arrays):
        if a is None or grads[i] is None:
            continue

        def f(v, i=i):
            args = list(arrays)
            args[i] = v
            return float(np.sum(g * op(*args, **kwargs)))

        check_grad(grads[i], numeric_grad(f, a, max_entries=max_entries, rng=rng), rtol=rtol, atol=atol)


CONV_CASES = [
    dict(stride=1, padding=1),
    dict(stride=2, padding=((0, 2), (1, 0)), dilation=(2, 1)),
    dict(stride=(2, 1), padding="same", padding_mode="reflect"),
    dict(padding=3, padding_mode="symmetric"),
    dict(padding=2, padding_mode="circular", mode="conv"),
    dict(padding=(1, 2), padding_mode="replicate", groups=2),
    dict(padding=1, padding_mode="constant", value=0.7),
    dict(padding="full", dilation=2),
]


@pytest.mark.parametrize("kw", CONV_CASES, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items()))
def test_conv2d_gradients(kw):
    rng = rng_for("gc-conv2d", kw)
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 2))
    b = rng.standard_normal(6)
    gradcheck(F.conv2d, F.conv2d_backward, (x, w, b), kw, rng)


def test_conv1d_gradients():
    rng = rng_for("gc-conv1d")
    x, w, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 4)), rng.standard_normal(2)
    gradcheck(F.conv1d, F.conv1d_backward, (x, w, b), dict(stride=2, padding=(1, 2), padding_mode="reflect"), rng)


@pytest.mark.parametrize("kw", [dict(stride=2), dict(stride=2, padding=1, output_padding=1),
                                dict(stride=(3, 1), dilation=(1, 2), groups=2),
                                dict(stride=2, output_size=(10, 9))], ids=str)
def test_conv_transpose2d_gradients(kw):
    rng = rng_for("gc-convT", kw)
    x, w, b = rng.standard_normal((2, 4, 4, 4)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(3 * kw.get("groups", 1))
    gradcheck(F.conv_transpose2d, F.conv_transpose2d_backward, (x, w, b), kw, rng)


def test_conv_transpose1d_gradients():
    rng = rng_for("gc-convT1d")
    x, w = rng.standard_normal((2, 2, 5)), rng.standard_normal((2, 3, 3))
    gradcheck(F.conv_transpose1d, F.conv_transpose1d_backward, (x, w, None), dict(stride=2, padding=1), rng)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=(2, 3), dilation=2, ceil_mode=True)], ids=str)
def test_max_pool2d_gradients(kw):
    rng = rng_for("gc-max", kw)
    gradcheck(F.max_pool2d, F.max_pool2d_backward, (distinct((2, 2, 7, 6), rng),), kw, rng, max_entries=None)


def test_max_pool1d_gradients():
    rng = rng_for("gc-max1d")
    gradcheck(F.max_pool1d, F.max_pool1d_backward, (distinct((2, 3, 9), rng),), dict(kernel_size=3, stride=2, padding=1), rng)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
                                dict(kernel_size=2, divisor_override=3)], ids=str)
def test_avg_pool2d_gradients(kw):
    rng = rng_for("gc-avg", kw)
    gradcheck(F.avg_pool2d, F.avg_pool2d_backward, (rng.standard_normal((2, 2, 7, 6)),), kw, rng)


def test_avg_pool1d_gradients():
    rng = rng_for("gc-avg1d")
    gradcheck(F.avg_pool1d, F.avg_pool1d_backward, (rng.standard_normal((2, 2, 9)),), dict(kernel_size=4, stride=3, padding=2), rng)


def test_adaptive_pool_gradients():
    rng = rng_for("gc-adaptive")
    gradcheck(F.adaptive_avg_pool2d, F.adaptive_avg_pool2d_backward, (rng.standard_normal((2, 2, 7, 5)),),
              dict(output_size=(3, 4)), rng)
    gradcheck(F.adaptive_max_pool2d, F.adaptive_max_pool2d_backward, (distinct((2, 2, 7, 5), rng),),
              dict(output_size=(3, 2)), rng)
    gradcheck(F.adaptive_avg_pool1d, F.adaptive_avg_pool1d_backward, (rng.standard_normal((2, 9)),),
              dict(output_size=4), rng)
    gradcheck(F.adaptive_max_pool1d, F.adaptive_max_pool1d_backward, (distinct((2, 9), rng),),
              dict(output_size=4), rng)


def test_max_unpool_gradients():
    rng = rng_for("gc-unpool")
    y, idx = F.max_pool2d(distinct((2, 2, 6, 6), rng), 2, return_indices=True)

    def op(x):
        return F.max_unpool2d(x, idx, 2)

    def back(g, x):
        return F.max_unpool2d_backward(g, x, idx, 2)[0]
    gradcheck(op, back, (y,), {}, rng)


@pytest.mark.parametrize("mode", ["constant", "reflect", "symmetric", "replicate", "circular"])
def test_pad_gradients(mode):
    rng = rng_for("gc-pad", mode)
    gradcheck(F.pad, F.pad_backward, (rng.standard_normal((2, 3, 4)),), dict(pad=(5, -1, 2, 6), mode=mode, value=0.3), rng)


def test_linear_gradients():
    rng = rng_for("gc-linear")
    x, w, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    gradcheck(F.linear, F.linear_backward, (x, w, b), {}, rng)


@pytest.mark.parametrize("name,kw", [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("sigmoid", {}),
                                     ("tanh", {}), ("softmax", {"dim": 1}), ("log_softmax", {"dim": 0})])
def test_activation_gradients(name, kw):
    rng = rng_for("gc-act", name)
    gradcheck(getattr(F, name), getattr(F, name + "_backward"), (away_from_zero((3, 4, 2), rng),), kw, rng)


def test_dropout_gradient():
    rng = rng_for("gc-dropout")
    x = rng.standard_normal((4, 5))
    gradcheck(F.dropout, F.dropout_backward, (x,), dict(p=0.4, rng=11), rng)


@pytest.mark.parametrize("red", ["mean", "sum", "none"])
def test_loss_gradients(red):
    rng = rng_for("gc-loss", red)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    gradcheck(F.mse_loss, F.mse_loss_backward, (x, t), dict(reduction=red), rng)
    gradcheck(F.l1_loss, F.l1_loss_backward, (x, t + np.sign(t - x) * 0.2), dict(reduction=red), rng)
    p, q = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4))
    gradcheck(F.binary_cross_entropy, F.binary_cross_entropy_backward, (p, q, rng.uniform(0.5, 2, 4)),
              dict(reduction=red), rng)
    gradcheck(F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward,
              (x, q, None), dict(reduction=red, pos_weight=rng.uniform(0.5, 2, 4)), rng)
    logits, cls = rng.standard_normal((4, 5, 3)), rng.integers(0, 5, (4, 3))
    cls[0, 0] = 2

    def ce(z, reduction):
        return F.cross_entropy(z, cls, weight=np.arange(1.0, 6.0), ignore_index=2, label_smoothing=0.1,
                               reduction=reduction)

    def ce_back(g, z, reduction):
        return F.cross_entropy_backward(g, z, cls, weight=np.arange(1.0, 6.0), ignore_index=2,
                                        label_smoothing=0.1, reduction=reduction)[0]
    gradcheck(ce, ce_back, (logits,), dict(reduction=red), rng)
    a, b = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
    gradcheck(F.correlation_loss, F.correlation_loss_backward, (a, a + b), dict(reduction=red), rng)
