#!/usr/bin/env bash
# CI: the pytest suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of the
# extension. The tree (tracked and untracked-but-not-ignored files) is copied to a temporary
# directory and built there, so the normal in-place build is never touched; the copy's tests then
# import the instrumented cnnpy._cnn (checked before the run). The plain-C engine tests run under
# both sanitizers in .ci/run's first suite (tests/test_c_engine.py builds them so).
#
#   bash .ci/sanitize.sh                     # what CI runs
#   PYTHON=/path/to/python bash .ci/sanitize.sh
#   SANITIZE_MARKERS="" bash .ci/sanitize.sh # also the notebooks and the slow acceptance tests
#   bash .ci/sanitize.sh tests/test_conv.py -x   # extra arguments go to pytest
#
# Flags (Debian's gcc): -fsanitize=address,undefined -fno-sanitize-recover=undefined
# -fno-omit-frame-pointer -fno-wrapv -UNDEBUG, appended after every other flag. Python itself is
# not instrumented, so the ASan runtime is preloaded (LD_PRELOAD=libasan.so) and leak detection is
# off (the interpreter keeps memory until exit; tests/test_reliability.py checks leaks instead).
# pytest runs with -s so that a sanitizer report is never swallowed by output capture; an error
# aborts the run (halt_on_error, abort_on_error) and fails the script.
#
# Not run here, by default: tests marked `notebook` or `slow` (SANITIZE_MARKERS). They execute the
# same kernels on bigger data — the notebooks and the practices' training runs — and would take
# the sanitized run far beyond ten minutes on two cores; the unsanitized CI run (.ci/run) keeps
# them. Nor the tests marked `c_program` (tests/test_c_engine.py, the fuzz corpus replay, ...):
# they build C programs of their own that never load the extension, with their own sanitizers
# (ASan+UBSan, TSan), and .ci/run's first suite runs them. Everything else — every op, every error
# path, the leak, thread and fork tests — runs instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

# ---- the interpreter: $PYTHON, the active virtual environment, CI's .ci-venv, else python3 -------
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON=$VIRTUAL_ENV/bin/python
    elif [ -x .ci-venv/bin/python ]; then PYTHON=$root/.ci-venv/bin/python
    else PYTHON=python3
    fi
fi
if ! "$PYTHON" -c "import numpy, pytest, hypothesis" 2>/dev/null; then
    echo "sanitize.sh: FATAL: $PYTHON lacks numpy/pytest/hypothesis; set PYTHON= or activate the" \
         "environment README.md sets up" >&2
    exit 1
fi
CC=${CC:-gcc}
libasan=$("$CC" -print-file-name=libasan.so)
if [ ! -e "$libasan" ]; then
    echo "sanitize.sh: FATAL: $CC has no libasan.so (got '$libasan')" >&2
    exit 1
fi
MARKERS=${SANITIZE_MARKERS-not notebook and not slow}

# ---- a copy of the tree -----------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/cnnpy-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/src
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude=./.git --exclude=./build --exclude='*.so' --exclude=./.ci-venv --exclude=./.venv \
        --exclude='__pycache__' -cf - . | tar -xf - -C "$src"
fi

# ---- the instrumented build (the sanitizer flags last, after setup.py's own) -------------------------
cd "$src"
SAN_FLAGS="-g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fno-wrapv -UNDEBUG"
CC="$CC" SAN_FLAGS="$SAN_FLAGS" "$PYTHON" - <<'EOF'
import os, sys
import setuptools

flags = os.environ["SAN_FLAGS"].split()
_init = setuptools.Extension.__init__

def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.extra_compile_args = list(self.extra_compile_args or []) + flags
    self.extra_link_args = list(self.extra_link_args or []) + flags

setuptools.Extension.__init__ = init

# The AVX-512 kernel copy is instrumented only where this CPU can run it: elsewhere the dispatcher
# never selects it (cnn_isa_available), and instrumenting it is ~100 s of the build for nothing.
try:
    avx512 = " avx512f " in open("/proc/cpuinfo").read().replace("\n", " ")
except OSError:
    avx512 = True
if not avx512:
    from distutils.unixccompiler import UnixCCompiler  # setuptools' own distutils
    _compile = UnixCCompiler._compile

    def compile_one(self, obj, src, ext, cc_args, extra_postargs, pp_opts):
        if os.path.basename(src) == "isa_avx512.c":
            extra_postargs = [a for a in extra_postargs if not a.startswith("-fsanitize")]
            print("sanitize.sh: this CPU has no AVX-512: isa_avx512.c built uninstrumented (never dispatched)")
        _compile(self, obj, src, ext, cc_args, extra_postargs, pp_opts)

    UnixCCompiler._compile = compile_one
sys.argv = ["setup.py", "-q", "build_ext", "--inplace", "--force", "--parallel", "2"]
with open("setup.py") as f:
    exec(compile(f.read(), "setup.py", "exec"), {"__name__": "__main__", "__file__": "setup.py"})
EOF
built=$(date +%s)
so=$(ls "$src"/cnnpy/_cnn*.so)
if ! readelf -d "$so" | grep -q 'libasan'; then
    echo "sanitize.sh: FATAL: $so is not linked against libasan" >&2
    exit 1
fi
echo "== sanitize.sh: built $so with ASan+UBSan in $((built - start)) s"

# ---- the suite ---------------------------------------------------------------------------------------
# libstdc++ too: a C++ extension the tests import (matplotlib's ft2font, for cnnpy.viz) throws C++
# exceptions, and ASan's __cxa_throw interceptor aborts when libstdc++ was not loaded before it
libstdcxx=$("$CC" -print-file-name=libstdc++.so)
[ -e "$libstdcxx" ] || libstdcxx=""
export LD_PRELOAD="$libasan${libstdcxx:+ $libstdcxx}"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CNNPY_SANITIZED=1
export PYTHONDONTWRITEBYTECODE=1
"$PYTHON" -c "import sys, cnnpy._cnn as m; sys.exit(0 if m.__file__.startswith(sys.argv[1]) else
    'sanitize.sh: FATAL: the tests would import ' + m.__file__ + ', not the instrumented build')" "$src"
set +e
# The c_program tests are left out: they build csrc/*.c into programs of their own, sanitized by
# their own flags (ASan+UBSan, TSan), which .ci/run's first suite already ran
"$PYTHON" -m pytest -s -q -p no:cacheprovider --durations=10 -m "${MARKERS:+($MARKERS) and }not c_program" "$@"
rc=$?
set -e
end=$(date +%s)
echo "== sanitize.sh: pytest exit status $rc; build $((built - start)) s, tests $((end - built)) s," \
     "total $((end - start)) s (markers: '${MARKERS:-all}')"
exit $rc
