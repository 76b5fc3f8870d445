"""/health and the Kubernetes-style probes, in the real engine's shapes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .engine import Engine
from .health import CheckOutcome, overall_probe_status

router = APIRouter()

HEALTH_STATUS = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}
SERVICE_STATUS = {"pass": "up", "warn": "degraded", "fail": "down"}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _probe_response(passed: bool, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(status_code=200 if passed else 503, content=body)


def _critical_ok(checks: dict[str, CheckOutcome]) -> bool:
    return all(c.status != "fail" for c in checks.values() if c.critical)


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 when healthy (or only degraded); 503 naming each failed critical component."""
    engine = _engine(request)
    checks = await engine.checks.run_all()
    overall = overall_probe_status(checks)
    failed = [name for name, c in checks.items() if c.status == "fail" and c.critical]
    body: dict[str, Any] = {
        "status": HEALTH_STATUS[overall],
        "timestamp": datetime.now(UTC).isoformat(),
        "version": engine.settings.version,
        "environment": engine.settings.environment,
        "uptime_seconds": round(time.time() - engine.started_wall, 1),
        "checks": [
            {
                "component": name,
                "status": HEALTH_STATUS[c.status],
                "details": {
                    "message": c.message,
                    "critical": c.critical,
                    "response_time_ms": c.response_time_ms,
                    **c.details,
                },
            }
            for name, c in checks.items()
        ],
        "services": {
            **{name: SERVICE_STATUS[c.status] for name, c in checks.items()},
            "circuit_breaker": engine.breaker.state.name.lower(),
        },
    }
    if failed:
        body["failed_components"] = failed
    return JSONResponse(status_code=503 if failed else 200, content=body)


@router.get("/health/live")
async def live(request: Request) -> JSONResponse:
    engine = _engine(request)
    memory = await engine.checks.memory_check()
    checks: dict[str, Any] = {
        # Answering at all means the event loop runs.
        "event_loop": {"status": "pass", "message": "Event loop responsive"},
        "memory": {
            "status": "fail" if memory.status == "fail" else "pass",
            "message": memory.message,
            **memory.details,
        },
    }
    passed = all(c["status"] == "pass" for c in checks.values())
    body = {"status": "pass" if passed else "fail", "checks": checks, "timestamp": time.time()}
    return _probe_response(passed, body)


@router.get("/health/startup")
async def startup(request: Request) -> JSONResponse:
    engine = _engine(request)
    if engine.startup.complete:
        passed, checks = engine.startup.evaluate(True)
    else:
        deps = await engine.checks.run_all()
        passed, checks = engine.startup.evaluate(_critical_ok(deps))
    body = {"status": "pass" if passed else "fail", "checks": checks, "timestamp": time.time()}
    return _probe_response(passed, body)


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """503 until startup completes, then 503 whenever a critical dependency fails."""
    engine = _engine(request)
    deps = await engine.checks.run_all()
    started, _ = engine.startup.evaluate(_critical_ok(deps))
    if not started:
        checks: dict[str, Any] = {"startup": {"status": "fail", "message": "Startup not complete"}}
        return _probe_response(False, {"status": "fail", "checks": checks, "timestamp": time.time()})
    overall = overall_probe_status(deps)
    checks = {"dependencies": {name: c.as_probe() for name, c in deps.items()}}
    body = {"status": overall, "checks": checks, "timestamp": time.time()}
    return _probe_response(overall != "fail", body)


@router.get("/health/dependencies")
async def dependencies(request: Request) -> JSONResponse:
    """Always 200: a report, not a verdict."""
    engine = _engine(request)
    started = time.perf_counter()
    deps = await engine.checks.run_all()
    body = {
        "status": overall_probe_status(deps),
        "checks": {name: c.as_probe() for name, c in deps.items()},
        "timestamp": time.time(),
        "response_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return JSONResponse(status_code=200, content=body)
