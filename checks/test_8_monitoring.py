"""Runbook Related Alerts (HighMemoryUsage, HighCPUUsage, DatabaseConnectionFailures): what the
deployment's Prometheus saw over the event window (--prometheus-url; skipped without one)."""

import pytest


@pytest.mark.runbook("oom,cpu,category:database")
def test_no_related_alert_fired(expect):
    expect("monitoring.alerts")


@pytest.mark.runbook("oom")
def test_memory_stayed_below_its_limit(expect):
    expect("monitoring.memory")


@pytest.mark.runbook("cpu")
def test_cpu_stayed_below_its_quota(expect):
    expect("monitoring.cpu")


@pytest.mark.runbook("db-pool-exhausted")
def test_connections_stayed_below_max(expect):
    expect("monitoring.pool")


@pytest.mark.runbook("db-down")
def test_exporter_reached_postgres(expect):
    expect("monitoring.pg_up")
