"""Engine settings, read once from the environment after startup validation.

Variables (default):
  QBITEL_ENVIRONMENT (production)   QBITEL_VERSION (1.0.0)
  QBITEL_HOST (0.0.0.0)             QBITEL_PORT (8000)
  QBITEL_DATA_DIR (/var/lib/qbitel) QBITEL_DRAIN_SECONDS (5)
  QBITEL_STARTUP_GRACE_SECONDS (5)  QBITEL_STARTUP_TIMEOUT_SECONDS (300)
  QBITEL_BREAKER_FAILURE_THRESHOLD (5)  QBITEL_BREAKER_RECOVERY_SECONDS (30)
  QBITEL_HEARTBEAT_SECONDS (5)      QBITEL_JOURNAL_MAX_BYTES (64 MiB)
  QBITEL_ACCESS_LOG (false)         QBITEL_EVENT_LOOP (uvloop | asyncio)
  DATABASE_HOST|PORT|NAME|USER|PASSWORD (localhost, 5432, qbitel, qbitel_user, "")
  DB_POOL_SIZE (10)  DB_POOL_MAX_OVERFLOW (20)  DB_POOL_TIMEOUT (30 s)
  TLS_ENABLED (false)  TLS_CERT_FILE  TLS_KEY_FILE
  JWT_SECRET, ENCRYPTION_KEY: only checked by startup validation.
  QBITEL_ENGINE_PROFILE (reference | real-shape)   QBITEL_ENGINE_HTTP500 (false)
  QBITEL_METRICS_PORT (9090) and QBITEL_GRPC_PORT (50051): real-shape only.

QBITEL_ENGINE_PROFILE picks how the engine behaves. ``reference`` (default) is the engine of
the contract: plain-text logs, every probe mounted, /metrics on the REST port, /health judging
the database. ``real-shape`` behaves like the real engine as observed running (JSON logs and
their noise, only /health, metrics on their own port, a REST port that can die while the
process lives on); ``real_shape/__init__.py`` says what each part reproduces.
QBITEL_ENGINE_HTTP500=true, with either profile, turns on the real engine's request-tracking
bug: every request on the REST port answers 500.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from . import DEFAULT_VERSION

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class SettingsError(ValueError):
    """A variable holds a value the engine cannot use (never a secret's value)."""


def parse_flag(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS


class Profile(StrEnum):
    REFERENCE = "reference"
    REAL_SHAPE = "real-shape"


def read_profile(env: Mapping[str, str]) -> Profile:
    """The profile named by QBITEL_ENGINE_PROFILE; unset or empty means reference."""
    raw = (env.get("QBITEL_ENGINE_PROFILE") or "").strip().lower()
    if not raw:
        return Profile.REFERENCE
    try:
        return Profile(raw)
    except ValueError:
        names = " or ".join(p.value for p in Profile)
        raise SettingsError(f"QBITEL_ENGINE_PROFILE must be {names}, got {raw[:40]!r}") from None


def environment_name(env: Mapping[str, str]) -> str:
    # The reference engine defaults to production: the runbook is about production.
    return (env.get("QBITEL_ENVIRONMENT") or "production").strip().lower()


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw[:40]!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum:g}, got {raw[:40]!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw[:40]!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {raw[:40]!r}")
    return value


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    name: str
    user: str
    password: str = field(repr=False)
    pool_size: int = 10
    pool_max_overflow: int = 20
    pool_timeout: float = 30.0

    @property
    def pool_max_size(self) -> int:
        return self.pool_size + self.pool_max_overflow

    def conninfo(self, *, connect_timeout: int = 5) -> str:
        """libpq connection string; it holds the password, so never log it."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=str(self.port),
            dbname=self.name,
            user=self.user,
            password=self.password,
            connect_timeout=str(max(2, connect_timeout)),
            application_name="qbitel-engine",
            # Keepalives notice a silently dead peer (network partition) that
            # would otherwise hang a pooled connection for minutes.
            keepalives="1",
            keepalives_idle="10",
            keepalives_interval="5",
            keepalives_count="3",
        )


@dataclass(frozen=True)
class Settings:
    environment: str
    version: str
    host: str
    port: int
    data_dir: Path
    database: DatabaseSettings
    drain_seconds: float
    startup_grace_seconds: float
    startup_timeout_seconds: float
    breaker_failure_threshold: int
    breaker_recovery_seconds: float
    heartbeat_seconds: float
    journal_max_bytes: int
    tls_enabled: bool
    tls_cert_file: str | None
    tls_key_file: str | None
    access_log: bool
    event_loop: str
    profile: Profile = Profile.REFERENCE
    http500: bool = False
    metrics_port: int = 9090
    grpc_port: int = 50051

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def scheme(self) -> str:
        return "https" if self.tls_enabled else "http"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        db_port = _integer(env, "DATABASE_PORT", 5432, minimum=1)
        port = _integer(env, "QBITEL_PORT", 8000, minimum=1)
        if db_port > 65535 or port > 65535:
            raise SettingsError("DATABASE_PORT and QBITEL_PORT must be 1-65535")
        metrics_port = _integer(env, "QBITEL_METRICS_PORT", 9090, minimum=1)
        grpc_port = _integer(env, "QBITEL_GRPC_PORT", 50051, minimum=1)
        if metrics_port > 65535 or grpc_port > 65535:
            raise SettingsError("QBITEL_METRICS_PORT and QBITEL_GRPC_PORT must be 1-65535")
        event_loop = (env.get("QBITEL_EVENT_LOOP") or "uvloop").strip().lower()
        if event_loop not in ("uvloop", "asyncio"):
            raise SettingsError(f"QBITEL_EVENT_LOOP must be uvloop or asyncio, got {event_loop!r}")
        database = DatabaseSettings(
            host=env.get("DATABASE_HOST") or "localhost",
            port=db_port,
            name=env.get("DATABASE_NAME") or "qbitel",
            user=env.get("DATABASE_USER") or "qbitel_user",
            password=env.get("DATABASE_PASSWORD") or "",
            pool_size=_integer(env, "DB_POOL_SIZE", 10, minimum=1),
            pool_max_overflow=_integer(env, "DB_POOL_MAX_OVERFLOW", 20, minimum=0),
            pool_timeout=_number(env, "DB_POOL_TIMEOUT", 30.0, minimum=0.1),
        )
        return cls(
            environment=environment_name(env),
            version=env.get("QBITEL_VERSION") or DEFAULT_VERSION,
            host=env.get("QBITEL_HOST") or "0.0.0.0",
            port=port,
            data_dir=Path(env.get("QBITEL_DATA_DIR") or "/var/lib/qbitel"),
            database=database,
            drain_seconds=_number(env, "QBITEL_DRAIN_SECONDS", 5.0),
            startup_grace_seconds=_number(env, "QBITEL_STARTUP_GRACE_SECONDS", 5.0),
            startup_timeout_seconds=_number(env, "QBITEL_STARTUP_TIMEOUT_SECONDS", 300.0),
            breaker_failure_threshold=_integer(env, "QBITEL_BREAKER_FAILURE_THRESHOLD", 5, minimum=1),
            breaker_recovery_seconds=_number(env, "QBITEL_BREAKER_RECOVERY_SECONDS", 30.0),
            heartbeat_seconds=_number(env, "QBITEL_HEARTBEAT_SECONDS", 5.0, minimum=0.1),
            journal_max_bytes=_integer(env, "QBITEL_JOURNAL_MAX_BYTES", 64 * 1024 * 1024, minimum=4096),
            tls_enabled=parse_flag(env.get("TLS_ENABLED")),
            tls_cert_file=env.get("TLS_CERT_FILE") or None,
            tls_key_file=env.get("TLS_KEY_FILE") or None,
            access_log=parse_flag(env.get("QBITEL_ACCESS_LOG")),
            event_loop=event_loop,
            profile=read_profile(env),
            http500=parse_flag(env.get("QBITEL_ENGINE_HTTP500")),
            metrics_port=metrics_port,
            grpc_port=grpc_port,
        )
