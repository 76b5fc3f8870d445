"""Secrets in the shapes deployments really give them: credential names outside PASSWORD/SECRET/
KEY/TOKEN, credentials inline in text, known values in other encodings, and values too short to
be masked wherever they appear (reported as weak, masked wherever they stand as a credential)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from servicedown.diagnosis.context import Context
from servicedown.redact import MASK, Redactor, redact
from tests.fakes import FakeTarget, results

VALUE = 'Qm7"wR/2+x%k\\Zt9&Lp4=Vn8 Hs6'  # a quote, a backslash, URL, HTML and base64 specials
STRONG = {"DATABASE_PASSWORD": "Xk4vN8qT2wLm6pR9sB3hJ7", "JWT_SECRET": "Wq5" + "nT8kLm2pVr7" * 3,
          "ENCRYPTION_KEY": "Ge4" + "hK9sQm3wXv6" * 3}


def masking_of(env: dict[str, str]) -> Redactor:
    """The redactor a run builds from a service's environment."""
    return Context(FakeTarget(env).settings, FakeTarget(env)).redactor


@pytest.mark.parametrize("name", ["DB_PASS", "SMTP_PASS", "MAIL_PASSWD", "REDIS_PWD", "SENTRY_DSN",
                                  "PROXY_AUTH", "GITHUB_TOKEN", "API_KEY", "APIKEY", "CLIENTSECRET",
                                  "smtp.pass", "db-pass", "JWT_SECRET_FILE", "AWS_CREDENTIALS"])
def test_credential_names_beyond_the_classic_four(name):
    r = masking_of({name: VALUE})
    assert r(f"connected with {VALUE} as the key") == f"connected with {MASK} as the key"


@pytest.mark.parametrize("env", [
    {"DATABASE_URL": f"postgresql://qbitel_user:{quote(VALUE, safe='')}@db:5432/qbitel"},
    {"CACHE_URL": f"redis://:{quote(VALUE, safe='')}@cache:6379/0"},
    {"ERROR_SINK": f"https://{quote(VALUE, safe='')}@sentry.example/42"},  # a token as the user
])
def test_credentials_inside_url_values_are_known_secrets(env):
    r = masking_of(env)
    for form in (VALUE, quote(VALUE, safe="")):
        assert form not in r(f"login failed for {form} (retrying)")


@pytest.mark.parametrize("name", ["QBITEL_BASE_URL", "DATABASE_HOST", "AUTH_ENABLED", "PWD"])
def test_settings_that_are_not_secrets_are_not_masked(name):
    value = {"AUTH_ENABLED": "true", "PWD": "/var/lib/qbitel"}.get(name, "https://qbitel.example")
    r = masking_of({name: value})
    assert r(f"value {value} here") == f"value {value} here"


def _base64_inside(prefix: bytes, value: str) -> tuple[str, str]:
    """A base64 text holding `value` after `prefix`, and the part of it made of value's bytes
    alone (whole groups of 3 bytes), which must vanish whatever the alignment."""
    text = base64.b64encode(prefix + value.encode() + b"-suffix").decode()
    first = -(-len(prefix) // 3) * 4
    last = (len(prefix) + len(value.encode())) // 3 * 4
    return text, text[first:last]


_FORMS = [quote(VALUE, safe=""), quote(VALUE), quote_plus(VALUE),
          json.dumps(VALUE)[1:-1], json.dumps(VALUE), html.escape(VALUE),
          base64.b64encode(VALUE.encode()).decode(),
          base64.b64encode(VALUE.encode()).decode().rstrip("="),
          base64.urlsafe_b64encode(VALUE.encode()).decode()]


@pytest.mark.parametrize("form", _FORMS + [
    # percent-encoding with lower-case and mixed-case hex digits, the value's own letters kept
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(VALUE, safe="")),
    re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0)[:2] + m.group(0)[2].lower(), quote(VALUE, safe="")),
])
def test_known_values_are_masked_in_every_encoding(form):
    out = Redactor([VALUE])(f"it was {form} then")
    assert out.startswith("it was ") and out.endswith(" then") and form not in out
    assert MASK in out and len(out) <= len(f"it was {MASK} then") + 2  # quotes kept, if any


@pytest.mark.parametrize("prefix", [b"", b"u:", b"us:", b"user:"])
def test_known_values_are_masked_inside_a_longer_base64_text(prefix):
    text, core = _base64_inside(prefix, VALUE)
    for form, part in ((text, core), (text.replace("+", "-").replace("/", "_"),
                                      core.replace("+", "-").replace("/", "_"))):
        out = Redactor([VALUE])(f"Basic {form}")
        assert part not in out and MASK in out


@pytest.mark.parametrize(("text", "expected"), [
    ("password: hunter22 next", f"password: {MASK} next"),
    ("Password : 'two words' x", f"Password : '{MASK}' x"),
    ("smtp_pass: abc", f"smtp_pass: {MASK}"),
    ("api-key:\tk1", f"api-key:\t{MASK}"),
    ("--password hunter22 --user bob", f"--password {MASK} --user bob"),
    ("-password hunter22", f"-password {MASK}"),
    ("--db-pass=abc x", f"--db-pass={MASK} x"),
    ("{'password': 'x1', 'user': 'bob'}", f"{{'password': '{MASK}', 'user': 'bob'}}"),
    ("{'db_password': 'it\\'s'}", f"{{'db_password': '{MASK}'}}"),
    ('{"db_password": 12345, "n": 1}', f'{{"db_password": {MASK}, "n": 1}}'),
    ("postgresql://user:pa55@host:5432/db", f"postgresql://user:{MASK}@host:5432/db"),
    ("postgresql+asyncpg://user:p/ss@host/db", f"postgresql+asyncpg://user:{MASK}@host/db"),
    ("redis://:pa55@cache:6379", f"redis://:{MASK}@cache:6379"),
    ("https://ghp_abcdef@github.com/x", f"https://{MASK}@github.com/x"),
    ("SENTRY_DSN=https://k@s.io/1", f"SENTRY_DSN={MASK}"),
    ("DB_PASS=abc SMTP_PASS=x", f"DB_PASS={MASK} SMTP_PASS={MASK}"),
])
def test_inline_credentials(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)",
    "[INFO] ✓ PASS: Secret: JWT_SECRET - JWT_SECRET is properly configured",
    "ssh://admin@vm1", "key_file: /etc/qbitel/tls/key.pem", "cache key: users/42",
    "--key-file /etc/x", "-p 5432 -U qbitel_user", "PWD=/var/lib/qbitel", "at 12:30:00 ok",
    'password authentication failed for user "qbitel_user"',
])
def test_prose_and_settings_are_left_alone(text):
    assert redact(text) == text


def test_mask_json_masks_a_string_under_a_credential_key_whole():
    doc = {"config": {"db_password": "x1", "smtp_pass": "ab", "user": "bob"},
           "DATABASE_PASSWORD": {"present": True, "length": 22}}
    out = Redactor().mask_json(doc)
    assert out["config"] == {"db_password": MASK, "smtp_pass": MASK, "user": "bob"}
    assert out["DATABASE_PASSWORD"] == {"present": True, "length": 22}  # a report, not a value


SHORT = "q7Z"


@pytest.mark.parametrize("shape", [
    f"SMTP_PASS={SHORT}", f"smtp_pass: {SHORT}", f"--smtp-pass {SHORT}", f"{{'smtp_pass': '{SHORT}'}}",
    f"postgresql://u:{SHORT}@db/x", f'"password": "{SHORT}"',
])
def test_a_short_secret_never_comes_through_in_a_credential_shape(shape):
    out = masking_of({"SMTP_PASS": SHORT})(f"config {shape} loaded")
    assert SHORT not in out


@pytest.mark.parametrize(("env", "named"), [
    ({"SMTP_PASS": SHORT}, "SMTP_PASS"),
    ({"DB_PASS": "12"}, "DB_PASS"),
    ({"DATABASE_URL": f"postgresql://u:{SHORT}@db/x"}, "DATABASE_URL"),
    ({"DATABASE_PASSWORD": SHORT}, "DATABASE_PASSWORD"),  # the engine sets no minimum for it
])
def test_a_secret_too_short_to_mask_is_reported_weak(env, named):
    result = results(FakeTarget({**STRONG, **env}), ["startup.secrets"])["startup.secrets"]
    assert result.outcome == "fail" and named in result.message
    assert named in result.evidence["too_short_to_mask"]
    assert SHORT not in result.message + json.dumps(result.evidence)


@pytest.mark.parametrize("env", [{"AUTH_ENABLED": "on"}, {"TOKEN_TTL": "30"}, {"KEY_SIZE": "256"}])
def test_short_settings_under_credential_words_are_not_weak_secrets(env):
    result = results(FakeTarget({**STRONG, **env}), ["startup.secrets"])["startup.secrets"]
    assert result.outcome == "pass", result.message
