"""Facts shared by the checks of one run, each fetched once even when checks run concurrently."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from servicedown import secrets, states
from servicedown.backends import http
from servicedown.backends.network import NetworkBackend
from servicedown.config import Settings
from servicedown.healthy import is_healthy
from servicedown.probes import hostfacts, logscan
from servicedown.redact import Redactor
from servicedown.targets.base import LogLine, ServiceState, Target

T = TypeVar("T")
NOISE_FACTOR = 5  # lines read per line wanted, so noise blocks do not crowd out real lines
MAX_LOG_READ = 5000
DEFAULT_DATA_DIR = "/var/lib/qbitel"  # the engine's own default
STARTUP_LINES = 1000  # the start of a run: validation lines, the summary and the verdict


class Context:
    def __init__(self, settings: Settings, target: Target,
                 network: NetworkBackend | None = None) -> None:
        self.settings = settings
        self.target = target
        # What the checker asks over the network itself (HTTP, a direct database probe).
        self.network = network or NetworkBackend(settings.http_timeout_s, settings.verify_tls)
        self._values: dict[str, Any] = {}
        self._errors: dict[str, BaseException] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """compute() once per key; concurrent callers wait for the first. Errors are cached too."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._errors:
                raise self._errors[key]
            if key not in self._values:
                try:
                    self._values[key] = compute()
                except BaseException as exc:
                    self._errors[key] = exc
                    raise
            return self._values[key]

    # --- platform facts ------------------------------------------------------------
    def state(self) -> ServiceState:
        return self.cached("state", self.target.state)

    def raw_logs(self) -> list[LogLine]:
        """The last `log_lines` lines that are not noise, with their time and run. Noise blocks
        (the real engine prints ~70 lines for every WARNING and 404) do not count against the
        budget, so they cannot push a real error out of reach: up to NOISE_FACTOR times more is
        read, and the noise set aside."""
        return self.cached("logs", self._read_logs)

    def _read_logs(self) -> list[LogLine]:
        want = self.settings.log_lines
        lines = self.target.logs(min(want * NOISE_FACTOR, MAX_LOG_READ))
        noise, _ = logscan.noise_lines([logscan.as_text(line.text) for line in lines])
        if not noise:
            return lines[-want:]
        real = [i for i in range(len(lines)) if i not in noise]
        start = real[-want] if len(real) >= want else 0
        return lines[start:]

    def log_scan(self) -> logscan.LogScan:
        """The recent logs scanned: logs.* check id -> matching lines (masked), with their times."""
        return self.cached("log_scan", lambda: logscan.scan_log(self.raw_logs(), self.redactor))

    def log_hits(self) -> dict[str, list[logscan.Match]]:
        return self.log_scan().hits

    def startup_logs(self) -> list[LogLine]:
        """The start of the current (or last) run, where the engine validates its settings."""
        return self.cached("startup_logs", lambda: self.target.startup_logs(STARTUP_LINES))

    def serving_now(self) -> bool:
        """Running, past its start, not looping, and /health healthy: what happened before is
        history, not this incident ("did my fix work?")."""

        def judge() -> bool:
            try:
                st = self.state()
            except Exception:  # no platform state (a URL): health alone cannot say it settled
                return False
            if not (st.exists and st.running) or st.how not in ("", states.RUNNING):
                return False
            a = self.http_get("/health")
            return is_healthy(a.status, a.body)

        return self.cached("serving_now", judge)

    def environment(self) -> dict[str, str] | None:
        return self.cached("env", self.target.environment)

    @property
    def redactor(self) -> Redactor:
        """Masks every secret value the service's environment holds, plus generic patterns."""

        def build() -> Redactor:
            try:
                env = self.environment() or {}
            except Exception:
                env = {}
            return Redactor(secrets.secret_values(env))

        return self.cached("redactor", build)

    def host_facts(self) -> hostfacts.Facts | None:
        """Resource facts of the service's process; None when nothing can run there."""

        def gather() -> hostfacts.Facts | None:
            paths = ["/", self.data_dir()]
            argv = hostfacts.command(self.target.service_pid(), self.settings.cpu_sample_s, paths)
            res = self.target.run_in_service(argv, timeout=self.settings.cpu_sample_s + 5)
            if res is None:
                return None
            if not res.ok and "pid_alive=" not in res.stdout:
                raise RuntimeError(f"reading resource facts failed (rc={res.rc}): "
                                   f"{self.redactor.clip(res.stderr.strip(), 200)}")
            return hostfacts.parse(res.stdout)

        return self.cached("facts", gather)

    def data_dir(self) -> str:
        """The engine's data folder: --data-dir, else its own QBITEL_DATA_DIR, else its default."""
        if self.settings.data_dir:
            return self.settings.data_dir
        try:
            env = self.environment() or {}
        except Exception:
            env = {}
        return env.get("QBITEL_DATA_DIR") or DEFAULT_DATA_DIR

    # --- HTTP -----------------------------------------------------------------------
    def http_get(self, path: str) -> http.HttpAnswer:
        return self.cached("http:" + path, lambda: self.network.get(self.settings.base + path))

    def close(self) -> None:
        self.network.close()
