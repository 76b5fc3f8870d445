"""Serving in the real engine's shape: REST, metrics and gRPC listeners in one process.

The gRPC stand-in starts first and outlives the REST server. When the REST app's startup
fails (the database initialisation in its lifespan), uvicorn logs "Application startup
failed. Exiting." and exits its server; here, as upstream, that ends only the REST API: its
port closes, the metrics listener stops, and the process serves gRPC until a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl

import uvicorn

from ..engine import Engine
from ..server import (
    GRACEFUL_SHUTDOWN_SECONDS,
    EngineServer,
    bind_socket,
    http_config,
    install_signal_handlers,
    load_tls_context,
    stop_server,
)
from ..settings import Settings
from .app import build_real_shape_app
from .grpc_standin import GrpcStandIn
from .metrics_app import build_metrics_app
from .observability.subsystems import initialize_metrics

logger = logging.getLogger("qbitel_ref.server")

METRICS_STOP_SECONDS = GRACEFUL_SHUTDOWN_SECONDS + 5


async def _serve_rest(server: uvicorn.Server, sock: socket.socket) -> bool:
    """True when the REST server started (and has stopped since); False when it never did."""
    try:
        await server.serve(sockets=[sock])
    except SystemExit:
        # uvicorn's answer to a failed lifespan startup; here it ends the REST API only.
        return False
    return server.started


async def _stop_task(task: asyncio.Task[None], timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await task
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def serve(settings: Settings) -> int:
    tls_context = None
    if settings.tls_enabled:
        tls_context = load_tls_context(settings.tls_cert_file or "", settings.tls_key_file or "")
    with contextlib.ExitStack() as sockets:
        rest_sock = bind_socket(settings.host, settings.port)
        sockets.callback(rest_sock.close)
        metrics_sock = bind_socket(settings.host, settings.metrics_port)
        sockets.callback(metrics_sock.close)
        grpc = await GrpcStandIn.start(settings.host, settings.grpc_port)
        try:
            await _serve_all(settings, tls_context, rest_sock, metrics_sock, grpc)
        finally:
            await grpc.close()
    logger.info("QBITEL Engine stopped")
    return 0


async def _serve_all(
    settings: Settings,
    tls_context: ssl.SSLContext | None,
    rest_sock: socket.socket,
    metrics_sock: socket.socket,
    grpc: GrpcStandIn,
) -> None:
    engine = Engine.build(settings)
    initialize_metrics(engine.metrics.registry)
    rest = EngineServer(http_config(build_real_shape_app(engine, grpc), settings, tls_context, lifespan="on"))
    metrics = EngineServer(http_config(build_metrics_app(engine), settings, access_log=False))
    stopped = asyncio.Event()

    def stop(force: bool) -> None:
        stop_server(rest, force)
        stop_server(metrics, force)
        stopped.set()

    install_signal_handlers(asyncio.get_running_loop(), engine, stop)
    metrics_task = asyncio.create_task(metrics.serve(sockets=[metrics_sock]), name="metrics")
    try:
        if not await _serve_rest(rest, rest_sock):
            rest_sock.close()
            stop_server(metrics, False)
            await _stop_task(metrics_task, METRICS_STOP_SECONDS)
            metrics_sock.close()
            await stopped.wait()  # alive on the gRPC listener, as upstream
    finally:
        stop_server(metrics, False)
        await _stop_task(metrics_task, METRICS_STOP_SECONDS)
