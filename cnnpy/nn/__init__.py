"""cnnpy.nn: layers, losses, containers and initialisation with PyTorch's names.

>>> import numpy as np
>>> from cnnpy import nn
>>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 1))
>>> net(np.zeros((4, 1, 5, 5), np.float32)).shape
(4, 1)
"""
from . import init
from .layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, Conv1d, Conv2d,
                     ConvTranspose1d, ConvTranspose2d, Dropout, Dropout2d, Flatten, GELU, Identity,
                     LeakyReLU, Linear, MaxPool1d, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh,
                     TiedConvTranspose2d, TiedLinear, Unflatten)
from .loss import (BCELoss, BCEWithLogitsLoss, CorrelationLoss, CrossEntropyLoss, L1Loss, Loss,
                   MSELoss)
from .module import Module, Parameter, Sequential

__all__ = [
    "init", "Module", "Parameter", "Sequential",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "TiedConvTranspose2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d",
    "Linear", "TiedLinear", "Flatten", "Unflatten", "Identity",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "Dropout", "Dropout2d",
    "Loss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "CorrelationLoss",
]
