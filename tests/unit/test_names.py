"""Operator values that their platform forbids are refused at the settings layer, one clear
message each, before they can reach a command line or an API path as something else."""

from __future__ import annotations

import os
import subprocess

import pytest

from servicedown.config import Settings, SettingsError
from servicedown.probes import hostfacts
from servicedown.targets import systemd_read
from servicedown.targets.systemd import SystemdTarget

GOOD = {
    "systemd": [{"unit": u} for u in ("qbitel", "qbitel.service", "qbitel@blue.service",
                                      "getty@.service", "my_app-2:x")]
    + [{"host": h} for h in ("local://", "ssh://vm1", "ssh://admin@vm1:2222", "ssh://[::1]:22",
                             "paramiko://admin:pw@10.0.0.7", "docker://qbitel-systemd",
                             "podman://engine.1")],
    "kubernetes": [{"namespace": "qbitel", "deployment": "qbitel-engine.v2",
                    "selector": "app=qbitel-engine"},
                   {"selector": "app in (qbitel-engine, engine),tier!=db,!canary"},
                   {"selector": "example.com/app==x,app.kubernetes.io/name="}],
    "compose": [{"compose_project": "qbitel", "service": "qbitel-engine", "db_service": "db.1"},
                {"compose_project": "my_stack-2", "service": "Engine_1"}],
}
BAD = [
    ("systemd", {"unit": "--host=x"}, "--unit '--host=x' is not a systemd unit name"),
    ("systemd", {"unit": "-x"}, "not starting with '-'"),
    ("systemd", {"unit": "qbitel;reboot"}, "is not a systemd unit name"),
    ("systemd", {"unit": "qbitel service"}, "is not a systemd unit name"),
    ("systemd", {"unit": "qbitel.servce"}, "'.servce' is not a systemd unit type"),
    ("systemd", {"unit": "q" * 250}, "longer than the 255 characters"),
    ("systemd", {"host": "ssh://-oProxyCommand=touch%20x"}, "is not a host name or address"),
    ("systemd", {"host": "ssh://-oProxyCommand=x@vm1"}, "is not a user name"),
    ("systemd", {"host": "docker://--privileged"}, "is not a container name"),
    ("systemd", {"host": "vm1"}, "is not a host spec"),
    ("systemd", {"host": "ssh://admin:pw@vm1"}, "sshpass"),
    ("kubernetes", {"namespace": "../.."}, "--namespace '../..' is not a Kubernetes namespace"),
    ("kubernetes", {"namespace": "Qbitel"}, "is not a Kubernetes namespace"),
    ("kubernetes", {"namespace": "q" * 64}, "at most 63"),
    ("kubernetes", {"deployment": "engine/../x"}, "--deployment 'engine/../x' is not a Kubernetes name"),
    ("kubernetes", {"selector": ""}, "--selector '' is empty"),
    ("kubernetes", {"selector": "app=qbitel engine"}, "'qbitel engine' is not a label value"),
    ("kubernetes", {"selector": "app in (a,b"}, "unbalanced parentheses"),
    ("kubernetes", {"selector": "app=x&limit=1"}, "'x&limit=1' is not a label value"),
    ("kubernetes", {"selector": "-app=x"}, "'-app' is not a label key"),
    ("compose", {"compose_project": "QBITEL"}, "--compose-project 'QBITEL' is not a Compose project"),
    ("compose", {"compose_project": "-p"}, "is not a Compose project name"),
    ("compose", {"service": "--all"}, "--service '--all' is not a Compose service name"),
    ("compose", {"db_service": "a b"}, "--db-service 'a b' is not a Compose service name"),
]


@pytest.mark.parametrize(("target", "values"), [(t, v) for t, vs in GOOD.items() for v in vs])
def test_names_the_platform_accepts(target, values):
    Settings(target=target, **values)


@pytest.mark.parametrize(("target", "values", "message"), BAD)
def test_names_the_platform_forbids_are_one_clear_message(target, values, message):
    with pytest.raises(SettingsError) as err:
        Settings(target=target, **values)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_only_the_platform_in_use_is_judged():
    Settings(target="compose", unit="--host=x", namespace="../..")


class Recorder:
    """A host that records every command line and answers like systemd would."""

    spec = "docker://fake"
    probed = True

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, timeout: float, secret_output: bool = False):
        from servicedown.backends.command import CommandResult

        self.commands.append(command)
        out = "MainPID=0\n" if command.startswith("systemctl show -p MainPID") else \
            "EnvironmentFiles=/etc/qbitel/-qbitel.env (ignore_errors=no)\n" if "Environment" in command \
            else ""
        return CommandResult(0, out, "")


def test_values_reach_commands_after_a_double_dash():
    host = Recorder()
    target = SystemdTarget(Settings(target="systemd"), backend=host)
    target.service_pid()
    target.environment()
    target.read_file("-key.pem", 100)
    target.restart()
    assert host.commands == [
        "systemctl show -p MainPID -- qbitel",
        "systemctl show -p MainPID -- qbitel",
        "systemctl show -p Environment -p EnvironmentFiles -- qbitel",
        "cat -- /etc/qbitel/-qbitel.env",
        "head -c 100 -- -key.pem",
        "systemctl restart -- qbitel",
    ]


def test_state_script_passes_the_unit_after_a_double_dash(tmp_path):
    # A stand-in systemctl that records its arguments, one line per call.
    log = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", systemd_read.STATE_SCRIPT, "sh", "-odd", "-odd.service", "60", "Id"],
                   env=env, capture_output=True, timeout=30, check=False)
    calls = log.read_text().splitlines()
    assert calls and all(c.endswith("-- -odd") for c in calls if c.startswith("show")), calls


def test_resource_facts_take_a_data_dir_that_starts_with_a_dash(tmp_path):
    (tmp_path / "-data").mkdir()
    argv = hostfacts.command("1", 0.1, ["-data"])
    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=30).stdout
    assert "disk=-data " in out and "inodes=-data " in out, out
