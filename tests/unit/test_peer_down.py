"""A database host name that does not resolve: a typo in DATABASE_HOST (the engine's setting), or
a stopped Compose service that dropped out of Docker's DNS (the path is down). A hand-made
incident: the toxiproxy container between the engine and Postgres stopped."""

from __future__ import annotations

import pytest

from servicedown.backends.command import CommandResult
from servicedown.backends.http import HttpAnswer
from servicedown.config import Settings
from servicedown.model import Outcome
from servicedown.triage import triage
from tests.fakes import FakeNetwork, FakeTarget, results

ENV = {"DATABASE_HOST": "toxiproxy", "DATABASE_PORT": "5432", "DATABASE_USER": "qbitel_user",
       "DATABASE_NAME": "qbitel", "DATABASE_PASSWORD": "x" * 32}
UNRESOLVED = "no-attempt\tcannot resolve toxiproxy: [Errno -2] Name or service not known"


class NameGone(FakeTarget):
    def __init__(self, peer: str | None) -> None:
        super().__init__(ENV, settings=Settings(target="url", base_url="http://engine:8000"))
        self.peer = peer

    def run_in_service(self, argv: list[str], timeout: float) -> CommandResult | None:
        return CommandResult(2, UNRESOLVED, "")

    def peer_down(self, host: str) -> str | None:
        return self.peer


STOPPED = "'toxiproxy' is the service 'toxiproxy' of compose project 'qbitel', whose container " \
          "qbitel-toxiproxy is exited: a stopped service drops out of Docker's DNS"


@pytest.mark.parametrize(("peer", "says", "top"), [
    (STOPPED, "the database's path is down", "db-network"),
    (None, "cannot resolve toxiproxy", "config-invalid"),  # nothing here by that name: a typo
])
def test_a_stopped_peer_is_the_path_and_an_unknown_name_is_the_setting(peer, says, top):
    got = results(NameGone(peer), ["database.reachable", "health.database"],
                  FakeNetwork(HttpAnswer(503, 0.05, body={"status": "unhealthy"})))
    r = got["database.reachable"]
    assert r.outcome is Outcome.FAIL and says in r.message
    assert triage(got.values()).causes[0].id == top
