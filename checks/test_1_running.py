"""Runbook Diagnosis 1: Check if the service is running."""

import pytest

pytestmark = pytest.mark.runbook("step:service-running")


def test_service_exists(expect):
    expect("running.exists")


def test_service_is_running(expect):
    expect("running.state")


def test_platform_health_status(expect):
    expect("running.health")


def test_no_restart_loop(expect):
    expect("running.restarts")


def test_last_exit_was_clean(expect):
    expect("running.exit_code")


@pytest.mark.runbook("oom")
def test_not_oom_killed(expect):
    expect("running.oom_killed")
