"""Builds the plain-C tests (tests/c/test_engine.c: the engine's ops; tests/c/test_net.c: the network
API, GausNet trained from C) with csrc/*.c and without the binding, and runs them: once
optimised, once under AddressSanitizer + UndefinedBehaviorSanitizer and once under
ThreadSanitizer when the compiler can build with them (tests/c_build.py builds them)."""
import subprocess

import pytest
from c_build import CC, FLAVOURS, ROOT, build, run_env

pytestmark = pytest.mark.c_program


@pytest.mark.skipif(CC is None, reason="no C compiler")
@pytest.mark.parametrize("test", ["test_engine", "test_net"])
@pytest.mark.parametrize("sanitize", list(FLAVOURS))
def test_c_engine(tmp_path, sanitize, test):
    res = build(tmp_path, ROOT / "tests" / "c" / f"{test}.c", FLAVOURS[sanitize])
    if res.returncode != 0:
        if sanitize != "plain" and "sanitize" in res.stderr:
            pytest.skip("the compiler cannot build with sanitizers here")
        pytest.fail(f"build failed:\n{res.stderr}")
    run = subprocess.run([str(res.exe)], capture_output=True, text=True, env=run_env(), timeout=300)
    if sanitize == "tsan" and "unexpected memory mapping" in run.stderr:
        pytest.skip("ThreadSanitizer cannot run under this kernel's address-space layout")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checks passed" in run.stdout
