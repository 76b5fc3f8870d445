#!/usr/bin/env bash
# Benchmarks: figures printed side by side (make bench; scripts/bench.sh bench_checks for one).
# They measure against a throwaway stack of their own, never the shared reference stack.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT"
exec .venv/bin/python -m bench.run "$@"
