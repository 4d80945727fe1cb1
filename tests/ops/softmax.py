"""Softmax along an axis (csrc/activation.c): F.softmax, F.log_softmax, their backward and
nn.Softmax."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import assert_close, away_from_zero, rng_for

from .common import (FIT, HUGE, LAYOUT_X2, TF, TNN, case, check, empty, from_numpy, gradcheck, layer_case,
                     ones, ref_close, tt)

# ---- against PyTorch --------------------------------------------------------------------------------

SOFTMAX_CASES = [((7,), -1), ((7,), 0), ((3, 7), -1), ((3, 7), 0), ((2, 3, 4, 5), 1),
                 ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 2), ((2, 3, 4, 5), -4), ((4, 1, 3), 1),
                 ((2, 40), 1)]


def torch_run(op, shape, dim):
    def run(dtype):
        rng = rng_for("softmax", op, shape, dim, dtype)
        x = rng.standard_normal(shape) * 3
        if x.size > 8:
            x.reshape(-1)[:2] = [300.0, -300.0]  # stability: exp would overflow without the max shift
        x = x.astype(dtype)
        check(op, [x], dict(dim=dim), lambda t: getattr(TF, op)(t, dim), dtype, rng,
              scale=math.sqrt(shape[dim]))
    return run


TORCH = [pytest.param(torch_run(op, shape, dim), id=f"{op}-{'x'.join(map(str, shape))}-dim{dim}")
         for op in ("softmax", "log_softmax") for shape, dim in SOFTMAX_CASES]


# ---- against the reference ----------------------------------------------------------------------------

def ref_run(dim):
    def run(dtype):
        rng = rng_for("softmax", dim)
        x = (rng.standard_normal((3, 4, 5)) * 10).astype(dtype)
        x[0, 0, 0] = 500.0  # would overflow a naive exp
        for name in ("softmax", "log_softmax"):
            y = getattr(F, name)(x, dim)
            assert_close(y, getattr(ref, name)(x, dim), dtype)
            gy = rng.standard_normal(x.shape).astype(dtype)
            assert_close(getattr(F, name + "_backward")(gy, x, dim), getattr(ref, name + "_backward")(gy, x, dim), dtype)
        assert_close(F.softmax(x, dim).sum(axis=dim), np.ones(np.delete(x.shape, dim % 3)), dtype)
    return run


REFERENCE = [pytest.param(ref_run(dim), id=f"softmax-log_softmax-3x4x5-dim{dim}") for dim in (0, 1, -1, 2)]


# ---- the reference against PyTorch -------------------------------------------------------------------

def ref_torch_run(log, dim):
    def run():
        rng = rng_for("softmax", log, dim)
        x = rng.standard_normal((3, 4, 5)) * 4
        x[0, 0, :] += 1000.0  # stability
        x[1, :, 0] -= 1000.0
        xt = tt(x, True)
        yt = TF.log_softmax(xt, dim) if log else TF.softmax(xt, dim)
        fwd, bwd = (ref.log_softmax, ref.log_softmax_backward) if log else (ref.softmax, ref.softmax_backward)
        ref_close(fwd(x, dim), yt)
        gy = rng.standard_normal(x.shape)
        yt.backward(tt(gy))
        ref_close(bwd(gy, x, dim), xt.grad)
    return run


REFERENCE_TORCH = [pytest.param(ref_torch_run(log, dim),
                                id=f"{'log_softmax' if log else 'softmax'}-3x4x5-dim{dim}")
                   for log in (False, True) for dim in (0, 1, -1, 2)]


# ---- against finite differences --------------------------------------------------------------------------

def grad_run(name, dim):
    def run():
        rng = rng_for("gc-act", name)
        gradcheck(getattr(F, name), getattr(F, name + "_backward"), (away_from_zero((3, 4, 2), rng),),
                  {"dim": dim}, rng)
    return run


GRADCHECK = [pytest.param(grad_run("softmax", 1), id="softmax-dim=1"),
             pytest.param(grad_run("log_softmax", 0), id="log_softmax-dim=0")]


# ---- bad, huge, empty and unusual input ---------------------------------------------------------------

ERRORS = [
    case("softmax-dim-too-big", lambda: F.softmax(ones(2, 3), dim=2), ValueError,
         r"softmax: dim 2 is out of range for an input of shape \(2, 3\)"),
    case("softmax-dim-too-negative", lambda: F.softmax(ones(2, 3), dim=-3), ValueError,
         r"softmax: dim -3 is out of range"),
    case("softmax-dim-huge", lambda: F.softmax(ones(2, 3), dim=HUGE), OverflowError,
         rf"^softmax: dim={HUGE} does not fit in int64$"),
    case("softmax-0d-dim-1", lambda: F.softmax(np.array(1.0), dim=1), ValueError,
         r"dim 1 is out of range for an input of shape \(\)"),
    case("log_softmax-dim-too-big", lambda: F.log_softmax(ones(2, 3), dim=5), ValueError,
         r"log_softmax: dim 5 is out of range"),
    case("softmax-dim-float", lambda: F.softmax(ones(2, 3), dim=1.0), TypeError,
         r"softmax: dim must be an int, got 1\.0"),
    case("softmax-dim-None", lambda: F.softmax(ones(2, 3), dim=None), TypeError,
         r"dim must be an int, got None"),
    case("softmax-input-complex", lambda: F.softmax(ones(3).astype(complex)), TypeError,
         r"softmax: input must be a real numeric array, got dtype complex128"),
    # softmax_backward's message names grad_output but quotes no shape (minor, see report)
    case("softmax_backward", lambda: F.softmax_backward(ones(2, 4), ones(2, 3)), ValueError,
         r"softmax_backward: grad_output"),
    case("log_softmax_backward", lambda: F.log_softmax_backward(ones(2, 4), ones(2, 3)), ValueError,
         r"softmax_backward: grad_output"),
]

HUGE_SIZES = [
    case("softmax-dim-minus-2**70", lambda: F.softmax(ones(2, 3), dim=-HUGE), OverflowError,
         FIT("softmax", "dim", -HUGE)),
]

EMPTY = [
    empty(lambda dt: F.softmax(ones(0, 3, dtype=dt)), (0, 3), id="softmax"),
    empty(lambda dt: F.log_softmax(ones(0, 3, dtype=dt), dim=0), (0, 3), id="log_softmax-dim0"),
]

FAILING = [
    pytest.param(lambda a: F.softmax_backward(a["t"], a["p"].T), id="softmax_backward"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X2, lambda x: F.softmax(x, dim=0), id="softmax"),
    pytest.param(LAYOUT_X2, lambda x: F.log_softmax_backward(np.ones((5, 7)), x), id="log_softmax_backward"),
]

NAN_INF = [
    pytest.param(lambda x: F.softmax(x, dim=1), lambda x: TF.softmax(from_numpy(x), 1), (6, 7), id="softmax"),
    pytest.param(lambda x: F.log_softmax(x, dim=0), lambda x: TF.log_softmax(from_numpy(x), 0), (6, 7),
                 id="log_softmax"),
]


# ---- layers ---------------------------------------------------------------------------------------------

LAYERS = [layer_case("softmax", lambda: nn.Softmax(dim=1), (3, 4), lambda: TNN.Softmax(dim=1))]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    a = rng.standard_normal((rows, 7))
    return [F.softmax(a), F.softmax_backward(a, a), F.log_softmax(a, dim=0), F.log_softmax_backward(a, a)]


def _slow_softmax(s):
    x = rng_for("slow", "softmax", s).standard_normal((64 * s, 1024))
    return lambda: F.softmax(x)


SLOW = [pytest.param(_slow_softmax, id="softmax")]
