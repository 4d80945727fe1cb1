"""Replays the fuzz corpus (tests/fuzz/corpus/: the inputs libFuzzer found that reach new code,
and every input that once broke the engine) through the fuzz harness, built with gcc under
AddressSanitizer + UndefinedBehaviorSanitizer (plainly when the compiler cannot; tests/c_build.py,
the engine's objects shared with the plain-C tests), so every test run checks them without clang. .ci/fuzz.sh searches for new inputs; tests/fuzz/README.md."""
import subprocess
from pathlib import Path

import pytest
from c_build import CC, SANITIZE, build, run_env

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.c_program


def _env():
    return run_env(ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1:halt_on_error=1",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_corpus_replays_clean(tmp_path):
    res = build(tmp_path, HERE / "fuzz_engine.c", SANITIZE, ["-DCNN_FUZZ_REPLAY"])
    if res.returncode != 0 and "sanitize" in res.stderr:
        res = build(tmp_path, HERE / "fuzz_engine.c", defines=["-DCNN_FUZZ_REPLAY"])  # no sanitizer runtime: still check the promises
    assert res.returncode == 0, f"build failed:\n{res.stderr}"
    inputs = [p for p in (HERE / "corpus").iterdir() if not p.name.startswith(".")]
    assert len(inputs) >= 10, "the corpus is missing"
    run = subprocess.run([str(res.exe), str(HERE / "corpus")], capture_output=True, text=True,
                         env=_env(), timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert f"replayed {len(inputs)} inputs" in run.stdout
