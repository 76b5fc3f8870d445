"""Runbook Common Cause 3, "Database Connection Issues", and Resolution step 3.

`database.ready` asks the database itself (the runbook's pg_isready inside the postgres
service); `database.reachable` asks from the engine's side. Down from both sides means the
database is down; ready but unreachable from the engine means the network between them.
"""

from __future__ import annotations

from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, ok, skip
from servicedown.probes import pgwire

PG_ISREADY = "docker-compose exec postgres pg_isready -U qbitel_user -d qbitel"
PROBE_TIMEOUT_S = 3.0


def _db_endpoint(ctx: Context) -> tuple[str, int]:
    """The checker's --db-host if given, else where the engine looks (its own env)."""
    if ctx.settings.db_host:
        return ctx.settings.db_host, ctx.settings.db_port
    env = ctx.environment() or {}
    try:
        port = int(env.get("DATABASE_PORT") or ctx.settings.db_port)
    except ValueError:
        port = ctx.settings.db_port
    return env.get("DATABASE_HOST") or "localhost", port


@check("database.ready", "cause-3.1,resolution-3", "the database is ready (pg_isready)", PG_ISREADY)
def ready(ctx: Context) -> Finding:
    s = ctx.settings
    argv = ["pg_isready", "-U", s.db_user, "-d", s.db_name, "-t", str(int(PROBE_TIMEOUT_S))]
    res = ctx.target.run_in_database(argv, timeout=PROBE_TIMEOUT_S + 3)
    if res is not None:
        out = (res.stdout + res.stderr).strip()[:300]
        ev = {"command": " ".join(argv), "rc": res.rc, "output": out}
        if res.rc == 0:
            return ok(f"pg_isready: {out}", **ev)
        meaning = {1: "rejecting connections (starting up or shutting down)",
                   2: "no response", 3: "no attempt (bad parameters)"}.get(res.rc, "")
        return bad(f"database not ready: {out or meaning} (pg_isready rc={res.rc}"
                   + (f": {meaning})" if meaning else ")"), **ev)
    if not ctx.settings.db_host:
        return skip("this target cannot run pg_isready where the database runs; "
                    "give --db-host/--db-port to probe it from here")
    host, port = _db_endpoint(ctx)
    verdict, detail = pgwire.pg_ping(host, port, s.db_user, s.db_name, PROBE_TIMEOUT_S)
    ev = {"probe": f"{host}:{port}", "verdict": verdict}
    return ok(detail, **ev) if verdict == "accepting" else bad(f"database {verdict}: {detail}", **ev)


@check("database.reachable", "cause-3.3", "the database answers from the engine's side")
def reachable(ctx: Context) -> Finding:
    s = ctx.settings
    host, port = _db_endpoint(ctx)
    ev: dict = {"from": "engine", "endpoint": f"{host}:{port}"}
    res = ctx.target.run_in_service(
        pgwire.probe_argv(host, port, s.db_user, s.db_name, PROBE_TIMEOUT_S),
        timeout=PROBE_TIMEOUT_S + 3)
    if res is not None and res.rc in (0, 2):
        verdict, _, detail = res.stdout.strip().partition("\t")
        ev["verdict"] = verdict
        if verdict == "accepting":
            return ok(f"from the engine's side: {detail}", **ev)
        return bad(f"from the engine's side, the database at {host}:{port} is {verdict}: {detail}",
                   **ev)
    if res is not None:
        # No python3 where the service runs: fall back to pg_isready there, if it exists.
        res2 = ctx.target.run_in_service(
            ["pg_isready", "-h", host, "-p", str(port), "-U", s.db_user, "-d", s.db_name,
             "-t", str(int(PROBE_TIMEOUT_S))], timeout=PROBE_TIMEOUT_S + 3)
        if res2 is not None and res2.rc in (0, 1, 2, 3):
            out = (res2.stdout + res2.stderr).strip()[:300]
            if res2.rc == 0:
                return ok(f"from the engine's side: {out}", **ev)
            return bad(f"from the engine's side: {out}", **ev)
        return skip(f"no way to probe from the engine's side (rc={res.rc}: "
                    f"{res.stderr.strip()[:150]})", **ev)
    if s.target == "url" and s.db_host:
        verdict, detail = pgwire.pg_ping(host, port, s.db_user, s.db_name, PROBE_TIMEOUT_S)
        ev["from"] = "checker"
        return ok(detail, **ev) if verdict == "accepting" else bad(detail, **ev)
    return skip("the engine is not running, so its side cannot be probed", **ev)


CONNECTIONS_SQL = ("select count(*), current_setting('max_connections'), "
                   "current_setting('superuser_reserved_connections') "
                   "from pg_stat_activity where backend_type = 'client backend'")


@check("database.connections", "cause-3.2", "connections in use below max_connections")
def connections(ctx: Context) -> Finding:
    s = ctx.settings
    res = ctx.target.run_in_database(
        ["psql", "-X", "-At", "-F", " ", "-U", s.db_user, "-d", s.db_name, "-c", CONNECTIONS_SQL],
        timeout=PROBE_TIMEOUT_S + 3)
    if res is None:
        return skip("this target cannot query the database where it runs")
    out = (res.stdout + res.stderr).strip()
    if "too many clients" in out or "remaining connection slots" in out:
        return bad(f"the database refuses new connections: {out[:200]}", output=out[:300])
    if not res.ok:
        return skip(f"cannot query pg_stat_activity (rc={res.rc}): {out[:200]}")
    try:
        used, max_conn, reserved = (int(x) for x in out.split()[:3])
    except ValueError:
        return skip(f"unexpected psql output: {out[:200]}")
    ratio = used / max_conn if max_conn else 0.0
    ev = {"used": used, "max_connections": max_conn, "superuser_reserved": reserved}
    msg = f"{used} of max_connections {max_conn} in use ({ratio:.0%})"
    if ratio >= s.connections_threshold:
        return bad(msg + ": connection pool exhausted", **ev)
    return ok(msg, **ev)
