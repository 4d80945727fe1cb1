"""Compiled training steps (``cnnpy.compile``, ``cnnpy.train(compile=...)``): every layer kind,
loss and optimizer against the layer-by-layer step — bitwise with fusion off, within 1e-6
(float32) / 1e-13 (float64) relative with it — PyTorch after several steps, thread counts, the
lecture's models, what is refused (TypeError naming the layer), optimizer state, schedulers,
checkpoints, switching paths, the last smaller batch, inference, page faults and leaks."""
import copy
import gc
import resource
import sys

import numpy as np
import pytest

import cnnpy
from cnnpy import _cnn, data, models, nn, optim
from helpers import rng_for

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
FUSED_RTOL = {np.float32: 1e-6, np.float64: 1e-13}


def layer_step(model, loss, opt, x, y):
    """The layer-by-layer step cnnpy.train runs."""
    opt.zero_grad()
    value = loss(model(x), y)
    model.backward(loss.backward())
    opt.step()
    return float(np.sum(value))


def target_for(loss, out, rng, dtype):
    if isinstance(loss, nn.CrossEntropyLoss):
        shape = (out[0], *out[2:]) if len(out) >= 2 else ()
        return rng.integers(0, out[1] if len(out) >= 2 else out[0], shape)
    if isinstance(loss, (nn.BCELoss, nn.BCEWithLogitsLoss)):
        return (rng.random(out) > 0.5).astype(dtype)
    return rng.standard_normal(out).astype(dtype)


def assert_params(m1, m2, dtype, exact, what=""):
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        for field in ("data", "grad"):
            a, b = getattr(p, field), getattr(q, field)
            if exact:
                assert np.array_equal(a, b), f"{what} {name}.{field} differs"
            else:
                scale = max(float(np.abs(a).max()), 1e-3)
                err = float(np.abs(a - b).max()) / scale
                assert err <= FUSED_RTOL[dtype], f"{what} {name}.{field}: relative {err:.2e}"


def compare(make_model, x_shape, dtype, loss=None, make_opt=None, steps=3, fuse=False, seed=0,
            exact=None):
    """`steps` steps layer by layer and compiled from the same parameters (the compiled model's
    gradients NaN before each step); the models, optimizers and compiled step. `exact` (default: not fused) asks for bitwise equality, else the fused
    tolerance."""
    exact = not fuse if exact is None else exact
    rng = rng_for("compare", seed, x_shape)
    cnnpy.manual_seed(seed)
    m1 = make_model().astype(dtype)
    m2 = copy.deepcopy(m1)
    loss = loss or nn.MSELoss()
    make_opt = make_opt or (lambda ps: optim.Adam(ps, lr=1e-2))
    o1, o2 = make_opt(m1.parameters()), make_opt(m2.parameters())
    step = cnnpy.compile(m2, copy.deepcopy(loss), o2, fuse=fuse)
    out = step.output_shape(x_shape)
    for _ in range(steps):
        x = rng.standard_normal(x_shape).astype(dtype)
        y = target_for(loss, out, rng, dtype)
        a = layer_step(m1, loss, o1, x, y)
        for q in m2.parameters():  # the step writes every gradient element (zeroed or written over)
            if q.grad is not None:
                q.grad[...] = np.nan
        b = step(x, y)
        if not exact or getattr(loss, "reduction", "") == "none":  # 'none': np.sum's order
            assert b == pytest.approx(a, rel=FUSED_RTOL[dtype] * 10, abs=1e-12)
        else:
            assert a == b
        assert_params(m1, m2, dtype, exact=exact)
    return m1, m2, o1, o2, step


# ---- every layer kind --------------------------------------------------------------------------

S = nn.Sequential
LAYER_MODELS = {
    "conv2d-p1": (lambda: S(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU()), (3, 2, 9, 8)),
    "conv2d-same-s2": (lambda: S(nn.Conv2d(2, 3, 4, stride=2, padding="same"), nn.Tanh()), (2, 2, 9, 7)),
    "conv2d-full-d2": (lambda: S(nn.Conv2d(2, 2, 3, padding="full", dilation=2)), (2, 2, 6, 6)),
    "conv2d-asym": (lambda: S(nn.Conv2d(1, 2, 3, padding=((1, 0), (2, 1)), bias=False)), (2, 1, 7, 6)),
    "conv2d-reflect": (lambda: S(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")), (2, 2, 6, 6)),
    "conv2d-circular": (lambda: S(nn.Conv2d(2, 2, 3, padding=2, padding_mode="circular")), (2, 2, 6, 6)),
    "conv2d-replicate": (lambda: S(nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate")), (2, 2, 5, 6)),
    "conv2d-symmetric": (lambda: S(nn.Conv2d(2, 2, 3, padding=1, padding_mode="symmetric")), (2, 2, 6, 5)),
    "conv2d-trueconv-groups": (lambda: S(nn.Conv2d(4, 4, 3, groups=2, mode="conv"), nn.Sigmoid()), (2, 4, 7, 7)),
    "conv1d": (lambda: S(nn.Conv1d(2, 3, 3, padding="same"), nn.LeakyReLU(0.1), nn.MaxPool1d(2)), (3, 2, 11)),
    "convt2d": (lambda: S(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), nn.ReLU()), (2, 3, 5, 4)),
    "convt2d-groups-dil": (lambda: S(nn.ConvTranspose2d(4, 2, 2, groups=2, dilation=2)), (2, 4, 4, 4)),
    "convt1d": (lambda: S(nn.ConvTranspose1d(2, 3, 3, stride=2)), (2, 2, 6)),
    "maxpool2d-ceil-pad-dil": (lambda: S(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, 2, padding=1, dilation=2, ceil_mode=True)), (2, 1, 11, 10)),
    "maxpool2d-fused": (lambda: S(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)), (2, 1, 10, 10)),
    "avgpool2d": (lambda: S(nn.Conv2d(1, 2, 3), nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)), (2, 1, 10, 9)),
    "avgpool2d-divisor": (lambda: S(nn.AvgPool2d(2, divisor_override=3), nn.Flatten(), nn.Linear(18, 2)), (2, 2, 6, 6)),
    "avgpool1d": (lambda: S(nn.Conv1d(1, 2, 2), nn.AvgPool1d(3, 2, padding=1)), (2, 1, 9)),
    "adaptive-avg": (lambda: S(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d((3, None))), (2, 1, 9, 8)),
    "adaptive-max": (lambda: S(nn.Conv2d(1, 2, 3), nn.AdaptiveMaxPool2d(2)), (2, 1, 9, 8)),
    "linear-softmax": (lambda: S(nn.Linear(5, 4), nn.Softmax(dim=1), nn.Linear(4, 3, bias=False)), (6, 5)),
    "tied-linear": (lambda: (lambda a: S(a, nn.ReLU(), nn.TiedLinear(a), nn.Sigmoid()))(nn.Linear(6, 3)), (4, 6)),
    "tied-convt": (lambda: (lambda c: S(c, nn.ReLU(), nn.TiedConvTranspose2d(c, stride=2)))(nn.Conv2d(1, 3, 3, stride=2)), (2, 1, 9, 9)),
    "flatten-unflatten": (lambda: S(nn.Flatten(), nn.Linear(12, 12), nn.Unflatten(1, (3, 4)), nn.Identity(), nn.Softmax(dim=-1)), (2, 3, 4)),
    "dropout": (lambda: S(nn.Linear(5, 8), nn.Dropout(0.4, rng=1), nn.Linear(8, 2)), (4, 5)),
    "dropout2d": (lambda: S(nn.Conv2d(2, 4, 3), nn.Dropout2d(0.5, rng=2), nn.Flatten(), nn.Linear(16, 2)), (3, 2, 4, 4)),
    "nested-sequential": (lambda: S(S(nn.Conv2d(1, 2, 3), nn.ReLU()), S(nn.Flatten(), nn.Linear(18, 1))), (2, 1, 5, 5)),
}




@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(LAYER_MODELS))
def test_every_layer_kind_equals_the_layer_by_layer_step(name, dtype):
    make, shape = LAYER_MODELS[name]
    compare(make, shape, dtype, fuse=False)
    compare(make, shape, dtype, fuse=True)


# ---- losses ------------------------------------------------------------------------------------

def _losses(dtype):
    w4 = np.linspace(0.5, 1.5, 4).astype(dtype)
    return {
        "mse": nn.MSELoss(), "mse-sum": nn.MSELoss("sum"), "mse-none": nn.MSELoss("none"),
        "l1": nn.L1Loss(), "l1-sum": nn.L1Loss("sum"),
        "bce": nn.BCELoss(weight=w4), "bce-none": nn.BCELoss(reduction="none"),
        "bce-logits": nn.BCEWithLogitsLoss(), "bce-logits-weights": nn.BCEWithLogitsLoss(
            weight=w4[:1], pos_weight=np.full(4, 2.0, dtype), reduction="sum"),
        "ce": nn.CrossEntropyLoss(), "ce-weights-smooth": nn.CrossEntropyLoss(
            weight=w4, label_smoothing=0.1, ignore_index=2),
        "ce-sum": nn.CrossEntropyLoss(reduction="sum"), "ce-none": nn.CrossEntropyLoss(reduction="none"),
        "correlation": nn.CorrelationLoss(), "correlation-none": nn.CorrelationLoss("none"),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(_losses(np.float32)))
def test_every_loss_equals_the_layer_by_layer_step(name, dtype):
    loss = _losses(dtype)[name]
    last = [nn.Sigmoid()] if isinstance(loss, nn.BCELoss) else []
    compare(lambda: S(nn.Linear(5, 4), *last), (6, 5), dtype, loss=loss)


# ---- optimizers --------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "sgd-momentum-dampening": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3),
    "sgd-nesterov-wd-maximize": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                     weight_decay=1e-2, maximize=True),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3),
    "adam-amsgrad-maximize": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, maximize=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "adamw-amsgrad": lambda ps: optim.AdamW(ps, lr=1e-2, amsgrad=True),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-2, weight_decay=1e-3),
    "rmsprop-centered-momentum": lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    "groups-and-a-frozen-parameter": lambda ps: optim.SGD(
        [{"params": ps[:2], "lr": 0.1, "momentum": 0.5}, {"params": ps[3:]}], lr=0.01),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_equals_the_layer_by_layer_step(name, dtype):
    def make():
        return S(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                 nn.Linear(27, 2))
    if name.startswith("groups"):
        # the layer path accumulates a frozen parameter's .grad (zero_grad of the optimizer
        # skips it); the compiled step overwrites it: compare values, and the frozen one's grad
        # after one step
        _, m2, _, o2, _ = compare(make, (2, 1, 6, 6), dtype, make_opt=OPTIMIZERS[name], steps=1)
        compare(make, (2, 1, 6, 6), dtype, make_opt=OPTIMIZERS[name], steps=1, fuse=True)
        return
    m1, m2, o1, o2, _ = compare(make, (2, 1, 6, 6), dtype, make_opt=OPTIMIZERS[name])
    compare(make, (2, 1, 6, 6), dtype, make_opt=OPTIMIZERS[name], fuse=True)
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["state"].keys() == s2["state"].keys()
    for i in s1["state"]:
        assert s1["state"][i].keys() == s2["state"][i].keys()
        for k, v in s1["state"][i].items():
            assert np.array_equal(v, s2["state"][i][k]), (i, k)


def _tiny_adam():
    """A Linear(3, 2) with Adam, compiled, after one step; and its batch."""
    model = S(nn.Linear(3, 2))
    opt = optim.Adam(model.parameters(), lr=0.1)
    step = cnnpy.compile(model, nn.MSELoss(), opt)
    x, y = np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32)
    step(x, y)
    return model, opt, step, x, y


def test_optimizer_state_arrays_are_bound_not_copied():
    model, opt, step, x, y = _tiny_adam()
    w = model[0].weight
    data, grad, m = w.data, w.grad, opt.state[w]["exp_avg"]
    before = m.copy()
    step(x, y)
    assert w.data is data and w.grad is grad and opt.state[w]["exp_avg"] is m
    assert not np.array_equal(m, before) and opt.state[w]["step"] == 2


# ---- PyTorch -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt_name", ["sgd-nesterov-wd-maximize", "adamw-amsgrad", "rmsprop"])
def test_compiled_steps_equal_pytorch(opt_name, dtype):
    torch = pytest.importorskip("torch")
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    model = S(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 3),
              nn.Tanh(), nn.Flatten(), nn.Linear(3 * 3 * 3, 10)).astype(dtype)
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 3, 3), torch.nn.Tanh(),
                                 torch.nn.Flatten(), torch.nn.Linear(27, 10)).to(tdt)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    opts = {"sgd-nesterov-wd-maximize": (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2, maximize=True)),
            "adamw-amsgrad": (optim.AdamW, torch.optim.AdamW, dict(lr=1e-2, amsgrad=True)),
            "rmsprop": (optim.RMSprop, torch.optim.RMSprop, dict(lr=1e-2, momentum=0.3))}
    ours, theirs, kw = opts[opt_name]
    opt, topt = ours(model.parameters(), **kw), theirs(tmodel.parameters(), **kw)
    step = cnnpy.compile(model, nn.CrossEntropyLoss(), opt)
    rng = rng_for("torch", opt_name)
    for _ in range(4):
        x, y = rng.standard_normal((8, 1, 10, 10)).astype(dtype), rng.integers(0, 10, 8)
        loss = step(x, y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        assert loss == pytest.approx(tloss.item(), rel=rtol, abs=rtol)
    tstate = tmodel.state_dict()
    for name, value in model.state_dict().items():
        want = tstate[name].detach().numpy()
        err = np.abs(value - want).max() / max(np.abs(want).max(), 1e-3)
        assert err < (2e-4 if dtype == np.float32 else 1e-9), f"{name}: relative {err:.2e}"


# ---- threads -----------------------------------------------------------------------------------

@pytest.fixture
def threads():
    before = cnnpy.get_num_threads()
    yield cnnpy.set_num_threads
    cnnpy.set_num_threads(before)


@pytest.mark.parametrize("fuse", [False, True], ids=["unfused", "fused"])
def test_bitwise_identical_at_one_and_two_threads(threads, fuse):
    results = []
    for n in (1, 2, 1):
        threads(n)
        model = models.GausNet(rng=0, input_size=36, dropout=0.2)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        step = cnnpy.compile(model, nn.BCEWithLogitsLoss(), opt, fuse=fuse)
        rng = rng_for("threads")
        cnnpy.manual_seed(3)
        losses = []
        for _ in range(3):
            x = rng.standard_normal((16, 1, 36, 36)).astype(np.float32)
            losses.append(step(x, (rng.random((16, 1)) > 0.5).astype(np.float32)))
        results.append((losses, [p.data.tobytes() + p.grad.tobytes() for p in model.parameters()],
                        step.forward(x).tobytes()))
    assert results[0] == results[1] == results[2]


# ---- the lecture's models ----------------------------------------------------------------------

LECTURE = {
    "gausnet": (lambda: models.GausNet(rng=0), (8, 1, 91, 91), nn.BCEWithLogitsLoss(),
                lambda ps: optim.Adam(ps, lr=1e-3)),
    "gausnet-dropout": (lambda: models.GausNet(rng=0, dropout=0.3, input_size=40), (8, 1, 40, 40),
                        nn.BCEWithLogitsLoss(), lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9)),
    "allconv": (lambda: models.AllConvNet(rng=0, kernel_size=3), (8, 1, 91, 91), nn.MSELoss(),
                lambda ps: optim.RMSprop(ps, lr=1e-3)),
    "gaussian-ae": (lambda: models.GaussianAutoencoder(rng=0), (4, 1, 91, 91), nn.MSELoss(),
                    lambda ps: optim.Adam(ps, lr=1e-3)),
    "dense-ae-tied": (lambda: models.DenseAutoencoder(tied=True, rng=0), (16, 784), nn.MSELoss(),
                      lambda ps: optim.Adam(ps, lr=1e-3)),
    "mnist": (lambda: models.MnistNet(rng=0), (16, 1, 28, 28), nn.CrossEntropyLoss(),
              lambda ps: optim.AdamW(ps, lr=1e-3)),
}


@pytest.mark.parametrize("name", list(LECTURE))
def test_the_lecture_models_compile_and_equal_the_layer_by_layer_step(name):
    make, shape, loss, make_opt = LECTURE[name]
    compare(make, shape, np.float32, loss=loss, make_opt=make_opt, steps=2, fuse=True)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(LECTURE))
def test_the_lecture_models_bitwise_unfused_and_float64(name, dtype):
    make, shape, loss, make_opt = LECTURE[name]
    compare(make, shape, dtype, loss=loss, make_opt=make_opt, steps=2, fuse=False)
    compare(make, shape, dtype, loss=loss, make_opt=make_opt, steps=2, fuse=True)


def test_gausnet_learns_through_train():
    x, y = cnnpy.datasets.gaussians(n_per_class=96, seed=0)
    model = models.GausNet(rng=0)
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=32, shuffle=True, seed=0)
    hist = cnnpy.train(model, loader, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=2e-3),
                       epochs=4, metrics=["accuracy"], progress=False)
    assert hist.compiled and hist.compile_error is None
    assert hist["train_loss"][-1] < hist["train_loss"][0]


# ---- what is refused ---------------------------------------------------------------------------

class Doubler(nn.Module):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return 2 * g


class MyMSE(nn.MSELoss):
    pass


class MySGD(optim.SGD):
    pass


REFUSED = {
    "user-module": (lambda: S(nn.Linear(3, 3), Doubler()), nn.MSELoss(), optim.SGD,
                    r"layer 1 \(Doubler\).*user-defined"),
    "return-indices": (lambda: S(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2, return_indices=True)),
                       nn.MSELoss(), optim.SGD, r"layer 1 \(MaxPool2d\).*return_indices"),
    "same-module-twice": (lambda: (lambda a: S(a, a))(nn.Linear(3, 3)), nn.MSELoss(), optim.SGD,
                          r"layer 1 \(Linear\).*twice"),
    "tied-outside": (lambda: S(nn.TiedLinear(nn.Linear(3, 2))), nn.MSELoss(), optim.SGD,
                     r"layer 0 \(TiedLinear\).*not a layer of this model"),
    "tied-flipped-conv": (lambda: (lambda c: S(c, nn.TiedConvTranspose2d(c)))(nn.Conv2d(1, 2, 3, mode="conv")),
                          nn.MSELoss(), optim.SGD, r"layer 1 \(TiedConvTranspose2d\).*mode='conv'"),
    "user-loss": (lambda: S(nn.Linear(3, 3)), MyMSE(), optim.SGD, r"loss MyMSE"),
    "user-optimizer": (lambda: S(nn.Linear(3, 3)), nn.MSELoss(), MySGD, r"optimizer MySGD"),
    "float64-weight": (lambda: S(nn.Linear(3, 3)), nn.BCEWithLogitsLoss(weight=np.ones(3)), optim.SGD,
                       r"BCEWithLogitsLoss's weight has dtype float64"),
    "ce-weight-2d": (lambda: S(nn.Linear(3, 3)), nn.CrossEntropyLoss(weight=np.ones((1, 3), np.float32)),
                     optim.SGD, r"class weights"),
    "engine-refuses": (lambda: S(nn.Linear(3, 3), nn.ReLU(), nn.Linear(0, 2)), nn.MSELoss(),
                       optim.SGD, r"layer 2 \(Linear\): in_features refused"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_cannot_run_compiled_raises_type_error_naming_it(name):
    make, loss, opt_cls, message = REFUSED[name]
    model = make()
    with pytest.raises(TypeError, match=message):
        cnnpy.compile(model, loss, opt_cls(model.parameters(), lr=0.1))


def test_batches_of_another_dtype_are_refused_not_converted():
    model = S(nn.Linear(3, 1))
    step = cnnpy.compile(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    before = model[0].weight.data.copy()
    with pytest.raises(TypeError, match="input is float64 but the model's parameters are float32"):
        step(np.ones((2, 3)), np.ones((2, 1), np.float32))
    with pytest.raises(TypeError, match="target is float64"):
        step(np.ones((2, 3), np.float32), np.ones((2, 1)))
    assert np.array_equal(model[0].weight.data, before)


def test_engine_errors_name_the_layer_and_change_nothing():
    model = S(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 5))
    step = cnnpy.compile(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"layer 2 \(Conv2d\)"):
        step(np.ones((1, 1, 5, 5), np.float32), np.ones((1, 2, 1, 1), np.float32))
    ce = cnnpy.compile(m := S(nn.Linear(3, 4)), nn.CrossEntropyLoss(), optim.SGD(m.parameters(), lr=0.1))
    before = [p.data.copy() for p in m.parameters()]
    with pytest.raises(ValueError, match="the loss: target"):
        ce(np.ones((2, 3), np.float32), np.array([1, 7]))
    assert all(np.array_equal(a, p.data) for a, p in zip(before, m.parameters()))


# ---- state, checkpoints, schedulers, switching --------------------------------------------------

def _data(rng, n=8):
    return rng.standard_normal((n, 1, 8, 8)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)


def _small():
    return S(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32, 2))


@pytest.mark.parametrize("opt_name", ["sgd-momentum-dampening", "adam-amsgrad-maximize",
                                      "rmsprop-centered-momentum"])
def test_switching_between_compiled_and_layer_by_layer_steps_mid_training(opt_name):
    """Steps: compiled, layer, compiled, layer ... equal all-layer steps bitwise."""
    rng = rng_for("switch", opt_name)
    batches = [_data(rng) for _ in range(6)]
    m1 = _small()
    m2 = copy.deepcopy(m1)
    o1, o2 = OPTIMIZERS[opt_name](m1.parameters()), OPTIMIZERS[opt_name](m2.parameters())
    step = cnnpy.compile(m2, nn.MSELoss(), o2, fuse=False)
    for i, (x, y) in enumerate(batches):
        layer_step(m1, nn.MSELoss(), o1, x, y)
        if i % 2:
            layer_step(m2, nn.MSELoss(), o2, x, y)
        else:
            step(x, y)
    assert_params(m1, m2, np.float32, exact=True)


def test_save_load_round_trip_and_replaced_arrays_are_rebound(tmp_path):
    rng = rng_for("checkpoint")
    batches = [_data(rng) for _ in range(6)]
    model = _small()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    step = cnnpy.compile(model, nn.MSELoss(), opt)
    for x, y in batches[:3]:
        step(x, y)
    saved_model, saved_opt = model.state_dict(), opt.state_dict()
    for x, y in batches[3:]:
        step(x, y)
    expected = [p.data.copy() for p in model.parameters()]
    # restore into the same objects (load_state_dict replaces the optimizer's state arrays)
    model.load_state_dict(saved_model)
    opt.load_state_dict(saved_opt)
    for x, y in batches[3:]:
        step(x, y)
    assert all(np.array_equal(a, p.data) for a, p in zip(expected, model.parameters()))
    # a parameter array replaced by the user is bound again
    w = model[0].weight
    w.data = w.data.copy()
    w.grad = np.zeros_like(w.data)
    step(*batches[0])
    assert not np.array_equal(w.grad, 0)


def test_cnnpy_save_and_load_resume_a_compiled_run(tmp_path):
    rng = rng_for("save-load")
    batches = [_data(rng) for _ in range(4)]
    model = _small()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    step = cnnpy.compile(model, nn.MSELoss(), opt)
    for x, y in batches[:2]:
        step(x, y)
    path = tmp_path / "run.npz"
    cnnpy.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    for x, y in batches[2:]:
        step(x, y)
    model2 = _small()
    opt2 = optim.SGD(model2.parameters(), lr=0.05, momentum=0.9)
    ck = cnnpy.load(path)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    step2 = cnnpy.compile(model2, nn.MSELoss(), opt2)
    for x, y in batches[2:]:
        step2(x, y)
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6, atol=1e-7)


def test_a_scheduler_changes_the_lr_of_the_compiled_step():
    rng = rng_for("sched")
    batches = [_data(rng) for _ in range(4)]
    m1 = _small()
    m2 = copy.deepcopy(m1)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    s1, s2 = optim.StepLR(o1, 1, gamma=0.1), optim.StepLR(o2, 1, gamma=0.1)
    step = cnnpy.compile(m2, nn.MSELoss(), o2, fuse=False)
    for x, y in batches:
        layer_step(m1, nn.MSELoss(), o1, x, y)
        step(x, y)
        s1.step()
        s2.step()
    assert_params(m1, m2, np.float32, exact=True)
    frozen = [p.data.copy() for p in m2.parameters()]
    o2.param_groups[0]["lr"] = 0.0
    step(*batches[0])
    assert all(np.array_equal(a, p.data) for a, p in zip(frozen, m2.parameters()))


def test_the_last_smaller_batch_and_inference_batches_alternate():
    rng = rng_for("shapes")
    m1 = _small()
    m2 = copy.deepcopy(m1)
    o1, o2 = optim.Adam(m1.parameters(), lr=1e-2), optim.Adam(m2.parameters(), lr=1e-2)
    step = cnnpy.compile(m2, nn.MSELoss(), o2, fuse=False)
    for n in (8, 8, 3, 8, 3, 5):
        x, y = _data(rng, n)
        layer_step(m1, nn.MSELoss(), o1, x, y)
        step(x, y)
        xv = _data(rng, 7)[0]
        m1.eval()
        assert np.array_equal(step.forward(xv), m1(xv))
        m1.train()
    assert_params(m1, m2, np.float32, exact=True)


def test_eval_mode_turns_dropout_off_in_compiled_steps_and_forward():
    model = S(nn.Linear(4, 6), nn.Dropout(0.9), nn.Linear(6, 2))
    m1 = copy.deepcopy(model)
    step = cnnpy.compile(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), fuse=False)
    o1 = optim.SGD(m1.parameters(), lr=0.1)
    x, y = np.ones((3, 4), np.float32), np.zeros((3, 2), np.float32)
    model.eval()
    m1.eval()
    for _ in range(2):
        assert step(x, y) == layer_step(m1, nn.MSELoss(), o1, x, y)
    y1 = step.forward(x)
    model.train()
    assert np.array_equal(step.forward(x), y1)  # forward is inference whatever the mode
    assert_params(m1, model, np.float32, exact=True)


# ---- train(compile=...) ------------------------------------------------------------------------

def _loader(n=20, batch=8):
    rng = rng_for("loader")
    x = rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    y = rng.standard_normal((n, 2)).astype(np.float32)
    return data.DataLoader(data.TensorDataset(x, y), batch_size=batch, seed=0)


def test_train_modes_give_the_same_run_and_say_which_path_ran():
    runs = {}
    for mode in (False, None, True):
        model = _small()
        model.load_state_dict(_small_state)
        opt = optim.Adam(model.parameters(), lr=1e-2)
        sched = optim.CosineAnnealingLR(opt, T_max=3)
        hist = cnnpy.train(model, _loader(), nn.MSELoss(), opt, epochs=3, val_loader=_loader(12, 5),
                           metrics=[lambda p, t: float(np.mean(p))], scheduler=sched,
                           progress=False, compile=mode)
        runs[mode] = (hist, [p.data for p in model.parameters()])
    assert runs[False][0].compiled is False and runs[None][0].compiled and runs[True][0].compiled
    assert "layer by layer" in repr(runs[False][0]) and "compiled" in repr(runs[True][0])
    for mode in (None, True):
        assert runs[mode][0].as_dict().keys() == runs[False][0].as_dict().keys()
        for key, values in runs[False][0].as_dict().items():
            if key != "seconds":
                assert runs[mode][0].as_dict()[key] == pytest.approx(values, rel=1e-6), key
        for a, b in zip(runs[False][1], runs[mode][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


_small_state = _small().state_dict()


def test_train_falls_back_for_user_modules_and_compile_true_raises():
    model = S(nn.Flatten(), nn.Linear(64, 2), Doubler())
    hist = cnnpy.train(model, _loader(), nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01),
                       epochs=1, progress=False)
    assert hist.compiled is False and "Doubler" in hist.compile_error
    with pytest.raises(TypeError, match=r"layer 2 \(Doubler\)"):
        cnnpy.train(model, _loader(), nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01),
                    epochs=1, progress=False, compile=True)
    with pytest.raises(ValueError, match="compile must be"):
        cnnpy.train(model, _loader(), nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01),
                    epochs=1, progress=False, compile="yes")


def test_train_runs_float64_batches_of_a_float32_model_layer_by_layer():
    rng = rng_for("f64-batches")
    x, y = rng.standard_normal((16, 1, 8, 8)), rng.standard_normal((16, 2))
    model = _small()
    hist = cnnpy.train(model, data.DataLoader(data.TensorDataset(x, y), batch_size=8),
                       nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), epochs=1, progress=False)
    assert hist.compiled is False and "float64" in hist.compile_error


# ---- memory ------------------------------------------------------------------------------------

def test_no_page_faults_in_steady_state_steps():
    """The engine's arena is touched at planning; what remains per step is Python's (the float
    returned, small objects), measured and bounded here."""
    model = models.GausNet(rng=0, dropout=0.2, input_size=44)
    step = cnnpy.compile(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=1e-3))
    rng = rng_for("faults")
    x = rng.standard_normal((32, 1, 44, 44)).astype(np.float32)
    y = (rng.random((32, 1)) > 0.5).astype(np.float32)
    for _ in range(5):
        step(x, y)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step(x, y)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(f"page faults over 20 compiled steps: {faults}")
    assert faults <= 20, f"{faults} page faults in 20 steady-state steps"


def test_bound_arrays_are_kept_alive_and_released_with_the_step():
    model, opt, step, x, y = _tiny_adam()
    w = model[0].weight
    old = w.data
    w.data = old.copy()  # the net still points at `old` until the next step rebinds
    refs = sys.getrefcount(old)
    step(x, y)
    after = sys.getrefcount(old)  # (counted outside assert statements, whose rewriting keeps
    assert after == refs - 2      # references of its own): the network's and the step's record
    data_refs = sys.getrefcount(w.data)
    for _ in range(200):
        step(x, y)
    later = sys.getrefcount(w.data)
    assert later == data_refs
    del step
    gc.collect()
    final = sys.getrefcount(w.data)
    assert final == data_refs - 2


def test_no_leak_over_many_compiled_networks():
    def run():
        model = S(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2), nn.Dropout(0.1))
        step = cnnpy.compile(model, nn.CrossEntropyLoss(weight=np.ones(2, np.float32)),
                             optim.RMSprop(model.parameters(), centered=True, momentum=0.1))
        step(np.ones((2, 1, 4, 4), np.float32), np.array([0, 1]))
        step.forward(np.ones((1, 1, 4, 4), np.float32))
        try:
            step(np.ones((2, 1, 4, 4), np.float32), np.array([0, 5]))
        except ValueError:
            pass
    for _ in range(50):
        run()
    gc.collect()
    blocks = sys.getallocatedblocks()
    for _ in range(300):
        run()
    gc.collect()
    assert sys.getallocatedblocks() - blocks < 200


def test_the_gil_is_released_during_a_step():
    import threading
    model = models.GausNet(rng=0)
    step = cnnpy.compile(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters()))
    x, y = np.zeros((32, 1, 91, 91), np.float32), np.ones((32, 1), np.float32)
    step(x, y)
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)
    t = threading.Thread(target=count)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        t.start()
        for _ in range(3):
            step(x, y)
    finally:
        done.set()
        t.join()
        sys.setswitchinterval(old)
    assert len(ticks) > 100


def test_loss_weights_survive_a_thread_count_change(threads):
    model = S(nn.Linear(3, 2))
    step = cnnpy.compile(model, nn.BCEWithLogitsLoss(weight=np.ones(2, np.float32)),
                         optim.SGD(model.parameters(), lr=0.1))
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    first = step(x, y)
    threads(2 if cnnpy.get_num_threads() == 1 else 1)
    assert step(x, y) < first


def test_engine_keeps_loss_weights_across_a_thread_count_change(threads):
    """cnn.h: elementwise loss weights are refused only after planning another shape; a plan made
    again for the same shape (another thread count) keeps them."""
    k = _cnn.net_constants()
    net = _cnn.net_create([dict(kind=k["LINEAR"], in_features=3, out_features=2, bias=0)],
                          dict(kind=k["LOSS_BCE_LOGITS"], reduction=_cnn.REDUCE_MEAN), k["OPTIM_NONE"],
                          False, 0)
    w, g = np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)
    _cnn.net_bind_param(net, 0, w, g, None, None, None)
    _cnn.net_plan(net, (4, 3))
    weight = np.ones(8, np.float32)
    _cnn.net_bind_loss_weights(net, weight, None, 0)
    x, y = np.ones((4, 3), np.float32), np.ones((4, 2), np.float32)
    _cnn.net_step(net, x, y, 0, None, None, None, None)
    threads(2 if cnnpy.get_num_threads() == 1 else 1)
    assert np.isfinite(_cnn.net_step(net, x, y, 0, None, None, None, None))
    _cnn.net_plan(net, (5, 3))  # another shape: the weights must be bound again
    with pytest.raises(ValueError, match="weight"):
        _cnn.net_step(net, np.ones((5, 3), np.float32), np.ones((5, 2), np.float32), 0, None, None, None, None)


def test_binding_refuses_arrays_it_cannot_bind():
    net = _cnn.net_create([dict(kind=_cnn.net_constants()["LINEAR"], in_features=3, out_features=2, bias=1)],
                          None, 0, False, 0)
    assert _cnn.net_params(net) == [(0, False, (2, 3)), (0, True, (2,))]
    with pytest.raises(TypeError, match="dtype"):
        _cnn.net_bind_param(net, 0, np.zeros((2, 3)), None, None, None, None)
    with pytest.raises(ValueError, match="elements"):
        _cnn.net_bind_param(net, 0, np.zeros((2, 2), np.float32), None, None, None, None)
    with pytest.raises(ValueError, match="C-contiguous"):
        _cnn.net_bind_param(net, 0, np.zeros((3, 2), np.float32).T, None, None, None, None)
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="share memory"):
        _cnn.net_bind_param(net, 0, a, a, None, None, None)
    with pytest.raises(ValueError, match="plan"):
        _cnn.net_forward(net, np.zeros((1, 3), np.float32))
    _cnn.net_plan(net, (4, 3))
    with pytest.raises(ValueError, match="elements"):
        _cnn.net_forward(net, np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError) as info:
        _cnn.net_forward(net, np.zeros((4, 3), np.float32))  # data not bound
    assert info.value.args[1:3] == (0, "data")
