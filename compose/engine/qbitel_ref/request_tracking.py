"""The real engine's request-tracking middleware, bug included (QBITEL_ENGINE_HTTP500=true).

Upstream reads the request id with ``.get`` on the ASGI scope's headers, which are a list of
pairs, not a mapping: every request raises ``AttributeError: 'list' object has no attribute
'get'`` and Starlette answers 500, /health included. Installed only when the switch is on,
with either profile, for the "HTTP 500 everywhere" incident.
"""

from __future__ import annotations

import time
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send


class RequestTrackingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        request_id = headers.get(b"x-request-id") or uuid.uuid4().hex.encode()  # the bug: a list
        scope.setdefault("state", {})["request_id"] = request_id
        scope["state"]["started"] = time.perf_counter()
        await self.app(scope, receive, send)
