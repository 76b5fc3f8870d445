"""The post-mortem draft in Markdown, following the runbook's Post-Incident steps: write the
post-mortem (Summary, Impact, Timeline, Root cause), then the action items the runbook asks
for (monitoring for the root cause, runbook lessons, additional safeguards), prefilled from the
results. Every value from a result file is masked and kept inert (no raw HTML, no broken
tables), because drafts get pasted into wikis that render both.
"""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime

from servicedown.causes import CAUSES
from servicedown.redact import clip, redact
from servicedown.report.load import Inputs
from servicedown.report.timeline import Timeline
from servicedown.schema import epoch

TODO = "_(to fill in)_"
# The runbook's Prevention list, by the cause category it answers.
SAFEGUARDS = {
    "resource-exhaustion": ("Set up resource quotas and limits; monitor resource usage trends; "
                            "implement auto-scaling; run regular load tests"),
    "database": "Implement circuit breakers for external dependencies; alert on DatabaseConnectionFailures",
    "application-crash": "Roll back automatically on crash loops; keep the previous image deployable",
    "startup-failure": "Validate configuration and secrets in CI before deploying; alert on failed startup "
                       "validation",
}
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#&])")


def inline(value: object, limit: int = 400) -> str:
    """Masked text on one line with Markdown and HTML specials escaped."""
    s = clip(" ".join(redact(value).split()), limit)
    return _SPECIAL.sub(r"\\\1", s)


def code(value: object, limit: int = 400) -> str:
    """Masked text as a code span whose fence is longer than any backtick run inside it."""
    s = clip(" ".join(redact(value).split()), limit)
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}" if s else "` `"


def _runbook_text(value: str) -> str:
    """A runbook step: its own `command` spans kept as code, the rest escaped."""
    parts = re.split(r"`([^`\n]+)`", redact(value))
    return "".join(code(p) if i % 2 else _SPECIAL.sub(r"\\\1", re.sub(r"\s+", " ", p))
                   for i, p in enumerate(parts))


def _when(t: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return "unknown" if t is None else datetime.fromtimestamp(t, UTC).strftime(fmt)


def _summary(inp: Inputs) -> list[str]:
    tri = inp.triage
    out = ["## Summary", ""]
    if tri is None:
        return [*out, f"No triage result was found, so the verdict is unknown. {TODO}", ""]
    checks = tri["checks"]
    failed = [c["id"] for c in checks if c["outcome"] == "fail"]
    verdict = tri.get("verdict") or "unknown"
    headline = tri.get("headline") or verdict.upper()
    out.append(f"- **Verdict:** {inline(headline)} ({len(failed)} of {len(checks)} checks failed) on "
               f"{inline(tri.get('target') or 'an unknown target')}, checks run {_when(inp.triage_time)}.")
    if tri.get("state"):
        out.append(f"- **State:** {inline(tri['state'])}.")
    if tri.get("unchecked"):
        out.append("- **Not checked:** " + "; ".join(f"{inline(a)} ({inline(w)})"
                                                    for a, w in tri["unchecked"].items()) + ".")
    if tri.get("inconclusive"):
        out.append("- **Most likely cause:** inconclusive: no cause has its defining evidence. What "
                   "would decide: " + "; ".join(inline(d) for d in tri.get("decide", [])) + ".")
    elif tri["causes"]:
        c = tri["causes"][0]
        out.append(f"- **Most likely cause:** {inline(c['title'])} ({code(c['id'])}, runbook category "
                   f"{inline(c['category'])}, score {c['score'] or 0:g}).")
    elif failed:
        out.append("- **Most likely cause:** none of the runbook's causes matches the failures.")
    if failed:
        out.append(f"- **Failed checks:** {', '.join(code(f) for f in failed)}.")
    for h in tri.get("history", []):
        out.append(f"- **Before this run (recovered from):** {inline(h)}.")
    if inp.experiments:
        n = len(inp.experiments)
        passed = sum(1 for e in inp.experiments if e.get("verdict") == "pass")
        out.append(f"- **Chaos experiments:** {passed} of {n} passed.")
    out += ["- **What happened, in one paragraph:** " + TODO, ""]
    return out


def _impact(inp: Inputs) -> list[str]:
    tri = inp.triage or {}
    verdict = tri.get("verdict")
    out = ["## Impact", ""]
    if verdict == "down":
        out.append("- The runbook rates this alert: user impact HIGH (service completely unavailable), "
                   "business impact CRITICAL (all API functionality down), data impact none (but no new "
                   "data can be processed).")
    elif verdict == "degraded":
        out.append("- The service answered but was degraded: some checks failed while it stayed up.")
    elif verdict == "healthy":
        out.append("- The checks found the service healthy when they ran.")
    if inp.series:
        err = [p["error_ratio"] for p in inp.series if p["error_ratio"] is not None]
        p95 = [p["p95_ms"] for p in inp.series if p["p95_ms"] is not None]
        rps = [p["rps"] for p in inp.series if p["rps"] is not None]
        if err:
            out.append(f"- Under load: peak error ratio {max(err):.1%}.")
        if p95:
            out.append(f"- Under load: peak p95 latency {max(p95):.0f} ms "
                       f"(median {statistics.median(p95):.0f} ms).")
        if rps:
            out.append(f"- Under load: throughput between {min(rps):.0f} and {max(rps):.0f} requests/s.")
    s = inp.load_summary
    if s.get("recovered") is True and isinstance(s.get("recovered_after_revert_s"), int | float):
        out.append(f"- Under load: served normally again {s['recovered_after_revert_s']:.1f} s after "
                   "the fault was reverted.")
    elif s.get("recovered") is False:
        out.append("- Under load: the service had not recovered when the load run ended.")
    if inp.experiments:
        acked = sum(int(e["writes_acknowledged"] or 0) for e in inp.experiments)
        lost = sum(int(e["writes_lost"] or 0) for e in inp.experiments)
        out.append(f"- Data: {acked} writes acknowledged during the chaos experiments, {lost} lost.")
    out += [f"- Users and duration as users saw it: {users_saw(inp)}", ""]
    return out


def users_saw(inp: Inputs) -> str:
    """The downtime from the incident timeline: from the first failure, on the platform's clock,
    to health that held (or to the end of watch, if it had not come back)."""
    rec = next((e for e in reversed(inp.incident) if e.kind in ("recovery", "end")
                and isinstance(e.data.get("downtime_s"), int | float)), None)
    if rec is None:
        return TODO
    since = epoch(rec.data.get("down_since"))
    minutes = float(rec.data["downtime_s"]) / 60
    span = f"{minutes:.1f} min" if minutes >= 1 else f"{float(rec.data['downtime_s']):.0f} s"
    if rec.kind == "recovery":
        back = epoch(rec.data.get("healthy_since")) or rec.time
        return (f"down {span}, from {_when(since)} (the first failure, on the platform's clock) to "
                f"{_when(back)} (healthy again, and it held), from the incident timeline; which users "
                f"were affected: {TODO}")
    return (f"still down after {span} (since {_when(since)}) when watch ended at {_when(rec.time)}; "
            f"the recovery time is not in the incident timeline: {TODO}")


def _timeline(tl: Timeline) -> list[str]:
    out = ["## Timeline", "", "All times UTC.", ""]
    if not tl.events:
        return [*out, f"No timed events in the results. {TODO}", ""]
    out += ["| time | source | event |", "| --- | --- | --- |"]
    for e in tl.events:
        out.append(f"| {_when(e.t, '%Y-%m-%d %H:%M:%S')} | {inline(e.source)} | {inline(e.text)} |")
    return [*out, ""]


def _root_cause(inp: Inputs) -> list[str]:
    out = ["## Root cause", ""]
    tri = inp.triage
    if tri is None or not tri["causes"]:
        failed = [c for c in (tri or {}).get("checks", []) if c["outcome"] in ("fail", "error")]
        if failed:
            out.append("No runbook cause matches the failures. What the failed checks said:")
            out += [f"- {code(c['id'])}: {inline(c['message'])}" for c in failed]
        else:
            out.append("Nothing failed, so no cause is ranked.")
        return [*out, "", f"Root cause in your words: {TODO}", ""]
    top, rest = tri["causes"][0], tri["causes"][1:]
    out += [f"**{inline(top['title'])}** ({code(top['id'])}), from the pattern of failed and passed "
            "checks. Evidence:", ""]
    out += [f"- {inline(e)}" for e in top["evidence"]] or ["- none recorded"]
    out += ["", "Resolution steps from the runbook:", ""]
    out += [f"{n}. {_runbook_text(s)}" for n, s in enumerate(top["resolution"], 1)]
    if rest:
        others = ", ".join(f"{inline(c['title'])} ({c['score'] or 0:g})" for c in rest)
        out += ["", f"Also considered: {others}."]
    return [*out, "", f"Confirmed root cause and why it happened: {TODO}", ""]


def _action_items(inp: Inputs) -> list[str]:
    tri = inp.triage or {}
    causes = tri.get("causes") or []
    out = ["## Action items", "", "The runbook's Post-Incident steps, prefilled:", "",
           "1. **Write post-mortem:** review this draft, fill in the gaps marked " + TODO
           + ", name an owner and a date."]
    if causes:
        top = next((c for c in CAUSES if c.id == causes[0]["id"]), None)
        checks = ", ".join(code(c) for c in top.expected_fail) if top else code(causes[0]["id"])
        out.append(f"2. **Add monitoring for root cause:** alert on what detected it ({checks}); "
                   "run `pytest checks/` from the alert so the triage is attached to the page.")
    else:
        out.append(f"2. **Add monitoring for root cause:** {TODO}")
    lessons = []
    failed = [c["id"] for c in tri.get("checks", []) if c["outcome"] in ("fail", "error")]
    if failed and not causes:
        lessons.append("add a common cause for the failures no runbook cause explains ("
                       + ", ".join(code(f) for f in failed) + ")")
    for e in inp.experiments:
        if e.get("verdict") not in (None, "pass"):
            lessons.append(f"experiment {code(e['id'])} ended {inline(e.get('verdict'))}: fix the detection "
                           "or the remedy it exercised")
        if e.get("writes_lost"):
            lessons.append(f"experiment {code(e['id'])} lost {e['writes_lost']:.0f} acknowledged writes")
    for it in inp.coverage or []:
        if it["required"] and not it["covered"]:
            lessons.append(f"runbook item {code(it['id'])} ({inline(it['title'], 80)}) is covered by no "
                           "check and no experiment")
    out.append("3. **Update the runbook with lessons learned:** "
               + ("; ".join(lessons) + "." if lessons else TODO))
    categories = list(dict.fromkeys(c["category"] for c in causes))
    guards = [SAFEGUARDS[c] for c in categories if c in SAFEGUARDS]
    out.append("4. **Consider additional safeguards:** " + ("; ".join(guards) + "." if guards else TODO))
    return [*out, ""]


def render(inp: Inputs, tl: Timeline, generated: float) -> str:
    day = _when(inp.triage_time or generated, "%Y-%m-%d")
    lines = [f"# Post-mortem: QBITEL Engine service down, {day}", "",
             f"_Draft written {_when(generated)} by `python -m servicedown.report` from the results in "
             f"{code(inp.reports_dir)}; the HTML page beside it has the charts and every check's evidence._",
             ""]
    if inp.notes:
        lines += ["> **Missing from the results:**"]
        lines += [f"> - {_runbook_text(n.text)}" for n in inp.notes]
        lines.append("")
    for name, part in (("summary", _summary), ("impact", _impact), ("timeline", lambda _: _timeline(tl)),
                       ("root cause", _root_cause), ("action items", _action_items)):
        try:
            lines += part(inp)
        except Exception as exc:  # a bad result file costs one section, never the draft
            lines += [f"> The {name} section could not be written: {type(exc).__name__}: "
                      f"{inline(clip(exc, 200))}", ""]
    return "\n".join(lines).rstrip() + "\n"
