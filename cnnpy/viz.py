"""cnnpy.viz: pictures of what the engine computes, for the lecture and for a trained network.

* ``animate(op, input_size, kernel_size, ...)``: a convolution, transpose convolution or pooling
  step by step (padding shaded with the values each mode copies, the window at each step, the
  output cell it produces); shown inline in Jupyter, saved as GIF or MP4.
* ``show_kernels``, ``show_feature_maps``, ``show_images``, ``plot_history`` (``History.plot()``).
* ``saliency(model, x, method="gradient" | "guided")`` and ``show_saliency``: what the input
  pixels contribute to a prediction, through the layers' own backward.

Every number drawn comes from the engine (``cnnpy.functional`` and the layers); this module only
decides where to draw it. It needs matplotlib and Pillow: ``pip install "cnnpy[plot]"``.

>>> import numpy as np
>>> from cnnpy import viz
>>> I = np.array([[0, 1, 0, 0, 1]] * 2 + [[0, 1, 1, 1, 1]] + [[0, 1, 0, 0, 1]] * 2, dtype=float)
>>> K = np.array([[1., 1, 1], [-1, -1, -1], [0, 0, 0]])
>>> anim = viz.animate("conv2d", input=I, weight=K, padding=1, stride=2)
>>> anim.frames, anim.output.tolist()
(9, [[-1.0, -1.0, -1.0], [0.0, -2.0, -1.0], [0.0, 0.0, 0.0]])
"""
from __future__ import annotations

import base64
import io
import math
import re
import shutil

import numpy as np

from . import functional as F
from .nn.layers import ReLU
from .nn.module import Module, Parameter, Sequential
from .shapes import conv_padding

__all__ = ["animate", "Animation", "GIF", "show_kernels", "show_feature_maps", "show_images",
           "plot_history", "saliency", "show_saliency"]

OPS = ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d",
       "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")

# colours of the animation's cells
_INPUT, _PAD, _KERNEL, _DONE, _EMPTY = "#dbe9f6", "#e4e4e4", "#fde0c5", "#d9f0d3", "#ffffff"
_WINDOW, _CROP, _OUTSIDE = "#d62728", "#bdbdbd", "#f7f7f7"
_CELL = 0.42  # inches per grid cell
# the HTML5 player's buttons, as characters instead of matplotlib's Font Awesome icons
_PLAYER_ICONS = {"fa-minus": "−", "fa-plus": "+", "fa-fast-backward": "⇤", "fa-step-backward": "◁",
                 "fa-play fa-flip-horizontal": "◀", "fa-pause": "‖", "fa-play": "▶",
                 "fa-step-forward": "▷", "fa-fast-forward": "⇥"}


def _matplotlib():
    """matplotlib, or an ImportError that names the extra to install."""
    try:
        import matplotlib
        import matplotlib.figure  # noqa: F401
        import matplotlib.patches  # noqa: F401
    except ImportError as err:
        raise ImportError('cnnpy.viz needs matplotlib and Pillow, the "plot" extra: '
                          'pip install "cnnpy[plot]"') from err
    return matplotlib


def _pyplot():
    _matplotlib()
    import matplotlib.pyplot as plt
    return plt


def _pil_image():
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError('cnnpy.viz needs Pillow to write GIFs, part of the "plot" extra: '
                          'pip install "cnnpy[plot]"') from err
    return Image


def _fmt(v) -> str:
    """How a number is written in a cell: integers exactly, others with 4 significant digits."""
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "-∞" if v < 0 else "∞"
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


# ---- animate: the geometry of one operation --------------------------------------------------------

def _pair(op, name, value, dims, one=1):
    """An int or a sequence of `dims` ints -> (h, w); 1-D ops get h = `one`."""
    if isinstance(value, (tuple, list)):
        if len(value) != dims:
            raise ValueError(f"animate: {name} for {op} must be an int or {dims} ints, got {value!r}")
        vals = [int(v) for v in value]
    else:
        vals = [int(value)] * dims
    return (one, vals[0]) if dims == 1 else (vals[0], vals[1])


def _given_or_drawn(op, dims, what, array, size, size_name, rng, low, high):
    """The input or kernel as a 2-D grid (1-D ops: one row): the given array, or integers in
    [low, high] drawn from `rng` in the given size."""
    name = "input" if what == "input" else "weight"
    if array is not None:
        a = np.asarray(array, dtype=float)
        if a.ndim != dims:
            raise ValueError(f"animate: {name} for {op} must be a {dims}-D array, got shape {a.shape}")
        a2 = a.reshape(1, -1) if dims == 1 else a
        if size is not None and _pair(op, size_name, size, dims) != a2.shape:
            raise ValueError(f"animate: {size_name}={size!r} does not match {name} of shape {a.shape}")
        return a2
    if size is None:
        raise ValueError(f"animate: {op} needs {size_name} or an {name} array" if name == "input" else
                         f"animate: {op} needs {size_name} or a {name} array")
    h, w = _pair(op, size_name, size, dims)
    if h < 1 or w < 1:
        raise ValueError(f"animate: {size_name} must be positive, got {size!r}")
    return rng.integers(low, high + 1, size=(h, w)).astype(float)


def _bare(a, dims):
    return a[0] if dims == 1 else a


def _grid(a, dims):
    return np.asarray(a, dtype=float).reshape(1, -1) if dims == 1 else np.asarray(a, dtype=float)


class _Scene:
    """What one animation draws, all numbers already computed by the engine: the grid on the left
    (``values``, with ``kinds`` 'in' / 'pad' / 'out' per cell and ``sources`` naming the input cell
    a padding cell copies), the kernel, the right-hand grid per frame, and per frame the cells of the
    window on the left and of the result on the right."""

    def __init__(self):
        self.values = self.kinds = self.sources = None
        self.in_shape = None             # the unpadded input's (rows, cols): sources index into it
        self.kernel = None               # 2-D, or None for pooling
        self.kernel_label = ""
        self.out_values = []             # per frame: the right-hand grid's values (NaN = empty)
        self.out_kinds = None            # 'keep' / 'crop' per cell of the right-hand grid
        self.windows = []                # per frame: [(row, col), ...] on the left grid
        self.targets = []                # per frame: [(row, col), ...] on the right grid
        self.marks = []                  # per frame: left-grid cells drawn specially (argmax)
        self.titles = []
        self.left_title = self.right_title = self.footer = ""


def _mode_name(padding_mode):
    return {"mirror": "reflect", "edge": "replicate", "wrap": "circular"}.get(padding_mode, padding_mode)


def _conv_scene(op, dims, x, k, stride, padding, dilation, padding_mode, value, mode):
    conv = F.conv1d if dims == 1 else F.conv2d
    out = _grid(conv(_bare(x, dims), _bare(k, dims), stride=stride, padding=padding, dilation=dilation,
                     padding_mode=padding_mode, value=value, mode=mode), dims)   # checks the arguments
    (sh, sw), (dh, dw) = _pair(op, "stride", stride, dims), _pair(op, "dilation", dilation, dims)
    sizes, ks = x.shape, k.shape
    # the per-side padding exactly as the engine resolves it (strings, pairs, per-dim forms)
    (pt, pb), (pl, pr) = conv_padding(op, padding, dims, sizes if dims == 2 else sizes[1:],
                                         ks if dims == 2 else ks[1:], (sh, sw) if dims == 2 else (sw,),
                                         (dh, dw) if dims == 2 else (dw,))
    fill = 0.0 if padding_mode == "zeros" else float(value)
    pad_mode = "constant" if padding_mode == "zeros" else padding_mode
    pads = (pl, pr) if dims == 1 else (pl, pr, pt, pb)
    padded = F.pad(x, pads, mode=pad_mode, value=fill)
    # where each padded cell comes from: pad the cell numbers the same way (-1: a constant fill)
    index = np.arange(x.size, dtype=float).reshape(x.shape)
    src = F.pad(index, pads, mode=pad_mode, value=-1.0).astype(np.int64)
    kern = k[::-1, ::-1] if mode == "conv" else k
    # the picture must be the engine's computation: a valid convolution of the padded grid
    check = _grid(conv(_bare(padded, dims), _bare(kern, dims), stride=stride, dilation=dilation), dims)
    if not np.allclose(check, out, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(out).max()))):
        raise RuntimeError(f"animate: the padded input does not reproduce {op}'s result; please report this")
    s = _Scene()
    s.values = padded
    s.kinds = np.full(padded.shape, "pad", dtype=object)
    s.kinds[pt:pt + x.shape[0], pl:pl + x.shape[1]] = "in"
    s.sources, s.in_shape = src, x.shape
    s.kernel = kern
    s.kernel_label = "kernel (flipped: mode='conv')" if mode == "conv" else "kernel"
    _slide(s, out, (sh, sw), (dh, dw), k.shape, dims, "sum(window × kernel)")
    pad_txt = _pad_text(padding, (pt, pb, pl, pr), dims)
    mode_txt = "" if not any((pt, pb, pl, pr)) else f" '{_mode_name(padding_mode)}'" + \
        (f" (value {_fmt(fill)})" if padding_mode == "constant" else "")
    s.left_title = f"input {_size(x.shape, dims)}, padding {pad_txt}{mode_txt}"
    s.right_title = f"output {_size(out.shape, dims)}"
    s.header = (f"{op}: kernel {_size(k.shape, dims)}, stride {_hv((sh, sw), dims)}, "
                f"dilation {_hv((dh, dw), dims)}")
    s.result = out
    return s


def _pool_scene(op, dims, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad):
    is_max = op.startswith("max")
    bare = _bare(x, dims)
    if is_max:
        pool = F.max_pool1d if dims == 1 else F.max_pool2d
        out, idx = pool(bare, kernel_size, stride=stride, padding=padding, dilation=dilation,
                        ceil_mode=ceil_mode, return_indices=True)
        idx = _grid(idx, dims).astype(np.int64)
        fill = -np.inf
    else:
        pool = F.avg_pool1d if dims == 1 else F.avg_pool2d
        out = pool(bare, kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                   count_include_pad=count_include_pad)
        idx, fill = None, 0.0
    out = _grid(out, dims)
    (kh, kw) = _pair(op, "kernel_size", kernel_size, dims)
    (sh, sw) = (kh, kw) if stride is None else _pair(op, "stride", stride, dims)
    (ph, pw) = _pair(op, "padding", padding, dims, one=0)
    (dh, dw) = _pair(op, "dilation", dilation, dims) if is_max else (1, 1)
    oh, ow = out.shape
    # with ceil_mode the last windows may reach past the padded input: draw those cells too
    rows = max(x.shape[0] + 2 * ph, (oh - 1) * sh + dh * (kh - 1) + 1)
    cols = max(x.shape[1] + 2 * pw, (ow - 1) * sw + dw * (kw - 1) + 1)
    padded = F.pad(x, (pw, pw) if dims == 1 else (pw, pw, ph, ph), mode="constant", value=fill)
    s = _Scene()
    s.values = np.full((rows, cols), np.nan)
    s.values[:padded.shape[0], :padded.shape[1]] = padded
    s.kinds = np.full((rows, cols), "out", dtype=object)
    s.kinds[:padded.shape[0], :padded.shape[1]] = "pad"
    s.kinds[ph:ph + x.shape[0], pw:pw + x.shape[1]] = "in"
    s.sources, s.in_shape = np.full((rows, cols), -1, dtype=np.int64), x.shape

    def argmax(i, j):  # the engine's argmax, a flat index into the unpadded input
        r, c = divmod(int(idx[i, j]), x.shape[1])
        return [(r + ph, c + pw)]

    _slide(s, out, (sh, sw), (dh, dw), (kh, kw), dims, "max(window)" if is_max else "mean(window)",
           argmax if is_max else None)
    s.left_title = (f"input {_size(x.shape, dims)}, padding {_hv((ph, pw), dims)}"
                    + (" (-∞)" if is_max and (ph or pw) else "")
                    + (" (zeros not counted)" if not is_max and (ph or pw) and not count_include_pad else ""))
    s.right_title = f"output {_size(out.shape, dims)}" + (", ceil_mode" if ceil_mode else "")
    s.header = (f"{op}: window {_size((kh, kw), dims)}, stride {_hv((sh, sw), dims)}"
                + (f", dilation {_hv((dh, dw), dims)}" if is_max else ""))
    s.result = out
    return s


def _slide(s, out, stride, dilation, kernel_shape, dims, formula, mark=None):
    """The frames of a sliding window, one per output cell, row by row: the window's cells on the
    left grid, the output filled in up to this cell, ``mark(i, j)`` cells drawn specially."""
    (sh, sw), (dh, dw), (kh, kw) = stride, dilation, kernel_shape
    s.out_kinds = np.full(out.shape, "keep", dtype=object)
    shown = np.full(out.shape, np.nan)
    for t in range(out.size):
        i, j = divmod(t, out.shape[1])
        shown = shown.copy()
        shown[i, j] = out[i, j]
        s.out_values.append(shown)
        s.windows.append([(i * sh + a * dh, j * sw + b * dw) for a in range(kh) for b in range(kw)])
        s.targets.append([(i, j)])
        s.marks.append([] if mark is None else mark(i, j))
        where = f"[{j}]" if dims == 1 else f"[{i}, {j}]"
        s.titles.append(f"out{where} = {formula} = {_fmt(out[i, j])}")


def _transpose_scene(op, dims, x, k, stride, padding, dilation, output_padding):
    tconv = F.conv_transpose1d if dims == 1 else F.conv_transpose2d
    out = _grid(tconv(_bare(x, dims), _bare(k, dims), stride=stride, padding=padding,
                      output_padding=output_padding, dilation=dilation), dims)   # checks the arguments
    (sh, sw), (dh, dw) = _pair(op, "stride", stride, dims), _pair(op, "dilation", dilation, dims)
    (ph, pw) = _pair(op, "padding", padding, dims, one=0)
    (oph, opw) = _pair(op, "output_padding", output_padding, dims, one=0)
    # the uncropped result: the same call without padding (output_padding is still allowed, it
    # depends only on stride and dilation); each frame adds one more input cell's stamp
    m = x.shape[0] * x.shape[1]
    partial = []
    for t in range(m):
        masked = np.where(np.arange(m).reshape(x.shape) <= t, x, 0.0)
        partial.append(_grid(tconv(_bare(masked, dims), _bare(k, dims), stride=stride, padding=0,
                                   output_padding=output_padding, dilation=dilation), dims))
    full = partial[-1]
    crop = full[ph:full.shape[0] - ph, pw:full.shape[1] - pw]
    if crop.shape != out.shape or not np.allclose(crop, out, rtol=1e-12, atol=1e-12):
        raise RuntimeError(f"animate: the uncropped result does not reproduce {op}'s; please report this")
    s = _Scene()
    s.values = x
    s.kinds = np.full(x.shape, "in", dtype=object)
    s.sources, s.in_shape = np.full(x.shape, -1, dtype=np.int64), x.shape
    s.kernel, s.kernel_label = k, "kernel"
    s.out_kinds = np.full(full.shape, "crop", dtype=object)
    s.out_kinds[ph:full.shape[0] - ph, pw:full.shape[1] - pw] = "keep"
    touched = np.zeros(full.shape, bool)
    for t in range(m):
        i, j = divmod(t, x.shape[1])
        cells = [(i * sh + a * dh, j * sw + b * dw) for a in range(k.shape[0]) for b in range(k.shape[1])]
        for r, c in cells:
            touched[r, c] = True
        shown = np.where(touched, partial[t], np.nan)
        if t == m - 1:  # the last frame shows the engine's own result where it is kept
            shown[ph:full.shape[0] - ph, pw:full.shape[1] - pw] = out
        s.out_values.append(shown)
        s.windows.append([(i, j)])
        s.targets.append(cells)
        s.marks.append([])
        where = f"[{j}]" if dims == 1 else f"[{i}, {j}]"
        s.titles.append(f"x{where} = {_fmt(x[i, j])} adds {_fmt(x[i, j])} × kernel at "
                        f"{_hv((i * sh, j * sw), dims)}")
    s.left_title = f"input {_size(x.shape, dims)}"
    extra = []
    if ph or pw:
        extra.append(f"grey: cropped by padding {_hv((ph, pw), dims)}")
    if oph or opw:
        lines = "rows/columns" if dims == 2 else "cells"
        extra.append(f"output_padding {_hv((oph, opw), dims)}: that many more {lines} kept at the end")
    s.right_title = f"output {_size(out.shape, dims)}"
    s.footer = "; ".join(extra)
    s.header = (f"{op}: kernel {_size(k.shape, dims)}, stride {_hv((sh, sw), dims)}, "
                f"dilation {_hv((dh, dw), dims)}")
    s.result = out
    return s


def _size(shape, dims):
    return str(shape[1]) if dims == 1 else f"{shape[0]}x{shape[1]}"


def _hv(pair, dims):
    return str(pair[1]) if dims == 1 else (str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})")


def _pad_text(padding, sides, dims):
    pt, pb, pl, pr = sides
    if isinstance(padding, str):
        return f"'{padding}' = " + (f"({pl}, {pr})" if dims == 1 else f"(({pt}, {pb}), ({pl}, {pr}))")
    if dims == 1:
        return str(pl) if pl == pr else f"({pl}, {pr})"
    if pt == pb == pl == pr:
        return str(pt)
    return f"(({pt}, {pb}), ({pl}, {pr}))"


# ---- animate: drawing --------------------------------------------------------------------------------

class Animation:
    """An operation drawn step by step (made by ``animate``): ``frames`` pictures, one per output
    cell (per input cell for a transpose convolution).

    * In Jupyter it shows itself as an HTML5 animation with play controls (``to_jshtml()``).
    * ``save("conv.gif")`` writes a GIF (Pillow); ``save("conv.mp4")`` needs ffmpeg on PATH;
      ``save("conv.html")`` writes the HTML5 animation; ``gif()`` shows the GIF in Jupyter.
    * ``draw(t)`` draws frame ``t`` and returns the matplotlib Figure; ``frame_image(t)`` returns it
      as a PIL image.
    * ``input`` (padded, as drawn), ``kernel`` and ``output`` are the engine's arrays it draws.
    """

    def __init__(self, op, scene, interval, dpi, annotate):
        self.op = op
        self._s = scene
        self.interval = int(interval)
        self.dpi = dpi
        self.input = scene.values
        self.kernel = scene.kernel
        self.output = scene.result
        self.frames = len(scene.windows)
        biggest = max(max(a.shape) for a in (scene.values, scene.out_values[0]))
        self._annotate = biggest <= 16 if annotate is None else bool(annotate)
        self._build()

    # one figure, built once; each frame only moves the window and fills in cells
    def _build(self):
        _matplotlib()
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
        s = self._s
        grids = [s.values.shape] + ([s.kernel.shape] if s.kernel is not None else []) + [s.out_values[0].shape]
        widths = [g[1] for g in grids]
        rows = max(g[0] for g in grids)
        gap = 1.2
        cell = min(_CELL, 11.0 / (sum(widths) + gap * (len(grids) - 1)))   # at most ~11 inches wide
        width_in = cell * (sum(widths) + gap * (len(grids) - 1)) + 0.4
        foot = 0.3 if s.footer else 0.0
        height_in = cell * rows + 1.25 + foot
        fig = Figure(figsize=(max(width_in, 4.6), height_in), dpi=self.dpi)
        canvas = FigureCanvasAgg(fig)  # drawn off-screen: never shown twice by pyplot in a notebook
        # each frame is drawn once, when it is saved; FuncAnimation's extra redraw is not needed
        canvas.draw_idle = lambda *args, **kwargs: None
        gs = fig.add_gridspec(1, len(grids), width_ratios=widths, wspace=gap / max(widths),
                              left=0.2 / max(width_in, 4.6), right=1 - 0.2 / max(width_in, 4.6),
                              top=1 - 0.85 / height_in, bottom=(0.2 + foot) / height_in)
        axes = [fig.add_subplot(gs[0, i]) for i in range(len(grids))]
        for ax, (h, w) in zip(axes, grids):
            ax.set_xlim(-0.05, w + 0.05)
            ax.set_ylim(rows + 0.05 - (rows - h) / 2, -0.05 - (rows - h) / 2)
            ax.set_aspect("equal")
            ax.axis("off")
        self.figure = fig
        self._ax_in, self._ax_out = axes[0], axes[-1]
        font = 9 if max(widths) <= 12 else 7
        self._font = font
        # the left grid: input cells, padding (with the cell it copies) and cells outside
        for (r, c), v in np.ndenumerate(s.values):
            kind = s.kinds[r, c]
            face = {"in": _INPUT, "pad": _PAD, "out": _OUTSIDE}[kind]
            self._ax_in.add_patch(Rectangle((c, r), 1, 1, facecolor=face, edgecolor="#9e9e9e", lw=0.6,
                                            ls="--" if kind == "out" else "-"))
            if kind != "out" and self._annotate:
                self._ax_in.text(c + 0.5, r + 0.5, _fmt(v), ha="center", va="center",
                                 fontsize=self._fit(_fmt(v)), gid="in",
                                 color="#555555" if kind == "pad" else "black",
                                 style="italic" if kind == "pad" else "normal")
            if kind == "pad" and s.sources[r, c] >= 0 and self._annotate:
                sr, sc = divmod(int(s.sources[r, c]), s.in_shape[1])
                label = f"x{sc}" if self.op.endswith("1d") else f"x{sr},{sc}"
                self._ax_in.text(c + 0.96, r + 0.97, label, ha="right", va="bottom", fontsize=5.5,
                                 color="#1f5fa8", gid="source")
        self._ax_in.set_title(s.left_title, fontsize=8)
        # the kernel
        if s.kernel is not None:
            axk = axes[1]
            for (r, c), v in np.ndenumerate(s.kernel):
                axk.add_patch(Rectangle((c, r), 1, 1, facecolor=_KERNEL, edgecolor="#9e9e9e", lw=0.6))
                if self._annotate:
                    axk.text(c + 0.5, r + 0.5, _fmt(v), ha="center", va="center",
                             fontsize=self._fit(_fmt(v)), gid="kernel")
            axk.set_title(s.kernel_label, fontsize=8)
        # the right grid: every cell's patch and text, filled in per frame
        self._out_patches, self._out_texts = {}, {}
        for (r, c), kind in np.ndenumerate(s.out_kinds):
            p = Rectangle((c, r), 1, 1, facecolor=_EMPTY, edgecolor="#9e9e9e", lw=0.6,
                          hatch="///" if kind == "crop" else None)
            self._ax_out.add_patch(p)
            self._out_patches[r, c] = p
            self._out_texts[r, c] = self._ax_out.text(c + 0.5, r + 0.5, "", ha="center", va="center",
                                                      fontsize=font, gid="out")
        self._ax_out.set_title(s.right_title, fontsize=8)
        # the window (left) and the cells it produces (right), moved per frame
        self._win = [Rectangle((0, 0), 1, 1, fill=False, edgecolor=_WINDOW, lw=2.2, zorder=5)
                     for _ in s.windows[0]]
        for p in self._win:
            self._ax_in.add_patch(p)
        self._mark = Rectangle((0, 0), 1, 1, facecolor=_WINDOW, alpha=0.25, lw=0, zorder=4, visible=False)
        self._ax_in.add_patch(self._mark)
        self._tgt = [Rectangle((0, 0), 1, 1, fill=False, edgecolor=_WINDOW, lw=2.2, zorder=5)
                     for _ in s.targets[0]]
        for p in self._tgt:
            self._ax_out.add_patch(p)
        fig.text(0.5, 1 - 0.2 / height_in, s.header, ha="center", va="top", fontsize=9, weight="bold")
        if s.footer:
            fig.text(0.5, 0.12 / height_in, s.footer, ha="center", va="bottom", fontsize=8, color="#555555")
        self._title = fig.text(0.5, 1 - 0.45 / height_in, "", ha="center", va="top", fontsize=9,
                               color=_WINDOW)

    def _fit(self, text):
        return self._font if len(text) <= 3 else max(5.0, self._font * 3.2 / len(text))

    def draw(self, t: int):
        """Draw frame ``t`` (0 <= t < frames) into ``self.figure`` and return the figure."""
        if not 0 <= int(t) < self.frames:
            raise IndexError(f"Animation.draw: frame {t} is out of range 0..{self.frames - 1}")
        t = int(t)
        s = self._s
        for p, (r, c) in zip(self._win, s.windows[t]):
            p.set_xy((c, r))
        marks = s.marks[t]
        self._mark.set_visible(bool(marks))
        if marks:
            self._mark.set_xy((marks[0][1], marks[0][0]))
        for p, (r, c) in zip(self._tgt, s.targets[t]):
            p.set_xy((c, r))
        shown = s.out_values[t]
        for (r, c), v in np.ndenumerate(shown):
            empty = np.isnan(v)
            txt = "" if empty or not self._annotate else _fmt(v)
            self._out_texts[r, c].set_text(txt)
            self._out_texts[r, c].set_fontsize(self._fit(txt))
            crop = s.out_kinds[r, c] == "crop"
            self._out_patches[r, c].set_facecolor(_EMPTY if empty else (_CROP if crop else _DONE))
            self._out_texts[r, c].set_color("#555555" if crop else "black")
        self._title.set_text(s.titles[t])
        return self.figure

    def drawn_output(self, t: int | None = None) -> dict:
        """The texts of the right-hand grid after frame ``t`` (default: the last), as
        ``{(row, col): text}`` for every cell that shows a number."""
        self.draw(self.frames - 1 if t is None else t)
        return {rc: txt.get_text() for rc, txt in self._out_texts.items() if txt.get_text()}

    def frame_image(self, t: int, dpi=None):
        """Frame ``t`` as a PIL image (RGB)."""
        Image = _pil_image()
        buf = io.BytesIO()
        self.draw(t).savefig(buf, format="png", dpi=dpi or self.dpi, facecolor="white")
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    def _func_animation(self):
        from matplotlib.animation import FuncAnimation
        return FuncAnimation(self.figure, lambda t: self.draw(t), frames=self.frames,
                             interval=self.interval, blit=False, repeat=True)

    def to_jshtml(self, default_mode: str = "loop") -> str:
        """The animation as HTML with play controls (matplotlib's JavaScript player, frames
        embedded as PNG). Self-contained: the player's icons, which matplotlib takes from a
        stylesheet on a CDN, are replaced by characters, so it works offline and fetches nothing."""
        html = self._func_animation().to_jshtml(default_mode=default_mode)
        html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
        return re.sub(r'<i class="fa (fa-[a-z-]+(?: fa-flip-horizontal)?)"></i>',
                      lambda m: _PLAYER_ICONS.get(m.group(1), "?"), html)

    def _repr_html_(self):
        return self.to_jshtml()

    def _gif_bytes(self, fps, dpi, hold) -> bytes:
        images = [self.frame_image(t, dpi) for t in range(self.frames)]
        # one shared palette keeps the file small and the colours steady between frames
        palette = images[-1].quantize(colors=64, method=2)
        frames = [im.quantize(palette=palette, dither=0) for im in images]
        durations = [int(round(1000 / fps))] * len(frames)
        durations[-1] += int(hold * 1000)
        buf = io.BytesIO()
        frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0, optimize=True, disposal=1)
        return buf.getvalue()

    def gif(self, fps=None, dpi=None, hold: float = 1.5) -> "GIF":
        """The animation as a GIF that Jupyter displays as an image (lighter than the HTML5
        player, without its controls); ``.data`` holds the file's bytes."""
        return GIF(self._gif_bytes(1000.0 / self.interval if fps is None else float(fps), dpi, hold))

    def save(self, path, fps=None, dpi=None, hold: float = 1.5) -> None:
        """Write the animation to ``path``: ``.gif`` (Pillow; the last frame is held ``hold``
        seconds), ``.mp4`` (needs ffmpeg on PATH) or ``.html`` (the HTML5 player)."""
        path = str(path)
        ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        fps = 1000.0 / self.interval if fps is None else float(fps)
        if ext == "gif":
            with open(path, "wb") as f:
                f.write(self._gif_bytes(fps, dpi, hold))
        elif ext == "mp4":
            if shutil.which("ffmpeg") is None:
                raise RuntimeError("Animation.save: writing MP4 needs ffmpeg on PATH (e.g. apt-get "
                                   "install ffmpeg, or conda install ffmpeg); save a .gif instead, "
                                   "which needs only Pillow")
            from matplotlib.animation import FFMpegWriter
            self._func_animation().save(path, writer=FFMpegWriter(fps=fps), dpi=dpi or self.dpi)
        elif ext == "html":
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.to_jshtml())
        else:
            raise ValueError(f"Animation.save: unknown file type {path!r}; use .gif, .mp4 or .html")

    def __repr__(self):
        return f"<cnnpy.viz.Animation {self._s.header}: {self.frames} frames>"


class GIF:
    """GIF bytes that Jupyter displays as an image (``Animation.gif()``)."""

    def __init__(self, data: bytes):
        self.data = data

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/gif": base64.b64encode(self.data).decode("ascii"),
                "text/plain": f"<GIF, {len(self.data):,} bytes>"}

    def save(self, path) -> None:
        with open(path, "wb") as f:
            f.write(self.data)


def animate(op: str, input_size=None, kernel_size=None, stride=None, padding=0, dilation=1,
            output_padding=0, *, padding_mode: str = "zeros", value: float = 0.0,
            ceil_mode: bool = False, count_include_pad: bool = True, mode: str = "xcorr",
            input=None, weight=None, seed=0, interval: int = 700, dpi: int = 80,
            annotate=None) -> Animation:
    """Animate one operation step by step: the input grid with its padding shaded (each padded
    cell shows the value the padding mode puts there and, small and blue, the input cell it
    copies), the window at each step, and the output cell it produces with its value. A transpose
    convolution is drawn the other way round: each input cell stamps a scaled kernel into the
    uncropped output, and padding crops (hatched) what is not kept.

    ``op``: 'conv1d', 'conv2d', 'conv_transpose1d', 'conv_transpose2d', 'max_pool1d',
    'max_pool2d', 'avg_pool1d' or 'avg_pool2d'; the other arguments are those of the function of
    the same name in ``cnnpy.functional`` (every padding form and ``padding_mode`` of convolution,
    ``ceil_mode`` and ``count_include_pad`` of pooling, ``output_padding`` and ``dilation``).
    ``stride`` defaults as in PyTorch: 1 for convolutions, the kernel size for pooling.

    ``input``/``weight`` draw given arrays (e.g. the lecture's image and kernel; 1-D for the 1-D
    ops); otherwise ``input_size`` and ``kernel_size`` give the sizes and small integers are drawn
    from ``seed``. Every number drawn is computed by ``cnnpy.functional``; ``annotate`` writes
    them in the cells (default: when no grid is wider than 16 cells). ``interval`` is the time per
    frame in milliseconds, ``dpi`` the resolution of the frames.

    >>> from cnnpy import viz
    >>> anim = viz.animate("conv2d", 5, 3, padding=1, stride=2)
    >>> anim.frames, anim.output.shape
    (9, (3, 3))
    >>> anim.save("stride2.gif")                                          # doctest: +SKIP

    PyTorch: none; the pictures of Dumoulin & Visin's "A guide to convolution arithmetic".
    """
    if op not in OPS:
        raise ValueError(f"animate: op must be one of {', '.join(OPS)}; got {op!r}")
    dims = 1 if op.endswith("1d") else 2
    rng = np.random.default_rng(seed)
    if stride is None and not op.startswith(("max_pool", "avg_pool")):
        stride = 1
    if op.startswith(("max_pool", "avg_pool")):
        if kernel_size is None:
            raise ValueError(f"animate: {op} needs kernel_size")
        if weight is not None:
            raise ValueError(f"animate: {op} has no weight")
        x = _given_or_drawn(op, dims, "input", input, input_size, "input_size", rng, 0, 9)
        scene = _pool_scene(op, dims, x, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad)
    elif op.startswith("conv_transpose"):
        x = _given_or_drawn(op, dims, "input", input, input_size, "input_size", rng, 1, 3)
        k = _given_or_drawn(op, dims, "kernel", weight, kernel_size, "kernel_size", rng, 0, 2)
        scene = _transpose_scene(op, dims, x, k, stride, padding, dilation, output_padding)
    else:
        x = _given_or_drawn(op, dims, "input", input, input_size, "input_size", rng, 0, 9)
        k = _given_or_drawn(op, dims, "kernel", weight, kernel_size, "kernel_size", rng, -1, 1)
        scene = _conv_scene(op, dims, x, k, stride, padding, dilation, padding_mode, value, mode)
    return Animation(op, scene, interval, dpi, annotate)


# ---- a model's weights, activations and data --------------------------------------------------------

def _weight_array(layer_or_array) -> np.ndarray:
    if isinstance(layer_or_array, Module):
        w = getattr(layer_or_array, "weight", None)
        if not isinstance(w, Parameter):
            raise TypeError(f"show_kernels: {type(layer_or_array).__name__} has no weight; pass a "
                            f"convolution layer or an array")
        return np.asarray(w.data, dtype=float)
    if isinstance(layer_or_array, Parameter):
        return np.asarray(layer_or_array.data, dtype=float)
    return np.asarray(layer_or_array, dtype=float)


def show_kernels(layer_or_array, max_kernels: int = 64, annotate=None, title=None):
    """Draw the kernels of a convolution layer (its ``weight``) or of an array: one panel per
    kernel, rows = output channels, columns = input channels, red positive and blue negative on
    one symmetric scale. Accepts (kH, kW), (C_out, kH, kW) and (C_out, C_in, kH, kW) (1-D kernels
    (C_out, C_in, k) are drawn as rows). ``annotate`` writes the values (default: small kernels).
    Returns the matplotlib Figure.

    >>> from cnnpy import nn, viz
    >>> fig = viz.show_kernels(nn.Conv2d(1, 6, 3, rng=0))                    # doctest: +SKIP
    """
    plt = _pyplot()
    w = _weight_array(layer_or_array)
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:  # a 1-D layer's (C_out, C_in, k), or an array of 2-D kernels (C_out, kH, kW)
        w = w[:, :, None, :] if isinstance(layer_or_array, (Module, Parameter)) else w[:, None]
    elif w.ndim != 4:
        raise ValueError(f"show_kernels: expected a (kH, kW), (C_out, kH, kW) or (C_out, C_in, kH, kW) "
                         f"array, got shape {w.shape}")
    c_out, c_in, kh, kw = w.shape
    if c_out * c_in > max_kernels:
        raise ValueError(f"show_kernels: {c_out}x{c_in} = {c_out * c_in} kernels is more than "
                         f"max_kernels={max_kernels}; pass a slice (e.g. weight[:8]) or raise max_kernels")
    annotate = (kh * kw <= 25 and c_out * c_in <= 24) if annotate is None else annotate
    v = float(np.abs(w).max()) or 1.0
    size = 0.45 + 0.12 * max(kh, kw)
    fig, axes = plt.subplots(c_in, c_out, figsize=(size * c_out + 0.3, size * c_in * max(kh / kw, 0.25) + 0.6),
                             squeeze=False)
    for o in range(c_out):
        for i in range(c_in):
            ax = axes[i, o]
            ax.imshow(w[o, i], cmap="RdBu_r", vmin=-v, vmax=v)
            if annotate:
                for (r, c), val in np.ndenumerate(w[o, i]):
                    ax.text(c, r, f"{val:.2g}", ha="center", va="center", fontsize=6,
                            color="white" if abs(val) > 0.6 * v else "black")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"out {o}", fontsize=7)
            if o == 0 and c_in > 1:
                ax.set_ylabel(f"in {i}", fontsize=7)
    fig.suptitle(title or f"{c_out * c_in} kernels {kh}x{kw} (red > 0 > blue, max |w| = {v:.3g})", fontsize=9)
    fig.tight_layout()
    return fig


def _leaves(model):
    """The layers a Sequential applies, nested Sequentials flattened; any other module is one."""
    if isinstance(model, Sequential):
        out = []
        for m in model:
            out.extend(_leaves(m))
        return out
    return [model]


class _Preserved:
    """Restores a model exactly after a look inside: every module's attributes (training flag,
    cached forward values, anything set on the instance meanwhile) and every parameter's gradient."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.attrs = [(m, dict(m.__dict__)) for m in self.model.modules()]
        self.grads = [(p, p.grad, p.grad.copy()) for p in self.model.parameters()]
        return self

    def __exit__(self, *exc):
        for m, before in self.attrs:
            for name in [n for n in m.__dict__ if n not in before]:
                object.__delattr__(m, name)
            for name, value in before.items():
                if m.__dict__.get(name) is not value:
                    object.__setattr__(m, name, value)
        for p, grad, values in self.grads:
            p.grad = grad
            np.copyto(grad, values)
        return False


def _one_image(op, x, dtype):
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"{op}: x must be one image, (H, W), (C, H, W) or (1, C, H, W); got shape {x.shape}")
    return np.ascontiguousarray(x, dtype=dtype)


def _model_dtype(model):
    params = model.parameters()
    return params[0].data.dtype if params else np.float32


def show_feature_maps(model, x, max_channels: int = 8, cmap: str = "viridis"):
    """Draw every layer's output for one image: the input on the first row, then one row per layer
    of ``model`` (nested Sequentials are flattened) with up to ``max_channels`` channels; flat
    outputs (after Flatten or Linear) are drawn as a strip. The model runs in evaluation mode and is
    left exactly as it was (mode, cached values, gradients). Returns the matplotlib Figure.

    >>> import numpy as np
    >>> from cnnpy import models, viz
    >>> fig = viz.show_feature_maps(models.GausNet(rng=0), np.zeros((1, 91, 91)))   # doctest: +SKIP
    """
    plt = _pyplot()
    x = _one_image("show_feature_maps", x, _model_dtype(model))
    rows = [("input", x[0])]
    with _Preserved(model):
        model.eval()
        h = x
        for i, layer in enumerate(_leaves(model)):
            h = layer(h)
            rows.append((f"{i} {type(layer).__name__}", h[0]))
    ncols = max(min(r.shape[0], max_channels) if r.ndim == 3 else 1 for _, r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.35 * ncols + 1.2, 1.35 * len(rows) + 0.3),
                             squeeze=False)
    fig.subplots_adjust(left=1.1 / (1.35 * ncols + 1.2), right=0.98, top=0.95, bottom=0.02, hspace=0.35)
    for (name, a), ax_row in zip(rows, axes):
        for ax in ax_row:
            ax.axis("off")
        if a.ndim == 3:
            for c in range(min(a.shape[0], max_channels)):
                ax_row[c].imshow(a[c], cmap=cmap)
                ax_row[c].set_title(f"ch {c}" if a.shape[0] > 1 else "", fontsize=6)
            shape = "x".join(map(str, a.shape))
        else:
            flat = a.reshape(1, -1)
            ax = ax_row[0]
            pos = ax.get_position()
            last = ax_row[-1].get_position()
            ax.set_position([pos.x0, pos.y0 + pos.height * 0.35, last.x1 - pos.x0, pos.height * 0.3])
            ax.imshow(flat, cmap=cmap, aspect="auto")
            if flat.shape[1] <= 12:  # a few outputs (the scores): their values too
                for j, v in enumerate(flat[0]):
                    ax.text(j, 0, f"{v:.3g}", ha="center", va="center", fontsize=7, color="white",
                            bbox=dict(facecolor="black", alpha=0.4, lw=0, pad=1))
            shape = str(flat.shape[1])
        ax_row[0].text(-0.08, 0.5, f"{name}\n{shape}", transform=ax_row[0].transAxes, ha="right",
                       va="center", fontsize=7)
    return fig


def _as_images(op, batch):
    """(N, H, W), (N, 1, H, W), (N, 3, H, W) or (N, D) with D a square -> list of 2-D/RGB arrays."""
    a = np.asarray(batch, dtype=float)
    if a.ndim == 2:
        side = int(round(math.sqrt(a.shape[1])))
        if side * side != a.shape[1]:
            raise ValueError(f"{op}: flat images of {a.shape[1]} values are not square; reshape them")
        a = a.reshape(len(a), side, side)
    if a.ndim == 4:
        if a.shape[1] == 1:
            a = a[:, 0]
        elif a.shape[1] == 3:
            a = a.transpose(0, 2, 3, 1)
            lo, hi = a.min(), a.max()
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        else:
            raise ValueError(f"{op}: images must have 1 or 3 channels, got {a.shape[1]}")
    if a.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a batch (N, H, W), (N, C, H, W) or (N, H*W), got shape {a.shape}")
    return list(a)


def show_images(batch, labels=None, ncols: int = 8, cmap: str = "gray", titles=None):
    """Draw a batch of images in a grid, each titled with its label (``labels``: one per image,
    e.g. the targets of a DataLoader batch) or with ``titles``. Accepts (N, H, W), (N, 1, H, W),
    (N, 3, H, W) and flat square images (N, H*W). Returns the matplotlib Figure.

    >>> from cnnpy import datasets, viz
    >>> images, labels = datasets.gaussians(n_per_class=4, seed=0)
    >>> fig = viz.show_images(images, labels)                                 # doctest: +SKIP
    """
    plt = _pyplot()
    images = _as_images("show_images", batch)
    n = len(images)
    if n == 0:
        raise ValueError("show_images: the batch is empty")
    if labels is not None:
        labels = np.asarray(labels)
        labels = labels.reshape(len(labels), -1)
        if len(labels) != n:
            raise ValueError(f"show_images: {len(labels)} labels for {n} images")
        titles = [_fmt(lab[0]) if lab.size == 1 else ", ".join(_fmt(v) for v in lab) for lab in labels]
    if titles is not None and len(titles) != n:
        raise ValueError(f"show_images: {len(titles)} titles for {n} images")
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.5 * nrows + (0.25 * nrows if titles else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=None if images[i].ndim == 3 else cmap)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def plot_history(history, keys=None):
    """Plot a ``History`` (from ``cnnpy.train``) per epoch: the losses in the first panel, each
    metric (train and validation) in its own panel. ``keys`` picks the recorded names to plot
    (default: all but ``seconds``). Returns the matplotlib Figure. ``History.plot()`` calls this.

    >>> from cnnpy import viz
    >>> fig = hist.plot()                                                     # doctest: +SKIP
    """
    plt = _pyplot()
    keys = [k for k in history.keys() if k != "seconds"] if keys is None else list(keys)
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"plot_history: not recorded: {missing}; recorded: {sorted(history.keys())}")
    if not keys:
        raise ValueError("plot_history: nothing to plot (no values recorded)")
    groups = {}
    for k in keys:
        name = k.split("_", 1)[1] if k.startswith(("train_", "val_")) else k
        groups.setdefault(name, []).append(k)
    order = sorted(groups, key=lambda g: (g != "loss", list(groups).index(g)))
    fig, axes = plt.subplots(1, len(order), figsize=(4.4 * len(order), 3.2), squeeze=False)
    for ax, name in zip(axes[0], order):
        for k in groups[name]:
            style = "s--" if k.startswith("val_") else "o-"
            ax.plot(history.epochs, history[k], style, label=k.replace("val_", "validation ").replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---- saliency ---------------------------------------------------------------------------------------

def _guided_relu_backward(relu):
    """ReLU's backward for guided backpropagation: the ordinary mask (input > 0) and also the
    gradient's own sign (only positive gradients pass)."""
    def backward(grad_output):
        g = F.relu_backward(grad_output, relu._saved_values()["x"])
        return F.relu(g)  # relu(g) keeps g where g > 0: the second mask
    return backward


def saliency(model, x, method: str = "gradient", target=None) -> np.ndarray:
    """How much each input pixel moves the model's output: the gradient of one output with respect
    to the input, computed by the layers' own backward (``model.backward``).

    ``method="gradient"`` is that gradient (Simonyan et al. 2014). ``method="guided"`` is the
    guided backpropagation of Springenberg et al. 2015 (*Striving for Simplicity: The All
    Convolutional Net*): every ReLU's backward passes only positive gradients at positive inputs,
    which shows the input patterns that excite the output.

    ``x`` is an image or a batch (N, C, H, W); the output used is ``target`` (a class index, one
    per image or one for all) of (N, K) scores, by default each image's highest score; a single
    output (N, 1), a logit, is used as it is. The model runs in evaluation mode and is restored
    exactly (mode, gradients, cached values; the guided ReLUs are set on the model's own ReLU
    instances for the call only). Returns an array of x's shape.

    >>> import numpy as np
    >>> from cnnpy import models, viz
    >>> net = models.GausNet(rng=0)
    >>> viz.saliency(net, np.zeros((1, 1, 91, 91), np.float32), "guided").shape
    (1, 1, 91, 91)

    PyTorch: ``torch.autograd.grad(model(x)[:, target].sum(), x)``; guided backpropagation with
    backward hooks on ``nn.ReLU``.
    """
    if method not in ("gradient", "guided"):
        raise ValueError(f"saliency: method must be 'gradient' or 'guided', got {method!r}")
    arr = np.asarray(x)
    batch = arr.ndim == 4
    x4 = arr if batch else _one_image("saliency", arr, _model_dtype(model))
    x4 = np.ascontiguousarray(x4, dtype=_model_dtype(model))
    with _Preserved(model):
        model.eval()
        out = model(x4)
        if out.ndim != 2:
            raise ValueError(f"saliency: the model must output scores (N, K), got shape {out.shape}")
        g = np.zeros_like(out)
        if out.shape[1] == 1 and target is None:
            g[:, 0] = 1.0
        else:
            idx = np.argmax(out, axis=1) if target is None else np.broadcast_to(np.asarray(target), (len(out),))
            if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= out.shape[1]:
                raise ValueError(f"saliency: target must be class indices in [0, {out.shape[1]}), got {target!r}")
            g[np.arange(len(out)), idx] = 1.0
        if method == "guided":
            for m in model.modules():
                if isinstance(m, ReLU):  # on the instance only: other models and the class are untouched
                    object.__setattr__(m, "backward", _guided_relu_backward(m))
        gx = model.backward(g)
    gx = np.asarray(gx)
    return gx if batch else gx.reshape(arr.shape)


def show_saliency(models_by_name, x, methods=("gradient", "guided"), target=None, cmap="inferno"):
    """Draw, for each model (a dict ``{name: model}`` or one model) and each image of ``x``, the
    image and the absolute saliency of each method (max over channels). Returns the Figure.

    >>> from cnnpy import models, viz
    >>> fig = viz.show_saliency({"GausNet": models.GausNet(rng=0)}, images[:3])   # doctest: +SKIP
    """
    plt = _pyplot()
    if isinstance(models_by_name, Module):
        models_by_name = {type(models_by_name).__name__: models_by_name}
    x = np.asarray(x)
    x4 = x if x.ndim == 4 else x[None] if x.ndim == 3 else x[None, None]
    maps = {(name, m): np.abs(saliency(model, x4, m, target)).max(axis=1)
            for name, model in models_by_name.items() for m in methods}
    cols = 1 + len(maps)
    fig, axes = plt.subplots(len(x4), cols, figsize=(1.9 * cols, 1.9 * len(x4) + 0.4), squeeze=False)
    for r in range(len(x4)):
        axes[r, 0].imshow(x4[r].mean(axis=0), cmap="gray")
        axes[r, 0].set_title("image" if r == 0 else "", fontsize=8)
        for c, ((name, m), s) in enumerate(maps.items(), start=1):
            axes[r, c].imshow(s[r], cmap=cmap)
            if r == 0:
                axes[r, c].set_title(f"{name}\n{m}", fontsize=8)
        for ax in axes[r]:
            ax.axis("off")
    fig.tight_layout()
    return fig
