"""The incident's post-mortem page and draft, by the report's own renderers (servicedown/report).

The report reads the incident folder like a reports folder (its triage.json), and the incident
log joins its timeline as a journal: the alert's firing window, each triage run with its checks,
the restart where one ran, the resolution. An incident folder holds no chaos, load, coverage or
JUnit results, so the report's notes that those files are missing are left out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from servicedown.report import html, markdown, timeline
from servicedown.report.load import Inputs, load
from servicedown.schema import (
    CHAOS_FILE,
    COVERAGE_FILE,
    LOAD_FILE,
    POSTMORTEM_HTML,
    POSTMORTEM_MD,
    TRIAGE_FILE,
    Incident,
    JournalEntry,
)

NOT_HERE = (CHAOS_FILE, LOAD_FILE, COVERAGE_FILE)


def journal(inc: Incident) -> list[JournalEntry]:
    name = f"{inc.alertname} ({inc.id})"
    out = [JournalEntry(name, "inject", f"{inc.alertname} firing", inc.started_at,
                        inc.resolved_at if inc.resolved_at is not None else inc.started_at,
                        "succeeded" if inc.resolved_at is not None else "running")]
    for e in inc.log:
        if e.event == "triage":
            checks = e.detail.get("checks") if isinstance(e.detail.get("checks"), dict) else {}
            what = f"triage: {e.detail.get('verdict')}, top cause {e.detail.get('top_cause') or 'none'}"
            out.append(JournalEntry(name, "detect", what, e.at, e.at, "succeeded",
                                    {"detected": bool(e.detail.get("top_cause")), "checks": checks}))
        elif e.event == "remediation":
            out.append(JournalEntry(name, "remediate", str(e.detail.get("action") or "restart"), e.at,
                                    e.at, "succeeded" if e.detail.get("healed") else "failed"))
    # The resolution ends the firing window; it is not a recovery the report may read as every
    # check passing: no check ran then.
    return out


def relabel(tl: timeline.Timeline) -> timeline.Timeline:
    """The timeline names journal entries as chaos's; here they are the incident's."""
    words = (("fault window starts: ", "alert firing: "), ("fault window ends: ", "alert resolved: "))
    for w in tl.windows:
        w.source = "incident"
    for e in tl.events:
        if e.source.startswith("chaos"):
            e.source = "incident"
            for old, new in words:
                e.text = e.text.replace(old, new)
    return tl


def inputs(folder: Path, inc: Incident) -> Inputs:
    inp = load(folder)
    inp.notes = [n for n in inp.notes if not (n.source in NOT_HERE and n.kind == "missing")]
    inp.journal.extend(journal(inc))
    return inp


def write(folder: Path, inc: Incident, write_text: Callable[[Path, str], None]) -> None:
    """postmortem.html and postmortem.md beside the incident's triage.json."""
    if not (folder / TRIAGE_FILE).exists():
        return  # no run yet: nothing to draw a page from
    inp = inputs(folder, inc)
    tl = relabel(timeline.build(inp))
    now = time.time()
    write_text(folder / POSTMORTEM_HTML, html.render(inp, tl, now))
    write_text(folder / POSTMORTEM_MD, markdown.render(inp, tl, now))
