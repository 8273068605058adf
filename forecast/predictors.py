"""Predictor lifecycle: validate hyperparameters against the data, train, backtest, store, register.

Status: ``CREATE_PENDING`` (registered, data loading) -> ``CREATE_IN_PROGRESS`` (training) ->
``ACTIVE``, or ``CREATE_FAILED`` with the reason. Invalid hyperparameters are rejected before
anything is registered. Artifacts are complete before the row points at them.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from datasets import (
    AlreadyExistsError,
    ConflictError,
    Kind,
    Registry,
    Resource,
    Status,
    Workspace,
    check_name,
)
from datasets.lifecycle import building
from datasets.summary import DatasetSummary
from forecast.artifacts import PredictorManifest, library_versions, load_predictor, save_predictor
from forecast.config import DeepARHyperparameters, ResolvedConfig, resolve
from forecast.data import facts_of, load_entries, model_view, truncate
from forecast.errors import TrainingError
from forecast.sampling import Precision

if TYPE_CHECKING:  # forecast.training imports lightning and torch; HTTP routes use this module
    from forecast.training import EpochCallback

logger = logging.getLogger(__name__)

BACKTEST_FILE = "backtest_items.parquet"

#: Called with a phase name ("loading", "training", "backtest", "refit", "saving") as work moves on.
PhaseCallback = Callable[[str], None]


def _check_request(registry: Registry, name: str, dataset: str) -> Resource:
    """What can be checked without reading the data: the name is free, the dataset ACTIVE."""
    check_name(name, "predictor name")
    if registry.exists(Kind.PREDICTOR, name):
        raise AlreadyExistsError(f"predictor {name!r} already exists; delete it first or choose another name")
    return registry.get_active(Kind.DATASET, dataset)


def _spec(ds: Resource, hyperparameters: DeepARHyperparameters) -> dict[str, Any]:
    return {"dataset": ds.name, "dataset_fingerprint": ds.result.get("fingerprint"),
            "hyperparameters": hyperparameters.model_dump(mode="json")}


def register_predictor(
    registry: Registry, name: str, *, dataset: str, hyperparameters: DeepARHyperparameters
) -> Resource:
    """Register a training job as ``CREATE_PENDING`` after the checks that need no data; a worker
    runs it with ``create_predictor(..., registered=True)``, where the checks against the data
    (likelihood vs targets, series lengths) fail the job with the reason."""
    ds = _check_request(registry, name, dataset)
    return registry.create(Kind.PREDICTOR, name, status=Status.CREATE_PENDING, spec=_spec(ds, hyperparameters))


def create_predictor(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    dataset: str,
    hyperparameters: DeepARHyperparameters,
    on_epoch: EpochCallback | None = None,
    on_phase: PhaseCallback | None = None,
    extra_callbacks: list[Any] | None = None,
    registered: bool = False,
    precision: Precision = "auto",
) -> Resource:
    """Train, backtest and store a DeepAR predictor named ``name`` on imported ``dataset``.

    With ``registered=True`` the resource was registered by :func:`register_predictor` (a job
    started over HTTP) and this process takes it over; any failure then marks it ``CREATE_FAILED``.

    Raises
    ------
    AlreadyExistsError, NotFoundError, ConflictError, HyperparameterError
        Before anything is registered (bad input).
    TrainingError
        Training failed; the resource is ``CREATE_FAILED`` with the reason.
    """
    phase = on_phase or (lambda _: None)
    started = time.perf_counter()
    try:
        if registered:
            registry.claim(Kind.PREDICTOR, name)
            ds = registry.get_active(Kind.DATASET, dataset)
        else:
            ds = _check_request(registry, name, dataset)
        summary = DatasetSummary.model_validate(ds.result)
        phase("loading")
        entries = load_entries(workspace, ds)
        cfg = resolve(hyperparameters, facts_of(entries, summary))
    except BaseException as e:
        if registered:
            registry.update(Kind.PREDICTOR, name, status=Status.CREATE_FAILED, message=str(e))
        raise
    if not registered:
        registry.create(Kind.PREDICTOR, name, status=Status.CREATE_PENDING, spec=_spec(ds, hyperparameters))
    rel = workspace.new_artifact_dir("predictor", name)
    with building(registry, workspace, Kind.PREDICTOR, name, rel, wrap=TrainingError):
        registry.update(Kind.PREDICTOR, name, status=Status.CREATE_IN_PROGRESS)
        result = _train_backtest_save(workspace, rel, name, dataset, summary, cfg, entries, on_epoch, phase,
                                      extra_callbacks, started, precision)
        return registry.update(Kind.PREDICTOR, name, status=Status.ACTIVE, artifact=rel, result=result)


def _train_backtest_save(
    workspace: Workspace,
    rel: str,
    name: str,
    dataset: str,
    summary: DatasetSummary,
    cfg: ResolvedConfig,
    entries: list[dict[str, Any]],
    on_epoch: EpochCallback | None,
    phase: PhaseCallback,
    extra_callbacks: list[Any] | None,
    started: float,
    precision: Precision,
) -> dict[str, Any]:
    from forecast.backtest import run_backtest
    from forecast.inference import sampler_for
    from forecast.training import train_network

    hp = cfg.hp
    h = cfg.prediction_length
    view = model_view(entries, num_dynamic_feat=cfg.num_dynamic_feat, num_cat=len(cfg.cardinality), for_training=True)
    nonnegative = all(not (e["target"] < 0).any() for e in view)
    train_part = truncate(view, hp.backtest_windows * h, min_length=1)
    use_validation = hp.early_stopping_patience is not None
    fit_on = truncate(train_part, h, min_length=1) if use_validation else train_part
    phase("training")
    trained = train_network(cfg, fit_on, train_part if use_validation else None, nonnegative=nonnegative,
                            on_epoch=on_epoch, extra_callbacks=extra_callbacks)
    phase("backtest")
    bt_started = time.perf_counter()
    backtest = run_backtest(
        trained.predictor, view,
        freq=cfg.freq, prediction_length=h, windows=hp.backtest_windows, num_samples=hp.num_eval_samples,
        levels=hp.test_quantiles, precision=precision,
    )
    bt_seconds = time.perf_counter() - bt_started
    final = trained
    if hp.refit:
        phase("refit")
        final = train_network(cfg, view, None, max_epochs=trained.best_epoch, nonnegative=nonnegative,
                              extra_callbacks=extra_callbacks)
    metrics = {
        "backtest_windows": hp.backtest_windows,
        "deepar": backtest.deepar.model_dump(),
        "seasonal_naive": backtest.seasonal_naive.model_dump(),
    }
    training = {
        "epochs_run": len(trained.history),
        "best_epoch": trained.best_epoch,
        "weights_from_epochs": list(trained.weights_from),
        "history": [e.model_dump() for e in trained.history],
        "train_seconds": round(trained.seconds, 3),
        "backtest_seconds": round(bt_seconds, 3),
        "backtest_precision": sampler_for(trained.predictor, precision).precision,
        "refit_seconds": round(final.seconds, 3) if hp.refit else None,
        "total_seconds": round(time.perf_counter() - started, 3),
        "nonnegative_samples": nonnegative,
        "num_train_series": len(fit_on),
    }
    manifest = PredictorManifest(
        name=name, dataset=dataset, dataset_fingerprint=summary.fingerprint, freq=cfg.freq,
        prediction_length=h, context_length=cfg.context_length,
        hyperparameters=hp.model_dump(mode="json"),
        resolved=cfg.model_dump(mode="json", exclude={"hp"}),
        metrics=metrics, training=training, versions=library_versions(), created_at=datetime.now(UTC),
    )
    phase("saving")
    save_predictor(workspace, rel, final.predictor, manifest)
    buf = io.BytesIO()
    pq.write_table(backtest.per_item, buf, compression="zstd")
    workspace.write_bytes(f"{rel}/{BACKTEST_FILE}", buf.getvalue())
    return {
        "metrics": metrics,
        "training": training,
        "freq": cfg.freq,
        "prediction_length": h,
        "context_length": cfg.context_length,
        "resolved": manifest.resolved,
        "versions": manifest.versions,
    }


def get_predictor(registry: Registry, name: str) -> Resource:
    return registry.get(Kind.PREDICTOR, name)


def load_active_predictor(workspace: Workspace, registry: Registry, name: str) -> tuple[Resource, Any]:
    """The resource and its deserialized gluonts predictor (imports torch)."""
    resource = registry.get_active(Kind.PREDICTOR, name)
    return resource, load_predictor(workspace, str(resource.artifact))


def delete_predictor(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a predictor and its artifacts; refused while a forecast uses it or it is being created
    by a live process."""
    resource = registry.get(Kind.PREDICTOR, name)
    if resource.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
        raise ConflictError(f"predictor {name!r} is {resource.status.value}; wait for it to finish")
    users = [r.name for r in registry.find_referencing(Kind.FORECAST, "predictor", name)]
    if users:
        raise ConflictError(f"predictor {name!r} is used by forecast(s) {', '.join(map(repr, users))}; delete those first")
    registry.delete(Kind.PREDICTOR, name)
    if resource.artifact:
        workspace.remove_tree(resource.artifact)
