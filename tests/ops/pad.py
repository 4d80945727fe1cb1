"""Padding (csrc/pad.c): F.pad and F.pad_backward in every mode, negative pads (crops). numpy.pad
as a second oracle, the aliases and the documentation's picture are in tests/test_pad.py; the
reference's own adjoint and finite-difference checks in tests/test_reference.py."""
import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from helpers import rng_for

from .common import (BIG, FIT, HUGE, HUGE_TYPES, LAYOUT_X4, TF, TOO_LARGE, X4, case, check, empty,
                     from_numpy, gradcheck, normal, ones, ref_close, tt)


# ---- against PyTorch --------------------------------------------------------------------------------

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

REFLECT_CROP_CASES = [
    pad_case((2, 3, 7), (-5, 3), "reflect"),
    pad_case((2, 3, 7), (3, -5), "reflect"),
    pad_case((2, 3, 7), (-3, 4), "reflect"),
    pad_case((2, 3, 5, 6), (1, 1, -3, 3), "reflect"),
    pad_case((2, 3, 5, 6), (-4, 3, 1, 1), "reflect"),
]


def torch_run(case):
    def run(dtype):
        rng = rng_for("pad", case, dtype)
        x = normal(case["shape"], dtype, rng)
        pad, mode, value = case["pad"], case["mode"], case["value"]
        kw = dict(pad=pad, mode=mode, value=value)
        tkw = dict(mode=mode, value=value) if mode == "constant" else dict(mode=mode)
        y = check("pad", [x], kw, lambda t: TF.pad(t, pad, **tkw), dtype, rng, scale=4)
        # padding only copies: exact
        np.testing.assert_array_equal(y, TF.pad(from_numpy(x), pad, **tkw).numpy())
    return run


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
            elif mode == "reflect":  # both >= 0: see REFLECT_CROP_CASES
                lo, hi = (int(v) for v in rng.integers(0, n, 2))
            elif mode == "circular":
                lo, hi = (int(v) for v in rng.integers(0, n + 1, 2))
            else:
                lo, hi = (int(v) for v in rng.integers(-(n // 2), 5, 2))
            pad += [lo, hi]
        value = float(np.round(rng.standard_normal(), 2)) if mode == "constant" else 0.0
        cases.append(pad_case(shape, tuple(pad), mode, value))
    return cases


def _runs(params, tag=""):
    return [pytest.param(torch_run(p.values[0]), id=f"pad{tag}-{p.id}") for p in params]


TORCH = (_runs(PAD_CASES) + _runs(REFLECT_CROP_CASES, "-reflect-crop")
         + _runs(random_pad_cases(40, 21), "-random"))


# ---- the reference against PyTorch -------------------------------------------------------------------

REF_TORCH_PAD_CASES = [
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


def ref_torch_run(shape, padv, mode):
    def run():
        rng = rng_for("pad", shape, padv, mode)
        x = rng.standard_normal(shape)
        value = 1.5 if mode == "constant" else 0.0
        xt = tt(x, grad=True)
        yt = TF.pad(xt, padv, mode=mode, value=value) if mode == "constant" else TF.pad(xt, padv, mode=mode)
        y = ref.pad(x, padv, mode=mode, value=value)
        assert y.shape == tuple(yt.shape)
        ref_close(y, yt)
        g = rng.standard_normal(y.shape)
        yt.backward(tt(g))
        ref_close(ref.pad_backward(g, shape, padv, mode=mode), xt.grad)
    return run


REFERENCE_TORCH = [pytest.param(ref_torch_run(s, p, m),
                                id=f"pad-{m}-{'x'.join(map(str, s))}-pad{','.join(map(str, p))}")
                   for s, p, m in REF_TORCH_PAD_CASES]


# ---- against finite differences --------------------------------------------------------------------------

def grad_run(mode):
    def run():
        rng = rng_for("gc-pad", mode)
        gradcheck(F.pad, F.pad_backward, (rng.standard_normal((2, 3, 4)),),
                  dict(pad=(5, -1, 2, 6), mode=mode, value=0.3), rng)
    return run


GRADCHECK = [pytest.param(grad_run(m), id=f"pad-{m}")
             for m in ("constant", "reflect", "symmetric", "replicate", "circular")]


# ---- bad, huge, empty and unusual input ---------------------------------------------------------------

ERRORS = [
    case("pad-odd-length", lambda: F.pad(X4(), (1, 2, 3)), ValueError,
         r"pad: pad must have an even length of at most 2\*ndim = 8, got 3 values"),
    case("pad-too-many-for-ndim", lambda: F.pad(ones(3), (1, 1, 1, 1)), ValueError,
         r"pad must have an even length of at most 2\*ndim = 2, got 4 values .*shape \(3,\)"),
    case("pad-mode-unknown", lambda: F.pad(X4(), (1, 1), mode="bogus"), ValueError,
         r"pad: mode must be one of 'zeros', .*got 'bogus'"),
    case("pad-mode-None", lambda: F.pad(X4(), (1, 1), mode=None), TypeError,
         r"pad: mode must be a string, got None"),
    case("pad-mode-list", lambda: F.pad(X4(), (1, 1), mode=["reflect"]), TypeError,
         r"pad: mode must be a string, got \['reflect'\]"),
    case("pad-crop-larger-than-dim", lambda: F.pad(ones(3), (-4, 0)), ValueError,
         r"pad: pads \(-4, 0\) do not fit dim 0 of size 3"),
    case("pad-crop-both-sides", lambda: F.pad(ones(3), (-2, -2)), ValueError,
         r"pads \(-2, -2\) do not fit dim 0 of size 3"),
    case("pad-reflect-empty-dim", lambda: F.pad(ones(2, 0), (1, 1), mode="reflect"), ValueError,
         r"pads \(1, 1\) do not fit dim 1 of size 0 in mode 'reflect'"),
    case("pad-symmetric-empty-dim", lambda: F.pad(ones(2, 0), (1, 1), mode="symmetric"), ValueError,
         r"pads \(1, 1\) do not fit dim 1 of size 0 in mode 'symmetric'"),
    case("pad-replicate-empty-dim", lambda: F.pad(ones(2, 0), (1, 1), mode="replicate"), ValueError,
         r"pads \(1, 1\) do not fit dim 1 of size 0 in mode 'replicate'"),
    case("pad-circular-empty-dim", lambda: F.pad(ones(0, 2), (0, 0, 1, 0), mode="circular"),
         ValueError, r"pads \(1, 0\) do not fit dim 0 of size 0 in mode 'circular'"),
    case("pad-int", lambda: F.pad(ones(3), 1), TypeError,
         r"pad: pad must be a tuple of ints \(last dim first\), got 1"),
    case("pad-None", lambda: F.pad(ones(3), None), TypeError, r"pad must be a tuple .*got None"),
    case("pad-float-entry", lambda: F.pad(ones(3), (1.5, 1)), TypeError,
         r"pad: pad must be an int, got 1\.5"),
    case("pad-bool-entry", lambda: F.pad(ones(3), (True, 1)), TypeError,
         r"pad must be an int, got True"),
    case("pad-value-str", lambda: F.pad(ones(3), (1, 1), value="x"), TypeError,
         r"pad: value must be a real number, got 'x'"),
    case("pad-input-complex", lambda: F.pad(ones(3).astype(complex), (1, 1)), TypeError,
         r"pad: input must be a real numeric array, got dtype complex128"),
    case("pad_backward", lambda: F.pad_backward(ones(4), ones(3), (1, 1)), ValueError,
         r"pad_backward: grad_output has size 4 along axis 0, expected 5"),
    case("pad_backward-ndim", lambda: F.pad_backward(ones(5, 5), ones(3), (1, 1)), ValueError,
         r"pad_backward: .*grad_output has 2"),
]

HUGE_SIZES = [
    # pad
    case("pad-2**62-both-sides", lambda: F.pad(ones(3), (BIG, BIG)), OverflowError,
         rf"^pad: .*{BIG}.*overflows int64"),
    case("pad-crop-minus-2**63", lambda: F.pad(ones(3), (-2 ** 63, 0)), OverflowError,
         rf"^pad: .*-{2 ** 63}.*overflows int64"),
    case("pad-2**70", lambda: F.pad(ones(3), (HUGE, 0)), OverflowError, FIT("pad", "pad", HUGE)),
    case("pad-2**60-bytes-overflow", lambda: F.pad(ones(3), (2 ** 60, 0)), OverflowError,
         TOO_LARGE("pad")),
    case("pad-2**31-squared-bytes-overflow", lambda: F.pad(ones(3, 3), (2 ** 31, 0, 2 ** 31, 0)),
         OverflowError, TOO_LARGE("pad")),
    case("pad-2**58-alloc", lambda: F.pad(ones(3), (2 ** 58, 0)), HUGE_TYPES,
         rf"^pad: .*{2 ** 58}"),  # MemoryError (2 EiB)
]

EMPTY = [
    empty(lambda dt: F.pad(ones(0, 2, 4, 4, dtype=dt), (1, 1), mode="reflect"), (0, 2, 4, 6),
                 id="pad-reflect"),
]

FAILING = [
    pytest.param(lambda a: F.pad(a["x"], (-7, 0), mode="reflect"), id="pad-crop"),
    pytest.param(lambda a: F.pad_backward(a["g"], a["x"], (1, 1)), id="pad_backward-grad-shape"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X4, lambda x: F.pad(x, (2, 1, 1, 2), mode="symmetric"), id="pad"),
]

NAN_INF = [
    pytest.param(lambda x: F.pad(x, (2, 2, 1, 1), mode="circular"),
                 lambda x: TF.pad(from_numpy(x), (2, 2, 1, 1), mode="circular"), (2, 3, 9, 9),
                 id="pad-circular"),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """pad forward (circular; symmetric on the last dim only) and backward (reflect)."""
    x = rng.standard_normal((n, c, h, h))
    return [F.pad(x, (1, 2, 3, 0), mode="circular"), F.pad(x, (2, 2), mode="symmetric"),
            F.pad_backward(rng.standard_normal((n, c, h + 3, h + 3)), x, (1, 2, 3, 0), mode="reflect")]
