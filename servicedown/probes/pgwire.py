"""A pg_isready equivalent in plain Python, runnable here or inside the service's container, that
can also log in with the service's own credentials.

It sends a PostgreSQL StartupMessage and reads the answer. Without a password, an
authentication request means a server is up and accepting connections (pg_isready's rule); a
TCP connect alone would be fooled by a proxy (toxiproxy accepts even when its upstream is gone).
With a password it completes the login (cleartext, md5 or SCRAM-SHA-256), so a password the
database refuses is seen from where the engine stands.

The same source is exec'd here and sent to `python3 -c` inside the service, so the engine's
side and the checker's side run one probe. Inside the service the password is never an
argument: the probe reads it from its own environment (`env:NAME`, what `docker exec` and
`kubectl exec` inherit) or from the service process's (`proc:PID:NAME`, on a systemd host).
"""

from __future__ import annotations

from collections.abc import Callable

PROBE_SOURCE = r'''
import base64, hashlib, hmac, os, socket, struct, sys, time

ACCEPTING, REJECTING, AUTH_FAILED, NO_RESPONSE, NO_ATTEMPT = (
    "accepting", "rejecting", "auth-failed", "no-response", "no-attempt")
# SQLSTATEs: a server that answers but will not take this login, by why.
_BUSY = ("57P03", "53300", "53400")  # starting up / shutting down, too many connections
_AUTH = ("28P01", "28000", "3D000")  # bad password, no such role or no pg_hba entry, no database


class _Bounded:
    """A socket whose every read and write shares one deadline: a slow path that answers each
    message just in time still ends within the probe's bound, not one bound per message."""

    def __init__(self, sock, deadline):
        self.sock, self.deadline = sock, deadline

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(left)

    def recv(self, n):
        self._left()
        return self.sock.recv(n)

    def sendall(self, data):
        self._left()
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def _recv(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data


def _message(sock):
    head = _recv(sock, 5)
    size = struct.unpack("!i", head[1:5])[0]
    if size < 4 or size > 1 << 20:
        raise ValueError("not PostgreSQL")
    return head[:1], _recv(sock, size - 4)


def _send(sock, kind, body):
    sock.sendall(kind + struct.pack("!i", 4 + len(body)) + body)


def _error(body):
    fields = dict((f[:1].decode("ascii", "replace"), f[1:].decode("utf-8", "replace"))
                  for f in body.split(b"\x00") if f)
    return fields.get("C", "?"), fields.get("M", "")


def _scram(sock, password, mechanisms):
    if b"SCRAM-SHA-256" not in mechanisms.split(b"\x00"):
        return NO_ATTEMPT, "the server offers no login this probe knows: %r" % mechanisms
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=,r=" + nonce
    first = ("n,," + first_bare).encode()
    _send(sock, b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first)
    kind, body = _message(sock)
    if kind == b"E":
        return None, body
    server_first = body[4:].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    without_proof = "c=biws,r=" + attrs["r"]
    auth = ",".join((first_bare, server_first, without_proof)).encode()
    sig = hmac.new(hashlib.sha256(client_key).digest(), auth, "sha256").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, sig))).decode()
    _send(sock, b"p", (without_proof + ",p=" + proof).encode())
    return None, None


def _password(source):
    """The password from where the probe is told to read it; never from its arguments."""
    if not source:
        return None
    kind, _, rest = source.partition(":")
    if kind == "env":
        return os.environ.get(rest)
    if kind == "proc":
        pid, _, name = rest.partition(":")
        with open("/proc/%d/environ" % int(pid), "rb") as fh:
            for item in fh.read().split(b"\x00"):
                key, sep, value = item.partition(b"=")
                if sep and key.decode("utf-8", "replace") == name:
                    return value.decode("utf-8", "replace")
    return None


def pg_ping(host, port, user, db, timeout, password=None):
    """-> (verdict, detail); verdict: accepting | rejecting | auth-failed | no-response | no-attempt."""
    start = time.monotonic()
    first = None  # seconds to the server's first answer
    try:
        sock = _Bounded(socket.create_connection((host, int(port)), timeout=timeout),
                        start + timeout)
    except socket.gaierror as exc:
        return NO_ATTEMPT, "cannot resolve %s: %s" % (host, exc)
    except OSError as exc:
        return NO_RESPONSE, "connect to %s:%s failed: %s" % (host, port, exc)
    try:
        params = b"user\x00" + user.encode() + b"\x00database\x00" + db.encode() + b"\x00\x00"
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        while True:
            kind, body = _message(sock)
            if first is None:
                first = time.monotonic() - start
            if kind == b"E":
                code, msg = _error(body)
                if code in _BUSY:
                    return REJECTING, "%s (SQLSTATE %s)" % (msg, code)
                if code in _AUTH and password is not None:
                    return AUTH_FAILED, "%s (SQLSTATE %s)" % (msg, code)
                return ACCEPTING, "server answered with an error: %s (SQLSTATE %s)" % (msg, code)
            if kind != b"R":
                if kind in (b"S", b"K", b"Z", b"N"):
                    return ACCEPTING, "%s:%s logged in as %s" % (host, port, user)
                return NO_RESPONSE, "unexpected answer %r from %s:%s" % (kind, host, port)
            code = struct.unpack("!i", body[:4])[0]
            if code == 0:
                if password is None:
                    return ACCEPTING, "%s:%s answered (no password needed)" % (host, port)
                return ACCEPTING, "%s:%s logged in as %s" % (host, port, user)
            if password is None:
                return ACCEPTING, "%s:%s answered (authentication requested)" % (host, port)
            if code == 3:
                _send(sock, b"p", password.encode() + b"\x00")
            elif code == 5:
                inner = hashlib.md5(password.encode() + user.encode()).hexdigest().encode()
                outer = hashlib.md5(inner + body[4:8]).hexdigest().encode()
                _send(sock, b"p", b"md5" + outer + b"\x00")
            elif code == 10:
                verdict, detail = _scram(sock, password, body[4:])
                if verdict is not None:
                    return verdict, detail
                if detail is not None:
                    c, m = _error(detail)
                    return AUTH_FAILED, "%s (SQLSTATE %s)" % (m, c)
            elif code in (11, 12):
                continue  # SASL continue / final: the answer that matters comes next
            else:
                return NO_ATTEMPT, "the server asked for a login this probe does not know (%d)" % code
    except socket.timeout:
        if first is not None:
            return NO_RESPONSE, ("%s:%s is slow: its first answer took %.1fs and the login did not "
                                 "finish within %.1fs" % (host, port, first, timeout))
        return NO_RESPONSE, "no answer from %s:%s within %.1fs" % (host, port, timeout)
    except (OSError, EOFError, ValueError, KeyError) as exc:
        return NO_RESPONSE, "%s:%s: %s" % (host, port, exc)
    finally:
        sock.close()

if __name__ == "__main__":
    secret = _password(sys.argv[6]) if len(sys.argv) > 6 else None
    verdict, detail = pg_ping(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]),
                              secret)
    print(verdict + "\t" + detail)
    sys.exit(0 if verdict == ACCEPTING else 2)
'''

_ns: dict = {"__name__": "servicedown_pgwire_probe"}
exec(compile(PROBE_SOURCE, "pgwire_probe", "exec"), _ns)
pg_ping: Callable[..., tuple[str, str]] = _ns["pg_ping"]
ACCEPTING, REJECTING, AUTH_FAILED, NO_RESPONSE, NO_ATTEMPT = (
    _ns["ACCEPTING"], _ns["REJECTING"], _ns["AUTH_FAILED"], _ns["NO_RESPONSE"], _ns["NO_ATTEMPT"])


def probe_argv(host: str, port: int | str, user: str, db: str, timeout: float,
               password_source: str = "", python: str = "python3") -> list[str]:
    """argv running the same probe in another Python (e.g. inside the engine's container);
    `password_source` says where that process finds the password (env:NAME, proc:PID:NAME)."""
    argv = [python, "-c", PROBE_SOURCE, host, str(port), user, db, f"{timeout:g}"]
    return argv + [password_source] if password_source else argv
