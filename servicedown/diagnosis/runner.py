"""Runs the diagnosis checks concurrently, each bounded, and masks what they say."""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Iterable

from servicedown.backends.command import BackendError
from servicedown.config import Settings
from servicedown.diagnosis.catalog import all_checks
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.registry import CANNOT_TELL, NOT_APPLICABLE, CheckSpec, Finding
from servicedown.model import CheckResult, Outcome
from servicedown.redact import DEFAULT, Redactor
from servicedown.targets.base import NotPresent, NotSupported, Target


def _redactor(ctx: Context) -> Redactor:
    """The run's redactor (it knows the service's secret values), or the generic one when the
    environment cannot be read (then no value is known to anyone)."""
    try:
        return ctx.redactor
    except Exception:
        return DEFAULT


def _one(spec: CheckSpec, ctx: Context) -> CheckResult:
    start = time.monotonic()
    try:
        f = spec.func(ctx)
    except NotPresent as exc:
        f = Finding(Outcome.SKIP, str(exc), {"skipped": NOT_APPLICABLE})
    except NotSupported as exc:
        f = Finding(Outcome.SKIP, str(exc), {"skipped": CANNOT_TELL})
    except BackendError as exc:
        f = Finding(Outcome.ERROR, str(exc))
    except Exception as exc:  # a broken check says so in one line; it never stops the run
        f = Finding(Outcome.ERROR, _redactor(ctx).clip(f"{type(exc).__name__}: {exc}", 300))
    try:
        at: float | None = ctx.target.now()
    except Exception:  # the platform's clock is part of a backend that may be gone
        at = None
    return CheckResult(spec.id, spec.runbook, f.outcome, f.message, f.evidence,
                       time.monotonic() - start, at)


def run_checks(settings: Settings, target: Target, only: Iterable[str] | None = None,
               ctx: Context | None = None) -> list[CheckResult]:
    """Every registered check (or `only` those), concurrently; results in registry order."""
    specs = [s for s in all_checks().values() if only is None or s.id in set(only)]
    own_ctx = ctx is None
    ctx = ctx or Context(settings, target)
    # Checks wait on shared facts (state, logs, HTTP), so each gets its own thread: the
    # slowest fact, not the sum, bounds the run.
    pool = cf.ThreadPoolExecutor(max_workers=max(len(specs), 1), thread_name_prefix="check")
    bound = settings.check_timeout_s + settings.cpu_sample_s
    try:
        futures = {spec.id: pool.submit(_one, spec, ctx) for spec in specs}
        cf.wait(futures.values(), timeout=bound)
    finally:
        # Also on an interrupt. A thread being started when it comes (Thread.start() waits for
        # it) runs unknown to the pool's books; only the shutdown's wake-up on the queue ends it,
        # and without it the interpreter's exit would wait for that thread forever.
        pool.shutdown(wait=False, cancel_futures=True)
    results = []
    for spec in specs:
        fut = futures[spec.id]
        if fut.done():
            results.append(fut.result())
        else:
            results.append(CheckResult(spec.id, spec.runbook, Outcome.ERROR,
                                       f"did not finish within {bound:.0f}s", {}, bound))
    redactor = _redactor(ctx)
    for r in results:
        r.message = redactor(r.message)
        r.evidence = redactor.mask_json(r.evidence)
    if own_ctx:
        ctx.close()
    return results
