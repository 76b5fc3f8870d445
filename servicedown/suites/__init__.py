"""Where the project's pytest suites are, and the settings they run with.

In a clone they are the folders `checks/` and `chaos/` beside `pyproject.toml`; an installed
package carries them as `servicedown/suites/checks` and `servicedown/suites/chaos` (setup.py
maps the folders there), so `servicedown checks` runs the same tests on a host without a clone.
PYTEST_ARGS are the settings of pyproject's [tool.pytest.ini_options], which an installed
package does not have; a unit test keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CLONE = PACKAGE.parents[1]
SUITES = ("checks", "chaos")

# The project's markers: registered by the root plugin (servicedown/pytest_plugin.py), so they
# are known wherever pytest runs, with or without pyproject.toml.
MARKERS: tuple[str, ...] = (
    "runbook(meaning): what a test stands for, as meaning ids of servicedown/meanings.py "
    "(step:service-running, oom, category:database)",
    "compose: needs the Compose reference stack",
    "systemd: needs the systemd test host",
    "kubernetes: needs a Kubernetes API server",
    "chaos: a chaos experiment (injects a fault into a throwaway stack)",
    "slow: takes more than a few seconds",
)

# pyproject.toml [tool.pytest.ini_options], as command-line options (addopts, timeout,
# filterwarnings).
PYTEST_ARGS: tuple[str, ...] = (
    "-ra", "-p", "no:cacheprovider", "-p", "no:locust", "-p", "no:anyio", "-p", "no:testinfra",
    "-o", "timeout=600", "-W", "ignore::DeprecationWarning",
)


def in_clone() -> bool:
    return (CLONE / "pyproject.toml").is_file() and all((CLONE / s).is_dir() for s in SUITES)


def suites_root() -> Path:
    """The folder the suites' node ids are relative to (the clone, or the installed package)."""
    return CLONE if in_clone() else PACKAGE


def suite_dir(name: str) -> Path:
    if name not in SUITES:
        raise KeyError(f"no suite {name!r}; suites: {', '.join(SUITES)}")
    return suites_root() / name
