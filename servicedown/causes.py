"""The runbook's common causes as data: the one table triage, chaos and the report read.

Each cause names the runbook items it stands for, the check outcomes that point to it or away
from it (signals, weighted), the resolution steps, and the expected detection that the chaos
harness holds a fault of this cause to.

Weights: 3 = the check that measures this cause itself, 2 = strong corroboration,
1-1.5 = a symptom this cause shares with a few others; negative = evidence against it.
A `when` pattern narrows a signal to results whose message (or textual evidence) says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from servicedown.model import CheckResult, Outcome

CATEGORIES: dict[str, str] = {  # id -> the runbook's heading (cause-1 .. cause-4)
    "application-crash": "Application Crash",
    "resource-exhaustion": "Resource Exhaustion",
    "database": "Database Connection Issues",
    "startup-failure": "Startup Failure",
}


@dataclass(frozen=True)
class Signal:
    check: str
    outcome: Outcome
    weight: float
    when: str | None = None  # regex, case-insensitive, searched in the result's text

    def matches(self, result: CheckResult) -> bool:
        if result.id != self.check or result.outcome is not self.outcome:
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

    @property
    def resolution_text(self) -> list[str]:
        return [s.text for s in self.resolution]


def fail(check: str, weight: float, when: str | None = None) -> Signal:
    return Signal(check, Outcome.FAIL, weight, when)


def passed(check: str, weight: float, when: str | None = None) -> Signal:
    return Signal(check, Outcome.PASS, weight, when)


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
NETWORK = (r"timeout expired|timed out|could not translate host|name or service not known"
           r"|temporary failure in name resolution|no route to host|network is unreachable")
SHUTDOWN = r"database system is (?:shutting down|starting up)|terminating connection|rejecting"
SLOW = r"slow|budget|timed out|timeout"
# The platform recorded a kill request before the exit (docker kill, a stop that timed out).
# or the platform, which records OOM kills, recorded none for a SIGKILL.
KILL_REQUEST = r"\bkill signal=\d+|not the OOM killer"
TLS = r"\btls|certificate|\bssl"
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


CAUSES: tuple[Cause, ...] = (
    Cause(
        "crash", "application-crash", "The application crashed (uncaught exception)",
        ("cause-1", "cause-1.1"),
        signals=(
            fail("logs.stack_trace", 2.5),
            fail("running.exit_code", 1.0),
            # Not running with nothing else to blame: the base explanation.
            fail("running.state", 1.5),
            # Killed on request (docker kill / stop timeout), not by the kernel.
            fail("running.exit_code", 2.0, KILL_REQUEST),
            # A kill, or a traceback whose cause another row names, is not a bare crash.
            fail("running.exit_code", -1.0, KILLED),
            fail("running.oom_killed", -2.0),
            fail("logs.oom", -1.0),
            fail("logs.disk_full", -1.0),
            fail("logs.fd_limit", -1.0),
            fail("logs.db_error", -1.0),
            fail("logs.tls_error", -1.0),
            fail("logs.validation", -1.0),
            fail("startup.env", -1.5),
            fail("startup.secrets", -1.5),
            fail("startup.tls", -1.5),
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
            fail("resources.memory", 2.0),
            # A kill by signal 9 that nobody asked for is the kernel's OOM killer's mark.
            fail("running.exit_code", 2.0, KILLED),
            fail("health.live", 1.0, r"memory"),
            fail("running.exit_code", -2.0, KILL_REQUEST),
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
            fail("health.database", 1.0),
            fail("logs.db_error", 1.0),
            fail("logs.db_error", 2.0, SHUTDOWN),
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
            fail("database.ready", 2.0, TOO_MANY),
            fail("database.reachable", 2.0, TOO_MANY),
            fail("health.database", 1.0, TOO_MANY + r"|pool"),
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
            # The server answered (full, shutting down, refused the password): the path works.
            fail("database.reachable", -3.0, f"{TOO_MANY}|{AUTH}|{SHUTDOWN}"),
            passed("database.reachable", -3.0),
            fail("health.database", 1.0),
            fail("logs.db_error", 1.0),
            fail("logs.db_error", 1.0, NETWORK),
            fail("logs.db_error", -2.0, f"{AUTH}|{SHUTDOWN}"),
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
            fail("logs.validation", 1.5, WEAK_SHORT),
            fail("startup.validation", 1.0),
            fail("logs.db_error", 2.0, AUTH),  # DATABASE_PASSWORD does not match the database
            fail("database.reachable", 2.0, AUTH),
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
            fail("logs.validation", 1.5, MISSING),
            fail("startup.validation", 1.0),
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
            fail("logs.validation", 1.5, TLS),
            fail("startup.validation", 1.0, TLS),
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
)

_BY_ID = {c.id: c for c in CAUSES}


def cause(id: str) -> Cause:
    """The cause with this id; KeyError names the known ids."""
    try:
        return _BY_ID[id]
    except KeyError:
        raise KeyError(f"unknown cause {id!r}; known: {', '.join(_BY_ID)}") from None
