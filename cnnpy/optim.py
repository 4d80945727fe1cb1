"""Optimizers (SGD, Adam, AdamW, RMSprop) and learning-rate schedulers (StepLR, CosineAnnealingLR)
with PyTorch's names, options, state layout and formulas.

Every update runs in the C engine, in place on ``Parameter.data`` and on state arrays the optimizer
owns (allocated with ``np.zeros_like`` on the first step, reused after). ``step()`` checks every
parameter, gradient, state array and option of every group before it changes anything, so a step
that raises leaves all parameters and state as they were.

>>> import numpy as np
>>> from cnnpy import optim
>>> from cnnpy.nn import Parameter
>>> w = Parameter(np.array([1.0, -2.0]))
>>> opt = optim.SGD([w], lr=0.1)
>>> w.grad[:] = [0.5, -0.5]
>>> opt.step()
>>> w.data.tolist()
[0.95, -1.95]
>>> opt.zero_grad(); w.grad.tolist()
[0.0, 0.0]

PyTorch: ``torch.optim`` and ``torch.optim.lr_scheduler``.
"""
from __future__ import annotations

import copy
import math
import numbers
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from . import _cnn
from ._args import _scalar, as_float, as_int
from .nn.module import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "LRScheduler", "StepLR",
           "CosineAnnealingLR"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# ---- option checking ---------------------------------------------------------------------------

def _nonneg(op: str, name: str, value) -> float:
    """A real number >= 0 (NaN refused), as a float."""
    v = as_float(op, name, value)
    if not v >= 0:
        raise ValueError(f"{op}: {name} must be >= 0, got {_scalar(value)}")
    return v


def _unit(op: str, name: str, value) -> float:
    """A real number in [0, 1), as a float (betas)."""
    v = as_float(op, name, value)
    if not 0 <= v < 1:
        raise ValueError(f"{op}: {name} must be in [0, 1), got {_scalar(value)}")
    return v


def _flag(op: str, name: str, value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{op}: {name} must be True or False, got {value!r}")


def _to_numpy(value):
    """A NumPy view of an array-like or a (CPU) PyTorch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _step_count(op: str, name: str, value) -> int:
    """A step counter: a whole number >= 0 (a PyTorch float tensor, 0-d array or float is fine)."""
    value = _scalar(_to_numpy(value)) if not isinstance(value, numbers.Number) else value
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value != int(value) or value < 0):
        raise ValueError(f"{op}: {name} must be a whole number >= 0, got {value!r}")
    return int(value)


def _array_problem(arr) -> str | None:
    """Why the engine could not update `arr` in place, or None when it can. This check owns the
    message users see; the binding refuses the same arrays again, tersely, for direct callers."""
    if not isinstance(arr, np.ndarray):
        return f"must be a numpy array, got {type(arr).__name__}"
    if arr.dtype not in _FLOATS:
        return f"must be float32 or float64, got dtype {arr.dtype}"
    flags = arr.flags
    if not flags.c_contiguous:
        return "must be C-contiguous (use np.ascontiguousarray)"
    if not flags.writeable:
        return "must be writeable (it is read-only)"
    if not flags.aligned or not arr.dtype.isnative:
        return "must be aligned and in native byte order"
    return None


def _layout_error(op: str, name: str, problem: str) -> Exception:
    cls = TypeError if problem.startswith(("must be a numpy", "must be float")) else ValueError
    return cls(f"{op}: {name} {problem}")


# ---- the base class ------------------------------------------------------------------------------

class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, checked ``step`` and
    ``state_dict`` / ``load_state_dict`` in PyTorch's layout.

    ``params`` is an iterable of ``Parameter``s, or of dicts ``{"params": [...], "lr": ...}``
    (parameter groups; options a group leaves out come from ``defaults``). Subclasses define
    ``_options`` (check and normalise a group's options), ``_state_arrays`` (the state arrays those
    options need) and ``_update`` (one engine call for one parameter).

    PyTorch: ``torch.optim.Optimizer``.
    """

    #: every key this optimizer's per-parameter state may hold
    _state_keys: tuple = ()
    #: whether the state holds a "step" counter
    _counts_steps = False

    def __init__(self, params, defaults: dict):
        op = type(self).__name__
        self.defaults = dict(defaults)
        self._options(self.defaults, op)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list = []
        if isinstance(params, (Parameter, np.ndarray, Mapping)) or not hasattr(params, "__iter__"):
            raise TypeError(f"{op}: params must be an iterable of Parameters or of dicts "
                            f"(parameter groups), got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{op}: params must be an ordered collection (a list), not a set")
        groups = list(params)
        if not groups:
            raise ValueError(f"{op}: got an empty parameter list")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- groups ----------------------------------------------------------------------------------

    def add_param_group(self, param_group: dict) -> None:
        """Add a group ``{"params": [...], option: value, ...}``; missing options come from the
        constructor's values. Refuses a parameter already in a group."""
        op = type(self).__name__
        where = f"param_groups[{len(self.param_groups)}]"
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{op}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise KeyError(f"{op}: {where} has no 'params' entry")
        params = param_group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{op}: {where}['params'] must be an ordered collection (a list), not a set")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                hint = " (did you mean model.parameters()?)" if hasattr(p, "parameters") else ""
                raise TypeError(f"{op}: {where}['params'][{i}] must be a Parameter, got "
                                f"{type(p).__name__}{hint}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{op}: {where} lists a parameter more than once")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{op}: some parameters appear in more than one parameter group")
        group = {k: v for k, v in param_group.items() if k != "params"}
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        group.update(self._options(group, op, where))
        group["params"] = params
        self.param_groups.append(group)

    def zero_grad(self) -> None:
        """Fill every parameter's ``.grad`` with zeros, in place (the arrays are kept)."""
        grads = [p.grad for g in self.param_groups for p in g["params"]]
        for i, grad in enumerate(grads):
            if not isinstance(grad, np.ndarray) or not grad.flags.writeable:
                raise ValueError(f"{type(self).__name__}.zero_grad: gradient {i} is not a "
                                 f"writeable numpy array")
        for grad in grads:
            grad.fill(0)

    # ---- the step --------------------------------------------------------------------------------

    def step(self, closure=None):
        """One update of every parameter from its ``.grad``. ``closure``, when given, is called
        first (it recomputes the loss and gradients) and its result returned.

        Everything is checked first: each group's options; each parameter's ``.data`` and ``.grad``
        (float32/float64 ndarrays, same dtype and shape, C-contiguous, writeable); each state array
        (the parameter's dtype and shape). An error names the group and parameter and nothing has
        been changed."""
        loss = closure() if closure is not None else None
        op = f"{type(self).__name__}.step"
        plan = []
        for gi, group in enumerate(self.param_groups):
            where = f"param_groups[{gi}]"
            opts = self._options(group, op, where)
            for pi, p in enumerate(group["params"]):
                name = f"{where}['params'][{pi}]"
                self._check_param(op, name, p)
                plan.append((p, opts, self._check_state(op, name, p, opts)))
        for p, opts, fresh in plan:
            state = self.state[p]
            state.update(fresh)
            self._update(p, state, opts, fresh)
        return loss

    @staticmethod
    def _check_param(op: str, name: str, p) -> None:
        data, grad = getattr(p, "data", None), getattr(p, "grad", None)
        for what, arr in (("data", data), ("grad", grad)):
            problem = _array_problem(arr)
            if problem:
                raise _layout_error(op, f"{name}.{what}", problem)
        if grad.dtype != data.dtype:
            raise TypeError(f"{op}: {name}.grad has dtype {grad.dtype}, the parameter {data.dtype}")
        if grad.shape != data.shape:
            raise ValueError(f"{op}: {name}.grad has shape {grad.shape}, the parameter "
                             f"{data.shape}")
        if np.may_share_memory(data, grad):
            raise ValueError(f"{op}: {name}.grad shares memory with the parameter's data")

    def _check_state(self, op: str, name: str, p, opts: dict) -> dict:
        """Check the state arrays `opts` need; return fresh zero arrays (and step 0) for the ones
        not allocated yet. Nothing is stored here."""
        state = self.state.get(p, {})
        fresh = {}
        if self._counts_steps:
            if "step" in state:
                _step_count(op, f"the state 'step' of {name}", state["step"])
            else:
                fresh["step"] = 0
        for key in self._state_arrays(opts):
            arr = state.get(key)
            if arr is None:
                fresh[key] = np.zeros_like(p.data)
                continue
            label = f"the state {key!r} of {name}"
            problem = _array_problem(arr)
            if problem and "dtype" not in problem:
                raise _layout_error(op, label, problem)
            if problem or arr.dtype != p.data.dtype:
                raise TypeError(f"{op}: {label} has dtype {arr.dtype} but the parameter is "
                                f"{p.data.dtype}; the parameters changed dtype after the optimizer "
                                f"stepped (e.g. model.astype()): create a new optimizer after "
                                f"converting the model")
            if arr.shape != p.data.shape:
                raise ValueError(f"{op}: {label} has shape {arr.shape} but the parameter has "
                                 f"shape {p.data.shape}; the parameter was replaced after the "
                                 f"optimizer stepped: create a new optimizer")
            if np.may_share_memory(arr, p.data) or np.may_share_memory(arr, p.grad):
                raise ValueError(f"{op}: {label} shares memory with the parameter or its gradient")
        return fresh

    # ---- what subclasses define ------------------------------------------------------------------

    def _options(self, group: dict, op: str, where: str = "") -> dict:
        """The group's options, checked (errors name `where`['key']) and normalised."""
        return {}

    def _state_arrays(self, opts: dict) -> tuple:
        """The per-parameter state arrays a step with these options uses."""
        return ()

    def _update(self, p: Parameter, state: dict, opts: dict, fresh: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement step()")

    # ---- state dicts -----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, PyTorch's
        layout: parameters are numbered in group order; state arrays are copies (so later steps
        do not change a saved dict) and ``"step"`` is an int."""
        groups, state, index = [], {}, 0
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = list(range(index, index + len(group["params"])))
            for i, p in enumerate(group["params"], index):
                entry = self.state.get(p)
                if entry:
                    state[i] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                for k, v in entry.items()}
            index += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore options and state saved by ``state_dict()`` (of this class, or PyTorch's
        converted or not: tensors are accepted). Everything is checked before anything changes:
        the number of groups and their sizes, each group's options, each state entry's keys, and
        each state array's shape and dtype against its parameter (ValueError/KeyError naming the
        entry). Values are copied into fresh arrays the optimizer owns."""
        op = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{op}: expected a dict with 'state' and 'param_groups', got "
                            f"{type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise KeyError(f"{op}: the state dict has no {key!r} entry")
        unexpected = [k for k in state_dict if k not in ("state", "param_groups")]
        if unexpected:
            raise KeyError(f"{op}: unexpected entries {unexpected}")
        saved_groups = state_dict["param_groups"]
        if isinstance(saved_groups, (str, bytes, Mapping)) or not hasattr(saved_groups, "__len__"):
            raise TypeError(f"{op}: 'param_groups' must be a list of dicts, got "
                            f"{type(saved_groups).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{op}: the state dict has {len(saved_groups)} parameter groups, the "
                             f"optimizer has {len(self.param_groups)}")

        by_index, new_groups = {}, []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            where = f"param_groups[{gi}]"
            if not isinstance(saved, Mapping):
                raise TypeError(f"{op}: {where} must be a dict, got {type(saved).__name__}")
            if "params" not in saved:
                raise KeyError(f"{op}: {where} has no 'params' entry")
            indices = list(saved["params"])
            if len(indices) != len(group["params"]):
                raise ValueError(f"{op}: {where} has {len(indices)} parameters, the optimizer's "
                                 f"group has {len(group['params'])}")
            new = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            missing = [k for k in self.defaults if k not in new]
            if missing:
                raise KeyError(f"{op}: {where} is missing the options {missing}")
            opts = self._options(new, op, where)
            new.update(opts)
            new["params"] = group["params"]
            new_groups.append(new)
            for j, (i, p) in enumerate(zip(indices, group["params"])):
                i = as_int(op, f"{where}['params'][{j}]", i)
                if i in by_index:
                    raise ValueError(f"{op}: parameter index {i} appears more than once in "
                                     f"'param_groups'")
                by_index[i] = (p, opts)

        saved_state = state_dict["state"]
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"{op}: 'state' must be a dict of parameter index to dict, got "
                            f"{type(saved_state).__name__}")
        new_state = defaultdict(dict)
        for key, entry in saved_state.items():
            try:
                i = as_int(op, "a state key", key)
            except (TypeError, OverflowError):
                raise KeyError(f"{op}: state key {key!r} is not a parameter index") from None
            if i not in by_index:
                raise KeyError(f"{op}: state[{key!r}] belongs to no parameter ('param_groups' "
                               f"lists {len(by_index)} parameters)")
            p, opts = by_index[i]
            if not isinstance(entry, Mapping):
                raise TypeError(f"{op}: state[{i}] must be a dict, got {type(entry).__name__}")
            staged = {}
            for name, value in entry.items():
                label = f"state[{i}][{name!r}]"
                if name not in self._state_keys:
                    raise KeyError(f"{op}: unexpected entry {label} ({type(self).__name__} keeps "
                                   f"{list(self._state_keys)})")
                if name == "step":
                    staged[name] = _step_count(op, label, value)
                    continue
                if value is None:  # PyTorch's "no momentum buffer yet"
                    continue
                arr = _to_numpy(value)
                if arr.dtype != p.data.dtype:
                    raise ValueError(f"{op}: {label} has dtype {arr.dtype}, its parameter "
                                     f"{p.data.dtype}")
                if arr.shape != p.data.shape:
                    raise ValueError(f"{op}: {label} has shape {arr.shape}, its parameter "
                                     f"{p.data.shape}")
                staged[name] = arr
            if staged:
                needed = (("step",) if self._counts_steps else ()) + self._state_arrays(opts)
                missing = [k for k in needed if k not in staged]
                if missing:
                    raise KeyError(f"{op}: state[{i}] is missing {missing}")
                new_state[p] = {k: (np.array(v, dtype=p.data.dtype, order="C", copy=True)
                                    if isinstance(v, np.ndarray) else v)
                                for k, v in staged.items()}
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


def _named(where: str):
    """How an option is named in messages: 'lr' for the constructor's values,
    "param_groups[1]['lr']" for a group's."""
    return (lambda key: f"{where}[{key!r}]") if where else (lambda key: key)


# ---- SGD -----------------------------------------------------------------------------------------

class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum, L2 weight
    decay and maximisation, PyTorch's formula::

        g = grad (negated if maximize) + weight_decay * p
        b = g on the first step, else momentum * b + (1 - dampening) * g
        p = p - lr * (g + momentum * b if nesterov else b)     (p - lr * g without momentum)

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> w = Parameter(np.array([1.0]))
    >>> opt = optim.SGD([w], lr=0.5, momentum=0.5)
    >>> for _ in range(2):
    ...     w.grad[:] = 1.0
    ...     opt.step()
    >>> w.data.tolist(), opt.state[w]["momentum_buffer"].tolist()
    ([-0.25], [1.5])

    PyTorch: ``torch.optim.SGD(params, lr=0.5, momentum=0.5)`` (same argument order:
    lr, momentum, dampening, weight_decay, nesterov, then keyword-only maximize).
    """

    _state_keys = ("momentum_buffer",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _options(self, group, op, where=""):
        n = _named(where)
        o = dict(lr=_nonneg(op, n("lr"), group["lr"]),
                 momentum=_nonneg(op, n("momentum"), group["momentum"]),
                 dampening=as_float(op, n("dampening"), group["dampening"]),
                 weight_decay=_nonneg(op, n("weight_decay"), group["weight_decay"]),
                 nesterov=_flag(op, n("nesterov"), group["nesterov"]),
                 maximize=_flag(op, n("maximize"), group["maximize"]))
        if o["nesterov"] and (o["momentum"] <= 0 or o["dampening"] != 0):
            raise ValueError(f"{op}: {n('nesterov')}=True requires momentum > 0 and dampening == 0, "
                             f"got momentum={_scalar(group['momentum'])}, "
                             f"dampening={_scalar(group['dampening'])}")
        return o

    def _state_arrays(self, opts):
        return ("momentum_buffer",) if opts["momentum"] != 0 else ()

    def _update(self, p, state, opts, fresh):
        buf = state["momentum_buffer"] if opts["momentum"] != 0 else None
        _cnn.sgd_step(p.data, p.grad, buf, opts["lr"], opts["momentum"], opts["dampening"],
                      opts["weight_decay"], opts["nesterov"], opts["maximize"],
                      "momentum_buffer" in fresh)


# ---- Adam and AdamW ------------------------------------------------------------------------------

class Adam(Optimizer):
    """Adam (Kingma & Ba) with optional L2 weight decay, AMSGrad and maximisation, PyTorch's
    formula (t counts this parameter's steps from 1)::

        g = grad (negated if maximize) + weight_decay * p     (AdamW: p = p * (1 - lr * wd))
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_or_max_v) / sqrt(1 - beta2**t) + eps)

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> w = Parameter(np.array([1.0, 1.0]))
    >>> opt = optim.Adam([w], lr=0.1)
    >>> w.grad[:] = [3.0, -0.01]
    >>> opt.step()            # the first step moves each entry by about lr
    >>> w.data.round(6).tolist(), opt.state[w]["step"]
    ([0.9, 1.1], 1)

    PyTorch: ``torch.optim.Adam(params, lr=0.1)``. ``decoupled_weight_decay=True`` is AdamW.
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _counts_steps = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _options(self, group, op, where=""):
        n = _named(where)
        betas = _scalar(group["betas"])
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise TypeError(f"{op}: {n('betas')} must be a pair (beta1, beta2), got {betas!r}")
        return dict(lr=_nonneg(op, n("lr"), group["lr"]),
                    betas=(_unit(op, f"{n('betas')}[0]", betas[0]),
                           _unit(op, f"{n('betas')}[1]", betas[1])),
                    eps=_nonneg(op, n("eps"), group["eps"]),
                    weight_decay=_nonneg(op, n("weight_decay"), group["weight_decay"]),
                    amsgrad=_flag(op, n("amsgrad"), group["amsgrad"]),
                    maximize=_flag(op, n("maximize"), group["maximize"]),
                    decoupled_weight_decay=_flag(op, n("decoupled_weight_decay"),
                                                 group["decoupled_weight_decay"]))

    def _state_arrays(self, opts):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if opts["amsgrad"] else ())

    def _update(self, p, state, opts, fresh):
        step = state["step"] + 1
        beta1, beta2 = opts["betas"]
        _cnn.adam_step(p.data, p.grad, state["exp_avg"], state["exp_avg_sq"],
                       state["max_exp_avg_sq"] if opts["amsgrad"] else None, opts["lr"], beta1,
                       beta2, opts["eps"], opts["weight_decay"], opts["decoupled_weight_decay"],
                       opts["maximize"], step)
        state["step"] = step


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p = p * (1 - lr * weight_decay)``
    before the Adam update, instead of adding ``weight_decay * p`` to the gradient. Default
    ``weight_decay=1e-2``.

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> w = Parameter(np.array([2.0]))
    >>> opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> opt.step()            # zero gradient: only the decay acts, 2 * (1 - 0.1 * 0.5)
    >>> w.data.tolist()
    [1.9]

    PyTorch: ``torch.optim.AdamW(params, lr=0.1, weight_decay=0.5)``.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _options(self, group, op, where=""):
        # Always decoupled, as PyTorch's AdamW (also for a loaded Adam state dict).
        group["decoupled_weight_decay"] = True
        return super()._options(group, op, where)


# ---- RMSprop -------------------------------------------------------------------------------------

class RMSprop(Optimizer):
    """RMSprop (Hinton) with optional momentum, centring, L2 weight decay and maximisation,
    PyTorch's formula::

        g = grad (negated if maximize) + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - a * a) + eps with a = alpha * a + (1 - alpha) * g if centered,
              sqrt(v) + eps otherwise
        b = momentum * b + g / avg;  p = p - lr * b        (p - lr * g / avg without momentum)

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> w = Parameter(np.array([1.0]))
    >>> opt = optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    >>> w.grad[:] = 2.0
    >>> opt.step()            # v = 0.25 * 4 = 1, p = 1 - 0.01 * 2 / 1
    >>> w.data.tolist(), opt.state[w]["square_avg"].tolist()
    ([0.98], [1.0])

    PyTorch: ``torch.optim.RMSprop(params, lr=0.01, alpha=0.75, eps=0.0)``.
    """

    _state_keys = ("step", "square_avg", "momentum_buffer", "grad_avg")
    _counts_steps = True

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _options(self, group, op, where=""):
        n = _named(where)
        return dict(lr=_nonneg(op, n("lr"), group["lr"]),
                    alpha=_nonneg(op, n("alpha"), group["alpha"]),
                    eps=_nonneg(op, n("eps"), group["eps"]),
                    weight_decay=_nonneg(op, n("weight_decay"), group["weight_decay"]),
                    momentum=_nonneg(op, n("momentum"), group["momentum"]),
                    centered=_flag(op, n("centered"), group["centered"]),
                    maximize=_flag(op, n("maximize"), group["maximize"]))

    def _state_arrays(self, opts):
        return (("square_avg",) + (("momentum_buffer",) if opts["momentum"] > 0 else ())
                + (("grad_avg",) if opts["centered"] else ()))

    def _update(self, p, state, opts, fresh):
        _cnn.rmsprop_step(p.data, p.grad, state["square_avg"],
                          state["grad_avg"] if opts["centered"] else None,
                          state["momentum_buffer"] if opts["momentum"] > 0 else None,
                          opts["lr"], opts["alpha"], opts["eps"], opts["weight_decay"],
                          opts["momentum"], opts["maximize"])
        state["step"] += 1


# ---- learning-rate schedulers --------------------------------------------------------------------

class LRScheduler:
    """Base class of learning-rate schedulers: each ``step()`` (once per epoch, after the
    optimizer's steps) advances ``last_epoch`` and writes the new ``lr`` into every parameter
    group. The first ``lr`` of each group is kept as ``group["initial_lr"]`` (``base_lrs``);
    resuming with ``last_epoch >= 0`` needs it there, as in PyTorch.

    PyTorch: ``torch.optim.lr_scheduler.LRScheduler``.
    """

    # torch's scheduler state dicts also carry these; they mean nothing here
    _ignored_keys = ("_get_lr_called_within_step", "_is_initial", "verbose")

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        op = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{op}: optimizer must be a cnnpy Optimizer, got "
                            f"{type(optimizer).__name__}")
        last_epoch = as_int(op, "last_epoch", last_epoch, -1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{op}: param_groups[{i}] has no 'initial_lr'; resuming with "
                                   f"last_epoch={last_epoch} needs the optimizer state of the run "
                                   f"being resumed (or use last_epoch=-1 for a fresh run)")
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The learning rates for ``last_epoch`` (called by ``step()``)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set each group's ``lr``."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer: ``base_lrs``, ``last_epoch``, ``_step_count``,
        ``_last_lr`` and the scheduler's own arguments (PyTorch's keys)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                if k not in ("optimizer", "_is_initial")}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a ``state_dict()``; a missing or unexpected key raises KeyError, a list whose
        length is not the number of parameter groups ValueError, before anything changes."""
        op = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{op}: expected a dict, got {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own and k not in self._ignored_keys]
        if missing or unexpected:
            raise KeyError(f"{op}: missing keys {missing}, unexpected keys {unexpected}")
        staged = {k: copy.deepcopy(state_dict[k]) for k in own}
        staged["last_epoch"] = as_int(op, "last_epoch", staged["last_epoch"], -1)
        staged["_step_count"] = as_int(op, "_step_count", staged["_step_count"], 0)
        n = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            staged[key] = [as_float(op, f"{key}[{i}]", v) for i, v in enumerate(staged[key])]
            if len(staged[key]) != n:
                raise ValueError(f"{op}: {key} has {len(staged[key])} entries, the optimizer "
                                 f"has {n} parameter groups")
        self._check_args(op, staged)
        self.__dict__.update(staged)

    def _check_args(self, op: str, args: dict) -> None:
        """Check the subclass's own arguments in `args` (normalising them in place)."""


class StepLR(LRScheduler):
    """Multiply each group's learning rate by ``gamma`` every ``step_size`` epochs:
    ``lr = initial_lr * gamma ** (epoch // step_size)``, computed the way PyTorch does (one
    multiplication of the current lr at each multiple of step_size).

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> opt = optim.SGD([Parameter(np.zeros(2))], lr=1.0)
    >>> sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(sched.get_last_lr()[0])
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]

    PyTorch: ``torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        args = dict(step_size=step_size, gamma=gamma)
        self._check_args(type(self).__name__, args)
        self.step_size, self.gamma = args["step_size"], args["gamma"]
        super().__init__(optimizer, last_epoch)

    def _check_args(self, op, args):
        args["step_size"] = as_int(op, "step_size", args["step_size"], 1)
        args["gamma"] = as_float(op, "gamma", args["gamma"])

    def get_lr(self):
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lrs
        return [lr * self.gamma for lr in lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from each group's initial lr down to ``eta_min`` over ``T_max`` epochs,
    then back up (no restarts):
    ``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Like PyTorch, it is computed recursively from the current lr (so it composes with other
    changes to the lr), with PyTorch's operations in PyTorch's order: the values equal torch's.

    >>> import numpy as np
    >>> from cnnpy import optim
    >>> from cnnpy.nn import Parameter
    >>> opt = optim.SGD([Parameter(np.zeros(2))], lr=1.0)
    >>> sched = optim.CosineAnnealingLR(opt, T_max=4)
    >>> lrs = []
    >>> for epoch in range(6):
    ...     lrs.append(round(sched.get_last_lr()[0], 6))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 0.853553, 0.5, 0.146447, 0.0, 0.146447]

    PyTorch: ``torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)``.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        args = dict(T_max=T_max, eta_min=eta_min)
        self._check_args(type(self).__name__, args)
        self.T_max, self.eta_min = args["T_max"], args["eta_min"]
        super().__init__(optimizer, last_epoch)

    def _check_args(self, op, args):
        args["T_max"] = as_int(op, "T_max", args["T_max"], 1)
        args["eta_min"] = as_float(op, "eta_min", args["eta_min"])

    def get_lr(self):
        groups, t, T, eta_min = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:
            # closed form (reached when a loaded state resumes with _step_count 0)
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            # at the bottom of the cosine the ratio below would divide by zero: add the step
            return [group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, groups)]
        ratio = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
        return [ratio * (group["lr"] - eta_min) + eta_min for group in groups]
