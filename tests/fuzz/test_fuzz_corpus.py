"""Replays the fuzz corpus (tests/fuzz/corpus/: the inputs libFuzzer found that reach new code,
and every input that once broke the engine) through the fuzz harness, built with gcc under
AddressSanitizer + UndefinedBehaviorSanitizer (plainly when the compiler cannot), so every test
run checks them without clang. .ci/fuzz.sh searches for new inputs; tests/fuzz/README.md."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "fuzz"
CC = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer"]


def _env():
    env = dict(os.environ, ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    env.pop("LD_PRELOAD", None)  # .ci/sanitize.sh preloads ASan for Python, not for these
    return env


def build(tmp_path, sanitize):
    sources = [str(p) for p in sorted((ROOT / "csrc").glob("*.c"))]  # the binding is in csrc/python/
    exe = tmp_path / "replay"
    cmd = [CC, "-std=c11", "-O1", "-g", "-fno-trapping-math", "-ffp-contract=fast", "-Wall", "-Wextra",
           "-Wshadow", "-Werror", "-DCNN_FUZZ_REPLAY", f"-I{ROOT / 'csrc'}", str(HERE / "fuzz_engine.c"),
           *sources, "-o", str(exe), *(SANITIZE if sanitize else []), "-pthread", "-lm"]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env()), exe


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_corpus_replays_clean(tmp_path):
    res, exe = build(tmp_path, sanitize=True)
    if res.returncode != 0 and "sanitize" in res.stderr:
        res, exe = build(tmp_path, sanitize=False)  # no sanitizer runtime: still check the promises
    assert res.returncode == 0, f"build failed:\n{res.stderr}"
    inputs = [p for p in (HERE / "corpus").iterdir() if not p.name.startswith(".")]
    assert len(inputs) >= 10, "the corpus is missing"
    run = subprocess.run([str(exe), str(HERE / "corpus")], capture_output=True, text=True,
                         env=_env(), timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert f"replayed {len(inputs)} inputs" in run.stdout
