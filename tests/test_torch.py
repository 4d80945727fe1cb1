"""Every op of cnnpy.functional, forward AND backward, against PyTorch (CPU), in float32 and
float64: the TORCH table of every op family (tests/ops/<family>.py), and the optimizers' steps.

The reference is always PyTorch computing in float64 on the very same input values (a float32
input is widened exactly), with gradients from torch autograd (leaf tensors with
``requires_grad``, then ``out.backward(grad_output)``). So the float64 comparison is
implementation against implementation, and the float32 comparison measures cnnpy's own float32
rounding only, not PyTorch's.

Tolerances (tests/ops/common.py): float64 rtol=1e-10, atol=1e-10; float32 rtol=1e-4,
atol=1e-5 * sqrt(L), L the longest sum that feeds one output or gradient element (a sum of L
rounded terms of size ~1 is off by about sqrt(L) units in the last place). Integer outputs
(max-pooling indices) and selections (max, pad, unpool, dropout masks) are compared exactly where
exactness is meaningful.

Skips cleanly without torch. Inputs come from numpy Generators seeded by the case's parameters.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import cnnpy.functional as F  # noqa: E402
import ops  # noqa: E402
from helpers import rng_for  # noqa: E402
from ops.common import leaf, torch_close  # noqa: E402

TF = torch.nn.functional
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("run", ops.gather("TORCH"))
def test_matches_torch(run, dtype):
    run(dtype)


# ---- array layouts and dtypes, across families ---------------------------------------------------------

def test_noncontiguous_inputs_match_torch():
    """Strided, transposed and Fortran-ordered arrays give the same results as contiguous ones."""
    rng = rng_for("layout")
    x = rng.standard_normal((2, 3, 9, 16))[..., ::2]                 # strided
    w = rng.standard_normal((4, 3, 3, 3)).transpose(0, 1, 3, 2)       # transposed
    xf = np.asfortranarray(rng.standard_normal((2, 3, 9, 8)))
    xt, wt, xft = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, w, xf))
    torch_close(F.conv2d(x, w, padding=1), TF.conv2d(xt, wt, padding=1), np.float64)
    g = rng.standard_normal((2, 4, 9, 8))[:, :, ::-1]                 # negative strides
    gx, gw, _ = F.conv2d_backward(g, x, w, padding=1)
    xl, wl = leaf(x), leaf(w)
    TF.conv2d(xl, wl, padding=1).backward(torch.from_numpy(g.copy()))
    torch_close(gx, xl.grad, np.float64)
    torch_close(gw, wl.grad, np.float64)
    torch_close(F.max_pool2d(xf, 2), TF.max_pool2d(xft, 2), np.float64)
    torch_close(F.avg_pool2d(xf, 3, 2, 1), TF.avg_pool2d(xft, 3, 2, 1), np.float64)
    torch_close(F.softmax(x, 1), TF.softmax(xt, 1), np.float64)
    lw = rng.standard_normal((8, 5)).T                                # (5, 8), transposed
    torch_close(F.linear(x, lw), TF.linear(xt, torch.from_numpy(lw.copy())), np.float64)
    torch_close(F.pad(xf, (1, 2, 2, 1), mode="reflect"),
                TF.pad(xft, (1, 2, 2, 1), mode="reflect"), np.float64)
    torch_close(F.conv_transpose2d(xf, w.transpose(1, 0, 2, 3), stride=2),
                TF.conv_transpose2d(xft, wt.transpose(0, 1), stride=2), np.float64)


def test_integer_inputs_compute_in_float64():
    rng = rng_for("ints")
    x = rng.integers(-3, 4, (2, 3, 6, 6))
    w = rng.integers(-2, 3, (2, 3, 3, 3))
    y = F.conv2d(x, w, padding=1)
    assert y.dtype == np.float64
    torch_close(y, TF.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1),
                np.float64)
    torch_close(F.relu(x), TF.relu(torch.from_numpy(x).double()), np.float64)
    torch_close(F.mse_loss(x, x[::-1]), TF.mse_loss(*(torch.from_numpy(a.copy()).double()
                                                      for a in (x, x[::-1]))), np.float64)
