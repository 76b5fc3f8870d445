"""Real Prometheus and Alertmanager around the real engine: scraping, rules, webhook delivery.

Every test leaves the private stack as it found it: what it stops, it starts again and waits for.
"""

from __future__ import annotations

import re
import stat
import time
from pathlib import Path

import pytest

from tests.monitoring.stack import SETTINGS, MonitoringStack, WebhookListener, token_file
from tests.support import COMPOSE_DIR, ROOT, run

pytestmark = [pytest.mark.compose, pytest.mark.slow]

RULES = ROOT / "compose" / "monitoring" / "rules.yml"
COMPARISON = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*[\d.]+$")
ALERT_TIMEOUT_S = 90


def source_rules() -> dict[str, tuple[str, str]]:
    """alert -> (expression, for) as written in compose/monitoring/rules.yml."""
    text = RULES.read_text()
    found = re.findall(r"- alert: (\S+)\n\s+expr: (.+)\n\s+for: (\S+)", text)
    return {name: (expr.strip(), duration) for name, expr, duration in found}


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h)", duration))


def loaded_rules(stack: MonitoringStack) -> dict[str, dict]:
    groups = stack.api(stack.prometheus, "/api/v1/rules?type=alert")["data"]["groups"]
    return {rule["name"]: rule for group in groups for rule in group["rules"]}


def test_every_target_is_scraped_and_up(monitoring_stack: MonitoringStack) -> None:
    doc = monitoring_stack.api(monitoring_stack.prometheus, "/api/v1/targets?state=active")
    targets = {t["labels"]["job"]: t for t in doc["data"]["activeTargets"]}
    assert set(targets) == {"qbitel-engine", "postgres", "alertmanager"}
    assert {job: t["health"] for job, t in targets.items()} == dict.fromkeys(targets, "up")
    engine = targets["qbitel-engine"]
    assert engine["labels"]["service"] == "qbitel-engine"
    assert engine["scrapeUrl"] == "http://qbitel-engine:8000/metrics"  # QBITEL_ENGINE_METRICS_PORT's default
    assert targets["postgres"]["labels"]["service"] == "postgres"


def test_rules_loaded_are_the_source_rules_with_only_for_shortened(monitoring_stack: MonitoringStack) -> None:
    loaded = loaded_rules(monitoring_stack)
    source = source_rules()
    assert set(loaded) == set(source) == {
        "ServiceDown", "HighCPUUsage", "HighMemoryUsage", "DiskSpaceLow", "DatabaseConnectionFailures",
        "PostgresDown", "DatabaseConnectionPoolExhausted"}
    overrides = dict(item.split("=") for item in SETTINGS["QBITEL_ALERT_FOR"].split(","))
    scale = float(SETTINGS["QBITEL_ALERT_FOR_SCALE"])
    for name, (expr, duration) in source.items():
        assert loaded[name]["query"] == expr, name
        expected = seconds(overrides[name]) if name in overrides else seconds(duration) * scale
        assert loaded[name]["duration"] == pytest.approx(expected), name
        assert loaded[name]["health"] == "ok", (name, loaded[name].get("lastError"))


def test_every_rule_input_is_exported(monitoring_stack: MonitoringStack) -> None:
    """Each rule's expression without its threshold finds series: no rule waits on a misspelt or
    missing metric (the real DatabaseConnectionPoolExhausted expression finds none)."""
    for name, (expr, _) in source_rules().items():
        value = COMPARISON.sub("", expr)
        assert monitoring_stack.query(value), f"{name}: {value} finds no series"
    # The engine's figures are its container's: the memory limit is compose's mem_limit (512m).
    limit = monitoring_stack.query('qbitel_memory_limit_bytes{job="qbitel-engine"}')
    assert float(limit[0]["value"][1]) == 512 * 1024 * 1024
    cores = float(monitoring_stack.query("qbitel_cpu_limit_cores")[0]["value"][1])
    assert cores >= 1
    assert monitoring_stack.query('sum without (datname, state) (pg_stat_activity_count) > 0')
    assert not monitoring_stack.query("pg_stat_activity_count / pg_settings_max_connections")


def test_engine_stopped_fires_service_down_to_the_receiver_and_resolves(
        monitoring_stack: MonitoringStack, webhook: WebhookListener) -> None:
    token = token_file().read_text().strip()
    since = time.time()
    monitoring_stack.compose("stop", "qbitel-engine")
    try:
        firing = webhook.wait_for(lambda d: "ServiceDown" in d.names("firing"), since, ALERT_TIMEOUT_S,
                                  "a firing ServiceDown webhook")
    finally:
        monitoring_stack.compose("start", "qbitel-engine")
    assert firing.path == "/alertmanager"
    assert firing.authorization == f"Bearer {token}", "the webhook does not carry the token"
    alert = next(a for a in firing.body["alerts"] if a["labels"]["alertname"] == "ServiceDown")
    assert alert["labels"] | {"severity": "critical", "service": "qbitel-engine", "job": "qbitel-engine"} \
        == alert["labels"]
    assert alert["annotations"]["runbook"] == "runbooks/qbitel-service-down.md"
    resolved = webhook.wait_for(lambda d: "ServiceDown" in d.names("resolved"), firing.received_at,
                                ALERT_TIMEOUT_S, "a resolved ServiceDown webhook after the engine started")
    assert resolved.authorization == firing.authorization
    monitoring_stack.wait_healthy()


def test_postgres_stopped_fires_postgres_down(monitoring_stack: MonitoringStack,
                                              webhook: WebhookListener) -> None:
    since = time.time()
    monitoring_stack.compose("stop", "postgres")
    try:
        firing = webhook.wait_for(lambda d: "PostgresDown" in d.names("firing"), since, ALERT_TIMEOUT_S,
                                  "a firing PostgresDown webhook")
    finally:
        monitoring_stack.compose("start", "postgres")
    alert = next(a for a in firing.body["alerts"] if a["labels"]["alertname"] == "PostgresDown")
    assert (alert["labels"]["service"], alert["labels"]["severity"]) == ("postgres", "critical")
    webhook.wait_for(lambda d: "PostgresDown" in d.names("resolved"), firing.received_at, ALERT_TIMEOUT_S,
                     "a resolved PostgresDown webhook after Postgres started")
    monitoring_stack.wait_healthy()


def test_webhook_token_is_kept_secret(monitoring_stack: MonitoringStack) -> None:
    source = token_file()
    rendered = COMPOSE_DIR / ".monitoring" / SETTINGS["COMPOSE_PROJECT_NAME"] / "alertmanager"
    copy = rendered / "webhook.token"
    token = source.read_text().strip()
    assert len(token) >= 32
    for path in (source, copy):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.stat().st_uid == 0, path
    am = monitoring_stack.container("alertmanager")
    seen = [
        monitoring_stack.up_output,
        (rendered / "alertmanager.yml").read_text(),
        run(["docker", "logs", am], timeout=30).stdout + run(["docker", "logs", am], timeout=30).stderr,
        run(["docker", "inspect", am, monitoring_stack.container("prometheus")], timeout=30).stdout,
        monitoring_stack.stack_sh("status"),
        str(monitoring_stack.api(monitoring_stack.alertmanager, "/api/v2/status")),
    ]
    for text in seen:
        assert token not in text
    # Alertmanager reads the token from the file, as configured.
    config = monitoring_stack.api(monitoring_stack.alertmanager, "/api/v2/status")["config"]["original"]
    assert "credentials_file: /etc/alertmanager/webhook.token" in config


def test_status_shows_the_monitoring(monitoring_stack: MonitoringStack) -> None:
    out = monitoring_stack.stack_sh("status")
    for service in ("prometheus", "alertmanager", "postgres-exporter"):
        assert f"{monitoring_stack.container(service)} " in out
    targets = "targets: alertmanager up, postgres up, qbitel-engine up"
    assert re.search(rf"prometheus\s+http://127\.0\.0\.1:29090\s+ready; {targets}", out), out
    assert re.search(r"alertmanager\s+http://127\.0\.0\.1:29093\s+ready", out), out


def test_alertmanager_is_on_loopback_and_the_host_gateway_only(monitoring_stack: MonitoringStack) -> None:
    """Host networking must not open Alertmanager (or its cluster port) to every interface."""
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    port = int(SETTINGS["QBITEL_ALERTMANAGER_PORT"])
    local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # LISTEN
    assert "00000000:2386" not in local  # 0.0.0.0:9094, the cluster port
    on_port = {a.split(":")[0] for a in local if int(a.split(":")[1], 16) == port}
    assert "0100007F" in on_port  # 127.0.0.1
    assert "00000000" not in on_port  # not every interface
    assert len(on_port) == 2, on_port  # loopback and the host-gateway address
