"""The REST application in the real engine's shape.

Mounted: ``GET /health`` (no database component), the records API, ``/``. Not mounted: the
Kubernetes-style probes and /metrics, which answer 404. The database is initialised in the
ASGI lifespan, so a failure there is uvicorn's "Application startup failed".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from .. import routes_records
from ..app import instrument
from ..engine import Engine
from . import health_route
from .database_init import initialize_database
from .grpc_standin import GrpcStandIn

logger = logging.getLogger("qbitel_ref.api")


async def log_http_error(request: Request, exc: HTTPException) -> Response:
    """Log every HTTP error at WARNING, then answer as FastAPI does.

    Starlette calls this inside its ``except`` block, so the record's formatting error (see
    observability/logging.py) is raised while the HTTPException is being handled, and the
    Logging error block prints both tracebacks.
    """
    logger.warning("HTTP %d on %s %s: %s", exc.status_code, request.method, request.url.path, exc.detail)
    return await http_exception_handler(request, exc)


def build_real_shape_app(engine: Engine, grpc: GrpcStandIn) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await initialize_database(engine.settings.database)
        await engine.start()
        settings = engine.settings
        logger.info(
            "QBITEL Engine %s listening on %s://%s:%d, metrics on port %d, gRPC on port %d (environment: %s)",
            settings.version,
            settings.scheme,
            settings.host,
            settings.port,
            settings.metrics_port,
            settings.grpc_port,
            settings.environment,
        )
        try:
            yield
        finally:
            await engine.stop()

    docs = not engine.settings.is_production
    api = FastAPI(
        title="QBITEL Engine (real-shape)",
        version=engine.settings.version,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        lifespan=lifespan,
    )
    api.state.engine = engine
    api.state.grpc = grpc
    api.add_exception_handler(HTTPException, log_http_error)  # type: ignore[arg-type]
    api.include_router(health_route.router)
    api.include_router(routes_records.router)

    @api.get("/")
    async def root() -> dict[str, str]:
        return {"service": "qbitel-engine", "version": engine.settings.version}

    return instrument(api, engine)
