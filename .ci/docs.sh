#!/usr/bin/env bash
# CI: the documentation site (README, "Documentation"; docs/DECISIONS.md, "Documentation site").
#
#   1. Debian's chromium, the browser tests/test_docs_site.py opens the site in (playwright drives
#      it; no browser is ever downloaded by pip or playwright);
#   2. the "docs" extra's packages from pyproject.toml into the active environment (cnnpy itself is
#      already installed, so it is not built again);
#   3. the site, built with warnings as errors: every notebook of notebooks/ is executed here, once
#      (.ci/run then points tests/test_notebooks.py at these executed copies instead of running the
#      notebooks again), and the time it took is printed.
#
# The browser test runs afterwards with the suite, with CNNPY_REQUIRE_SITE=1 (a missing site or
# browser fails instead of skipping). Run alone: bash .ci/docs.sh && CNNPY_REQUIRE_SITE=1 python -m
# pytest tests/test_docs_site.py
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing chromium (Debian)"
    flock /tmp/apt.lock apt-get install -y -q chromium >/dev/null 2>&1 || {
        flock /tmp/apt.lock apt-get update -q >/dev/null
        flock /tmp/apt.lock apt-get install -y -q chromium >/dev/null
    }
fi
chromium --version

echo "== the docs extra"
reqs=$("$PYTHON" - <<'PY'
import tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
def expand(name):   # "cnnpy[plot,digits]" stands for those extras' packages
    for req in extras[name]:
        if req.startswith("cnnpy["):
            for sub in req[6:-1].split(","):
                yield from expand(sub.strip())
        else:
            yield req
print(" ".join(sorted(set(expand("docs")))))
PY
)
# shellcheck disable=SC2086
"$PYTHON" -m pip install -q $reqs

echo "== building the site (warnings are errors; executes the notebooks)"
start=$(date +%s)
rm -rf build/docs
"$PYTHON" -m sphinx -W --keep-going -q -b html docs build/docs/html
echo "docs: site built in $(( $(date +%s) - start )) s -> build/docs/html"
