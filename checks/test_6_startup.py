"""Runbook Common Cause 4: Startup Failure (and Resolution: validation, environment)."""

import pytest


@pytest.mark.runbook("missing-env")
def test_required_variables_set(expect):
    expect("startup.env")


@pytest.mark.runbook("config-invalid")
def test_secrets_strong_enough(expect):
    expect("startup.secrets")


@pytest.mark.runbook("config-invalid")
def test_startup_validation_passed(expect):
    expect("startup.validation")


@pytest.mark.runbook("tls")
def test_tls_certificate_and_key(expect):
    expect("startup.tls")
