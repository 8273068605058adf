"""``/v1/monitors``: the shared routes, and a monitor's evaluations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api.http.deps import StateDep
from api.http.routes._common import NameParam, resource_router
from resources import Kind

router = resource_router(Kind.MONITOR)


@router.get("/{name}/evaluations")
def read_evaluations(
    name: NameParam, state: StateDep,
    item_id: Annotated[str | None, Query(max_length=1000, description="one item's figures in each evaluation")] = None,
    worst: Annotated[int, Query(ge=0, le=1000, description="worst items of the latest evaluation")] = 10,
) -> dict[str, Any]:
    """Every evaluation of the monitor's predictor's forecasts against the actuals that arrived,
    oldest first, beside the backtest; one item's, or the worst items of the latest."""
    from forecast.monitors import evaluations

    return evaluations(state.runtime.workspace, state.runtime.registry, name, item=item_id, worst=worst)


@router.post("/{name}/evaluate")
def evaluate(name: NameParam, state: StateDep) -> dict[str, Any]:
    """Evaluate now (imports do it on their own); the new evaluations."""
    from forecast.monitors import evaluate_monitor

    new = evaluate_monitor(state.runtime.workspace, state.runtime.registry, name)
    return {"evaluations": [e.model_dump(mode="json", exclude={"items_file"}) for e in new]}


@router.post("/{name}/pause")
def pause(name: NameParam, state: StateDep) -> dict[str, Any]:
    """Stop evaluating on imports (``forecast monitors pause``); ``resume`` starts again."""
    from forecast.monitors import set_state

    r = set_state(state.runtime.registry, name, "STOPPED")
    return {"name": r.name, "state": r.result["state"]}


@router.post("/{name}/resume")
def resume(name: NameParam, state: StateDep) -> dict[str, Any]:
    """Evaluate on imports again (``forecast monitors resume``)."""
    from forecast.monitors import set_state

    r = set_state(state.runtime.registry, name, "ACTIVE")
    return {"name": r.name, "state": r.result["state"]}
