#!/usr/bin/env bash
# Benchmarks: figures printed side by side (make bench [SECTIONS=checks]).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT"
scripts/stack.sh up || exit 1
exec .venv/bin/python -m bench.run "$@"
