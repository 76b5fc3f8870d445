#!/usr/bin/env bash
# The wheel on a host without a clone: build it, install it into a fresh venv (its dependencies
# from the package index), and run the console script and `pytest --runbook` from an unrelated
# folder. Prints each step; exits non-zero on the first failure.
#
#   scripts/wheel-check.sh [WORKDIR]     (default: a temporary folder, removed at the end)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
work="${1:-$(mktemp -d)}"
[ -n "${1:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist" "$work/team"
step "building the wheel"
timeout 300 "$REPO_ROOT/.venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$REPO_ROOT"
wheel=$(ls "$work"/dist/servicedown-*.whl)
info "$wheel"
step "a fresh venv with the wheel and its dependencies"
timeout 60 python3 -m venv "$work/venv"
timeout 900 "$work/venv/bin/pip" install -q "$wheel"
cp "$REPO_ROOT/tests/data/runbooks/styles/reordered-cache.md" "$work/team/RUNBOOK.md"
cd "$work/team"
step "servicedown coverage (strict fails on the uncovered cache outage)"
set +e
"$work/venv/bin/servicedown" coverage RUNBOOK.md --strict >coverage.out 2>coverage.err; rc=$?
set -e
tail -n 4 coverage.out; cat coverage.err
[ "$rc" = 1 ] && grep -q "cause-3, cause-3.1, cause-3.2" coverage.err || die "coverage --strict: exit $rc"
step "pytest --runbook RUNBOOK.md (the plugins load as entry points)"
set +e
"$work/venv/bin/pytest" --runbook "$work/team/RUNBOOK.md" >pytest.out 2>&1; rc=$?
set -e
grep -E "uncovered:|no tests ran|passed" pytest.out || true
[ "$rc" = 0 ] && grep -q "runbook coverage" pytest.out || die "pytest --runbook: exit $rc"
step "servicedown checks against a URL where nothing listens (the suite runs, the checks fail)"
set +e
"$work/venv/bin/servicedown" checks --target url --base-url http://127.0.0.1:9 --http-timeout-s 1 >checks.out 2>&1; rc=$?
set -e
grep -E "failed|passed" checks.out | tail -n 1
[ "$rc" = 1 ] && grep -q "test_3_health.py" checks.out || die "servicedown checks: exit $rc"
step "servicedown with an unknown command"
set +e
"$work/venv/bin/servicedown" nope 2>err.out; rc=$?
set -e
cat err.out
[ "$rc" = 2 ] || die "unknown command: exit $rc"
"$work/venv/bin/python" -c 'import servicedown, sys; print("installed at", servicedown.__file__)'
info "wheel check passed"
