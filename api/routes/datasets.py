from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import StateDep
from api.routes._common import DELETE_RESPONSES, NameParam, delete_or_stop
from api.schemas import ResourcePublic, ResourcesPublic
from datasets import delete_dataset
from resources import Kind

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("")
def read_datasets(state: StateDep) -> ResourcesPublic:
    items = [ResourcePublic.of(r) for r in state.runtime.registry.list(Kind.DATASET)]
    return ResourcesPublic(data=items, count=len(items))


@router.get("/{name}")
def read_dataset(name: NameParam, state: StateDep) -> ResourcePublic:
    return ResourcePublic.of(state.runtime.registry.get(Kind.DATASET, name))


@router.delete("/{name}", status_code=204, responses=DELETE_RESPONSES)
def delete_dataset_route(name: NameParam, state: StateDep) -> Response:
    """Delete a dataset (refused while a predictor or forecast uses it); an import in progress is stopped."""
    return delete_or_stop(state, Kind.DATASET, name,
                          lambda: delete_dataset(state.runtime.workspace, state.runtime.registry, name))
