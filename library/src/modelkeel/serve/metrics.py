"""Prometheus metrics of the service, in a registry of its own (never the process-wide default).

    serve_requests_total{path,method,status}        every HTTP answer
    serve_request_duration_seconds{path}            latency, first byte received to last byte sent
    serve_predicted_rows_total                      rows scored
    serve_prediction_errors_total{reason}           /predict requests refused, by reason
    serve_model_info{version}                       1 for the version being served
    serve_model_loaded_timestamp_seconds            when it was loaded
    serve_model_reloads_total{outcome}              scheduled checks of latest: swapped, unchanged, failed

Labels take a small fixed set of values: paths the service does not have count as `other`, and
unknown methods as `OTHER`, so a client cannot grow the series without bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .inputs import ASGIApp, Message, Receive, Scope, Send

NAMESPACE = "serve"
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
REASONS = ("malformed", "unsupported_media_type", "too_large", "too_many_rows", "invalid_rows", "not_ready")
OUTCOMES = ("swapped", "unchanged", "failed")
# a single row takes well under a millisecond; a batch of 10 000 rows some hundred milliseconds
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
VERSION_HEADER = b"x-model-version"


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "requests", "HTTP requests answered", ["path", "method", "status"], namespace=NAMESPACE, registry=registry
        )
        self.latency = Histogram(
            "request_duration_seconds",
            "time to answer a request",
            ["path"],
            buckets=BUCKETS,
            namespace=NAMESPACE,
            registry=registry,
        )
        self.rows = Counter("predicted_rows", "rows scored by /predict", namespace=NAMESPACE, registry=registry)
        self.errors = Counter(
            "prediction_errors",
            "/predict requests refused, by reason",
            ["reason"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.model = Gauge(
            "model_info", "the model version being served (1)", ["version"], namespace=NAMESPACE, registry=registry
        )
        self.loaded_at = Gauge(
            "model_loaded_timestamp_seconds",
            "when the model being served was loaded",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.reloads = Counter(
            "model_reloads",
            "scheduled checks for a new latest release",
            ["outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        for reason in REASONS:  # every series exists from the start, at 0
            self.errors.labels(reason)
        for outcome in OUTCOMES:
            self.reloads.labels(outcome)
        self._answered: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._timers: dict[str, Callable[[float], None]] = {}

    def serving(self, version: str, previous: str | None = None) -> None:
        if previous is not None and previous != version:
            self.model.remove(previous)
        self.model.labels(version).set(1)
        self.loaded_at.set(time.time())

    def answered(self, path: str, method: str, status: int, seconds: float) -> None:
        key = (path, method, status)
        count = self._answered.get(key)
        if count is None:
            count = self._answered[key] = self.requests.labels(path, method, str(status)).inc
        count()
        timer = self._timers.get(path)
        if timer is None:
            timer = self._timers[path] = self.latency.labels(path).observe
        timer(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Instrument:
    """Pure ASGI middleware: counts and times every HTTP answer, and adds `X-Model-Version` (the version
    being served) to answers that do not carry one already (the predictions carry the version that scored them)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, paths: frozenset[str], version: Callable[[], str | None]):
        self.app = app
        self.metrics = metrics
        self.paths = paths
        self.version = version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before answering, the server answers 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                if not any(name == VERSION_HEADER for name, _ in headers):
                    version = self.version()
                    if version is not None:
                        message["headers"] = [*headers, (VERSION_HEADER, version.encode())]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            path = scope["path"] if scope["path"] in self.paths else "other"
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            self.metrics.answered(path, method, status, time.perf_counter() - started)
