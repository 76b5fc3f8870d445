"""Pass/fail gates of a load run: p95 latency, error ratio, minimum throughput, lost writes.

Locust has no thresholds of its own. `evaluate` is a pure function (unit-tested without
Locust); `add_arguments` and `figures_from_stats` connect it to Locust: the locustfile calls
them from `init_command_line_parser` and `quitting`, and sets `process_exit_code`.

Every gate has a command-line option and an environment twin (`--gate-p95-ms` /
`LOCUST_GATE_P95_MS`, like Locust's own `LOCUST_USERS`), so a nightly job can tighten them
without editing a file.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from typing import Any

# A breach exits 3: not Locust's own 1 (request errors) or 2 (crash), so CI can tell them apart.
EXIT_BREACH = 3
# The lines a run prints for whoever drives it (run_load.py): when its test started, and the verdict.
STARTED_LINE = "LOAD STARTED"
VERDICT_PREFIXES = ("GATE ", "LOAD GATES")


@dataclass(frozen=True)
class GateConfig:
    p95_ms: float = 500.0  # aggregated over every request of the run
    error_ratio: float = 0.01  # failed / all requests
    min_rps: float = 0.0  # completed requests per second over the run; 0 = no gate

    @classmethod
    def from_options(cls, options: Any) -> GateConfig:
        return cls(p95_ms=float(options.gate_p95_ms), error_ratio=float(options.gate_error_ratio),
                   min_rps=float(options.gate_min_rps))


@dataclass(frozen=True)
class WriteCheck:
    """The read-back of acknowledged writes: every 201 must be readable, with its value."""

    acknowledged: int = 0
    checked: int = 0
    lost: int = 0  # 404: acknowledged, then gone
    mismatched: int = 0  # read back with another key or value
    unverified: int = 0  # not read back within the bound (cap, time, or engine errors)

    def merge(self, other: WriteCheck) -> WriteCheck:
        return WriteCheck(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True)
class RunFigures:
    requests: int
    failures: int
    p95_ms: float
    rps: float
    writes: WriteCheck | None = None  # None: this run made no writes to check


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    value: float
    limit: float
    line: str


def evaluate(fig: RunFigures, cfg: GateConfig) -> list[GateResult]:
    """One result per gate; a run without a single request fails (it proved nothing)."""
    out: list[GateResult] = []

    def gate(name: str, passed: bool, value: float, limit: float, text: str) -> None:
        out.append(GateResult(name, passed, value, limit, f"GATE {'PASS' if passed else 'FAIL'} {text}"))

    if fig.requests == 0:
        gate("requests", False, 0, 1, "requests: none completed, nothing was measured")
        return out
    ratio = fig.failures / fig.requests
    gate("p95", fig.p95_ms <= cfg.p95_ms, fig.p95_ms, cfg.p95_ms,
         f"p95 latency: {fig.p95_ms:.0f} ms {'<=' if fig.p95_ms <= cfg.p95_ms else '>'} "
         f"{cfg.p95_ms:.0f} ms (all {fig.requests} requests)")
    gate("error_ratio", ratio <= cfg.error_ratio, ratio, cfg.error_ratio,
         f"error ratio: {ratio:.2%} ({fig.failures}/{fig.requests}) "
         f"{'<=' if ratio <= cfg.error_ratio else '>'} {cfg.error_ratio:.2%}")
    if cfg.min_rps > 0:
        gate("min_rps", fig.rps >= cfg.min_rps, fig.rps, cfg.min_rps,
             f"throughput: {fig.rps:.1f} req/s {'>=' if fig.rps >= cfg.min_rps else '<'} "
             f"{cfg.min_rps:.1f} req/s")
    if fig.writes is not None:
        w = fig.writes
        bad = w.lost + w.mismatched + w.unverified
        gate("writes", bad == 0, bad, 0,
             f"acknowledged writes read back: {w.checked - w.lost - w.mismatched}/{w.acknowledged}"
             f" (lost {w.lost}, mismatched {w.mismatched}, not verified {w.unverified})")
    return out


def verdict_line(results: list[GateResult]) -> str:
    failed = [r.gate for r in results if not r.passed]
    return f"LOAD GATES: {'FAIL (' + ', '.join(failed) + ')' if failed else 'PASS'}"


def exit_code(results: list[GateResult]) -> int:
    return 0 if results and all(r.passed for r in results) else EXIT_BREACH


def as_dict(fig: RunFigures, cfg: GateConfig, results: list[GateResult]) -> dict[str, Any]:
    return {"passed": exit_code(results) == 0, "config": asdict(cfg), "figures": asdict(fig),
            "gates": [asdict(r) for r in results], "summary": verdict_line(results)}


def figures_from_stats(total: Any, writes: WriteCheck | None) -> RunFigures:
    """From Locust's aggregated `StatsEntry` (`environment.stats.total`)."""
    return RunFigures(requests=int(total.num_requests), failures=int(total.num_failures),
                      p95_ms=float(total.get_response_time_percentile(0.95) or 0.0),
                      rps=float(total.total_rps), writes=writes)


def add_arguments(parser: Any) -> None:
    """Locust's parser (configargparse): each option also reads its LOCUST_GATE_* variable."""
    d = GateConfig()
    g = parser.add_argument_group("gates", "pass/fail of the run (exit 3 and a GATE FAIL line on breach)")
    g.add_argument("--gate-p95-ms", type=float, default=d.p95_ms, env_var="LOCUST_GATE_P95_MS",
                   help="fail when the p95 latency of all requests exceeds this (ms)")
    g.add_argument("--gate-error-ratio", type=float, default=d.error_ratio,
                   env_var="LOCUST_GATE_ERROR_RATIO",
                   help="fail when failed/all requests exceeds this (0.01 = 1%%)")
    g.add_argument("--gate-min-rps", type=float, default=d.min_rps, env_var="LOCUST_GATE_MIN_RPS",
                   help="fail when throughput over the run is below this (req/s; 0 = off)")
