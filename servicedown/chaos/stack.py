"""The throwaway stack: a private network, Postgres, toxiproxy between engine and Postgres,
and the engine, from local images (names are settings), through testcontainers.

Every container carries this run's label (`servicedown.chaos=<run id>`) and the labels Compose
sets (`com.docker.compose.project=<run id>`, `com.docker.compose.service=...`), so the
unchanged `ComposeTarget` diagnoses it exactly as it diagnoses the reference Compose stack.
The engine is made like the reference compose file makes it (restart `unless-stopped`,
a memory limit with swap equal to it, a healthcheck, /var/lib/qbitel), with a size-limited
tmpfs as its data dir so a disk can be filled in milliseconds.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import docker
import docker.types
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from servicedown import polling
from servicedown import secrets as secret_rules
from servicedown.backends.docker import DockerBackend
from servicedown.chaos import cleanup
from servicedown.chaos.certs import make_pair
from servicedown.chaos.cleanup import LABEL, Leftovers, ensure_owned
from servicedown.chaos.owner import LocalProc, Owner
from servicedown.chaos.toxics import Toxiproxy, ToxiproxyError
from servicedown.config import Settings
from servicedown.healthy import wait_healthy
from servicedown.ports import free_port
from servicedown.redact import Redactor
from servicedown.targets.compose import PROJECT_LABEL, SERVICE_LABEL, ComposeTarget
from servicedown.targets.systemd_read import parse_env_file

log = logging.getLogger("servicedown.chaos")

ENGINE, POSTGRES, TOXIPROXY = "qbitel-engine", "postgres", "toxiproxy"
ENGINE_PORT = 8000
DATA_DIR = "/var/lib/qbitel"
TLS_DIR = "/etc/qbitel/tls"
PROXY = "postgres"  # the toxiproxy proxy between the engine and Postgres
DB_USER, DB_NAME = "qbitel_user", "qbitel"

# Engine settings that differ from the reference compose file, and why:
ENGINE_TUNING = {
    # the startup probe's minimum time; 5 s would only add 5 s to every recovery
    "QBITEL_STARTUP_GRACE_SECONDS": "0.5",
    # no load balancer drains this engine; 5 s would add 5 s to every platform restart
    "QBITEL_DRAIN_SECONDS": "0.5",
    # the heartbeat writes the data dir and logs fd pressure: faults show in the logs in 1 s
    "QBITEL_HEARTBEAT_SECONDS": "1",
    # after a database fault the breaker would refuse reads for 30 s; verification reads back
    "QBITEL_BREAKER_RECOVERY_SECONDS": "3",
}


def _env(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    return (environ if environ is not None else os.environ).get(name) or default


@dataclass(frozen=True)
class StackConfig:
    engine_image: str = "qbitel-engine:local"
    postgres_image: str = "qbitel-postgres:local"
    toxiproxy_image: str = "qbitel-toxiproxy:2.12.0"
    engine_memory: str = "256m"  # memory and memory+swap: the OOM killer acts at this limit
    engine_cpus: float = 1.0  # a quota the CPU hog can saturate on a 2-core machine
    data_dir_size: str = "16m"
    max_connections: int = 40  # small, so exhausting it takes 40 connections, not 200
    startup_timeout_s: float = 90.0
    engine_profile: str = "reference"  # the engine's QBITEL_ENGINE_PROFILE: reference | real-shape
    # Variables the engine gets on top of the stack's own (a deployment's settings and secrets
    # in their own shapes); DATABASE_PASSWORD, JWT_SECRET and ENCRYPTION_KEY replace the
    # stack's random ones, and Postgres is given the same DATABASE_PASSWORD.
    engine_env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackConfig:
        """Image names from QBITEL_*_IMAGE, so CI with a registry can use upstream images; the
        engine's profile from QBITEL_ENGINE_PROFILE; extra engine variables from the env file
        QBITEL_ENGINE_ENV_FILE names (KEY=VALUE lines)."""
        env_file = _env("QBITEL_ENGINE_ENV_FILE", "", environ)
        try:
            extra = parse_env_file(Path(env_file).read_text()) if env_file else {}
        except OSError as exc:
            raise StackError(f"QBITEL_ENGINE_ENV_FILE '{env_file}' cannot be read: "
                             f"{exc.strerror or exc}") from None
        return cls(
            engine_image=_env("QBITEL_ENGINE_IMAGE", cls.engine_image, environ),
            postgres_image=_env("QBITEL_POSTGRES_IMAGE", cls.postgres_image, environ),
            toxiproxy_image=_env("QBITEL_TOXIPROXY_IMAGE", cls.toxiproxy_image, environ),
            engine_profile=_env("QBITEL_ENGINE_PROFILE", cls.engine_profile, environ),
            engine_env=tuple(extra.items()),
        )


@dataclass(frozen=True)
class EngineSpec:
    """What the engine container is made from; experiments change it by recreating."""

    name: str  # the baseline it stands for: "default", "tls", "low-nofile", or a fault's
    env: dict[str, str] = field(default_factory=dict, compare=True)
    nofile: int | None = None
    cpus: float | None = None  # None: the stack's engine_cpus
    files: tuple[tuple[str, bytes], ...] = ()  # (path, content) copied in before start
    tls: bool = False

    def changed(self, name: str, set_env: Mapping[str, str] | None = None,
                unset: tuple[str, ...] = (), **other: Any) -> EngineSpec:
        env = {k: v for k, v in self.env.items() if k not in unset}
        env.update(set_env or {})
        return replace(self, name=name, env=env, **other)


def make_secret(name: str, length: int = 48) -> str:
    """A random value the engine's own rules accept (no weak word, long enough)."""
    while True:
        value = secrets.token_urlsafe(length)[:length]
        if secret_rules.assess_one(name, value).ok:
            return value


class StackError(RuntimeError):
    """The stack could not be brought up or changed; the message says which part."""


class ChaosStack:
    """One throwaway stack; `with ChaosStack() as stack:` removes everything it made."""

    def __init__(self, config: StackConfig | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        # Ryuk would need an image that is not always there; cleanup is the harness's own.
        os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
        testcontainers_config.ryuk_disabled = True
        self.config = config or StackConfig.from_env()
        self.run_id = f"sdchaos-{secrets.token_hex(5)}"
        self.host = socket.gethostname()
        # Who owns this run, precisely enough that another run's sweep can tell whether this
        # process is alive (see owner.py); without a full identity nobody else sweeps it.
        me = LocalProc().me() or Owner("", "", os.getpid(), "", self.host)
        self.labels = {LABEL: self.run_id, **me.labels()}
        self.progress = progress or (lambda line: log.warning("%s", line))
        self.client = docker.from_env(timeout=30)
        self.docker = DockerBackend(client=self.client)  # bounded commands in this run's containers
        self.db_password = dict(self.config.engine_env).get("DATABASE_PASSWORD") \
            or make_secret("DATABASE_PASSWORD")
        self.baselines = self._baselines()
        self.engine_spec = self.baselines["default"]
        self.engine_port: int | None = None
        self.pg_port: int | None = None
        self.toxiproxy: Toxiproxy | None = None
        self.window_start = time.time()  # start of the incident window (see mark_window)
        self.network: Any = None
        self.cleanup_report: dict[str, Any] | None = None
        self._guard: cleanup.Guard | None = None
        self._closed = False

    # --- what the engine is made from ------------------------------------------------------
    def _baselines(self) -> dict[str, EngineSpec]:
        env = {
            "QBITEL_ENVIRONMENT": "production",
            "DATABASE_HOST": TOXIPROXY,
            "DATABASE_PORT": "5432",
            "DATABASE_NAME": DB_NAME,
            "DATABASE_USER": DB_USER,
            "DATABASE_PASSWORD": self.db_password,
            "JWT_SECRET": make_secret("JWT_SECRET"),
            "ENCRYPTION_KEY": make_secret("ENCRYPTION_KEY"),
            "QBITEL_DATA_DIR": DATA_DIR,
            "QBITEL_ENGINE_PROFILE": self.config.engine_profile,
            **ENGINE_TUNING,
            **dict(self.config.engine_env),
        }
        default = EngineSpec("default", env)
        pair = make_pair()
        tls = default.changed(
            "tls",
            {"TLS_ENABLED": "true", "TLS_CERT_FILE": f"{TLS_DIR}/cert.pem",
             "TLS_KEY_FILE": f"{TLS_DIR}/key.pem"},
            files=((f"{TLS_DIR}/cert.pem", pair.cert_pem), (f"{TLS_DIR}/key.pem", pair.key_pem)),
            tls=True,
        )
        return {"default": default, "tls": tls,
                "low-nofile": default.changed("low-nofile", nofile=64),
                # Half a core: busy loops saturate it even when other work shares the host.
                "low-cpu": default.changed("low-cpu", cpus=0.5)}

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ChaosStack:
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def up(self) -> ChaosStack:
        self._guard = cleanup.Guard(self.close)
        sweep = cleanup.sweep_orphans(self.client)
        for run_id, why in sweep.swept.items():
            self.progress(f"removed the leftovers of chaos run {run_id}: {why}")
        start = time.monotonic()
        self.network = Network(docker_network_kw={"labels": dict(self.labels)})
        self.network.name = f"{self.run_id}-net"
        self.network.create()
        volume = self.client.volumes.create(name=f"{self.run_id}-pgdata", labels=dict(self.labels))
        pg = self._postgres(volume.name).start()
        tp = self._toxiproxy().start()
        self.pg_port = int(pg.get_exposed_port(5432))
        self.toxiproxy = Toxiproxy(f"http://127.0.0.1:{tp.get_exposed_port(8474)}")
        self._wait(self._toxiproxy_up, 30, "toxiproxy's API")
        self.toxiproxy.create_proxy(PROXY, "0.0.0.0:5432", f"{POSTGRES}:5432")
        # The engine starts only once Postgres answers: its first connection errors would
        # otherwise sit in its logs and read as a database fault in every steady state.
        if not self.wait_postgres_ready(60):
            raise StackError("Postgres did not become ready within 60s")
        self._start_engine(self.engine_spec)
        healthy, last = self.wait_engine_healthy(self.config.startup_timeout_s)
        if not healthy:
            raise StackError(f"the engine did not become healthy: {last}")
        self.progress(f"chaos stack {self.run_id} up in {time.monotonic() - start:.1f}s: "
                      f"engine {self.engine_url}, toxiproxy {self.toxiproxy.base_url}")
        return self

    def close(self) -> dict[str, Any]:
        """Revert toxiproxy, then remove every container, network and volume of this run.
        Idempotent; returns (and keeps) what it found and what is left."""
        if self._closed:
            return self.cleanup_report or {}
        self._closed = True
        report: dict[str, Any] = {"run_id": self.run_id, "toxics_at_close": None, "errors": []}
        with cleanup.sigint_deferred():
            if self.toxiproxy is not None:
                try:
                    report["toxics_at_close"] = self.toxiproxy.toxics()
                    report["proxy_enabled_at_close"] = self.toxiproxy.enabled(PROXY)
                    self.toxiproxy.reset()
                    report["toxics_after_reset"] = self.toxiproxy.toxics()
                except ToxiproxyError as exc:
                    report["errors"].append(str(exc))
                self.toxiproxy.close()
            left: Leftovers = cleanup.remove_run(self.client, self.run_id, report["errors"])
            report["leftovers"] = left.to_json()
            if self._guard is not None:
                self._guard.release()
        self.cleanup_report = report
        self.progress(f"chaos stack {self.run_id} removed"
                      + ("" if left.empty else f"; LEFT OVER: {left.to_json()}"))
        return report

    # --- containers ---------------------------------------------------------------------------
    def _labels(self, service: str) -> dict[str, str]:
        return {**self.labels, PROJECT_LABEL: self.run_id, SERVICE_LABEL: service}

    def _container(self, image: str, service: str, **kwargs: Any) -> Any:
        return DockerContainer(
            image, name=f"{self.run_id}-{service}", network=self.network,
            network_aliases=[service], labels=self._labels(service),
            restart_policy={"Name": "unless-stopped"}, **kwargs,
        )

    def _postgres(self, volume: str) -> Any:
        c = self._container(
            self.config.postgres_image, POSTGRES,
            command=["postgres", "-c", f"max_connections={self.config.max_connections}"],
            env={"POSTGRES_USER": DB_USER, "POSTGRES_PASSWORD": self.db_password,
                 "POSTGRES_DB": DB_NAME},
        )
        c.with_volume_mapping(volume, "/var/lib/postgresql/data", "rw")
        # Published on loopback only: the harness holds connections for pool exhaustion.
        c.ports["5432/tcp"] = ("127.0.0.1", free_port())
        return c

    def _toxiproxy(self) -> Any:
        c = self._container(self.config.toxiproxy_image, TOXIPROXY, command=["-host=0.0.0.0"])
        c.ports["8474/tcp"] = ("127.0.0.1", free_port())
        return c

    def _start_engine(self, spec: EngineSpec) -> None:
        scheme = "https" if spec.tls else "http"
        extra: dict[str, Any] = {}
        if spec.nofile:
            extra["ulimits"] = [docker.types.Ulimit(name="nofile", soft=spec.nofile,
                                                    hard=spec.nofile)]
        c = self._container(
            self.config.engine_image, ENGINE, env=dict(spec.env),
            mem_limit=self.config.engine_memory, memswap_limit=self.config.engine_memory,
            nano_cpus=int((spec.cpus or self.config.engine_cpus) * 1e9),
            # The reference compose file's healthcheck, every second instead of every 5.
            healthcheck={"test": ["CMD", "curl", "-fsSk", "-o", "/dev/null",
                                  f"{scheme}://localhost:{ENGINE_PORT}/health"],
                         "interval": 1_000_000_000, "timeout": 3_000_000_000, "retries": 3},
            **extra,
        )
        c.tmpfs[DATA_DIR] = f"size={self.config.data_dir_size}"
        # A fixed host port, like the compose file's 8000: one base URL for the whole session.
        self.engine_port = self.engine_port or free_port()
        c.ports[f"{ENGINE_PORT}/tcp"] = ("127.0.0.1", self.engine_port)
        for path, data in spec.files:
            c.with_copy_into_container(data, path, 0o600)
        c.start()
        self.engine_port = int(c.get_exposed_port(ENGINE_PORT))
        self.engine_spec = spec

    def container(self, service: str) -> Any:
        """The docker SDK container of one service of this run (looked up afresh: the engine
        may have been recreated). Refuses anything without this run's label."""
        found = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL}={self.run_id}", f"{SERVICE_LABEL}={service}"]})
        if not found:
            raise StackError(f"no {service} container in chaos run {self.run_id}")
        return ensure_owned(found[0], self.run_id)

    def mark_window(self) -> None:
        """Start the incident window now, on a whole second: Docker's event filter counts in
        seconds, so events of a container removed just before must fall outside it."""
        time.sleep(math.ceil(time.time()) - time.time() + 0.01)
        self.window_start = float(math.floor(time.time()))

    def recreate_engine(self, spec: EngineSpec, wait: bool = False) -> None:
        """Replace only the engine container (same name, labels, network alias and host port).
        The incident window restarts after the old one is gone."""
        old = self.container(ENGINE)
        old.remove(force=True, v=True)
        self.mark_window()
        self._start_engine(spec)
        if wait:
            healthy, last = self.wait_engine_healthy(self.config.startup_timeout_s)
            if not healthy:
                raise StackError(f"the recreated engine ({spec.name}) is not healthy: {last}")

    def redactor(self) -> Redactor:
        """Masks every secret this stack's engine was or is given (the journal's and the
        harness's own messages go through it)."""
        specs = [*self.baselines.values(), self.engine_spec]
        return Redactor([*(v for spec in specs for v in secret_rules.secret_values(spec.env)),
                         self.db_password])

    # --- where things are ------------------------------------------------------------------
    @property
    def engine_url(self) -> str:
        scheme = "https" if self.engine_spec.tls else "http"
        return f"{scheme}://127.0.0.1:{self.engine_port}"

    def settings(self, **overrides: Any) -> Settings:
        """Settings that point the unchanged checks at this stack, with short samples."""
        window = max(1, int(time.time()) - int(self.window_start))
        values: dict[str, Any] = {
            "target": "compose", "compose_project": self.run_id, "base_url": self.engine_url,
            "service": ENGINE, "db_service": POSTGRES, "cpu_sample_s": 0.5,
            "http_timeout_s": 3.0, "check_timeout_s": 6.0, "event_window_s": window,
        }
        values.update(overrides)
        return Settings(**values)

    def target(self) -> ComposeTarget:
        """The target the checks diagnose: this stack's Compose project, logs and events of
        the current incident window only."""
        return ComposeTarget(self.settings(), self.docker, since=self.window_start)

    def pg_connect_kwargs(self) -> dict[str, Any]:
        """The harness's own connection to Postgres (published on loopback only)."""
        return {"host": "127.0.0.1", "port": self.pg_port, "user": DB_USER,
                "password": self.db_password, "dbname": DB_NAME, "connect_timeout": 3}

    # --- waiting ---------------------------------------------------------------------------
    def _wait(self, ok: Callable[[], bool], timeout_s: float, what: str) -> None:
        if not polling.until(ok, timeout_s):
            raise StackError(f"{what} not ready within {timeout_s:.0f}s")

    def _toxiproxy_up(self) -> bool:
        try:
            assert self.toxiproxy is not None
            self.toxiproxy.version()
            return True
        except ToxiproxyError:
            return False

    def wait_postgres_ready(self, timeout_s: float) -> bool:
        """pg_isready over TCP: the init script's temporary server listens on the socket only."""
        return bool(polling.until(self._postgres_ready, timeout_s))

    def _postgres_ready(self) -> bool:
        try:
            c = self.container(POSTGRES)
            return c.status == "running" and self.docker.exec(
                c.id, ["pg_isready", "-h", "127.0.0.1", "-U", DB_USER, "-d", DB_NAME, "-t", "2"], 5).ok
        except Exception as exc:  # the container may be between states
            log.debug("postgres not ready yet: %s", exc)
            return False

    def wait_engine_healthy(self, timeout_s: float) -> tuple[bool, str]:
        return wait_healthy(self.engine_url, timeout_s, interval_s=0.2)
