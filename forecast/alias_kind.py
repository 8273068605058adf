"""The alias kind: a stable name for a forecast, moved atomically each week (:mod:`forecast.aliases`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind, Resource

_NAME = NAME_PATTERN.pattern


class AliasSet(BaseModel):
    """Point alias ``name`` at ``forecast`` (an ACTIVE forecast): queries, the lookup page, the
    managed API and exports given the alias read that forecast. Setting it again moves it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME)
    forecast: str = Field(pattern=_NAME)


def view(r: Resource) -> dict[str, Any]:
    return {"name": r.name, "status": r.status.value, "forecast": r.spec.get("forecast"),
            "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(),
            "history": r.result.get("history") or []}


DECLARATION = KindDeclaration(
    kind=Kind.ALIAS,
    summary="Stable names for forecasts: point an alias at this week's forecast, move it back to roll back.",
    job="an alias",
    spec=AliasSet,
    run="forecast.aliases:run_alias_job",
    register="forecast.aliases:register_alias_job",
    update="forecast.aliases:move_from_document",
    uses=(Use("forecast", Kind.FORECAST),),
    view=view,
    columns=(Column("forecast", lambda r: str(r.spec.get("forecast", ""))),
             Column("moved", lambda r: r.updated_at.strftime("%Y-%m-%d %H:%M"))),
)
