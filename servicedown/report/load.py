"""Read the result files of a run leniently: whatever is there is used, whatever is missing,
partial or corrupt becomes a note the page shows instead of a crash.

Every string read is passed through `redact` once here, so no renderer can forget to.
"""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicedown.redact import clip
from servicedown.redact import mask_json as mask
from servicedown.schema import (
    CHAOS_FILE,
    COVERAGE_FILE,
    EXPERIMENT_FIELDS,
    LOAD_FILE,
    OUTCOMES,
    TIMELINE_FILE,
    TRIAGE_FILE,
    VERDICTS,
    JournalEntry,
    TimelineEntry,
    epoch,
    number,
)

TRIAGE, CHAOS, LOAD, COVERAGE = TRIAGE_FILE, CHAOS_FILE, LOAD_FILE, COVERAGE_FILE
MAX_BYTES = 64 * 1024 * 1024  # a result file larger than this is not a result file


@dataclass
class Note:
    source: str  # the file (or "reports") the note is about
    kind: str  # missing | partial | corrupt
    text: str


@dataclass
class Suite:
    file: str
    tests: int
    failures: int
    errors: int
    skipped: int
    time_s: float


@dataclass
class Inputs:
    reports_dir: Path
    triage: dict[str, Any] | None = None
    triage_time: float | None = None
    experiments: list[dict[str, Any]] = field(default_factory=list)
    journal: list[JournalEntry] = field(default_factory=list)
    series: list[dict[str, float | None]] = field(default_factory=list)
    load_faults: list[dict[str, Any]] = field(default_factory=list)
    load_source: str | None = None
    coverage: list[dict[str, Any]] | None = None
    coverage_summary: dict[str, Any] = field(default_factory=dict)
    load_summary: dict[str, Any] = field(default_factory=dict)  # a fault run's own findings
    load_marks: list[dict[str, Any]] = field(default_factory=list)  # inject / revert / recovered
    suites: list[Suite] = field(default_factory=list)
    incident: list[TimelineEntry] = field(default_factory=list)  # servicedown watch's timeline
    notes: list[Note] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # the files that were used

    def note(self, source: str, kind: str, text: str) -> None:
        self.notes.append(Note(source, kind, text))

    def missing(self, source: str) -> bool:
        return any(n.source == source and n.kind in ("missing", "corrupt") for n in self.notes)


# --- small lenient converters ---------------------------------------------------------------

FAILED = object()  # what _read_json returns when the file gave nothing (JSON `null` is a value)


def _read_json(inp: Inputs, name: str, hint: str) -> Any:
    """The parsed file, or FAILED with a note (missing, unreadable, too big, not JSON)."""
    path = inp.reports_dir / name
    if not path.exists():
        inp.note(name, "missing", f"{name} not found in {inp.reports_dir}: {hint}")
        return FAILED
    try:
        if path.stat().st_size > MAX_BYTES:
            inp.note(name, "corrupt", f"{name} is larger than {MAX_BYTES // 2**20} MiB; not read")
            return FAILED
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        inp.note(name, "corrupt", f"{name} could not be read: {exc.strerror or exc}")
        return FAILED
    if not text.strip():
        inp.note(name, "corrupt", f"{name} is empty: {hint}")
        return FAILED
    try:
        doc = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        inp.note(name, "corrupt", f"{name} is not valid JSON{where}: the run that wrote it may "
                                  f"have been cut short; {hint}")
        return FAILED
    inp.read.append(name)
    doc, bad_text = _valid_text(doc)
    if bad_text:
        inp.note(name, "partial", f"{name} holds text that is not valid Unicode (a lone surrogate); "
                                  "it is shown with replacement characters")
    return mask(doc)


def _valid_text(value: Any) -> tuple[Any, bool]:
    """The value with every string (keys too) made valid Unicode: JSON's \\ud800 escape reads
    as a lone surrogate, which no page can be written with. -> (value, whether any changed)."""
    changed = False

    def fix(v: Any) -> Any:
        nonlocal changed
        if isinstance(v, str):
            good = v.encode("utf-8", "replace").decode("utf-8")
            changed = changed or good != v
            return good
        if isinstance(v, dict):
            return {fix(k): fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return fix(value), changed


def display_name(name: str) -> str:
    """A file name as a page can show it: one that is not UTF-8 keeps its readable part."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --- triage ----------------------------------------------------------------------------------

def _triage(inp: Inputs) -> None:
    doc = _read_json(inp, TRIAGE, "run `make checks` (pytest checks/ --triage-json reports/triage.json)")
    if doc is FAILED:
        return
    if not isinstance(doc, dict):
        inp.note(TRIAGE, "corrupt", f"{TRIAGE} is not an object with verdict, causes and checks")
        return
    out: dict[str, Any] = {"target": str(doc.get("target") or "")}
    verdict = doc.get("verdict")
    if verdict not in VERDICTS:
        inp.note(TRIAGE, "partial", f"{TRIAGE} has no valid verdict ({str(verdict)[:40]!r})")
        verdict = None
    out["verdict"] = verdict
    checks, dropped = [], 0
    raw_checks = doc.get("checks")
    if not isinstance(raw_checks, list):
        inp.note(TRIAGE, "partial", f"{TRIAGE} lists no checks")
        raw_checks = []
    for c in raw_checks:
        if not isinstance(c, dict) or not isinstance(c.get("id"), str):
            dropped += 1
            continue
        outcome = c.get("outcome") if c.get("outcome") in OUTCOMES else "unknown"
        evidence = c.get("evidence") if isinstance(c.get("evidence"), dict) else {}
        checks.append({"id": c["id"], "runbook": str(c.get("runbook") or ""), "outcome": outcome,
                       "message": str(c.get("message") or ""), "evidence": evidence,
                       "duration_s": number(c.get("duration_s"))})
    if dropped:
        inp.note(TRIAGE, "partial", f"{dropped} check entr{'y' if dropped == 1 else 'ies'} in "
                                    f"{TRIAGE} had no id and were left out")
    out["checks"] = checks
    causes = []
    raw_causes = doc.get("causes")
    if raw_causes is None and verdict not in (None, "healthy"):
        inp.note(TRIAGE, "partial", f"{TRIAGE} has no ranked causes list")
    for c in raw_causes if isinstance(raw_causes, list) else []:
        if not isinstance(c, dict):
            continue
        causes.append({"id": str(c.get("id") or "?"), "category": str(c.get("category") or ""),
                       "title": str(c.get("title") or c.get("id") or "untitled cause"),
                       "score": number(c.get("score")),
                       "confidence": number(c.get("confidence")),
                       "defining": c.get("defining") is not False,
                       "why_not_first": str(c.get("why_not_first") or ""),
                       "in_runbook": c.get("in_runbook") is not False,
                       "evidence": [str(e) for e in _list(c.get("evidence"))],
                       "resolution": [str(s) for s in _list(c.get("resolution"))]})
    out["causes"] = causes
    # What the triage adds to the ranking (absent from older files: then empty).
    out["headline"] = str(doc.get("headline") or (verdict or "unknown").upper())
    out["inconclusive"] = doc.get("cause_inconclusive") is True
    out["state"] = str(doc.get("state") or "")
    out["decide"] = [str(d) for d in _list(doc.get("decide"))]
    out["history"] = [str(h) for h in _list(doc.get("history"))]
    coverage = doc.get("coverage") if isinstance(doc.get("coverage"), dict) else {}
    unchecked = coverage.get("unchecked") if isinstance(coverage.get("unchecked"), dict) else {}
    out["unchecked"] = {str(k): str(v) for k, v in unchecked.items()}
    # The triage JSON carries no time of its own: the file's write time is when the checks ran.
    when = epoch(doc.get("time") or doc.get("generated_at"))
    if when is None:
        try:
            when = (inp.reports_dir / TRIAGE).stat().st_mtime
        except OSError:
            when = None
    inp.triage, inp.triage_time = out, when


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- chaos -----------------------------------------------------------------------------------

def _chaos(inp: Inputs) -> None:
    doc = _read_json(inp, CHAOS, "run `pytest chaos/ --chaos-json reports/chaos.json`")
    if doc is FAILED:
        return
    if isinstance(doc, dict):
        raw = doc.get("experiments")
        for entry in _list(doc.get("journal")):
            _journal_entry(inp, entry, "")
    else:
        raw = doc
    if not isinstance(raw, list):
        inp.note(CHAOS, "corrupt", f"{CHAOS} holds no list of experiments")
        return
    lacking: dict[str, int] = {}
    for n, e in enumerate(raw, 1):
        if not isinstance(e, dict):
            lacking["an object"] = lacking.get("an object", 0) + 1
            continue
        row = dict(e)
        row["id"] = str(e.get("id") or f"experiment-{n}")
        for key in EXPERIMENT_FIELDS:
            if key not in e:
                lacking[key] = lacking.get(key, 0) + 1
        for key in ("mttd_s", "mttr_s", "writes_acknowledged", "writes_lost"):
            row[key] = number(e.get(key))
        inp.experiments.append(row)
        for entry in _list(e.get("journal")):
            _journal_entry(inp, entry, row["id"])
    for key, count in lacking.items():
        inp.note(CHAOS, "partial", f"{count} experiment(s) in {CHAOS} lack {key}")
    if not inp.experiments:
        inp.note(CHAOS, "partial", f"{CHAOS} lists no experiments")


def _journal_entry(inp: Inputs, entry: Any, experiment: str) -> None:
    act = JournalEntry.from_json(entry, experiment)
    if act is not None:
        inp.journal.append(act)


# --- load ------------------------------------------------------------------------------------

def _load(inp: Inputs) -> None:
    if not (inp.reports_dir / LOAD).exists():
        history = sorted(inp.reports_dir.glob("*_stats_history.csv"))
        if history:
            _locust_history(inp, history[-1])
            return
    doc = _read_json(inp, LOAD, "run the Locust load test (loadtests/) to draw throughput, p95 "
                                "and errors over time")
    if doc is FAILED:
        return
    raw = doc.get("series") if isinstance(doc, dict) else doc
    if not isinstance(raw, list):
        inp.note(LOAD, "corrupt", f"{LOAD} holds no series of per-second points")
        return
    derived = 0
    for p in raw:
        if not isinstance(p, dict):
            continue
        t = epoch(p.get("t", p.get("time", p.get("timestamp"))))
        if t is None:
            continue
        rps = number(p.get("rps"))
        errors = number(p.get("errors"))
        ratio = number(p.get("error_ratio"))
        if ratio is None and errors is not None and rps:
            ratio, derived = min(errors / rps, 1.0), derived + 1  # 1 s buckets: requests = rps
        inp.series.append({"t": t, "rps": rps, "p95_ms": number(p.get("p95_ms", p.get("p95"))),
                           "errors": errors, "error_ratio": ratio})
    inp.series.sort(key=lambda p: p["t"] or 0.0)
    if not inp.series:
        inp.note(LOAD, "partial", f"{LOAD} has no point with a time")
    if derived:
        inp.note(LOAD, "partial", f"error ratio derived from errors / rps for {derived} point(s)")
    for name in ("rps", "p95_ms", "error_ratio"):
        if inp.series and all(p[name] is None for p in inp.series):
            inp.note(LOAD, "partial", f"{LOAD} has no {name} values; that chart is left out")
    if isinstance(doc, dict):
        for key in ("recovered", "impact_after_inject_s", "recovered_after_revert_s", "fault_window_s",
                    "seconds_without_answer", "seconds_over_p95_gate"):
            if key in doc:
                inp.load_summary[key] = doc[key]
        for m in _list(doc.get("marks")):
            if isinstance(m, dict) and epoch(m.get("t")) is not None:
                inp.load_marks.append({"event": str(m.get("event") or "mark"), "t": epoch(m.get("t"))})
    faults = doc.get("faults") if isinstance(doc, dict) else None
    for f in _list(faults):
        if isinstance(f, dict) and epoch(f.get("start")) is not None:
            inp.load_faults.append({"name": str(f.get("name") or "fault"),
                                    "start": epoch(f.get("start")), "end": epoch(f.get("end"))})
    inp.load_source = LOAD


def _locust_history(inp: Inputs, path: Path) -> None:
    """Locust's own `--csv` history (Aggregated rows) when no timeline JSON was written."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("Name") == "Aggregated"]
    except (OSError, csv.Error) as exc:
        inp.note(path.name, "corrupt", f"{path.name} could not be read: {exc}")
        return
    for r in rows:
        t, rps, fails = number(r.get("Timestamp")), number(r.get("Requests/s")), number(r.get("Failures/s"))
        if t is None:
            continue
        ratio = min(fails / rps, 1.0) if fails is not None and rps else (0.0 if rps else None)
        inp.series.append({"t": t, "rps": rps, "p95_ms": number(r.get("95%")), "errors": fails,
                           "error_ratio": ratio})
    inp.read.append(path.name)
    inp.load_source = path.name
    inp.note(LOAD, "partial", f"{LOAD} not found; load drawn from Locust's {path.name} "
                              "(no fault windows in it)")


# --- the incident timeline (servicedown watch) -------------------------------------------------

def _incident(inp: Inputs) -> None:
    """The JSON lines watch appended, each read on its own: a line cut short by a crash costs
    that line, not the file."""
    path = inp.reports_dir / TIMELINE_FILE
    if not path.exists():
        return  # watch did not run: the page builds its timeline from the other results
    try:
        if path.stat().st_size > MAX_BYTES:
            inp.note(TIMELINE_FILE, "corrupt", f"{TIMELINE_FILE} is larger than {MAX_BYTES // 2**20} MiB; "
                                               "not read")
            return
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        inp.note(TIMELINE_FILE, "corrupt", f"{TIMELINE_FILE} could not be read: {exc.strerror or exc}")
        return
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = TimelineEntry.from_json(mask(json.loads(line)))
        except ValueError:
            entry = None
        if entry is None:
            bad += 1
        else:
            inp.incident.append(entry)
    inp.incident.sort(key=lambda e: e.time)
    if bad:
        inp.note(TIMELINE_FILE, "partial", f"{bad} line(s) of {TIMELINE_FILE} could not be read and "
                                           "were left out")
    if inp.incident:
        inp.read.append(TIMELINE_FILE)


# --- coverage and JUnit ---------------------------------------------------------------------

def _coverage(inp: Inputs) -> None:
    path = inp.reports_dir / COVERAGE
    if not path.exists():
        return  # the page says "runbook coverage not available"; not a missing input
    doc = _read_json(inp, COVERAGE, "regenerate the runbook coverage")
    if doc is FAILED:
        return
    raw = doc.get("items", doc.get("matrix")) if isinstance(doc, dict) else doc
    if not isinstance(raw, list):
        inp.note(COVERAGE, "corrupt", f"{COVERAGE} holds no list of runbook items")
        return
    items = []
    for it in raw:
        if not isinstance(it, dict):
            continue
        exps = []
        for e in _list(it.get("experiments")):
            if isinstance(e, str):
                exps.append({"id": e})
            elif isinstance(e, dict):
                exps.append({"id": str(e.get("id") or "?"), "mttd_s": number(e.get("mttd_s")),
                             "mttr_s": number(e.get("mttr_s")), "verdict": e.get("verdict")})
        checks = [str(c) for c in dict.fromkeys(_list(it.get("checks")))]
        covered = it.get("covered")
        items.append({"id": str(it.get("id") or it.get("item") or "?"),
                      "title": str(it.get("title") or it.get("text") or ""),
                      "checks": checks, "experiments": exps,
                      "required": it.get("required") is not False,
                      # The coverage tool's own judgement when it gives one; else: anything at all.
                      "covered": bool(covered) if isinstance(covered, bool) else bool(checks or exps)})
    inp.coverage = items
    if isinstance(doc, dict) and isinstance(doc.get("summary"), dict):
        inp.coverage_summary = {k: v for k, v in doc["summary"].items() if number(v) is not None}


_JUNIT_SUITE = re.compile(r"\.junit\.xml$|^junit.*\.xml$")


def _junit(inp: Inputs) -> None:
    for path in sorted(inp.reports_dir.glob("*.xml")):
        name = display_name(path.name)
        if not _JUNIT_SUITE.search(name):
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError("too large")
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError, ValueError) as exc:
            inp.note(name, "corrupt", f"{name} is not readable JUnit XML ({display_name(str(exc))})")
            continue
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        totals = [0, 0, 0, 0, 0.0]
        for s in suites:
            for i, key in enumerate(("tests", "failures", "errors", "skipped", "time")):
                totals[i] += number(s.get(key)) or 0
        inp.suites.append(Suite(name, int(totals[0]), int(totals[1]), int(totals[2]),
                                int(totals[3]), round(float(totals[4]), 2)))
        inp.read.append(name)


def load(reports_dir: Path) -> Inputs:
    """Everything the report can use from `reports_dir`; never raises for bad content."""
    inp = Inputs(reports_dir)
    for step in (_triage, _chaos, _load, _coverage, _junit, _incident):
        try:
            step(inp)
        except Exception as exc:  # a reader bug must cost one section, not the page
            inp.note(step.__name__.strip("_"), "corrupt",
                     f"reading the {step.__name__.strip('_')} results failed: "
                     f"{type(exc).__name__}: {clip(exc, 200)}")
    return inp
