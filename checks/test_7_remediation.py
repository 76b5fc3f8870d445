"""Runbook Resolution, Quick Fix (restart): runs only with --remediate; read-only otherwise."""

import pytest

from servicedown.remediation import restart_and_wait


@pytest.mark.runbook("step:restart")
def test_quick_fix_restart(diagnosis, settings):
    if not settings.remediate:
        pytest.skip("read-only run: pass --remediate to run the runbook's quick fix (restart)")
    if diagnosis["triage"].verdict == "healthy":
        pytest.skip("the service is healthy: nothing to remediate")
    outcome = restart_and_wait(settings, diagnosis["target"])
    diagnosis["remediation"] = outcome  # the terminal summary reports it
    assert outcome.healed, f"restart did not help: {outcome.message}; see 'If Restart Doesn't Help'"
