"""`http.get`'s deadline bounds the whole exchange, however slowly a server trickles it.

A real TCP server on loopback answers one byte at a time. Without a bound on the whole
exchange, each byte restarts httpx's per-read timeout and the request lasts as long as the
server likes; the bounds asserted here are several times the deadline and a fraction of the
time the trickle takes, so load on the machine does not decide the outcome."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from servicedown.backends import http
from servicedown.healthy import wait_healthy

BODY = b'{"status": "healthy"}'
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"X-Padding: " + b"p" * 40 + b"\r\n"
        b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n")
BYTE_GAP_S = 0.1  # well inside httpx's per-read timeout: each byte keeps the read alive
DEADLINE_S = 1.0
# The trickled part alone takes ~10 s or more at BYTE_GAP_S; a bounded get ends near 1 s.
BOUND_S = 4.0


def _serve(listener: socket.socket, stop: threading.Event, fast: bytes, slow: bytes) -> None:
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                conn.settimeout(2)
                conn.recv(4096)  # the request
                conn.sendall(fast)
                for b in slow:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([b]))
                    time.sleep(BYTE_GAP_S)
            except OSError:
                continue  # the client gave up: what the deadline is for


@contextmanager
def trickling_server(fast: bytes, slow: bytes) -> Iterator[str]:
    """-> base URL of a server that sends `fast` at once, then `slow` one byte at a time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                _serve(listener, stop, fast, slow)
            except TimeoutError:
                continue
            return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


# Where the trickle starts: in the status line, in the headers, in the body.
PHASES = {
    "status line": (b"", HEAD + BODY),
    "headers": (HEAD[:30], HEAD[30:] + BODY),
    "body": (HEAD + BODY[:2], BODY[2:] + b" " * 100),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_get_ends_at_its_deadline_while_the_server_trickles(phase: str) -> None:
    fast, slow = PHASES[phase]
    assert len(slow) * BYTE_GAP_S > 2.5 * BOUND_S  # the trickle alone would overrun the bound
    with trickling_server(fast, slow) as url, http.make_client(5.0, verify=False) as client:
        start = time.monotonic()
        answer = http.get(client, url + "/health", DEADLINE_S)
        took = time.monotonic() - start
    assert took < BOUND_S, f"get took {took:.1f}s with a {DEADLINE_S}s deadline ({phase})"
    assert answer.error, answer
    assert "deadline" in answer.error or "timed out" in answer.error, answer.error
    assert answer.summary()  # one line, never a traceback


def test_a_client_made_elsewhere_is_bounded_too() -> None:
    """The bound lives in `get`, not only in clients `make_client` made."""
    import httpx

    fast, slow = PHASES["headers"]
    with trickling_server(fast, slow) as url, httpx.Client(timeout=5.0) as client:
        start = time.monotonic()
        answer = http.get(client, url + "/health", DEADLINE_S)
        took = time.monotonic() - start
    assert took < BOUND_S and not answer.answered, (took, answer)


def test_a_prompt_server_still_answers_in_full() -> None:
    with trickling_server(HEAD + BODY, b"") as url, http.make_client(5.0, verify=False) as client:
        answer = http.get(client, url + "/health", DEADLINE_S)
    assert answer.status == 200 and answer.body == {"status": "healthy"}, answer


def test_the_health_wait_ends_at_its_own_bound() -> None:
    """The remediation's wait: it ends near its own bound even when one probe could take longer."""
    fast, slow = PHASES["headers"]
    with trickling_server(fast, slow) as url:
        start = time.monotonic()
        healthy, last = wait_healthy(url, 1.0, http_timeout_s=30.0)
        took = time.monotonic() - start
    assert not healthy
    assert took < BOUND_S, f"the wait took {took:.1f}s with a 1s bound ({last})"


def test_the_chaos_stacks_health_wait_ends_at_its_own_bound() -> None:
    from servicedown.chaos.stack import ChaosStack, EngineSpec

    fast, slow = PHASES["headers"]
    with trickling_server(fast, slow) as url:
        stack = ChaosStack.__new__(ChaosStack)  # only the health wait: no Docker needed
        stack.engine_spec = EngineSpec("default")
        stack.engine_port = int(url.rsplit(":", 1)[1])
        start = time.monotonic()
        healthy, last = stack.wait_engine_healthy(1.0)
        took = time.monotonic() - start
    assert not healthy
    assert took < BOUND_S, f"the wait took {took:.1f}s with a 1s bound ({last})"
