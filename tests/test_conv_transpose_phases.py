"""Transpose convolution by output phases (csrc/conv_transpose.c, generic/conv_transpose_phase.h):
every path (the phase kernels DIRECT and GEMM, AUTO's choice, the general path for huge
padding/dilation) against the float64 reference over random geometry, the phase's taps, bitwise
equality for any thread count, PyTorch on the benchmark's and the autoencoder's layers, and the
empty output a padding that crops everything leaves (issue 10). The rule AUTO follows and the
bitwise comparison with the reference kernel on every ISA: tests/c/test_pool_convt.c."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import cnnpy
import cnnpy.functional as F
import reference as ref
from cnnpy import _cnn
from helpers import DTYPES, assert_close, rng_for, torch

ALGOS = {"direct": _cnn.ALGO_DIRECT, "gemm": _cnn.ALGO_GEMM, "auto": _cnn.ALGO_AUTO}


def run(x, w, b, gy, algo, s, p, op, d, g):
    """Forward and (dx, dw, db) through the engine with one algorithm."""
    geometry = (*s, *p, *op, *d, g)
    y = _cnn.conv_transpose2d_forward(x, w, b, geometry, algo)
    grads = (_cnn.conv_transpose2d_backward(gy, x, w, True, True, b is not None, geometry, algo)
             if gy is not None else None)
    return y, grads


@st.composite
def geometry(draw):
    g = draw(st.integers(1, 3))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 40))
    full = [(n - 1) * si + di * (ki - 1) + o + 1 for n, si, di, ki, o in zip((h, w), s, d, k, op)]
    p = tuple(draw(st.integers(0, f // 2)) for f in full)  # up to an empty output
    return dict(n=draw(st.integers(1, 2)), ci=g * draw(st.integers(1, 3)), co=g * draw(st.integers(1, 13)),
                g=g, h=h, w=w, k=k, s=s, d=d, op=op, p=p, bias=draw(st.booleans()),
                algo=draw(st.sampled_from(sorted(ALGOS))), f32=draw(st.booleans()),
                seed=draw(st.integers(0, 2**31)))


@settings(max_examples=150, deadline=None)
@given(geometry())
def test_every_path_matches_the_reference(c):
    """Channels up to 13 (tiles of 6, 4, 2, 1 output channels), widths up to 40 (several column
    tiles, ragged phases), every stride/padding/dilation/output_padding/groups; float64 tight,
    float32 to its precision."""
    rng = np.random.default_rng(c["seed"])
    dtype = np.float32 if c["f32"] else np.float64
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"])).astype(dtype)
    w = rng.standard_normal((c["ci"], c["co"] // c["g"], *c["k"])).astype(dtype)
    b = rng.standard_normal(c["co"]).astype(dtype) if c["bias"] else None
    kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"], dilation=c["d"])
    y_ref = ref.conv_transpose2d(x, w, b, **kw)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    y, grads = run(x, w, b, gy, ALGOS[c["algo"]], c["s"], c["p"], c["op"], c["d"], c["g"])
    assert y.shape == y_ref.shape and y.dtype == dtype
    assert_close(y, y_ref, dtype, scale=10)
    for a, e in zip(grads, ref.conv_transpose2d_backward(gy, x, w, b, **kw)):
        if e is None:
            assert a is None
        else:
            assert_close(a, e, dtype, scale=100)


def test_k4_s2_p1_even_rows_take_taps_1_3_and_odd_rows_0_2():
    """Output row o = i*2 - 1 + kh: a kernel with one nonzero row kh reaches only the output rows
    of kh's parity (kh 1, 3: even rows; kh 0, 2: odd rows), and each of those from one input row."""
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    for kh in range(4):
        w = np.zeros((1, 1, 4, 4))
        w[0, 0, kh, :] = 1.0
        for algo in ALGOS.values():
            y, _ = run(x, w, None, None, algo, (2, 2), (1, 1), (0, 0), (1, 1), 1)
            rows = np.flatnonzero(np.abs(y[0, 0]).sum(axis=1))
            assert set(rows % 2) == {1 - kh % 2}, (kh, rows)
            assert_close(y, ref.conv_transpose2d(x, w, None, stride=2, padding=1))


def test_the_general_path_for_huge_padding_and_dilation():
    """Padding 300 and dilation 300 next to an 8x8 image: the phases would read a padded copy
    hundreds of columns wide for an 8x8 output, so every algorithm takes the general path."""
    rng = rng_for("general")
    x = rng.standard_normal((1, 16, 8, 8))
    w = rng.standard_normal((16, 3, 3, 3))
    b = rng.standard_normal(3)
    kw = dict(stride=1, padding=300, dilation=300)
    y_ref = ref.conv_transpose2d(x, w, b, stride=(1, 1), padding=(300, 300), dilation=(300, 300))
    assert y_ref.shape == (1, 3, 8, 8)
    gy = rng.standard_normal(y_ref.shape)
    want = ref.conv_transpose2d_backward(gy, x, w, b, stride=(1, 1), padding=(300, 300), dilation=(300, 300))
    for algo in (_cnn.ALGO_GEMM, _cnn.ALGO_AUTO):
        y, grads = run(x, w, b, gy, algo, (1, 1), (300, 300), (0, 0), (300, 300), 1)
        assert_close(y, y_ref)
        for a, e in zip(grads, want):
            assert_close(a, e, scale=100)
    assert_close(F.conv_transpose2d(x, w, b, **kw), y_ref)


# (N, C_in, C_out, H, W, k, stride, padding): the benchmark's layer and the autoencoder's two
THREAD_CASES = [(8, 32, 16, 16, 16, 4, 2, 1), (4, 4, 6, 22, 22, 3, 2, 0), (2, 6, 1, 45, 45, 3, 2, 0),
                (1, 3, 13, 5, 37, 3, 1, 1)]


@pytest.fixture
def all_threads():
    before = cnnpy.get_num_threads()
    work = _cnn.set_min_part_work(1)  # split even these small problems
    yield
    _cnn.set_min_part_work(work)
    cnnpy.set_num_threads(before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("algo", sorted(ALGOS))
@pytest.mark.parametrize("case", THREAD_CASES, ids=lambda c: "N{}-{}to{}-{}x{}-k{}-s{}-p{}".format(*c))
def test_bitwise_equal_for_any_thread_count(case, algo, dtype, all_threads):
    n, ci, co, h, w, k, s, p = case
    rng = rng_for(case, algo)
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((ci, co, k, k)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    args = ((s, s), (p, p), (0, 0), (1, 1), 1)
    gy = rng.standard_normal(run(x, wt, b, None, ALGOS[algo], *args)[0].shape).astype(dtype)
    cnnpy.set_num_threads(1)
    want_y, want_g = run(x, wt, b, gy, ALGOS[algo], *args)
    for threads in (2, 3, 7):
        cnnpy.set_num_threads(threads)
        y, grads = run(x, wt, b, gy, ALGOS[algo], *args)
        assert np.array_equal(y, want_y)
        for a, e in zip(grads, want_g):
            assert np.array_equal(a, e), f"{threads} threads differ from 1"


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("case", THREAD_CASES[:3], ids=lambda c: "N{}-{}to{}-{}x{}-k{}-s{}-p{}".format(*c))
def test_layers_match_pytorch(case, dtype):
    n, ci, co, h, w, k, s, p = case
    rng = rng_for(case, "torch")
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((ci, co, k, k)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, wt, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=s, padding=p)
    y = F.conv_transpose2d(x, wt, b, stride=s, padding=p)
    assert_close(y, ty.detach().numpy(), dtype, scale=10)
    gy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(gy))
    for a, t in zip(F.conv_transpose2d_backward(gy, x, wt, b, stride=s, padding=p), (tx, tw, tb)):
        assert_close(a, t.grad.numpy(), dtype, scale=100)


# ---- a padding that crops the whole output (issue 10) --------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_a_padding_that_crops_everything_gives_an_empty_output(dtype):
    """(n-1)*s - 2p + d*(k-1) + op + 1 == 0 is an empty output, as zero output channels are
    (docs/DECISIONS.md); its gradients are zero (the output depends on nothing). Cropping more
    than the whole output stays an error."""
    rng = rng_for("empty", dtype)
    x = rng.standard_normal((2, 2, 3)).astype(dtype)
    w = rng.standard_normal((2, 3, 2)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    y = F.conv_transpose1d(x, w, b, padding=2)
    assert y.shape == (2, 3, 0) and y.dtype == dtype
    gx, gw, gb = F.conv_transpose1d_backward(np.zeros(y.shape, dtype), x, w, b, padding=2)
    assert not gx.any() and not gw.any() and not gb.any()
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    assert cnnpy.conv_transpose_output_size(3, 2, padding=2) == 0
    x2 = rng.standard_normal((1, 2, 3, 3)).astype(dtype)
    w2 = rng.standard_normal((2, 2, 2, 2)).astype(dtype)
    assert F.conv_transpose2d(x2, w2, padding=(2, 0), groups=2).shape == (1, 4, 0, 4)
    assert F.conv_transpose2d(x2, w2, padding=(0, 2)).shape == (1, 2, 4, 0)
    assert F.conv_transpose2d(x2[0], w2, padding=2).shape == (2, 0, 0)
    with pytest.raises(ValueError, match="removes more than the whole output"):
        F.conv_transpose1d(x, w, b, padding=3)
    layer = cnnpy.nn.ConvTranspose2d(2, 4, 2, padding=2)
    assert layer(x2).shape == (1, 4, 0, 0)


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
def test_the_empty_output_matches_pytorch():
    """PyTorch 2.13 returns the same empty output for batched float32 (it refuses float64 and
    unbatched input: there cnnpy follows its own zero-channel rule), and zero gradients."""
    rng = rng_for("empty-torch")
    for xs, ws, kw in [((2, 2, 3), (2, 3, 2), dict(padding=2)), ((2, 2, 1), (2, 3, 1), dict(padding=1, stride=2, output_padding=1)),
                       ((2, 2, 3, 3), (2, 3, 2, 2), dict(padding=(2, 0))), ((1, 2, 3, 3), (2, 4, 2, 2), dict(padding=2, groups=2))]:
        x = rng.standard_normal(xs).astype(np.float32)
        w = rng.standard_normal(ws).astype(np.float32)
        b = rng.standard_normal(ws[1] * kw.get("groups", 1)).astype(np.float32)
        conv = torch.nn.functional.conv_transpose1d if len(xs) == 3 else torch.nn.functional.conv_transpose2d
        ours = F.conv_transpose1d if len(xs) == 3 else F.conv_transpose2d
        ours_b = F.conv_transpose1d_backward if len(xs) == 3 else F.conv_transpose2d_backward
        tx, tw, tb = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
        ty = conv(tx, tw, tb, **kw)
        y = ours(x, w, b, **kw)
        assert y.shape == tuple(ty.shape)
        ty.sum().backward()
        for a, t in zip(ours_b(np.ones(y.shape, np.float32), x, w, b, **kw), (tx, tw, tb)):
            np.testing.assert_array_equal(a, t.grad.numpy())


@settings(max_examples=60, deadline=None)
@given(geometry())
def test_auto_weight_gradient_is_the_convolutions(c):
    """AUTO computes the weight gradient with the convolution's weight-gradient kernel (the
    transpose convolution is that convolution's input gradient: its input dy, its output gradient
    x), which measured faster than the phase kernel: bitwise conv2d_backward's grad_weight, for
    every stride/padding/dilation/output_padding/groups that conv2d_backward can express (its
    output length must come out as x's), odd sizes and batch 1, at 1 and 2 threads."""
    rng = np.random.default_rng(c["seed"])
    dtype = np.float32 if c["f32"] else np.float64
    x = rng.standard_normal((c["n"], c["ci"], c["h"], c["w"])).astype(dtype)
    w = rng.standard_normal((c["ci"], c["co"] // c["g"], *c["k"])).astype(dtype)
    kw = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["g"], dilation=c["d"])
    gy = rng.standard_normal(ref.conv_transpose2d(x, w, None, **kw).shape).astype(dtype)
    conv_out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                     for n, p, d, k, s in zip(gy.shape[2:], c["p"], c["d"], c["k"], c["s"]))
    if gy.size == 0 or conv_out != (c["h"], c["w"]):  # conv2d_backward cannot express that geometry
        return
    threads = cnnpy.get_num_threads()
    try:
        for t in (1, 2):
            cnnpy.set_num_threads(t)
            _, grads = run(x, w, None, gy, _cnn.ALGO_AUTO, c["s"], c["p"], c["op"], c["d"], c["g"])
            want = F.conv2d_backward(x, gy, w, stride=c["s"], padding=c["p"], dilation=c["d"],
                                     groups=c["g"], output_mask=(False, True, False))[1]
            np.testing.assert_array_equal(grads[1], want)
    finally:
        cnnpy.set_num_threads(threads)
