"""cnnpy.transforms: Resize against torch's interpolate, the deterministic transforms against
formulas, the random ones against numpy references (np.roll, np.pad windows, bar masks) and their
draw statistics, reproducibility (seeds, Generators, cnnpy.manual_seed), and use in a
TensorDataset + DataLoader pipeline."""
import numpy as np
import pytest
from helpers import DTYPES, rng_for, torch

import cnnpy
from cnnpy import data
from cnnpy import transforms as T


def image(shape, dtype=np.float64, *key):
    """Gaussian pixels: never exactly 0 or 1, so painted or filled pixels are recognisable."""
    return rng_for("img", shape, *key).standard_normal(shape).astype(dtype)


def distinct_rows(h, w, axis=-2):
    """An (h, w) image whose rows (axis -2) or columns (axis -1) are all different."""
    x = np.arange(h, dtype=np.float64)[:, None] + 0 * np.arange(w)
    return x if axis == -2 else x.T.copy()


RANDOM_TRANSFORMS = {
    "shift": lambda rng: T.RandomShift(3, rng=rng),
    "shift-constant-h": lambda rng: T.RandomShift(3, axis=-1, mode="constant", rng=rng),
    "hflip": lambda rng: T.RandomHorizontalFlip(rng=rng),
    "vflip": lambda rng: T.RandomVerticalFlip(rng=rng),
    "crop": lambda rng: T.RandomCrop(12, padding=2, rng=rng),
    "noise": lambda rng: T.AddGaussianNoise(0.5, rng=rng),
    "occlusion": lambda rng: T.RandomOcclusion(min_position=1, max_position=8, rng=rng),
}

ALL_TRANSFORMS = {
    "resize": lambda: T.Resize(6),
    "resize-nearest": lambda: T.Resize((5, 7), interpolation="nearest"),
    "normalize": lambda: T.Normalize(0.5, 2.0),
    "compose": lambda: T.Compose([T.Normalize(0.5, 2.0), T.RandomShift(2, rng=0)]),
    "compose-empty": lambda: T.Compose([]),
    **{name: (lambda make=make: make(0)) for name, make in RANDOM_TRANSFORMS.items()},
}


def outputs(t, x, calls):
    return [t(x) for _ in range(calls)]


# ---- Resize --------------------------------------------------------------------------------------

@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("shape,size", [((2, 3, 9, 9), (4, 6)), ((1, 5, 7), (11, 3)), ((8, 8), (17, 17)),
                                        ((2, 1, 28, 28), (91, 91)), ((3, 91, 91), (22, 45))], ids=str)
def test_resize_matches_torch_interpolate(shape, size, mode, dtype):
    x = image(shape, dtype, mode)
    got = T.Resize(size, interpolation=mode)(x)
    t = torch.from_numpy(x)
    kw = {"align_corners": False} if mode == "bilinear" else {}
    want = torch.nn.functional.interpolate(t.reshape((1,) * (4 - x.ndim) + tuple(t.shape)), size=size,
                                           mode=mode, **kw)
    want = want.numpy().reshape(shape[:-2] + size)
    assert got.dtype == dtype and got.shape == want.shape
    if mode == "nearest":  # a copy of chosen pixels: bit for bit
        np.testing.assert_array_equal(got, want)
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("hw,size,want", [((8, 4), 2, (4, 2)), ((4, 8), 2, (2, 4)), ((10, 7), 5, (7, 5)),
                                          ((7, 10), 5, (5, 7)), ((6, 6), 3, (3, 3)), ((5, 9), [10], (10, 18)),
                                          ((5, 9), (2, 3), (2, 3))], ids=str)
def test_resize_int_matches_smaller_edge(hw, size, want):
    t = T.Resize(size)
    assert t.output_size(*hw) == want
    assert t(np.zeros((2,) + hw)).shape == (2,) + want


def test_resize_integer_image_becomes_float32():
    y = T.Resize(4, interpolation="nearest")(np.array([[0, 1], [2, 3]], dtype=np.uint8))
    assert y.dtype == np.float32
    assert y[::2, ::2].tolist() == [[0, 1], [2, 3]]


# ---- Grayscale and Normalize ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)], ids=str)
def test_grayscale_weights(shape, dtype):
    x = image(shape, dtype)
    r, g, b = (x[..., c:c + 1, :, :].astype(np.float64) for c in range(3))
    want = 0.299 * r + 0.587 * g + 0.114 * b
    got = T.Grayscale()(x)
    assert got.dtype == dtype and got.shape == shape[:-3] + (1,) + shape[-2:]
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=1e-6)
    three = T.Grayscale(num_output_channels=3)(x)
    assert three.shape == shape
    for c in range(3):
        np.testing.assert_array_equal(three[..., c, :, :], got[..., 0, :, :])


def test_grayscale_pure_colours_and_one_channel():
    rgb = np.eye(3).reshape(3, 3, 1, 1)  # a red, a green and a blue image
    assert T.Grayscale()(rgb).ravel().tolist() == pytest.approx([0.299, 0.587, 0.114])
    gray = image((1, 3, 3))
    np.testing.assert_array_equal(T.Grayscale()(gray), gray)
    assert T.Grayscale(3)(gray).shape == (3, 3, 3)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_normalize_per_channel(dtype):
    x = image((2, 3, 4, 5), dtype)
    mean, std = [0.1, -0.2, 0.3], [0.5, 2.0, 0.25]
    got = T.Normalize(mean, std)(x)
    m = np.array(mean, dtype=dtype).reshape(3, 1, 1)
    s = np.array(std, dtype=dtype).reshape(3, 1, 1)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, (x - m) / s)  # torchvision's formula, in the image's dtype
    np.testing.assert_array_equal(T.Normalize(mean, std)(x[0]), got[0])


def test_normalize_single_value_and_bare_image():
    x = image((3, 4, 4))
    np.testing.assert_allclose(T.Normalize(1.0, 2.0)(x), (x - 1) / 2)
    np.testing.assert_allclose(T.Normalize([1.0], [2.0])(x[0]), (x[0] - 1) / 2)


# ---- flips ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,axis", [(T.RandomHorizontalFlip, -1), (T.RandomVerticalFlip, -2)],
                         ids=["horizontal", "vertical"])
@pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5), (3, 2, 4, 5)], ids=str)
def test_flip_p0_and_p1_exact(cls, axis, shape):
    x = image(shape)
    np.testing.assert_array_equal(cls(p=1.0)(x), np.flip(x, axis))
    same = cls(p=0.0)(x)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)


@pytest.mark.parametrize("cls,axis", [(T.RandomHorizontalFlip, -1), (T.RandomVerticalFlip, -2)],
                         ids=["horizontal", "vertical"])
@pytest.mark.parametrize("p", [0.5, 0.2])
def test_flip_probability(cls, axis, p):
    x = image((2, 3, 4, 4))
    t = cls(p=p, rng=1)
    flipped = 0
    for y in outputs(t, x, 2000):
        if np.array_equal(y, np.flip(x, axis)):
            flipped += 1
        else:
            np.testing.assert_array_equal(y, x)  # the whole batch flips together or not at all
    assert abs(flipped / 2000 - p) < 0.04


# ---- RandomShift ---------------------------------------------------------------------------------

def shift_reference(x, s, axis, fill):
    """x shifted by s along axis with `fill` shifted in: a window of the fill-padded array."""
    n = x.shape[axis]
    widths = [(0, 0)] * x.ndim
    widths[axis] = (n, n)
    padded = np.pad(x, widths, constant_values=fill)
    return np.take(padded, np.arange(n - s, 2 * n - s), axis=axis)


@pytest.mark.parametrize("axis", [-2, -1], ids=["vertical", "horizontal"])
def test_shift_wrap_is_roll_and_covers_range(axis):
    x = distinct_rows(28, 28, axis)[None]
    t = T.RandomShift(10, axis=axis, rng=3)
    seen = []
    for y in outputs(t, x, 1000):
        shifts = [s for s in range(-10, 11) if np.array_equal(y, np.roll(x, s, axis=axis))]
        assert len(shifts) == 1
        seen.append(shifts[0])
    counts = np.bincount(np.array(seen) + 10, minlength=21)
    assert counts.size == 21 and counts.min() > 20  # every shift in [-10, 10], about 1000/21 each
    assert abs(np.mean(seen)) < 1.0


@pytest.mark.parametrize("axis", [-2, -1], ids=["vertical", "horizontal"])
@pytest.mark.parametrize("fill", [0.0, -2.5])
def test_shift_constant_fills(axis, fill):
    x = distinct_rows(7, 9, axis) + 10
    t = T.RandomShift(3, axis=axis, mode="constant", fill=fill, rng=4)
    seen = set()
    for y in outputs(t, x, 200):
        shifts = [s for s in range(-3, 4) if np.array_equal(y, shift_reference(x, s, axis, fill))]
        assert len(shifts) == 1
        seen.add(shifts[0])
    assert seen == set(range(-3, 4))


def test_shift_batch_same_draw_and_beyond_size():
    x = np.stack([distinct_rows(6, 4) + 10 * i for i in range(5)])[:, None]
    y = T.RandomShift(2, rng=5)(x)
    s = [s for s in range(-2, 3) if np.array_equal(y, np.roll(x, s, axis=-2))]
    assert len(s) == 1
    y = T.RandomShift(20, mode="constant", fill=7.0, rng=6)
    filled = [np.all(out == 7.0) for out in outputs(y, distinct_rows(3, 3), 100)]
    assert any(filled) and not all(filled)  # |shift| >= 3 empties the image


# ---- RandomCrop ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("reflect", "reflect"),
                                          ("edge", "edge"), ("symmetric", "symmetric")])
def test_crop_windows_of_padded_image(mode, np_mode):
    x = image((2, 6, 5))
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2)), mode=np_mode, **kw)
    t = T.RandomCrop((4, 3), padding=2, padding_mode=mode, fill=0.5, rng=7)
    seen = set()
    for y in outputs(t, x, 1000):
        where = [(i, j) for i in range(7) for j in range(7)
                 if np.array_equal(y, padded[:, i:i + 4, j:j + 3])]
        assert where
        seen.add(where[0])
    assert seen == {(i, j) for i in range(7) for j in range(7)}  # top 0..10-4, left 0..9-3


@pytest.mark.parametrize("padding,widths", [((1, 2), ((2, 2), (1, 1))), ((1, 2, 3, 4), ((2, 4), (1, 3))),
                                            ([3], ((3, 3), (3, 3)))], ids=str)
def test_crop_padding_order(padding, widths):
    x = image((1, 3, 4))
    padded = np.pad(x, ((0, 0),) + widths)
    y = T.RandomCrop(padded.shape[1:], padding=padding, rng=8)(x)
    np.testing.assert_array_equal(y, padded)


def test_crop_pad_if_needed_and_batch():
    x = image((1, 2, 3))
    y = T.RandomCrop(4, pad_if_needed=True, rng=9)(x)
    assert y.shape == (1, 4, 4)
    batch = image((3, 2, 8, 8))
    y = T.RandomCrop(5, rng=10)(batch)
    assert any(np.array_equal(y, batch[..., i:i + 5, j:j + 5]) for i in range(4) for j in range(4))
    np.testing.assert_array_equal(T.RandomCrop(8, rng=1)(batch), batch)


# ---- AddGaussianNoise ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_noise_statistics(dtype):
    x = np.full((4, 100, 100), 3.0, dtype=dtype)
    y = T.AddGaussianNoise(0.2, mean=0.5, rng=11)(x)
    noise = (y - x).astype(np.float64)
    assert y.dtype == dtype
    assert abs(noise.mean() - 0.5) < 0.005 and abs(noise.std() - 0.2) < 0.005
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 0.03  # independent per pixel
    np.testing.assert_array_equal(T.AddGaussianNoise(0.0, mean=1.5)(x), x + 1.5)


# ---- RandomOcclusion -----------------------------------------------------------------------------

def bar_of(y, x, value):
    """(orientation, start, thickness) of the single bar painted into y, checking that everything
    else is x untouched."""
    changed = y != x
    rows = np.flatnonzero(changed.reshape(-1, *changed.shape[-2:]).any(axis=(0, 2)))
    cols = np.flatnonzero(changed.reshape(-1, *changed.shape[-2:]).any(axis=(0, 1)))
    if cols.size == y.shape[-1]:
        orientation, idx = "row", rows
    else:
        assert rows.size == y.shape[-2]
        orientation, idx = "column", cols
    assert np.array_equal(idx, np.arange(idx[0], idx[-1] + 1))  # one contiguous bar
    span = slice(idx[0], idx[-1] + 1)
    bar = (span, slice(None)) if orientation == "row" else (slice(None), span)
    assert np.all(y[(Ellipsis,) + bar] == value)
    rest = np.ones(y.shape, bool)
    rest[(Ellipsis,) + bar] = False
    np.testing.assert_array_equal(y[rest], x[rest])
    return orientation, int(idx[0]), int(idx.size)


def test_occlusion_lecture_recipe():
    x = image((1, 91, 91), np.float32)
    t = T.RandomOcclusion(rng=12)
    bars = [bar_of(y, x, 1.0) for y in outputs(t, x, 1500)]
    orient = [b[0] for b in bars]
    assert abs(orient.count("row") / len(bars) - 0.5) < 0.05
    for o in ("row", "column"):
        starts = {b[1] for b in bars if b[0] == o}
        widths = {b[2] for b in bars if b[0] == o}
        assert starts == set(range(10, 81)) and widths == {2, 3, 4, 5}


@pytest.mark.parametrize("orientation", ["row", "column"])
def test_occlusion_fixed_orientation_value_and_range(orientation):
    x = image((2, 3, 30, 40))
    t = T.RandomOcclusion(min_position=2, max_position=27, min_thickness=1, max_thickness=3, value=-4.0,
                          orientation=orientation, rng=13)
    bars = [bar_of(y, x, -4.0) for y in outputs(t, x, 300)]  # one bar through every image and channel
    assert {b[0] for b in bars} == {orientation}
    assert {b[1] for b in bars} == set(range(2, 28)) and {b[2] for b in bars} == {1, 2, 3}


def test_occlusion_default_range_follows_size_and_clips_at_edge():
    x = image((20, 30))
    bars = [bar_of(y, x, 1.0) for y in outputs(T.RandomOcclusion(min_position=3, rng=14), x, 600)]
    assert {b[1] for b in bars if b[0] == "row"} == set(range(3, 17))  # n - 1 - 3 for 20 rows
    assert {b[1] for b in bars if b[0] == "column"} == set(range(3, 27))
    edge = T.RandomOcclusion(min_position=18, max_position=18, min_thickness=5, max_thickness=5,
                             orientation="row", rng=0)(x)
    assert bar_of(edge, x, 1.0) == ("row", 18, 2)


# ---- shared behaviour of every transform -----------------------------------------------------------

@pytest.mark.parametrize("name", list(RANDOM_TRANSFORMS))
def test_seed_reproducible_and_new_draw_each_call(name):
    x = image((2, 12, 12))
    make = RANDOM_TRANSFORMS[name]
    a, b = outputs(make(21), x, 12), outputs(make(21), x, 12)
    for ya, yb in zip(a, b):
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(a[0], y) for y in a[1:])  # a seed does not repeat one draw
    gen = np.random.default_rng(21)
    fresh = gen.bit_generator.state
    c = outputs(make(gen), x, 12)  # a Generator is drawn from directly: same stream, state moves on
    for ya, yc in zip(a, c):
        np.testing.assert_array_equal(ya, yc)
    assert gen.bit_generator.state != fresh


@pytest.mark.parametrize("name", list(RANDOM_TRANSFORMS))
def test_manual_seed_and_no_global_numpy_state(name):
    x = image((2, 12, 12))
    t = RANDOM_TRANSFORMS[name](None)
    state = np.random.get_state()[1].copy()
    cnnpy.manual_seed(5)
    a = outputs(t, x, 12)
    cnnpy.manual_seed(5)
    b = outputs(t, x, 12)
    cnnpy.manual_seed(6)
    c = outputs(t, x, 12)
    for ya, yb in zip(a, b):
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(ya, yc) for ya, yc in zip(a, c))
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("name", list(ALL_TRANSFORMS))
@pytest.mark.parametrize("dtype,out", [(np.float32, np.float32), (np.float64, np.float64),
                                       (np.float16, np.float32), (np.int64, np.float32), (np.uint8, np.float32)],
                         ids=["f32", "f64", "f16", "i64", "u8"])
def test_dtype_kept_and_input_untouched(name, dtype, out):
    x = (np.abs(image((2, 3, 12, 12), np.float64, name)) * 50).astype(dtype)
    before = x.copy()
    for img in (x, x[0], x[0, 0]):
        y = ALL_TRANSFORMS[name]()(img)
        assert y.dtype == out and not np.shares_memory(y, img)
    np.testing.assert_array_equal(x, before)


def test_compose_order_and_repr():
    t = T.Compose([T.Normalize(1.0, 2.0), np.square])
    x = image((1, 3, 3))
    np.testing.assert_allclose(t(x), ((x - 1) / 2) ** 2)
    text = repr(T.Compose([T.Resize(28), T.RandomShift(10, rng=0)]))
    assert text == ("Compose(\n    Resize(size=28, interpolation='bilinear')\n"
                    "    RandomShift(max_shift=10, axis=-2, mode='wrap', fill=0.0, rng=0)\n)")


@pytest.mark.parametrize("t,text", [
    (T.Grayscale(3), "Grayscale(num_output_channels=3)"),
    (T.Normalize([0.5], [0.25]), "Normalize(mean=[0.5], std=[0.25])"),
    (T.RandomHorizontalFlip(), "RandomHorizontalFlip(p=0.5)"),
    (T.RandomVerticalFlip(0.3, rng=1), "RandomVerticalFlip(p=0.3, rng=1)"),
    (T.RandomCrop(28, padding=2), "RandomCrop(size=28, padding=(2, 2, 2, 2), pad_if_needed=False, "
                                  "fill=0.0, padding_mode='constant')"),
    (T.AddGaussianNoise(0.2), "AddGaussianNoise(std=0.2, mean=0.0)"),
    (T.RandomOcclusion(), "RandomOcclusion(min_position=10, max_position=None, min_thickness=2, "
                          "max_thickness=5, value=1.0, orientation='random')"),
], ids=lambda v: type(v).__name__ if not isinstance(v, str) else "")
def test_repr(t, text):
    assert repr(t) == text


def test_pipeline_in_dataset_and_loader():
    digits = np.stack([distinct_rows(28, 28) + i for i in range(10)])[:, None].astype(np.float32)
    labels = np.arange(10)
    ds = data.TensorDataset(digits, labels, transform=T.Compose([T.RandomShift(10, rng=0),
                                                                 T.Normalize(0.5, 0.5)]))
    assert len(ds) == 10
    loader = data.DataLoader(ds, batch_size=4)
    epochs = [[(x.copy(), y.copy()) for x, y in loader] for _ in range(2)]
    assert [x.shape for x, _ in epochs[0]] == [(4, 1, 28, 28), (4, 1, 28, 28), (2, 1, 28, 28)]
    x0 = np.concatenate([x for x, _ in epochs[0]])
    x1 = np.concatenate([x for x, _ in epochs[1]])
    assert x0.dtype == np.float32 and not np.array_equal(x0, x1)  # drawn anew each epoch
    np.testing.assert_array_equal(np.concatenate([y for _, y in epochs[1]]), labels)
    for i in range(10):  # each sample is its own digit, shifted within range
        rolled = [(np.roll(digits[i], s, axis=-2) - 0.5) / 0.5 for s in range(-10, 11)]
        assert any(np.array_equal(x1[i], r) for r in rolled)
    np.testing.assert_array_equal(ds.arrays[0], digits)  # the stored data is untouched


# ---- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,exc,match", [
    (lambda: T.Compose(T.Resize(2)), TypeError, r"Compose: transforms must be a list"),
    (lambda: T.Compose([T.Resize(2), 3]), TypeError, r"Compose: transforms\[1\] must be callable"),
    (lambda: T.Resize(0), ValueError, r"Resize: size must be >= 1, got 0"),
    (lambda: T.Resize((2, 3, 4)), ValueError, r"Resize: size must be an int or a sequence of 1 or 2"),
    (lambda: T.Resize(2.5), TypeError, r"Resize: size must be an int, got 2.5"),
    (lambda: T.Resize(4, interpolation="bicubic"), ValueError, r"Resize: interpolation must be one of"),
    (lambda: T.Resize(4)(np.zeros(5)), ValueError, r"Resize: img must be \(H, W\), \(C, H, W\) or"),
    (lambda: T.Resize(4)(np.zeros((3, 0, 4))), ValueError, r"Resize: img has an empty spatial size 0x4"),
    (lambda: T.Resize(4)(np.array(["a"])), TypeError, r"Resize: img must be a real numeric array"),
    (lambda: T.Grayscale(2), ValueError, r"Grayscale: num_output_channels must be 1 or 3, got 2"),
    (lambda: T.Grayscale()(np.zeros((4, 4))), ValueError, r"Grayscale: img must be \(C, H, W\)"),
    (lambda: T.Grayscale()(np.zeros((8, 8, 3))), ValueError, r"channels last\? use img.transpose"),
    (lambda: T.Normalize(0.0, 0.0), ValueError, r"Normalize: std must be positive"),
    (lambda: T.Normalize([0.0, 1.0], [1.0, 0.0]), ValueError, r"Normalize: std must be positive"),
    (lambda: T.Normalize([np.nan], [1.0]), ValueError, r"Normalize: mean must be finite"),
    (lambda: T.Normalize([0.0, 0.0], 1.0)(np.zeros((3, 2, 2))), ValueError,
     r"Normalize: mean has 2 values for an image with 3 channels"),
    (lambda: T.RandomShift(-1), ValueError, r"RandomShift: max_shift must be >= 0, got -1"),
    (lambda: T.RandomShift(2, axis=0), ValueError, r"RandomShift: axis must be -2 \(vertical\) or -1"),
    (lambda: T.RandomShift(2, mode="reflect"), ValueError, r"RandomShift: mode must be one of 'wrap', 'constant'"),
    (lambda: T.RandomShift(2, rng=-1), ValueError, r"RandomShift: rng seed must be a non-negative int"),
    (lambda: T.RandomShift(2, rng="x"), TypeError, r"RandomShift: rng must be None, an int seed or"),
    (lambda: T.RandomHorizontalFlip(p=1.5), ValueError, r"RandomHorizontalFlip: p must be a probability in \[0, 1"),
    (lambda: T.RandomVerticalFlip(p="a"), TypeError, r"RandomVerticalFlip: p must be a real number"),
    (lambda: T.RandomCrop(4, padding=-1), ValueError, r"RandomCrop: padding must be >= 0, got -1"),
    (lambda: T.RandomCrop(4, padding=(1, 2, 3)), ValueError, r"RandomCrop: padding must be an int or a sequence"),
    (lambda: T.RandomCrop(4, padding_mode="bogus"), ValueError, r"RandomCrop: padding_mode must be one of"),
    (lambda: T.RandomCrop(4, pad_if_needed=1), TypeError, r"RandomCrop: pad_if_needed must be a bool"),
    (lambda: T.RandomCrop(5)(np.zeros((4, 4))), ValueError, r"RandomCrop: crop size 5x5 is larger than the padded"),
    (lambda: T.AddGaussianNoise(-0.1), ValueError, r"AddGaussianNoise: std must be >= 0, got -0.1"),
    (lambda: T.AddGaussianNoise(np.inf), ValueError, r"AddGaussianNoise: std must be finite"),
    (lambda: T.RandomOcclusion(min_thickness=0), ValueError, r"RandomOcclusion: min_thickness must be >= 1"),
    (lambda: T.RandomOcclusion(min_thickness=4, max_thickness=3), ValueError,
     r"RandomOcclusion: max_thickness must be >= min_thickness=4, got 3"),
    (lambda: T.RandomOcclusion(min_position=5, max_position=4), ValueError,
     r"RandomOcclusion: max_position must be >= min_position=5, got 4"),
    (lambda: T.RandomOcclusion(orientation="diagonal"), ValueError,
     r"RandomOcclusion: orientation must be one of 'random', 'row', 'column'"),
    (lambda: T.RandomOcclusion(orientation="row")(np.zeros((15, 40))), ValueError,
     r"RandomOcclusion: bar positions \[10, 4\] do not fit an image with 15 rows"),
    (lambda: T.RandomOcclusion(max_position=40, orientation="column")(np.zeros((91, 28))), ValueError,
     r"RandomOcclusion: bar positions \[10, 40\] do not fit an image with 28 columns"),
], ids=lambda v: "" if not isinstance(v, str) else v.split(":")[0])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
