"""cnnpy.nn.init against PyTorch's torch.nn.init: fans and gains equal to PyTorch's, every
initializer's bounds, mean and standard deviation (large arrays, statistical tolerances), filling
in place with the dtype kept, reproducibility from a seed, a Generator or cnnpy.manual_seed (and
never NumPy's global state), the layers' default initialisation, and the bad-argument matrix."""
import math
import re

import numpy as np
import pytest

import cnnpy
from cnnpy.nn import init
from cnnpy.nn.module import Parameter

N_BIG = 200_000  # elements drawn for a statistical check

# (id, weight shape): Linear (out, in), Conv (C_out, C_in/groups, k...),
# ConvTranspose (C_in, C_out/groups, k...)
FAN_SHAPES = [
    ("linear-4x10", (4, 10)),
    ("conv1d-8x3x5", (8, 3, 5)),
    ("conv2d-16x3x3x3", (16, 3, 3, 3)),
    ("conv2d-groups2-16x2x3x5", (16, 2, 3, 5)),
    ("convT2d-3x8x4x4", (3, 8, 4, 4)),
    ("convT1d-5x2x7", (5, 2, 7)),
    ("conv3d-2x3x1x2x3", (2, 3, 1, 2, 3)),
    ("empty-0x3", (0, 3)),
    ("empty-k0-4x3x0", (4, 3, 0)),
]

GAIN_CASES = [("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
              ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
              ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
              ("leaky_relu", None), ("leaky_relu", 0), ("leaky_relu", 0.2), ("leaky_relu", 1),
              ("leaky_relu", -0.5), ("leaky_relu", math.sqrt(5))]


def big(dtype=np.float64, shape=(400, 500)):
    return np.full(shape, np.nan, dtype=dtype)


def assert_stats(x, mean, std, lo=None, hi=None):
    """Sample mean within 6 standard errors, sample std within 1% (about 6 standard errors for
    N_BIG draws), every value inside [lo, hi] and the extremes close to them."""
    x = np.asarray(x, dtype=np.float64)
    assert np.isfinite(x).all()
    assert abs(x.mean() - mean) <= 6 * std / math.sqrt(x.size) + 1e-12
    assert x.std() == pytest.approx(std, rel=0.01)
    if lo is not None:
        assert x.min() >= lo and x.max() <= hi
        assert x.min() - lo <= 1e-3 * (hi - lo) and hi - x.max() <= 1e-3 * (hi - lo)


# ---- fans and gains ------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [s for _, s in FAN_SHAPES], ids=[i for i, _ in FAN_SHAPES])
def test_fans_match_torch(shape):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(np.empty(shape)) == expected
    assert init._calculate_fan_in_and_fan_out(Parameter(np.empty(shape))) == expected


def test_fans_by_hand():
    assert init._calculate_fan_in_and_fan_out(np.empty((4, 10))) == (10, 4)
    assert init._calculate_fan_in_and_fan_out(np.empty((16, 3, 3, 3))) == (27, 144)
    # ConvTranspose2d(3, 8, 4): weight (C_in, C_out, k, k); PyTorch's fan_in is C_out * k * k
    assert init._calculate_fan_in_and_fan_out(np.empty((3, 8, 4, 4))) == (128, 48)
    fans = init._calculate_fan_in_and_fan_out(np.empty((2, 3), dtype=np.float32))
    assert all(type(f) is int for f in fans)


@pytest.mark.parametrize("shape", [(), (5,)], ids=["0d", "1d"])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError, match=r"_calculate_fan_in_and_fan_out: tensor must have at least 2 "
                                         rf"dimensions.*got shape {re.escape(str(shape))}"):
        init._calculate_fan_in_and_fan_out(np.empty(shape))


@pytest.mark.parametrize("nonlinearity,param", GAIN_CASES,
                         ids=[f"{n}-{p}" for n, p in GAIN_CASES])
def test_gain_matches_torch(nonlinearity, param):
    torch = pytest.importorskip("torch")
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


def test_gain_by_hand():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01 ** 2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("leaky_relu", np.float32(0.5)) == pytest.approx(math.sqrt(2 / 1.25))


# ---- distributions -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_uniform_stats(dtype):
    w = init.uniform_(big(dtype), -2.0, 3.0, rng=1)
    assert_stats(w, 0.5, 5 / math.sqrt(12), -2.0, 3.0)
    w = init.uniform_(big(dtype), rng=2)  # default U(0, 1)
    assert_stats(w, 0.5, 1 / math.sqrt(12), 0.0, 1.0)
    assert (init.uniform_(np.empty(10), 1.5, 1.5, rng=0) == 1.5).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_normal_stats(dtype):
    assert_stats(init.normal_(big(dtype), 1.0, 0.25, rng=3), 1.0, 0.25)
    assert_stats(init.normal_(big(dtype), rng=4), 0.0, 1.0)
    assert (init.normal_(np.empty(5), 2.0, 0.0, rng=0) == 2.0).all()


def test_constant_zeros_ones():
    w = np.empty((3, 4), dtype=np.float32)
    assert init.constant_(w, 0.3) is w and (w == np.float32(0.3)).all()
    assert init.constant_(w, np.float64(-2)) is w and (w == -2).all()
    assert np.isnan(init.constant_(np.empty(2), float("nan"))).all()
    assert init.zeros_(w) is w and (w == 0).all()
    assert init.ones_(w) is w and (w == 1).all()
    p = Parameter(np.full((2, 2), 7.0))
    assert init.zeros_(p) is p and (p.data == 0).all()


@pytest.mark.parametrize("shape,gain", [((400, 500), 1.0), ((64, 32, 5, 5), 2.0), ((3, 200, 17, 19), 0.5)],
                         ids=["linear-g1", "conv2d-g2", "convT2d-g0.5"])
def test_xavier_stats(shape, gain):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(np.empty(shape))
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    bound = math.sqrt(3) * std
    assert_stats(init.xavier_uniform_(big(shape=shape), gain=gain, rng=5), 0.0, std, -bound, bound)
    assert_stats(init.xavier_normal_(big(shape=shape), gain=gain, rng=6), 0.0, std)


KAIMING = [("fan_in", "leaky_relu", 0), ("fan_out", "relu", 0), ("fan_in", "leaky_relu", 0.2),
           ("FAN_OUT", "tanh", 0), ("fan_in", "linear", 0), ("fan_in", "leaky_relu", math.sqrt(5))]


@pytest.mark.parametrize("mode,nonlinearity,a", KAIMING, ids=[f"{m}-{n}-a{a:.2g}" for m, n, a in KAIMING])
def test_kaiming_stats(mode, nonlinearity, a):
    shape = (64, 32, 5, 5)  # fan_in 800, fan_out 1600
    fan = 800 if mode.lower() == "fan_in" else 1600
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3) * std
    w = init.kaiming_uniform_(big(shape=shape), a=a, mode=mode, nonlinearity=nonlinearity, rng=7)
    assert_stats(w, 0.0, std, -bound, bound)
    w = init.kaiming_normal_(big(shape=shape), a=a, mode=mode, nonlinearity=nonlinearity, rng=8)
    assert_stats(w, 0.0, std)


TORCH_INITS = [
    ("xavier_uniform", dict(gain=1.5)),
    ("xavier_normal", dict(gain=0.7)),
    ("kaiming_uniform", dict(a=0.1, mode="fan_out", nonlinearity="leaky_relu")),
    ("kaiming_normal", dict(mode="fan_in", nonlinearity="relu")),
    ("kaiming_uniform", dict(a=math.sqrt(5))),
]


@pytest.mark.parametrize("name,kwargs", TORCH_INITS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_INITS)])
@pytest.mark.parametrize("shape", [(500, 400), (8, 200, 11, 11)], ids=["linear", "convT2d"])
def test_same_distribution_as_torch(name, kwargs, shape):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    expected = getattr(torch.nn.init, name + "_")(torch.empty(shape, dtype=torch.float64), generator=g,
                                                   **kwargs).numpy()
    ours = getattr(init, name + "_")(np.empty(shape), rng=0, **kwargs)
    assert ours.std() == pytest.approx(expected.std(), rel=0.015)
    assert abs(ours.mean()) <= 6 * expected.std() / math.sqrt(ours.size)
    if "uniform" in name:
        assert np.abs(ours).max() == pytest.approx(np.abs(expected).max(), rel=1e-3)


# ---- in place, dtype, layouts --------------------------------------------------------------------

ALL_RANDOM = [
    ("uniform_", dict(a=-1, b=1)), ("normal_", dict(std=0.1)), ("xavier_uniform_", {}),
    ("xavier_normal_", {}), ("kaiming_uniform_", {}), ("kaiming_normal_", dict(nonlinearity="relu")),
]
RANDOM_IDS = [n for n, _ in ALL_RANDOM]


@pytest.mark.parametrize("name,kwargs", ALL_RANDOM, ids=RANDOM_IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=["f16", "f32", "f64"])
def test_in_place_dtype_kept(name, kwargs, dtype):
    fn = getattr(init, name)
    w = np.zeros((6, 5, 3), dtype=dtype)
    assert fn(w, rng=0, **kwargs) is w
    assert w.dtype == dtype and w.flags.c_contiguous and (w != 0).any()
    expected = getattr(init, name)(np.zeros((6, 5, 3)), rng=0, **kwargs)
    np.testing.assert_array_equal(w, expected.astype(dtype))  # drawn in float64, then cast

    p = Parameter(np.zeros((6, 5, 3), dtype=dtype))
    data, grad = p.data, p.grad
    assert fn(p, rng=0, **kwargs) is p
    assert p.data is data and p.grad is grad and not grad.any()
    np.testing.assert_array_equal(p.data, w)


@pytest.mark.parametrize("name,kwargs", ALL_RANDOM, ids=RANDOM_IDS)
def test_non_contiguous_view_filled_in_place(name, kwargs):
    base = np.zeros((4, 12))
    view = base[:, ::2]  # (4, 6), not contiguous
    assert getattr(init, name)(view, rng=0, **kwargs) is view
    assert (base[:, ::2] != 0).all() and (base[:, 1::2] == 0).all()
    # fans come from the view's shape
    np.testing.assert_array_equal(view, getattr(init, name)(np.zeros((4, 6)), rng=0, **kwargs))


@pytest.mark.parametrize("name,kwargs", ALL_RANDOM, ids=RANDOM_IDS)
def test_empty_is_a_no_op(name, kwargs):
    for shape in [(0, 3), (3, 0, 2)]:
        w = np.empty(shape)
        assert getattr(init, name)(w, rng=0, **kwargs) is w


# ---- reproducibility -----------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", ALL_RANDOM, ids=RANDOM_IDS)
def test_reproducible(name, kwargs):
    fn = getattr(init, name)

    def draw(rng=None):
        return fn(np.empty((7, 9)), rng=rng, **kwargs).copy()

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    first = draw(g1)
    np.testing.assert_array_equal(first, draw(g2))
    assert not np.array_equal(draw(g1), first)  # a Generator moves on

    cnnpy.manual_seed(11)
    a, b = draw(), draw()
    cnnpy.manual_seed(11)
    np.testing.assert_array_equal(draw(), a)
    np.testing.assert_array_equal(draw(), b)
    assert not np.array_equal(a, b)


def test_global_numpy_state_untouched():
    state = np.random.get_state()
    cnnpy.manual_seed(0)
    for name, kwargs in ALL_RANDOM:
        getattr(init, name)(np.empty((5, 5)), **kwargs)
        getattr(init, name)(np.empty((5, 5)), rng=1, **kwargs)
    init.default_init_(np.empty((3, 4)), np.empty(3), 4)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


# ---- the layers' default -------------------------------------------------------------------------

LAYERS = [  # (id, torch layer factory, weight shape, bias length)
    ("linear", lambda nn: nn.Linear(300, 200), (200, 300), 200),
    ("conv2d", lambda nn: nn.Conv2d(12, 64, 5), (64, 12, 5, 5), 64),
    ("conv2d-groups", lambda nn: nn.Conv2d(12, 60, 3, groups=3), (60, 4, 3, 3), 60),
    ("convT2d", lambda nn: nn.ConvTranspose2d(60, 24, 4), (60, 24, 4, 4), 24),
    ("convT1d-groups", lambda nn: nn.ConvTranspose1d(60, 40, 5, groups=2), (60, 20, 5), 40),
]


@pytest.mark.parametrize("make,wshape,blen", [l[1:] for l in LAYERS], ids=[l[0] for l in LAYERS])
def test_default_init_matches_torch_layers(make, wshape, blen):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = make(torch.nn)
    tw, tb = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    assert tw.shape == wshape

    w, b = np.empty(wshape, dtype=np.float32), np.empty(blen, dtype=np.float32)
    fan_in = init._calculate_fan_in_and_fan_out(w)[0]
    out = init.default_init_(w, b, fan_in, rng=0)
    assert out[0] is w and out[1] is b
    bound = 1 / math.sqrt(fan_in)  # weight: kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), ...)
    for ours, theirs in [(w, tw), (b, tb)]:
        assert np.abs(ours).max() <= np.float32(bound)
        assert np.abs(theirs).max() <= bound * (1 + 1e-6)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert w.std() == pytest.approx(tw.std(), rel=0.03)
    assert np.abs(w).max() == pytest.approx(np.abs(tw).max(), rel=0.01)


def test_default_init_details():
    w, b = np.empty((50, 40)), np.empty(50)
    out = init.default_init_(w, b, 40, rng=0)
    assert out[0] is w and out[1] is b
    # weight and bias come one after the other from ONE generator: not the same stream twice
    assert not np.allclose(b * math.sqrt(40), w.ravel()[:50] * math.sqrt(40))
    w2, b2 = np.empty((50, 40)), np.empty(50)
    init.default_init_(w2, b2, 40, rng=0)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_array_equal(b, b2)

    # bias None, Parameters, fan_in 0 (PyTorch's Linear: bound 0)
    p = Parameter(np.zeros((3, 4), dtype=np.float32))
    out = init.default_init_(p, None, 4, rng=1)
    assert out[0] is p and out[1] is None
    assert (p.data != 0).all() and np.abs(p.data).max() <= np.float32(0.5)
    bias = Parameter(np.ones(2))
    init.default_init_(np.empty((2, 0)), bias, 0, rng=0)
    assert (bias.data == 0).all()
    init.default_init_(np.empty((2, 3)), np.empty(2), np.int64(3), rng=0)  # numpy int fan_in


# ---- errors --------------------------------------------------------------------------------------

ERRORS = [
    ("list", lambda: init.uniform_([0.0, 1.0]),
     TypeError, r"uniform_: tensor must be a Parameter or a floating-point numpy array, got list"),
    ("int-array", lambda: init.normal_(np.zeros(3, dtype=np.int64)),
     TypeError, r"normal_: tensor must hold floating-point.*int64"),
    ("complex", lambda: init.zeros_(np.zeros(3, dtype=complex)), TypeError, r"zeros_: tensor .*complex128"),
    ("a>b", lambda: init.uniform_(np.zeros(3), 2, 1),
     ValueError, r"uniform_: a must be <= b, got a=2.0, b=1.0"),
    ("a-inf", lambda: init.uniform_(np.zeros(3), -np.inf, 1),
     ValueError, r"uniform_: a must be finite, got -inf"),
    ("b-str", lambda: init.uniform_(np.zeros(3), 0, "1"),
     TypeError, r"uniform_: b must be a real number, got '1'"),
    ("std<0", lambda: init.normal_(np.zeros(3), 0, -1),
     ValueError, r"normal_: std must be >= 0, got -1.0"),
    ("mean-nan", lambda: init.normal_(np.zeros(3), np.nan),
     ValueError, r"normal_: mean must be finite, got nan"),
    ("std-bool", lambda: init.normal_(np.zeros(3), 0, True),
     TypeError, r"normal_: std must be a real number, got True"),
    ("val-None", lambda: init.constant_(np.zeros(3), None),
     TypeError, r"constant_: val must be a real number, got None"),
    ("xavier-1d", lambda: init.xavier_uniform_(np.zeros(3)),
     ValueError, r"xavier_uniform_: tensor must have at least 2 dimensions .*, got shape \(3,\)"),
    ("xavier-gain<0", lambda: init.xavier_normal_(np.zeros((3, 3)), gain=-1),
     ValueError, r"xavier_normal_: gain must be >= 0, got -1.0"),
    ("xavier-gain-str", lambda: init.xavier_uniform_(np.zeros((3, 3)), gain="relu"),
     TypeError, r"xavier_uniform_: gain must be a real number, got 'relu'"),
    ("kaiming-0d", lambda: init.kaiming_normal_(np.zeros(())),
     ValueError, r"kaiming_normal_: tensor must have at least 2 dimensions .*, got shape \(\)"),
    ("kaiming-mode", lambda: init.kaiming_uniform_(np.zeros((3, 3)), mode="fan_avg"),
     ValueError, r"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got 'fan_avg'"),
    ("kaiming-mode-type", lambda: init.kaiming_uniform_(np.zeros((3, 3)), mode=1),
     TypeError, r"kaiming_uniform_: mode must be 'fan_in' or 'fan_out', got 1"),
    ("kaiming-nonlin", lambda: init.kaiming_normal_(np.zeros((3, 3)), nonlinearity="gelu"),
     ValueError, r"kaiming_normal_: nonlinearity must be one of .*got 'gelu'"),
    ("kaiming-a", lambda: init.kaiming_normal_(np.zeros((3, 3)), a="x"),
     TypeError, r"kaiming_normal_: a must be a real number, got 'x'"),
    ("gain-nonlin-type", lambda: init.calculate_gain(None),
     TypeError, r"calculate_gain: nonlinearity must be a string, got None"),
    ("gain-param-bool", lambda: init.calculate_gain("leaky_relu", True),
     TypeError, r"calculate_gain: param .*must be a real number, got True"),
    ("gain-nonlin-value", lambda: init.calculate_gain("gelu"),
     ValueError, r"calculate_gain: nonlinearity must be one of 'linear', .*'selu'; got 'gelu'"),
    ("gain-param-str", lambda: init.calculate_gain("leaky_relu", "0.1"),
     TypeError, r"calculate_gain: param .*got '0.1'"),
    ("fans-type", lambda: init._calculate_fan_in_and_fan_out([[1, 2]]),
     TypeError, r"tensor must be a Parameter or a numpy array, got list"),
    ("rng-type", lambda: init.normal_(np.zeros(3), rng="seed"),
     TypeError, r"normal_: rng must be None, an int seed or a numpy.random.Generator, got 'seed'"),
    ("rng-negative", lambda: init.kaiming_uniform_(np.zeros((2, 2)), rng=-1),
     ValueError, r"kaiming_uniform_: rng seed must be a non-negative int, got -1"),
    ("default-fan-float", lambda: init.default_init_(np.zeros((2, 2)), None, 2.0),
     TypeError, r"default_init_: fan_in must be an int, got 2.0"),
    ("default-fan-negative", lambda: init.default_init_(np.zeros((2, 2)), None, -1),
     ValueError, r"default_init_: fan_in must be >= 0, got -1"),
    ("default-bias-type", lambda: init.default_init_(np.zeros((2, 2)), [0.0, 0.0], 2),
     TypeError, r"default_init_: bias must be a Parameter"),
    ("default-weight-int", lambda: init.default_init_(np.zeros((2, 2), dtype=int), None, 2),
     TypeError, r"default_init_: weight must hold floating-point"),
]


@pytest.mark.parametrize("call,exc,match", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_read_only_refused():
    w = np.zeros((3, 3))
    w.flags.writeable = False
    for fn in (init.ones_, init.kaiming_uniform_, init.xavier_normal_):
        with pytest.raises(ValueError, match=rf"{fn.__name__}: tensor must be writeable"):
            fn(w)


def test_failed_call_leaves_array_untouched():
    w, b = np.full((3, 4), 5.0), np.full(3, 5.0)
    with pytest.raises(ValueError):
        init.kaiming_uniform_(w, mode="bad", rng=0)
    with pytest.raises(TypeError):
        init.default_init_(w, np.zeros(3, dtype=np.int32), 4, rng=0)  # bias checked before weight is drawn
    with pytest.raises(ValueError):
        init.default_init_(w, b, -4, rng=0)
    assert (w == 5).all() and (b == 5).all()
