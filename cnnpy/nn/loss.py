"""Losses as modules: ``loss = criterion(pred, target)`` returns the value (a float for 'mean' and
'sum'), then ``criterion.backward()`` returns the gradient with respect to ``pred``.

A custom loss subclasses ``Loss`` with a ``forward(pred, target)`` and a ``backward()``; the
lecture's "MSE plus |mean(yhat)|" is this:

>>> import numpy as np
>>> import cnnpy.functional as F
>>> from cnnpy import nn
>>> class MSEPlusMean(nn.Loss):
...     def forward(self, pred, target):
...         self.pred, self.target = pred, target
...         return float(F.mse_loss(pred, target)) + abs(float(np.mean(pred)))
...     def backward(self):
...         g = F.mse_loss_backward(1.0, self.pred, self.target)[0]
...         return g + np.sign(np.mean(self.pred)) / self.pred.size
>>> crit = MSEPlusMean()
>>> crit(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
4.0
>>> crit.backward().tolist()
[0.5, 2.5]
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .module import Module

__all__ = ["Loss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
           "CorrelationLoss"]


class Loss(Module):
    """Base class of losses: ``forward(pred, target)`` returns the loss and keeps what
    ``backward()`` needs; ``backward()`` returns d loss / d pred.

    PyTorch: ``torch.nn.modules.loss._Loss`` (backward is explicit instead of autograd).
    """

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def forward(self, pred, target):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward(pred, target)")

    def backward(self, grad_output=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")


class _FunctionalLoss(Loss):
    """A loss computed by a cnnpy.functional loss and its backward."""

    _fn = None
    _back = None

    def __init__(self, reduction="mean", **options):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        object.__setattr__(self, "_options", options)

    def forward(self, pred, target):
        value = type(self)._fn(pred, target, reduction=self.reduction, **self._options)
        object.__setattr__(self, "_saved", (pred, target))
        return value if self.reduction == "none" else float(value)

    def backward(self, grad_output=None):
        """Gradient with respect to pred. ``grad_output`` defaults to 1 (ones for reduction='none')."""
        saved = self.__dict__.get("_saved")
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss was computed")
        pred, target = saved
        if grad_output is None:
            grad_output = 1.0 if self.reduction != "none" else np.ones(np.shape(
                type(self)._fn(pred, target, reduction="none", **self._options)))
        return type(self)._back(grad_output, pred, target, reduction=self.reduction, **self._options)[0]

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class MSELoss(_FunctionalLoss):
    """Mean squared error.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> crit = nn.MSELoss()
    >>> crit(np.array([1., 2.]), np.array([0., 0.]))
    2.5

    PyTorch: ``torch.nn.MSELoss``."""

    _fn = staticmethod(F.mse_loss)
    _back = staticmethod(F.mse_loss_backward)

    def __init__(self, reduction="mean"):
        super().__init__(reduction)


class L1Loss(_FunctionalLoss):
    """Mean absolute error.

    PyTorch: ``torch.nn.L1Loss``."""

    _fn = staticmethod(F.l1_loss)
    _back = staticmethod(F.l1_loss_backward)

    def __init__(self, reduction="mean"):
        super().__init__(reduction)


class BCELoss(_FunctionalLoss):
    """Binary cross entropy of probabilities.

    PyTorch: ``torch.nn.BCELoss``."""

    _fn = staticmethod(F.binary_cross_entropy)
    _back = staticmethod(F.binary_cross_entropy_backward)

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction, weight=weight)


class BCEWithLogitsLoss(_FunctionalLoss):
    """Binary cross entropy of logits, computed stably (GausNet's loss).

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> round(nn.BCEWithLogitsLoss()(np.array([[0.]]), np.array([[1.]])), 6)
    0.693147

    PyTorch: ``torch.nn.BCEWithLogitsLoss``."""

    _fn = staticmethod(F.binary_cross_entropy_with_logits)
    _back = staticmethod(F.binary_cross_entropy_with_logits_backward)

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction, weight=weight, pos_weight=pos_weight)


class CrossEntropyLoss(_FunctionalLoss):
    """Cross entropy of logits against integer class indices.

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> round(nn.CrossEntropyLoss()(np.zeros((2, 4)), np.array([1, 3])), 6)
    1.386294

    PyTorch: ``torch.nn.CrossEntropyLoss``."""

    _fn = staticmethod(F.cross_entropy)
    _back = staticmethod(F.cross_entropy_backward)

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction, weight=weight, ignore_index=ignore_index,
                         label_smoothing=label_smoothing)


class CorrelationLoss(_FunctionalLoss):
    """1 - Pearson r between prediction and target (over the whole batch for 'mean'/'sum').

    >>> import numpy as np
    >>> from cnnpy import nn
    >>> nn.CorrelationLoss()(np.array([1., 2, 3]), np.array([2., 4, 7])) < 0.01
    True

    No PyTorch counterpart."""

    _fn = staticmethod(F.correlation_loss)
    _back = staticmethod(F.correlation_loss_backward)

    def __init__(self, reduction="mean"):
        super().__init__(reduction)
