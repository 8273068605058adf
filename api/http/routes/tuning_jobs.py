"""``/v1/tuning-jobs``: the shared routes, a job's trials, and extending a finished job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import StateDep
from api.http.routes._common import NameParam, resource_router
from api.http.schemas import ResourcePublic
from forecast.tuning_kind import MAX_TRIALS
from resources import Kind

router = resource_router(Kind.TUNING_JOB)


@router.get("/{name}/trials")
def read_trials(
    name: NameParam, state: StateDep,
    sort_by: Annotated[str, Query(max_length=100, description="a column: objective, backtest, a hyperparameter, "
                                  "number, ...")] = "number",
    descending: Annotated[bool, Query(description="largest first")] = False,
) -> list[dict[str, Any]]:
    """Every trial of the job: its predictor, hyperparameters, objective (on the validation
    window), the same metric on the backtest, status and seconds (``forecast tuning-jobs trials``)."""
    from forecast.tuning import trials_of

    return trials_of(state.runtime.workspace, state.runtime.registry, name, sort_by=sort_by, descending=descending)


class ExtendRequest(BaseModel):
    """More trials for a finished tuning job: how many it runs in all."""

    model_config = ConfigDict(extra="forbid")

    max_jobs: int = Field(ge=1, le=MAX_TRIALS, description="trials in all, above those it ran")


@router.post("/{name}/extend", status_code=202)
def extend(name: NameParam, body: ExtendRequest, state: StateDep) -> ResourcePublic:
    """Run a finished tuning job on to ``max_jobs`` trials, its search going on from the trials it
    ran (``forecast tuning-jobs extend``)."""
    from forecast.tuning import extend_tuning_job

    r = extend_tuning_job(state.runtime.registry, name, body.max_jobs)
    state.jobs.start(Kind.TUNING_JOB, r.name)
    return ResourcePublic.of(r)
