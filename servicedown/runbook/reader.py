"""Read a Markdown runbook into items with stable ids.

The ids follow the runbook's own numbering (docs/architecture.md): `diagnosis-N` for the N-th
diagnosis step, `cause-N` for the N-th common cause and `cause-N.M` for its M-th bullet,
`resolution-restart` for the Quick Fix, `resolution-N` for the N-th step of "If Restart
Doesn't Help", `related-alert:<Name>` for each related alert, and one informational item each
for `escalation`, `prevention` and `post-incident` (not required to be covered).

Sections are found by what their heading means (case-insensitive), in any order; a missing
section is noted, not an error. What cannot be used as a runbook raises RunbookError with one
clear sentence: empty, binary, not UTF-8, no headings, a code block that never closes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from servicedown.runbook import commands as cmds
from servicedown.runbook import markdown as md

MAX_BYTES = 2_000_000  # a runbook is a page of text; anything this large was not meant
INFORMATIONAL = ("escalation", "prevention", "post-incident")
REQUIRED_SECTIONS = {"diagnosis": "Diagnosis", "causes": "Common Causes", "resolution": "Resolution"}

# Heading meaning, first match wins ("Related Alerts" must not read as an alert-metadata block).
SECTION_KINDS: tuple[tuple[str, str], ...] = (
    ("related", r"\brelated\b|\bsee also\b|\bother alerts\b"),
    ("post-incident", r"post.?incident|post.?mortem|after the incident|follow.?up|lessons"),
    ("escalation", r"escalat|who to (?:page|call)"),
    ("prevention", r"prevent|avoid(?:ing)? recurrence"),
    ("causes", r"\bcauses?\b|\bwhy it happens\b"),
    ("diagnosis", r"diagnos|investigat|troubleshoot|\btriage\b"),
    ("resolution", r"resolution|\bresolv|remediat|mitigat|\bfix(?:es|ing)?\b|recover|what to do"),
    ("alert", r"^alert\b|\balert (?:details|metadata|info)"),
    ("description", r"description|overview|summary|\babout\b|what (?:it|this) means"),
    ("impact", r"\bimpact\b"),
    ("references", r"reference|\blinks\b|further reading|documentation"),
)
_QUICK_FIX = re.compile(r"quick.?fix|first aid|immediate|^\W*restart\b", re.IGNORECASE)
_NOT_QUICK = re.compile(r"doesn|does not|didn|did not|fails?\b|\bhelp|\bnot\b", re.IGNORECASE)
_CODE = re.compile(r"`([^`]+)`")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TITLE_COLUMN = re.compile(r"cause|problem|issue|failure|step|check|what", re.IGNORECASE)
MAX_LINE_SCAN = 4000  # inline commands are looked for in a line's first characters only
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,4}[.)])\s+")
_METADATA = re.compile(r"^\s*(?:[-*+]\s+)?(?:\*\*|__)(.+?)(?:\*\*|__)\s*:?\s*(.+)$"
                       r"|^\s*(?:[-*+]\s+)?([A-Z][A-Za-z ]{1,30}):\s+(.+)$")


class RunbookError(ValueError):
    """The input cannot be read as a runbook; the message says why, in one sentence."""


@dataclass
class Item:
    id: str
    kind: str  # diagnosis | cause | resolution | related-alert | escalation | prevention | post-incident
    title: str
    parent: str | None = None
    commands: list[str] = field(default_factory=list)
    text: str = ""
    line: int = 0  # 1-based line of the item in the runbook
    code: list[str] = field(default_factory=list)  # inline `code` spans: commands written inline

    @property
    def required(self) -> bool:
        """Escalation, prevention and post-incident are for people, not for checks."""
        return self.kind not in INFORMATIONAL


@dataclass
class Runbook:
    title: str
    alert: dict[str, str]
    items: list[Item]
    source: str = ""
    notes: list[str] = field(default_factory=list)  # what was missing or read with a guess

    def item(self, id: str) -> Item:
        for it in self.items:
            if it.id == id:
                return it
        raise KeyError(f"no item {id!r} in {self.source or 'the runbook'}")

    @property
    def ids(self) -> list[str]:
        return [it.id for it in self.items]


def read_runbook(path: str | Path) -> Runbook:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise RunbookError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise RunbookError(f"{p}: is a directory, not a runbook file") from None
    except OSError as exc:
        raise RunbookError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    return parse_runbook(decode(data, str(p)), str(p))


def decode(data: bytes, source: str = "<runbook>") -> str:
    if len(data) > MAX_BYTES:
        raise RunbookError(f"{source}: {len(data):,} bytes is too large for a runbook (at most "
                           f"{MAX_BYTES:,} bytes); keep the runbook's own text in it and link "
                           "long logs or data from it")
    if not data.strip():
        raise RunbookError(f"{source}: the file is empty")
    if b"\x00" in data:
        raise RunbookError(f"{source}: a binary file, not Markdown text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunbookError(f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                           f"{exc.start}); save the runbook as UTF-8") from None
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > max(8, len(text) // 100):
        raise RunbookError(f"{source}: a binary file, not Markdown text "
                           f"({controls} control characters)")
    return text


def parse_runbook(text: str, source: str = "<runbook>") -> Runbook:
    if not text.strip():
        raise RunbookError(f"{source}: the file is empty")
    try:
        doc = md.parse(text)
    except md.MarkdownError as exc:
        raise RunbookError(f"{source}: malformed Markdown: {exc}") from None
    if not doc.headings:
        raise RunbookError(f"{source}: no Markdown headings; a runbook needs sections such as "
                           "'## Diagnosis', '## Common Causes' and '## Resolution Steps'")
    return _Reader(doc, source).read()


_KINDS = tuple((kind, re.compile(pattern)) for kind, pattern in SECTION_KINDS)


def section_kind(title: str) -> str | None:
    t = md.plain(title).lower()
    for kind, pattern in _KINDS:
        if pattern.search(t):
            return kind
    return None


@dataclass
class _Entry:
    number: int | None
    title: str
    rest: str  # text after the title on the title line
    start: int  # first body line (index)
    end: int  # end of the entry (exclusive index)
    line: int  # 1-based line of the title
    code: list[str] = field(default_factory=list)  # inline commands (a table row's cells)


class _Reader:
    def __init__(self, doc: md.Document, source: str) -> None:
        self.doc, self.source = doc, source
        self.items: list[Item] = []
        self.ids: set[str] = set()
        self.notes: list[str] = []
        self.prefix = ""  # the service of a runbook that covers more than one

    # --- the document's outline ---
    def read(self) -> Runbook:
        doc = self.doc
        head = doc.headings[0]
        # The document's own title ("# Runbook: ...", the only heading of its level) is never a
        # section, even when its words sound like one ("# Troubleshooting: Service Down").
        titled = (len(doc.headings) > 1 and sum(h.level == head.level for h in doc.headings) == 1
                  and (head.level == 1 or section_kind(head.text) is None))
        known = [h for h in doc.headings[1 if titled else 0:] if section_kind(h.text)]
        if not known:
            seen = ", ".join(repr(md.plain(h.text)) for h in doc.headings[:6])
            raise RunbookError(f"{self.source}: none of the headings is a runbook section (saw "
                               f"{seen}); expected sections such as 'Diagnosis', 'Common Causes', "
                               "'Resolution Steps'")
        level = min(h.level for h in known)
        # A heading the reader does not know that holds known sections ("## qbitel-worker" over
        # its own "### Diagnosis") is a service of a runbook that covers more than one.
        groups = [h for h in doc.headings[1 if titled else 0:]
                  if h.level < level and section_kind(h.text) is None and self._known_under(h)]
        level = min([level, *(g.level for g in groups)])
        tops = [h for h in doc.headings if h.level <= level and not (titled and h is head)]
        first = tops[0].index if tops else len(doc.lines)
        title = md.plain(head.text) if titled or head.level < level else Path(self.source).stem
        alert = self._metadata(0, first)
        found: set[str] = set()
        for k, h in enumerate(tops):
            end = tops[k + 1].index if k + 1 < len(tops) else len(doc.lines)
            kind = section_kind(h.text) if h.level == level else None
            if kind is None and self._known_under(h):
                self._group(h, end, alert, found)
                continue
            if kind is None:
                if h.level == level:
                    self.notes.append(f"section '{md.plain(h.text)}' (line {h.index + 1}) is not "
                                      "a runbook section this reader knows; not read")
                continue
            found.add(kind)
            self._section(kind, h, end, alert)
        for kind, name in REQUIRED_SECTIONS.items():
            if kind not in found:
                self.notes.append(f"no {name} section")
        if not self.items:
            raise RunbookError(f"{self.source}: no diagnosis steps, causes, resolution steps or "
                               "related alerts found under its headings")
        return Runbook(title, alert, self.items, self.source, self.notes)

    def _end_of(self, h: md.Heading) -> int:
        later = [x for x in self.doc.headings_in(h.index + 1, len(self.doc.lines)) if x.level <= h.level]
        return later[0].index if later else len(self.doc.lines)

    def _known_under(self, h: md.Heading) -> bool:
        return any(section_kind(x.text) for x in self.doc.headings_in(h.body, self._end_of(h)))

    def _group(self, g: md.Heading, end: int, alert: dict[str, str], found: set[str]) -> None:
        """One service's sections: its items' ids start with the service ('qbitel-worker/cause-1')."""
        subs = self.doc.headings_in(g.body, end)
        level = min(x.level for x in subs)
        heads = [x for x in subs if x.level == level]
        self.prefix = f"{md.slug(g.text)}/"
        for k, x in enumerate(heads):
            stop = heads[k + 1].index if k + 1 < len(heads) else end
            kind = section_kind(x.text)
            if kind is None:
                self.notes.append(f"section '{md.plain(x.text)}' (line {x.index + 1}) is not a "
                                  "runbook section this reader knows; not read")
                continue
            found.add(kind)
            self._section(kind, x, stop, alert)
        self.prefix = ""

    def _metadata(self, start: int, end: int) -> dict[str, str]:
        out: dict[str, str] = {}
        for _i, line in self.doc.text_lines(start, end):
            m = _METADATA.match(line)
            if m:
                key = md.plain(m.group(1) or m.group(3)).rstrip(":").strip()
                value = md.plain(m.group(2) or m.group(4))
                if key and value:
                    out[key] = value
        return out

    def _section(self, kind: str, h: md.Heading, end: int, alert: dict[str, str]) -> None:
        if kind == "diagnosis":
            self._steps(h, end, "diagnosis")
        elif kind == "causes":
            self._causes(h, end)
        elif kind == "resolution":
            self._resolution(h, end)
        elif kind == "related":
            self._related(h, end)
        elif kind in INFORMATIONAL:
            fences = self.doc.fences_in(h.body, end)
            self._add(Item(kind, kind, md.plain(h.text), None, self._commands(fences),
                           self._text(h.body, end), h.index + 1))
        elif kind == "alert":
            alert.update(self._metadata(h.body, end))

    # --- items ---
    def _add(self, item: Item) -> None:
        if self.prefix and item.kind not in INFORMATIONAL:
            item.id = self.prefix + item.id
            item.parent = self.prefix + item.parent if item.parent else None
        if not item.code:
            item.code = self._code(item.line - 1, item.line)
        ids = self.ids
        if item.id in ids:
            k = 2
            while f"{item.id}#{k}" in ids:
                k += 1
            self.notes.append(f"{item.id} appears twice (line {item.line}); the second is "
                              f"{item.id}#{k}")
            item.id = f"{item.id}#{k}"
        ids.add(item.id)
        self.items.append(item)

    def _commands(self, fences: list[md.Fence]) -> list[str]:
        return [c for f in fences for c in cmds.extract(f.body, f.lang)]

    def _code(self, start: int, end: int) -> list[str]:
        """Inline code spans of [start, end) that read as a command (the intent table knows them)."""
        spans = [c.strip() for _i, line in self.doc.text_lines(start, end)
                 for c in _CODE.findall(line[:MAX_LINE_SCAN])]
        return [c for c in spans if c and cmds.intent(c)]

    def _text(self, start: int, end: int) -> str:
        lines = (_LIST_MARK.sub("", line) for _i, line in self.doc.text_lines(start, end))
        return md.plain(" ".join(lines))

    def _steps(self, h: md.Heading, end: int, kind: str) -> None:
        entries = self._entries(h.body, end)
        if not entries and (self.doc.fences_in(h.body, end) or self._text(h.body, end)):
            # A section with commands but no numbered steps is one step.
            entries = [_Entry(1, md.plain(h.text), "", h.body, end, h.index + 1)]
        if not entries:
            self.notes.append(f"the '{md.plain(h.text)}' section (line {h.index + 1}) is empty")
        for e in entries:
            self._add(Item(f"{kind}-{e.number}", kind, e.title, None,
                           self._commands(self.doc.fences_in(e.start, e.end)),
                           " ".join(filter(None, (e.rest, self._text(e.start, e.end)))), e.line,
                           self._code(e.line - 1, e.end)))

    def _causes(self, h: md.Heading, end: int) -> None:
        entries = self._entries(h.body, end)
        if not entries:
            self.notes.append(f"the '{md.plain(h.text)}' section (line {h.index + 1}) lists no causes")
        for e in entries:
            parent = f"cause-{e.number}"
            subs = self._list(e.start, e.end, top_only=False)
            taken = {f.start for s in subs for f in self.doc.fences_in(s.start, s.end)}
            own = [f for f in self.doc.fences_in(e.start, e.end) if f.start not in taken]
            first = subs[0].line - 1 if subs else e.end
            self._add(Item(parent, "cause", e.title, None, self._commands(own),
                           " ".join(filter(None, (e.rest, self._text(e.start, first)))), e.line,
                           e.code or self._code(e.line - 1, first)))
            for s in subs:
                self._add(Item(f"{parent}.{s.number}", "cause", s.title, parent,
                               self._commands(self.doc.fences_in(s.start, s.end)),
                               " ".join(filter(None, (s.rest, self._text(s.start, s.end)))),
                               s.line, self._code(s.line - 1, s.end)))

    def _resolution(self, h: md.Heading, end: int) -> None:
        subs = self.doc.headings_in(h.body, end)
        level = min((s.level for s in subs), default=0)
        heads = [s for s in subs if s.level == level]
        before = heads[0].index if heads else end
        if not self._numbered_steps(h.body, before) and not heads:
            self._numbered_steps(h.body, before, bullets=True)  # fixes written as a bullet list
        for k, s in enumerate(heads):
            stop = heads[k + 1].index if k + 1 < len(heads) else end
            title = md.numbered_title(s.text)[1]  # "3.1 Restart" -> "Restart"
            fences = self.doc.fences_in(s.body, stop)
            if _QUICK_FIX.search(title) and not _NOT_QUICK.search(title):
                self._add(Item("resolution-restart", "resolution", title, None,
                               self._commands(fences), self._text(s.body, stop), s.index + 1,
                               self._code(s.index, stop)))
            elif not self._numbered_steps(s.body, stop) and (fences or self._text(s.body, stop)):
                # A resolution block without numbered steps ("### Roll back") is one item.
                self._add(Item(f"resolution-{md.slug(title)}", "resolution", title, None,
                               self._commands(fences), self._text(s.body, stop), s.index + 1,
                               self._code(s.index, stop)))

    def _numbered_steps(self, start: int, end: int, bullets: bool = False) -> bool:
        if bullets:
            entries = self._list(start, end, top_only=True)
        else:
            entries = [e for e in self._entries(start, end, numbered_only=True) if e.number is not None]
        for e in entries:
            self._add(Item(f"resolution-{e.number}", "resolution", e.title, None,
                           self._commands(self.doc.fences_in(e.start, e.end)),
                           " ".join(filter(None, (e.rest, self._text(e.start, e.end)))), e.line,
                           self._code(e.line - 1, e.end)))
        return bool(entries)

    def _related(self, h: md.Heading, end: int) -> None:
        names: list[tuple[str, int]] = []
        for i, line in self.doc.text_lines(h.body, end):
            m = md.BULLET.match(line) or md.NUMBERED.match(line)
            if m:
                body = m.group(m.lastindex or 1)
                code = re.search(r"`([^`]+)`", body)
                name = code.group(1) if code else re.split(r"\s+[-–—:(]\s*|:\s", md.plain(body))[0]
                names.append((" ".join(name.split()), i + 1))
        if not names:  # alerts named inline: "See `HighMemoryUsage` and `HighCPUUsage`."
            for i, line in self.doc.text_lines(h.body, end):
                names += [(n.strip(), i + 1) for n in re.findall(r"`([^`]+)`", line)]
        for name, line in names:
            if name:
                self._add(Item(f"related-alert:{name}", "related-alert", name, None, [], "", line))

    # --- entries: numbered headings, numbered lists or bullets ---
    def _entries(self, start: int, end: int, numbered_only: bool = False) -> list[_Entry]:
        heads = self.doc.headings_in(start, end)
        if heads:
            level = min(x.level for x in heads)
            heads = [x for x in heads if x.level == level]
            raw = []
            for k, x in enumerate(heads):
                number, title = md.numbered_title(x.text)
                stop = heads[k + 1].index if k + 1 < len(heads) else end
                raw.append(_Entry(number, title, "", x.body, stop, x.index + 1))
            if numbered_only:
                raw = [e for e in raw if e.number is not None]
            return _renumber(raw)
        return self._list(start, end, top_only=True, numbered_only=numbered_only)

    def _list(self, start: int, end: int, top_only: bool, numbered_only: bool = False) -> list[_Entry]:
        """List entries of [start, end): numbered items, else bullets, at the outermost indent.
        With top_only, items indented like code under a list are not entries."""
        lines = self.doc.text_lines(start, end)
        found: list[tuple[int, int, int | None, str]] = []  # (index, indent, number, text)
        for i, line in lines:
            n = md.NUMBERED.match(line)
            b = md.BULLET.match(line)
            if n:
                found.append((i, len(n.group(1).expandtabs(4)), md.list_number(n.group(2)),
                              n.group(3)))
            elif b and not numbered_only and not re.match(r"^\s*([-*_])(?:\s*\1){2,}\s*$", line):
                found.append((i, len(b.group(1).expandtabs(4)), None, b.group(2)))
        if top_only:
            found = [f for f in found if f[1] <= 3]
        if not found:
            return [] if numbered_only else self._table(start, end)
        indent = min(f[1] for f in found)
        outer = [f for f in found if f[1] == indent]
        # Numbered items win over bullets at the same level: bullets are then their details.
        if any(f[2] is not None for f in outer):
            outer = [f for f in outer if f[2] is not None]
        raw = []
        for k, (i, _ind, number, text) in enumerate(outer):
            stop = outer[k + 1][0] if k + 1 < len(outer) else end
            title, rest = md.lead_title(text)
            raw.append(_Entry(number, title, rest, i + 1, stop, i + 1))
        return _renumber(raw)


    def _table(self, start: int, end: int) -> list[_Entry]:
        """Rows of the first Markdown table in [start, end): the title is the cell under a
        'Cause' / 'Problem' / 'Step' ... header (else the first cell that is not a number), the
        other cells its text ("Symptom: ...; First check: ..."), a leading number its number."""
        lines = self.doc.text_lines(start, end)
        sep = next((k for k, (_i, line) in enumerate(lines) if k and _TABLE_RULE.match(line)), None)
        if sep is None:
            return []
        header = [md.plain(c) for c in md.cells(lines[sep - 1][1])]
        want = next((k for k, h in enumerate(header) if _TITLE_COLUMN.search(h)), None)
        raw = []
        for i, line in lines[sep + 1:]:
            if "|" not in line:
                break
            cells = md.cells(line)
            number = md.list_number(cells[0].strip()) if cells and cells[0].strip().isdigit() else None
            if want is not None and want < len(cells):
                col = want
            else:
                col = next((k for k, c in enumerate(cells) if not re.fullmatch(r"\s*#?\d*\s*", c)), None)
            if col is None:
                continue
            rest = "; ".join(f"{header[k] + ': ' if k < len(header) and header[k] else ''}"
                             f"{md.plain(c)}" for k, c in enumerate(cells)
                             if k != col and md.plain(c) and not (k == 0 and number is not None))
            code = [c.strip() for cell in cells for c in _CODE.findall(cell) if cmds.intent(c)]
            raw.append(_Entry(number, md.plain(cells[col]), rest, i + 1, i + 1, i + 1, code))
        return _renumber(raw)


def _renumber(entries: list[_Entry]) -> list[_Entry]:
    """Keep the runbook's numbers when they are unique (lazy '1. 1. 1.' lists are not: they
    count from the first); unnumbered entries continue from the last number."""
    numbers = [e.number for e in entries if e.number is not None]
    if len(set(numbers)) != len(numbers):
        base = numbers[0] if numbers else 1
        for k, e in enumerate(entries):
            e.number = base + k
        return entries
    last = 0
    for e in entries:
        if e.number is None:
            e.number = last + 1
        last = e.number
    return entries
