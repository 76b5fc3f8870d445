"""Per-second time series of a load run: throughput, p50/p95/max latency, failures by group.

Locust's own `_stats_history.csv` gives a p95 over a sliding 10 s window, which smears a
10 s outage into a 20 s one; the post-mortem page needs what happened in each second.
Every process that runs users buckets its requests by wall-clock second (`add`); workers
ship their buckets to the master (`to_wire` / `merge_wire`), which writes the series.

Pure Python (no locust, no gevent) so unit tests and the runner can import it.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def round_ms(ms: float) -> int:
    """Two significant figures above 100 ms, like Locust's own histogram: bounded memory per second."""
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    return int(round(ms, -2))


def percentile(hist: Counter[int] | dict[int, int], q: float) -> float:
    """The q-quantile (0..1) of a {ms: count} histogram; 0 when empty (nearest rank)."""
    total = sum(hist.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return float(ms)
    return float(max(hist))


def group_of(name: str) -> str:
    """Statistics names start with their group ('probe /health', 'write POST ...')."""
    return name.split(" ", 1)[0] if " " in name else name


@dataclass
class Bucket:
    requests: int = 0
    failures: int = 0
    rt: Counter[int] = field(default_factory=Counter)
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> [requests, failures]

    def add(self, group: str, ms: float, failed: bool) -> None:
        self.requests += 1
        self.failures += int(failed)
        self.rt[round_ms(ms)] += 1
        g = self.groups.setdefault(group, [0, 0])
        g[0] += 1
        g[1] += int(failed)

    def merge(self, other: Bucket) -> None:
        self.requests += other.requests
        self.failures += other.failures
        self.rt.update(other.rt)
        for name, (req, fail) in other.groups.items():
            g = self.groups.setdefault(name, [0, 0])
            g[0] += req
            g[1] += fail


class Timeline:
    """Buckets by wall-clock second, plus the user count seen in each second."""

    def __init__(self) -> None:
        self.buckets: dict[int, Bucket] = {}
        self.users: dict[int, int] = {}

    def add(self, t: float, name: str, ms: float, failed: bool) -> None:
        self.buckets.setdefault(int(t), Bucket()).add(group_of(name), ms, failed)

    def note_users(self, t: float, users: int) -> None:
        self.users[int(t)] = users

    def take_wire(self) -> dict[str, Any]:
        """Every bucket so far in a msgpack-friendly shape (string keys), then forget them:
        a worker ships each request exactly once."""
        wire = {str(t): [b.requests, b.failures, {str(k): v for k, v in b.rt.items()}, b.groups]
                for t, b in self.buckets.items()}
        self.buckets = {}
        return wire

    def merge_wire(self, wire: dict[str, Any]) -> None:
        for t, (req, fail, rt, groups) in wire.items():
            other = Bucket(req, fail, Counter({int(k): v for k, v in rt.items()}),
                           {g: list(v) for g, v in groups.items()})
            self.buckets.setdefault(int(t), Bucket()).merge(other)

    def rows(self, until: int | None = None, since: int | None = None) -> list[dict[str, Any]]:
        """One row per second from the first second seen to the last (empty seconds included:
        a second without a single answer is the outage the chart must show)."""
        seconds = set(self.buckets) | set(self.users)
        if not seconds:
            return []
        first = min(seconds) if since is None else since
        last = max(seconds) if until is None else until
        out = []
        origin = min(seconds)
        for t in range(first, last + 1):
            b = self.buckets.get(t, Bucket())
            out.append({
                "t": t, "elapsed_s": t - origin, "users": self.users.get(t),
                "requests": b.requests, "failures": b.failures,
                # the post-mortem page's names for the same figures (1 s buckets: rps = requests)
                "rps": b.requests, "errors": b.failures,
                "error_ratio": round(b.failures / b.requests, 4) if b.requests else None,
                "p50_ms": percentile(b.rt, 0.50), "p95_ms": percentile(b.rt, 0.95),
                "max_ms": float(max(b.rt)) if b.rt else 0.0,
                "groups": {g: {"requests": r, "failures": f} for g, (r, f) in sorted(b.groups.items())},
            })
        return out


def write_jsonl(path: str | os.PathLike[str], rows: list[dict[str, Any]], append: bool = False) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a" if append else "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a series file; a second written twice (live, then final) keeps its last row."""
    by_t: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_t[row["t"]] = row
    return [by_t[t] for t in sorted(by_t)]
