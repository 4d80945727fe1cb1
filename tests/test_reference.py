"""The float64 NumPy reference (tests/reference.py): every op of cnnpy against it, and the
reference itself against PyTorch.

- ``test_matches_reference``: the REFERENCE table of every op family (tests/ops/<family>.py),
  cnnpy's forward and backward against the reference in float32 and float64 (tolerances of
  tests/helpers.py: float32 rtol=1e-4, atol=1e-5, float64 rtol=1e-10, atol=1e-11, times a scale
  the case gives for long sums). Needs no PyTorch.
- ``test_reference_matches_torch``: the REFERENCE_TORCH table of every family, the reference's
  forward against torch.nn.functional and its backward against torch.autograd
  (``out.backward(grad)``), all at rtol=1e-10, atol=1e-12. Skipped without torch.
- The few reference functions that torch has no counterpart for (symmetric padding, wide pads,
  correlation loss) are checked here against numpy.pad, adjoint identities and central finite
  differences, and a few rules by hand; hypothesis sweeps random geometries against torch.
"""
import numpy as np
import pytest

import ops
import reference as ref
from helpers import rng_for, torch
from ops.common import ref_close as close
from ops.common import TF, tt

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
REDUCTIONS = ["mean", "sum", "none"]


def fd_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of the scalar function f at x."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


# ---- every family's tables ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("run", ops.gather("REFERENCE"))
def test_matches_reference(run, dtype):
    run(dtype)


@needs_torch
@pytest.mark.parametrize("run", ops.gather("REFERENCE_TORCH"))
def test_reference_matches_torch(run):
    run()


# ---- padding: numpy.pad, crops, adjoint and finite differences ------------------------------------------

NUMPY_MODE = {"reflect": "reflect", "symmetric": "symmetric", "replicate": "edge",
              "circular": "wrap", "constant": "constant"}


NUMPY_PAD_CASES = [
    ((4,), (9, 11)),
    ((1,), (3, 2)),
    ((2,), (5, 0)),
    ((3, 5), (7, 2, 0, 8)),
    ((2, 3, 4), (9, 1, 6, 7, 5, 0)),
    ((3, 4), (12, 13)),
    ((2, 2, 3), (0, 0, 4, 4)),
]


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize("shape,padv", NUMPY_PAD_CASES,
                         ids=[f"{'x'.join(map(str, s))}-pad{','.join(map(str, p))}"
                              for s, p in NUMPY_PAD_CASES])
def test_pad_vs_numpy_wide(shape, padv, mode):
    x = rng_for("npad", shape, padv, mode).standard_normal(shape)
    width = [(0, 0)] * len(shape)
    for k in range(len(padv) // 2):
        width[len(shape) - 1 - k] = (padv[2 * k], padv[2 * k + 1])
    kw = {"constant_values": -2.5} if mode == "constant" else {}
    expected = np.pad(x, width, mode=NUMPY_MODE[mode], **kw)
    np.testing.assert_array_equal(ref.pad(x, padv, mode=mode, value=-2.5), expected)


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular"])
def test_pad_negative_pads(mode):
    """Negative pads crop. Circular (torch's rule) wraps around what is left: crop, then pad.
    Reflect/symmetric/replicate (torch's reflect/replicate) mirror about the original edges:
    pad, then crop."""
    x = rng_for("neg", mode).standard_normal((3, 6, 7))
    padv = (-2, 5, 4, -1, -1, 0)
    if mode == "circular":
        expected = np.pad(x[1:, :-1, 2:], [(0, 0), (4, 0), (0, 5)], mode=NUMPY_MODE[mode])
    else:
        expected = np.pad(x, [(0, 0), (4, 0), (0, 5)], mode=NUMPY_MODE[mode])[1:, :-1, 2:]
    np.testing.assert_array_equal(ref.pad(x, padv, mode=mode), expected)


PAD_ADJ_CASES = [((5,), (7, 3)), ((3, 4), (2, 5, 6, 1)), ((2, 3, 4), (-1, 6, 3, 3)),
                 ((2, 2, 3), (1, 2, 0, 0, 4, 5))]


@pytest.mark.parametrize("mode", ["symmetric", "reflect", "circular", "replicate", "constant"])
@pytest.mark.parametrize("shape,padv", PAD_ADJ_CASES,
                         ids=[f"{'x'.join(map(str, s))}-pad{','.join(map(str, p))}"
                              for s, p in PAD_ADJ_CASES])
def test_pad_backward_adjoint(shape, padv, mode):
    """<pad(x), g> == <x, pad_backward(g)> (pad is linear; value=0)."""
    rng = rng_for("adj", shape, padv, mode)
    x = rng.standard_normal(shape)
    y = ref.pad(x, padv, mode=mode)
    g = rng.standard_normal(y.shape)
    gx = ref.pad_backward(g, shape, padv, mode=mode)
    assert gx.shape == shape
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, gx), rtol=1e-12, atol=1e-12)


def test_pad_backward_symmetric_finite_difference():
    rng = rng_for("fd-sym")
    shape, padv = (2, 3, 4), (6, 2, 1, 4)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(ref.pad(x, padv, mode="symmetric").shape)
    num = fd_grad(lambda a: np.sum(ref.pad(a, padv, mode="symmetric") * g), x)
    np.testing.assert_allclose(ref.pad_backward(g, shape, padv, mode="symmetric"), num,
                               rtol=1e-7, atol=1e-8)


def test_pad_backward_symmetric_counts():
    """Each input element gets the number of times it is copied."""
    gx = ref.pad_backward(np.ones(4 + 3 + 6), (4,), (3, 6), mode="symmetric")
    # padded: [2 1 0 | 0 1 2 3 | 3 2 1 0 0 1]
    np.testing.assert_array_equal(gx, [4, 4, 3, 2])


# ---- convolution: the loop definition, 1-tuples, the adjoint ----------------------------------------

def test_conv2d_loop_definition():
    """Direct quadruple loop over output positions agrees with the tap formulation."""
    rng = rng_for("conv-loop")
    x = rng.standard_normal((1, 4, 7, 6))
    w = rng.standard_normal((4, 2, 3, 2))
    (t, bo), (l, r) = (1, 2), (0, 1)
    s, d, g = (2, 1), (1, 2), 2
    y = ref.conv2d(x, w, None, s, ((t, bo), (l, r)), d, g)
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    expected = np.zeros_like(y)
    for o in range(4):
        grp = o // 2
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                for c in range(2):
                    for kh in range(3):
                        for kw in range(2):
                            expected[0, o, i, j] += (xp[0, grp * 2 + c, i * s[0] + kh * d[0],
                                                        j * s[1] + kw * d[1]] * w[o, c, kh, kw])
    close(y, expected)


def test_1d_ops_accept_one_tuples():
    rng = rng_for("one-tuples")
    x, w = rng.standard_normal((1, 2, 9)), rng.standard_normal((2, 2, 3))
    close(ref.conv1d(x, w, None, (2,), 1, (2,)), ref.conv1d(x, w, None, 2, (1, 1), 2))
    close(ref.max_pool1d(x, (3,), (2,), (1,))[0], ref.max_pool1d(x, 3, 2, 1)[0])
    close(ref.avg_pool1d(x, (3,), None, (1,)), ref.avg_pool1d(x, 3, 3, 1))


def test_conv_transpose2d_is_adjoint_of_conv2d():
    """<conv2d(z, w), x> == <z, conv_transpose2d(x, w)> for matching geometry."""
    rng = rng_for("adjoint-convT")
    s, p, d, g = (2, 3), (1, 2), (2, 1), 2
    x = rng.standard_normal((2, 4, 4, 3))
    w = rng.standard_normal((4, 3, 3, 4))
    y = ref.conv_transpose2d(x, w, None, s, p, (1, 2), g, d)
    z = rng.standard_normal(y.shape)
    cz = ref.conv2d(z, w, None, s, ((p[0], p[0]), (p[1], p[1])), d, g)
    np.testing.assert_allclose(np.vdot(cz, x), np.vdot(z, y), rtol=1e-12)


# ---- pooling rules by hand -----------------------------------------------------------------------------

def test_pool_out_len():
    assert ref.pool_out_len(8, 3, 2, 0) == 3
    assert ref.pool_out_len(8, 3, 2, 0, ceil_mode=True) == 4
    # last window would start inside the right padding -> dropped
    assert ref.pool_out_len(5, 2, 2, 1, ceil_mode=True) == 3
    assert ref.pool_out_len(10, 3, 1, 1, d=2) == 8
    assert isinstance(ref.pool_out_len(7, 3, 2, 1, 1, True), int)


def test_max_pool2d_rules_by_hand():
    x = np.array([[[[1.0, 3.0, 3.0],
                    [np.nan, 2.0, np.nan],
                    [-np.inf, -np.inf, -np.inf]]]])
    # full-window pool: first NaN at 3, last NaN at 5 -> index 5
    y, i = ref.max_pool2d(x, (3, 3), (1, 1), (0, 0), (1, 1), False)
    assert np.isnan(y[0, 0, 0, 0]) and i[0, 0, 0, 0] == 5
    # row 0 only: tie between index 1 and 2 keeps the first
    y, i = ref.max_pool2d(x[:, :, :1], (1, 3), (1, 1), (0, 0), (1, 1), False)
    assert y[0, 0, 0, 0] == 3.0 and i[0, 0, 0, 0] == 1
    # all -inf row with padding: -inf at the first in-bounds position
    y, i = ref.max_pool2d(x[:, :, 2:], (1, 3), (1, 3), (0, 1), (1, 1), True)
    assert y[0, 0, 0, 0] == -np.inf and i[0, 0, 0, 0] == 0


def test_avg_pool2d_ceil_divisor_by_hand():
    """With ceil_mode the last window (rows 6..8, of which 8 is beyond H + pH = 8)
    divides by 2 rows even with count_include_pad=True."""
    x = np.ones((1, 1, 8, 1))
    y = ref.avg_pool2d(x, (3, 1), (2, 1), (0, 0), ceil_mode=True, count_include_pad=True)
    np.testing.assert_array_equal(y[0, 0, :, 0], [1.0, 1.0, 1.0, 1.0])
    # with padding the window [-1, 2) counts the pad row, the last [5, 8) is in bounds
    y = ref.avg_pool2d(x, (3, 1), (3, 1), (1, 0), ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(y[0, 0, :, 0], [2 / 3, 1.0, 1.0])


# ---- losses ---------------------------------------------------------------------------------------------

@needs_torch
def test_cross_entropy_all_ignored_mean_is_nan():
    x = np.zeros((3, 4))
    t = np.full(3, -100)
    assert np.isnan(ref.cross_entropy(x, t))
    assert np.isnan(TF.cross_entropy(tt(x), torch.from_numpy(t)).item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_correlation_loss_finite_difference(reduction):
    rng = rng_for("corr-fd", reduction)
    x = rng.standard_normal((3, 6))
    y = x + rng.standard_normal((3, 6))
    g = rng.standard_normal(3) if reduction == "none" else 1.3
    num = fd_grad(lambda a: np.sum(ref.correlation_loss(a, y, reduction) * g), x)
    np.testing.assert_allclose(ref.correlation_loss_backward(g, x, y, reduction), num,
                               rtol=1e-6, atol=1e-8)


def test_correlation_loss_sum_equals_mean():
    rng = rng_for("corr-sum")
    x, y = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    assert ref.correlation_loss(x, y, "sum") == ref.correlation_loss(x, y, "mean")
    np.testing.assert_array_equal(ref.correlation_loss_backward(1.0, x, y, "sum"),
                                  ref.correlation_loss_backward(1.0, x, y, "mean"))


# ---- a few randomised geometry sweeps against torch (hypothesis), kept small for speed ---------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


def _torch_conv2d(x, w, b, c):
    (t, bo), (left, right) = c["p"]
    return TF.conv2d(TF.pad(x, (left, right, t, bo)), w, b, stride=c["s"], dilation=c["d"], groups=c["g"])


@st.composite
def conv_geometry(draw):
    g = draw(st.sampled_from([1, 2, 3]))
    cig, cog = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = ((draw(st.integers(0, 2)), draw(st.integers(0, 2))),
         (draw(st.integers(0, 2)), draw(st.integers(0, 2))))
    H = draw(st.integers(d[0] * (k[0] - 1) + 1, 9))
    W = draw(st.integers(d[1] * (k[1] - 1) + 1, 9))
    seed = draw(st.integers(0, 2 ** 31))
    return dict(N=draw(st.integers(1, 2)), Ci=cig * g, Co=cog * g, H=H, W=W, k=k, s=s, p=p, d=d,
                g=g, seed=seed)


@needs_torch
@hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None)
@hypothesis.given(conv_geometry())
def test_conv2d_random_geometry(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["Ci"], c["H"], c["W"]))
    w = rng.standard_normal((c["Co"], c["Ci"] // c["g"]) + c["k"])
    b = rng.standard_normal(c["Co"])
    xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
    yt = _torch_conv2d(xt, wt, bt, c)
    kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
    y = ref.conv2d(x, w, b, **kw)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv2d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad)


@needs_torch
@hypothesis.settings(max_examples=40, deadline=None, derandomize=True, database=None)
@hypothesis.given(conv_geometry(), st.integers(0, 2), st.integers(0, 2))
def test_conv_transpose2d_random_geometry(c, oph, opw):
    s, d = c["s"], c["d"]
    op = (oph % max(s[0], d[0]), opw % max(s[1], d[1]))  # torch: op < stride or op < dilation
    p = (c["p"][0][0], c["p"][1][0])
    H, W = min(c["H"], 5), min(c["W"], 5)
    oh = (H - 1) * s[0] - 2 * p[0] + d[0] * (c["k"][0] - 1) + op[0] + 1
    ow = (W - 1) * s[1] - 2 * p[1] + d[1] * (c["k"][1] - 1) + op[1] + 1
    hypothesis.assume(oh > 0 and ow > 0)
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["Ci"], H, W))
    w = rng.standard_normal((c["Ci"], c["Co"] // c["g"]) + c["k"])
    b = rng.standard_normal(c["Co"])
    kw = dict(stride=s, padding=p, output_padding=op, groups=c["g"], dilation=d)
    xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
    yt = TF.conv_transpose2d(xt, wt, bt, **kw)
    y = ref.conv_transpose2d(x, w, b, **kw)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv_transpose2d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad)


@st.composite
def pool_geometry(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    d = draw(st.integers(1, 2))
    p = draw(st.integers(0, k // 2))  # torch: pad <= kernel_size / 2
    n = draw(st.integers(max(1, (k - 1) * d + 1 - 2 * p), 10))
    return k, s, p, d, n, draw(st.booleans())


@needs_torch
@hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None)
@hypothesis.given(pool_geometry(), pool_geometry(), st.integers(0, 2 ** 31))
def test_pools_random_geometry(gh, gw, seed):
    (kh, sh, ph, dh, H, ceil), (kw, sw, pw, dw, W, _) = gh, gw
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(1, 2, H, W)).astype(np.float64)
    x.reshape(-1)[rng.choice(x.size, x.size // 5, replace=False)] = np.nan
    y, idx = ref.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil)
    yt, it = TF.max_pool2d(tt(x), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode=ceil,
                          return_indices=True)
    close(y, yt, equal_nan=True)
    np.testing.assert_array_equal(idx, it.numpy())
    xr = rng.standard_normal((1, 2, H, W))
    for incl in (True, False):
        close(ref.avg_pool2d(xr, (kh, kw), (sh, sw), (ph, pw), ceil, incl),
              TF.avg_pool2d(tt(xr), (kh, kw), (sh, sw), (ph, pw), ceil, incl))
