"""python -m servicedown.report --reports-dir reports [--out reports/postmortem.html] [--md PATH]

Writes the post-mortem page and its Markdown draft from whatever results are there.
Exit 0 when both were written (missing or bad result files are noted in them), 2 when the
arguments cannot be used (no such reports folder, output not writable). Never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from servicedown.files import write_atomic
from servicedown.redact import clip
from servicedown.report import html, markdown, timeline
from servicedown.report.load import Inputs, load

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m servicedown.report",
        description="Write the post-mortem page (self-contained HTML) and its Markdown draft from the "
                    "result files in a reports folder: triage.json, chaos.json, load-timeline.json, "
                    "coverage.json and *.junit.xml. Missing files are noted in the report.")
    p.add_argument("--reports-dir", default="reports", type=Path,
                   help="folder holding the result files (default: reports)")
    p.add_argument("--out", type=Path, default=None,
                   help="the HTML page to write (default: REPORTS_DIR/postmortem.html)")
    p.add_argument("--md", type=Path, default=None,
                   help="the Markdown draft to write (default: beside --out, with .md)")
    return p


def pages(reports: Path, generated: float) -> tuple[Inputs, str, str]:
    """The page and the draft from whatever `reports` holds; never raises for what a file
    holds: a bad file becomes a note that names it, a section that cannot be drawn says so."""
    inp = load(reports)
    try:
        tl = timeline.build(inp)
    except Exception as exc:
        inp.note("timeline", "corrupt", f"the timeline could not be built: {type(exc).__name__}: "
                                        f"{clip(exc, 200)}")
        tl = timeline.Timeline()
    return inp, html.render(inp, tl, generated), markdown.render(inp, tl, generated)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    reports: Path = args.reports_dir
    if not reports.is_dir():
        what = "is not a folder" if reports.exists() else "does not exist"
        print(f"report: {reports} {what}; pass --reports-dir with the folder the checks wrote to "
              "(make checks writes reports/)", file=sys.stderr)
        return USAGE_ERROR
    out: Path = args.out or reports / "postmortem.html"
    md: Path = args.md or out.with_suffix(".md")
    if out.is_dir() or md.is_dir():
        print(f"report: {out if out.is_dir() else md} is a folder; --out and --md name files",
              file=sys.stderr)
        return USAGE_ERROR

    generated = time.time()
    inp, page, draft = pages(reports, generated)
    try:
        write_atomic(out, page)
        write_atomic(md, draft)
    except OSError as exc:
        print(f"report: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE_ERROR
    verdict = (inp.triage or {}).get("verdict") or "unknown"
    missing = sorted({n.source for n in inp.notes if n.kind in ("missing", "corrupt")})
    tail = f"; missing or unreadable: {', '.join(missing)}" if missing else ""
    print(f"post-mortem written: {out} and {md} (verdict {verdict}{tail})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last guard: one line, never a traceback
        print(clip(f"report: failed: {type(exc).__name__}: {exc}", 400), file=sys.stderr)
        sys.exit(1)
