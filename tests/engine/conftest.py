"""Fixtures: a throwaway PostgreSQL cluster and engine subprocesses.

The cluster uses Debian's server binaries (installed with apt-get when
missing and we are root), runs as the `postgres` user because initdb and
postgres refuse root, listens on a free TCP port with scram password auth,
and is removed at the end of the session whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .engine_harness import ENGINE_SRC, EngineProcess, engine_env, free_port

# Unit tests import the engine package directly.
if str(ENGINE_SRC) not in sys.path:
    sys.path.insert(0, str(ENGINE_SRC))

WEAK = ("password", "changeme", "admin", "root", "123456", "default", "secret")


def _strong_password() -> str:
    while True:
        candidate = secrets.token_hex(16)
        if not any(pattern in candidate for pattern in WEAK):
            return candidate


def _find_bindir() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def _install_postgres() -> str:
    """Best effort apt-get install; returns why it could not, or ''."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root or no apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (
        ["apt-get", "install", "-y", "-q", "postgresql"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "postgresql"],
    ):
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"{' '.join(argv)} timed out"
        if argv[1] == "install" and proc.returncode == 0:
            return ""
    return f"apt-get install postgresql failed: {proc.stderr[-500:]}"


@dataclass
class PostgresCluster:
    bindir: Path
    base: Path
    port: int
    superuser_password: str
    app_password: str
    run_as: str | None
    proc: subprocess.Popen[bytes] | None = None
    _log: object | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        return self.base / "sock"

    @property
    def log_path(self) -> Path:
        return self.base / "postgres.log"

    def _run(self, argv: list[str], timeout: float = 120) -> None:
        proc = subprocess.run(argv, user=self.run_as, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stdout[-1000:]}{proc.stderr[-1000:]}")

    def init(self) -> None:
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.superuser_password + "\n")
        self.sockdir.mkdir()
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.base, self.sockdir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
            ]
        )

    def start(self, timeout: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-k",
                str(self.sockdir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=100",
            ],
            user=self.run_as,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_path.read_text()[-2000:]}")
            try:
                with psycopg.connect(self.superuser_dsn, connect_timeout=2):
                    return
            except psycopg.Error as exc:
                last = exc
                time.sleep(0.2)
        raise RuntimeError(f"postgres not ready after {timeout}s: {last}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def superuser_dsn(self) -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres "
            f"password={self.superuser_password}"
        )

    def create_app_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.superuser_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE qbitel_user LOGIN PASSWORD {}").format(sql.Literal(self.app_password))
            )
            conn.execute("CREATE DATABASE qbitel OWNER qbitel_user")

    def engine_env(self) -> dict[str, str]:
        return {
            "DATABASE_HOST": "127.0.0.1",
            "DATABASE_PORT": str(self.port),
            "DATABASE_NAME": "qbitel",
            "DATABASE_USER": "qbitel_user",
            "DATABASE_PASSWORD": self.app_password,
        }


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bindir = _find_bindir()
    if bindir is None:
        why = _install_postgres()
        bindir = _find_bindir()
        if bindir is None:
            pytest.skip(f"PostgreSQL server binaries not installable here ({why})")
    run_as: str | None = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam("postgres").pw_name
        except KeyError:
            run_as = "nobody"
    base = Path(tempfile.mkdtemp(prefix="qbitel-pg-"))
    os.chmod(base, 0o755)
    cluster = PostgresCluster(
        bindir=bindir,
        base=base,
        port=free_port(),
        superuser_password=_strong_password(),
        app_password=_strong_password(),
        run_as=run_as,
    )
    try:
        cluster.init()
        cluster.start()
        cluster.create_app_database()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def start_engine(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    """Factory: start an engine with env overrides; every one is stopped afterwards."""
    started: list[EngineProcess] = []

    def factory(
        *,
        db: PostgresCluster | None = None,
        wait: bool = True,
        scheme: str = "http",
        preexec_fn: Callable[[], object] | None = None,
        split_stderr: bool = False,
        **overrides: str | None,
    ) -> EngineProcess:
        n = len(started)
        data_dir = tmp_path / f"data{n}"
        port = free_port()
        values: dict[str, str | None] = dict(db.engine_env()) if db is not None else {}
        values.update(overrides)
        stderr_path = tmp_path / f"engine{n}.stderr.log" if split_stderr else None
        engine = EngineProcess(
            engine_env(port, data_dir, **values), tmp_path / f"engine{n}.log", scheme, stderr_path
        )
        started.append(engine)
        engine.start(preexec_fn=preexec_fn)
        if wait:
            engine.wait_serving()
        return engine

    yield factory
    for engine in started:
        with contextlib.suppress(Exception):
            engine.stop(timeout=15)
