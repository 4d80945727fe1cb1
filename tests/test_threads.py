"""Threads: every kernel gives bitwise the same result for any thread count (each output element
is computed by one thread in a fixed order), the count is validated, chosen by
CNNPY_NUM_THREADS, survives fork(), and concurrent callers from Python threads are safe."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from helpers import rng_for

import cnnpy
import cnnpy.functional as F
from cnnpy import _cnn

COUNTS = (2, 3, 7)


@pytest.fixture
def restore_threads():
    """Also lets the kernels split even these small problems over every thread (in production a
    part must hold 2^17 multiply-adds), so the split itself is what is tested."""
    before = cnnpy.get_num_threads()
    work = cnnpy._cnn.set_min_part_work(1)
    yield
    cnnpy._cnn.set_min_part_work(work)
    cnnpy.set_num_threads(before)


def under_counts(fn):
    """fn() under one thread, then under each of COUNTS; every result bitwise equal to the first."""
    cnnpy.set_num_threads(1)
    want = fn()
    for n in COUNTS:
        cnnpy.set_num_threads(n)
        got = fn()
        for a, e in zip(got, want):
            if e is None:
                assert a is None
                continue
            assert a.dtype == e.dtype and a.shape == e.shape
            assert np.array_equal(a, e), f"{n} threads differ from 1 thread"
    return want


# (N, C_in, C_out, H, W, kernel, stride, padding, dilation, groups)
CONV_CASES = [
    (1, 1, 6, 91, 91, 3, 1, 1, 1, 1),      # the lecture's first GausNet layer: one image, many rows
    (5, 6, 4, 20, 17, 3, 1, 1, 1, 1),      # batch split across threads
    (3, 4, 6, 13, 11, 3, 2, 1, 1, 2),      # stride 2, groups
    (2, 3, 5, 12, 14, (3, 2), (1, 2), (2, 0), (2, 1), 1),
    (2, 20, 24, 13, 11, 3, 1, 1, 1, 1),    # K = 180: the GEMM kernel
    (3, 16, 8, 9, 9, 1, 1, 0, 1, 1),       # pointwise
    (1, 96, 80, 14, 14, 1, 1, 0, 1, 1),    # pointwise, one image: split into column tiles
    (1, 8, 8, 30, 30, 5, 1, 2, 1, 8),      # depthwise
    (4, 2, 3, 1, 40, (1, 5), 1, (0, 2), 1, 1),  # a 1-D convolution
]


def conv_args(case):
    return dict(stride=case[6], padding=case[7], dilation=case[8], groups=case[9])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("algo", ["direct", "gemm", "auto"])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_bitwise_equal_for_any_thread_count(case, algo, dtype, restore_threads):
    n, ci, co, h, w, k, s, p, d, g = case
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = rng_for(case, "threads")
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((co, ci // g, kh, kw)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    y1 = F.conv2d(x, wt, b, **conv_args(case))
    gy = rng.standard_normal(y1.shape).astype(dtype)
    sv = (s, s) if isinstance(s, int) else s
    pv = (p, p) if isinstance(p, int) else p
    dv = (d, d) if isinstance(d, int) else d
    args = ((sv[0], sv[1], pv[0], pv[0], pv[1], pv[1], dv[0], dv[1], g),
            {"direct": _cnn.ALGO_DIRECT, "gemm": _cnn.ALGO_GEMM, "auto": _cnn.ALGO_AUTO}[algo])

    def run():
        y = _cnn.conv2d_forward(x, wt, b, *args)
        return (y, *_cnn.conv2d_backward(gy, x, wt, True, True, True, *args))

    under_counts(run)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", [(2, 4, 6, 9, 9, 3, 2, 1, 0, 1), (1, 6, 3, 23, 23, 4, 2, 1, 1, 3),
                                  (3, 32, 16, 5, 5, 3, 1, 1, 0, 1)], ids=str)
def test_conv_transpose_bitwise_equal_for_any_thread_count(case, dtype, restore_threads):
    n, ci, co, h, w, k, s, p, op, g = case
    rng = rng_for(case, "threads-t")
    x = rng.standard_normal((n, ci, h, w)).astype(dtype)
    wt = rng.standard_normal((ci, co // g, k, k)).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    kw = dict(stride=s, padding=p, output_padding=op, groups=g)
    gy = rng.standard_normal(F.conv_transpose2d(x, wt, b, **kw).shape).astype(dtype)
    under_counts(lambda: (F.conv_transpose2d(x, wt, b, **kw),
                          *F.conv_transpose2d_backward(gy, x, wt, b, **kw)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pooling_linear_and_training_bitwise_equal(dtype, restore_threads):
    rng = rng_for("threads-misc")
    x = rng.standard_normal((6, 5, 67, 69)).astype(dtype)  # planes of 4.6K: several parts
    gmax = rng.standard_normal(F.max_pool2d(x, 3, 2, 1).shape).astype(dtype)
    gavg = rng.standard_normal(F.avg_pool2d(x, 2).shape).astype(dtype)
    a = rng.standard_normal((37, 70)).astype(dtype)
    wl = rng.standard_normal((45, 70)).astype(dtype)
    gl = rng.standard_normal((37, 45)).astype(dtype)
    a2 = rng.standard_normal((9, 50)).astype(dtype)      # 300 outputs: five column blocks
    w2 = rng.standard_normal((300, 50)).astype(dtype)
    g2 = rng.standard_normal((9, 300)).astype(dtype)
    gx = rng.standard_normal(x.shape).astype(dtype)
    under_counts(lambda: (F.max_pool2d(x, 3, 2, 1), F.max_pool2d_backward(gmax, x, 3, 2, 1),
                          F.avg_pool2d(x, 2), F.avg_pool2d_backward(gavg, x, 2),
                          F.linear(a, wl), *F.linear_backward(gl, a, wl),
                          F.linear(a2, w2), *F.linear_backward(g2, a2, w2),
                          F.relu(x), F.relu_backward(gx, x), F.sigmoid(x), F.tanh_backward(gx, x),
                          F.leaky_relu(x, 0.1), F.leaky_relu_backward(gx, x, 0.1)))

    def train():
        cnnpy.manual_seed(3)
        net = cnnpy.nn.Sequential(cnnpy.nn.Conv2d(1, 6, 3, padding=1), cnnpy.nn.ReLU(),
                                  cnnpy.nn.MaxPool2d(2), cnnpy.nn.Flatten(),
                                  cnnpy.nn.Linear(6 * 8 * 8, 2)).astype(dtype)
        opt = cnnpy.optim.Adam(net.parameters(), lr=1e-2)  # Linear: 768 x 2, few elements
        data = np.random.default_rng(0).standard_normal((8, 1, 16, 16)).astype(dtype)
        labels = np.arange(8) % 2
        loss = cnnpy.nn.CrossEntropyLoss()
        for _ in range(3):
            opt.zero_grad()
            out = net(data)
            loss(out, labels)
            net.backward(loss.backward())
            opt.step()
        return [p.data.copy() for p in net.parameters()]

    under_counts(train)

    def optimizers():  # 200K parameters: the updates split into parts
        out = []
        for make in (lambda p: cnnpy.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                     lambda p: cnnpy.optim.Adam(p, lr=0.01, amsgrad=True),
                     lambda p: cnnpy.optim.AdamW(p, lr=0.01),
                     lambda p: cnnpy.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)):
            param = cnnpy.nn.Parameter(np.linspace(-1, 1, 200_000).astype(dtype))
            opt = make([param])
            for step in range(3):
                param.grad[...] = np.cos(param.data * (step + 1))
                opt.step()
            out.append(param.data)
        return out

    under_counts(optimizers)


def test_set_num_threads_validates(restore_threads):
    for bad in (0, -1, 257):
        with pytest.raises(ValueError, match="set_num_threads: n must be between 1 and 256"):
            cnnpy.set_num_threads(bad)
    for bad in (2.0, "2", True, None):
        with pytest.raises(TypeError, match="set_num_threads: n must be an int"):
            cnnpy.set_num_threads(bad)
    cnnpy.set_num_threads(np.int64(3))
    assert cnnpy.get_num_threads() == 3


def test_environment_chooses_the_count():
    code = "import cnnpy; print(cnnpy.get_num_threads())"
    env = dict(os.environ, CNNPY_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "3"
    env["CNNPY_NUM_THREADS"] = "zero"  # not a count: the CPU count, as without the variable
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert int(out.stdout) == (os.cpu_count() or 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
def test_pool_works_in_a_forked_child(restore_threads):
    cnnpy.set_num_threads(2)
    x = rng_for("fork").standard_normal((2, 3, 40, 40)).astype(np.float32)
    w = rng_for("fork-w").standard_normal((4, 3, 3, 3)).astype(np.float32)
    want = F.conv2d(x, w, padding=1)  # the parent's pool is running now
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: its pool must be rebuilt, not waited on
        try:
            ok = np.array_equal(F.conv2d(x, w, padding=1), want)
            os.write(wfd, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(wfd)
    got = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"1"


def test_concurrent_python_threads_get_correct_results(restore_threads):
    cnnpy.set_num_threads(2)
    rng = rng_for("concurrent")
    xs = [rng.standard_normal((3, 2, 30, 30)).astype(np.float32) for _ in range(4)]
    w = rng.standard_normal((5, 2, 3, 3)).astype(np.float32)
    want = [F.conv2d(x, w, padding=1) for x in xs]
    errors = []

    def work(i):
        for _ in range(20):
            if not np.array_equal(F.conv2d(xs[i], w, padding=1), want[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_min_part_work_knob_returns_the_previous_value_and_refuses_zero():
    before = _cnn.set_min_part_work(5)
    try:
        assert _cnn.set_min_part_work(7) == 5
        with pytest.raises(ValueError, match="set_min_part_work"):
            _cnn.set_min_part_work(0)
        assert _cnn.set_min_part_work(7) == 7
    finally:
        _cnn.set_min_part_work(before)
