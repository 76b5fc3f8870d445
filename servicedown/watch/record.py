"""The incident timeline on disk: one JSON line per entry (schema.TimelineEntry), appended and
flushed as it happens, so a watch that is cut short still leaves every line it wrote. Every
text passes the redactor first."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servicedown.redact import Redactor
from servicedown.schema import TimelineEntry


class TimelineWriter:
    def __init__(self, path: Path, redactor: Redactor | None = None,
                 on_entry: Callable[[TimelineEntry], None] | None = None) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        self.on_entry = on_entry
        self.entries: list[TimelineEntry] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a", encoding="utf-8")

    def write(self, time: float, kind: str, verdict: str | None, top_cause: str | None,
              detail: str, **data: Any) -> TimelineEntry:
        entry = TimelineEntry(time, kind, verdict, top_cause, " ".join(self.redactor(detail).split()),
                              self.redactor.mask_json(data))
        self._fh.write(json.dumps(entry.to_json(), default=str, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())  # a line written is a line kept, whatever ends the process
        self.entries.append(entry)
        if self.on_entry is not None:
            self.on_entry(entry)
        return entry

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def read_timeline(path: Path) -> tuple[list[TimelineEntry], int]:
    """-> (the entries, how many lines could not be read); leniently, like every reader."""
    entries, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = TimelineEntry.from_json(json.loads(line))
            except ValueError:
                entry = None
            if entry is None:
                bad += 1
            else:
                entries.append(entry)
    return entries, bad
