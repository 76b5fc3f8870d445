"""All benchmark figures in one run: `make bench`."""

from __future__ import annotations

import importlib
import sys

SECTIONS = ["bench.bench_stack", "bench.bench_checks", "bench.bench_parsers", "bench.bench_load",
            "bench.bench_monitoring"]


def main() -> int:
    only = sys.argv[1:]
    for name in SECTIONS:
        if only and not any(o in name for o in only):
            continue
        importlib.import_module(name).main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
