"""Runbook Diagnosis 2: Check recent logs (one assertion per pattern family)."""

import pytest

pytestmark = pytest.mark.runbook("step:recent-logs")


@pytest.mark.runbook("crash")
def test_no_stack_traces(expect):
    expect("logs.stack_trace")


@pytest.mark.runbook("oom")
def test_no_out_of_memory_errors(expect):
    expect("logs.oom")


@pytest.mark.runbook("config-invalid")
def test_no_configuration_errors(expect):
    expect("logs.config_error")


@pytest.mark.runbook("config-invalid")
def test_no_critical_validation_failures(expect):
    expect("logs.validation")


@pytest.mark.runbook("category:database")
def test_no_database_connection_errors(expect):
    expect("logs.db_error")


@pytest.mark.runbook("disk-full")
def test_no_disk_full_errors(expect):
    expect("logs.disk_full")


@pytest.mark.runbook("fd-limit")
def test_no_too_many_open_files(expect):
    expect("logs.fd_limit")


@pytest.mark.runbook("tls")
def test_no_tls_errors(expect):
    expect("logs.tls_error")
