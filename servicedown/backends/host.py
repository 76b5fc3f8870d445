"""A host reached through testinfra (`local://`, `ssh://user@vm`, `docker://container`): one
way to run a shell command line there, bounded twice.

testinfra's backends wait forever on a peer that never answers, so each command runs under
`timeout` on the host when the host has coreutils, and under a deadline on our side whatever
it has. Commands whose output holds secrets are tagged so that testinfra's DEBUG log of every
command and its output never shows them.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from typing import Any

from servicedown.backends.command import (
    TIMED_OUT,
    TRANSPORT,
    BackendError,
    CallTimeout,
    CommandResult,
    within,
)
from servicedown.redact import clip, redact

TRANSPORT_MARGIN_S = 15.0  # an SSH connect or a `docker exec` costs up to a few seconds
NO_LOG = ": servicedown-no-log;"  # marks command lines whose output holds secrets
PROBE = ("echo servicedown-probe;"
         " command -v systemctl >/dev/null 2>&1 || echo no-systemctl;"
         " [ -d /run/systemd/system ] || echo not-booted;"
         " command -v timeout >/dev/null 2>&1 && echo has-timeout; true")


class _HideSecretOutput(logging.Filter):
    """testinfra logs each command with its output at DEBUG; outputs holding secrets must
    never reach a log, whatever level a run is configured with."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        command = getattr(args[0], "command", b"") if args else b""
        if isinstance(command, bytes):
            command = command.decode("utf-8", errors="replace")
        return NO_LOG not in str(command) and NO_LOG not in str(record.msg)


logging.getLogger("testinfra").addFilter(_HideSecretOutput())


class HostBackend:
    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.shown = redact(spec)  # for messages: a password in ssh://user:pw@vm is never shown
        self._host: Any = None
        self._has_timeout: bool | None = None
        self._lock = threading.Lock()  # checks ask concurrently; probe the host once

    @property
    def host(self) -> Any:
        if self._host is None:
            import testinfra  # half a second to import: only when a host is asked something

            try:
                self._host = testinfra.get_host(self.spec)
            except Exception as exc:  # unknown backend, bad spec: say which
                raise BackendError(
                    f"cannot use host spec '{self.shown}': {clip(exc, 200)}; "
                    "use local://, ssh://user@host or docker://container"
                ) from None
        return self._host

    def now(self) -> float:
        return time.time()

    def run(self, command: str, timeout: float, secret_output: bool = False) -> CommandResult:
        """Run a shell command line on the host within `timeout` (+ the transport's margin)."""
        if secret_output:
            command = f"{NO_LOG} {command}"
        if self._has_timeout:
            command = f"timeout -k 2 {max(timeout, 1):g} sh -c {shlex.quote(command)}"
        bound = timeout + TRANSPORT_MARGIN_S
        try:
            res = within(lambda: self.host.run(command), bound, f"a command on {self.shown}")
        except CallTimeout:
            return CommandResult(TIMED_OUT, "", f"no answer from {self.shown} within {bound:g} s")
        except BackendError:
            raise
        except Exception as exc:  # the transport failed; reported as a result
            return CommandResult(TRANSPORT, "", clip(exc, 300))
        return CommandResult(res.rc, res.stdout, res.stderr)

    def stream_argv(self, command: str) -> list[str]:
        """The local command that runs a shell command line on the host with its output
        streamed back line by line (testinfra runs a command to its end and returns its output,
        which a follower such as `journalctl -f` never reaches). BackendError for a host spec
        that cannot stream."""
        scheme, _, rest = self.spec.partition("://")
        if scheme == "local":
            return ["sh", "-c", command]
        if scheme == "docker" and rest:
            return ["docker", "exec", rest.split("?")[0], "sh", "-c", command]
        if scheme in ("ssh", "paramiko") and rest:
            where, _, port = rest.split("?")[0].partition(":")
            return ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                    "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
                    *(["-p", port] if port else []), where, command]
        raise BackendError(f"host spec '{self.spec}' cannot stream a command's output; "
                           "use local://, docker://NAME or ssh://user@host")

    def script(self, script: str, args: list[str], timeout: float) -> CommandResult:
        """A POSIX sh script with positional arguments, in one round trip."""
        return self.run(shlex.join(["sh", "-c", script, "sh", *args]), timeout)

    def probe(self, timeout: float) -> set[str]:
        """What the host has: {'no-systemctl', 'not-booted', 'has-timeout'} as found; raises
        BackendError when the host cannot be reached. Remembers whether `timeout` exists."""
        with self._lock:
            res = self.run(PROBE, timeout)
            if "servicedown-probe" not in res.stdout:
                lines = (res.stderr or res.stdout).strip().splitlines()
                why = clip(lines[0], 200) if lines else f"rc={res.rc}"
                raise BackendError(
                    f"cannot reach host '{self.shown}': {why}; check --host (e.g. "
                    "docker://qbitel-systemd after 'scripts/systemd-host.sh up', or ssh://user@vm "
                    "with key-based login)")
            found = {w for w in ("no-systemctl", "not-booted", "has-timeout") if w in res.stdout}
            self._has_timeout = "has-timeout" in found  # set last: a failed probe repeats
            return found

    @property
    def probed(self) -> bool:
        return self._has_timeout is not None

    def close(self) -> None:
        self._host = None
