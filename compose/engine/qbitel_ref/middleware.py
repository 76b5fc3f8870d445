"""Plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware)."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .engine import DrainState
from .metrics import EngineMetrics

SHUTDOWN_BODY = b'{"detail":"Service is shutting down. Please retry later."}'
SHUTDOWN_RETRY_AFTER = b"60"
UNMATCHED = "<unmatched>"


class DrainGateMiddleware:
    """While draining after SIGTERM, answer every request (health too) with 503."""

    def __init__(self, app: ASGIApp, drain: DrainState) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.draining:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(SHUTDOWN_BODY)).encode()),
                    (b"retry-after", SHUTDOWN_RETRY_AFTER),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": SHUTDOWN_BODY})


class MetricsMiddleware:
    """Count and time requests by route template (bounded label values)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: EngineMetrics,
        routes: Callable[[], list[object]],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _endpoint(self, scope: Scope) -> str:
        route = scope.get("route")
        if isinstance(route, Route):
            return route.path
        # Not routed (rejected while draining, 404, 405): match the templates.
        for candidate in self.routes():
            if isinstance(candidate, Route):
                match, _ = candidate.matches(scope)
                if match is not Match.NONE:
                    return candidate.path
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            self.metrics.observe_request(
                scope["method"], self._endpoint(scope), status, time.perf_counter() - started
            )
