"""Builds the plain-C engine test (tests/c/test_engine.c + csrc/*.c without the binding) and runs
it: once optimised, once under AddressSanitizer + UndefinedBehaviorSanitizer when the compiler
can build with them."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CC = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
TSAN = ["-fsanitize=thread", "-fno-omit-frame-pointer"]  # the pool's data races, if any
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]


def build(tmp_path, extra):
    sources = [str(p) for p in sorted((ROOT / "csrc").glob("*.c"))]  # the binding is in csrc/python/
    exe = tmp_path / "test_engine"
    cmd = [CC, "-std=c11", "-O2", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast", "-g", "-Wall", "-Wextra", "-Wshadow", "-Werror", f"-I{ROOT / 'csrc'}",
           str(ROOT / "tests" / "c" / "test_engine.c"), *sources, "-o", str(exe), *extra, "-pthread", "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True), exe


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("sanitize", ["", "asan-ubsan", "tsan"], ids=["plain", "asan-ubsan", "tsan"])
def test_c_engine(tmp_path, sanitize):
    flags = {"": [], "asan-ubsan": SANITIZE, "tsan": TSAN}[sanitize]
    res, exe = build(tmp_path, flags)
    if res.returncode != 0:
        if sanitize and "sanitize" in res.stderr:
            pytest.skip("the compiler cannot build with sanitizers here")
        pytest.fail(f"build failed:\n{res.stderr}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1", UBSAN_OPTIONS="halt_on_error=1",
               TSAN_OPTIONS="halt_on_error=1")
    env.pop("LD_PRELOAD", None)
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=300)
    if sanitize == "tsan" and "unexpected memory mapping" in run.stderr:
        pytest.skip("ThreadSanitizer cannot run under this kernel's address-space layout")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checks passed" in run.stdout
