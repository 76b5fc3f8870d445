"""Prometheus metrics under the real engine's names, served on /metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from .resource_metrics import ResourceCollector

# The *_created series only add noise to the scrape.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_LATEST


class EngineMetrics:
    """One registry per engine, so tests can build several without clashes."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        if data_dir is not None:
            # CPU, memory and data-dir space against their limits, for the alert rules.
            self.registry.register(ResourceCollector(data_dir))
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests handled, by route template and status",
            ["method", "endpoint", "status_code"],
            registry=self.registry,
        )
        self.http_request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by route template",
            ["method", "endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.db_connections_active = Gauge(
            "db_connections_active",
            "Database connections checked out of the pool",
            registry=self.registry,
        )
        self.db_connections_idle = Gauge(
            "db_connections_idle",
            "Database connections idle in the pool",
            registry=self.registry,
        )
        self.db_connections_max = Gauge(
            "db_connections_max",
            "Pool maximum (DB_POOL_SIZE + DB_POOL_MAX_OVERFLOW)",
            registry=self.registry,
        )
        self.db_connection_errors_total = Counter(
            "db_connection_errors_total",
            "Failed database connections or queries",
            registry=self.registry,
        )
        self.circuit_breaker_state = Gauge(
            "qbitel_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            ["name"],
            registry=self.registry,
        )

    def observe_request(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        self.http_requests_total.labels(method, endpoint, str(status)).inc()
        self.http_request_duration_seconds.labels(method, endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
