"""The post-mortem page: one self-contained HTML file (inline CSS and SVG, no script, nothing
fetched: the CSP forbids it), verdict first, then causes, checks, timeline, chaos, coverage.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from servicedown.diagnosis.catalog import AREAS
from servicedown.redact import clip
from servicedown.report import charts
from servicedown.report.evidence import check_fragment, text, with_code
from servicedown.report.load import Inputs
from servicedown.report.timeline import Event, Timeline, Window
from servicedown.schema import number

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
OUTCOME_ORDER = {"fail": 0, "error": 1, "unknown": 2, "skip": 3, "pass": 4}

CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--error:#bc4c00;--skip:#8c959f;--ink:#24292f;--muted:#57606a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--ink);
background:#f6f8fa}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
.banner{border-radius:10px;padding:18px 22px;border:2px solid;display:flex;gap:24px;align-items:center}
.banner .v{font-size:40px;font-weight:800;letter-spacing:.04em;text-transform:uppercase}
.banner.healthy{background:#dafbe1;border-color:var(--pass)}.banner.healthy .v{color:var(--pass)}
.banner.degraded{background:#fff8c5;border-color:#9a6700}.banner.degraded .v{color:#9a6700}
.banner.down{background:#ffebe9;border-color:var(--fail)}.banner.down .v{color:var(--fail)}
.banner.unknown{background:#eaeef2;border-color:var(--skip)}.banner.unknown .v{color:var(--muted)}
.tiles{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.tile{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px 14px;min-width:130px}
.tile b{display:block;font-size:20px}.tile span{color:var(--muted);font-size:12px}
.tile.bad b{color:var(--fail)}.tile.good b{color:var(--pass)}
.notes{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:10px 16px;margin:14px 0}
.notes li{margin:2px 0}.muted{color:var(--muted)}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:10px 0}
.card.top{border-left:6px solid var(--fail)}
.score{display:inline-block;height:8px;background:var(--fail);border-radius:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa;font-size:12px;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.fail td:first-child,tr.error td:first-child{border-left:4px solid var(--fail)}
.pill{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px;font-weight:600}
.pill.pass,.pill.yes{background:var(--pass)}.pill.fail,.pill.no{background:var(--fail)}
.pill.error,.pill.aborted{background:var(--error)}.pill.skip,.pill.unknown,.pill.not-run{background:var(--skip)}
.map{display:flex;flex-wrap:wrap;gap:14px}.group{background:#fff;border:1px solid #d0d7de;border-radius:8px;
padding:8px 10px}.group h3{margin:0 0 6px;font-size:12px;color:var(--muted);text-transform:uppercase}
.chip{display:inline-block;margin:2px;padding:2px 8px;border-radius:4px;color:#fff;font-size:12px}
.chip.pass{background:var(--pass)}.chip.fail{background:var(--fail)}.chip.error{background:var(--error)}
.chip.skip,.chip.unknown{background:var(--skip)}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #eaeef2;border-radius:6px;
padding:6px 8px;margin:4px 0;font-size:12px;max-height:360px;overflow:auto}
code{font-size:12px;background:#eff1f3;border-radius:4px;padding:0 3px}
details summary{cursor:pointer;color:#0969da}
dl.ev{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
dl.ev dt{color:var(--muted)}
dl.ev dd{margin:0}.chart{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:6px;margin:8px 0}
ol li{margin:3px 0}footer{margin-top:30px;color:var(--muted);font-size:12px}
"""


def _when(t: float | None) -> str:
    if t is None:
        return "unknown"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _pill(word: object) -> str:
    w = text(word, 40)
    return f'<span class="pill {w}">{w}</span>'


def _yes(value: object) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    return _pill("yes") if value is True or value == "true" else _pill("no")


# --- sections --------------------------------------------------------------------------------

def _header(inp: Inputs, tl: Timeline, generated: float) -> str:
    tri = inp.triage or {}
    verdict = tri.get("verdict") or "unknown"
    checks = tri.get("checks") or []
    counts = {o: sum(1 for c in checks if c["outcome"] == o) for o in ("fail", "error", "pass", "skip")}
    causes = tri.get("causes") or []
    top = ("Cause inconclusive: no cause has its defining evidence (what would decide is below)."
           if tri.get("inconclusive") else
           f"Most likely cause: <strong>{text(causes[0]['title'])}</strong> "
           f"<span class=\"muted\">({text(causes[0]['id'])}, score {causes[0]['score'] or 0:g})</span>"
           if causes else ("No runbook cause matches the failures; read the failed checks below."
                           if verdict not in ("healthy", "unknown") else "No cause to rank: nothing failed."
                           if verdict == "healthy" else "No triage result was found."))
    tiles = [("checks failed", counts["fail"], counts["fail"] > 0),
             ("could not check", counts["error"], counts["error"] > 0),
             ("checks passed", counts["pass"], False), ("skipped", counts["skip"], False)]
    html = [f'<div class="banner {text(verdict, 20)}"><div class="v">{text(verdict, 20)}</div>'
            f"<div><h1>QBITEL Engine — Service Down post-mortem</h1>"
            f"<div>target: {text(tri.get('target') or 'unknown')}</div>"
            + (f"<div>{text(tri.get('headline'))}</div>" if tri.get("headline") else "")
            + (f"<div>state: {text(tri.get('state'))}</div>" if tri.get("state") else "")
            + (f"<div>not checked: {text('; '.join(f'{a} ({w})' for a, w in tri['unchecked'].items()))}"
               "</div>" if tri.get("unchecked") else "")
            +
            f"<div>checks ran {_when(inp.triage_time)} · report written {_when(generated)}</div>"
            f"<div>{top}</div></div></div>", '<div class="tiles">']
    for label, n, bad in tiles:
        html.append(f'<div class="tile {"bad" if bad else ""}"><b>{n}</b><span>{label}</span></div>')
    if inp.experiments:
        lost = sum(int(e["writes_lost"] or 0) for e in inp.experiments)
        acked = sum(int(e["writes_acknowledged"] or 0) for e in inp.experiments)
        mttd = _median([e["mttd_s"] for e in inp.experiments])
        mttr = _median([e["mttr_s"] for e in inp.experiments])
        html += [f'<div class="tile"><b>{_s(mttd)}</b><span>median MTTD (chaos)</span></div>',
                 f'<div class="tile"><b>{_s(mttr)}</b><span>median MTTR (chaos)</span></div>',
                 f'<div class="tile {"bad" if lost else "good"}"><b>{lost} / {acked}</b>'
                 f"<span>writes lost / acknowledged</span></div>"]
    if inp.series:
        p95 = max((p["p95_ms"] for p in inp.series if p["p95_ms"] is not None), default=None)
        err = max((p["error_ratio"] for p in inp.series if p["error_ratio"] is not None), default=None)
        if p95 is not None:
            html.append(f'<div class="tile"><b>{p95:.0f} ms</b><span>peak p95 under load</span></div>')
        if err is not None:
            html.append(f'<div class="tile {"bad" if err > 0.01 else ""}"><b>{err:.1%}</b>'
                        f"<span>peak error ratio</span></div>")
    html.append("</div>")
    return "".join(html)


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _notes(inp: Inputs) -> str:
    if not inp.notes:
        return ""
    items = "".join(f"<li><strong>{text(n.kind)}</strong>: {with_code(n.text)}</li>" for n in inp.notes)
    return (f'<section class="notes" id="missing"><strong>What this report is missing</strong>'
            f"<ul>{items}</ul></section>")


def _causes(inp: Inputs) -> str:
    tri = inp.triage
    out = ["<h2 id=\"causes\">Ranked causes, evidence and the runbook's resolution</h2>"]
    if tri is None:
        return out[0] + '<p class="muted">No triage result: run <code>make checks</code>.</p>'
    causes = tri["causes"]
    if not causes:
        failed = [c["id"] for c in tri["checks"] if c["outcome"] in ("fail", "error")]
        if failed:
            out.append(f"<p>No runbook cause matches these failures: {text(', '.join(failed))}. "
                       "Read each failed check below; if this is a new cause, add it to the runbook.</p>")
        else:
            out.append("<p>Nothing failed, so no cause is ranked.</p>")
        return "".join(out)
    if tri.get("decide"):
        items = "".join(f"<li>{with_code(d)}</li>" for d in tri["decide"])
        out.append(f"<p><strong>Cause inconclusive.</strong> What would decide:</p><ul>{items}</ul>")
    if tri.get("history"):
        items = "".join(f"<li>{text(h)}</li>" for h in tri["history"])
        out.append(f"<p>History (recovered from, not this incident):</p><ul>{items}</ul>")
    best = max((c["score"] or 0 for c in causes), default=1) or 1
    for n, c in enumerate(causes, 1):
        width = max(int(160 * (c["score"] or 0) / best), 4)
        evidence = "".join(f"<li>{text(e)}</li>" for e in c["evidence"]) or "<li class=muted>none</li>"
        steps = "".join(f"<li>{with_code(s)}</li>" for s in c["resolution"]) or "<li class=muted>none</li>"
        out.append(f'<div class="card {"top" if n == 1 else ""}"><h3>{n}. {text(c["title"])} '
                   f'<span class="muted">[{text(c["category"])}] {text(c["id"])}</span></h3>'
                   f'<div>score {c["score"] or 0:g}'
                   + (f', confidence {c["confidence"]:.0%}' if c.get("confidence") is not None else "")
                   + ("" if c.get("in_runbook", True) else " · not in the runbook")
                   + f' <span class="score" style="width:{width}px"></span></div>'
                   + (f'<div class="muted">ranked lower: {text(c["why_not_first"])}</div>'
                      if c.get("why_not_first") else "")
                   +                    f"<h3>Evidence</h3><ul>{evidence}</ul>"
                   f"<h3>Resolution (runbook)</h3><ol>{steps}</ol></div>")
    return "".join(out)


def _checks(inp: Inputs) -> str:
    out = ['<h2 id="checks">Checks</h2>']
    if inp.triage is None or not inp.triage["checks"]:
        return out[0] + '<p class="muted">No check results.</p>'
    checks = inp.triage["checks"]
    groups: dict[str, list[dict]] = {}
    for c in checks:
        prefix = c["id"].split(".", 1)[0]
        groups.setdefault(prefix if prefix in AREAS else "other", []).append(c)
    out.append('<div class="map">')
    for g in [*AREAS, "other"]:
        if g in groups:
            chips = "".join(f'<span class="chip {text(c["outcome"], 20)}" title="{text(c["message"], 300)}">'
                            f'{text(c["id"].split(".", 1)[-1])}</span>' for c in groups[g])
            out.append(f'<div class="group"><h3>{text(g)}</h3>{chips}</div>')
    out.append("</div><h3>Every check, failures first</h3><table><tr><th>check</th><th>runbook</th>"
               "<th>outcome</th><th>what it found</th><th class=num>took</th></tr>")
    for c in sorted(checks, key=lambda c: OUTCOME_ORDER.get(c["outcome"], 2)):
        took = "—" if c["duration_s"] is None else f"{c['duration_s']:.2f} s"
        out.append(f'<tr class="{text(c["outcome"], 20)}"><td><code>{text(c["id"])}</code></td>'
                   f"<td>{text(c['runbook'])}</td><td>{_pill(c['outcome'])}</td>"
                   f"<td>{text(c['message'], 400)}<details><summary>evidence</summary>{check_fragment(c)}"
                   f"</details></td><td class=num>{took}</td></tr>")
    out.append("</table>")
    return "".join(out)


MARK_KINDS = ("restart", "detect", "recover", "checks", "start", "die", "escalation")


def _timeline(inp: Inputs, tl: Timeline) -> str:
    out = ['<h2 id="timeline">Timeline</h2>']
    if not tl.drawable:
        return out[0] + '<p class="muted">Nothing with a time was found: no timeline to draw.</p>'
    marks = [e for e in tl.events if e.kind in MARK_KINDS]
    if tl.incident is not None:
        w = tl.incident
        out.append(f"<p><strong>The incident:</strong> {_when(w.start)} to {_when(w.end)} "
                   f"({w.end - w.start:.0f} s, {text(w.label)}), from the incident timeline that "
                   "<code>servicedown watch</code> kept; the view opens on it, with a margin.</p>")
    out.append(f'<p class="muted">{_when(tl.t0)} to {_when(tl.t1)}; fault and incident windows shaded '
               "red, dashed lines mark restarts, detections, recoveries, escalations and check runs "
               "(hover for details).</p>")
    out.append(_charts(inp, tl, tl.t0, tl.t1, marks))  # type: ignore[arg-type]
    if tl.full is not None:
        out.append(f"<details><summary>the whole period ({_when(tl.full[0])} to {_when(tl.full[1])}), "
                   "earlier runs included</summary>" + _charts(inp, tl, *tl.full, marks) + "</details>")
    out.append("<details><summary>events in order</summary><table><tr><th>time (UTC)</th><th>source</th>"
               "<th>what happened</th></tr>")
    for e in tl.events:
        out.append(f"<tr><td>{_when(e.t)}</td><td>{text(e.source)}</td><td>{text(e.text)}</td></tr>")
    out.append("</table></details>")
    return "".join(out)


def _charts(inp: Inputs, tl: Timeline, t0: float, t1: float, marks: list[Event]) -> str:
    """The lane chart and the load charts between t0 and t1 (what lies outside is left out)."""
    axis = charts.Axis(t0, t1)
    windows = [Window(max(w.start, t0), min(w.end, t1), w.label, w.source) for w in tl.windows
               if w.end >= t0 and w.start <= t1]
    lanes = charts.lane_chart(tl.lanes(t0, t1), axis, windows=windows, marks=marks)
    out = [f'<div class="chart">{lanes}</div>']
    series = [p for p in inp.series if p["t"] is not None and t0 <= p["t"] <= t1]  # type: ignore[operator]
    if series:
        specs = (("rps", "Throughput (requests/s)", "#0969da", lambda v: f"{v:.0f}"),
                 ("p95_ms", "p95 latency (ms)", "#8250df", lambda v: f"{v:.0f} ms"),
                 ("error_ratio", "Error ratio", "#cf222e", lambda v: f"{v:.0%}"))
        for key, title, colour, fmt in specs:
            points = [(p["t"], p[key]) for p in series]
            if all(v is None for _, v in points):
                out.append(f'<p class="muted">{text(title)}: no values in the load timeline.</p>')
                continue
            chart = charts.line_chart(points, axis, title=title, fmt=fmt, colour=colour,  # type: ignore[arg-type]
                                      windows=windows, marks=marks,
                                      y_max=max(0.05, max(v for _, v in points if v is not None))
                                      if key == "error_ratio" else None)
            out.append(f'<div class="chart">{chart}</div>')
        out.append(_load_summary(inp))
    elif inp.series:
        out.append('<p class="muted">The load run lies outside this view (see the whole period).</p>')
    else:
        out.append('<p class="muted">No load ran (or its timeline is missing): no throughput, p95 or '
                   "error-ratio charts.</p>")
    return "".join(out)


def _load_summary(inp: Inputs) -> str:
    """What the load run under a fault found itself (impact and recovery seen by the users)."""
    s = inp.load_summary
    if not s:
        return ""
    parts = []
    if number(s.get("fault_window_s")) is not None:
        parts.append(f"fault window {number(s['fault_window_s']):.1f} s")
    if number(s.get("impact_after_inject_s")) is not None:
        parts.append(f"users saw the impact {number(s['impact_after_inject_s']):.1f} s after the injection")
    if s.get("recovered") is True and number(s.get("recovered_after_revert_s")) is not None:
        parts.append(f"served normally again {number(s['recovered_after_revert_s']):.1f} s after the revert")
    elif s.get("recovered") is False:
        parts.append("<strong>not recovered before the load run ended</strong>")
    if number(s.get("seconds_without_answer")):
        parts.append(f"{number(s['seconds_without_answer']):.0f} s without a single answer")
    return f"<p>Load run under the fault: {'; '.join(parts)}.</p>" if parts else ""


def _chaos(inp: Inputs) -> str:
    out = ['<h2 id="chaos">Chaos experiments: time to detect, time to recover, writes kept</h2>']
    if not inp.experiments:
        return out[0] + ('<p class="muted">No chaos results: run <code>pytest chaos/ --chaos-json '
                         "reports/chaos.json</code>.</p>")
    rows = [(e["id"], e["mttd_s"], e["mttr_s"]) for e in inp.experiments]
    out.append(f'<div class="chart">{charts.bar_chart(rows)}</div>')
    out.append("<table><tr><th>experiment</th><th>expected cause</th><th>detected cause</th><th>detected</th>"
               "<th class=num>MTTD</th><th>remediation</th><th>recovered</th><th class=num>MTTR</th>"
               "<th class=num>writes acknowledged</th><th class=num>writes lost</th><th>verdict</th></tr>")
    for e in inp.experiments:
        lost = e["writes_lost"]
        lost_html = "—" if lost is None else (f'<strong style="color:var(--fail)">{lost:.0f}</strong>'
                                              if lost else "0")
        acked = "—" if e["writes_acknowledged"] is None else f"{e['writes_acknowledged']:.0f}"
        wrong = e.get("detected_cause") not in (None, e.get("expected_cause"))
        detected_cause = text(e.get("detected_cause") or "—")
        row_class = "fail" if e.get("verdict") == "fail" else ""
        out.append(f'<tr class="{row_class}"><td><code>{text(e["id"])}</code></td>'
                   f"<td>{text(e.get('expected_cause') or '—')}</td>"
                   f"<td>{f'<strong>{detected_cause}</strong>' if wrong else detected_cause}</td>"
                   f"<td>{_yes(e.get('detected'))}</td><td class=num>{_s(e['mttd_s'])}</td>"
                   f"<td>{text(e.get('remediation') or '—')}</td><td>{_yes(e.get('recovered'))}</td>"
                   f"<td class=num>{_s(e['mttr_s'])}</td><td class=num>{acked}</td>"
                   f"<td class=num>{lost_html}</td><td>{_pill(e.get('verdict') or 'unknown')}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _coverage(inp: Inputs) -> str:
    out = ['<h2 id="coverage">Runbook coverage</h2>']
    if inp.coverage is None:
        return out[0] + '<p class="muted">runbook coverage not available</p>'
    required = [it for it in inp.coverage if it["required"]]
    covered = sum(it["covered"] for it in required)
    out.append(f'<p><strong>{covered} of {len(required)}</strong> required runbook items covered by a check '
               "or an experiment; gaps are marked.</p>")
    out.append("<table><tr><th>runbook item</th><th>checks</th><th>experiments</th><th class=num>MTTD</th>"
               "<th class=num>MTTR</th></tr>")
    for it in inp.coverage:
        gap = it["required"] and not it["covered"]
        exps = "<br>".join(f"{text(e['id'])} {_pill(e['verdict']) if e.get('verdict') else ''}"
                           for e in it["experiments"]) or '<span class="muted">none</span>'
        mttd = "<br>".join(_s(e.get("mttd_s")) for e in it["experiments"]) or "—"
        mttr = "<br>".join(_s(e.get("mttr_s")) for e in it["experiments"]) or "—"
        out.append(f'<tr class="{"fail" if gap else ""}"><td><code>{text(it["id"])}</code> '
                   f"{text(it['title'])}{' <strong>(gap)</strong>' if gap else ''}</td>"
                   f"<td>{text(', '.join(it['checks'])) or '<span class=muted>none</span>'}</td>"
                   f"<td>{exps}</td><td class=num>{mttd}</td><td class=num>{mttr}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _suites(inp: Inputs) -> str:
    if not inp.suites:
        return ""
    out = ['<h2 id="suites">Test suites (JUnit)</h2><table><tr><th>file</th><th class=num>tests</th>'
           "<th class=num>failures</th><th class=num>errors</th><th class=num>skipped</th>"
           "<th class=num>time</th></tr>"]
    for s in inp.suites:
        bad = s.failures + s.errors
        out.append(f'<tr class="{"fail" if bad else ""}"><td><code>{text(s.file)}</code></td>'
                   f"<td class=num>{s.tests}</td><td class=num>{s.failures}</td><td class=num>{s.errors}</td>"
                   f"<td class=num>{s.skipped}</td><td class=num>{s.time_s:.1f} s</td></tr>")
    out.append("</table>")
    return "".join(out)


def _safe(name: str, render: Callable[[], str]) -> str:
    """A section that fails to render says so; the rest of the page still stands."""
    try:
        return render()
    except Exception as exc:
        return (f'<section class="notes"><strong>The {escape(name)} section could not be drawn:</strong> '
                f"{text(type(exc).__name__)}: {text(clip(exc, 300))}</section>")


def render(inp: Inputs, tl: Timeline, generated: float) -> str:
    sections = [_safe("verdict", lambda: _header(inp, tl, generated)), _safe("notes", lambda: _notes(inp)),
                _safe("causes", lambda: _causes(inp)), _safe("timeline", lambda: _timeline(inp, tl)),
                _safe("chaos", lambda: _chaos(inp)), _safe("coverage", lambda: _coverage(inp)),
                _safe("checks", lambda: _checks(inp)), _safe("suites", lambda: _suites(inp))]
    used = ", ".join(inp.read) or "none"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            "<title>Post-mortem: QBITEL Engine service down</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(sections)}"
            f"<footer>Written by <code>python -m servicedown.report</code> from {text(inp.reports_dir)} "
            f"(files used: {text(used)}). The Markdown draft beside this page follows the runbook's "
            "Post-Incident steps. Secret values are masked.</footer></main></body></html>\n")
