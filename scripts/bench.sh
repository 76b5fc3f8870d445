#!/usr/bin/env bash
# Benchmarks: figures printed side by side and written to reports/bench.json (machine, date);
# `make figures` then writes the README's figures table from that file.
#   scripts/bench.sh [bench_stack|bench_checks|bench_load|bench_chaos]...
# They measure against a throwaway stack of their own, never the shared reference stack.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT"
exec .venv/bin/python -m bench.run "$@"
