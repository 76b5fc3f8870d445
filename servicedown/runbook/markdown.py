"""The little Markdown a runbook needs: fenced code blocks, headings, list lines, inline text.

Not a full CommonMark parser on purpose: runbooks are short, hand-written and drift in small
ways (setext headings, lazy list numbering, fences at any indentation), and every one of those
must still read. What cannot be read (a code block that never closes) is an error with a line
number, because guessing would swallow every section after it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field


class MarkdownError(ValueError):
    """The text cannot be read as Markdown; the message names the line."""


@dataclass(frozen=True)
class Fence:
    start: int  # index of the opening line
    end: int  # index of the closing line
    lang: str  # first word of the info string, lower case ("" when none)
    body: tuple[str, ...]


@dataclass(frozen=True)
class Heading:
    index: int  # index of the heading's text line
    level: int
    text: str  # as written (inline markup kept)
    body: int  # index of the first line after the heading (setext headings take two lines)


@dataclass
class Document:
    lines: list[str]
    fences: list[Fence] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    in_fence: list[bool] = field(default_factory=list)
    _fence_starts: list[int] = field(default_factory=list, repr=False)
    _heading_starts: list[int] = field(default_factory=list, repr=False)

    # Fences and headings are in line order: a range is two bisections, not a pass over all
    # of them (a runbook with many items asks once per item).
    def fences_in(self, start: int, end: int) -> list[Fence]:
        starts = self._fence_starts or [f.start for f in self.fences]
        self._fence_starts = starts
        return self.fences[bisect_left(starts, start):bisect_left(starts, end)]

    def text_lines(self, start: int, end: int) -> list[tuple[int, str]]:
        """(index, line) of the lines outside code blocks in [start, end)."""
        return [(i, self.lines[i]) for i in range(start, min(end, len(self.lines)))
                if not self.in_fence[i]]

    def headings_in(self, start: int, end: int) -> list[Heading]:
        starts = self._heading_starts or [h.index for h in self.headings]
        self._heading_starts = starts
        return self.headings[bisect_left(starts, start):bisect_left(starts, end)]


FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
FENCE_CLOSE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
ATX = re.compile(r"^\s{0,3}(#{1,6})[ \t]+(\S.*)$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)[ \t]*$")
# "1." / "1)" / nested "1.2." or "1.2"; the number of an item is its last part.
NUMBERED = re.compile(r"^(\s*)(\d{1,4}(?:\.\d{1,4})+\.?|\d{1,4}[.)])[ \t]+(.*)$")
BULLET = re.compile(r"^(\s*)[-*+][ \t]+(.*)$")
_NOT_PARAGRAPH = re.compile(r"^\s*(?:[-*+>|#]|\d{1,4}[.)]\s|$)")


def parse(text: str) -> Document:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    doc = Document(lines, in_fence=[False] * len(lines))
    _scan_fences(doc)
    _scan_headings(doc)
    return doc


def _scan_fences(doc: Document) -> None:
    lines, i = doc.lines, 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        # A backtick fence's info string may not hold a backtick: "```x``` inline" is not a fence.
        if not m or (m.group(1)[0] == "`" and "`" in m.group(2)):
            i += 1
            continue
        marker = m.group(1)
        j = i + 1
        while j < len(lines):
            c = FENCE_CLOSE.match(lines[j])
            if c and c.group(1)[0] == marker[0] and len(c.group(1)) >= len(marker):
                break
            j += 1
        if j == len(lines):
            raise MarkdownError(f"line {i + 1}: code block opened with {marker} is never closed "
                                f"(add a closing {marker} line)")
        info = re.sub(r"[{}.]", " ", m.group(2)).split()
        doc.fences.append(Fence(i, j, info[0].lower() if info else "", tuple(lines[i + 1:j])))
        for k in range(i, j + 1):
            doc.in_fence[k] = True
        i = j + 1


def _scan_headings(doc: Document) -> None:
    lines = doc.lines
    for i, line in enumerate(lines):
        if doc.in_fence[i]:
            continue
        m = ATX.match(line)
        if m:
            doc.headings.append(Heading(i, len(m.group(1)), _atx_text(m.group(2)), i + 1))
            continue
        s = SETEXT.match(line)
        # Setext: a one-line paragraph underlined with === or ---; a lone --- is a rule.
        if s and i > 0 and not doc.in_fence[i - 1] and not _NOT_PARAGRAPH.match(lines[i - 1]) \
                and (i == 1 or not lines[i - 2].strip()) and not ATX.match(lines[i - 1]):
            level = 1 if s.group(1)[0] == "=" else 2
            doc.headings.append(Heading(i - 1, level, lines[i - 1].strip(), i + 1))


_INLINE = re.compile(r"[*_`\[]")


def _atx_text(text: str) -> str:
    """'Title ##' -> 'Title': the closing hashes go when a space precedes them. String
    methods, not a pattern: a pattern for it rescanned long runs of spaces from each one."""
    text = text.rstrip()
    bare = text.rstrip("#")
    if bare != text and bare.strip() and bare[-1] in " \t":
        return bare.strip()
    return text.strip()


def plain(text: str) -> str:
    """Inline Markdown to plain text: emphasis, code spans and links unwrapped.

    Linear in the length of the text: each construct is found by forward scans (str.find),
    never by a pattern that rescans the rest of the text from every opener, which made
    '*a ' or '[' repeated a few thousand times take seconds. Emphasis stays within a line."""
    if not _INLINE.search(text):  # most lines: nothing to unwrap
        return " ".join(text.split())
    text = re.sub(r"`+([^`]*)`+", r"\1", _links(text))
    lines = [_emphasis(_emphasis(_strong(line), "*", "*"), "_", "") for line in text.split("\n")]
    return " ".join(" ".join(lines).split()).strip()


def _links(line: str) -> str:
    """[text](url) and ![alt](url) -> text. A '[' without a later ']', or a '](' without a
    later ')', ends the scan: no later opener can find one either."""
    out, pos = [], 0
    while True:
        i = line.find("[", pos)
        j = line.find("]", i + 1) if i >= 0 else -1
        if j < 0:
            break
        if j + 1 < len(line) and line[j + 1] == "(":
            k = line.find(")", j + 2)
            if k < 0:
                break
            start = i - 1 if i > pos and line[i - 1] == "!" else i
            out += [line[pos:start], line[i + 1:j]]
            pos = k + 1
        else:  # '[x] y': every opener up to j shares this ']'; go on after it
            out.append(line[pos:j + 1])
            pos = j + 1
    return "".join(out) + line[pos:]


def _strong(line: str) -> str:
    """**x** / __x__ -> x, the leftmost opener first. An opener without a closer means no
    later opener of that mark has one: the mark is done, the scan goes on with the other."""
    out, pos = [], 0
    nxt = {m: line.find(m) for m in ("**", "__")}  # next occurrence at or after pos
    while True:
        for m in nxt:
            if 0 <= nxt[m] < pos:
                nxt[m] = line.find(m, pos)
        live = [(i, m) for m, i in nxt.items() if i >= 0]
        if not live:
            break
        i, m = min(live)
        j = line.find(m, i + 3)
        if j < 0:
            nxt[m] = -1
            continue
        out += [line[pos:i], line[i + 2:j]]
        pos = j + 2
    return "".join(out) + line[pos:]


def _emphasis(line: str, mark: str, also: str) -> str:
    """*x* / _x_ -> x, where the opener follows no word character (nor `also`) and precedes
    no space, and the closer follows no space and precedes no word character (nor `also`).
    The closer test does not depend on the opener, so an opener without a closer means that
    no later opener has one: the scan ends there."""

    def outside(ch: str) -> bool:
        return not (ch.isalnum() or ch == "_" or (also and ch == also))

    out, pos, n = [], 0, len(line)
    while True:
        i = line.find(mark, pos)
        while i >= 0 and not ((i == 0 or outside(line[i - 1])) and i + 1 < n
                              and not line[i + 1].isspace()):
            i = line.find(mark, i + 1)
        if i < 0:
            break
        j = line.find(mark, i + 2)
        while j >= 0 and not (not line[j - 1].isspace() and (j + 1 == n or outside(line[j + 1]))):
            j = line.find(mark, j + 1)
        if j < 0:
            break
        out += [line[pos:i], line[i + 1:j]]
        pos = j + 1
    return "".join(out) + line[pos:]


def lead_title(text: str) -> tuple[str, str]:
    """A list line's title and the rest: '**Check X**: more' -> ('Check X', 'more')."""
    m = re.match(r"^\s*(\*\*|__)(.+?)\1\s*[:.\-–—]?\s*(.*)$", text)
    if m:
        return plain(m.group(2)).rstrip(":. "), plain(m.group(3))
    return plain(text).rstrip(":. "), ""


def list_number(mark: str) -> int:
    """'3.' -> 3, '2.1.' -> 1: a nested item is numbered within its parent."""
    return int(re.findall(r"\d+", mark)[-1])


def numbered_title(text: str) -> tuple[int | None, str]:
    """'1. Check X' / 'Step 2: Check Y' / '1.2 Check Z' / 'Check Z' -> (number or None, title)."""
    t = plain(text)
    m = re.match(r"^(?:step\s*)?(\d{1,4}(?:\.\d{1,4})*)\s*[.):\-–—]?\s+(.+)$", t, re.IGNORECASE)
    if m:
        return list_number(m.group(1)), m.group(2).rstrip(": ")
    return None, t.rstrip(": ")


def cells(row: str) -> list[str]:
    """A table row's cells, split on '|' outside `code` (a cell may show `a | grep b`)."""
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    out, cur, code = [], [], False
    for ch in row:
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return out


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plain(text).lower()).strip("-") or "section"
