"""Runs one experiment: steady state -> inject -> detect -> remediate -> recover -> verify, and
revert in `finally` (also on Ctrl-C / SIGTERM), journalling every activity.

Detection and recovery use the same library code as `checks/`: `run_checks` against a
`ComposeTarget` pointed at the throwaway stack, then `triage`. A fault is detected when the
triage's top cause is the experiment's cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from servicedown import polling
from servicedown.chaos import cleanup
from servicedown.chaos.experiments import Experiment
from servicedown.chaos.faults import Fault, make_fault
from servicedown.chaos.journal import Journal
from servicedown.chaos.remedies import REMEDIES
from servicedown.chaos.results import ExperimentResult, elapsed, expectation_problems, judge
from servicedown.chaos.stack import PROXY, ChaosStack
from servicedown.chaos.writer import Writer
from servicedown.diagnosis.catalog import all_checks
from servicedown.diagnosis.context import Context
from servicedown.diagnosis.runner import run_checks
from servicedown.model import CheckResult, Outcome, Triage
from servicedown.probes import logscan
from servicedown.triage import triage

# Checks that report the past (logs, exits, restarts in the event window): they stay red after
# a recovery by design, so recovery is judged on the others.
HISTORY_CHECKS = frozenset({"running.restarts", "running.exit_code", "running.oom_killed",
                            *logscan.CHECKS})
_GOOD = (Outcome.PASS, Outcome.SKIP)


def recovery_checks() -> list[str]:
    return [c for c in all_checks() if c not in HISTORY_CHECKS]


def is_steady(results: list[CheckResult]) -> bool:
    """The steady-state hypothesis: no check fails or errors (history included)."""
    return all(r.outcome in _GOOD for r in results)


def is_recovered(results: list[CheckResult]) -> bool:
    """Serving again: /health healthy and every check of the present state green."""
    by_id = {r.id: r for r in results}
    health = by_id.get("health.endpoint")
    return health is not None and health.passed and all(
        r.outcome in _GOOD for r in results if r.id not in HISTORY_CHECKS)


def ranking(t: Triage, limit: int = 4) -> list[str]:
    return [f"{c.id} ({c.score:g})" for c in t.causes[:limit]]


def failed_ids(results: list[CheckResult]) -> list[str]:
    return [r.id for r in results if r.outcome in (Outcome.FAIL, Outcome.ERROR)]


class SteadyStateDeviated(RuntimeError):
    pass


@dataclass(frozen=True)
class Observation:
    """One run of the checks and what triage made of it, with when it ended (monotonic)."""

    results: list[CheckResult]
    triage: Triage
    at: float


@dataclass(frozen=True)
class Bounds:
    steady_s: float = 45.0  # for the steady state to hold before injecting
    writes_s: float = 10.0  # for the first acknowledged writes
    detect_s: float = 12.0  # from the end of the injection
    settle_s: float = 4.0  # after detection, for the remaining must-fail checks to show
    recover_s: float = 60.0  # from the start of the remediation
    resume_s: float = 8.0  # after recovery, for a write to be acknowledged again
    verify_s: float = 20.0  # to read every acknowledged write back
    pause_s: float = 0.2  # between polls


class Runner:
    def __init__(self, stack: ChaosStack, journal: Journal, bounds: Bounds | None = None) -> None:
        self.stack = stack
        self.journal = journal
        self.bounds = bounds or Bounds()

    # --- probes ----------------------------------------------------------------------------
    def observe(self, only: list[str] | None = None) -> Observation:
        """One run of the checks against the stack, then triage (the `checks/` path)."""
        target = self.stack.target()
        settings = target.settings
        ctx = Context(settings, target)
        try:
            results = run_checks(settings, target, only=only, ctx=ctx)
        finally:
            ctx.close()
            target.close()
        return Observation(results, triage(results), time.monotonic())

    def checks_until(self, done: Callable[[Observation], bool], timeout_s: float,
                     only: list[str] | None = None) -> tuple[Observation, bool]:
        """Observe until `done` holds or the bound passes (the one loop of every phase, as
        chaostoolkit judges every phase with one probe function) -> (last seen, whether done)."""
        verdict = [False]  # `done` may keep state (a journal entry per poll): judge each once

        def judged(o: Observation) -> bool:
            verdict[0] = bool(done(o))
            return verdict[0]

        last = polling.until(lambda: self.observe(only), timeout_s, self.bounds.pause_s, done=judged)
        return last, verdict[0]

    # --- the experiment --------------------------------------------------------------------
    def run(self, exp: Experiment) -> ExperimentResult:
        res = ExperimentResult(exp.id, exp.cause or None, fault=exp.fault,
                               remediation=exp.remediation)
        fault = make_fault(exp.fault, dict(exp.params))
        writer: Writer | None = None
        try:
            self._steady_state(exp)
            res.steady_state = True
            writer = Writer(lambda: self.stack.engine_url, f"chaos-{self.stack.run_id}-{exp.id}")
            with self.journal.activity(exp.id, "steady-state", "writes acknowledged") as act:
                writer.start()
                if not writer.wait_acked(3, self.bounds.writes_s):
                    raise SteadyStateDeviated("the engine acknowledged no write before the fault")
                act.detail["acknowledged"] = len(writer.acked)
            t_inject = time.monotonic()
            with self.journal.activity(exp.id, "inject", fault.describe()) as act:
                act.detail.update(fault.inject(self.stack))
            t_injected = time.monotonic()
            recovered_at = self._detect(exp, res, t_injected)
            t_remedy = t_injected if exp.remediation == "self-heal" else time.monotonic()
            with self.journal.activity(exp.id, "remediate", exp.remediation) as act:
                act.detail.update(self._remediate(exp, fault))
            if recovered_at is None:
                recovered_at = self._recover(exp)
            res.recovered = recovered_at is not None
            res.mttr_s = elapsed(t_remedy, recovered_at)
            res.writes_acknowledged_during_fault = writer.acked_between(t_inject, recovered_at)
            if recovered_at is not None:
                res.writes_resumed = writer.wait_acked(1, self.bounds.resume_s, since=recovered_at)
            writer.stop()
            self._verify(exp, res, writer)
        except SteadyStateDeviated as exc:
            res.error = f"steady state did not hold: {exc}"
        except KeyboardInterrupt:
            res.error = "interrupted"
            raise
        except Exception as exc:
            res.error = self.journal.redactor.clip(f"{type(exc).__name__}: {exc}", 300)
        finally:
            if writer is not None:
                writer.stop()
                res.writes_acknowledged = len(writer.acked)
                res.writes_refused = writer.refused + writer.no_answer
            self._revert(exp, res, fault)
            res.verdict = judge(res)
            self.journal.note(exp.id, "verify", f"verdict {res.verdict}", **{
                k: v for k, v in res.to_json().items()
                if k in ("detected_cause", "mttd_s", "mttr_s", "writes_acknowledged",
                         "writes_lost", "error")})
        return res

    def _steady_state(self, exp: Experiment) -> None:
        stack, want = self.stack, self.stack.baselines[exp.baseline]
        fresh = False
        if stack.engine_spec != want:
            with self.journal.activity(exp.id, "steady-state",
                                       f"engine recreated for baseline '{exp.baseline}'"):
                stack.recreate_engine(want, wait=True)
            fresh = True
        else:
            stack.mark_window()
        with self.journal.activity(exp.id, "steady-state", "hypothesis: every check green") as act:
            def held(o: Observation) -> bool:
                nonlocal fresh
                failing = failed_ids(o.results)
                if failing and act.detail.get("failing") != failing:
                    act.detail["failing"] = failing
                if failing and not fresh and set(failing) <= HISTORY_CHECKS:
                    # What an earlier experiment left in the restart history (or logged after
                    # it ended) would read as a fault: start from a fresh engine container.
                    with self.journal.activity(exp.id, "steady-state", "fresh engine (history "
                                               "left by earlier experiments)") as fresh_act:
                        fresh_act.detail["failing"] = failing
                        stack.recreate_engine(want, wait=True)
                    fresh = True
                return not failing

            last, ok = self.checks_until(held, self.bounds.steady_s)
            if not ok:
                raise SteadyStateDeviated(f"still failing after {self.bounds.steady_s:.0f}s: "
                                          f"{', '.join(failed_ids(last.results))}")
            if "failing" in act.detail:  # say what held it up, not that it still does
                act.detail["failing_before"] = act.detail["failing"]
            act.detail["failing"] = []

    def _detect(self, exp: Experiment, res: ExperimentResult, t0: float) -> float | None:
        """Observe until the expected cause is on top (and the must-fail checks have shown), or
        the bound. Returns when a self-healing fault was already seen recovered, if it was."""
        detected_at: float | None = None
        recovered_at: float | None = None
        seen_failed: set[str] = set()
        at_detection: list[CheckResult] = []

        def settled(o: Observation) -> bool:
            nonlocal detected_at, recovered_at, at_detection
            res.detection_polls += 1
            top = o.triage.top.id if o.triage.top else None
            failed = failed_ids(o.results)
            self.journal.note(exp.id, "detect", "poll", echo=False, top=top,
                              ranking=ranking(o.triage), failed=failed)
            if exp.remediation == "self-heal" and recovered_at is None and is_recovered(o.results):
                recovered_at = o.at
            if detected_at is None:
                res.ranking, res.checks_failed, res.detected_cause = ranking(o.triage), failed, top
                res.causes_listed = [c.id for c in o.triage.causes]
                if top == (exp.cause or None):
                    detected_at, at_detection = o.at, o.results
                    res.detected, res.mttd_s = True, elapsed(t0, o.at)
            seen_failed.update(r.id for r in o.results if r.failed)
            shown = detected_at is not None and (
                set(exp.expected_fail) <= seen_failed or o.at > detected_at + self.bounds.settle_s)
            # A self-healing fault that healed before anything pointed at it is over: more
            # polls could only see the healthy service.
            healed_unseen = detected_at is None and recovered_at is not None \
                and o.at > recovered_at + 2 * self.bounds.pause_s
            return shown or healed_unseen

        with self.journal.activity(exp.id, "detect", f"expect top cause '{exp.cause}'") as act:
            last, _ = self.checks_until(settled, max(t0 + self.bounds.detect_s - time.monotonic(), 0))
            problems = expectation_problems(at_detection or last.results, [], exp.expected_pass)
            problems += [f"{c} must fail but did not while the fault was on"
                         for c in exp.expected_fail if c not in seen_failed]
            res.expectation_problems = problems
            act.detail.update(detected=res.detected, top=res.detected_cause,
                              mttd_s=res.mttd_s, ranking=res.ranking,
                              failed=res.checks_failed, problems=problems)
            if not res.detected:
                act.status = "failed"
        return recovered_at

    def _remediate(self, exp: Experiment, fault: Fault[Any]) -> dict[str, Any]:
        return REMEDIES[exp.remediation](self.stack, fault)

    def _recover(self, exp: Experiment) -> float | None:
        with self.journal.activity(exp.id, "recover", "/health healthy and present-state "
                                                      "checks green") as act:
            last, ok = self.checks_until(lambda o: is_recovered(o.results), self.bounds.recover_s,
                                         only=recovery_checks())
            if ok:
                return last.at
            act.detail["failing"] = failed_ids(last.results)
            act.status = "failed"
            return None

    def _verify(self, exp: Experiment, res: ExperimentResult, writer: Writer) -> None:
        with self.journal.activity(exp.id, "verify", "every acknowledged write read back") as act:
            rb = writer.read_back(self.bounds.verify_s)
            res.writes_lost = len(rb.lost)
            res.writes_unverified = len(rb.unverified)
            act.detail.update(acknowledged=rb.checked, lost=rb.lost[:20],
                              unverified=rb.unverified[:20], refused=writer.refused,
                              no_answer=writer.no_answer)
            if rb.lost or rb.unverified:
                act.status = "failed"

    def _revert(self, exp: Experiment, res: ExperimentResult, fault: Fault[Any]) -> None:
        # A second Ctrl-C must not cut the revert short.
        with cleanup.sigint_deferred(), \
                self.journal.activity(exp.id, "revert", fault.describe()) as act:
            try:
                act.detail.update(fault.revert(self.stack))
                res.reverted = True
            except Exception as exc:
                act.status = "failed"
                act.detail["error"] = self.journal.redactor.clip(f"{type(exc).__name__}: {exc}", 300)
            tp = self.stack.toxiproxy
            if tp is not None:
                try:
                    res.toxics_after_revert = tp.toxics()
                    enabled = tp.enabled(PROXY)
                    act.detail.update(toxics=res.toxics_after_revert, proxy_enabled=enabled)
                    if res.toxics_after_revert or not enabled:
                        tp.reset()
                        res.reverted = False
                except Exception as exc:
                    act.detail["toxiproxy_error"] = self.journal.redactor.clip(exc, 200)
