"""The training loop: ``cnnpy.train`` runs epochs of forward, loss, backward and optimizer step
(every number in C), with a progress bar, validation and metrics, and returns a ``History``.

>>> import numpy as np, cnnpy
>>> from cnnpy import nn, optim, data
>>> cnnpy.manual_seed(0)
>>> x = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
>>> y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
>>> model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
>>> hist = cnnpy.train(model, data.DataLoader(data.TensorDataset(x, y), batch_size=16, seed=0),
...                    nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.05), epochs=20,
...                    metrics=["accuracy"], progress=False)
>>> hist["train_loss"][-1] < hist["train_loss"][0], hist["train_accuracy"][-1] > 0.9
(True, True)
"""
from __future__ import annotations

import sys
import time

import numpy as np

from .compiled import CompiledStep, NotCompilable
from .nn.module import takes_input_grad

__all__ = ["History", "train", "evaluate", "accuracy"]


def accuracy(pred, target) -> float:
    """Fraction of correct predictions. Class scores (N, C, ...) with integer targets (N, ...) are
    compared by argmax over dim 1; a single output per sample (N, 1) or (N,) is a logit, positive
    meaning class 1, against targets thresholded at 0.5.

    >>> import numpy as np
    >>> accuracy(np.array([[2., 1.], [0., 3.]]), np.array([0, 0]))
    0.5
    >>> accuracy(np.array([[1.5], [-0.2]]), np.array([[1.], [0.]]))
    1.0
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.ndim == target.ndim + 1 and pred.ndim >= 2:
        return float(np.mean(np.argmax(pred, axis=1) == target))
    if pred.shape != target.shape:
        raise ValueError(f"accuracy: predictions {pred.shape} and targets {target.shape} do not match")
    return float(np.mean((pred > 0) == (target > 0.5)))


_METRICS = {"accuracy": accuracy}


def _metric_fns(metrics):
    fns = []
    for m in metrics:
        if isinstance(m, str):
            if m not in _METRICS:
                raise ValueError(f"train: unknown metric {m!r}; use {sorted(_METRICS)} or a callable "
                                 f"metric(pred, target) -> float")
            fns.append((m, _METRICS[m]))
        elif callable(m):
            fns.append((getattr(m, "__name__", "metric"), m))
        else:
            raise TypeError(f"train: a metric must be a name or a callable, got {m!r}")
    return fns


class History:
    """Per-epoch values recorded by ``train``: ``history["train_loss"]``, ``history["val_loss"]``,
    ``history["train_accuracy"]``, ... (lists, one entry per epoch) and ``history.epochs``.

    PyTorch: no counterpart (Keras' History)."""

    def __init__(self):
        self.epochs = []
        self._values = {}
        #: whether every training step ran compiled (``cnnpy.compile``); see ``compile_error``
        self.compiled = False
        #: why a step ran layer by layer (None when every step ran compiled)
        self.compile_error = None

    def record(self, epoch: int, **values) -> None:
        self.epochs.append(epoch)
        for key, value in values.items():
            self._values.setdefault(key, []).append(float(value))

    def __getitem__(self, key):
        return self._values[key]

    def __contains__(self, key):
        return key in self._values

    def keys(self):
        return self._values.keys()

    def as_dict(self) -> dict:
        return {"epoch": list(self.epochs), **{k: list(v) for k, v in self._values.items()}}

    def plot(self, keys=None):
        """Plot the losses and metrics per epoch (``cnnpy.viz.plot_history``; needs matplotlib,
        ``pip install "cnnpy[plot]"``). Returns the matplotlib Figure."""
        from .viz import plot_history
        return plot_history(self, keys)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self._values.items())
        path = "compiled" if self.compiled else "layer by layer"
        return f"History({len(self.epochs)} epochs, {path}; last: {last})"


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:  # the text bar: tqdm.auto's notebook widget needs ipywidgets and warns without it
        from tqdm.std import tqdm
    except ImportError:  # tqdm is a dependency; keep working without it anyway
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=True, file=sys.stderr)


def _batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("train: the loader must yield (input, target) pairs")
    return batch


def evaluate(model, loader, loss_fn=None, metrics=(), _predict=None) -> dict:
    """Mean loss and metrics of ``model`` over ``loader`` in evaluation mode (dropout off),
    weighted by batch size; the model's previous mode is restored.

    >>> import numpy as np
    >>> from cnnpy import nn, data, evaluate
    >>> model = nn.Linear(2, 1)
    >>> loader = data.DataLoader(data.TensorDataset(np.zeros((4, 2), np.float32), np.zeros((4, 1))), 2)
    >>> sorted(evaluate(model, loader, nn.MSELoss(), ["accuracy"]))
    ['accuracy', 'loss']
    """
    fns = _metric_fns(metrics)
    was_training = model.training
    model.eval()
    totals, count = {}, 0
    try:
        for batch in loader:
            x, y = _batch(batch)
            pred = _predict(x) if _predict is not None else model(x)
            n = len(x)
            count += n
            if loss_fn is not None:
                totals["loss"] = totals.get("loss", 0.0) + float(loss_fn(pred, y)) * n
            for name, fn in fns:
                totals[name] = totals.get(name, 0.0) + float(fn(pred, y)) * n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no samples")
    return {k: v / count for k, v in totals.items()}


def train(model, loader, loss_fn, optimizer, epochs, val_loader=None, metrics=(), scheduler=None,
          progress=True, compile=None) -> History:
    """Train ``model`` for ``epochs`` passes over ``loader``: per batch ``optimizer.zero_grad()``,
    ``pred = model(x)``, ``loss_fn(pred, y)``, ``model.backward(loss_fn.backward())``,
    ``optimizer.step()``; after each epoch the validation loss and metrics (on ``val_loader``,
    in eval mode) and ``scheduler.step()``. Returns the ``History`` of per-epoch means (weighted by
    batch size): ``train_loss``, ``train_<metric>``, ``val_loss``, ``val_<metric>``, ``seconds``.

    ``compile``: None (default) runs each step compiled (``cnnpy.compile``: the whole step in one
    C call) when the model, loss and optimizer can run so, else layer by layer; True requires the
    compiled step (raising its TypeError); False always runs layer by layer. Both paths compute
    the same numbers; ``history.compiled`` says whether every step ran compiled and
    ``history.compile_error`` why not. Validation runs the compiled forward too.

    PyTorch: the loop a PyTorch user writes by hand.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"train: epochs must be a non-negative int, got {epochs!r}")
    if compile not in (None, True, False):
        raise ValueError(f"train: compile must be None (auto), True or False, got {compile!r}")
    fns = _metric_fns(metrics)
    history = History()
    skip_input_grad = takes_input_grad(model)
    step = None
    if compile is not False:
        try:
            step = CompiledStep(model, loss_fn, optimizer)
        except TypeError as exc:
            if compile:
                raise
            history.compile_error = str(exc)
    history.compiled = step is not None
    outputs = {}  # input shape -> the compiled step's output buffer (metrics read it)

    def compiled_step(x, y):
        """(loss, pred) from the compiled step, or None when it cannot take this batch."""
        try:
            x = np.asarray(x)
            out = None
            if fns:
                out = outputs.get(x.shape)
                if out is None:
                    out = outputs[x.shape] = np.empty(step.output_shape(x.shape), step.dtype)
            return step(x, y, output=out), out
        except NotCompilable as exc:
            if compile:
                raise
            history.compiled = False
            history.compile_error = str(exc)
            return None

    def predict(x):
        try:
            return step.forward(x)
        except NotCompilable:
            return model(x)
    for epoch in range(1, int(epochs) + 1):
        model.train()
        start = time.perf_counter()
        totals, count = {"loss": 0.0}, 0
        bar = _progress(loader, len(loader) if hasattr(loader, "__len__") else None,
                        f"epoch {epoch}/{epochs}", progress)
        for batch in bar:
            x, y = _batch(batch)
            done = compiled_step(x, y) if step is not None else None
            if done is not None:
                loss, pred = done
            else:
                optimizer.zero_grad()
                pred = model(x)
                loss = float(loss_fn(pred, y))
                if skip_input_grad:  # nobody needs d loss / d x: the first layer skips it
                    model.backward(loss_fn.backward(), input_grad=False)
                else:
                    model.backward(loss_fn.backward())
                optimizer.step()
            n = len(x)
            count += n
            totals["loss"] += loss * n
            for name, fn in fns:
                totals[name] = totals.get(name, 0.0) + float(fn(pred, y)) * n
            if bar is not loader:
                bar.set_postfix(loss=f"{totals['loss'] / count:.4f}")
        if count == 0:
            raise ValueError("train: the loader yielded no samples")
        values = {f"train_{k}": v / count for k, v in totals.items()}
        if val_loader is not None:
            values.update({f"val_{k}": v for k, v in evaluate(
                model, val_loader, loss_fn, metrics, predict if step is not None else None).items()})
        values["seconds"] = time.perf_counter() - start
        history.record(epoch, **values)
        if bar is not loader:
            bar.close()
        if scheduler is not None:
            scheduler.step()
    return history
