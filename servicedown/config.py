"""Settings: what to diagnose and how, from pytest options or environment variables.

Every option has an environment-variable twin (`SERVICEDOWN_<NAME>`), so CI jobs and on-call
shells can set a deployment once and run plain `pytest checks/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from servicedown import names
from servicedown.redact import redact

TARGET_KINDS = ("compose", "systemd", "kubernetes", "url")


class SettingsError(ValueError):
    """A setting that cannot work; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    target: str = "compose"
    base_url: str = "http://localhost:8000"
    # Compose
    compose_project: str = "qbitel"
    compose_file: str = ""
    service: str = "qbitel-engine"
    db_service: str = "postgres"
    # systemd
    unit: str = "qbitel"
    host: str = "local://"  # testinfra host spec: local://, ssh://user@host, docker://name
    # Kubernetes
    namespace: str = "qbitel"
    selector: str = "app=qbitel-engine"
    deployment: str = "qbitel-engine"
    kubeconfig: str = ""
    # Database; user and name empty = the engine's own DATABASE_USER / DATABASE_NAME
    db_user: str = ""
    db_name: str = ""
    db_host: str = ""  # checker's own connection (url target); empty = from the service's env
    db_port: int = 5432
    # Budgets and thresholds
    log_lines: int = 100
    http_timeout_s: float = 5.0
    latency_budget_s: float = 1.0
    check_timeout_s: float = 7.0
    cpu_sample_s: float = 0.5
    cpu_threshold: float = 0.90
    memory_threshold: float = 0.90
    disk_threshold: float = 0.95
    fd_threshold: float = 0.90
    connections_threshold: float = 0.90
    event_window_s: int = 600
    tls_warn_days: int = 14
    tls_cert_file: str = ""  # empty = TLS_CERT_FILE from the service's env
    tls_key_file: str = ""
    data_dir: str = ""  # empty = the engine's own QBITEL_DATA_DIR, else /var/lib/qbitel
    verify_tls: bool = False  # the service's own certificate is what we inspect
    remediate: bool = False

    def __post_init__(self) -> None:
        if self.target not in TARGET_KINDS:
            raise SettingsError(
                f"unknown target '{self.target}': use one of {', '.join(TARGET_KINDS)}"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"--base-url '{redact(self.base_url)}' is not an http(s) URL with a host;"
                " use e.g. http://localhost:8000"
            )
        try:
            _ = parts.port
        except ValueError as exc:
            raise SettingsError(f"--base-url '{redact(self.base_url)}': {exc}") from None
        if self.log_lines < 1:
            raise SettingsError("--log-lines must be at least 1")
        for problem in names.problems(self):
            raise SettingsError(problem)

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    # What messages and reports show of the two settings that may carry credentials
    # (https://monitor:pw@host, ssh://admin:pw@vm): the password, or a token given as the
    # user, masked. The values themselves are only ever handed to the clients that connect.
    @property
    def shown_base(self) -> str:
        return redact(self.base)

    @property
    def shown_host(self) -> str:
        return redact(self.host)

    def __repr__(self) -> str:
        # A traceback or `pytest --showlocals` prints the settings: never a credential.
        return redact(f"Settings({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields(self))})")

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def option_names() -> list[tuple[str, type, Any]]:
    """(name, type, default) of every plain setting, for the CLI and env layers."""
    out = []
    for f in fields(Settings):
        out.append((f.name, type(f.default), f.default))
    return out


def env_name(name: str) -> str:
    return "SERVICEDOWN_" + name.upper()


def coerce(name: str, kind: type, raw: Any) -> Any:
    if raw is None or isinstance(raw, kind):
        return raw
    text = str(raw).strip()
    try:
        if kind is bool:
            return text.lower() in ("1", "true", "yes", "on")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise SettingsError(f"{name}: '{text}' is not a valid {kind.__name__}") from None
    return text


def from_sources(cli: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from CLI values (None = not given), then SERVICEDOWN_* variables, then defaults."""
    cli = cli or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, kind, _default in option_names():
        raw = cli.get(name)
        if raw is None:
            raw = environ.get(env_name(name))
        if raw is not None and raw != "":
            values[name] = coerce(name, kind, raw)
    return Settings(**values)
