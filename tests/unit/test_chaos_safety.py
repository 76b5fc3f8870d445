"""The harness acts only on what its own run created; its toxiproxy client is bounded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

from servicedown.chaos.cleanup import LABEL, Leftovers, NotOwned, ensure_owned
from servicedown.chaos.stack import EngineSpec, StackConfig, make_secret
from servicedown.chaos.toxics import Toxic, Toxiproxy, ToxiproxyError
from servicedown.ports import free_port
from servicedown.secrets import assess_one


def container(labels: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(name="c", attrs={"Config": {"Labels": labels}})


def test_ensure_owned_refuses_what_another_run_or_nobody_made():
    mine = container({LABEL: "sdchaos-1"})
    assert ensure_owned(mine, "sdchaos-1") is mine
    for labels in ({LABEL: "sdchaos-2"}, {"com.docker.compose.project": "qbitel"}, {}):
        with pytest.raises(NotOwned, match="refusing to act"):
            ensure_owned(container(labels), "sdchaos-1")
    volume = SimpleNamespace(name="v", attrs={"Labels": {LABEL: "sdchaos-1"}})
    assert ensure_owned(volume, "sdchaos-1") is volume


def test_leftovers_empty():
    assert Leftovers().empty
    assert not Leftovers(volumes=["v"]).empty


def test_generated_secrets_pass_the_engines_rules():
    for name in ("DATABASE_PASSWORD", "JWT_SECRET", "ENCRYPTION_KEY"):
        value = make_secret(name)
        assert len(value) == 48 and assess_one(name, value).ok


def test_engine_spec_changes_are_new_specs():
    base = EngineSpec("default", {"A": "1", "B": "2"})
    changed = base.changed("x", {"C": "3"}, unset=("A",), nofile=64)
    assert changed.env == {"B": "2", "C": "3"} and changed.nofile == 64
    assert base.env == {"A": "1", "B": "2"} and base != changed


def test_image_names_are_settings():
    cfg = StackConfig.from_env({"QBITEL_ENGINE_IMAGE": "ghcr.io/x/engine:1"})
    assert cfg.engine_image == "ghcr.io/x/engine:1"
    assert cfg.postgres_image == StackConfig.postgres_image


def test_engine_profile_is_a_setting():
    assert StackConfig.from_env({}).engine_profile == "reference"
    assert StackConfig.from_env({"QBITEL_ENGINE_PROFILE": "real-shape"}).engine_profile == "real-shape"


def test_free_port():
    assert 1024 < free_port() < 65536


def fake_toxiproxy(handler) -> Toxiproxy:
    return Toxiproxy("http://toxiproxy:8474", transport=httpx.MockTransport(handler))


def test_toxiproxy_client_calls():
    seen: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        assert not request.headers["user-agent"].startswith("Mozilla/")
        if request.url.path == "/proxies":
            return httpx.Response(200, json={"postgres": {"enabled": True, "toxics": [
                {"name": "chaos-latency"}]}})
        if request.method == "DELETE":
            return httpx.Response(404, text="toxic not found")
        return httpx.Response(200, json={})

    tp = fake_toxiproxy(handler)
    tp.add_toxic("postgres", Toxic("chaos-latency", "latency", "downstream", {"latency": 9}))
    assert tp.toxics() == ["postgres/chaos-latency"]
    assert tp.remove_toxic("postgres", "chaos-latency") is False  # gone already: not an error
    method, path, body = seen[0]
    assert (method, path) == ("POST", "/proxies/postgres/toxics")
    assert body == {"name": "chaos-latency", "type": "latency", "stream": "downstream",
                    "toxicity": 1.0, "attributes": {"latency": 9}}


def test_toxiproxy_errors_name_the_call():
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="nope")

    with pytest.raises(ToxiproxyError, match="POST /reset: HTTP 500"):
        fake_toxiproxy(refuse).reset()

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ToxiproxyError, match="GET /version: ReadTimeout"):
        fake_toxiproxy(hang).version()
