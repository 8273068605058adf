"""The predictor kind: a model trained and backtested on a dataset (:mod:`forecast.predictors`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from forecast.config import Hyperparameters
from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind, Resource

_NAME = NAME_PATTERN.pattern


class PredictorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=_NAME)
    dataset: str = Field(pattern=_NAME)
    hyperparameters: Hyperparameters
    related: str | None = Field(None, pattern=_NAME, description="a related time series dataset")
    metadata: str | None = Field(None, pattern=_NAME, description="an item metadata dataset")
    holidays: list[str] = Field([], max_length=20, description="country codes (US, FR, DE-BY): holiday features")
    monitor: str | None = Field(None, pattern=_NAME, description="a monitor of this name watches the predictor's "
                                "forecasts from the start (forecast monitors)")
    max_runtime_seconds: int | None = Field(None, ge=1, le=30 * 86400, description="stop the training when it runs "
                                            "longer (CREATE_STOPPED, saying so)")


def predictor_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A predictor's own backtest accuracy from its ``result["metrics"]`` (``deepar`` in predictors
    made before ``auto``)."""
    return metrics.get("predictor") or metrics.get("deepar") or {}


def view(r: Resource) -> dict[str, Any]:
    """A predictor as one JSON object: its inputs, hyperparameters, what was resolved from the
    data, backtest metrics and timings."""
    return {
        "name": r.name,
        "status": r.status.value,
        "message": r.message,
        "dataset": r.spec.get("dataset"),
        "dataset_version": r.spec.get("dataset_version", 1),
        "dataset_fingerprint": r.spec.get("dataset_fingerprint"),
        "reference": r.spec.get("reference"),
        "tuning_job": r.spec.get("tuning_job"),
        "hyperparameters": r.spec.get("hyperparameters"),
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        "algorithm": r.spec.get("hyperparameters", {}).get("algorithm", "deepar"),
        "related": r.spec.get("related"),
        "metadata": r.spec.get("metadata"),
        "holidays": r.spec.get("holidays") or [],
        **{k: r.result.get(k) for k in ("freq", "prediction_length", "context_length", "resolved", "features",
                                     "metrics", "training", "versions", "progress")},
    }


def _metric(r: Resource, key: str, naive: bool = False) -> str:
    metrics = r.result.get("metrics", {})
    value = (metrics.get("seasonal_naive", {}) if naive else predictor_metrics(metrics)).get(key)
    return "-" if value is None else f"{value:.3f}"


DECLARATION = KindDeclaration(
    kind=Kind.PREDICTOR,
    summary="Train predictors (auto, DeepAR, ETS, Theta, ARIMA, CES, NPTS, pretrained Chronos) and read their "
            "backtest accuracy.",
    job="a training job",
    spec=PredictorCreate,
    run="forecast.predictor_jobs:run_predictor_job",
    register="forecast.predictors:register_predictor_job",
    locations={"hyperparameters.model_path": "source",  # a pretrained model's weights
               "hyperparameters.hierarchy_file": "source"},  # a summing matrix
    view=view,
    uses=(Use("dataset", Kind.DATASET), Use("related", Kind.DATASET), Use("metadata", Kind.DATASET),
          Use("reference", Kind.PREDICTOR, while_in_flight=True)),
    columns=(Column("algorithm", lambda r: str(r.spec.get("hyperparameters", {}).get("algorithm", "deepar"))),
             Column("dataset", lambda r: r.spec.get("dataset", "")),
             Column("horizon", lambda r: str(r.spec.get("hyperparameters", {}).get("prediction_length", ""))),
             Column("mean wQL", lambda r: _metric(r, "mean_wql")),
             Column("naive wQL", lambda r: _metric(r, "mean_wql", naive=True)),
             Column("MASE", lambda r: _metric(r, "mase")),
             Column("created", lambda r: r.created_at.strftime("%Y-%m-%d %H:%M"))),
)
