"""Runbook Diagnosis 3: Check health endpoint directly."""

import pytest

pytestmark = pytest.mark.runbook("step:health-endpoint")


def test_health_endpoint_healthy(expect):
    expect("health.endpoint")


def test_liveness_probe(expect):
    expect("health.live")


def test_readiness_probe(expect):
    expect("health.ready")


def test_startup_probe(expect):
    expect("health.startup")


@pytest.mark.runbook("category:database")
def test_engine_reports_database_healthy(expect):
    expect("health.database")
