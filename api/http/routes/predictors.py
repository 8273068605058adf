from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import StateDep
from api.http.routes._common import NameParam, resource_router
from api.http.schemas import InvocationRequest, ResourcePublic, ResourcesPublic
from api.params import key_values
from forecast.backtest_reports import BacktestReport
from forecast.fit_report import FitReport
from resources import Kind
from resources.registry import NAME_PATTERN

router = resource_router(Kind.PREDICTOR, list_route=False)  # listed with filters and sorting (below)


@router.get("")
def read_predictors(
    state: StateDep,
    sort_by: Annotated[str | None, Query(description="mean_wql, mase, wape, rmse, mape, name or created_at")] = None,
    filter_: Annotated[list[str] | None, Query(alias="filter", max_length=10,
                                               description="key=value: dataset, algorithm, status, related, metadata")] = None,
    descending: bool = False,
) -> ResourcesPublic:
    """Predictors, filtered and sorted like runs (``?filter=dataset=sales&sort_by=mean_wql``)."""
    from forecast.predictors import find_predictors

    filters = key_values(filter_, what="filter", example="dataset=sales")
    found = find_predictors(state.runtime.registry, filters=filters, sort_by=sort_by, descending=descending)
    items = [ResourcePublic.of(r) for r in found]
    return ResourcesPublic(data=items, count=len(items))


class RetrainRequest(BaseModel):
    """A retraining of a predictor: the new predictor's name, and the dataset (default: the
    reference's, at its latest version)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN.pattern)
    dataset: str | None = Field(None, pattern=NAME_PATTERN.pattern)


@router.post("/{name}/retrain", status_code=202)
def retrain_predictor_route(name: NameParam, body: RetrainRequest, state: StateDep) -> ResourcePublic:
    """Train predictor ``name``'s configuration again on its dataset's latest version, starting
    from what it learned (``forecast predictors retrain NEW --from NAME``)."""
    from forecast.predictors import register_retrain

    r = register_retrain(state.runtime.registry, body.name, reference=name, dataset=body.dataset)
    state.jobs.start(Kind.PREDICTOR, r.name)
    return ResourcePublic.of(r)


@router.get("/{name}/fit-report", response_model=FitReport,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def read_fit_report_route(
    name: NameParam, state: StateDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    format_: Annotated[str, Query(alias="format", pattern="^(json|csv)$", description="csv: the whole report")] = "json",
) -> Any:
    """The series a model could not fit (or whose forecast was not finite), at which origin and
    why; each fell back to seasonal naive there (``forecast predictors describe NAME --fit-report``)."""
    from forecast.fit_report import fit_report_csv, read_fit_report

    if format_ == "csv":
        return PlainTextResponse(fit_report_csv(state.runtime.workspace, state.runtime.registry, name),
                                 media_type="text/csv")
    return read_fit_report(state.runtime.workspace, state.runtime.registry, name, offset=offset, limit=limit)


@router.get("/{name}/backtest")
def read_backtest_route(
    name: NameParam, state: StateDep,
    item_id: Annotated[str | None, Query(max_length=1000, description="one item: its metrics for every model and "
                                         "window, and its backtest forecasts beside the actuals")] = None,
    where: Annotated[list[str] | None, Query(max_length=20, description="dimension=value, choosing the item's "
                                             "series when the data has dimensions (repeatable)")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> BacktestReport:
    """Backtest accuracy of a predictor: overall (the predictor, each ensemble member, seasonal naive)
    and per item."""
    from api.params import key_values
    from forecast.backtest_reports import read_backtest

    return read_backtest(state.runtime.workspace, state.runtime.registry, name, item=item_id,
                         filters=key_values(where, what="where", example="store=3"), offset=offset, limit=limit)


@router.post("/{name}/invocations")
async def invoke_predictor(name: NameParam, body: InvocationRequest, state: StateDep) -> dict[str, Any]:
    """On-demand inference for series the service has not stored (the DeepAR request shape)."""
    from api.http.invocations import check_size, invoke

    settings = state.runtime.settings
    horizon = int(state.runtime.registry.get_active(Kind.PREDICTOR, name).result["prediction_length"])
    check_size(body, horizon, max_values=settings.max_invocation_values,
               max_response_bytes=settings.max_response_bytes)  # before loading anything
    manifest, predictor = await run_in_threadpool(state.predictors.get, name)
    return await run_in_threadpool(invoke, manifest, predictor, body)

