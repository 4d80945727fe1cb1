"""Image transforms for data pipelines, with torchvision's names, operating on NumPy arrays.

An image is ``(C, H, W)`` or a bare ``(H, W)``; every transform also takes a batch
``(N, C, H, W)`` and then applies ONE random draw to the whole batch (as torchvision does for a
batched tensor) — per-image draws come from using the transform inside a dataset, where it runs on
each sample. The spatial axes are always the last two.

- Outputs are new arrays; no transform writes into its input.
- float32 stays float32 and float64 stays float64; integer, bool and float16 images become float32
  (values kept: no division by 255).
- Random transforms take ``rng``: ``None`` (cnnpy's generator, reset by ``cnnpy.manual_seed``), an
  int seed (one generator made at construction: each call draws anew, the sequence repeats), or a
  ``numpy.random.Generator``. NumPy's global random state is never used.

>>> import numpy as np
>>> from cnnpy import transforms as T
>>> t = T.Compose([T.Resize(4), T.Normalize(mean=[0.5], std=[0.5])])
>>> t(np.ones((1, 2, 2), dtype=np.float32)).tolist()[0][0]
[1.0, 1.0, 1.0, 1.0]

torchvision: ``torchvision.transforms``.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import functional as F
from ._args import as_array, as_float, as_int, pad_mode
from ._random import get_rng

__all__ = [
    "Compose", "Resize", "Grayscale", "Normalize", "RandomShift", "RandomHorizontalFlip",
    "RandomVerticalFlip", "RandomCrop", "AddGaussianNoise", "RandomOcclusion",
]


# ---- shared helpers ------------------------------------------------------------------------------

def _image(op: str, img, min_ndim: int = 2) -> np.ndarray:
    """`img` as a floating array of shape (H, W), (C, H, W) or (N, C, H, W) (not necessarily a
    copy: callers build their output as a new array)."""
    x = as_array(op, "img", img)
    if not min_ndim <= x.ndim <= 4:
        shapes = "(H, W), (C, H, W) or (N, C, H, W)" if min_ndim == 2 else "(C, H, W) or (N, C, H, W)"
        raise ValueError(f"{op}: img must be {shapes}; got shape {x.shape}")
    if 0 in x.shape[-2:]:
        raise ValueError(f"{op}: img has an empty spatial size {x.shape[-2]}x{x.shape[-1]}")
    if x.dtype == np.float32 or x.dtype == np.float64:
        return x
    # float16, integers and bool compute in float32; wider floats (longdouble) in float64
    return x.astype(np.float64 if x.dtype.kind == "f" and x.dtype.itemsize > 8 else np.float32)


def _probability(op: str, p) -> float:
    p = as_float(op, "p", p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be a probability in [0, 1], got {p}")
    return p


def _finite(op: str, name: str, value) -> float:
    value = as_float(op, name, value)
    if not np.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    return value


def _choice(op: str, name: str, value, choices) -> str:
    text = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{op}: {name} must be one of {text}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{op}: {name} must be one of {text}; got {value!r}")
    return value


class _Random:
    """Base of the random transforms: holds the generator spec of ``rng``."""

    def _set_rng(self, rng):
        op = type(self).__name__
        get_rng(rng, op)  # refuses a bad type or a negative seed with a message
        self._seed = int(rng) if isinstance(rng, numbers.Integral) else None
        # a seed starts one generator here, so every call draws anew and the sequence repeats
        self._rng = np.random.default_rng(self._seed) if self._seed is not None else rng

    def _generator(self) -> np.random.Generator:
        # None is looked up on every call: cnnpy.manual_seed replaces the library generator
        return get_rng(self._rng, type(self).__name__)

    def _rng_repr(self) -> str:
        if self._seed is not None:
            return f", rng={self._seed}"
        return "" if self._rng is None else ", rng=Generator"


# ---- deterministic transforms --------------------------------------------------------------------

class Compose:
    """Apply transforms in order: ``Compose([a, b])(x) == b(a(x))``.

    >>> import numpy as np
    >>> from cnnpy import transforms as T
    >>> T.Compose([T.RandomVerticalFlip(p=1.0), T.Normalize(1.0, 2.0)])(np.array([[1.], [3.]])).tolist()
    [[1.0], [0.0]]

    torchvision: ``torchvision.transforms.Compose``.
    """

    def __init__(self, transforms):
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"Compose: transforms must be a list or tuple of callables, got {transforms!r}")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: transforms[{i}] must be callable, got {t!r}")
        self.transforms = list(transforms)

    def __call__(self, img):
        if not self.transforms:  # still a new array, converted as every transform converts
            return _image("Compose", img).copy()
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        lines = "".join(f"    {t!r}\n" for t in self.transforms)
        return f"Compose(\n{lines})"


class Resize:
    """Resize to ``size``: an int matches the SMALLER edge to it and keeps the aspect ratio (the
    other edge ``int(size * long / short)``, as torchvision), ``(h, w)`` gives that size exactly.
    'bilinear' (align_corners=False) or 'nearest', computed in C by ``F.interpolate`` exactly as
    ``torch.nn.functional.interpolate``; no antialiasing.

    >>> import numpy as np
    >>> from cnnpy.transforms import Resize
    >>> Resize(4, interpolation="nearest")(np.arange(4.).reshape(2, 2)).tolist()[0]
    [0.0, 0.0, 1.0, 1.0]
    >>> Resize(2)(np.zeros((3, 8, 4))).shape
    (3, 4, 2)

    torchvision: ``transforms.Resize(size, interpolation, antialias=False)`` on tensors.
    """

    def __init__(self, size, interpolation: str = "bilinear"):
        if isinstance(size, (list, tuple)):
            if len(size) not in (1, 2):
                raise ValueError(f"Resize: size must be an int or a sequence of 1 or 2 ints, got {size!r}")
            size = tuple(as_int("Resize", "size", s, 1) for s in size)
            self.size = size[0] if len(size) == 1 else size
        else:
            self.size = as_int("Resize", "size", size, 1)
        self.interpolation = _choice("Resize", "interpolation", interpolation, ("bilinear", "nearest"))

    def output_size(self, h: int, w: int) -> tuple:
        """The (height, width) an h x w image is resized to."""
        if isinstance(self.size, tuple):
            return self.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.size * long / short)
        return (new_long, self.size) if w <= h else (self.size, new_long)

    def __call__(self, img):
        x = _image("Resize", img)
        return F.interpolate(x, size=self.output_size(*x.shape[-2:]), mode=self.interpolation)

    def __repr__(self):
        return f"Resize(size={self.size}, interpolation={self.interpolation!r})"


class Grayscale:
    """RGB to gray with the ITU-R 601-2 luma weights ``0.299 R + 0.587 G + 0.114 B``, keeping the
    channel axis: ``(3, H, W)`` gives ``(1, H, W)`` (or ``(3, H, W)``, the gray copied, with
    ``num_output_channels=3``); batches ``(N, 3, H, W)`` too. A 1-channel image is already gray.

    >>> import numpy as np
    >>> from cnnpy.transforms import Grayscale
    >>> Grayscale()(np.ones((3, 1, 2))).round(6).tolist()
    [[[1.0, 1.0]]]

    torchvision: ``transforms.Grayscale(num_output_channels)`` (whose tensor code uses 0.2989 for
    red; PIL and this use 0.299).
    """

    WEIGHTS = (0.299, 0.587, 0.114)

    def __init__(self, num_output_channels: int = 1):
        n = as_int("Grayscale", "num_output_channels", num_output_channels)
        if n not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got {n}")
        self.num_output_channels = n

    def __call__(self, img):
        x = _image("Grayscale", img, min_ndim=3)
        c = x.shape[-3]
        if c == 3:
            r, g, b = (x[..., i:i + 1, :, :] for i in range(3))
            w = [x.dtype.type(v) for v in self.WEIGHTS]
            gray = w[0] * r + w[1] * g + w[2] * b
        elif c == 1:
            gray = x.copy()
        else:
            hint = (" (channels last? use img.transpose(2, 0, 1))"
                    if x.ndim == 3 and x.shape[-1] in (1, 3) else "")
            raise ValueError(f"Grayscale: img must have 3 (RGB) or 1 channels on axis -3, got shape "
                             f"{x.shape}{hint}")
        if self.num_output_channels == 3:
            gray = np.repeat(gray, 3, axis=-3)
        return gray

    def __repr__(self):
        return f"Grayscale(num_output_channels={self.num_output_channels})"


class Normalize:
    """Per channel ``(img[c] - mean[c]) / std[c]``; ``mean`` and ``std`` are numbers or sequences
    with one value per channel (a single value serves every channel). A bare (H, W) image is one
    channel. Computed in the image's dtype; a zero (or negative) std is refused.

    >>> import numpy as np
    >>> from cnnpy.transforms import Normalize
    >>> Normalize(mean=[0.5, 1.0], std=[0.5, 2.0])(np.ones((2, 1, 1))).ravel().tolist()
    [1.0, 0.0]

    torchvision: ``transforms.Normalize(mean, std)``.
    """

    def __init__(self, mean, std):
        self.mean = self._values("mean", mean)
        self.std = self._values("std", std)
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive (dividing by it), got {self.std.tolist()}")

    @staticmethod
    def _values(name, value):
        v = np.atleast_1d(as_array("Normalize", name, value)).astype(np.float64)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"Normalize: {name} must be a number or a sequence of numbers, got {value!r}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"Normalize: {name} must be finite, got {v.tolist()}")
        return v

    def __call__(self, img):
        x = _image("Normalize", img)
        c = 1 if x.ndim == 2 else x.shape[-3]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"Normalize: {name} has {v.size} values for an image with {c} "
                                 f"channels (shape {x.shape})")
        shape = (-1, 1, 1) if x.ndim > 2 else ()
        mean = self.mean.astype(x.dtype).reshape(shape if self.mean.size == c else ())
        std = self.std.astype(x.dtype).reshape(shape if self.std.size == c else ())
        return (x - mean) / std

    def __repr__(self):
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


# ---- random transforms ---------------------------------------------------------------------------

class RandomShift(_Random):
    """Shift by a whole number of pixels drawn uniformly from ``[-max_shift, max_shift]`` along
    ``axis`` (-2 vertical, positive = down; -1 horizontal, positive = right). ``mode='wrap'``
    rolls what leaves one edge in at the other (``np.roll``, the lecture's shifted digits:
    ``RandomShift(10)``); ``'constant'`` shifts in ``fill``.

    >>> import numpy as np
    >>> from cnnpy.transforms import RandomShift
    >>> x = np.arange(5.).reshape(5, 1)
    >>> y = RandomShift(2, rng=0)(x)
    >>> any(np.array_equal(y, np.roll(x, s, axis=0)) for s in range(-2, 3))
    True

    torchvision: none (``transforms.RandomAffine(0, translate=...)`` is the nearest, without wrap).
    """

    def __init__(self, max_shift: int, axis: int = -2, mode: str = "wrap", fill: float = 0.0, rng=None):
        self.max_shift = as_int("RandomShift", "max_shift", max_shift, 0)
        axis_ = as_int("RandomShift", "axis", axis)
        if axis_ not in (-2, -1):
            raise ValueError(f"RandomShift: axis must be -2 (vertical) or -1 (horizontal), got {axis_}")
        self.axis = axis_
        self.mode = _choice("RandomShift", "mode", mode, ("wrap", "constant"))
        self.fill = as_float("RandomShift", "fill", fill)
        self._set_rng(rng)

    def __call__(self, img):
        x = _image("RandomShift", img)
        s = int(self._generator().integers(-self.max_shift, self.max_shift + 1))
        if self.mode == "wrap":
            return np.roll(x, s, axis=self.axis)
        out = np.full_like(x, self.fill)
        n = x.shape[self.axis]
        if abs(s) < n:
            dst = [slice(None)] * x.ndim
            src = [slice(None)] * x.ndim
            ax = x.ndim + self.axis
            if s >= 0:  # content moves down/right by s
                dst[ax], src[ax] = slice(s, None), slice(None, n - s)
            else:
                dst[ax], src[ax] = slice(None, n + s), slice(-s, None)
            out[tuple(dst)] = x[tuple(src)]
        return out

    def __repr__(self):
        return (f"RandomShift(max_shift={self.max_shift}, axis={self.axis}, mode={self.mode!r}, "
                f"fill={self.fill}{self._rng_repr()})")


class _RandomFlip(_Random):
    _axis = -1

    def __init__(self, p: float = 0.5, rng=None):
        self.p = _probability(type(self).__name__, p)
        self._set_rng(rng)

    def __call__(self, img):
        x = _image(type(self).__name__, img)
        if self._generator().random() < self.p:  # always one draw, so p never shifts the stream
            return np.flip(x, axis=self._axis).copy()
        return x.copy()

    def __repr__(self):
        return f"{type(self).__name__}(p={self.p}{self._rng_repr()})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right (reverse the last axis) with probability ``p``.

    >>> import numpy as np
    >>> from cnnpy.transforms import RandomHorizontalFlip
    >>> RandomHorizontalFlip(p=1.0)(np.array([[1., 2., 3.]])).tolist()
    [[3.0, 2.0, 1.0]]

    torchvision: ``transforms.RandomHorizontalFlip(p)``.
    """

    _axis = -1


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom (reverse axis -2) with probability ``p``.

    >>> import numpy as np
    >>> from cnnpy.transforms import RandomVerticalFlip
    >>> RandomVerticalFlip(p=1.0)(np.array([[1.], [2.]])).tolist()
    [[2.0], [1.0]]

    torchvision: ``transforms.RandomVerticalFlip(p)``.
    """

    _axis = -2


class RandomCrop(_Random):
    """Pad, then cut a random ``size`` window (an int for a square, or ``(h, w)``). ``padding`` is
    an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``;
    ``padding_mode`` any of ``F.pad``'s modes ('constant' fills ``fill``, 'edge', 'reflect',
    'symmetric', 'circular', ...). ``pad_if_needed`` pads an image smaller than ``size`` on both
    sides by the shortfall first, as torchvision does.

    >>> import numpy as np
    >>> from cnnpy.transforms import RandomCrop
    >>> RandomCrop(4, padding=2)(np.ones((1, 4, 4))).shape
    (1, 4, 4)
    >>> RandomCrop(2)(np.ones((2, 2))).tolist()
    [[1.0, 1.0], [1.0, 1.0]]

    torchvision: ``transforms.RandomCrop(size, padding, pad_if_needed, fill, padding_mode)``.
    """

    def __init__(self, size, padding=0, pad_if_needed: bool = False, fill: float = 0.0,
                 padding_mode: str = "constant", rng=None):
        op = "RandomCrop"
        if isinstance(size, (list, tuple)):
            if len(size) not in (1, 2):
                raise ValueError(f"{op}: size must be an int or a sequence of 1 or 2 ints, got {size!r}")
            s = tuple(as_int(op, "size", v, 1) for v in size)
            self.size = s * 2 if len(s) == 1 else s
        else:
            self.size = (as_int(op, "size", size, 1),) * 2
        if isinstance(padding, (list, tuple)):
            if len(padding) not in (1, 2, 4):
                raise ValueError(f"{op}: padding must be an int or a sequence of 1, 2 or 4 ints, "
                                 f"got {padding!r}")
            p = tuple(as_int(op, "padding", v, 0) for v in padding)
            p = p * 4 if len(p) == 1 else (p * 2 if len(p) == 2 else p)
        else:
            p = (as_int(op, "padding", padding, 0),) * 4
        self.padding = p  # (left, top, right, bottom)
        if not isinstance(pad_if_needed, (bool, np.bool_)):
            raise TypeError(f"{op}: pad_if_needed must be a bool, got {pad_if_needed!r}")
        self.pad_if_needed = bool(pad_if_needed)
        self.fill = as_float(op, "fill", fill)
        pad_mode(op, "padding_mode", padding_mode)
        self.padding_mode = padding_mode
        self._set_rng(rng)

    def _pad(self, x, left, top, right, bottom):
        if left == top == right == bottom == 0:
            return x
        return F.pad(x, (left, right, top, bottom), mode=self.padding_mode, value=self.fill)

    def __call__(self, img):
        x = _image("RandomCrop", img)
        x = self._pad(x, *self.padding)
        th, tw = self.size
        if self.pad_if_needed and x.shape[-1] < tw:
            d = tw - x.shape[-1]
            x = self._pad(x, d, 0, d, 0)
        if self.pad_if_needed and x.shape[-2] < th:
            d = th - x.shape[-2]
            x = self._pad(x, 0, d, 0, d)
        h, w = x.shape[-2:]
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {th}x{tw} is larger than the padded image "
                             f"{h}x{w} (pass more padding or pad_if_needed=True)")
        rng = self._generator()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return x[..., i:i + th, j:j + tw].copy()

    def __repr__(self):
        size = self.size[0] if self.size[0] == self.size[1] else self.size
        return (f"RandomCrop(size={size}, padding={self.padding}, pad_if_needed={self.pad_if_needed}, "
                f"fill={self.fill}, padding_mode={self.padding_mode!r}{self._rng_repr()})")


class AddGaussianNoise(_Random):
    """Add independent Gaussian noise ``mean + std * N(0, 1)`` to every pixel (drawn in the image's
    dtype; no clipping). The lecture's noisy Gaussians add ``N(0, 1) / 5``: ``AddGaussianNoise(0.2)``.

    >>> import numpy as np
    >>> from cnnpy.transforms import AddGaussianNoise
    >>> AddGaussianNoise(0.0, mean=1.0)(np.zeros((2, 2))).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    >>> y = AddGaussianNoise(0.2, rng=0)(np.zeros((100, 100), dtype=np.float32))
    >>> y.dtype, bool(abs(y.std() - 0.2) < 0.01)
    (dtype('float32'), True)

    torchvision: ``transforms.v2.GaussianNoise(mean, sigma, clip=False)``.
    """

    def __init__(self, std: float, mean: float = 0.0, rng=None):
        self.std = _finite("AddGaussianNoise", "std", std)
        if self.std < 0:
            raise ValueError(f"AddGaussianNoise: std must be >= 0, got {self.std}")
        self.mean = _finite("AddGaussianNoise", "mean", mean)
        self._set_rng(rng)

    def __call__(self, img):
        x = _image("AddGaussianNoise", img)
        noise = self._generator().standard_normal(x.shape, dtype=x.dtype)
        return x + (x.dtype.type(self.mean) + x.dtype.type(self.std) * noise)

    def __repr__(self):
        return f"AddGaussianNoise(std={self.std}, mean={self.mean}{self._rng_repr()})"


class RandomOcclusion(_Random):
    """Paint one bar of ``value`` (replacing the pixels, noise-free) across the image: whole rows
    (a horizontal bar) or whole columns, on every channel. Per call: the orientation (50/50 unless
    ``orientation`` is 'row' or 'column'), the bar's first row/column uniformly in
    ``[min_position, max_position]`` and its thickness uniformly in ``[min_thickness,
    max_thickness]``, all inclusive; a bar running past the far edge is cut there.
    ``max_position=None`` means ``n - 1 - min_position`` for an image n pixels across the bar.

    The defaults are the lecture's occlusion practice for 91x91 Gaussians (bar start 10..80,
    2..5 px thick, value 1): per image ``i1 = choice(arange(10, n - 10))``, ``i2 = choice(arange(2,
    6))``, then ``img[i1:i1+i2, :] = 1`` or ``img[:, i1:i1+i2] = 1``. The plain autoencoder
    practice's bars are ``RandomOcclusion(min_position=2, max_position=27)``.

    >>> import numpy as np
    >>> from cnnpy.transforms import RandomOcclusion
    >>> y = RandomOcclusion(orientation="row", rng=0)(np.zeros((91, 91)))
    >>> rows = np.flatnonzero(y.any(axis=1))
    >>> bool(y[rows].all()), bool(10 <= rows[0] <= 80), 2 <= len(rows) <= 5
    (True, True, True)

    torchvision: none (``transforms.RandomErasing`` erases a random rectangle instead).
    """

    def __init__(self, min_position: int = 10, max_position: int | None = None, min_thickness: int = 2,
                 max_thickness: int = 5, value: float = 1.0, orientation: str = "random", rng=None):
        op = "RandomOcclusion"
        self.min_position = as_int(op, "min_position", min_position, 0)
        self.max_position = None if max_position is None else as_int(op, "max_position", max_position, 0)
        if self.max_position is not None and self.max_position < self.min_position:
            raise ValueError(f"{op}: max_position must be >= min_position={self.min_position}, "
                             f"got {self.max_position}")
        self.min_thickness = as_int(op, "min_thickness", min_thickness, 1)
        self.max_thickness = as_int(op, "max_thickness", max_thickness, 1)
        if self.max_thickness < self.min_thickness:
            raise ValueError(f"{op}: max_thickness must be >= min_thickness={self.min_thickness}, "
                             f"got {self.max_thickness}")
        self.value = as_float(op, "value", value)
        self.orientation = _choice(op, "orientation", orientation, ("random", "row", "column"))
        self._set_rng(rng)

    def __call__(self, img):
        x = _image("RandomOcclusion", img)
        rng = self._generator()
        orientation = self.orientation
        if orientation == "random":
            orientation = "row" if rng.random() < 0.5 else "column"
        n = x.shape[-2] if orientation == "row" else x.shape[-1]
        hi = n - 1 - self.min_position if self.max_position is None else self.max_position
        if not self.min_position <= hi <= n - 1:
            across = "rows" if orientation == "row" else "columns"
            raise ValueError(f"RandomOcclusion: bar positions [{self.min_position}, {hi}] do not fit "
                             f"an image with {n} {across} (shape {x.shape})")
        start = int(rng.integers(self.min_position, hi + 1))
        thickness = int(rng.integers(self.min_thickness, self.max_thickness + 1))
        out = x.copy()
        if orientation == "row":
            out[..., start:start + thickness, :] = self.value
        else:
            out[..., start:start + thickness] = self.value
        return out

    def __repr__(self):
        return (f"RandomOcclusion(min_position={self.min_position}, max_position={self.max_position}, "
                f"min_thickness={self.min_thickness}, max_thickness={self.max_thickness}, "
                f"value={self.value}, orientation={self.orientation!r}{self._rng_repr()})")
