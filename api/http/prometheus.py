"""Operator metrics in Prometheus' text format (``GET /metrics``), by prometheus-client.

- ``forecast_http_requests_total{method,route,status}`` and ``forecast_http_request_seconds``
  (histogram by method and route): every request, the fast item path and refusals included; the
  route is the path template (``/v1/forecasts/{name}/items/{item_id}``), so item ids do not make
  label values.
- ``forecast_jobs{kind,status}``: resources by kind and status, read from the registry at scrape
  time.
- ``forecast_predictor_cache_*`` and ``forecast_forecast_cache_loads_total``: the serving caches.
- ``forecast_monitor_*{monitor,predictor}``: each monitor's latest evaluation (live mean wQL, the
  backtest's, WAPE, MASE, coverage per quantile, whether it is flagged, its time), its number of
  evaluations and whether it is evaluating (1) or stopped (0); an alert on
  ``forecast_monitor_flagged == 1`` says a predictor's live accuracy has left its backtest's.

Each app has its own collector registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
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
        yield from self._monitors()

    def _monitors(self) -> Iterator[Any]:
        labels = ["monitor", "predictor"]
        latest = {key: GaugeMetricFamily(f"forecast_monitor_{key}", help, labels=labels) for key, help in (
            ("mean_wql", "live mean wQL of the monitor's latest evaluation"),
            ("backtest_mean_wql", "the predictor's backtest mean wQL the latest evaluation was compared with"),
            ("wape", "live WAPE of the latest evaluation"), ("mase", "live MASE of the latest evaluation"),
            ("items_evaluated", "items in the latest evaluation"))}
        coverage = GaugeMetricFamily("forecast_monitor_coverage", "share of actuals below each forecast quantile in "
                                     "the latest evaluation", labels=[*labels, "quantile"])
        flagged = GaugeMetricFamily("forecast_monitor_flagged", "1 when the latest evaluation's mean wQL exceeds the "
                                    "backtest's by the monitor's ratio", labels=labels)
        when = GaugeMetricFamily("forecast_monitor_last_evaluation_timestamp_seconds", "time of the latest evaluation",
                                 labels=labels)
        count = CounterMetricFamily("forecast_monitor_evaluations", "evaluations the monitor has made", labels=labels)
        active = GaugeMetricFamily("forecast_monitor_active", "1 while the monitor evaluates new actuals, 0 stopped",
                                   labels=labels)
        for m in self.state.runtime.registry.list(Kind.MONITOR):
            key = [m.name, str(m.spec.get("predictor", ""))]
            evaluations = m.result.get("evaluations") or []
            count.add_metric(key, float(len(evaluations)))
            active.add_metric(key, float(m.status == Status.ACTIVE and m.result.get("state", "ACTIVE") == "ACTIVE"))
            if not evaluations:
                continue
            e = evaluations[-1]
            for name, family in latest.items():
                if e.get(name) is not None:
                    family.add_metric(key, float(e[name]))
            for q, v in (e.get("coverage") or {}).items():
                if v is not None:
                    coverage.add_metric([*key, q], float(v))
            flagged.add_metric(key, float(bool(e.get("flagged"))))
            when.add_metric(key, datetime.fromisoformat(e["created_at"]).timestamp())
        yield from (*latest.values(), coverage, flagged, when, count, active)


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
