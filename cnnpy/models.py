"""The lecture's networks, ready to train. Each model is an ``nn.Sequential`` of cnnpy layers, so its
``state_dict()`` keys are those of the same layers in a ``torch.nn.Sequential`` (``"0.weight"``,
``"7.bias"``) and weights move to and from PyTorch with a dict of arrays. Initialisation is
PyTorch's default; ``rng`` (an int seed or a ``numpy.random.Generator``) makes it reproducible,
and so does ``cnnpy.manual_seed`` when ``rng`` is None.

>>> import numpy as np
>>> from cnnpy import models, summary
>>> net = models.GausNet(rng=0)
>>> net(np.zeros((2, 1, 91, 91), np.float32)).shape, summary(net, (1, 1, 91, 91)).total_params
((2, 1), 97181)
"""
from __future__ import annotations

from . import nn
from ._args import as_float, as_int
from ._random import get_rng
from .shapes import conv_output_size, pool_output_size

__all__ = ["GausNet", "AllConvNet", "GaussianAutoencoder", "ConvAutoencoder", "DenseAutoencoder",
           "MnistNet"]


def _init_rng(op: str, rng):
    """One generator for every layer of a model (so layers differ), or None for cnnpy's own."""
    return None if rng is None else get_rng(rng, op)


def _probability(op: str, p) -> float:
    p = as_float(op, "dropout", p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{op}: dropout must be a probability in [0, 1), got {p}")
    return p


def _size_after(op: str, input_size: int, steps) -> int:
    """The spatial size after ``steps`` (each a function of the size), in the model's own words
    when the input is too small."""
    n = input_size
    try:
        for step in steps:
            n = step(n)
    except ValueError:
        raise ValueError(f"{op}: input_size={input_size} is too small for this network") from None
    return n


class GausNet(nn.Sequential):
    """The lecture's GausNet (the deck's layers exactly, no ReLU between the two Linear layers)::

        0 Conv2d(1, 6, 3, padding=1)   91 -> 91      5 AvgPool2d(2, 2)  45 -> 22
        1 ReLU                                        6 Flatten          4*22*22 = 1936
        2 AvgPool2d(2, 2)              91 -> 45      7 Linear(1936, 50)
        3 Conv2d(6, 4, 3, padding=1)   45 -> 45      8 Linear(50, outputs)
        4 ReLU

    97,181 parameters with ``outputs=1`` (one logit: classify the width, with BCE-with-logits);
    ``outputs=3`` is the regression practice (cx, cy, width; 97,283 parameters). ``input_size``
    (default the lecture's 91) sets the Linear layer's input, 4 * (input_size // 4)^2.

    ``dropout=p > 0`` is the dropout practice: an ``nn.Dropout(p)`` after each conv block (after
    each AvgPool2d) and after ``Linear(1936, 50)``, i.e. Conv-ReLU-Pool-Dropout,
    Conv-ReLU-Pool-Dropout, Flatten, Linear-Dropout, Linear (12 layers, so the indices of the
    later layers move: the Linears become 9 and 11). Dropout acts only in training mode
    (``model.train()``); ``model.eval()`` makes it the identity. With ``dropout=0`` (the default)
    no Dropout layer is added. Dropout masks come from ``rng`` (after the initialisation draws)
    or, when ``rng`` is None, from cnnpy's generator.

    >>> import numpy as np
    >>> from cnnpy import models, summary
    >>> summary(models.GausNet(), (1, 1, 91, 91)).total_params
    97181
    >>> models.GausNet(outputs=3, rng=0)(np.zeros((4, 1, 91, 91), np.float32)).shape
    (4, 3)
    >>> len(models.GausNet(dropout=0.5))
    12

    PyTorch: the course's ``gausnet`` (its ``self.enc`` Sequential; keys here lack the ``enc.``).
    """

    def __init__(self, outputs=1, dropout=0.0, input_size=91, rng=None):
        op = "GausNet"
        outputs = as_int(op, "outputs", outputs, 1)
        p = _probability(op, dropout)
        input_size = as_int(op, "input_size", input_size, 1)
        n = _size_after(op, input_size, [lambda m: pool_output_size(m, 2, 2)] * 2)
        g = _init_rng(op, rng)

        def drop():
            return [nn.Dropout(p, rng=g)] if p > 0 else []

        super().__init__(
            nn.Conv2d(1, 6, 3, padding=1, rng=g), nn.ReLU(), nn.AvgPool2d(2, 2), *drop(),
            nn.Conv2d(6, 4, 3, padding=1, rng=g), nn.ReLU(), nn.AvgPool2d(2, 2), *drop(),
            nn.Flatten(), nn.Linear(4 * n * n, 50, rng=g), *drop(),
            nn.Linear(50, outputs, rng=g))
        self.outputs, self.dropout, self.input_size = outputs, p, input_size


class AllConvNet(nn.Sequential):
    """GausNet with each AvgPool2d replaced by a learned stride-2 convolution (the
    all-convolutional idea: Springenberg et al. 2015 replace a pooling layer by a convolution with
    the pooling's kernel size and stride and as many output channels as input channels)::

        0 Conv2d(1, 6, 3, padding=1)           91 -> 91
        1 ReLU
        2 Conv2d(6, 6, kernel_size, stride=2)  91 -> 45   (in place of AvgPool2d(2, 2))
        3 Conv2d(6, 4, 3, padding=1)           45 -> 45
        4 ReLU
        5 Conv2d(4, 4, kernel_size, stride=2)  45 -> 22   (in place of AvgPool2d(2, 2))
        6 Flatten                              1936
        7 Linear(1936, 50)
        8 Linear(50, outputs)

    No padding and no ReLU after the strided convolutions: they take the average pool's place
    exactly (a 2x2 stride-2 convolution whose weights are 1/4 on the diagonal channel pairs *is*
    AvgPool2d(2, 2)), so the layer indices are GausNet's. ``kernel_size=2`` (default) gives
    97,399 parameters (97,181 + 150 + 68); ``kernel_size=3`` (Springenberg's overlapping 3x3, also
    91 -> 45 -> 22) gives 97,659. ``dropout`` and ``input_size`` as in GausNet (Dropout after
    each strided convolution and after Linear(1936, 50)).

    >>> import numpy as np
    >>> from cnnpy import models, summary
    >>> net = models.AllConvNet(rng=0)
    >>> summary(net, (1, 1, 91, 91)).total_params, net[2].stride
    (97399, (2, 2))
    >>> net(np.zeros((2, 1, 91, 91), np.float32)).shape
    (2, 1)
    """

    def __init__(self, outputs=1, kernel_size=2, dropout=0.0, input_size=91, rng=None):
        op = "AllConvNet"
        outputs = as_int(op, "outputs", outputs, 1)
        k = as_int(op, "kernel_size", kernel_size, 1)
        p = _probability(op, dropout)
        input_size = as_int(op, "input_size", input_size, 1)
        n = _size_after(op, input_size, [lambda m: conv_output_size(m, k, stride=2)] * 2)
        g = _init_rng(op, rng)

        def drop():
            return [nn.Dropout(p, rng=g)] if p > 0 else []

        super().__init__(
            nn.Conv2d(1, 6, 3, padding=1, rng=g), nn.ReLU(), nn.Conv2d(6, 6, k, stride=2, rng=g), *drop(),
            nn.Conv2d(6, 4, 3, padding=1, rng=g), nn.ReLU(), nn.Conv2d(4, 4, k, stride=2, rng=g), *drop(),
            nn.Flatten(), nn.Linear(4 * n * n, 50, rng=g), *drop(),
            nn.Linear(50, outputs, rng=g))
        self.outputs, self.kernel_size, self.dropout, self.input_size = outputs, k, p, input_size


class GaussianAutoencoder(nn.Sequential):
    """The lecture's convolutional autoencoder for the Gaussian images (557 parameters)::

        0 Conv2d(1, 6, 3, padding=1)      91 -> 91    (encoder: layers 0-5)
        1 ReLU
        2 MaxPool2d(2)                    91 -> 45
        3 Conv2d(6, 4, 3, padding=1)      45 -> 45
        4 ReLU
        5 MaxPool2d(2)                    45 -> 22
        6 ConvTranspose2d(4, 6, 3, stride=2)  22 -> 45   (decoder: layers 6-8)
        7 ReLU
        8 ConvTranspose2d(6, 1, 3, stride=2)  45 -> 91

    No activation on the output (the images hold noise of both signs). The sizes are fixed: the
    decoder's (M - 1)*2 + 3 maps 22 -> 45 -> 91, so only a 91x91 input comes back at its own
    size. ``encoder`` and ``decoder`` are Sequentials sharing these layers.

    >>> import numpy as np
    >>> from cnnpy import models, summary
    >>> ae = models.GaussianAutoencoder(rng=0)
    >>> summary(ae, (1, 1, 91, 91)).total_params, ae(np.zeros((2, 1, 91, 91), np.float32)).shape
    (557, (2, 1, 91, 91))
    >>> ae.encoder(np.zeros((1, 1, 91, 91), np.float32)).shape
    (1, 4, 22, 22)

    PyTorch: the course's ``gausnet`` autoencoder (``enc`` then ``dec``; here one flat Sequential).
    """

    def __init__(self, rng=None):
        g = _init_rng("GaussianAutoencoder", rng)
        super().__init__(
            nn.Conv2d(1, 6, 3, padding=1, rng=g), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 4, 3, padding=1, rng=g), nn.ReLU(), nn.MaxPool2d(2),
            nn.ConvTranspose2d(4, 6, 3, stride=2, rng=g), nn.ReLU(),
            nn.ConvTranspose2d(6, 1, 3, stride=2, rng=g))

    @property
    def encoder(self) -> nn.Sequential:
        return self[:6]

    @property
    def decoder(self) -> nn.Sequential:
        return self[6:]


ConvAutoencoder = GaussianAutoencoder  # the contract's name for it (docs/design.md)


class DenseAutoencoder(nn.Sequential):
    """A fully connected autoencoder: ``sizes=(784, 250, 50)`` is 784-250-50-250-784 (the
    lecture's MNIST autoencoder), ``sizes=(784, 128, 50)`` the occlusion variant. Every Linear
    layer but the last is followed by ReLU (the 50-unit code too, as in the course); the last by
    Sigmoid, so outputs lie in (0, 1) like the [0, 1] images::

        Linear(784, 250) ReLU Linear(250, 50) ReLU | Linear(50, 250) ReLU Linear(250, 784) Sigmoid

    ``tied=True`` makes every decoder layer an ``nn.TiedLinear`` of its mirror encoder layer (the
    transpose of the same weight, which trains from both uses; each decoder layer keeps its own
    bias). The course ties only the middle pair and drops their biases; tying all of them is the
    usual tied autoencoder. Parameters: (784, 250, 50) 418,334 untied, 209,834 tied;
    (784, 128, 50) 214,594 untied, 107,842 tied. Inputs are flat (N, sizes[0]).

    >>> import numpy as np
    >>> from cnnpy import models, summary
    >>> ae = models.DenseAutoencoder(rng=0)
    >>> summary(ae, (1, 784)).total_params, ae(np.zeros((3, 784), np.float32)).shape
    (418334, (3, 784))
    >>> summary(models.DenseAutoencoder(tied=True), (1, 784)).total_params
    209834
    """

    def __init__(self, sizes=(784, 250, 50), tied=False, rng=None):
        op = "DenseAutoencoder"
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
            raise TypeError(f"{op}: sizes must be a sequence of ints, got {sizes!r}")
        sizes = tuple(as_int(op, "sizes", s, 1) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"{op}: sizes must hold at least an input and a code size, got {sizes}")
        g = _init_rng(op, rng)
        encoders = [nn.Linear(a, b, rng=g) for a, b in zip(sizes, sizes[1:])]
        layers = []
        for lin in encoders:
            layers += [lin, nn.ReLU()]
        for i, lin in enumerate(reversed(encoders)):
            dec = nn.TiedLinear(lin, rng=g) if tied else nn.Linear(lin.out_features, lin.in_features, rng=g)
            layers += [dec, nn.Sigmoid() if i == len(encoders) - 1 else nn.ReLU()]
        super().__init__(*layers)
        self.sizes, self.tied = sizes, bool(tied)

    @property
    def encoder(self) -> nn.Sequential:
        return self[:len(self) // 2]

    @property
    def decoder(self) -> nn.Sequential:
        return self[len(self) // 2:]


class MnistNet(nn.Sequential):
    """The course's MNIST CNN (used by the image-shifting practice on 28x28 digits), 30,840
    parameters, 10 logits for cross-entropy::

        0 Conv2d(1, 10, 5, padding=1)   28 -> 26     5 ReLU
        1 MaxPool2d(2)                  26 -> 13     6 Flatten        20*5*5 = 500
        2 ReLU                                       7 Linear(500, 50)
        3 Conv2d(10, 20, 5, padding=1)  13 -> 11     8 ReLU
        4 MaxPool2d(2)                  11 -> 5      9 Linear(50, 10)

    >>> import numpy as np
    >>> from cnnpy import models, summary
    >>> summary(models.MnistNet(), (1, 1, 28, 28)).total_params
    30840
    >>> models.MnistNet(rng=0)(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 10)

    PyTorch: the course's ``mnistNet`` (conv1, conv2, fc1, out as one Sequential).
    """

    def __init__(self, rng=None):
        g = _init_rng("MnistNet", rng)
        super().__init__(
            nn.Conv2d(1, 10, 5, padding=1, rng=g), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(10, 20, 5, padding=1, rng=g), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(), nn.Linear(500, 50, rng=g), nn.ReLU(), nn.Linear(50, 10, rng=g))
