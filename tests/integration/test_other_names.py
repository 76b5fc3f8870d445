"""A deployment whose every name differs from the reference stack's, as a new user's would: the
Compose project `shop`, the engine as service `api`, the database as service `db` with its own
user and database name, another data folder and port. The checks must take every name from the
flags or the engine's own settings, never assume ours."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servicedown.ports import free_port
from tests.support import pytest_checks, run, wait_for

pytestmark = pytest.mark.compose

COMPOSE = """\
services:
  db:
    image: qbitel-postgres:local
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: shopdb
      POSTGRES_PASSWORD: "{pw}"
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "app", "-d", "shopdb"]
      interval: 2s
      retries: 30
  api:
    image: qbitel-engine:local
    depends_on:
      db:
        condition: service_healthy
    environment:
      QBITEL_ENVIRONMENT: production
      DATABASE_HOST: db
      DATABASE_PORT: "5432"
      DATABASE_NAME: shopdb
      DATABASE_USER: app
      DATABASE_PASSWORD: "{pw}"
      JWT_SECRET: "{jwt}"
      ENCRYPTION_KEY: "{key}"
      QBITEL_DATA_DIR: /srv/shop-data
      QBITEL_STARTUP_GRACE_SECONDS: "0.5"
    ports:
      - "127.0.0.1:{port}:8000"
    volumes:
      - shop-data:/srv/shop-data
    mem_limit: 512m
volumes:
  shop-data:
"""


def _strong() -> str:
    while True:
        value = secrets.token_hex(24)
        if not any(w in value for w in ("123456",)):
            return value


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    folder = tmp_path_factory.mktemp("shop")
    port = free_port()
    (folder / "docker-compose.yml").write_text(COMPOSE.format(pw=_strong(), jwt=_strong(),
                                                              key=_strong(), port=port))
    compose = ["docker-compose", "-p", "shop", "-f", str(folder / "docker-compose.yml")]
    run([*compose, "up", "-d"], timeout=180)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 120, what="the shop's engine healthy")
        yield folder, port
    finally:
        run([*compose, "down", "-v", "--remove-orphans"], timeout=180, check=False)


def test_every_check_runs_with_the_deployments_own_names(shop, tmp_path):
    _, port = shop
    rc, doc, out = pytest_checks(tmp_path, "--compose-project", "shop", "--service", "api",
                                 "--db-service", "db", "--base-url", f"http://127.0.0.1:{port}")
    assert rc == 0, out[-4000:]
    assert doc["verdict"] == "healthy" and doc["coverage"]["unchecked"] == {}
    checks = {c["id"]: c for c in doc["checks"]}
    assert "role" not in checks["database.connections"]["message"]  # no qbitel_user anywhere
    assert checks["database.reachable"]["evidence"]["user"] == "app"
    assert "logged in as app" in checks["database.reachable"]["message"]
    assert "/srv/shop-data" in json.dumps(checks["resources.disk"]["evidence"])
    assert "qbitel_user" not in json.dumps(doc)
