"""`python -m servicedown.corpus`: set up, record and revert every corpus scenario (or some).

    python -m servicedown.corpus                       # everything this machine can set up
    python -m servicedown.corpus --only 'db-*' --kind compose --profile reference
    python -m servicedown.corpus --list
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from servicedown.corpus import scenarios as sc
from servicedown.record.incident import INCIDENTS


def progress(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m servicedown.corpus",
                                description="Record the incident corpus from real runs.")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="scenario ids (shell patterns), repeatable")
    p.add_argument("--kind", action="append", choices=sc.KINDS, default=[],
                   help="target kinds to record (default: all)")
    p.add_argument("--profile", action="append", choices=sc.PROFILES, default=[],
                   help="engine profiles for compose and URL scenarios (default: both where the "
                        "engine has them)")
    p.add_argument("--out", default=str(INCIDENTS), help=f"folder of the recordings [{INCIDENTS}]")
    p.add_argument("--list", action="store_true", help="list the scenarios and their labels")
    p.add_argument("--relabel", action="store_true",
                   help="write the scenarios' labels into their existing recordings (after a "
                        "change of the causes' vocabulary); nothing is set up or recorded")
    args = p.parse_args(argv)
    chosen = sc.select(args.only, args.kind or None)
    if not chosen:
        print(f"error: no scenario matches {args.only or '*'} for kinds {args.kind or 'all'}; "
              "--list shows them", file=sys.stderr)
        return 2
    if args.list:
        for s in chosen:
            print(f"{s.id:28} {s.kind:10} {s.verdict:9} {'+'.join(s.causes) or '(no cause)':24} {s.title}")
        return 0
    out = Path(args.out)
    if args.relabel:
        return relabel(chosen, out)
    from servicedown.corpus import compose

    failures: list[str] = []
    recorded = 0
    profiles = args.profile or list(sc.PROFILES)
    docker_kinds = [s for s in chosen if s.kind in ("compose", "url")]
    for profile in profiles:
        wanted = [s for s in docker_kinds if profile in s.profiles]
        try:
            recorded += compose.build(wanted, profile, out, progress, failures)
        except compose.ScenarioError as exc:
            failures.append(f"profile {profile}: {exc}")
            progress(f"skipped profile {profile}: {exc}")
    others = [s for s in chosen if s.kind in ("systemd", "kubernetes")]
    for kind in ("systemd", "kubernetes"):
        batch = [s for s in others if s.kind == kind]
        if batch:
            from importlib import import_module

            builder = import_module(f"servicedown.corpus.{kind}")
            recorded += builder.build(batch, out, progress, failures)
    progress(f"corpus: {recorded} recording(s) written under {out}; {len(failures)} failed")
    for f in failures:
        progress(f"  FAILED {f}")
    return 1 if failures else 0


def relabel(chosen: list[sc.Scenario], out: Path) -> int:
    from servicedown.corpus.common import label_of
    from servicedown.record import incident as inc

    changed = 0
    for s in chosen:
        for path in sorted(out.glob(f"*.{s.id}.json")):
            incident = inc.load(path)
            label = label_of(s.on(incident.engine_profile))
            if incident.label != label:
                incident.label = label
                inc.save(incident, path)
                changed += 1
                progress(f"relabelled {path.name}: {label.verdict} {'+'.join(label.causes) or '(no cause)'}")
    progress(f"{changed} recording(s) relabelled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
