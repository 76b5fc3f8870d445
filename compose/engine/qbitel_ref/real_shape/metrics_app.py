"""/metrics on its own listener (port 9090, as the real compose file advertises it).

The same registry the REST app's middleware counts into; the REST port serves no /metrics
in this profile.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..engine import Engine
from ..metrics import CONTENT_TYPE


def build_metrics_app(engine: Engine) -> Starlette:
    async def metrics(_request: Request) -> Response:
        engine.refresh_gauges()
        return Response(content=engine.metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
