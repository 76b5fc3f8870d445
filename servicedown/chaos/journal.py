"""The journal: every activity of a chaos run with its start, end, status and details,
in the spirit of Chaos Toolkit's journal.json. Optionally streamed as JSON lines to a file
while the run goes on, so another process (a CI step, the interrupt test) can follow it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from servicedown.redact import DEFAULT, Redactor
from servicedown.schema import PHASES, JournalEntry


def _phase(name: str) -> str:
    if name not in PHASES:
        raise ValueError(f"unknown journal phase {name!r}; one of {', '.join(PHASES)}")
    return name


class Activity(JournalEntry):
    """A journal entry while the run goes on: its status follows how its block ends."""

    def line(self) -> str:
        took = "" if self.duration_s is None else f" in {self.duration_s:.1f}s"
        head = f"[{self.experiment}] " if self.experiment else ""
        return f"{head}{self.phase}: {self.name} - {self.status}{took}"


class Journal:
    """`redactor` masks every entry that leaves the journal (the file it streams to, its JSON,
    its progress lines, a failing test's excerpt); the stack's own, once the stack exists."""

    def __init__(self, sink: Path | None = None,
                 echo: Callable[[str], None] | None = None, redactor: Redactor = DEFAULT) -> None:
        self.activities: list[Activity] = []
        self.sink = sink
        self.echo = echo
        self.redactor = redactor
        self._lock = threading.Lock()
        if sink is not None:
            sink.parent.mkdir(parents=True, exist_ok=True)
            sink.write_text("")

    def _emit(self, act: Activity, event: str, echo: bool = True) -> None:
        if self.sink is not None:
            with self._lock, self.sink.open("a") as fh:
                doc = self.redactor.mask_json({"event": event, **act.to_json()})
                fh.write(json.dumps(doc, default=str) + "\n")
        if echo and self.echo is not None and event == "end":
            with contextlib.suppress(Exception):  # progress output never breaks a run
                self.echo(self.redactor(act.line()))

    @contextlib.contextmanager
    def activity(self, experiment: str, phase: str, name: str) -> Iterator[Activity]:
        """Record one activity; its status follows how the block ends. Re-raises."""
        act = Activity(experiment, _phase(phase), name, time.time())
        with self._lock:
            self.activities.append(act)
        self._emit(act, "start")
        try:
            yield act
        except KeyboardInterrupt:
            act.status = "interrupted"
            raise
        except BaseException as exc:
            act.status = "failed"
            act.detail.setdefault("error", self.redactor.clip(f"{type(exc).__name__}: {exc}", 300))
            raise
        else:
            if act.status == "running":
                act.status = "succeeded"
        finally:
            act.end = time.time()
            self._emit(act, "end")

    def note(self, experiment: str, phase: str, name: str, status: str = "succeeded",
             echo: bool = True, **detail: Any) -> Activity:
        """An instantaneous entry (a probe's answer, a decision); `echo=False` keeps it out
        of the progress output (it still goes to the journal)."""
        now = time.time()
        act = Activity(experiment, _phase(phase), name, now, now, status, dict(detail))
        with self._lock:
            self.activities.append(act)
        self._emit(act, "end", echo)
        return act

    def of(self, experiment: str) -> list[Activity]:
        return [a for a in self.activities if a.experiment == experiment]

    def excerpt(self, experiment: str, limit: int = 40) -> str:
        """The experiment's activities as text, for a failing test's message."""
        lines = []
        for a in self.of(experiment)[-limit:]:
            lines.append(self.redactor(a.line()))
            for key, value in a.detail.items():
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                lines.append(f"    {key}: {self.redactor.clip(text, 400)}")
        return "\n".join(lines)

    def to_json(self) -> list[dict[str, Any]]:
        return [self.redactor.mask_json(a.to_json()) for a in self.activities]
