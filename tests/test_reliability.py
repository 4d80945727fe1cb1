"""Reliability (docs/reliability.md says which test proves which guarantee):

- leaks: every entry point of the binding, called 100,000 times with tiny inputs, and again with
  arguments it refuses (a bad array after good ones, an int that overflows, a bad geometry), leaves
  the allocated blocks, the traced Python memory and the resident set size flat and the reference
  counts of its arguments unchanged;
- determinism: every entry point gives bitwise the same result with 1 and 2 threads and on repeated
  calls; so does every functional op at sizes the threads split; a seeded training run gives the
  same bits in another interpreter with another thread count; resuming from a checkpoint continues
  bit for bit (every optimizer and a scheduler);
- concurrency: eight Python threads calling ops at once get the right answers, the GIL is released
  during engine calls (another thread runs Python meanwhile), and ops work in a multiprocessing
  child started with fork after the parent used threads; the thread pool can be restarted
  without re-running a finished job (a C test);
- in-place safety: optimizer steps (engine and Python level) and load_state_dict refuse arrays
  they cannot update before touching anything."""
import gc
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers import read_only, rng_for

import cnnpy
import cnnpy.functional as F
import ops
from cnnpy import _cnn, nn, optim

ROOT = Path(__file__).resolve().parents[1]
SANITIZED = bool(os.environ.get("CNNPY_SANITIZED")) or "libasan" in os.environ.get("LD_PRELOAD", "")
LEAK_CALLS = int(os.environ.get("CNNPY_LEAK_CALLS", "100000"))


@pytest.fixture
def threads():
    """Set the thread count inside a test; the previous count is restored afterwards."""
    before = cnnpy.get_num_threads()
    yield cnnpy.set_num_threads
    cnnpy.set_num_threads(before)


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- every entry point of the binding, as cnnpy calls it -----------------------------------------

def run_family(family, n=2, c=3, h=6, rows=5, seed=0):
    """The engine calls of one op family (its table's calls()) on images (n, c, h, h) (h even)
    and rows x 7 matrices; returns the results in order."""
    return family.calls(rng_for("calls", family.__name__, seed), n=n, c=c, h=h, rows=rows)


def run_ops(n=2, c=3, h=6, rows=5, seed=0):
    """Every family's engine calls, then the runtime queries; returns the results in order."""
    out = [r for family in ops.FAMILIES for r in run_family(family, n, c, h, rows, seed)]
    cnnpy.get_isa(), cnnpy.available_isas(), cnnpy.get_num_threads()
    return out


TINY = dict(n=1, c=1, h=4, rows=2)  # for 100,000 calls of each
THREADED = dict(n=8, c=4, h=32, rows=12000)  # the pool splits every op that it splits


# Private aliases through which cnnpy.functional calls the fast paths.
_FAST = {"_conv2d_fast": "conv2d_fast", "_linear_fast": "linear_fast",
         "_linear_backward_fast": "linear_backward_fast", "_activation_fast": "activation_fast",
         "_conv2d_backward_fast": "conv2d_backward_fast"}
_NOT_RECORDED = {"set_isa", "set_num_threads", "set_min_part_work"}  # global switches, tested elsewhere
# the network's calls act on a capsule and on arrays bound to it across calls (a replayed call
# would step the same parameters again): test_compile.py tests their leaks, refusals,
# determinism at 1 and 2 threads and the released GIL
_NOT_RECORDED |= {name for name in dir(_cnn) if name.startswith("net_")}


def record_engine_calls(run, *args, **sizes):
    """[(name, args)] of every call cnnpy makes into cnnpy._cnn while run(*args, **sizes) runs."""
    calls, saved = [], {}
    targets = [(_cnn, name, name) for name in dir(_cnn)
               if not name.startswith("_") and callable(getattr(_cnn, name))
               and name not in _NOT_RECORDED]
    targets += [(F, alias, name) for alias, name in _FAST.items()]
    for module, attr, name in targets:
        fn = getattr(module, attr)
        saved[(module, attr)] = fn

        def spy(*args, _name=name, _fn=fn):
            calls.append((_name, args))
            return _fn(*args)

        setattr(module, attr, spy)
    try:
        run(*args, **sizes)
    finally:
        for (module, attr), fn in saved.items():
            setattr(module, attr, fn)
    return calls


# every engine call of every family at the default sizes, as (id, name, args), the id naming the
# family and the call's place in it: stable when another family gains a call
CALLS = [(f"{family.__name__.rpartition('.')[2]}-{k}-{name}", name, args)
         for family in ops.FAMILIES
         for k, (name, args) in enumerate(record_engine_calls(run_family, family))]
CALLS += [(f"runtime-{k}-{name}", name, args) for k, (name, args) in enumerate(record_engine_calls(
    lambda: (cnnpy.get_isa(), cnnpy.available_isas(), cnnpy.get_num_threads())))]
FIRST_CALL = {}  # the first call of each entry point, on tiny inputs
for _name, _args in record_engine_calls(run_ops, **TINY):
    FIRST_CALL.setdefault(_name, _args)


def test_every_entry_point_is_exercised():
    missing = {n for n in dir(_cnn) if not n.startswith("_") and callable(getattr(_cnn, n))}
    missing -= _NOT_RECORDED | set(FIRST_CALL)
    assert not missing, f"not exercised: {sorted(missing)}"


def engine_fn(name):
    return getattr(_cnn, name)


# ---- leaks -----------------------------------------------------------------------------------------

def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _refcounted(args):
    """The arguments whose reference counts a leak or an extra DECREF would change."""
    return [a for a in args if isinstance(a, (np.ndarray, tuple, list, dict))]


def assert_no_leak(call, args, n=LEAK_CALLS, warmup=2000):
    """n calls of call() keep the allocated blocks and the RSS flat and the arguments' reference
    counts unchanged; n/10 more, traced, keep tracemalloc's total flat (tracing is slow)."""
    for _ in range(warmup):  # caches, the reused workspace, free lists, lazy imports
        call()
    gc.collect()
    gc.freeze()  # what exists now is never garbage: each collection below scans only what the
    try:         # calls make (after the whole suite, a full scan of the heap took most of the time)
        _assert_flat(call, args, n, warmup)
    finally:
        gc.unfreeze()


def _assert_flat(call, args, n, warmup):
    tracked = _refcounted(args)
    refs = [sys.getrefcount(a) for a in tracked]
    blocks, rss = sys.getallocatedblocks(), _rss()
    for _ in range(n):
        call()
    gc.collect()
    blocks, rss = sys.getallocatedblocks() - blocks, _rss() - rss
    tracemalloc.start()
    try:
        for _ in range(warmup // 10):
            call()
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        for _ in range(n // 10):
            call()
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - traced
    finally:
        tracemalloc.stop()
    assert [sys.getrefcount(a) for a in tracked] == refs, "argument reference counts changed"
    if blocks >= 100:  # once more: another thread (tqdm's monitor, say) may have allocated
        gc.collect()   # meanwhile, but a leak grows again by as much
        again = sys.getallocatedblocks()
        for _ in range(n):
            call()
        gc.collect()
        blocks = min(blocks, sys.getallocatedblocks() - again)
    assert blocks < 100, f"{blocks} more allocated blocks after {n} calls (twice)"
    assert traced < 32 * 1024, f"{traced} more bytes traced after {n // 10} calls"
    if not SANITIZED and sys.platform.startswith("linux"):  # ASan's quarantine grows the RSS
        if rss >= 2 * 1024 * 1024:  # once more: the heap the earlier tests left may have grown
            gc.collect()            # by a page run once (seen in the whole suite: 5 MB, and flat
            again = _rss()          # when rerun); a leak grows again by as much
            for _ in range(n):
                call()
            gc.collect()
            rss = min(rss, _rss() - again)
        assert rss < 2 * 1024 * 1024, f"RSS grew by {rss} bytes after {n} calls (twice)"


@pytest.mark.parametrize("name", sorted(FIRST_CALL))
def test_no_leak(name, threads):
    threads(1)  # handing work to the pool costs more than these tiny calls
    fn, args = engine_fn(name), FIRST_CALL[name]
    result = fn(*args)  # new arrays, owned by the caller alone (counted outside assert statements,
    refs = [sys.getrefcount(result)]  # whose rewriting keeps references of its own)
    if isinstance(result, tuple):
        refs += [sys.getrefcount(result[k]) for k in range(len(result)) if result[k] is not None]
    if not isinstance(result, (bool, int, float, str, type(None))):
        assert refs == [2] * len(refs), "a result has references the caller does not own"
    del result

    assert_no_leak(lambda: fn(*args), args)


BAD_ARRAY = np.array(["not a number"])
_TYPE_ERRORS = (TypeError, ValueError, OverflowError, MemoryError, IndexError)


def _variants(name, args):
    """The call with arguments the binding refuses after converting the ones before them."""
    out = {}
    arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    ints = [i for i, a in enumerate(args) if type(a) is int]
    if arrays:
        out["bad-array"] = args[:arrays[-1]] + (BAD_ARRAY,) + args[arrays[-1] + 1:]
        nd = args[arrays[0]]
        out["wrong-ndim"] = args[:arrays[0]] + (nd.reshape(-1)[:1],) + args[arrays[0] + 1:]
    if ints:
        out["int-overflow"] = args[:ints[-1]] + (2 ** 70,) + args[ints[-1] + 1:]
        out["bad-geometry"] = args[:ints[0]] + (-3,) + args[ints[0] + 1:]
    return out


ERROR_CASES = [pytest.param(name, kind, id=f"{name}-{kind}")
               for name in sorted(FIRST_CALL) for kind in _variants(name, FIRST_CALL[name])]


@pytest.mark.parametrize("name, kind", ERROR_CASES)
def test_no_leak_on_error_paths(name, kind, threads):
    threads(1)
    fn, args = engine_fn(name), _variants(name, FIRST_CALL[name])[kind]

    def call():
        try:
            fn(*args)
        except _TYPE_ERRORS:
            pass

    assert_no_leak(call, args, n=LEAK_CALLS // 5)


def test_no_leak_through_the_functional_api():
    """The Python layer too: a whole tiny forward/backward/step round, repeated."""
    rounds = max(LEAK_CALLS // 500, 20)
    assert_no_leak(lambda: run_ops(**TINY), (), n=rounds, warmup=50)


class _Cycle:
    def __init__(self):
        self.me = self


@pytest.mark.parametrize("leak", ["kept-objects", "argument-reference", "kept-cycles"])
def test_the_leak_check_fails_on_a_leak(leak):
    """The checker itself, with the heap frozen as it runs: each kind of leak fails it."""
    kept, arg = [], np.zeros(3)
    calls = {"kept-objects": lambda: kept.append(object()),
             "argument-reference": lambda: kept.append(arg),
             "kept-cycles": lambda: kept.append(_Cycle())}
    with pytest.raises(AssertionError):
        assert_no_leak(calls[leak], (arg,), n=2000, warmup=10)
    assert gc.get_freeze_count() == 0, "the heap was left frozen"


def test_the_leak_check_passes_cyclic_garbage():
    """Cycles that nothing keeps are garbage, not a leak: the frozen heap still lets the
    checker's collections free what the calls make."""
    assert_no_leak(lambda: _Cycle(), (), n=20000, warmup=10)
    assert gc.get_freeze_count() == 0, "the heap was left frozen"


# ---- determinism --------------------------------------------------------------------------------------

def _copy(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (tuple, list)):
        return type(v)(_copy(x) for x in v)
    return v


def _flat(v):
    """The bytes of a result (arrays, tuples of arrays, scalars) for a bitwise comparison."""
    if isinstance(v, np.ndarray):
        return [(v.dtype.str, v.shape, v.tobytes())]
    if isinstance(v, (tuple, list)):
        return [b for x in v for b in _flat(x)]
    if isinstance(v, (np.generic,)):
        return [(v.dtype.str, (), v.tobytes())]
    return [repr(v)]


_STATE = {"num_threads", "isa"}  # they report what is set; tested in test_threads.py
REPRO = [pytest.param(name, args, id=ident) for ident, name, args in CALLS if name not in _STATE]


@pytest.mark.parametrize("name, args", REPRO)
def test_every_engine_call_is_bitwise_reproducible(name, args, threads):
    """1 thread, 2 threads, 1 thread again, on fresh copies of the arguments (steps update them)."""
    fn = engine_fn(name)
    results = []
    for n in (1, 2, 1, 2):
        threads(n)
        fresh = _copy(args)
        results.append(_flat((fn(*fresh), fresh)))
    assert all(r == results[0] for r in results[1:])


def test_functional_ops_at_threaded_sizes_are_bitwise_reproducible(threads):
    """Sizes where the pool splits the work (many planes, long elementwise loops)."""
    threads(1)
    want = _flat(run_ops(**THREADED))
    for n in (2, 3, 2):
        threads(n)
        assert _flat(run_ops(**THREADED)) == want, f"{n} threads differ from 1 thread"


TRAIN_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np, cnnpy
    from cnnpy import nn, optim, data, datasets, transforms

    def digest():
        cnnpy.manual_seed(1234)
        x, y = datasets.gaussians(n_per_class=24, size=15, seed=5)
        train = data.TensorDataset(x, y, transform=transforms.RandomShift(2))
        loader = data.DataLoader(train, batch_size=8, shuffle=True, seed=7)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.Tanh(),
                              nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(36, 1))
        opt = optim.AdamW(model.parameters(), lr=1e-2)
        hist = cnnpy.train(model, loader, nn.BCEWithLogitsLoss(), opt, epochs=3, progress=False)
        losses = {k: v for k, v in hist.as_dict().items() if k != "seconds"}  # not the timings
        h = hashlib.sha256(repr(losses).encode())
        for k, v in model.state_dict().items():
            h.update(k.encode())
            h.update(v.tobytes())
        for entry in opt.state_dict()["state"].values():
            for k, v in sorted(entry.items()):
                h.update(np.asarray(v).tobytes())
        return h.hexdigest()

    if __name__ == "__main__":
        print(digest())
""")


def test_seeded_training_is_bitwise_repeatable_from_scratch(threads):
    """The same seeds give the same bits: twice here (2 threads, then 1), and in a fresh
    interpreter with another hash seed and CNNPY_NUM_THREADS=1."""
    ns = {"__name__": "train_digest"}
    exec(TRAIN_SCRIPT, ns)
    threads(2)
    first = ns["digest"]()
    threads(1)
    assert ns["digest"]() == first
    env = dict(os.environ, CNNPY_NUM_THREADS="1", PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300, check=True)
    assert out.stdout.strip() == first


@pytest.mark.parametrize("make", ops.optim.RESUME)
def test_resume_from_checkpoint_is_bit_exact(tmp_path, make):
    """Train, save (model, optimizer, scheduler), train on; a fresh model and optimizer loaded
    from the checkpoint train on to the same bits. (test_training.py covers Adam with dropout.)"""
    rng = _rng(3)
    xs = rng.standard_normal((6, 4, 1, 8, 8)).astype(np.float32)
    ys = rng.integers(0, 3, (6, 4))

    def fresh(seed):
        cnnpy.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(108, 3))
        opt = make(model.parameters())
        return model, opt, optim.StepLR(opt, step_size=2, gamma=0.5)

    def steps(model, opt, sched, batches):
        crit, losses = nn.CrossEntropyLoss(), []
        for x, y in batches:
            opt.zero_grad()
            losses.append(crit(model(x), y))
            model.backward(crit.backward())
            opt.step()
            sched.step()
        return losses

    model, opt, sched = fresh(0)
    steps(model, opt, sched, zip(xs[:3], ys[:3]))
    cnnpy.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict()}, tmp_path / "ckpt.npz")
    uninterrupted = steps(model, opt, sched, zip(xs[3:], ys[3:]))

    model2, opt2, sched2 = fresh(1)  # other initial weights: the checkpoint must replace them
    ckpt = cnnpy.load(tmp_path / "ckpt.npz")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    resumed = steps(model2, opt2, sched2, zip(xs[3:], ys[3:]))
    assert resumed == uninterrupted
    assert _flat(list(model2.state_dict().values())) == _flat(list(model.state_dict().values()))
    assert _flat([sorted(e.items()) for e in opt2.state_dict()["state"].values()]) == \
        _flat([sorted(e.items()) for e in opt.state_dict()["state"].values()])
    assert sched2.get_last_lr() == sched.get_last_lr()


# ---- concurrency -----------------------------------------------------------------------------------

def _thread_work(i):
    """A mixed workload whose inputs depend on i; returns its results."""
    rng = _rng(100 + i)
    dt = np.float32 if i % 2 else np.float64
    x = rng.standard_normal((2, 4, 24, 24)).astype(dt)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dt)
    gy = rng.standard_normal((2, 6, 24, 24)).astype(dt)
    a = rng.standard_normal((64, 50)).astype(dt)
    lw = rng.standard_normal((10, 50)).astype(dt)
    param = nn.Parameter(rng.standard_normal(5000).astype(dt))
    opt = optim.Adam([param], lr=0.01)
    param.grad[...] = np.sin(param.data)
    opt.step()
    return [F.conv2d(x, w, padding=1), *F.conv2d_backward(gy, x, w, padding=1),
            F.conv_transpose2d(x, w.transpose(1, 0, 2, 3).copy(), stride=2),
            F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 2), F.adaptive_max_pool2d(x, 5),
            F.pad(x, (3, 3, 2, 2), mode="reflect"), F.linear(a, lw), F.softmax(a),
            F.cross_entropy(a[:, :10], np.arange(64) % 10), F.sigmoid(a), param.data]


def test_eight_python_threads_at_once_get_the_right_answers(threads):
    threads(2)  # the engine's own pool is contended: later callers run serially
    want = [_flat(_thread_work(i)) for i in range(8)]
    start = threading.Barrier(8)
    wrong = []

    def worker(i):
        start.wait()
        for _ in range(5):
            if _flat(_thread_work(i)) != want[i]:
                wrong.append(i)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert wrong == []


@pytest.fixture
def short_switch_interval():
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(before)


@pytest.mark.parametrize("make", ops.gather("SLOW"))
def test_the_gil_is_released_during_engine_calls(make, threads, short_switch_interval):
    """While one thread is inside an engine call, another runs Python code: its timestamps span
    most of the call. Were the GIL held, none could fall inside the call except within one
    switch interval (0.1 ms here) at its end; the call is made to take at least 10 ms."""
    threads(1)
    scale = 1
    while True:  # grow the call until it takes 10 ms
        call = make(scale)
        t = time.perf_counter()
        call()
        if time.perf_counter() - t >= 0.01 or scale >= 32:
            break
        scale *= 2
    best = 0.0
    for _ in range(5):  # a busy machine may not run the watcher at once: best of five
        window, stamps, done = {}, [], threading.Event()

        def worker():
            window["t0"] = time.perf_counter()
            call()
            window["t1"] = time.perf_counter()
            done.set()

        th = threading.Thread(target=worker)
        th.start()
        while not done.is_set():
            stamps.append(time.perf_counter())
        th.join()
        inside = [s for s in stamps if window["t0"] < s < window["t1"]]
        if len(inside) > 1:
            best = max(best, (inside[-1] - inside[0]) / (window["t1"] - window["t0"]))
        if best > 0.5:
            break
    assert best > 0.5, f"another thread ran during only {best:.0%} of the call"


def _child_results(i):
    """Run in a forked child: the engine (and its thread pool) must work there."""
    cnnpy.set_num_threads(2)
    return _flat(_thread_work(i))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork()")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+: fork with threads
def test_multiprocessing_fork_after_threads(threads):
    threads(2)
    want = [_flat(_thread_work(i)) for i in range(4)]
    busy = [threading.Thread(target=_thread_work, args=(i,)) for i in range(8)]
    for t in busy:  # the parent has used Python threads and the engine's pool
        t.start()
    for t in busy:
        t.join()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        got = pool.map_async(_child_results, range(4)).get(timeout=120)
    assert got == want


@pytest.mark.c_program
def test_thread_pool_restart_never_reruns_a_finished_job(tmp_path):
    """csrc/threads.c: a worker started after the pool shrank and grew again re-ran the previous
    job (found by the fuzzer). tests/c/test_pool_restart.c restarts the pool 30,000 times (the old
    code re-ran a job about once in 10,000 restarts here)."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "pool_restart"
    srcs = [str(ROOT / "tests" / "c" / "test_pool_restart.c"),
            str(ROOT / "csrc" / "threads.c"), str(ROOT / "csrc" / "common.c"), str(ROOT / "csrc" / "platform.c")]
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'csrc'}",
                    *srcs, "-o", str(exe), "-pthread"], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    run = subprocess.run([str(exe), "30000"], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stdout + run.stderr


# ---- in-place safety ---------------------------------------------------------------------------------

def _noncontiguous(a):
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


SPOIL = {  # how an array the engine must update in place is spoiled -> the exception type
    "float32-for-float64": (lambda a: a.astype(np.float32), TypeError),
    "int64": (lambda a: a.astype(np.int64), TypeError),
    "complex": (lambda a: a.astype(np.complex128), TypeError),
    "non-contiguous": (_noncontiguous, ValueError),
    "fortran-order": (lambda a: np.asfortranarray(a), ValueError),
    "read-only": (read_only, ValueError),
    "byte-swapped": (lambda a: a.astype(a.dtype.newbyteorder()), ValueError),
    "wrong-shape": (lambda a: a.reshape(2, -1).copy(), ValueError),
    "list": (lambda a: a.tolist(), TypeError),
}

STEPS = ops.optim.ENGINE_STEPS  # engine step -> (its array arguments, the in-place ones, scalars)
STEP_CASES = [pytest.param(step, target, spoil, id=f"{step}-{target}-{spoil}")
              for step, (_, inplace, _) in STEPS.items() for target in inplace for spoil in SPOIL
              if not (spoil == "fortran-order")]  # 1-D arrays: see the 2-D case below


@pytest.mark.parametrize("step, target, spoil", STEP_CASES)
def test_engine_steps_refuse_arrays_they_cannot_update(step, target, spoil):
    names, _, scalars = STEPS[step]
    rng = _rng(11)
    arrays = {n: np.abs(rng.standard_normal(12)) for n in names}
    make, exc = SPOIL[spoil]
    arrays[target] = make(arrays[target])
    before = {n: np.array(v, copy=True) for n, v in arrays.items()}
    # a parameter of the wrong dtype or shape makes the next array the mismatched one
    blamed = "|".join(n for n in names if n != "grad") if target == "param" else target
    with pytest.raises(exc, match=rf"^{step}: ({blamed}) must"):
        getattr(_cnn, step)(*[arrays[n] for n in names], *scalars)
    for n in names:  # nothing was written: neither the bad array nor the good ones
        np.testing.assert_array_equal(np.asarray(arrays[n]), before[n], err_msg=n)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_engine_steps_refuse_fortran_order_and_a_bad_gradient(step):
    names, inplace, scalars = STEPS[step]
    rng = _rng(12)
    for spoiled, what, exc, msg in [
            (inplace[-1], "fortran", ValueError, rf"^{step}: {inplace[-1]} must be a writeable, C-contiguous"),
            ("grad", "shape", ValueError, rf"^{step}: grad must have the parameter's shape"),
            # the binding's converter does not name the argument (cnnpy.optim checks it first)
            ("grad", "strings", TypeError, r"real numeric array, got dtype <U1")]:
        arrays = {n: np.abs(rng.standard_normal((3, 4))) for n in names}
        if what == "fortran":
            arrays[spoiled] = np.asfortranarray(arrays[spoiled])
        elif what == "shape":
            arrays["grad"] = arrays["grad"].reshape(4, 3).copy()
        else:
            arrays["grad"] = np.full((3, 4), "x")
        before = {n: arrays[n].copy() for n in names}
        with pytest.raises(exc, match=msg):
            getattr(_cnn, step)(*[arrays[n] for n in names], *scalars)
        for n in names:
            np.testing.assert_array_equal(arrays[n], before[n], err_msg=f"{what}: {n}")


def _opt_snapshot(opt, params):
    return _flat([p.data for p in params] + [sorted((k, v) for k, v in opt.state[p].items())
                                              for p in params])


STATE_SPOILS = {  # a state array replaced after two steps -> (exception, message fragment)
    "read-only": (read_only, ValueError, "must be writeable"),
    "non-contiguous": (_noncontiguous, ValueError, "must be C-contiguous"),
    "other-dtype": (lambda a: a.astype(np.float64), TypeError, "has dtype float64"),
    "other-shape": (lambda a: a.reshape(-1).copy(), ValueError, "has shape"),
    "list": (lambda a: a.tolist(), TypeError, "must be a numpy array"),
}
OPTIMIZERS = ops.optim.STATEFUL  # optimizer -> (make it, a state array every step updates)


@pytest.mark.parametrize("spoil", sorted(STATE_SPOILS))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_step_with_spoiled_optimizer_state_changes_nothing(name, spoil):
    """The last parameter's state is spoiled: the first parameters are not updated either."""
    make, key = OPTIMIZERS[name]
    rng = _rng(13)
    params = [nn.Parameter(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(3)]
    opt = make(params)
    for _ in range(2):
        for p in params:
            p.grad[...] = rng.standard_normal(p.shape)
        opt.step()
    fn, exc, fragment = STATE_SPOILS[spoil]
    opt.state[params[-1]][key] = fn(opt.state[params[-1]][key])
    before = _opt_snapshot(opt, params)
    with pytest.raises(exc, match=rf"the state '{key}' of param_groups\[0\]\['params'\]\[2\] .*{fragment}"):
        opt.step()
    assert _opt_snapshot(opt, params) == before


def test_load_state_dict_refuses_a_read_only_parameter_before_writing_any():
    """Module.load_state_dict once copied into the first parameters, then failed on a read-only
    one: a half-loaded model. Now the destination is checked with everything else first."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    new = {k: v + 1 for k, v in model.state_dict().items()}
    before = model.state_dict()
    model[2].bias.data.flags.writeable = False
    with pytest.raises(ValueError, match=r"load_state_dict: the model's parameter '2\.bias' is not a "
                                         r"writeable numpy array; nothing was loaded"):
        model.load_state_dict(new)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_optimizer_load_state_dict_with_a_bad_last_entry_changes_nothing():
    params = [nn.Parameter(np.ones((2, 2), np.float32)) for _ in range(3)]
    opt = optim.Adam(params, lr=0.1)
    for p in params:
        p.grad[...] = 1
    opt.step()
    sd = opt.state_dict()
    sd["state"][2]["exp_avg"] = np.zeros((5,), np.float32)
    sd["param_groups"][0]["lr"] = 0.5
    before = (_opt_snapshot(opt, params), opt.param_groups[0]["lr"])
    with pytest.raises(ValueError, match=r"state\[2\]\['exp_avg'\] has shape \(5,\)"):
        opt.load_state_dict(sd)
    assert (_opt_snapshot(opt, params), opt.param_groups[0]["lr"]) == before
