"""Every diagnosis check, in the runbook's order: the one module that imports the check modules."""

from __future__ import annotations

from servicedown.diagnosis import database, health, logs, monitoring, resources, running, startup
from servicedown.diagnosis.registry import CHECKS, CheckSpec

# Runbook order: Diagnosis 1-3, then Common Causes 2-4, then Related Alerts (what the deployment's
# Prometheus saw); each area is one check module.
AREAS = tuple(m.__name__.rsplit(".", 1)[-1]
              for m in (running, logs, health, resources, database, startup, monitoring))


def all_checks() -> dict[str, CheckSpec]:
    """Every registered check, ordered by area (runbook order), then as each module declares them."""
    order = {area: i for i, area in enumerate(AREAS)}
    return dict(sorted(CHECKS.items(), key=lambda kv: order.get(kv[0].split(".")[0], len(order))))
