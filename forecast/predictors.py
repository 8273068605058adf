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

from datasets.summary import DatasetSummary
from forecast.artifacts import PredictorManifest, library_versions, load_predictor, save_predictor
from forecast.config import DeepARHyperparameters, ResolvedConfig, check_fits_in_memory, resolve
from forecast.data import facts_of, load_entries, model_view, truncate
from forecast.errors import TrainingError
from forecast.sampling import Precision
from resources import InvalidInputError, Kind, Registry, Resource, Status, Workspace
from resources.lifecycle import building, delete_resource

if TYPE_CHECKING:  # forecast.training imports lightning and torch; HTTP routes use this module
    from forecast.training import EpochCallback

logger = logging.getLogger(__name__)

BACKTEST_FILE = "backtest_items.parquet"

#: Called with a phase name ("loading", "training", "backtest", "refit", "saving") as work moves on.
PhaseCallback = Callable[[str], None]


def _check_request(registry: Registry, name: str, dataset: str) -> Resource:
    """What can be checked without reading the data: the name is free, the dataset ACTIVE."""
    registry.require_free(Kind.PREDICTOR, name)
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
    memory_limit_mb: int | None = None,
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
    started = time.perf_counter()
    if not registered:  # registered before the data is read, so the dataset cannot be deleted meanwhile
        register_predictor(registry, name, dataset=dataset, hyperparameters=hyperparameters)
    progress = TrainingProgress(registry, name, on_epoch, on_phase)
    rel = workspace.new_artifact_dir("predictor", name)
    try:
        registry.claim(Kind.PREDICTOR, name)
        with building(registry, workspace, Kind.PREDICTOR, name, rel, wrap=TrainingError, keep=(InvalidInputError,)):
            ds = registry.get_active(Kind.DATASET, dataset)
            summary = DatasetSummary.model_validate(ds.result)
            progress.phase("loading")
            entries = load_entries(workspace, ds)
            cfg = resolve(hyperparameters, facts_of(entries, summary))
            check_fits_in_memory(cfg, memory_limit_mb * 2**20 if memory_limit_mb else None)
            result = _train_backtest_save(workspace, rel, name, dataset, summary, cfg, entries, progress.epoch,
                                          progress.phase, extra_callbacks, started, precision)
            return registry.update(Kind.PREDICTOR, name, status=Status.ACTIVE, artifact=rel, result=result)
    except InvalidInputError:
        if not registered:  # bad input found in the data: the CLI leaves nothing registered
            registry.delete(Kind.PREDICTOR, name)
        raise


class TrainingProgress:
    """Reports a training job's phase and epochs to the registry (``result.progress``: phase, epoch,
    epochs, last loss, ETA) and to the caller's callbacks. A report raises :class:`JobStopped`
    when a stop was asked for."""

    def __init__(self, registry: Registry, name: str, on_epoch: EpochCallback | None,
                 on_phase: PhaseCallback | None) -> None:
        self.registry = registry
        self.name = name
        self.on_epoch = on_epoch
        self.on_phase = on_phase
        self.training_started: float | None = None

    def phase(self, name: str) -> None:
        if name == "training":
            self.training_started = time.perf_counter()
        self.registry.report_progress(Kind.PREDICTOR, self.name, {"phase": name})
        if self.on_phase is not None:
            self.on_phase(name)

    def epoch(self, epoch: int, epochs: int, train_loss: float, val_loss: float | None) -> None:
        elapsed = time.perf_counter() - (self.training_started or time.perf_counter())
        eta = elapsed / epoch * (epochs - epoch) if epoch else None
        self.registry.report_progress(Kind.PREDICTOR, self.name, {
            "phase": "training", "epoch": epoch, "epochs": epochs, "train_loss": train_loss, "val_loss": val_loss,
            "elapsed_seconds": round(elapsed, 1), "eta_seconds": round(eta, 1) if eta is not None else None})
        logger.info("predictor %s: epoch %d/%d, loss %.4f", self.name, epoch, epochs, train_loss)
        if self.on_epoch is not None:
            self.on_epoch(epoch, epochs, train_loss, val_loss)


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
    """Delete a predictor and its artifacts; refused while it is in flight or a forecast uses it."""
    delete_resource(registry, workspace, Kind.PREDICTOR, name,
                    users=lambda: registry.find_referencing(Kind.FORECAST, "predictor", name))
