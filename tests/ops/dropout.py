"""Dropout (csrc/activation.c applies a mask drawn in Python): F.dropout, F.dropout2d, their
backward and layers. Seeds, generators and train/eval modes are in tests/test_dense.py and
tests/test_nn.py."""
import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from cnnpy import nn
from helpers import rng_for, torch

from .common import (TF, case, grad_for, gradcheck, layer_case, leaf, normal, ones, ref_close, torch_close,
                     tt)

# ---- against PyTorch --------------------------------------------------------------------------------

def exact_p_run(p):
    """p=0 is the identity and p=1 zeros everything, forward and backward, as in torch."""
    def run(dtype):
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
    return run


def with_mask_run(p):
    """With cnnpy's own mask, dropout is torch's x * mask / (1 - p), forward and backward."""
    def run(dtype):
        rng = rng_for("dropout_mask", p, dtype)
        x = normal((4, 5, 6), dtype, rng)
        y, mask = F.dropout(x, p, rng=7, return_mask=True)
        assert y.dtype == dtype and mask.dtype == bool and mask.shape == x.shape
        assert 0 < mask.sum() < mask.size
        xt = leaf(x)
        yt = xt * torch.from_numpy(mask.astype(np.float64)) / (1 - p)
        torch_close(y, yt, dtype, what="dropout forward")
        g = grad_for(x.shape, dtype, rng)
        yt.backward(torch.from_numpy(g.astype(np.float64)))
        for kw in (dict(rng=7), dict(mask=mask)):
            gx = F.dropout_backward(g, x, p, **kw)
            assert gx.dtype == dtype
            torch_close(gx, xt.grad, dtype, what=f"dropout backward {list(kw)}")
        # not training: identity, as torch
        np.testing.assert_array_equal(F.dropout(x, p, training=False), x)
        np.testing.assert_array_equal(TF.dropout(torch.from_numpy(x), p, training=False).numpy(), x)
        np.testing.assert_array_equal(F.dropout_backward(g, x, p, training=False), g)
    return run


TORCH = ([pytest.param(exact_p_run(p), id=f"dropout-exact-p{p}") for p in (0.0, 1.0)]
         + [pytest.param(with_mask_run(p), id=f"dropout-mask-p{p}") for p in (0.1, 0.5, 0.9)])


# ---- the reference against PyTorch -------------------------------------------------------------------

def ref_torch_run(p):
    def run():
        torch.manual_seed(7)
        rng = rng_for("dropout", p)
        x = rng.standard_normal((4, 50)) + 5.0  # nonzero, so the mask is recoverable
        xt = tt(x, True)
        yt = TF.dropout(xt, p, training=True)
        mask = (yt.detach().numpy() != 0).astype(np.float64)
        ref_close(ref.dropout_apply(x, mask, p), yt)
        gy = rng.standard_normal(x.shape)
        yt.backward(tt(gy))
        ref_close(ref.dropout_apply_backward(gy, mask, p), xt.grad)
    return run


REFERENCE_TORCH = [pytest.param(ref_torch_run(p), id=f"dropout-p{p}") for p in (0.0, 0.3, 0.75, 1.0)]


# ---- against finite differences --------------------------------------------------------------------------

def grad_dropout():
    rng = rng_for("gc-dropout")
    x = rng.standard_normal((4, 5))
    gradcheck(F.dropout, F.dropout_backward, (x,), dict(p=0.4, rng=11), rng)


GRADCHECK = [pytest.param(grad_dropout, id="dropout-p=0.4-rng=11")]


# ---- bad input ---------------------------------------------------------------------------------------------

ERRORS = [
    case("dropout-p-above-1", lambda: F.dropout(ones(3), p=1.5), ValueError,
         r"dropout: p must be a probability in \[0, 1\], got 1\.5"),
    case("dropout-p-negative", lambda: F.dropout(ones(3), p=-0.1), ValueError,
         r"p must be a probability in \[0, 1\], got -0\.1"),
    case("dropout-p-nan", lambda: F.dropout(ones(3), p=float("nan")), ValueError,
         r"p must be a probability in \[0, 1\], got nan"),
    case("dropout-p-str", lambda: F.dropout(ones(3), p="0.5"), TypeError,
         r"dropout: p must be a real number, got '0\.5'"),
    case("dropout-p-None", lambda: F.dropout(ones(3), p=None), TypeError,
         r"p must be a real number, got None"),
    case("dropout-p-bool", lambda: F.dropout(ones(3), p=True), TypeError,
         r"p must be a real number, got True"),
    case("dropout-rng-str", lambda: F.dropout(ones(3), 0.5, rng="abc"), TypeError,
         r"rng must be None, an int seed or a numpy\.random\.Generator, got 'abc'"),
    case("dropout-rng-float", lambda: F.dropout(ones(3), 0.5, rng=1.5), TypeError,
         r"rng must be .*got 1\.5"),
    case("dropout-rng-negative", lambda: F.dropout(ones(3), 0.5, rng=-1), ValueError,
         r"^dropout: rng seed must be a non-negative int, got -1$"),
    case("dropout-input-object", lambda: F.dropout(ones(3).astype(object), 0.5), TypeError,
         r"dropout: input must be a real numeric array, got dtype object"),
    case("dropout_backward-no-mask-no-seed", lambda: F.dropout_backward(ones(3), ones(3), p=0.5),
         ValueError, r"dropout_backward: pass the mask .*integer seed used as rng"),
    case("dropout_backward-generator-not-seed",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, rng=np.random.default_rng(0)),
         ValueError, r"dropout_backward: pass the mask"),
    case("dropout_backward-mask-shape",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, mask=ones(4, dtype=bool)), ValueError,
         r"dropout_backward: mask \(4,\) must have the input's shape \(3,\)"),
    case("dropout_backward-p-above-1", lambda: F.dropout_backward(ones(3), ones(3), p=2.0, rng=0),
         ValueError, r"dropout_backward: p must be a probability in \[0, 1\], got 2\.0"),
    case("dropout_backward-mask-str",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, mask=np.array(["a", "b", "c"])),
         TypeError, r"^dropout_backward: mask must be a bool \(or 0/1 integer\) array, got dtype <U1$"),
    case("dropout_backward-mask-complex",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, mask=ones(3, dtype=complex)),
         TypeError, r"dropout_backward: mask must be a bool \(or 0/1 integer\) array, got dtype complex128"),
    case("dropout_backward-mask-object",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, mask=ones(3, dtype=object)),
         TypeError, r"dropout_backward: mask must be a bool \(or 0/1 integer\) array, got dtype object"),
    case("dropout_backward-mask-float",
         lambda: F.dropout_backward(ones(3), ones(3), p=0.5, mask=ones(3)),
         TypeError, r"dropout_backward: mask must be a bool \(or 0/1 integer\) array, got dtype float64"),
    case("dropout_backward", lambda: F.dropout_backward(ones(4), ones(3), 0.5, rng=0), ValueError,
         r"dropout_backward: grad_output \(4,\) must have the input's shape \(3,\)"),
]

FAILING = [
    pytest.param(lambda a: F.dropout_backward(a["p"], a["t"], 0.5, mask=a["mask"][:2]),
                 id="dropout_backward-mask"),
]


# ---- layers ---------------------------------------------------------------------------------------------

LAYERS = [layer_case("dropout-eval", lambda: nn.Dropout(0.5).eval(), (3, 4))]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    a = rng.standard_normal((rows, 7))
    return [F.dropout(a, 0.3, rng=1), F.dropout_backward(a, a, 0.3, rng=1)]
