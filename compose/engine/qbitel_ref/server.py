"""Runs the HTTP(S) server with the engine's own signal handling.

uvicorn's own handlers would stop at once and re-raise SIGTERM afterwards;
the engine instead drains (503 + Retry-After) for QBITEL_DRAIN_SECONDS, then
stops the server and exits 0. It must work as PID 1, where a signal without
a handler is ignored. The real-shape profile serves through real_shape/server.py,
with the same signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from .app import build_app
from .engine import Engine
from .settings import Profile, Settings

logger = logging.getLogger("qbitel_ref.server")

GRACEFUL_SHUTDOWN_SECONDS = 3


class EngineServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals are the engine's business (see install_signal_handlers).
        yield


def load_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Load the pair now, so a bad certificate stops startup with a clear line."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2

    def no_passphrase() -> str:
        # An encrypted key must fail, not wait for a passphrase on a terminal.
        raise ssl.SSLError("TLS key file is encrypted; a passphrase is not supported")

    try:
        context.load_cert_chain(cert_file, key_file, password=no_passphrase)
    except (ssl.SSLError, OSError) as exc:
        logger.error("SSL error: cannot load TLS certificate %s / key %s: %s", cert_file, key_file, exc)
        raise
    return context


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind here rather than in uvicorn, which would sys.exit() on EADDRINUSE."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def stop_server(server: uvicorn.Server, force: bool) -> None:
    server.should_exit = True
    if force:
        server.force_exit = True


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop, engine: Engine, stop: Callable[[bool], None]
) -> None:
    """SIGTERM/SIGINT drain, then `stop(False)`; a second signal calls `stop(True)` at once."""
    drain_seconds = engine.settings.drain_seconds

    def stop_serving() -> None:
        logger.info("Drain period over; stopping HTTP server")
        stop(False)

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if engine.drain.draining:
            logger.warning("Received %s again: stopping now", name)
            stop(True)
            return
        engine.drain.begin()
        logger.warning(
            "Received %s: shutting down QBITEL Engine; answering 503 (Retry-After: 60) "
            "for %gs before stopping",
            name,
            drain_seconds,
        )
        loop.call_later(drain_seconds, stop_serving)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _fixed_context(context: ssl.SSLContext) -> Callable[..., ssl.SSLContext]:
    def factory(*_: object) -> ssl.SSLContext:
        return context

    return factory


def http_config(
    app: ASGIApp,
    settings: Settings,
    tls_context: ssl.SSLContext | None = None,
    *,
    lifespan: Literal["on", "off"] = "off",
    access_log: bool | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http="httptools",
        lifespan=lifespan,
        log_config=None,  # keep our stdout handler and format
        access_log=settings.access_log if access_log is None else access_log,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # The context loaded by the caller; uvicorn would otherwise load the files again.
        ssl_context_factory=None if tls_context is None else _fixed_context(tls_context),
    )


async def serve(settings: Settings) -> int:
    tls_context = None
    if settings.tls_enabled:
        tls_context = load_tls_context(settings.tls_cert_file or "", settings.tls_key_file or "")
    sock = bind_socket(settings.host, settings.port)
    engine = Engine.build(settings)
    server = EngineServer(http_config(build_app(engine), settings, tls_context))
    install_signal_handlers(asyncio.get_running_loop(), engine, lambda force: stop_server(server, force))
    try:
        await engine.start()
        logger.info(
            "QBITEL Engine %s listening on %s://%s:%d (environment: %s)",
            settings.version,
            settings.scheme,
            settings.host,
            settings.port,
            settings.environment,
        )
        await server.serve(sockets=[sock])
        if not server.started:
            raise RuntimeError("HTTP server did not start")
    finally:
        await engine.stop()
        sock.close()
    logger.info("QBITEL Engine stopped")
    return 0


def run(settings: Settings) -> int:
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if settings.event_loop == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop
    main = serve
    if settings.profile is Profile.REAL_SHAPE:
        from .real_shape.server import serve as main
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main(settings))
