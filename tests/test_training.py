"""Whole training steps against PyTorch (weights copied in, several forward/loss/backward/optimizer
steps, every parameter compared), tied weights, GausNet learning the lecture's task, and
checkpoints: save/load, bit-exact resumption, refused files."""
import numpy as np
import pytest

import cnnpy
from cnnpy import data, datasets, nn, optim
from helpers import rng_for

def gausnet(outputs=1):
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, 2),
                         nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2, 2),
                         nn.Flatten(), nn.Linear(22 * 22 * 4, 50), nn.Linear(50, outputs))


def gaussian_ae():
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.ConvTranspose2d(4, 6, 3, stride=2), nn.ReLU(),
                         nn.ConvTranspose2d(6, 1, 3, stride=2))


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(4, 6, 3, stride=2, padding=1, padding_mode="reflect"), nn.ReLU(),
                         nn.Dropout(0.0), nn.Flatten(), nn.Linear(6 * 4 * 4, 10))


def torch_twin(model):
    """The same architecture in PyTorch, layer by layer."""
    t = pytest.importorskip("torch").nn
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            layers.append(t.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                   m.dilation, m.groups, m.bias is not None, m.padding_mode))
        elif isinstance(m, nn.ConvTranspose2d):
            layers.append(t.ConvTranspose2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                            m.padding, m.output_padding, m.groups, m.bias is not None,
                                            m.dilation))
        elif isinstance(m, nn.Linear):
            layers.append(t.Linear(m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.AvgPool2d):
            layers.append(t.AvgPool2d(m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.MaxPool2d):
            layers.append(t.MaxPool2d(m.kernel_size, m.stride, m.padding))
        elif isinstance(m, nn.Dropout):
            layers.append(t.Dropout(m.p))
        else:
            layers.append({nn.ReLU: t.ReLU, nn.Flatten: t.Flatten}[type(m)]())
    return t.Sequential(*layers)


OPTIMIZERS = {
    "sgd-momentum-nesterov": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                              lambda ps, t: t.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "adam": (lambda ps: optim.Adam(ps, lr=1e-3), lambda ps, t: t.optim.Adam(ps, lr=1e-3)),
    "adamw": (lambda ps: optim.AdamW(ps, lr=2e-3, weight_decay=0.05),
              lambda ps, t: t.optim.AdamW(ps, lr=2e-3, weight_decay=0.05)),
    "rmsprop-centered": (lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True),
                         lambda ps, t: t.optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True)),
}

MODELS = {
    "gausnet": (gausnet, lambda rng: (rng.standard_normal((8, 1, 91, 91)), (rng.random((8, 1)) > 0.5) * 1.0),
                nn.BCEWithLogitsLoss, "BCEWithLogitsLoss"),
    "gaussian-ae": (gaussian_ae, lambda rng: (lambda x: (x, x))(rng.standard_normal((4, 1, 91, 91))),
                    nn.MSELoss, "MSELoss"),
    "small-cnn-ce": (small_cnn, lambda rng: (rng.standard_normal((8, 1, 18, 18)), rng.integers(0, 10, 8)),
                     nn.CrossEntropyLoss, "CrossEntropyLoss"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_training_steps_match_pytorch(model_name, opt_name, dtype):
    torch = pytest.importorskip("torch")
    make, batch, loss_cls, torch_loss = MODELS[model_name]
    rng = rng_for("parity", model_name, opt_name)
    model = make().astype(dtype)
    tmodel = torch_twin(model).to(torch.float64 if dtype == np.float64 else torch.float32)
    model.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
    make_opt, make_topt = OPTIMIZERS[opt_name]
    opt, topt = make_opt(model.parameters()), make_topt(tmodel.parameters(), torch)
    crit, tcrit = loss_cls(), getattr(torch.nn, torch_loss)()
    for _ in range(4):
        x, y = batch(rng)
        x = x.astype(dtype)
        y = y.astype(dtype) if y.dtype.kind == "f" else y
        opt.zero_grad()
        loss = crit(model(x), y)
        model.backward(crit.backward())
        opt.step()
        topt.zero_grad()
        tloss = tcrit(tmodel(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        rtol = 1e-4 if dtype == np.float32 else 1e-10
        assert loss == pytest.approx(tloss.item(), rel=rtol, abs=rtol)
    tstate = tmodel.state_dict()
    for name, value in model.state_dict().items():
        want = tstate[name].detach().numpy()
        scale = max(np.abs(want).max(), 1e-3)
        err = np.abs(value - want).max() / scale
        # Centered RMSprop divides by sqrt(E[g^2] - E[g]^2): in float32 that difference cancels
        # catastrophically on the first steps, magnifying rounding-level gradient differences
        # (any summation order, ours or PyTorch's) about 10x.
        f32_tol = 5e-3 if opt_name == "rmsprop-centered" else 2e-4
        assert err < (f32_tol if dtype == np.float32 else 1e-9), f"{name}: relative difference {err:.2e}"


def test_tied_dense_autoencoder_matches_pytorch():
    """A tied-weights dense autoencoder: the decoder's gradient adds into the encoder's weight."""
    torch = pytest.importorskip("torch")
    rng = rng_for("tied-ae")
    enc1, enc2 = nn.Linear(20, 8), nn.Linear(8, 3)
    model = nn.Sequential(enc1, nn.ReLU(), enc2, nn.ReLU(), nn.TiedLinear(enc2), nn.ReLU(),
                          nn.TiedLinear(enc1), nn.Sigmoid()).astype(np.float64)
    tw = {k: torch.tensor(v, requires_grad=True) for k, v in model.state_dict().items()}
    x = rng.random((6, 20))
    crit = nn.MSELoss()
    loss = crit(model(x), x)
    model.zero_grad()
    model.backward(crit.backward())
    tx = torch.tensor(x)
    F = torch.nn.functional
    h = F.relu(F.linear(F.relu(F.linear(tx, tw["0.weight"], tw["0.bias"])), tw["2.weight"], tw["2.bias"]))
    out = torch.sigmoid(F.linear(F.relu(F.linear(h, tw["2.weight"].t(), tw["4.bias"])), tw["0.weight"].t(), tw["6.bias"]))
    tloss = F.mse_loss(out, tx)
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.bias", "6.bias"]
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tw[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def _gaussian_split(seed):
    x, y = datasets.gaussians(n_per_class=1000, seed=seed)
    train_set, test_set = data.random_split(data.TensorDataset(x, y), [0.9, 0.1], seed=seed)
    return train_set, test_set


@pytest.mark.slow
def test_gausnet_learns_the_lecture_task():
    """The lecture's GausNet recipe (BCE with logits, Adam 1e-3, batch 32, 10 epochs) on its
    Gaussians reaches >= 95% test accuracy."""
    cnnpy.manual_seed(0)
    train_set, test_set = _gaussian_split(seed=0)
    model = gausnet()
    hist = cnnpy.train(model, data.DataLoader(train_set, 32, shuffle=True, seed=0), nn.BCEWithLogitsLoss(),
                       optim.Adam(model.parameters(), lr=1e-3), epochs=10,
                       val_loader=data.DataLoader(test_set, 200), metrics=["accuracy"], progress=False)
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert hist["val_accuracy"][-1] >= 0.95, hist.as_dict()


def _short_run(model, opt, loader, steps, crit):
    losses = []
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        opt.zero_grad()
        losses.append(crit(model(x), y))
        model.backward(crit.backward())
        opt.step()
    return losses


def test_checkpoint_resume_is_bit_exact(tmp_path):
    x, y = datasets.gaussians(n_per_class=40, size=23, seed=3)
    ds = data.TensorDataset(x, y)
    crit = nn.BCEWithLogitsLoss()

    def fresh():
        cnnpy.manual_seed(7)
        model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Dropout(0.2), nn.Linear(3 * 11 * 11, 1))
        return model, optim.Adam(model.parameters(), lr=1e-2)

    model, opt = fresh()
    loader = data.DataLoader(ds, 8, shuffle=True, seed=1)
    _short_run(model, opt, loader, 5, crit)
    cnnpy.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.npz")
    cnnpy.manual_seed(99)
    uninterrupted = _short_run(model, opt, data.DataLoader(ds, 8, shuffle=True, seed=2), 5, crit)
    final = model.state_dict()

    model2, opt2 = fresh()
    ckpt = cnnpy.load(tmp_path / "ckpt.npz")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    cnnpy.manual_seed(99)
    resumed = _short_run(model2, opt2, data.DataLoader(ds, 8, shuffle=True, seed=2), 5, crit)
    assert resumed == uninterrupted
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v, final[k])


def test_save_load_predictions_and_refusals(tmp_path):
    cnnpy.manual_seed(0)
    model = gausnet().eval()
    x = datasets.gaussians(n_per_class=2, seed=1)[0]
    path = tmp_path / "gausnet.npz"
    cnnpy.save(model.state_dict(), path)
    other = gausnet().eval()
    assert not np.array_equal(other(x), model(x))
    other.load_state_dict(cnnpy.load(path))
    np.testing.assert_array_equal(other(x), model(x))
    with pytest.raises(KeyError, match="missing keys"):
        gaussian_ae().load_state_dict(cnnpy.load(path))
    wider = nn.Sequential(*list(gausnet())[:-1], nn.Linear(50, 3))
    with pytest.raises(ValueError, match="'8.weight' has shape"):
        wider.load_state_dict(cnnpy.load(path))
    raw = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        cnnpy.load(tmp_path / "cut.npz")
    with pytest.raises(FileNotFoundError):
        cnnpy.load(tmp_path / "missing.npz")


def test_train_history_evaluate_and_progress(capsys):
    cnnpy.manual_seed(0)
    x, y = datasets.gaussians(n_per_class=32, size=15, seed=5)
    ds = data.TensorDataset(x, y)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Dropout(0.1), nn.Linear(2 * 13 * 13, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    hist = cnnpy.train(model, data.DataLoader(ds, 16, shuffle=True, seed=0), nn.BCEWithLogitsLoss(), opt, 3,
                       val_loader=data.DataLoader(ds, 64), metrics=["accuracy"], scheduler=sched)
    assert hist.epochs == [1, 2, 3]
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"} <= set(hist.keys())
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)
    assert "epoch 3/3" in capsys.readouterr().err  # the progress bar
    assert model.training
    res = cnnpy.evaluate(model, data.DataLoader(ds, 64), nn.BCEWithLogitsLoss(), ["accuracy"])
    assert model.training and res["loss"] == pytest.approx(hist["val_loss"][-1])
    with pytest.raises(ValueError, match="unknown metric"):
        cnnpy.train(model, data.DataLoader(ds, 16), nn.MSELoss(), opt, 1, metrics=["f1"])


def test_data_loader_and_split():
    ds = data.TensorDataset(np.arange(10), np.arange(10) * 2)
    a = [b[0].tolist() for b in data.DataLoader(ds, 4, shuffle=True, seed=3)]
    b = [b[0].tolist() for b in data.DataLoader(ds, 4, shuffle=True, seed=3)]
    assert a == b and sorted(sum(a, [])) == list(range(10))
    loader = data.DataLoader(ds, 4, shuffle=True, seed=3)
    assert [x.tolist() for x, _ in loader] != [x.tolist() for x, _ in loader]  # a new order each pass
    assert len(data.DataLoader(ds, 4)) == 3 and len(data.DataLoader(ds, 4, drop_last=True)) == 2
    assert [len(x) for x, _ in data.DataLoader(ds, 4, drop_last=True)] == [4, 4]
    parts = data.random_split(ds, [7, 3], seed=0)
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(int(p[i][0]) for p in parts for i in range(len(p))) == list(range(10))
    with pytest.raises(ValueError, match="random_split: lengths"):
        data.random_split(ds, [5, 6])
    flips = data.TensorDataset(np.ones((3, 2)), np.zeros(3), transform=lambda v: -v)
    assert flips[0][0].tolist() == [-1.0, -1.0] and len(flips) == 3
    assert [x.tolist() for x, _ in data.DataLoader(flips, 3)] == [[[-1.0, -1.0]] * 3]


def test_loader_batches_subsets_like_sample_by_sample():
    """Subsets (random_split, nested) are batched by indexing the arrays; the batches equal the
    per-sample path's, and Subset takes ints, slices and index arrays."""
    x = np.arange(40.).reshape(20, 2)
    ds = data.TensorDataset(x, np.arange(20))
    outer = data.Subset(ds, np.arange(19, -1, -1))  # reversed
    inner = data.Subset(outer, [3, 0, 7, 7, 12, 5])
    assert inner[0][1] == 16 and inner[-1][1] == 14
    assert inner[1:3][1].tolist() == [19, 12] and inner[np.array([2, 4])][1].tolist() == [12, 7]

    class Plain(data.TensorDataset):  # a subclass may change __getitem__: no indexing shortcut
        def __getitem__(self, i):
            return self.arrays[0][i] * 0 + 1, self.arrays[1][i]

    for source in (ds, Plain(x, np.arange(20))):
        sub = data.Subset(data.Subset(source, np.arange(19, -1, -1)), [3, 0, 7, 7, 12, 5])
        got = list(data.DataLoader(sub, 4, shuffle=True, seed=1))
        want = list(data.DataLoader(sub, 4, shuffle=True, seed=1,
                                    collate_fn=lambda b: data.default_collate(b)))  # per sample
        assert len(got) == len(want) == 2
        for (gx, gy), (wx, wy) in zip(got, want):
            assert np.array_equal(gx, wx) and np.array_equal(gy, wy)
    assert all((bx == 1).all() for bx, _ in data.DataLoader(
        data.Subset(Plain(x, np.arange(20)), [1, 2, 3]), 2))


def test_summary_of_the_lecture_models():
    s = cnnpy.summary(gausnet(), (1, 1, 91, 91))
    assert s.total_params == 97181
    assert s.rows[2]["output_shape"] == (1, 6, 45, 45) and s.rows[5]["output_shape"] == (1, 4, 22, 22)
    assert s.rows[0]["mult_adds"] == 91 * 91 * 6 * 9
    ae = cnnpy.summary(gaussian_ae(), (1, 1, 91, 91))
    assert ae.total_params == 557 and ae.rows[-1]["output_shape"] == (1, 1, 91, 91)
    assert "total parameters: 97,181" in str(s)
    rf = cnnpy.receptive_field(gausnet(), (1, 1, 91, 91))
    assert rf[0] == ("0", (3, 3), (1, 1)) and rf[2] == ("2", (4, 4), (2, 2)) and rf[5] == ("5", (10, 10), (4, 4))


def test_summary_of_layers_it_does_not_know():
    """A user's Module without summary_stats is one row: its output shape and parameters as it
    ran, no multiply-adds, the receptive field passed through (as for an activation); one that
    defines summary_stats reports its own; every nn layer with a window or weights defines it."""
    class Swish(nn.Module):
        def forward(self, x):
            return x / (1 + np.exp(-x))

    class Blur(nn.Module):  # a fixed 3x3 box blur with a learnable gain
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(np.ones(1, np.float32))

        def forward(self, x):
            return self.gain.data * cnnpy.functional.avg_pool2d(x, 3, 1, 1)

        def summary_stats(self, input_shape, output_shape):
            return {"mult_adds": 9 * int(np.prod(output_shape)), "window": ((3, 3), (1, 1), (1, 1))}

    net = nn.Sequential(nn.Conv2d(1, 2, 3), Swish(), nn.MaxPool2d(2), Blur(), nn.Flatten())
    rows = cnnpy.summary(net, (1, 1, 10, 10)).rows
    assert [r["type"] for r in rows] == ["Conv2d", "Swish", "MaxPool2d", "Blur", "Flatten"]
    assert rows[1]["params"] == 0 and rows[1]["mult_adds"] == 0
    assert rows[1]["receptive_field"] == (3, 3) and rows[1]["jump"] == (1, 1)
    assert rows[3]["params"] == 1 and rows[3]["mult_adds"] == 9 * 2 * 4 * 4
    assert rows[3]["receptive_field"] == (4 + 2 * 2, 4 + 2 * 2) and rows[3]["jump"] == (2, 2)
    assert rows[4]["receptive_field"] == (10, 10) and rows[4]["jump"] is None
    for name in nn.layers.__all__:
        cls = getattr(nn, name)
        windowed = issubclass(cls, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                                    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
                                    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.TiedLinear,
                                    nn.TiedConvTranspose2d))
        assert (cls.summary_stats is not nn.Module.summary_stats) == windowed, name
