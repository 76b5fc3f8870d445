"""A pg_isready equivalent in plain Python, runnable here or inside the service's container.

It sends a PostgreSQL StartupMessage and reads the first answer, without authenticating:
an authentication request means a server is up and accepting connections. A TCP connect
alone would be fooled by a proxy (toxiproxy accepts even when its upstream is gone).
The same source is exec'd here and sent to `python3 -c` inside the service, so the engine's
side and the checker's side run one probe.
"""

from __future__ import annotations

from collections.abc import Callable

PROBE_SOURCE = r'''
import socket, struct, sys, time

def pg_ping(host, port, user, db, timeout):
    """-> (verdict, detail); verdict: accepting | rejecting | no-response | no-attempt."""
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except socket.gaierror as exc:
        return "no-attempt", "cannot resolve %s: %s" % (host, exc)
    except OSError as exc:
        return "no-response", "connect to %s:%s failed: %s" % (host, port, exc)
    try:
        sock.settimeout(max(timeout - (time.monotonic() - start), 0.1))
        params = b"user\x00" + user.encode() + b"\x00database\x00" + db.encode() + b"\x00\x00"
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        head = b""
        while len(head) < 5:
            chunk = sock.recv(5 - len(head))
            if not chunk:
                return "no-response", "%s:%s closed the connection without answering" % (host, port)
            head += chunk
        kind = head[:1]
        if kind == b"R":
            return "accepting", "%s:%s answered (authentication requested)" % (host, port)
        if kind == b"E":
            body = sock.recv(4096)
            fields = dict((f[:1].decode("ascii", "replace"), f[1:].decode("utf-8", "replace"))
                          for f in body.split(b"\x00") if f)
            code, msg = fields.get("C", "?"), fields.get("M", "")
            if code in ("57P03",):  # starting up / shutting down
                return "rejecting", "%s (SQLSTATE %s)" % (msg, code)
            return "accepting", "server answered with an error: %s (SQLSTATE %s)" % (msg, code)
        return "no-response", "unexpected answer %r from %s:%s" % (kind, host, port)
    except socket.timeout:
        return "no-response", "no answer from %s:%s within %.1fs" % (host, port, timeout)
    except OSError as exc:
        return "no-response", "%s:%s: %s" % (host, port, exc)
    finally:
        sock.close()

if __name__ == "__main__":
    verdict, detail = pg_ping(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    print(verdict + "\t" + detail)
    sys.exit(0 if verdict == "accepting" else 2)
'''

_ns: dict = {"__name__": "servicedown_pgwire_probe"}
exec(compile(PROBE_SOURCE, "pgwire_probe", "exec"), _ns)
pg_ping: Callable[[str, int | str, str, str, float], tuple[str, str]] = _ns["pg_ping"]


def probe_argv(host: str, port: int | str, user: str, db: str, timeout: float,
               python: str = "python3") -> list[str]:
    """argv running the same probe in another Python (e.g. inside the engine's container)."""
    return [python, "-c", PROBE_SOURCE, host, str(port), user, db, f"{timeout:g}"]
