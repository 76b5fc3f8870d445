"""Runbook Common Cause 4, "Startup Failure", and Resolution steps 1-2.

The runbook's `echo $JWT_SECRET` is replaced by a report of presence, length and weakness:
no value is ever returned, logged or shown.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from servicedown import secrets
from servicedown.backends.command import UnreadableFile
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import Finding, bad, check, not_applicable, ok, skip
from servicedown.probes import logscan, tlscheck

ENV_CMD = "echo $DATABASE_PASSWORD; echo $JWT_SECRET; echo $ENCRYPTION_KEY"
VALIDATION_CMD = 'docker-compose logs qbitel-engine | grep "VALIDATION"'
MAX_PEM = 256 * 1024

_VERDICT = re.compile(r"VALIDATION (PASSED|FAILED)")
_FAIL_LINE = re.compile(r"\[(CRITICAL|ERROR)\]\s*\S{0,3}\s*FAIL:")
_TRUE = ("1", "true", "yes", "on")


def _reports(ctx: Context) -> list[secrets.SecretReport] | Finding:
    env = ctx.environment()
    if env is None:
        return skip("the service's environment cannot be read on this target")
    return secrets.assess(env)


def _describe(r: secrets.SecretReport) -> dict:
    if not r.value_read:
        return {"present": True, "source": "secret reference", "value_read": False}
    return {"present": r.present, "length": r.length, "weak_patterns": r.weak_patterns,
            "too_short": r.too_short, "severity": r.severity}


def _presence(r: secrets.SecretReport) -> str:
    return f"{r.name} (from a secret reference, value not read)" if not r.value_read \
        else f"{r.name} ({r.length} chars)"


@check("startup.env", "missing-env,step:environment", "required variables are set", ENV_CMD)
def required_env(ctx: Context) -> Finding:
    reports = _reports(ctx)
    if isinstance(reports, Finding):
        return reports
    ev = {r.name: _describe(r) for r in reports}
    gone = secrets.missing(reports)
    if gone:
        return bad("missing required variable(s): " + ", ".join(r.name for r in gone), **ev)
    return ok("all set: " + ", ".join(_presence(r) for r in reports), **ev)


@check("startup.secrets", "config-invalid,step:environment", "secrets long enough and not weak", ENV_CMD)
def secret_strength(ctx: Context) -> Finding:
    reports = _reports(ctx)
    if isinstance(reports, Finding):
        return reports
    ev = {r.name: _describe(r) for r in reports}
    weak = secrets.weak_or_short(reports)
    problems = [p for r in weak for p in r.problems]
    # Any credential, required or not (SMTP_PASS, DB_PASS), too short to be masked.
    short = {n: s for n, s in secrets.short_secrets(ctx.environment() or {}).items()
             if n not in {r.name for r in weak}}
    if short:
        ev["too_short_to_mask"] = sorted(short)
    if problems or short:
        return bad("; ".join(problems + list(short.values())), **ev)
    judged = [r for r in reports if r.present and r.value_read]
    refs = [r.name for r in reports if not r.value_read]
    if not judged:
        if refs:
            return skip(f"values not readable by design: {', '.join(refs)} come from secret "
                        "references, which are never read; the engine's own startup validation "
                        "judges them (startup.validation)", **ev)
        return not_applicable("no required secret is set (see startup.env)", **ev)
    msg = "present secrets pass the engine's length and weak-pattern rules"
    return ok(msg + (f"; not judged (value not read): {', '.join(refs)}" if refs else ""), **ev)


@check("startup.validation", "config-invalid,step:startup-validation", "the last startup validation passed",
       VALIDATION_CMD)
def validation(ctx: Context) -> Finding:
    lines = [logscan.as_text(line.text) for line in ctx.startup_logs()]
    last = None
    for i in range(len(lines) - 1, -1, -1):
        m = _VERDICT.search(lines[i])
        if m:
            last = (i, m.group(1))
            break
    if last is None:
        # A run seconds old (a crash loop) may not have printed it yet: the last run's counts.
        recent = [logscan.as_text(line.text) for line in ctx.raw_logs()]
        found = next(((i, m.group(1)) for i in range(len(recent) - 1, -1, -1)
                      if (m := _VERDICT.search(recent[i]))), None)
        if found is None:
            return skip(f"no VALIDATION verdict in the first {len(lines)} log lines of the current "
                        "run (its start is no longer in the logs, or the service logs elsewhere)")
        lines, last = recent, found
    index, verdict = last
    if verdict == "PASSED":
        return ok("startup validation PASSED at its last start", line=index + 1)
    # The FAIL lines of that same start: between the previous verdict and this one.
    start = index
    while start > 0 and not _VERDICT.search(lines[start - 1]):
        start -= 1
    fails = [ctx.redactor.clip(line.strip(), 300) for line in lines[start:index]
             if _FAIL_LINE.search(line)]
    shown = "\n  ".join(dict.fromkeys(fails)) or "(no FAIL lines kept)"
    return bad(f"startup validation FAILED at its last start:\n  {shown}", failures=fails)


@check("startup.tls", "tls", "TLS certificate and key present, valid, matching")
def tls(ctx: Context) -> Finding:
    env = ctx.environment()
    if env is None and not (ctx.settings.tls_cert_file or ctx.settings.tls_key_file):
        return _served_certificate(ctx)
    env = env or {}
    enabled = env.get("TLS_ENABLED", "").strip().lower() in _TRUE
    cert_path = ctx.settings.tls_cert_file or env.get("TLS_CERT_FILE", "")
    key_path = ctx.settings.tls_key_file or env.get("TLS_KEY_FILE", "")
    if not enabled and not (ctx.settings.tls_cert_file or ctx.settings.tls_key_file):
        return not_applicable("TLS is not enabled on this deployment (TLS_ENABLED is not true)")
    unset = [n for n, p in (("TLS_CERT_FILE", cert_path), ("TLS_KEY_FILE", key_path)) if not p]
    if unset:
        return bad(f"TLS_ENABLED=true but {' and '.join(unset)} not set", unset=unset)
    cert, cert_why = _read_pem(ctx, cert_path, "TLS_CERT_FILE")
    key, key_why = _read_pem(ctx, key_path, "TLS_KEY_FILE")
    report = tlscheck.inspect_tls(cert, key, warn_days=ctx.settings.tls_warn_days,
                                  now=datetime.fromtimestamp(ctx.target.now(), UTC))
    ev = report.to_json() | {"cert_file": cert_path, "key_file": key_path}
    if not report.ok:
        where = {"certificate file missing": cert_why or f"certificate file missing ({cert_path})",
                 "key file missing": key_why or f"key file missing ({key_path})"}
        return bad("TLS: " + "; ".join(where.get(p, p) for p in report.problems), **ev)
    return ok(f"certificate valid for {report.expires_in_days:.0f} more days, key matches", **ev)


def _read_pem(ctx: Context, path: str, name: str) -> tuple[bytes | None, str]:
    """The file's bytes, or None and why it is not a file (a folder, a loop of links...)."""
    try:
        return ctx.target.read_file(path, MAX_PEM), ""
    except UnreadableFile as exc:
        return None, f"{name}: {exc}; point it at the PEM file itself"


def _served_certificate(ctx: Context) -> Finding:
    """Where the service's environment and files cannot be read (a URL), the certificate it
    serves still can: valid, expiring, expired. The key cannot be judged from outside."""
    url = urlsplit(ctx.settings.base_url)
    if url.scheme != "https":
        return skip("the service's environment cannot be read on this target (TLS_ENABLED "
                    "unknown), and --base-url is plain http: no certificate to look at")
    host, port = url.hostname or "localhost", url.port or 443
    try:
        der = ctx.network.peer_certificate(host, port, ctx.settings.http_timeout_s)
    except OSError as exc:
        return bad(f"TLS: no handshake with {host}:{port}: {ctx.redactor.clip(exc, 200)}",
                   served_by=f"{host}:{port}")
    report = tlscheck.inspect_tls(der, None, warn_days=ctx.settings.tls_warn_days,
                                  now=datetime.fromtimestamp(ctx.target.now(), UTC))
    problems = [p for p in report.problems if p != "key file missing"]
    ev = report.to_json() | {"served_by": f"{host}:{port}", "key": "not visible from outside"}
    if problems:
        return bad("TLS (served certificate): " + "; ".join(problems), **ev)
    return ok(f"served certificate valid for {report.expires_in_days:.0f} more days (the key is "
              "not visible from outside)", **ev)
