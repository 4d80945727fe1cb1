"""Every op of cnnpy.functional, forward AND backward, against PyTorch (CPU), in float32 and float64.

The reference is always PyTorch computing in float64 on the very same input values (a float32
input is widened exactly), with gradients from torch autograd (leaf tensors with
``requires_grad``, then ``out.backward(grad_output)``). So the float64 comparison is
implementation against implementation, and the float32 comparison measures cnnpy's own float32
rounding only, not PyTorch's.

Tolerances: float64 rtol=1e-10, atol=1e-10; float32 rtol=1e-4, atol=1e-5 * sqrt(L), L the longest
sum that feeds one output or gradient element (a sum of L rounded terms of size ~1 is off by about
sqrt(L) units in the last place). Integer outputs (max-pooling indices) and selections (max, pad,
unpool, dropout masks) are compared exactly where exactness is meaningful.

Skips cleanly without torch. Inputs come from numpy Generators seeded by the test's parameters.
"""
import math
import warnings
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnpy.functional as F  # noqa: E402

TF = torch.nn.functional
nn = torch.nn
T64 = torch.float64

DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]
REDUCTIONS = ["mean", "sum", "none"]


# ---- helpers ---------------------------------------------------------------------------------------

def rng_for(*key):
    """A generator seeded from the test's own parameters (independent of PYTHONHASHSEED)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def tolerances(dtype, scale=1.0):
    if np.dtype(dtype) == np.float64:
        return 1e-10, 1e-10
    return 1e-4, 1e-5 * max(1.0, scale)


def assert_close(actual, expected, dtype, scale=1.0, equal_nan=False, what=""):
    actual = np.asarray(actual)
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    rtol, atol = tolerances(dtype, scale)
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol,
                               atol=atol, equal_nan=equal_nan, err_msg=what)


def leaf(a, grad=True):
    """A float64 leaf tensor (requires_grad) for a float array, an int64 tensor for an int array."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.dtype.kind in "biu":
        return torch.from_numpy(a.astype(np.int64))
    return torch.tensor(a, dtype=T64, requires_grad=grad)


def grad_for(shape, dtype, rng):
    return np.asarray(rng.standard_normal(shape)).astype(dtype)


def check(op, arrays, kwargs, torch_fn, dtype, rng, scale=1.0, const=(), equal_nan=False):
    """F.<op>(*arrays, **kwargs) and F.<op>_backward(g, *arrays, **kwargs) against
    torch_fn(*tensors) and its autograd. Float arrays become float64 leaves that require grad
    (except the indices in `const`, which cnnpy treats as constants and answers None for, as it
    does for None and integer arrays). `scale` may be a number or a function of the output."""
    y = getattr(F, op)(*arrays, **kwargs)
    if callable(scale):
        scale = scale(np.asarray(y))
    tensors = [leaf(a, grad=i not in const) for i, a in enumerate(arrays)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about broadcasting in mse/l1
        yt = torch_fn(*tensors)
    assert np.asarray(y).dtype == dtype, f"{op}: output dtype {np.asarray(y).dtype}, expected {dtype}"
    assert_close(y, yt, dtype, scale, equal_nan, f"{op} forward")
    g = grad_for(np.shape(y), dtype, rng)
    grads = getattr(F, op + "_backward")(g, *arrays, **kwargs)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if yt.requires_grad:
        yt.backward(torch.from_numpy(g.astype(np.float64)))
    for i, t in enumerate(tensors):
        gi = grads[i] if i < len(grads) else None
        if t is None or not t.requires_grad:
            assert gi is None, f"{op}_backward: gradient of argument {i} should be None"
            continue
        assert gi is not None, f"{op}_backward: gradient of argument {i} is missing"
        assert gi.dtype == dtype, f"{op}_backward: gradient {i} dtype {gi.dtype}, expected {dtype}"
        expected = t.grad if t.grad is not None else torch.zeros_like(t)
        assert_close(gi, expected, dtype, scale, equal_nan, f"{op} gradient of argument {i}")
    assert all(extra is None for extra in grads[len(tensors):])
    return y


def fmt(v):
    """A parameter as id text: 3 -> '3', (2, 1) -> '2x1', ((1, 0), (2, 1)) -> '1.0x2.1'."""
    if isinstance(v, (tuple, list)):
        if v and all(isinstance(e, (tuple, list)) for e in v):
            return "x".join(".".join(map(str, e)) for e in v)
        return "x".join(map(str, v))
    return str(v)


def normal(shape, dtype, rng, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---- conv1d / conv2d -------------------------------------------------------------------------------

def conv_case(dims, n=2, ci=3, co=4, size=7, k=3, s=1, p=0, d=1, g=1, bias=True, mode="zeros",
              form="batched", flip=False):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    k = (k,) * dims if isinstance(k, int) else tuple(k)
    c = dict(dims=dims, n=n, ci=ci, co=co, size=size, k=k, s=s, p=p, d=d, g=g, bias=bias, mode=mode,
             form=form, flip=flip)
    ident = (("" if n is None else f"N{n}-") + f"Ci{ci}-Co{co}-{'L' if dims == 1 else 'HW'}{fmt(size)}"
             f"-k{fmt(k)}-s{fmt(s)}-p{fmt(p)}-d{fmt(d)}-g{g}" + ("-bias" if bias else "")
             + ("" if mode == "zeros" else f"-{mode}")
             + ("" if form == "batched" else f"-{form}") + ("-flip" if flip else ""))
    return pytest.param(c, id=ident)


CONV2D_CASES = [
    conv_case(2, n=2, ci=3, co=4, size=7, k=3, bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 8), k=3, s=2, p=1),
    conv_case(2, n=1, ci=4, co=6, size=(9, 10), k=(3, 2), s=(2, 1), p=(1, 0), d=(2, 1), g=2),
    conv_case(2, n=2, ci=4, co=4, size=8, k=3, p=1, g=4, bias=False),          # depthwise
    conv_case(2, n=2, ci=3, co=6, size=(8, 9), k=3, s=2, p=1, g=3),            # depthwise x2
    conv_case(2, n=2, ci=16, co=8, size=(6, 7), k=1),                          # pointwise
    conv_case(2, n=1, ci=12, co=10, size=(12, 11), k=3, s=2, p=1, d=2),        # long reduction
    conv_case(2, n=2, ci=2, co=3, size=(10, 12), k=(5, 4), s=(3, 2), p=(2, 0), d=(1, 2)),
    conv_case(2, n=2, ci=1, co=3, size=4, k=4),                                # 1x1 output
    conv_case(2, n=0, ci=3, co=4, size=5, k=3, p=1),                           # empty batch
    conv_case(2, n=2, ci=3, co=2, size=(7, 8), k=3, p=((1, 0), (2, 1))),       # explicit pairs
    conv_case(2, n=1, ci=2, co=2, size=(6, 9), k=(2, 3), s=(1, 2), p=((0, 1), (1, 0)), bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=3, p="same"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 6), k=4, p="same", bias=False),     # even kernel
    conv_case(2, n=1, ci=2, co=2, size=(9, 8), k=(2, 3), p="same", d=2),       # odd total pad
    conv_case(2, n=2, ci=4, co=2, size=(8, 7), k=(3, 5), p="same", d=(2, 1), g=2),
    conv_case(2, n=2, ci=3, co=4, size=(7, 8), k=3, s=2, p="valid"),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=1, mode="reflect"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=5, s=2, p=2, mode="reflect", bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=(1, 2), mode="replicate"),
    conv_case(2, n=1, ci=4, co=4, size=(6, 5), k=3, s=2, p=(2, 1), d=(1, 2), g=2, mode="replicate"),
    conv_case(2, n=2, ci=3, co=4, size=(6, 7), k=3, p=(2, 1), mode="circular"),
    conv_case(2, n=2, ci=2, co=2, size=(5, 6), k=(5, 3), p=(4, 1), mode="circular", g=2),  # pad = k-1
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=3, p="same", mode="reflect"),
    conv_case(2, n=1, ci=2, co=2, size=(7, 6), k=4, p="same", mode="circular"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=3, p=((2, 0), (1, 2)), mode="reflect"),
    conv_case(2, n=2, ci=2, co=3, size=(7, 8), k=3, p=((0, 2), (2, 1)), mode="circular"),
    conv_case(2, n=None, ci=3, co=4, size=(7, 6), k=3, s=2, p=1, form="unbatched"),
    conv_case(2, n=None, ci=3, co=4, size=(7, 6), k=3, p=1, mode="reflect", form="unbatched"),
    conv_case(2, n=None, ci=2, co=4, size=(7, 6), k=3, p="same", g=2, form="unbatched", bias=False),
    conv_case(2, n=None, ci=1, co=1, size=(7, 6), k=3, p=1, form="bare", bias=False),
    conv_case(2, n=2, ci=3, co=4, size=(7, 6), k=(3, 2), p=1, flip=True),
    # the engine's GEMM path (reduction > 64), crossing its packing blocks (K 256, M 128, N 2048)
    # and im2col tiles; the 1x1 stride-1 case reads the image itself as the column matrix
    conv_case(2, n=2, ci=30, co=130, size=(46, 47), k=3, p=1),
    conv_case(2, n=2, ci=40, co=12, size=(25, 30), k=(3, 5), s=2, p=(2, 3), d=2, g=2),
    conv_case(2, n=2, ci=80, co=20, size=(20, 21), k=1),
    conv_case(2, n=1, ci=70, co=6, size=(9, 9), k=1, s=2, bias=False),
    conv_case(2, n=1, ci=9, co=5, size=(40, 41), k=3, p=1, mode="reflect"),
]

CONV1D_CASES = [
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, bias=False),
    conv_case(1, n=2, ci=3, co=5, size=10, k=4, s=2, p=1),
    conv_case(1, n=2, ci=4, co=6, size=13, k=3, s=3, p=2, d=2, g=2),
    conv_case(1, n=3, ci=5, co=5, size=11, k=5, p=2, g=5),                      # depthwise
    conv_case(1, n=2, ci=24, co=8, size=15, k=7, s=2, p=3),                     # long reduction
    conv_case(1, n=2, ci=3, co=2, size=9, k=3, p=(2, 1)),                        # (left, right)
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, p="same"),
    conv_case(1, n=2, ci=3, co=4, size=9, k=4, d=3, p="same", bias=False),
    conv_case(1, n=2, ci=3, co=4, size=9, k=3, s=2, p="valid"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=5, p=2, mode="reflect"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=3, s=2, p=2, mode="replicate"),
    conv_case(1, n=2, ci=2, co=4, size=6, k=5, p=4, d=1, mode="circular", g=2),
    conv_case(1, n=2, ci=3, co=4, size=8, k=4, p="same", mode="reflect"),
    conv_case(1, n=2, ci=3, co=4, size=8, k=3, p=(0, 2), mode="circular"),
    conv_case(1, n=None, ci=3, co=4, size=9, k=3, s=2, p=1, form="unbatched"),
    conv_case(1, n=None, ci=3, co=4, size=9, k=3, p=1, mode="replicate", form="unbatched"),
    conv_case(1, n=None, ci=1, co=1, size=9, k=4, form="bare"),
    conv_case(1, n=2, ci=3, co=4, size=9, k=4, p=2, flip=True),
    conv_case(1, n=2, ci=40, co=33, size=700, k=7, s=1, p=3),              # GEMM, several tiles
]


def _explicit_pairs(p, dims):
    if dims == 1:
        return isinstance(p, (tuple, list)) and len(p) == 2
    return isinstance(p, (tuple, list)) and all(isinstance(e, (tuple, list)) for e in p)


def torch_conv(c):
    """PyTorch's conv: nn.Conv1d/Conv2d (its own padding_mode logic) through functional_call, or,
    for asymmetric explicit pads that nn.Conv* cannot express, F.pad + F.conv*."""
    dims = c["dims"]

    def fn(x, w, b):
        if c["form"] == "bare":
            x, w = x[None, None], w[None, None]
        if c["flip"]:
            w = torch.flip(w, dims=tuple(range(2, 2 + dims)))
        p, mode = c["p"], c["mode"]
        if _explicit_pairs(p, dims):
            pairs = [p] if dims == 1 else list(p)
            flat = [v for pair in reversed(pairs) for v in pair]  # torch: last dim first
            x = TF.pad(x, flat, mode="constant" if mode == "zeros" else mode)
            p, mode = 0, "zeros"
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        m = conv(c["ci"], c["co"], c["k"], stride=c["s"], padding=p, dilation=c["d"],
                 groups=c["g"], bias=b is not None, padding_mode=mode, dtype=T64)
        params = {"weight": w} if b is None else {"weight": w, "bias": b}
        y = torch.func.functional_call(m, params, (x,))
        return y[0, 0] if c["form"] == "bare" else y

    return fn


def conv_arrays(c, dtype, rng):
    dims = c["dims"]
    if c["form"] == "bare":
        return normal(c["size"], dtype, rng), normal(c["k"], dtype, rng), None
    lead = (c["ci"],) if c["form"] == "unbatched" else (c["n"], c["ci"])
    x = normal(lead + c["size"], dtype, rng)
    w = normal((c["co"], c["ci"] // c["g"]) + c["k"], dtype, rng)
    b = normal((c["co"],), dtype, rng) if c["bias"] else None
    assert len(c["k"]) == dims
    return x, w, b


def conv_scale(c):
    k = math.prod(c["k"])

    def scale(y):
        out = math.prod(y.shape[-c["dims"]:]) * (c["n"] or 1)
        return math.sqrt(max(c["ci"] // c["g"] * k, c["co"] // c["g"] * k, out))

    return scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CONV2D_CASES + CONV1D_CASES)
def test_conv(c, dtype):
    rng = rng_for("conv", c, dtype)
    x, w, b = conv_arrays(c, dtype, rng)
    op = "conv1d" if c["dims"] == 1 else "conv2d"
    kwargs = dict(stride=c["s"], padding=c["p"], dilation=c["d"], groups=c["g"],
                  padding_mode=c["mode"], mode="conv" if c["flip"] else "xcorr")
    check(op, [x, w, b], kwargs, torch_conv(c), dtype, rng, scale=conv_scale(c))


# ---- conv_transpose1d / conv_transpose2d -------------------------------------------------------------

def convt_case(dims, n=2, ci=3, co=4, size=5, k=3, s=1, p=0, op=0, d=1, g=1, bias=True,
               output_size=None, form="batched"):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    k = (k,) * dims if isinstance(k, int) else tuple(k)
    c = dict(dims=dims, n=n, ci=ci, co=co, size=size, k=k, s=s, p=p, op=op, d=d, g=g, bias=bias,
             output_size=output_size, form=form)
    ident = (("" if n is None else f"N{n}-") + f"Ci{ci}-Co{co}-{'L' if dims == 1 else 'HW'}{fmt(size)}"
             f"-k{fmt(k)}-s{fmt(s)}-p{fmt(p)}-op{fmt(op)}-d{fmt(d)}-g{g}" + ("-bias" if bias else "")
             + ("" if output_size is None else f"-out{fmt(output_size)}")
             + ("" if form == "batched" else f"-{form}"))
    return pytest.param(c, id=ident)


CONVT2D_CASES = [
    convt_case(2, n=2, ci=3, co=4, size=5, k=3, bias=False),
    convt_case(2, n=2, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, op=1),
    convt_case(2, n=1, ci=2, co=3, size=(4, 3), k=(3, 4), s=(2, 3), p=(1, 0), op=(1, 2)),
    convt_case(2, n=2, ci=2, co=2, size=(5, 4), k=3, s=1, p=1, op=1, d=2),      # op < dilation
    convt_case(2, n=2, ci=4, co=6, size=(4, 5), k=3, s=2, p=(0, 1), d=(1, 2), g=2),
    convt_case(2, n=2, ci=4, co=4, size=5, k=3, s=2, p=1, g=4, bias=False),     # depthwise
    convt_case(2, n=1, ci=16, co=8, size=(5, 6), k=4, s=2, p=1),                 # long reduction
    convt_case(2, n=2, ci=3, co=2, size=4, k=2, s=2),                            # no overlap
    convt_case(2, n=2, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, output_size=(8, 10)),
    convt_case(2, n=2, ci=2, co=4, size=(3, 4), k=(3, 2), s=(3, 2), d=(2, 1), g=2,
               output_size=(12, 9)),
    convt_case(2, n=None, ci=3, co=2, size=(4, 5), k=3, s=2, p=1, op=1, form="unbatched"),
    convt_case(2, n=None, ci=1, co=1, size=(4, 5), k=3, s=2, form="bare", bias=False),
    convt_case(2, n=2, ci=40, co=30, size=(20, 21), k=4, s=2, p=1),             # long reductions
    convt_case(2, n=1, ci=130, co=6, size=(12, 11), k=3, s=2, p=1, op=1, g=2),
]

CONVT1D_CASES = [
    convt_case(1, n=2, ci=3, co=4, size=6, k=3, bias=False),
    convt_case(1, n=2, ci=3, co=2, size=6, k=4, s=2, p=1, op=1),
    convt_case(1, n=2, ci=4, co=6, size=5, k=3, s=3, p=2, op=2, d=2, g=2),
    convt_case(1, n=2, ci=3, co=3, size=5, k=5, s=1, p=3, op=2, d=3, g=3),
    convt_case(1, n=2, ci=3, co=2, size=6, k=3, s=2, p=1, output_size=12),
    convt_case(1, n=None, ci=3, co=2, size=6, k=3, s=2, p=1, form="unbatched"),
    convt_case(1, n=None, ci=1, co=1, size=6, k=3, s=2, form="bare"),
]


def torch_convt(c):
    dims = c["dims"]

    def fn(x, w, b):
        if c["form"] == "bare":
            x, w = x[None, None], w[None, None]
        if c["output_size"] is not None:  # nn.ConvTranspose*'s output_size picks output_padding
            conv = nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d
            m = conv(c["ci"], c["co"], c["k"], stride=c["s"], padding=c["p"], groups=c["g"],
                     bias=b is not None, dilation=c["d"], dtype=T64)
            params = {"weight": w} if b is None else {"weight": w, "bias": b}
            size = c["output_size"]
            size = list(size) if isinstance(size, (tuple, list)) else [size]
            y = torch.func.functional_call(m, params, (x,), {"output_size": size})
        else:
            f = TF.conv_transpose1d if dims == 1 else TF.conv_transpose2d
            y = f(x, w, b, c["s"], c["p"], c["op"], c["g"], c["d"])
        return y[0, 0] if c["form"] == "bare" else y

    return fn


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", CONVT2D_CASES + CONVT1D_CASES)
def test_conv_transpose(c, dtype):
    rng = rng_for("conv_transpose", c, dtype)
    if c["form"] == "bare":
        x, w, b = normal(c["size"], dtype, rng), normal(c["k"], dtype, rng), None
    else:
        lead = (c["ci"],) if c["form"] == "unbatched" else (c["n"], c["ci"])
        x = normal(lead + c["size"], dtype, rng)
        w = normal((c["ci"], c["co"] // c["g"]) + c["k"], dtype, rng)
        b = normal((c["co"],), dtype, rng) if c["bias"] else None
    op = "conv_transpose1d" if c["dims"] == 1 else "conv_transpose2d"
    kwargs = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"],
                  dilation=c["d"], output_size=c["output_size"])
    k = math.prod(c["k"])
    scale = math.sqrt(max(c["ci"] * k, (c["n"] or 1) * math.prod(c["size"])))
    check(op, [x, w, b], kwargs, torch_convt(c), dtype, rng, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose_output_size_beyond_stride(dtype):
    """output_padding may reach dilation - 1 when that exceeds stride - 1 (torch's functional
    accepts it); cnnpy's output_size reaches those sizes too, nn.ConvTranspose2d's does not. The
    result equals torch's functional conv_transpose2d with the matching output_padding."""
    rng = rng_for("convt_beyond", dtype)
    x, w, b = normal((2, 2, 5, 4), dtype, rng), normal((2, 3, 3, 3), dtype, rng), normal((3,), dtype, rng)
    kw = dict(stride=1, padding=1, dilation=2, output_size=(8, 7))    # output_padding (1, 1)
    check("conv_transpose2d", [x, w, b], kw,
          lambda a, c, e: TF.conv_transpose2d(a, c, e, 1, 1, 1, 1, 2), dtype, rng, scale=6)
    with pytest.raises(ValueError):
        nn.ConvTranspose2d(2, 3, 3, stride=1, padding=1, dilation=2, dtype=T64)(
            torch.from_numpy(x.astype(np.float64)), output_size=[8, 7])


# ---- max pooling ------------------------------------------------------------------------------------

def pool_case(dims, n=2, c=3, size=7, k=3, s=None, p=0, d=1, ceil=False, form="batched", **extra):
    size = (size,) * dims if isinstance(size, int) else tuple(size)
    case = dict(dims=dims, n=n, c=c, size=size, k=k, s=s, p=p, d=d, ceil=ceil, form=form, **extra)
    ident = (("" if n is None else f"N{n}-") + ("" if c is None else f"C{c}-")
             + f"{'L' if dims == 1 else 'HW'}{fmt(size)}" + ("" if k is None else f"-k{fmt(k)}")
             + ("" if s is None else f"-s{fmt(s)}") + ("" if k is None else f"-p{fmt(p)}")
             + ("" if d == 1 else f"-d{fmt(d)}") + ("-ceil" if ceil else "")
             + ("" if form == "batched" else f"-{form}")
             + "".join(f"-{key}{fmt(v)}" for key, v in extra.items()))
    return pytest.param(case, id=ident)


def pool_input(case, dtype, rng):
    shape = case["size"]
    if case["form"] == "unbatched":
        shape = (case["c"],) + shape
    elif case["form"] == "batched":
        shape = (case["n"], case["c"]) + shape
    return normal(shape, dtype, rng)


def torch_form(case, fn):
    """torch pooling has no bare (H, W) / (L,) form: add a channel dim around it."""
    if case["form"] != "bare":
        return fn
    return lambda x, *a, **kw: _strip(fn(x[None], *a, **kw))


def _strip(y):
    return tuple(t[0] for t in y) if isinstance(y, tuple) else y[0]


MAXPOOL2D_CASES = [
    pool_case(2, size=8, k=2),
    pool_case(2, size=(7, 9), k=3, s=2, p=1),
    pool_case(2, size=(9, 8), k=(3, 2), s=(2, 1), p=(1, 0), d=(2, 1)),
    pool_case(2, size=(8, 9), k=3, s=2, ceil=True),                 # last window hangs over
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True),                 # last window dropped
    pool_case(2, size=(10, 7), k=3, s=2, p=1, d=2, ceil=True),
    pool_case(2, size=(6, 7), k=(2, 3), s=(3, 1), ceil=True),
    pool_case(2, size=(7, 6), k=4, s=1, p=2),
    pool_case(2, n=1, c=1, size=(9, 11), k=3, s=3, p=1, ceil=True),
    pool_case(2, n=None, size=(7, 8), k=3, s=2, p=1, form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 8), k=2, ceil=True, form="bare"),
]

MAXPOOL1D_CASES = [
    pool_case(1, size=10, k=2),
    pool_case(1, size=11, k=3, s=2, p=1),
    pool_case(1, size=12, k=3, s=2, p=1, d=2),
    pool_case(1, size=10, k=3, s=2, ceil=True),
    pool_case(1, size=7, k=2, s=2, p=1, ceil=True),
    pool_case(1, size=13, k=4, s=3, p=2, d=2, ceil=True),
    pool_case(1, n=None, size=9, k=3, s=1, p=1, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=2, ceil=True, form="bare"),
]


def pool_kwargs(case):
    return dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], dilation=case["d"],
                ceil_mode=case["ceil"])


def check_max_pool(case, x, dtype, rng, equal_nan=False):
    name = "max_pool1d" if case["dims"] == 1 else "max_pool2d"
    kw = pool_kwargs(case)
    y, idx = getattr(F, name)(x, **kw, return_indices=True)
    xt = leaf(x)
    yt, it = torch_form(case, getattr(TF, name))(xt, **kw, return_indices=True)
    assert y.dtype == dtype and idx.dtype.kind == "i"
    np.testing.assert_array_equal(idx, it.numpy(), err_msg=f"{name} indices")
    assert_close(y, yt, dtype, equal_nan=equal_nan, what=f"{name} forward")
    # a max is a selection: the value must be exactly the input's
    np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
    np.testing.assert_array_equal(getattr(F, name)(x, **kw), y)
    g = grad_for(y.shape, dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    for indices in (None, idx):
        gx = getattr(F, name + "_backward")(g, x, **kw, indices=indices)
        assert gx.dtype == dtype
        assert_close(gx, xt.grad, dtype, scale=math.prod(np.atleast_1d(case["k"])),
                     what=f"{name} backward (indices={'given' if indices is not None else 'None'})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAXPOOL2D_CASES + MAXPOOL1D_CASES)
def test_max_pool(case, dtype):
    rng = rng_for("max_pool", case, dtype)
    check_max_pool(case, pool_input(case, dtype, rng), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True),
    pool_case(2, size=(6, 6), k=2),
    pool_case(1, size=11, k=3, s=2, p=1, ceil=True),
    pool_case(1, size=10, k=2, s=1),
])
def test_max_pool_nan_and_inf(case, dtype):
    """NaN propagates (torch reports the last NaN of a window as its index); windows holding only
    -inf give -inf and the index of their first in-bounds element."""
    rng = rng_for("max_pool_nan", case, dtype)
    x = pool_input(case, dtype, rng)
    flat = x.reshape(-1)
    pos = rng.permutation(flat.size)
    flat[pos[: flat.size // 8]] = np.nan
    flat[pos[flat.size // 8: flat.size // 4]] = -np.inf
    flat[pos[flat.size // 4: flat.size // 4 + 2]] = np.inf
    if case["dims"] == 2:
        x[0, 0, :3, :3] = -np.inf  # whole windows of -inf
    else:
        x[0, 0, :4] = -np.inf
    check_max_pool(case, x, dtype, rng, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [pool_case(2, size=(6, 7), k=3, s=2, p=1, ceil=True),
                                  pool_case(1, size=9, k=3, s=1, p=1)])
def test_max_pool_ties(case, dtype):
    """Many equal values in a window: the first maximum in scan order wins, as in torch."""
    rng = rng_for("max_pool_ties", case, dtype)
    x = rng.integers(0, 3, (case["n"], case["c"]) + case["size"]).astype(dtype)
    check_max_pool(case, x, dtype, rng)


# ---- average pooling ----------------------------------------------------------------------------------

AVGPOOL2D_CASES = [
    pool_case(2, size=8, k=2),
    pool_case(2, size=(7, 9), k=3, s=2, p=1),
    pool_case(2, size=(7, 9), k=3, s=2, p=1, cip=False),
    pool_case(2, size=(8, 9), k=3, s=2, ceil=True),
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True),
    pool_case(2, size=(8, 9), k=3, s=2, p=1, ceil=True, cip=False),
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True),                 # last window dropped
    pool_case(2, size=5, k=2, s=2, p=1, ceil=True, cip=False),
    pool_case(2, size=(9, 7), k=(3, 2), s=(2, 3), p=(1, 1), ceil=True),
    pool_case(2, size=(7, 8), k=3, s=2, p=1, div=5),
    pool_case(2, size=(7, 8), k=3, s=2, p=1, ceil=True, cip=False, div=2),
    pool_case(2, size=(10, 6), k=(4, 2), s=1, p=(2, 1)),
    pool_case(2, n=None, size=(7, 8), k=3, s=2, p=1, ceil=True, form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 8), k=2, s=1, form="bare"),
]

AVGPOOL1D_CASES = [
    pool_case(1, size=10, k=2),
    pool_case(1, size=11, k=3, s=2, p=1),
    pool_case(1, size=11, k=3, s=2, p=1, cip=False),
    pool_case(1, size=10, k=3, s=2, ceil=True),
    pool_case(1, size=10, k=4, s=3, p=2, ceil=True),
    pool_case(1, size=10, k=4, s=3, p=2, ceil=True, cip=False),
    pool_case(1, size=7, k=2, s=2, p=1, ceil=True),
    pool_case(1, n=None, size=9, k=3, s=1, p=1, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=2, ceil=True, form="bare"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVGPOOL2D_CASES + AVGPOOL1D_CASES)
def test_avg_pool(case, dtype):
    rng = rng_for("avg_pool", case, dtype)
    x = pool_input(case, dtype, rng)
    name = "avg_pool1d" if case["dims"] == 1 else "avg_pool2d"
    kw = dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], ceil_mode=case["ceil"],
              count_include_pad=case.get("cip", True))
    if "div" in case:
        kw["divisor_override"] = case["div"]
    torch_fn = torch_form(case, lambda t: getattr(TF, name)(t, **kw))
    check(name, [x], kw, torch_fn, dtype, rng, scale=math.prod(np.atleast_1d(case["k"])))


# ---- adaptive pooling ----------------------------------------------------------------------------------

ADAPTIVE_CASES = [
    pool_case(2, size=(7, 10), k=None, out=(3, 4)),
    pool_case(2, size=(9, 9), k=None, out=4),
    pool_case(2, size=(8, 5), k=None, out=(None, 3)),
    pool_case(2, size=(5, 6), k=None, out=1),
    pool_case(2, size=(3, 4), k=None, out=(5, 7)),                  # bigger than the input
    pool_case(2, size=(6, 8), k=None, out=(3, 4)),                  # divisible
    pool_case(2, n=None, size=(7, 6), k=None, out=(4, 5), form="unbatched"),
    pool_case(2, n=None, c=None, size=(7, 6), k=None, out=(3, 4), form="bare"),
    pool_case(1, size=10, k=None, out=3),
    pool_case(1, size=11, k=None, out=7),
    pool_case(1, size=4, k=None, out=6),
    pool_case(1, n=None, size=9, k=None, out=4, form="unbatched"),
    pool_case(1, n=None, c=None, size=9, k=None, out=2, form="bare"),
]


def _adaptive_name(kind, case):
    return f"adaptive_{kind}_pool{case['dims']}d"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_avg_pool(case, dtype):
    rng = rng_for("adaptive_avg", case, dtype)
    x = pool_input(case, dtype, rng)
    name = _adaptive_name("avg", case)
    out = case["out"]
    torch_fn = torch_form(case, lambda t: getattr(TF, name)(t, out))
    check(name, [x], dict(output_size=out), torch_fn, dtype, rng, scale=4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_CASES)
def test_adaptive_max_pool(case, dtype):
    rng = rng_for("adaptive_max", case, dtype)
    x = pool_input(case, dtype, rng)
    name = _adaptive_name("max", case)
    out = case["out"]
    y, idx = getattr(F, name)(x, out, return_indices=True)
    xt = leaf(x)
    yt, it = torch_form(case, getattr(TF, name))(xt, out, return_indices=True)
    np.testing.assert_array_equal(idx, it.numpy(), err_msg=f"{name} indices")
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
    np.testing.assert_array_equal(getattr(F, name)(x, out), y)
    g = grad_for(y.shape, dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    for indices in (None, idx):
        gx = getattr(F, name + "_backward")(g, x, out, indices=indices)
        assert gx.dtype == dtype
        assert_close(gx, xt.grad, dtype, scale=4, what=f"{name} backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [1, 2], ids=["1d", "2d"])
def test_adaptive_max_pool_nan(dims, dtype):
    rng = rng_for("adaptive_max_nan", dims, dtype)
    x = normal((2, 3) + (7,) * dims, dtype, rng)
    x.reshape(-1)[rng.permutation(x.size)[:10]] = np.nan
    x.reshape(-1)[rng.permutation(x.size)[:10]] = -np.inf
    name = f"adaptive_max_pool{dims}d"
    y, idx = getattr(F, name)(x, 3, return_indices=True)
    yt, it = getattr(TF, name)(torch.from_numpy(x.astype(np.float64)), 3, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy().astype(dtype))  # NaN == NaN here
    np.testing.assert_array_equal(idx, it.numpy())


# ---- max unpooling ---------------------------------------------------------------------------------------

UNPOOL_CASES = [
    pool_case(2, size=(6, 8), k=2, s=None, p=0, out=None),
    pool_case(2, size=(7, 9), k=3, s=2, p=1, out=None),
    pool_case(2, size=(7, 9), k=2, s=2, p=0, out=(7, 9)),           # output_size picks the odd size
    pool_case(2, size=(8, 8), k=3, s=1, p=1, out=None),             # overlapping windows
    pool_case(2, size=(8, 9), k=(3, 2), s=(2, 3), p=(1, 0), out=(8, 9)),
    pool_case(2, n=None, size=(6, 7), k=2, s=2, p=0, out=(6, 7), form="unbatched"),
    pool_case(1, size=10, k=2, s=None, p=0, out=None),
    pool_case(1, size=11, k=3, s=2, p=1, out=(11,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", UNPOOL_CASES)
def test_max_unpool(case, dtype):
    rng = rng_for("max_unpool", case, dtype)
    x = pool_input(case, dtype, rng)
    dims = case["dims"]
    y, idx = getattr(F, f"max_pool{dims}d")(x, case["k"], case["s"], case["p"], return_indices=True)
    name = f"max_unpool{dims}d"
    kw = dict(kernel_size=case["k"], stride=case["s"], padding=case["p"], output_size=case["out"])
    torch_fn = torch_form(case, lambda t, i: getattr(TF, name)(t, i, **kw))
    out = check(name, [y, idx], kw, torch_fn, dtype, rng)
    # unpooling only moves values: exact
    expected = getattr(TF, name)(torch.from_numpy(y), torch.from_numpy(idx.astype(np.int64)), **kw)
    np.testing.assert_array_equal(out, expected.numpy())


# ---- pad ----------------------------------------------------------------------------------------------

def pad_case(shape, pad, mode="constant", value=0.0):
    ident = f"{'x'.join(map(str, shape))}-pad({','.join(map(str, pad))})-{mode}" + (
        f"-v{value}" if value else "")
    return pytest.param(dict(shape=shape, pad=pad, mode=mode, value=value), id=ident)


PAD_CASES = [
    pad_case((2, 3, 7), (2, 1)),
    pad_case((2, 3, 7), (2, 1), value=1.5),
    pad_case((2, 3, 5, 6), (1, 2, 0, 3), value=-2.0),
    pad_case((2, 3, 5, 6), (1, 2, 0, 0, 1, 1)),                     # pads the channel dim too
    pad_case((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2)),
    pad_case((2, 3, 7), (-2, 3)),                                   # crop left
    pad_case((2, 3, 5, 6), (-1, -2, 2, -1), value=0.5),
    pad_case((2, 3, 5, 6), (-1, -1, -2, -2)),                       # crop only
    pad_case((4, 5), (2, 3, 1, 1)),                                 # 2-D input
    pad_case((2, 3, 7), (3, 2), "reflect"),
    pad_case((2, 3, 7), (6, 6), "reflect"),                         # widest allowed
    pad_case((3, 7), (2, 4), "reflect"),                            # unbatched 1-D
    pad_case((2, 3, 5, 6), (1, 2, 2, 1), "reflect"),
    pad_case((3, 5, 6), (5, 0, 4, 3), "reflect"),                   # unbatched 2-D
    pad_case((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2), "reflect"),
    pad_case((2, 3, 7), (-2, 2), "reflect"),                        # reflection inside the kept part
    pad_case((2, 3, 7), (-2, 3), "reflect"),
    pad_case((2, 3, 5, 6), (0, -1, -1, 0), "reflect"),              # crop only
    pad_case((2, 3, 7), (3, 5), "replicate"),
    pad_case((2, 3, 5, 6), (1, 2, 3, 0), "replicate"),
    pad_case((1, 2, 3, 4, 5), (2, 1, 0, 2, 3, 1), "replicate"),
    pad_case((2, 3, 7), (3, -2), "replicate"),
    pad_case((2, 3, 5, 6), (-2, 3, 2, -3), "replicate"),
    pad_case((2, 3, 7), (3, 7), "circular"),
    pad_case((2, 3, 5, 6), (1, 2, 2, 1), "circular"),
    pad_case((2, 3, 5, 6), (6, 6, 5, 5), "circular"),               # a full period
    pad_case((1, 2, 3, 4, 5), (1, 1, 2, 0, 3, 1), "circular"),
    pad_case((2, 3, 7), (-2, 3), "circular"),
    pad_case((2, 3, 5, 6), (-1, -1, 2, -2), "circular"),
    pad_case((2, 3, 5, 6), (-3, 2, 1, -3), "circular"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", PAD_CASES)
def test_pad(case, dtype):
    rng = rng_for("pad", case, dtype)
    x = normal(case["shape"], dtype, rng)
    pad, mode, value = case["pad"], case["mode"], case["value"]
    kw = dict(pad=pad, mode=mode, value=value)
    tkw = dict(mode=mode, value=value) if mode == "constant" else dict(mode=mode)
    y = check("pad", [x], kw, lambda t: TF.pad(t, pad, **tkw), dtype, rng, scale=4)
    # padding only copies: exact
    np.testing.assert_array_equal(y, TF.pad(torch.from_numpy(x), pad, **tkw).numpy())



REFLECT_CROP_CASES = [
    pad_case((2, 3, 7), (-5, 3), "reflect"),
    pad_case((2, 3, 7), (3, -5), "reflect"),
    pad_case((2, 3, 7), (-3, 4), "reflect"),
    pad_case((2, 3, 5, 6), (1, 1, -3, 3), "reflect"),
    pad_case((2, 3, 5, 6), (-4, 3, 1, 1), "reflect"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", REFLECT_CROP_CASES)
def test_pad_reflect_crop_and_pad(case, dtype):
    test_pad(case, dtype)


# ---- linear ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5), (1, 40), (0, 5), (2100, 270)],
                         ids=lambda s: "x" + "x".join(map(str, s)))
def test_linear(shape, bias, dtype):
    rng = rng_for("linear", shape, bias, dtype)
    fin = shape[-1]
    x = normal(shape, dtype, rng)
    fout = 140 if fin > 100 else 6  # the big case crosses the GEMM's packing blocks
    w = normal((fout, fin), dtype, rng)
    b = normal((fout,), dtype, rng) if bias else None
    scale = math.sqrt(max(fin, math.prod(shape[:-1]), fout))
    check("linear", [x, w, b], {}, TF.linear, dtype, rng, scale=scale)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_zero_in_features(dtype):
    """in_features=0 gives the bias broadcast to (*, out_features), as torch."""
    rng = rng_for("linear_in0", dtype)
    x, w, b = np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), normal((3,), dtype, rng)
    check("linear", [x, w, b], {}, TF.linear, dtype, rng)


# ---- activations -------------------------------------------------------------------------------------------

def act_input(dtype, rng, shape=(3, 4, 5), spread=3.0):
    x = rng.standard_normal(shape) * spread
    flat = x.reshape(-1)
    flat[:3] = 0.0  # the kinks of relu/leaky_relu: torch's gradient there is 0 / negative_slope
    flat[3:7] = [40.0, -40.0, 700.0, -700.0]  # saturation
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["relu", "sigmoid", "tanh"])
def test_activation(op, dtype):
    rng = rng_for("act", op, dtype)
    torch_fn = {"relu": TF.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[op]
    check(op, [act_input(dtype, rng)], {}, torch_fn, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.01, 0.2, 0.0, -0.5, 1.5], ids=lambda v: f"slope{v}")
def test_leaky_relu(slope, dtype):
    rng = rng_for("leaky", slope, dtype)
    check("leaky_relu", [act_input(dtype, rng)], dict(negative_slope=slope),
          lambda t: TF.leaky_relu(t, slope), dtype, rng)


SOFTMAX_CASES = [((7,), -1), ((7,), 0), ((3, 7), -1), ((3, 7), 0), ((2, 3, 4, 5), 1),
                 ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 2), ((2, 3, 4, 5), -4), ((4, 1, 3), 1),
                 ((2, 40), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES,
                         ids=[f"{'x'.join(map(str, s))}-dim{d}" for s, d in SOFTMAX_CASES])
def test_softmax(op, shape, dim, dtype):
    rng = rng_for("softmax", op, shape, dim, dtype)
    x = rng.standard_normal(shape) * 3
    if x.size > 8:
        x.reshape(-1)[:2] = [300.0, -300.0]  # stability: exp would overflow without the max shift
    x = x.astype(dtype)
    check(op, [x], dict(dim=dim), lambda t: getattr(TF, op)(t, dim), dtype, rng,
          scale=math.sqrt(shape[dim]))


# ---- dropout ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 1.0], ids=lambda v: f"p{v}")
def test_dropout_exact_p(p, dtype):
    """p=0 is the identity and p=1 zeros everything, forward and backward, as in torch."""
    rng = rng_for("dropout_exact", p, dtype)
    x = normal((3, 4, 5), dtype, rng)
    y = F.dropout(x, p, rng=1)
    xt = leaf(x)
    yt = TF.dropout(xt, p, training=True)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, yt.detach().numpy().astype(dtype))
    g = grad_for(x.shape, dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    gx = F.dropout_backward(g, x, p, rng=1)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, xt.grad.numpy().astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9], ids=lambda v: f"p{v}")
def test_dropout_with_mask(p, dtype):
    """With cnnpy's own mask, dropout is torch's x * mask / (1 - p), forward and backward."""
    rng = rng_for("dropout_mask", p, dtype)
    x = normal((4, 5, 6), dtype, rng)
    y, mask = F.dropout(x, p, rng=7, return_mask=True)
    assert y.dtype == dtype and mask.dtype == bool and mask.shape == x.shape
    assert 0 < mask.sum() < mask.size
    xt = leaf(x)
    yt = xt * torch.from_numpy(mask.astype(np.float64)) / (1 - p)
    assert_close(y, yt, dtype, what="dropout forward")
    g = grad_for(x.shape, dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    for kw in (dict(rng=7), dict(mask=mask)):
        gx = F.dropout_backward(g, x, p, **kw)
        assert gx.dtype == dtype
        assert_close(gx, xt.grad, dtype, what=f"dropout backward {list(kw)}")
    # not training: identity, as torch
    np.testing.assert_array_equal(F.dropout(x, p, training=False), x)
    np.testing.assert_array_equal(TF.dropout(torch.from_numpy(x), p, training=False).numpy(), x)
    np.testing.assert_array_equal(F.dropout_backward(g, x, p, training=False), g)


# ---- losses ----------------------------------------------------------------------------------------------

def loss_scale(shape):
    return math.sqrt(max(1, math.prod(shape)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("op", ["mse_loss", "l1_loss"])
@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((2, 3, 4), (2, 3, 4)), ((7,), (7,)),
                                    ((4, 5), (5,)), ((3, 1), (1, 4))],
                         ids=["4x5", "2x3x4", "7", "4x5-bcast5", "3x1-bcast1x4"])
def test_regression_loss(shapes, op, reduction, dtype):
    rng = rng_for("regression", shapes, op, reduction, dtype)
    x = normal(shapes[0], dtype, rng)
    t = normal(shapes[1], dtype, rng)
    if shapes[0] == shapes[1]:
        x.reshape(-1)[:2] = t.reshape(-1)[:2]  # ties: l1's gradient there is sign(0) = 0
    torch_fn = lambda a, b: getattr(TF, op)(a, b, reduction=reduction)  # noqa: E731
    check(op, [x, t], dict(reduction=reduction), torch_fn, dtype, rng,
          scale=loss_scale(np.broadcast_shapes(*shapes)))


BCE_CASES = [("4x5", (4, 5), None, False), ("4x5-w5", (4, 5), (5,), False),
             ("2x3x4-wfull", (2, 3, 4), (2, 3, 4), False), ("2x3x4-w3x1", (2, 3, 4), (3, 1), False),
             ("6-hard", (6,), None, True), ("3x4-w4-hard", (3, 4), (4,), True)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ident,shape,wshape,hard", BCE_CASES, ids=[c[0] for c in BCE_CASES])
def test_binary_cross_entropy(ident, shape, wshape, hard, reduction, dtype):
    rng = rng_for("bce", ident, reduction, dtype)
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    t = (rng.integers(0, 2, shape) if hard else rng.uniform(0, 1, shape)).astype(dtype)
    w = None if wshape is None else rng.uniform(0.1, 2.0, wshape).astype(dtype)
    torch_fn = lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction)  # noqa: E731
    check("binary_cross_entropy", [x, t, w], dict(reduction=reduction), torch_fn, dtype, rng,
          scale=loss_scale(shape), const=(2,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_saturated(reduction, dtype):
    """Probabilities of exactly 0 and 1: torch clamps each log at -100 in the loss, and its input
    gradient divides by max(x (1 - x), 1e-12). Known, deliberate difference: torch's TARGET
    gradient there is log(1 - x) - log(x) unclamped (+-inf), while cnnpy's is the derivative of
    the clamped loss it computes (+-100 per unit weight), so the target gradient is compared only
    where 0 < x < 1 and checked to be that finite value at the saturated entries."""
    rng = rng_for("bce_sat", reduction, dtype)
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1e-30, 0.75], dtype=dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.6, 1.0, 0.0], dtype=dtype)
    y = F.binary_cross_entropy(x, t, reduction=reduction)
    xt, tt = leaf(x), leaf(t)
    yt = TF.binary_cross_entropy(xt, tt, reduction=reduction)
    assert_close(y, yt, dtype, what="bce saturated forward")
    g = grad_for(np.shape(y), dtype, rng)
    yt.backward(torch.from_numpy(g.astype(np.float64)))
    gx, gt, gw = F.binary_cross_entropy_backward(g, x, t, reduction=reduction)
    assert gw is None
    assert_close(gx, xt.grad, dtype, what="bce saturated input gradient")
    inside = (x > 0) & (x < 1)
    assert_close(gt[inside], tt.grad.numpy()[inside], dtype, what="bce target gradient, 0 < x < 1")
    assert np.isinf(tt.grad.numpy()[~inside]).all()
    unit = np.broadcast_to(g, x.shape) / (x.size if reduction == "mean" else 1)
    clamped = np.array([100.0, -100.0, 100.0, -100.0]) * unit[~inside]
    assert_close(gt[~inside], clamped, dtype, what="bce target gradient at x in {0, 1}")


BCEL_CASES = [("4x5", (4, 5), None, None), ("4x5-w5", (4, 5), (5,), None),
              ("4x5-pw5", (4, 5), None, (5,)), ("2x3x4-w3x1-pw4", (2, 3, 4), (3, 1), (4,)),
              ("2x3x4-wfull-pwfull", (2, 3, 4), (2, 3, 4), (2, 3, 4)), ("6-pw1", (6,), None, (1,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ident,shape,wshape,pwshape", BCEL_CASES, ids=[c[0] for c in BCEL_CASES])
def test_binary_cross_entropy_with_logits(ident, shape, wshape, pwshape, reduction, dtype):
    rng = rng_for("bcel", ident, reduction, dtype)
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.reshape(-1)[:2] = [60.0, -60.0]  # far saturated: computed stably
    t = rng.uniform(0, 1, shape).astype(dtype)
    w = None if wshape is None else rng.uniform(0.1, 2.0, wshape).astype(dtype)
    pw = None if pwshape is None else rng.uniform(0.2, 3.0, pwshape).astype(dtype)
    pwt = None if pw is None else torch.from_numpy(pw.astype(np.float64))

    def torch_fn(a, b, c):
        return TF.binary_cross_entropy_with_logits(a, b, c, reduction=reduction, pos_weight=pwt)

    check("binary_cross_entropy_with_logits", [x, t, w], dict(reduction=reduction, pos_weight=pw),
          torch_fn, dtype, rng, scale=loss_scale(shape), const=(2,))


def ce_case(ident, shape, weight=False, ignore_index=-100, n_ignored=0, ls=0.0):
    return pytest.param(dict(shape=shape, weight=weight, ignore=ignore_index, n_ignored=n_ignored,
                             ls=ls), id=ident)


CE_CASES = [
    ce_case("N5-C4", (5, 4)),
    ce_case("N5-C4-w", (5, 4), weight=True),
    ce_case("N6-C4-ign2", (6, 4), n_ignored=2),
    ce_case("N6-C4-w-ign2", (6, 4), weight=True, n_ignored=2),
    ce_case("N6-C4-ignidx1", (6, 4), ignore_index=1),
    ce_case("N5-C4-ls0.1", (5, 4), ls=0.1),
    ce_case("N5-C4-w-ls0.2", (5, 4), weight=True, ls=0.2),
    ce_case("N6-C4-ign2-ls0.1", (6, 4), n_ignored=2, ls=0.1),
    ce_case("N6-C4-w-ign2-ls0.3", (6, 4), weight=True, n_ignored=2, ls=0.3),
    ce_case("N2-C3-H4-W5", (2, 3, 4, 5)),
    ce_case("N2-C3-H4-W5-w-ign3", (2, 3, 4, 5), weight=True, n_ignored=3),
    ce_case("N2-C3-H4-W5-ign3-ls0.1", (2, 3, 4, 5), n_ignored=3, ls=0.1),
    ce_case("N2-C3-H4-W5-w-ls0.2", (2, 3, 4, 5), weight=True, ls=0.2),
    ce_case("N2-C3-L6", (2, 3, 6), weight=True),
    ce_case("C5", (5,)),
    ce_case("C5-w-ls0.1", (5,), weight=True, ls=0.1),
    ce_case("N3-C100", (3, 100), ls=0.05),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy(case, reduction, dtype):
    rng = rng_for("ce", case, reduction, dtype)
    shape, c = case["shape"], case["shape"][0] if len(case["shape"]) == 1 else case["shape"][1]
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, c, tshape).astype(np.int64)
    if case["n_ignored"]:
        t.reshape(-1)[rng.permutation(t.size)[:case["n_ignored"]]] = case["ignore"]
    w = rng.uniform(0.2, 2.0, c).astype(dtype) if case["weight"] else None
    kw = dict(ignore_index=case["ignore"], reduction=reduction, label_smoothing=case["ls"])

    def torch_fn(a, b, wt):
        return TF.cross_entropy(a, b, wt, **kw)

    check("cross_entropy", [x, t, w], kw, torch_fn, dtype, rng, scale=loss_scale(shape), const=(2,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_all_ignored(reduction, dtype):
    """Every target ignored: 'mean' is 0/0 = NaN in torch, 'sum' 0, 'none' zeros."""
    rng = rng_for("ce_all_ignored", reduction, dtype)
    x = normal((3, 4), dtype, rng)
    t = np.full(3, -100, dtype=np.int64)
    check("cross_entropy", [x, t, None], dict(reduction=reduction),
          lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng, equal_nan=True)


# ---- seeded random sweeps: many more configurations of the ops with the most arguments ------------

def _pool_len(n, k, s, p, d, ceil):
    """PyTorch's pooling output length (0 or less: not a valid configuration)."""
    span = d * (k - 1) + 1
    if n + 2 * p < span:
        return 0
    num = n + 2 * p - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def random_conv_cases(dims, count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        ci, co = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(3, 11, dims))
        k = tuple(int(v) for v in rng.integers(1, 6, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        d = tuple(int(v) for v in rng.integers(1, 3, dims))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        if rng.random() < 0.25:
            p, s = "same", (1,) * dims
            pads = [dd * (kk - 1) for kk, dd in zip(k, d)]
            pads = [(t // 2, t - t // 2) for t in pads]
        else:
            p = tuple(int(v) for v in rng.integers(0, 4, dims))
            pads = [(v, v) for v in p]
        if mode == "reflect" and any(max(pp) >= n for pp, n in zip(pads, size)):
            continue
        if mode == "circular" and any(max(pp) > n for pp, n in zip(pads, size)):
            continue
        if any(n + sum(pp) < dd * (kk - 1) + 1 for n, pp, kk, dd in zip(size, pads, k, d)):
            continue
        if dims == 1:
            size, k, s, d = size[0], k[0], s[0], d[0]
            p = p if p == "same" else p[0]
        cases.append(conv_case(dims, n=int(rng.integers(1, 3)), ci=ci, co=co, size=size, k=k, s=s,
                               p=p, d=d, g=g, bias=bool(rng.random() < 0.5), mode=mode))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", random_conv_cases(2, 30, 2024) + random_conv_cases(1, 20, 2025))
def test_conv_random(c, dtype):
    test_conv(c, dtype)


def random_convt_cases(dims, count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        g = int(rng.choice([1, 1, 2, 3]))
        ci, co = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(2, 8, dims))
        k = tuple(int(v) for v in rng.integers(1, 6, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        d = tuple(int(v) for v in rng.integers(1, 3, dims))
        p = tuple(int(v) for v in rng.integers(0, 3, dims))
        op = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
        out = [(n - 1) * ss - 2 * pp + dd * (kk - 1) + oo + 1
               for n, ss, pp, dd, kk, oo in zip(size, s, p, d, k, op)]
        if min(out) < 1:
            continue
        # nn.ConvTranspose*'s output_size only reaches output_padding < stride (cnnpy's also
        # reaches output_padding < dilation: see test_conv_transpose_output_size_beyond_stride)
        use_size = rng.random() < 0.3 and all(oo < ss for oo, ss in zip(op, s))
        if dims == 1:
            size, k, s, d, p, op = size[0], k[0], s[0], d[0], p[0], op[0]
        cases.append(convt_case(dims, n=int(rng.integers(1, 3)), ci=ci, co=co, size=size, k=k, s=s,
                                p=p, op=0 if use_size else op, d=d, g=g,
                                bias=bool(rng.random() < 0.5),
                                output_size=tuple(out) if use_size else None))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("c", random_convt_cases(2, 25, 7) + random_convt_cases(1, 15, 8))
def test_conv_transpose_random(c, dtype):
    test_conv_transpose(c, dtype)


def random_pool_cases(dims, count, seed, avg):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        size = tuple(int(v) for v in rng.integers(2, 12, dims))
        k = tuple(int(v) for v in rng.integers(1, 5, dims))
        s = tuple(int(v) for v in rng.integers(1, 4, dims))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = (1,) * dims if avg else tuple(int(v) for v in rng.integers(1, 3, dims))
        ceil = bool(rng.random() < 0.5)
        if any(_pool_len(*a, ceil) < 1 for a in zip(size, k, s, p, d)):
            continue
        extra = {}
        if avg:
            extra["cip"] = bool(rng.random() < 0.5)
            if dims == 2 and rng.random() < 0.3:
                extra["div"] = int(rng.integers(1, 10))
        if dims == 1:
            size, k, s, p, d = size[0], k[0], s[0], p[0], d[0]
        cases.append(pool_case(dims, n=int(rng.integers(1, 3)), c=int(rng.integers(1, 4)),
                               size=size, k=k, s=s, p=p, d=d, ceil=ceil, **extra))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_pool_cases(2, 30, 11, False) + random_pool_cases(1, 20, 12, False))
def test_max_pool_random(case, dtype):
    test_max_pool(case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_pool_cases(2, 30, 13, True) + random_pool_cases(1, 20, 14, True))
def test_avg_pool_random(case, dtype):
    test_avg_pool(case, dtype)


def random_pad_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        mode = str(rng.choice(["constant", "reflect", "replicate", "circular"]))
        nd = int(rng.integers(3, 6))
        shape = (tuple(int(v) for v in rng.integers(1, 4, 2))
                 + tuple(int(v) for v in rng.integers(2, 7, nd - 2)))
        npairs = int(rng.integers(1, nd + 1)) if mode == "constant" else nd - 2
        pad = []
        for i in range(npairs):
            n = shape[nd - 1 - i]
            if mode == "constant":
                lo, hi = (int(v) for v in rng.integers(-(n // 2), 4, 2))
            elif mode == "reflect":  # both >= 0: see test_pad_reflect_crop_and_pad
                lo, hi = (int(v) for v in rng.integers(0, n, 2))
            elif mode == "circular":
                lo, hi = (int(v) for v in rng.integers(0, n + 1, 2))
            else:
                lo, hi = (int(v) for v in rng.integers(-(n // 2), 5, 2))
            pad += [lo, hi]
        value = float(np.round(rng.standard_normal(), 2)) if mode == "constant" else 0.0
        cases.append(pad_case(shape, tuple(pad), mode, value))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", random_pad_cases(40, 21))
def test_pad_random(case, dtype):
    test_pad(case, dtype)


# ---- array layouts and dtypes ----------------------------------------------------------------------

def test_noncontiguous_inputs_match_torch():
    """Strided, transposed and Fortran-ordered arrays give the same results as contiguous ones."""
    rng = rng_for("layout")
    x = rng.standard_normal((2, 3, 9, 16))[..., ::2]                 # strided
    w = rng.standard_normal((4, 3, 3, 3)).transpose(0, 1, 3, 2)       # transposed
    xf = np.asfortranarray(rng.standard_normal((2, 3, 9, 8)))
    xt, wt, xft = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, w, xf))
    assert_close(F.conv2d(x, w, padding=1), TF.conv2d(xt, wt, padding=1), np.float64)
    g = rng.standard_normal((2, 4, 9, 8))[:, :, ::-1]                 # negative strides
    gx, gw, _ = F.conv2d_backward(g, x, w, padding=1)
    xl, wl = leaf(x), leaf(w)
    TF.conv2d(xl, wl, padding=1).backward(torch.from_numpy(g.copy()))
    assert_close(gx, xl.grad, np.float64)
    assert_close(gw, wl.grad, np.float64)
    assert_close(F.max_pool2d(xf, 2), TF.max_pool2d(xft, 2), np.float64)
    assert_close(F.avg_pool2d(xf, 3, 2, 1), TF.avg_pool2d(xft, 3, 2, 1), np.float64)
    assert_close(F.softmax(x, 1), TF.softmax(xt, 1), np.float64)
    lw = rng.standard_normal((8, 5)).T                                # (5, 8), transposed
    assert_close(F.linear(x, lw), TF.linear(xt, torch.from_numpy(lw.copy())), np.float64)
    assert_close(F.pad(xf, (1, 2, 2, 1), mode="reflect"),
                 TF.pad(xft, (1, 2, 2, 1), mode="reflect"), np.float64)
    assert_close(F.conv_transpose2d(xf, w.transpose(1, 0, 2, 3), stride=2),
                 TF.conv_transpose2d(xft, wt.transpose(0, 1), stride=2), np.float64)


def test_integer_inputs_compute_in_float64():
    rng = rng_for("ints")
    x = rng.integers(-3, 4, (2, 3, 6, 6))
    w = rng.integers(-2, 3, (2, 3, 3, 3))
    y = F.conv2d(x, w, padding=1)
    assert y.dtype == np.float64
    assert_close(y, TF.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1),
                 np.float64)
    assert_close(F.relu(x), TF.relu(torch.from_numpy(x).double()), np.float64)
    assert_close(F.mse_loss(x, x[::-1]), TF.mse_loss(*(torch.from_numpy(a.copy()).double()
                                                       for a in (x, x[::-1]))), np.float64)



# ---- cross entropy edge cases: -inf logits and empty batches ------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_minus_inf_logits(reduction, dtype):
    rng = rng_for("ce_minus_inf", reduction, dtype)
    x = np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 0.0], [0.0, 1.0, 2.0]], dtype=dtype)
    t = np.array([1, 0, 2])
    check("cross_entropy", [x, t, None], dict(reduction=reduction),
          lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 2, 2)], ids=["N0-C3", "N0-C3-H2-W2"])
def test_cross_entropy_empty_batch(shape, reduction, dtype):
    rng = rng_for("ce_empty", shape, reduction, dtype)
    x = np.zeros(shape, dtype=dtype)
    t = np.zeros((0,) + shape[2:], dtype=np.int64)
    check("cross_entropy", [x, t, None], dict(reduction=reduction),
          lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng, equal_nan=True)
