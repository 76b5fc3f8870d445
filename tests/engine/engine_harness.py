"""Start the reference engine as a subprocess and talk to it, always with bounds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import httpx

from servicedown import polling

ROOT = Path(__file__).resolve().parents[2]
ENGINE_SRC = ROOT / "compose" / "engine"

# Test secrets: long enough and free of the weak patterns.
STRONG_JWT_SECRET = "tq7VnXw2LzK9pRb4Hc8MfJd3Gs6Ye1Ua5Qo0"
STRONG_ENCRYPTION_KEY = "Zk4Nv8Tq2Wx6Lb9Hm3Pc7Rd1Fj5Gs0Yt4Ua"

# Variables the engine reads; cleared so the caller's shell cannot leak in.
ENGINE_VARS = (
    "QBITEL_",
    "DATABASE_",
    "DB_POOL_",
    "JWT_SECRET",
    "ENCRYPTION_KEY",
    "TLS_",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def engine_env(port: int, data_dir: Path, **overrides: str | None) -> dict[str, str]:
    """A production environment that passes validation; None removes a variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENGINE_VARS)}
    env.update(
        PYTHONPATH=str(ENGINE_SRC),
        PYTHONUNBUFFERED="1",
        QBITEL_ENVIRONMENT="production",
        QBITEL_HOST="127.0.0.1",
        QBITEL_PORT=str(port),
        # The real-shape profile's other listeners; free ports, never the host's 9090/50051.
        QBITEL_METRICS_PORT=str(free_port()),
        QBITEL_GRPC_PORT=str(free_port()),
        QBITEL_DATA_DIR=str(data_dir),
        QBITEL_STARTUP_GRACE_SECONDS="0.5",
        QBITEL_HEARTBEAT_SECONDS="1",
        QBITEL_DRAIN_SECONDS="0.5",
        DATABASE_HOST="127.0.0.1",
        DATABASE_PORT="1",  # nothing listens there unless a test says otherwise
        DATABASE_NAME="qbitel",
        DATABASE_USER="qbitel_user",
        DATABASE_PASSWORD="Xv3Lq8Tz5Wn2Kb7Hc4Md9Pf6",
        JWT_SECRET=STRONG_JWT_SECRET,
        ENCRYPTION_KEY=STRONG_ENCRYPTION_KEY,
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


class EngineProcess:
    """One engine process; stdout (and stderr, unless `stderr_path` splits it) into `log_path`."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        scheme: str = "http",
        stderr_path: Path | None = None,
    ) -> None:
        self.env = dict(env)
        self.port = int(self.env.get("QBITEL_PORT", "8000"))
        self.metrics_port = int(self.env.get("QBITEL_METRICS_PORT", "9090"))
        self.grpc_port = int(self.env.get("QBITEL_GRPC_PORT", "50051"))
        self.log_path = log_path
        self.stderr_path = stderr_path
        self.scheme = scheme
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._err_file: IO[bytes] | None = None

    @property
    def ready_path(self) -> str:
        # The real-shape profile mounts no /health/live; /health is its only probe.
        return "/health" if self.env.get("QBITEL_ENGINE_PROFILE") == "real-shape" else "/health/live"

    # -- process -----------------------------------------------------------------

    def start(self, preexec_fn: Callable[[], Any] | None = None) -> EngineProcess:
        self._log_file = self.log_path.open("wb")
        stderr: IO[bytes] | int = subprocess.STDOUT
        if self.stderr_path is not None:
            self._err_file = self.stderr_path.open("wb")
            stderr = self._err_file
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbitel_ref"],
            env=self.env,
            cwd=str(self.log_path.parent),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=stderr,
            preexec_fn=preexec_fn,
        )
        return self

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for handle in (self._log_file, self._err_file):
            if handle is not None:
                handle.close()
        self._log_file = self._err_file = None
        return self.proc.returncode

    def log(self) -> str:
        """Everything the process wrote (stdout, then stderr when they are split)."""
        return self.stdout() + self.stderr()

    def stdout(self) -> str:
        """stdout, or stdout and stderr interleaved when they are not split."""
        return _read(self.log_path)

    def stderr(self) -> str:
        return _read(self.stderr_path) if self.stderr_path is not None else ""

    # -- HTTP ------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, timeout: float = 10.0, **kw: Any) -> httpx.Response:
        with httpx.Client(verify=False, timeout=timeout) as client:
            return client.request(method, self.url(path), **kw)

    def get(self, path: str, timeout: float = 10.0) -> httpx.Response:
        return self.request("GET", path, timeout=timeout)

    def wait_serving(self, timeout: float = 20.0) -> None:
        """Until the profile's probe answers at all; fails early if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.returncode is not None:
                raise AssertionError(f"engine exited {self.returncode}:\n{self.log()[-3000:]}")
            try:
                self.get(self.ready_path, timeout=2.0)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"engine not serving after {timeout}s:\n{self.log()[-3000:]}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    return bool(polling.until(predicate, timeout, interval))
