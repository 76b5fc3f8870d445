"""The rule files and configurations, judged by the tools of the Debian packages themselves:
promtool (check rules, check config, and unit tests of every alert) and amtool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import monitoring_config
from tests.support import ROOT, run

PROMETHEUS_IMAGE = "qbitel-prometheus:local"
ALERTMANAGER_IMAGE = "qbitel-alertmanager:local"
SOURCE = ROOT / "compose" / "monitoring"
HERE = Path(__file__).parent


def tool(image: str, *argv: str, mounts: dict[Path, str]) -> str:
    """Run a tool of an image, offline, with folders mounted read-only; its output."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client: run 'make test', which installs Docker and builds the images")
    if run(["docker", "image", "inspect", image], timeout=30, check=False).returncode != 0:
        pytest.skip(f"image {image} missing: run 'scripts/bootstrap.sh images'")
    volumes = [arg for host, inside in mounts.items() for arg in ("-v", f"{host}:{inside}:ro")]
    proc = run(["docker", "run", "--rm", "--network", "none", *volumes, "--entrypoint", argv[0], image,
                *argv[1:]], timeout=120)
    return proc.stdout + proc.stderr


def render(out: Path, **settings: str) -> Path:
    monitoring_config.render(out, settings)
    return out


def test_promtool_checks_the_rules() -> None:
    out = tool(PROMETHEUS_IMAGE, "promtool", "check", "rules", "/rules/rules.yml", mounts={SOURCE: "/rules"})
    assert "SUCCESS: 7 rules found" in out


def test_promtool_unit_tests_of_every_alert() -> None:
    out = tool(PROMETHEUS_IMAGE, "promtool", "test", "rules", "/tests/rules_test.yml",
               mounts={SOURCE: "/rules", HERE: "/tests"})
    assert "SUCCESS" in out


def test_the_unit_tests_catch_a_changed_duration(tmp_path: Path) -> None:
    """The same unit tests against rules rendered with halved durations must fail."""
    rendered = render(tmp_path, QBITEL_ALERT_FOR_SCALE="0.5")
    proc = run(["docker", "run", "--rm", "--network", "none", "-v", f"{rendered / 'prometheus'}:/rules:ro",
                "-v", f"{HERE}:/tests:ro", "--entrypoint", "promtool", PROMETHEUS_IMAGE,
                "test", "rules", "/tests/rules_test.yml"], timeout=120, check=False)
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr


def test_rendered_prometheus_config_is_valid(tmp_path: Path) -> None:
    rendered = render(tmp_path, QBITEL_ALERT_FOR_SCALE="0.01", QBITEL_ENGINE_METRICS_PORT="9090")
    out = tool(PROMETHEUS_IMAGE, "promtool", "check", "config", "/cfg/prometheus.yml",
               mounts={rendered / "prometheus": "/cfg"})
    assert "is valid prometheus config file syntax" in out and "SUCCESS: 7 rules found" in out
    assert '"qbitel-engine:9090"' in (rendered / "prometheus" / "prometheus.yml").read_text()


def test_rendered_alertmanager_config_is_valid(tmp_path: Path) -> None:
    rendered = render(tmp_path, QBITEL_ALERT_WEBHOOK_URL="https://receiver.example:8443/alertmanager")
    out = tool(ALERTMANAGER_IMAGE, "amtool", "check-config", "/etc/alertmanager/alertmanager.yml",
               mounts={rendered / "alertmanager": "/etc/alertmanager"})
    assert "SUCCESS" in out and "1 receivers" in out
