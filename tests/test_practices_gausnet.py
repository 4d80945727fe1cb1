"""Acceptance tests of the lecture's practices built on GausNet's data (its table "Practices"):
the All-Convolutional Net idea, "find the Gaussian's parameters" (regression) and dropout. Plain
GausNet is tests/test_training.py::test_gausnet_learns_the_lecture_task.

Each training test runs the lecture's recipe once with a fixed seed (marked slow). The fast tests
check the deterministic properties the notebooks 05, 06 and 09 rely on: a stride-2 convolution with
an averaging kernel is AvgPool2d(2, 2), AllConvNet's size/parameter/receptive-field bookkeeping, and
dropout's training/evaluation behaviour inside GausNet.
"""
import numpy as np
import pytest

import cnnpy
from cnnpy import data, datasets, models, nn, optim
from helpers import rng_for


def _test_arrays(subset):
    """The arrays of a random_split Subset of a TensorDataset, in the subset's order."""
    idx = np.asarray(subset.indices)
    return tuple(a[idx] for a in subset.dataset.arrays)


def _train_classifier(make, seed):
    """The lecture's GausNet recipe: 1000 images per class, 90/10 split, BCE with logits,
    Adam 1e-3, batch 32, 10 epochs."""
    cnnpy.manual_seed(seed)
    x, y = datasets.gaussians(n_per_class=1000, seed=seed)
    train_set, test_set = data.random_split(data.TensorDataset(x, y), [0.9, 0.1], seed=seed)
    model = make()
    hist = cnnpy.train(model, data.DataLoader(train_set, 32, shuffle=True, seed=seed), nn.BCEWithLogitsLoss(),
                       optim.Adam(model.parameters(), lr=1e-3), epochs=10,
                       val_loader=data.DataLoader(test_set, 200), metrics=["accuracy"], progress=False)
    return model, hist, test_set


def _without_dropout(model):
    """The same layer objects (same weights) with the Dropout layers left out."""
    return nn.Sequential(*[m for m in model if not isinstance(m, nn.Dropout)])


# ---- All-Convolutional Net ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2, 6, 91, 91), (3, 4, 45, 45), (1, 1, 8, 9)],
                         ids=["N2-C6-91", "N3-C4-45", "N1-C1-8x9"])
def test_stride2_conv_with_averaging_kernel_is_avgpool(shape):
    """Conv2d(C, C, 2, stride=2), 1/4 on each channel's own kernel, 0 across channels and no bias,
    equals AvgPool2d(2, 2) forward and backward (odd sizes drop the last row/column in both)."""
    c = shape[1]
    rng = rng_for("allconv-avgpool", shape)
    conv = nn.Conv2d(c, c, 2, stride=2).astype(np.float64)
    conv.weight.data[...] = 0.25 * np.eye(c)[:, :, None, None]
    conv.bias.data[...] = 0
    pool = nn.AvgPool2d(2, 2)
    x = rng.standard_normal(shape)
    y = pool(x)
    assert y.shape == shape[:2] + (shape[2] // 2, shape[3] // 2)
    np.testing.assert_allclose(conv(x), y, rtol=1e-12, atol=1e-14)
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(conv.backward(g), pool.backward(g), rtol=1e-12, atol=1e-14)
    # and a random kernel is not an average pool: the equality above is not vacuous
    conv.weight.data[...] = rng.standard_normal(conv.weight.data.shape)
    assert not np.allclose(conv(x), y)


def _receptive_field(kernels_and_strides):
    rf, jump = 1, 1
    for k, s in kernels_and_strides:
        rf += (k - 1) * jump
        jump *= s
    return rf, jump


@pytest.mark.parametrize("k", [2, 3], ids=["k2", "k3"])
def test_all_conv_net_bookkeeping_against_gausnet(k):
    """AllConvNet(kernel_size=k) vs GausNet: the same sizes 91 -> 45 -> 22, the strided
    convolutions' parameters and multiply-adds on top of GausNet's, and the receptive field of
    conv3-down-conv3-down (equal to GausNet's for k = 2, larger for k = 3)."""
    shape = (1, 1, 91, 91)
    gaus, allc = cnnpy.summary(models.GausNet(), shape), cnnpy.summary(models.AllConvNet(kernel_size=k), shape)
    n1 = cnnpy.conv_output_size(91, k, stride=2)
    n2 = cnnpy.conv_output_size(n1, k, stride=2)
    assert (n1, n2) == (cnnpy.pool_output_size(91, 2), cnnpy.pool_output_size(45, 2)) == (45, 22)
    assert [r["output_shape"] for r in allc.rows] == [r["output_shape"] for r in gaus.rows]
    strided = [(6, n1), (4, n2)]                             # (channels, output size) of each
    assert allc.total_params == gaus.total_params + sum(c * c * k * k + c for c, _ in strided)
    assert allc.total_mult_adds == gaus.total_mult_adds + sum(n * n * c * c * k * k for c, n in strided)
    rf_pool, jump = _receptive_field([(3, 1), (2, 2), (3, 1), (2, 2)])
    rf_conv, _ = _receptive_field([(3, 1), (k, 2), (3, 1), (k, 2)])
    assert gaus.rows[5]["receptive_field"] == (rf_pool, rf_pool) and gaus.rows[5]["jump"] == (jump, jump)
    assert allc.rows[5]["receptive_field"] == (rf_conv, rf_conv) and allc.rows[5]["jump"] == (jump, jump)
    assert (rf_conv == rf_pool) == (k == 2)


@pytest.mark.slow
def test_all_conv_net_learns_the_lecture_task():
    """Pooling replaced by stride-2 convolutions, trained as GausNet: >= 95% test accuracy."""
    model, hist, test_set = _train_classifier(models.AllConvNet, seed=0)
    x, y = _test_arrays(test_set)
    model.eval()
    acc = float(np.mean((model(x) > 0) == (y > 0.5)))
    assert acc == hist["val_accuracy"][-1]
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 3, hist.as_dict()
    assert acc >= 0.95, hist.as_dict()


# ---- "find the Gaussian's parameters" -------------------------------------------------------------

@pytest.mark.slow
def test_gausnet_finds_the_gaussian_parameters():
    """GausNet with Linear(50, 3), MSE, Adam 1e-3, batch 16, 30 epochs on 1000 images (90/10):
    test MSE < 1 and Pearson r > 0.9 for each of cx, cy and the width."""
    seed = 0
    cnnpy.manual_seed(seed)
    x, t = datasets.gaussian_params(n=1000, seed=seed)
    train_set, test_set = data.random_split(data.TensorDataset(x, t), [0.9, 0.1], seed=seed)
    model = models.GausNet(outputs=3)
    hist = cnnpy.train(model, data.DataLoader(train_set, 16, shuffle=True, seed=seed), nn.MSELoss(),
                       optim.Adam(model.parameters(), lr=1e-3), epochs=30, progress=False)
    xt, tt = _test_arrays(test_set)
    model.eval()
    pred = model(xt)
    assert pred.shape == tt.shape == (100, 3)
    mse = float(np.mean((pred - tt) ** 2))
    r = [float(np.corrcoef(pred[:, j], tt[:, j])[0, 1]) for j in range(3)]
    # an untrained guess (the training mean for every image) has an MSE of about the targets'
    # variance, ~6: the bar below needs real learning
    baseline = float(np.mean((_test_arrays(train_set)[1].mean(axis=0) - tt) ** 2))
    assert baseline > 4
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 5
    assert mse < 1.0, (mse, r)
    assert min(r) > 0.9, (mse, r)


# ---- dropout --------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gausnet_dropout_training_mode_zeroes_or_scales(p):
    """In training mode each Dropout layer of GausNet(dropout=p) outputs, element by element,
    0 or input / (1 - p), zeroes a fraction p of its inputs, and draws a new mask every call."""
    rng = rng_for("gausnet-dropout-train", p)
    net = models.GausNet(dropout=p, rng=int(rng.integers(2**31)))
    x = rng.standard_normal((4, 1, 91, 91)).astype(np.float32)
    net.train()
    h, seen = x, 0
    for layer in net:
        y = layer(h)
        if isinstance(layer, nn.Dropout):
            seen += 1
            live = h != 0
            kept = live & (y != 0)
            assert np.all(y[~live] == 0)
            np.testing.assert_allclose(y[kept], h[kept] / np.float32(1 - p), rtol=1e-6)
            dropped = 1 - kept.sum() / live.sum()
            assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / live.sum()) + 1e-12, (layer, dropped)
        h = y
    assert seen == 3
    assert not np.array_equal(net(x), net(x))


@pytest.mark.parametrize("make", [lambda: models.GausNet(dropout=0.5, rng=3),
                                  lambda: models.AllConvNet(dropout=0.3, rng=4)],
                         ids=["GausNet", "AllConvNet"])
def test_dropout_eval_mode_is_the_network_without_dropout(make):
    """In evaluation mode the forward pass is deterministic and equals the same layers without the
    Dropout layers, bit for bit; so does the backward pass (input and parameter gradients)."""
    net = make()
    plain = _without_dropout(net)
    assert len(plain) == len(net) - 3
    rng = rng_for("dropout-eval", type(net).__name__)
    x = rng.standard_normal((3, 1, 91, 91)).astype(np.float32)
    g = rng.standard_normal((3, 1)).astype(np.float32)
    net.eval()
    y = net(x)
    np.testing.assert_array_equal(y, net(x))
    net.zero_grad()
    gx = net.backward(g)
    grads = [p.grad.copy() for p in net.parameters()]
    np.testing.assert_array_equal(plain(x), y)
    plain.zero_grad()
    np.testing.assert_array_equal(plain.backward(g), gx)
    for p, want in zip(plain.parameters(), grads):
        np.testing.assert_array_equal(p.grad, want)
    net.train()
    assert not np.allclose(net(x), y)            # and training mode really drops


@pytest.mark.slow
def test_gausnet_with_dropout_learns_the_lecture_task():
    """GausNet(dropout=0.5) trained with the GausNet recipe reaches >= 95% test accuracy; the
    trained net is still random in training mode and, in evaluation mode, deterministic and equal
    to itself without the Dropout layers."""
    # seed 3: seed 0 passes as well, but one test image above the bar (0.955), too close for a
    # fixed-seed test of a noisy training run (the lecture judges over seeds)
    model, hist, test_set = _train_classifier(lambda: models.GausNet(dropout=0.5), seed=3)
    x, y = _test_arrays(test_set)
    model.eval()
    logits = model(x)
    acc = float(np.mean((logits > 0) == (y > 0.5)))
    assert acc == hist["val_accuracy"][-1]
    assert acc >= 0.95, hist.as_dict()
    np.testing.assert_array_equal(model(x), logits)
    np.testing.assert_array_equal(_without_dropout(model)(x), logits)
    model.train()
    assert not np.array_equal(model(x[:20]), model(x[:20]))
