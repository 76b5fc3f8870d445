"""A recording holds no secret value and no private key, and its replay still judges the
secrets and the TLS files exactly as the live run did."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from servicedown.chaos.certs import make_pair
from servicedown.probes.tlscheck import inspect_tls
from servicedown.record import codec, masking
from servicedown.redact import Redactor
from servicedown.secrets import assess_one

STRONG = "q7Vd2LmX9pR4tZ8wK1nB6cY3hJ5fG0sA"


@pytest.mark.parametrize(("name", "value"), [
    ("JWT_SECRET", STRONG), ("JWT_SECRET", "short-one"), ("DATABASE_PASSWORD", "MyPassword123456"),
    ("DATABASE_PASSWORD", "adminroot"), ("ENCRYPTION_KEY", "x" * 44), ("JWT_SECRET", "abcd"),
])
def test_a_standin_is_judged_as_the_value_it_replaces(name, value):
    s = masking.standin(value, 3)
    assert s != value and len(s) == len(value)
    assert masking.is_standin(s) or value == "adminroot"  # weak words only: no room for the mark
    real, fake = assess_one(name, value), assess_one(name, s)
    assert (fake.length, fake.weak_patterns, fake.too_short, fake.severity) == \
        (real.length, real.weak_patterns, real.too_short, real.severity)


def test_standins_differ_and_survive_the_redactors_assignment_rule():
    a, b = masking.standin(STRONG, 0), masking.standin(STRONG, 1)
    assert a != b
    line = f"JWT_SECRET={a}\0ENCRYPTION_KEY={b}\0DATABASE_HOST=postgres"
    assert Redactor().redact(line) == line


def _doc(env_value, log_line):
    return {"target": {"backend": "docker", "calls": [
        {"method": "containers", "args": {"labels": {}},
         "answer": [{"Config": {"Env": [f"JWT_SECRET={env_value}", "DATABASE_HOST=db",
                                        "POSTGRES_PASSWORD=pg-pass-12345678"]}}]},
        {"method": "logs", "args": {"tail": 100}, "answer": log_line},
        {"method": "read_file", "args": {"path": "/x"},
         "answer": codec.encode(f"token {env_value}".encode())},
    ]}}


def test_mask_replaces_every_secret_in_args_answers_and_bytes():
    line = f"connect postgresql://u:pg-pass-12345678@db/x with JWT {STRONG} password=hunter22"
    masked = masking.mask(_doc(STRONG, line), {})
    text = json.dumps(masked.doc)
    assert masking.leaks(masked.doc, [STRONG, "pg-pass-12345678", "hunter22"]) == []
    assert STRONG not in text and "hunter22" not in text
    assert masked.secret_names == ["JWT_SECRET", "POSTGRES_PASSWORD"]
    env = masked.doc["target"]["calls"][0]["answer"][0]["Config"]["Env"]
    jwt = env[0].partition("=")[2]
    assert masking.is_standin(jwt) and len(jwt) == len(STRONG)
    assert "DATABASE_HOST=db" in env
    read = codec.decode(masked.doc["target"]["calls"][2]["answer"])
    assert read == f"token {jwt}".encode()


def test_leaks_finds_a_secret_in_bytes_and_url_encoded():
    doc = {"a": codec.encode(b"xx" + STRONG.encode()), "b": "p%40ss%2Fword-long"}
    assert masking.leaks(doc, [STRONG]) == ["a 32-character secret"]
    assert masking.leaks(doc, ["p@ss/word-long"]) == ["a 14-character secret"]


def test_values_of_secret_references_and_short_values_are_not_secrets():
    from servicedown.secrets import SECRET_REF

    assert masking.env_secrets({"JWT_SECRET": SECRET_REF, "API_KEY": "abc",
                                "DATABASE_NAME": "qbitel-long"}) == {}


def test_kubernetes_plain_env_values_are_found():
    doc = {"spec": {"containers": [{"env": [{"name": "JWT_SECRET", "value": STRONG},
                                            {"name": "LOG_LEVEL", "value": "INFO"}]}]}}
    assert masking.recorded_env_secrets(doc) == {STRONG: "JWT_SECRET"}


NOW = datetime.now(UTC)


@pytest.mark.parametrize("case", ["matching", "expired-other-key", "key-missing", "junk-key"])
def test_private_keys_are_swapped_and_the_tls_check_reads_the_same(case):
    pair = make_pair()
    other = make_pair(expired_days_ago=2)
    cert, key = {
        "matching": (pair.cert_pem, pair.key_pem),
        "expired-other-key": (other.cert_pem, pair.key_pem),
        "key-missing": (pair.cert_pem, None),
        "junk-key": (pair.cert_pem, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
    }[case]
    doc = {"calls": [{"answer": codec.encode(cert)}, {"answer": codec.encode(key)},
                     {"answer": CommandText(cert, key)}]}
    masked, swap = masking.swap_keys(json.loads(json.dumps(doc)))
    cert2 = codec.decode(masked["calls"][0]["answer"])
    key2 = codec.decode(masked["calls"][1]["answer"])
    before = inspect_tls(cert, key, now=NOW).to_json()
    after = inspect_tls(cert2, key2, now=NOW).to_json()
    assert after == before
    if key is not None:
        assert key2 != key and pair.key_pem not in json.dumps(masked).encode()
    text = masked["calls"][2]["answer"]  # a key read as command output (systemd's head -c)
    assert "PRIVATE KEY" not in text or key is None or pair.key_pem.decode() not in text
    if case in ("matching", "expired-other-key"):
        assert len(swap.fingerprints) == 1


def CommandText(cert: bytes, key: bytes | None) -> str:
    return cert.decode() + ((key or b"").decode())
