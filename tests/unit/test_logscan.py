import random

import pytest

from servicedown.probes.logscan import (
    CHECKS,
    MAX_LINE,
    PATTERN_BY_ID,
    PATTERNS,
    by_check,
    clean_line,
    scan,
)
from servicedown.redact import Redactor

TS = "2026-11-29 10:00:00,123 - ai_engine.core.startup_validation - "

# (pattern id, a real line of that kind)
POSITIVE = [
    ("traceback", "Traceback (most recent call last):"),
    ("uncaught_exception", "ERROR:    Exception in ASGI application"),
    ("uncaught_exception", TS + "ERROR - Failed to start QBITEL Engine: boom"),
    ("memory_error", "MemoryError"),
    ("memory_error", "    raise MemoryError('x')"),
    ("oom_kill", "Memory cgroup out of memory: Killed process 4242 (python3) total-vm:1MB"),
    ("oom_kill", "kernel: python3 invoked oom-killer: gfp_mask=0x100cca"),
    ("oom_kill", "OSError: [Errno 12] Cannot allocate memory"),
    ("config_error", TS + "ERROR - [ERROR] ✗ FAIL: Secret: JWT_SECRET - JWT_SECRET must be at "
                          "least 32 characters long (current: 12)"),
    ("config_error", "pydantic_core._pydantic_core.ValidationError: 2 validation errors for "
                     "EngineSettings"),
    ("config_error", "ai_engine.core.exceptions.ConfigurationError: bad port"),
    ("critical_fail", TS + "CRITICAL - [CRITICAL] ✗ FAIL: Secret: JWT_SECRET - JWT secret must "
                           "be set (minimum 32 characters)"),
    ("critical_fail", "  [CRITICAL] âœ— FAIL: Weak Password: DATABASE_PASSWORD - mangled mark"),
    ("validation_failed", TS + "CRITICAL - ❌ VALIDATION FAILED: Critical issues must be resolved "
                               "before starting!"),
    ("validation_exit", TS + "CRITICAL - Exiting due to validation failures in production "
                             "environment"),
    ("db_engine_error", "ERROR - Database connection error: timeout"),
    ("db_engine_error", "ERROR - Database health check failed: boom"),
    ("db_unreachable", 'psycopg.OperationalError: connection to server at "postgres" '
                       "(172.18.0.2), port 5432 failed: Connection refused"),
    ("db_unreachable", "could not connect to server: No such file or directory"),
    ("db_unreachable", "ConnectionRefusedError: [Errno 111] Connect call failed "
                       "('172.18.0.2', 5432)"),
    ("db_unreachable", "psycopg2.OperationalError: could not translate host name \"postgres\""),
    ("db_unreachable", "FATAL:  the database system is shutting down"),
    ("db_too_many_clients", "FATAL:  sorry, too many clients already"),
    ("db_too_many_clients", "FATAL:  remaining connection slots are reserved for superuser"),
    ("db_too_many_clients", "sqlalchemy.exc.TimeoutError: QueuePool limit of size 10 overflow 20 "
                            "reached, connection timed out, timeout 30.00"),
    ("db_too_many_clients", "asyncpg.exceptions.TooManyConnectionsError: sorry"),
    ("db_auth_failed", 'FATAL:  password authentication failed for user "qbitel_user"'),
    ("db_auth_failed", "asyncpg.exceptions.InvalidPasswordError: password authentication"),
    ("disk_full", "OSError: [Errno 28] No space left on device: '/data/events.db'"),
    ("disk_full", "ERROR:  could not extend file \"base/16384/2619\": wrote only 4096"),
    ("fd_limit", "OSError: [Errno 24] Too many open files"),
    ("fd_limit", "accept failed: EMFILE"),
    ("ssl_error", "ssl.SSLError: [SSL] PEM lib (_ssl.c:3895)"),
    ("ssl_error", "[SSL: WRONG_VERSION_NUMBER] wrong version number"),
    ("ssl_error", "ERROR - SSL error: cannot load TLS certificate /certs/tls.crt / key "
                  "/certs/tls.key: [Errno 2] No such file or directory"),
    ("cert_error", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has "
                   "expired (_ssl.c:1006)"),
    ("cert_error", "ssl.SSLError: [SSL: KEY_VALUES_MISMATCH] key values mismatch"),
    ("tls_file_missing", "FileNotFoundError: [Errno 2] No such file or directory: "
                         "'/etc/qbitel/tls/server.crt'"),
    ("tls_file_missing", "[ERROR] ✗ FAIL: Security: TLS Certificate File - TLS certificate file "
                         "not found: /certs/x.pem"),
    ("tls_file_missing", "[CRITICAL] ✗ FAIL: Security: TLS Certificates - TLS_CERT_FILE and "
                         "TLS_KEY_FILE must be set when TLS is enabled"),
]

NEGATIVE = [
    TS + "INFO - [INFO] ✓ PASS: Secret: JWT_SECRET - JWT_SECRET is properly configured",
    TS + "INFO - [INFO] ✓ PASS: Database Config: DATABASE_PORT - DATABASE_PORT is valid: 5432",
    TS + "WARNING - [WARNING] ✓ PASS: Secret: ENCRYPTION_KEY - Encryption key should be set "
         "(using default for development)",
    TS + "WARNING - [WARNING] ✗ FAIL: Redis Config: REDIS_HOST - REDIS_HOST not set, caching "
         "will be disabled",
    TS + "INFO - ✅ VALIDATION PASSED: All checks completed successfully!",
    TS + "INFO - [INFO] ✓ PASS: Security: TLS Certificates - certificate files exist",
    "Error 111 connecting to redis:6379. Connection refused.",
    "INFO:     127.0.0.1:50000 - \"GET /health HTTP/1.1\" 200 OK",
    "Database pool initialised: size 10, overflow 20",
    "Memory usage 41 %, 12 open files",
    "Validating secrets and sensitive configuration...",
]


@pytest.mark.parametrize(("pid", "line"), POSITIVE)
def test_each_pattern_matches_the_real_line(pid, line):
    found = scan([line])
    assert pid in found, found
    assert found[pid][0].line_no == 1


def test_every_pattern_has_a_sample_and_feeds_a_logs_check():
    assert {p.id for p in PATTERNS} == {pid for pid, _ in POSITIVE}
    assert set(CHECKS) == {"logs.stack_trace", "logs.oom", "logs.config_error", "logs.validation",
                           "logs.db_error", "logs.disk_full", "logs.fd_limit", "logs.tls_error"}


@pytest.mark.parametrize(("pid", "line"), POSITIVE)
def test_keys_cover_every_sample(pid, line):
    # The prefilter invariant: a line the regex matches holds one of the pattern's keys.
    p = PATTERN_BY_ID[pid]
    assert p.regex.search(line)
    assert any(k in line.encode().lower() for k in p.keys)


@pytest.mark.parametrize("line", NEGATIVE)
def test_no_false_positive(line):
    assert scan([line]) == {}


def test_pass_line_naming_a_failure_word_is_ignored():
    assert scan(["[INFO] ✓ PASS: TLS: no certificate verify failed errors, MemoryError none"]) == {}


def test_line_numbers_blob_crlf_and_trailing_newlines():
    text = "ok\r\nTraceback (most recent call last):\r\nok\r\nMemoryError\r\n"
    for given in (text, text.encode(), text.splitlines(keepends=True)):
        found = scan(given)
        assert found["traceback"][0].line_no == 2
        assert found["memory_error"] == [found["memory_error"][0]]
        assert found["memory_error"][0].line_no == 4
        assert found["memory_error"][0].text == "MemoryError"


def test_garbage_bytes_nul_ansi_and_prefixes():
    lines = [
        b"\xff\xfe\xfa invalid utf-8 then MemoryError",
        b"\x00\x00Mem\x00oryError",  # NULs padding a rotated file
        "\x1b[31mERROR\x1b[0m Database \x1b[1mhealth check failed:\x1b[0m x",
        "2026-11-29T10:00:00.123456789Z qbitel-engine_1  | Traceback (most recent call last):",
        "[pod/qbitel-engine-7d9/ai-engine] OSError: [Errno 24] Too many open files",
        "bell\x07 and \x1f units OSError: [Errno 28] No space left on device",
        12345,
    ]
    found = scan(lines)
    assert [m.line_no for m in found["memory_error"]] == [1, 2]
    assert found["memory_error"][0].text == "\ufffd\ufffd\ufffd invalid utf-8 then MemoryError"
    assert found["db_engine_error"][0].text == "ERROR Database health check failed: x"
    assert found["traceback"][0].text == "Traceback (most recent call last):"
    assert found["fd_limit"][0].text == "OSError: [Errno 24] Too many open files"
    assert found["disk_full"][0].text == ("bell and  units OSError: [Errno 28] No space left on "
                                          "device")


def test_huge_line_matched_and_quoted_on_its_first_max_line_characters():
    head = "x" * (MAX_LINE - 20) + " MemoryError "
    found = scan([head + "y" * 1_000_000, "z" * 1_000_000 + " MemoryError"])
    assert [m.line_no for m in found["memory_error"]] == [1]
    # Cut at MAX_LINE, and before the word the cut falls in (it could be a secret's head).
    assert found["memory_error"][0].text == head.rstrip() + "…"


def test_quotes_are_redacted_even_across_the_cut():
    secret = "S3cret-Value-" + "k" * 40
    line = "x" * (MAX_LINE - 20) + " MemoryError " + secret
    r = Redactor([secret])
    found = scan([line, f"Traceback (most recent call last): DATABASE_PASSWORD={secret}"], r)
    assert secret[:7] not in found["memory_error"][0].text
    assert found["traceback"][0].text.endswith("DATABASE_PASSWORD=***")


def test_limit_keeps_the_most_recent_in_order():
    lines = [f"MemoryError {i}" for i in range(500)]
    found = scan(lines, limit=3)
    assert [m.line_no for m in found["memory_error"]] == [498, 499, 500]


def test_dotted_capital_i_does_not_shift_offsets():
    found = scan(["İİİ x", "İ MemoryError İ", "Traceback (most recent call last):"])
    assert found["memory_error"][0].line_no == 2
    assert found["traceback"][0].line_no == 3


def test_by_check_groups_and_deduplicates():
    line = "ssl.SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    grouped = by_check(scan(["ok", line, "MemoryError", "Killed process 12 (python3)"]))
    assert [m.line_no for m in grouped["logs.tls_error"]] == [2]
    assert [m.line_no for m in grouped["logs.oom"]] == [3, 4]


def test_clean_line():
    assert clean_line(b"2026-11-29T10:00:00Z svc_1  | \x1b[2Khello\x00\r\n") == "hello"
    assert len(clean_line("a" * 10_000)) == MAX_LINE


def _mixed_log(n):
    rng = random.Random(7)
    healthy = [TS + f"INFO - GET /health 200 OK in {i % 97} ms request_id={i}" for i in range(50)]
    bad = [line for _, line in POSITIVE] + NEGATIVE
    return [rng.choice(bad) if i % 1000 == 0 else healthy[i % 50] for i in range(n)]


def test_100k_lines_find_the_sprinkled_errors():
    # Its speed is a figure of bench/bench_parsers.py, not an assertion on a shared machine.
    found = scan(_mixed_log(100_000))
    assert sum(len(v) for v in found.values()) >= 50


def test_100k_random_binary_lines_do_not_raise():
    rng = random.Random(1)
    assert isinstance(scan([rng.randbytes(120) for _ in range(100_000)]), dict)
