"""Runbook Common Cause 3: Database Connection Issues (and Resolution: pg_isready)."""

import pytest


@pytest.mark.runbook("db-down")
def test_database_ready(expect):
    expect("database.ready")


@pytest.mark.runbook("db-network")
def test_database_reachable_from_engine(expect):
    expect("database.reachable")


@pytest.mark.runbook("db-pool-exhausted")
def test_connection_pool_not_exhausted(expect):
    expect("database.connections")
