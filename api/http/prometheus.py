"""Operator metrics in Prometheus' text format (``GET /metrics``), by prometheus-client.

- ``forecast_http_requests_total{method,route,status}`` and ``forecast_http_request_seconds``
  (histogram by method and route): every request, the fast item path and refusals included; the
  route is the path template (``/v1/forecasts/{name}/items/{item_id}``), so item ids do not make
  label values.
- ``forecast_jobs{kind,status}``: resources by kind and status, read from the registry at scrape
  time.
- ``forecast_predictor_cache_*`` and ``forecast_forecast_cache_loads_total``: the serving caches.

Each app has its own collector registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from api.http.deps import AppState
from resources import Kind, Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _ServiceCollector(Collector):
    """Job counts and cache statistics, read when Prometheus scrapes."""

    def __init__(self, state: AppState) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        jobs = GaugeMetricFamily("forecast_jobs", "resources by kind and status", labels=["kind", "status"])
        for kind in Kind:
            counts = {s: 0 for s in Status}
            for r in self.state.runtime.registry.list(kind):
                counts[r.status] += 1
            for status, n in counts.items():
                jobs.add_metric([kind.value, status.value], n)
        yield jobs
        stats = self.state.predictors.stats()
        for key in ("hits", "misses", "loads"):
            c = CounterMetricFamily(f"forecast_predictor_cache_{key}", f"predictor cache {key}")
            c.add_metric([], float(stats.get(key, 0)))
            yield c
        loads = CounterMetricFamily("forecast_forecast_cache_loads", "forecasts loaded into the serving cache")
        loads.add_metric([], float(self.state.forecasts.loads))
        yield loads


class Metrics:
    """The app's metrics and the ASGI middleware that records requests."""

    def __init__(self, state: AppState) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("forecast_http_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("forecast_http_request_seconds", "HTTP request latency", ["method", "route"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.registry.register(_ServiceCollector(state))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Outermost layer: times every HTTP request and counts it by route template and status. The
    template is the route that answered (set in the scope by routing, or by the fast item path);
    requests refused before routing (authentication, host, body size) count as ``unrouted``."""

    def __init__(self, app: Any, metrics: Metrics, prefix: str) -> None:
        self.app = app
        self.metrics = metrics
        self.prefix = prefix  # of the included routers, whose routes know their path without it

    def _template(self, scope: dict[str, Any]) -> str:
        route = scope.get("route")
        path = route if isinstance(route, str) else getattr(route, "path", None)
        if not path:
            return "unrouted"
        if not path.startswith(self.prefix + "/") and scope["path"].startswith(self.prefix + "/"):
            path = self.prefix + path
        return re.sub(r":\w+}", "}", path)  # {item_id:path} -> {item_id}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def record(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = self._template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
