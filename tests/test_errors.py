"""The bad-input matrix of the functional API (docs/design.md, "Errors"): every wrong type, shape,
geometry, mode and size gets the right exception TYPE (TypeError for wrong types and dtypes,
ValueError for shapes, geometry and unknown modes, OverflowError/MemoryError for sizes whose
products overflow), a message naming the argument (and, where there is one, its bad value), never
a crash, and never a change to the caller's arrays. Also: an empty batch (N = 0) is valid, any
memory layout gives the contiguous result, NaN and inf propagate as in PyTorch.

The cases are the ERRORS, HUGE_SIZES, EMPTY, FAILING, LAYOUTS and NAN_INF tables of every op family
(tests/ops/<family>.py); the tests below them are the rules no table expresses."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnnpy
import cnnpy.functional as F
import ops
from helpers import read_only, rng_for
from ops.common import BIG, HUGE, W4, X4, ones

SANITIZED = bool(os.environ.get("CNNPY_SANITIZED")) or "libasan" in os.environ.get("LD_PRELOAD", "")
DTYPES = [pytest.param(np.float32, id="f32"), pytest.param(np.float64, id="f64")]


def _rng(seed):
    return np.random.default_rng(seed)


def expect(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---- bad input: the right exception, naming the argument ----------------------------------------------

@pytest.mark.parametrize("call, exc, match", ops.gather("ERRORS"))
def test_bad_input(call, exc, match):
    expect(call, exc, match)


# ---- valid edge cases of the geometry ------------------------------------------------------------------

def test_conv2d_zero_in_channels_is_the_bias_broadcast():
    """C_in = 0 is a valid (empty) sum: the output is the bias broadcast, zeros without bias."""
    b = np.array([1.0, -2.0, 3.0])
    y = F.conv2d(ones(2, 0, 5, 5), ones(3, 0, 3, 3), b)
    assert y.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], (2, 3, 3, 3)))
    y = F.conv2d(ones(2, 0, 5, 5), ones(3, 0, 3, 3), b, padding=1, stride=2)
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], (2, 3, 3, 3)))
    y = F.conv2d(ones(1, 0, 5, 5, dtype=np.float32), ones(3, 0, 3, 3, dtype=np.float32))
    assert y.shape == (1, 3, 3, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y, np.zeros((1, 3, 3, 3)))


def test_conv2d_string_inside_per_dim_padding_is_resolved_per_dim():
    """padding=('same', 1): H gets 'same' padding (size kept), W gets 1 on each side."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 6))
    w = np.random.default_rng(1).standard_normal((3, 2, 5, 5))
    y = F.conv2d(x, w, padding=("same", 1))
    assert y.shape == (1, 3, 5, 4)
    np.testing.assert_allclose(y, F.conv2d(x, w, padding=((2, 2), (1, 1))), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.conv2d(x, w, padding=(1, "same")),
                               F.conv2d(x, w, padding=((1, 1), (2, 2))), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op, x, w, shape", [
    pytest.param(F.conv2d, X4(), ones(0, 2, 3, 3), (1, 0, 3, 3), id="conv2d-weight-no-out-channels"),
    pytest.param(F.conv_transpose2d, X4(), ones(2, 0, 3, 3), (1, 0, 7, 7),
                 id="conv_transpose2d-weight-no-out-channels"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_conv_zero_out_channels_is_empty(op, x, w, shape, dtype):
    y = op(x.astype(dtype), w.astype(dtype))
    assert isinstance(y, np.ndarray)
    assert y.shape == shape
    assert y.dtype == dtype


@pytest.mark.parametrize("call, want", [
    pytest.param(lambda: F.conv2d(X4(), W4(), stride=np.array(2)),
                 lambda: F.conv2d(X4(), W4(), stride=2), id="conv2d-stride"),
    pytest.param(lambda: F.conv2d(X4(), W4(), padding=np.array(1), dilation=np.array(2)),
                 lambda: F.conv2d(X4(), W4(), padding=1, dilation=2), id="conv2d-padding-dilation"),
    pytest.param(lambda: F.max_pool2d(X4(), np.array(2), stride=np.array(2)),
                 lambda: F.max_pool2d(X4(), 2, stride=2), id="max_pool2d-kernel-stride"),
    pytest.param(lambda: cnnpy.conv_output_size(np.array(5), np.array(3), stride=np.array(2)),
                 lambda: cnnpy.conv_output_size(5, 3, stride=2), id="conv_output_size"),
])
def test_zero_d_integer_array_argument_works_as_an_int(call, want):
    np.testing.assert_array_equal(call(), want())


def test_linear_zero_in_features_is_valid():
    """in_features == 0 is a zero matmul (PyTorch): the bias broadcast, zeros without bias."""
    y = F.linear(ones(2, 0), ones(4, 0), np.arange(4.0))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(4.0), (2, 4)))
    np.testing.assert_array_equal(F.linear(ones(2, 0), ones(4, 0)), np.zeros((2, 4)))


# ---- huge sizes: OverflowError / ValueError / MemoryError naming the argument, never a crash ---------

@pytest.mark.parametrize("call, types, match", ops.gather("HUGE_SIZES"))
def test_huge_sizes(call, types, match):
    with pytest.raises(types) as info:
        call()
    if not info.errisinstance(MemoryError):  # an allocation failure need not name the argument
        assert re.search(match, str(info.value)), \
            f"{type(info.value).__name__}({str(info.value)!r}) does not match {match!r}"


def test_huge_valid_geometry_gives_the_right_answer():
    """Huge but valid arguments are not errors: one window that covers everything."""
    x = np.arange(50.0).reshape(1, 2, 5, 5)
    w = ones(3, 2, 3, 3)
    np.testing.assert_array_equal(F.conv2d(x, w, stride=BIG), F.conv2d(x[:, :, :3, :3], w))
    np.testing.assert_array_equal(F.conv2d(x, w, padding="same", stride=BIG).shape, (1, 3, 1, 1))
    np.testing.assert_array_equal(F.max_pool2d(x, BIG, padding=BIG // 2).ravel(), [24.0, 49.0])
    np.testing.assert_array_equal(F.avg_pool2d(x, BIG, padding=BIG // 2,
                                               count_include_pad=False).ravel(), [12.0, 37.0])
    assert cnnpy.conv_output_size(5, 3, stride=BIG) == 1
    assert cnnpy.pool_output_size(5, BIG, padding=BIG // 2) == 1


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
def test_avg_pool_huge_window_divisor(backward):
    x = np.arange(50.0).reshape(1, 2, 5, 5)
    k, p = BIG, BIG // 2
    try:
        if backward:
            got = F.avg_pool2d_backward(ones(1, 2, 1, 1), x, k, padding=p)
            want = np.full(x.shape, 1.0 / float(5 + 2 * p) ** 2)
        else:
            got = F.avg_pool2d(x, k, padding=p)
            want = x.sum(axis=(2, 3), keepdims=True) / float(5 + 2 * p) ** 2
    except OverflowError as exc:
        assert "avg_pool2d" in str(exc)
        return
    assert np.all(np.isfinite(got)), f"avg_pool2d with a 2**62 window returned {got.ravel()}"
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_huge_sizes_do_not_crash_the_interpreter():
    """The same huge calls in a child process: it must end normally (no signal, no abort)."""
    script = textwrap.dedent(f"""
        import numpy as np, cnnpy, cnnpy.functional as F
        x4, w4, x3, w3 = np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones((1, 2, 8)), np.ones((3, 2, 3))
        calls = [
            lambda: F.conv2d(x4, w4, stride={HUGE}), lambda: F.conv2d(x4, w4, padding={BIG}),
            lambda: F.conv2d(x4, w4, dilation={BIG}), lambda: F.conv2d(x4, w4, padding=2**61),
            lambda: F.conv2d(x4, w4, padding={BIG}, padding_mode="circular"),
            lambda: F.conv2d_backward(np.ones((1, 3, 1, 1)), x4, w4, stride={BIG}),
            lambda: F.conv_transpose2d(x4, np.ones((2, 3, 3, 3)), stride=2**31),
            lambda: F.conv_transpose1d(x3, np.ones((2, 3, 3)), stride={BIG}),
            lambda: F.max_pool2d(x4, {BIG}, padding={BIG // 2}),
            lambda: F.max_pool2d_backward(np.ones((1, 2, 1, 1)), x4, {BIG}, padding={BIG // 2}),
            lambda: F.avg_pool2d(x4, {BIG}, padding={BIG // 2}),
            lambda: F.avg_pool2d_backward(np.ones((1, 2, 1, 1)), x4, {BIG}, padding={BIG // 2}),
            lambda: F.avg_pool2d(x4, 2, divisor_override={BIG}),
            lambda: F.adaptive_max_pool2d(x4, ({BIG}, {BIG})),
            lambda: F.max_unpool2d(np.ones((1, 2, 2, 2)), np.full((1, 2, 2, 2), {BIG}), 2),
            lambda: F.max_pool2d_backward(np.ones((1, 2, 2, 2)), x4, 2, indices=np.full((1, 2, 2, 2), -{BIG})),
            lambda: F.pad(np.ones(3), ({BIG}, {BIG}), mode="reflect"),
            lambda: F.pad(np.ones(3), (-2**63, 0)),
            lambda: cnnpy.conv_output_size(2**63 - 1, 3, padding=1),
        ]
        for call in calls:
            try:
                call()
            except Exception:
                pass
        print("survived", len(calls))
    """)
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived" in proc.stdout


# ---- an empty batch (N = 0) is valid ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call, shape, out_dtype", ops.gather("EMPTY"))
def test_empty_batch_is_valid(call, shape, out_dtype, dtype):
    y = call(dtype)
    assert isinstance(y, np.ndarray)
    assert y.shape == shape
    assert y.dtype == (dtype if out_dtype is None else out_dtype)


def test_empty_batch_weight_gradients_are_zero():
    x, w, b = ones(0, 2, 5, 5), ones(3, 2, 3, 3), ones(3)
    gx, gw, gb = F.conv2d_backward(ones(0, 3, 3, 3), x, w, b)
    np.testing.assert_array_equal(gw, np.zeros_like(w))
    np.testing.assert_array_equal(gb, np.zeros_like(b))
    _, gw, gb = F.linear_backward(ones(0, 4), ones(0, 3), ones(4, 3), ones(4))
    np.testing.assert_array_equal(gw, np.zeros((4, 3)))
    np.testing.assert_array_equal(gb, np.zeros(4))


# ---- a failing call never modifies its inputs ---------------------------------------------------------

def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((2, 2, 6, 6)),
        "x32": rng.standard_normal((2, 2, 6, 6)).astype(np.float32),
        "xnc": rng.standard_normal((2, 2, 6, 12))[..., ::2],  # non-contiguous view
        "w": rng.standard_normal((3, 2, 3, 3)),
        "wt": rng.standard_normal((2, 3, 3, 3)),
        "b": rng.standard_normal(3),
        "g": rng.standard_normal((2, 3, 5, 5)),
        "p": rng.uniform(0.1, 0.9, (4, 3)),
        "t": rng.uniform(0.0, 1.0, (4, 3)),
        "logits": rng.standard_normal((4, 3)),
        "cls": np.array([0, 1, 2, 3]),
        "idx": np.full((2, 2, 3, 3), 99, dtype=np.int64),
        "mask": rng.random((4, 3)) > 0.5,
        "lw": rng.standard_normal((5, 3)),
    }


@pytest.mark.parametrize("call", ops.gather("FAILING"))
def test_failing_call_leaves_inputs_untouched(call):
    arrays = _arrays()
    before = {k: (v.copy(), v.dtype, v.shape, v.strides, v.flags.writeable) for k, v in arrays.items()}
    with pytest.raises((TypeError, ValueError, OverflowError)):
        call(arrays)
    for k, v in arrays.items():
        data, dtype, shape, strides, writeable = before[k]
        assert (v.dtype, v.shape, v.strides, v.flags.writeable) == (dtype, shape, strides, writeable), k
        np.testing.assert_array_equal(v, data, err_msg=f"failing call modified {k!r}")


# ---- valid but unusual inputs just work -----------------------------------------------------------

def _negative_strides(a):
    rev = np.ascontiguousarray(a[..., ::-1])
    return rev[..., ::-1]


def _strided(a):
    big = np.zeros(a.shape[:-1] + (3 * a.shape[-1],), a.dtype)
    big[..., ::3] = a
    return big[..., ::3]


LAYOUTS = {
    "fortran": np.asfortranarray,
    "byte-swapped": lambda a: a.astype(a.dtype.newbyteorder()),
    "non-contiguous": _strided,
    "negative-strides": _negative_strides,
    "read-only": read_only,
    "nested-lists": lambda a: a.tolist(),
}


def _same(a, b):
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("base, op", ops.gather("LAYOUTS"))
def test_any_layout_gives_the_contiguous_result(base, op, layout):
    """Fortran order, foreign byte order, strided and reversed views, read-only arrays and nested
    lists give bitwise the result of the C-contiguous array, and are not modified."""
    want = op(base)
    arg = LAYOUTS[layout](base)
    before = np.array(arg, copy=True)
    assert _same(op(arg), want)
    np.testing.assert_array_equal(np.asarray(arg), before)
    if isinstance(arg, np.ndarray):
        assert arg.flags.writeable == (layout != "read-only")


def _spiked(shape, dtype, rng):
    """Random values with NaN, +inf and -inf at a few places."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    pos = rng.permutation(flat.size)
    flat[pos[:3]], flat[pos[3:6]], flat[pos[6:9]] = np.nan, np.inf, -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ours, theirs, shape", ops.gather("NAN_INF"))
def test_nan_and_inf_propagate_as_pytorch(ours, theirs, shape, dtype, request):
    """NaN, +inf and -inf in the input land where PyTorch puts them (same NaN and inf positions,
    same signs); the finite values agree to rounding."""
    pytest.importorskip("torch")
    x = _spiked(shape, dtype, rng_for("nan-inf", request.node.callspec.id))
    got, want = np.asarray(ours(x)), theirs(x).numpy()
    assert np.isnan(got).any() or np.isinf(got).any(), "the specials did not reach the output"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.where(np.isinf(got), got, 0), np.where(np.isinf(want), want, 0))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True)


# ---- hostile geometry the fuzzer found, each once a crash or a wrong answer -----------------------------

def test_no_channels_with_any_groups_is_empty_not_a_crash():
    """With no input and no output channels any groups value divides both. The engine's kernels
    once split N * groups items anyway: groups=2**62 overflowed to a division by zero (SIGFPE,
    found by the fuzzer). Run in a child so a regression cannot take the test run down."""
    script = textwrap.dedent(f"""
        import numpy as np, cnnpy.functional as F
        for dt in (np.float32, np.float64):
            x, w = np.ones((2, 0, 5, 5), dt), np.ones((0, 0, 3, 3), dt)
            assert F.conv2d(x, w, groups={BIG}).shape == (2, 0, 3, 3)
            gx, gw, gb = F.conv2d_backward(np.ones((2, 0, 3, 3), dt), x, w, groups={BIG})
            assert gx.shape == (2, 0, 5, 5) and gw.shape == (0, 0, 3, 3)
            assert F.conv_transpose2d(x, w, groups={BIG}).shape == (2, 0, 7, 7)
            y = F.conv_transpose2d(x, np.ones((0, 3, 3, 3), dt), np.arange(3, dtype=dt))
            assert (y == np.arange(3, dtype=dt)[:, None, None]).all()
        print("survived")
    """)
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "survived" in proc.stdout


@pytest.mark.parametrize("stride", [2 ** 63 - 1, 2 ** 62 + 1], ids=["2**63-1", "2**62+1"])
@pytest.mark.parametrize("channels", [2, 8], ids=["direct", "gemm"])  # C_in * 9 <= 64 or not
def test_stride_near_int64_max_with_padding(channels, stride):
    """One window per axis, starting in the padding. The im2col column range once computed
    ceil(-offset / stride) as (-offset + stride - 1) / stride: it overflowed near INT64_MAX and
    gave a wrong answer (found by the fuzzer). Must equal any stride that also fits one window."""
    rng = _rng(5)
    x, w = rng.standard_normal((2, channels, 5, 5)), rng.standard_normal((3, channels, 3, 3))
    g = rng.standard_normal((2, 3, 1, 1))
    for padding in (1, 2, (2, 0), (0, 1)):
        np.testing.assert_array_equal(F.conv2d(x, w, stride=stride, padding=padding),
                                      F.conv2d(x, w, stride=100, padding=padding))
        for a, b in zip(F.conv2d_backward(g, x, w, stride=stride, padding=padding),
                        F.conv2d_backward(g, x, w, stride=100, padding=padding)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dilation", [2 ** 63 - 1, 2 ** 62, (2 ** 63 - 2, 1)], ids=str)
def test_max_pool_one_tap_ignores_any_dilation(dilation):
    """A 1x1 window has no dilation to speak of: every dilation that fits in int64 is the
    identity. The kernel once stepped rows by the dilation and overflowed past INT64_MAX
    (undefined behaviour; found by the fuzzer)."""
    x = np.arange(30.0).reshape(1, 2, 3, 5)
    y, idx = F.max_pool2d(x, 1, dilation=dilation, return_indices=True)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(idx, np.arange(15).reshape(1, 1, 3, 5).repeat(2, axis=1))
    np.testing.assert_array_equal(F.max_pool2d_backward(np.ones_like(x), x, 1, dilation=dilation),
                                  np.ones_like(x))


def test_cross_entropy_of_an_empty_batch_needs_no_memory_per_class():
    """No targets, 2**40 classes: the mean is NaN and the sum 0, as PyTorch's empty batch. The
    engine once allocated per-class scratch first (MemoryError; found by the fuzzer)."""
    x, t = np.empty((0, 2 ** 40)), np.empty(0, np.int64)
    assert np.isnan(F.cross_entropy(x, t))
    assert F.cross_entropy(x, t, reduction="sum") == 0
    assert F.cross_entropy(x.astype(np.float32), t, reduction="none").shape == (0,)
    assert F.cross_entropy_backward(np.float64(1), x, t)[0].shape == x.shape


def test_padding_far_beyond_a_tiny_image_needs_no_padded_copy():
    """Stride and padding 2**15 on a 3x3 image: only the middle window of the 3x3 output touches
    the image. The direct kernels would copy the ~65,539^2 padded extent (17 GB); AUTO must take
    the GEMM path, which reads the image in place. Run under a 2 GiB address-space limit."""
    script = textwrap.dedent("""
        import resource, numpy as np, cnnpy.functional as F
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        s = 2 ** 15
        x = np.arange(18.0).reshape(1, 2, 3, 3)
        w = np.arange(54.0).reshape(3, 2, 3, 3) - 20
        y = F.conv2d(x, w, stride=s, padding=s)
        want = np.zeros((1, 3, 3, 3))
        want[0, :, 1, 1] = np.einsum("chw,ochw->o", x[0], w)
        np.testing.assert_array_equal(y, want)
        dy = np.arange(27.0).reshape(1, 3, 3, 3)
        dx, dw, _ = F.conv2d_backward(dy, x, w, stride=s, padding=s)
        np.testing.assert_array_equal(dx[0], np.einsum("o,ochw->chw", dy[0, :, 1, 1], w))
        np.testing.assert_array_equal(dw, np.einsum("o,chw->ochw", dy[0, :, 1, 1], x[0]))
        print("ok")
    """)
    if SANITIZED:  # ASan reserves terabytes of shadow memory: no address-space limit there
        script = script.replace("resource.setrlimit", "(lambda *a: None)")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]

