"""Settings: what to diagnose and how, from pytest options or environment variables.

Every option has an environment-variable twin (`SERVICEDOWN_<NAME>`), so CI jobs and on-call
shells can set a deployment once and run plain `pytest checks/`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from servicedown import names
from servicedown.redact import redact

TARGET_KINDS = ("compose", "systemd", "kubernetes", "url")


class SettingsError(ValueError):
    """Settings that cannot work; one line per bad value, each saying which and what to do."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Range:
    """What a numeric setting may be: finite, within [low, high] (low excluded if open)."""

    what: str  # the one line a user reads: what the value must be, with an example
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def admits(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high


# The range rules, by meaning; each field below names its rule next to its default.
RATIO = Range("a ratio between 0 and 1 (e.g. 0.9 for 90 %)", 0, 1, low_open=True)
SECONDS = Range("a number of seconds above 0, at most 86400 (e.g. 5)", 0, 86_400, low_open=True)
WHOLE_SECONDS = Range("a whole number of seconds from 1 to 31536000 (e.g. 600)", 1, 31_536_000)
PORT = Range("a port number from 1 to 65535 (e.g. 5432)", 1, 65_535)
LINES = Range("a whole number of lines from 1 to 1000000 (e.g. 100)", 1, 1_000_000)
DAYS = Range("a whole number of days from 0 to 36500 (e.g. 14)", 0, 36_500)
BOOL = "true or false (also 1/0, yes/no, on/off)"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _rule(default: Any, rule: Range) -> Any:
    return field(default=default, metadata={"range": rule})


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
    db_port: int = _rule(5432, PORT)
    # Budgets and thresholds
    log_lines: int = _rule(100, LINES)
    http_timeout_s: float = _rule(5.0, SECONDS)
    latency_budget_s: float = _rule(1.0, SECONDS)
    check_timeout_s: float = _rule(7.0, SECONDS)
    cpu_sample_s: float = _rule(0.5, SECONDS)
    cpu_threshold: float = _rule(0.90, RATIO)
    memory_threshold: float = _rule(0.90, RATIO)
    disk_threshold: float = _rule(0.95, RATIO)
    fd_threshold: float = _rule(0.90, RATIO)
    connections_threshold: float = _rule(0.90, RATIO)
    event_window_s: int = _rule(600, WHOLE_SECONDS)
    tls_warn_days: int = _rule(14, DAYS)
    tls_cert_file: str = ""  # empty = TLS_CERT_FILE from the service's env
    tls_key_file: str = ""
    data_dir: str = ""  # empty = the engine's own QBITEL_DATA_DIR, else /var/lib/qbitel
    verify_tls: bool = False  # the service's own certificate is what we inspect
    remediate: bool = False
    # The deployment's Prometheus (its alerts and series over the event window); empty = none named
    prometheus_url: str = ""

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
        if self.prometheus_url:
            prom = urlsplit(self.prometheus_url)
            if prom.scheme not in ("http", "https") or not prom.hostname:
                raise SettingsError(f"--prometheus-url '{redact(self.prometheus_url)}' is not an http(s) "
                                    "URL with a host; use e.g. http://127.0.0.1:9090")
        # Values given directly (not through from_sources) are held to the same rules.
        problems = [problem(f"{flag(f.name)} {getattr(self, f.name)}", f.metadata["range"],
                            getattr(self, f.name), whole=type(f.default) is int)
                    for f in fields(self) if "range" in f.metadata]
        problems = [p for p in problems if p] + list(names.problems(self))
        if problems:
            raise SettingsError(*problems)

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


# Help of the options whose name alone does not say enough.
HELP = {
    "target": "where the service runs: compose | systemd | kubernetes | url",
    "base_url": "the service's base URL (the runbook curls http://localhost:8000/health)",
    "compose_project": "Compose project name",
    "compose_file": "Compose file (informational; containers are found by project labels)",
    "service": "the engine's Compose service",
    "db_service": "the database's Compose service",
    "unit": "systemd unit of the engine",
    "host": "testinfra host running the unit: local://, ssh://user@host, docker://name",
    "namespace": "Kubernetes namespace",
    "selector": "Kubernetes label selector of the engine's pods",
    "deployment": "Kubernetes deployment to restart with --remediate",
    "kubeconfig": "kubeconfig path (default: in-cluster or ~/.kube/config)",
    "db_host": "probe the database from here at this host (url target)",
    "log_lines": "recent log lines to scan (runbook: 100)",
    "remediate": "run the runbook's quick fix (platform restart) when the service is not healthy",
    "prometheus_url": "the deployment's Prometheus: its alerts and series over the event window "
                      "(the reference stack's: http://127.0.0.1:9090)",
}


def option_help(name: str, default: Any) -> str:
    """An option's help for pytest and argparse alike: what, its range, its env twin, default."""
    text = HELP.get(name, name.replace("_", " "))
    rule = range_of(name)
    text += f" ({rule.what})" if rule else ""
    # argparse formats help with %: a literal one ("90 %") must be doubled.
    return (text + f" [env {env_name(name)}; default {default!r}]").replace("%", "%%")


def option_names() -> list[tuple[str, type, Any]]:
    """(name, type, default) of every plain setting, for the CLI and env layers."""
    out = []
    for f in fields(Settings):
        out.append((f.name, type(f.default), f.default))
    return out


def env_name(name: str) -> str:
    return "SERVICEDOWN_" + name.upper()


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def range_of(name: str) -> Range | None:
    return next((f.metadata.get("range") for f in fields(Settings) if f.name == name), None)


def problem(label: str, rule: Range, value: Any, whole: bool = False) -> str:
    """The one line saying what is wrong with a value, or "" when it is in range."""
    number = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, number) or not rule.admits(value):
        return f"{label}: {rule.what}"
    return ""


def coerce(name: str, kind: type, raw: Any, label: str | None = None) -> Any:
    """The typed value of one raw setting, in range; else SettingsError naming `label`
    (how the user gave it: `--log-lines 0` or `SERVICEDOWN_LOG_LINES=0`)."""
    if raw is None:
        return raw
    text = str(raw).strip()
    label = label or f"{flag(name)} {text}"
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if text.lower() not in _TRUE + _FALSE:
            raise SettingsError(f"{label}: {BOOL}")
        return text.lower() in _TRUE
    if kind is str:
        return text
    rule = range_of(name)
    try:
        # An int setting takes whole numbers only: "1.5" lines is a mistake, not 1 line.
        value = kind(text) if not isinstance(raw, kind) or isinstance(raw, bool) else raw
    except ValueError:
        what = rule.what if rule else f"a valid {kind.__name__}"
        raise SettingsError(f"{label}: {what}") from None
    if rule is not None and (msg := problem(label, rule, value, whole=kind is int)):
        raise SettingsError(msg)
    return value


def from_sources(cli: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from CLI values (None = not given), then SERVICEDOWN_* variables, then defaults.
    Every bad value is reported, one line each, in one SettingsError."""
    cli = cli or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, kind, _default in option_names():
        raw, label = cli.get(name), None
        if raw is None:
            raw = environ.get(env_name(name))
            label = f"{env_name(name)}={str(raw).strip()}" if raw is not None else None
        if raw is not None and raw != "":
            try:
                values[name] = coerce(name, kind, raw, label)
            except SettingsError as exc:
                problems += exc.problems
    if problems:
        raise SettingsError(*problems)
    return Settings(**values)
