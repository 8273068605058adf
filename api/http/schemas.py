"""Bodies that cross the HTTP boundary."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from datasets.dataset_kind import DatasetImport
from exports.export_kind import ExportCreate
from forecast.forecast_kind import ForecastCreate
from forecast.predictor_kind import PredictorCreate
from resources import Resource
from resources.registry import NAME_PATTERN as _NAME

NAME_PATTERN = _NAME.pattern

__all__ = ["DatasetImport", "ExportCreate", "ForecastCreate", "PredictorCreate"]  # the kinds' requests, re-exported


class ResourcePublic(BaseModel):
    kind: str
    name: str
    status: str
    message: str | None = None
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any]
    result: dict[str, Any]

    @classmethod
    def of(cls, r: Resource) -> ResourcePublic:
        return cls(kind=r.kind.value, name=r.name, status=r.status.value, message=r.message,
                   created_at=r.created_at, updated_at=r.updated_at, spec=r.spec, result=r.result)


class ResourcesPublic(BaseModel):
    data: list[ResourcePublic]
    count: int


class ForecastQuery(BaseModel):
    """One series' forecast by filters, as the managed query APIs take them: ``item_id`` and a
    value for each dimension that tells the item's series apart."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"filters": {"item_id": "Takeaway food services", "state": "Victoria"}, "types": "p10,p50,mean"}]})

    filters: dict[str, str] = Field(description="item_id, and dimension -> value")
    types: str | None = Field(None, description="output columns, e.g. p10,mean (default: all)")
    start: str | None = Field(None, description="first timestamp to include, ISO-8601")
    end: str | None = Field(None, description="last timestamp to include, ISO-8601")


class InvocationConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    num_samples: int = Field(100, ge=1, le=1000)
    output_types: list[Literal["mean", "quantiles", "samples"]] = Field(default_factory=lambda: ["mean", "quantiles"])
    quantiles: list[str] = Field(default_factory=lambda: ["0.1", "0.5", "0.9"])


class InvocationRequest(BaseModel):
    """The DeepAR inference request shape."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    instances: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    configuration: InvocationConfiguration = InvocationConfiguration()


class Message(BaseModel):
    """The one error body of every 4xx and 5xx response."""

    detail: str = Field(description="what is wrong, naming the field or resource")


class Point(BaseModel):
    timestamp: str = Field(description="ISO-8601 UTC, e.g. 2008-01-01T00:00:00Z")
    value: float | None = Field(description="the stored float32 value; null where it is not a number")


class ItemForecast(BaseModel):
    """One item's forecast: each requested type as a list of points, in time order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "forecast": "q1", "item_id": "Q1",
        "predictions": {"p10": [{"timestamp": "2008-01-01T00:00:00Z", "value": 3109.1}],
                        "mean": [{"timestamp": "2008-01-01T00:00:00Z", "value": 4580.8}]}}]})

    forecast: str
    item_id: str
    dimensions: dict[str, str] | None = Field(None, description="the series' dimension values, when the forecast has dimensions")
    predictions: dict[str, list[Point]] = Field(description="type (p10, p50, mean, ...) -> points")


class ItemForecasts(BaseModel):
    """Several items' forecasts, in the order asked for, and the ids that are not in the forecast."""

    forecast: str
    items: list[ItemForecast]
    missing: list[str] = Field([], description="ids asked for that the forecast does not have")


class ForecastDimensions(BaseModel):
    """A forecast's dimensions and each one's values, sorted."""

    forecast: str
    dimensions: dict[str, list[str]] = Field(description="dimension -> its values; empty without dimensions")
    truncated: bool = Field(description="some dimension has more values than the limit")


class ItemIds(BaseModel):
    """A page of a forecast's item ids (series keys where it has dimensions), sorted."""

    forecast: str
    item_ids: list[str]
    next_token: str | None = Field(None, description="pass as next_token for the next page; null on the last")
