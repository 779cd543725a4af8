"""Prometheus metrics and the request log, from one pure ASGI middleware.

Each app has its own registry: requests and their latency by route and status, records
ingested by outcome, and the time rescoring takes. Metrics are labelled by route template,
never by path; the log's path has its secrets redacted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialcredit.api.logs import redacted_path

LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

access_log = logging.getLogger("socialcredit.api.requests")


class Metrics:
    """The service's metrics, registered on their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "socialcredit_http_requests",
            "HTTP requests answered, by method, route and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "socialcredit_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.records = Counter(
            "socialcredit_records_ingested",
            "Records sent through the API, by outcome (accepted, duplicate, rejected).",
            ("outcome",),
            registry=self.registry,
        )
        self.rescoring = Histogram(
            "socialcredit_rescoring_duration_seconds",
            "Time to rescore the subjects a request's records touched.",
            buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0),
            registry=self.registry,
        )


class RequestMetrics:
    """Count, time and log every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            state: Any = scope.get("state") or {}
            principal = state.get("principal") if isinstance(state, dict) else None
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": redacted_path(scope["path"], scope.get("path_params")),
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "principal": principal,
                },
            )
