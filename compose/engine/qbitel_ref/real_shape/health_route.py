"""GET /health as the real engine serves it: always 200, no database component.

It reports what the process itself sees (data directory, memory, the model registry, the
gRPC listener), so it stays ``healthy`` while PostgreSQL is stopped: with only a URL, the
database can be judged only by probing it directly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..engine import Engine
from .grpc_standin import GrpcStandIn
from .models import loaded_models

router = APIRouter()

CHECK_STATUS = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    grpc: GrpcStandIn = request.app.state.grpc
    checks = await engine.checks.run_all(database=False)
    models = loaded_models()
    body: dict[str, Any] = {
        "status": "healthy" if all(c.status == "pass" for c in checks.values()) else "degraded",
        "timestamp": datetime.now(UTC).isoformat(),
        "version": engine.settings.version,
        "checks": [
            {
                "component": name,
                "status": CHECK_STATUS[c.status],
                "details": {"message": c.message, **c.details},
            }
            for name, c in checks.items()
        ]
        + [{"component": "models", "status": "healthy", "details": {"loaded": models}}],
        "services": {
            "rest_api": "up",
            "grpc": "up" if grpc.serving else "down",
            "model_registry": "up",
        },
    }
    return JSONResponse(status_code=200, content=body)
