"""Packages of the distribution (the metadata is in pyproject.toml).

The suites `checks/` and `chaos/` ship inside the package as `servicedown.suites.checks` and
`servicedown.suites.chaos`, so `servicedown checks` runs the same tests from a wheel on a host
without a clone (servicedown/suites/__init__.py finds them either way).
"""

from setuptools import find_namespace_packages, setup

SUITES = {"servicedown.suites.checks": "checks", "servicedown.suites.chaos": "chaos"}

# Namespace lookup: some subpackages (servicedown/diagnosis) have no __init__.py.
setup(packages=[*find_namespace_packages(include=["servicedown", "servicedown.*"],
                                         exclude=["*.__pycache__"]), *SUITES],
      package_dir=SUITES, package_data={"servicedown.targets": ["*.sh"]})
