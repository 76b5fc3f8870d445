"""The monitoring configuration renderer: only `for:` lines change, settings are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import monitoring_config as mc

RULES = (mc.SOURCE / "rules.yml").read_text()
WRITTEN = {"ServiceDown": "1m", "HighCPUUsage": "10m", "HighMemoryUsage": "10m", "DiskSpaceLow": "30m",
           "DatabaseConnectionFailures": "1m", "PostgresDown": "2m", "DatabaseConnectionPoolExhausted": "5m"}


def durations(**env: str) -> dict[str, str]:
    return mc.settings(env, RULES)[1]


def test_the_rules_as_written_carry_the_real_durations() -> None:
    assert mc.rule_durations(RULES) == WRITTEN


def test_defaults_keep_the_written_durations() -> None:
    assert durations() == WRITTEN


def test_scale_shortens_every_duration() -> None:
    assert durations(QBITEL_ALERT_FOR_SCALE="0.05") == {
        "ServiceDown": "3s", "HighCPUUsage": "30s", "HighMemoryUsage": "30s", "DiskSpaceLow": "90s",
        "DatabaseConnectionFailures": "3s", "PostgresDown": "6s", "DatabaseConnectionPoolExhausted": "15s"}
    assert durations(QBITEL_ALERT_FOR_SCALE="0.001")["ServiceDown"] == "60ms"


def test_per_rule_durations_win_over_the_scale() -> None:
    got = durations(QBITEL_ALERT_FOR_SCALE="0.5", QBITEL_ALERT_FOR="ServiceDown=5s, PostgresDown=0s")
    assert (got["ServiceDown"], got["PostgresDown"], got["HighCPUUsage"]) == ("5s", "0s", "5m")


def test_only_for_lines_change(tmp_path: Path) -> None:
    mc.render(tmp_path, {"QBITEL_ALERT_FOR_SCALE": "0.1"})
    before = RULES.splitlines()
    after = (tmp_path / "prometheus" / "rules.yml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) == len(WRITTEN)
    assert all(a.strip().startswith("for: ") and b.strip().startswith("for: ") for a, b in changed)


def test_templates_are_filled(tmp_path: Path) -> None:
    mc.render(tmp_path, {"QBITEL_ENGINE_METRICS_PORT": "9090", "QBITEL_ALERTMANAGER_PORT": "19093",
                         "QBITEL_ALERT_WEBHOOK_URL": "http://127.0.0.1:19095/alertmanager",
                         "QBITEL_ALERT_GROUP_WAIT": "2s"})
    prometheus = (tmp_path / "prometheus" / "prometheus.yml").read_text()
    alertmanager = (tmp_path / "alertmanager" / "alertmanager.yml").read_text()
    assert '"qbitel-engine:9090"' in prometheus and '"host.docker.internal:19093"' in prometheus
    assert "scrape_interval: 5s" in prometheus
    assert 'url: "http://127.0.0.1:19095/alertmanager"' in alertmanager and "group_wait: 2s" in alertmanager
    assert mc.PLACEHOLDER.search(prometheus + alertmanager) is None
    assert (tmp_path / "prometheus" / "prometheus.yml").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(("env", "message"), [
    ({"QBITEL_ALERT_FOR_SCALE": "abc"}, "QBITEL_ALERT_FOR_SCALE must be a positive number"),
    ({"QBITEL_ALERT_FOR_SCALE": "0"}, "QBITEL_ALERT_FOR_SCALE must be a positive number"),
    ({"QBITEL_ALERT_FOR_SCALE": "nan"}, "QBITEL_ALERT_FOR_SCALE must be a positive number"),
    ({"QBITEL_ALERT_FOR": "ServiceDown"}, "QBITEL_ALERT_FOR takes ALERT=DURATION pairs"),
    ({"QBITEL_ALERT_FOR": "ServiceDown=soon"}, "QBITEL_ALERT_FOR takes ALERT=DURATION pairs"),
    ({"QBITEL_ALERT_FOR": "NoSuchAlert=5s"},
     "QBITEL_ALERT_FOR names an unknown alert 'NoSuchAlert'; the rules are: ServiceDown"),
    ({"QBITEL_SCRAPE_INTERVAL": "0s"}, "QBITEL_SCRAPE_INTERVAL must be a Prometheus duration"),
    ({"QBITEL_SCRAPE_INTERVAL": "1s"}, "QBITEL_SCRAPE_INTERVAL must be at least 2s"),
    ({"QBITEL_ALERT_GROUP_WAIT": "5 s"}, "QBITEL_ALERT_GROUP_WAIT must be a Prometheus duration"),
    ({"QBITEL_ENGINE_METRICS_PORT": "70000"}, "QBITEL_ENGINE_METRICS_PORT must be a port number"),
    ({"QBITEL_PROMETHEUS_PORT": "x"}, "QBITEL_PROMETHEUS_PORT must be a port number"),
    ({"QBITEL_ALERT_WEBHOOK_URL": "127.0.0.1:9095"}, "QBITEL_ALERT_WEBHOOK_URL must be an http:// or https://"),
    ({"QBITEL_ALERT_WEBHOOK_URL": 'http://x/"\nurl: y'}, "QBITEL_ALERT_WEBHOOK_URL must be an http://"),
])
def test_bad_settings_say_which_and_what_they_take(env: dict[str, str], message: str) -> None:
    with pytest.raises(mc.SettingError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        mc.settings(env, RULES)


def test_check_exits_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBITEL_ALERT_FOR_SCALE", "-1")
    assert mc.main(["check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("QBITEL_ALERT_FOR_SCALE")
    assert mc.main(["frobnicate"]) == 2
