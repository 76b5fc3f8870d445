"""The ASGI application: FastAPI routes inside the drain gate and metrics."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp

from . import routes_health, routes_records
from .engine import Engine
from .metrics import CONTENT_TYPE
from .middleware import DrainGateMiddleware, MetricsMiddleware
from .request_tracking import RequestTrackingMiddleware


def build_fastapi(engine: Engine) -> FastAPI:
    docs = not engine.settings.is_production
    api = FastAPI(
        title="QBITEL Engine (reference)",
        version=engine.settings.version,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
    )
    api.state.engine = engine
    api.include_router(routes_health.router)
    api.include_router(routes_records.router)

    @api.get("/metrics")
    async def metrics(request: Request) -> Response:
        engine.refresh_gauges()
        return Response(content=engine.metrics.render(), media_type=CONTENT_TYPE)

    @api.get("/")
    async def root() -> dict[str, str]:
        return {"service": "qbitel-engine", "version": engine.settings.version}

    return api


def instrument(api: FastAPI, engine: Engine) -> ASGIApp:
    """The wrapping both profiles share: request tracking when asked, drain gate, metrics."""
    if engine.settings.http500:
        # Inside FastAPI, so its error middleware turns the bug into a 500, as upstream's does.
        api.add_middleware(RequestTrackingMiddleware)
    gated = DrainGateMiddleware(api, engine.drain)
    # Metrics outermost, so the 503s sent while draining are counted too.
    return MetricsMiddleware(gated, engine.metrics, lambda: list(api.routes))


def build_app(engine: Engine) -> ASGIApp:
    return instrument(build_fastapi(engine), engine)
