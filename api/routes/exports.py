from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import StateDep
from api.routes._common import DELETE_RESPONSES, NameParam, add_log_route, delete_or_stop
from api.schemas import NAME_PATTERN, ResourcePublic, ResourcesPublic
from exports import check_allowed, delete_export, register_export
from resources import Kind

router = APIRouter(prefix="/exports", tags=["exports"])


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=NAME_PATTERN)
    forecast: str | None = Field(None, pattern=NAME_PATTERN, description="the forecast to export")
    backtest_of: str | None = Field(None, pattern=NAME_PATTERN, description="instead of a forecast: the predictor "
                                    "whose backtest forecasts and actuals to export")
    destination: str = Field(min_length=1, max_length=2000, description="folder or URL under an allowed prefix "
                             "(no query string or fragment)")
    format: Literal["csv", "parquet"] = "csv"
    part_size_mb: float = Field(256, gt=0, le=100_000)


@router.get("")
def read_exports(state: StateDep) -> ResourcesPublic:
    """List exports."""
    items = [ResourcePublic.of(r) for r in state.runtime.registry.list(Kind.EXPORT)]
    return ResourcesPublic(data=items, count=len(items))


@router.get("/{name}")
def read_export(name: NameParam, state: StateDep) -> ResourcePublic:
    """Describe an export: status, destination, files written, rows, progress."""
    return ResourcePublic.of(state.runtime.registry.get(Kind.EXPORT, name))


@router.post("", status_code=202, responses={403: {"description": "destination not allowed"}})
def create_export_job(body: ExportCreate, state: StateDep) -> ResourcePublic:
    """Start an export in a worker process. Only destinations under FORECAST_ALLOWED_EXPORT_PREFIXES."""
    check_allowed(body.destination, state.runtime.settings.allowed_export_prefixes)
    r = register_export(state.runtime.registry, body.name, forecast=body.forecast, destination=body.destination,
                        fmt=body.format, part_size_mb=body.part_size_mb, backtest_of=body.backtest_of)
    state.jobs.start(Kind.EXPORT, body.name)
    return ResourcePublic.of(r)


@router.delete("/{name}", status_code=204, responses=DELETE_RESPONSES)
def delete_export_route(name: NameParam, state: StateDep) -> Response:
    """Forget an export (its files stay at the destination); an export in progress is stopped."""
    return delete_or_stop(state, Kind.EXPORT, name,
                          lambda: delete_export(state.runtime.workspace, state.runtime.registry, name))


add_log_route(router, Kind.EXPORT)
