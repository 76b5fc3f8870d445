import time

import pytest

from servicedown.redact import DEFAULT, MASK, Redactor, redact

SECRET = "s3cr3t-Value/with+odd chars&="


def test_known_value_and_its_url_encoded_forms_are_masked():
    r = Redactor([SECRET])
    text = (f"a {SECRET} b s3cr3t-Value%2Fwith%2Bodd%20chars%26%3D "
            "c s3cr3t-Value%2Fwith%2Bodd+chars%26%3D")
    out = r(text)
    assert "s3cr3t" not in out
    assert out == f"a {MASK} b {MASK} c {MASK}"


def test_longer_secret_containing_a_shorter_one_is_masked_whole():
    out = Redactor(["abcd", "abcdefgh-tail"]).redact("x abcdefgh-tail y abcd")
    assert out == f"x {MASK} y {MASK}"


@pytest.mark.parametrize("value", ["", "abc", None, 42, b"bytes-secret"])
def test_short_or_non_string_values_are_ignored(value):
    r = Redactor([value, "long-enough"])
    assert r("abc 42 long-enough") == f"abc 42 {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DATABASE_PASSWORD=hunter2 next", f"DATABASE_PASSWORD={MASK} next"),
        ("export JWT_SECRET='abc def' x", f"export JWT_SECRET='{MASK}' x"),
        ('PGPASSWORD="a b" psql', f'PGPASSWORD="{MASK}" psql'),
        ('JWT_SECRET="unterminated value', f'JWT_SECRET="{MASK}" value'),
        ("encryption_key = xyz123", f"encryption_key = {MASK}"),
        ("?sslmode=require&password=pw1&user=bob", f"?sslmode=require&password={MASK}&user=bob"),
        ("GITHUB_TOKEN=ghp_abc", f"GITHUB_TOKEN={MASK}"),
        ("postgresql://qbitel_user:pa55@postgres:5432/qbitel",
         f"postgresql://qbitel_user:{MASK}@postgres:5432/qbitel"),
        ("Authorization: Bearer eyJhbGciOi.xyz", f"Authorization: Bearer {MASK}"),
        ('"authorization": "Basic dXNlcjpwYXNz"', f'"authorization": "Basic {MASK}"'),
        ("curl -H 'bearer abcdefghijk'", f"curl -H 'bearer {MASK}'"),
        ('{"password": "p\\"w", "user": "bob"}', f'{{"password": "{MASK}", "user": "bob"}}'),
        ('{"api_key":"k1","n":1}', f'{{"api_key":"{MASK}","n":1}}'),
    ],
)
def test_generic_patterns(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "[CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must be set (minimum 32 characters)",
        "[INFO] ✓ PASS: Secret: JWT_SECRET - JWT_SECRET is properly configured",
        "user=bob timeout=30 a=b",
        "GET /health 200 OK in 3.2 ms",
        "see https://example.org/path?q=1",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize("odd", [None, b"\xff\xfe\x00PASSWORD=x", bytearray(b"abc"), 3.5,
                                 object(), "\x00" * 10, "é" * 1000])
def test_never_raises_and_returns_str(odd):
    assert isinstance(DEFAULT.redact(odd), str)


def test_broken_str_is_masked_not_raised():
    class Evil:
        def __str__(self):
            raise RuntimeError("boom")

    assert redact(Evil()) == MASK


def test_bytes_are_decoded_and_masked():
    assert Redactor(["hunter22"])(b"pw hunter22 \xff") == f"pw {MASK} \ufffd"


@pytest.mark.parametrize("garbage", ["a.b-" * 250_000, "key=" * 250_000, '"key":"' * 150_000,
                                     "x://" * 250_000, "bearer " * 150_000, "a:" * 500_000 + "@",
                                     "password: " * 100_000, "--password " * 100_000,
                                     "'password': " * 80_000, "a://b:" * 150_000,
                                     "https://x" * 100_000 + "@", "x'y:z=w-" * 120_000])
def test_linear_time_on_adversarial_megabyte(garbage):
    # A quadratic pattern would take hours on a megabyte; linear ones take well under a second
    # (bench/bench_parsers.py). The bound here only catches a hang, whatever the machine's load.
    start = time.perf_counter()
    redact(garbage)
    assert time.perf_counter() - start < 30.0
