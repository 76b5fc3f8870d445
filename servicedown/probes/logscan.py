"""The log patterns of the runbook's "Check recent logs" step, as one table, and a scanner.

Each pattern feeds one `logs.*` check. Input may be any garbage a platform hands over:
bytes are decoded with replacement, ANSI escapes and NULs dropped, CR/CRLF handled, each line
matched on its first MAX_LINE characters only. Quoted lines lose their Docker/Compose/kubectl
prefix and control characters, and are masked with redact.py.

Speed: Python's `re` tries a case-insensitive alternation at every position, which is far too
slow for 100k lines. So each pattern also names `keys`, lower-case literals one of which is in
every line it can match; the scanner finds those with `bytes.rfind` over the whole lower-cased
text, newest line first, and runs the regex only on the lines that hold one, until a pattern
has `limit` matches.
"""

from __future__ import annotations

import heapq
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import methodcaller
from typing import Protocol

from servicedown.redact import DEFAULT, Redactor


class LogLineLike(Protocol):
    """A line as targets give it (targets.base.LogLine): its text, time and run."""

    @property
    def text(self) -> str: ...

    @property
    def time(self) -> float | None: ...

    @property
    def run(self) -> str: ...


MAX_LINE = 2000  # characters matched and quoted per line; the rest of a huge line is ignored
MAX_MATCHES = 100  # per pattern; the most recent are kept


@dataclass(frozen=True)
class Pattern:
    id: str
    check: str  # the logs.* check id it feeds
    regex: re.Pattern[str]
    keys: tuple[bytes, ...]  # lower-case; every line the regex matches contains one of them
    about: str


@dataclass(frozen=True)
class Match:
    line_no: int  # 1-based, counted over the lines given to scan()
    text: str  # cleaned, cut to MAX_LINE, secrets masked
    time: float | None = None  # epoch, where the platform or the line said
    run: str = "unknown"  # "current" (since the last start) | "earlier" | "unknown"


_REFUSED = r"(?:connection refused|connect call failed)"
# A "✗"/"✓" mark may reach us mangled (mojibake, stripped): allow up to 3 odd characters.
_MARK = r"\s*\S{0,3}\s*"


def _p(id: str, check: str, regex: str, keys: str, about: str) -> Pattern:
    return Pattern(id, check, re.compile(regex, re.IGNORECASE),
                   tuple(k.encode() for k in keys.split("|")), about)


PATTERNS: tuple[Pattern, ...] = (
    _p("traceback", "logs.stack_trace", r"Traceback \(most recent call last\)",
       "traceback (most", "a Python traceback"),
    _p("uncaught_exception", "logs.stack_trace",
       r"Exception in ASGI application|\bUnhandled exception\b|\bUncaught exception\b"
       r"|Failed to start QBITEL Engine:",
       "exception in asgi|unhandled exception|uncaught exception|failed to start qbitel",
       "an exception nothing caught (engine or server)"),
    _p("memory_error", "logs.oom", r"\bMemoryError\b", "memoryerror", "Python ran out of memory"),
    _p("oom_kill", "logs.oom",
       r"\bOut of memory\b|\boom[-_]kill|\bKilled process \d+|\bOOMKilled\b"
       r"|Cannot allocate memory",
       "out of memory|oom-kill|oom_kill|oomkilled|killed process|cannot allocate memory",
       "the kernel or platform killed a process for memory"),
    _p("config_error", "logs.config_error",
       r"\[ERROR\]" + _MARK + r"FAIL:|\bConfigurationError\b|\bImproperlyConfigured\b"
       r"|\bconfiguration error\b|\binvalid configuration\b"
       r"|\d+ validation errors? for \w*(?:Settings|Config)\b",
       "[error]|configurationerror|improperlyconfigured|configuration error"
       "|invalid configuration|validation error",
       "an ERROR-level startup check or a configuration exception"),
    _p("validation_failed", "logs.validation", r"VALIDATION FAILED", "validation failed",
       "the startup verdict"),
    _p("critical_fail", "logs.validation", r"\[CRITICAL\]" + _MARK + r"FAIL:", "[critical]",
       "a CRITICAL startup check failed"),
    _p("validation_exit", "logs.validation", r"Exiting due to validation failures",
       "exiting due to validation", "the production exit after a failed validation"),
    _p("db_engine_error", "logs.db_error",
       r"Database connection error:|Database health check failed:",
       "database connection error:|database health check failed:",
       "the engine's own database error lines"),
    _p("db_unreachable", "logs.db_error",
       r"could not connect to server|connection to server at \S+.{0,200}? failed"
       r"|server closed the connection unexpectedly|could not translate host name"
       r"|the database system is (?:starting up|shutting down|in recovery mode)"
       r"|terminating connection due to administrator command|connection timeout expired"
       r"|(?:postgres|psycopg|asyncpg|sqlalchemy|database|\b5432\b).{0,200}?" + _REFUSED
       + r"|" + _REFUSED + r".{0,200}?(?:postgres|database|\b5432\b)",
       "could not connect|connection to server|server closed the connection|could not translate"
       "|the database system is|terminating connection|timeout expired|connection refused"
       "|connect call failed",
       "PostgreSQL not answering or not reachable"),
    _p("db_too_many_clients", "logs.db_error",
       r"too many clients already|remaining connection slots are reserved"
       r"|QueuePool limit of size \d+ overflow \d+ reached|TooManyConnectionsError",
       "too many clients|connection slots|queuepool|toomanyconnections",
       "server connection slots or the engine's pool exhausted"),
    _p("db_auth_failed", "logs.db_error",
       r"password authentication failed for user|InvalidPasswordError|no pg_hba\.conf entry",
       "password authentication|invalidpassword|pg_hba",
       "the database refused the engine's credentials"),
    _p("disk_full", "logs.disk_full",
       r"No space left on device|\bENOSPC\b|\[Errno 28\]|Disk quota exceeded"
       r"|could not extend file",
       "no space left|enospc|[errno 28]|disk quota|could not extend",
       "a write failed for lack of space"),
    _p("fd_limit", "logs.fd_limit", r"Too many open files|\bE[MN]FILE\b|\[Errno 24\]",
       "too many open files|emfile|enfile|[errno 24]", "the process hit its open-file limit"),
    _p("ssl_error", "logs.tls_error",
       r"\bSSL\w*Error\b|\bSSL error\b|\[SSL: [A-Z_]+\]|SSL routines|SSL handshake failed"
       r"|\btlsv1 alert",
       "ssl|tlsv1 alert", "an SSL/TLS library error"),
    _p("cert_error", "logs.tls_error",
       r"certificate verify failed|certificate has expired|CERTIFICATE_VERIFY_FAILED"
       r"|self[- ]signed certificate|unable to get local issuer certificate"
       r"|KEY_VALUES_MISMATCH|key values mismatch",
       "certificate|key_values|key values", "a certificate was rejected"),
    _p("tls_file_missing", "logs.tls_error",
       r"TLS certificate file not found|TLS key file not found"
       r"|TLS_CERT_FILE and TLS_KEY_FILE must be set"
       r"|No such file or directory:?\s*['\"]?[^'\"\s]*(?:\.(?:pem|crt|cer|key)\b|cert|tls|ssl)",
       "tls certificate file not found|tls key file not found|tls_cert_file and tls_key_file"
       "|no such file or directory",
       "a TLS certificate or key file is missing"),
)

PATTERN_BY_ID = {p.id: p for p in PATTERNS}
CHECKS = tuple(dict.fromkeys(p.check for p in PATTERNS))  # the logs.* check ids, table order

# A line that says a check passed is never evidence of a failure, whatever it names.
_PASS_LINE = re.compile(r"\[(?:INFO|DEBUG|WARNING)\]" + _MARK + r"PASS:|VALIDATION PASSED")
# Cleaning works on UTF-8 bytes: bytes.lower() folds ASCII only, so offsets never move, and
# it stays fast on text with non-ASCII marks (✓ ✗ ❌), where str.lower() is ten times slower.
_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")
# Docker `logs -t` timestamp, Compose v1 "service_1  | ", kubectl --prefix "[pod/x/y] ".
_PREFIX = re.compile(
    r"^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) )?"
    r"(?:[A-Za-z0-9][\w.-]*\s+\| |\[pod/[^\]\s]+\] )?"
)
_strip_eol = methodcaller("rstrip", b"\r\n")
_strip_eol_str = methodcaller("rstrip", "\r\n")


def _blob(lines: Iterable[str | bytes] | str | bytes) -> bytes:
    """All input as UTF-8 bytes, one input line per b"\n"-separated line."""
    if isinstance(lines, bytes | bytearray | str):
        return _as_bytes(lines)
    items = list(lines)
    # The usual homogeneous lists: map() keeps the per-line work in C.
    if all(type(x) is str for x in items):
        return "\n".join(map(_strip_eol_str, items)).encode("utf-8", "surrogatepass")
    if all(type(x) is bytes for x in items):
        return b"\n".join(map(_strip_eol, items))
    return b"\n".join(_as_bytes(x).rstrip(b"\r\n") for x in items)


def _as_bytes(x: object) -> bytes:
    if isinstance(x, bytes | bytearray):
        return bytes(x)
    return (x if isinstance(x, str) else str(x)).encode("utf-8", "surrogatepass")


def _normalize(data: bytes) -> bytes:
    # Only whole-text passes, each skipped when not needed (`in` is a memchr);
    # other control characters are dropped from quotes only.
    if b"\x1b" in data:
        data = _ANSI.sub(b"", data)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b" ")
    return data


def _decode(data: bytes, chars: int) -> str:
    return data[: chars * 4].decode("utf-8", "replace")[:chars]


def clean_line(raw: str | bytes) -> str:
    """One log line as it is quoted (before redaction): prefixes and control characters gone."""
    line = _normalize(_as_bytes(raw)[: MAX_LINE * 16]).split(b"\n", 1)[0]
    return _quote_text(_decode(line, 2 * MAX_LINE))[:MAX_LINE]


def _quote_text(line: str) -> str:
    return _PREFIX.sub("", _CONTROL.sub("", line), count=1)


def scan(
    lines: Iterable[str | bytes] | str | bytes,
    redactor: Redactor = DEFAULT,
    limit: int = MAX_MATCHES,
) -> dict[str, list[Match]]:
    """Pattern id -> its matching lines (the last `limit`, oldest first), for the patterns that hit.

    `lines` is an iterable of lines (str or bytes, trailing newline optional) or one blob;
    an item holding a newline counts as several lines.
    """
    data = _normalize(_blob(lines))
    low = data.lower()
    limit = max(limit, 1)

    # Newest lines first, so that a pattern stops costing anything once it holds `limit` lines.
    found: dict[str, list[tuple[int, int]]] = {}  # pattern id -> (start, end) of its lines
    for pattern in PATTERNS:
        spans = []
        for start, end in _lines_holding(low, pattern.keys):
            line = _decode(data[start:end], MAX_LINE)
            if pattern.regex.search(line) and not _PASS_LINE.search(line):
                spans.append((start, end))
                if len(spans) == limit:
                    break
        if spans:
            found[pattern.id] = spans[::-1]

    numbers = _line_numbers(low, {start for spans in found.values() for start, _ in spans})
    quotes: dict[int, str] = {}
    for spans in found.values():
        for start, end in spans:
            if start not in quotes:
                # Redact 2 * MAX_LINE, then cut: a secret straddling the cut is masked whole.
                window = _quote_text(_decode(data[start:end], 2 * MAX_LINE))
                quotes[start] = redactor.clip(window, MAX_LINE)
    return {pid: [Match(numbers[s], quotes[s]) for s, _ in spans] for pid, spans in found.items()}


def _lines_holding(low: bytes, keys: tuple[bytes, ...]) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of the lines that hold one of `keys`, last line first, no repeats."""
    previous = -1
    spans = heapq.merge(*(_lines_holding_key(low, k) for k in keys), reverse=True)
    for span in spans:
        if span[0] != previous:
            previous = span[0]
            yield span


def _lines_holding_key(low: bytes, key: bytes) -> Iterator[tuple[int, int]]:
    before = len(low)
    while (pos := low.rfind(key, 0, before)) != -1:
        start = low.rfind(b"\n", 0, pos) + 1
        end = low.find(b"\n", pos)
        yield start, len(low) if end == -1 else end
        before = start


def _line_numbers(low: bytes, starts: set[int]) -> dict[int, int]:
    """1-based line number of each line start offset, in one pass over the text."""
    numbers, line_no, counted_to = {}, 1, 0
    for start in sorted(starts):
        line_no += low.count(b"\n", counted_to, start)
        counted_to = start
        numbers[start] = line_no
    return numbers


def by_check(found: dict[str, list[Match]]) -> dict[str, list[Match]]:
    """Regroup scan() output by the logs.* check each pattern feeds, in line order, deduplicated."""
    out: dict[str, dict[int, Match]] = {}
    for pid, matches in found.items():
        bucket = out.setdefault(PATTERN_BY_ID[pid].check, {})
        for m in matches:
            bucket.setdefault(m.line_no, m)
    return {check: sorted(b.values(), key=lambda m: m.line_no) for check, b in out.items()}


# --- logs as the platform gives them: times, runs, JSON lines, noise --------------------------
# Blocks a healthy engine prints that are not failures: Python logging's own error report (the
# real engine prints one for every WARNING, with a full traceback) and the traceback of a 404.
NOISE_START = "--- Logging error ---"
NOISE_END = ("Arguments:",)
MAX_NOISE_BLOCK = 200  # lines: a block that does not end within this is not one
_EXC_LINE = re.compile(r"^[\w.]+(?:Error|Exception|Exit|Interrupt|Warning)\b|^[\w.]+: ")
_NOT_FOUND = re.compile(r"HTTPException: 404\b")


@dataclass(frozen=True)
class LogScan:
    """What the log says, check by check, with the time and run of every quoted line."""

    hits: dict[str, list[Match]]  # logs.* check id -> matching lines, in line order
    lines: int  # lines read (noise included)
    noise_blocks: int  # logging-error and 404 traceback blocks set aside
    noise_lines: int


def as_text(line: str) -> str:
    """A JSON log line read by its fields (level, component, message); other lines as they are.
    A multi-line message stays on one line, its line breaks shown as ' | '."""
    start = line.lstrip()
    if not start.startswith("{") or not start.rstrip().endswith("}"):
        return line
    try:
        doc = json.loads(start)
    except ValueError:
        return line
    if not isinstance(doc, dict) or "message" not in doc:
        return line
    message = " | ".join(str(doc.get("message", "")).splitlines())
    level = str(doc.get("level") or doc.get("levelname") or "")
    component = str(doc.get("component") or doc.get("name") or doc.get("logger") or "")
    return " - ".join(x for x in (level, component, message) if x)


def line_time(line: str) -> float | None:
    """The time a line carries itself: a JSON line's `timestamp` / `iso_timestamp`, or the plain
    formatter's `2026-11-29 14:00:00,000` (the engine logs in UTC)."""
    start = line.lstrip()
    if start.startswith("{"):
        try:
            doc = json.loads(start)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            t = doc.get("timestamp")
            if isinstance(t, int | float) and not isinstance(t, bool):
                return float(t)
            iso = doc.get("iso_timestamp")
            if isinstance(iso, str):
                try:
                    return datetime.fromisoformat(iso).timestamp()
                except ValueError:
                    return None
        return None
    m = _PLAIN_TIME.match(start)
    if m:
        try:
            return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return None
    return None


_PLAIN_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - ")


def noise_lines(texts: list[str]) -> tuple[set[int], int]:
    """Indexes of the lines inside noise blocks, and the number of blocks: a logging error
    report (from its header to its 'Arguments:' line), or a traceback that ends in a 404."""
    noise: set[int] = set()
    blocks = 0
    i = 0
    while i < len(texts):
        text = _quote_text(texts[i]).strip()
        if text == NOISE_START:
            end = next((j for j in range(i + 1, min(i + MAX_NOISE_BLOCK, len(texts)))
                        if _quote_text(texts[j]).lstrip().startswith(NOISE_END)), None)
            if end is not None:
                noise.update(range(i, end + 1))
                blocks += 1
                i = end + 1
                continue
        if "Traceback (most recent call last)" in text:
            end = _traceback_end(texts, i)
            if end is not None and _NOT_FOUND.search(texts[end]):
                noise.update(range(i, end + 1))
                blocks += 1
                i = end + 1
                continue
        i += 1
    return noise, blocks


def _traceback_end(texts: list[str], start: int) -> int | None:
    """The line naming the exception that ends the traceback starting at `start`."""
    for j in range(start + 1, min(start + MAX_NOISE_BLOCK, len(texts))):
        text = _quote_text(texts[j])
        if text and not text[0].isspace() and _EXC_LINE.match(text.strip()) \
                and not text.startswith("Traceback"):
            return j
    return None


def scan_log(lines: Sequence[LogLineLike], redactor: Redactor = DEFAULT,
             limit: int = MAX_MATCHES) -> LogScan:
    """Scan platform log lines: JSON lines by their fields, noise blocks set aside, each match
    carrying its line's time and run."""
    texts = [as_text(line.text) for line in lines]
    noise, blocks = noise_lines(texts)
    kept = ["" if i in noise else t for i, t in enumerate(texts)]
    grouped = by_check(scan(kept, redactor, limit))
    hits = {}
    for check, matches in grouped.items():
        out = []
        for m in matches:
            src = lines[m.line_no - 1] if 0 < m.line_no <= len(lines) else None
            when = None if src is None else src.time if src.time is not None else line_time(src.text)
            out.append(Match(m.line_no, m.text, when, src.run if src is not None else "unknown"))
        hits[check] = out
    return LogScan(hits, len(lines), blocks, len(noise))
