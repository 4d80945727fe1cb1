"""Elementwise activations (csrc/activation.c): relu, leaky_relu, sigmoid, tanh, gelu and their
layers.

One ``Activation`` entry per op is the whole unit: from its name, its argument variants and its
layer class it derives every suite's cases — PyTorch (``torch.nn.functional.<name>``, the layer
``torch.nn.<Layer>``), the float64 reference (``reference.<name>`` and ``<name>_backward``), finite
differences, the bad-input, empty-batch, layout, NaN/inf and failing-call cases, the layer tests
and the engine calls of the reliability suite. A new elementwise activation is one more entry
here plus its reference in ``tests/reference.py``.
"""
import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import assert_close, away_from_zero, rng_for, torch

from .common import (LAYOUT_X2, case, check, empty, from_numpy, grad_for, gradcheck, ones, ref_close,
                     tt)


def act_input(dtype, rng, shape=(3, 4, 5), spread=3.0):
    """Random values with the kinks (0: relu's gradient there is 0 in torch, leaky_relu's the
    slope) and saturated values (+-40, +-700)."""
    x = rng.standard_normal(shape) * spread
    flat = x.reshape(-1)
    flat[:3] = 0.0
    flat[3:7] = [40.0, -40.0, 700.0, -700.0]
    return x.astype(dtype)


def ref_input(rng):
    """The reference's input: signed zeros, saturation and tiny values among random ones."""
    x = rng.standard_normal((3, 4, 5)) * 3
    x.flat[:8] = [0.0, -0.0, 50.0, -50.0, 700.0, -700.0, 1e-8, -1e-8]
    return x


def _torch_specials_one_by_one(fn, x):
    """PyTorch's activation of x, its NaN and infinite elements computed one element at a time.
    Its vectorised float32 GELU on AVX-512 CPUs returns NaN for +inf (PyTorch 2.13), where its
    one-element path, its float64 kernel and the definition x * Phi(x) give +inf; the one-element
    path is the reference (docs/DECISIONS.md)."""
    out = fn(from_numpy(x)).clone()
    for idx in zip(*np.nonzero(~np.isfinite(x))):
        out[idx] = fn(from_numpy(np.array([x[idx]], dtype=x.dtype)))[0]
    return out


class Activation:
    """y = F.<name>(x, **kwargs) elementwise, with F.<name>_backward(grad_output, x, **kwargs).

    ``variants`` are the keyword arguments tested (each suite runs every variant, and so do the
    engine calls; the one-per-op checks — bad input, layouts, empty batch — the first). ``layer`` is the nn
    class (constructed with the same keywords); ``kink`` says the derivative jumps at 0, so the
    layers' finite differences keep away from it. ``f32_bound = (forward, backward)``: float32 is
    also checked against PyTorch computing in float32 (the same expressions in the same
    precision), within forward * eps * (|x| + |y|) and backward * eps * |grad_output| * (1 + |x|),
    eps the float32 epsilon."""

    def __init__(self, name, variants=({},), layer=None, kink=False, f32_bound=None):
        self.name, self.variants, self.layer, self.kink = name, [dict(v) for v in variants], layer, kink
        self.f32_bound = f32_bound

    def _id(self, kw):
        return self.name + "".join(f"-{k}={v}" for k, v in kw.items())

    def fn(self, x, **kw):
        return getattr(F, self.name)(x, **kw)

    def backward(self, g, x, **kw):
        return getattr(F, self.name + "_backward")(g, x, **kw)

    def torch_fn(self, kw):
        return lambda t: getattr(torch.nn.functional, self.name)(t, **kw)

    # ---- against PyTorch, the reference and finite differences

    def torch_cases(self):
        def run(kw, dtype):
            rng = rng_for("act", self.name, *([kw] if kw else []), dtype)
            x = act_input(dtype, rng)
            check(self.name, [x], kw, self.torch_fn(kw), dtype, rng)
            if self.f32_bound and dtype == np.float32:
                self.check_torch_float32(x, kw, rng)
        return [pytest.param(lambda dtype, kw=kw: run(kw, dtype), id=self._id(kw)) for kw in self.variants]

    def check_torch_float32(self, x, kw, rng):
        eps = float(np.finfo(np.float32).eps)
        fwd, bwd = self.f32_bound
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = self.torch_fn(kw)(xt)
        y, ax = self.fn(x, **kw).astype(np.float64), np.abs(x.astype(np.float64))
        err = np.abs(y - yt.detach().numpy())
        assert (err <= fwd * eps * (ax + np.abs(y))).all(), f"{self._id(kw)} float32 forward: {err.max()}"
        g = grad_for(x.shape, np.float32, rng)
        yt.backward(torch.from_numpy(g))
        err = np.abs(self.backward(g, x, **kw).astype(np.float64) - xt.grad.numpy())
        bound = bwd * eps * np.abs(g) * (1 + ax)
        assert (err <= bound).all(), f"{self._id(kw)} float32 backward: {err.max()}"

    def reference_cases(self):
        def run(kw, dtype):
            rng = rng_for("act", self.name, *([kw] if kw else []))
            x = (rng.standard_normal((3, 4, 5)) * 5).astype(dtype)
            x[0, 0, :3] = [40.0, -40.0, 0.0]  # saturation and the kink
            y = self.fn(x, **kw)
            assert y.dtype == dtype and y.shape == x.shape
            assert_close(y, getattr(ref, self.name)(x, **kw), dtype)
            gy = rng.standard_normal(x.shape).astype(dtype)
            want = getattr(ref, self.name + "_backward")(gy, x, **kw)
            assert_close(self.backward(gy, x, **kw), want, dtype)
        return [pytest.param(lambda dtype, kw=kw: run(kw, dtype), id=self._id(kw)) for kw in self.variants]

    def reference_torch_cases(self):
        def run(kw):
            rng = rng_for("act", self._id(kw))
            x = ref_input(rng)
            xt = tt(x, True)
            yt = self.torch_fn(kw)(xt)
            ref_close(getattr(ref, self.name)(x, **kw), yt)
            gy = rng.standard_normal(x.shape)
            yt.backward(tt(gy))
            ref_close(getattr(ref, self.name + "_backward")(gy, x, **kw), xt.grad)
        return [pytest.param(lambda kw=kw: run(kw), id=self._id(kw)) for kw in self.variants]

    def gradcheck_cases(self):
        def run(kw):
            rng = rng_for("gc-act", self._id(kw))
            gradcheck(getattr(F, self.name), getattr(F, self.name + "_backward"),
                      (away_from_zero((3, 4, 2), rng),), kw, rng)
        return [pytest.param(lambda kw=kw: run(kw), id=self._id(kw)) for kw in self.variants]

    # ---- bad, empty and unusual input

    def error_cases(self):
        n, kw = self.name, self.variants[0]
        return [
            case(f"{n}-input-None", lambda: self.fn(None, **kw), TypeError,
                 rf"{n}: input must be an array, got None"),
            case(f"{n}-input-str", lambda: self.fn(np.array(["a"]), **kw), TypeError,
                 rf"{n}: input must be a real numeric array, got dtype <U1"),
            case(f"{n}-input-object", lambda: self.fn(ones(3).astype(object), **kw), TypeError,
                 rf"{n}: input must be a real numeric array, got dtype object"),
            case(f"{n}_backward", lambda: self.backward(ones(4), ones(3), **kw), ValueError,
                 rf"{n}_backward: grad_output \(4,\) must have the input's shape \(3,\)"),
        ]

    def empty_cases(self):
        kw = self.variants[0]
        return [empty(lambda dt: self.fn(ones(0, 3, dtype=dt), **kw), (0, 3), id=self.name)]

    def failing_cases(self):
        kw = self.variants[0]
        return [pytest.param(lambda a: self.backward(a["t"], a["p"].T, **kw),
                             id=f"{self.name}_backward-grad-shape")]

    def layout_cases(self):
        kw = self.variants[0]
        return [pytest.param(LAYOUT_X2, lambda x: self.fn(x, **kw), id=self.name)]

    def nan_inf_cases(self):
        return [pytest.param(lambda x, kw=kw: self.fn(x, **kw),
                             lambda x, kw=kw: _torch_specials_one_by_one(self.torch_fn(kw), x),
                             (6, 7), id=self._id(kw)) for kw in self.variants]

    # ---- the layer and the engine calls

    def layer_cases(self):
        def fd_input(shape, rng):
            x = rng.standard_normal(shape)
            return np.where(np.abs(x) < 0.1, 0.5, x) if self.kink else x

        def torch_layer(kw):
            return lambda: getattr(torch.nn, self.layer.__name__)(**kw)

        return [pytest.param(lambda kw=kw: self.layer(**kw), (3, 4), fd_input, torch_layer(kw),
                             id=self.layer.__name__ + self._id(kw)[len(self.name):])
                for kw in self.variants]

    def engine_calls(self, a):
        return [r for kw in self.variants for r in (self.fn(a, **kw), self.backward(a, a, **kw))]


OPS = [
    Activation("relu", layer=nn.ReLU, kink=True),
    Activation("leaky_relu", [{}, {"negative_slope": 0.1}, {"negative_slope": 0.2},
                              {"negative_slope": 0.0}, {"negative_slope": -0.5},
                              {"negative_slope": 1.5}], layer=nn.LeakyReLU, kink=True),
    Activation("sigmoid", layer=nn.Sigmoid),
    Activation("tanh", layer=nn.Tanh),
    Activation("gelu", [{}, {"approximate": "tanh"}], layer=nn.GELU, f32_bound=(2, 3)),
]


def _all(method, *args):
    return [p for op in OPS for p in getattr(op, method)(*args)]


TORCH = _all("torch_cases")
REFERENCE = _all("reference_cases")
REFERENCE_TORCH = _all("reference_torch_cases")
GRADCHECK = _all("gradcheck_cases")
ERRORS = _all("error_cases") + [
    case("leaky_relu-slope-str", lambda: F.leaky_relu(ones(3), "x"), TypeError,
         r"leaky_relu: negative_slope must be a real number, got 'x'"),
    case("gelu-approximate-str", lambda: F.gelu(ones(3), approximate="exact"), ValueError,
         r"^gelu: approximate must be 'none' or 'tanh', got 'exact'$"),
    case("gelu-approximate-None", lambda: F.gelu(ones(3), approximate=None), TypeError,
         r"^gelu: approximate must be 'none' or 'tanh', got None$"),
    case("gelu_backward-approximate-str", lambda: F.gelu_backward(ones(3), ones(3), "Tanh"),
         ValueError, r"^gelu_backward: approximate must be 'none' or 'tanh', got 'Tanh'$"),
    case("GELU-approximate-str", lambda: nn.GELU(approximate="erf"), ValueError,
         r"^GELU: approximate must be 'none' or 'tanh', got 'erf'$"),
    # a grad_output that broadcasts against the input is still refused
    case("tanh_backward-broadcastable", lambda: F.tanh_backward(ones(2, 3), ones(3)), ValueError,
         r"tanh_backward: grad_output \(2, 3\)"),
]
EMPTY = _all("empty_cases")
FAILING = _all("failing_cases")
LAYOUTS = _all("layout_cases")
NAN_INF = _all("nan_inf_cases")
LAYERS = _all("layer_cases")


def calls(rng, n, c, h, rows):
    """Every activation in each of its variants on a (rows, 7) matrix, forward and backward (relu
    also on a transposed view: the full path, not the fast one)."""
    a = rng.standard_normal((rows, 7))
    return _all("engine_calls", a) + [F.relu(a.T)]
