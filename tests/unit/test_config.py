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
    with pytest.raises(config.SettingsError, match="--log-lines many: a whole number"):
        config.from_sources({"log_lines": "many"}, {})
    with pytest.raises(config.SettingsError, match="unknown target"):
        config.from_sources({"target": "vm"}, {})


def test_bool_from_env():
    assert config.from_sources({}, {"SERVICEDOWN_REMEDIATE": "true"}).remediate is True


# Every numeric option, with values outside its range: NaN, infinities, negatives, zero where
# zero cannot work, ratios written as percentages, ports past 65535, fractions of a line.
BAD_VALUES = {
    "memory_threshold": ["90", "1.01", "0", "-0.5", "nan", "inf"],
    "cpu_threshold": ["90", "NaN"],
    "disk_threshold": ["95", "-inf"],
    "fd_threshold": ["1.5"],
    "connections_threshold": ["0"],
    "http_timeout_s": ["0", "-1", "nan", "inf", "1e9"],
    "latency_budget_s": ["0", "-0.1", "nan"],
    "check_timeout_s": ["0", "inf"],
    "cpu_sample_s": ["0", "-2"],
    "db_port": ["0", "65536", "-1", "5432.5", "http"],
    "log_lines": ["0", "-5", "1.5", "many", "10000001"],
    "event_window_s": ["0", "-60", "1.5"],
    "tls_warn_days": ["-1", "nan", "2.5"],
}
CASES = [(name, raw) for name, raws in BAD_VALUES.items() for raw in raws]


@pytest.mark.parametrize(("name", "raw"), CASES)
def test_out_of_range_options_are_refused_with_one_line(name, raw):
    flag = "--" + name.replace("_", "-")
    with pytest.raises(config.SettingsError) as info:
        config.from_sources({name: raw}, {})
    assert info.value.problems == [f"{flag} {raw}: {config.range_of(name).what}"]
    assert "\n" not in info.value.problems[0]


@pytest.mark.parametrize(("name", "raw"), CASES)
def test_out_of_range_environment_values_name_the_variable(name, raw):
    env = "SERVICEDOWN_" + name.upper()
    with pytest.raises(config.SettingsError) as info:
        config.from_sources({}, {env: raw})
    assert info.value.problems == [f"{env}={raw}: {config.range_of(name).what}"]


def test_the_threshold_message_says_it_is_a_ratio():
    with pytest.raises(config.SettingsError) as info:
        config.from_sources({"memory_threshold": "90"}, {})
    assert str(info.value) == "--memory-threshold 90: a ratio between 0 and 1 (e.g. 0.9 for 90 %)"


def test_every_numeric_setting_has_a_range_rule():
    numeric = [n for n, kind, _ in config.option_names() if kind in (int, float)]
    assert numeric and all(config.range_of(n) for n in numeric)
    for n in numeric:  # and its default is inside it
        assert not config.problem(n, config.range_of(n), getattr(config.Settings(), n))


def test_each_bad_value_gets_its_own_line():
    with pytest.raises(config.SettingsError) as info:
        config.from_sources({"memory_threshold": "90", "db_port": "0"},
                            {"SERVICEDOWN_HTTP_TIMEOUT_S": "nan"})
    assert len(info.value.problems) == 3
    assert str(info.value).splitlines() == info.value.problems


@pytest.mark.parametrize(("name", "value"), [("memory_threshold", 90.0), ("http_timeout_s", float("nan")),
                                             ("db_port", 0), ("log_lines", 2.5)])
def test_settings_made_in_code_are_held_to_the_same_rules(name, value):
    with pytest.raises(config.SettingsError, match=config.range_of(name).what.split("(")[0]):
        config.Settings(**{name: value})


@pytest.mark.parametrize(("name", "raw", "want"), [
    ("memory_threshold", "1", 1.0), ("memory_threshold", "0.001", 0.001), ("db_port", "1", 1),
    ("db_port", "65535", 65535), ("tls_warn_days", "0", 0), ("http_timeout_s", "0.05", 0.05),
    ("log_lines", " 500 ", 500)])
def test_edges_of_each_range_are_accepted(name, raw, want):
    assert getattr(config.from_sources({name: raw}, {}), name) == want


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled"])
def test_booleans_that_are_neither_true_nor_false_are_refused(raw):
    with pytest.raises(config.SettingsError, match="SERVICEDOWN_REMEDIATE=.*: true or false"):
        config.from_sources({}, {"SERVICEDOWN_REMEDIATE": raw})


def test_false_spellings_of_booleans():
    for raw in ("0", "false", "No", "off"):
        assert config.from_sources({}, {"SERVICEDOWN_REMEDIATE": raw}).remediate is False
