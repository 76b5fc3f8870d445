"""`make bench-triage`: the triage's measured accuracy on the recorded incident corpus, and the
mutation score of the rules behind it.

Every recording under tests/data/incidents is replayed through the unchanged targets, checks
and triage (no platform), its answer scored against its label (servicedown/corpus/scoring.py
says how: "confident" and "inconclusive" are defined there), and the figures printed per case,
per engine profile and per target kind. The mutation score comes from bench/mutation.py
(cached by the sources' hash; --no-mutation skips it). The last line is always
`triage accuracy: top-1 X% (N of M), confident-wrong K, inconclusive J%`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.common import record, section
from servicedown.corpus import scoring
from servicedown.record import incident as inc


def row(name: str, figure: str, note: str = "") -> None:
    """One case's line (not a figure of its own)."""
    print(f"  {name:<52} {figure:<48} {note}", flush=True)


# Incidents set up by hand after the rules were set, never used to set them: the figure that
# says how the triage does on what it was not built for. Their labels' source says so.
HELD_OUT = "held out"
held_out: dict[str, bool] = {}


def replay_all(folder: Path) -> tuple[list[scoring.Score], list[str], float]:
    scores, problems = [], []
    start = time.perf_counter()
    for path in inc.corpus(folder):
        try:
            incident = inc.load(path)
            run = inc.replay(incident)
        except inc.IncidentError as exc:
            problems.append(str(exc))
            continue
        scores.append(scoring.score(incident.name, incident.kind, incident.engine_profile,
                                    incident.label.verdict, incident.label.causes,
                                    run.triage.to_json()))
        held_out[incident.name] = HELD_OUT in incident.label.source
    return scores, problems, time.perf_counter() - start


def table(title: str, by: str, groups: dict[str, list[scoring.Score]]) -> None:
    section(title)
    for key in sorted(groups):
        t = scoring.tally(groups[key])
        record(f"triage.{by}.{key}", key, f"top-1 {t.pct(t.right, t.cases)} ({t.right} of {t.cases}), "
               f"confident-wrong {t.confident_wrong}, inconclusive {t.pct(t.inconclusive, t.cases)}",
               right=t.right, cases=t.cases, confident_wrong=t.confident_wrong,
               inconclusive=t.inconclusive)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_triage")
    p.add_argument("--corpus", default=str(inc.INCIDENTS), help="folder of recordings")
    p.add_argument("--no-mutation", action="store_true", help="skip the mutation score")
    p.add_argument("--mutation-fresh", action="store_true", help="ignore the cached mutation run")
    args = p.parse_args(argv)
    folder = Path(args.corpus)
    scores, problems, took = replay_all(folder)
    if not scores:
        print(f"error: no usable recording under {folder} ({'; '.join(problems) or 'none there'}); "
              "record them with 'make corpus'", file=sys.stderr)
        return 2
    section(f"triage on the recorded corpus ({len(scores)} incidents replayed in {took:.1f}s)")
    for s in sorted(scores, key=lambda s: (s.outcome != "wrong", s.outcome, s.name)):
        flag = " CONFIDENT-WRONG" if s.confident_wrong else ""
        listed = "" if s.all_listed is None else f"; all causes listed: {'yes' if s.all_listed else 'no'}"
        row(s.name, f"{s.outcome}{flag}: {s.answer}", f"label {s.label}{listed}")
    for problem in problems:
        row("unreadable", problem[:100])
    by_profile: dict[str, list[scoring.Score]] = defaultdict(list)
    by_kind: dict[str, list[scoring.Score]] = defaultdict(list)
    for s in scores:
        by_profile[s.profile].append(s)
        by_kind[s.kind].append(s)
    table("per engine profile", "profile", by_profile)
    table("per target kind", "kind", by_kind)
    by_origin: dict[str, list[scoring.Score]] = defaultdict(list)
    for s in scores:
        by_origin["held-out" if held_out.get(s.name) else "scripted"].append(s)
    table("scripted scenarios, and hand-made ones held out from setting the rules", "origin", by_origin)
    total = scoring.tally(scores)
    section("the whole corpus")
    record("triage.verdicts", "verdict agrees with the label",
           f"{total.pct(total.verdicts, total.cases)} ({total.verdicts} of {total.cases})",
           agree=total.verdicts, cases=total.cases)
    record("triage.compound", "several causes: every one listed",
           f"{total.compound_listed} of {total.compound}", listed=total.compound_listed,
           cases=total.compound)
    record("triage.wrong", "wrong (confident or not)", str(total.wrong), wrong=total.wrong)
    if not args.no_mutation:
        from bench import mutation

        section("mutation score (triage.py, causes.py, diagnosis/; killed by tests/unit, no Docker)")
        for line in mutation.report(fresh=args.mutation_fresh):
            print(f"  {line}", flush=True)
    print(total.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
