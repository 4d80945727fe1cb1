"""Losses (csrc/loss.c): mse_loss, l1_loss, binary_cross_entropy (on probabilities and on
logits), cross_entropy, correlation_loss, with every reduction, and their backward (the loss
modules are tested in tests/test_nn.py and tests/test_training.py). Target gradients by finite
differences, broadcasting and the scalar results are in tests/test_losses.py."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
import reference as ref
from helpers import assert_close, check_grad, numeric_grad, rng_for, torch

from .common import (FIT, HUGE, LAYOUT_P2, LAYOUT_X2, TF, case, check, from_numpy, grad_for, gradcheck,
                     leaf, normal, ones, pid, ref_close, torch_close, tt)

REDUCTIONS = ["mean", "sum", "none"]
P2, T2 = np.array([0.5, 0.5]), np.array([1.0, 0.0])  # probabilities, targets


def _for_reductions(make, ident):
    """One case per reduction: make(reduction) -> run, ids '<ident>-<reduction>'."""
    return [pytest.param(make(red), id=f"{ident}-{red}") for red in REDUCTIONS]


# ---- against PyTorch --------------------------------------------------------------------------------

def loss_scale(shape):
    return math.sqrt(max(1, math.prod(shape)))


def regression_run(op, shapes, reduction):
    def run(dtype):
        rng = rng_for("regression", shapes, op, reduction, dtype)
        x = normal(shapes[0], dtype, rng)
        t = normal(shapes[1], dtype, rng)
        if shapes[0] == shapes[1]:
            x.reshape(-1)[:2] = t.reshape(-1)[:2]  # ties: l1's gradient there is sign(0) = 0
        torch_fn = lambda a, b: getattr(TF, op)(a, b, reduction=reduction)  # noqa: E731
        check(op, [x, t], dict(reduction=reduction), torch_fn, dtype, rng,
              scale=loss_scale(np.broadcast_shapes(*shapes)))
    return run


REGRESSION_SHAPES = [(((4, 5), (4, 5)), "4x5"), (((2, 3, 4), (2, 3, 4)), "2x3x4"), (((7,), (7,)), "7"),
                     (((4, 5), (5,)), "4x5-bcast5"), (((3, 1), (1, 4)), "3x1-bcast1x4")]

BCE_CASES = [("4x5", (4, 5), None, False), ("4x5-w5", (4, 5), (5,), False),
             ("2x3x4-wfull", (2, 3, 4), (2, 3, 4), False), ("2x3x4-w3x1", (2, 3, 4), (3, 1), False),
             ("6-hard", (6,), None, True), ("3x4-w4-hard", (3, 4), (4,), True)]


def bce_run(ident, shape, wshape, hard, reduction):
    def run(dtype):
        rng = rng_for("bce", ident, reduction, dtype)
        x = rng.uniform(0.02, 0.98, shape).astype(dtype)
        t = (rng.integers(0, 2, shape) if hard else rng.uniform(0, 1, shape)).astype(dtype)
        w = None if wshape is None else rng.uniform(0.1, 2.0, wshape).astype(dtype)
        torch_fn = lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction)  # noqa: E731
        check("binary_cross_entropy", [x, t, w], dict(reduction=reduction), torch_fn, dtype, rng,
              scale=loss_scale(shape), const=(2,))
    return run


def bce_saturated_run(reduction):
    """Probabilities of exactly 0 and 1: torch clamps each log at -100 in the loss, and its input
    gradient divides by max(x (1 - x), 1e-12). Known, deliberate difference: torch's TARGET
    gradient there is log(1 - x) - log(x) unclamped (+-inf), while cnnpy's is the derivative of
    the clamped loss it computes (+-100 per unit weight), so the target gradient is compared only
    where 0 < x < 1 and checked to be that finite value at the saturated entries."""
    def run(dtype):
        rng = rng_for("bce_sat", reduction, dtype)
        x = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 1e-30, 0.75], dtype=dtype)
        t = np.array([1.0, 0.0, 0.0, 1.0, 0.6, 1.0, 0.0], dtype=dtype)
        y = F.binary_cross_entropy(x, t, reduction=reduction)
        xt, tt_ = leaf(x), leaf(t)
        yt = TF.binary_cross_entropy(xt, tt_, reduction=reduction)
        torch_close(y, yt, dtype, what="bce saturated forward")
        g = grad_for(np.shape(y), dtype, rng)
        yt.backward(torch.from_numpy(g.astype(np.float64)))
        gx, gt, gw = F.binary_cross_entropy_backward(g, x, t, reduction=reduction)
        assert gw is None
        torch_close(gx, xt.grad, dtype, what="bce saturated input gradient")
        inside = (x > 0) & (x < 1)
        torch_close(gt[inside], tt_.grad.numpy()[inside], dtype, what="bce target gradient, 0 < x < 1")
        assert np.isinf(tt_.grad.numpy()[~inside]).all()
        unit = np.broadcast_to(g, x.shape) / (x.size if reduction == "mean" else 1)
        clamped = np.array([100.0, -100.0, 100.0, -100.0]) * unit[~inside]
        torch_close(gt[~inside], clamped, dtype, what="bce target gradient at x in {0, 1}")
    return run


BCEL_CASES = [("4x5", (4, 5), None, None), ("4x5-w5", (4, 5), (5,), None),
              ("4x5-pw5", (4, 5), None, (5,)), ("2x3x4-w3x1-pw4", (2, 3, 4), (3, 1), (4,)),
              ("2x3x4-wfull-pwfull", (2, 3, 4), (2, 3, 4), (2, 3, 4)), ("6-pw1", (6,), None, (1,))]


def bcel_run(ident, shape, wshape, pwshape, reduction):
    def run(dtype):
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
    return run


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


def ce_run(case, reduction):
    def run(dtype):
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
    return run


def ce_all_ignored_run(reduction):
    """Every target ignored: 'mean' is 0/0 = NaN in torch, 'sum' 0, 'none' zeros."""
    def run(dtype):
        rng = rng_for("ce_all_ignored", reduction, dtype)
        x = normal((3, 4), dtype, rng)
        t = np.full(3, -100, dtype=np.int64)
        check("cross_entropy", [x, t, None], dict(reduction=reduction),
              lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng, equal_nan=True)
    return run


def ce_minus_inf_run(reduction):
    def run(dtype):
        rng = rng_for("ce_minus_inf", reduction, dtype)
        x = np.array([[-np.inf, 0.0, 1.0], [2.0, -np.inf, 0.0], [0.0, 1.0, 2.0]], dtype=dtype)
        t = np.array([1, 0, 2])
        check("cross_entropy", [x, t, None], dict(reduction=reduction),
              lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng)
    return run


def ce_empty_run(shape, reduction):
    def run(dtype):
        rng = rng_for("ce_empty", shape, reduction, dtype)
        x = np.zeros(shape, dtype=dtype)
        t = np.zeros((0,) + shape[2:], dtype=np.int64)
        check("cross_entropy", [x, t, None], dict(reduction=reduction),
              lambda a, b, c: TF.cross_entropy(a, b, reduction=reduction), dtype, rng, equal_nan=True)
    return run


TORCH = (
    [pytest.param(regression_run(op, shapes, red), id=f"{op}-{ident}-{red}")
     for op in ("mse_loss", "l1_loss") for shapes, ident in REGRESSION_SHAPES for red in REDUCTIONS]
    + [pytest.param(bce_run(*c, red), id=f"binary_cross_entropy-{c[0]}-{red}")
       for c in BCE_CASES for red in REDUCTIONS]
    + _for_reductions(bce_saturated_run, "binary_cross_entropy-saturated")
    + [pytest.param(bcel_run(*c, red), id=f"binary_cross_entropy_with_logits-{c[0]}-{red}")
       for c in BCEL_CASES for red in REDUCTIONS]
    + [pytest.param(ce_run(p.values[0], red), id=f"cross_entropy-{p.id}-{red}")
       for p in CE_CASES for red in REDUCTIONS]
    + _for_reductions(ce_all_ignored_run, "cross_entropy-all-ignored")
    + _for_reductions(ce_minus_inf_run, "cross_entropy-minus-inf-logits")
    + [pytest.param(ce_empty_run(shape, red), id=f"cross_entropy-empty-{ident}-{red}")
       for shape, ident in [((0, 3), "N0-C3"), ((0, 3, 2, 2), "N0-C3-H2-W2")] for red in REDUCTIONS])


# ---- against the reference ----------------------------------------------------------------------------

def _grad(red, shape, rng, dtype):
    return np.asarray(rng.standard_normal() if red != "none" else rng.standard_normal(shape), dtype=dtype)


def ref_regression_run(name, red):
    def run(dtype):
        rng = rng_for(name, red)
        x = rng.standard_normal((4, 3, 5)).astype(dtype)
        t = rng.standard_normal((4, 3, 5)).astype(dtype)
        out = getattr(F, name)(x, t, reduction=red)
        assert np.asarray(out).dtype == dtype
        assert_close(out, getattr(ref, name)(x, t, reduction=red), dtype)
        g = _grad(red, x.shape, rng, dtype)
        gx, gt = getattr(F, name + "_backward")(g, x, t, reduction=red)
        assert_close(gx, getattr(ref, name + "_backward")(g, x, t, reduction=red), dtype)
        assert_close(gt, -gx, dtype)
    return run


def ref_bce_run(red, weighted):
    def run(dtype):
        rng = rng_for("bce", red, weighted)
        x = rng.uniform(0.02, 0.98, (6, 4)).astype(dtype)
        x[0, :2] = [0.0, 1.0]  # logs clamp at -100
        t = rng.uniform(0, 1, (6, 4)).astype(dtype)
        w = rng.uniform(0.5, 2, (4,)).astype(dtype) if weighted else None
        out = F.binary_cross_entropy(x, t, w, reduction=red)
        wf = None if w is None else np.broadcast_to(w, x.shape)
        assert_close(out, ref.binary_cross_entropy(x, t, wf, reduction=red), dtype, scale=100)
        g = _grad(red, x.shape, rng, dtype)
        gx, gt, gw = F.binary_cross_entropy_backward(g, x, t, w, reduction=red)
        assert gw is None
        assert_close(gx, ref.binary_cross_entropy_backward(g, x, t, wf, reduction=red), dtype, scale=1e6)
        inner = slice(1, None)  # finite differences of the target where the logs are not clamped
        num = numeric_grad(lambda tt: float(np.sum(np.asarray(g, np.float64) *
                                                   ref.binary_cross_entropy(x.astype(np.float64), tt, wf, reduction=red))),
                           t.astype(np.float64))
        check_grad(np.asarray(gt)[inner], num[inner], rtol=1e-3 if dtype == np.float32 else 1e-6, atol=1e-5)
    return run


def ref_bcel_run(red, weighted):
    def run(dtype):
        rng = rng_for("bcel", red, weighted)
        x = (rng.standard_normal((5, 3)) * 4).astype(dtype)
        x[0, :2] = [60.0, -60.0]
        t = rng.uniform(0, 1, (5, 3)).astype(dtype)
        w = rng.uniform(0.5, 2, (5, 1)).astype(dtype) if weighted else None
        pw = rng.uniform(0.5, 3, (3,)).astype(dtype) if weighted else None
        out = F.binary_cross_entropy_with_logits(x, t, w, reduction=red, pos_weight=pw)
        wf = None if w is None else np.broadcast_to(w, x.shape)
        pwf = None if pw is None else np.broadcast_to(pw, x.shape)
        assert_close(out, ref.binary_cross_entropy_with_logits(x, t, wf, pwf, reduction=red), dtype, scale=10)
        g = _grad(red, x.shape, rng, dtype)
        gx, gt, _, _ = F.binary_cross_entropy_with_logits_backward(g, x, t, w, reduction=red, pos_weight=pw)
        assert_close(gx, ref.binary_cross_entropy_with_logits_backward(g, x, t, wf, pwf, reduction=red), dtype, scale=10)
        num = numeric_grad(lambda tt: float(np.sum(np.asarray(g, np.float64) * ref.binary_cross_entropy_with_logits(
            x.astype(np.float64), tt, wf, pwf, reduction=red))), t.astype(np.float64))
        check_grad(gt, num, rtol=1e-4 if dtype == np.float32 else 1e-6, atol=1e-4)
    return run


REF_CE_CASES = [((6, 4), False, -100, 0.0), ((6, 4), True, 2, 0.0), ((6, 4), False, 1, 0.2),
                ((6, 4), True, 0, 0.3), ((3, 5, 2, 3), True, -100, 0.1), ((5,), False, -100, 0.0)]


def ref_ce_run(shape, weighted, ignore, ls, red):
    def run(dtype):
        rng = rng_for("ce", shape, weighted, ignore, ls, red)
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        classes = shape[0] if len(shape) == 1 else shape[1]
        tshape = () if len(shape) == 1 else (shape[0], *shape[2:])
        t = rng.integers(0, classes, tshape)
        w = rng.uniform(0.5, 2, classes).astype(dtype) if weighted else None
        kw = dict(weight=w, ignore_index=ignore, label_smoothing=ls)
        out = F.cross_entropy(x, t, reduction=red, **kw)
        assert_close(out, ref.cross_entropy(x, t, reduction=red, **kw), dtype, scale=10)
        g = _grad(red, tshape, rng, dtype)
        gx, gt, gw = F.cross_entropy_backward(g, x, t, reduction=red, **kw)
        assert gt is None and gw is None
        assert_close(gx, ref.cross_entropy_backward(g, x, t, reduction=red, **kw), dtype, scale=10)
    return run


def ref_correlation_run(red):
    def run(dtype):
        rng = rng_for("corr", red)
        x = rng.standard_normal((4, 1, 5, 5)).astype(dtype)
        t = (0.6 * x + 0.4 * rng.standard_normal(x.shape)).astype(dtype)
        out = F.correlation_loss(x, t, reduction=red)
        assert_close(out, ref.correlation_loss(x, t, reduction=red), dtype)
        if red != "none":
            r = np.corrcoef(x.ravel().astype(np.float64), t.ravel().astype(np.float64))[0, 1]
            assert_close(out, 1 - r, dtype)
        g = _grad(red, (4,), rng, dtype)
        gx, gt = F.correlation_loss_backward(g, x, t, reduction=red)
        assert_close(gx, ref.correlation_loss_backward(g, x, t, reduction=red), dtype, scale=10)
        # symmetry: swapping input and target swaps the gradients
        gt2, gx2 = F.correlation_loss_backward(g, t, x, reduction=red)
        assert_close(gt, gt2, dtype, scale=10)
        assert_close(gx, gx2, dtype, scale=10)
    return run


REFERENCE = (
    [pytest.param(ref_regression_run(name, red), id=f"{name}-4x3x5-{red}")
     for name in ("mse_loss", "l1_loss") for red in REDUCTIONS]
    + [pytest.param(ref_bce_run(red, w), id=f"binary_cross_entropy-6x4{'-w4' if w else ''}-{red}")
       for w in (False, True) for red in REDUCTIONS]
    + [pytest.param(ref_bcel_run(red, w),
                    id=f"binary_cross_entropy_with_logits-5x3{'-w5x1-pw3' if w else ''}-{red}")
       for w in (False, True) for red in REDUCTIONS]
    + [pytest.param(ref_ce_run(*c, red), id=f"cross_entropy-{'x'.join(map(str, c[0]))}{'-w' if c[1] else ''}"
                                           f"-ign{c[2]}-ls{c[3]}-{red}")
       for c in REF_CE_CASES for red in REDUCTIONS]
    + _for_reductions(ref_correlation_run, "correlation_loss-4x1x5x5"))


# ---- the reference against PyTorch -------------------------------------------------------------------

def _loss_check(ref_fwd, ref_bwd, torch_fwd, inp, target, reduction, rng, **kw):
    xt = tt(inp, True)
    lt = torch_fwd(xt, reduction=reduction)
    loss = ref_fwd(inp, target, reduction=reduction, **kw)
    assert np.shape(loss) == tuple(lt.shape)
    ref_close(loss, lt)
    g = rng.standard_normal(np.shape(loss)) if reduction == "none" else 0.7
    lt.backward(tt(g))
    ref_close(ref_bwd(g, inp, target, reduction=reduction, **kw), xt.grad)


def ref_torch_mse_run(reduction):
    def run():
        rng = rng_for("mse", reduction)
        x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
        _loss_check(ref.mse_loss, ref.mse_loss_backward,
                    lambda t, reduction: TF.mse_loss(t, tt(y), reduction=reduction), x, y, reduction, rng)
    return run


def ref_torch_l1_run(reduction):
    def run():
        rng = rng_for("l1", reduction)
        x, y = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
        y.flat[:5] = x.flat[:5]  # zero differences -> zero gradient
        _loss_check(ref.l1_loss, ref.l1_loss_backward,
                    lambda t, reduction: TF.l1_loss(t, tt(y), reduction=reduction), x, y, reduction, rng)
    return run


def ref_torch_bce_run(reduction, weighted):
    def run():
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
                    lambda a, reduction: TF.binary_cross_entropy(a, tt(t), weight=wt, reduction=reduction),
                    x, t, reduction, rng, weight=w)
    return run


def ref_torch_bcel_run(reduction, weighted, pos_weight):
    def run():
        rng = rng_for("bcel", reduction, weighted, pos_weight)
        x = rng.standard_normal((4, 6)) * 4
        x[0, :4] = [50.0, -50.0, 800.0, -800.0]
        t = rng.uniform(0, 1, (4, 6))
        t[1, :2] = [0.0, 1.0]
        w = rng.uniform(0.5, 2.0, (4, 1)) if weighted else None
        pw = rng.uniform(0.5, 3.0, (6,)) if pos_weight else None
        wt = tt(w) if weighted else None
        pwt = tt(pw) if pos_weight else None
        _loss_check(ref.binary_cross_entropy_with_logits, ref.binary_cross_entropy_with_logits_backward,
                    lambda a, reduction: TF.binary_cross_entropy_with_logits(
                        a, tt(t), weight=wt, pos_weight=pwt, reduction=reduction),
                    x, t, reduction, rng, weight=w, pos_weight=pw)
    return run


REF_TORCH_CE_CASES = [
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


def ref_torch_ce_run(c, reduction):
    def run():
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
                    lambda a, reduction: TF.cross_entropy(
                        a, torch.from_numpy(target), weight=wt, ignore_index=c["ignore"],
                        label_smoothing=c["ls"], reduction=reduction),
                    x, target, reduction, rng, **kw)
    return run


def _torch_corr_loss(x, y, reduction):
    if reduction == "none":
        x, y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    else:
        x, y = x.reshape(1, -1), y.reshape(1, -1)
    xc = x - x.mean(dim=1, keepdim=True)
    yc = y - y.mean(dim=1, keepdim=True)
    r = (xc * yc).sum(1) / torch.sqrt((xc * xc).sum(1) * (yc * yc).sum(1))
    return 1 - r if reduction == "none" else 1 - r[0]


def ref_torch_corr_run(shape, reduction):
    def run():
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
        ref_close(ref.correlation_loss(x, y, reduction), expected)
    return run


REFERENCE_TORCH = (
    _for_reductions(ref_torch_mse_run, "mse_loss-3x4x5")
    + _for_reductions(ref_torch_l1_run, "l1_loss-3x4x5")
    + [pytest.param(ref_torch_bce_run(red, w),
                    id=f"binary_cross_entropy-4x6-{'weight' if w else 'noweight'}-{red}")
       for w in (False, True) for red in REDUCTIONS]
    + [pytest.param(ref_torch_bcel_run(red, w, pw),
                    id=f"binary_cross_entropy_with_logits-4x6-{'weight' if w else 'noweight'}-"
                       f"{'pos_weight' if pw else 'nopw'}-{red}")
       for w in (False, True) for pw in (False, True) for red in REDUCTIONS]
    + [pytest.param(ref_torch_ce_run(c, red), id=f"cross_entropy-{pid(**c)}-{red}")
       for c in REF_TORCH_CE_CASES for red in REDUCTIONS]
    + [pytest.param(ref_torch_corr_run(shape, red), id=f"correlation_loss-{'x'.join(map(str, shape))}-{red}")
       for shape in [(4, 7), (3, 2, 5)] for red in REDUCTIONS])


# ---- against finite differences --------------------------------------------------------------------------

def grad_regression_run(red):
    def run():
        rng = rng_for("gc-loss", red)
        x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
        gradcheck(F.mse_loss, F.mse_loss_backward, (x, t), dict(reduction=red), rng)
        gradcheck(F.l1_loss, F.l1_loss_backward, (x, t + np.sign(t - x) * 0.2), dict(reduction=red), rng)
    return run


def grad_bce_run(red):
    def run():
        rng = rng_for("gc-loss-bce", red)
        x = rng.standard_normal((3, 4))
        p, q = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4))
        gradcheck(F.binary_cross_entropy, F.binary_cross_entropy_backward, (p, q, rng.uniform(0.5, 2, 4)),
                  dict(reduction=red), rng)
        gradcheck(F.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits_backward,
                  (x, q, None), dict(reduction=red, pos_weight=rng.uniform(0.5, 2, 4)), rng)
    return run


def grad_ce_run(red):
    def run():
        rng = rng_for("gc-loss-ce", red)
        logits, cls = rng.standard_normal((4, 5, 3)), rng.integers(0, 5, (4, 3))
        cls[0, 0] = 2

        def ce(z, reduction):
            return F.cross_entropy(z, cls, weight=np.arange(1.0, 6.0), ignore_index=2, label_smoothing=0.1,
                                   reduction=reduction)

        def ce_back(g, z, reduction):
            return F.cross_entropy_backward(g, z, cls, weight=np.arange(1.0, 6.0), ignore_index=2,
                                            label_smoothing=0.1, reduction=reduction)[0]
        gradcheck(ce, ce_back, (logits,), dict(reduction=red), rng)
    return run


def grad_correlation_run(red):
    def run():
        rng = rng_for("gc-loss-corr", red)
        a, b = rng.standard_normal((3, 6)), rng.standard_normal((3, 6))
        gradcheck(F.correlation_loss, F.correlation_loss_backward, (a, a + b), dict(reduction=red), rng)
    return run


GRADCHECK = (_for_reductions(grad_regression_run, "mse_loss-l1_loss")
             + _for_reductions(grad_bce_run, "binary_cross_entropy-with_logits")
             + _for_reductions(grad_ce_run, "cross_entropy-weight-ignore_index-label_smoothing")
             + _for_reductions(grad_correlation_run, "correlation_loss"))


# ---- bad, huge and unusual input ------------------------------------------------------------------------

ERRORS = [
    case("mse_loss-reduction-None", lambda: F.mse_loss(ones(3), ones(3), reduction=None),
         TypeError, r"mse_loss: reduction must be .*got None"),
    case("cross_entropy-reduction-list",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), reduction=["mean"]), TypeError,
         r"cross_entropy: reduction must be .*got \['mean'\]"),
    case("mse_loss-reduction-unknown", lambda: F.mse_loss(ones(3), ones(3), reduction="avg"),
         ValueError, r"mse_loss: reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    case("l1_loss-reduction-wrong-case", lambda: F.l1_loss(ones(3), ones(3), reduction="MEAN"),
         ValueError, r"l1_loss: reduction must be .*got 'MEAN'"),
    case("binary_cross_entropy-reduction-unknown",
         lambda: F.binary_cross_entropy(P2, T2, reduction="bogus"), ValueError,
         r"binary_cross_entropy: reduction must be .*got 'bogus'"),
    case("bce_with_logits-reduction-unknown",
         lambda: F.binary_cross_entropy_with_logits(P2, T2, reduction="bogus"), ValueError,
         r"binary_cross_entropy_with_logits: reduction must be .*got 'bogus'"),
    case("cross_entropy-reduction-unknown",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), reduction="bogus"), ValueError,
         r"cross_entropy: reduction must be .*got 'bogus'"),
    case("correlation_loss-reduction-unknown",
         lambda: F.correlation_loss(ones(3), ones(3), reduction="x"), ValueError,
         r"correlation_loss: reduction must be .*got 'x'"),
    case("mse_loss-target-shape", lambda: F.mse_loss(ones(3), ones(4)), ValueError,
         r"mse_loss: target \(4,\) does not broadcast with the shape \(3,\)"),
    case("l1_loss-target-shape", lambda: F.l1_loss(ones(3), ones(2, 4)), ValueError,
         r"l1_loss: target \(2, 4\) does not broadcast with the shape \(3,\)"),
    case("mse_loss-target-complex", lambda: F.mse_loss(ones(3), ones(3).astype(complex)), TypeError,
         r"mse_loss: target must be a real numeric array, got dtype complex128"),
    case("mse_loss-target-None", lambda: F.mse_loss(ones(3), None), TypeError,
         r"mse_loss: target must be an array, got None"),
    case("binary_cross_entropy-input-above-1",
         lambda: F.binary_cross_entropy(np.array([0.5, 1.5]), T2), ValueError,
         r"^binary_cross_entropy: all elements of input must be probabilities in \[0, 1\], got 1\.5$"),
    case("binary_cross_entropy-input-negative",
         lambda: F.binary_cross_entropy(np.array([0.5, -0.1]), T2), ValueError,
         r"binary_cross_entropy: all elements of input must be probabilities in \[0, 1\], got -0\.1$"),
    case("binary_cross_entropy-input-nan",
         lambda: F.binary_cross_entropy(np.array([0.5, np.nan]), T2), ValueError,
         r"binary_cross_entropy: all elements of input must be probabilities in \[0, 1\], got nan$"),
    case("binary_cross_entropy-target-shape",
         lambda: F.binary_cross_entropy(P2, np.array([1.0, 0.0, 1.0])), ValueError,
         r"binary_cross_entropy: target \(3,\) must have the input's shape \(2,\)"),
    case("bce_with_logits-target-shape",
         lambda: F.binary_cross_entropy_with_logits(ones(2), ones(3)), ValueError,
         r"target \(3,\) must have the input's shape \(2,\)"),
    case("binary_cross_entropy-weight-shape",
         lambda: F.binary_cross_entropy(P2, T2, weight=ones(3)), ValueError,
         r"^binary_cross_entropy: weight \(3,\) does not broadcast with the shape \(2,\)$"),
    case("bce_with_logits-weight-shape",
         lambda: F.binary_cross_entropy_with_logits(ones(2), ones(2), weight=ones(3)), ValueError,
         r"^binary_cross_entropy_with_logits: weight \(3,\) does not broadcast with the shape \(2,\)$"),
    case("bce_with_logits-pos_weight-shape",
         lambda: F.binary_cross_entropy_with_logits(ones(2), ones(2), pos_weight=ones(3)), ValueError,
         r"^binary_cross_entropy_with_logits: pos_weight \(3,\) does not broadcast with the shape \(2,\)$"),
    case("cross_entropy-float-targets", lambda: F.cross_entropy(ones(2, 3), np.array([0.0, 1.0])),
         TypeError, r"cross_entropy: target must hold integer class indices, got dtype float64"),
    case("cross_entropy-bool-targets", lambda: F.cross_entropy(ones(2, 3), np.array([True, False])),
         TypeError, r"target must hold integer class indices, got dtype bool"),
    case("cross_entropy-str-targets", lambda: F.cross_entropy(ones(2, 3), np.array(["a", "b"])),
         TypeError, r"target must hold integer class indices, got dtype <U1"),
    case("cross_entropy-None-target", lambda: F.cross_entropy(ones(2, 3), None), TypeError,
         r"target must hold integer class indices, got dtype object"),
    case("cross_entropy-target-index-too-big", lambda: F.cross_entropy(ones(2, 3), np.array([0, 3])),
         ValueError, r"cross_entropy: target class indices must lie in \[0, 3\) or equal "
         r"ignore_index=-100, got 3$"),
    case("cross_entropy-target-index-negative",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, -1])), ValueError,
         r"target class indices must lie in \[0, 3\) or equal ignore_index=-100, got -1$"),
    case("cross_entropy-target-index-huge",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 2 ** 40])), ValueError,
         r"target class indices must lie in \[0, 3\)"),
    case("cross_entropy-unbatched-target-out-of-range",
         lambda: F.cross_entropy(ones(3), np.array(5)), ValueError,
         r"target class indices must lie in \[0, 3\)"),
    case("cross_entropy-target-shape", lambda: F.cross_entropy(ones(2, 3), np.array([0, 1, 2])),
         ValueError, r"cross_entropy: target must have shape \(2,\) .*got \(3,\)"),
    case("cross_entropy-target-2d", lambda: F.cross_entropy(ones(2, 3), np.array([[0], [1]])),
         ValueError, r"target must have shape \(2,\) .*got \(2, 1\)"),
    case("cross_entropy-unbatched-target-1d", lambda: F.cross_entropy(ones(3), np.array([1])),
         ValueError, r"cross_entropy: an input of shape \(3,\) needs a scalar target, got \(1,\)"),
    case("cross_entropy-weight-length",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), weight=ones(2)), ValueError,
         r"cross_entropy: weight must have shape \(3,\), got \(2,\)"),
    case("cross_entropy-weight-2d",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), weight=ones(1, 3)), ValueError,
         r"weight must have shape \(3,\), got \(1, 3\)"),
    case("cross_entropy-label_smoothing-above-1",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), label_smoothing=1.5), ValueError,
         r"label_smoothing must be in \[0, 1\], got 1\.5"),
    case("cross_entropy-ignore_index-float",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), ignore_index=1.5), TypeError,
         r"ignore_index must be an int, got 1\.5"),
    case("cross_entropy-input-0d", lambda: F.cross_entropy(np.array(1.0), np.array(0)), ValueError,
         r"cross_entropy: input must be \(C,\), \(N, C\) or \(N, C, d1, \.\.\.\), got shape \(\)"),
    case("cross_entropy-input-complex",
         lambda: F.cross_entropy(ones(2, 3).astype(complex), np.array([0, 1])), TypeError,
         r"cross_entropy: input must be a real numeric array, got dtype complex128"),
    case("cross_entropy-zero-classes", lambda: F.cross_entropy(ones(2, 0), np.array([0, 0])),
         ValueError, r"cross_entropy: input must have at least one class, got shape \(2, 0\)"),
    case("correlation_loss-target-shape", lambda: F.correlation_loss(ones(3), ones(4)), ValueError,
         r"correlation_loss: target \(4,\) must have the input's shape \(3,\)"),
    case("correlation_loss-input-0d", lambda: F.correlation_loss(np.array(1.0), np.array(1.0)),
         ValueError, r"correlation_loss: input must have at least one dim"),
    case("mse_loss_backward-mean", lambda: F.mse_loss_backward(ones(2), ones(3), ones(3)), ValueError,
         r"mse_loss_backward: grad_output must be a scalar for reduction 'mean', got shape \(2,\)"),
    case("mse_loss_backward-none",
         lambda: F.mse_loss_backward(ones(2), ones(3), ones(3), reduction="none"), ValueError,
         r"grad_output must have the unreduced loss's shape \(3,\), got \(2,\)"),
    case("binary_cross_entropy_backward",
         lambda: F.binary_cross_entropy_backward(ones(2), P2, T2, reduction="sum"), ValueError,
         r"binary_cross_entropy_backward: grad_output must be a scalar .*got shape \(2,\)"),
    case("cross_entropy_backward-none",
         lambda: F.cross_entropy_backward(ones(3), ones(2, 3), np.array([0, 1]), reduction="none"),
         ValueError, r"cross_entropy_backward: grad_output must have the target's shape \(2,\), got \(3,\)"),
    case("cross_entropy_backward-mean",
         lambda: F.cross_entropy_backward(ones(3), ones(2, 3), np.array([0, 1])), ValueError,
         r"cross_entropy_backward: grad_output must be a scalar, got shape \(3,\)"),
    case("correlation_loss_backward",
         lambda: F.correlation_loss_backward(ones(2), ones(3), ones(3)), ValueError,
         r"correlation_loss_backward: grad_output must have 1 value\(s\), got shape \(2,\)"),
]

HUGE_SIZES = [
    case("cross_entropy-ignore_index-2**70",
         lambda: F.cross_entropy(ones(2, 3), np.array([0, 1]), ignore_index=HUGE), OverflowError,
         FIT("cross_entropy", "ignore_index", HUGE)),
]

FAILING = [
    pytest.param(lambda a: F.binary_cross_entropy(a["p"] * 3, a["t"]), id="bce-range"),
    pytest.param(lambda a: F.binary_cross_entropy_backward(np.float64(1.0), a["p"] * 3, a["t"]),
                 id="bce_backward-range"),
    pytest.param(lambda a: F.cross_entropy(a["logits"], a["cls"]), id="cross_entropy-class-range"),
    pytest.param(lambda a: F.cross_entropy_backward(a["p"], a["logits"], a["cls"] % 3), id="ce_backward-grad"),
    pytest.param(lambda a: F.mse_loss_backward(a["p"], a["p"], a["t"]), id="mse_backward-grad"),
]

LAYOUTS = [
    pytest.param(LAYOUT_X2, lambda x: F.mse_loss(x, LAYOUT_P2, reduction="none"), id="mse_loss"),
    pytest.param(LAYOUT_P2, lambda p: F.binary_cross_entropy(p, LAYOUT_P2[::-1]), id="binary_cross_entropy"),
    pytest.param(LAYOUT_X2, lambda x: F.cross_entropy(x, np.array([0, 6, 2, 3, 1])), id="cross_entropy"),
    pytest.param(LAYOUT_X2, lambda x: F.correlation_loss_backward(np.float64(1), x, LAYOUT_P2),
                 id="correlation_loss"),
]

NAN_INF = [
    pytest.param(lambda x: F.mse_loss(x, x[::-1], reduction="none"),
                 lambda x: TF.mse_loss(from_numpy(x), from_numpy(x[::-1]), reduction="none"), (6, 7),
                 id="mse_loss"),
    pytest.param(lambda x: F.binary_cross_entropy_with_logits(x, np.full_like(x, 0.3), reduction="none"),
                 lambda x: TF.binary_cross_entropy_with_logits(
                     from_numpy(x), from_numpy(np.full_like(x, 0.3)), reduction="none"),
                 (6, 7), id="bce_with_logits"),
    pytest.param(lambda x: F.cross_entropy(x, np.arange(6) % 7, reduction="none"),
                 lambda x: TF.cross_entropy(from_numpy(x), torch.arange(6) % 7, reduction="none"), (6, 7),
                 id="cross_entropy"),
]


# ---- the engine calls (test_reliability.py) -----------------------------------------------------------

def calls(rng, n, c, h, rows):
    """Every loss forward and backward on (rows, 7) inputs, each with some option set."""
    a = rng.standard_normal((rows, 7))
    p = rng.uniform(0.1, 0.9, (rows, 7))
    cls = rng.integers(0, 7, rows)
    cls[0] = -100
    return [
        F.mse_loss(a, p), *F.mse_loss_backward(np.float64(1), a, p),
        F.l1_loss(a, p, reduction="none"), F.l1_loss_backward(np.ones_like(a), a, p, reduction="none")[0],
        F.binary_cross_entropy(p, p[::-1], weight=rng.standard_normal(7)),
        F.binary_cross_entropy_backward(np.float64(1), p, p[::-1])[0],
        F.binary_cross_entropy_with_logits(a, p, pos_weight=rng.standard_normal(7)),
        F.binary_cross_entropy_with_logits_backward(np.float64(2), a, p, reduction="sum")[0],
        F.cross_entropy(a, cls, label_smoothing=0.1),
        F.cross_entropy_backward(np.float64(1), a, cls, weight=np.abs(rng.standard_normal(7)))[0],
        F.correlation_loss(a, p), *F.correlation_loss_backward(np.float64(1), a, p),
    ]
