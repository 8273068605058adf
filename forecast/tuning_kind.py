"""The tuning-job kind: a search over hyperparameter ranges for the setting that minimises a
validation metric, each trial an ordinary predictor (:mod:`forecast.tuning`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind, Resource

_NAME = NAME_PATTERN.pattern
#: What a tuning job can minimise: the backtest metrics, on a validation window before the backtest's.
Objective = Literal["mean_wql", "wape", "rmse", "mase", "mape"]
WarmStartType = Literal["identical-data-and-algorithm", "transfer-learning"]
EarlyStopping = Literal["auto", "off"]
#: Parent tuning jobs a warm start may name (as the managed service allows).
MAX_PARENTS = 5
#: Trials a tuning job may run in all (extensions included).
MAX_TRIALS = 500


class ParameterRange(BaseModel):
    """One hyperparameter's range: ``{min, max}`` (``scale: log`` for a log-uniform search,
    ``type: integer`` for whole numbers), or ``{values: [...]}`` to choose among."""

    model_config = ConfigDict(extra="forbid")

    min: float | None = None
    max: float | None = None
    scale: Literal["linear", "log"] = "linear"
    type: Literal["continuous", "integer"] = "continuous"
    values: list[Any] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_form(self) -> ParameterRange:
        if self.values is not None:
            if self.min is not None or self.max is not None:
                raise ValueError("give either values or min and max, not both")
            return self
        if self.min is None or self.max is None:
            raise ValueError("give min and max (or values)")
        if self.min >= self.max:
            raise ValueError(f"min {self.min:g} must be below max {self.max:g}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError("a log scale needs min above 0")
        return self


class TuningJobCreate(BaseModel):
    """Search ``ranges`` of the hyperparameters (the rest fixed by ``hyperparameters``) for the
    setting that minimises ``objective`` on a validation window before the backtest window; each
    of the ``max_jobs`` trials is a predictor named ``<name>-<trial number>``. A warm start reuses
    the completed trials of up to five parent tuning jobs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [
        {"name": "tune-deepar", "dataset": "sales", "hyperparameters": {"prediction_length": 8, "algorithm": "deepar"},
         "ranges": {"learning_rate": {"min": 0.0001, "max": 0.01, "scale": "log"},
                    "num_cells": {"min": 8, "max": 64, "type": "integer"},
                    "likelihood": {"values": ["student-T", "gaussian"]}},
         "objective": "mean_wql", "max_jobs": 20}]})

    name: str = Field(pattern=_NAME)
    dataset: str = Field(pattern=_NAME)
    hyperparameters: dict[str, Any] = Field(description="the fixed hyperparameters (prediction_length at least)")
    ranges: dict[str, ParameterRange] = Field(min_length=1, max_length=30,
                                              description="hyperparameter -> its range, as {min, max} or {values}")
    objective: Objective = "mean_wql"
    validation_windows: int = Field(1, ge=1, le=5, description="windows of prediction_length before the backtest's "
                                    "that a trial is scored on (fitted on the history before them): more "
                                    "windows, a steadier objective")
    max_jobs: int = Field(20, ge=1, le=MAX_TRIALS, description="trials to run (raise it on a finished job "
                          "to extend the search)")
    max_parallel_jobs: int = Field(1, ge=1, le=32, description="trials running at once")
    early_stopping: EarlyStopping = Field("off", description="auto: stop a trial's training at an epoch where its "
                                          "validation loss is behind the median of the completed trials' at that "
                                          "epoch (trials that train a network); off: every trial trains to the end")
    warm_start_from: list[str] = Field([], max_length=MAX_PARENTS, description="parent tuning jobs whose "
                                       "completed trials seed this search (at most 5)")
    warm_start_type: WarmStartType = Field("identical-data-and-algorithm", description="identical-data-and-"
                                           "algorithm: parents' trials count as evaluated; transfer-learning: "
                                           "they are where the search starts")
    related: str | None = Field(None, pattern=_NAME)
    metadata: str | None = Field(None, pattern=_NAME)
    holidays: list[str] = Field([], max_length=20)
    max_runtime_seconds: int | None = Field(None, ge=1, le=30 * 86400, description="stop the job when it runs "
                                            "longer (CREATE_STOPPED, saying so)")


def view(r: Resource) -> dict[str, Any]:
    """A tuning job as one JSON object: what it searches, how far it got, its best trial."""
    trials = r.result.get("trials") or []
    return {"name": r.name, "status": r.status.value, "message": r.message,
            **{k: r.spec.get(k) for k in ("dataset", "objective", "validation_windows", "max_jobs", "max_parallel_jobs",
                                          "early_stopping", "hyperparameters", "ranges", "warm_start_from",
                                          "warm_start_type")},
            "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(),
            "trials_completed": sum(t["status"] == "COMPLETED" for t in trials),
            "trials_failed": sum(t["status"] == "FAILED" for t in trials),
            "trials_pruned": sum(t["status"] == "PRUNED" for t in trials),
            "warm_start_trials": r.result.get("warm_start_trials", 0),
            "best": r.result.get("best"), "progress": r.result.get("progress")}


def _best(r: Resource, key: str) -> str:
    best = r.result.get("best") or {}
    value = best.get(key)
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


DECLARATION = KindDeclaration(
    kind=Kind.TUNING_JOB,
    summary="Tune hyperparameters: trials over ranges, scored on a validation window before the backtest's.",
    job="a tuning job",
    spec=TuningJobCreate,
    run="forecast.tuning:run_tuning_job",
    register="forecast.tuning:register_tuning_job_request",
    update="forecast.tuning:extend_from_document",
    # while it runs (its trials, predictors, hold the data after)
    uses=(Use("dataset", Kind.DATASET, while_in_flight=True), Use("related", Kind.DATASET, while_in_flight=True),
          Use("metadata", Kind.DATASET, while_in_flight=True)),
    view=view,
    document_name="TuningJob",
    columns=(Column("dataset", lambda r: str(r.spec.get("dataset", ""))),
             Column("objective", lambda r: str(r.spec.get("objective", ""))),
             Column("trials", lambda r: f"{len(r.result.get('trials') or [])}/{r.spec.get('max_jobs', '')}"),
             Column("best", lambda r: _best(r, "objective")),
             Column("best trial", lambda r: _best(r, "predictor"))),
)
