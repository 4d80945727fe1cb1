"""Builds the plain-C test programs (tests/c/*.c, tests/fuzz/fuzz_engine.c) with the engine
(csrc/*.c, never the binding). The engine is compiled once per set of flags in a test session, one
object per source file, the files in parallel (one compiler per core), and every program built
with those flags links the same objects: a sanitizer build of the engine takes minutes of CPU, and
five programs use three flag sets. Each program stays separately linked, so each is exactly what
one compiler command would have built.

The programs never load the Python extension: they are the same whatever extension or instruction
set the suite runs against, so their tests carry the `c_program` marker and the suite's reruns
against the wheel (.ci/wheel.sh) and under sanitizers (.ci/sanitize.sh) leave them out."""
import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CC = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
BASE = ["-std=c11", "-O2", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast", "-g", "-Wall",
        "-Wextra", "-Wshadow", "-Werror", f"-I{ROOT / 'csrc'}"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]
TSAN = ["-fsanitize=thread", "-fno-omit-frame-pointer"]  # the pool's data races, if any
FLAVOURS = {"plain": [], "asan-ubsan": SANITIZE, "tsan": TSAN}
LIBS = ["-pthread", "-lm"]


class Built:
    """What a build produced: `returncode` and `stderr` as a CompletedProcess has them, `exe`."""

    def __init__(self, returncode, stderr, exe):
        self.returncode, self.stderr, self.exe = returncode, stderr, exe


_lock = threading.Lock()
_engines = {}  # tuple(flags) -> (returncode, stderr, [object paths])
_dir = None


def _workdir():
    global _dir
    if _dir is None:
        _dir = Path(tempfile.mkdtemp(prefix="cnnpy-cbuild-"))
        atexit.register(shutil.rmtree, _dir, True)
    return _dir


def _compile(args):
    return subprocess.run([CC, *args], capture_output=True, text=True)


def _engine(flags):
    """The engine's objects for these flags, compiled once: (returncode, stderr, objects)."""
    key = tuple(flags)
    with _lock:
        if key in _engines:
            return _engines[key]
        out = _workdir() / hashlib.sha1("\0".join(key).encode()).hexdigest()[:12]
        out.mkdir()
        # The ISA files include every kernel body: the longest compiles go first.
        sources = sorted((ROOT / "csrc").glob("*.c"), key=lambda p: (not p.name.startswith("isa_"), p.name))
        jobs = [[*flags, "-c", str(src), "-o", str(out / (src.stem + ".o"))] for src in sources]
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            results = list(pool.map(_compile, jobs))
        failed = [r for r in results if r.returncode != 0]
        entry = ((failed[0].returncode, "".join(r.stderr for r in failed), [])
                 if failed else (0, "", [Path(j[-1]) for j in jobs]))
        _engines[key] = entry
        return entry


def build(tmp_path, program, extra=(), defines=(), base=BASE):
    """Compiles `program` (a path to a .c file; `defines`, such as "-DX", for it alone) and links it
    with the engine built with base + extra into tmp_path / its stem. Returns a Built."""
    flags = [*base, *extra]
    exe = Path(tmp_path) / Path(program).stem
    code, err, objects = _engine(flags)
    if code != 0:
        return Built(code, err, exe)
    res = _compile([*flags, *defines, str(program), *map(str, objects), "-o", str(exe), *LIBS])
    return Built(res.returncode, res.stderr, exe)


def run_env(**options):
    """The environment a program runs in: the sanitizers halt on the first error, and the ASan
    runtime .ci/sanitize.sh preloads for Python is not preloaded into it."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1",
               TSAN_OPTIONS="halt_on_error=1")
    env.update(options)
    env.pop("LD_PRELOAD", None)
    return env
