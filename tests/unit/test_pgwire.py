import contextlib
import socket
import struct
import threading
import time

from servicedown.probes import pgwire


def _server(answer: bytes) -> tuple[socket.socket, int]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(1024)
        if answer:
            conn.sendall(answer)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def test_authentication_request_means_accepting():
    srv, port = _server(b"R" + struct.pack("!ii", 8, 10))
    verdict, _ = pgwire.pg_ping("127.0.0.1", port, "u", "d", 2)
    srv.close()
    assert verdict == "accepting"


def test_starting_up_error_means_rejecting():
    body = b"SFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00"
    srv, port = _server(b"E" + struct.pack("!i", 4 + len(body)) + body)
    verdict, detail = pgwire.pg_ping("127.0.0.1", port, "u", "d", 2)
    srv.close()
    assert verdict == "rejecting" and "starting up" in detail


def test_proxy_that_closes_means_no_response():
    srv, port = _server(b"")
    verdict, _ = pgwire.pg_ping("127.0.0.1", port, "u", "d", 2)
    srv.close()
    assert verdict == "no-response"


def test_closed_port_and_bad_host():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert pgwire.pg_ping("127.0.0.1", port, "u", "d", 1)[0] == "no-response"
    assert pgwire.pg_ping("no-such-host.invalid", 5432, "u", "d", 1)[0] == "no-attempt"


def test_probe_argv_is_self_contained():
    argv = pgwire.probe_argv("db", 5432, "u", "d", 3)
    assert argv[0] == "python3" and argv[1] == "-c" and "def pg_ping" in argv[2]
    assert argv[3:] == ["db", "5432", "u", "d", "3"]


def test_a_slow_path_ends_within_one_bound_and_says_slow():
    # Each message answered 0.4 s late, under the 1 s bound each, over it together: the probe
    # must end near its bound (one deadline for the whole login), not 1 s per message.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        with contextlib.suppress(OSError):
            while conn.recv(1024):
                time.sleep(0.4)
                conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # "send the password", again
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    start = time.monotonic()
    verdict, detail = pgwire.pg_ping("127.0.0.1", port, "u", "d", 1.0, "pw")
    took = time.monotonic() - start
    srv.close()
    assert verdict == "no-response" and "is slow: its first answer took 0.4s" in detail
    assert took < 1.5
