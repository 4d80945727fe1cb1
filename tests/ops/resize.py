"""Resizing (csrc/resize.c): F.interpolate, 'nearest' and 'bilinear', forward only (the
transforms built on it are tested in tests/test_transforms.py)."""
import numpy as np
import pytest

import cnnpy.functional as F
from helpers import rng_for, torch

from .common import LAYOUT_X4, TF, case, empty, fmt, from_numpy, ones


# ---- against PyTorch --------------------------------------------------------------------------------

def torch_run(shape, size, mode):
    def run(dtype):
        x = rng_for("interp", shape, size).standard_normal(shape).astype(dtype)
        y = F.interpolate(x, size=size, mode=mode)
        t = torch.tensor(x)
        t4 = t.reshape((1,) * (4 - t.ndim) + tuple(t.shape))
        kw = {} if mode == "nearest" else {"align_corners": False}
        want = TF.interpolate(t4, size=size, mode=mode, **kw).numpy().reshape(y.shape)
        if mode == "nearest":
            np.testing.assert_array_equal(y, want)
        else:
            np.testing.assert_allclose(y, want, rtol=1e-6 if dtype == np.float32 else 1e-13,
                                       atol=1e-6 if dtype == np.float32 else 1e-13)
        assert F.interpolate(x, scale_factor=2, mode=mode).shape[-2:] == (shape[-2] * 2, shape[-1] * 2)
    return run


TORCH = [pytest.param(torch_run(shape, size, mode), id=f"interpolate-{mode}-{fmt(shape)}-to-{fmt(size)}")
         for mode in ("nearest", "bilinear")
         for shape, size in [((2, 3, 8, 8), (28, 28)), ((1, 2, 28, 28), (7, 5)), ((3, 5, 7), (10, 14)),
                             ((91, 91), (45, 60)), ((13, 17), (29, 3))]]


# ---- bad, empty and unusual input ---------------------------------------------------------------------

ERRORS = [
    case("interpolate-mode-unknown", lambda: F.interpolate(ones(1, 1, 4, 4), size=(3, 3), mode="bicubic"),
         ValueError, r"^interpolate: mode must be 'nearest' or 'bilinear', got 'bicubic'$"),
    case("interpolate-size-zero", lambda: F.interpolate(ones(1, 1, 4, 4), size=(0, 3)), ValueError,
         r"^interpolate: size must be >= 1, got 0$"),
    case("interpolate-input-complex",
         lambda: F.interpolate(ones(1, 1, 4, 4).astype(complex), size=(3, 3)), TypeError,
         r"^interpolate: input must be a real numeric array, got dtype complex128$"),
]

EMPTY = [
    empty(lambda dt: F.interpolate(ones(0, 2, 4, 4, dtype=dt), size=(3, 5), mode="bilinear"),
                 (0, 2, 3, 5), id="interpolate"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X4, lambda x: F.interpolate(x, size=(9, 4), mode="bilinear"), id="interpolate"),
]

NAN_INF = [
    pytest.param(lambda x: F.interpolate(x, size=(13, 5), mode="bilinear"),
                 lambda x: TF.interpolate(from_numpy(x), size=(13, 5), mode="bilinear"), (2, 3, 9, 9),
                 id="interpolate"),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    x = rng.standard_normal((n, c, h, h))
    return [F.interpolate(x, size=(h + 3, h + 3), mode="bilinear"), F.interpolate(x, size=(5, 4))]
