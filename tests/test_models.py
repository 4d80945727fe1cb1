"""cnnpy.models: the lecture's networks -- their layers, parameter counts and shapes, forward and
backward, reproducible initialisation, the dropout and all-convolutional variants, tied weights,
and state_dict keys and outputs equal to the same layers in torch.nn.Sequential."""
import numpy as np
import pytest

import cnnpy
from cnnpy import models, nn

MODELS = {
    "GausNet": (lambda **kw: models.GausNet(**kw), (2, 1, 91, 91), (2, 1), 97181),
    "GausNet-3": (lambda **kw: models.GausNet(outputs=3, **kw), (2, 1, 91, 91), (2, 3), 97283),
    "AllConvNet": (lambda **kw: models.AllConvNet(**kw), (2, 1, 91, 91), (2, 1), 97399),
    "AllConvNet-k3": (lambda **kw: models.AllConvNet(kernel_size=3, **kw), (2, 1, 91, 91), (2, 1), 97659),
    "GaussianAutoencoder": (lambda **kw: models.GaussianAutoencoder(**kw), (2, 1, 91, 91), (2, 1, 91, 91), 557),
    "DenseAutoencoder": (lambda **kw: models.DenseAutoencoder(**kw), (3, 784), (3, 784), 418334),
    "DenseAutoencoder-tied": (lambda **kw: models.DenseAutoencoder(tied=True, **kw), (3, 784), (3, 784), 209834),
    "DenseAutoencoder-occlusion": (lambda **kw: models.DenseAutoencoder((784, 128, 50), **kw),
                                   (3, 784), (3, 784), 214594),
    "DenseAutoencoder-occlusion-tied": (lambda **kw: models.DenseAutoencoder((784, 128, 50), tied=True, **kw),
                                        (3, 784), (3, 784), 107842),
    "MnistNet": (lambda **kw: models.MnistNet(**kw), (2, 1, 28, 28), (2, 10), 30840),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count_and_output_shape(name):
    make, in_shape, out_shape, count = MODELS[name]
    model = make(rng=0)
    assert isinstance(model, nn.Sequential)
    s = cnnpy.summary(model, (1,) + in_shape[1:])
    assert s.total_params == count == sum(p.data.size for p in model.parameters())
    assert model(np.zeros(in_shape, np.float32)).shape == out_shape


@pytest.mark.parametrize("name", list(MODELS))
def test_forward_backward(name):
    make, in_shape, _, _ = MODELS[name]
    model = make(rng=1)
    x = np.random.default_rng(2).random(in_shape, dtype=np.float32)
    y = model(x)
    assert y.dtype == np.float32 and np.isfinite(y).all()
    model.zero_grad()
    gx = model.backward(np.ones_like(y))
    assert gx.shape == x.shape and np.isfinite(gx).all()
    for pname, p in model.named_parameters():
        assert p.grad.shape == p.data.shape and np.abs(p.grad).sum() > 0, pname


def test_the_lecture_layer_shapes():
    rows = cnnpy.summary(models.GausNet(), (1, 1, 91, 91)).rows
    assert [r["type"] for r in rows] == ["Conv2d", "ReLU", "AvgPool2d", "Conv2d", "ReLU", "AvgPool2d",
                                         "Flatten", "Linear", "Linear"]            # no ReLU between Linears
    assert [r["output_shape"][-1] for r in rows[:6]] == [91, 91, 45, 45, 45, 22]
    assert rows[6]["output_shape"] == (1, 1936)
    rows = cnnpy.summary(models.GaussianAutoencoder(), (1, 1, 91, 91)).rows
    assert [r["output_shape"] for r in rows] == [(1, 6, 91, 91), (1, 6, 91, 91), (1, 6, 45, 45), (1, 4, 45, 45),
                                                 (1, 4, 45, 45), (1, 4, 22, 22), (1, 6, 45, 45), (1, 6, 45, 45),
                                                 (1, 1, 91, 91)]
    rows = cnnpy.summary(models.MnistNet(), (1, 1, 28, 28)).rows
    assert [r["output_shape"][1:] for r in rows[:6]] == [(10, 26, 26), (10, 13, 13), (10, 13, 13), (20, 11, 11),
                                                         (20, 5, 5), (20, 5, 5)]
    rows = cnnpy.summary(models.AllConvNet(), (1, 1, 91, 91)).rows
    assert [r["output_shape"][1:] for r in rows[:6]] == [(6, 91, 91), (6, 91, 91), (6, 45, 45), (4, 45, 45),
                                                         (4, 45, 45), (4, 22, 22)]


def test_dense_autoencoder_layers():
    ae = models.DenseAutoencoder()
    assert [type(m).__name__ for m in ae] == ["Linear", "ReLU"] * 3 + ["Linear", "Sigmoid"]
    assert [(m.in_features, m.out_features) for m in ae[::2]] == [(784, 250), (250, 50), (50, 250), (250, 784)]
    y = ae(np.random.default_rng(3).standard_normal((4, 784)).astype(np.float32) * 10)
    assert ((y > 0) & (y < 1)).all()
    assert len(ae.encoder) == len(ae.decoder) == 4 and ae.encoder[0] is ae[0] and ae.decoder[0] is ae[4]
    assert models.DenseAutoencoder((10, 4)).encoder(np.zeros((2, 10), np.float32)).shape == (2, 4)


def test_tied_dense_autoencoder_shares_the_encoder_weights():
    ae = models.DenseAutoencoder(tied=True, rng=4)
    assert isinstance(ae[4], nn.TiedLinear) and isinstance(ae[6], nn.TiedLinear)
    assert ae[4].weight is ae[2].weight and ae[6].weight is ae[0].weight
    assert list(ae.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.bias", "6.bias"]
    x = np.random.default_rng(5).random((2, 784), dtype=np.float32)
    ae.zero_grad()
    ae.backward(ae(x) - x)
    untied = models.DenseAutoencoder()
    untied.load_state_dict({**{k: v for k, v in ae.state_dict().items()},
                            "4.weight": ae[2].weight.data.T, "6.weight": ae[0].weight.data.T})
    untied.zero_grad()
    np.testing.assert_allclose(untied(x), ae(x), rtol=1e-6, atol=1e-7)
    untied.backward(untied(x) - x)
    # the shared weight's gradient is the encoder's plus the transposed decoder's
    np.testing.assert_allclose(ae[0].weight.grad, untied[0].weight.grad + untied[6].weight.grad.T,
                               rtol=1e-4, atol=1e-7)


def test_gaussian_autoencoder_encoder_and_decoder():
    ae = models.GaussianAutoencoder(rng=6)
    assert models.ConvAutoencoder is models.GaussianAutoencoder
    x = np.random.default_rng(7).random((2, 1, 91, 91), dtype=np.float32)
    code = ae.encoder(x)
    assert code.shape == (2, 4, 22, 22) and ae.encoder[0] is ae[0] and ae.decoder[0] is ae[6]
    np.testing.assert_array_equal(ae.decoder(code), ae(x))


# ---- reproducibility --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["GausNet", "AllConvNet", "GaussianAutoencoder", "DenseAutoencoder-tied",
                                  "MnistNet"])
def test_initialisation_is_reproducible(name):
    make = MODELS[name][0]

    def same(a, b):
        return all(np.array_equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))

    assert same(make(rng=8), make(rng=8)) and not same(make(rng=8), make(rng=9))
    assert same(make(rng=np.random.default_rng(8)), make(rng=8))
    cnnpy.manual_seed(10)
    first = make()
    cnnpy.manual_seed(10)
    assert same(first, make()) and not same(first, make())


def test_layers_draw_from_one_generator_in_order():
    net = models.GausNet(rng=8)
    alone = [nn.Conv2d(1, 6, 3, padding=1, rng=8), nn.Conv2d(6, 4, 3, padding=1, rng=8)]
    np.testing.assert_array_equal(net[0].weight.data, alone[0].weight.data)     # the first draws
    assert not np.array_equal(net[3].weight.data, alone[1].weight.data)          # not a fresh seed


# ---- the dropout variant --------------------------------------------------------------------------

def test_gausnet_dropout_layers_and_modes():
    plain = models.GausNet(rng=11)
    assert not any(isinstance(m, nn.Dropout) for m in plain) and len(models.GausNet(dropout=0.0)) == 9
    net = models.GausNet(dropout=0.5, rng=11)
    assert [type(m).__name__ for m in net] == ["Conv2d", "ReLU", "AvgPool2d", "Dropout", "Conv2d", "ReLU",
                                               "AvgPool2d", "Dropout", "Flatten", "Linear", "Dropout", "Linear"]
    assert all(m.p == 0.5 for m in net if isinstance(m, nn.Dropout))
    # same initial weights as the plain net (the Dropouts draw nothing at construction)
    for p, q in zip(net.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    x = np.random.default_rng(12).random((4, 1, 91, 91), dtype=np.float32)
    net.eval()
    np.testing.assert_array_equal(net(x), plain(x))
    net.train()
    a, b = net(x), net(x)
    assert not np.allclose(a, plain(x)) and not np.array_equal(a, b)       # fresh masks each call
    net.zero_grad()
    assert net.backward(np.ones_like(a)).shape == x.shape
    seeded = [models.GausNet(dropout=0.5, rng=13)(x) for _ in range(2)]
    np.testing.assert_array_equal(*seeded)                                  # masks follow rng too
    assert len(models.AllConvNet(dropout=0.2)) == 12


def test_all_conv_net_can_be_exactly_gausnet():
    """A 2x2 stride-2 convolution with weight 1/4 on matching channels is AvgPool2d(2, 2)."""
    gaus, allconv = models.GausNet(rng=14), models.AllConvNet(rng=15)
    for i in (2, 5):
        c = allconv[i].weight.data.shape[0]
        allconv[i].weight.data[...] = 0.25 * np.eye(c, dtype=np.float32)[:, :, None, None]
        allconv[i].bias.data[...] = 0
    for i in (0, 3, 7, 8):
        allconv[i].load_state_dict(gaus[i].state_dict())
    x = np.random.default_rng(16).random((3, 1, 91, 91), dtype=np.float32)
    np.testing.assert_allclose(allconv(x), gaus(x), rtol=1e-5, atol=1e-6)


def test_input_size():
    net = models.GausNet(input_size=23, rng=0)
    assert net[7].in_features == 4 * 5 * 5 and net(np.zeros((2, 1, 23, 23), np.float32)).shape == (2, 1)
    assert models.AllConvNet(input_size=23, kernel_size=3)[7].in_features == 4 * 5 * 5


@pytest.mark.parametrize("call,exc,match", [
    (lambda: models.GausNet(outputs=0), ValueError, "GausNet: outputs must be >= 1, got 0"),
    (lambda: models.GausNet(dropout=1.0), ValueError, r"GausNet: dropout must be a probability in \[0, 1\)"),
    (lambda: models.GausNet(dropout="x"), TypeError, "GausNet: dropout must be a real number"),
    (lambda: models.GausNet(input_size=3), ValueError, "GausNet: input_size=3 is too small"),
    (lambda: models.AllConvNet(kernel_size=0), ValueError, "AllConvNet: kernel_size must be >= 1"),
    (lambda: models.DenseAutoencoder((784,)), ValueError, "DenseAutoencoder: sizes must hold at least"),
    (lambda: models.DenseAutoencoder(784), TypeError, "DenseAutoencoder: sizes must be a sequence"),
    (lambda: models.MnistNet(rng="x"), TypeError, "MnistNet: rng must be None"),
], ids=["outputs-0", "dropout-1", "dropout-str", "input-too-small", "kernel-0", "sizes-short", "sizes-int",
        "rng-str"])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- PyTorch -------------------------------------------------------------------------------------------

def torch_twins():
    t = pytest.importorskip("torch").nn
    return {
        "GausNet": t.Sequential(t.Conv2d(1, 6, 3, padding=1), t.ReLU(), t.AvgPool2d(2, 2),
                                t.Conv2d(6, 4, 3, padding=1), t.ReLU(), t.AvgPool2d(2, 2),
                                t.Flatten(), t.Linear(22 * 22 * 4, 50), t.Linear(50, 1)),
        "AllConvNet": t.Sequential(t.Conv2d(1, 6, 3, padding=1), t.ReLU(), t.Conv2d(6, 6, 2, stride=2),
                                   t.Conv2d(6, 4, 3, padding=1), t.ReLU(), t.Conv2d(4, 4, 2, stride=2),
                                   t.Flatten(), t.Linear(1936, 50), t.Linear(50, 1)),
        "GaussianAutoencoder": t.Sequential(t.Conv2d(1, 6, 3, padding=1), t.ReLU(), t.MaxPool2d(2, 2),
                                            t.Conv2d(6, 4, 3, padding=1), t.ReLU(), t.MaxPool2d(2, 2),
                                            t.ConvTranspose2d(4, 6, 3, 2), t.ReLU(), t.ConvTranspose2d(6, 1, 3, 2)),
        "DenseAutoencoder": t.Sequential(t.Linear(784, 250), t.ReLU(), t.Linear(250, 50), t.ReLU(),
                                         t.Linear(50, 250), t.ReLU(), t.Linear(250, 784), t.Sigmoid()),
        "MnistNet": t.Sequential(t.Conv2d(1, 10, 5, padding=1), t.MaxPool2d(2), t.ReLU(),
                                 t.Conv2d(10, 20, 5, padding=1), t.MaxPool2d(2), t.ReLU(),
                                 t.Flatten(), t.Linear(500, 50), t.ReLU(), t.Linear(50, 10)),
    }


@pytest.mark.parametrize("name", ["GausNet", "AllConvNet", "GaussianAutoencoder", "DenseAutoencoder", "MnistNet"])
def test_matches_torch_sequential(name):
    torch = pytest.importorskip("torch")
    twin = torch_twins()[name]
    make, in_shape, _, _ = MODELS[name]
    model = make(rng=17)
    theirs = twin.state_dict()
    assert list(model.state_dict()) == list(theirs)
    assert all(model.state_dict()[k].shape == tuple(v.shape) for k, v in theirs.items())
    model.load_state_dict({k: v.numpy() for k, v in theirs.items()})
    x = np.random.default_rng(18).random(in_shape, dtype=np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
    other = make(rng=19)                                       # and back: our weights into PyTorch
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in other.state_dict().items()})
    with torch.no_grad():
        np.testing.assert_allclose(other(x), twin(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)


def test_default_initialisation_bounds_are_pytorchs():
    net = models.GausNet(rng=20)
    for layer, fan_in in ((net[0], 9), (net[3], 54), (net[7], 1936), (net[8], 50)):
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
        assert np.abs(layer.weight.data).max() > 0.9 * bound                 # uniform over the whole range
