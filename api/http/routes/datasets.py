from __future__ import annotations

from api.http.deps import StateDep
from api.http.routes._common import resource_router
from api.http.schemas import ResourcePublic
from datasets.catalog import register_import
from datasets.dataset_kind import DatasetImport
from resources import Kind
from resources.locations import allowed_source

router = resource_router(Kind.DATASET)


@router.post("", status_code=202)
def create_dataset_job(body: DatasetImport, state: StateDep) -> ResourcePublic:
    """Start importing ``source`` in a worker process (202); poll ``GET /v1/datasets/{name}``. The
    source must lie under ``FORECAST_ALLOWED_IMPORT_PREFIXES``; its files and the options are
    checked before the job is accepted, its rows by the job (``CREATE_FAILED`` lists every
    problem)."""
    settings = state.runtime.settings
    source = allowed_source(body.source, settings.allowed_import_prefixes)
    r = register_import(state.runtime.registry, body.name, source, freq=body.freq, layout=body.format,
                        long=body.long_format(), source_options=settings.storage_options(source))
    state.jobs.start(Kind.DATASET, body.name)
    return ResourcePublic.of(r)
