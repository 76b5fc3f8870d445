"""Where a pytest session's time went, by suite folder, from its JUnit XML report.

    python scripts/junit_times.py reports/tests.junit.xml

One line per folder (tests/unit, tests/engine, chaos, ...): the summed test time (setup, call
and teardown, so shared fixtures count where they are first used), tests and failures.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def folder(classname: str) -> str:
    parts = classname.split(".")
    return "/".join(parts[:2]) if parts[0] == "tests" and len(parts) > 2 else parts[0]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/junit_times.py JUNIT_XML", file=sys.stderr)
        return 2
    try:
        root = ET.parse(argv[0]).getroot()
    except (OSError, ET.ParseError) as exc:
        print(f"cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 2
    seconds: dict[str, float] = defaultdict(float)
    tests: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for case in root.iter("testcase"):
        key = folder(case.get("classname") or "?")
        seconds[key] += float(case.get("time") or 0)
        tests[key] += 1
        failed[key] += any(child.tag in ("failure", "error") for child in case)
    for key in sorted(seconds, key=lambda k: -seconds[k]):
        s = round(seconds[key])
        took = f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"
        bad = f", {failed[key]} failed" if failed[key] else ""
        print(f"      {key:<48} {tests[key]:>4} tests{bad:<12} {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
