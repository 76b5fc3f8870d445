"""The runbook's Escalation section as thresholds: who is called after how long down.

    ## Escalation
    1. **Page on-call engineer** (if not already)
    2. **Escalate to DevOps lead** after 15 minutes
    3. **Escalate to CTO** if downtime exceeds 30 minutes

reads as [at once: Page on-call engineer], [15 min: DevOps lead], [30 min: CTO]. A step is one
list item (or a table row, or a sentence of a paragraph) of the section; its time is the first
duration in it ("15 min", "30 minutes", "1 hour", "1h30", "90s"), its who the words after
"escalate to" / "page" / "notify" / "call" up to the duration or a condition. Steps without a
duration happen at once and are shown, not timed. A runbook without the section, or whose
section names no duration, gives no thresholds: the clock then shows downtime alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from servicedown.runbook import markdown as md
from servicedown.runbook.reader import RunbookError, decode, section_kind

_DURATION = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>h(?:ours?|rs?)?|m(?:in(?:ute)?s?)?|s(?:ec(?:ond)?s?)?)(?:\b|(?=\d))"
    r"(?:\s*(?P<n2>\d+)\s*(?:m(?:in(?:ute)?s?)?)?\b)?", re.IGNORECASE)
_WHO = re.compile(r"\b(?:escalate|escalation|page|notify|call|inform|alert|hand over)\b"
                  r"(?:\s+(?:it|this|the incident))?\s+(?:to\s+)?(?:the\s+)?(?P<who>.+)", re.IGNORECASE)
# Where the name of who is called ends: the duration, or the condition that goes with it.
_WHO_END = re.compile(r"\s*(?:\(|\bafter\b|\bif\b|\bwhen\b|\bonce\b|\bwithin\b|\bin\b\s+\d|\bat\b\s+\d"
                      r"|\bnot resolved\b|\bunresolved\b|→|->|[:;,.]|\d)", re.IGNORECASE)
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0}


@dataclass(frozen=True)
class Step:
    after_s: float | None  # None: at once (no duration given)
    who: str
    text: str  # the step as written, plain
    line: int  # 1-based line in the runbook

    @property
    def timed(self) -> bool:
        return self.after_s is not None

    def when(self) -> str:
        if self.after_s is None:
            return "at once"
        minutes = self.after_s / 60
        return f"{minutes:g} min" if minutes >= 1 else f"{self.after_s:g} s"


@dataclass(frozen=True)
class Escalation:
    steps: tuple[Step, ...]
    source: str
    note: str = ""  # why there are no thresholds, when there are none

    @property
    def thresholds(self) -> list[Step]:
        """The timed steps, soonest first."""
        return sorted((s for s in self.steps if s.timed), key=lambda s: s.after_s or 0.0)

    def due(self, downtime_s: float) -> list[Step]:
        """The timed steps whose time has come after this much downtime."""
        return [s for s in self.thresholds if downtime_s >= (s.after_s or 0.0)]

    def next(self, downtime_s: float) -> Step | None:
        return next((s for s in self.thresholds if downtime_s < (s.after_s or 0.0)), None)


def duration_s(text: str) -> float | None:
    """The first duration in the text, in seconds: '15 minutes' 900, '1h30' 5400, '90s' 90."""
    m = _DURATION.search(text)
    if m is None:
        return None
    seconds = float(m.group("n")) * _UNIT_S[m.group("unit")[0].lower()]
    if m.group("n2") and m.group("unit")[0].lower() == "h":
        seconds += float(m.group("n2")) * 60
    return seconds


def who(text: str) -> str:
    """Who a step calls: 'Escalate to DevOps lead after 15 minutes' -> 'DevOps lead';
    'not resolved in 15 min → DevOps lead' -> 'DevOps lead'."""
    arrow = re.split(r"→|->|=>", text)
    if len(arrow) > 1:
        return arrow[-1].strip(" .;:-–—*_") or text.strip()
    m = _WHO.search(text)
    rest = m.group("who") if m else text
    end = _WHO_END.search(rest)
    name = (rest[: end.start()] if end else rest).strip(" -–—*_")
    return name or text.strip()


def read_escalation(path: str | Path) -> Escalation:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RunbookError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    return parse_escalation(decode(data, str(p)), str(p))


def parse_escalation(text: str, source: str = "<runbook>") -> Escalation:
    try:
        doc = md.parse(text)
    except md.MarkdownError as exc:
        raise RunbookError(f"{source}: malformed Markdown: {exc}") from None
    heads = [h for h in doc.headings if section_kind(h.text) == "escalation"]
    if not heads:
        return Escalation((), source, "the runbook has no Escalation section")
    h = heads[0]
    later = [x for x in doc.headings_in(h.body, len(doc.lines)) if x.level <= h.level]
    end = later[0].index if later else len(doc.lines)
    steps = [Step(duration_s(t), who(t), t, line) for line, t in _items(doc, h.body, end)]
    note = "" if any(s.timed for s in steps) else "its Escalation section names no time"
    return Escalation(tuple(steps), source, note)


def _items(doc: md.Document, start: int, end: int) -> list[tuple[int, str]]:
    """(line, plain text) of each list item (continuation lines joined), else of each table row,
    else of each sentence that names a duration."""
    items: list[tuple[int, str]] = []
    for i, line in doc.text_lines(start, end):
        m = md.NUMBERED.match(line) or md.BULLET.match(line)
        if m:
            items.append((i + 1, md.plain(m.group(m.lastindex or 1))))
        elif items and line.strip() and line[:1].isspace():
            items[-1] = (items[-1][0], f"{items[-1][1]} {md.plain(line.strip())}")
    if items:
        return items
    rows = [(i + 1, [md.plain(c) for c in md.cells(line)]) for i, line in doc.text_lines(start, end)
            if line.strip().startswith("|") and not set(line.strip()) <= set("|-: ")]
    if len(rows) > 1:  # the first row is the header; a row reads "<who> -> <the cell with a time>"
        return [(n, " → ".join([*(c for c in cells if duration_s(c)),
                                 *(c for c in cells if c and not duration_s(c))][:2]))
                for n, cells in rows[1:]]
    text = [(i + 1, md.plain(line)) for i, line in doc.text_lines(start, end) if line.strip()]
    return [(n, s.strip()) for n, line in text for s in re.split(r"(?<=[.;])\s+", line)
            if duration_s(s)]
