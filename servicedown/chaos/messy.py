"""Messy faults, as incidents come: two at once, one that healed before anyone looked, one
during a restart, the engine stopped or killed by someone, the database hung, and a healthy
engine whose logs are full of noise (the checks' own probes included).

Each composes the single faults of faults.py (a fault is named by kind and params, as in an
experiment), so what they do is what the catalogue's faults do; each reverts what it did.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from servicedown.chaos.faults import ENGINE, POSTGRES, Fault, FaultError, StackHost, make_fault
from servicedown.diagnosis.runner import run_checks

HEAL_TIMEOUT_S = 90.0


def _sub(spec: Any) -> Fault[Any]:
    if not isinstance(spec, list | tuple) or len(spec) != 2:
        raise FaultError(f"a fault inside a messy fault is [kind, params], not {spec!r}")
    kind, params = spec
    return make_fault(str(kind), dict(params or {}))


def _healthy(stack: StackHost, what: str) -> None:
    ok, last = stack.wait_engine_healthy(HEAL_TIMEOUT_S)
    if not ok:
        raise FaultError(f"{what}: the engine is not healthy again within {HEAL_TIMEOUT_S:.0f}s ({last})")


class Compound(Fault[StackHost]):
    """Several faults at once, injected, fixed and reverted in the order given: list what the
    others depend on first (the database before the engine's configuration), so that the
    engine recreated by a later revert finds its database back.
    params: faults=[[kind, params], ...]"""

    kind = "compound"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.parts = [_sub(spec) for spec in params.get("faults", ())]
        if len(self.parts) < 2:
            raise FaultError("a compound fault needs at least two faults")

    def describe(self) -> str:
        return "compound(" + " + ".join(p.describe() for p in self.parts) + ")"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        return {p.kind: p.inject(stack) for p in self.parts}

    def fix(self, stack: StackHost) -> dict[str, Any]:
        return {p.kind: p.fix(stack) for p in self.parts}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors = []
        for p in self.parts:
            try:
                out[p.kind] = p.revert(stack)
            except Exception as exc:  # the others are reverted all the same
                errors.append(f"{p.kind}: {exc}")
        if errors:
            raise FaultError("; ".join(errors))
        return out


class Healed(Fault[StackHost]):
    """A fault that came and went: injected, held `hold_s`, given back (its fix, and with
    `restart` the runbook's platform restart too), then the engine healthy again. What is left
    is history: log lines, an exit, a restart. params: fault=[kind, params], hold_s, restart."""

    kind = "healed"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.part = _sub(params.get("fault"))

    def describe(self) -> str:
        return f"healed({self.part.describe()}, hold {self.params.get('hold_s', 2)}s)"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        done = {"injected": self.part.inject(stack)}
        time.sleep(float(self.params.get("hold_s", 2.0)))
        done["fixed"] = self.part.fix(stack)
        done["reverted"] = self.part.revert(stack)
        if self.params.get("restart"):
            target = stack.target()
            try:
                done["restart"] = target.restart()
            finally:
                target.close()
        _healthy(stack, self.describe())
        return done

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return self.part.revert(stack)


class DuringRestart(Fault[StackHost]):
    """A fault that starts while the engine is being restarted (a deploy, or the quick fix):
    injected, then the engine restarted by its platform, which returns once it runs again.
    params: fault=[kind, params]"""

    kind = "during-restart"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.part = _sub(params.get("fault"))

    def inject(self, stack: StackHost) -> dict[str, Any]:
        done = {"injected": self.part.inject(stack)}
        stack.container(ENGINE).restart(timeout=10)
        done["restarted"] = True
        return done

    def fix(self, stack: StackHost) -> dict[str, Any]:
        return self.part.fix(stack)

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return self.part.revert(stack)


class EngineStop(Fault[StackHost]):
    """The engine stopped by someone, not by a fault: `docker stop` (SIGTERM, a drain, a clean
    exit) or, with how="kill", `docker kill` (SIGKILL on request). Neither is undone by the
    restart policy, as for a person's stop."""

    kind = "engine-stop"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(ENGINE)
        if self.params.get("how") == "kill":
            c.kill()
        else:
            c.stop(timeout=10)
        c.reload()
        return {"how": self.params.get("how", "stop"), "status": c.status,
                "exit_code": c.attrs["State"].get("ExitCode")}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(ENGINE)
        c.reload()
        if c.status == "running":
            return {}
        c.start()
        _healthy(stack, "engine start after a stop")
        return {"started": True}


class PostgresPause(Fault[StackHost]):
    """Postgres frozen (`docker pause`): it accepts nothing and answers nothing, a hung
    database rather than a stopped one."""

    kind = "postgres-pause"

    def inject(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(POSTGRES)
        c.pause()
        c.reload()
        return {"postgres": c.status}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        c = stack.container(POSTGRES)
        c.reload()
        if c.status != "paused":
            return {}
        c.unpause()
        return {"unpaused": True, "ready": stack.wait_postgres_ready(30)}


class Noise(Fault[StackHost]):
    """A healthy engine with noisy logs: requests to paths it does not serve, and the checks'
    own probes run `runs` times first (what repeated on-call runs leave in the logs)."""

    kind = "noise"
    PATHS = ("/favicon.ico", "/api/v1/unknown", "/metrics/missing", "/health/deep")

    def inject(self, stack: StackHost) -> dict[str, Any]:
        answered = 0
        with httpx.Client(timeout=3, verify=False, headers={"User-Agent": "servicedown-noise"}) as http:
            for _ in range(int(self.params.get("requests", 5))):
                for path in self.PATHS:
                    try:
                        http.get(stack_url(stack) + path)
                        answered += 1
                    except httpx.HTTPError:
                        pass
        runs = int(self.params.get("runs", 3))
        for _ in range(runs):
            target = stack.target()
            try:
                run_checks(target.settings, target)
            finally:
                target.close()
        return {"requests": answered, "check_runs": runs}

    def revert(self, stack: StackHost) -> dict[str, Any]:
        return {}


def stack_url(stack: StackHost) -> str:
    scheme = "https" if stack.engine_spec.tls else "http"
    return f"{scheme}://127.0.0.1:{stack.engine_port}"


MESSY: dict[str, type[Fault[Any]]] = {
    cls.kind: cls for cls in (Compound, Healed, DuringRestart, EngineStop, PostgresPause, Noise)}
