"""Validate the NumPy reference (tests/reference.py) against PyTorch (float64).

Forward results are compared with torch.nn.functional, backward results with
torch.autograd (``out.backward(grad)``), all at rtol=1e-10, atol=1e-12.  The
few reference functions that torch has no counterpart for (symmetric padding,
wide pads, correlation loss) are checked against numpy.pad, adjoint identities
and central finite differences.
"""

import os
import sys
import zlib

import numpy as np
import pytest

try:  # tests/ may or may not be a package
    from . import reference as ref
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def close(actual, expected, **kw):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=ATOL,
                               **kw)


def tt(a, grad=False):
    """float64 torch tensor (a fresh leaf) from array ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def rng_for(*key):
    """Deterministic per-test generator (independent of PYTHONHASHSEED)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


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


def pid(**kw):
    """Readable parametrize id: pid(N=2, k=(3, 2), p=((1, 0), (2, 2)), ceil=True)
    -> 'N2-k3x2-p1,0x2,2-ceil' (False/None entries are left out)."""
    parts = []
    for k, v in kw.items():
        if isinstance(v, bool):
            if v:
                parts.append(k)
            continue
        if v is None:
            continue
        if isinstance(v, (tuple, list)):
            v = "x".join(",".join(map(str, e)) if isinstance(e, (tuple, list)) else str(e)
                         for e in v)
        parts.append(f"{k}{v}")
    return "-".join(parts)


def params(cases):
    """pytest.param list from dicts, with ids from ``pid``."""
    return [pytest.param(c, id=pid(**c)) for c in cases]


# --------------------------------------------------------------------------
# padding
# --------------------------------------------------------------------------

TORCH_PAD_CASES = [
    # shape, pad, mode
    ((2, 3, 5), (1, 2), "reflect"),
    ((2, 3, 5), (4, 4), "reflect"),
    ((2, 3, 5), (-1, 3), "reflect"),
    ((1, 2, 5, 6), (2, 1, 3, 1), "reflect"),
    ((1, 2, 5, 6), (0, 5, 4, 0), "reflect"),
    ((1, 2, 5, 6), (-2, 1, 2, -1), "reflect"),
    ((1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 2), "reflect"),
    ((2, 3, 5), (3, 1), "replicate"),
    ((2, 3, 5), (7, 9), "replicate"),
    ((1, 2, 5, 6), (2, 0, 1, 3), "replicate"),
    ((1, 2, 5, 6), (-1, 2, 3, -2), "replicate"),
    ((1, 2, 3, 4, 5), (2, 1, 0, 3, 4, 1), "replicate"),
    ((2, 3, 5), (2, 5), "circular"),
    ((2, 3, 5), (-2, 3), "circular"),
    ((1, 2, 5, 6), (1, 3, 5, 2), "circular"),
    ((1, 2, 5, 6), (3, -1, -2, 3), "circular"),  # torch needs pad <= cropped size
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 3, 3), "circular"),
    ((2, 3, 5), (2, 1), "constant"),
    ((1, 2, 5, 6), (1, 2, 0, 3), "constant"),
    ((1, 2, 5, 6), (-2, 3, 1, -3), "constant"),
    ((3, 4), (1, 2, 3, 4), "constant"),
    ((2, 3, 4), (1, 0, 0, 2, 2, 1), "constant"),
    ((2, 3, 4), (0, 0, 0, 0, -1, 1), "constant"),
    ((2, 3, 4), (9, -4), "constant"),
]


@pytest.mark.parametrize(
    "shape,padv,mode", TORCH_PAD_CASES,
    ids=[f"{m}-{'x'.join(map(str, s))}-pad{','.join(map(str, p))}" for s, p, m in TORCH_PAD_CASES])
def test_pad_vs_torch(shape, padv, mode):
    rng = rng_for("pad", shape, padv, mode)
    x = rng.standard_normal(shape)
    value = 1.5 if mode == "constant" else 0.0
    xt = tt(x, grad=True)
    yt = F.pad(xt, padv, mode=mode, value=value) if mode == "constant" else F.pad(xt, padv, mode=mode)
    y = ref.pad(x, padv, mode=mode, value=value)
    assert y.shape == tuple(yt.shape)
    close(y, yt)
    g = rng.standard_normal(y.shape)
    yt.backward(tt(g))
    close(ref.pad_backward(g, shape, padv, mode=mode), xt.grad)


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


# --------------------------------------------------------------------------
# conv2d / conv1d
# --------------------------------------------------------------------------

def _conv2d_case(N, Ci, Co, H, W, k, s=(1, 1), p=((0, 0), (0, 0)), d=(1, 1), g=1, bias=True):
    return dict(N=N, Ci=Ci, Co=Co, H=H, W=W, k=k, s=s, p=p, d=d, g=g, bias=bias)


CONV2D_CASES = [
    _conv2d_case(2, 3, 4, 12, 12, (3, 3), p=((1, 1), (1, 1))),
    _conv2d_case(2, 3, 4, 7, 7, (3, 3)),
    _conv2d_case(2, 3, 5, 7, 8, (3, 3), s=(2, 2), p=((1, 1), (1, 1))),
    _conv2d_case(1, 2, 3, 9, 10, (3, 2), s=(3, 2), p=((2, 0), (1, 3)), d=(2, 1)),
    _conv2d_case(2, 4, 6, 9, 7, (3, 3), s=(1, 3), p=((0, 2), (2, 1)), d=(2, 2), g=2),
    _conv2d_case(2, 4, 4, 8, 8, (3, 3), p=((2, 2), (2, 2)), d=(2, 2), g=4),
    _conv2d_case(1, 3, 6, 6, 7, (3, 3), s=(2, 1), p=((1, 0), (0, 1)), g=3),
    _conv2d_case(2, 3, 2, 5, 6, (1, 1), s=(2, 3), bias=False),
    _conv2d_case(1, 2, 3, 11, 9, (5, 4), s=(3, 3), p=((1, 2), (3, 0))),
    _conv2d_case(2, 2, 2, 4, 5, (4, 5)),
    _conv2d_case(1, 6, 4, 10, 10, (2, 3), s=(2, 2), p=((0, 1), (1, 0)), d=(3, 2), g=2, bias=False),
    _conv2d_case(3, 1, 1, 6, 6, (3, 3), s=(3, 3), p=((3, 3), (3, 3))),
]


def _torch_conv2d(x, w, b, c):
    (t, bo), (l, r) = c["p"]
    return F.conv2d(F.pad(x, (l, r, t, bo)), w, b, stride=c["s"], dilation=c["d"], groups=c["g"])


@pytest.mark.parametrize("c", params(CONV2D_CASES))
def test_conv2d(c):
    rng = rng_for("conv2d", sorted(c.items()))
    x = rng.standard_normal((c["N"], c["Ci"], c["H"], c["W"]))
    w = rng.standard_normal((c["Co"], c["Ci"] // c["g"]) + c["k"])
    b = rng.standard_normal(c["Co"]) if c["bias"] else None
    kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
    y = ref.conv2d(x, w, b, **kw)
    xt, wt = tt(x, True), tt(w, True)
    bt = tt(b, True) if b is not None else None
    yt = _torch_conv2d(xt, wt, bt, c)
    assert y.shape == tuple(yt.shape)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv2d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    if b is None:
        assert gb is None
    else:
        close(gb, bt.grad)


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


CONV1D_CASES = [
    dict(N=2, Ci=3, Co=4, L=12, k=3, s=1, p=(1, 1), d=1, g=1),
    dict(N=2, Ci=4, Co=6, L=11, k=3, s=2, p=(2, 0), d=2, g=2),
    dict(N=1, Ci=3, Co=3, L=9, k=4, s=3, p=(0, 3), d=1, g=3),
    dict(N=3, Ci=2, Co=5, L=7, k=1, s=2, p=(0, 0), d=1, g=1),
    dict(N=1, Ci=2, Co=2, L=10, k=3, s=1, p=(4, 1), d=3, g=1),
]


@pytest.mark.parametrize("c", params(CONV1D_CASES))
def test_conv1d(c):
    rng = rng_for("conv1d", sorted(c.items()))
    x = rng.standard_normal((c["N"], c["Ci"], c["L"]))
    w = rng.standard_normal((c["Co"], c["Ci"] // c["g"], c["k"]))
    b = rng.standard_normal(c["Co"])
    kw = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"])
    xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
    yt = F.conv1d(F.pad(xt, c["p"]), wt, bt, stride=c["s"], dilation=c["d"], groups=c["g"])
    y = ref.conv1d(x, w, b, **kw)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv1d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad)


def test_1d_ops_accept_one_tuples():
    rng = rng_for("one-tuples")
    x, w = rng.standard_normal((1, 2, 9)), rng.standard_normal((2, 2, 3))
    close(ref.conv1d(x, w, None, (2,), 1, (2,)), ref.conv1d(x, w, None, 2, (1, 1), 2))
    close(ref.max_pool1d(x, (3,), (2,), (1,))[0], ref.max_pool1d(x, 3, 2, 1)[0])
    close(ref.avg_pool1d(x, (3,), None, (1,)), ref.avg_pool1d(x, 3, 3, 1))


# --------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------

CONVT2D_CASES = [
    dict(N=2, Ci=3, Co=4, H=5, W=5, k=(3, 3), s=(1, 1), p=(0, 0), op=(0, 0), d=(1, 1), g=1),
    dict(N=2, Ci=3, Co=2, H=4, W=5, k=(3, 3), s=(2, 2), p=(1, 1), op=(1, 0), d=(1, 1), g=1),
    dict(N=1, Ci=4, Co=6, H=3, W=4, k=(3, 2), s=(3, 2), p=(2, 0), op=(2, 1), d=(1, 2), g=2),
    dict(N=2, Ci=4, Co=4, H=5, W=4, k=(3, 3), s=(1, 2), p=(1, 2), op=(1, 1), d=(2, 2), g=4),
    dict(N=1, Ci=2, Co=3, H=6, W=6, k=(4, 4), s=(2, 2), p=(1, 1), op=(0, 0), d=(1, 1), g=1),
    dict(N=2, Ci=3, Co=3, H=3, W=3, k=(1, 1), s=(3, 3), p=(0, 0), op=(2, 0), d=(1, 1), g=1,
         bias=False),
    dict(N=1, Ci=6, Co=2, H=4, W=3, k=(2, 3), s=(2, 3), p=(0, 1), op=(1, 2), d=(2, 1), g=2),
]


@pytest.mark.parametrize("c", params(CONVT2D_CASES))
def test_conv_transpose2d(c):
    rng = rng_for("convT2d", sorted(c.items()))
    x = rng.standard_normal((c["N"], c["Ci"], c["H"], c["W"]))
    w = rng.standard_normal((c["Ci"], c["Co"] // c["g"]) + c["k"])
    b = None if c.get("bias") is False else rng.standard_normal(c["Co"])
    kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
              dilation=c["d"])
    xt, wt = tt(x, True), tt(w, True)
    bt = tt(b, True) if b is not None else None
    yt = F.conv_transpose2d(xt, wt, bt, **kw)
    y = ref.conv_transpose2d(x, w, b, **kw)
    assert y.shape == tuple(yt.shape)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv_transpose2d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    if b is None:
        assert gb is None
    else:
        close(gb, bt.grad)


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


CONVT1D_CASES = [
    dict(N=2, Ci=3, Co=4, L=6, k=3, s=1, p=0, op=0, d=1, g=1),
    dict(N=2, Ci=4, Co=2, L=5, k=3, s=2, p=1, op=1, d=2, g=2),
    dict(N=1, Ci=3, Co=6, L=4, k=4, s=3, p=2, op=2, d=1, g=3),
]


@pytest.mark.parametrize("c", params(CONVT1D_CASES))
def test_conv_transpose1d(c):
    rng = rng_for("convT1d", sorted(c.items()))
    x = rng.standard_normal((c["N"], c["Ci"], c["L"]))
    w = rng.standard_normal((c["Ci"], c["Co"] // c["g"], c["k"]))
    b = rng.standard_normal(c["Co"])
    kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
              dilation=c["d"])
    xt, wt, bt = tt(x, True), tt(w, True), tt(b, True)
    yt = F.conv_transpose1d(xt, wt, bt, **kw)
    y = ref.conv_transpose1d(x, w, b, **kw)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.conv_transpose1d_backward(gy, x, w, b, **kw)
    close(gx, xt.grad)
    close(gw, wt.grad)
    close(gb, bt.grad)


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

def test_pool_out_len():
    assert ref.pool_out_len(8, 3, 2, 0) == 3
    assert ref.pool_out_len(8, 3, 2, 0, ceil_mode=True) == 4
    # last window would start inside the right padding -> dropped
    assert ref.pool_out_len(5, 2, 2, 1, ceil_mode=True) == 3
    assert ref.pool_out_len(10, 3, 1, 1, d=2) == 8
    assert isinstance(ref.pool_out_len(7, 3, 2, 1, 1, True), int)


MAXPOOL2D_CASES = [
    dict(N=2, C=3, H=12, W=12, k=(3, 3), s=(2, 2), p=(1, 1), d=(1, 1), ceil=False),
    dict(N=2, C=3, H=8, W=8, k=(3, 3), s=(2, 2), p=(0, 0), d=(1, 1), ceil=True),
    dict(N=1, C=2, H=7, W=9, k=(2, 3), s=(3, 2), p=(1, 1), d=(1, 1), ceil=True),
    dict(N=1, C=2, H=5, W=5, k=(2, 2), s=(2, 2), p=(1, 1), d=(1, 1), ceil=True),
    dict(N=2, C=2, H=9, W=10, k=(3, 3), s=(1, 2), p=(1, 0), d=(2, 2), ceil=False),
    dict(N=1, C=3, H=10, W=9, k=(3, 2), s=(3, 3), p=(1, 1), d=(2, 3), ceil=True),
    dict(N=2, C=1, H=6, W=6, k=(2, 2), s=(2, 2), p=(0, 0), d=(1, 1), ceil=False),
    dict(N=1, C=2, H=11, W=6, k=(4, 3), s=(3, 1), p=(2, 1), d=(1, 1), ceil=True),
    dict(N=1, C=1, H=4, W=4, k=(4, 4), s=(1, 1), p=(0, 0), d=(1, 1), ceil=False),
]


def _pool_input(rng, shape, kind):
    if kind == "randn":
        return rng.standard_normal(shape)
    if kind == "ties":  # lots of exact ties
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    if kind == "nan-inf":
        x = rng.integers(-3, 4, size=shape).astype(np.float64)
        flat = x.reshape(-1)
        m = flat.size
        flat[rng.choice(m, m // 6, replace=False)] = np.nan
        flat[rng.choice(m, m // 4, replace=False)] = -np.inf
        x[0, 0] = -np.inf  # a whole plane of -inf
        if shape[1] > 1:
            x[0, 1] = np.nan  # a whole plane of NaN
        return x
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["randn", "ties", "nan-inf"])
@pytest.mark.parametrize("c", params(MAXPOOL2D_CASES))
def test_max_pool2d(c, kind):
    rng = rng_for("maxpool2d", sorted(c.items()), kind)
    shape = (c["N"], c["C"], c["H"], c["W"])
    x = _pool_input(rng, shape, kind)
    y, idx = ref.max_pool2d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
    xt = tt(x, True)
    yt, it = F.max_pool2d(xt, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"],
                          return_indices=True)
    assert y.shape == tuple(yt.shape)
    assert idx.dtype == np.int64
    close(y, yt, equal_nan=True)
    np.testing.assert_array_equal(idx, it.numpy())
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.max_pool2d_backward(gy, shape, idx), xt.grad)


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


MAXPOOL1D_CASES = [
    dict(N=2, C=3, L=12, k=3, s=2, p=1, d=1, ceil=False),
    dict(N=1, C=2, L=8, k=3, s=2, p=0, d=1, ceil=True),
    dict(N=2, C=2, L=11, k=3, s=3, p=1, d=2, ceil=True),
    dict(N=1, C=1, L=5, k=2, s=2, p=1, d=1, ceil=True),
]


@pytest.mark.parametrize("kind", ["randn", "nan-inf"])
@pytest.mark.parametrize("c", params(MAXPOOL1D_CASES))
def test_max_pool1d(c, kind):
    rng = rng_for("maxpool1d", sorted(c.items()), kind)
    shape = (c["N"], c["C"], c["L"])
    x = _pool_input(rng, shape, kind)
    y, idx = ref.max_pool1d(x, c["k"], c["s"], c["p"], c["d"], c["ceil"])
    xt = tt(x, True)
    yt, it = F.max_pool1d(xt, c["k"], c["s"], c["p"], c["d"], ceil_mode=c["ceil"],
                          return_indices=True)
    close(y, yt, equal_nan=True)
    np.testing.assert_array_equal(idx, it.numpy())
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.max_pool1d_backward(gy, shape, idx), xt.grad)


AVGPOOL2D_CASES = [
    dict(N=2, C=3, H=12, W=12, k=(3, 3), s=(2, 2), p=(1, 1), ceil=False),
    dict(N=2, C=2, H=8, W=8, k=(3, 3), s=(2, 2), p=(0, 0), ceil=True),
    dict(N=1, C=2, H=7, W=9, k=(2, 3), s=(3, 2), p=(1, 1), ceil=True),
    dict(N=1, C=2, H=5, W=5, k=(2, 2), s=(2, 2), p=(1, 1), ceil=True),
    dict(N=2, C=1, H=9, W=10, k=(4, 3), s=(3, 3), p=(2, 1), ceil=True),
    dict(N=1, C=3, H=6, W=7, k=(3, 2), s=(1, 2), p=(1, 0), ceil=False),
    dict(N=1, C=1, H=11, W=6, k=(5, 3), s=(3, 1), p=(2, 1), ceil=True),
    dict(N=2, C=2, H=4, W=4, k=(2, 2), s=(2, 2), p=(0, 0), ceil=False),
]


@pytest.mark.parametrize("divisor", [None, 5])
@pytest.mark.parametrize("include_pad", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("c", params(AVGPOOL2D_CASES))
def test_avg_pool2d(c, include_pad, divisor):
    rng = rng_for("avgpool2d", sorted(c.items()), include_pad, divisor)
    shape = (c["N"], c["C"], c["H"], c["W"])
    x = rng.standard_normal(shape)
    kw = dict(ceil_mode=c["ceil"], count_include_pad=include_pad, divisor_override=divisor)
    y = ref.avg_pool2d(x, c["k"], c["s"], c["p"], **kw)
    xt = tt(x, True)
    yt = F.avg_pool2d(xt, c["k"], c["s"], c["p"], **kw)
    assert y.shape == tuple(yt.shape)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.avg_pool2d_backward(gy, shape, c["k"], c["s"], c["p"], **kw), xt.grad)


def test_avg_pool2d_ceil_divisor_by_hand():
    """With ceil_mode the last window (rows 6..8, of which 8 is beyond H + pH = 8)
    divides by 2 rows even with count_include_pad=True."""
    x = np.ones((1, 1, 8, 1))
    y = ref.avg_pool2d(x, (3, 1), (2, 1), (0, 0), ceil_mode=True, count_include_pad=True)
    np.testing.assert_array_equal(y[0, 0, :, 0], [1.0, 1.0, 1.0, 1.0])
    # with padding the window [-1, 2) counts the pad row, the last [5, 8) is in bounds
    y = ref.avg_pool2d(x, (3, 1), (3, 1), (1, 0), ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(y[0, 0, :, 0], [2 / 3, 1.0, 1.0])


AVGPOOL1D_CASES = [
    dict(N=2, C=3, L=12, k=3, s=2, p=1, ceil=False),
    dict(N=1, C=2, L=8, k=3, s=2, p=0, ceil=True),
    dict(N=2, C=2, L=11, k=4, s=3, p=2, ceil=True),
    dict(N=1, C=1, L=5, k=2, s=2, p=1, ceil=True),
]


@pytest.mark.parametrize("include_pad", [True, False], ids=["incl_pad", "excl_pad"])
@pytest.mark.parametrize("c", params(AVGPOOL1D_CASES))
def test_avg_pool1d(c, include_pad):
    rng = rng_for("avgpool1d", sorted(c.items()), include_pad)
    shape = (c["N"], c["C"], c["L"])
    x = rng.standard_normal(shape)
    y = ref.avg_pool1d(x, c["k"], c["s"], c["p"], c["ceil"], include_pad)
    xt = tt(x, True)
    yt = F.avg_pool1d(xt, c["k"], c["s"], c["p"], c["ceil"], include_pad)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.avg_pool1d_backward(gy, shape, c["k"], c["s"], c["p"], c["ceil"], include_pad),
          xt.grad)


ADAPTIVE_CASES = [
    dict(N=2, C=3, H=12, W=12, out=(3, 3)),
    dict(N=1, C=2, H=7, W=10, out=(3, 4)),
    dict(N=2, C=2, H=5, W=5, out=(5, 5)),
    dict(N=1, C=2, H=4, W=3, out=(7, 5)),
    dict(N=1, C=1, H=9, W=8, out=(1, 1)),
    dict(N=1, C=2, H=6, W=11, out=(4, 2)),
]


@pytest.mark.parametrize("c", params(ADAPTIVE_CASES))
def test_adaptive_avg_pool2d(c):
    rng = rng_for("aavg", sorted(c.items()))
    shape = (c["N"], c["C"], c["H"], c["W"])
    x = rng.standard_normal(shape)
    xt = tt(x, True)
    yt = F.adaptive_avg_pool2d(xt, c["out"])
    y = ref.adaptive_avg_pool2d(x, c["out"])
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.adaptive_avg_pool2d_backward(gy, shape), xt.grad)


@pytest.mark.parametrize("kind", ["randn", "ties", "nan-inf"])
@pytest.mark.parametrize("c", params(ADAPTIVE_CASES))
def test_adaptive_max_pool2d(c, kind):
    rng = rng_for("amax", sorted(c.items()), kind)
    shape = (c["N"], c["C"], c["H"], c["W"])
    x = _pool_input(rng, shape, kind)
    xt = tt(x, True)
    yt, it = F.adaptive_max_pool2d(xt, c["out"], return_indices=True)
    y, idx = ref.adaptive_max_pool2d(x, c["out"])
    close(y, yt, equal_nan=True)
    np.testing.assert_array_equal(idx, it.numpy())
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.adaptive_max_pool2d_backward(gy, shape, idx), xt.grad)


def test_adaptive_pool_none_output():
    x = rng_for("none-out").standard_normal((1, 2, 5, 6))
    close(ref.adaptive_avg_pool2d(x, (None, 3)), F.adaptive_avg_pool2d(tt(x), (None, 3)))


UNPOOL_CASES = [
    dict(N=2, C=3, H=8, W=8, k=(2, 2), s=(2, 2), p=(0, 0), out=(8, 8)),
    dict(N=1, C=2, H=7, W=9, k=(3, 3), s=(3, 3), p=(1, 1), out=(8, 9)),
    dict(N=1, C=2, H=9, W=6, k=(3, 2), s=(3, 2), p=(0, 0), out=(10, 7)),
]


@pytest.mark.parametrize("c", params(UNPOOL_CASES))
def test_max_unpool2d(c):
    rng = rng_for("unpool", sorted(c.items()))
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    pooled, idx = ref.max_pool2d(x, c["k"], c["s"], c["p"], (1, 1), False)
    v = rng.standard_normal(pooled.shape)
    vt = tt(v, True)
    yt = F.max_unpool2d(vt, torch.from_numpy(idx), c["k"], c["s"], c["p"], output_size=c["out"])
    y = ref.max_unpool2d(v, idx, c["out"])
    assert y.shape == tuple(yt.shape)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    close(ref.max_unpool2d_backward(gy, idx), vt.grad)


# --------------------------------------------------------------------------
# dense / elementwise
# --------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("xshape", [(5, 4), (2, 3, 4), (4,)], ids=["2d", "3d", "1d"])
def test_linear(xshape, bias):
    rng = rng_for("linear", xshape, bias)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((3, 4))
    b = rng.standard_normal(3) if bias else None
    xt, wt = tt(x, True), tt(w, True)
    bt = tt(b, True) if bias else None
    yt = F.linear(xt, wt, bt)
    y = ref.linear(x, w, b)
    close(y, yt)
    gy = rng.standard_normal(y.shape)
    yt.backward(tt(gy))
    gx, gw, gb = ref.linear_backward(gy, x, w, b)
    close(gx, xt.grad)
    close(gw, wt.grad)
    if bias:
        close(gb, bt.grad)
    else:
        assert gb is None


def _act_input(rng):
    x = rng.standard_normal((3, 4, 5)) * 3
    x.flat[:8] = [0.0, -0.0, 50.0, -50.0, 700.0, -700.0, 1e-8, -1e-8]
    return x


ACTIVATIONS = {
    "relu": (ref.relu, ref.relu_backward, lambda t: F.relu(t), {}),
    "leaky_relu-0.01": (ref.leaky_relu, ref.leaky_relu_backward,
                        lambda t: F.leaky_relu(t), {}),
    "leaky_relu-0.2": (ref.leaky_relu, ref.leaky_relu_backward,
                       lambda t: F.leaky_relu(t, 0.2), {"negative_slope": 0.2}),
    "sigmoid": (ref.sigmoid, ref.sigmoid_backward, torch.sigmoid, {}),
    "tanh": (ref.tanh, ref.tanh_backward, torch.tanh, {}),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation(name):
    fwd, bwd, tfn, kw = ACTIVATIONS[name]
    rng = rng_for("act", name)
    x = _act_input(rng)
    xt = tt(x, True)
    yt = tfn(xt)
    close(fwd(x, **kw), yt)
    gy = rng.standard_normal(x.shape)
    yt.backward(tt(gy))
    close(bwd(gy, x, **kw), xt.grad)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax(log, dim):
    rng = rng_for("softmax", log, dim)
    x = rng.standard_normal((3, 4, 5)) * 4
    x[0, 0, :] += 1000.0  # stability
    x[1, :, 0] -= 1000.0
    xt = tt(x, True)
    yt = F.log_softmax(xt, dim) if log else F.softmax(xt, dim)
    fwd, bwd = (ref.log_softmax, ref.log_softmax_backward) if log else (ref.softmax,
                                                                        ref.softmax_backward)
    close(fwd(x, dim), yt)
    gy = rng.standard_normal(x.shape)
    yt.backward(tt(gy))
    close(bwd(gy, x, dim), xt.grad)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.75, 1.0])
def test_dropout(p):
    torch.manual_seed(7)
    rng = rng_for("dropout", p)
    x = rng.standard_normal((4, 50)) + 5.0  # nonzero, so the mask is recoverable
    xt = tt(x, True)
    yt = F.dropout(xt, p, training=True)
    mask = (yt.detach().numpy() != 0).astype(np.float64)
    close(ref.dropout_apply(x, mask, p), yt)
    gy = rng.standard_normal(x.shape)
    yt.backward(tt(gy))
    close(ref.dropout_apply_backward(gy, mask, p), xt.grad)


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------

REDUCTIONS = ["mean", "sum", "none"]


def _loss_check(ref_fwd, ref_bwd, torch_fwd, inp, target, reduction, rng, **kw):
    xt = tt(inp, True)
    lt = torch_fwd(xt, reduction=reduction)
    loss = ref_fwd(inp, target, reduction=reduction, **kw)
    assert np.shape(loss) == tuple(lt.shape)
    close(loss, lt)
    g = rng.standard_normal(np.shape(loss)) if reduction == "none" else 0.7
    lt.backward(tt(g))
    close(ref_bwd(g, inp, target, reduction=reduction, **kw), xt.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    rng = rng_for("mse", reduction)
    x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    _loss_check(ref.mse_loss, ref.mse_loss_backward,
                lambda t, reduction: F.mse_loss(t, tt(y), reduction=reduction), x, y, reduction,
                rng)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss(reduction):
    rng = rng_for("l1", reduction)
    x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    y.flat[:5] = x.flat[:5]  # zero differences -> zero gradient
    _loss_check(ref.l1_loss, ref.l1_loss_backward,
                lambda t, reduction: F.l1_loss(t, tt(y), reduction=reduction), x, y, reduction,
                rng)


@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction, weighted):
    rng = rng_for("bce", reduction, weighted)
    x = rng.uniform(0.01, 0.99, (4, 6))
    t = rng.uniform(0, 1, (4, 6))
    t[0, :3] = [0.0, 1.0, 0.5]
    x[1, :4] = [0.0, 1.0, 0.0, 1.0]  # exercises the -100 clamp / 1e-12 epsilon
    t[1, :4] = [0.0, 1.0, 0.3, 0.6]
    x[2, :2] = [1e-50, 1 - 1e-16]
    w = rng.uniform(0.5, 2.0, (6,)) if weighted else None
    wt = tt(w) if weighted else None
    _loss_check(ref.binary_cross_entropy, ref.binary_cross_entropy_backward,
                lambda a, reduction: F.binary_cross_entropy(a, tt(t), weight=wt,
                                                            reduction=reduction),
                x, t, reduction, rng, weight=w)


@pytest.mark.parametrize("pos_weight", [False, True], ids=["nopw", "pos_weight"])
@pytest.mark.parametrize("weighted", [False, True], ids=["noweight", "weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits(reduction, weighted, pos_weight):
    rng = rng_for("bcel", reduction, weighted, pos_weight)
    x = rng.standard_normal((4, 6)) * 4
    x[0, :4] = [50.0, -50.0, 800.0, -800.0]
    t = rng.uniform(0, 1, (4, 6))
    t[1, :2] = [0.0, 1.0]
    w = rng.uniform(0.5, 2.0, (4, 1)) if weighted else None
    pw = rng.uniform(0.5, 3.0, (6,)) if pos_weight else None
    wt = tt(w) if weighted else None
    pwt = tt(pw) if pos_weight else None
    _loss_check(ref.binary_cross_entropy_with_logits,
                ref.binary_cross_entropy_with_logits_backward,
                lambda a, reduction: F.binary_cross_entropy_with_logits(
                    a, tt(t), weight=wt, pos_weight=pwt, reduction=reduction),
                x, t, reduction, rng, weight=w, pos_weight=pw)


CE_CASES = [
    dict(shape=(5, 4), weight=False, ignore=-100, ls=0.0),
    dict(shape=(5, 4), weight=True, ignore=-100, ls=0.0),
    dict(shape=(6, 4), weight=False, ignore=-100, ls=0.1, has_ignored=True),
    dict(shape=(6, 4), weight=True, ignore=-100, ls=0.3, has_ignored=True),
    dict(shape=(6, 5), weight=True, ignore=2, ls=0.0),
    dict(shape=(6, 5), weight=True, ignore=2, ls=0.2),
    dict(shape=(2, 3, 4, 5), weight=False, ignore=-100, ls=0.0),
    dict(shape=(2, 3, 4, 5), weight=True, ignore=1, ls=0.15),
    dict(shape=(2, 4, 3), weight=True, ignore=-100, ls=0.25, has_ignored=True),
    dict(shape=(5,), weight=False, ignore=-100, ls=0.0),
    dict(shape=(5,), weight=True, ignore=-100, ls=0.4),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("c", params(CE_CASES))
def test_cross_entropy(c, reduction):
    rng = rng_for("ce", sorted(c.items()), reduction)
    shape = c["shape"]
    C = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    x = rng.standard_normal(shape) * 3
    target = rng.integers(0, C, size=tshape).astype(np.int64)
    if c.get("has_ignored"):
        target.reshape(-1)[:2] = c["ignore"]
    w = rng.uniform(0.2, 2.0, C) if c["weight"] else None
    kw = dict(weight=w, ignore_index=c["ignore"], label_smoothing=c["ls"])
    wt = tt(w) if c["weight"] else None
    _loss_check(ref.cross_entropy, ref.cross_entropy_backward,
                lambda a, reduction: F.cross_entropy(
                    a, torch.from_numpy(target), weight=wt, ignore_index=c["ignore"],
                    label_smoothing=c["ls"], reduction=reduction),
                x, target, reduction, rng, **kw)


def test_cross_entropy_all_ignored_mean_is_nan():
    x = np.zeros((3, 4))
    t = np.full(3, -100)
    assert np.isnan(ref.cross_entropy(x, t))
    assert np.isnan(F.cross_entropy(tt(x), torch.from_numpy(t)).item())


def _torch_corr_loss(x, y, reduction):
    if reduction == "none":
        x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    else:
        x, y = x.reshape(1, -1), y.reshape(1, -1)
    xc = x - x.mean(dim=1, keepdim=True)
    yc = y - y.mean(dim=1, keepdim=True)
    r = (xc * yc).sum(1) / torch.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    return 1 - r if reduction == "none" else 1 - r[0]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 7), (3, 2, 5)], ids=["4x7", "3x2x5"])
def test_correlation_loss(shape, reduction):
    rng = rng_for("corr", shape, reduction)
    x = rng.standard_normal(shape)
    y = 0.6 * x + rng.standard_normal(shape)
    _loss_check(ref.correlation_loss, ref.correlation_loss_backward,
                lambda a, reduction: _torch_corr_loss(a, tt(y), reduction), x, y, reduction, rng)
    # independent value check with numpy.corrcoef
    if reduction == "none":
        expected = [1 - np.corrcoef(x[i].ravel(), y[i].ravel())[0, 1] for i in range(shape[0])]
    else:
        expected = 1 - np.corrcoef(x.ravel(), y.ravel())[0, 1]
    close(ref.correlation_loss(x, y, reduction), expected)


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


# --------------------------------------------------------------------------
# a few randomised geometry sweeps (hypothesis), kept small for speed
# --------------------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


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
    yt = F.conv_transpose2d(xt, wt, bt, **kw)
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


@hypothesis.settings(max_examples=60, deadline=None, derandomize=True, database=None)
@hypothesis.given(pool_geometry(), pool_geometry(), st.integers(0, 2 ** 31))
def test_pools_random_geometry(gh, gw, seed):
    (kh, sh, ph, dh, H, ceil), (kw, sw, pw, dw, W, _) = gh, gw
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(1, 2, H, W)).astype(np.float64)
    x.reshape(-1)[rng.choice(x.size, x.size // 5, replace=False)] = np.nan
    y, idx = ref.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil)
    yt, it = F.max_pool2d(tt(x), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode=ceil,
                          return_indices=True)
    close(y, yt, equal_nan=True)
    np.testing.assert_array_equal(idx, it.numpy())
    xr = rng.standard_normal((1, 2, H, W))
    for incl in (True, False):
        close(ref.avg_pool2d(xr, (kh, kw), (sh, sw), (ph, pw), ceil, incl),
              F.avg_pool2d(tt(xr), (kh, kw), (sh, sw), (ph, pw), ceil, incl))
