"""Compiled training steps: a whole ``nn.Sequential`` with its loss and optimizer run by the C
engine in one call per step (forward, loss, backward and update, fused where the layers allow,
with no allocation), on the model's own ``Parameter`` arrays and the optimizer's own state.

>>> import numpy as np, cnnpy
>>> from cnnpy import nn, optim
>>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
>>> step = cnnpy.compile(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1))
>>> x, y = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
>>> first = step(x, y)
>>> step(x, y) < first, step.forward(x).shape
(True, (4, 1))
"""
from __future__ import annotations

import numpy as np

from . import _cnn
from . import nn
from ._args import PAD_MODES, REDUCTIONS, real_dtype
from ._random import get_rng
from .nn.module import Module, Sequential
from .optim import SGD, Adam, AdamW, RMSprop
from .shapes import resolve_padding

__all__ = ["compile", "CompiledStep"]

_K = _cnn.net_constants()
_HP = _K["HP_FIELDS"]
# the columns of a step's hyper-parameter array (csrc/python/net.c, net_step)
(_LR, _MOMENTUM, _DAMPENING, _WD, _BETA1, _BETA2, _ALPHA, _EPS, _NESTEROV, _MAXIMIZE, _DECOUPLED,
 _AMSGRAD, _CENTERED, _STEP, _SKIP) = range(15)


class NotCompilable(TypeError):
    """What a compiled step cannot run exactly as the layer-by-layer step would (a layer, loss,
    optimizer or option the engine lacks, or an input of another dtype). Raised before anything
    changes; ``cnnpy.train(compile=None)`` then takes the layer-by-layer path."""


# ---- layers -------------------------------------------------------------------------------------

def _where(i, m) -> str:
    return f"layer {i} ({type(m).__name__})"


def _refuse(i, m, why: str):
    raise NotCompilable(f"compile: {_where(i, m)} cannot run compiled: {why}")


def _leaves(model) -> list:
    """The layers a Sequential applies, nested Sequentials flattened, in order."""
    if isinstance(model, Sequential):
        t = type(model)
        if t.forward is not Sequential.forward or t.backward is not Sequential.backward or \
                t.__call__ is not Module.__call__:
            raise NotCompilable(f"compile: {t.__name__} overrides forward/backward; only the layers "
                                f"of an nn.Sequential run compiled")
        out = []
        for m in model:
            out += _leaves(m)
        return out
    return [model]


def _hw(values, dims):
    """A per-dim tuple as (h, w); 1-D layers use only w."""
    return (1, values[0]) if dims == 1 else tuple(values)


def _conv(i, m, layers):
    dims = m._dims
    k, s, d = m.kernel_size, m.stride, m.dilation
    padding = m.padding
    if isinstance(padding, (tuple, list)):
        items = list(padding)
        if dims == 1 and len(items) == 2 and not any(isinstance(p, (str, tuple, list)) for p in items):
            per = [tuple(items)]
        elif len(items) == dims:
            per = items
        else:
            _refuse(i, m, f"padding {padding!r} is not a padding form of conv{dims}d")
    else:
        per = [padding] * dims
    pads, same = [], []
    for a, p in enumerate(per):
        same.append(int(isinstance(p, str) and p == "same"))
        if same[-1]:
            pads.append((0, 0))
            continue
        try:
            pads.append(resolve_padding(type(m).__name__, tuple(p) if isinstance(p, list) else p,
                                        1, k[a], s[a], d[a]))
        except (TypeError, ValueError) as exc:
            _refuse(i, m, str(exc))
    if dims == 1:
        pads, same = [(0, 0)] + pads, [0] + same
    kh, kw = _hw(k, dims)
    sh, sw = _hw(s, dims)
    dh, dw = _hw(d, dims)
    return dict(kind=_K["CONV"], spatial_dims=dims, in_channels=m.in_channels,
                out_channels=m.out_channels, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw,
                pad_top=pads[0][0], pad_bottom=pads[0][1], pad_left=pads[1][0],
                pad_right=pads[1][1], same_h=same[0], same_w=same[1], dilation_h=dh,
                dilation_w=dw, groups=m.groups, bias=int(m.bias is not None),
                pad_mode=PAD_MODES[m.padding_mode], pad_value=0.0, flip=int(m.mode == "conv"))


def _conv_transpose(i, m, layers):
    dims = m._dims
    kh, kw = _hw(m.kernel_size, dims)
    sh, sw = _hw(m.stride, dims)
    ph, pw = _hw(m.padding, dims) if dims == 2 else (0, m.padding[0])
    oh, ow = _hw(m.output_padding, dims) if dims == 2 else (0, m.output_padding[0])
    dh, dw = _hw(m.dilation, dims)
    return dict(kind=_K["CONV_TRANSPOSE"], spatial_dims=dims, in_channels=m.in_channels,
                out_channels=m.out_channels, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw,
                pad_h=ph, pad_w=pw, output_padding_h=oh, output_padding_w=ow, dilation_h=dh,
                dilation_w=dw, groups=m.groups, bias=int(m.bias is not None))


def _owner(i, m, layers, owner, what):
    for j, other in enumerate(layers):
        if other is owner:
            return j
    _refuse(i, m, f"the {what} whose weight it shares is not a layer of this model")


def _tied_conv(i, m, layers):
    j = _owner(i, m, layers, m._conv, "Conv2d")
    if m._conv.mode != "xcorr":
        _refuse(i, m, "it shares the weight of a Conv2d with mode='conv'")
    return dict(kind=_K["TIED_CONV_TRANSPOSE"], spatial_dims=2, layer=j,
                bias=int(m.bias is not None), stride_h=m.stride[0], stride_w=m.stride[1],
                pad_h=m.padding[0], pad_w=m.padding[1], output_padding_h=m.output_padding[0],
                output_padding_w=m.output_padding[1])


def _tied_linear(i, m, layers):
    return dict(kind=_K["TIED_LINEAR"], layer=_owner(i, m, layers, m._linear, "Linear"),
                bias=int(m.bias is not None))


def _pool_geometry(m):
    dims = m._dims
    kh, kw = _hw(m.kernel_size, dims)
    sh, sw = _hw(m.stride, dims)
    ph, pw = _hw(m.padding, dims) if dims == 2 else (0, m.padding[0])
    return dict(spatial_dims=dims, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw, pad_h=ph,
                pad_w=pw, ceil_mode=int(m.ceil_mode))


def _maxpool(i, m, layers):
    if m.return_indices:
        _refuse(i, m, "return_indices=True (the next layer would get a tuple)")
    dh, dw = _hw(m.dilation, m._dims)
    return dict(kind=_K["MAXPOOL"], dilation_h=dh, dilation_w=dw, **_pool_geometry(m))


def _avgpool(i, m, layers):
    div = m.divisor_override
    if div is not None and (isinstance(div, bool) or not isinstance(div, (int, np.integer))
                            or div < 1):
        _refuse(i, m, f"divisor_override={div!r} is not a positive int")
    return dict(kind=_K["AVGPOOL"], dilation_h=1, dilation_w=1,
                count_include_pad=int(m.count_include_pad), divisor_override=int(div or 0),
                **_pool_geometry(m))


def _adaptive(kind):
    def describe(i, m, layers):
        if getattr(m, "return_indices", False):
            _refuse(i, m, "return_indices=True (the next layer would get a tuple)")
        size = m.output_size
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        if len(size) != 2 or any(not (s is None or (isinstance(s, (int, np.integer))
                                                    and not isinstance(s, bool) and s >= 1))
                                 for s in size):
            _refuse(i, m, f"output_size={m.output_size!r} is not an int >= 1, None or a pair")
        return dict(kind=_K[kind], spatial_dims=2, out_h=int(size[0] or 0), out_w=int(size[1] or 0))
    return describe


def _unflatten(i, m, layers):
    sizes = tuple(int(s) for s in m.unflattened_size)
    if not 1 <= len(sizes) <= _K["MAX_DIMS"] - 1 or min(sizes) < 1:
        _refuse(i, m, f"unflattened_size={m.unflattened_size} (the engine takes 1 to "
                      f"{_K['MAX_DIMS'] - 1} sizes >= 1)")
    return dict(kind=_K["UNFLATTEN"], dim=m.dim, sizes=sizes)


# Exact classes only: a user's subclass may change forward or backward.
_LAYERS = {
    nn.Conv2d: _conv, nn.Conv1d: _conv,
    nn.ConvTranspose2d: _conv_transpose, nn.ConvTranspose1d: _conv_transpose,
    nn.TiedConvTranspose2d: _tied_conv, nn.TiedLinear: _tied_linear,
    nn.MaxPool2d: _maxpool, nn.MaxPool1d: _maxpool,
    nn.AvgPool2d: _avgpool, nn.AvgPool1d: _avgpool,
    nn.AdaptiveAvgPool2d: _adaptive("ADAPTIVE_AVGPOOL"),
    nn.AdaptiveMaxPool2d: _adaptive("ADAPTIVE_MAXPOOL"),
    nn.Linear: lambda i, m, layers: dict(kind=_K["LINEAR"], in_features=m.in_features,
                                         out_features=m.out_features, bias=int(m.bias is not None)),
    nn.Flatten: lambda i, m, layers: dict(kind=_K["FLATTEN"], start_dim=m.start_dim,
                                          end_dim=m.end_dim),
    nn.Unflatten: _unflatten,
    nn.ReLU: lambda i, m, layers: dict(kind=_K["RELU"]),
    nn.LeakyReLU: lambda i, m, layers: dict(kind=_K["LEAKY_RELU"],
                                            negative_slope=m.negative_slope),
    nn.Sigmoid: lambda i, m, layers: dict(kind=_K["SIGMOID"]),
    nn.Tanh: lambda i, m, layers: dict(kind=_K["TANH"]),
    nn.Softmax: lambda i, m, layers: dict(kind=_K["SOFTMAX"], dim=m.dim),
    nn.Dropout: lambda i, m, layers: dict(kind=_K["DROPOUT"], p=m.p),
    nn.Dropout2d: lambda i, m, layers: dict(kind=_K["DROPOUT2D"], p=m.p),
    nn.Identity: lambda i, m, layers: dict(kind=_K["IDENTITY"]),
}


def _describe(layers) -> list:
    descs, seen = [], set()
    for i, m in enumerate(layers):
        if id(m) in seen:
            _refuse(i, m, "the same module object appears twice in the model (its parameters "
                          "would be two in the engine)")
        seen.add(id(m))
        fn = _LAYERS.get(type(m))
        if fn is None:
            why = ("a user-defined module (its forward/backward are Python)"
                   if isinstance(m, Module) else "not an nn.Module")
            _refuse(i, m, f"{why}; it runs on the layer-by-layer path (cnnpy.train(..., "
                          f"compile=False))")
        descs.append(fn(i, m, layers))
    return descs


# ---- losses -------------------------------------------------------------------------------------

_LOSSES = {nn.MSELoss: "LOSS_MSE", nn.L1Loss: "LOSS_L1", nn.BCELoss: "LOSS_BCE",
           nn.BCEWithLogitsLoss: "LOSS_BCE_LOGITS", nn.CrossEntropyLoss: "LOSS_CROSS_ENTROPY",
           nn.CorrelationLoss: "LOSS_CORRELATION"}


def _describe_loss(loss, dtype):
    """(descriptor, weight, pos_weight) of a loss module; the weights as arrays of `dtype`."""
    name = type(loss).__name__
    if type(loss) not in _LOSSES:
        raise NotCompilable(f"compile: the loss {name} cannot run compiled: only "
                            f"{', '.join(c.__name__ for c in _LOSSES)} (exactly those classes; a "
                            f"user-defined loss runs on the layer-by-layer path)")
    opts = dict(loss._options)
    desc = dict(kind=_K[_LOSSES[type(loss)]], reduction=REDUCTIONS.get(loss.reduction, -1))
    if desc["reduction"] < 0:
        raise NotCompilable(f"compile: the loss {name} has reduction={loss.reduction!r}")
    weights = []
    for key in ("weight", "pos_weight"):
        w = opts.get(key)
        if w is None:
            weights.append(None)
            continue
        w = w.detach().cpu().numpy() if hasattr(w, "detach") else np.asarray(w)
        if w.dtype.kind not in "biuf":
            raise NotCompilable(f"compile: the loss {name}'s {key} has dtype {w.dtype}")
        if real_dtype(np.empty(0, dtype), w) != dtype:
            raise NotCompilable(f"compile: the loss {name}'s {key} has dtype {w.dtype}, so the "
                                f"layer-by-layer loss computes in float64 while the model is "
                                f"{dtype}; give the {key} as {dtype} (np.asarray(w, "
                                f"np.{dtype}))")
        weights.append(np.asarray(w, dtype))
    if type(loss) is nn.CrossEntropyLoss:
        desc["ignore_index"] = int(opts["ignore_index"])
        desc["label_smoothing"] = float(opts["label_smoothing"])
        if weights[0] is not None and weights[0].ndim != 1:
            raise NotCompilable(f"compile: the loss {name}'s weight has shape {weights[0].shape}; "
                                f"class weights are one per class, (C,)")
    return desc, weights[0], weights[1]


# ---- optimizers ---------------------------------------------------------------------------------

# Each optimizer's state arrays in the engine's slots (cnn_optim_kind) for a group's options.
_OPTIMS = {
    SGD: ("OPTIM_SGD", lambda o: ("momentum_buffer" if o["momentum"] != 0 else None, None, None)),
    Adam: ("OPTIM_ADAM", lambda o: ("exp_avg", "exp_avg_sq",
                                    "max_exp_avg_sq" if o["amsgrad"] else None)),
    RMSprop: ("OPTIM_RMSPROP", lambda o: ("square_avg",
                                          "momentum_buffer" if o["momentum"] > 0 else None,
                                          "grad_avg" if o["centered"] else None)),
}
_OPTIMS[AdamW] = _OPTIMS[Adam]


def _hp_row(kind, o) -> list:
    row = [0.0] * _HP
    row[_LR], row[_WD], row[_MAXIMIZE] = o["lr"], o["weight_decay"], float(o["maximize"])
    if kind is SGD:
        row[_MOMENTUM], row[_DAMPENING], row[_NESTEROV] = o["momentum"], o["dampening"], float(o["nesterov"])
    elif kind is RMSprop:
        row[_MOMENTUM], row[_ALPHA], row[_EPS], row[_CENTERED] = (o["momentum"], o["alpha"], o["eps"],
                                                                  float(o["centered"]))
    else:
        row[_BETA1], row[_BETA2] = o["betas"]
        row[_EPS], row[_AMSGRAD] = o["eps"], float(o["amsgrad"])
        row[_DECOUPLED] = float(o["decoupled_weight_decay"])
    return row


# ---- the compiled step --------------------------------------------------------------------------

def _engine_error(exc, layers, op) -> str:
    """The message of a failed engine call: which layer (index and class) or the loss, which field."""
    args = exc.args
    if len(args) != 4:
        return str(exc)
    msg, layer, field, _ = args
    if layer >= 0:
        where = _where(layer, layers[layer]) if layer < len(layers) else f"layer {layer}"
    else:
        where = {_K["WHERE_LOSS"]: "the loss", _K["WHERE_OPTIM"]: "the optimizer"}.get(layer, "the call")
    return f"{op}: {where}: {field or 'value'} refused ({msg.split(': ', 1)[-1]})"


class CompiledStep:
    """A training step of ``model`` (an ``nn.Sequential``), ``loss`` and ``optimizer`` run by the C
    engine: ``step(x, y)`` is ``optimizer.zero_grad(); loss(model(x), y); model.backward(...);
    optimizer.step()`` in one call, returning the loss as a float. Built by ``cnnpy.compile``.

    The step reads and writes the model's own ``Parameter.data`` and ``.grad`` and the optimizer's
    own ``state`` arrays in place (bound once; a replaced array is bound again before the next
    step), takes every option (``lr``, betas, ...) from ``optimizer.param_groups`` at each step and
    keeps the optimizer's step counters as ``optimizer.step()`` does, so ``state_dict``, ``save``
    / ``load``, learning-rate schedulers and mixing compiled and layer-by-layer steps all work.
    Dropout layers draw their masks from their own generator as the layers do, in training mode
    only (``model.train()`` / ``model.eval()`` are read at each step).

    Attributes: ``dtype`` (the parameters' dtype), ``fused`` (whether layers run fused).
    """

    def __init__(self, model, loss, optimizer, fuse: bool = True):
        if not isinstance(model, Module):
            raise TypeError(f"compile: model must be an nn.Module, got {type(model).__name__}")
        layers = _leaves(model)
        descs = _describe(layers)
        kind = type(optimizer)
        if kind not in _OPTIMS:
            raise NotCompilable(f"compile: the optimizer {kind.__name__} cannot run compiled: only "
                                f"SGD, Adam, AdamW and RMSprop (exactly those classes)")
        params = model.parameters()
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) > 1:
            raise NotCompilable(f"compile: the model's parameters mix dtypes {sorted(map(str, dtypes))}")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        if dtype not in (np.float32, np.float64):
            raise NotCompilable(f"compile: the parameters are {dtype}, not float32 or float64")
        loss_desc, weight, pos_weight = _describe_loss(loss, dtype)
        try:
            self._net = _cnn.net_create(descs, loss_desc, _K[_OPTIMS[kind][0]],
                                        dtype == np.float64, 0)
        except ValueError as exc:
            raise NotCompilable(_engine_error(exc, layers, "compile")) from None
        # the engine's parameters, matched to the model's by (layer, weight/bias)
        self._params = []
        for j, (layer, is_bias, shape) in enumerate(_cnn.net_params(self._net)):
            p = getattr(layers[layer], "bias" if is_bias else "weight")
            if p is None or tuple(p.data.shape) != shape:
                raise NotCompilable(f"compile: {_where(layer, layers[layer])}: its "
                                    f"{'bias' if is_bias else 'weight'} does not have the shape "
                                    f"{shape} its options give")
            self._params.append(p)
        ids = [id(p) for p in self._params]
        if len(set(ids)) != len(ids) or set(ids) != {id(p) for p in params}:
            raise NotCompilable("compile: some parameters are shared between layers other than "
                                "through TiedLinear / TiedConvTranspose2d, or registered outside "
                                "the layers")
        group_of = {}
        for gi, group in enumerate(optimizer.param_groups):
            for p in group["params"]:
                group_of[id(p)] = gi
        extra = [p for g in optimizer.param_groups for p in g["params"] if id(p) not in set(ids)]
        if extra:
            raise NotCompilable(f"compile: the optimizer holds {len(extra)} parameters that are not "
                                f"the model's (a compiled step updates the model's only)")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.dtype, self.fused = np.dtype(dtype), bool(fuse)
        self._layers, self._kind = layers, kind
        self._slots = _OPTIMS[kind][1]
        self._group = [group_of.get(id(p), -1) for p in self._params]
        self._weights = (weight, pos_weight)
        self._ce = type(loss) is nn.CrossEntropyLoss
        self._bce = type(loss) in (nn.BCELoss, nn.BCEWithLogitsLoss)
        self._bound = [None] * len(self._params)
        self._hp = np.zeros((len(self._params), _HP))
        self._dropout = [i for i, m in enumerate(layers) if type(m) in (nn.Dropout, nn.Dropout2d)]
        self._masks = [None] * len(layers)
        self._mask_bufs = {}
        self._shape = None          # the planned input shape
        self._plan_key = None       # (shape, threads, instruction set) it was planned for
        self._out_shape = None
        self._plans = {}            # input shape -> (output shape, layer input shapes, weights)
        if not fuse:
            _cnn.net_set_fusion(self._net, False)

    # ---- shapes ----------------------------------------------------------------------------------

    def _plan(self, shape: tuple) -> None:
        # The engine would re-plan by itself inside the step when the thread count or the
        # instruction set changed; planning here does it with the GIL held and keeps the shapes
        # and loss weights of this step in one place.
        key = (shape, _cnn.num_threads(), _cnn.isa())
        if key == self._plan_key:
            return
        self._plan_key = key
        info = self._plans.get(shape)
        try:
            out = _cnn.net_plan(self._net, shape)
        except ValueError as exc:
            self._shape = self._plan_key = None
            raise ValueError(_engine_error(exc, self._layers, f"compiled step on input {shape}")) from None
        if info is None:
            ins = [shape] + [_cnn.net_output_shape(self._net, shape, i)
                             for i in range(len(self._layers) - 1)]
            info = (out, ins, self._loss_weights(out))
            if len(self._plans) >= 4:
                self._plans.clear()
            self._plans[shape] = info
        self._shape, self._out_shape = shape, out
        w, pw = info[2]
        if w is not None or pw is not None:
            _cnn.net_bind_loss_weights(self._net, w, pw, 1 if self._ce else 0)

    def _loss_weights(self, out):
        """The loss weights for an output shape: class weights as they are, the binary cross
        entropies' broadcast to the output (as the layer-by-layer loss broadcasts them)."""
        w, pw = self._weights
        name = type(self.loss).__name__
        if self._ce:
            classes = out[1] if len(out) >= 2 else out[0]
            if w is not None and w.shape != (classes,):
                raise ValueError(f"{name}: weight must have shape ({classes},), got {w.shape}")
            return w, None
        if not self._bce:
            return None, None
        full = []
        for key, a in (("weight", w), ("pos_weight", pw)):
            if a is None:
                full.append(None)
                continue
            try:
                if np.broadcast_shapes(a.shape, out) != tuple(out):
                    raise ValueError
            except ValueError:
                raise ValueError(f"{name}: {key} {a.shape} does not broadcast to the shape {out} of "
                                 f"the loss") from None
            full.append(np.ascontiguousarray(np.broadcast_to(a, out)))
        return full[0], full[1]

    def output_shape(self, input_shape) -> tuple:
        """The model's output shape for an input of ``input_shape`` (batch first)."""
        shape = tuple(int(n) for n in input_shape)
        try:
            return _cnn.net_output_shape(self._net, shape, len(self._layers) - 1)
        except ValueError as exc:
            raise ValueError(_engine_error(exc, self._layers, f"input {shape}")) from None

    @property
    def arena_bytes(self) -> int:
        """Bytes of the engine's arena for the current input shape (0 before the first step)."""
        return _cnn.net_arena_bytes(self._net)

    # ---- inputs ----------------------------------------------------------------------------------

    def _input(self, x) -> np.ndarray:
        x = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
        if x.dtype != self.dtype:
            raise NotCompilable(f"compiled step: the input is {x.dtype} but the model's parameters "
                                f"are {self.dtype} (the layer-by-layer step would compute in "
                                f"{real_dtype(x, np.empty(0, self.dtype))}); convert the input "
                                f"(x.astype(np.{self.dtype}))")
        return np.ascontiguousarray(x)

    def _target(self, y) -> np.ndarray:
        y = y.detach().cpu().numpy() if hasattr(y, "detach") else np.asarray(y)
        out = self._out_shape
        name = type(self.loss).__name__
        if self._ce:
            if y.dtype.kind not in "iu":
                raise NotCompilable(f"compiled step: {name} takes integer class indices, got dtype "
                                    f"{y.dtype}")
            want = (out[0], *out[2:]) if len(out) >= 2 else ()
            if y.shape != want:
                raise ValueError(f"{name}: target must have shape {want} for an output of shape "
                                 f"{out}, got {y.shape}")
            return np.ascontiguousarray(y, dtype=np.int64)
        if y.dtype != self.dtype:
            raise NotCompilable(f"compiled step: the target is {y.dtype} but the model's parameters "
                                f"are {self.dtype} (the layer-by-layer loss would compute in "
                                f"{real_dtype(y, np.empty(0, self.dtype))}); convert the target "
                                f"(y.astype(np.{self.dtype}))")
        if y.shape != tuple(out):
            raise NotCompilable(f"compiled step: the target has shape {y.shape}, the model's output "
                                f"{tuple(out)}; a compiled step takes targets of the output's shape")
        return np.ascontiguousarray(y)

    # ---- parameters and optimizer state ----------------------------------------------------------

    def _bind(self, opts_of) -> list:
        """Bind every parameter's arrays (again where one was replaced); returns the fresh state
        entries to store after a successful step: (param, {key: value})."""
        opt = self.optimizer
        fresh_all = []
        for j, p in enumerate(self._params):
            gi = self._group[j]
            if gi < 0:
                arrays = (p.data, p.grad, None, None, None)
                fresh = None
            else:
                opts = opts_of[gi]
                state = opt.state.get(p)
                keys = self._slots(opts)
                missing = [k for k in keys if k is not None and (state is None or k not in state)]
                if missing or (opt._counts_steps and (state is None or "step" not in state)):
                    fresh = opt._check_state(f"{type(opt).__name__}.step", f"param {j}", p, opts)
                    fresh_all.append((p, fresh))
                    state = {**(state or {}), **fresh}
                else:
                    fresh = None
                arrays = (p.data, p.grad) + tuple(None if k is None else state[k] for k in keys)
            bound = self._bound[j]
            if fresh is None and bound is not None and all(a is b for a, b in zip(arrays, bound)):
                continue
            self._check_arrays(j, p, arrays)
            _cnn.net_bind_param(self._net, j, *arrays)
            self._bound[j] = arrays
        return fresh_all

    def _check_arrays(self, j, p, arrays):
        for name, a in zip(("data", "grad", "state", "state", "state"), arrays):
            if a is None:
                continue
            if not isinstance(a, np.ndarray):
                raise TypeError(f"compiled step: parameter {j}'s {name} must be a numpy array, "
                                f"got {type(a).__name__}")
            f = a.flags
            if not (f.c_contiguous and f.writeable and f.aligned and a.dtype.isnative):
                raise ValueError(f"compiled step: parameter {j}'s {name} must be a writeable, "
                                 f"C-contiguous, aligned array (it is updated in place)")
            if a.dtype != self.dtype:
                raise NotCompilable(f"compiled step: parameter {j}'s {name} is {a.dtype}, the "
                                    f"compiled model {self.dtype} (the model changed dtype after "
                                    f"compile(): compile it again)")
            if a.shape != p.data.shape:
                raise ValueError(f"compiled step: parameter {j}'s {name} has shape {a.shape}, the "
                                 f"parameter {p.data.shape}")

    def _hparams(self, opts_of, fresh_all) -> None:
        hp, opt = self._hp, self.optimizer
        fresh_ids = {id(p): f for p, f in fresh_all}
        for j, p in enumerate(self._params):
            gi = self._group[j]
            row = hp[j]
            if gi < 0:
                row[:] = 0.0
                row[_SKIP] = 1.0
                continue
            row[:] = opts_of[gi][1]
            fresh = fresh_ids.get(id(p))
            if self._kind is SGD:
                row[_STEP] = 1.0 if fresh and "momentum_buffer" in fresh else 0.0
            elif opt._counts_steps:
                state = opt.state.get(p)
                count = fresh["step"] if fresh and "step" in fresh else state["step"]
                row[_STEP] = float(int(count) + 1)

    def _draw_masks(self, training: bytes):
        """Each dropout layer in training draws its keep mask from its own generator, as the
        layer does (the same numbers in the same order), into buffers kept per shape."""
        ins = self._plans[self._shape][1]
        for i in self._dropout:
            if not training[i]:
                self._masks[i] = None
                continue
            m = self._layers[i]
            shape = ins[i]
            if type(m) is nn.Dropout2d:
                shape = (1, shape[0]) if len(shape) == 3 else shape[:2]
            bufs = self._mask_bufs.get((i, shape))
            if bufs is None:
                if len(self._mask_bufs) >= 4 * len(self._dropout):
                    self._mask_bufs.clear()
                bufs = self._mask_bufs[(i, shape)] = (np.empty(shape), np.empty(shape, bool))
            get_rng(m._rng, "dropout").random(out=bufs[0])
            self._masks[i] = np.greater_equal(bufs[0], m.p, out=bufs[1])
        return self._masks

    # ---- the step --------------------------------------------------------------------------------

    def __call__(self, x, y, *, output=None) -> float:
        """One training step on the batch (x, y); returns the loss (``reduction='none'``: the sum
        of the per-element losses, whose gradient the step follows). ``output``, an array of the
        model's output shape and dtype, receives the prediction (before the update)."""
        x = self._input(x)
        self._plan(x.shape)
        t = self._target(y)
        opt = self.optimizer
        op = f"{type(opt).__name__}.step"
        opts_of = []
        for gi, group in enumerate(opt.param_groups):
            o = opt._options(group, op, f"param_groups[{gi}]")
            opts_of.append((o, _hp_row(self._kind, o)))
        slots_of = [o for o, _ in opts_of]
        fresh_all = self._bind(slots_of)
        self._hparams(opts_of, fresh_all)
        masks = training = None
        if self._dropout:
            training = bytes(int(m.training) for m in self._layers)
            masks = self._draw_masks(training)
        try:
            value = _cnn.net_step(self._net, x, t, 1 if self._ce else 0, self._hp, masks,
                                  training, output)
        except ValueError as exc:
            raise ValueError(_engine_error(exc, self._layers, "compiled step")) from None
        for p, fresh in fresh_all:
            opt.state[p].update(fresh)
        if opt._counts_steps:  # Adam's and RMSprop's counters, as their step() keeps them
            for j, p in enumerate(self._params):
                if self._group[j] >= 0:
                    opt.state[p]["step"] = int(self._hp[j, _STEP])
        return value

    def forward(self, x) -> np.ndarray:
        """The model's output for ``x`` in evaluation mode (dropout off), as a new array."""
        x = self._input(x)
        self._plan(x.shape)
        for j, p in enumerate(self._params):
            bound = self._bound[j]
            if bound is None or bound[0] is not p.data:
                self._check_arrays(j, p, (p.data,))
                _cnn.net_bind_param(self._net, j, p.data, None, None, None, None)
                self._bound[j] = (p.data, None, None, None, None)
        return _cnn.net_forward(self._net, x)

    def __repr__(self):
        return (f"CompiledStep({type(self.model).__name__}, {type(self.loss).__name__}, "
                f"{type(self.optimizer).__name__}, {self.dtype}, fused={self.fused})")


def compile(model, loss, optimizer, fuse: bool = True) -> CompiledStep:
    """Compile a training step: ``step = cnnpy.compile(model, loss, optimizer)``, then
    ``step(x, y)`` trains on one batch in one C call (forward, loss, backward, update) and returns
    the loss as a float, and ``step.forward(x)`` runs inference (dropout off) into a new array.

    ``model`` is an ``nn.Sequential`` (nested Sequentials and the lecture's models included) of
    cnnpy's own layers: convolutions (every padding form and mode), transpose convolutions,
    pooling (max, average, adaptive), Linear, TiedLinear, TiedConvTranspose2d, Flatten,
    Unflatten, Identity, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout, Dropout2d. ``loss`` is
    MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss, CrossEntropyLoss or CorrelationLoss (any
    reduction and weights; ``'none'`` reports the sum). ``optimizer`` is SGD, Adam, AdamW or
    RMSprop over the model's parameters (parameters in none of its groups are not updated; their
    ``.grad`` receives each step's gradient). ``fuse=False`` runs every layer on its own: bitwise
    the layer-by-layer step; fused steps agree within 1e-6 relative (float32), 1e-13 (float64).

    The step updates the model's own ``Parameter`` arrays and ``.grad`` and the optimizer's own
    state in place, reads ``lr`` and every option from ``optimizer.param_groups`` at each step
    (schedulers work) and keeps the step counters, so ``state_dict``, ``save``/``load`` and
    switching with layer-by-layer steps work. Batches must have the parameters' dtype: a float64
    batch for a float32 model is refused (TypeError), never converted.

    A layer, loss, optimizer or option the engine cannot run (a user-defined ``nn.Module``
    subclass, ``return_indices=True``, ...) raises TypeError naming the layer (index and class)
    and why; such models train layer by layer (``cnnpy.train(..., compile=False)``).

    >>> import numpy as np, cnnpy
    >>> from cnnpy import nn, optim, models
    >>> model = models.GausNet(rng=0)
    >>> step = cnnpy.compile(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters()))
    >>> x, y = np.zeros((2, 1, 91, 91), np.float32), np.ones((2, 1), np.float32)
    >>> isinstance(step(x, y), float), step.forward(x).shape
    (True, (2, 1))

    PyTorch: no counterpart (``torch.compile`` of a training step, in spirit).
    """
    return CompiledStep(model, loss, optimizer, fuse=fuse)
