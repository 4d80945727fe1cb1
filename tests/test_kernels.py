"""cnnpy.kernels: the classic filters' values, checked against the lecture's worked example and, by
filtering an image with F.conv2d, against scipy.ndimage's own filters."""
import math

import numpy as np
import pytest

import cnnpy.functional as F
from cnnpy import kernels

I = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)


@pytest.fixture
def image():
    return np.random.default_rng(7).standard_normal((13, 17))


def filtered(img, k):
    """Cross-correlation with ``k``, same size, edges mirrored with the edge pixel repeated (what
    scipy.ndimage calls mode='reflect')."""
    r0, r1 = (k.shape[0] - 1) // 2, k.shape[0] // 2
    c0, c1 = (k.shape[1] - 1) // 2, k.shape[1] // 2
    return F.conv2d(img, k, padding=((r0, r1), (c0, c1)), padding_mode="symmetric")


def test_edge_is_the_lecture_kernel_and_reproduces_its_examples():
    assert kernels.edge().tolist() == [[1, 1, 1], [-1, -1, -1], [0, 0, 0]]
    assert kernels.edge().dtype == np.float64
    assert F.conv2d(I, kernels.edge()).tolist() == [[0, 0, 0], [-1, -2, -2], [1, 2, 2]]
    assert F.conv2d(I, kernels.edge(), padding=1, stride=2).tolist() == [[-1, -1, -1], [0, -2, -1], [0, 0, 0]]
    assert np.array_equal(kernels.edge("vertical"), kernels.edge().T)
    # the vertical detector finds the image's vertical lines, the horizontal one does not respond there
    assert np.array_equal(F.conv2d(I.T, kernels.edge("vertical")), F.conv2d(I, kernels.edge()).T)


@pytest.mark.parametrize("name,smooth", [("sobel", [1, 2, 1]), ("prewitt", [1, 1, 1])])
def test_derivative_kernel_values(name, smooth):
    fn = getattr(kernels, name)
    assert np.array_equal(fn(0), np.outer([-1, 0, 1], smooth))
    assert np.array_equal(fn(1), np.outer(smooth, [-1, 0, 1]))
    assert np.array_equal(fn(-1), fn(1)) and np.array_equal(fn(-2), fn(0))
    assert fn(0).sum() == 0 and fn(0).flags.c_contiguous and fn(1).flags.c_contiguous


@pytest.mark.parametrize("name", ["sobel", "prewitt"])
@pytest.mark.parametrize("axis", [0, 1])
def test_derivative_kernels_match_scipy(image, name, axis):
    ndimage = pytest.importorskip("scipy.ndimage")
    expected = getattr(ndimage, name)(image, axis=axis, mode="reflect")
    np.testing.assert_allclose(filtered(image, getattr(kernels, name)(axis)), expected, atol=1e-12)


def test_sobel_axis_0_finds_horizontal_edges():
    step = np.zeros((6, 6))
    step[3:] = 1                                   # dark above, bright below: a horizontal edge
    assert np.abs(F.conv2d(step, kernels.sobel(0))).max() == 4
    assert np.abs(F.conv2d(step, kernels.sobel(1))).max() == 0


def test_laplacians(image):
    assert kernels.laplacian().tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert kernels.laplacian(8).tolist() == [[1, 1, 1], [1, -8, 1], [1, 1, 1]]
    assert kernels.laplacian(4).sum() == 0 and kernels.laplacian(8).sum() == 0
    ndimage = pytest.importorskip("scipy.ndimage")
    np.testing.assert_allclose(filtered(image, kernels.laplacian()), ndimage.laplace(image, mode="reflect"),
                               atol=1e-12)
    eight = ndimage.correlate(image, np.ones((3, 3)), mode="reflect") - 9 * image
    np.testing.assert_allclose(filtered(image, kernels.laplacian(8)), eight, atol=1e-12)


def test_box(image):
    assert kernels.box(2).tolist() == [[0.25, 0.25], [0.25, 0.25]]
    assert kernels.box((1, 4)).tolist() == [[0.25] * 4]
    assert math.isclose(kernels.box(5).sum(), 1.0)
    ndimage = pytest.importorskip("scipy.ndimage")
    np.testing.assert_allclose(filtered(image, kernels.box(3)), ndimage.uniform_filter(image, 3, mode="reflect"),
                               atol=1e-12)


def test_gaussian2d_is_the_lecture_formula():
    sigma = 1.3
    raw = kernels.gaussian2d(5, sigma, normalize=False)
    y, x = np.mgrid[-2:3, -2:3]
    formula = np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2)) / (2 * np.pi * sigma ** 2)
    np.testing.assert_allclose(raw, formula, rtol=1e-15)
    assert raw.sum() < 1
    k = kernels.gaussian2d(5, sigma)
    np.testing.assert_allclose(k, formula / formula.sum(), rtol=1e-15)
    assert math.isclose(k.sum(), 1.0, rel_tol=1e-15)
    assert np.array_equal(k, k.T) and np.array_equal(k, k[::-1]) and k[2, 2] == k.max()
    assert np.linalg.matrix_rank(k) == 1          # separable: a product of two 1-D Gaussians


def test_gaussian2d_shapes_and_extremes():
    even = kernels.gaussian2d(4, 1.0)             # centred between pixels: four equal middle values
    assert even.shape == (4, 4) and np.allclose(even[1:3, 1:3], even.max())
    assert kernels.gaussian2d((3, 5), 1.0).shape == (3, 5)
    assert kernels.gaussian2d(3, 1e-6).tolist() == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert np.allclose(kernels.gaussian2d(2, 1e-200), 0.25)     # no 0/0 for a vanishing sigma
    assert np.allclose(kernels.gaussian2d(3, 1e6), 1 / 9)       # a huge sigma is a box
    assert kernels.gaussian2d(3, 1.0, dtype=np.float32).dtype == np.float32


def test_gaussian2d_matches_scipy_gaussian_filter(image):
    ndimage = pytest.importorskip("scipy.ndimage")
    sigma, truncate = 1.5, 2.0
    size = 2 * int(truncate * sigma + 0.5) + 1
    expected = ndimage.gaussian_filter(image, sigma, truncate=truncate, mode="reflect")
    np.testing.assert_allclose(filtered(image, kernels.gaussian2d(size, sigma)), expected, atol=1e-12)


def test_dtypes():
    for k in (kernels.edge(), kernels.sobel(), kernels.prewitt(), kernels.laplacian(), kernels.box(),
              kernels.gaussian2d()):
        assert k.dtype == np.float64
    for fn in (kernels.edge, kernels.sobel, kernels.prewitt, kernels.laplacian, kernels.box):
        assert fn(dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("call,exc,match", [
    (lambda: kernels.edge("diagonal"), ValueError, "edge: orientation"),
    (lambda: kernels.sobel(2), ValueError, "sobel: axis must be 0"),
    (lambda: kernels.prewitt(1.0), TypeError, "prewitt: axis must be an int"),
    (lambda: kernels.laplacian(6), ValueError, "laplacian: neighbours must be 4 or 8, got 6"),
    (lambda: kernels.box(0), ValueError, "box: size must be >= 1"),
    (lambda: kernels.gaussian2d(3, 0), ValueError, "gaussian2d: sigma must be a positive"),
    (lambda: kernels.gaussian2d(3, float("nan")), ValueError, "gaussian2d: sigma"),
    (lambda: kernels.gaussian2d(3, "1"), TypeError, "gaussian2d: sigma must be a real number"),
    (lambda: kernels.edge(dtype=np.int32), TypeError, "edge: dtype must be float32 or float64"),
], ids=["edge-orientation", "sobel-axis", "prewitt-float-axis", "laplacian-6", "box-0", "sigma-0",
        "sigma-nan", "sigma-str", "int-dtype"])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
