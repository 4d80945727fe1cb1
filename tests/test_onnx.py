"""cnnpy.onnx.export: every lecture model and every layer configuration, exported, checked with
onnx.checker (full check) and run in ONNX Runtime (CPU), against ``model(x)`` in eval mode:
max difference <= 1e-5 in float32. Also the graph's form (explicit Pad, shared initializers,
Dropout in inference form) and the errors for what cannot be exported.

Skips cleanly without onnx and onnxruntime (both in the ``test`` extra)."""
import itertools
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import cnnpy  # noqa: E402
import cnnpy.onnx as cx  # noqa: E402
from cnnpy import models, nn  # noqa: E402

TOL = 1e-5


def session(proto):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # no spinning pool per tiny model
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def max_diff(model, shape, run_batches=(None,), seed=0, **kw):
    """Export `model` for `shape`, check it, run it in ONNX Runtime for each batch size in
    run_batches (None: the exported one) and return the largest difference from model(x)."""
    proto = cx.export(model, None, shape, **kw)
    onnx.checker.check_model(proto, full_check=True)
    sess = session(proto)
    was = [m.training for m in model.modules()]
    model.eval()
    worst = 0.0
    for n in run_batches:
        x_shape = shape if n is None else (n, *shape[1:])
        x = np.random.default_rng(seed).standard_normal(x_shape).astype(np.float32)
        y = model(x)
        z = sess.run(None, {"input": x})[0]
        assert z.shape == y.shape
        worst = max(worst, float(np.max(np.abs(z - y))))
    for m, t in zip(model.modules(), was):
        m.training = t
    return worst


# ---- the lecture's models ---------------------------------------------------------------------------

LECTURE = {
    "GausNet": (lambda: models.GausNet(rng=0), (2, 1, 91, 91)),
    "GausNet-outputs3": (lambda: models.GausNet(outputs=3, rng=1), (2, 1, 91, 91)),
    "GausNet-dropout0.5": (lambda: models.GausNet(dropout=0.5, rng=2), (2, 1, 91, 91)),
    "AllConvNet": (lambda: models.AllConvNet(rng=3), (2, 1, 91, 91)),
    "AllConvNet-k3": (lambda: models.AllConvNet(kernel_size=3, rng=4), (2, 1, 91, 91)),
    "GaussianAutoencoder": (lambda: models.GaussianAutoencoder(rng=5), (2, 1, 91, 91)),
    "DenseAutoencoder": (lambda: models.DenseAutoencoder(rng=6), (2, 784)),
    "DenseAutoencoder-tied": (lambda: models.DenseAutoencoder(tied=True, rng=7), (2, 784)),
    "DenseAutoencoder-128-tied": (lambda: models.DenseAutoencoder((784, 128, 50), tied=True, rng=8), (2, 784)),
    "MnistNet": (lambda: models.MnistNet(rng=9), (2, 1, 28, 28)),
}


@pytest.mark.parametrize("name", list(LECTURE))
def test_lecture_model_runs_in_onnxruntime_as_in_cnnpy(name, tmp_path):
    make, shape = LECTURE[name]
    model = make()
    path = tmp_path / f"{name}.onnx"
    cx.export(model, path, shape)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    sess = session(proto)
    model.eval()
    for n in (shape[0], 5):  # the batch dim stays free
        x = np.random.default_rng(n).standard_normal((n, *shape[1:])).astype(np.float32)
        y = model(x)
        z = sess.run(None, {"input": x})[0]
        assert z.shape == y.shape
        diff = float(np.max(np.abs(z - y)))
        assert diff <= TOL, f"{name}: max |onnxruntime - cnnpy| = {diff:.3g}"


def test_export_leaves_training_mode_and_exports_dropout_in_inference_form():
    model = models.GausNet(dropout=0.5, rng=0)
    model[3].eval()  # a mixed state comes back as it was
    modes = [m.training for m in model.modules()]
    proto = cx.export(model, None, (1, 1, 91, 91))
    assert [m.training for m in model.modules()] == modes
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Dropout") == 3
    for node in proto.graph.node:  # no training_mode input: ONNX's Dropout is then the identity
        if node.op_type == "Dropout":
            assert len(node.input) == 2
    assert max_diff(model, (2, 1, 91, 91)) <= TOL


def test_weights_and_names_are_the_state_dict():
    model = models.GausNet(rng=0)
    proto = cx.export(model, None, (1, 1, 91, 91))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(inits[key], value)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert proto.opset_import[0].version == cx.OPSET


def test_tied_weights_are_stored_once():
    model = models.DenseAutoencoder(tied=True, rng=0)
    proto = cx.export(model, None, (2, 784))
    weights = [i for i in proto.graph.initializer if i.name.endswith(".weight")]
    assert sorted(i.name for i in weights) == ["0.weight", "2.weight"]
    gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
    trans_b = [next(a.i for a in n.attribute if a.name == "transB") for n in gemms]
    assert [n.input[1] for n in gemms] == ["0.weight", "2.weight", "2.weight", "0.weight"]
    assert trans_b == [1, 1, 0, 0]


def test_dynamic_batch_off_fixes_the_batch():
    model = models.MnistNet(rng=0)
    proto = cx.export(model, None, (3, 1, 28, 28), dynamic_batch=False)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    assert max_diff(model, (3, 1, 28, 28), dynamic_batch=False) <= TOL


def test_float64_model_exports_as_double_or_as_float32():
    model = models.DenseAutoencoder((20, 8, 4), rng=0).astype(np.float64)
    proto = cx.export(model, None, (2, 20))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    x = np.random.default_rng(0).standard_normal((2, 20))
    np.testing.assert_allclose(session(proto).run(None, {"input": x})[0], model(x), rtol=1e-12, atol=1e-12)
    conv = models.MnistNet(rng=0).astype(np.float64)
    proto = cx.export(conv, None, (2, 1, 28, 28), dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28))
    z = session(proto).run(None, {"input": x.astype(np.float32)})[0]
    assert z.dtype == np.float32 and np.max(np.abs(z - conv(x))) <= TOL


# ---- convolution: padding forms and modes ---------------------------------------------------------------

PADDINGS = [0, 2, (1, 0), "same", "full", "valid", ((2, 0), (1, 3)), 6, 8]  # 6: H itself
MODES = ["zeros", "constant", "reflect", "replicate", "circular", "symmetric"]


@pytest.mark.parametrize("stride", [1, 2], ids=lambda s: f"s{s}")
@pytest.mark.parametrize("padding", PADDINGS, ids=lambda p: f"p{p}".replace(" ", ""))
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_every_padding_mode(mode, padding, stride):
    layer = nn.Conv2d(4, 6, (3, 2), stride=stride, padding=padding, padding_mode=mode,
                      dilation=(1, 2), groups=2, rng=0)
    assert max_diff(nn.Sequential(layer), (2, 4, 6, 7), run_batches=(None, 3)) <= TOL


@pytest.mark.parametrize("padding", [1, (0, 2), "same", "full", 9], ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_conv1d_every_padding_mode(mode, padding):
    layer = nn.Conv1d(2, 4, 4, stride=3, padding=padding, padding_mode=mode, rng=0)
    assert max_diff(layer, (2, 2, 11)) <= TOL


@pytest.mark.parametrize("mode, op", [("reflect", "reflect"), ("replicate", "edge"),
                                      ("circular", "wrap")])
def test_padding_modes_onnx_has_are_an_explicit_pad(mode, op):
    proto = cx.export(nn.Conv2d(1, 2, 3, padding=1, padding_mode=mode, rng=0), None, (1, 1, 5, 5))
    pad = [n for n in proto.graph.node if n.op_type == "Pad"]
    assert len(pad) == 1 and onnx.helper.get_attribute_value(pad[0].attribute[0]).decode() == op
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads")
    assert list(pads.ints) == [0, 0, 0, 0]


def test_symmetric_padding_and_wide_pads_are_gathers_of_cnnpys_own_indices():
    proto = cx.export(nn.Conv2d(1, 2, 3, padding=(1, 9), padding_mode="reflect", rng=0), None, (1, 1, 5, 5))
    assert [n.op_type for n in proto.graph.node].count("Gather") == 2
    proto = cx.export(nn.Conv1d(1, 2, 3, padding=1, padding_mode="symmetric", rng=0), None, (1, 1, 5))
    index = next(onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if "index" in i.name)
    assert index.tolist() == [0, 0, 1, 2, 3, 4, 4]


def test_true_convolution_exports_flipped_weights():
    layer = nn.Conv2d(2, 3, (3, 2), padding=1, mode="conv", rng=0)
    proto = cx.export(layer, None, (1, 2, 6, 6))
    w = next(onnx.numpy_helper.to_array(i) for i in proto.graph.initializer if i.name.endswith("flipped"))
    np.testing.assert_array_equal(w, layer.weight.data[:, :, ::-1, ::-1])
    assert max_diff(layer, (2, 2, 6, 6)) <= TOL


TRANSPOSE = [(s, p, o, d, g) for s, p, o, d, g in itertools.product([1, 2, 3], [0, 1, 2], [0, 1, 2], [1, 2], [1, 2])
             if o < max(s, d)]


@pytest.mark.parametrize("s, p, o, d, g", TRANSPOSE,
                         ids=[f"s{s}-p{p}-op{o}-d{d}-g{g}" for s, p, o, d, g in TRANSPOSE])
def test_conv_transpose_stride_padding_output_padding_dilation_groups(s, p, o, d, g):
    layer2 = nn.ConvTranspose2d(4, 6, (3, 2), stride=s, padding=p, output_padding=o, dilation=d, groups=g, rng=0)
    layer1 = nn.ConvTranspose1d(4, 6, 3, stride=s, padding=p, output_padding=o, dilation=d, groups=g,
                                bias=False, rng=1)
    try:
        layer2(np.zeros((1, 4, 4, 5), np.float32))
    except ValueError:  # padding removes the whole output: nothing to export
        return
    assert max_diff(layer2, (2, 4, 4, 5)) <= TOL
    assert max_diff(layer1, (2, 4, 5)) <= TOL


@pytest.mark.parametrize("mode", ["xcorr", "conv"])
def test_tied_conv_transpose(mode):
    enc = nn.Conv2d(2, 4, 3, stride=2, mode=mode, rng=0)
    model = nn.Sequential(enc, nn.LeakyReLU(0.2), nn.TiedConvTranspose2d(enc, stride=2, output_padding=1, rng=1))
    assert max_diff(model, (2, 2, 10, 10)) <= TOL
    proto = cx.export(model, None, (1, 2, 10, 10))
    convt = next(n for n in proto.graph.node if n.op_type == "ConvTranspose")
    assert convt.input[1] == "0.weight"


# ---- pooling ---------------------------------------------------------------------------------------

def _pool_cases():
    cases = []
    for k, s, p, d, ceil in itertools.product([2, 3], [1, 2, 3], [0, 1], [1, 2], [False, True]):
        for n in (5, 6, 7):
            if p <= k // 2 and d * (k - 1) + 1 <= n + 2 * p:
                cases.append((k, s, p, d, ceil, n))
    return cases


POOLS = _pool_cases()


@pytest.mark.parametrize("k, s, p, d, ceil, n", POOLS,
                         ids=[f"k{k}-s{s}-p{p}-d{d}-ceil{int(c)}-n{n}" for k, s, p, d, c, n in POOLS])
def test_max_pool(k, s, p, d, ceil, n):
    assert max_diff(nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil), (2, 3, n, n + 1)) <= TOL
    assert max_diff(nn.MaxPool1d(k, s, p, dilation=d, ceil_mode=ceil), (2, 3, n)) <= TOL


@pytest.mark.parametrize("divisor", [None, 3], ids=["", "div3"])
@pytest.mark.parametrize("count_include_pad", [True, False], ids=["cip", "nocip"])
@pytest.mark.parametrize("k, s, p, d, ceil, n", [c for c in POOLS if c[3] == 1],
                         ids=[f"k{k}-s{s}-p{p}-ceil{int(c)}-n{n}" for k, s, p, d, c, n in POOLS if d == 1])
def test_avg_pool(k, s, p, d, ceil, n, count_include_pad, divisor):
    args = dict(ceil_mode=ceil, count_include_pad=count_include_pad)
    assert max_diff(nn.AvgPool2d(k, s, p, divisor_override=divisor, **args), (2, 3, n, n + 1)) <= TOL
    if divisor is None:
        assert max_diff(nn.AvgPool1d(k, s, p, **args), (2, 3, n)) <= TOL


@pytest.mark.parametrize("size", [1, 2, 3, (None, 4), (5, 2), (7, 10), (4, None)], ids=str)
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_adaptive_pools(kind, size):
    layer = nn.AdaptiveAvgPool2d(size) if kind == "avg" else nn.AdaptiveMaxPool2d(size)
    assert max_diff(layer, (2, 3, 7, 10), run_batches=(None, 1)) <= TOL


# ---- dense, shape, activations, nesting --------------------------------------------------------------------

def test_nested_sequentials_activations_and_softmax():
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.Tanh()),
        nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(2 * 6 * 6, 5, rng=1), nn.Sigmoid())),
        nn.LeakyReLU(0.3), nn.Softmax(1), nn.Identity())
    assert max_diff(model, (3, 1, 8, 8), run_batches=(None, 1)) <= TOL
    names = {i.name for i in cx.export(model, None, (3, 1, 8, 8)).graph.initializer}
    assert {"0.0.weight", "1.1.0.weight"} <= names


def test_gelu_is_its_formula_in_erf_and_tanh_nodes():
    """Opset 19 has no Gelu: both forms export as their formula (Erf, Tanh, Mul, Add), and run in
    ONNX Runtime as in cnnpy, inputs spread over +-8 so both of erf's tails are reached. A
    float64 model exports as double (valid ONNX; ONNX Runtime 1.32 has no double Erf kernel) or,
    with dtype=float32, runs there."""
    model = nn.Sequential(nn.Linear(6, 16, rng=0), nn.GELU(), nn.Linear(16, 16, rng=1),
                          nn.GELU(approximate="tanh"))
    ops = [n.op_type for n in cx.export(model, None, (5, 6)).graph.node]
    assert "Erf" in ops and "Tanh" in ops and "Gelu" not in ops
    x = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32) * 8
    for dtype in (np.float32, np.float64):
        model.astype(dtype)
        proto = cx.export(model, None, (5, 6), dtype=np.float32)
        onnx.checker.check_model(proto, full_check=True)
        np.testing.assert_allclose(session(proto).run(None, {"input": x})[0], model.eval()(x),
                                   rtol=TOL, atol=TOL)
    onnx.checker.check_model(cx.export(model, None, (5, 6)), full_check=True)  # as double


def test_unflatten_flatten_and_linear_on_more_dims():
    lin = nn.Linear(5, 4, rng=0)
    model = nn.Sequential(nn.Linear(12, 16, rng=1), nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 3, padding=1, rng=2),
                          nn.Flatten(2), nn.Softmax(-1), nn.Dropout2d(0.2), nn.Unflatten(2, (4, 4)),
                          nn.Flatten(1, 2), nn.Linear(4, 5, rng=3), lin, nn.TiedLinear(lin, bias=False))
    assert max_diff(model, (3, 12), run_batches=(None, 2)) <= TOL


def test_flatten_over_the_batch_dim():
    assert max_diff(nn.Sequential(nn.Flatten(0, -1), nn.Softmax(0)), (2, 3, 5)) <= TOL
    model = nn.Sequential(nn.Flatten(0, 1), nn.Unflatten(0, (3, 2)))
    assert max_diff(model, (2, 3, 5), dynamic_batch=False) <= TOL
    with pytest.raises(ValueError, match=r"layer '1' \(Unflatten\): it splits the batch dim"):
        cx.export(model, None, (2, 3, 5))
    with pytest.raises(ValueError, match=r"layer '1' \(Conv2d\).*dynamic_batch=False"):
        cx.export(nn.Sequential(nn.Flatten(0, 1), nn.Conv2d(6, 1, 1)), None, (2, 3, 6, 4, 4))


def test_empty_sequential_and_single_layer():
    assert max_diff(nn.Sequential(), (2, 3)) == 0.0
    assert max_diff(nn.ReLU(), (2, 3)) == 0.0


# ---- what cannot be exported ---------------------------------------------------------------------------------

class Doubler(nn.Module):
    def forward(self, x):
        return 2 * x


class ShiftedReLU(nn.ReLU):
    def forward(self, x):
        return super().forward(x) + 1


def test_unknown_layer_is_named():
    with pytest.raises(TypeError, match=r"layer '1' \(Doubler\) has no ONNX export; supported: .*Conv2d"):
        cx.export(nn.Sequential(nn.ReLU(), Doubler()), None, (2, 3))


def test_subclass_with_its_own_forward_is_refused():
    with pytest.raises(TypeError, match=r"layer '0' \(ShiftedReLU\) overrides forward\(\) of ReLU"):
        cx.export(nn.Sequential(ShiftedReLU()), None, (2, 3))


def test_return_indices_is_refused():
    with pytest.raises(ValueError, match=r"layer '0' \(MaxPool2d\): return_indices=True"):
        cx.export(nn.Sequential(nn.MaxPool2d(2, return_indices=True), nn.ReLU()), None, (1, 1, 4, 4))


def test_bad_arguments():
    with pytest.raises(TypeError, match="input_shape must be a sequence"):
        cx.export(nn.ReLU(), None, 4)
    with pytest.raises(ValueError, match="input_shape must be >= 1, got 0"):
        cx.export(nn.ReLU(), None, (0, 3))
    with pytest.raises(TypeError, match="model must be a cnnpy nn.Module"):
        cx.export(lambda x: x, None, (1, 3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        cx.export(nn.ReLU(), None, (1, 3), dtype=np.int32)
    with pytest.raises(ValueError, match="input has 3 channels"):  # cnnpy's own shape check
        cx.export(nn.Conv2d(1, 2, 3), None, (1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"layer 'Conv2d' \(Conv2d\): ONNX needs a batched"):
        cx.export(nn.Conv2d(1, 2, 3), None, (1, 5, 5))


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'cnnpy\[onnx\]'"):
        cnnpy.onnx.export(nn.ReLU(), None, (1, 3))
