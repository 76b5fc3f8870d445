"""What Prometheus's HTTP API answers, read as plain data: range queries as series of points,
and what the monitoring checks ask of a series (its peak, when it was above a line, when the
process behind it went away). Pure functions over the API's JSON, so a recorded answer reads
exactly as a live one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs: hashable, one series' identity


class PromError(ValueError):
    """Prometheus answered, but not with what was asked (an error status, another shape)."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: tuple[tuple[float, float], ...]  # (epoch, value), in time order, NaN left out

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")

    def key(self, without: Iterable[str] = ("__name__",)) -> Labels:
        drop = set(without)
        return tuple(sorted((k, v) for k, v in self.labels.items() if k not in drop))


@dataclass(frozen=True)
class Run:
    """A stretch of consecutive points above (or at) a line."""

    start: float
    end: float
    peak: float
    peak_at: float


def parse_matrix(doc: Any) -> list[Series]:
    """The series of a range query's answer (`resultType: matrix`)."""
    data = _data(doc)
    if data.get("resultType") != "matrix":
        raise PromError(f"expected a matrix, got {str(data.get('resultType'))[:40]!r}")
    out = []
    for item in _list(data.get("result")):
        if not isinstance(item, dict):
            continue
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        points = []
        for pair in _list(item.get("values")):
            point = _point(pair)
            if point is not None:
                points.append(point)
        points.sort()
        out.append(Series(labels, tuple(points)))
    return out


def parse_build(doc: Any) -> str:
    """The version in /api/v1/status/buildinfo's answer ("" when it does not say)."""
    return str(_data(doc).get("version") or "")


def _data(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise PromError("the answer is not a JSON object")
    if doc.get("status") != "success":
        err = " ".join(str(doc.get("error") or "no reason given").split())
        kind = f" ({str(doc['errorType'])[:40]})" if doc.get("errorType") else ""
        raise PromError(f"Prometheus answered status {str(doc.get('status'))[:20]!r}{kind}: {err[:200]}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise PromError("the answer has no data object")
    return data


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _point(pair: Any) -> tuple[float, float] | None:
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    try:
        t, v = float(pair[0]), float(pair[1])
    except (TypeError, ValueError):
        return None
    return (t, v) if math.isfinite(t) and math.isfinite(v) else None


def runs_at_or_above(points: Iterable[tuple[float, float]], line: float, gap_s: float) -> list[Run]:
    """The stretches of points >= line; points further apart than gap_s break a stretch (the
    series was absent in between: the process was not scraped)."""
    out: list[Run] = []
    cur: list[tuple[float, float]] = []
    last_t: float | None = None
    for t, v in points:
        broken = last_t is not None and t - last_t > gap_s
        if (v < line or broken) and cur:
            out.append(_run(cur))
            cur = []
        if v >= line:
            cur.append((t, v))
        last_t = t
    if cur:
        out.append(_run(cur))
    return out


def _run(points: list[tuple[float, float]]) -> Run:
    peak_t, peak = max(points, key=lambda p: (p[1], p[0]))
    return Run(points[0][0], points[-1][0], peak, peak_t)


def peak(points: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """(value, time) of the highest point, the latest of equals; None without points."""
    best = None
    for t, v in points:
        if best is None or v >= best[0]:
            best = (v, t)
    return best


def ratio(num: Series, den: Series) -> Series:
    """num / den at the times both have a point (a limit of 0 or below is no limit)."""
    by_t = dict(den.points)
    pts = tuple((t, v / by_t[t]) for t, v in num.points if by_t.get(t, 0) > 0)
    return Series(dict(num.labels), pts)


def first_exit(up: Series | None, started: Series | None, after: float,
               within_s: float) -> tuple[float, str] | None:
    """When the process behind a series went away after `after` (within within_s): the first
    failed scrape (`up` 0), or a new process (its start time changed). None when neither."""
    found: list[tuple[float, str]] = []
    if up is not None:
        t = next((t for t, v in up.points if t > after and v == 0), None)
        if t is not None:
            found.append((t, "stopped answering Prometheus's scrapes (up = 0)"))
    if started is not None:
        prev: float | None = None
        for t, v in started.points:
            if prev is not None and v != prev and t > after:
                found.append((t, "restarted (a new process started)"))
                break
            prev = v
    found = [f for f in found if f[0] - after <= within_s]
    return min(found) if found else None


def up_for(up: Series, after: float, gap_s: float) -> float:
    """How long the process behind `up` was scraped without a break, from the first successful
    scrape after `after` (0 when it never came back)."""
    runs = runs_at_or_above([(t, v) for t, v in up.points if t > after], 1.0, gap_s)
    return runs[0].end - runs[0].start if runs else 0.0


def at_end(series: Series, end: float, step: float) -> float | None:
    """The series' value at the end of the window, when it still has a point there."""
    if series.points and end - series.points[-1][0] <= step * 1.5:
        return series.points[-1][1]
    return None
