from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import StateDep
from api.routes._common import DELETE_RESPONSES, NameParam, add_log_route, delete_or_stop
from api.schemas import DatasetImport, ResourcePublic, ResourcesPublic
from datasets import delete_dataset
from datasets.catalog import register_import
from exports.destinations import check_allowed
from resources import Kind

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("")
def read_datasets(state: StateDep) -> ResourcesPublic:
    """List datasets."""
    items = [ResourcePublic.of(r) for r in state.runtime.registry.list(Kind.DATASET)]
    return ResourcesPublic(data=items, count=len(items))


@router.post("", status_code=202)
def create_dataset_job(body: DatasetImport, state: StateDep) -> ResourcePublic:
    """Start importing ``source`` in a worker process (202); poll ``GET /v1/datasets/{name}``. The
    source must lie under ``FORECAST_ALLOWED_IMPORT_PREFIXES``; its files and the options are
    checked before the job is accepted, its rows by the job (``CREATE_FAILED`` lists every
    problem)."""
    settings = state.runtime.settings
    where = check_allowed(body.source, settings.allowed_import_prefixes, what="source",
                          setting="FORECAST_ALLOWED_IMPORT_PREFIXES")
    source = where.path if where.protocol == "file" else f"{where.protocol}://{where.path}"
    r = register_import(state.runtime.registry, body.name, source, freq=body.freq, layout=body.format,
                        long=body.long_format(), source_options=settings.storage_options(source))
    state.jobs.start(Kind.DATASET, body.name)
    return ResourcePublic.of(r)


@router.get("/{name}")
def read_dataset(name: NameParam, state: StateDep) -> ResourcePublic:
    """Describe a dataset: status, source, type, summary (or the import's progress)."""
    return ResourcePublic.of(state.runtime.registry.get(Kind.DATASET, name))


@router.delete("/{name}", status_code=204, responses=DELETE_RESPONSES)
def delete_dataset_route(name: NameParam, state: StateDep) -> Response:
    """Delete a dataset (refused while a predictor or forecast uses it); an import in progress is stopped."""
    return delete_or_stop(state, Kind.DATASET, name,
                          lambda: delete_dataset(state.runtime.workspace, state.runtime.registry, name))


add_log_route(router, Kind.DATASET)
