"""systemd target: the service as a systemd unit on a host reached through testinfra.

The runbook's VM commands, as typed: `systemctl status qbitel`, `journalctl -u qbitel -n 100`,
`systemctl restart qbitel`. The host is a testinfra host spec (`local://`, `ssh://user@vm`,
`docker://qbitel-systemd`), so the same code reads a VM over SSH or the project's systemd
test container. How a command reaches the host is backends/host.py; what the answers mean is
systemd_read.py; this module says which commands answer which runbook question.
"""

from __future__ import annotations

import difflib
import shlex
from typing import Any

from servicedown.backends.command import BackendError, CommandResult
from servicedown.backends.host import HostBackend
from servicedown.config import Settings
from servicedown.redact import clip
from servicedown.targets import systemd_read as read
from servicedown.targets.base import LogLine, ServiceState, Target, TargetError, head_result


class SystemdTarget(Target):
    kind = "systemd"

    def __init__(self, settings: Settings, backend: HostBackend | None = None) -> None:
        super().__init__(settings)
        self.unit = settings.unit
        self.unit_id = read.unit_id(settings.unit)
        self.backend = backend or HostBackend(settings.host)

    # --- plumbing -------------------------------------------------------------------
    def describe(self) -> str:
        return f"systemd unit '{self.unit_id}' on {self.settings.shown_host}"

    def preflight(self) -> None:
        try:
            found = self.backend.probe(self.settings.check_timeout_s)
        except BackendError as exc:
            raise TargetError(str(exc)) from None
        if "no-systemctl" in found:
            raise TargetError(f"host '{self.settings.shown_host}' has no systemctl: it does not run "
                              "systemd; pick the target that matches how the service runs "
                              "(--target compose/kubernetes/url)")
        if "not-booted" in found:
            raise TargetError(f"host '{self.settings.shown_host}': System has not been booted with "
                              "systemd (PID 1 is not systemd), so there is no unit to ask; "
                              "point --host at the machine (or container) whose init is systemd")

    def _run(self, argv: list[str], timeout: float | None = None,
             secret_output: bool = False) -> CommandResult:
        if not self.backend.probed:
            self.preflight()
        return self.backend.run(shlex.join(argv), timeout or self.settings.check_timeout_s,
                                secret_output)

    def _show(self, *props: str) -> dict[str, str]:
        # "--" before every value given by an operator: a unit or path is never an option.
        res = self._run(["systemctl", "show", "-p", ",".join(props), "--", self.unit])
        if not res.ok:
            raise TargetError(f"systemctl show {self.unit} failed: "
                              f"{clip((res.stderr or res.stdout).strip(), 200)}")
        return read.props(res.stdout.splitlines())

    def missing_message(self) -> str:
        similar = self._similar_units()
        where = f"on {self.settings.shown_host}"
        if similar:
            return (f"systemd unit '{self.unit_id}' not found {where} (similar units: "
                    f"{', '.join(similar)}); check --unit")
        return (f"systemd unit '{self.unit_id}' not found {where}; 'systemctl list-units "
                "--type=service --all' shows the names there; check --unit")

    def _similar_units(self) -> list[str]:
        res = self.backend.run("systemctl list-unit-files --type=service --no-legend --no-pager; "
                               "systemctl list-units --type=service --all --no-legend --plain "
                               "--no-pager", self.settings.check_timeout_s)
        names = sorted({line.split()[0] for line in res.stdout.splitlines()
                        if line.split() and line.split()[0].endswith(".service")})
        stem = self.unit_id.removesuffix(".service")
        stems = {n.removesuffix(".service"): n for n in names}
        close = [stems[m] for m in difflib.get_close_matches(stem, list(stems), n=5, cutoff=0.6)]
        close += [n for n in names if stem in n and n not in close]
        return close[:5]

    # --- the runbook's questions -----------------------------------------------------
    def state(self) -> ServiceState:
        if not self.backend.probed:
            self.preflight()
        res = self.backend.script(read.STATE_SCRIPT,
                                  [self.unit, self.unit_id, str(self.settings.event_window_s),
                                   ",".join(read.SHOW_PROPS)], self.settings.check_timeout_s + 10)
        answer = read.UnitAnswer.parse(res.stdout)
        if not answer.loaded:
            raise TargetError(f"systemctl show {self.unit} failed on {self.settings.shown_host}: "
                              f"{clip(' '.join(answer.raw_show or [res.stderr.strip()]), 200)}")
        if not answer.exists:
            return ServiceState(exists=False, status="missing",
                                detail={"problem": self.missing_message(), "unit": self.unit_id})
        return read.unit_state(answer, self.unit_id, self.settings.event_window_s, self.now())

    def logs(self, lines: int) -> list[LogLine]:
        """`journalctl -u UNIT -n LINES`, each line with its time and whether it belongs to
        the unit's current invocation (systemd's own id of a run)."""
        current = self._show("InvocationID").get("InvocationID", "")
        return self._journal(["-n", str(lines)], current)

    def startup_logs(self, lines: int) -> list[LogLine]:
        """The first lines of the current invocation (where the engine validates its settings),
        whatever it logged since."""
        current = self._show("InvocationID").get("InvocationID", "")
        if not current:
            return self.logs(lines)
        return self._journal([f"_SYSTEMD_INVOCATION_ID={current}"], current, first=lines)

    def _journal(self, args: list[str], current: str, first: int | None = None) -> list[LogLine]:
        argv = ["journalctl", "-u", self.unit, "--no-pager", "-o", "json",
                "--output-fields=MESSAGE,_SYSTEMD_INVOCATION_ID,INVOCATION_ID", *args]
        command = shlex.join(argv) + (f" | head -n {int(first)}" if first else "")
        if not self.backend.probed:
            self.preflight()
        # The service's own lines may hold anything it printed, secrets included.
        res = self.backend.run(command, self.settings.check_timeout_s + 5, secret_output=True)
        if not res.ok and not res.stdout:
            raise TargetError(f"journalctl -u {self.unit} failed on {self.settings.shown_host}: "
                              f"{clip((res.stderr or res.stdout).strip(), 200)}")
        return read.journal_lines(res.stdout, current)

    def environment(self) -> dict[str, str] | None:
        """The running process's own environment; when it is not running, what systemd
        would give it (Environment= plus the EnvironmentFile= contents, files winning)."""
        pid = self.service_pid()
        if pid != "0":
            res = self._run(["cat", f"/proc/{int(pid)}/environ"], secret_output=True)
            if res.ok and res.stdout:
                return read.environ(res.stdout)
        res = self._run(["systemctl", "show", "-p", "Environment", "-p", "EnvironmentFiles",
                         "--", self.unit], secret_output=True)
        env: dict[str, str] = {}
        files = []
        for line in res.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "Environment":
                env.update(read.parse_assignments(value))
            elif key == "EnvironmentFiles" and value:
                files.append(value.split(" (")[0].strip())  # "/path (ignore_errors=no)"
        for path in files:
            got = self._run(["cat", "--", path], secret_output=True)
            if got.ok:
                env.update(read.parse_env_file(got.stdout))  # files override Environment=
            elif "No such file" not in got.stderr:
                # Unreadable (not root?): a partial env would report its secrets as missing.
                return None
            # A missing file gives the service none of its variables: that is the answer.
        return env or None

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        return self._run(argv, timeout)

    def run_in_database(self, argv: list[str], timeout: float) -> CommandResult | None:
        """On the host, where the runbook's admin types it. pg_isready is aimed at the
        database the engine uses (DATABASE_HOST/PORT of its environment), not a default."""
        argv = list(argv)
        if argv and argv[0] == "pg_isready":
            env = self.environment() or {}
            given = argv[1:]
            if not any(a.startswith(("-h", "--host")) for a in given) and env.get("DATABASE_HOST"):
                argv += ["-h", env["DATABASE_HOST"]]
            if not any(a.startswith(("-p", "--port")) for a in given) and env.get("DATABASE_PORT"):
                argv += ["-p", env["DATABASE_PORT"]]
        return self.run_in_service(argv, timeout)

    def read_file(self, path: str, max_bytes: int) -> bytes | None:
        # A TLS key is a secret: its bytes must not reach testinfra's DEBUG log.
        return head_result(path, self._run(["head", "-c", str(max_bytes), "--", path], 5,
                                           secret_output=True))

    def env_source(self, name: str) -> str:
        """A command on the host does not run with the unit's environment: read the running
        service process's own (root can)."""
        return f"proc:{self.service_pid()}:{name}"

    def service_pid(self) -> str:
        return str(read.to_int(self._show("MainPID").get("MainPID")) or 0)

    def restart_command(self) -> str:
        return f"systemctl restart {self.unit}"

    def restart(self) -> str:
        res = self._run(["systemctl", "restart", "--", self.unit], 90)
        if not res.ok:
            raise TargetError(f"'{self.restart_command()}' failed on {self.settings.shown_host}: "
                              f"{clip((res.stderr or res.stdout).strip(), 200)}; "
                              f"'journalctl -u {self.unit} -n 50' tells why")
        return (f"restarted unit {self.unit_id} on {self.settings.shown_host} "
                f"(same as: {self.restart_command()})")

    def fingerprint(self) -> dict[str, Any]:
        p = self._show("MainPID", "NRestarts", "ActiveEnterTimestamp", "ActiveState")
        return {self.unit_id: {"main_pid": p.get("MainPID"), "n_restarts": p.get("NRestarts"),
                               "active_enter": p.get("ActiveEnterTimestamp"),
                               "active_state": p.get("ActiveState")}}

    def close(self) -> None:
        self.backend.close()
