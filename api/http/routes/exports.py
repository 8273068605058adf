from __future__ import annotations

from api.http.deps import StateDep
from api.http.routes._common import resource_router
from api.http.schemas import ResourcePublic
from exports import check_allowed, register_export
from exports.export_kind import ExportCreate
from resources import Kind

router = resource_router(Kind.EXPORT)


@router.post("", status_code=202, responses={403: {"description": "destination not allowed"}})
def create_export_job(body: ExportCreate, state: StateDep) -> ResourcePublic:
    """Start an export in a worker process. Only destinations under FORECAST_ALLOWED_EXPORT_PREFIXES."""
    check_allowed(body.destination, state.runtime.settings.allowed_export_prefixes)
    r = register_export(state.runtime.registry, body.name, forecast=body.forecast, destination=body.destination,
                        fmt=body.format, part_size_mb=body.part_size_mb, backtest_of=body.backtest_of)
    state.jobs.start(Kind.EXPORT, body.name)
    return ResourcePublic.of(r)
