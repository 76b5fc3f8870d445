"""What each runbook item means, from what it says: its heading or bullet, its text, its
commands (by intent) and its parent, matched against the vocabulary of `meanings.py`.

Every mapping carries a confidence and the words that decided it. An item whose words name
nothing the project knows is `unknown`; one whose words name two things equally (or too
weakly) is `ambiguous`, with the candidates; neither counts as covered, so a wrong guess can
never make a report green. The item's position is a tie-breaker only: when two candidates tie
and one of them stands at this very position in the seed runbook, it is taken, and the reason
says "position". A sidecar file (`sidecar.py`) pins what the owner knows better.

Scores: a phrase in the title counts 3 (one more per extra word of the phrase), a word 1; in
the text, commands and inline code half as much (at most 3 in all); a command whose intent
asks the meaning's question 3; a cause under a heading of its own category 1; a word that
tells it is something else -2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from functools import cache

from servicedown import meanings as mn
from servicedown.runbook import commands as cmds
from servicedown.runbook.reader import Item, Runbook

THRESHOLD = 0.6  # a mapping below this confidence is reported as undecided, never used
MIN_SCORE = 2.0  # less than one phrase or two words: the item names nothing we know
TIE = 0.75  # a second candidate at this share of the best makes the item ambiguous
BODY_CAP = 3.0

MATCHED, AMBIGUOUS, UNKNOWN = "matched", "ambiguous", "unknown"
PINNED, TABLE, INFO = "pinned", "table", "informational"
STEP_KINDS = ("diagnosis", "resolution")


@dataclass(frozen=True)
class Mapping:
    item: str
    status: str  # matched | ambiguous | unknown | pinned | table | informational
    meanings: tuple[str, ...] = ()  # what the item means (empty unless matched, pinned or table)
    confidence: float = 0.0
    reasons: tuple[str, ...] = ()  # the words that decided it
    candidates: tuple[tuple[str, float], ...] = ()  # the close ones, when ambiguous

    @property
    def decided(self) -> bool:
        return self.status in (MATCHED, PINNED, TABLE)

    def describe(self) -> str:
        if self.status == INFO:
            return "informational"
        if self.status == UNKNOWN:
            return "names nothing the project knows" + (f" ({'; '.join(self.reasons)})"
                                                        if self.reasons else "")
        if self.status == AMBIGUOUS:
            cands = ", ".join(f"{m} {s:.2f}" for m, s in self.candidates)
            return f"cannot tell: {cands}" + (f" ({'; '.join(self.reasons)})" if self.reasons else "")
        return (f"{', '.join(self.meanings) or 'uncovered'} {self.confidence:.2f} "
                f"({'; '.join(self.reasons)})")


# --- words ---
def _stem(token: str) -> str:
    """Plural and tense endings off, the same on both sides: 'crashes' = 'crashed' = 'crash',
    'traces' = 'trace'. Crude on purpose: both the runbook and the vocabulary go through it."""
    if len(token) > 4:
        for end, keep in (("ies", "y"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"), ("xes", "x"),
                          ("ing", ""), ("ed", "")):
            if token.endswith(end) and len(token) - len(end) >= 3:
                token = token[: len(token) - len(end)] + keep
                break
        else:
            if token.endswith("s") and not token.endswith("ss"):
                token = token[:-1]
    elif len(token) == 4 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]  # pods, logs, fds
    return token[:-1] if len(token) > 3 and token.endswith("e") else token


def tokens(text: str) -> tuple[str, ...]:
    # Split camel case first ("HighMemoryUsage", "OOMKilled" stays one word: no lower-upper edge
    # inside it) so alert names read as words.
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return tuple(_stem(t) for t in re.findall(r"[a-z0-9]+", text.lower()))


@cache
def _phrase(text: str) -> tuple[str, ...]:
    return tokens(text)


def _find(phrase: tuple[str, ...], words: tuple[str, ...]) -> bool:
    n = len(phrase)
    if not n or n > len(words):
        return False
    first = phrase[0]
    return any(words[i] == first and words[i:i + n] == phrase for i in range(len(words) - n + 1))


@dataclass
class _Text:
    title: tuple[str, ...]
    body: tuple[str, ...]
    parent: tuple[str, ...]
    intents: set[str] = field(default_factory=set)
    intent_of: dict[str, str] = field(default_factory=dict)  # intent -> the command that asked it


def _text_of(item: Item, parent: Item | None) -> _Text:
    cmd_text = " ".join(item.commands + item.code)
    t = _Text(tokens(item.title), tokens(f"{item.text} {cmd_text}"),
              tokens(parent.title) if parent else ())
    for command in [*item.commands, *item.code]:
        name = cmds.intent(command)
        if name:
            key = "http" if name.startswith("http ") else name
            t.intents.add(key)
            t.intent_of.setdefault(key, command)
    return t


# --- scoring ---
def score(m: mn.Meaning, t: _Text, parent_category: str | None = None) -> tuple[float, list[str]]:
    w = m.words
    if w.context and not any(_find(_phrase(c), t.title + t.body + t.parent) for c in w.context):
        return 0.0, []
    total, body, why = 0.0, 0.0, []
    seen: set[tuple[str, ...]] = set()
    for p in w.phrases:
        ph = _phrase(p)
        if ph in seen:  # 'crash loop' and 'crash looping' are one phrase once stemmed
            continue
        seen.add(ph)
        if _find(ph, t.title):
            total += 2.0 + len(ph)
            why.append(f"'{p}'")
        elif _find(ph, t.body):
            body += (2.0 + len(ph)) / 2
            why.append(f"'{p}' in its text")
    for word in w.words:
        ph = _phrase(word)
        if _find(ph, t.title):
            total += 1.0
            why.append(f"'{word}'")
        elif _find(ph, t.body):
            body += 0.5
    total += min(body, BODY_CAP)
    for p in w.against:
        if _find(_phrase(p), t.title + t.body):
            total -= 2.0
            why.append(f"not: '{p}'")
    for intent in w.intents:
        if intent in t.intents:
            total += 3.0
            why.append(f"command `{_short(t.intent_of[intent])}` ({intent})")
    if parent_category and m.category and mn.category_id(m.category) == parent_category:
        total += 1.0
        why.append("under its category's heading")
    return total, why


def _short(command: str, width: int = 48) -> str:
    return command if len(command) <= width else command[: width - 1] + "…"


def _tiers(item: Item, has_children: bool) -> list[tuple[str, ...]]:
    """Which kinds of meaning an item may have, in order: a step item's steps before causes;
    a heading with bullets is a category before a cause, a bullet a cause before a category."""
    if item.kind in STEP_KINDS:
        return [("step",), ("cause", "category")]
    if has_children:
        return [("category",), ("cause",)]
    return [("cause",), ("category",)]


def _decide(item: Item, t: _Text, kinds: tuple[str, ...], parent_category: str | None) -> Mapping | None:
    scored = []
    for m in mn.MEANINGS.values():
        if m.kind in kinds:
            s, why = score(m, t, parent_category)
            if s > 0:
                scored.append((s, m.id, why))
    scored.sort(key=lambda x: (-x[0], x[1]))
    if not scored or scored[0][0] < MIN_SCORE:
        return None
    best, best_id, why = scored[0]
    close = [(s, mid) for s, mid, _ in scored[1:] if s >= TIE * best]
    if close:
        tied = [best_id, *(mid for _s, mid in close)]
        by_position = [mid for mid in tied if item.id.split("/")[-1] in mn.MEANINGS[mid].words.seed]
        if len(by_position) == 1:
            chosen = by_position[0]
            reasons = next(w for _s, mid, w in scored if mid == chosen)
            return Mapping(item.id, MATCHED, (chosen,), THRESHOLD,
                           (*reasons, f"position {item.id} broke a tie with "
                            + ", ".join(m for m in tied if m != chosen)))
        cands = tuple((mid, round(_confidence(s, best), 2)) for s, mid in [(best, best_id), *close])
        named = {mid: w for _s, mid, w in scored}
        return Mapping(item.id, AMBIGUOUS, (), 0.0,
                       tuple(f"{mid}: {', '.join(named[mid])}" for mid, _c in cands), cands)
    second = scored[1][0] if len(scored) > 1 else 0.0
    conf = _confidence(best, second)
    if conf < THRESHOLD:
        return Mapping(item.id, AMBIGUOUS, (), 0.0,
                       (*why, f"best guess {best_id} at {conf:.2f}, below {THRESHOLD}"),
                       ((best_id, round(conf, 2)),))
    return Mapping(item.id, MATCHED, (best_id,), round(conf, 2), tuple(why))


def _confidence(best: float, second: float) -> float:
    strength = min(1.0, best / 3.0)
    separation = (best - second) / best if best else 0.0
    return strength * (0.5 + 0.5 * separation)


def match_item(item: Item, parent: Item | None = None, parent_category: str | None = None,
               has_children: bool = False) -> Mapping:
    if not item.required:
        return Mapping(item.id, INFO, (), 1.0, ("escalation, prevention and post-incident are "
                                                "for people",))
    if item.kind == "related-alert":
        known = mn.ALERTS.get(re.sub(r"[^a-z0-9]", "", item.title.lower()))
        if known:
            return Mapping(item.id, TABLE, known, 1.0, ("the related-alert table",))
    t = _text_of(item, parent)
    for kinds in _tiers(item, has_children):
        found = _decide(item, t, kinds, parent_category)
        if found is not None:
            return found
    return Mapping(item.id, UNKNOWN)


def match(runbook: Runbook, pins: MappingType[str, Mapping] | None = None) -> dict[str, Mapping]:
    """item id -> Mapping, in runbook order. `pins` (from the sidecar) win over the matcher."""
    pins = pins or {}
    by_id = {it.id: it for it in runbook.items}
    parents = {it.parent for it in runbook.items if it.parent}
    out: dict[str, Mapping] = {}
    for it in runbook.items:
        if it.id in pins:
            out[it.id] = pins[it.id]
            continue
        parent = by_id.get(it.parent) if it.parent else None
        pm = out.get(it.parent) if it.parent else None
        parent_category = next((m for m in pm.meanings if m.startswith("category:")), None) if pm else None
        out[it.id] = match_item(it, parent, parent_category, it.id in parents)
    return out


def meanings_of(mappings: Iterable[Mapping]) -> set[str]:
    return {m for mp in mappings for m in mp.meanings}
