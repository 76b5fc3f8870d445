"""The coverage matrix: each runbook item -> what it means (matcher.py, the sidecar's pins) ->
the checks, tests, causes and chaos experiments that stand for that meaning, with the last
MTTD/MTTR; and each typed command -> the checks that stand for it.

Checks (`CheckSpec.runbook`), tests (`runbook` markers) and experiments (their expected cause)
declare meaning ids (servicedown/meanings.py), never a position in one runbook. A meaning is
covered by the checks that declare it, the tests marked with it and the experiments that
inject it; a cause also by the checks that measure it (weight 3 in causes.py), a category by
its causes, a step by the causes table's resolution steps that carry it out; the project's
own entry point (`pytest checks/`) by every check. An item is covered when one of its meanings
is, or, for a heading with bullets, when every bullet is. An item whose meaning is unknown or
undecided is uncovered, whatever its position. Escalation, prevention and post-incident items
are informational: listed, never required. Render with render.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from servicedown import meanings as mn
from servicedown.causes import CAUSES
from servicedown.diagnosis.catalog import all_checks
from servicedown.runbook import commands as cmds
from servicedown.runbook import matcher, sidecar
from servicedown.runbook.reader import Item, Runbook
from servicedown.runbook.sources import (
    REMEDIATION_ITEMS,
    ChaosResult,
    Experiment,
    TestRef,
    project_experiments,
    scan_tests,
    split_ids,
)
from servicedown.suites import suite_dir, suites_root

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
    mapping: matcher.Mapping
    checks: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    experiments: list[str] = field(default_factory=list)
    results: list[ChaosResult] = field(default_factory=list)
    commands: list[CommandRow] = field(default_factory=list)
    via: str = ""  # how it is covered when its own meaning is not
    covered: bool = False

    @property
    def required(self) -> bool:
        return self.item.required and self.mapping.status != matcher.INFO

    @property
    def by_command(self) -> list[str]:
        """Checks that stand for one of its commands without declaring its meaning."""
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
        return [r.item.id for r in self.rows if r.required and not r.covered]

    @property
    def undecided(self) -> list[str]:
        """Required items whose meaning the matcher could not tell: pin them in the sidecar."""
        return [r.item.id for r in self.rows if r.required
                and r.mapping.status in (matcher.AMBIGUOUS, matcher.UNKNOWN)]

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


def _worst(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _uniq(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def project_checks() -> dict[str, CheckLike]:
    return dict(all_checks())


def project_tests() -> tuple[list[TestRef], list[str]]:
    """The runbook markers of the project's suites (checks/ and chaos/), wherever they live."""
    return scan_tests([suite_dir(name) for name in ("checks", "chaos")], suites_root())


@dataclass
class _Sources:
    """meaning id -> what stands for it."""

    checks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    tests: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    causes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    experiments: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def of(self, meaning: str) -> tuple[list[str], list[str], list[str], list[str]]:
        keys = [meaning, *mn.causes_of(meaning)]
        return (_uniq(c for k in keys for c in self.checks.get(k, [])),
                _uniq(t for k in keys for t in self.tests.get(k, [])),
                _uniq(c for k in keys for c in self.causes.get(k, [])),
                _uniq(e for k in keys for e in self.experiments.get(k, [])))


def build(runbook: Runbook, checks: Mapping[str, CheckLike] | None = None,
          tests: Iterable[TestRef] = (), causes: Sequence[Any] | None = None,
          experiments: Iterable[Experiment] | None = None, results: Iterable[ChaosResult] = (),
          notes: Iterable[str] = (), pins: Mapping[str, matcher.Mapping] | None = None) -> Matrix:
    """The matrix of one runbook against the given sources (the project's by default). `pins`
    default to the sidecar next to the runbook (sidecar.py); SidecarError if it is unusable."""
    notes = list(runbook.notes) + list(notes)
    if checks is None:
        checks = project_checks()
    if causes is None:
        causes = CAUSES
    if experiments is None:
        experiments = project_experiments()
    if pins is None:
        pins, more = sidecar.load(runbook)
        notes += more
    tests, experiments, results = list(tests), list(experiments), list(results)
    by_cause = {c.id: c for c in causes}
    src, unknown = _sources(checks, tests, causes, experiments, results, by_cause)
    if unknown:
        notes.append(f"declared but not a meaning this project knows: {', '.join(sorted(unknown))}")
    mappings = matcher.match(runbook, pins)
    intents = {spec.id: cmds.intents_in(spec.command) for spec in checks.values() if spec.command}
    last = {r.id: r for r in results}  # a later row of the same experiment is the last run
    rows = [_row(it, mappings[it.id], src, last, intents, list(checks)) for it in runbook.items]
    _cover_parents(rows)
    gaps: dict[tuple[str, str], Gap] = {}  # one per check and item: its first command says it
    for r in rows:
        for c in r.commands:
            for cid in c.checks if c.intent not in (None, "run-checks") else ():
                if cid not in r.checks:
                    gaps.setdefault((cid, r.item.id), Gap(cid, r.item.id, c.command))
    named = matcher.meanings_of(mappings.values())
    named |= {c for m in named for c in mn.causes_of(m)}
    # What the checks stand for that this runbook never names: worth a line in its next edit.
    unnamed = sorted({m for m, ids in src.checks.items() if ids and m not in named and m in mn.MEANINGS
                      and m != mn.RUN_CHECKS and mn.MEANINGS[m].kind in ("cause", "step")
                      and mn.MEANINGS[m].category != "not-in-runbook"})
    if unnamed:
        notes.append("the checks also stand for what this runbook does not name: " + ", ".join(unnamed))
    sources = {"checks": len(checks), "tests": len(tests), "causes": len(causes),
               "experiments": len(experiments), "results": len(last)}
    return Matrix(runbook, rows, notes, list(gaps.values()), sources)


def _sources(checks: Mapping[str, CheckLike], tests: list[TestRef], causes: Sequence[Any],
             experiments: list[Experiment], results: list[ChaosResult],
             by_cause: Mapping[str, Any]) -> tuple[_Sources, set[str]]:
    src = _Sources()
    declared: set[str] = set()
    for spec in checks.values():
        for m in split_ids(spec.runbook):
            src.checks[m].append(spec.id)
            declared.add(m)
    src.checks[mn.RUN_CHECKS] = list(checks)
    for t in tests:
        for m in t.items:
            src.tests[m].append(t.nodeid)
            src.checks[m].extend(t.checks)
            declared.add(m)
    for c in causes:
        src.causes[c.id].append(c.id)
        src.checks[c.id] += [s.check for s in c.signals
                             if s.weight >= MEASURES and str(s.outcome) == "fail"]
        for step in c.resolution:
            sid = mn.step_at(step.runbook) if step.runbook else None
            if sid:
                src.causes[sid].append(c.id)
    # Experiments: the data, plus any that only the results name (the results carry the cause).
    known = {e.id for e in experiments}
    experiments = experiments + [Experiment(r.id, r.expected_cause, REMEDIATION_ITEMS.get(r.remediation, ()))
                                 for r in {x.id: x for x in results}.values() if r.id not in known]
    for e in experiments:
        for m in [e.expected_cause, *e.runbook]:
            src.experiments[m].append(e.id)
            declared.add(m)
    return src, {m for m in declared if m not in mn.MEANINGS and m not in by_cause}


def _row(item: Item, mapping: matcher.Mapping, src: _Sources, last: Mapping[str, ChaosResult],
         intents: Mapping[str, set[str]], all_ids: list[str]) -> Row:
    row = Row(item, mapping)
    for m in mapping.meanings:
        checks, tests, causes, exps = src.of(m)
        row.checks += checks
        row.tests += tests
        row.causes += causes
        row.experiments += exps
    row.checks, row.tests = _uniq(row.checks), _uniq(row.tests)
    row.causes, row.experiments = _uniq(row.causes), _uniq(row.experiments)
    for command in item.commands:
        name = cmds.intent(command)
        if name == "run-checks":
            matched = list(all_ids)
        else:
            matched = [cid for cid, found in intents.items() if name and name in found]
        row.commands.append(CommandRow(command, name, matched))
    row.results = [last[e] for e in row.experiments if e in last]
    # A step the causes table's resolution carries out is covered by it; a cause is not covered
    # by merely being in the table: a check, a test or an experiment has to stand for it.
    carried = any(mn.MEANINGS[m].kind == "step" and src.causes.get(m) for m in mapping.meanings
                  if m in mn.MEANINGS)
    row.covered = bool(mapping.decided and (row.checks or row.tests or row.experiments or carried))
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
