"""`python -m servicedown.record NAME [options]`: record a live incident as a corpus case.

Target options are those of `pytest checks/` (and their SERVICEDOWN_* twins). The label says
what really happened, as whoever set the incident up knows it: the verdict, every runbook cause
behind it (none when the evidence cannot name one), and who says so. It is never taken from the
triage. `--repin` re-derives the pinned results of existing recordings from their replay.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from servicedown import config as cfg
from servicedown.backends.command import BackendError
from servicedown.causes import CAUSES
from servicedown.record import incident as inc

HELP = {
    "target": "where the service runs: compose | systemd | kubernetes | url",
    "base_url": "the service's base URL",
    "host": "testinfra host running the unit: local://, ssh://user@host, docker://name",
    "selector": "Kubernetes label selector of the engine's pods",
    "db_host": "probe the database from here at this host (url target)",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="servicedown record",
        description="Record a live diagnosis run (every platform answer) as a replayable incident.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="the incident's name (tests/data/incidents/NAME.json) or a .json path; "
                        "with --repin, the recordings to re-pin (default: the whole corpus)")
    p.add_argument("--repin", action="store_true",
                   help="re-derive the pinned results of recordings from their replay")
    p.add_argument("--out", help="write here instead of tests/data/incidents/NAME.json")
    p.add_argument("--force", action="store_true", help="overwrite an existing recording")
    label = p.add_argument_group("label (what really happened; never the triage's answer)")
    label.add_argument("--label-verdict", choices=inc.VERDICTS)
    label.add_argument("--label-cause", action="append", default=[], metavar="CAUSE",
                       help=f"a runbook cause behind it (repeat for each): "
                            f"{', '.join(c.id for c in CAUSES)}")
    label.add_argument("--label-source", metavar="WHO",
                       help="who set it up or knows, e.g. 'on-call, incident 2026-12-04'")
    label.add_argument("--label-note", default="", help="what was done, in a sentence")
    p.add_argument("--engine-profile", default=os.environ.get("QBITEL_ENGINE_PROFILE") or "production",
                   help="the engine's kind, for the accuracy figures (reference, real-shape, "
                        "production...) [env QBITEL_ENGINE_PROFILE; default production]")
    opts = p.add_argument_group("target (the options of pytest checks/)")
    for name, kind, default in cfg.option_names():
        flag = "--" + name.replace("_", "-")
        text = HELP.get(name, name.replace("_", " ")) + f" [env {cfg.env_name(name)}; default {default!r}]"
        if kind is bool:
            opts.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=text)
        else:
            opts.add_argument(flag, dest=name, default=None, help=text)
    return p


def repin(names: list[str]) -> int:
    paths = [inc.path_for(n) for n in names] if names else inc.corpus()
    if not paths:
        print(f"no recordings under {inc.INCIDENTS}", file=sys.stderr)
        return 1
    changed = 0
    for path in paths:
        incident, was_changed = inc.repin(path)
        changed += was_changed
        print(f"{'re-pinned' if was_changed else 'unchanged'}  {path}")
    print(f"{changed} of {len(paths)} recording(s) re-pinned")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.repin:
            return repin(args.names)
        if len(args.names) != 1:
            raise inc.IncidentError("give one NAME to record (or --repin)")
        name = args.names[0]
        out = Path(args.out) if args.out else inc.path_for(name)
        if out.exists() and not args.force:
            raise inc.IncidentError(f"{out} exists; --force replaces it")
        if not args.label_verdict or not args.label_source:
            raise inc.IncidentError("--label-verdict and --label-source are required: the label says "
                                    "what really happened, as whoever set it up knows it")
        label = inc.Label(args.label_verdict, tuple(args.label_cause), args.label_source,
                          args.label_note)
        settings = cfg.from_sources({n: getattr(args, n) for n, _k, _d in cfg.option_names()})
        incident, path, live = inc.record(Path(out).stem, settings, label, args.engine_profile,
                                          out=out, provenance={"command": "python -m servicedown.record"})
    except (inc.IncidentError, cfg.SettingsError, BackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    top = live.triage.top.id if live.triage.top else "-"
    print(f"recorded {path}: verdict {live.triage.verdict}, top cause {top}; label {label.verdict} "
          f"{', '.join(label.causes) or '(no cause)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
