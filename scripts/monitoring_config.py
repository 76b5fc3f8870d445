"""Renders the stack's Prometheus and Alertmanager configuration from compose/monitoring/.

    python3 scripts/monitoring_config.py check        # validate the settings in the environment
    python3 scripts/monitoring_config.py render DIR   # DIR/prometheus/{prometheus,rules}.yml,
                                                      # DIR/alertmanager/alertmanager.yml

Settings (environment, default):
  QBITEL_ENGINE_METRICS_PORT (8000)  the engine's /metrics port inside its container
  QBITEL_ALERTMANAGER_PORT (9093)    where Alertmanager listens (127.0.0.1)
  QBITEL_PROMETHEUS_PORT (9090)      where Prometheus is published (127.0.0.1; checked only)
  QBITEL_SCRAPE_INTERVAL (5s)        scrape and rule evaluation interval, at least 2s
  QBITEL_ALERT_FOR_SCALE (1)         multiplies every rule's `for:` (0.05 makes 10m 30s)
  QBITEL_ALERT_FOR ("")              per rule, wins over the scale: "ServiceDown=10s,PostgresDown=10s"
  QBITEL_ALERT_WEBHOOK_URL (http://127.0.0.1:9095/alertmanager)
  QBITEL_ALERT_GROUP_WAIT (5s)  QBITEL_ALERT_GROUP_INTERVAL (30s)  QBITEL_ALERT_REPEAT_INTERVAL (1h)

Only the rules' `for:` lines change; their expressions stay as written. Standard library only:
stack.sh runs it with the system's python3. A bad value ends with exit status 2 and one line
naming the setting and what it takes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "compose" / "monitoring"
DEFAULTS = {
    "QBITEL_ENGINE_METRICS_PORT": "8000",
    "QBITEL_ALERTMANAGER_PORT": "9093",
    "QBITEL_PROMETHEUS_PORT": "9090",
    "QBITEL_SCRAPE_INTERVAL": "5s",
    "QBITEL_ALERT_FOR_SCALE": "1",
    "QBITEL_ALERT_FOR": "",
    "QBITEL_ALERT_WEBHOOK_URL": "http://127.0.0.1:9095/alertmanager",
    "QBITEL_ALERT_GROUP_WAIT": "5s",
    "QBITEL_ALERT_GROUP_INTERVAL": "30s",
    "QBITEL_ALERT_REPEAT_INTERVAL": "1h",
}
PORTS = ("QBITEL_ENGINE_METRICS_PORT", "QBITEL_ALERTMANAGER_PORT", "QBITEL_PROMETHEUS_PORT")
DURATIONS = ("QBITEL_SCRAPE_INTERVAL", "QBITEL_ALERT_GROUP_WAIT", "QBITEL_ALERT_GROUP_INTERVAL",
             "QBITEL_ALERT_REPEAT_INTERVAL")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
           "y": 31_536_000_000}
DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
ALERT_LINE = re.compile(r"^\s*- alert:\s*(\S+)\s*$")
FOR_LINE = re.compile(r"^(\s*for:\s*)(\S+)\s*$")
PLACEHOLDER = re.compile(r"\$\{(QBITEL_[A-Z_]+)\}")
# With Postgres down the exporter takes about a second to answer; a scrape that times out (the
# timeout is the interval) leaves pg_up unset, and PostgresDown could never fire.
MIN_SCRAPE_MS = 2000


class SettingError(ValueError):
    """A setting holds a value the stack cannot use; the message says which and what it takes."""


def duration_ms(text: str) -> int:
    """Milliseconds of a Prometheus duration such as 1m30s; ValueError when it is not one."""
    if not DURATION.match(text):
        raise ValueError(text)
    return sum(int(n) * UNIT_MS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))


def format_duration(ms: int) -> str:
    for unit in ("h", "m", "s"):
        if ms and ms % UNIT_MS[unit] == 0:
            return f"{ms // UNIT_MS[unit]}{unit}"
    return f"{ms}ms" if ms else "0s"


def rule_durations(rules_text: str) -> dict[str, str]:
    """Each alert's `for:` as written, in file order."""
    found: dict[str, str] = {}
    alert = None
    for line in rules_text.splitlines():
        if m := ALERT_LINE.match(line):
            alert = m.group(1)
        elif alert and (m := FOR_LINE.match(line)):
            found[alert] = m.group(2)
            alert = None
    return found


def _port(env: Mapping[str, str], name: str) -> str:
    value = env[name]
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise SettingError(f"{name} must be a port number 1-65535, got {value[:40]!r}")
    return value


def _duration(env: Mapping[str, str], name: str) -> str:
    value = env[name]
    if not DURATION.match(value) or duration_ms(value) == 0:
        raise SettingError(f"{name} must be a Prometheus duration such as 5s, 1m or 1h30m, "
                           f"got {value[:40]!r}")
    return value


def _scale(env: Mapping[str, str]) -> float:
    raw = env["QBITEL_ALERT_FOR_SCALE"]
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise SettingError(f"QBITEL_ALERT_FOR_SCALE must be a positive number such as 0.05, got {raw[:40]!r}")
    return value


def _overrides(env: Mapping[str, str], alerts: list[str]) -> dict[str, str]:
    raw = env["QBITEL_ALERT_FOR"]
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not DURATION.match(value):
            raise SettingError(f"QBITEL_ALERT_FOR takes ALERT=DURATION pairs such as ServiceDown=10s, "
                               f"got {item[:40]!r}")
        if name not in alerts:
            raise SettingError(f"QBITEL_ALERT_FOR names an unknown alert {name[:40]!r}; "
                               f"the rules are: {', '.join(alerts)}")
        result[name] = value
    return result


def _webhook(env: Mapping[str, str]) -> str:
    value = env["QBITEL_ALERT_WEBHOOK_URL"]
    if not re.match(r"^https?://[^\s\"'\\]+$", value):
        raise SettingError("QBITEL_ALERT_WEBHOOK_URL must be an http:// or https:// URL, "
                           f"e.g. http://127.0.0.1:9095/alertmanager, got {value[:60]!r}")
    return value


def settings(env: Mapping[str, str], rules_text: str) -> tuple[dict[str, str], dict[str, str]]:
    """-> (template values, each alert's `for:` to render); SettingError on a bad value."""
    merged = {name: env.get(name) or default for name, default in DEFAULTS.items()}
    values = {name: _port(merged, name) for name in PORTS}
    values |= {name: _duration(merged, name) for name in DURATIONS}
    interval = values["QBITEL_SCRAPE_INTERVAL"]
    if duration_ms(interval) < MIN_SCRAPE_MS:
        raise SettingError("QBITEL_SCRAPE_INTERVAL must be at least 2s (a shorter scrape of the Postgres "
                           f"exporter times out while Postgres is down), got {interval!r}")
    values["QBITEL_ALERT_WEBHOOK_URL"] = _webhook(merged)
    written = rule_durations(rules_text)
    scale = _scale(merged)
    durations = {name: format_duration(round(duration_ms(text) * scale)) for name, text in written.items()}
    durations |= _overrides(merged, list(written))
    return values, durations


def shorten(rules_text: str, durations: Mapping[str, str]) -> str:
    """The rules file with each alert's `for:` replaced; every other line as it was."""
    out, alert = [], None
    for line in rules_text.splitlines(keepends=True):
        if m := ALERT_LINE.match(line):
            alert = m.group(1)
        elif alert and (m := FOR_LINE.match(line)):
            line = f"{m.group(1)}{durations[alert]}\n"
            alert = None
        out.append(line)
    return "".join(out)


def fill(template: str, values: Mapping[str, str]) -> str:
    def value(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise SettingError(f"the template names an unknown setting {m.group(1)}")
        return values[m.group(1)]

    return PLACEHOLDER.sub(value, template)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)  # read by the containers' own users
    tmp.replace(path)


def render(out: Path, env: Mapping[str, str], source: Path = SOURCE) -> None:
    rules = (source / "rules.yml").read_text()
    values, durations = settings(env, rules)
    _write(out / "prometheus" / "prometheus.yml", fill((source / "prometheus.yml").read_text(), values))
    _write(out / "prometheus" / "rules.yml", shorten(rules, durations))
    _write(out / "alertmanager" / "alertmanager.yml", fill((source / "alertmanager.yml").read_text(), values))


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["check"] and len(argv) == 1:
            settings(os.environ, (SOURCE / "rules.yml").read_text())
        elif argv[:1] == ["render"] and len(argv) == 2:
            render(Path(argv[1]), os.environ)
        else:
            print("usage: monitoring_config.py check | render DIR", file=sys.stderr)
            return 2
    except SettingError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
