"""systemd target: the service as a systemd unit on a host reached through testinfra.

The runbook's VM commands, as typed: `systemctl status qbitel`, `journalctl -u qbitel -n 100`,
`systemctl restart qbitel`. The host is a testinfra host spec (`local://`, `ssh://user@vm`,
`docker://qbitel-systemd`), so the same code reads a VM over SSH or the project's systemd
test container. Every command is bounded twice: `timeout` on the host (when it has
coreutils) and a deadline on our side, since testinfra's backends wait forever.
"""

from __future__ import annotations

import difflib
import logging
import re
import shlex
import threading
from datetime import UTC, datetime
from typing import Any

from servicedown.config import Settings
from servicedown.targets.base import ExecResult, ServiceState, Target, TargetError

SHOW_PROPS = (
    "Id", "LoadState", "LoadError", "ActiveState", "SubState", "NRestarts", "Result",
    "ExecMainStatus", "ExecMainCode", "MainPID", "UnitFileState", "ActiveEnterTimestamp",
    "ControlGroup", "Slice", "FragmentPath",
)
# siginfo codes systemd reports as ExecMainCode: exited, killed, dumped core.
CLD_EXITED, CLD_KILLED, CLD_DUMPED = 1, 2, 3
SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
           "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15}
# A kernel OOM kill and systemd's "Main process exited" line are milliseconds apart (80 ms
# seen); the slack absorbs converting the kernel's seconds-since-boot to wall time. Wider
# would blame a `kill -9` seconds after an OOM on memory.
OOM_MATCH_BEFORE_S, OOM_MATCH_AFTER_S = 3.0, 1.0
EVENT_WORDS = ("Main process exited", "Failed with result", "Scheduled restart job",
               "OOM killer", "Start request repeated", "Failed to ", "Killing process")
EXIT_RE = re.compile(r"Main process exited, code=(\w+), status=(\d+)(?:/(\w+))?")
OOM_RE = re.compile(
    r"oom-kill:.*?task_memcg=(?P<memcg>[^,\s]+).*?task=(?P<task>[^,\s]+),pid=(?P<pid>\d+)")
DMESG_TS_RE = re.compile(r"^\[\s*(\d+\.\d+)\]")
NO_LOG = ": servicedown-no-log;"  # marks commands whose output holds secrets


class _HideSecretOutput(logging.Filter):
    """testinfra logs each command with its output at DEBUG; outputs holding secrets must
    never reach a log, whatever level a run is configured with."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        command = getattr(args[0], "command", b"") if args else b""
        if isinstance(command, bytes):
            command = command.decode("utf-8", errors="replace")
        return NO_LOG not in str(command)


_FILTER = _HideSecretOutput()
logging.getLogger("testinfra").addFilter(_FILTER)

# One shell round trip answers state(): unit properties, the journal's systemd lines about
# the unit, the unit's memory cgroup counters, the cgroup prefix of PID 1 (a container's
# systemd sits below /docker/<id>) and the kernel's OOM kill lines.
STATE_SCRIPT = r"""
unit="$1"; uid="$2"; window="$3"; props="$4"
t() { if command -v timeout >/dev/null 2>&1; then timeout -k 1 "$@"; else shift; "$@"; fi; }
echo "@@show"; TZ=UTC LC_ALL=C t 5 systemctl show "$unit" -p "$props" 2>&1
now=$(date +%s); read -r up _ </proc/uptime
echo "@@clock"; echo "$now $up"
echo "@@journal"
t 5 journalctl --no-pager -q -o short-unix --since "@$((now - window))" -n 300 \
  UNIT="$uid" _PID=1 2>&1
echo "@@cgroup"
cg=$(t 5 systemctl show "$unit" -p ControlGroup --value 2>/dev/null)
if [ -z "$cg" ]; then  # between runs: on v1 the unit's memcg (and its counters) may remain
  root=$(sed -n 's/^[0-9]*:name=systemd://p; s/^0:://p' /proc/1/cgroup | head -n 1)
  sl=$(t 5 systemctl show "$unit" -p Slice --value 2>/dev/null)
  case "$sl" in *-*|"") ;; *) cg="${root%/init.scope}/$sl/$uid" ;; esac
fi
if [ -n "$cg" ]; then
  for f in /sys/fs/cgroup/memory$cg/memory.failcnt /sys/fs/cgroup/memory$cg/memory.oom_control \
           /sys/fs/cgroup$cg/memory.events; do
    [ -r "$f" ] && sed "s|^|$(basename "$f") |" "$f"
  done
fi
echo "@@pid1"; grep -E '^(0::|[0-9]+:name=systemd:)' /proc/1/cgroup 2>/dev/null
echo "@@kernel"
if out=$(t 5 dmesg 2>&1); then
  printf '%s\n' "$out" | grep -F 'oom-kill:' | tail -n 50
else
  echo "!$(printf '%s' "$out" | head -n 1)"
  t 5 journalctl -k --no-pager -q -o short-unix --since "@$((now - window))" 2>/dev/null \
    | grep -F 'oom-kill:' | tail -n 50
fi
"""


def _unit_id(unit: str) -> str:
    """`qbitel` is `qbitel.service` to systemctl; journal fields need the full name."""
    return unit if re.search(r"\.[a-z]+$", unit) else unit + ".service"


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            out[current] = []
        elif current:
            out[current].append(line)
    return out


def _props(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.isidentifier():
            out[key] = value
    return out


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def _parse_ts(text: str | None) -> datetime | None:
    """systemctl's 'Sun 2026-11-29 14:00:10 UTC' (asked with TZ=UTC)."""
    m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text or "")
    return datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC) if m else None


def _journal_entry(line: str) -> tuple[float, str] | None:
    """'1795960809.172366 host systemd[1]: qbitel.service: Main process exited...'."""
    stamp, _, rest = line.partition(" ")
    try:
        when = float(stamp)
    except ValueError:
        return None
    _, _, message = rest.partition(": ")
    return when, message


def _slice_path(slice_name: str) -> str:
    """a-b.slice lives at /a.slice/a-b.slice; -.slice is the root."""
    if not slice_name or slice_name == "-.slice":
        return ""
    parts = slice_name.removesuffix(".slice").split("-")
    return "".join("/" + "-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


def _clock_line(line: str) -> tuple[float, float] | None:
    parts = line.split()
    if len(parts) == 2:
        try:
            return float(parts[0]), float(parts[1])
        except ValueError:
            return None
    return None


def _enabled(unit_file_state: str) -> bool | None:
    """Starts at boot? static/generated units start when something pulls them in."""
    if not unit_file_state:
        return None
    return unit_file_state.startswith("enabled") or unit_file_state in (
        "static", "alias", "generated")


def _hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S")


class SystemdTarget(Target):
    kind = "systemd"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.unit = settings.unit
        self.unit_id = _unit_id(settings.unit)
        self._host: Any = None
        self._has_timeout: bool | None = None
        self._probe_lock = threading.Lock()  # checks ask concurrently; probe the host once

    # --- plumbing -------------------------------------------------------------------
    @property
    def host(self) -> Any:
        if self._host is None:
            import testinfra

            try:
                self._host = testinfra.get_host(self.settings.host)
            except Exception as exc:  # unknown backend, bad spec: say which
                raise TargetError(
                    f"cannot use host spec '{self.settings.host}': {str(exc)[:200]}; "
                    "use local://, ssh://user@host or docker://container"
                ) from None
        return self._host

    def _exec(self, command: str, timeout: float) -> ExecResult:
        """Run a shell command line on the host within `timeout` (+ a margin for the
        transport: an SSH connect or a `docker exec` costs up to a few seconds)."""
        if self._has_timeout:
            command = f"timeout -k 2 {max(timeout, 1):g} sh -c {shlex.quote(command)}"
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["res"] = self.host.run(command)
            except Exception as exc:  # the transport failed; reported as a result
                box["exc"] = exc

        worker = threading.Thread(target=call, daemon=True, name="systemd-target-exec")
        worker.start()
        worker.join(timeout + 15)
        if worker.is_alive():
            return ExecResult(124, "", f"no answer from {self.settings.host} within "
                                       f"{timeout + 15:g} s")
        if "exc" in box:
            if isinstance(box["exc"], TargetError):
                raise box["exc"]
            return ExecResult(255, "", str(box["exc"])[:300])
        res = box["res"]
        return ExecResult(res.rc, res.stdout, res.stderr)

    def _script(self, script: str, args: list[str], timeout: float) -> ExecResult:
        return self._exec(shlex.join(["sh", "-c", script, "sh", *args]), timeout)

    def describe(self) -> str:
        return f"systemd unit '{self.unit_id}' on {self.settings.host}"

    def preflight(self) -> None:
        probe = ("echo servicedown-probe;"
                 " command -v systemctl >/dev/null 2>&1 || echo no-systemctl;"
                 " [ -d /run/systemd/system ] || echo not-booted;"
                 " command -v timeout >/dev/null 2>&1 && echo has-timeout; true")
        res = self._exec(probe, self.settings.check_timeout_s)
        if "servicedown-probe" not in res.stdout:
            lines = (res.stderr or res.stdout).strip().splitlines()
            why = lines[0][:200] if lines else f"rc={res.rc}"
            raise TargetError(
                f"cannot reach host '{self.settings.host}': {why}; "
                "check --host (e.g. docker://qbitel-systemd after 'scripts/systemd-host.sh up', "
                "or ssh://user@vm with key-based login)"
            )
        if "no-systemctl" in res.stdout:
            raise TargetError(f"host '{self.settings.host}' has no systemctl: it does not run "
                              "systemd; pick the target that matches how the service runs "
                              "(--target compose/kubernetes/url)")
        if "not-booted" in res.stdout:
            raise TargetError(f"host '{self.settings.host}': System has not been booted with "
                              "systemd (PID 1 is not systemd), so there is no unit to ask; "
                              "point --host at the machine (or container) whose init is systemd")
        self._has_timeout = "has-timeout" in res.stdout  # set last: a failed probe repeats

    def _ensure_probed(self) -> None:
        with self._probe_lock:
            if self._has_timeout is None:
                self.preflight()

    def _show(self, *props: str) -> dict[str, str]:
        self._ensure_probed()
        res = self._exec(shlex.join(["systemctl", "show", self.unit, "-p", ",".join(props)]),
                         self.settings.check_timeout_s)
        if not res.ok:
            raise TargetError(f"systemctl show {self.unit} failed: "
                              f"{(res.stderr or res.stdout).strip()[:200]}")
        return _props(res.stdout.splitlines())

    def missing_message(self) -> str:
        similar = self._similar_units()
        where = f"on {self.settings.host}"
        if similar:
            return (f"systemd unit '{self.unit_id}' not found {where} (similar units: "
                    f"{', '.join(similar)}); check --unit")
        return (f"systemd unit '{self.unit_id}' not found {where}; 'systemctl list-units "
                "--type=service --all' shows the names there; check --unit")

    def _similar_units(self) -> list[str]:
        res = self._exec("systemctl list-unit-files --type=service --no-legend --no-pager; "
                         "systemctl list-units --type=service --all --no-legend --plain --no-pager",
                         self.settings.check_timeout_s)
        names = sorted({line.split()[0] for line in res.stdout.splitlines()
                        if line.split() and line.split()[0].endswith(".service")})
        stem = self.unit_id.removesuffix(".service")
        stems = {n.removesuffix(".service"): n for n in names}
        close = [stems[m] for m in difflib.get_close_matches(stem, list(stems), n=5, cutoff=0.6)]
        close += [n for n in names if stem in n and n not in close]
        return close[:5]

    # --- the runbook's questions -----------------------------------------------------
    def state(self) -> ServiceState:
        self._ensure_probed()
        res = self._script(STATE_SCRIPT, [self.unit, self.unit_id,
                                          str(self.settings.event_window_s), ",".join(SHOW_PROPS)],
                           self.settings.check_timeout_s + 10)
        sec = _sections(res.stdout)
        p = _props(sec.get("show", []))
        if "LoadState" not in p:
            raise TargetError(f"systemctl show {self.unit} failed on {self.settings.host}: "
                              f"{' '.join(sec.get('show', []) or [res.stderr.strip()])[:200]}")
        if p["LoadState"] == "not-found":
            return ServiceState(exists=False, status="missing",
                                detail={"problem": self.missing_message(), "unit": self.unit_id})

        clock = _clock_line((sec.get("clock") or [""])[0])
        now = clock[0] if clock else datetime.now(UTC).timestamp()
        events, exits, journal_ooms = self._journal_events(sec.get("journal", []))
        kernel_ooms, kernel_note = self._kernel_ooms(sec.get("kernel", []), clock, p,
                                                     sec.get("pid1", []))
        counters = self._cgroup_counters(sec.get("cgroup", []))
        for when, task, pid in kernel_ooms:
            events.append((when, f"kernel OOM killer killed {task} (host pid {pid})"))
        events.sort()

        code, status = _int(p.get("ExecMainCode")) or 0, _int(p.get("ExecMainStatus"))
        killed_now = code in (CLD_KILLED, CLD_DUMPED)
        exit_code = None
        if code == CLD_EXITED:
            exit_code = status
        elif killed_now and status is not None:
            exit_code = 128 + status  # as a shell and Docker report it: 137 = SIGKILL
        last_exit = exits[-1] if exits else None
        if exit_code is None and last_exit:
            # After an automatic restart systemd forgets the old exit; the journal keeps it.
            exit_code = last_exit[1]
        sigkill = (killed_now and status == 9) or bool(last_exit and last_exit[1] == 137)

        # On cgroup v2 systemd says Result=oom-kill itself; on v1 it says only 'signal', so a
        # SIGKILL needs a second sign. Signs with a time must fall next to the exit: the
        # kernel's OOM line for this unit's cgroup, systemd's "killed by the OOM killer".
        # The memcg oom_kill counter has no time and survives restarts (seen on v1), so it
        # would blame a later `kill -9` on memory: it counts only when the kernel log is
        # unreadable, as the best sign left.
        exit_at = last_exit[0] if last_exit else now

        def near(when: float) -> bool:
            return exit_at - OOM_MATCH_BEFORE_S <= when <= exit_at + OOM_MATCH_AFTER_S

        signs = []
        if any(near(k[0]) for k in kernel_ooms):
            signs.append("kernel log: OOM kill in the unit's memory cgroup at its exit")
        if any(near(w) for w in journal_ooms):
            signs.append("journal: a process of the unit was killed by the OOM killer")
        if counters.get("oom_kill") and kernel_note:
            signs.append(f"memory cgroup oom_kill={counters['oom_kill']} (cumulative; "
                         "kernel log unreadable)")
        result = p.get("Result") or None
        oom_killed = result == "oom-kill" or (sigkill and bool(signs))

        started = _parse_ts(p.get("ActiveEnterTimestamp"))
        running = p.get("ActiveState") == "active" and p.get("SubState") == "running"
        uptime = now - started.timestamp() if started and running else None
        restarting = p.get("SubState") == "auto-restart"
        detail: dict[str, Any] = {
            "unit": p.get("Id", self.unit_id),
            "sub_state": p.get("SubState"),
            "unit_file_state": p.get("UnitFileState") or None,
            "last_exit": f"{last_exit[2]} at {_hhmmss(last_exit[0])}" if last_exit else None,
            "oom_signs": signs or None,
            "memcg_oom_kill": counters.get("oom_kill"),
            "memcg_failcnt": counters.get("failcnt"),
            "kernel_log": kernel_note,
        }
        return ServiceState(
            exists=True,
            running=running,
            status=p.get("ActiveState", "unknown"),
            health=None,
            restart_count=_int(p.get("NRestarts")),
            restarting=restarting,
            exit_code=exit_code,
            oom_killed=oom_killed,
            result=result,
            enabled=_enabled(p.get("UnitFileState", "")),
            uptime_s=uptime,
            events=[f"{_hhmmss(w)} {m}" for w, m in events],
            oom_events=max(len(kernel_ooms), len(journal_ooms),
                           counters.get("oom_kill", 0) if kernel_note else 0),
            die_events=len(exits),
            pid=_int(p.get("MainPID")) or None,
            detail={k: v for k, v in detail.items() if v is not None},
        )

    def _journal_events(
        self, lines: list[str]
    ) -> tuple[list[tuple[float, str]], list[tuple[float, int, str]], list[float]]:
        """systemd's lines about the unit: events, exits (time, exit code, text), OOM lines."""
        events: list[tuple[float, str]] = []
        exits: list[tuple[float, int, str]] = []
        ooms: list[float] = []
        for line in lines:
            entry = _journal_entry(line)
            if entry is None:
                continue
            when, message = entry
            message = message.removeprefix(self.unit_id + ": ")
            if not any(w in message for w in EVENT_WORDS):
                continue
            events.append((when, message[:200]))
            m = EXIT_RE.search(message)
            if m:
                how, status, name = m.group(1), int(m.group(2)), m.group(3) or ""
                signo = SIGNALS.get(name, status) if how in ("killed", "dumped") else None
                code = 128 + signo if signo is not None else status
                exits.append((when, code, f"code={how}, status={status}/{name}".rstrip("/")))
            if "OOM killer" in message:
                ooms.append(when)
        return events, exits, ooms

    def _kernel_ooms(
        self, lines: list[str], clock: tuple[float, float] | None, p: dict[str, str],
        pid1: list[str],
    ) -> tuple[list[tuple[float, str, str]], str | None]:
        """Kernel OOM kills whose victim sat in this unit's cgroup: (wall time, task, pid)."""
        note = None
        cgroup = p.get("ControlGroup") or ""
        if not cgroup:
            # The unit is between runs and has no cgroup; rebuild its path below PID 1's.
            root = ""
            for line in pid1:
                root = line.split(":", 2)[-1]
            root = root.removesuffix("/init.scope").rstrip("/")
            cgroup = f"{root}{_slice_path(p.get('Slice', 'system.slice'))}/{self.unit_id}"
        found = []
        for line in lines:
            if line.startswith("!"):
                note = (f"dmesg unreadable ({line[1:].strip()[:120]}); kernel OOM lines only "
                        "from journalctl -k, if it keeps them")
                continue
            m = OOM_RE.search(line)
            if not m or not (m["memcg"] == cgroup or m["memcg"].startswith(cgroup + "/")):
                continue
            ts = DMESG_TS_RE.match(line)
            if ts and clock:
                when = clock[0] - clock[1] + float(ts.group(1))  # seconds since boot -> wall
            else:
                entry = _journal_entry(line)
                if entry is None:
                    continue
                when = entry[0]
            if clock and when < clock[0] - self.settings.event_window_s:
                continue
            found.append((when, m["task"], m["pid"]))
        return found, note

    @staticmethod
    def _cgroup_counters(lines: list[str]) -> dict[str, int]:
        """v1 memory.failcnt and memory.oom_control's oom_kill; v2 memory.events' oom_kill."""
        out: dict[str, int] = {}
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "memory.failcnt":
                out["failcnt"] = _int(parts[1]) or 0
            elif len(parts) == 3 and parts[1] == "oom_kill":
                out["oom_kill"] = _int(parts[2]) or 0
        return out

    def logs(self, lines: int) -> list[str]:
        self._ensure_probed()
        res = self._exec(shlex.join(["journalctl", "-u", self.unit, "-n", str(lines),
                                     "--no-pager", "-o", "short-iso"]),
                         self.settings.check_timeout_s + 5)
        if not res.ok:
            raise TargetError(f"journalctl -u {self.unit} failed on {self.settings.host}: "
                              f"{(res.stderr or res.stdout).strip()[:200]}")
        return [line for line in res.stdout.splitlines() if line != "-- No entries --"]

    def environment(self) -> dict[str, str] | None:
        """The running process's own environment; when it is not running, what systemd
        would give it (Environment= plus the EnvironmentFile= contents, files winning)."""
        pid = self.service_pid()
        if pid != "0":
            res = self._exec(f"{NO_LOG} cat /proc/{int(pid)}/environ",
                             self.settings.check_timeout_s)
            if res.ok and res.stdout:
                env: dict[str, str] = {}
                for item in res.stdout.split("\0"):
                    key, sep, value = item.partition("=")
                    if sep and key:
                        env[key] = value
                return env
        res = self._exec(shlex.join(["systemctl", "show", self.unit, "-p", "Environment",
                                     "-p", "EnvironmentFiles"]), self.settings.check_timeout_s)
        env = {}
        files = []
        for line in res.stdout.splitlines():
            key, _, value = line.partition("=")
            if key == "Environment":
                env.update(_parse_assignments(value))
            elif key == "EnvironmentFiles" and value:
                files.append(value.split(" (")[0].strip())  # "/path (ignore_errors=no)"
        for path in files:
            got = self._exec(f"{NO_LOG} cat {shlex.quote(path)}", self.settings.check_timeout_s)
            if got.ok:
                env.update(_parse_env_file(got.stdout))  # files override Environment=
            elif "No such file" not in got.stderr:
                # Unreadable (not root?): a partial env would report its secrets as missing.
                return None
            # A missing file gives the service none of its variables: that is the answer.
        return env or None

    def run_in_service(self, argv: list[str], timeout: float) -> ExecResult | None:
        self._ensure_probed()
        return self._exec(shlex.join(argv), timeout)

    def run_in_database(self, argv: list[str], timeout: float) -> ExecResult | None:
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

    def service_pid(self) -> str:
        return str(_int(self._show("MainPID").get("MainPID")) or 0)

    def restart_command(self) -> str:
        return f"systemctl restart {self.unit}"

    def restart(self) -> str:
        self._ensure_probed()
        res = self._exec(shlex.join(["systemctl", "restart", self.unit]), 90)
        if not res.ok:
            raise TargetError(f"'{self.restart_command()}' failed on {self.settings.host}: "
                              f"{(res.stderr or res.stdout).strip()[:200]}; "
                              f"'journalctl -u {self.unit} -n 50' tells why")
        return (f"restarted unit {self.unit_id} on {self.settings.host} "
                f"(same as: {self.restart_command()})")

    def fingerprint(self) -> dict[str, Any]:
        p = self._show("MainPID", "NRestarts", "ActiveEnterTimestamp", "ActiveState")
        return {self.unit_id: {"main_pid": p.get("MainPID"), "n_restarts": p.get("NRestarts"),
                               "active_enter": p.get("ActiveEnterTimestamp"),
                               "active_state": p.get("ActiveState")}}

    def close(self) -> None:
        self._host = None


def _parse_assignments(text: str) -> dict[str, str]:
    """systemctl show's Environment=: space-separated, C-quoted where needed."""
    try:
        items = shlex.split(text)
    except ValueError:
        items = text.split()
    return {k: v for k, sep, v in (i.partition("=") for i in items) if sep and k}


def _parse_env_file(text: str) -> dict[str, str]:
    """systemd's EnvironmentFile= format: KEY=VALUE lines, # or ; comments, optional quotes."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip().removeprefix("export ")] = value
    return env
