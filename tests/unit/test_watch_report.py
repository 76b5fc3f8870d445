"""The post-mortem page and draft read the incident timeline: the view opens on the incident,
earlier runs stay on the page, and the draft's duration comes from the timeline."""

from __future__ import annotations

import json
import re

from servicedown.report import html, markdown, timeline
from servicedown.report.load import load
from servicedown.schema import TIMELINE_FILE, iso

T0 = 1_800_000_000.0


def line(t: float, kind: str, verdict: str | None, detail: str, **data) -> str:
    return json.dumps({"time": iso(t), "kind": kind, "verdict": verdict, "top_cause": None,
                       "detail": detail, **data})


def incident_lines(start: float) -> list[str]:
    """A watch that saw a crash 5 s after the failure began, and the recovery 60 s later."""
    return [
        line(start - 60, "start", None, "watching"),
        line(start - 58, "state", "healthy", "HEALTHY", failed=[]),
        line(start + 5, "state", "down", "DOWN, most likely crash", failed=["running.state"],
             down_since=iso(start)),
        line(start + 6, "restart", "down", "restarted by the platform", by="platform"),
        line(start + 40, "state", "healthy", "HEALTHY", failed=[]),
        line(start + 50, "recovery", "healthy", "recovered", down_since=iso(start),
             healthy_since=iso(start + 40), downtime_s=40.0),
        line(start + 55, "end", "healthy", "recovered (--until-healthy)"),
    ]


def write(tmp_path, lines: list[str], load_points: list[float] = ()) -> None:
    (tmp_path / TIMELINE_FILE).write_text("\n".join(lines) + "\n")
    if load_points:
        series = [{"t": t, "rps": 50.0, "p95_ms": 120.0, "error_ratio": 0.0} for t in load_points]
        (tmp_path / "load-timeline.json").write_text(json.dumps({"series": series}))


def test_the_view_opens_on_the_incident_not_on_the_load_run_before(tmp_path):
    load_points = [T0 - 1800 + n for n in range(300)]  # a load run 30 minutes before
    write(tmp_path, incident_lines(T0), load_points)
    inp = load(tmp_path)
    tl = timeline.build(inp)
    assert tl.incident is not None and (tl.incident.start, tl.incident.end) == (T0, T0 + 40)
    assert T0 - 60 <= tl.t0 < T0 and T0 + 40 < tl.t1 <= T0 + 100  # the incident, with a margin
    assert tl.full is not None and tl.full[0] <= T0 - 1800  # the load run stays reachable
    page = html.render(inp, tl, T0 + 100)
    assert "The incident:</strong>" in page and "the whole period" in page
    assert "The load run lies outside this view" in page
    # The incident takes a third of the first chart; in the whole period's it is a sliver.
    charts = page.split('<div class="chart">')
    zoomed, whole = _window_width(charts[1]), _window_width(charts[2])
    assert zoomed > 300 and whole < 30, (zoomed, whole)


def _window_width(chart: str) -> float:
    widths = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="[\d.]+" rx="3" '
                        r'fill="#cf222e"><title>incident', chart)
    return max(float(w) for w in widths)


def test_the_draft_fills_the_duration_users_saw_from_the_timeline(tmp_path):
    write(tmp_path, incident_lines(T0))
    inp = load(tmp_path)
    md = markdown.render(inp, timeline.build(inp), T0 + 100)
    users = next(x for x in md.splitlines() if "duration as users saw it" in x)
    assert "down 40 s" in users and "the first failure, on the platform's clock" in users
    assert "| watch | restart: restarted by the platform |" in md


def test_an_incident_watch_left_open_and_bad_lines(tmp_path):
    lines = incident_lines(T0)[:4] + ["{not json", line(T0 + 30, "end", "down", "interrupted (Ctrl-C)",
                                                         downtime_s=30.0, down_since=iso(T0))]
    write(tmp_path, lines)
    inp = load(tmp_path)
    assert any(n.source == TIMELINE_FILE and n.kind == "partial" for n in inp.notes)
    tl = timeline.build(inp)
    assert tl.incident is not None and "not recovered" in tl.incident.label
    users = markdown.users_saw(inp)
    assert users.startswith("still down after 30 s")


def test_without_a_timeline_nothing_changes(tmp_path):
    inp = load(tmp_path)
    assert inp.incident == [] and not any(n.source == TIMELINE_FILE for n in inp.notes)
    assert timeline.build(inp).incident is None
    assert markdown.users_saw(inp) == markdown.TODO
