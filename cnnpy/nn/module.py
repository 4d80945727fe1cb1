"""Parameter, Module and Sequential: the containers every layer is built from.

A Module has ``forward(x)`` (caching what its backward needs) and ``backward(grad_output)``
(returning the gradient with respect to its input and adding parameter gradients into each
``Parameter.grad``). Parameters and sub-modules assigned as attributes are registered in order, so
``state_dict()`` keys are PyTorch's (``"0.weight"``, ``"encoder.2.bias"``).

>>> import numpy as np
>>> from cnnpy import nn
>>> model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
>>> [k for k in model.state_dict()]
['0.weight', '0.bias']
"""
from __future__ import annotations

import inspect
from collections import OrderedDict

import numpy as np

__all__ = ["Parameter", "Module", "Sequential", "takes_input_grad"]


class Parameter:
    """A trainable array: ``.data`` (the values, float32 by default) and ``.grad`` (same shape and
    dtype, accumulated by backward passes until ``zero_grad()``). Both are C-contiguous arrays
    that optimizers update in place.

    PyTorch: ``torch.nn.Parameter`` (here ``.grad`` is always an array, zero after ``zero_grad``).
    """

    __slots__ = ("data", "grad")

    def __init__(self, data, dtype=None):
        arr = np.asarray(data, dtype=dtype)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float32)
        self.data = np.ascontiguousarray(arr)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad.fill(0)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class of layers and models.

    Subclasses implement ``forward(x)`` and ``backward(grad_output) -> grad_input`` and assign
    their parameters (``Parameter``) and sub-modules (``Module``) as attributes.

    PyTorch: ``torch.nn.Module`` (backward is explicit instead of autograd).
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        params, modules = self.__dict__["_parameters"], self.__dict__["_modules"]
        params.pop(name, None)
        modules.pop(name, None)
        if isinstance(value, Parameter):
            params[name] = value
        elif isinstance(value, Module):
            modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    # ---- computation ------------------------------------------------------------------------------

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, grad_output):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- parameters and sub-modules ----------------------------------------------------------------

    def named_modules(self, prefix: str = ""):
        """(name, module) for this module and every sub-module, depth first ('' for self)."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_children(self):
        """(name, module) of the direct sub-modules, in registration order."""
        return list(self._modules.items())

    def children(self):
        return list(self._modules.values())

    def named_parameters(self, prefix: str = ""):
        """(name, Parameter) pairs, each shared Parameter listed once, under its first name."""
        seen = set()
        for mod_name, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def astype(self, dtype):
        """Convert every parameter (values and gradients) to `dtype` in place; returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"astype: dtype must be float32 or float64, got {dtype}")
        for p in self.parameters():
            p.data = np.ascontiguousarray(p.data, dtype=dtype)
            p.grad = np.ascontiguousarray(p.grad, dtype=dtype)
        return self

    # ---- state -------------------------------------------------------------------------------------

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter's values under PyTorch's keys ("0.weight")."""
        return OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters (keeping their dtype). Everything is checked before
        anything is written: a missing or unexpected key (with ``strict``) raises KeyError, a wrong
        shape ValueError, each naming the key. Accepts any mapping of array-likes (e.g. a PyTorch
        ``state_dict()`` converted with ``.numpy()``)."""
        own = OrderedDict(self.named_parameters())
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got "
                            f"{type(state_dict).__name__}")
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"load_state_dict: {' and '.join(parts)}")
        staged = []
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
            if value.shape != p.data.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {value.shape}, the model's "
                                 f"parameter has shape {p.data.shape}")
            if value.dtype.kind not in "biuf":
                raise TypeError(f"load_state_dict: {name!r} must hold real numbers, got dtype {value.dtype}")
            if not isinstance(p.data, np.ndarray) or not p.data.flags.writeable:
                raise ValueError(f"load_state_dict: the model's parameter {name!r} is not a writeable "
                                 f"numpy array; nothing was loaded")
            staged.append((p, value))
        for p, value in staged:
            np.copyto(p.data, value, casting="unsafe")
        return self

    # ---- display -----------------------------------------------------------------------------------

    def summary_stats(self, input_shape: tuple, output_shape: tuple) -> dict:
        """What ``cnnpy.summary`` reports of one forward pass from ``input_shape`` to
        ``output_shape``: ``{"mult_adds": int, "window": None or (kernel_size, stride, dilation),
        "transposed": bool}`` (the window's tuples have one entry per spatial dim; a transposed
        window spreads each input over it). Layers with weights or a window override this; the
        default (activations, reshapes, dropout, and a user's layer that does not override it)
        has no multiply-adds and no window, so the receptive field passes through unchanged."""
        return {"mult_adds": 0, "window": None}

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, m in self._modules.items():
                child = repr(m).replace("\n", "\n  ")
                lines.append(f"  ({name}): {child}")
            return "\n".join(lines) + "\n)"
        return lines[0] + ")"


def takes_input_grad(module) -> bool:
    """Whether module.backward accepts input_grad= (the built-in layers with weights do)."""
    try:
        return "input_grad" in inspect.signature(module.backward).parameters
    except (TypeError, ValueError):
        return False


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    >>> from cnnpy import nn
    >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> len(net), net[0].weight.shape
    (3, (3, 4))

    PyTorch: ``torch.nn.Sequential``.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: {name!r} is not a Module: {m!r}")
            setattr(self, name, m)

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module):
        setattr(self, str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, grad_output, input_grad=True):
        """Backward through the modules in reverse order. With ``input_grad=False`` the first
        module is told (when its backward takes ``input_grad``) that the gradient with respect to
        the model's input is not needed, so it skips computing it; None is returned then."""
        mods = list(self._modules.values())
        for i in range(len(mods) - 1, -1, -1):
            m = mods[i]
            if i == 0 and not input_grad and takes_input_grad(m):
                return m.backward(grad_output, input_grad=False)
            grad_output = m.backward(grad_output)
        return grad_output
