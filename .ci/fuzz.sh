#!/usr/bin/env bash
# CI: fuzz the C engine. Builds the libFuzzer harness tests/fuzz/fuzz_engine.c over csrc/*.c (all
# but the Python binding) with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and runs it
# for FUZZ_SECONDS (default 90) starting from the regression corpus tests/fuzz/corpus/.
#
#   bash .ci/fuzz.sh                          # the CI run: 90 s
#   FUZZ_SECONDS=3600 bash .ci/fuzz.sh        # longer, on demand
#   FUZZ_MERGE=1 FUZZ_SECONDS=600 bash .ci/fuzz.sh   # ... and add the new interesting inputs to
#                                             # tests/fuzz/corpus/ (review and commit them)
#
# New inputs go to a scratch directory, so a plain run never changes the repository. A crash, a
# broken promise of the harness, a leak, a timeout (FUZZ_TIMEOUT s per input) or an allocation over
# 2 GiB fails the script; the input is kept in FUZZ_ARTIFACTS (default: a fresh temporary
# directory) and printed in base64. Reproduce it with the command printed at the end, then add it
# to tests/fuzz/corpus/ once fixed (tests/fuzz/README.md).
#
# clang with libFuzzer is required: when neither clang-14 nor clang can build a fuzzer, the script
# installs clang-14 with apt-get, and fails (never skips) if that is impossible.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-90}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-25}
FUZZ_MERGE=${FUZZ_MERGE:-0}
CORPUS=tests/fuzz/corpus
start=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/cnnpy-fuzz.XXXXXX")
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts" "$work/new"
keep=0
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

# ---- a clang that can build a libFuzzer target ---------------------------------------------------
can_fuzz() {  # $1: compiler
    command -v "$1" >/dev/null 2>&1 || return 1
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        > "$work/probe.c"
    "$1" -fsanitize=fuzzer,address,undefined "$work/probe.c" -o "$work/probe" >/dev/null 2>&1
}
find_clang() {
    for c in ${CC_FUZZ:-} clang-14 clang; do
        if can_fuzz "$c"; then echo "$c"; return 0; fi
    done
    return 1
}
if ! CLANG=$(find_clang); then
    echo "== fuzz.sh: no clang with libFuzzer; installing clang-14"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q clang-14; then
        apt-get update -q && apt-get install -y -q clang-14 || true
    fi
    CLANG=$(find_clang) || apt-get install -y -q libclang-rt-14-dev || true
    if ! CLANG=$(find_clang); then
        echo "fuzz.sh: FATAL: cannot get a clang that builds libFuzzer targets (tried clang-14 and" \
             "clang; apt-get install clang-14 libclang-rt-14-dev failed). The fuzzer is part of CI:" \
             "not skipping." >&2
        exit 1
    fi
fi
echo "== fuzz.sh: $($CLANG --version | head -1)"

# ---- build --------------------------------------------------------------------------------------------
# One object per source, built in parallel (a single clang command compiled them one after another:
# ~290 s, most of it isa_avx512.c). The AVX-512 kernel copy is instrumented only where this CPU runs
# it: the dispatcher never selects it elsewhere (cnn_isa_available), and instrumenting it under ASan
# costs ~180 s of the build for code the fuzzer cannot reach.
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
COMMON=(-std=c11 -O1 -g -fno-trapping-math -ffp-contract=fast -Icsrc -pthread)
grep -qw avx512f /proc/cpuinfo 2>/dev/null && avx512_san=1 || avx512_san=0
mkdir -p "$work/obj"
for f in csrc/*.c tests/fuzz/fuzz_engine.c; do  # the engine alone (the binding is in csrc/python/)
    flags=("${COMMON[@]}" -fsanitize=fuzzer-no-link "${SAN[@]}")
    if [ "$(basename "$f")" = isa_avx512.c ] && [ "$avx512_san" = 0 ]; then flags=("${COMMON[@]}"); fi
    printf '%s\0' "$CLANG ${flags[*]} -c $f -o $work/obj/$(basename "$f" .c).o"
done | xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c '{}'
"$CLANG" -fsanitize=fuzzer "${SAN[@]}" "$work"/obj/*.o -o "$work/fuzz_engine" -pthread -lm
[ "$avx512_san" = 1 ] || echo "== fuzz.sh: this CPU has no AVX-512: isa_avx512.c linked uninstrumented (never dispatched)"
built=$(date +%s)
echo "== fuzz.sh: built in $((built - start)) s; fuzzing for $FUZZ_SECONDS s from $(ls "$CORPUS" | wc -l) corpus inputs"

# ---- run ------------------------------------------------------------------------------------------------
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$work/fuzz_engine" -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 \
    -max_len=1024 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$work/new" "$CORPUS" 2>&1 | tee "$work/fuzz.log" | grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)'
rc=${PIPESTATUS[0]}
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
new=$(ls "$work/new" | wc -l)
echo "== fuzz.sh: ${execs:-?} executions in $(( $(date +%s) - built )) s, $new new inputs, exit status $rc"

if [ "$rc" != 0 ]; then
    keep=1
    echo "fuzz.sh: FAILED. Inputs that broke it (in $artifacts):" >&2
    for f in "$artifacts"/*; do
        [ -e "$f" ] || continue
        echo "  $f  base64: $(base64 -w0 "$f")" >&2
    done
    echo "Reproduce: $work/fuzz_engine <input>   (or: python -m pytest tests/fuzz after copying it" \
         "into $CORPUS)" >&2
    exit "$rc"
fi

if [ "$FUZZ_MERGE" = 1 ] && [ "$new" != 0 ]; then
    before=$(ls "$CORPUS" | wc -l)
    "$work/fuzz_engine" -merge=1 -timeout="$FUZZ_TIMEOUT" -rss_limit_mb=2048 "$CORPUS" "$work/new" \
        > "$work/merge.log" 2>&1 || { cat "$work/merge.log" >&2; exit 1; }
    echo "== fuzz.sh: merged $(( $(ls "$CORPUS" | wc -l) - before )) new inputs into $CORPUS"
fi
echo "== fuzz.sh: finished in $(( $(date +%s) - start )) s"
