"""Runbook Common Cause 3: Database Connection Issues (and Resolution: pg_isready)."""

import pytest


@pytest.mark.runbook("cause-3.1")
def test_database_ready(expect):
    expect("database.ready")


@pytest.mark.runbook("cause-3.3")
def test_database_reachable_from_engine(expect):
    expect("database.reachable")


@pytest.mark.runbook("cause-3.2")
def test_connection_pool_not_exhausted(expect):
    expect("database.connections")
