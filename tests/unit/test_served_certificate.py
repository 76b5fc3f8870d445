"""startup.tls where the service's environment and files cannot be read (a URL): the certificate
it serves is judged instead, read from a real TLS handshake on 127.0.0.1 or from a network
stand-in that records what it was asked."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from servicedown.backends.network import NetworkBackend
from servicedown.config import Settings
from servicedown.diagnosis import startup
from servicedown.diagnosis.context import Context
from servicedown.model import Outcome
from servicedown.redact import ELLIPSIS
from tests.fakes import FakeTarget

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC)


class Clocked(FakeTarget):
    """A URL target (no environment) whose platform clock reads NOW."""

    def now(self) -> float:
        return NOW.timestamp()


def _cert(not_before: dt.datetime,
          not_after: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qbitel-engine")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    return cert, key


def _der(days_left: float) -> bytes:
    cert, _ = _cert(NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=days_left))
    return cert.public_bytes(serialization.Encoding.DER)


class Served:
    """Presents one certificate (or fails the handshake) and records what it was asked."""

    def __init__(self, der: bytes | None = None, error: OSError | None = None) -> None:
        self.der, self.error, self.asked = der, error, []

    def peer_certificate(self, host: str, port: int, timeout_s: float) -> bytes:
        self.asked.append((host, port, timeout_s))
        if self.error is not None:
            raise self.error
        assert self.der is not None
        return self.der

    def close(self) -> None:
        pass


def _ctx(network: object, base_url: str = "https://engine.example:8443", **settings: object) -> Context:
    s = Settings(target="url", base_url=base_url, **settings)  # type: ignore[arg-type]
    return Context(s, Clocked(None, settings=s), network=network)  # type: ignore[arg-type]


def test_a_valid_served_certificate_passes_and_says_the_key_cannot_be_seen():
    net = Served(_der(90))
    f = startup.tls(_ctx(net, http_timeout_s=3.5))
    assert net.asked == [("engine.example", 8443, 3.5)]
    assert f.outcome is Outcome.PASS
    assert f.message == ("served certificate valid for 90 more days (the key is not visible from "
                         "outside)")
    assert f.evidence["served_by"] == "engine.example:8443"
    assert f.evidence["key"] == "not visible from outside"
    assert f.evidence["subject"] == "CN=qbitel-engine" and f.evidence["key_present"] is False


def test_without_a_port_the_https_port_is_asked():
    net = Served(_der(90))
    f = startup.tls(_ctx(net, "https://engine.example/api"))
    assert net.asked == [("engine.example", 443, 5.0)]
    assert f.evidence["served_by"] == "engine.example:443"


def test_an_expired_served_certificate_fails_with_every_problem_but_the_key():
    net = Served(_der(-2))
    f = startup.tls(_ctx(net))
    expired_on = (NOW - dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    assert f.outcome is Outcome.FAIL
    assert f.message == f"TLS (served certificate): certificate expired on {expired_on} UTC"
    assert f.evidence["expired"] is True and f.evidence["key"] == "not visible from outside"
    assert f.evidence["served_by"] == "engine.example:8443"


def test_two_problems_are_joined_and_the_warning_window_is_the_settings_one():
    garbage = Served(b"not a certificate")
    f = startup.tls(_ctx(garbage))
    assert f.outcome is Outcome.FAIL and f.message.startswith("TLS (served certificate): ")
    assert "key file missing" not in f.message
    soon = Served(_der(20))
    # 20 days left: fine under the default 14-day window, expiring under a 30-day one.
    assert startup.tls(_ctx(soon)).outcome is Outcome.PASS
    f = startup.tls(_ctx(soon, tls_warn_days=30))
    assert (f.outcome, f.message) == (Outcome.FAIL,
                                      "TLS (served certificate): certificate expires in 20.0 days")
    assert f.evidence["expiring_soon"] is True


def test_the_platforms_clock_is_read_as_utc_whatever_the_local_zone(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("no time zones to switch on this platform")
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        f = startup.tls(_ctx(Served(_der(90))))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert f.outcome is Outcome.PASS and f.evidence["expires_in_days"] == 90


def test_no_handshake_fails_naming_the_peer_with_the_error_clipped_to_200_characters():
    err = OSError("connection refused " + "x" * 181)  # 200 characters
    f = startup.tls(_ctx(Served(error=err)))
    assert f.outcome is Outcome.FAIL
    assert f.message == f"TLS: no handshake with engine.example:8443: {err}"
    assert f.evidence == {"served_by": "engine.example:8443"}
    longer = OSError("connection refused by the proxy " + "y" * 169)  # 201 characters
    f = startup.tls(_ctx(Served(error=longer)))
    assert f.message == ("TLS: no handshake with engine.example:8443: connection refused by the "
                         f"proxy{ELLIPSIS}")


def test_plain_http_has_no_certificate_to_look_at():
    net = Served(_der(90))
    f = startup.tls(_ctx(net, "http://engine.example:8000"))
    assert f.outcome is Outcome.SKIP and "plain http" in f.message and net.asked == []


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """A TLS server on 127.0.0.1 presenting a fresh self-signed certificate: (port, its DER)."""
    now = dt.datetime.now(dt.UTC)
    cert, key = _cert(now - dt.timedelta(days=1), now + dt.timedelta(days=60))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)  # so the loop sees `stop` soon
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(5)
            try:
                with tls.wrap_socket(raw, server_side=True):
                    pass
            except OSError:
                raw.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield listener.getsockname()[1], cert.public_bytes(serialization.Encoding.DER)
    finally:
        stop.set()
        t.join(5)
        listener.close()


def test_the_certificate_is_read_from_a_real_handshake(tls_server):
    port, der = tls_server
    net = NetworkBackend(5.0, verify_tls=True)
    try:
        assert net.peer_certificate("127.0.0.1", port, 5.0) == der
        s = Settings(target="url", base_url=f"https://127.0.0.1:{port}")
        f = startup.tls(Context(s, FakeTarget(None, settings=s), network=net))
    finally:
        net.close()
    assert f.outcome is Outcome.PASS, f.message
    assert f.message.startswith("served certificate valid for 60 more days")
    assert f.evidence["served_by"] == f"127.0.0.1:{port}"


def test_nothing_listening_is_no_handshake():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    settings = Settings(target="url", base_url=f"https://127.0.0.1:{port}", http_timeout_s=2.0)
    net = NetworkBackend(2.0, verify_tls=True)
    try:
        f = startup.tls(Context(settings, FakeTarget(None, settings=settings), network=net))
    finally:
        net.close()
    assert f.outcome is Outcome.FAIL
    assert f.message.startswith(f"TLS: no handshake with 127.0.0.1:{port}: ")

