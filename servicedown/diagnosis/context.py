"""Facts shared by the checks of one run, each fetched once even when checks run concurrently."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from servicedown.backends.network import NetworkBackend
from servicedown.config import Settings
from servicedown.diagnosis import http
from servicedown.probes import hostfacts, logscan
from servicedown.redact import Redactor
from servicedown.secrets import is_secret_name
from servicedown.targets.base import ServiceState, Target

T = TypeVar("T")


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

    def raw_logs(self) -> list[str]:
        return self.cached("logs", lambda: self.target.logs(self.settings.log_lines))

    def log_hits(self) -> dict[str, list[logscan.Match]]:
        """logs.* check id -> matching lines (masked)."""
        return self.cached(
            "log_hits", lambda: logscan.by_check(logscan.scan(self.raw_logs(), self.redactor))
        )

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
            values = [v for k, v in env.items() if is_secret_name(k)]
            return Redactor(values)

        return self.cached("redactor", build)

    def host_facts(self) -> hostfacts.Facts | None:
        """Resource facts of the service's process; None when nothing can run there."""

        def gather() -> hostfacts.Facts | None:
            paths = ["/"]
            if self.settings.data_dir:
                paths.append(self.settings.data_dir)
            argv = hostfacts.command(self.target.service_pid(), self.settings.cpu_sample_s, paths)
            res = self.target.run_in_service(argv, timeout=self.settings.cpu_sample_s + 5)
            if res is None:
                return None
            if not res.ok and "pid_alive=" not in res.stdout:
                raise RuntimeError(f"reading resource facts failed (rc={res.rc}): "
                                   f"{res.stderr.strip()[:200]}")
            return hostfacts.parse(res.stdout)

        return self.cached("facts", gather)

    # --- HTTP -----------------------------------------------------------------------
    def http_get(self, path: str) -> http.HttpAnswer:
        return self.cached("http:" + path, lambda: self.network.get(self.settings.base + path))

    def close(self) -> None:
        self.network.close()
