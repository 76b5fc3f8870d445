"""The receiver's config file: where it listens, its token, the targets it may triage and the
routes from alert labels to them, what may be remediated, where the summary goes, its limits.

A label only selects a configured target: a route compares labels with fixed values, and a
target's settings come from this file (then SERVICEDOWN_* variables, then defaults), never from
a payload. Every mistake is one ConfigError naming the key and what to do, before anything
listens.

    listen: 127.0.0.1:9095
    token_file: ~/.cache/servicedown/webhook.token
    targets:
      engine:
        settings: {target: compose, compose_project: qbitel, prometheus_url: http://127.0.0.1:9090}
        remediate: [ServiceDown]        # alerts allowed to run the runbook's restart; default none
    routes:
      - match: {service: qbitel-engine}
        target: engine

Without a file: one target `default` from the SERVICEDOWN_* variables, routed from the reference
rules' `service` labels (qbitel-engine, postgres), remediating nothing.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from servicedown import config as cfg

DEFAULT_PORT = 9095
# ServiceDown and its Related Alerts (the runbook's), and the reference rules' database alerts.
DEFAULT_ALERTS = ("ServiceDown", "HighMemoryUsage", "HighCPUUsage", "DatabaseConnectionFailures",
                  "PostgresDown", "DatabaseConnectionPoolExhausted", "DiskSpaceLow")
MIN_TOKEN = 16
MAX_CONFIG_BYTES = 1 << 20


class ConfigError(ValueError):
    """The config cannot work; the message names the key and what to do."""


@dataclass(frozen=True)
class Limits:
    queue: int = 16  # triage runs waiting (one per target at most: repeats join the waiting run)
    requests_per_s: float = 10.0  # webhook requests, sustained; above it: 429
    burst: int = 50  # webhook requests at once before the rate applies
    body_bytes: int = 1 << 20  # a notification larger than this is refused (413)
    connections: int = 32  # connections served at once; more are answered 503 and closed
    timeout_s: float = 10.0  # a connection that sends nothing for this long is closed
    restart_wait_s: float = 90.0  # after the runbook's restart, the wait for /health at the most


@dataclass(frozen=True)
class TargetConfig:
    name: str
    settings: cfg.Settings
    remediate: tuple[str, ...] = ()  # alert names that may run the runbook's restart


@dataclass(frozen=True)
class Route:
    match: tuple[tuple[str, str], ...]  # every label must have exactly this value
    target: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match)


@dataclass(frozen=True)
class SummaryConfig:
    url: str = field(default="", repr=False)  # a chat webhook URL often is a secret: never shown
    token_file: Path | None = None

    @property
    def where(self) -> str:
        """The URL without its path and query, which may hold a secret."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class ReceiverConfig:
    host: str
    port: int
    token_file: Path
    targets: dict[str, TargetConfig]
    routes: tuple[Route, ...]
    reports_dir: Path
    alerts: tuple[str, ...] = DEFAULT_ALERTS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    summary: SummaryConfig = SummaryConfig()
    limits: Limits = Limits()
    interval_s: float = 0.0  # also run every target's checks this often (0: only on alerts)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def route(self, labels: Mapping[str, str]) -> str | None:
        return next((r.target for r in self.routes if r.matches(labels)), None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def cache_dir(environ: Mapping[str, str]) -> Path:
    """The project's cache (scripts/lib.sh's default), where stack.sh writes the token."""
    base = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "servicedown"
    return Path(environ.get("SERVICEDOWN_CACHE") or base)


def default_token_file(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("SERVICEDOWN_WEBHOOK_TOKEN_FILE") or cache_dir(environ) / "webhook.token")


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT', '[v6]:PORT' or ':PORT' (loopback)."""
    text = str(value).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        raise ConfigError(f"listen '{text}': use HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen '{text}': the port must be 1-65535")
    return host, int(port)


def read_token(path: Path) -> str:
    """The webhook's Bearer token; refused when the file is readable by others."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"token_file {path} does not exist: `scripts/stack.sh up` writes one, or "
                          "write 32+ random characters there yourself (mode 600)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"token_file {path} cannot be read: {exc}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"token_file {path} is readable by others (mode "
                          f"{stat.S_IMODE(st.st_mode):o}): `chmod 600 {path}`")
    if len(text) < MIN_TOKEN or any(c.isspace() for c in text):
        raise ConfigError(f"token_file {path}: the token must be at least {MIN_TOKEN} characters "
                          "without spaces")
    return text


def load(path: Path | None, environ: Mapping[str, str] | None = None, *, listen: str | None = None,
         reports_dir: Path | None = None, token_file: Path | None = None) -> ReceiverConfig:
    """The config from `path` (None: the defaults), with the command line's overrides."""
    env = dict(os.environ if environ is None else environ)
    doc: dict[str, Any] = {}
    if path is not None:
        doc = _read(path)
    where = str(path) if path is not None else "defaults"
    _known(doc, ("listen", "token_file", "tls", "reports_dir", "alerts", "targets", "routes",
                 "summary", "limits", "interval_s"), where)
    host, port = parse_listen(listen or doc.get("listen") or f"127.0.0.1:{DEFAULT_PORT}")
    base = path.parent if path is not None else Path.cwd()
    targets = _targets(doc.get("targets"), where, env)
    routes = _routes(doc.get("routes"), where, targets)
    tls = _section(doc, "tls", where)
    _known(tls, ("cert_file", "key_file"), f"{where}: tls")
    cert, key = _path(tls.get("cert_file"), base), _path(tls.get("key_file"), base)
    if (cert is None) != (key is None):
        raise ConfigError(f"{where}: tls needs both cert_file and key_file")
    conf = ReceiverConfig(
        host=host, port=port,
        token_file=token_file or _path(doc.get("token_file"), base) or default_token_file(env),
        targets=targets, routes=routes,
        reports_dir=reports_dir or _path(doc.get("reports_dir"), base) or Path("reports") / "incidents",
        alerts=_names(doc.get("alerts", list(DEFAULT_ALERTS)), f"{where}: alerts"),
        tls_cert=cert, tls_key=key,
        summary=_summary(doc, where, base), limits=_limits(doc, where),
        interval_s=_number(doc.get("interval_s", 0), f"{where}: interval_s", 0, 86400))
    if not conf.loopback and not conf.tls:
        raise ConfigError(f"listen {host}:{port} is beyond loopback: serve TLS (tls: cert_file, key_file) "
                          f"or listen on 127.0.0.1")
    return conf


def _read(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config")
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{at}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"config {path} must be a mapping of keys (listen, targets, routes, ...)")
    return doc


def _known(doc: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in doc if k not in keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(keys)}")


def _section(doc: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = doc.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {name} must be a mapping")
    return value


def _path(value: Any, base: Path) -> Path | None:
    if value in (None, ""):
        return None
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else base / p


def _number(value: Any, where: str, low: float, high: float) -> float:
    try:
        n = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a number") from None
    if not low <= n <= high:
        raise ConfigError(f"{where}: {n:g} is outside {low:g}-{high:g}")
    return n


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: a list of alert names")
    return tuple(value)


def _targets(raw: Any, where: str, env: dict[str, str]) -> dict[str, TargetConfig]:
    if raw is None:
        return {"default": TargetConfig("default", _settings({}, f"{where}: target default", env))}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{where}: targets must map a name to its settings")
    out = {}
    for name, body in raw.items():
        here = f"{where}: targets.{name}"
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{here}: a target's name is letters, digits, '-' and '_'")
        body = body or {}
        if not isinstance(body, dict):
            raise ConfigError(f"{here} must be a mapping (settings, remediate)")
        _known(body, ("settings", "remediate"), here)
        settings = _section(body, "settings", here)
        remediate = _names(body.get("remediate", []), f"{here}.remediate") if body.get("remediate") else ()
        out[name] = TargetConfig(name, _settings(settings, f"{here}.settings", env), remediate)
    return out


def _settings(values: dict[str, Any], where: str, env: dict[str, str]) -> cfg.Settings:
    known = {name: kind for name, kind, _ in cfg.option_names()}
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}: unknown setting {key!r}; known: {', '.join(known)}")
    if values.get("remediate"):
        raise ConfigError(f"{where}: remediate is not a setting here: list the alerts that may restart "
                          "the service under the target's `remediate`")
    try:
        typed = {k: cfg.coerce(k, known[k], v) for k, v in values.items()}
        # The receiver restarts only through a target's `remediate` list, never by a setting.
        return cfg.from_sources(typed, env).with_(remediate=False)
    except cfg.SettingsError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _routes(raw: Any, where: str, targets: dict[str, TargetConfig]) -> tuple[Route, ...]:
    if raw is None:
        if list(targets) != ["default"] and len(targets) != 1:
            raise ConfigError(f"{where}: with several targets, routes must say which alerts go where")
        only = next(iter(targets))
        # The reference rules' `service` labels (compose/monitoring/rules.yml).
        s = targets[only].settings
        return tuple(Route((("service", svc),), only) for svc in dict.fromkeys((s.service, s.db_service)))
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: routes must be a list of {{match: {{label: value}}, target: name}}")
    out = []
    for n, item in enumerate(raw, 1):
        here = f"{where}: routes[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{here} must be a mapping with match and target")
        _known(item, ("match", "target"), here)
        match = item.get("match")
        if not isinstance(match, dict) or not match or not all(
                isinstance(k, str) and isinstance(v, str | int) for k, v in match.items()):
            raise ConfigError(f"{here}: match must map label names to exact values")
        if item.get("target") not in targets:
            raise ConfigError(f"{here}: target {item.get('target')!r} is not one of the targets "
                              f"({', '.join(targets)})")
        out.append(Route(tuple(sorted((k, str(v)) for k, v in match.items())), item["target"]))
    return tuple(out)


def _summary(doc: dict[str, Any], where: str, base: Path) -> SummaryConfig:
    raw = _section(doc, "summary", where)
    _known(raw, ("webhook_url", "webhook_url_file", "token_file"), f"{where}: summary")
    url = str(raw.get("webhook_url") or "")
    url_file = _path(raw.get("webhook_url_file"), base)
    if url and url_file:
        raise ConfigError(f"{where}: summary takes webhook_url or webhook_url_file, not both")
    if url_file is not None:
        try:
            url = url_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: summary.webhook_url_file cannot be read: {exc.strerror}") from None
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{where}: summary's webhook URL is not an http(s) URL with a host")
    return SummaryConfig(url, _path(raw.get("token_file"), base))


def _limits(doc: dict[str, Any], where: str) -> Limits:
    raw = _section(doc, "limits", where)
    d = Limits()
    _known(raw, tuple(d.__dataclass_fields__), f"{where}: limits")
    here = f"{where}: limits"
    return Limits(
        queue=int(_number(raw.get("queue", d.queue), f"{here}.queue", 1, 1000)),
        requests_per_s=_number(raw.get("requests_per_s", d.requests_per_s), f"{here}.requests_per_s",
                               0.1, 10000),
        burst=int(_number(raw.get("burst", d.burst), f"{here}.burst", 1, 100000)),
        body_bytes=int(_number(raw.get("body_bytes", d.body_bytes), f"{here}.body_bytes", 1024, 64 << 20)),
        connections=int(_number(raw.get("connections", d.connections), f"{here}.connections", 1, 1024)),
        timeout_s=_number(raw.get("timeout_s", d.timeout_s), f"{here}.timeout_s", 0.5, 300),
        restart_wait_s=_number(raw.get("restart_wait_s", d.restart_wait_s), f"{here}.restart_wait_s",
                               5, 3600))
