"""Writes the README's figures table from reports/bench.json, between its two markers.

    python -m bench.render                 # README.md from reports/bench.json
    python -m bench.render --check         # exit 1 when the README's table differs

Only a complete run (every section, no failed benchmark) is rendered: the table states one
`make bench` run, its machine and its date, and nothing typed by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.common import ROOT

BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
NOT_BENCHED = ("Not measured by `make bench`: the cold bootstrap (empty caches), the kube-apiserver "
               "build from source, and `make test` on a fresh clone; `make test` prints its stage "
               "times at the end of every run.")


class RenderError(ValueError):
    """The figures cannot be rendered; the message says why and what to do."""


def _load(value: list[float] | None) -> str:
    return f"{value[0]:.1f}" if value else "?"


def table(doc: dict[str, Any]) -> str:
    if not doc.get("complete"):
        bad = [f["key"] for f in doc.get("figures", []) if f.get("status") == "failed"]
        why = f"failed: {', '.join(bad)}" if bad else f"only the sections {doc.get('sections')}"
        raise RenderError(f"the figures come from an incomplete run ({why}); run `make bench` "
                          "until every benchmark passes, then render")
    m = doc["machine"]
    head = (f"Measured by `make bench` on {doc['date'][:10]} ({doc['date'][11:16]} UTC), commit "
            f"`{m.get('commit') or '?'}`: {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
            f"{m.get('os')}, kernel {m.get('kernel')}; load average "
            f"{_load(doc.get('load_average_start'))} at the start, "
            f"{_load(doc.get('load_average_end'))} at the end.")
    rows = ["| figure | measured | target |", "| --- | --- | --- |"]
    for f in doc["figures"]:
        text = f["text"].replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {f['label']} | {text} | {f.get('target') or '—'} |")
    return "\n".join([head, "", *rows, "", NOT_BENCHED])


def render(readme: str, doc: dict[str, Any]) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise RenderError(f"the README needs exactly one {BEGIN} ... {END} pair around the table")
    before, rest = readme.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    note = "<!-- written by `python -m bench.render` from reports/bench.json; do not edit by hand -->"
    return f"{before}{BEGIN}\n{note}\n{table(doc)}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, default=ROOT / "reports" / "bench.json")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md")
    p.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    a = p.parse_args(argv)
    try:
        doc = json.loads(a.json.read_text())
        new = render(a.readme.read_text(), doc)
    except FileNotFoundError as exc:
        print(f"ERROR: {exc.filename} does not exist; run `make bench` first", file=sys.stderr)
        return 2
    except ValueError as exc:  # RenderError, or not JSON
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"ERROR: {a.json} lacks {exc}; write it again with `make bench`", file=sys.stderr)
        return 2
    if a.check:
        if new != a.readme.read_text():
            print(f"{a.readme.name}: the figures table differs from {a.json.name}", file=sys.stderr)
            return 1
        return 0
    a.readme.write_text(new)
    print(f"{a.readme.name}: figures table written from {a.json.name} ({doc['date']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
