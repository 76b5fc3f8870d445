"""Credentials in the engine's URL (`--host https://monitor:pw@engine`), for load runs: Locust
is given the URL without them (its reports and logs print the host), and its processes get
them from the environment, never from a command line, as an Authorization header."""

from __future__ import annotations

import base64
import os

from servicedown.backends.http import without_credentials

AUTH_ENV = "SERVICEDOWN_LOAD_AUTH"  # user:password


def split(host: str) -> tuple[str, str | None]:
    """-> (the URL without its userinfo, "user:password" or None)."""
    bare, auth = without_credentials(host)
    return bare, None if auth is None else f"{auth[0]}:{auth[1]}"


def headers() -> dict[str, str]:
    """The Authorization header for this process's requests, if the run was given credentials."""
    pair = os.environ.get(AUTH_ENV)
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()} if pair else {}
