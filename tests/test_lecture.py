"""The worked examples of the lecture *Deep Dive into Convolution and CNN* (the notebooks in
notebooks/ reproduce it), computed by cnnpy and checked against the values the lecture states and
against the independent reference."""
import numpy as np

import cnnpy
import cnnpy.functional as F
import reference as ref

I = np.array([[0, 1, 0, 0, 1],
              [0, 1, 0, 0, 1],
              [0, 1, 1, 1, 1],
              [0, 1, 0, 0, 1],
              [0, 1, 0, 0, 1]], dtype=float)
K = np.array([[1, 1, 1], [-1, -1, -1], [0, 0, 0]], dtype=float)


def ref2d(img, ker, **kw):
    return ref.conv2d(img[None, None], ker[None, None], **kw)[0, 0]


def test_edge_detection_valid():
    y = F.conv2d(I, K)
    assert y.tolist() == [[0, 0, 0], [-1, -2, -2], [1, 2, 2]]
    assert np.array_equal(y, ref2d(I, K))


def test_edge_detection_zero_padding():
    y = F.conv2d(I, K, padding=1)
    assert y.tolist() == [[-1, -1, -1, -1, -1], [0, 0, 0, 0, 0], [0, -1, -2, -2, -1], [0, 1, 2, 2, 1],
                          [0, 0, 0, 0, 0]]
    assert np.array_equal(y, ref2d(I, K, padding=((1, 1), (1, 1))))


def test_edge_detection_padding_and_stride():
    y = F.conv2d(I, K, padding=1, stride=2)
    assert y.tolist() == [[-1, -1, -1], [0, -2, -1], [0, 0, 0]]
    assert np.array_equal(y, ref2d(I, K, padding=((1, 1), (1, 1)), stride=(2, 2)))


def test_six_row_stride_example_names_the_misprint():
    I6 = np.vstack([I, [[0, 1, 0, 0, 1]]])
    y = F.conv2d(I6, K, padding=1, stride=2)
    assert np.array_equal(y, ref2d(I6, K, padding=((1, 1), (1, 1)), stride=(2, 2)))
    deck = np.array([[-1, -1, -1], [0, -2, 1], [0, 0, 0]])
    differ = np.argwhere(y != deck)
    assert differ.tolist() == [[1, 2]]   # only the middle-right entry is the deck's typo
    assert y[1, 2] == -1


def test_every_padding_mode_on_the_lecture_image():
    for mode in ("zeros", "reflect", "mirror", "symmetric", "replicate", "circular", "wrap"):
        y = F.conv2d(I, K, padding=1, padding_mode=mode)
        np_mode = {"zeros": "constant", "mirror": "reflect", "replicate": "edge", "circular": "wrap"}.get(mode, mode)
        assert np.array_equal(y, ref2d(np.pad(I, 1, mode=np_mode), K)), mode


def test_output_size_formulas():
    assert cnnpy.conv_output_size(5, 3) == 3
    assert cnnpy.conv_output_size(5, 3, stride=2, padding=1) == 3
    assert cnnpy.conv_output_size(91, 3, padding=1, explain=True) == "floor((91 + 2*1 - 3) / 1) + 1 = 91"
    assert cnnpy.conv_transpose_output_size(22, 3, stride=2) == 45  # N = s(M - 1) + k - 2p
    assert cnnpy.conv_transpose_output_size(5, 3, stride=2, dilation=2) == (5 - 1) * 2 + 2 * (3 - 1) + 1


def test_pooling_examples():
    m = np.array([[100, 0, 0, 0], [500, 10, 100, 0], [0, 100, 250, 0], [0, 0, 0, 250]], dtype=float)
    assert F.max_pool2d(m, 2, 2).tolist() == [[500, 100], [100, 250]]
    assert F.avg_pool2d(m, 2, 2).tolist() == [[152.5, 25], [25, 125]]
    rows = np.array([range(1, 7), range(6, 0, -1), range(2, 8), range(7, 1, -1), range(3, 9), range(8, 2, -1)],
                    dtype=float)
    assert F.max_pool2d(rows, 2, 2).tolist() == [[6, 4, 6], [7, 5, 7], [8, 6, 8]]
    assert F.max_pool2d(rows, 3, 3).tolist() == [[6, 7], [8, 8]]


def test_convolution_then_pooling_needs_partial_windows():
    c = F.conv2d(I, K, padding=1)
    mx = F.max_pool2d(c, 2, 2, ceil_mode=True)
    mean = F.avg_pool2d(c, 2, 2, ceil_mode=True)
    assert mx.shape == mean.shape == (3, 3)
    assert np.array_equal(mx, ref.max_pool2d(c[None, None], (2, 2), ceil_mode=True)[0][0, 0])
    assert np.array_equal(mean, ref.avg_pool2d(c[None, None], (2, 2), ceil_mode=True)[0, 0])
    # the partial windows of the last row/column divide by what they hold, not by 4
    assert mean[2, 2] == c[4, 4] and mean[0, 2] == (c[0, 4] + c[1, 4]) / 2
    assert F.max_pool2d(c, 2, 2).shape == (2, 2)  # floor mode drops them
