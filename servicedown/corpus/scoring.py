"""How a triage's answer is scored against an incident's label: the one reading of the triage
JSON that `make bench-triage` and the unit tests share.

The triage JSON (`Triage.to_json()`, `--triage-json`) is read, not the Python objects, so the
reading follows the file that on-call engineers get. Each field has a fallback for files
written before the triage had it:
- the top cause: `top_cause` when present (the triage names none when no cause has its
  defining evidence), else the first ranked cause;
- *confident*: the top cause's `confidence` (its share of the evidence, 0..1) is at least
  CONFIDENT, i.e. it outweighs every other candidate together; a cause without a confidence
  field counts as confident (a tool that names a cause without a doubt is sure of it);
- *inconclusive*: `cause_inconclusive` (or `inconclusive`) true, a verdict or headline that
  says "inconclusive" ("DOWN (cause inconclusive)"), or a failing verdict with no top cause.
  An inconclusive answer names no top cause, whatever it lists as possibilities.

Scoring a case:
- label healthy: right when the triage says healthy; wrong when it names a cause.
- label with causes: right when the top cause is one of them; wrong when another cause is on
  top; inconclusive when it names none.
- label with no cause and not healthy (the evidence cannot name one): right when the triage
  names none (inconclusive or no cause); wrong when it names one.
A wrong answer from a confident top cause is *confident-wrong*: the number an on-call team
cares about most. For labels with several causes, `all_listed` says whether every one of them
is among the ranked causes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIDENT = 0.5


@dataclass(frozen=True)
class Reading:
    verdict: str  # the verdict's first word: healthy | degraded | down | ...
    top: str | None  # the named top cause; None when healthy or inconclusive
    confident: bool
    inconclusive: bool
    listed: tuple[str, ...]  # every ranked cause id
    confidence: float | None = None


def read_triage(doc: Mapping[str, Any]) -> Reading:
    verdict_text = str(doc.get("verdict") or "")
    word = verdict_text.split()[0].strip("(),:").lower() if verdict_text.split() else ""
    causes = [c for c in doc.get("causes") or [] if isinstance(c, Mapping) and c.get("id")]
    listed = tuple(str(c["id"]) for c in causes)
    failing = word not in ("", "healthy")
    named = doc.get("top_cause") if "top_cause" in doc else (listed[0] if listed else None)
    said = " ".join(str(doc.get(k) or "") for k in ("verdict", "headline")).lower()
    inconclusive = failing and (doc.get("cause_inconclusive") is True or doc.get("inconclusive") is True
                                or "inconclusive" in said or not named)
    top = None if inconclusive or not failing else str(named)
    confidence = None
    if top is not None:
        raw = next((c.get("confidence") for c in causes if c["id"] == top), None)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            confidence = float(raw)
    confident = top is not None and (confidence is None or confidence >= CONFIDENT)
    return Reading(word, top, confident, inconclusive, listed, confidence)


@dataclass(frozen=True)
class Score:
    name: str
    kind: str
    profile: str
    outcome: str  # right | wrong | inconclusive
    confident_wrong: bool
    verdict_agrees: bool
    all_listed: bool | None  # None unless the label names several causes
    label: str
    answer: str


def score(name: str, kind: str, profile: str, label_verdict: str, label_causes: Iterable[str],
          triage_doc: Mapping[str, Any]) -> Score:
    r = read_triage(triage_doc)
    causes = tuple(label_causes)
    if label_verdict == "healthy":
        outcome = "right" if r.verdict == "healthy" else "wrong" if r.top else "inconclusive"
    elif causes:
        outcome = "inconclusive" if r.top is None else "right" if r.top in causes else "wrong"
    else:
        outcome = "right" if r.top is None else "wrong"
    answer = r.verdict + (f" {r.top}" if r.top else " (no cause)" if r.verdict != "healthy" else "")
    return Score(name, kind, profile, outcome, outcome == "wrong" and r.confident,
                 r.verdict == label_verdict, set(causes) <= set(r.listed) if len(causes) > 1 else None,
                 f"{label_verdict} {'+'.join(causes) or '(no cause)'}", answer)


@dataclass
class Tally:
    cases: int = 0
    right: int = 0
    confident_wrong: int = 0
    inconclusive: int = 0
    wrong: int = 0
    verdicts: int = 0
    compound: int = 0
    compound_listed: int = 0
    names: list[str] = field(default_factory=list)

    def add(self, s: Score) -> None:
        self.cases += 1
        self.right += s.outcome == "right"
        self.wrong += s.outcome == "wrong"
        self.inconclusive += s.outcome == "inconclusive"
        self.confident_wrong += s.confident_wrong
        self.verdicts += s.verdict_agrees
        if s.all_listed is not None:
            self.compound += 1
            self.compound_listed += s.all_listed
        self.names.append(s.name)

    @staticmethod
    def pct(n: int, m: int) -> str:
        return f"{100 * n / m:.0f}%" if m else "-"

    def line(self) -> str:
        return (f"triage accuracy: top-1 {self.pct(self.right, self.cases)} ({self.right} of "
                f"{self.cases}), confident-wrong {self.confident_wrong}, inconclusive "
                f"{self.pct(self.inconclusive, self.cases)}")


def tally(scores: Iterable[Score]) -> Tally:
    t = Tally()
    for s in scores:
        t.add(s)
    return t
