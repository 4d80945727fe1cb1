"""What the op tables are built from: readable ids, the small inputs of the error tables, and the
three comparisons a case runs — against PyTorch (``check``), against float64 finite differences
(``gradcheck``) and of the float64 reference against PyTorch (``ref_close``, ``tt``).

Tolerances against PyTorch: float64 rtol=1e-10, atol=1e-10; float32 rtol=1e-4, atol=1e-5 *
sqrt(L), L the longest sum that feeds one output or gradient element (a sum of L rounded terms of
size ~1 is off by about sqrt(L) units in the last place). PyTorch always computes in float64 on
the very same input values (a float32 input is widened exactly), with gradients from its
autograd, so the float64 comparison is implementation against implementation and the float32 one
measures cnnpy's own float32 rounding. The reference against PyTorch: rtol=1e-10, atol=1e-12.
"""
import warnings

import numpy as np
import pytest

import cnnpy.functional as F
from helpers import check_grad, numeric_grad, torch

# ---- ids and cases -----------------------------------------------------------------------------------

class _Lazy:
    """torch.nn.functional (TF) and torch.nn (TNN), looked up when a case runs: the tables import
    without PyTorch, and only the cases that compare with it need it."""

    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        obj = torch
        for part in self._path:
            obj = getattr(obj, part)
        return getattr(obj, name)


TF, TNN = _Lazy(("nn", "functional")), _Lazy(("nn",))


def kwid(kw):
    """Keyword arguments as id text: {'stride': 2, 'padding': (1, 0)} -> 'stride=2-padding=1x0'."""
    return "-".join(f"{k}={fmt(v)}" for k, v in kw.items())


def runs(params, run, op):
    """pytest.params of run(case) (a function of the dtype, or of nothing) for each
    pytest.param(case) of `params`, the ids prefixed with op(case)."""
    return [pytest.param(run(p.values[0]), id=f"{op(p.values[0])}-{p.id}") for p in params]


def fmt(v):
    """A parameter as id text: 3 -> '3', (2, 1) -> '2x1', ((1, 0), (2, 1)) -> '1.0x2.1'."""
    if isinstance(v, (tuple, list)):
        if v and all(isinstance(e, (tuple, list)) for e in v):
            return "x".join(".".join(map(str, e)) for e in v)
        return "x".join(map(str, v))
    return str(v)


def case(id, call, exc, match):
    """One bad input: call() must raise exc with a message matching the regex `match`."""
    return pytest.param(call, exc, match, id=id)


def normal(shape, dtype, rng, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---- the small inputs of the error tables -----------------------------------------------------------

BIG = 2 ** 62   # fits int64, but any sum or product with it overflows
HUGE = 2 ** 70  # does not fit int64 at all
HUGE_TYPES = (OverflowError, ValueError, MemoryError)


def ones(*shape, dtype=np.float64):
    return np.ones(shape, dtype=dtype)


def X4():  # conv / pool input (N, C, H, W)
    return ones(1, 2, 5, 5)


def W4():  # conv2d weight (C_out, C_in, kH, kW)
    return ones(3, 2, 3, 3)


def X3():  # conv1d / pool1d input (N, C, L)
    return ones(1, 2, 8)


def W3():
    return ones(3, 2, 3)


def WT4():  # conv_transpose2d weight (C_in, C_out, kH, kW)
    return ones(2, 3, 3, 3)


def WT3():
    return ones(2, 3, 3)


def IDX(value, shape=(1, 2, 2, 2), dtype=np.int64):
    return np.full(shape, value, dtype=dtype)


def FIT(op, name, value):
    """The message of an int argument that does not fit in int64 (raised as soon as it is read)."""
    return rf"^{op}: {name}={value} does not fit in int64$"


def DERIVED(op, *parts):
    """An overflowing derived size: '<op>: <what> overflows int64', what quoting `parts` in order."""
    return rf"^{op}: .*" + ".*".join(parts) + r".* overflows int64$"


def TOO_LARGE(op, what="the output"):
    """check_numel: the element or byte count of an array to be allocated overflows int64."""
    return rf"^{op}: {what} of shape \(.*\) is too large \(its size overflows int64\)$"


# ---- the arrays of the layout and NaN/inf tables (test_errors.py) --------------------------------------

_R = np.random.default_rng(21)
LAYOUT_X4, LAYOUT_W4, LAYOUT_WT4 = (_R.standard_normal((2, 3, 6, 6)), _R.standard_normal((4, 3, 3, 3)),
                                    _R.standard_normal((3, 2, 3, 3)))
LAYOUT_X2, LAYOUT_LW = _R.standard_normal((5, 7)), _R.standard_normal((3, 7))
LAYOUT_P2 = _R.uniform(0.1, 0.9, (5, 7))
LAYOUT_G4 = _R.standard_normal((2, 4, 6, 6))


def from_numpy(a):
    """A torch tensor of a (any layout) for the NaN/inf tables."""
    return torch.from_numpy(np.ascontiguousarray(a))


def empty(call, shape, id, out_dtype=None):
    """An empty batch: call(dtype) returns an array of `shape`, of the input's dtype unless
    `out_dtype` says otherwise (indices)."""
    return pytest.param(call, shape, out_dtype, id=id)


def layer_case(id, make, shape, torch_make=None, fd_input=None):
    """A layer: make() builds it for an input of `shape`; torch_make() builds PyTorch's module
    with the same arguments (None: no PyTorch twin); fd_input(shape, rng) the input of the
    finite-difference check (default: standard normal)."""
    return pytest.param(make, shape, fd_input, torch_make, id=id)


# ---- against PyTorch ------------------------------------------------------------------------------------

def tolerances(dtype, scale=1.0):
    if np.dtype(dtype) == np.float64:
        return 1e-10, 1e-10
    return 1e-4, 1e-5 * max(1.0, scale)


def torch_close(actual, expected, dtype, scale=1.0, equal_nan=False, what=""):
    """actual (an array) against expected (a torch tensor or an array) at the tolerances above."""
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
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


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
    torch_close(y, yt, dtype, scale, equal_nan, f"{op} forward")
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
        torch_close(gi, expected, dtype, scale, equal_nan, f"{op} gradient of argument {i}")
    assert all(extra is None for extra in grads[len(tensors):])
    return y


def torch_form(form, fn):
    """torch has no bare (H, W) / (L,) pooling: around a bare input add a channel dim."""
    if form != "bare":
        return fn

    def strip(y):
        return tuple(t[0] for t in y) if isinstance(y, tuple) else y[0]

    return lambda x, *a, **kw: strip(fn(x[None], *a, **kw))


# ---- against float64 finite differences ---------------------------------------------------------------

def gradcheck(op, backward, arrays, kwargs, rng, max_entries=40, rtol=1e-6, atol=1e-8):
    """backward(G, *arrays, **kwargs) against central differences of sum(G * op(...)), G random,
    with respect to every array argument (at most `max_entries` random entries of each)."""
    out = op(*arrays, **kwargs)
    g = rng.standard_normal(np.shape(out))
    grads = backward(g, *arrays, **kwargs)
    if not isinstance(grads, tuple):
        grads = (grads,)
    for i, a in enumerate(arrays):
        if a is None or grads[i] is None:
            continue

        def f(v, i=i):
            args = list(arrays)
            args[i] = v
            return float(np.sum(g * op(*args, **kwargs)))

        check_grad(grads[i], numeric_grad(f, a, max_entries=max_entries, rng=rng), rtol=rtol, atol=atol)


# ---- the reference against PyTorch ---------------------------------------------------------------------

REF_RTOL, REF_ATOL = 1e-10, 1e-12


def ref_close(actual, expected, **kw):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=REF_RTOL,
                               atol=REF_ATOL, **kw)


def tt(a, grad=False):
    """float64 torch tensor (a fresh leaf) from array ``a``."""
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def pid(**kw):
    """Readable id: pid(N=2, k=(3, 2), p=((1, 0), (2, 2)), ceil=True) -> 'N2-k3x2-p1,0x2,2-ceil'
    (False/None entries are left out)."""
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
