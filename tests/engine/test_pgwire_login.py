"""The database probe logs in as the engine does, against a real PostgreSQL (SCRAM-SHA-256):
a password the database refuses is told apart from a database that is down."""

from __future__ import annotations

import os
import subprocess
import sys

from servicedown.probes import pgwire


def _env(postgres) -> dict[str, str]:
    return postgres.engine_env()


def test_the_right_password_logs_in(postgres):
    env = _env(postgres)
    verdict, detail = pgwire.pg_ping("127.0.0.1", env["DATABASE_PORT"], env["DATABASE_USER"],
                                     env["DATABASE_NAME"], 3, env["DATABASE_PASSWORD"])
    assert verdict == pgwire.ACCEPTING and "logged in" in detail


def test_a_wrong_password_is_refused_and_named(postgres):
    env = _env(postgres)
    verdict, detail = pgwire.pg_ping("127.0.0.1", env["DATABASE_PORT"], env["DATABASE_USER"],
                                     env["DATABASE_NAME"], 3, "Zq8vTn3Lw5Yk2Rb7Xc4Mj9Hs6Gd1Ff0Ue")
    assert verdict == pgwire.AUTH_FAILED and "password authentication failed" in detail


def test_without_a_password_it_is_pg_isready(postgres):
    env = _env(postgres)
    verdict, detail = pgwire.pg_ping("127.0.0.1", env["DATABASE_PORT"], env["DATABASE_USER"],
                                     env["DATABASE_NAME"], 3)
    assert verdict == pgwire.ACCEPTING and "authentication requested" in detail


def test_in_another_python_the_password_comes_from_its_environment_never_argv(postgres):
    env = _env(postgres)
    argv = pgwire.probe_argv("127.0.0.1", env["DATABASE_PORT"], env["DATABASE_USER"],
                             env["DATABASE_NAME"], 3, "env:DATABASE_PASSWORD", python=sys.executable)
    assert env["DATABASE_PASSWORD"] not in " ".join(argv)
    ok = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                        env={**os.environ, "DATABASE_PASSWORD": env["DATABASE_PASSWORD"]})
    assert ok.returncode == 0 and ok.stdout.startswith("accepting\t")
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                             env={**os.environ, "DATABASE_PASSWORD": "Zq8vTn3Lw5Yk2Rb7Xc4Mj9Hs6Gd1Ff0Ue"})
    assert refused.returncode == 2 and refused.stdout.startswith("auth-failed\t")
    assert env["DATABASE_PASSWORD"] not in ok.stdout + refused.stdout


def test_a_proc_source_reads_the_service_process_environment(postgres, tmp_path):
    env = _env(postgres)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                              env={**os.environ, "DATABASE_PASSWORD": env["DATABASE_PASSWORD"]})
    try:
        argv = pgwire.probe_argv("127.0.0.1", env["DATABASE_PORT"], env["DATABASE_USER"],
                                 env["DATABASE_NAME"], 3, f"proc:{holder.pid}:DATABASE_PASSWORD",
                                 python=sys.executable)
        res = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                             env={k: v for k, v in os.environ.items() if k != "DATABASE_PASSWORD"})
        assert res.returncode == 0 and "logged in" in res.stdout
    finally:
        holder.kill()
        holder.wait(timeout=10)
