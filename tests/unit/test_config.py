import pytest

from servicedown import config


def test_defaults_match_the_runbook():
    s = config.from_sources({}, {})
    assert s.base_url == "http://localhost:8000"
    assert (s.service, s.db_service, s.unit) == ("qbitel-engine", "postgres", "qbitel")
    assert (s.namespace, s.selector) == ("qbitel", "app=qbitel-engine")
    # Empty: the engine's own DATABASE_USER / DATABASE_NAME / QBITEL_DATA_DIR decide.
    assert (s.db_user, s.db_name, s.data_dir, s.log_lines) == ("", "", "", 100)
    assert s.remediate is False


def test_cli_beats_environment_beats_default():
    env = {"SERVICEDOWN_TARGET": "url", "SERVICEDOWN_LOG_LINES": "500"}
    s = config.from_sources({"log_lines": "20"}, env)
    assert s.target == "url" and s.log_lines == 20


@pytest.mark.parametrize("url", ["htp:/x", "localhost:8000", "http://", "ftp://h/"])
def test_bad_urls_are_refused_with_a_clear_message(url):
    with pytest.raises(config.SettingsError, match="not an http"):
        config.from_sources({"base_url": url}, {})


def test_bad_numbers_and_kinds():
    with pytest.raises(config.SettingsError, match="not a valid int"):
        config.from_sources({"log_lines": "many"}, {})
    with pytest.raises(config.SettingsError, match="unknown target"):
        config.from_sources({"target": "vm"}, {})


def test_bool_from_env():
    assert config.from_sources({}, {"SERVICEDOWN_REMEDIATE": "true"}).remediate is True
