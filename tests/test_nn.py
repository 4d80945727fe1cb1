"""Layers: every backward by float64 finite differences through a scalar loss, parameter
registration and state dicts, tied weights, dropout modes, default initialisation, and the layers
against PyTorch's modules (forward and gradients, with PyTorch's weights copied in). The layers of
each op family come from its table's LAYERS (tests/ops/<family>.py)."""
import numpy as np
import pytest

import cnnpy
import ops
from cnnpy import nn
from helpers import check_grad, numeric_grad, rng_for
from ops.common import TNN, layer_case

# layers without an engine op of their own; each op family's layers are in its table (tests/ops/)
OTHER_LAYERS = [
    layer_case("flatten", lambda: nn.Flatten(), (2, 3, 4), lambda: TNN.Flatten()),
    layer_case("unflatten", lambda: nn.Unflatten(1, (3, 4)), (2, 12), lambda: TNN.Unflatten(1, (3, 4))),
    layer_case("identity", lambda: nn.Identity(), (2, 3)),
    layer_case("sequential", lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(),
                                                   nn.Linear(2 * 4 * 4, 3)), (2, 1, 6, 6)),
]
LAYERS = ops.gather("LAYERS") + OTHER_LAYERS


@pytest.mark.parametrize("make, shape, fd_input, torch_make", LAYERS)
def test_layer_backward_by_finite_differences(make, shape, fd_input, torch_make, request):
    """d sum(G * layer(x)) / d(x and every parameter), numerically, equals layer.backward(G) and
    the accumulated .grad."""
    rng = rng_for("nn-fd", request.node.callspec.id)
    cnnpy.manual_seed(1)
    layer = make().astype(np.float64)
    x = fd_input(shape, rng) if fd_input else rng.standard_normal(shape)
    y = layer(x)
    g = rng.standard_normal(np.shape(y))
    layer.zero_grad()
    gx = layer.backward(g)
    check_grad(gx, numeric_grad(lambda v: float(np.sum(g * layer(v))), x, max_entries=30, rng=rng))
    for pname, p in layer.named_parameters():
        analytic = p.grad.copy()

        def loss(v, p=p):
            old = p.data.copy()
            p.data[...] = v
            try:
                return float(np.sum(g * layer(x)))
            finally:
                p.data[...] = old

        check_grad(analytic, numeric_grad(loss, p.data, max_entries=30, rng=rng))


def test_gradients_accumulate_until_zero_grad():
    layer = nn.Linear(3, 2).astype(np.float64)
    x = np.ones((4, 3))
    layer(x)
    layer.backward(np.ones((4, 2)))
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(np.ones((4, 2)))
    np.testing.assert_allclose(layer.weight.grad, 2 * once)
    grad_array = layer.weight.grad
    layer.zero_grad()
    assert layer.weight.grad is grad_array and not grad_array.any()


def test_registration_state_dict_and_errors():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(8, 3)))
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.1.weight", "2.1.bias"]
    assert [n for n, _ in net.named_modules()][:3] == ["", "0", "1"]
    sd = net.state_dict()
    sd["0.weight"][...] = 7  # a copy: the model is untouched
    assert not (net[0].weight.data == 7).all()
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(8, 3)))
    other.load_state_dict(sd)
    assert (other[0].weight.data == 7).all()
    before = {k: v.copy() for k, v in other.state_dict().items()}
    bad = dict(sd)
    bad["2.1.weight"] = np.zeros((3, 9))
    with pytest.raises(ValueError, match=r"'2.1.weight' has shape \(3, 9\)"):
        other.load_state_dict(bad)
    with pytest.raises(KeyError, match="missing keys.*'0.bias'"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "0.bias"})
    with pytest.raises(KeyError, match="unexpected keys.*'extra'"):
        other.load_state_dict({**sd, "extra": np.zeros(1)})
    for k, v in other.state_dict().items():  # nothing half-loaded
        np.testing.assert_array_equal(v, before[k])
    other.load_state_dict({"0.bias": np.ones(2)}, strict=False)
    assert (other[0].bias.data == 1).all()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.Linear(2, 2).backward(np.ones((1, 2)))


def test_astype_train_eval_and_repr():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.3))
    assert net.training and net[1].training
    net.eval()
    assert not net.training and not net[1].training
    net.astype(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert "Linear(in_features=2, out_features=2" in repr(net) and "Dropout(p=0.3)" in repr(net)


def test_tied_linear_shares_and_accumulates():
    rng = rng_for("tied-linear")
    cnnpy.manual_seed(0)
    enc = nn.Linear(6, 3).astype(np.float64)
    dec = nn.TiedLinear(enc).astype(np.float64)
    model = nn.Sequential(enc, nn.Tanh(), dec)
    assert dec.weight is enc.weight
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.bias"]
    x = rng.standard_normal((4, 6))
    y = model(x)
    assert y.shape == (4, 6)
    g = rng.standard_normal(y.shape)
    model.zero_grad()
    model.backward(g)

    def loss(w):
        old = enc.weight.data.copy()
        enc.weight.data[...] = w
        try:
            return float(np.sum(g * model(x)))
        finally:
            enc.weight.data[...] = old

    check_grad(enc.weight.grad, numeric_grad(loss, enc.weight.data))


def test_tied_conv_transpose_shares_and_accumulates():
    rng = rng_for("tied-conv")
    cnnpy.manual_seed(0)
    enc = nn.Conv2d(2, 3, 3, stride=2).astype(np.float64)
    dec = nn.TiedConvTranspose2d(enc, stride=2).astype(np.float64)
    model = nn.Sequential(enc, nn.Tanh(), dec)
    x = rng.standard_normal((2, 2, 7, 7))
    y = model(x)
    assert y.shape == x.shape and dec.weight is enc.weight
    assert len(model.parameters()) == 3
    g = rng.standard_normal(y.shape)
    model.zero_grad()
    model.backward(g)

    def loss(w):
        old = enc.weight.data.copy()
        enc.weight.data[...] = w
        try:
            return float(np.sum(g * model(x)))
        finally:
            enc.weight.data[...] = old

    check_grad(enc.weight.grad, numeric_grad(loss, enc.weight.data, max_entries=25, rng=rng))


def test_dropout_modes_and_seeds():
    x = np.ones((200, 50))
    d = nn.Dropout(0.4)
    cnnpy.manual_seed(5)
    y1 = d(x)
    assert 0.5 < (y1 > 0).mean() < 0.7 and np.allclose(y1[y1 > 0], 1 / 0.6)
    g = d.backward(np.ones_like(x))
    np.testing.assert_array_equal(g > 0, y1 > 0)
    cnnpy.manual_seed(5)
    np.testing.assert_array_equal(nn.Dropout(0.4)(x), y1)
    d.eval()
    np.testing.assert_array_equal(d(x), x)
    np.testing.assert_array_equal(d.backward(x), x)
    d2 = nn.Dropout2d(0.5, rng=3)
    y2 = d2(np.ones((4, 8, 3, 3)))
    per_channel = y2.reshape(4, 8, 9)
    assert ((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2)).all()


def test_default_initialisation_bounds():
    cnnpy.manual_seed(0)
    conv = nn.Conv2d(6, 4, 3)
    fan_in = 6 * 9
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(fan_in)
    assert np.abs(conv.bias.data).max() <= 1 / np.sqrt(fan_in)
    assert np.abs(conv.weight.data).max() > 0.8 / np.sqrt(fan_in)
    tconv = nn.ConvTranspose2d(4, 6, 3)  # fan_in from weight.shape[1] * k * k = 6 * 9, as PyTorch
    assert np.abs(tconv.weight.data).max() <= 1 / np.sqrt(6 * 9)
    lin = nn.Linear(1936, 50)
    assert np.abs(lin.weight.data).max() <= 1 / np.sqrt(1936)
    cnnpy.manual_seed(0)
    again = nn.Conv2d(6, 4, 3)
    np.testing.assert_array_equal(again.weight.data, conv.weight.data)
    np.testing.assert_array_equal(nn.Linear(3, 2, rng=7).weight.data, nn.Linear(3, 2, rng=7).weight.data)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="Conv2d: in_channels .* divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: stride must be >= 1, got 0"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="bogus")
    with pytest.raises(ValueError, match="Dropout: p must be a probability"):
        nn.Dropout(1.5)
    with pytest.raises(TypeError, match="TiedLinear: expected a Linear"):
        nn.TiedLinear(nn.Conv2d(1, 1, 1))
    with pytest.raises(AttributeError, match="super"):
        class Broken(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(np.zeros(1))
        Broken()


# ---- against PyTorch ------------------------------------------------------------------------------

@pytest.mark.parametrize("make, shape, fd_input, torch_make",
                         [p for p in LAYERS if p.values[3] is not None])
def test_layers_match_pytorch_modules(make, shape, fd_input, torch_make, request):
    """PyTorch's module with the same arguments: its weights copied in, the same output and
    gradients, and the state dict goes back."""
    torch = pytest.importorskip("torch")
    layer = make().astype(np.float64)
    tlayer = torch_make().double()
    layer.load_state_dict({k: v.detach().numpy() for k, v in tlayer.state_dict().items()})
    rng = rng_for("nn-torch", request.node.callspec.id)
    x = rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = tlayer(tx)
    y = layer(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(g))
    layer.zero_grad()
    np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for (k, p), (tk, tp) in zip(layer.named_parameters(), tlayer.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-11, atol=1e-12)
    # and the state dict goes back the other way
    tlayer.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})


def test_default_init_matches_pytorch_distribution():
    """Same distribution as PyTorch's defaults: weight and bias uniform in +-1/sqrt(fan_in), with
    PyTorch's fan_in (kaiming_uniform a=sqrt(5) on the weight)."""
    torch = pytest.importorskip("torch")
    for ours, theirs in [(nn.Conv2d(6, 4, 3), torch.nn.Conv2d(6, 4, 3)),
                         (nn.ConvTranspose2d(40, 60, 3, stride=2), torch.nn.ConvTranspose2d(40, 60, 3, stride=2)),
                         (nn.Linear(300, 200), torch.nn.Linear(300, 200))]:
        fan_in = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)[0]
        bound = 1 / np.sqrt(fan_in)
        for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            t = tp.detach().numpy()
            assert np.abs(t).max() <= bound * (1 + 1e-6)
            assert np.abs(p.data).max() <= bound * (1 + 1e-6)
            if t.size > 1000:  # uniform on [-bound, bound]: std bound/sqrt(3)
                assert abs(p.data.std() - bound / np.sqrt(3)) < 0.05 * bound
                assert abs(t.std() - bound / np.sqrt(3)) < 0.05 * bound


def test_sequential_backward_can_skip_the_input_gradient():
    cnnpy.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 2)).astype(np.float64)
    x = rng_for("skip").standard_normal((3, 1, 6, 6))
    g = np.ones((3, 2))
    net(x)
    net.zero_grad()
    gx = net.backward(g)
    grads = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    assert net.backward(g, input_grad=False) is None
    for p, want in zip(net.parameters(), grads):
        np.testing.assert_array_equal(p.grad, want)
    assert gx.shape == x.shape
    first_relu = nn.Sequential(nn.ReLU(), nn.Linear(4, 1))  # a first layer without weights still answers
    first_relu(np.ones((2, 4)))
    assert first_relu.backward(np.ones((2, 1)), input_grad=False).shape == (2, 4)
