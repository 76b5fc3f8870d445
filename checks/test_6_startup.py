"""Runbook Common Cause 4: Startup Failure (and Resolution: validation, environment)."""

import pytest


@pytest.mark.runbook("cause-4.2")
def test_required_variables_set(expect):
    expect("startup.env")


@pytest.mark.runbook("cause-4.1")
def test_secrets_strong_enough(expect):
    expect("startup.secrets")


@pytest.mark.runbook("cause-4.1")
def test_startup_validation_passed(expect):
    expect("startup.validation")


@pytest.mark.runbook("cause-4.3")
def test_tls_certificate_and_key(expect):
    expect("startup.tls")
