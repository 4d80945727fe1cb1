"""cnnpy.datasets: the lecture's data recipes (shapes, dtypes, value ranges, the documented draws,
reproducibility), MNIST IDX files written here (plain, gzip, broken) and scikit-learn's digits
embedded in 28x28."""
import gzip
import os
import sys

import numpy as np
import pytest

import cnnpy
from cnnpy import datasets


def grid(size=91):
    x = np.linspace(-4, 4, size)
    return np.meshgrid(x, x)


# ---- gaussians (the GausNet classification data) ------------------------------------------------

def test_gaussians_shapes_dtypes_and_balance():
    x, y = datasets.gaussians(n_per_class=50, seed=0)
    assert x.shape == (100, 1, 91, 91) and y.shape == (100, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert y[:, 0].tolist() == [0, 1] * 50                     # interleaved, as the course


def test_gaussians_recipe_and_the_two_widths():
    n, seed = 20, 1
    x, y = datasets.gaussians(n_per_class=n, noise=0.0, seed=seed)
    centres = 2 * np.random.default_rng(seed).standard_normal((2 * n, 2))   # drawn first
    X, Y = grid()
    sigma = np.where(y[:, 0] == 0, 1.8, 2.4)[:, None, None]
    r2 = (X - centres[:, 0, None, None]) ** 2 + (Y - centres[:, 1, None, None]) ** 2
    np.testing.assert_allclose(x[:, 0], np.exp(-r2 / (2 * sigma ** 2)), atol=1e-6)
    # the wider class holds more light: (2.4 / 1.8)^2 = 1.78 times as much when uncut
    mass = x.sum(axis=(1, 2, 3))
    assert np.median(mass[y[:, 0] == 1]) > 1.4 * np.median(mass[y[:, 0] == 0])


def test_gaussians_noise_is_the_stated_level():
    clean, _ = datasets.gaussians(n_per_class=20, noise=0.0, seed=2)
    noisy, _ = datasets.gaussians(n_per_class=20, noise=0.2, seed=2)  # same centres: drawn first
    assert abs((noisy - clean).std() - 0.2) < 0.005


# ---- gaussian_params (the regression data) -------------------------------------------------------

def test_gaussian_params_recipe_is_exact():
    n = 40
    x, t = datasets.gaussian_params(n=n, noise=0.0, seed=3)
    assert x.shape == (n, 1, 91, 91) and t.shape == (n, 3)
    assert x.dtype == np.float32 and t.dtype == np.float32
    X, Y = grid()
    cx, cy, w = (t[:, i, None, None].astype(np.float64) for i in range(3))
    expected = np.exp(-((X - cx) ** 2 + (Y - cy) ** 2) / w)
    np.testing.assert_allclose(x[:, 0], expected, atol=2e-6)


def test_gaussian_params_distributions():
    x, t = datasets.gaussian_params(n=1000, size=9, seed=4)
    assert (t[:, 2] >= 5).all() and (t[:, 2] <= 15).all()
    assert abs(t[:, 2].mean() - 10) < 0.4 and t[:, 2].max() - t[:, 2].min() > 9.5
    assert abs(t[:, :2].std() - 2) < 0.1 and abs(t[:, :2].mean()) < 0.15   # 2 * N(0, 1)
    clean, _ = datasets.gaussian_params(n=1000, size=9, noise=0.0, seed=4)
    assert abs((x - clean).std() - 0.1) < 0.005                            # N(0, 1) / 10


def test_gaussian_params_options():
    _, t = datasets.gaussian_params(n=200, size=5, widths=(1, 2), centre_scale=0.5, seed=5)
    assert (t[:, 2] >= 1).all() and (t[:, 2] <= 2).all() and t[:, :2].std() < 0.7
    with pytest.raises(ValueError, match="gaussian_params: widths must be a pair 0 < low <= high"):
        datasets.gaussian_params(n=2, widths=(15, 5))
    with pytest.raises(ValueError, match="gaussian_params: widths must be a pair"):
        datasets.gaussian_params(n=2, widths=(1, 2, 3))


# ---- occluded_gaussians (the autoencoder data) -----------------------------------------------------

def bar_mask(bars, size):
    mask = np.zeros((len(bars), size, size), bool)
    for m, (axis, start, thick) in zip(mask, bars):
        if axis == 0:
            m[start:start + thick, :] = True
        else:
            m[:, start:start + thick] = True
    return mask


def test_occlusion_practice_inputs_differ_from_targets_only_on_the_bar():
    x, clean, bars = datasets.occluded_gaussians(n=400, seed=6, return_bars=True)
    assert x.shape == clean.shape == (400, 1, 91, 91) and x.dtype == clean.dtype == np.float32
    assert bars.shape == (400, 3) and bars.dtype == np.int64
    mask = bar_mask(bars, 91)
    assert (x[:, 0][mask] == 1).all()                           # a noise-free bar of 1s
    assert np.array_equal(x[:, 0][~mask], clean[:, 0][~mask])   # and nothing else changed
    assert (clean[:, 0][mask] != 1).all()                       # the targets have no bar
    axis, start, thick = bars.T
    assert set(axis.tolist()) == {0, 1} and abs(axis.mean() - 0.5) < 0.05
    assert start.min() == 10 and start.max() == 80               # 10..80 inclusive
    assert sorted(set(thick.tolist())) == [2, 3, 4, 5]


def test_gaussian_ae_practice_has_the_bar_in_the_data():
    x, target, bars = datasets.occluded_gaussians(n=300, occlude=False, seed=7, return_bars=True)
    assert np.array_equal(x, target) and x is not target and not np.shares_memory(x, target)
    assert sorted(set(bars[:, 1].tolist())) == list(range(2, 28))  # 2..27 inclusive
    assert sorted(set(bars[:, 2].tolist())) == [2, 3, 4, 5]
    assert (x[:, 0][bar_mask(bars, 91)] == 1).all()


def test_occluded_gaussians_recipe_is_exact():
    n, seed = 30, 8
    _, clean = datasets.occluded_gaussians(n=n, noise=0.0, seed=seed)
    centres = 1.5 * np.random.default_rng(seed).standard_normal((n, 2))   # the documented first draw
    X, Y = grid()
    widths = np.linspace(2, 20, n)[:, None, None]
    expected = np.exp(-((X - centres[:, 0, None, None]) ** 2 + (Y - centres[:, 1, None, None]) ** 2) / widths)
    np.testing.assert_allclose(clean[:, 0], expected, atol=1e-6)
    _, noisy = datasets.occluded_gaussians(n=n, seed=seed)
    assert abs((noisy - clean).std() - 0.2) < 0.005             # N(0, 1) / 5


def test_occluded_gaussians_options_and_errors():
    x, clean, bars = datasets.occluded_gaussians(n=50, size=12, bar_range=(0, 11), bar_thickness=(1, 1),
                                                 seed=9, return_bars=True)
    assert x.shape == (50, 1, 12, 12) and (bars[:, 2] == 1).all()
    assert (x != clean).sum(axis=(1, 2, 3)).max() <= 12
    x, _, bars = datasets.occluded_gaussians(n=200, size=32, seed=9, return_bars=True)
    assert bars[:, 1].min() >= 10 and bars[:, 1].max() <= 21   # default (10, size - 11)
    with pytest.raises(ValueError, match=r"occluded_gaussians: bar_range .* got \(10, 9\)"):
        datasets.occluded_gaussians(n=2, size=20)
    with pytest.raises(ValueError, match="bar_range must be an inclusive range"):
        datasets.occluded_gaussians(n=2, bar_range=(10, 91))
    with pytest.raises(TypeError, match="occluded_gaussians: bar_range must be an int"):
        datasets.occluded_gaussians(n=2, bar_range=(2.5, 10))
    with pytest.raises(ValueError, match="bar_thickness must be an inclusive range"):
        datasets.occluded_gaussians(n=2, bar_thickness=(0, 3))
    with pytest.raises(ValueError, match="occluded_gaussians: widths must be positive"):
        datasets.occluded_gaussians(n=2, widths=(0, 20))


# ---- reproducibility -------------------------------------------------------------------------------

GENERATORS = {
    "gaussians": lambda seed: datasets.gaussians(n_per_class=3, size=15, seed=seed),
    "gaussian_params": lambda seed: datasets.gaussian_params(n=6, size=15, seed=seed),
    "occluded_gaussians": lambda seed: datasets.occluded_gaussians(n=6, size=31, seed=seed),
}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_seeds_reproduce(name):
    make = GENERATORS[name]

    def same(a, b):
        return all(np.array_equal(u, v) for u, v in zip(a, b))

    assert same(make(11), make(11))
    assert not same(make(11), make(12))
    assert same(make(np.random.default_rng(13)), make(13))
    cnnpy.manual_seed(14)
    first = make(None)
    cnnpy.manual_seed(14)
    assert same(first, make(None))
    assert not same(first, make(None))                          # the library generator moved on


def test_no_global_random_state_is_touched():
    _, before, pos, *_ = np.random.get_state()
    for make in GENERATORS.values():
        make(None)
    _, after, pos_after, *_ = np.random.get_state()
    assert np.array_equal(after, before) and pos_after == pos


def test_bad_seed():
    with pytest.raises(TypeError, match="gaussian_params: rng must be None, an int seed"):
        datasets.gaussian_params(n=2, seed="x")


# ---- load_mnist ------------------------------------------------------------------------------------

def idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


def write(path, data, gz=False):
    if gz:
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture
def mnist_arrays():
    rng = np.random.default_rng(15)
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5, dtype=np.uint8)


@pytest.mark.parametrize("gz_images,gz_labels", [(False, False), (True, True), (True, False)],
                         ids=["plain", "gzip", "mixed"])
def test_load_mnist(tmp_path, mnist_arrays, gz_images, gz_labels):
    imgs, labels = mnist_arrays
    write(tmp_path / ("train-images-idx3-ubyte" + ".gz" * gz_images), idx_bytes(imgs), gz_images)
    write(tmp_path / ("train-labels-idx1-ubyte" + ".gz" * gz_labels), idx_bytes(labels), gz_labels)
    x, y = datasets.load_mnist(tmp_path)
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (5,) and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(np.rint(x[:, 0] * 255), imgs)
    assert y.tolist() == labels.tolist()


def test_load_mnist_kinds_and_spellings(tmp_path, mnist_arrays):
    imgs, labels = mnist_arrays
    write(tmp_path / "t10k-images.idx3-ubyte", idx_bytes(imgs[:2]))          # the dotted spelling
    write(tmp_path / "t10k-labels.idx1-ubyte.gz", idx_bytes(labels[:2]), gz=True)
    x, y = datasets.load_mnist(str(tmp_path), kind="test")
    assert x.shape == (2, 1, 28, 28) and y.tolist() == labels[:2].tolist()
    assert np.array_equal(datasets.load_mnist(tmp_path, "t10k")[0], x)
    write(tmp_path / "small-images-idx3-ubyte", idx_bytes(np.full((3, 2, 4), 255)))   # any size
    write(tmp_path / "small-labels-idx1-ubyte", idx_bytes([1, 2, 3]))
    x, y = datasets.load_mnist(tmp_path, "small")
    assert x.shape == (3, 1, 2, 4) and (x == 1).all() and y.tolist() == [1, 2, 3]


def test_load_mnist_missing_files(tmp_path, mnist_arrays):
    with pytest.raises(FileNotFoundError, match="load_mnist: .*nowhere.* is not a folder"):
        datasets.load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="load_mnist: no images file .*train-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(mnist_arrays[0]))
    with pytest.raises(FileNotFoundError, match="no labels file .*train-labels-idx1-ubyte.gz"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(TypeError, match="load_mnist: path must be a folder name"):
        datasets.load_mnist(3)


def broken_cases(imgs, labels):
    good = idx_bytes(imgs)
    return {
        "bad-magic": (b"\x00\x00\x08\x01" + good[4:], "bad magic number 0x00000801; expected 0x00000803"),
        "float-magic": (b"\x00\x00\x0d\x03" + good[4:], "bad magic number 0x00000d03"),
        "empty": (b"", "truncated: 0 bytes"),
        "short-header": (good[:10], "truncated: 10 bytes, shorter than its 16-byte header"),
        "short-data": (good[:-7], r"truncated: the header gives shape \(5, 28, 28\) \(3920 bytes of data\), "
                                  r"the file holds 3913"),
        "trailing": (good + b"\x00\x00", "2 bytes after the data"),
    }


@pytest.mark.parametrize("case", ["bad-magic", "float-magic", "empty", "short-header", "short-data", "trailing"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_load_mnist_refuses_broken_files(tmp_path, mnist_arrays, case, gz):
    data, message = broken_cases(*mnist_arrays)[case]
    name = write(tmp_path / ("train-images-idx3-ubyte" + ".gz" * gz), data, gz)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(mnist_arrays[1]))
    with pytest.raises(ValueError, match=f"load_mnist: {name}.* {message}"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_refuses_broken_gzip_and_mismatched_counts(tmp_path, mnist_arrays):
    imgs, labels = mnist_arrays
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(imgs))
    cut = gzip.compress(idx_bytes(labels))[:-12]                             # stream cut short
    name = write(tmp_path / "train-labels-idx1-ubyte.gz", cut)
    with pytest.raises(ValueError, match=f"load_mnist: {name} is not a complete gzip file"):
        datasets.load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", b"not gzip at all")
    with pytest.raises(ValueError, match="is not a complete gzip file"):
        datasets.load_mnist(tmp_path)
    os.remove(tmp_path / "train-labels-idx1-ubyte.gz")
    name = write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels[:4]))
    with pytest.raises(ValueError, match=f"load_mnist: {name} holds 4 labels for 5 images"):
        datasets.load_mnist(tmp_path)


# ---- load_digits -----------------------------------------------------------------------------------

def test_load_digits_embedding():
    sk = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits()
    raw = sk.load_digits()
    assert x.shape == (1797, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64 and sorted(set(y.tolist())) == list(range(10))
    assert np.array_equal(y, raw.target)
    assert x.min() == 0 and x.max() == 1
    inner = x[:, 0, 2:26, 2:26].reshape(1797, 8, 3, 8, 3)                 # each pixel a 3x3 block
    np.testing.assert_array_equal(inner, np.broadcast_to((raw.images / 16)[:, :, None, :, None], inner.shape))
    border = np.ones((28, 28), bool)
    border[2:26, 2:26] = False
    assert (x[:, 0][:, border] == 0).all()                                 # zero padding 2


def test_load_digits_other_sizes():
    sk = pytest.importorskip("sklearn.datasets")
    raw = sk.load_digits().images / 16
    x8, _ = datasets.load_digits(size=8)
    np.testing.assert_array_equal(x8[:, 0], raw.astype(np.float32))
    x29, _ = datasets.load_digits(size=29)                                 # 3x3 blocks, pad 2 before, 3 after
    assert x29.shape == (1797, 1, 29, 29)
    assert np.array_equal(x29[:, 0, 2:26, 2:26], datasets.load_digits()[0][:, 0, 2:26, 2:26])
    assert (x29[:, 0, 26:] == 0).all() and (x29[:, 0, :, :2] == 0).all()
    with pytest.raises(ValueError, match="load_digits: size must be >= 8, got 7"):
        datasets.load_digits(size=7)


def test_load_digits_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"load_digits needs scikit-learn.*pip install scikit-learn.*cnnpy\[digits\]"):
        datasets.load_digits()
