"""The secret canary: engines run with known secret values in every shape a deployment gives
them, every suite runs against them, and no byte of any value appears in anything they print or
write: the terminal, the triage JSON, JUnit, pytest-html, the post-mortem (HTML and Markdown),
the chaos results and journal, the load results, and the DEBUG log of each run.

The shapes: the engine's own variables (DATABASE_PASSWORD, JWT_SECRET, ENCRYPTION_KEY) holding
characters that URL-, JSON- and HTML-encoding change; credential names outside PASSWORD/SECRET/
KEY/TOKEN (DB_PASS, SMTP_PASS, SENTRY_DSN, PROXY_AUTH); a password inside a URL (DATABASE_URL);
a token given as a URL's user; a secret too short to mask anywhere (SMTP_PASS); the same values
inline in the engine's log lines (`password: x`, `--password x`, `{'password': 'x'}`,
`postgresql://user:x@host`); a secret where the health log is cut; and a password in --base-url.
Each is looked for as written, URL-encoded (either case), JSON- and HTML-escaped and in base64,
and by its first and last characters, so that a cut-off head or tail counts too.

The checks' engine is a separate container from `qbitel-engine:local` labelled as Compose would
label a project of its own (`servicedown-canary`), so the shared stack is never touched. It has
no database: its database checks fail, which gives the report causes and evidence to write
about. The chaos suite brings up its own throwaway stack, given the same shapes through
QBITEL_ENGINE_ENV_FILE; the load run aims at the checks' engine.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.support import ROOT, docker_with_image, run

pytestmark = [pytest.mark.compose, pytest.mark.slow]

IMAGE = os.environ.get("QBITEL_ENGINE_IMAGE", "qbitel-engine:local")
PROJECT = "servicedown-canary"
WINDOW = 10  # characters of a value's head and tail looked for on their own


def _canaries() -> dict[str, str]:
    """Values no code could print by accident: random, long enough for the engine, holding
    characters every encoding changes. SHORT is too short to be masked as a bare value."""
    r = secrets.token_hex
    return {"DATABASE_PASSWORD": f"cD/{r(12)}+{r(4)}%&",
            "JWT_SECRET": f"cJ{r(20)}/{r(2)}=",
            "ENCRYPTION_KEY": f'cE"{r(18)}\\{r(2)}<>',
            "QBITEL_API_TOKEN": f"cT{r(14)}",
            "DB_PASS": f"cB{r(10)}",
            "PROXY_PASSWORD_PART": f"cP{r(10)}",
            "SENTRY_TOKEN_PART": f"cS{r(10)}",
            "URL_PASSWORD": f"cU{r(10)}",
            "SHORT": secrets.choice("ghjkmnpqrtvwxyz") + r(1)}


def _engine_env(v: dict[str, str]) -> dict[str, str]:
    """The engine's environment: each secret under the name and in the shape deployments use."""
    return {"DATABASE_PASSWORD": v["DATABASE_PASSWORD"], "JWT_SECRET": v["JWT_SECRET"],
            "ENCRYPTION_KEY": v["ENCRYPTION_KEY"], "QBITEL_API_TOKEN": v["QBITEL_API_TOKEN"],
            "DB_PASS": v["DB_PASS"], "SMTP_PASS": v["SHORT"],
            "PROXY_AUTH": f"proxyuser:{v['PROXY_PASSWORD_PART']}",
            "SENTRY_DSN": f"https://{v['SENTRY_TOKEN_PART']}@sentry.example/7",
            # A DSN carries the password inside a value whose name says nothing about secrets.
            "DATABASE_URL": f"postgresql://qbitel_user:{quote(v['DATABASE_PASSWORD'], safe='')}"
                            "@127.0.0.1:1/qbitel"}


def _inline_lines(v: dict[str, str]) -> str:
    """Log lines that quote secrets inline, as a misconfigured engine would; each matches a
    log pattern of the checks, so each is quoted as evidence."""
    return "\n".join([
        f"ERROR Database connection error: postgresql://qbitel_user:{v['DB_PASS']}@db:5432/qbitel "
        f"refused (smtp_pass: {v['SHORT']}, password: {v['JWT_SECRET']})",
        f"ERROR Database connection error: retry with --password {v['DB_PASS']} "
        f"--smtp-pass {v['SHORT']} postgresql://mailer:{v['SHORT']}@smtp:25",
        f"CRITICAL configuration error: {{'password': '{v['DB_PASS']}', 'smtp_pass': "
        f"'{v['SHORT']}', 'token': '{v['QBITEL_API_TOKEN']}'}}",
        # A line longer than the quote's cut, a secret across the cut.
        "ERROR Database connection error: " + "x" * (1990 - 34) + " " + v["QBITEL_API_TOKEN"],
    ])


def _forms(value: str) -> set[bytes]:
    """The value as bytes in the encodings a report could carry it in, and its head and tail."""
    texts = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1],
             html.escape(value), value[:WINDOW], value[-WINDOW:]}
    texts |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), t) for t in list(texts)}
    out = {t.encode() for t in texts}
    out.add(base64.b64encode(value.encode()).rstrip(b"="))
    return out


def _short_shapes(short: str) -> list[bytes]:
    """A value too short to look for alone, in the credential shapes it was planted in."""
    return [s.encode() for s in (f"SMTP_PASS={short}", f"smtp_pass: {short}", f"--smtp-pass {short}",
                                 f"'smtp_pass': '{short}'", f":{short}@", f'"SMTP_PASS": "{short}"')]


def leaks_in(outputs: dict[str, bytes], values: dict[str, str]) -> list[str]:
    found = []
    for where, data in outputs.items():
        for name, value in values.items():
            shapes = _short_shapes(value) if name == "SHORT" else _forms(value)
            if any(shape in data for shape in shapes):
                found.append(f"{name} in {where}")
    return found


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # a 503 is an answer: the engine is up without its database
    except OSError:
        return False


@pytest.fixture
def canary_engine():
    client = docker_with_image(IMAGE)
    values = _canaries()
    env = {"QBITEL_ENVIRONMENT": "production", "DATABASE_HOST": "127.0.0.1", "DATABASE_PORT": "1",
           "DATABASE_NAME": "qbitel", "DATABASE_USER": "qbitel_user", "CANARY_LINES": _inline_lines(values),
           **_engine_env(values)}
    # The health log is cut at 200 characters: its output puts a secret across the cut.
    health = ('printf "%0190d " 0; echo "$QBITEL_API_TOKEN"; '
              "curl -fsS -o /dev/null http://localhost:8000/health/live")
    container = client.containers.run(
        IMAGE, detach=True, name=f"{PROJECT}-{secrets.token_hex(4)}", environment=env,
        # The engine's own command, after the lines quoting secrets.
        entrypoint=["sh", "-c", 'printf "%s\\n" "$CANARY_LINES"; exec "$@"', "canary"],
        command=["/opt/engine/bin/python", "-m", "qbitel_ref"],
        labels={"com.docker.compose.project": PROJECT, "com.docker.compose.service": "qbitel-engine"},
        healthcheck={"test": ["CMD-SHELL", health], "interval": 1_000_000_000,
                     "timeout": 3_000_000_000, "retries": 3},
        ports={"8000/tcp": ("127.0.0.1", None)}, mem_limit="256m")
    try:
        deadline = time.monotonic() + 60
        while True:
            container.reload()
            bound = (container.attrs["NetworkSettings"]["Ports"] or {}).get("8000/tcp")
            logged = (container.attrs["State"].get("Health") or {}).get("Log") or []
            if bound and logged:
                url = f"http://127.0.0.1:{bound[0]['HostPort']}"
                if _answers(url + "/health/live"):
                    break
            if container.status == "exited" or time.monotonic() > deadline:
                raise AssertionError(f"the canary engine did not answer (status {container.status})")
            time.sleep(0.5)
        yield url, values
    finally:
        container.remove(force=True, v=True)
        client.close()


def _pytest(suite: str, out: Path, *args: str, env: dict[str, str], timeout: float) -> bytes:
    """A suite run with every output it can write into `out`; -> what it printed."""
    proc = run([sys.executable, "-m", "pytest", suite, "-p", "no:cacheprovider", "-rA",
                f"--html={out / 'report.html'}", "--self-contained-html",
                f"--junitxml={out / 'junit.xml'}", f"--log-file={out / 'debug.log'}",
                "--log-file-level=DEBUG", *args], timeout=timeout, check=False, cwd=ROOT, env=env)
    return (proc.stdout + proc.stderr).encode()


def test_no_canary_byte_in_anything_written(canary_engine, tmp_path):
    url, values = canary_engine
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    outputs: dict[str, bytes] = {}
    runs = {name: tmp_path / name for name in ("checks", "checks-url", "chaos", "load")}
    for folder in runs.values():
        folder.mkdir()

    # pytest checks/ against the engine (Compose), with a password in --base-url.
    with_password = url.replace("http://", f"http://monitor:{quote(values['URL_PASSWORD'])}@")
    outputs["pytest checks/ output"] = _pytest(
        "checks/", runs["checks"], "--target", "compose", "--compose-project", PROJECT,
        "--base-url", with_password, f"--triage-json={runs['checks'] / 'triage.json'}",
        env=env, timeout=180)
    # ... and as a URL target, with a token as the URL's user (the target line shows the URL).
    with_token = url.replace("http://", f"http://{values['SENTRY_TOKEN_PART']}@")
    outputs["pytest checks/ --target url output"] = _pytest(
        "checks/", runs["checks-url"], "--target", "url", "--base-url", with_token,
        f"--triage-json={runs['checks-url'] / 'triage.json'}", env=env, timeout=120)
    # The post-mortem from what the checks wrote.
    report = run([sys.executable, "-m", "servicedown.report", "--reports-dir", str(runs["checks"])],
                 timeout=60, cwd=ROOT, env=env)
    outputs["report output"] = (report.stdout + report.stderr).encode()

    # The chaos suite, its throwaway engine given the same shapes, one experiment that
    # recreates the engine with a changed environment.
    env_file = tmp_path / "engine.env"
    # Not the short one: a weak secret fails startup.secrets, and an experiment starts only
    # from a steady state where every check passes.
    env_file.write_text("".join(f"{k}={v}\n" for k, v in _engine_env(values).items()
                                if k not in ("DATABASE_URL", "SMTP_PASS")))
    outputs["pytest chaos/ output"] = _pytest(
        "chaos/test_experiments.py", runs["chaos"], "--experiment", "config-invalid",
        f"--chaos-json={runs['chaos'] / 'chaos.json'}",
        f"--chaos-journal={runs['chaos'] / 'journal.jsonl'}",
        env={**env, "QBITEL_ENGINE_ENV_FILE": str(env_file)}, timeout=420)

    # A short load run against the engine, with a password in its host.
    load = run([sys.executable, "-m", "loadtests.run_load", "prevention", "--host", with_password,
                "--users", "2", "--spawn-rate", "2", "--run-time", "4", "--stop-timeout", "2",
                "--readback-timeout-s", "5", "--reports-dir", str(runs["load"])],
               timeout=180, check=False, cwd=ROOT, env=env)
    outputs["load output"] = (load.stdout + load.stderr).encode()

    # The runs really read these engines: their secrets were there and checks failed.
    doc = json.loads((runs["checks"] / "triage.json").read_text())
    assert PROJECT in doc["target"]
    seen = {c["id"]: c for c in doc["checks"]}
    assert seen["startup.env"]["outcome"] == "pass", seen["startup.env"]
    assert seen["startup.env"]["evidence"]["DATABASE_PASSWORD"]["length"] == len(values["DATABASE_PASSWORD"])
    assert "SMTP_PASS" in seen["startup.secrets"]["evidence"]["too_short_to_mask"]
    assert seen["logs.db_error"]["outcome"] == "fail", "the lines quoting secrets were not quoted"
    assert doc["verdict"] in ("degraded", "down") and doc["causes"], "no failure for the report to show"
    chaos = json.loads((runs["chaos"] / "chaos.json").read_text())
    assert [e["id"] for e in chaos["experiments"]] == ["config-invalid"], chaos.get("experiments")

    written = sorted(p for p in tmp_path.rglob("*") if p.is_file() and p != env_file)
    names = {f"{p.parent.name}/{p.name}" for p in written}
    assert {"checks/triage.json", "checks/report.html", "checks/junit.xml", "checks/debug.log",
            "checks/postmortem.html", "checks/postmortem.md", "checks-url/triage.json",
            "chaos/chaos.json", "chaos/journal.jsonl", "chaos/debug.log", "chaos/report.html",
            "load/load.json", "load/load.html", "load/load-verdict.json"} <= names, names
    assert len(_inline_lines(values)) > 2000  # the long line was there to be cut

    # What was looked for can be seen: each value is found in what was planted, the health
    # log held the secret put across its cut, and the DEBUG logs hold DEBUG records.
    planted = (_inline_lines(values) + json.dumps(_engine_env(values)) + with_password + with_token)
    assert {hit.split(" in ")[0] for hit in leaks_in({"planted": planted.encode()}, values)} == set(values)
    assert any("health_log" in c["evidence"] for c in doc["checks"])
    for run_dir in ("checks", "chaos"):
        assert b"DEBUG" in (runs[run_dir] / "debug.log").read_bytes()

    # Not one of them, in any encoding a report could carry, anywhere.
    outputs |= {str(p.relative_to(tmp_path)): p.read_bytes() for p in written}
    leaks = leaks_in(outputs, values)
    assert leaks == [], f"secret values leaked: {leaks}"
