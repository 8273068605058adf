"""The monitor kind: a predictor's forecasts evaluated against the actuals that arrive after them
(:mod:`forecast.monitors`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind, Resource

_NAME = NAME_PATTERN.pattern


class MonitorCreate(BaseModel):
    """Watch ``predictor``: each import that brings actuals for the horizon of one of its ACTIVE
    forecasts evaluates that forecast on them, and flags it when its mean wQL exceeds the
    predictor's backtest mean wQL by more than ``ratio`` times."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=_NAME)
    predictor: str = Field(pattern=_NAME)
    ratio: float = Field(1.5, gt=1.0, le=100.0, description="live mean wQL / backtest mean wQL that flags an evaluation")


def view(r: Resource) -> dict[str, Any]:
    """A monitor as one JSON object: what it watches, its state and its latest evaluation."""
    evaluations = r.result.get("evaluations") or []
    return {"name": r.name, "status": r.status.value, "message": r.message, "predictor": r.spec.get("predictor"),
            "ratio": r.spec.get("ratio"), "state": r.result.get("state", "ACTIVE"),
            "created_at": r.created_at.isoformat(), "evaluations": len(evaluations),
            "latest": evaluations[-1] if evaluations else None}


def _latest(r: Resource, key: str) -> str:
    evaluations = r.result.get("evaluations") or []
    if not evaluations:
        return "-"
    value = evaluations[-1].get(key)
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


DECLARATION = KindDeclaration(
    kind=Kind.MONITOR,
    summary="Monitor a predictor: its forecasts evaluated against the actuals each import brings.",
    job="a monitor's first evaluation",
    spec=MonitorCreate,
    run="forecast.monitors:run_monitor_job",
    register="forecast.monitors:register_monitor_job",
    uses=(Use("predictor", Kind.PREDICTOR),),
    on_new_data="forecast.monitors:evaluate_new_data",
    view=view,
    columns=(Column("predictor", lambda r: str(r.spec.get("predictor", ""))),
             Column("state", lambda r: str(r.result.get("state", "ACTIVE"))),
             Column("evaluations", lambda r: str(len(r.result.get("evaluations") or []))),
             Column("live wQL", lambda r: _latest(r, "mean_wql")),
             Column("backtest wQL", lambda r: _latest(r, "backtest_mean_wql")),
             Column("flagged", lambda r: _latest(r, "flagged"))),
)
