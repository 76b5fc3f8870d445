#!/usr/bin/env bash
# Every test the project has, from a fresh clone: bootstrap, lint, the systemd host's image, the
# kube-apiserver build (cold once, then cached), then one pytest session: unit, engine,
# integration, systemd, Kubernetes, chaos, load and the reports. Each stage is bounded and the
# whole run keeps within CI's 90 minutes (TEST_BUDGET_S, default 85 min); the time of each
# stage is printed at the end, also when a stage fails or the run is cancelled.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/stages.sh"
cd "$REPO_ROOT"
PY="$REPO_ROOT/.venv/bin/python"
export PYTHONPATH="$REPO_ROOT"
mkdir -p reports
JUNIT=reports/tests.junit.xml

stages_begin "${TEST_BUDGET_S:-5100}"

stage "bootstrap (packages, Docker, venv, images)" 1800 scripts/bootstrap.sh all \
    || die "bootstrap failed (above)" "fix what it says, then run 'make test' again"

stage "lint (ruff)" 120 "$REPO_ROOT/.venv/bin/ruff" check . \
    || die "ruff found problems (above)" "fix them, or run '.venv/bin/ruff check --fix .'"

stage "image of the systemd test host" 900 scripts/bootstrap.sh systemd-image \
    || die "the systemd host's image did not build (above)" "fix what it says, then run again"

# Cold, this build takes minutes on 2 cores: its own stage, so its time shows and it does not
# eat into the tests' bound. Without Go the Kubernetes tests skip and say why.
if command -v go >/dev/null; then
    stage "kube-apiserver build (once, then cached)" 3000 scripts/k8s-apiserver.sh build \
        || die "building kube-apiserver failed (above)" \
            "check that the Go module proxy is reachable; 'scripts/k8s-apiserver.sh build' retries"
fi

# One pytest session, so CI reads one closing line; JUnit and HTML for CI and people.
suites=()
for d in tests chaos loadtests; do [ -d "$d" ] && suites+=("$d"); done
rm -f "$JUNIT"
stage "pytest: ${suites[*]}" "$(stages_left)" "$PY" -m pytest "${suites[@]}" -p no:cacheprovider \
    --junitxml="$JUNIT" --html=reports/tests.html --self-contained-html "$@"
rc=$?
# Where the pytest stage's time went, by suite folder (from its own JUnit report).
if [ -s "$JUNIT" ]; then
    while IFS= read -r line; do stage_note "$line"; done \
        < <(timeout 30 "$PY" scripts/junit_times.py "$JUNIT" 2>/dev/null)
fi
exit "$rc"
