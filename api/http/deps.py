"""Dependencies: the per-app state (runtime, caches, job runner) as typed ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.http.predictor_cache import PredictorCache
from api.jobs.runner import JobRunner
from api.runtime import Runtime
from forecast.store import ForecastCache


@dataclass
class AppState:
    runtime: Runtime
    forecasts: ForecastCache
    predictors: PredictorCache
    jobs: JobRunner


def get_state(request: Request) -> AppState:
    return request.app.state.service  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]
