"""Runbook Common Cause 3, "Database Connection Issues", and Resolution step 3.

`database.ready` asks the database itself (the runbook's pg_isready inside the postgres
service); `database.reachable` asks from the engine's side, logging in with the engine's own
credentials where its environment can be read. Down from both sides means the database is
down; ready but unreachable from the engine means the network between them; reachable but
refusing the engine's password means its configuration.

Where the database is and who logs in come from the engine's own settings (DATABASE_HOST,
PORT, USER, NAME) unless --db-host, --db-user or --db-name say otherwise: the checks ask the
database the engine uses, as the engine asks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicedown.backends.command import CommandResult
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, not_applicable, ok, skip
from servicedown.probes import pgwire
from servicedown.secrets import is_secret_ref
from servicedown.targets.base import NotSupported

PG_ISREADY = "docker-compose exec postgres pg_isready -U qbitel_user -d qbitel"
PROBE_TIMEOUT_S = 3.0
DEFAULT_USER, DEFAULT_NAME = "qbitel_user", "qbitel"  # the engine's own defaults
NO_DB_HOST = ("the database's address is not known here: pass --db-host (and --db-port) to probe "
              "it from where the checks run")


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    user: str
    name: str
    # Where the address came from: a flag or the engine's health report name it as this side
    # can reach it; the engine's own environment names it as the engine reaches it (an
    # in-cluster name means nothing outside the cluster).
    source: str  # "flag" | "health" | "engine" | "default"

    @property
    def reachable_from_here(self) -> bool:
        return self.source in ("flag", "health")


def database(ctx: Context) -> Database:
    """The database the engine uses: flags first, then the engine's environment, then its
    defaults."""
    s = ctx.settings
    try:
        env = ctx.environment() or {}
    except Exception:  # a platform that cannot tell: flags and defaults
        env = {}
    try:
        port = int(s.db_port if s.db_host else env.get("DATABASE_PORT") or s.db_port)
    except ValueError:
        port = s.db_port
    host = s.db_host or env.get("DATABASE_HOST", "")
    source = "flag" if s.db_host else "engine" if host else "default"
    if not host:  # a URL alone: the engine's own health report may say where its database is
        found = _from_health(ctx)
        if found:
            (host, port), source = found, "health"
    return Database(host or "localhost", port, s.db_user or env.get("DATABASE_USER") or DEFAULT_USER,
                    s.db_name or env.get("DATABASE_NAME") or DEFAULT_NAME, source)


def _from_health(ctx: Context) -> tuple[str, int] | None:
    """host and port from /health's database component, where the engine reports them."""
    a = ctx.http_get("/health")
    checks = a.body.get("checks") if isinstance(a.body, dict) else None
    for c in checks if isinstance(checks, list) else []:
        details = c.get("details") if isinstance(c, dict) else None
        if not isinstance(details, dict) or str(c.get("component", "")).lower() not in (
                "database", "db", "postgres"):
            continue
        host = details.get("host") or details.get("database_host")
        try:
            port = int(details.get("port") or details.get("database_port") or 5432)
        except (TypeError, ValueError):
            port = 5432
        if isinstance(host, str) and host:
            return host, port
    return None


def _checker_probe(ctx: Context, db: Database) -> Finding:
    """The same probe from where the checks run (a URL-only target, given --db-host)."""
    verdict, detail = ctx.network.pg_ping(db.host, db.port, db.user, db.name, PROBE_TIMEOUT_S)
    ev = {"from": "checker", "probe": f"{db.host}:{db.port}", "verdict": verdict}
    if verdict == pgwire.ACCEPTING:
        return ok(f"from where the checks run: {detail}", **ev)
    return bad(f"from where the checks run, the database at {db.host}:{db.port} is {verdict}: "
               f"{detail}", **ev)


@check("database.ready", "db-down,step:db-connectivity", "the database is ready (pg_isready)", PG_ISREADY)
def ready(ctx: Context) -> Finding:
    db = database(ctx)
    argv = ["pg_isready", "-U", db.user, "-d", db.name, "-t", str(int(PROBE_TIMEOUT_S))]
    res = ctx.target.run_in_database(argv, timeout=PROBE_TIMEOUT_S + 3)
    if res is not None:
        out = ctx.redactor.clip((res.stdout + res.stderr).strip(), 300)
        ev = {"command": " ".join(argv), "rc": res.rc, "output": out}
        if res.rc == 0:
            return ok(f"pg_isready: {out}", **ev)
        meaning = {1: "rejecting connections (starting up or shutting down)",
                   2: "no response", 3: "no attempt (bad parameters)"}.get(res.rc, "")
        return bad(f"database not ready: {out or meaning} (pg_isready rc={res.rc}"
                   + (f": {meaning})" if meaning else ")"), **ev)
    if not db.reachable_from_here:
        return skip("this target cannot run pg_isready where the database runs; " + NO_DB_HOST)
    return _checker_probe(ctx, db)


@check("database.reachable", "db-network", "the database answers from the engine's side")
def reachable(ctx: Context) -> Finding:
    db = database(ctx)
    ev: dict = {"from": "engine", "endpoint": f"{db.host}:{db.port}", "user": db.user}
    ev["logged_in_as_the_engine"] = bool(_password_source(ctx))
    try:
        res = _engine_side(ctx)
    except NotSupported:
        if db.reachable_from_here:
            return _checker_probe(ctx, db)
        return skip("this target cannot run commands on the engine's side; " + NO_DB_HOST, **ev)
    if res is not None and res.rc in (0, 2):
        verdict, _, detail = res.stdout.strip().partition("\t")
        ev["verdict"] = verdict
        if verdict == pgwire.ACCEPTING:
            return ok(f"from the engine's side: {detail}", **ev)
        peer = ctx.target.peer_down(db.host) if verdict == pgwire.NO_ATTEMPT else None
        if peer:
            # Not the engine's setting: the name is right, what it names is down.
            ev["verdict"] = "peer-down"
            return bad(f"from the engine's side, the database's path is down: {peer}", **ev)
        if verdict == pgwire.AUTH_FAILED:
            return bad(f"from the engine's side, the database at {db.host}:{db.port} answers but "
                       f"refuses the engine's credentials: {detail}", **ev)
        return bad(f"from the engine's side, the database at {db.host}:{db.port} is {verdict}: "
                   f"{detail}", **ev)
    if res is not None:
        # No python3 where the service runs: fall back to pg_isready there, if it exists.
        res2 = ctx.target.run_in_service(
            ["pg_isready", "-h", db.host, "-p", str(db.port), "-U", db.user, "-d", db.name,
             "-t", str(int(PROBE_TIMEOUT_S))], timeout=PROBE_TIMEOUT_S + 3)
        if res2 is not None and res2.rc in (0, 1, 2, 3):
            out = ctx.redactor.clip((res2.stdout + res2.stderr).strip(), 300)
            if res2.rc == 0:
                return ok(f"from the engine's side: {out}", **ev)
            return bad(f"from the engine's side: {out}", **ev)
        return skip(f"no way to probe from the engine's side (rc={res.rc}: "
                    f"{ctx.redactor.clip(res.stderr.strip(), 150)})", **ev)
    return not_applicable("the engine is not running: there is no engine side to probe from", **ev)


def _engine_side(ctx: Context) -> CommandResult | None:
    """The protocol probe from where the engine runs, logged in as the engine: asked once a run
    (database.reachable judges it; the logs ask whether the database answers again)."""
    def probe() -> CommandResult | None:
        db = database(ctx)
        return ctx.target.run_in_service(
            pgwire.probe_argv(db.host, db.port, db.user, db.name, PROBE_TIMEOUT_S,
                              _password_source(ctx)), timeout=PROBE_TIMEOUT_S + 3)

    return ctx.cached("engine_side_db_probe", probe)


def answers_the_engine(ctx: Context) -> bool:
    """The database takes the engine's own login now, from the engine's side (False when that
    cannot be asked)."""
    try:
        res = _engine_side(ctx)
    except Exception:  # NotSupported, a platform that does not answer: cannot say it does
        return False
    return res is not None and res.rc == 0 and res.stdout.startswith(pgwire.ACCEPTING + "\t")


def _password_source(ctx: Context) -> str:
    """Where the probe on the engine's side finds the engine's password ('' when the engine has
    none that could be read): the value itself never leaves the engine's side."""
    try:
        env = ctx.environment() or {}
    except Exception:
        return ""
    value = env.get("DATABASE_PASSWORD")
    if not value and not is_secret_ref(value):
        return ""
    return ctx.target.env_source("DATABASE_PASSWORD")


CONNECTIONS_SQL = ("select count(*), current_setting('max_connections'), "
                   "current_setting('superuser_reserved_connections') "
                   "from pg_stat_activity where backend_type = 'client backend'")


@check("database.connections", "db-pool-exhausted", "connections in use below max_connections")
def connections(ctx: Context) -> Finding:
    s = ctx.settings
    db = database(ctx)
    res = ctx.target.run_in_database(
        ["psql", "-X", "-At", "-F", " ", "-U", db.user, "-d", db.name, "-c", CONNECTIONS_SQL],
        timeout=PROBE_TIMEOUT_S + 3)
    if res is None:
        return skip("this target cannot query the database where it runs")
    out = (res.stdout + res.stderr).strip()
    if "too many clients" in out or "remaining connection slots" in out:
        return bad(f"the database refuses new connections: {ctx.redactor.clip(out, 200)}",
                   output=ctx.redactor.clip(out, 300))
    if not res.ok:
        return skip(f"cannot query pg_stat_activity as {db.user} (rc={res.rc}): "
                    f"{ctx.redactor.clip(out, 200)}")
    try:
        used, max_conn, reserved = (int(x) for x in out.split()[:3])
    except ValueError:
        return skip(f"unexpected psql output: {ctx.redactor.clip(out, 200)}")
    ratio = used / max_conn if max_conn else 0.0
    ev = {"used": used, "max_connections": max_conn, "superuser_reserved": reserved}
    msg = f"{used} of max_connections {max_conn} in use ({ratio:.0%})"
    if ratio >= s.connections_threshold:
        return bad(msg + ": connection pool exhausted", **ev)
    return ok(msg, **ev)
