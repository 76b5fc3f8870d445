"""Runbook Diagnosis 3: "Check health endpoint directly" (curl -v http://localhost:8000/health)."""

from __future__ import annotations

from typing import Any

from servicedown import states
from servicedown.backends.http import HttpAnswer
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, not_applicable, ok, skip
from servicedown.healthy import HEALTHY_WORDS, is_healthy
from servicedown.healthy import status_word as _status_word
from servicedown.redact import DEFAULT, Redactor

CMD = "curl -v http://localhost:8000/health"


def failed_components(body: Any, redactor: Redactor = DEFAULT) -> list[str]:
    """Names and details of the dependencies a health body reports as failing.

    Understands the engine's list shape (`checks: [{component, status, details}]`) and the
    probe shape (`checks: {name: {status, message}}`).
    """
    if not isinstance(body, dict):
        return []
    checks = body.get("checks")
    items: list[tuple[str, Any]] = []
    if isinstance(checks, list):
        items = [(str(c.get("component", "?")), c) for c in checks if isinstance(c, dict)]
    elif isinstance(checks, dict):
        items = [(str(k), v) for k, v in checks.items() if isinstance(v, dict)]
    out = []
    for name, c in items:
        status = str(c.get("status", "")).lower()
        if status and status not in HEALTHY_WORDS:
            detail = c.get("details") or c.get("message") or ""
            out.append(f"{name}: {status}" + (f" ({redactor.clip(detail, 200)})" if detail else ""))
    return out


def _explain(a: HttpAnswer, redactor: Redactor) -> str:
    if not a.answered:
        return a.summary()
    word = _status_word(a.body)
    parts = [a.summary()]
    if word:
        parts.append(f"status '{word}'")
    elif a.body is None:
        parts.append("body is not JSON" + (f": {redactor.clip(a.text, 120)!r}" if a.text else " (empty)"))
    failing = failed_components(a.body, redactor)
    if failing:
        parts.append("failing: " + "; ".join(failing))
    if isinstance(a.body, dict) and a.body.get("detail"):
        parts.append(f"detail: {redactor.clip(a.body['detail'], 200)}")
    if "retry-after" in a.headers:
        parts.append(f"Retry-After {a.headers['retry-after']}")
    return ", ".join(parts)


@check("health.endpoint", "step:health-endpoint", "/health answers 200 healthy within the budget", CMD)
def endpoint(ctx: Context) -> Finding:
    a = ctx.http_get("/health")
    budget = ctx.settings.latency_budget_s
    if not is_healthy(a.status, a.body):
        missing = a.status == 200 and _status_word(a.body) is None
        return bad(_explain(a, ctx.redactor) + ("; expected a JSON body with a status" if missing else ""),
                   **a.evidence())
    if a.elapsed_s > budget:
        return bad(f"{_explain(a, ctx.redactor)}: slower than the {budget:.1f}s budget", **a.evidence())
    return ok(_explain(a, ctx.redactor), **a.evidence())


STARTUP_PATHS = ("/health/startup", "/health/ready")


def _starting(ctx: Context) -> str:
    """'started Ns ago, within its start window' while the service is in its first seconds,
    serving /health healthy; '' otherwise (or when the platform cannot say when it started)."""
    try:
        st = ctx.state()
    except Exception:  # a URL alone: no start time to judge by
        return ""
    if not (st.exists and st.running) or st.uptime_s is None or st.uptime_s >= states.START_WINDOW_S:
        return ""
    if st.how not in ("", states.RUNNING, states.STARTING):
        return ""  # back after an exit: that exit is the incident, not a start
    a = ctx.http_get("/health")
    if not is_healthy(a.status, a.body):
        return ""
    return f"started {st.uptime_s:.0f}s ago, within its {states.START_WINDOW_S:.0f}s start window"


def _make_probe(check_id: str, path: str, title: str) -> None:
    def run(ctx: Context) -> Finding:
        a = ctx.http_get(path)
        if a.status == 404:
            return not_applicable(f"{path} does not exist on this deployment (404)", **a.evidence())
        if a.status == 200:
            return ok(_explain(a, ctx.redactor), **a.evidence())
        young = _starting(ctx) if path in STARTUP_PATHS else ""
        if young:
            # A startup or readiness probe fails by design in a service's first seconds: the
            # platform waits for it (failureThreshold x periodSeconds), so does this check.
            return ok(f"{young}: {_explain(a, ctx.redactor)}", **a.evidence(), starting=True)
        return bad(_explain(a, ctx.redactor), **a.evidence())

    run.__name__ = check_id.replace(".", "_")
    check(check_id, "step:health-endpoint", title, f"curl -v http://localhost:8000{path}")(run)


_make_probe("health.live", "/health/live", "the liveness probe passes")
_make_probe("health.ready", "/health/ready", "the readiness probe passes")
_make_probe("health.startup", "/health/startup", "the startup probe passes")


@check("health.database", "step:health-endpoint,category:database", "the engine reports its database healthy",
       "curl http://localhost:8000/health/dependencies")
def database(ctx: Context) -> Finding:
    deps = ctx.http_get("/health/dependencies")
    for a in (deps, ctx.http_get("/health")):
        if not isinstance(a.body, dict):
            continue
        for line in failed_components(a.body, ctx.redactor):
            if line.lower().startswith(("database", "db", "postgres")):
                return bad(f"the engine says: {line}", **a.evidence())
        checks = a.body.get("checks")
        names = [str(c.get("component", "")) for c in checks if isinstance(c, dict)] \
            if isinstance(checks, list) else list(checks or {})
        if any(n.lower() in ("database", "db", "postgres") for n in names):
            return ok("the engine reports its database healthy", **a.evidence())
    reason = deps.summary() if not deps.answered else "no database component in the health bodies"
    return skip(f"cannot tell: {reason}", **deps.evidence())
