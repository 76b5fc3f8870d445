"""The runbook's common causes as data: the one table triage, chaos and the report read.

Each cause names the runbook items it stands for, the check outcomes that point to it or away
from it (signals, weighted), the resolution steps, and the expected detection that the chaos
harness holds a fault of this cause to. Rows marked `in_runbook=False` name situations the
runbook has no cause for (a stop on request, HTTP 500 from a running engine, a pod the
scheduler cannot place): an on-call engineer still needs them named.

Weights: 3 = the check that measures this cause itself, 2 = strong corroboration,
1-1.5 = a symptom this cause shares with a few others; negative = evidence against it.
A `when` pattern narrows a signal to results whose message (or textual evidence) says so; a
`how` narrows it to a state of the service (states.py) as running.* checks report it.

Defining evidence: a cause can be ranked first only when one of its defining signals matched,
i.e. the check that measures it failed now, or its defining log line is in the current run.
By default the signals of weight 3 define; `defining=True` marks others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from servicedown import states
from servicedown.model import CheckResult, Outcome

CATEGORIES: dict[str, str] = {  # id -> the runbook's heading (cause-1 .. cause-4)
    "application-crash": "Application Crash",
    "resource-exhaustion": "Resource Exhaustion",
    "database": "Database Connection Issues",
    "startup-failure": "Startup Failure",
    "not-in-runbook": "Not in the runbook",
}


@dataclass(frozen=True)
class Signal:
    check: str
    outcome: Outcome
    weight: float
    when: str | None = None  # regex, case-insensitive, searched in the result's text
    how: tuple[str, ...] = ()  # the service's states (states.py) this signal is about
    defining: bool | None = None  # None: weight >= 3

    @property
    def defines(self) -> bool:
        return self.weight >= 3 if self.defining is None else self.defining

    def matches(self, result: CheckResult) -> bool:
        if result.id != self.check or result.outcome is not self.outcome:
            return False
        if self.how and result.evidence.get("how") not in self.how:
            return False
        return self.when is None or _compiled(self.when).search(result_text(result)) is not None


@dataclass(frozen=True)
class Step:
    text: str
    runbook: str | None = None  # the runbook resolution item it carries out, if any


@dataclass(frozen=True)
class Cause:
    id: str
    category: str
    title: str
    runbook: tuple[str, ...]
    signals: tuple[Signal, ...]
    resolution: tuple[Step, ...]
    expected_fail: tuple[str, ...]  # checks that must fail while this cause is injected
    expected_pass: tuple[str, ...] = ()  # checks that must stay green: they tell it apart
    in_runbook: bool = True  # False: a situation the runbook names no cause for
    # A symptom (the port is dead, every request fails) rather than a reason: ranked first only
    # when no other cause with its defining evidence explains it.
    symptom: bool = False

    @property
    def resolution_text(self) -> list[str]:
        return [s.text for s in self.resolution]


def fail(check: str, weight: float, when: str | None = None, how: tuple[str, ...] = (),
         defining: bool | None = None) -> Signal:
    return Signal(check, Outcome.FAIL, weight, when, how, defining)


def passed(check: str, weight: float, when: str | None = None, how: tuple[str, ...] = (),
           defining: bool | None = None) -> Signal:
    return Signal(check, Outcome.PASS, weight, when, how, defining)


def state_is(weight: float, *how: str, defining: bool | None = None) -> Signal:
    """The service is in one of these states (running.state says so, failing)."""
    return Signal("running.state", Outcome.FAIL, weight, None, how, defining)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


MAX_TEXT = 20_000  # characters of a result searched by `when`


def result_text(result: CheckResult) -> str:
    """The message plus the evidence's text values: numbers are left out, so that an
    `uptime_s=137.0` can never pass for exit code 137."""
    parts = [result.message]
    for value in result.evidence.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list | tuple):
            parts.extend(v for v in value if isinstance(v, str))
    return "\n".join(parts)[:MAX_TEXT]


# --- message patterns shared by several signals ('.' also matches logscan's '_' in ids) ---
KILLED = r"\b137\b|sigkill|signal[ =:]*9\b|status=9|oom.kill"
TOO_MANY = r"too.many.clients|remaining.connection.slots|53300|queuepool.limit|toomanyconnections"
AUTH = r"password.authentication.failed|auth.failed|invalidpassword|pg_hba"
NETWORK = (r"timeout expired|timed out|temporary failure in name resolution|no route to host"
           r"|network is unreachable")
# A host name that does not exist at all: the engine's setting (a typo), not the network.
UNRESOLVABLE = r"cannot resolve|could not translate host|name or service not known|no-attempt"
SHUTDOWN = r"database system is (?:shutting down|starting up)|terminating connection|rejecting"
SLOW = r"slow|budget|timed out|timeout"
# A traceback while the process runs on (logs.stack_trace): failing requests, not a crash.
RUNS_ON = r"the process runs on"
# The name resolves nowhere because what it names is a stopped peer (database.reachable).
PEER_DOWN = r"the database's path is down"
DEAD_PORT = r"refused|nothing listens|closed the connection|reset by peer"
# The platform recorded a kill request before the exit (docker kill, a stop that timed out).
# or the platform, which records OOM kills, recorded none for a SIGKILL.
KILL_REQUEST = r"\bkill signal=\d+|not the OOM killer"
TLS = r"\btls|certificate|\bssl"
# What the deployment's Prometheus saw (diagnosis/monitoring.py's words): the condition still
# holds at the end of the window; the engine went away right after a peak.
STILL = r"\bstill at \d+ ?% now\b"
THEN_EXIT = r"\bthen the engine (?:stopped answering|restarted)\b"


def alert(name: str) -> str:
    """monitoring.alerts names this alert among those that fired in the window."""
    return rf"\b{name}\b"

MISSING = r"secret: \w+ - [^\n]{0,60}must be set|missing|not set\b|is empty"
WEAK_SHORT = r"weak|at least \d+ characters|too short|invalid|must be a number"

# --- the runbook's own steps (Quick Fix and "If Restart Doesn't Help" 1-5), phrased safely ---
RESTART = Step(
    "Restart (quick fix): `docker-compose restart qbitel-engine` (Docker), "
    "`kubectl rollout restart deployment/qbitel-engine -n qbitel` (Kubernetes), "
    "`systemctl restart qbitel` (systemd)", "resolution-restart")
LOGS = Step(
    "Read the recent logs: `docker-compose logs --tail=100 qbitel-engine`, "
    "`kubectl logs -l app=qbitel-engine -n qbitel --tail=100`, `journalctl -u qbitel -n 100`")
VALIDATION = Step(
    "Check startup validation: `docker-compose logs qbitel-engine | grep \"VALIDATION\"` and "
    "read every `[CRITICAL] ✗ FAIL` / `[ERROR] ✗ FAIL` line", "resolution-1")
ENV = Step(
    "Verify the required variables without printing them: each of DATABASE_PASSWORD, "
    "JWT_SECRET, ENCRYPTION_KEY must be set; JWT_SECRET and ENCRYPTION_KEY at least 32 "
    "characters. Lengths only: `docker-compose exec qbitel-engine sh -c 'for v in "
    "DATABASE_PASSWORD JWT_SECRET ENCRYPTION_KEY; do printf \"%s: \" $v; printenv $v | "
    "tr -d \"\\n\" | wc -c; done'`", "resolution-2")
DB_CHECK = Step(
    "Check database connectivity: `docker-compose exec postgres pg_isready -U qbitel_user "
    "-d qbitel` (Kubernetes: the same inside the database pod)", "resolution-3")
DISK = Step("Check disk space: `df -h` and inodes: `df -i` (host and inside the service)",
            "resolution-4")
MEMORY = Step("Check memory: `free -h`, and the service's own use: "
              "`docker stats --no-stream qbitel-engine` / `kubectl top pod -l app=qbitel-engine "
              "-n qbitel`", "resolution-5")
RECREATE = Step(
    "Apply changed environment or files: `docker-compose up -d qbitel-engine` (a plain "
    "restart keeps the old environment), `kubectl rollout restart deployment/qbitel-engine "
    "-n qbitel` after updating the Secret, `systemctl daemon-reload && systemctl restart "
    "qbitel` after editing the unit or its EnvironmentFile")


# States that end a run: the cause is in what ended it, not in the state.
ENDED = (states.CRASHED, states.FAILED_AT_START, states.CRASH_LOOPING, states.EXITED)
ON_REQUEST = (states.STOPPED, states.STOPPING, states.KILLED, states.SCALED_TO_ZERO)

CAUSES: tuple[Cause, ...] = (
    Cause(
        "crash", "application-crash", "The application crashed (uncaught exception)",
        ("cause-1", "cause-1.1"),
        signals=(
            # A traceback in the current run, with the process gone after it or health failing;
            # not while the process runs on (failing requests: http-errors' evidence).
            fail("logs.stack_trace", 2.5, defining=True),
            fail("logs.stack_trace", -2.5, RUNS_ON),
            # A non-zero exit nobody asked for, and nothing else (OOM, validation) explains it.
            state_is(3.0, states.CRASHED),
            # A loop whose exits the platform recorded as crashes (not OOM, nobody asking).
            fail("running.state", 3.0, r"last: crashed", how=(states.CRASH_LOOPING,)),
            state_is(1.5, states.CRASH_LOOPING, states.FAILED_AT_START),
            # Not running with nothing else to blame: the base explanation, never proof.
            fail("running.state", 1.5),
            fail("running.exit_code", 1.0),
            # Killed by a signal the platform did not record as an OOM kill.
            fail("running.exit_code", 2.0, KILL_REQUEST),
            fail("running.exit_code", -1.0, KILLED),
            # A kill, or a traceback whose cause another row names, is not a bare crash.
            fail("running.oom_killed", -2.0),
            fail("logs.oom", -1.0),
            # Memory at its limit right before the engine went away: the OOM killer's kill.
            fail("monitoring.memory", -1.0, THEN_EXIT),
            fail("logs.disk_full", -1.0),
            fail("logs.fd_limit", -1.0),
            fail("logs.db_error", -1.0),
            fail("logs.tls_error", -1.0),
            fail("logs.validation", -1.0),
            fail("startup.env", -1.5),
            fail("startup.secrets", -1.5),
            fail("startup.tls", -1.5),
            state_is(-3.0, *ON_REQUEST, states.OOM_KILLED),
            # A process that still runs did not crash: its exceptions are another row's symptom.
            passed("running.state", -1.5, how=(states.RUNNING, states.STARTING)),
        ),
        resolution=(
            LOGS,
            Step("Find the first traceback after the last start; fix the failing code path or "
                 "roll back the last deploy (`kubectl rollout undo deployment/qbitel-engine "
                 "-n qbitel`, or the previous image tag in Compose)"),
            RESTART,
            VALIDATION,
        ),
        expected_fail=("logs.stack_trace",),
        expected_pass=("running.oom_killed",),
    ),
    Cause(
        "oom", "resource-exhaustion", "Memory exhausted: the service was OOM-killed",
        ("cause-1.2", "cause-2.2"),
        signals=(
            fail("running.oom_killed", 3.0),
            fail("logs.oom", 3.0),
            state_is(3.0, states.OOM_KILLED),
            fail("resources.memory", 2.0, defining=True),
            # A kill by signal 9 that nobody asked for is the kernel's OOM killer's mark.
            fail("running.exit_code", 2.0, KILLED),
            fail("health.live", 1.0, r"memory"),
            # Prometheus over the window. Memory at its limit right before the engine went away
            # is an OOM kill's own shape seen from outside: it defines oom where the platform no
            # longer records the kill (a restarted container, a replaced pod, a URL target).
            # At its limit now is resources.memory's measure, taken by the deployment's own
            # monitoring: it defines as that does. A peak that passed with no exit, and
            # HighMemoryUsage (the same series, at 85 %), only corroborate.
            fail("monitoring.memory", 2.5, THEN_EXIT, defining=True),
            fail("monitoring.memory", 2.0, STILL, defining=True),
            fail("monitoring.memory", 1.0),
            fail("monitoring.alerts", 1.0, alert("HighMemoryUsage")),
            fail("running.exit_code", -2.0, KILL_REQUEST),
            state_is(-3.0, *ON_REQUEST),
        ),
        resolution=(
            MEMORY,
            Step("Confirm the kill: `docker inspect -f '{{.State.OOMKilled}}' qbitel-engine`, "
                 "`kubectl describe pod -l app=qbitel-engine -n qbitel` (Last State: OOMKilled), "
                 "`journalctl -k | grep -i 'killed process'`"),
            Step("Raise the memory limit (Compose `mem_limit`, Kubernetes "
                 "`resources.limits.memory`, systemd `MemoryMax=`) or lower the load; look for "
                 "a leak if usage only grows"),
            RESTART,
        ),
        expected_fail=("running.oom_killed",),
    ),
    Cause(
        "cpu", "resource-exhaustion", "CPU at 100 %",
        ("cause-2.1",),
        signals=(
            fail("resources.cpu", 3.0),
            # Saturated now over a minute's rate (resources.cpu samples half a second): defines.
            # A saturation that passed, or HighCPUUsage (80 % over 5 min), corroborates: CPU
            # starvation ends with the load, it leaves nothing behind.
            fail("monitoring.cpu", 2.0, STILL, defining=True),
            fail("monitoring.cpu", 1.0),
            fail("monitoring.alerts", 1.0, alert("HighCPUUsage")),
            fail("health.endpoint", 1.0, SLOW),
            fail("running.state", -1.0),  # a service that is not running is not CPU-starved
        ),
        resolution=(
            Step("Find the consumer: `docker stats --no-stream`, `kubectl top pod -l "
                 "app=qbitel-engine -n qbitel`, `top -o %CPU`"),
            Step("Raise the CPU limit or scale out (`kubectl scale deployment/qbitel-engine "
                 "--replicas=N -n qbitel`), or shed load"),
            RESTART,
        ),
        expected_fail=("resources.cpu",),
        expected_pass=("running.state",),
    ),
    Cause(
        "disk-full", "resource-exhaustion", "Disk full",
        ("cause-2.3",),
        signals=(
            fail("resources.disk", 3.0),
            fail("logs.disk_full", 3.0),
            fail("monitoring.alerts", 1.0, alert("DiskSpaceLow")),  # at 85 %: a warning, not full
        ),
        resolution=(
            DISK,
            Step("Find what filled it: `du -xh --max-depth=2 / | sort -h | tail`; free space "
                 "(rotate or truncate logs, remove old images with `docker image prune`) or "
                 "grow the volume"),
            RESTART,
        ),
        expected_fail=("resources.disk",),
    ),
    Cause(
        "fd-limit", "resource-exhaustion", "File descriptor limit reached",
        ("cause-2.4",),
        signals=(
            fail("resources.fds", 3.0),
            fail("logs.fd_limit", 3.0),
        ),
        resolution=(
            Step("Compare open files with the limit: `ls /proc/<pid>/fd | wc -l` and "
                 "`grep 'open files' /proc/<pid>/limits`"),
            Step("Raise the limit: Compose `ulimits: nofile:`, systemd `LimitNOFILE=`, shell "
                 "`ulimit -n`; look for a leak (connections or files never closed)"),
            RESTART,
        ),
        expected_fail=("resources.fds",),
    ),
    Cause(
        "db-down", "database", "The database is down",
        ("cause-3", "cause-3.1"),
        signals=(
            fail("database.ready", 3.0),
            fail("database.ready", -3.0, TOO_MANY),  # it answers: it is up, but full
            passed("database.ready", -3.0),
            fail("database.reachable", 1.0),
            fail("database.reachable", 1.5, SHUTDOWN, defining=True),
            fail("health.database", 1.0),
            fail("logs.db_error", 1.0),
            fail("logs.db_error", 2.0, SHUTDOWN, defining=True),
            # pg_up 0 is the exporter failing to log in: the database down, but just as well full
            # (too many clients) or refusing the exporter's password. It corroborates;
            # database.ready defines. Connections near max_connections say it was up, and full.
            fail("monitoring.pg_up", 2.0),
            fail("monitoring.alerts", 1.0, alert("PostgresDown")),
            fail("monitoring.alerts", 0.5, alert("DatabaseConnectionFailures")),
            fail("monitoring.pool", -1.5),
        ),
        resolution=(
            DB_CHECK,
            Step("Read the database's logs: `docker-compose logs --tail=100 postgres`; check its "
                 "disk and memory, then start it: `docker-compose up -d postgres` (Kubernetes: "
                 "its StatefulSet or managed service)"),
            Step("The engine recovers by itself once the database answers (its circuit breaker "
                 "retries after 30 s); restart it if /health stays 503"),
            RESTART,
        ),
        expected_fail=("database.ready", "database.reachable", "health.database",
                       "health.endpoint"),
    ),
    Cause(
        "db-pool-exhausted", "database", "Database connection pool exhausted",
        ("cause-3.2",),
        signals=(
            fail("database.connections", 3.0),
            fail("logs.db_error", 3.0, TOO_MANY + r"|pool.{0,40}(?:exhausted|timeout|timed out)"),
            # The server itself says it is full: that defines it, whatever the count said.
            fail("database.ready", 2.0, TOO_MANY, defining=True),
            fail("database.reachable", 2.0, TOO_MANY, defining=True),
            fail("health.database", 1.0, TOO_MANY + r"|pool"),
            # Near max_connections now, as the exporter counts them: database.connections' measure
            # from the deployment's own monitoring, so it defines; a passed peak and the
            # DatabaseConnectionPoolExhausted alert (80 %) corroborate.
            fail("monitoring.pool", 2.0, STILL, defining=True),
            fail("monitoring.pool", 1.0),
            fail("monitoring.alerts", 1.0, alert("DatabaseConnectionPoolExhausted")),
        ),
        resolution=(
            Step("See who holds the connections: `docker-compose exec postgres psql -U "
                 "qbitel_user -d qbitel -c \"select state, count(*) from pg_stat_activity group "
                 "by state\"` against `show max_connections`"),
            Step("End idle-in-transaction sessions (`pg_terminate_backend`), fix the client that "
                 "leaks connections, or raise `max_connections` / the engine's pool size"),
            RESTART,
            DB_CHECK,
        ),
        expected_fail=("database.connections",),
    ),
    Cause(
        "db-network", "database", "Network between the engine and the database",
        ("cause-3.3",),
        signals=(
            fail("database.reachable", 3.0),
            passed("database.ready", 2.0),  # the database itself is fine
            fail("database.ready", -2.0),
            # The server answered (full, shutting down, refused the password): the path works;
            # a name that does not resolve at all is the engine's setting, not the network.
            fail("database.reachable", -3.0,
                 f"{TOO_MANY}|{AUTH}|{SHUTDOWN}|refuses the engine|{UNRESOLVABLE}"),
            passed("database.reachable", -3.0),
            fail("health.database", 1.0),
            fail("logs.db_error", 1.0),
            fail("logs.db_error", 1.0, NETWORK),
            fail("logs.db_error", -2.0, f"{AUTH}|{SHUTDOWN}|{UNRESOLVABLE}"),
            fail("monitoring.alerts", 0.5, alert("DatabaseConnectionFailures")),
            state_is(-3.0, states.DETACHED),  # cut at the engine's own end: that explains it
        ),
        resolution=(
            DB_CHECK,
            Step("Test the path from the engine's side: `docker-compose exec qbitel-engine "
                 "getent hosts postgres`, then a TCP connect to DATABASE_HOST:DATABASE_PORT; "
                 "check DATABASE_HOST/DATABASE_PORT, the Docker network (`docker network "
                 "inspect`), NetworkPolicies and firewalls"),
            RESTART,
        ),
        expected_fail=("database.reachable", "health.database", "health.endpoint"),
        expected_pass=("database.ready",),
    ),
    Cause(
        "config-invalid", "startup-failure", "Configuration validation failed",
        ("cause-1.3", "cause-4.1"),
        signals=(
            fail("startup.secrets", 3.0),
            fail("logs.config_error", 2.0),
            fail("logs.validation", 1.0),
            fail("logs.validation", 1.5, WEAK_SHORT, defining=True),
            fail("startup.validation", 1.0),
            # DATABASE_PASSWORD the database refuses, seen from the engine's side or its log.
            fail("logs.db_error", 2.0, AUTH, defining=True),
            fail("database.reachable", 3.0, AUTH + r"|refuses the engine"),
            # DATABASE_HOST names no host at all (a typo).
            fail("database.reachable", 3.0, UNRESOLVABLE),
            # The engine's log cannot tell a typo from a stopped peer or a container cut off its
            # network (the probe above can): it corroborates, it does not define.
            fail("logs.db_error", 1.0, UNRESOLVABLE),
            # ...unless the name is right and what it names is stopped.
            fail("database.reachable", -3.0, PEER_DOWN),
            state_is(1.0, states.FAILED_AT_START, states.CRASH_LOOPING),
            passed("startup.secrets", -1.0),
            # A missing variable or TLS file explains a failed validation just as well.
            fail("startup.env", -1.0),
            fail("startup.tls", -1.0),
        ),
        resolution=(
            VALIDATION,
            ENV,
            Step("Fix each reported setting: secrets of at least 32 characters without weak "
                 "words (password, changeme, admin, root, 123456, default, secret), "
                 "DATABASE_HOST/PORT/NAME/USER set, port 1-65535, DATABASE_PASSWORD equal to the "
                 "database user's password"),
            RECREATE,
        ),
        expected_fail=("startup.secrets", "startup.validation"),
        expected_pass=("startup.env",),
    ),
    Cause(
        "missing-env", "startup-failure", "Missing required environment variables",
        ("cause-4.2",),
        signals=(
            fail("startup.env", 3.0),
            fail("logs.validation", 1.0),
            fail("logs.validation", 1.5, MISSING, defining=True),
            fail("startup.validation", 1.0),
            state_is(1.0, states.FAILED_AT_START, states.CRASH_LOOPING),
            passed("startup.env", -2.0),
        ),
        resolution=(
            ENV,
            Step("Set the missing variables where the deployment keeps them (Compose `.env` / "
                 "`environment:`, the Kubernetes Secret, the unit's `EnvironmentFile=`)"),
            RECREATE,
            VALIDATION,
        ),
        expected_fail=("startup.env", "startup.validation"),
        expected_pass=("startup.secrets",),
    ),
    Cause(
        "tls", "startup-failure", "TLS certificate issues",
        ("cause-4.3",),
        signals=(
            fail("startup.tls", 3.0),
            fail("logs.tls_error", 3.0),
            fail("logs.validation", 1.5, TLS, defining=True),
            fail("startup.validation", 1.0, TLS),
            state_is(1.0, states.FAILED_AT_START, states.CRASH_LOOPING),
            passed("startup.tls", -1.0),
        ),
        resolution=(
            Step("Inspect the certificate: `openssl x509 -in \"$TLS_CERT_FILE\" -noout -subject "
                 "-enddate`; check TLS_CERT_FILE and TLS_KEY_FILE exist and are readable by the "
                 "service"),
            Step("Check the key matches without showing it: compare `openssl x509 -in "
                 "\"$TLS_CERT_FILE\" -noout -pubkey | sha256sum` with `openssl pkey -in "
                 "\"$TLS_KEY_FILE\" -pubout | sha256sum`"),
            Step("Renew or replace the certificate (and its key), then reload the service"),
            RECREATE,
        ),
        expected_fail=("startup.tls",),
        expected_pass=("startup.env", "startup.secrets"),
    ),
    # --- situations the runbook names no cause for ----------------------------------------------
    Cause(
        "stopped", "not-in-runbook", "Stopped on request (docker stop, systemctl stop, scaled to 0)",
        (),
        signals=(
            state_is(3.0, states.STOPPED, states.STOPPING, states.SCALED_TO_ZERO),
            fail("running.exists", 3.0, how=(states.SCALED_TO_ZERO,)),
        ),
        resolution=(
            Step("Ask who stopped it and why (a deploy, maintenance, a mistake): `docker events "
                 "--since 1h --filter container=qbitel-engine`, `journalctl -u qbitel | grep "
                 "Stopp`, `kubectl get deployment qbitel-engine -n qbitel` (replicas)"),
            Step("Start it again when that is right: `docker-compose up -d qbitel-engine`, "
                 "`systemctl start qbitel`, `kubectl scale deployment/qbitel-engine --replicas=3 "
                 "-n qbitel`"),
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "killed", "not-in-runbook", "Killed on request (docker kill, a kubelet kill)",
        (),
        signals=(state_is(3.0, states.KILLED),),
        resolution=(
            Step("Find who killed it: `docker events --since 1h --filter container=qbitel-engine` "
                 "(a kill event names the signal), `kubectl get events -n qbitel "
                 "--field-selector reason=Killing`"),
            RESTART,
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "paused", "not-in-runbook", "Frozen (docker pause): takes connections, answers nothing",
        (),
        signals=(state_is(3.0, states.PAUSED),),
        resolution=(Step("Unfreeze it: `docker unpause qbitel-engine`; find who paused it in "
                         "`docker events`"),),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "detached", "not-in-runbook", "Running on no network: reaches nothing, reached by nothing",
        (),
        signals=(state_is(3.0, states.DETACHED),),
        resolution=(Step("Attach it again: `docker network connect <project>_default qbitel-engine`, "
                         "or recreate it: `docker-compose up -d --force-recreate qbitel-engine` (a "
                         "restart keeps it detached); find who disconnected it in `docker events`"),),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "absent", "not-in-runbook", "Not deployed: no container, unit or pod",
        (),
        signals=(fail("running.exists", 3.0, how=(states.MISSING,)),),
        resolution=(
            Step("Check the names the checks used (--compose-project/--service, --unit, "
                 "--namespace/--selector) against `docker ps -a`, `systemctl list-units`, "
                 "`kubectl get pods -A`; deploy it if it was removed"),
        ),
        expected_fail=("running.exists",), in_runbook=False,
    ),
    Cause(
        "http-errors", "not-in-runbook", "Up, but failing every request (HTTP 5xx)",
        (),
        signals=(
            fail("health.endpoint", 3.0, r"HTTP 50[0-24-9]"),
            fail("health.endpoint", 1.0, r"HTTP 503"),
            fail("logs.stack_trace", 1.0, RUNS_ON),  # each failing request's traceback
            # The engine's 503 blames its database: the database rows explain it.
            fail("health.database", -2.0),
            fail("database.ready", -2.0),
            fail("running.state", -3.0),  # not running at all: no request reaches it
        ),
        resolution=(
            Step("See what every request hits: `curl -sv http://localhost:8000/health` and one API "
                 "call; read the exception the engine logs for each request "
                 "(`docker-compose logs --tail=100 qbitel-engine`)"),
            Step("Roll back the last deploy if it started with it; a restart will not fix a bug "
                 "that fails every request"),
            RESTART,
        ),
        expected_fail=("health.endpoint",), in_runbook=False, symptom=True,
    ),
    Cause(
        "port-dead", "not-in-runbook", "Process alive, HTTP port dead",
        (),
        signals=(
            # Nothing answering alone is no proof: from a URL a stopped process looks the same.
            # With the platform saying the process lives, it defines this.
            fail("health.endpoint", 2.0, DEAD_PORT),
            passed("running.state", 2.0, how=(states.RUNNING,), defining=True),
            # In its first seconds a service listens on nothing yet: that is starting.
            passed("running.state", -3.0, how=(states.STARTING,)),
            fail("running.state", -3.0),  # not running: a dead port is no news
        ),
        resolution=(
            LOGS,
            Step("The process runs but does not listen on its HTTP port: look for \"Application "
                 "startup failed\" in the logs (the real engine keeps running on gRPC when its REST "
                 "server fails to start) and fix what it names; then restart"),
            RESTART,
        ),
        expected_fail=("health.endpoint",), expected_pass=("running.state",), in_runbook=False,
        symptom=True,
    ),
    Cause(
        "crash-loop", "not-in-runbook", "Crash-looping, and its logs do not say why",
        (),
        signals=(state_is(2.0, states.CRASH_LOOPING, defining=True),),
        resolution=(
            LOGS,
            Step("Read the previous run's last lines: `docker logs --tail 50 qbitel-engine`, "
                 "`kubectl logs --previous -l app=qbitel-engine -n qbitel`, `journalctl -u qbitel "
                 "-n 50`"),
            VALIDATION,
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "partial", "not-in-runbook", "Some replicas fail while the others serve",
        (),
        signals=(fail("running.health", 3.0, how=(states.PARTIAL,)),),
        resolution=(
            Step("Describe the failing pods named above: `kubectl describe pod POD -n qbitel` and "
                 "`kubectl logs --previous POD -n qbitel`; their own cause is in there"),
            Step("Delete a pod stuck in a bad state so it is recreated: `kubectl delete pod POD -n "
                 "qbitel`"),
        ),
        expected_fail=("running.health",), in_runbook=False,
    ),
    Cause(
        "not-ready", "not-in-runbook", "Running, but failing its readiness probe",
        (),
        signals=(
            state_is(3.0, states.NOT_READY),
            fail("health.database", -1.0),
        ),
        resolution=(
            Step("Read the probe's own failure: `kubectl describe pod -l app=qbitel-engine -n "
                 "qbitel` (Events: Readiness probe failed ...), then `kubectl exec` a `curl -v "
                 "localhost:8000/health`"),
            DB_CHECK,
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "evicted", "not-in-runbook", "Evicted by its node (the node ran low on a resource)",
        (),
        signals=(state_is(3.0, states.EVICTED),),
        resolution=(
            Step("Read the node's reason: `kubectl describe pod POD -n qbitel` (Status: Failed, "
                 "Reason: Evicted, Message: The node was low on resource: ...)"),
            Step("Give the pod requests that match its use, or more room on the nodes; a memory "
                 "eviction is the runbook's memory exhaustion at the node's scale"),
            MEMORY,
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "unschedulable", "not-in-runbook", "Pending: the scheduler cannot place the pod",
        (),
        signals=(state_is(3.0, states.UNSCHEDULABLE),),
        resolution=(
            Step("Read the scheduler's reason: `kubectl get events -n qbitel --field-selector "
                 "reason=FailedScheduling`; lower the pod's requests or add capacity"),
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
    Cause(
        "image-pull", "not-in-runbook", "The image cannot be pulled",
        (),
        signals=(state_is(3.0, states.IMAGE_PULL),),
        resolution=(
            Step("Check the image name and tag, and the registry's credentials: `kubectl describe "
                 "pod -l app=qbitel-engine -n qbitel` (Events: Failed to pull image ...)"),
        ),
        expected_fail=("running.state",), in_runbook=False,
    ),
)

_BY_ID = {c.id: c for c in CAUSES}


def cause(id: str) -> Cause:
    """The cause with this id; KeyError names the known ids."""
    try:
        return _BY_ID[id]
    except KeyError:
        raise KeyError(f"unknown cause {id!r}; known: {', '.join(_BY_ID)}") from None
