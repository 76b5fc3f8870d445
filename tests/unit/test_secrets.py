import pytest

from servicedown.secrets import (
    CRITICAL,
    ERROR,
    OK,
    REQUIRED,
    assess,
    assess_one,
    missing,
    weak_or_short,
)

STRONG = "Zq8v!2kLr0pX7wNc4tYb9mHs6dFg1jKe"  # 32 characters, no weak pattern


def by_name(env):
    return {r.name: r for r in assess(env)}


def test_all_good():
    reports = assess({n: STRONG for n in REQUIRED})
    assert [r.name for r in reports] == list(REQUIRED)
    assert all(r.ok and r.present and r.length == 32 and not r.problems for r in reports)
    assert missing(reports) == [] and weak_or_short(reports) == []


@pytest.mark.parametrize("value", [None, ""])
def test_missing_or_empty_is_critical_and_not_also_too_short(value):
    env = {n: STRONG for n in REQUIRED}
    if value is None:
        del env["JWT_SECRET"]
    else:
        env["JWT_SECRET"] = value
    r = by_name(env)["JWT_SECRET"]
    assert (r.present, r.length, r.too_short, r.severity) == (False, 0, False, CRITICAL)
    assert r.problems == ["JWT_SECRET is missing or empty"]
    assert [x.name for x in missing(assess(env))] == ["JWT_SECRET"]
    assert weak_or_short(assess(env)) == []


@pytest.mark.parametrize(("name", "length", "short"), [
    ("JWT_SECRET", 31, True), ("JWT_SECRET", 32, False),
    ("ENCRYPTION_KEY", 31, True), ("ENCRYPTION_KEY", 32, False),
    ("DATABASE_PASSWORD", 5, False),  # the engine sets no minimum for it
])
def test_minimum_length_boundary(name, length, short):
    r = assess_one(name, "x" * length)
    assert r.too_short is short
    assert r.severity == (ERROR if short else OK)


@pytest.mark.parametrize(("name", "value", "weak"), [
    ("DATABASE_PASSWORD", "MyPassword1", ["password"]),
    ("JWT_SECRET", "ADMIN-root-" + "x" * 30, ["admin", "root"]),
    ("JWT_SECRET", "x" * 30 + "123456", ["123456"]),
    ("JWT_SECRET", "ChangeMe" + "x" * 30, ["changeme"]),
    ("DATABASE_PASSWORD", "the-default", ["default"]),
    ("DATABASE_PASSWORD", "top-SECRET", ["secret"]),
    ("ENCRYPTION_KEY", "password" * 5, []),  # not checked for weak words by the engine
])
def test_weak_patterns_case_insensitive_and_only_where_the_engine_checks(name, value, weak):
    r = assess_one(name, value)
    assert r.weak_patterns == weak
    assert r.severity == (CRITICAL if weak else OK)


def test_weak_beats_short_for_severity():
    r = assess_one("JWT_SECRET", "admin")
    assert r.too_short and r.weak_patterns == ["admin"] and r.severity == CRITICAL
    assert len(r.problems) == 2


def test_no_value_in_repr_str_problems_or_fields():
    value = "hunter2-password-" + "q" * 20
    for r in assess({"DATABASE_PASSWORD": value, "JWT_SECRET": value, "ENCRYPTION_KEY": value}):
        for text in (repr(r), str(r), " ".join(r.problems), str(vars(r))):
            assert value not in text
            assert "hunter2" not in text


def test_bytes_and_odd_values_do_not_raise():
    assert assess_one("JWT_SECRET", b"\xff" * 40).length == 40
    assert assess_one("JWT_SECRET", 12345).present is False  # type: ignore[arg-type]


def test_a_secret_reference_is_present_but_not_judged():
    from servicedown.secrets import SECRET_REF, assess_one, weak_or_short

    r = assess_one("JWT_SECRET", SECRET_REF)
    assert r.present and not r.value_read and r.ok and weak_or_short([r]) == []
    assert SECRET_REF not in repr(r)  # a report never holds a value
