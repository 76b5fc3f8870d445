"""Where the database checks look for the database and what they say from where the checks run:
the engine's health report's own keys, a platform that cannot tell its environment, the probe
from this side."""

from __future__ import annotations

from typing import Any

import pytest

from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.diagnosis import database
from servicedown.diagnosis.context import Context
from servicedown.model import Outcome
from tests.fakes import FakeTarget


class Net:
    def __init__(self, health: Any = None, pg: tuple[str, str] = ("accepting", "ok")) -> None:
        self.health, self.pg, self.pinged = health, pg, []

    def get(self, url: str) -> HttpAnswer:
        return HttpAnswer(url, 200, self.health)

    def pg_ping(self, host: str, port: int, user: str, db: str, timeout_s: float) -> tuple[str, str]:
        self.pinged.append((host, port, user, db, timeout_s))
        return self.pg

    def close(self) -> None:
        pass


class NoEnvironment(FakeTarget):
    def environment(self) -> dict[str, str] | None:
        raise RuntimeError("the platform cannot say")


def _ctx(target: FakeTarget | None = None, net: Net | None = None, **settings: Any) -> Context:
    s = Settings(target="url", **settings)
    return Context(s, target or FakeTarget(None, settings=s), network=net or Net())


@pytest.mark.parametrize(("details", "found"), [
    ({"host": "h", "port": 6000}, ("h", 6000)),
    ({"host": "h", "port": 6000, "database_port": 7000}, ("h", 6000)),
    ({"database_host": "h", "database_port": 7000}, ("h", 7000)),
    ({"host": 123, "port": 6000}, None),  # not a name
    ({"host": ["h"]}, None),
])
def test_the_health_reports_host_and_port_keys(details, found):
    body = {"checks": [{"component": "Postgres", "details": details}]}
    assert database._from_health(_ctx(net=Net(body))) == found


def test_a_platform_that_cannot_tell_the_environment_leaves_flags_and_defaults():
    s = Settings(target="url")
    db = database.database(_ctx(NoEnvironment(settings=s), db_user="ops"))
    assert (db.host, db.port, db.user, db.name, db.source) == ("localhost", 5432, "ops", "qbitel",
                                                               "default")
    assert database._password_source(_ctx(NoEnvironment(settings=s))) == ""


@pytest.mark.parametrize(("env", "source"), [
    ({"DATABASE_PASSWORD": "s3cret-enough"}, "env:DATABASE_PASSWORD"),
    ({"DATABASE_PASSWORD": ""}, ""),
    ({}, ""),
    (None, ""),
])
def test_the_password_is_found_where_the_engine_has_one(env, source):
    s = Settings(target="url")
    assert database._password_source(_ctx(FakeTarget(env, settings=s))) == source


def test_ready_probes_from_where_the_checks_run_given_the_databases_address():
    net = Net(pg=("accepting", "accepting connections as qbitel_user"))
    f = database.ready(_ctx(net=net, db_host="db.example", db_port=6432))
    assert net.pinged == [("db.example", 6432, "qbitel_user", "qbitel", database.PROBE_TIMEOUT_S)]
    assert (f.outcome, f.message) == (Outcome.PASS, "from where the checks run: accepting "
                                                    "connections as qbitel_user")
    assert f.evidence == {"from": "checker", "probe": "db.example:6432", "verdict": "accepting"}
    down = database.ready(_ctx(net=Net(pg=("no-response", "timed out after 3 s")), db_host="db.example"))
    assert (down.outcome, down.message) == (
        Outcome.FAIL, "from where the checks run, the database at db.example:5432 is no-response: "
                      "timed out after 3 s")
    assert down.evidence == {"from": "checker", "probe": "db.example:5432", "verdict": "no-response"}
