"""Inline SVG charts, no script: line charts over time with fault windows shaded, a lane chart
of check states, and horizontal bars for MTTD / MTTR. Every text is escaped here.

All time charts share one `Axis`, so a fault window sits at the same x in every chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from servicedown.report.timeline import Event, Lane, Window, word

WIDTH = 1120
LEFT = 190  # room for lane labels and y-axis labels
RIGHT = 16
FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',sans-serif\""
STATE_COLOURS = {"pass": "#1a7f37", "ok": "#1a7f37", "fail": "#cf222e", "error": "#bc4c00",
                 "skip": "#8c959f", "unknown": "#d0d7de"}
MARK_COLOURS = {"restart": "#8250df", "detect": "#bf8700", "recover": "#1a7f37", "checks": "#0969da",
                "start": "#8250df", "die": "#cf222e", "change": "#57606a", "load": "#57606a",
                "fault": "#cf222e", "escalation": "#bc4c00"}
FAULT_FILL = "#ff818266"  # translucent red: the fault window behind every series
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def esc(text: object) -> str:
    return escape(str(text), quote=True)


@dataclass(frozen=True)
class Axis:
    t0: float
    t1: float
    width: int = WIDTH

    def x(self, t: float) -> float:
        span = max(self.t1 - self.t0, 1e-9)
        return LEFT + (t - self.t0) / span * (self.width - LEFT - RIGHT)

    def ticks(self, target: int = 8) -> list[float]:
        span = max(self.t1 - self.t0, 1.0)
        step = next((s for s in _STEPS if span / s <= target), _STEPS[-1] * math.ceil(span / target / 86400))
        first = math.ceil(self.t0 / step) * step
        return [first + i * step for i in range(int((self.t1 - first) // step) + 1)]

    def label(self, t: float) -> str:
        fmt = "%H:%M:%S" if self.t1 - self.t0 < 86400 else "%m-%d %H:%M"
        return datetime.fromtimestamp(t, UTC).strftime(fmt)


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="{esc(label)}" {FONT} font-size="12">'
            f"<title>{esc(label)}</title>{''.join(body)}</svg>")


def _time_grid(axis: Axis, top: float, bottom: float, labels: bool = True) -> list[str]:
    out = []
    for t in axis.ticks():
        x = axis.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#eaeef2"/>')
        if labels:
            out.append(f'<text x="{x:.1f}" y="{bottom + 14:.1f}" text-anchor="middle" fill="#57606a">'
                       f"{esc(axis.label(t))}</text>")
    return out


def _windows(axis: Axis, windows: Sequence[Window], top: float, bottom: float,
             labelled: bool) -> list[str]:
    out = []
    for w in windows:
        x0, x1 = axis.x(w.start), axis.x(w.end)
        tip = f"{w.label}: {axis.label(w.start)} - {axis.label(w.end)} UTC ({w.end - w.start:.0f} s)"
        out.append(f'<rect x="{x0:.1f}" y="{top:.1f}" width="{max(x1 - x0, 2):.1f}" '
                   f'height="{bottom - top:.1f}" fill="{FAULT_FILL}"><title>{esc(tip)}</title></rect>')
        if labelled:
            out.append(f'<text x="{x0 + 3:.1f}" y="{top + 11:.1f}" fill="#a40e26" font-size="11">'
                       f"{esc(_clip(w.label, 28))}</text>")
    return out


MARK_WORDS = {"restart": "restart", "detect": "detected", "recover": "recovered", "checks": "checks ran",
              "start": "service started", "die": "container died", "escalation": "escalated"}
MAX_MARK_LABELS = 6  # beyond this the words would overlap; the hover titles still say it


def _marks(axis: Axis, marks: Sequence[Event], top: float, bottom: float,
           labelled: bool = False) -> list[str]:
    out = []
    shown = [m for m in marks if axis.t0 <= m.t <= axis.t1]
    words = labelled and len(shown) <= MAX_MARK_LABELS
    for m in shown:
        x = axis.x(m.t)
        colour = MARK_COLOURS.get(m.kind, "#57606a")
        out.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{colour}" '
                   f'stroke-width="1.5" stroke-dasharray="4 3"><title>{esc(axis.label(m.t))} UTC '
                   f"{esc(m.text)}</title></line>")
        if words:
            anchor = "end" if x > axis.width - 120 else "start"
            dx = -4 if anchor == "end" else 4
            out.append(f'<text x="{x + dx:.1f}" y="{top + 2:.1f}" text-anchor="{anchor}" fill="{colour}" '
                       f'font-size="11">{esc(MARK_WORDS.get(m.kind, m.kind))}</text>')
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above value (and above 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def line_chart(points: Sequence[tuple[float, float | None]], axis: Axis, *, title: str,
               fmt: Callable[[float], str], colour: str = "#0969da", windows: Sequence[Window] = (),
               marks: Sequence[Event] = (), y_max: float | None = None, height: int = 170) -> str:
    """One series over time; None values leave a gap. Fault windows shaded, marks dashed."""
    top, bottom = 24.0, height - 24.0
    values = [v for _, v in points if v is not None]
    top_value = nice_max(max(values, default=0.0) if y_max is None else y_max)
    body = [f'<text x="4" y="15" font-weight="600" font-size="13" fill="#24292f">{esc(title)}</text>']
    body += _time_grid(axis, top, bottom)
    body += _windows(axis, windows, top, bottom, labelled=True)
    for i in range(5):  # y grid: 0, 1/4 .. top
        v = top_value * i / 4
        y = bottom - (bottom - top) * i / 4
        body.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{axis.width - RIGHT}" y2="{y:.1f}" '
                    f'stroke="{"#afb8c1" if i == 0 else "#eaeef2"}"/>')
        body.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#57606a">'
                    f"{esc(fmt(v))}</text>")
    body += _marks(axis, marks, top, bottom)

    def y_of(v: float) -> float:
        return bottom - (bottom - top) * min(max(v / top_value, 0.0), 1.0)

    run: list[str] = []
    for t, v in [*points, (math.inf, None)]:
        if v is None or not math.isfinite(t):
            if len(run) > 1:
                body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                            f'stroke-linejoin="round" points="{" ".join(run)}"/>')
            elif run:  # a lone point still shows
                x, y = run[0].split(",")
                body.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            run = []
            continue
        run.append(f"{axis.x(t):.1f},{y_of(v):.1f}")
    peak = max(((v, t) for t, v in points if v is not None), default=None)
    if peak is not None:
        body.append(f'<text x="{axis.width - RIGHT}" y="15" text-anchor="end" fill="#57606a">'
                    f"peak {esc(fmt(peak[0]))} at {esc(axis.label(peak[1]))} UTC</text>")
    return _svg(axis.width, height, title, body)


def lane_chart(lanes: Sequence[Lane], axis: Axis, *, windows: Sequence[Window] = (),
               marks: Sequence[Event] = (), title: str = "Check states and events") -> str:
    """Fault windows on top, then one lane per check: a bar from each observation to the next
    in the state observed, and a short block at the last observation."""
    row, top = 22, 44.0
    rows = len(windows) + len(lanes)
    bottom = top + max(rows, 1) * row
    body = [f'<text x="4" y="15" font-weight="600" font-size="13" fill="#24292f">{esc(title)}</text>',
            *_legend(axis.width)]
    body += _time_grid(axis, top, bottom)
    body += _windows(axis, windows, top, bottom, labelled=False)
    y = top
    for w in windows:
        x0, x1 = axis.x(w.start), axis.x(w.end)
        body.append(f'<text x="{LEFT - 6}" y="{y + 15:.1f}" text-anchor="end" fill="#a40e26">'
                    f"{esc(_clip('fault: ' + w.label, 30))}</text>")
        body.append(f'<rect x="{x0:.1f}" y="{y + 4:.1f}" width="{max(x1 - x0, 3):.1f}" height="{row - 8}" '
                    f'rx="3" fill="#cf222e"><title>{esc(w.label)} ({w.end - w.start:.0f} s)</title></rect>')
        y += row
    for lane in lanes:
        body.append(f'<text x="{LEFT - 6}" y="{y + 15:.1f}" text-anchor="end" fill="#24292f">'
                    f"{esc(_clip(lane.label, 30))}</text>")
        for i, (t, state) in enumerate(lane.points):
            nxt = lane.points[i + 1][0] if i + 1 < len(lane.points) else None
            x0 = axis.x(t)
            w = max(axis.x(nxt) - x0, 2.0) if nxt is not None else 8.0
            colour = STATE_COLOURS.get(state, STATE_COLOURS["unknown"])
            tip = f"{lane.label}: {word(state)} at {axis.label(t)} UTC"
            body.append(f'<rect x="{x0 - (4 if nxt is None else 0):.1f}" y="{y + 4:.1f}" width="{w:.1f}" '
                        f'height="{row - 8}" rx="2" fill="{colour}"><title>{esc(tip)}</title></rect>')
        y += row
    body += _marks(axis, marks, top - 6, bottom, labelled=True)
    return _svg(axis.width, int(bottom + 22), title, body)


def _legend(width: int) -> list[str]:
    items = [("pass", STATE_COLOURS["pass"]), ("fail", STATE_COLOURS["fail"]),
             ("error", STATE_COLOURS["error"]), ("skip", STATE_COLOURS["skip"]),
             ("fault window", "#cf222e"), ("restart", MARK_COLOURS["restart"]),
             ("detected", MARK_COLOURS["detect"]), ("checks ran", MARK_COLOURS["checks"])]
    widths = [22 + 7 * len(name) for name, _ in items]  # about 7 px a character at 12 px
    out, x = [], width - RIGHT - sum(widths)
    for (name, colour), w in zip(items, widths, strict=True):
        out.append(f'<rect x="{x}" y="6" width="10" height="10" rx="2" fill="{colour}"/>'
                   f'<text x="{x + 14}" y="15" fill="#57606a">{esc(name)}</text>')
        x += w
    return out


def bar_chart(rows: Sequence[tuple[str, float | None, float | None]], *,
              title: str = "Time to detect and to recover (s)") -> str:
    """Per experiment two bars: MTTD (amber) and MTTR (purple); a missing value says so."""
    row, top = 34, 30
    height = top + max(len(rows), 1) * row + 10
    peak = nice_max(max((v for _, a, b in rows for v in (a, b) if v is not None), default=1.0))
    span = WIDTH - LEFT - RIGHT - 70
    body = [f'<text x="4" y="15" font-weight="600" font-size="13" fill="#24292f">{esc(title)}</text>',
            f'<rect x="{WIDTH - 260}" y="6" width="10" height="10" fill="#bf8700"/>'
            f'<text x="{WIDTH - 246}" y="15" fill="#57606a">MTTD (detect)</text>'
            f'<rect x="{WIDTH - 140}" y="6" width="10" height="10" fill="#8250df"/>'
            f'<text x="{WIDTH - 126}" y="15" fill="#57606a">MTTR (recover)</text>']
    y = top
    for label, mttd, mttr in rows:
        body.append(f'<text x="{LEFT - 6}" y="{y + 18}" text-anchor="end" fill="#24292f">'
                    f"{esc(_clip(label, 30))}</text>")
        for offset, value, colour in ((3, mttd, "#bf8700"), (17, mttr, "#8250df")):
            if value is None:
                body.append(f'<text x="{LEFT + 4}" y="{y + offset + 10}" fill="#8c959f" font-size="11">'
                            "not measured</text>")
                continue
            w = max(value / peak * span, 1.5)
            body.append(f'<rect x="{LEFT}" y="{y + offset}" width="{w:.1f}" height="12" rx="2" '
                        f'fill="{colour}"><title>{esc(label)}: {value:.1f} s</title></rect>'
                        f'<text x="{LEFT + w + 5:.1f}" y="{y + offset + 10}" fill="#24292f" '
                        f'font-size="11">{value:.1f} s</text>')
        y += row
    return _svg(WIDTH, height, title, body)
