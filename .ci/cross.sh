#!/usr/bin/env bash
# CI: the engine beyond x86-64 Linux and GCC — where students are (issue 14). Five gates:
#
#  1. compilers: csrc/*.c, the binding csrc/python/*.c (against Python's and NumPy's headers) and tests/c/*.c
#     with GCC and with Clang: -Wall -Wextra -Wshadow -Wvla -Werror, and -std=c11 -pedantic for
#     all but the binding (whose CPython/NumPy idioms -pedantic rejects); then every plain-C test
#     runs natively from both builds, and the GCC build again under qemu-x86_64 -cpu Nehalem: an
#     x86-64 without AVX, where any AVX instruction outside the dispatched kernels would trap.
#  2. MSVC's view: without MSVC, every engine and test file is preprocessed as cl.exe would see it
#     (x64, ARM64 and x86; _MSC_VER, no __GNUC__/__clang__, __STDC_NO_ATOMICS__/__STDC_NO_VLA__;
#     system headers stubbed out) and must contain no GNU-only construct: __attribute__,
#     __builtin_*, inline asm, typeof, statement expressions, __int128, __atomic_*/__sync_*,
#     #pragma GCC/clang, `[static n]` parameters; nor include a header cl.exe lacks (stdatomic.h,
#     threads.h, pthread.h, unistd.h, cpuid.h, x86intrin.h, complex.h, sys/...). (VLAs, VLA
#     parameters included, are caught by -Wvla in gate 1.)
#  3. aarch64: the engine and its plain-C tests cross-compiled with aarch64-linux-gnu-gcc and run
#     under qemu-aarch64 with CNNPY_NUM_THREADS=2 (the tests also switch between 1, 2 and 3 threads
#     themselves and compare the results bitwise: tests/c/test_platform.c). GCC's vectoriser dump
#     (-fdump-tree-vect-details) of the portable kernels is summarised per function, and the hot
#     kernels (GEMM micro-kernel, direct convolution, pooling, activations, optimizer steps) must
#     have vectorised float32 loops.
#  4. Windows: the same with mingw-w64 (Win32 threads, not winpthreads: checked in the imports),
#     run under wine — twice: with C11 atomics, and as MSVC builds it, without them
#     (-D__STDC_NO_ATOMICS__: the platform's Win32 Interlocked atomics, common.c's fallback).
#
# Every tests/c/*.c is a test: built against csrc/*.c (the engine; the binding is csrc/python/), run with no
# arguments except test_pool_restart (POOL_ROUNDS restarts, 2000 by default; the pytest suite runs
# 30,000 natively). Exit status 0 means every check passed.
#
#   bash .ci/cross.sh                 # what CI runs; installs its Debian packages when missing
#   CROSS_REPORT=dir bash .ci/cross.sh  # also keep GCC's aarch64 vectoriser dump in dir
#
# Packages (Debian 12): gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user gcc-mingw-w64-x86-64
# wine wine64 clang.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
PYTHON=${PYTHON:-python3}
POOL_ROUNDS=${POOL_ROUNDS:-2000}
JOBS=$(nproc 2>/dev/null || echo 2)

work=$(mktemp -d "${TMPDIR:-/tmp}/cnnpy-cross.XXXXXX")
cleanup() {  # keeps the script's exit status; a wineserver still writing its prefix must not fail CI
    local rc=$?
    if [ -d "$work/wine" ] && command -v wineserver >/dev/null; then
        WINEPREFIX=$work/wine wineserver -k >/dev/null 2>&1 || true
        WINEPREFIX=$work/wine wineserver -w >/dev/null 2>&1 || true
    fi
    rm -rf "$work" 2>/dev/null || { sleep 2; rm -rf "$work" 2>/dev/null; } ||
        echo "cross.sh: warning: could not remove $work" >&2
    exit "$rc"
}
trap cleanup EXIT
stamp() { echo "== cross.sh: $1 ($(( $(date +%s) - start )) s)"; }

# ---- packages ---------------------------------------------------------------------------------------
need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v wine >/dev/null || need+=(wine wine64)
command -v clang >/dev/null || need+=(clang)
if [ ${#need[@]} -gt 0 ]; then
    echo "== cross.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_get() { if command -v flock >/dev/null; then flock /tmp/apt.lock apt-get "$@"; else apt-get "$@"; fi; }
    apt_get install -y -q --no-install-recommends "${need[@]}" >/dev/null ||
        { apt_get update -q >/dev/null && apt_get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
    stamp "packages installed"
fi

ENGINE=$(ls csrc/*.c)
# test_lanes16.c is x86 GCC/Clang code (AVX2 intrinsics standing in for AVX-512's 16 lanes, the
# kernels' vector extensions): tests/test_conv_kernels.py builds and runs it where AVX2 is
TESTS=$(ls tests/c/*.c | grep -v test_lanes16)
FLAGS=(-std=c11 -O3 -fno-trapping-math -fno-math-errno -ffp-contract=fast -Icsrc)  # setup.py's
WARN=(-Wall -Wextra -Wshadow -Wvla -Werror)

# build CC OUT FLAGS...: the engine into OUT/libcnn.a and every test into OUT/<test>[.exe],
# JOBS files at a time; compiler messages go to OUT/log (and to the console on failure). With
# SEED=dir, only the files that use atomics are compiled; the rest come from dir.
build() {
    local cc=$1 out=$2 ext="" engine=$ENGINE tests=$TESTS
    shift 2
    case "$cc" in *mingw*) ext=.exe ;; esac
    mkdir -p "$out/csrc" "$out/tests/c"
    if [ -n "${SEED:-}" ]; then
        cp "$SEED"/csrc/*.o "$out/csrc/"
        cp "$SEED"/tests/c/*.o "$out/tests/c/"
        engine=$(grep -l atomic $ENGINE || true)
        tests=$(grep -l atomic $TESTS || true)
    fi
    # the tests at -O2, as tests/test_c_engine.py builds them (GCC 12.2 for aarch64 crashes on
    # tests/c/test_engine.c at -O3: an internal compiler error in vect_transform_reduction)
    if ! printf '%s\n' $engine | xargs -r -P "$JOBS" -I{} "$cc" "$@" -c {} -o "$out/{}.o" 2>>"$out/log" ||
       ! printf '%s\n' $tests | xargs -r -P "$JOBS" -I{} "$cc" "$@" -O2 -c {} -o "$out/{}.o" 2>>"$out/log"; then
        cat "$out/log" >&2
        echo "cross.sh: FAILED: $cc could not compile the engine or its tests" >&2
        exit 1
    fi
    local objs=()
    for f in $ENGINE; do objs+=("$out/$f.o"); done
    ar rcs "$out/libcnn.a" "${objs[@]}"
    for t in $TESTS; do
        local name
        name=$(basename "$t" .c)
        "$cc" "$@" "$out/$t.o" "$out/libcnn.a" -o "$out/$name$ext" $LINK 2>>"$out/log" ||
            { cat "$out/log" >&2; echo "cross.sh: FAILED: linking $name with $cc" >&2; exit 1; }
    done
    if [ -s "$out/log" ]; then cat "$out/log"; fi
}

# run_tests LABEL DIR RUNNER...: every test of DIR, under RUNNER (may be empty).
run_tests() {
    local label=$1 dir=$2
    shift 2
    for t in $TESTS; do
        local name args=() exe t0
        name=$(basename "$t" .c)
        exe=$dir/$name
        [ -e "$exe" ] || exe=$exe.exe
        [ "$name" = test_pool_restart ] && args=("$POOL_ROUNDS")
        t0=$(date +%s)
        if ! CNNPY_NUM_THREADS=2 "$@" "$exe" "${args[@]}" >"$dir/$name.out" 2>&1; then
            cat "$dir/$name.out" >&2
            echo "cross.sh: FAILED: $label $name" >&2
            exit 1
        fi
        echo "   $label $name: $(tail -1 "$dir/$name.out") ($(( $(date +%s) - t0 )) s)"
    done
}

# ---- 1. GCC and Clang: no warnings; the tests pass natively ------------------------------------------
PYINC=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$PYTHON" -c "import numpy; print(numpy.get_include())")
LINK="-pthread -lm"
for cc in gcc clang; do
    for f in csrc/python/*.c; do
        "$cc" "${FLAGS[@]}" "${WARN[@]}" -pthread -I"$PYINC" -I"$NPINC" -fPIC -c "$f" \
            -o "$work/$(basename "$f" .c)-$cc.o"
    done
    build "$cc" "$work/$cc" "${FLAGS[@]}" "${WARN[@]}" -pedantic -pthread
    run_tests "$cc" "$work/$cc"
done
stamp "gcc $(gcc -dumpversion) and $($(command -v clang) --version | head -1 | sed 's/.*version \([^ ]*\).*/\1/'): 0 warnings (-Werror); native tests passed"
if [ "$(uname -m)" = x86_64 ]; then
    run_tests "x86-64 without AVX" "$work/gcc" qemu-x86_64 -cpu Nehalem
    stamp "x86-64 without AVX (qemu-x86_64 -cpu Nehalem): passed on the portable kernels"
fi

# ---- 2. what cl.exe sees -----------------------------------------------------------------------------
stubs=$work/stubs
for h in $(grep -ho '^[[:space:]]*#[[:space:]]*include <[^>]*>' csrc/*.c csrc/*.h csrc/generic/*.h csrc/python/*.[ch] tests/c/*.c |
           sed 's/.*<\(.*\)>/\1/' | sort -u); do
    mkdir -p "$(dirname "$stubs/$h")"
    : >"$stubs/$h"
done
MSVC_COMMON=(-D_MSC_VER=1940 -D_WIN32=1 -D__STDC_NO_ATOMICS__=1 -D__STDC_NO_VLA__=1 -D__STDC_NO_THREADS__=1)
GNU_ONLY='__attribute__|__builtin_|__asm__|\basm[[:space:]]*\(|\b__typeof|\btypeof\b|\(\{|__int128|__extension__|__atomic_|__sync_|#pragma[[:space:]]+(GCC|clang)|\[[[:space:]]*static[[:space:]]'
NOT_IN_MSVC='(^|/)(stdatomic|threads|pthread|unistd|cpuid|x86intrin|complex)\.h$|/sys/'
bad=0
for arch in "-D_WIN64=1 -D_M_X64=100 -D_M_AMD64=100" "-D_WIN64=1 -D_M_ARM64=1" "-D_M_IX86=600"; do
    for f in csrc/*.c csrc/python/*.c $TESTS; do
        # shellcheck disable=SC2086
        if ! gcc -E -H -P -undef -nostdinc -std=c11 -isystem "$stubs" -Icsrc "${MSVC_COMMON[@]}" $arch "$f" \
                >"$work/msvc.i" 2>"$work/msvc.err"; then
            echo "cross.sh: $f does not preprocess as cl.exe ($arch):" >&2; cat "$work/msvc.err" >&2; bad=1
            continue
        fi
        if grep -nE "$GNU_ONLY" "$work/msvc.i" >"$work/msvc.hits"; then
            echo "cross.sh: $f ($arch): GNU-only code outside a guard, as cl.exe would see it:" >&2
            cat "$work/msvc.hits" >&2; bad=1
        fi
        if sed -n 's/^\.* //p' "$work/msvc.err" | grep -E "$NOT_IN_MSVC" >"$work/msvc.hits"; then
            echo "cross.sh: $f ($arch) includes headers cl.exe does not have:" >&2
            cat "$work/msvc.hits" >&2; bad=1
        fi
    done
done
[ "$bad" = 0 ] || { echo "cross.sh: FAILED: MSVC view" >&2; exit 1; }
stamp "MSVC view (x64, ARM64, x86): no GNU-only construct outside a guard in $(ls csrc/*.c csrc/python/*.c $TESTS | wc -l) files"

# ---- 3. aarch64 under qemu, and what vectorises --------------------------------------------------------
LINK="-static -pthread -lm"
build aarch64-linux-gnu-gcc "$work/aarch64" "${FLAGS[@]}" "${WARN[@]}" -pthread \
    -fdump-tree-vect-details="$work/aarch64/{}.vect"
stamp "aarch64: built ($(aarch64-linux-gnu-gcc -dumpversion))"
"$PYTHON" - "$work/aarch64/csrc/isa_scalar.c.vect" <<'EOF'
# GCC's vectoriser dump of the portable kernels (csrc/isa_scalar.c), per compiled function after
# inlining: how many loops it vectorised for float32 and float64 and, where none, why not (GCC's
# reason at the loops it gave up on). The hot kernels must vectorise for float32.
import re, sys
from collections import defaultdict

HOT = ["gemm_micro", "forward_direct_task", "backward_data_direct_task", "maxpool_plane",
       "avgpool_plane", "avgpool_backward_plane", "maxpool_backward_arg_plane", "pool_phases",
       "fused_pool_rows", "fused_rebuild", "act_forward_task", "act_backward_task", "sgd_task",
       "adam_task", "rmsprop_task"]
fn_re = re.compile(r"^;; Function (\w+)_(f32|f64)_scalar ")
msg_re = re.compile(r"^\S*csrc/(\S+?):(\d+):\d+: (optimized|missed): +(.*)$")
done = defaultdict(int)  # (name, dtype) -> loops vectorised
why = defaultdict(dict)  # (name, dtype) -> {where: reason}
last = {}
fn = None
OUTER = ("loop nest containing two or more consecutive inner loops", "multiple nested loops")
for line in open(sys.argv[1], errors="replace"):
    m = fn_re.match(line)
    if m:
        fn = (m.group(1), m.group(2))
        continue
    m = msg_re.match(line)
    if not m or fn is None:
        continue
    where, kind, text = f"{m.group(1).split('/')[-1]}:{m.group(2)}", m.group(3), m.group(4)
    if kind == "optimized" and text.startswith("loop vectorized"):
        done[fn] += 1
    elif kind == "missed" and text.startswith("not vectorized:"):
        last[fn, where] = text[len("not vectorized:"):].strip().rstrip(".")
    elif kind == "missed" and text.startswith("couldn't vectorize loop"):
        reason = last.get((fn, where), "?")
        if not reason.startswith(OUTER):  # an outer loop's reason says nothing about the kernel
            why[fn].setdefault(where, reason)
for n in sorted({n for n, _ in list(done) + list(why)}):
    cols = []
    for dt in ("f32", "f64"):
        k = done.get((n, dt), 0)
        reasons = "; ".join(f"{w} {r}" for w, r in list(why[(n, dt)].items())[:3]) or "outer loops only"
        cols.append(f"{dt} {k} vectorised" if k else f"{dt} none ({reasons})")
    print(f"   {n}: {', '.join(cols)}")
missing = [n for n in HOT if not done.get((n, "f32"))]
if missing:
    sys.exit("cross.sh: FAILED: on aarch64 no float32 loop vectorised in " + ", ".join(missing) +
             " (a renamed kernel: update HOT in .ci/cross.sh)")
EOF
if [ -n "${CROSS_REPORT:-}" ]; then
    mkdir -p "$CROSS_REPORT"
    cp "$work/aarch64/csrc/isa_scalar.c.vect" "$CROSS_REPORT/aarch64-isa_scalar-vect.txt"
fi
run_tests aarch64 "$work/aarch64" qemu-aarch64
stamp "aarch64 under qemu-aarch64: passed"

# ---- 4. Windows under wine -----------------------------------------------------------------------------------
export WINEDEBUG=-all WINEARCH=win64 WINEPREFIX=$work/wine
LINK="-static"
for atomics in c11 win32; do
    extra=()
    [ "$atomics" = win32 ] && extra=(-D__STDC_NO_ATOMICS__=1)
    SEED=$([ "$atomics" = win32 ] && echo "$work/win-c11" || true) \
        build x86_64-w64-mingw32-gcc "$work/win-$atomics" "${FLAGS[@]}" "${WARN[@]}" "${extra[@]}"
    for exe in "$work/win-$atomics"/*.exe; do
        if x86_64-w64-mingw32-objdump -p "$exe" | grep -i 'DLL Name' | grep -vqiE 'kernel32|msvcrt|ucrt|api-ms-win'; then
            x86_64-w64-mingw32-objdump -p "$exe" | grep -i 'DLL Name' >&2
            echo "cross.sh: FAILED: $exe imports more than the Windows system DLLs (winpthreads?)" >&2
            exit 1
        fi
    done
    run_tests "windows($atomics atomics)" "$work/win-$atomics" wine
done
WINEPREFIX=$work/wine wineserver -w 2>/dev/null || true  # the tests are done; let wine's server leave
stamp "Windows (mingw-w64 $(x86_64-w64-mingw32-gcc -dumpversion)) under wine: passed"
echo "== cross.sh: finished in $(( $(date +%s) - start )) s"
