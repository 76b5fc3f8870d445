"""The coverage matrix: each runbook item -> the checks, tests, causes and chaos experiments that
cover it, with the last MTTD/MTTR, and each typed command -> the checks that stand for it.

An item is covered when something declares it (a check's `CheckSpec.runbook`, a test's
`runbook` marker, a cause's `runbook` ids or resolution steps, a chaos experiment through its
expected cause), when one of its commands is matched to a check, or, for a cause with
sub-causes, when every sub-cause is. Escalation, prevention and post-incident items are
informational: listed, never required.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from servicedown.runbook import commands as cmds
from servicedown.runbook.reader import Item, Runbook
from servicedown.runbook.sources import REMEDIATION_ITEMS, ChaosResult, Experiment, TestRef, split_ids

ROOT = Path(__file__).resolve().parents[2]
TEST_DIRS = ("checks", "chaos")  # where the project's runbook-marked tests live

# Related alerts are other alerts' runbooks; one is covered when the causes that fire it are.
# Keyed by the alert name, lower case, letters and digits only.
RELATED_ALERTS: dict[str, tuple[str, ...]] = {
    "highmemoryusage": ("oom",),
    "highcpuusage": ("cpu",),
    "databaseconnectionfailures": ("db-down", "db-pool-exhausted", "db-network"),
}
MEASURES = 3.0  # causes.py: weight 3 = the check that measures the cause itself


class CheckLike(Protocol):
    """What the matrix reads of a CheckSpec (read-only: the registry's specs are frozen)."""

    @property
    def id(self) -> str: ...

    @property
    def runbook(self) -> str: ...

    @property
    def command(self) -> str: ...


@dataclass
class CommandRow:
    command: str
    intent: str | None
    checks: list[str]


@dataclass
class Row:
    item: Item
    checks: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    results: list[ChaosResult] = field(default_factory=list)
    commands: list[CommandRow] = field(default_factory=list)
    via: str = ""  # how it is covered when nothing declares it directly
    covered: bool = False

    @property
    def by_command(self) -> list[str]:
        """Checks that stand for one of its commands without declaring the item."""
        return _uniq(c for cr in self.commands if cr.intent != "run-checks" for c in cr.checks
                     if c not in self.checks)

    @property
    def mttd_s(self) -> float | None:
        return _worst(r.mttd_s for r in self.results)

    @property
    def mttr_s(self) -> float | None:
        return _worst(r.mttr_s for r in self.results)


@dataclass(frozen=True)
class Gap:
    check: str
    item: str
    command: str


@dataclass
class Matrix:
    runbook: Runbook
    rows: list[Row]
    notes: list[str]
    gaps: list[Gap]
    sources: dict[str, Any]

    @property
    def uncovered(self) -> list[str]:
        return [r.item.id for r in self.rows if r.item.required and not r.covered]

    @property
    def uncovered_commands(self) -> list[tuple[str, str]]:
        """Diagnosis commands no check stands for."""
        return [(r.item.id, c.command) for r in self.rows if r.item.kind == "diagnosis"
                for c in r.commands if not c.checks]

    def row(self, item_id: str) -> Row:
        for r in self.rows:
            if r.item.id == item_id:
                return r
        raise KeyError(item_id)

    def to_json(self) -> dict[str, Any]:
        from servicedown.runbook.render import matrix_json

        return matrix_json(self)

    def text(self) -> str:
        from servicedown.runbook.render import matrix_text

        return matrix_text(self)


def _worst(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def project_checks() -> dict[str, CheckLike]:
    from servicedown.diagnosis.catalog import all_checks

    return dict(all_checks())


def project_tests(dirs: Iterable[str] = TEST_DIRS) -> tuple[list[TestRef], list[str]]:
    from servicedown.runbook.sources import scan_tests

    return scan_tests([ROOT / d for d in dirs if (ROOT / d).is_dir()], ROOT)


def build(runbook: Runbook, checks: Mapping[str, CheckLike] | None = None,
          tests: Iterable[TestRef] = (), causes: Sequence[Any] | None = None,
          experiments: Iterable[Experiment] | None = None, results: Iterable[ChaosResult] = (),
          notes: Iterable[str] = ()) -> Matrix:
    """The matrix of one runbook against the given sources (the project's by default)."""
    notes = list(runbook.notes) + list(notes)
    default_causes = causes is None
    if checks is None:
        checks = project_checks()
    if causes is None:
        from servicedown.causes import CAUSES

        causes = CAUSES
    if experiments is None:
        from servicedown.runbook.sources import load_experiments

        experiments, more = load_experiments()
        notes += more
    tests, experiments, results = list(tests), list(experiments), list(results)
    by_cause = {c.id: c for c in causes}

    declared: dict[str, list[str]] = defaultdict(list)
    for spec in checks.values():
        for rid in split_ids(spec.runbook):
            declared[rid].append(spec.id)
    tested: dict[str, list[str]] = defaultdict(list)
    for t in tests:
        for rid in t.items:
            tested[rid].append(t.nodeid)
            declared[rid].extend(t.checks)
    caused: dict[str, list[str]] = defaultdict(list)
    for c in causes:
        for rid in [*c.runbook, *(s.runbook for s in c.resolution if s.runbook)]:
            caused[rid].append(c.id)

    # Experiments: the data, plus any that only the results name (the results carry the cause).
    last = {r.id: r for r in results}  # a later row of the same experiment is the last run
    known_ids = {e.id for e in experiments}
    experiments += [Experiment(r.id, r.expected_cause, REMEDIATION_ITEMS.get(r.remediation, ()))
                    for r in last.values() if r.id not in known_ids]
    proven: dict[str, list[str]] = defaultdict(list)
    for e in experiments:
        cause = by_cause.get(e.expected_cause)
        if cause is None and not e.runbook:
            notes.append(f"chaos experiment {e.id}: unknown expected cause {e.expected_cause!r}")
        for rid in [*(cause.runbook if cause else ()), *e.runbook]:
            proven[rid].append(e.id)

    intents = {spec.id: cmds.intents_in(spec.command) for spec in checks.values() if spec.command}
    rows = [_row(item, declared, tested, caused, proven, last, intents, list(checks), by_cause)
            for item in runbook.items]
    _cover_parents(rows)
    gaps: dict[tuple[str, str], Gap] = {}  # one per check and item: its first command says it
    for r in rows:
        for c in r.commands:
            for cid in c.checks if c.intent not in (None, "run-checks") else ():
                if cid not in r.checks:
                    gaps.setdefault((cid, r.item.id), Gap(cid, r.item.id, c.command))
    ids = set(runbook.ids)
    stray = sorted({rid for rid in [*declared, *tested] if rid not in ids})
    if stray:
        notes.append("declared by checks or tests but not in this runbook: " + ", ".join(stray))
    if default_causes:
        notes += _title_drift(runbook)
    sources = {"checks": len(checks), "tests": len(tests), "causes": len(causes),
               "experiments": len(experiments), "results": len(last)}
    return Matrix(runbook, rows, notes, list(gaps.values()), sources)


def _row(item: Item, declared: Mapping[str, list[str]], tested: Mapping[str, list[str]],
         caused: Mapping[str, list[str]], proven: Mapping[str, list[str]],
         last: Mapping[str, ChaosResult], intents: Mapping[str, set[str]], all_ids: list[str],
         by_cause: Mapping[str, Any]) -> Row:
    row = Row(item, _uniq(declared.get(item.id, [])), _uniq(tested.get(item.id, [])),
              _uniq(caused.get(item.id, [])), _uniq(proven.get(item.id, [])))
    if item.kind == "related-alert":
        for cid in RELATED_ALERTS.get(_key(item.title), ()):
            cause = by_cause.get(cid)
            if cause is not None:
                row.causes.append(cid)
                row.checks += [s.check for s in cause.signals
                               if s.weight >= MEASURES and str(s.outcome) == "fail"]
                for rid in cause.runbook:
                    row.experiments += proven.get(rid, [])
        row.checks, row.experiments = _uniq(row.checks), _uniq(row.experiments)
        row.via = "related-alert table" if row.causes else ""
    for command in item.commands:
        name = cmds.intent(command)
        if name == "run-checks":
            matched = list(all_ids)
        else:
            matched = [cid for cid, found in intents.items() if name and name in found]
        row.commands.append(CommandRow(command, name, matched))
    row.results = [last[e] for e in row.experiments if e in last]
    direct = row.checks or row.tests or row.causes or row.experiments
    if not direct and any(c.checks for c in row.commands):
        row.via = "its commands"
    row.covered = bool(direct or row.via)
    return row


def _cover_parents(rows: list[Row]) -> None:
    children: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if r.item.parent:
            children[r.item.parent].append(r)
    for r in rows:
        kids = children.get(r.item.id, [])
        if not r.covered and kids and all(k.covered for k in kids):
            r.covered, r.via = True, "its sub-causes"


def _uniq(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower())}


def _title_drift(runbook: Runbook) -> list[str]:
    """The causes table numbers the causes as the reference runbook does (cause-1 = Application
    Crash ...). A runbook numbering them otherwise would be covered by the wrong checks: say so."""
    from servicedown.causes import CATEGORIES

    expected = list(CATEGORIES.values())
    out = []
    for it in runbook.items:
        m = re.fullmatch(r"cause-(\d+)", it.id)
        if m and 1 <= int(m.group(1)) <= len(expected):
            want = expected[int(m.group(1)) - 1]
            if not _words(want) & _words(it.title):
                out.append(f"{it.id} is '{it.title}' here but '{want}' in the causes table: "
                           "checks declared for it may stand for another cause")
    return out
