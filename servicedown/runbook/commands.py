"""Shell commands: out of a runbook's code blocks, and what each one is for.

`extract` turns a fenced block (bash, sh, powershell, cmd, console or none) into one command
per entry: comments and prompts dropped, continuation lines joined, whitespace normalised.

`intent` names what a command asks ("service-status", "http /health", "db-ready", ...) from
its program and key words. The INTENTS table is the one place that knows that
`docker-compose ps qbitel-engine`, `kubectl get pods ...`, `systemctl status qbitel` and
`Get-Service qbitel` ask the same question, so a check whose `CheckSpec.command` names one of
them stands for all of them, in any shell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Blocks with these tags hold data or output, not commands to type.
NOT_COMMANDS = frozenset({"json", "yaml", "yml", "toml", "ini", "xml", "html", "text", "txt",
                          "plain", "plaintext", "output", "log", "logs", "diff", "csv",
                          "python", "py", "sql", "mermaid"})
_PROMPT = re.compile(r"^(?:\$|%|PS(?: [^>]*)?>|[A-Za-z]:\\[^>]*>|>)\s+")
_COMMENT = re.compile(r"^(?:#|//|::|rem\b|REM\b)")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def extract(body: Iterable[str], lang: str = "") -> list[str]:
    """The commands of one code block, in order."""
    if lang in NOT_COMMANDS:
        return []
    out: list[str] = []
    pending = ""
    heredoc: str | None = None
    for raw in body:
        line = raw.strip()
        if heredoc is not None:  # the lines of a here-document are data, not commands
            if line == heredoc:
                heredoc = None
            continue
        if not pending and (not line or _COMMENT.match(line)):
            continue
        line = _PROMPT.sub("", line)
        # "\" (sh), "`" (PowerShell) and "^" (cmd) continue a command on the next line.
        if line.endswith(("\\", "`", "^")) and not line.endswith(("\\\\", "``")):
            pending += line[:-1] + " "
            continue
        command = " ".join(strip_comment(pending + line).split())
        pending = ""
        if command:
            out.append(command)
            m = _HEREDOC.search(command)
            if m:
                heredoc = m.group(1)
    if pending.strip():
        out.append(" ".join(strip_comment(pending).split()))
    return out


def strip_comment(line: str) -> str:
    """Drop a trailing '# comment' outside quotes (a '#' inside a word or URL stays)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line


# Ordered: the first intent whose pattern matches a typed command is its intent, so the more
# specific questions (a log grep for VALIDATION) come before the general ones (read the logs).
# Patterns run on the normalised, lower-case command.
_SECRETS = r"\w*(?:secret|password|passwd|key|token)\w*"
INTENTS: tuple[tuple[str, str], ...] = (
    # The project's own entry point runs every check at once.
    ("run-checks", r"\b(?:pytest|py\.test)\b[^|;&]*\bchecks\b|\bmake\s+checks\b"),
    ("startup-validation", r"(?:\blogs\b|\bjournalctl\b|\bget-content\b)[^;&]*?\|\s*"
                           r"(?:e?grep|select-string|sls|findstr)\b[^;&]*validation"),
    ("env-check", rf"\b(?:echo|printf|write-output|write-host)\b[^|;&]*\$\{{?(?:env:)?{_SECRETS}"
                  rf"|\bprintenv\b|\$env:{_SECRETS}|\benv\b\s*\|\s*(?:grep|sort|wc)\b"
                  rf"|\btest\s+-[nz]\s+\"?\$\{{?{_SECRETS}"),
    ("db-ready", r"\bpg_isready\b"),
    ("db-connections", r"\bpg_stat_activity\b|\bmax_connections\b"),
    ("disk", r"(?<![\w./-])df(?![\w.-])|\bget-psdrive\b|\bget-volume\b"),
    ("memory", r"(?<![\w./-])free(?:\s+-\w+)*(?=\s*(?:$|[|;&)'\"]))|\bvmstat\b"
               r"|win32_operatingsystem"),
    ("service-logs", r"\b(?:docker-compose|docker|podman|kubectl)\b[^|;&]*?\blogs\b|\bjournalctl\b"
                     r"|\bget-(?:eventlog|winevent)\b"),
    ("service-status", r"\b(?:docker-compose|docker|podman)\b[^|;&]*?\b(?:ps|inspect)\b"
                       r"|\bkubectl\b[^|;&]*?\b(?:get|describe)\s+(?:pods?|po|deploy(?:ment)?s?)\b"
                       r"|\bsystemctl\b[^|;&]*?\b(?:status|is-active|is-failed|show)\b"
                       r"|\bget-service\b|\bsc(?:\.exe)?\s+query\b|\bservice\s+\S+\s+status\b"
                       r"|\b(?:stack|systemd-host)\.sh\s+status\b|\bmake\s+stack-status\b"),
    # The health endpoint asked over HTTP; the path tells which probe ("http /health/ready").
    ("http", r"(?:\b(?:curl|wget|invoke-webrequest|invoke-restmethod|iwr|irm)\b|\bhttp(?:ie)?\s)[^|;&]*?"
             r"(/health[\w/.-]*)"),
    # The runbook's quick fix: a restart by the platform (no check stands for it; a step does).
    ("restart", r"\b(?:docker-compose|docker|podman)\b[^|;&]*?\brestart\b"
                r"|\bkubectl\b[^|;&]*?\brollout\s+restart\b|\bsystemctl\b[^|;&]*?\brestart\b"
                r"|\brestart-service\b|\bservice\s+\S+\s+restart\b"),
)
MAX_COMMAND = 2000  # characters of a command read for its intent: a longer one is data
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in INTENTS)


def normalise(command: str) -> str:
    text = " ".join(command.split()).lower()
    text = re.sub(r"\bdocker compose\b", "docker-compose", text)
    # Where a command is typed from is not what it asks: "cd compose && docker-compose ps".
    text = re.sub(r"^(?:cd\s+\S+\s*(?:&&|;)\s*)+", "", text)
    return re.sub(r"^(?:sudo\s+(?:-\S+\s+)*)", "", text)


def _name(name: str, match: re.Match[str]) -> str:
    if name == "http":
        return "http " + (match.group(1).rstrip("/.") or "/health")
    return name


def intent(command: str) -> str | None:
    """What one typed command asks, or None when the table does not know it."""
    text = normalise(command[:MAX_COMMAND])
    for name, pattern in _COMPILED:
        m = pattern.search(text)
        if m:
            return _name(name, m)
    return None


def intents_in(text: str) -> set[str]:
    """Every intent a check's `command` text names. A matched span is blanked before the more
    general intents run, so `docker-compose logs x | grep "VALIDATION"` is a validation
    question and not also a plain log read."""
    rest = normalise(text[:MAX_COMMAND])
    found: set[str] = set()
    for name, pattern in _COMPILED:
        for m in list(pattern.finditer(rest)):
            found.add(_name(name, m))
        rest = pattern.sub(lambda m: " " * len(m.group(0)), rest)
    return found
