"""cnnpy.optim beyond its table (tests/ops/optim.py holds the optimizers against PyTorch and their
bad options): loading PyTorch's state dicts and continuing like it, the schedulers against
PyTorch, state dicts that round-trip bit for bit, failing steps that change nothing, lazily
allocated state, zero_grad keeping the gradient arrays, the closure.
"""
import copy

import numpy as np
import pytest

from cnnpy import optim
from cnnpy.nn import Parameter
from ops.optim import CASE_PARAMS, SHAPES, TOL, gradients, initial_values, make, rel_err, run

DTYPE_PARAMS = [pytest.param(dt, id=np.dtype(dt).name) for dt in (np.float32, np.float64)]


def snapshot(opt, params):
    """Copies of everything a step may change (and the identity of every array)."""
    return ([(id(p.data), p.data.copy(), id(p.grad), p.grad.copy()) for p in params],
            {id(p): {k: (id(v), v.copy()) if isinstance(v, np.ndarray) else v
                     for k, v in opt.state[p].items()} for p in params if p in opt.state},
            copy.deepcopy([{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]))


def assert_same(a, b):
    (pa, sa, ga), (pb, sb, gb) = a, b
    for (i1, d1, j1, g1), (i2, d2, j2, g2) in zip(pa, pb):
        assert i1 == i2 and j1 == j2
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(g1, g2)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for key in sa[k]:
            if isinstance(sa[k][key], tuple):
                assert sa[k][key][0] == sb[k][key][0]
                np.testing.assert_array_equal(sa[k][key][1], sb[k][key][1])
            else:
                assert sa[k][key] == sb[k][key]
    assert ga == gb


# ---- against PyTorch -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, options, group0", [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9, nesterov=True), None, id="SGD-nesterov"),
    pytest.param("Adam", dict(lr=0.01, amsgrad=True), {"lr": 0.1}, id="Adam-amsgrad-groups"),
    pytest.param("RMSprop", dict(lr=0.01, centered=True, momentum=0.5), None, id="RMSprop-centered-momentum"),
])
def test_loads_torch_state_dict_and_continues_like_torch(name, options, group0):
    torch = pytest.importorskip("torch")
    init = initial_values(np.float64)
    grads = gradients(np.float64)
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    topt = make(torch.optim, name, theirs, options, group0)
    for step_grads in grads[:3]:
        for t, g in zip(theirs, step_grads):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
    ours = [Parameter(t.detach().numpy().copy()) for t in theirs]
    opt = make(optim, name, ours, {}, None if group0 is None else {})
    opt.load_state_dict(topt.state_dict())
    for step_grads in grads[3:]:
        for p, t, g in zip(ours, theirs, step_grads):
            p.grad[...] = g
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        assert rel_err(p.data, t.detach().numpy()) <= TOL[np.float64]


SCHEDULERS = [
    pytest.param("StepLR", dict(step_size=7, gamma=0.5), id="StepLR-7-0.5"),
    pytest.param("StepLR", dict(step_size=1, gamma=0.9), id="StepLR-1-0.9"),
    pytest.param("StepLR", dict(step_size=3), id="StepLR-3-default-gamma"),
    pytest.param("CosineAnnealingLR", dict(T_max=10), id="Cosine-T10"),
    pytest.param("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), id="Cosine-T7-eta0.01"),
    pytest.param("CosineAnnealingLR", dict(T_max=1, eta_min=1e-4), id="Cosine-T1"),
]


def scheduled_run(module, sched_name, sched_options, epochs=30, resume_at=None):
    """Two groups (lr 0.1 and 0.03), SGD with momentum, one optimizer step per epoch; returns the
    lr of every group at every epoch and the final parameters. With resume_at, a second scheduler
    takes over at that epoch with last_epoch=resume_at - 1 (PyTorch's way of resuming)."""
    init = initial_values(np.float64)
    grads = gradients(np.float64, steps=epochs)
    if module is optim:
        params = [Parameter(a.copy()) for a in init]
        lr_sched = optim
    else:
        import torch
        params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        lr_sched = torch.optim.lr_scheduler
    opt = make(module, "SGD", params, dict(lr=0.03, momentum=0.9), {"lr": 0.1})
    sched = getattr(lr_sched, sched_name)(opt, **sched_options)
    lrs = []
    for epoch in range(epochs):
        if epoch == resume_at:
            sched = getattr(lr_sched, sched_name)(opt, **sched_options, last_epoch=epoch - 1)
        lrs.append(list(sched.get_last_lr()) + [g["lr"] for g in opt.param_groups])
        for p, g in zip(params, grads[epoch]):
            if module is optim:
                p.grad[...] = g
            else:
                import torch
                p.grad = torch.from_numpy(g.copy())
        opt.step()
        sched.step()
    values = [p.data if module is optim else p.detach().numpy() for p in params]
    return np.array(lrs), values


@pytest.mark.parametrize("resume_at", [None, 12], ids=["fresh", "resumed-at-12"])
@pytest.mark.parametrize("sched_name, sched_options", SCHEDULERS)
def test_scheduler_matches_torch(sched_name, sched_options, resume_at):
    pytest.importorskip("torch")
    ours, ours_params = scheduled_run(optim, sched_name, sched_options, resume_at=resume_at)
    theirs, their_params = scheduled_run(__import__("torch").optim, sched_name, sched_options,
                                         resume_at=resume_at)
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)
    for p, t in zip(ours_params, their_params):
        assert rel_err(p, t) <= TOL[np.float64]


# ---- schedulers without torch --------------------------------------------------------------------

def test_step_lr_sequence():
    opt = optim.SGD([Parameter(np.zeros(3))], lr=1.0)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(8):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert opt.param_groups[0]["initial_lr"] == 1.0


def test_cosine_matches_closed_form_within_one_period():
    opt = optim.SGD([Parameter(np.zeros(3))], lr=0.2)
    T, eta_min = 12, 0.005
    sched = optim.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    for t in range(3 * T):
        expected = eta_min + (0.2 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-12, abs=1e-15)
        sched.step()


@pytest.mark.parametrize("sched_name, sched_options", SCHEDULERS)
def test_scheduler_state_dict_round_trip(sched_name, sched_options):
    def fresh():
        params = [Parameter(a.copy()) for a in initial_values(np.float64)]
        opt = make(optim, "SGD", params, dict(lr=0.03), {"lr": 0.1})
        return opt, getattr(optim, sched_name)(opt, **sched_options)

    opt, sched = fresh()
    for _ in range(10):
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    expected = []
    for _ in range(20):
        sched.step()
        expected.append(sched.get_last_lr())
    opt2, sched2 = fresh()
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    got = []
    for _ in range(20):
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == expected


def test_scheduler_bad_arguments():
    opt = optim.SGD([Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be >= 1, got 0"):
        optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be >= 1, got 0"):
        optim.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match="T_max must be an int"):
        optim.CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.StepLR(opt, step_size=2, last_epoch=3)
    with pytest.raises(TypeError, match="optimizer must be a cnnpy Optimizer"):
        optim.StepLR([opt], step_size=2)
    sched = optim.StepLR(opt, step_size=2)
    sd = sched.state_dict()
    with pytest.raises(KeyError, match="last_epoch"):
        sched.load_state_dict({k: v for k, v in sd.items() if k != "last_epoch"})
    with pytest.raises(ValueError, match="step_size"):
        sched.load_state_dict({**sd, "step_size": 0})
    assert sched.state_dict() == sd


# ---- state dicts ---------------------------------------------------------------------------------

ROUND_TRIP = [c for c in CASE_PARAMS if c.id in {
    "SGD-momentum-dampening-wd", "SGD-groups-lr-momentum", "Adam-amsgrad", "Adam-groups-lr-amsgrad",
    "AdamW-wd-amsgrad-maximize", "RMSprop-centered-momentum-maximize", "RMSprop-groups-lr-centered"}]


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
@pytest.mark.parametrize("name, options, group0", ROUND_TRIP)
def test_state_dict_round_trip_is_bit_identical(name, options, group0, dtype):
    grads = gradients(dtype)
    params = [Parameter(a.copy()) for a in initial_values(dtype)]
    opt = make(optim, name, params, options, group0)
    run(opt, params, grads[:3])
    saved = opt.state_dict()
    frozen = copy.deepcopy(saved)
    values = [p.data.copy() for p in params]
    run(opt, params, grads[3:])                      # the uninterrupted run

    assert repr(opt.state_dict()) != repr(frozen)    # it moved on ...
    for i, entry in frozen["state"].items():         # ... but the saved dict did not
        for k, v in entry.items():
            np.testing.assert_array_equal(saved["state"][i][k], v)

    params2 = [Parameter(v) for v in values]
    opt2 = make(optim, name, params2, {}, None if group0 is None else {})  # options come from the dict
    opt2.load_state_dict(saved)
    saved_arrays = [v for entry in saved["state"].values() for v in entry.values()
                    if isinstance(v, np.ndarray)]
    for p in params2:                                # loaded values are copies the optimizer owns
        for v in opt2.state[p].values():
            assert not any(np.shares_memory(v, w) for w in saved_arrays if isinstance(v, np.ndarray))
    run(opt2, params2, grads[3:])
    for p, p2 in zip(params, params2):
        np.testing.assert_array_equal(p.data, p2.data)
        assert opt.state[p].keys() == opt2.state[p2].keys()
        for k in opt.state[p]:
            np.testing.assert_array_equal(opt.state[p][k], opt2.state[p2][k])
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == \
        [{k: v for k, v in g.items() if k != "params"} for g in opt2.param_groups]


def test_state_dict_layout():
    params = [Parameter(a) for a in initial_values(np.float32)]
    opt = optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.1}], amsgrad=True)
    run(opt, params, gradients(np.float32, steps=2))
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sorted(sd["state"]) == [0, 1, 2]
    entry = sd["state"][2]
    assert sorted(entry) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert entry["step"] == 2 and isinstance(entry["step"], int)
    assert entry["exp_avg"].shape == SHAPES[2] and entry["exp_avg"].dtype == np.float32


def _bad_state_dicts():
    """(id, how to spoil an Adam(amsgrad) state dict, expected error, message pattern)."""
    def set_state(i, key, value):
        def spoil(sd):
            sd["state"][i][key] = value
        return spoil

    def drop(i, key):
        def spoil(sd):
            del sd["state"][i][key]
        return spoil

    return [
        ("no-state", lambda sd: sd.pop("state"), KeyError, "'state'"),
        ("extra-top-level-key", lambda sd: sd.update(extra=1), KeyError, "extra"),
        ("one-group-too-many", lambda sd: sd["param_groups"].append(dict(sd["param_groups"][0])), ValueError,
         "2 parameter groups"),
        ("group-size", lambda sd: sd["param_groups"][0]["params"].pop(), ValueError,
         r"param_groups\[0\] has 2 parameters"),
        ("bad-lr", lambda sd: sd["param_groups"][0].update(lr=-1.0), ValueError,
         r"param_groups\[0\]\['lr'\] must be >= 0"),
        ("missing-option", lambda sd: sd["param_groups"][0].pop("betas"), KeyError, "betas"),
        ("duplicate-index", lambda sd: sd["param_groups"][0].update(params=[0, 0, 1]), ValueError,
         "more than once"),
        ("wrong-shape", set_state(1, "exp_avg", np.zeros((4,), np.float32)), ValueError,
         r"state\[1\]\['exp_avg'\] has shape"),
        ("wrong-dtype", set_state(2, "exp_avg_sq", np.zeros(SHAPES[2], np.float64)), ValueError,
         r"state\[2\]\['exp_avg_sq'\] has dtype float64"),
        ("unknown-key", set_state(0, "momentum_buffer", np.zeros(SHAPES[0], np.float32)), KeyError,
         r"state\[0\]\['momentum_buffer'\]"),
        ("missing-array", drop(0, "max_exp_avg_sq"), KeyError, "max_exp_avg_sq"),
        ("negative-step", set_state(0, "step", -1), ValueError, r"state\[0\]\['step'\]"),
        ("fractional-step", set_state(0, "step", 2.5), ValueError, r"state\[0\]\['step'\]"),
        ("unknown-index", lambda sd: sd["state"].update({7: sd["state"][0]}), KeyError, "7"),
    ]


@pytest.mark.parametrize("spoil, error, pattern",
                         [pytest.param(*c[1:], id=c[0]) for c in _bad_state_dicts()])
def test_load_state_dict_refuses_before_changing_anything(spoil, error, pattern):
    params = [Parameter(a) for a in initial_values(np.float32)]
    opt = optim.Adam(params, lr=0.01, amsgrad=True)
    run(opt, params, gradients(np.float32, steps=2))
    source = optim.Adam([Parameter(a) for a in initial_values(np.float32, seed=5)], lr=0.5,
                        amsgrad=True)
    run(source, source.param_groups[0]["params"], gradients(np.float32, steps=3, seed=9))
    sd = source.state_dict()
    spoil(sd)
    before = snapshot(opt, params)
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(sd)
    assert_same(before, snapshot(opt, params))


def test_momentum_off_keeps_no_state_and_none_buffer_loads():
    params = [Parameter(a) for a in initial_values(np.float64)]
    opt = optim.SGD(params, lr=0.1)
    run(opt, params, gradients(np.float64, steps=2))
    assert opt.state_dict()["state"] == {}
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    opt.load_state_dict({"state": {0: {"momentum_buffer": None}},
                         "param_groups": opt.state_dict()["param_groups"]})
    assert not opt.state[params[0]]


# ---- options -------------------------------------------------------------------------------------

def test_bad_group_option_names_the_group():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    with pytest.raises(ValueError, match=r"Adam: param_groups\[1\]\['lr'\] must be >= 0, got -1"):
        optim.Adam([{"params": [p]}, {"params": [q], "lr": -1}])


def test_bad_params():
    p = Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="iterable of Parameters"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match=r"\['params'\]\[1\] must be a Parameter, got ndarray"):
        optim.SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": p})
    q = Parameter(np.zeros(2))
    opt.add_param_group({"params": q, "momentum": 0.9})
    assert opt.param_groups[1]["params"] == [q] and opt.param_groups[1]["lr"] == 0.1


# ---- a failing step changes nothing --------------------------------------------------------------

def _noncontiguous(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


def _readonly(a):
    a.flags.writeable = False
    return a


def _other(dtype):
    return np.float64 if dtype == np.float32 else np.float32


def _set(attr, fn):
    def spoil(opt, params):
        p = params[2]
        setattr(p, attr, fn(getattr(p, attr)))
    return spoil


def _astype(opt, params):
    for p in params:
        dt = _other(p.data.dtype)
        p.data, p.grad = p.data.astype(dt), p.grad.astype(dt)


def _bad_lr(opt, params):
    opt.param_groups[1]["lr"] = -1.0


LAST = r"param_groups\[1\]\['params'\]\[0\]"
SPOILERS = [
    ("data-noncontiguous", _set("data", _noncontiguous), ValueError, LAST + r"\.data must be C-contiguous"),
    ("grad-noncontiguous", _set("grad", _noncontiguous), ValueError, LAST + r"\.grad must be C-contiguous"),
    ("data-fortran", _set("data", lambda a: np.asfortranarray(a)), ValueError, LAST + r"\.data must be C-contiguous"),
    ("data-readonly", _set("data", _readonly), ValueError, LAST + r"\.data must be writeable"),
    ("grad-readonly", _set("grad", _readonly), ValueError, LAST + r"\.grad must be writeable"),
    ("grad-other-dtype", _set("grad", lambda a: a.astype(_other(a.dtype))), TypeError, LAST + r"\.grad has dtype"),
    ("data-and-grad-float16", lambda o, ps: (_set("data", lambda a: a.astype(np.float16))(o, ps),
                                             _set("grad", lambda a: a.astype(np.float16))(o, ps)),
     TypeError, LAST + r"\.data must be float32 or float64, got dtype float16"),
    ("data-int", _set("data", lambda a: a.astype(np.int64)), TypeError, LAST + r"\.data must be float32 or float64"),
    ("data-byteswapped", _set("data", lambda a: a.astype(a.dtype.newbyteorder())), TypeError,
     LAST + r"\.data must be float32"),
    ("grad-list", _set("grad", lambda a: a.tolist()), TypeError, LAST + r"\.grad must be a numpy array"),
    ("grad-wrong-shape", _set("grad", lambda a: a.reshape(-1)), ValueError, LAST + r"\.grad has shape \(12,\)"),
    ("grad-is-data", lambda o, ps: setattr(ps[2], "grad", ps[2].data), ValueError, "shares memory"),
    ("model-astype-after-steps", _astype, TypeError, r"has dtype .* but the parameter is .*astype"),
    ("data-replaced-shape", _set("data", lambda a: np.zeros((2, 6), a.dtype)), ValueError,
     LAST + r"\.grad has shape"),
    ("group-lr-negative", _bad_lr, ValueError, r"param_groups\[1\]\['lr'\] must be >= 0"),
]
STEP_OPTIMIZERS = [
    pytest.param("SGD", dict(lr=0.1, momentum=0.9), id="SGD-momentum"),
    pytest.param("Adam", dict(lr=0.01, amsgrad=True), id="Adam-amsgrad"),
    pytest.param("RMSprop", dict(lr=0.01, centered=True, momentum=0.5), id="RMSprop-centered-momentum"),
]


# Without state a converted model is simply a float64 model, so "model-astype-after-steps" only
# applies after steps.
STEP_SPOILS = [pytest.param(*c[1:], fresh, id=f"{c[0]}-{'first-step' if fresh else 'after-2-steps'}")
               for c in SPOILERS for fresh in (False, True) if not (fresh and c[1] is _astype)]


@pytest.mark.parametrize("spoil, error, pattern, fresh", STEP_SPOILS)
@pytest.mark.parametrize("name, options", STEP_OPTIMIZERS)
def test_failing_step_changes_nothing(name, options, spoil, error, pattern, fresh):
    params = [Parameter(a) for a in initial_values(np.float32)]
    opt = make(optim, name, params, options, {})
    grads = gradients(np.float32, steps=3)
    if not fresh:
        run(opt, params, grads[:2])
    for p, g in zip(params, grads[2]):
        p.grad[...] = g
    spoil(opt, params)
    before = snapshot(opt, params)
    with pytest.raises(error, match=pattern):
        opt.step()
    assert_same(before, snapshot(opt, params))
    if fresh:
        assert not any(opt.state.get(p) for p in params)


def test_state_from_another_dtype_is_refused_with_a_hint():
    p = Parameter(np.ones((2, 2), np.float32))
    opt = optim.Adam([p], lr=0.1)
    opt.step()
    p.data, p.grad = p.data.astype(np.float64), p.grad.astype(np.float64)
    with pytest.raises(TypeError, match=r"'exp_avg' of param_groups\[0\]\['params'\]\[0\] has dtype "
                                        r"float32 but the parameter is float64.*new optimizer"):
        opt.step()


# ---- state, zero_grad, closure -------------------------------------------------------------------

@pytest.mark.parametrize("name, options, keys", [
    pytest.param("SGD", dict(momentum=0.9), ["momentum_buffer"], id="SGD-momentum"),
    pytest.param("Adam", dict(amsgrad=True), ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"], id="Adam-amsgrad"),
    pytest.param("AdamW", dict(), ["exp_avg", "exp_avg_sq", "step"], id="AdamW"),
    pytest.param("RMSprop", dict(centered=True, momentum=0.1), ["grad_avg", "momentum_buffer", "square_avg", "step"],
                 id="RMSprop-centered-momentum"),
])
@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_state_is_allocated_lazily_and_reused(name, options, keys, dtype):
    params = [Parameter(a) for a in initial_values(dtype)]
    opt = getattr(optim, name)(params, **options)
    assert not opt.state
    data_ids = [id(p.data) for p in params]
    run(opt, params, gradients(dtype, steps=1))
    arrays = {}
    for p in params:
        assert sorted(opt.state[p]) == keys
        for k, v in opt.state[p].items():
            if k != "step":
                assert v.shape == p.data.shape and v.dtype == dtype and v.flags.c_contiguous
                arrays[(id(p), k)] = v
    run(opt, params, gradients(dtype, steps=2, seed=4))
    assert [id(p.data) for p in params] == data_ids
    for p in params:
        for k, v in opt.state[p].items():
            if k != "step":
                assert v is arrays[(id(p), k)]


@pytest.mark.parametrize("dtype", DTYPE_PARAMS)
def test_zero_grad_keeps_the_arrays(dtype):
    params = [Parameter(a) for a in initial_values(dtype)]
    opt = optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)
    for p, g in zip(params, gradients(dtype, steps=1)[0]):
        p.grad[...] = g
    grads = [p.grad for p in params]
    opt.zero_grad()
    for p, g in zip(params, grads):
        assert p.grad is g and g.dtype == dtype
        assert not g.any()


def test_closure_is_called_first_and_its_loss_returned():
    p = Parameter(np.array([3.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        p.grad[...] = 2 * p.data           # d/dp of p**2
        return float(p.data[0] ** 2)

    assert opt.step(closure) == 9.0
    assert p.data.tolist() == [1.5]


def test_adamw_is_adam_with_decoupled_weight_decay():
    grads = gradients(np.float64)
    a = [Parameter(v) for v in initial_values(np.float64)]
    b = [Parameter(v) for v in initial_values(np.float64)]
    run(optim.AdamW(a, lr=0.01, weight_decay=0.3), a, grads)
    run(optim.Adam(b, lr=0.01, weight_decay=0.3, decoupled_weight_decay=True), b, grads)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)
    assert optim.AdamW(a).param_groups[0]["weight_decay"] == 1e-2


def test_repr_lists_the_groups():
    opt = optim.SGD([Parameter(np.zeros(2))], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n") and "    momentum: 0.9" in text
