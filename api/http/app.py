"""The HTTP service: ``create_app(settings)`` builds a FastAPI app over the same workspace and
registry as the CLI. Importing this module does not import torch (checked by a test); on-demand
inference loads predictors, and torch with them, on first use."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.http.deps import AppState
from api.http.errors import ERROR_STATUSES, complete_openapi, install_error_handlers
from api.http.fastpath import FastItemQuery
from api.http.middleware import (
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    HostCheckMiddleware,
    is_loopback_name,
)
from api.http.predictor_cache import PredictorCache
from api.http.prometheus import CONTENT_TYPE as PROMETHEUS_CONTENT_TYPE
from api.http.prometheus import Metrics, RequestMetricsMiddleware
from api.http.routes import health
from api.http.routes._common import kind_router
from api.http.schemas import Message
from api.jobs.runner import JobRunner
from api.runtime import build_runtime
from api.settings import Settings
from forecast.store import ForecastCache
from resources.engine import shutdown_pools
from resources.kinds import declarations
from resources.lifecycle import sweep

API_PREFIX = "/v1"
STATIC_DIR = Path(__file__).parent / "static"

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, bind_host: str | None = None,
               mounts: Sequence[Callable[[FastAPI, AppState], None]] = ()) -> FastAPI:
    """The app. ``bind_host`` is the address the server listens on: bound to loopback with no API
    key, it answers loopback Host names only (and FORECAST_ALLOWED_HOSTS), against DNS rebinding."""
    settings = settings or Settings()
    runtime = build_runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        swept = sweep(runtime.registry, runtime.workspace)  # what jobs of a previous run left behind
        if swept:
            logger.warning("removed the partial output of %d job(s) that ended without finishing", len(swept))
        yield
        app.state.service.jobs.wait_all(timeout=0)
        shutdown_pools()  # the worker processes invocations were fitted in end with the server

    app = FastAPI(
        title="Forecast service",
        version="1",
        description="DeepAR predictors, stored probabilistic forecasts queried by item, on-demand inference.",
        lifespan=lifespan,
        docs_url=None,  # served below from our own copy of Swagger UI (works offline; no CDN)
        redoc_url=None,
        responses={status: {"model": Message, "description": text} for status, text in ERROR_STATUSES.items()},
    )
    app.state.service = AppState(
        runtime=runtime,
        forecasts=ForecastCache(runtime.workspace, runtime.registry, max_items=8),
        predictors=PredictorCache(runtime.workspace, runtime.registry, settings.predictor_cache_size,
                                  settings.inference_precision),
        jobs=JobRunner(settings, runtime.registry, runtime.workspace),
    )
    metrics = Metrics(app.state.service)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    def read_lookup_page() -> FileResponse:
        """The forecast lookup page (plain HTML and our own copy of uPlot; works offline). It holds
        no data, so it needs no API key; the page asks for the key and sends it with its queries."""
        return FileResponse(STATIC_DIR / "lookup" / "index.html", media_type="text/html")

    @app.get("/docs", include_in_schema=False)
    def read_docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Forecast service",
                                   swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger-ui/favicon-32x32.png")

    @app.get("/metrics", tags=["service"], response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def read_prometheus_metrics() -> Response:
        """Operator metrics in Prometheus' text format: requests and latency by route and status,
        jobs by kind and status, serving-cache statistics."""
        return Response(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    v1 = APIRouter(prefix=API_PREFIX)
    v1.include_router(health.router)
    for d in declarations():  # every resource kind: its declared routes, and its module's own
        v1.include_router(kind_router(d.kind))
    app.include_router(v1)
    for mount in mounts:  # other protocols on the same port (api.server mounts the AWS ones)
        mount(app, app.state.service)
    install_error_handlers(app)
    complete_openapi(app, key_required=settings.api_key is not None, exempt=f"{API_PREFIX}/health")
    app.add_middleware(FastItemQuery, cache=app.state.service.forecasts)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.api_key is not None:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value(),
                           # the AWS-protocol endpoints (POST /, /endpoints/) check SigV4 themselves
                           exempt=frozenset({f"{API_PREFIX}/health", "/", "/ui"}),
                           exempt_prefixes=("/static/lookup/", "/endpoints/"))
    loopback_only = settings.api_key is None and bind_host is not None and is_loopback_name(bind_host)
    if settings.allowed_hosts or loopback_only:
        app.add_middleware(HostCheckMiddleware, allowed=settings.allowed_hosts, loopback=loopback_only)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, prefix=API_PREFIX)  # outermost: sees every request
    return app
