"""cnnpy.viz: what the pictures show is the engine's computation.

For ``animate`` the texts drawn in the output grid are compared with ``cnnpy.functional``'s result,
the padded grid with ``F.pad``, the window of each frame with the output value it produces (a
NumPy sum/max/mean over the drawn cells), a transpose convolution's partial sums with a loop over
its stamps; frames are counted in the object, the GIF and the HTML. ``saliency`` is checked
against finite differences and an independent guided backpropagation, and the model must come
back exactly as it was. The plotting helpers must draw the arrays they were given.
"""
import base64
import io
import re
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
pytest.importorskip("PIL")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

import cnnpy.functional as F  # noqa: E402
from cnnpy import nn, training, viz  # noqa: E402

I = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)  # noqa: E741
K = np.array([[1., 1, 1], [-1, -1, -1], [0, 0, 0]])        # the lecture's image and edge kernel


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig, gid):
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_gid() == gid]


def _grid_texts(anim, gid):
    """{(row, col): text} of the cells drawn with `gid` in the left grid."""
    return {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_text()
            for t in _texts(anim.figure, gid)}


def _window(anim):
    """The (row, col) cells outlined as the window in the frame drawn last."""
    return [(int(p.get_xy()[1]), int(p.get_xy()[0])) for p in anim._win]


def _check_drawn(anim, expected, offset=(0, 0)):
    """Every cell of `expected` is drawn (last frame) as the engine's number, at `offset`."""
    drawn = anim.drawn_output()
    exp = np.asarray(expected, dtype=float).reshape(-1, np.asarray(expected).shape[-1])
    for (i, j), v in np.ndenumerate(exp):
        text = drawn[i + offset[0], j + offset[1]]
        assert text == viz._fmt(v), (i, j, text, v)
        assert float(text.replace("−", "-")) == pytest.approx(v, rel=5e-4, abs=1e-12)


# ---- convolution -----------------------------------------------------------------------------------

CONV2D = [
    ("valid", dict()),
    ("same", dict(padding="same")),
    ("full", dict(padding="full")),
    ("p1-s2", dict(padding=1, stride=2)),
    ("same-s2", dict(padding="same", stride=2)),
    ("dilation2", dict(padding=2, dilation=2)),
    ("asymmetric", dict(padding=((0, 2), (1, 0)), stride=(1, 2))),
    ("conv-mode", dict(padding=1, mode="conv")),
] + [(f"p2-{m}", dict(padding=2, padding_mode=m)) for m in
     ("zeros", "reflect", "mirror", "symmetric", "replicate", "edge", "circular", "wrap")] + [
    ("p1-constant", dict(padding=1, padding_mode="constant", value=0.5)),
    ("wide-circular", dict(padding=(7, 3), padding_mode="circular")),
]


@pytest.mark.parametrize("name,kw", CONV2D, ids=[c[0] for c in CONV2D])
def test_conv2d_draws_the_engine_result(name, kw):
    rng = np.random.default_rng(len(name))
    x, w = rng.standard_normal((5, 6)), rng.standard_normal((3, 3))
    anim = viz.animate("conv2d", input=x, weight=w, annotate=True, **kw)
    expected = F.conv2d(x, w, **kw)
    assert anim.frames == expected.size
    np.testing.assert_array_equal(anim.output, expected)
    _check_drawn(anim, expected)
    # the padded grid is the engine's padding, and each frame's window gives its output cell
    kern = w[::-1, ::-1] if kw.get("mode") == "conv" else w
    for t in range(anim.frames):
        anim.draw(t)
        cells = _window(anim)
        window = np.array([anim.input[r, c] for r, c in cells])
        assert window @ kern.ravel() == pytest.approx(expected.flat[t], abs=1e-12)


def test_padding_is_drawn_with_the_cells_it_copies():
    for mode in ("reflect", "symmetric", "replicate", "circular"):
        anim = viz.animate("conv2d", input=I * np.arange(1, 6), weight=K, padding=2, padding_mode=mode)
        padded = F.pad(I * np.arange(1, 6), (2, 2, 2, 2), mode=mode)
        drawn = _grid_texts(anim, "in")
        assert len(drawn) == padded.size
        for (r, c), v in np.ndenumerate(padded):
            assert drawn[r, c] == viz._fmt(v)
        # every padding cell names its source, and holds that source's value
        sources = _grid_texts(anim, "source")
        assert len(sources) == padded.size - I.size
        for (r, c), label in sources.items():
            sr, sc = map(int, label[1:].split(","))
            assert padded[r, c] == (I * np.arange(1, 6))[sr, sc]
    zeros = viz.animate("conv2d", input=I, weight=K, padding=1)
    assert not _grid_texts(zeros, "source")          # a constant fill copies nothing


def test_the_lecture_examples():
    anim = viz.animate("conv2d", input=I, weight=K)
    _check_drawn(anim, [[0, 0, 0], [-1, -2, -2], [1, 2, 2]])
    anim = viz.animate("conv2d", input=I, weight=K, padding=1, stride=2)
    assert anim.frames == 9
    _check_drawn(anim, [[-1, -1, -1], [0, -2, -1], [0, 0, 0]])
    assert _grid_texts(anim, "kernel") == {(r, c): viz._fmt(v) for (r, c), v in np.ndenumerate(K)}


@pytest.mark.parametrize("kw", [dict(), dict(padding=2, padding_mode="reflect"), dict(stride=2, dilation=2),
                                dict(padding="same", stride=3), dict(padding=(0, 3), padding_mode="circular")],
                         ids=["valid", "p2-reflect", "s2-d2", "same-s3", "left0-right3-circular"])
def test_conv1d(kw):
    x, w = np.arange(1., 10.) % 4, np.array([1., -2., 1.])
    anim = viz.animate("conv1d", input=x, weight=w, **kw)
    expected = F.conv1d(x, w, **kw)
    assert anim.frames == expected.size
    _check_drawn(anim, expected[None])
    assert anim.figure.axes[0].get_title().startswith("input 9")


# ---- transpose convolution ----------------------------------------------------------------------------

TRANSPOSE = [
    ("s1", dict()),
    ("s2", dict(stride=2)),
    ("s2-p1", dict(stride=2, padding=1)),
    ("s2-p1-op1", dict(stride=2, padding=1, output_padding=1)),
    ("s3-op2", dict(stride=3, output_padding=2)),
    ("d2-op1", dict(dilation=2, output_padding=1)),
    ("s21-p10", dict(stride=(2, 1), padding=(1, 0))),
]


def _stamps(x, w, stride, dilation, t, size):
    """The uncropped transpose convolution of the first t+1 input cells, by its definition."""
    out = np.zeros(size)
    for n in range(t + 1):
        i, j = divmod(n, x.shape[1])
        for a in range(w.shape[0]):
            for b in range(w.shape[1]):
                out[i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]] += x[i, j] * w[a, b]
    return out


@pytest.mark.parametrize("name,kw", TRANSPOSE, ids=[c[0] for c in TRANSPOSE])
def test_conv_transpose2d_draws_the_engine_result(name, kw):
    rng = np.random.default_rng(len(name) + 7)
    x, w = rng.integers(-3, 4, (3, 2)).astype(float), rng.integers(-2, 3, (3, 2)).astype(float)
    anim = viz.animate("conv_transpose2d", input=x, weight=w, **kw)
    expected = F.conv_transpose2d(x, w, **kw)
    assert anim.frames == x.size                       # one frame per input cell
    np.testing.assert_array_equal(anim.output, expected)
    pad = kw.get("padding", 0)
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    _check_drawn(anim, expected, offset=(ph, pw))
    st = kw.get("stride", 1)
    stride = (st, st) if isinstance(st, int) else st
    dilation = (kw.get("dilation", 1),) * 2
    size = anim._s.out_values[0].shape
    for t in range(anim.frames):   # partial sums: every cell touched so far shows the stamps so far
        drawn = anim.drawn_output(t)
        if t < anim.frames - 1:
            ref = _stamps(x, w, stride, dilation, t, size)
            for (r, c), text in drawn.items():
                assert text == viz._fmt(ref[r, c]), (t, r, c)
    assert anim.drawn_output(0) != {} and len(anim.drawn_output(0)) == w.size


def test_conv_transpose1d():
    x, w = np.array([1., 2, 3]), np.array([1., 1, 1])
    anim = viz.animate("conv_transpose1d", input=x, weight=w, stride=2, padding=1, output_padding=1)
    expected = F.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)
    assert anim.frames == 3
    _check_drawn(anim, expected[None], offset=(0, 1))


# ---- pooling ------------------------------------------------------------------------------------------

POOL = [
    ("max-k2", "max_pool2d", dict(kernel_size=2)),
    ("max-k3-s2-p1", "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max-k2-ceil", "max_pool2d", dict(kernel_size=2, ceil_mode=True)),
    ("max-k2-s2-p1-ceil", "max_pool2d", dict(kernel_size=2, stride=2, padding=1, ceil_mode=True)),
    ("max-k2-d2", "max_pool2d", dict(kernel_size=2, stride=1, dilation=2)),
    ("avg-k2", "avg_pool2d", dict(kernel_size=2)),
    ("avg-k2-ceil", "avg_pool2d", dict(kernel_size=2, ceil_mode=True)),
    ("avg-k3-s2-p1-ceil", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("avg-k3-s2-p1-nopad", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
]


@pytest.mark.parametrize("name,op,kw", POOL, ids=[c[0] for c in POOL])
def test_pooling_draws_the_engine_result(name, op, kw):
    x = np.random.default_rng(len(name)).integers(0, 20, (5, 7)).astype(float)
    anim = viz.animate(op, input=x, **kw)
    expected = getattr(F, op)(x, **kw)
    assert anim.frames == expected.size
    _check_drawn(anim, expected)
    drawn_input = _grid_texts(anim, "in")
    for t in range(anim.frames):
        anim.draw(t)
        cells = _window(anim)
        inside = [anim.input[r, c] for r, c in cells if anim._s.kinds[r, c] != "out"]
        if op == "max_pool2d":   # the engine's argmax is marked, inside the window, and is the max
            mark = (int(anim._mark.get_xy()[1]), int(anim._mark.get_xy()[0]))
            assert mark in cells and anim.input[mark] == max(inside) == expected.flat[t]
        elif kw.get("count_include_pad", True):
            assert np.mean(inside) == pytest.approx(expected.flat[t])
        for r, c in cells:
            if anim._s.kinds[r, c] == "out":         # past the padded input: drawn empty
                assert (r, c) not in drawn_input


def test_the_lecture_pooling_example():
    A = np.array([[100, 0, 0, 0], [500, 10, 100, 0], [0, 100, 250, 0], [0, 0, 0, 250]], dtype=float)
    _check_drawn(viz.animate("max_pool2d", input=A, kernel_size=2), [[500, 100], [100, 250]])
    _check_drawn(viz.animate("avg_pool2d", input=A, kernel_size=2), [[152.5, 25], [25, 125]])
    Z = F.conv2d(I, K, padding=1)
    anim = viz.animate("max_pool2d", input=Z, kernel_size=2, stride=2, ceil_mode=True)
    assert anim.frames == 9
    _check_drawn(anim, [[0, 0, 0], [1, 2, 1], [0, 0, 0]])


def test_pool1d():
    x = np.array([1., 3, 2, 5, 4])
    for op, kw in [("max_pool1d", dict(kernel_size=2, ceil_mode=True)),
                   ("avg_pool1d", dict(kernel_size=3, stride=1, padding=1))]:
        anim = viz.animate(op, input=x, **kw)
        expected = getattr(F, op)(x, **kw)
        assert anim.frames == expected.size
        _check_drawn(anim, expected[None])


# ---- sizes, frames, files, errors ---------------------------------------------------------------------

def test_sizes_draw_seeded_integers():
    a = viz.animate("conv2d", 6, 3, stride=2, seed=3)
    b = viz.animate("conv2d", (6, 6), (3, 3), stride=2, seed=3)
    np.testing.assert_array_equal(a.input, b.input)
    assert a.input.shape == (6, 6) and a.kernel.shape == (3, 3) and a.frames == 4
    assert np.array_equal(a.input, np.round(a.input))
    np.testing.assert_array_equal(a.output, F.conv2d(a.input, a.kernel, stride=2))
    assert not np.array_equal(a.input, viz.animate("conv2d", 6, 3, seed=4).input)


def test_large_grids_are_not_annotated():
    anim = viz.animate("max_pool2d", 20, 2)
    assert anim.frames == 100 and anim.drawn_output() == {} and not _grid_texts(anim, "in")
    assert anim.figure.get_size_inches()[0] <= 11.5


def test_gif_html_and_mp4(tmp_path, monkeypatch):
    anim = viz.animate("conv2d", input=I, weight=K, padding=1, stride=2, dpi=40)
    gif = tmp_path / "a.gif"
    anim.save(gif)
    with Image.open(gif) as im:
        assert im.n_frames == anim.frames == 9
        frames = []
        for n in range(im.n_frames):
            im.seek(n)
            frames.append(np.asarray(im.convert("L"), dtype=float))
    assert all(f.std() > 10 for f in frames)                              # pictures, not blank
    assert all(np.abs(frames[n] - frames[n + 1]).sum() > 0 for n in range(8))   # each frame moves on
    html = tmp_path / "a.html"
    anim.save(html)
    text = html.read_text()
    pngs = re.findall(r'"data:image/png;base64,([^"]+)"', text)
    assert len(pngs) == 9
    assert Image.open(io.BytesIO(base64.b64decode(pngs[0]))).size[0] > 150
    assert anim._repr_html_().count("data:image/png;base64") == 9
    assert "https://" not in text and "<link" not in text and "fa fa-" not in text   # nothing fetched
    assert re.findall(r'title="Play"[^>]*>\s*([^<\s]+)', text) == ["▶"]
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        anim.save(tmp_path / "a.mp4")
    with pytest.raises(ValueError, match=r"\.gif, \.mp4 or \.html"):
        anim.save(tmp_path / "a.avi")


def test_frame_image_and_draw():
    anim = viz.animate("max_pool2d", 4, 2)
    im = anim.frame_image(0)
    assert im.mode == "RGB" and np.asarray(im).std() > 10
    with pytest.raises(IndexError, match="frame 4"):
        anim.draw(4)
    assert "4 frames" in repr(anim)


@pytest.mark.parametrize("call,match", [
    (lambda: viz.animate("conv3d", 5, 3), "op must be one of"),
    (lambda: viz.animate("conv2d", 5), "kernel_size or a weight"),
    (lambda: viz.animate("conv2d", kernel_size=3), "input_size or an input"),
    (lambda: viz.animate("conv2d", 4, input=I, weight=K), "does not match"),
    (lambda: viz.animate("conv2d", input=I[0], weight=K), "2-D array"),
    (lambda: viz.animate("max_pool2d", input=I), "needs kernel_size"),
    (lambda: viz.animate("avg_pool2d", input=I, kernel_size=2, weight=K), "no weight"),
    (lambda: viz.animate("conv2d", input=I, weight=K, stride=0), "stride"),
    (lambda: viz.animate("conv2d", input=I, weight=K, padding_mode="bogus"), "padding_mode"),
], ids=["op", "kernel", "input", "size-mismatch", "dims", "pool-kernel", "pool-weight", "stride0", "mode"])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_missing_matplotlib_names_the_extra():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import numpy as np, cnnpy.viz as viz\n"          # importing viz itself works
            "try:\n    viz.animate('conv2d', 5, 3)\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "cnnpy[plot]"' in out


# ---- saliency -----------------------------------------------------------------------------------------

def _small_net(seed=0):
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64, rng=seed), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4, dtype=np.float64, rng=seed + 1),
                        nn.ReLU(), nn.Linear(4, 3, dtype=np.float64, rng=seed + 2))
    return net


def test_gradient_saliency_is_the_input_gradient():
    net = _small_net()
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 6))
    target = np.array([2, 0])
    s = viz.saliency(net, x, "gradient", target=target)
    eps = 1e-6
    for n, idx in [(0, (1, 1, 3)), (1, (1, 4, 2)), (0, (1, 5, 5))]:
        xp, xm = x.copy(), x.copy()
        xp[(n, *idx)] += eps
        xm[(n, *idx)] -= eps
        fd = (net(xp)[n, target[n]] - net(xm)[n, target[n]]) / (2 * eps)
        assert s[(n, *idx)] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    default = viz.saliency(net, x)                        # each image's highest score
    best = np.argmax(net(x), axis=1)
    np.testing.assert_allclose(default, viz.saliency(net, x, target=best))


def _guided_reference(net, x, target):
    """Guided backpropagation written out with NumPy for _small_net (float64)."""
    conv, _, pool, _, lin1, _, lin2 = list(net)
    w, b = conv.weight.data, conv.bias.data
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h1 = np.zeros((len(x), 3, 6, 6))
    for i in range(6):
        for j in range(6):
            h1[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, i:i + 3, j:j + 3], w) + b
    r1 = np.maximum(h1, 0)
    blocks = r1.reshape(len(x), 3, 3, 2, 3, 2)
    p = blocks.max(axis=(3, 5))
    h2 = p.reshape(len(x), -1) @ lin1.weight.data.T + lin1.bias.data
    g = np.zeros((len(x), 3))
    g[np.arange(len(x)), target] = 1
    g = g @ lin2.weight.data                                     # into the second ReLU
    g = g * (h2 > 0) * (g > 0)
    g = (g @ lin1.weight.data).reshape(p.shape)                  # into the max pool
    gr = np.zeros_like(r1)
    for n in range(len(x)):
        for c in range(3):
            for i in range(3):
                for j in range(3):
                    win = r1[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    a, bb = np.unravel_index(np.argmax(win), (2, 2))
                    gr[n, c, 2 * i + a, 2 * j + bb] += g[n, c, i, j]
    gh = gr * (h1 > 0) * (gr > 0)                                # the first ReLU, guided
    gx = np.zeros_like(xp)
    for i in range(6):
        for j in range(6):
            gx[:, :, i:i + 3, j:j + 3] += np.einsum("no,ochw->nchw", gh[:, :, i, j], w)
    return gx[:, :, 1:-1, 1:-1]


def test_guided_backpropagation():
    net = _small_net(3)
    x = np.random.default_rng(2).standard_normal((3, 2, 6, 6))
    target = np.array([0, 1, 2])
    guided = viz.saliency(net, x, "guided", target=target)
    np.testing.assert_allclose(guided, _guided_reference(net, x, target), rtol=1e-10, atol=1e-12)
    assert not np.allclose(guided, viz.saliency(net, x, "gradient", target=target))


def test_saliency_restores_the_model_exactly():
    net = _small_net()
    net.train()
    net[0].train(False)                                  # a mixed state, restored as it was
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    net(x)
    for p in net.parameters():
        p.grad[...] = 7.0
    before = {id(m): dict(m.__dict__) for m in net.modules()}
    grads = [p.grad for p in net.parameters()]
    for method in ("gradient", "guided"):
        viz.saliency(net, x[0], method)
        with pytest.raises(ValueError, match="target"):
            viz.saliency(net, x, method, target=5)       # fails after the forward: still restored
    for m in net.modules():
        assert m.__dict__.keys() == before[id(m)].keys()
        assert all(m.__dict__[k] is v for k, v in before[id(m)].items())
        assert "backward" not in m.__dict__
    assert [p.grad for p in net.parameters()] == grads and all((g == 7).all() for g in grads)
    assert nn.ReLU.backward is nn.layers.ReLU.backward and "backward" in vars(nn.ReLU)


def test_saliency_of_a_logit_and_errors():
    from cnnpy import models
    net = models.GausNet(rng=0)
    x = np.random.default_rng(0).standard_normal((1, 91, 91)).astype(np.float32)
    s = viz.saliency(net, x)
    assert s.shape == x.shape and s.dtype == np.float32 and np.abs(s).max() > 0
    with pytest.raises(ValueError, match="method"):
        viz.saliency(net, x, "deconv")
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        viz.saliency(nn.Sequential(nn.Conv2d(1, 1, 3)), x)


# ---- plots --------------------------------------------------------------------------------------------

def _images(fig):
    return [im.get_array() for ax in fig.axes for im in ax.get_images()]


def test_show_kernels_draws_the_weights():
    conv = nn.Conv2d(2, 3, 3, rng=0)
    fig = viz.show_kernels(conv)
    arrays = _images(fig)
    assert len(arrays) == 6
    drawn = {(o, i) for o in range(3) for i in range(2)}
    for o, i in sorted(drawn):
        assert any(np.array_equal(a, conv.weight.data[o, i]) for a in arrays)
    assert len(_images(viz.show_kernels(K))) == 1
    with pytest.raises(ValueError, match="max_kernels"):
        viz.show_kernels(np.zeros((10, 10, 3, 3)))
    with pytest.raises(TypeError, match="no weight"):
        viz.show_kernels(nn.ReLU())


def test_show_feature_maps_draws_every_layer():
    net = _small_net()
    x = np.random.default_rng(0).standard_normal((2, 6, 6))
    fig = viz.show_feature_maps(net, x)
    arrays = _images(fig)
    h, expected = x[None], [x[0], x[1]]
    for layer in net:
        h = layer(h)
        expected.extend(h[0] if h.ndim == 4 else [h.reshape(1, -1)])
    assert len(arrays) == len(expected)
    for a, e in zip(arrays, expected):
        np.testing.assert_array_equal(a, e)
    with pytest.raises(ValueError, match="one image"):
        viz.show_feature_maps(net, np.zeros((2, 2, 6, 6)))


def test_show_images_and_labels():
    batch = np.random.default_rng(0).random((5, 1, 8, 8))
    fig = viz.show_images(batch, labels=np.array([[0.], [1.], [1.], [0.], [1.]]), ncols=3)
    for a, b in zip(_images(fig), batch[:, 0]):
        np.testing.assert_array_equal(a, b)
    titles = [ax.get_title() for ax in fig.axes if ax.get_images()]
    assert titles == ["0", "1", "1", "0", "1"]
    assert len(_images(viz.show_images(np.zeros((3, 784))))) == 3
    with pytest.raises(ValueError, match="2 labels for 5 images"):
        viz.show_images(batch, labels=[0, 1])


def test_history_plot():
    h = training.History()
    for e, (a, b) in enumerate([(0.9, 0.5), (0.7, 0.6), (0.4, 0.8)], start=1):
        h.record(e, train_loss=a, val_loss=a + 0.1, train_accuracy=b, val_accuracy=b - 0.1, seconds=1.0)
    fig = h.plot()
    lines = {line.get_label(): line.get_ydata() for ax in fig.axes for line in ax.get_lines()}
    assert set(lines) == {"train loss", "validation loss", "train accuracy", "validation accuracy"}
    np.testing.assert_array_equal(lines["train loss"], h["train_loss"])
    np.testing.assert_array_equal(lines["validation accuracy"], h["val_accuracy"])
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    with pytest.raises(KeyError, match="not recorded"):
        h.plot(["val_f1"])


def test_show_saliency():
    net = _small_net()
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6))
    fig = viz.show_saliency({"net": net}, x)
    arrays = _images(fig)
    assert len(arrays) == 2 * 3
    np.testing.assert_allclose(arrays[1], np.abs(viz.saliency(net, x, "gradient")).max(axis=1)[0])
    np.testing.assert_allclose(arrays[2], np.abs(viz.saliency(net, x, "guided")).max(axis=1)[0])
