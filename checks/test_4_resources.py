"""Runbook Common Cause 2: Resource Exhaustion (and Resolution: df -h, free -h)."""

import pytest


@pytest.mark.runbook("cpu")
def test_cpu_not_saturated(expect):
    expect("resources.cpu")


@pytest.mark.runbook("oom")
def test_memory_below_limit(expect):
    expect("resources.memory")


@pytest.mark.runbook("disk-full")
def test_disk_not_full(expect):
    expect("resources.disk")


@pytest.mark.runbook("fd-limit")
def test_file_descriptors_below_limit(expect):
    expect("resources.fds")
