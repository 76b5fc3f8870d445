"""The coverage matrix as text (terminal) and as JSON (reports/coverage.json). Reads coverage's
types; coverage never imports this module."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from servicedown.runbook import matcher
from servicedown.runbook.coverage import Matrix, Row
from servicedown.runbook.sidecar import SUFFIXES
from servicedown.runbook.sources import ChaosResult

HEADER = ("ITEM", "STATUS", "MEANS", "MTTD", "MTTR", "CHECKS")


def compact(ids: list[str], total: int | None = None) -> str:
    """running.exists, running.state, health.endpoint -> running.{exists,state} health.endpoint"""
    if not ids:
        return "-"
    if total is not None and len(ids) == total and total > 3:
        return f"all {total} checks"
    groups: dict[str, list[str]] = defaultdict(list)
    for cid in ids:
        area, _, name = cid.partition(".")
        groups[area].append(name)
    parts = []
    for area, names in groups.items():
        if names == [""]:
            parts.append(area)
        elif len(names) == 1:
            parts.append(f"{area}.{names[0]}")
        else:
            parts.append(f"{area}.{{{','.join(names)}}}")
    return " ".join(parts)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _status(row: Row) -> str:
    if not row.required:
        return "info"
    if not row.covered:
        return "UNCOVERED"
    return f"covered ({row.via})" if row.via else "covered"


def _means(row: Row) -> str:
    """What the item was matched to, and how sure: 'oom 0.98', 'AMBIGUOUS', 'UNKNOWN'."""
    mp = row.mapping
    if mp.status == matcher.INFO:
        return "-"
    if mp.status in (matcher.AMBIGUOUS, matcher.UNKNOWN):
        return mp.status.upper()
    what = ",".join(mp.meanings) or "uncovered"
    return f"{what} (pinned)" if mp.status == matcher.PINNED else f"{what} {mp.confidence:.2f}"


def _checks(row: Row, total: int | None) -> str:
    declared = compact(row.checks, total) if row.checks else ""
    extra = " ".join(f"{c}*" for c in row.by_command)
    return " ".join(filter(None, (declared, extra))) or "-"


def _details(row: Row, total: int | None) -> list[str]:
    verdicts = {r.id: r.verdict for r in row.results}
    parts = []
    if row.mapping.status not in (matcher.INFO,):
        parts.append(f"means: {row.mapping.describe()}")
    if row.causes:
        parts.append("causes: " + ", ".join(row.causes))
    if row.experiments:
        parts.append("experiments: " + ", ".join(
            f"{e} ({verdicts[e]})" if verdicts.get(e) else e for e in row.experiments))
    if row.tests:
        parts.append(f"tests: {len(row.tests)}")
    out = ["    " + " | ".join(parts)] if parts else []
    out += [f"    $ {c.command}  ->  " + (compact(c.checks, total) if c.checks else "no check")
            for c in row.commands]
    return out


def matrix_text(m: Matrix) -> str:
    rb = m.runbook
    total = m.sources.get("checks")
    lines = [f"runbook: {rb.source} - {rb.title}"]
    if rb.alert:
        lines.append("alert: " + "; ".join(f"{k}: {v}" for k, v in rb.alert.items()))
    lines += ["sources: " + ", ".join(f"{v} {k}" for k, v in m.sources.items()), ""]
    table = [(HEADER, [])] + [((r.item.id, _status(r), _means(r), _seconds(r.mttd_s),
                                _seconds(r.mttr_s), _checks(r, total)), _details(r, total))
                              for r in m.rows]
    widths = [max(len(cells[i]) for cells, _ in table) for i in range(len(HEADER) - 1)]
    for cells, details in table:
        lines.append("  ".join([c.ljust(w) for c, w in zip(cells, widths, strict=False)]
                               + [cells[-1]]).rstrip())
        lines.extend(details)
    lines.append("")
    required = [r for r in m.rows if r.required]
    lines.append(f"required items: {len(required)}, covered: {sum(r.covered for r in required)}, "
                 f"uncovered: {', '.join(m.uncovered) or 'none'}")
    if m.undecided:
        lines.append(f"meaning not decided (pin it in {rb.source or 'RUNBOOK.md'}{SUFFIXES[0]}, e.g. "
                     f"'\"{m.row(m.undecided[0]).item.title}\": uncovered'): {', '.join(m.undecided)}")
    lines.append(f"informational items (escalation, prevention, post-incident, pinned; not required): "
                 f"{len(m.rows) - len(required)}")
    if m.uncovered_commands:
        lines.append("diagnosis commands no check stands for: "
                     + "; ".join(f"{i}: {c}" for i, c in m.uncovered_commands))
    if m.gaps:
        lines.append("* stands for a command of the item but does not declare the item:")
        lines.extend(f"  {g.check} -> {g.item} (`{g.command}`)" for g in m.gaps)
    lines.extend(f"note: {n}" for n in m.notes)
    return "\n".join(lines)


def matrix_json(m: Matrix) -> dict[str, Any]:
    rb = m.runbook
    results = {x.id: x for r in m.rows for x in r.results}
    items = []
    for r in m.rows:
        it = r.item
        items.append({
            "id": it.id, "kind": it.kind, "title": it.title, "parent": it.parent, "line": it.line,
            "commands": [{"command": c.command, "intent": c.intent, "checks": c.checks}
                         for c in r.commands],
            # Every check standing for the item; "declared" says which declare it themselves.
            "checks": r.checks + r.by_command, "declared_checks": r.checks,
            "tests": r.tests, "causes": r.causes,
            "experiments": [{"id": e, **_result(results.get(e))} for e in r.experiments],
            "mttd_s": r.mttd_s, "mttr_s": r.mttr_s,
            "covered": r.covered, "via": r.via or None, "required": r.required,
            "meanings": list(r.mapping.meanings),
            "match": {"status": r.mapping.status, "confidence": r.mapping.confidence,
                      "reasons": list(r.mapping.reasons),
                      "candidates": [{"meaning": c, "confidence": v} for c, v in r.mapping.candidates]},
        })
    required = [r for r in m.rows if r.required]
    return {
        "runbook": rb.source, "title": rb.title, "alert": rb.alert, "sources": m.sources,
        "items": items, "uncovered": m.uncovered, "undecided": m.undecided,
        "uncovered_commands": [{"item": i, "command": c} for i, c in m.uncovered_commands],
        "gaps": [{"check": g.check, "item": g.item, "command": g.command} for g in m.gaps],
        "summary": {"required": len(required), "covered": sum(r.covered for r in required),
                    "informational": len(m.rows) - len(required)},
        "notes": m.notes,
    }


def _result(x: ChaosResult | None) -> dict[str, Any]:
    if x is None:
        return {"mttd_s": None, "mttr_s": None, "verdict": None}
    return {"mttd_s": x.mttd_s, "mttr_s": x.mttr_s, "verdict": x.verdict or None}
