"""Optimizers (csrc/optim.c): SGD, Adam, AdamW and RMSprop, whose updates run in the engine's
sgd_step / adam_step / rmsprop_step, in place. A case is an optimizer with its options over
three parameters (two in a first parameter group when group options are given) and eight steps
of gradients. State dicts, schedulers, failing steps and the closure are in tests/test_optim.py.

Against PyTorch: the same initial values and gradients go to torch.optim (foreach=False, the
single-tensor path the engine follows operation by operation); parameters are compared after every
step and every state tensor at the end, relative to the reference array's largest magnitude:
float64 within 1e-12, float32 within 1e-6 (measured: about 1e-15 and 2e-7 -- torch's vectorised
kernels fuse some multiply-adds, so a last-place difference per step is expected).
"""
import numpy as np
import pytest

from cnnpy import nn, optim
from cnnpy.nn import Parameter
from helpers import rng_for, torch

from .common import case

SHAPES = [(3, 4), (5,), (2, 3, 2)]
TOL = {np.float32: 1e-6, np.float64: 1e-12}
STEPS = 8

# (id, optimizer, options, options of group 0 (params 0 and 1; param 2 is group 1) or None)
CASES = [
    ("SGD-plain", "SGD", dict(lr=0.1), None),
    ("SGD-momentum", "SGD", dict(lr=0.1, momentum=0.9), None),
    ("SGD-momentum-dampening-wd", "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01), None),
    ("SGD-nesterov-wd", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1), None),
    ("SGD-momentum-maximize", "SGD", dict(lr=0.1, momentum=0.5, maximize=True), None),
    ("SGD-groups-lr-momentum", "SGD", dict(lr=0.1, momentum=0.9), {"lr": 0.01, "momentum": 0.0}),
    ("Adam-default", "Adam", dict(), None),
    ("Adam-wd", "Adam", dict(lr=0.01, weight_decay=0.1), None),
    ("Adam-amsgrad", "Adam", dict(lr=0.01, amsgrad=True), None),
    ("Adam-maximize-betas-eps", "Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, maximize=True), None),
    ("Adam-decoupled-wd", "Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True), None),
    ("Adam-groups-lr-amsgrad", "Adam", dict(lr=0.01), {"lr": 0.1, "amsgrad": True}),
    ("AdamW-default", "AdamW", dict(), None),
    ("AdamW-wd-amsgrad-maximize", "AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True, maximize=True), None),
    ("AdamW-groups-lr-wd", "AdamW", dict(lr=0.01), {"lr": 0.05, "weight_decay": 0.0}),
    ("RMSprop-default", "RMSprop", dict(), None),
    ("RMSprop-alpha-eps", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4), None),
    ("RMSprop-momentum-wd", "RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1), None),
    ("RMSprop-centered", "RMSprop", dict(lr=0.01, centered=True), None),
    ("RMSprop-centered-momentum-maximize", "RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True), None),
    ("RMSprop-groups-lr-centered", "RMSprop", dict(lr=0.01), {"lr": 0.001, "centered": True}),
]
CASE_PARAMS = [pytest.param(*c[1:], id=c[0]) for c in CASES]


def initial_values(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradients(dtype, steps=STEPS, seed=1):
    """steps lists of gradients, one per parameter; the scale changes from step to step so that
    AMSGrad's running maximum matters."""
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal(s) * rng.uniform(0.1, 3.0)).astype(dtype) for s in SHAPES]
            for _ in range(steps)]


def make(module, name, params, options, group0):
    """An optimizer of `module` (cnnpy.optim or torch.optim) over three parameters."""
    extra = {"foreach": False} if module is not optim else {}
    if group0 is None:
        return getattr(module, name)(params, **options, **extra)
    groups = [dict(params=params[:2], **group0), dict(params=params[2:])]
    return getattr(module, name)(groups, **options, **extra)


def run(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad[...] = g
        opt.step()


def rel_err(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)
    return float(np.max(np.abs(ours - ref), initial=0.0)) / scale


# ---- against PyTorch --------------------------------------------------------------------------------

def torch_run(name, options, group0):
    def run_case(dtype):
        init = initial_values(dtype)
        ours = [Parameter(a.copy()) for a in init]
        theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        opt = make(optim, name, ours, options, group0)
        topt = make(torch.optim, name, theirs, options, group0)
        for k, step_grads in enumerate(gradients(dtype)):
            for p, t, g in zip(ours, theirs, step_grads):
                p.grad[...] = g
                t.grad = torch.from_numpy(g.copy())
            opt.step()
            topt.step()
            for i, (p, t) in enumerate(zip(ours, theirs)):
                assert p.data.dtype == dtype
                err = rel_err(p.data, t.detach().numpy())
                assert err <= TOL[dtype], f"step {k}, parameter {i}: relative error {err:.3g}"
        for i, (p, t) in enumerate(zip(ours, theirs)):
            tstate = topt.state[t]
            assert set(opt.state[p]) == set(tstate)
            for key, value in tstate.items():
                if key == "step":
                    assert opt.state[p]["step"] == int(value.item()) == STEPS
                    continue
                assert opt.state[p][key].dtype == dtype
                err = rel_err(opt.state[p][key], value.numpy())
                assert err <= TOL[dtype], f"state {key!r} of parameter {i}: relative error {err:.3g}"
    return run_case


TORCH = [pytest.param(torch_run(*c[1:]), id=c[0]) for c in CASES]


# ---- bad options --------------------------------------------------------------------------------------

BAD_OPTIONS = [
    ("SGD", dict(lr=-1), ValueError, "SGD: lr must be >= 0, got -1"),
    ("SGD", dict(lr=float("nan")), ValueError, "SGD: lr must be >= 0, got nan"),
    ("SGD", dict(momentum=-0.5), ValueError, "SGD: momentum must be >= 0, got -0.5"),
    ("SGD", dict(weight_decay=-1e-4), ValueError, "SGD: weight_decay must be >= 0"),
    ("SGD", dict(nesterov=True), ValueError, "SGD: nesterov=True requires momentum > 0"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening=0.1"),
    ("SGD", dict(lr="0.1"), TypeError, "SGD: lr must be a real number, got '0.1'"),
    ("SGD", dict(nesterov=1, momentum=0.9), TypeError, "SGD: nesterov must be True or False"),
    ("Adam", dict(lr=-1), ValueError, "Adam: lr must be >= 0, got -1"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, r"Adam: betas\[1\] must be in \[0, 1\), got -0.1"),
    ("Adam", dict(betas=0.9), TypeError, "Adam: betas must be a pair"),
    ("Adam", dict(eps=-1e-8), ValueError, "Adam: eps must be >= 0"),
    ("Adam", dict(weight_decay=-1), ValueError, "Adam: weight_decay must be >= 0"),
    ("Adam", dict(amsgrad="yes"), TypeError, "Adam: amsgrad must be True or False"),
    ("AdamW", dict(lr=-0.1), ValueError, "AdamW: lr must be >= 0, got -0.1"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, "AdamW: weight_decay must be >= 0"),
    ("RMSprop", dict(lr=-1), ValueError, "RMSprop: lr must be >= 0"),
    ("RMSprop", dict(alpha=-0.1), ValueError, "RMSprop: alpha must be >= 0, got -0.1"),
    ("RMSprop", dict(eps=-1), ValueError, "RMSprop: eps must be >= 0"),
    ("RMSprop", dict(momentum=-1), ValueError, "RMSprop: momentum must be >= 0"),
    ("RMSprop", dict(weight_decay=-1), ValueError, "RMSprop: weight_decay must be >= 0"),
]


def _options_id(name, options):
    return name + "-" + "-".join(f"{k}={v!r}".replace(" ", "") for k, v in options.items())


ERRORS = [case(_options_id(name, options),
               lambda name=name, options=options: getattr(optim, name)([Parameter(np.zeros(3))], **options),
               exc, pattern) for name, options, exc, pattern in BAD_OPTIONS]


# ---- the engine calls and in-place safety (test_reliability.py) -----------------------------------------

def calls(rng, n, c, h, rows):
    """Two steps of every optimizer (with its options that take the engine's other branches) on a
    (rows, 8) parameter; the parameters' values."""
    out = []
    for make_opt in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                     lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True),
                     lambda ps: optim.AdamW(ps, lr=0.1),
                     lambda ps: optim.RMSprop(ps, lr=0.01, centered=True, momentum=0.5)):
        param = nn.Parameter(rng.standard_normal((rows, 8)))
        opt = make_opt([param])
        for step in range(2):
            param.grad[...] = np.cos(param.data + step)
            opt.step()
        out.append(param.data)
    return out


# engine step -> (names of its array arguments in order, the in-place ones, the scalar arguments)
ENGINE_STEPS = {
    "sgd_step": (("param", "grad", "momentum_buffer"), ("param", "momentum_buffer"),
                 (0.1, 0.9, 0.0, 0.0, False, False, False)),
    "adam_step": (("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                  ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                  (0.1, 0.9, 0.999, 1e-8, 0.0, False, False, 3)),
    "rmsprop_step": (("param", "grad", "square_avg", "grad_avg", "momentum_buffer"),
                     ("param", "square_avg", "grad_avg", "momentum_buffer"),
                     (0.01, 0.99, 1e-8, 0.0, 0.5, False)),
}

# optimizer -> (make it over params, a state array that every step updates)
STATEFUL = {
    "SGD": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), "momentum_buffer"),
    "Adam": (lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True), "max_exp_avg_sq"),
    "AdamW": (lambda ps: optim.AdamW(ps, lr=0.1), "exp_avg_sq"),
    "RMSprop": (lambda ps: optim.RMSprop(ps, lr=0.1, centered=True, momentum=0.5), "grad_avg"),
}

# optimizers whose checkpoints must resume bit for bit
RESUME = [
    pytest.param(lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                 id="SGD-nesterov"),
    pytest.param(lambda ps: optim.AdamW(ps, lr=1e-2, amsgrad=True), id="AdamW-amsgrad"),
    pytest.param(lambda ps: optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True),
                 id="RMSprop-centered"),
]


def _slow_adam(s):
    rng = rng_for("slow", "adam_step", s)
    p = nn.Parameter(rng.standard_normal((1 << 19) * min(s, 16), dtype=np.float32))
    opt = optim.Adam([p], lr=1e-3)
    return opt.step


SLOW = [pytest.param(_slow_adam, id="adam_step")]
