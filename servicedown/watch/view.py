"""What the on-call engineer sees while watch runs.

On a terminal, one live screen (rich): the verdict, the top causes with their evidence, what
changed and when, the downtime so far and the escalation clock; it redraws every second (and
at each change), so the clock moves while a run is in progress. Anywhere else (CI, a pipe, a
file) one plain line per timeline entry, nothing redrawn.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from servicedown.schema import TimelineEntry
from servicedown.watch.loop import Snapshot

COLOURS = {"healthy": "bold white on green", "degraded": "bold black on yellow",
           "down": "bold white on red"}
MAX_CAUSES, MAX_EVIDENCE = 3, 2


def hms(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


def plain_line(e: TimelineEntry) -> str:
    return (f"{datetime.fromtimestamp(e.time, UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} {e.kind:<11} "
            f"{(e.verdict or '-'):<8} {(e.top_cause or '-'):<18} {e.detail}")


def escalation_words(snap: Snapshot, now: float) -> list[str]:
    """Each timed step: reached (with when) or how long until it is."""
    inc = snap.incident
    out = []
    for step in snap.escalation.thresholds:
        after = step.after_s or 0.0
        if inc is None:
            out.append(f"{step.who} at {step.when()}")
        elif inc.downtime_s(now) >= after:
            out.append(f"{step.who}: REACHED at {clock(inc.start + after)} ({step.when()})")
        else:
            out.append(f"{step.who} in {hms(after - inc.downtime_s(now))} ({step.when()})")
    return out


class PlainView:
    """Line-based output: one line per timeline entry, flushed."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def entry(self, entry: TimelineEntry) -> None:
        print(plain_line(entry), file=self.out, flush=True)

    def update(self, snap: Snapshot) -> None:
        pass


class LiveView:
    """The live screen; the Snapshot is swapped under a lock and drawn by rich's own thread, once
    a second (the clock's resolution: more would cost CPU while nothing happens)."""

    def __init__(self, console: Any = None) -> None:
        self.console = console or Console()
        self.snap: Snapshot | None = None
        self.lock = threading.Lock()
        self.live: Any = None

    def __enter__(self) -> LiveView:
        self.live = Live(self, console=self.console, refresh_per_second=1, screen=False,
                         transient=False, redirect_stdout=True, redirect_stderr=True)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def entry(self, entry: TimelineEntry) -> None:
        pass  # entries show as "what changed" from the snapshot

    def update(self, snap: Snapshot) -> None:
        with self.lock:
            self.snap = snap
        if self.live is not None:
            self.live.refresh()

    def __rich__(self) -> Any:
        with self.lock:
            snap = self.snap
        return render(snap, time.time(), self.console.size.height)


def render(snap: Snapshot | None, now: float, height: int = 50) -> Any:
    """The screen; it fits `height` rows: one line per evidence and per change (cut, not
    wrapped), and as many changes as the rows left allow."""
    if snap is None or snap.triage is None:
        return Panel(Text("servicedown watch: first run of the checks..."), title="servicedown watch")
    tri, inc = snap.triage, snap.incident
    head = Text()
    head.append(f" {tri.headline} ", style=COLOURS.get(tri.verdict, "bold"))
    if tri.top is not None:
        head.append(f"  most likely: {tri.top.id} ({tri.top.title}, {tri.top.confidence:.0%})")
    elif tri.inconclusive:
        head.append("  cause inconclusive")
    lines = [head]
    if inc is not None:
        state = "recovering, healthy since " + clock(inc.healthy_since) if inc.healthy_since else "down"
        lines.append(Text(f"downtime {hms(inc.downtime_s(now))} since {clock(inc.start)} UTC "
                          f"(platform time; {state})", style="bold"))
    else:
        lines.append(Text("no incident: healthy", style="green"))
    if tri.state:
        lines.append(Text(f"state: {tri.state}"))
    esc = escalation_words(snap, now)
    lines.append(Text("escalation: " + (" · ".join(esc) if esc else
                                        snap.escalation.note or "no timed steps"),
                      style="bold red" if any("REACHED" in e for e in esc) else ""))
    if snap.remediate or snap.remediation:
        lines.append(Text(f"remediation: {snap.remediation or 'armed (not needed yet)'}"))
    for n, step in enumerate(snap.steps, 1):
        lines.append(Text(f"  {n}. {step}", style="yellow"))
    top = Panel(Group(*lines), title=f"servicedown watch · {snap.target}", title_align="left")

    causes = Table(title="Top causes", title_justify="left", expand=True, show_lines=False)
    causes.add_column("#", width=2)
    causes.add_column("cause", ratio=1, no_wrap=True, overflow="ellipsis")
    causes.add_column("evidence", ratio=3, no_wrap=True, overflow="ellipsis")
    for n, c in enumerate(tri.causes[:MAX_CAUSES], 1):
        ev = "\n".join(e[:240] for e in c.evidence[:MAX_EVIDENCE]) or "-"
        causes.add_row(str(n), f"{c.id} {c.confidence:.0%}" + ("" if c.defining else " (unproven)"), ev)
    if not tri.causes:
        causes.add_row("-", "none", "nothing failed" if tri.verdict == "healthy" else
                       "no runbook cause matches the failures")

    changes = Table(title="What changed", title_justify="left", expand=True)
    changes.add_column("time (UTC)", width=10)
    changes.add_column("what", ratio=1, no_wrap=True, overflow="ellipsis")
    # Rows taken by the rest: the panel (its lines, borders, a wrapped headline), the causes
    # table (title, header, rule, bottom) and this table's own four, the footer (two lines).
    used = len(lines) + 3 + 4 + max(len(tri.causes[:MAX_CAUSES]), 1) * MAX_EVIDENCE + 4 + 2
    for at, what in reversed(snap.changes[-max(height - used, 1):]):
        changes.add_row(clock(at), what[:200])
    if not snap.changes:
        changes.add_row("-", "nothing since the first run")

    foot = []
    if snap.last_run is not None:
        foot.append(f"last run {clock(snap.last_run[0])} ({snap.last_run[1]})")
    if snap.next_full_in_s is not None:
        foot.append(f"next full run in {snap.next_full_in_s:.0f} s")
    foot += [f"{name}: {state}" for name, state in snap.sources]
    return Group(top, causes, changes, Text(" · ".join(foot), style="dim"))


def make_view(plain: bool | None = None) -> PlainView | LiveView:
    """The live screen on a terminal, plain lines anywhere else (or when asked)."""
    if plain is None:
        plain = not sys.stdout.isatty()
    return PlainView() if plain else LiveView()
