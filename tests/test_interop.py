"""cnnpy.to_torch and cnnpy.from_torch: the converted network computes what the original does
(outputs in eval mode), has the same state_dict (keys and values), and trains the same (one SGD
step with momentum on each side, same loss: losses and parameters after the step agree within
float32 tolerance), in both directions; padding PyTorch lacks and tied layers included; errors
name the layer. Skips cleanly without torch."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnpy  # noqa: E402
from cnnpy import models, nn, optim  # noqa: E402

TNN = torch.nn
RTOL, ATOL = 1e-4, 1e-5  # float32 outputs
STEP_RTOL, STEP_ATOL = 1e-5, 1e-6  # parameters after one step (lr * gradient moves them little)


def tensor(x):
    return torch.from_numpy(np.ascontiguousarray(x))


def assert_same_outputs(model, tmodel, shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    model.eval()
    tmodel.eval()
    with torch.no_grad():
        expected = tmodel(tensor(x)).numpy()
    np.testing.assert_allclose(model(x), expected, rtol=RTOL, atol=ATOL)


def assert_same_state(model, other, rtol=0, atol=0, tied=()):
    """The same state_dict keys, in order, and values (other: a cnnpy or a torch network, whose
    state_dict also lists a tied weight under the `tied` keys, as PyTorch does)."""
    mine = model.state_dict()
    theirs = {k: v for k, v in other.state_dict().items() if k not in tied}
    assert list(mine) == list(theirs)
    for key, value in theirs.items():
        value = value.detach().numpy() if isinstance(value, torch.Tensor) else value
        np.testing.assert_allclose(mine[key], value, rtol=rtol, atol=atol, err_msg=key)


CRITERIA = {"mse": (nn.MSELoss, TNN.MSELoss), "bce": (nn.BCEWithLogitsLoss, TNN.BCEWithLogitsLoss),
            "ce": (nn.CrossEntropyLoss, TNN.CrossEntropyLoss)}


def assert_same_training_step(model, tmodel, shape, loss="mse", seed=1, tied=()):
    """One step of SGD with momentum from the same weights on the same batch, train mode
    (no dropout in these models): same loss, same parameters after."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    model.train()
    tmodel.train()
    out = model(x)
    if loss == "ce":
        y = rng.integers(0, out.shape[1], out.shape[0])
    elif loss == "bce":
        y = (rng.random(out.shape) > 0.5).astype(np.float32)
    else:
        y = rng.standard_normal(out.shape).astype(np.float32)
    crit, tcrit = CRITERIA[loss][0](), CRITERIA[loss][1]()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    value = crit(out, y)
    model.backward(crit.backward())
    opt.step()
    topt.zero_grad()
    tvalue = tcrit(tmodel(tensor(x)), tensor(y))
    tvalue.backward()
    topt.step()
    assert value == pytest.approx(tvalue.item(), rel=1e-5, abs=1e-6)
    assert_same_state(model, tmodel, rtol=STEP_RTOL, atol=STEP_ATOL, tied=tied)


# ---- cnnpy -> torch ------------------------------------------------------------------------------

def _tied_conv_model(mode="xcorr", padding=0, padding_mode="zeros"):
    enc = nn.Conv2d(1, 4, 3, stride=2, padding=padding, padding_mode=padding_mode, mode=mode, rng=0)
    return nn.Sequential(enc, nn.ReLU(), nn.TiedConvTranspose2d(enc, stride=2, output_padding=1, rng=1))


MODELS = {
    # name: (model factory, input shape, loss for the training step)
    "GausNet": (lambda: models.GausNet(rng=0), (3, 1, 91, 91), "bce"),
    "GausNet-outputs3": (lambda: models.GausNet(outputs=3, rng=1), (3, 1, 91, 91), "mse"),
    "AllConvNet": (lambda: models.AllConvNet(rng=2), (3, 1, 91, 91), "bce"),
    "GaussianAutoencoder": (lambda: models.GaussianAutoencoder(rng=3), (2, 1, 91, 91), "mse"),
    "DenseAutoencoder": (lambda: models.DenseAutoencoder(rng=4), (4, 784), "mse"),
    "DenseAutoencoder-tied": (lambda: models.DenseAutoencoder(tied=True, rng=5), (4, 784), "mse"),
    "MnistNet": (lambda: models.MnistNet(rng=6), (4, 1, 28, 28), "ce"),
    "tied-conv": (lambda: _tied_conv_model(), (2, 1, 10, 10), "mse"),
    "tied-conv-true-convolution-symmetric": (
        lambda: _tied_conv_model("conv", 1, "symmetric"), (2, 1, 9, 9), "mse"),
    "pools-and-shapes": (lambda: nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=(2, 0), padding_mode="replicate", rng=0), nn.MaxPool1d(2, ceil_mode=True),
        nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), nn.Tanh(), nn.Identity(),
        nn.Flatten(), nn.Linear(16, 6, rng=1),
        nn.Unflatten(1, (1, 2, 3)), nn.AdaptiveAvgPool2d((1, 2)), nn.Flatten(), nn.LeakyReLU(0.1),
        nn.Softmax(1)), (3, 2, 11), "mse"),
    "nested": (lambda: nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding="same", rng=0), nn.Sigmoid()),
        nn.Sequential(nn.MaxPool2d(3, 2, 1, dilation=2), nn.AvgPool2d(2, ceil_mode=True, divisor_override=3)),
        nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(12, 2, bias=False, rng=1)), (2, 1, 13, 12), "mse"),
    "gelu": (lambda: nn.Sequential(nn.Linear(5, 8, rng=0), nn.GELU(), nn.Linear(8, 8, rng=1),
                                   nn.GELU(approximate="tanh"), nn.Linear(8, 3, rng=2)), (4, 5), "mse"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_to_torch_computes_and_trains_the_same(name):
    make, shape, loss = MODELS[name]
    model = make()
    tmodel = cnnpy.to_torch(model)
    assert isinstance(tmodel, TNN.Sequential)
    assert_same_state(model, tmodel)
    assert_same_outputs(model, tmodel, shape)
    assert_same_training_step(model, tmodel, shape, loss)


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_is_the_same_network(name):
    make, shape, _ = MODELS[name]
    model = make()
    back = cnnpy.from_torch(cnnpy.to_torch(model))
    assert [type(m) for m in back.modules()][1:] == [type(m) for m in model.modules()][1:]
    assert_same_state(model, back)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(back.eval()(x), model.eval()(x))


def test_a_layer_used_twice_stays_one_layer():
    lin = nn.Linear(3, 3, rng=0)
    tmodel = cnnpy.to_torch(nn.Sequential(lin, nn.Tanh(), lin))
    assert tmodel[0] is tmodel[2]
    back = cnnpy.from_torch(tmodel)
    assert back[0] is back[2]
    assert_same_outputs(back, tmodel, (2, 3))


def test_weights_are_copied_not_shared():
    model = models.MnistNet(rng=0)
    tmodel = cnnpy.to_torch(model)
    with torch.no_grad():
        tmodel[0].weight.add_(1.0)
    assert not np.allclose(model[0].weight.data, tmodel[0].weight.detach().numpy())


def test_modes_and_dtype_are_kept():
    model = models.GausNet(dropout=0.5, rng=0).astype(np.float64)
    model[3].eval()
    tmodel = cnnpy.to_torch(model)
    assert [m.training for m in tmodel.modules()] == [m.training for m in model.modules()]
    assert isinstance(tmodel[3], TNN.Dropout) and tmodel[3].p == 0.5
    assert tmodel[0].weight.dtype == torch.float64
    x = np.random.default_rng(0).standard_normal((2, 1, 91, 91))
    with torch.no_grad():
        expected = tmodel.eval()(tensor(x)).numpy()
    np.testing.assert_allclose(model.eval()(x), expected, rtol=1e-10, atol=1e-12)


PADDINGS = [(1, "zeros", 1), ((1, 2), "reflect", 1), ("same", "circular", 1), ("same", "zeros", 2),
            ("same", "reflect", 3), ("full", "replicate", 1), (((2, 0), (0, 1)), "zeros", 1),
            (((1, 1), (2, 2)), "reflect", 1), (1, "symmetric", 1), ("same", "symmetric", 2),
            (3, "symmetric", 2)]


@pytest.mark.parametrize("mode", ["xcorr", "conv"])
@pytest.mark.parametrize("padding, padding_mode, stride", PADDINGS,
                         ids=[f"{p}-{m}-s{s}".replace(" ", "") for p, m, s in PADDINGS])
def test_every_padding_converts_exactly(padding, padding_mode, stride, mode):
    """Native torch layers where PyTorch has the padding, CnnpyConv2d/1d (explicit padding, the
    kernel flipped for mode='conv') where it has not; odd and even sizes ('same' at stride > 1)."""
    layer = nn.Conv2d(2, 4, (4, 3), stride=stride, padding=padding, padding_mode=padding_mode,
                      dilation=(1, 2), mode=mode, rng=0)
    tlayer = cnnpy.to_torch(layer)
    native = mode == "xcorr" and padding_mode != "symmetric" and (
        padding in (1, "full", (1, 2), ((1, 1), (2, 2))) or (padding == "same" and stride == 1))
    assert (type(tlayer) is TNN.Conv2d) == native
    for shape in [(2, 2, 9, 10), (1, 2, 8, 11)]:
        assert_same_outputs(layer, tlayer, shape)
    assert_same_training_step(nn.Sequential(layer), TNN.Sequential(tlayer), (2, 2, 9, 10))


PADDINGS_1D = [(2, "zeros", 1), ((2, 1), "zeros", 1), ("same", "reflect", 1), ("same", "circular", 3),
               ("full", "symmetric", 1), ((0, 3), "replicate", 2)]


@pytest.mark.parametrize("mode", ["xcorr", "conv"])
@pytest.mark.parametrize("padding, padding_mode, stride", PADDINGS_1D,
                         ids=[f"{p}-{m}-s{s}".replace(" ", "") for p, m, s in PADDINGS_1D])
def test_every_padding_converts_exactly_1d(padding, padding_mode, stride, mode):
    layer = nn.Conv1d(2, 3, 4, stride=stride, padding=padding, padding_mode=padding_mode, mode=mode, rng=1)
    tlayer = cnnpy.to_torch(layer)
    for shape in [(2, 2, 13), (1, 2, 12)]:
        assert_same_outputs(layer, tlayer, shape)
    assert_same_training_step(nn.Sequential(layer), TNN.Sequential(tlayer), (2, 2, 13))


def test_unknown_cnnpy_layer_is_named():
    class Doubler(nn.Module):
        def forward(self, x):
            return 2 * x

    with pytest.raises(TypeError, match=r"cnnpy.to_torch: layer '1' \(Doubler\) has no equivalent"):
        cnnpy.to_torch(nn.Sequential(nn.ReLU(), Doubler()))


def test_tie_to_a_layer_outside_the_model_is_refused():
    enc = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"layer '0' \(TiedLinear\): the Linear it is tied to is not"):
        cnnpy.to_torch(nn.Sequential(nn.TiedLinear(enc)))


def test_missing_torch_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="cnnpy.to_torch needs PyTorch"):
        cnnpy.to_torch(nn.ReLU())
    with pytest.raises(ImportError, match="cnnpy.from_torch needs PyTorch"):
        cnnpy.from_torch(object())


def test_import_cnnpy_loads_neither_torch_nor_onnx():
    code = ("import sys, cnnpy; cnnpy.to_torch; cnnpy.from_torch; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---- torch -> cnnpy ------------------------------------------------------------------------------

def _torch_net():
    torch.manual_seed(0)
    return TNN.Sequential(
        TNN.Conv2d(1, 6, 3, padding=1), TNN.ReLU(inplace=True), TNN.MaxPool2d(2, ceil_mode=True),
        TNN.Conv2d(6, 8, 4, padding="same", padding_mode="circular", groups=2), TNN.LeakyReLU(0.05),
        TNN.AvgPool2d(3, 2, 1, count_include_pad=False), TNN.Dropout2d(0.0),
        TNN.Sequential(TNN.Identity(), TNN.AdaptiveAvgPool2d((3, 2))),
        TNN.Flatten(), TNN.Linear(48, 10), TNN.Tanh(), TNN.Dropout(0.0), TNN.Linear(10, 3))


def _torch_tied_autoencoder():
    torch.manual_seed(1)
    enc = TNN.Conv2d(2, 5, 3, stride=2)
    dec = TNN.ConvTranspose2d(5, 2, 3, stride=2, output_padding=1)
    dec.weight = enc.weight  # PyTorch's way of tying
    return TNN.Sequential(enc, TNN.Sigmoid(), dec)


TORCH_MODELS = {  # name: (model factory, input shape, loss, state_dict keys of a tied weight)
    "conv-net": (_torch_net, (3, 1, 17, 16), "ce", ()),
    "tied-autoencoder": (_torch_tied_autoencoder, (2, 2, 9, 9), "mse", ("2.weight",)),
    "conv1d": (lambda: TNN.Sequential(TNN.Conv1d(3, 4, 3, stride=2, padding=2, padding_mode="reflect",
                                                 dilation=2), TNN.ConvTranspose1d(4, 2, 4, stride=3, padding=1),
                                       TNN.MaxPool1d(3, 2, 1), TNN.AvgPool1d(2), TNN.Flatten(),
                                       TNN.Unflatten(1, (2, 6)), TNN.Softmax(-1)), (2, 3, 15), "mse", ()),
    "gelu": (lambda: TNN.Sequential(TNN.Linear(6, 5), TNN.GELU(approximate="tanh"), TNN.Linear(5, 4),
                                    TNN.GELU()), (3, 6), "mse", ()),
}


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_from_torch_computes_and_trains_the_same(name):
    make, shape, loss, tied = TORCH_MODELS[name]
    tmodel = make()
    model = cnnpy.from_torch(tmodel)
    assert isinstance(model, nn.Sequential)
    assert_same_state(model, tmodel, tied=tied)
    assert_same_outputs(model, tmodel, shape)
    assert_same_training_step(model, tmodel, shape, loss, tied=tied)


def test_torch_tying_becomes_a_tied_layer():
    model = cnnpy.from_torch(_torch_tied_autoencoder())
    assert isinstance(model[2], nn.TiedConvTranspose2d) and model[2].weight is model[0].weight
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.bias"]


def test_float64_torch_model():
    tmodel = TNN.Sequential(TNN.Linear(5, 3), TNN.ReLU()).double()
    model = cnnpy.from_torch(tmodel)
    assert model[0].weight.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((2, 5))
    np.testing.assert_allclose(model(x), tmodel(tensor(x)).detach().numpy(), rtol=1e-12)


def test_unsupported_torch_layer_is_named():
    with pytest.raises(TypeError, match=r"cnnpy.from_torch: layer '1' \(BatchNorm2d\) has no equivalent"):
        cnnpy.from_torch(TNN.Sequential(TNN.Conv2d(1, 2, 3), TNN.BatchNorm2d(2)))
    with pytest.raises(TypeError, match=r"layer '0.1' \(SiLU\) has no equivalent"):
        cnnpy.from_torch(TNN.Sequential(TNN.Sequential(TNN.Linear(2, 2), TNN.SiLU())))


def test_torch_subclass_with_its_own_forward_is_refused():
    class Scaled(TNN.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(TypeError, match=r"layer '0' \(Scaled\) overrides forward\(\) of Linear"):
        cnnpy.from_torch(TNN.Sequential(Scaled(2, 2)))


def test_torch_layers_cnnpy_cannot_take():
    with pytest.raises(ValueError, match=r"layer '0' \(Softmax\): dim=None"):
        cnnpy.from_torch(TNN.Sequential(TNN.Softmax()))
    with pytest.raises(ValueError, match=r"layer '0' \(Linear\): its parameters are torch.float16"):
        cnnpy.from_torch(TNN.Sequential(TNN.Linear(2, 2).half()))
    a, b = TNN.Linear(3, 3), TNN.Linear(3, 3)
    b.weight = a.weight
    with pytest.raises(ValueError, match=r"parameters \[\['0.weight', '1.weight'\]\] are one tensor"):
        cnnpy.from_torch(TNN.Sequential(a, b))
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        cnnpy.from_torch(nn.ReLU())
