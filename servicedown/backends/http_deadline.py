"""A deadline on a whole HTTP exchange: connect, TLS, request, headers and body together.

httpx's timeouts bound each socket operation, so a server that sends one byte a second keeps
a request alive for as long as it likes. Here every socket operation of the exchange gets at
most the time left until the deadline, through a network backend wrapped around httpcore's
own: the exchange fails with httpx's usual timeout exception once the deadline has passed.

The deadline is a context variable, so concurrent requests on one client (the checks run in
threads) each keep their own.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

log = logging.getLogger("servicedown.http")

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "servicedown_http_deadline", default=None)


PASSED = "the exchange's deadline passed"  # the timeout's text once the deadline is reached


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Requests made inside this block end (with a timeout) `seconds` from now."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bound(timeout: float | None, exc: type[Exception]) -> float | None:
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise exc(PASSED)
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                             _bound(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every operation cut to the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _bound(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(
            path, _bound(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(client: httpx.Client) -> bool:
    """Wrap the network backend of each of the client's connection pools (idempotent).

    httpx has no public way to pass a network backend, so this reaches the pools through
    their (stable, within the pinned httpx < 0.29) attributes; if a pool does not have the
    attribute, the per-operation timeouts still bound each read, and this says so once.
    Returns whether every pool is covered.
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    covered = True
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        if pool is None:
            continue  # no network under it (a mock transport, a mount that disables a proxy)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            covered = False
            continue
        if not isinstance(backend, DeadlineBackend):
            pool._network_backend = DeadlineBackend(backend)
    if not covered and not getattr(client, "_servicedown_warned", False):
        client._servicedown_warned = True  # type: ignore[attr-defined]
        log.warning("this httpx version hides its network backend: HTTP deadlines bound each "
                    "read, not the whole exchange")
    return covered
