#!/usr/bin/env bash
# Every test the project has, on a machine that `scripts/bootstrap.sh all` prepared:
# lint, unit tests, the engine's tests, the checks against the real Compose stack (healthy
# and broken), the systemd host, chaos experiments, load gates and the reports.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
PY="$REPO_ROOT/.venv/bin/python"
export PYTHONPATH="$REPO_ROOT"
mkdir -p reports

step "lint (ruff)"
"$REPO_ROOT/.venv/bin/ruff" check . || die "ruff found problems (above)" "fix them, or run '.venv/bin/ruff check --fix .'"

step "images for the systemd test host"
scripts/bootstrap.sh systemd-image

step "pytest: unit, engine, integration, systemd, chaos, load, reports"
# One pytest session, so CI reads one closing line; JUnit and HTML for CI and people.
suites=()
for d in tests chaos loadtests; do [ -d "$d" ] && suites+=("$d"); done
exec timeout --kill-after=30 4800 "$PY" -m pytest "${suites[@]}" -p no:cacheprovider \
    --junitxml=reports/tests.junit.xml --html=reports/tests.html --self-contained-html "$@"
