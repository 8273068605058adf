"""The forecast kind: every item's chosen forecast types, generated once and stored
(:mod:`forecast.forecasts`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind

_NAME = NAME_PATTERN.pattern


class ForecastCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=_NAME)
    predictor: str = Field(pattern=_NAME)
    types: str | list[str] = Field("0.1,0.5,0.9", description="quantiles 0.01..0.99 in steps of 0.01, and mean")
    dataset: str | None = Field(None, pattern=_NAME)
    dataset_version: int | None = Field(None, ge=1, description="the dataset's version to forecast from "
                                        "(default: its latest)")
    related: str | None = Field(None, pattern=_NAME, description="what-if: a related dataset of other future values")
    metadata: str | None = Field(None, pattern=_NAME, description="an item metadata dataset in place of the predictor's")
    transforms: list[str] = Field([], max_length=50, description="what-if: e.g. 'price*0.9 where store=3'")


DECLARATION = KindDeclaration(
    kind=Kind.FORECAST,
    summary="Generate forecasts at chosen quantiles and query them.",
    job="a forecast job",
    spec=ForecastCreate,
    run="forecast.forecasts:run_forecast_job",
    register="forecast.forecasts:register_forecast_job",
    uses=(Use("predictor", Kind.PREDICTOR), Use("dataset", Kind.DATASET), Use("related", Kind.DATASET),
          Use("metadata", Kind.DATASET)),
    columns=(Column("predictor", lambda r: r.spec.get("predictor", "")),
             Column("dataset", lambda r: f"{r.spec.get('dataset', '')} v{r.spec.get('dataset_version', 1)}"),
             Column("items", lambda r: f"{r.result.get('num_items', 0):,}"),
             Column("types", lambda r: ",".join(r.spec.get("columns", []))),
             Column("created", lambda r: r.created_at.strftime("%Y-%m-%d %H:%M"))),
)
