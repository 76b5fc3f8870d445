"""What the checker itself asks over the network: the service's HTTP endpoints, the deployment's
Prometheus, and PostgreSQL's startup exchange where the checker probes the database directly (a
URL-only target).

One client per run, every exchange bounded; answers are plain data (HttpAnswer, a verdict and
its detail), so a run can be recorded and replayed like any platform backend.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any

from servicedown.backends import http
from servicedown.probes import pgwire


class NetworkBackend:
    def __init__(self, timeout_s: float, verify_tls: bool) -> None:
        self.timeout_s = timeout_s
        self.verify_tls = verify_tls
        self._client: Any = None
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time()

    def get(self, url: str) -> http.HttpAnswer:
        """GET url within the run's HTTP bound; never raises."""
        with self._lock:
            if self._client is None:
                self._client = http.make_client(self.timeout_s, self.verify_tls)
        return http.get(self._client, url, self.timeout_s)

    def get_json(self, url: str, params: dict[str, str], max_bytes: int) -> http.HttpAnswer:
        """GET url?params for a JSON API (Prometheus's), within the run's HTTP bound and at most
        max_bytes of answer; never raises."""
        with self._lock:
            if self._client is None:
                self._client = http.make_client(self.timeout_s, self.verify_tls)
        return http.get(self._client, url, self.timeout_s, max_bytes=max_bytes, params=params)

    def pg_ping(self, host: str, port: int, user: str, db: str, timeout_s: float) -> tuple[str, str]:
        """-> (verdict, detail): accepting | rejecting | no-response | no-attempt."""
        verdict, detail = pgwire.pg_ping(host, port, user, db, timeout_s)
        return verdict, detail

    def peer_certificate(self, host: str, port: int, timeout_s: float) -> bytes:
        """The certificate the service presents (DER), read in a TLS handshake that verifies
        nothing: it is judged, not trusted. Raises OSError when there is no handshake."""
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=timeout_s) as raw, \
                tls.wrap_socket(raw, server_hostname=host) as conn:
            der = conn.getpeercert(binary_form=True)
        if not der:
            raise OSError(f"{host}:{port} presented no certificate")
        return der

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
