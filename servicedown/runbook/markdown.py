"""The little Markdown a runbook needs: fenced code blocks, headings, list lines, inline text.

Not a full CommonMark parser on purpose: runbooks are short, hand-written and drift in small
ways (setext headings, lazy list numbering, fences at any indentation), and every one of those
must still read. What cannot be read (a code block that never closes) is an error with a line
number, because guessing would swallow every section after it.
"""

from __future__ import annotations

import re
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

    def fences_in(self, start: int, end: int) -> list[Fence]:
        return [f for f in self.fences if start <= f.start < end]

    def text_lines(self, start: int, end: int) -> list[tuple[int, str]]:
        """(index, line) of the lines outside code blocks in [start, end)."""
        return [(i, self.lines[i]) for i in range(start, min(end, len(self.lines)))
                if not self.in_fence[i]]

    def headings_in(self, start: int, end: int) -> list[Heading]:
        return [h for h in self.headings if start <= h.index < end]


FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
FENCE_CLOSE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
ATX = re.compile(r"^\s{0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
SETEXT = re.compile(r"^\s{0,3}(=+|-+)[ \t]*$")
NUMBERED = re.compile(r"^(\s*)(\d{1,4})[.)][ \t]+(.*)$")
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
            doc.headings.append(Heading(i, len(m.group(1)), m.group(2).strip(), i + 1))
            continue
        s = SETEXT.match(line)
        # Setext: a one-line paragraph underlined with === or ---; a lone --- is a rule.
        if s and i > 0 and not doc.in_fence[i - 1] and not _NOT_PARAGRAPH.match(lines[i - 1]) \
                and (i == 1 or not lines[i - 2].strip()) and not ATX.match(lines[i - 1]):
            level = 1 if s.group(1)[0] == "=" else 2
            doc.headings.append(Heading(i - 1, level, lines[i - 1].strip(), i + 1))


def plain(text: str) -> str:
    """Inline Markdown to plain text: emphasis, code spans and links unwrapped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"`+([^`]*)`+", r"\1", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    return " ".join(text.split()).strip()


def lead_title(text: str) -> tuple[str, str]:
    """A list line's title and the rest: '**Check X**: more' -> ('Check X', 'more')."""
    m = re.match(r"^\s*(\*\*|__)(.+?)\1\s*[:.\-–—]?\s*(.*)$", text)
    if m:
        return plain(m.group(2)).rstrip(":. "), plain(m.group(3))
    return plain(text).rstrip(":. "), ""


def numbered_title(text: str) -> tuple[int | None, str]:
    """'1. Check X' / 'Step 2: Check Y' / 'Check Z' -> (number or None, title)."""
    t = plain(text)
    m = re.match(r"^(?:step\s*)?(\d{1,4})\s*[.):\-–—]?\s+(.+)$", t, re.IGNORECASE)
    if m:
        return int(m.group(1)), m.group(2).rstrip(": ")
    return None, t.rstrip(": ")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", plain(text).lower()).strip("-") or "section"
