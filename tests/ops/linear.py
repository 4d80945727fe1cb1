"""Dense layers (csrc/linear.c): F.linear, F.linear_backward, nn.Linear (nn.TiedLinear in
tests/test_nn.py). A property test over random shapes is in tests/test_dense.py."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import assert_close, rng_for

from .common import (LAYOUT_LW, LAYOUT_X2, TF, TNN, case, check, empty, fmt, from_numpy, gradcheck,
                     layer_case, normal, ones, ref_close, tt)


# ---- against PyTorch --------------------------------------------------------------------------------

def torch_run(shape, bias):
    def run(dtype):
        rng = rng_for("linear", shape, bias, dtype)
        fin = shape[-1]
        x = normal(shape, dtype, rng)
        fout = 140 if fin > 100 else 6  # the big case crosses the GEMM's packing blocks
        w = normal((fout, fin), dtype, rng)
        b = normal((fout,), dtype, rng) if bias else None
        scale = math.sqrt(max(fin, math.prod(shape[:-1]), fout))
        check("linear", [x, w, b], {}, TF.linear, dtype, rng, scale=scale)
    return run


def zero_in_features(dtype):
    """in_features=0 gives the bias broadcast to (*, out_features), as torch."""
    rng = rng_for("linear_in0", dtype)
    x, w, b = np.zeros((2, 0), dtype), np.zeros((3, 0), dtype), normal((3,), dtype, rng)
    check("linear", [x, w, b], {}, TF.linear, dtype, rng)


TORCH = ([pytest.param(torch_run(shape, bias), id=f"linear-x{fmt(shape)}-{'bias' if bias else 'nobias'}")
          for shape in [(5,), (4, 5), (2, 3, 5), (1, 40), (0, 5), (2100, 270)] for bias in (True, False)]
         + [pytest.param(zero_in_features, id="linear-in_features=0")])


# ---- against the reference ----------------------------------------------------------------------------

def ref_run(xshape, out, bias):
    def run(dtype):
        rng = rng_for("linear", xshape, out, bias)
        x = rng.standard_normal(xshape).astype(dtype)
        w = rng.standard_normal((out, xshape[-1])).astype(dtype)
        b = rng.standard_normal(out).astype(dtype) if bias else None
        y = F.linear(x, w, b)
        assert y.shape == (*xshape[:-1], out) and y.dtype == dtype
        scale = max(1.0, np.sqrt(xshape[-1]))
        if x.size:
            assert_close(y, ref.linear(x, w, b), dtype, scale=scale)
        gy = rng.standard_normal(y.shape).astype(dtype)
        gx, gw, gb = F.linear_backward(gy, x, w, b)
        assert gx.shape == x.shape and gw.shape == w.shape
        if x.size:
            rx, rw, rb = ref.linear_backward(gy, x, w, b)
            assert_close(gx, rx, dtype, scale=scale)
            assert_close(gw, rw, dtype, scale=scale)
            if bias:
                assert_close(gb, rb, dtype, scale=scale)
        if not bias:
            assert gb is None
    return run


REFERENCE = [pytest.param(ref_run(xshape, out, bias),
                          id=f"linear-x{fmt(xshape)}-out{out}-{'bias' if bias else 'nobias'}")
             for xshape, out, bias in [((4, 7), 5, True), ((7,), 3, False), ((2, 3, 6), 4, True),
                                       ((32, 1936), 50, True), ((0, 5), 3, True), ((3, 300), 600, False)]]


# ---- the reference against PyTorch -------------------------------------------------------------------

def ref_torch_run(xshape, bias):
    def run():
        rng = rng_for("linear", xshape, bias)
        x = rng.standard_normal(xshape)
        w = rng.standard_normal((3, 4))
        b = rng.standard_normal(3) if bias else None
        xt, wt = tt(x, True), tt(w, True)
        bt = tt(b, True) if bias else None
        yt = TF.linear(xt, wt, bt)
        y = ref.linear(x, w, b)
        ref_close(y, yt)
        gy = rng.standard_normal(y.shape)
        yt.backward(tt(gy))
        gx, gw, gb = ref.linear_backward(gy, x, w, b)
        ref_close(gx, xt.grad)
        ref_close(gw, wt.grad)
        if bias:
            ref_close(gb, bt.grad)
        else:
            assert gb is None
    return run


REFERENCE_TORCH = [pytest.param(ref_torch_run(xshape, bias), id=f"linear-{name}-{'bias' if bias else 'nobias'}")
                   for xshape, name in [((5, 4), "2d"), ((2, 3, 4), "3d"), ((4,), "1d")]
                   for bias in (True, False)]


# ---- against finite differences --------------------------------------------------------------------------

def grad_linear():
    rng = rng_for("gc-linear")
    x, w, b = rng.standard_normal((3, 2, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    gradcheck(F.linear, F.linear_backward, (x, w, b), {}, rng)


GRADCHECK = [pytest.param(grad_linear, id="linear-x3x2x5-out4-bias")]


# ---- bad, empty and unusual input ---------------------------------------------------------------------

ERRORS = [
    case("linear-in_features-mismatch", lambda: F.linear(ones(2, 3), ones(4, 5)), ValueError,
         r"linear: input's last dim must be in_features=5, got shape \(2, 3\)"),
    case("linear-bias-length", lambda: F.linear(ones(2, 3), ones(4, 3), ones(3)), ValueError,
         r"linear: bias must have shape \(4,\), got \(3,\)"),
    case("linear-bias-2d", lambda: F.linear(ones(2, 3), ones(4, 3), ones(1, 4)), ValueError,
         r"bias must have shape \(4,\), got \(1, 4\)"),
    case("linear-weight-1d", lambda: F.linear(ones(2, 3), ones(3)), ValueError,
         r"linear: weight must be \(out_features, in_features\), got shape \(3,\)"),
    case("linear-weight-3d", lambda: F.linear(ones(2, 3), ones(1, 4, 3)), ValueError,
         r"weight must be \(out_features, in_features\), got shape \(1, 4, 3\)"),
    case("linear-input-0d", lambda: F.linear(np.array(1.0), ones(4, 1)), ValueError,
         r"input's last dim must be in_features=1, got shape \(\)"),
    case("linear-input-object", lambda: F.linear(ones(2, 3).astype(object), ones(4, 3)), TypeError,
         r"linear: input must be a real numeric array, got dtype object"),
    case("linear-weight-None", lambda: F.linear(ones(2, 3), None), TypeError,
         r"linear: weight must be an array, got None"),
    case("linear-bias-str", lambda: F.linear(ones(2, 3), ones(4, 3), "bias"), TypeError,
         r"bias must be a real numeric array, got dtype <U4"),
    case("linear_backward", lambda: F.linear_backward(ones(2, 5), ones(2, 3), ones(4, 3)), ValueError,
         r"linear_backward: grad_output must have shape \(2, 4\), got \(2, 5\)"),
]

EMPTY = [
    empty(lambda dt: F.linear(ones(0, 3, dtype=dt), ones(4, 3, dtype=dt), ones(4, dtype=dt)),
                 (0, 4), id="linear"),
    empty(lambda dt: F.linear_backward(ones(0, 4, dtype=dt), ones(0, 3, dtype=dt),
                                              ones(4, 3, dtype=dt))[0], (0, 3), id="linear_backward"),
]

FAILING = [
    pytest.param(lambda a: F.linear(a["p"], a["lw"].T, a["b"]), id="linear-bias"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X2, lambda x: F.linear(x, LAYOUT_LW, np.ones(3)), id="linear"),
    pytest.param(LAYOUT_X2, lambda x: F.linear_backward(np.ones((5, 3)), x, LAYOUT_LW), id="linear_backward"),
]

NAN_INF = [
    pytest.param(lambda x: F.linear(x, LAYOUT_LW.astype(x.dtype)),
                 lambda x: TF.linear(from_numpy(x), from_numpy(LAYOUT_LW.astype(x.dtype))), (6, 7),
                 id="linear"),
]


# ---- layers ---------------------------------------------------------------------------------------------

LAYERS = [
    layer_case("linear", lambda: nn.Linear(5, 3), (4, 5), lambda: TNN.Linear(5, 3)),
    layer_case("linear-3d-input", lambda: nn.Linear(5, 3, bias=False), (2, 3, 5),
               lambda: TNN.Linear(5, 3, bias=False)),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """linear through the C fast path (float32), the full path (Fortran order), and its backward
    through its C fast path and its full path (an output_mask), on (rows, 7) inputs."""
    a, lw = rng.standard_normal((rows, 7)), rng.standard_normal((3, 7))
    return [F.linear(a.astype(np.float32), lw.astype(np.float32)),
            F.linear(np.asfortranarray(a), lw, rng.standard_normal(3)),
            *F.linear_backward(rng.standard_normal((rows, 3)), a, lw, rng.standard_normal(3)),
            *F.linear_backward(rng.standard_normal((rows, 3)), a, lw, rng.standard_normal(3),
                               output_mask=(True, True, False))[:2]]


def _slow_linear(s):
    rng = rng_for("slow", "linear", s)
    a = rng.standard_normal((64 * s, 512))
    lw = rng.standard_normal((512, 512))
    return lambda: F.linear(a, lw)


SLOW = [pytest.param(_slow_linear, id="linear")]
