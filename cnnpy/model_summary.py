"""Model summaries: per layer the output shape, parameters, multiply-adds, receptive field and
jump, from one forward pass. Each layer describes itself through ``Module.summary_stats`` (its
multiply-adds and its window), so a new layer never edits this module; a Module that does not
override it (a user's own layer) counts no multiply-adds and keeps the receptive field, like an
activation.

>>> from cnnpy import nn, summary
>>> summary(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), (1, 1, 8, 8)).rows[-1]["receptive_field"]
(4, 4)
"""
from __future__ import annotations

import numpy as np

from ._args import as_int
from .nn import Sequential

__all__ = ["summary", "receptive_field", "Summary"]


def _leaves(module, prefix=""):
    """(name, module) of the layers a Sequential runs, nested Sequentials expanded."""
    if isinstance(module, Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix or type(module).__name__, module


class Summary:
    """The per-layer table of ``summary``: ``rows`` (dicts with layer, type, output_shape, params,
    mult_adds, receptive_field, jump), ``total_params`` and ``total_mult_adds``; ``str()`` prints
    it."""

    def __init__(self, input_shape, rows):
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.total_params = sum(r["params"] for r in rows)
        self.total_mult_adds = sum(r["mult_adds"] for r in rows)

    def __str__(self):
        def fmt(v):
            return "-" if v is None else "x".join(str(round(a, 3) if isinstance(a, float) else a) for a in v)

        head = ("layer", "type", "output shape", "params", "mult-adds", "receptive field", "jump")
        body = [(r["layer"], r["type"], str(tuple(r["output_shape"])), f"{r['params']:,}",
                 f"{r['mult_adds']:,}", fmt(r["receptive_field"]), fmt(r["jump"])) for r in self.rows]
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
        line = "  ".join("{:<%d}" % w for w in widths)
        out = [f"input shape {self.input_shape}", line.format(*head), line.format(*["-" * w for w in widths])]
        out += [line.format(*row) for row in body]
        out.append(f"total parameters: {self.total_params:,}   total multiply-adds: {self.total_mult_adds:,}")
        return "\n".join(out)

    __repr__ = __str__


def summary(model, input_shape, dtype=np.float32) -> Summary:
    """Per layer of ``model``: output shape, parameters (a shared weight counted once),
    multiply-adds, receptive field and jump (per spatial dim, in input pixels) for an input of
    ``input_shape`` (batch dim included). Runs one forward pass on zeros in eval mode.

    >>> from cnnpy import nn, summary
    >>> net = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
    >>> s = summary(net, (1, 1, 91, 91))
    >>> s.total_params, s.rows[-1]["output_shape"], s.rows[-1]["receptive_field"]
    (60, (1, 6, 45, 45), (4, 4))

    PyTorch: ``torchinfo.summary`` (plus receptive fields).
    """
    shape = tuple(as_int("summary", "input_shape", n, 0) for n in input_shape)
    x = np.zeros(shape, dtype=dtype)
    spatial = max(len(shape) - 2, 0)
    rf, jump = [1] * spatial, [1] * spatial
    seen, rows = set(), []
    was_training = model.training
    model.eval()
    try:
        for name, m in _leaves(model):
            y = m(x)
            if isinstance(y, tuple):  # layers with return_indices
                y = y[0]
            params = 0
            for _, p in m.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params += p.data.size
            stats = m.summary_stats(tuple(np.shape(x)), tuple(np.shape(y)))
            window = stats.get("window") if rf is not None and np.ndim(x) == len(shape) else None
            if window is not None:
                for i, k, s, d in zip(range(spatial), *window):
                    span = d * (k - 1) + 1
                    if stats.get("transposed"):  # each output sees ceil(span / s) inputs
                        rf[i] += (-(-span // s) - 1) * jump[i]
                        jump[i] = jump[i] // s if jump[i] % s == 0 else jump[i] / s
                    else:
                        rf[i] += (span - 1) * jump[i]
                        jump[i] *= s
            elif rf is not None and np.ndim(y) != len(shape):  # flattened: every input pixel counts
                rf, jump = None, None
            rows.append({"layer": name, "type": type(m).__name__, "output_shape": tuple(np.shape(y)),
                         "params": params, "mult_adds": int(stats.get("mult_adds", 0)),
                         "receptive_field": tuple(rf) if rf is not None else tuple(shape[2:]),
                         "jump": tuple(jump) if jump is not None else None})
            x = y
    finally:
        model.train(was_training)
    return Summary(shape, rows)


def receptive_field(model, input_shape) -> list:
    """[(layer, receptive_field, jump)] for each layer: how many input pixels (per spatial dim)
    one output element sees, and how far apart (in input pixels) neighbouring outputs are. After a
    Flatten every output sees the whole input and the jump is None.

    >>> from cnnpy import nn, receptive_field
    >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    >>> receptive_field(net, (1, 1, 32, 32))[-1]
    ('2', (8, 8), (2, 2))
    """
    return [(r["layer"], r["receptive_field"], r["jump"]) for r in summary(model, input_shape).rows]
