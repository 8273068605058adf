from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http.deps import StateDep
from forecast.forecasts import Usage, usage

router = APIRouter(tags=["service"])


@router.get("/health")
def read_health() -> dict[str, str]:
    """Liveness (answered without an API key, for probes; it says nothing else)."""
    return {"status": "ok"}


@router.get("/usage")
def read_usage(state: StateDep) -> Usage:
    """Forecasts generated: items x forecast types per forecast and in total."""
    return usage(state.runtime.registry)


@router.get("/metrics")
def read_metrics(state: StateDep) -> dict[str, Any]:
    """Predictor cache statistics (hits, misses, loads, load time) and running jobs."""
    return {"predictor_cache": state.predictors.stats(), "running_jobs": state.jobs.running()}
