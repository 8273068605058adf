"""Predictor lifecycle: validate hyperparameters against the data, train, backtest, store, register.

Status: ``CREATE_PENDING`` (registered, data loading) -> ``CREATE_IN_PROGRESS`` (training) ->
``ACTIVE``, or ``CREATE_FAILED`` with the reason. Invalid hyperparameters are rejected before
anything is registered. Artifacts are complete before the row points at them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from datasets import DatasetType, dataset_at, dataset_summary, require_type
from datasets.summary import DatasetSummary
from forecast import fit_report
from forecast.artifacts import (
    PredictorManifest,
    library_versions,
    load_predictor,
    save_predictor,
)
from forecast.backtest_reports import BACKTEST_FILE, BACKTEST_FORECASTS_FILE
from forecast.config import Hyperparameters, ResolvedConfig, resolve
from forecast.errors import HyperparameterError, TrainingError
from forecast.features import FeatureInputs, FeaturePlan, plan_features
from forecast.parts import Parts
from forecast.predictor_kind import PredictorCreate, predictor_metrics
from forecast.pretrained import settle_pretrained
from forecast.sampling import Precision
from forecast.series_source import ModelShape, StoredSeries
from forecast.training_memory import check_fits_in_memory
from resources import InvalidInputError, Kind, Registry, Resource, Status, Workspace
from resources.engine import Engine, LocalEngine
from resources.kinds import JobContext
from resources.lifecycle import building, delete_resource, time_limit
from resources.registry import ResourceSnapshot

if TYPE_CHECKING:  # forecast.training imports lightning and torch; HTTP routes use this module
    from forecast.hierarchy import Hierarchy, NodeSeries
    from forecast.training import EpochCallback

logger = logging.getLogger(__name__)


#: Called with a phase name ("loading", "training", "backtest", "refit", "saving") as work moves on.
PhaseCallback = Callable[[str], None]


def _check_request(registry: Registry, name: str, dataset: str) -> Resource:
    """What can be checked without reading the data: the name is free, the dataset ACTIVE."""
    registry.require_free(Kind.PREDICTOR, name)
    return registry.get_active(Kind.DATASET, dataset)


def _spec(ds: Resource, hyperparameters: Hyperparameters, features: FeatureInputs) -> dict[str, Any]:
    return {"dataset": ds.name, "dataset_version": ds.result.get("version", 1),
            "dataset_fingerprint": ds.result.get("fingerprint"),
            "hyperparameters": hyperparameters.model_dump(mode="json"),
            # top level, so the datasets count as in use (see datasets.delete_dataset)
            "related": features.related, "metadata": features.metadata, "holidays": features.holidays}


def _check_features(registry: Registry, hyperparameters: Hyperparameters, features: FeatureInputs) -> None:
    if features.any and not hyperparameters.uses_dynamic_features:
        raise HyperparameterError(
            f"algorithm {hyperparameters.algorithm!r} forecasts each series from its own history and uses no "
            "related series, metadata or holidays; use deepar (or auto with deepar among its members), or arima "
            "for related series and holidays as regressors")
    if features.metadata and not hyperparameters.uses_deepar:
        raise HyperparameterError(
            f"algorithm {hyperparameters.algorithm!r} uses no item metadata (static features); use deepar, or auto "
            "with deepar among its members")
    for role, name, kind in (("related", features.related, DatasetType.RELATED),
                             ("metadata", features.metadata, DatasetType.METADATA)):
        if name:
            require_type(registry.get_active(Kind.DATASET, name), kind, role)


def register_predictor(
    registry: Registry, name: str, *, dataset: str, hyperparameters: Hyperparameters,
    features: FeatureInputs | None = None, monitor: str | None = None, tuning_job: str | None = None,
    max_runtime_seconds: int | None = None, tuned_by: str | None = None, pretrained_default: str | None = None,
    options_for: Callable[[str], dict[str, Any]] = lambda url: {}, workspace: Workspace | None = None,
) -> Resource:
    """Register a training job as ``CREATE_PENDING`` after the checks that need no data; a worker
    runs it with ``create_predictor(..., registered=True)``, where the checks against the data
    (likelihood vs targets, series lengths) fail the job with the reason. A pretrained model is
    settled and its path checked first (:func:`forecast.pretrained.settle_pretrained`,
    ``pretrained_default`` and ``options_for`` as its ``default`` and ``options_for``). With ``monitor``, a
    monitor of that name watches the predictor from the start (:mod:`forecast.monitors`). With
    ``tuned_by`` (a registered tuning job), the job runs that search first and trains with its
    best trial's setting over ``hyperparameters`` (the managed API's ``PerformHPO``). A hierarchy
    is checked against the dataset's series in ``workspace`` (:mod:`forecast.hierarchical`)."""
    from forecast.monitors import watch_new_predictor

    features = features or FeatureInputs()
    ds = _check_request(registry, name, dataset)
    require_type(ds, DatasetType.TARGET, "dataset")
    hyperparameters, notes = settle_pretrained(hyperparameters, pretrained_default, options_for)
    _check_features(registry, hyperparameters, features)
    if hyperparameters.hierarchical and workspace is not None:
        from forecast.hierarchical import check_hierarchy

        check_hierarchy(workspace, dataset_at(ds, None), hyperparameters, features.any, options_for)
    if monitor is not None:
        registry.require_free(Kind.MONITOR, monitor)
    spec = _spec(ds, hyperparameters, features) | ({"notes": notes} if notes else {}) | (
        {"tuning_job": tuning_job} if tuning_job else {}) | (
        {"max_runtime_seconds": max_runtime_seconds} if max_runtime_seconds else {}) | (
        {"tuned_by": tuned_by} if tuned_by else {})
    r = registry.create(Kind.PREDICTOR, name, status=Status.CREATE_PENDING, spec=spec)
    if monitor is not None:
        watch_new_predictor(registry, monitor, name)
    return r


def register_retrain(registry: Registry, name: str, *, reference: str, dataset: str | None = None) -> Resource:
    """Register predictor ``name`` as a retraining of ``reference``: its algorithm, hyperparameters
    and features, on the latest version of its dataset (or of ``dataset``), starting from what it
    learned (DeepAR's weights; ``auto`` chooses its weights again on the new validation window).

    Raises
    ------
    NotFoundError, ConflictError
        ``reference`` does not exist or is not ``ACTIVE``.
    """
    ref = registry.get_active(Kind.PREDICTOR, reference)
    features = FeatureInputs.model_validate({k: v for k in ("related", "metadata", "holidays") if (v := ref.spec.get(k))})
    hyperparameters = Hyperparameters.model_validate(ref.spec["hyperparameters"])
    ds = _check_request(registry, name, dataset or ref.spec["dataset"])
    require_type(ds, DatasetType.TARGET, "dataset")
    _check_features(registry, hyperparameters, features)
    return registry.create(Kind.PREDICTOR, name, status=Status.CREATE_PENDING,
                           spec={**_spec(ds, hyperparameters, features), "reference": reference})


def create_predictor(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    dataset: str,
    hyperparameters: Hyperparameters,
    features: FeatureInputs | None = None,
    on_epoch: EpochCallback | None = None,
    on_phase: PhaseCallback | None = None,
    extra_callbacks: list[Any] | None = None,
    registered: bool = False,
    precision: Precision = "auto",
    memory_limit_mb: int | None = None,
    engine: Engine | None = None,
    monitor: str | None = None,
    tuning_job: str | None = None,
    validation_windows: int = 0,
    on_validation_epoch: EpochCallback | None = None,
    max_runtime_seconds: int | None = None,
    pretrained_default: str | None = None,
) -> Resource:
    """Fit, backtest and store a predictor named ``name`` on imported ``dataset`` with the
    algorithm ``hyperparameters.algorithm`` (:mod:`forecast.models`). The statistical models'
    per-series fits, DeepAR's training and the backtest's forecasts run on ``engine`` (default:
    this process); this process keeps the registry.

    With ``registered=True`` the resource was registered by :func:`register_predictor` (a job
    started over HTTP) and this process takes it over; any failure then marks it ``CREATE_FAILED``.
    ``monitor``: as :func:`register_predictor`'s. ``validation_windows`` (a tuning trial): also fit
    on the histories before that many windows preceding the backtest's and score them
    (``metrics["validation"]``); each epoch of that fit's network reaches ``on_validation_epoch``
    with its loss on the last of them, which may raise to end the predictor (a tuning job's pruner).

    Raises
    ------
    AlreadyExistsError, NotFoundError, ConflictError, HyperparameterError
        Before anything is registered (bad input).
    TrainingError
        Training failed; the resource is ``CREATE_FAILED`` with the reason.
    """
    started = time.perf_counter()
    if not registered:  # registered before the data is read, so the dataset cannot be deleted meanwhile
        register_predictor(registry, name, dataset=dataset, hyperparameters=hyperparameters, features=features,
                           monitor=monitor, tuning_job=tuning_job, max_runtime_seconds=max_runtime_seconds,
                           pretrained_default=pretrained_default, options_for=workspace.options_for,
                           workspace=workspace)
    if registered:  # a worker: the inputs are on record
        spec = registry.get(Kind.PREDICTOR, name).spec
        features = FeatureInputs.model_validate({k: v for k in ("related", "metadata", "holidays") if (v := spec.get(k))})
    features = features or FeatureInputs()
    progress = TrainingProgress(registry, name, on_epoch, on_phase)
    rel = workspace.new_artifact_dir("predictor", name)
    try:
        registry.claim(Kind.PREDICTOR, name)
        spec = registry.get(Kind.PREDICTOR, name).spec
        hyperparameters = Hyperparameters.model_validate(spec["hyperparameters"])  # as registered (settled)
        with building(registry, workspace, Kind.PREDICTOR, name, rel, wrap=TrainingError, keep=(InvalidInputError,)), \
                time_limit(registry, Kind.PREDICTOR, name, spec.get("max_runtime_seconds")):
            version = spec.get("dataset_version")
            ds = dataset_at(registry.get_active(Kind.DATASET, dataset), version)  # the version it was registered on
            summary = dataset_summary(ds)
            progress.phase("loading")
            plan = plan_features(workspace, registry, features, ds)
            series: StoredSeries | NodeSeries
            hierarchy = None
            if hyperparameters.hierarchical:  # every node of the hierarchy is a series
                from forecast.hierarchical import node_source, node_summary, prepare_nodes

                hierarchy = prepare_nodes(workspace, ds, hyperparameters, rel, summary.freq, workspace.options_for)
                series = node_source(workspace, hierarchy[2], summary.freq, hierarchy[1])
                summary = node_summary(summary, hierarchy[1])
            else:
                series = StoredSeries(root=workspace.root, storage_options=workspace.storage_options, dataset=ds,
                                      resources=ResourceSnapshot.of(registry, Kind.DATASET,
                                                                    [plan.related, plan.metadata]),
                                      plan=plan, freq=summary.freq, num_items=summary.num_series)
            from forecast.fitting import gather_facts

            engine = engine or LocalEngine()
            facts = gather_facts(series, summary, plan.cardinalities, engine)
            cfg = resolve(hyperparameters, facts)
            if cfg.hp.uses_deepar:
                check_fits_in_memory(cfg, memory_limit_mb * 2**20 if memory_limit_mb else None)
            reference = _reference_model(workspace, registry, spec.get("reference"))
            shape = ModelShape(num_dynamic_feat=cfg.num_dynamic_feat, num_cat=len(cfg.cardinality),
                               num_static_real=cfg.num_static_real)
            series = series.model_copy(update={"length_max": facts.lengths_max,
                                               **({"shape": shape} if isinstance(series, StoredSeries) else {})})
            result = _train_backtest_save(workspace, rel, name, dataset, summary, cfg, plan, series,
                                          facts.target_min >= 0, progress.epoch, progress.phase, extra_callbacks,
                                          started, precision, engine, reference, validation_windows,
                                          on_validation_epoch, notes=spec.get("notes", []),
                                          options_for=workspace.options_for, integer=facts.target_integer,
                                          hierarchy=hierarchy[:2] if hierarchy else None)
            return registry.update(Kind.PREDICTOR, name, status=Status.ACTIVE, artifact=rel, result=result)
    except InvalidInputError:
        if not registered:  # bad input found in the data: the CLI leaves nothing registered
            if monitor is not None:
                registry.delete(Kind.MONITOR, monitor)
            registry.delete(Kind.PREDICTOR, name)
        raise


def _both(first: EpochCallback | None, then: EpochCallback | None) -> EpochCallback | None:
    """An epoch callback telling ``first``, then ``then`` (either may be ``None``)."""
    if first is None or then is None:
        return first or then

    def both(*epoch: Any) -> None:
        first(*epoch)
        then(*epoch)

    return both


def _reference_model(workspace: Workspace, registry: Registry, reference: str | None) -> Any:
    """The fitted model of the predictor a retraining starts from (``None``: none)."""
    if not reference:
        return None
    from forecast.artifacts import load_predictor

    ref = registry.get_active(Kind.PREDICTOR, reference)
    return load_predictor(workspace, str(ref.artifact))


def retrain_predictor(workspace: Workspace, registry: Registry, name: str, *, reference: str,
                      dataset: str | None = None, **kwargs: Any) -> Resource:
    """:func:`register_retrain` then train in this process (the CLI's path); ``kwargs`` as
    :func:`create_predictor`'s."""
    spec = register_retrain(registry, name, reference=reference, dataset=dataset).spec
    return create_predictor(workspace, registry, name, dataset=spec["dataset"],
                            hyperparameters=Hyperparameters.model_validate(spec["hyperparameters"]),
                            registered=True, **kwargs)


def register_predictor_job(ctx: JobContext, spec: PredictorCreate) -> Resource:
    """The predictor kind's request (:class:`forecast.predictor_kind.PredictorCreate`), registered."""
    features = FeatureInputs(related=spec.related, metadata=spec.metadata, holidays=spec.holidays)
    return register_predictor(ctx.registry, spec.name, dataset=spec.dataset, hyperparameters=spec.hyperparameters,
                              features=features, monitor=spec.monitor, max_runtime_seconds=spec.max_runtime_seconds,
                              pretrained_default=ctx.pretrained_model, options_for=ctx.storage_options,
                              workspace=ctx.workspace)


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
    plan: FeaturePlan,
    series: StoredSeries | NodeSeries,
    nonnegative: bool,
    on_epoch: EpochCallback | None,
    phase: PhaseCallback,
    extra_callbacks: list[Any] | None,
    started: float,
    precision: Precision,
    engine: Engine,
    reference: Any = None,
    validation_windows: int = 0,
    on_validation_epoch: EpochCallback | None = None,
    *,
    notes: list[str] | None = None,
    options_for: Callable[[str], dict[str, Any]] = lambda url: {},
    integer: bool = False,
    hierarchy: tuple[Hierarchy, list[Any]] | None = None,
) -> dict[str, Any]:
    """Fit on the histories before the backtest window(s), backtest, finalize, store
    (:func:`forecast.fitting.fit_predictor`, partition by partition); a retraining starts from
    ``reference`` (the reference predictor's model). With ``validation_windows`` (a tuning trial),
    first fit on the histories before that many windows preceding the backtest's and score them
    (``metrics["validation"]``): what a search may minimise without ever seeing the backtest window.
    ``nonnegative``: every target is >= 0 (forecasts are kept >= 0 too); ``integer``: every one is a
    whole number. With ``hierarchy`` (the hierarchy and its nodes' series, which ``series`` reads),
    the backtest's forecasts are reconciled and scored per level, base vs reconciled."""
    from forecast.backtest import FORECASTS_PART, ITEMS_PART, BacktestSpec, empty_rows
    from forecast.fitting import fit_predictor, tally_report
    from forecast.models.base import FitContext

    hp = cfg.hp
    h = cfg.prediction_length
    parts = Parts.under(workspace, f"{rel}/{PARTS_DIR}")
    ctx = FitContext(cfg=cfg, nonnegative=nonnegative, integer=integer, on_phase=phase, on_epoch=on_epoch,
                     extra_callbacks=extra_callbacks, engine=engine, reference=reference,
                     notes=list(notes or []), options_for=options_for)
    spec = BacktestSpec(freq=cfg.freq, prediction_length=h, windows=hp.backtest_windows,
                        num_samples=hp.num_eval_samples, levels=tuple(hp.test_quantiles), seed=hp.seed)
    before = series.before(hp.backtest_windows * h)  # the histories before the backtest
    validated, validation_period, report_parts = None, None, []
    if validation_windows:
        phase("validation")
        checked = fit_predictor(cfg, before, dataclasses.replace(spec, windows=validation_windows),
                                dataclasses.replace(ctx, on_epoch=_both(on_epoch, on_validation_epoch),
                                                    origin="validation"),
                                parts=parts, final=False, keep_rows=False, report="validation", precision=precision,
                                watch=before)
        validated, validation_period = checked.backtest.predictor, checked.backtest.period
        report_parts = checked.report_parts
        phase("training")
    fitted = fit_predictor(cfg, series, spec, ctx, parts=parts, precision=precision)
    backtest = fitted.backtest
    # an item that fell back in the trial's validation run and again here is one item of the report
    fallbacks = tally_report(parts, report_parts + fitted.report_parts) if report_parts else fitted.fallbacks
    assert fitted.model is not None
    metrics = {
        "algorithm": hp.algorithm,
        "backtest_windows": hp.backtest_windows,
        "predictor": backtest.predictor.model_dump(),
        "members": {n: a.model_dump() for n, a in backtest.members.items()},
        "seasonal_naive": backtest.seasonal_naive.model_dump(),
        "extreme_items": backtest.extreme_items,
        "items_left_out": backtest.left_out or None,
        **({"validation": validated.model_dump()} if validated is not None else {}),
        "periods": {"backtest": backtest.period, **({"validation": validation_period} if validated is not None else {})},
    }
    if hierarchy is not None:
        from forecast.hierarchical import reconcile_parts

        phase("reconciling")
        metrics.update(reconcile_parts(parts, fitted.partitions, hierarchy[0], hierarchy[1], cfg, nonnegative,
                                       base=metrics["predictor"]))
        ctx.notes.append(f"forecasts of the {len(hierarchy[1]):,} nodes ({len(hierarchy[0].nodes):,} aggregates) are "
                         f"reconciled by {hp.reconcile_method}; the backtest's metrics are the reconciled forecasts' "
                         "(metrics.base: the base forecasts', metrics.hierarchy: per level)")
    training = {
        **fitted.model.describe(),
        "fit_seconds": fitted.seconds["fit"],
        "backtest_seconds": fitted.seconds["backtest"],
        "backtest_precision": fitted.precision,
        "finalize_seconds": fitted.seconds["final"],
        "partition_seconds": {k.removeprefix("partitions_"): v for k, v in fitted.seconds.items()
                              if k.startswith("partitions_")},
        "total_seconds": round(time.perf_counter() - started, 3),
        "nonnegative": ctx.nonnegative,
        "notes": ctx.notes + fitted.notes + backtest.notes(),
        "fit_report": fallbacks.summary(),
    }
    manifest = PredictorManifest(
        name=name, algorithm=hp.algorithm, dataset=dataset, dataset_fingerprint=summary.fingerprint, freq=cfg.freq,
        prediction_length=h, context_length=cfg.context_length,
        hyperparameters=hp.model_dump(mode="json"),
        resolved=cfg.model_dump(mode="json", exclude={"hp"}), features=plan.model_dump(mode="json"),
        metrics=metrics, training=training, versions=library_versions(), created_at=datetime.now(UTC),
    )
    phase("saving")
    merged = {BACKTEST_FILE: ITEMS_PART, BACKTEST_FORECASTS_FILE: FORECASTS_PART}
    save_predictor(workspace, rel, fitted.model, manifest, merged={
        **{file: (parts, [(part, i) for i in fitted.partitions], empty_rows(part, hp.test_quantiles))
           for file, part in merged.items()},
        fit_report.FIT_REPORT_FILE: (parts, report_parts + fitted.report_parts, fit_report.report_table([]).schema)})
    parts.remove()
    return {
        "algorithm": hp.algorithm,
        "metrics": metrics,
        "training": training,
        "freq": cfg.freq,
        "prediction_length": h,
        "context_length": cfg.context_length,
        "resolved": manifest.resolved,
        "features": plan.describe(),
        "versions": manifest.versions,
    }


#: The folder of a predictor being made where its partitions write their parts (removed once merged).
PARTS_DIR = "parts"

#: What predictors can be filtered by (``key=value``) and sorted by (backtest metrics, or fields).
FILTER_KEYS = ("dataset", "algorithm", "status", "related", "metadata", "tuning_job")
SORT_KEYS = ("mean_wql", "mase", "wape", "rmse", "mape", "name", "created_at")


def _field(resource: Resource, key: str) -> Any:
    if key == "algorithm":
        return resource.spec.get("hyperparameters", {}).get("algorithm", "deepar")
    if key == "status":
        return resource.status.value
    return resource.spec.get(key)


def find_predictors(registry: Registry, *, filters: dict[str, str] | None = None, sort_by: str | None = None,
                    descending: bool = False) -> list[Resource]:
    """Predictors matching every ``filters`` entry (``dataset``, ``algorithm``, ``status``,
    ``related``, ``metadata``), sorted by a backtest metric or ``name``/``created_at`` (predictors
    without the metric, e.g. failed ones, last), like runs of an experiment tracker.

    Raises
    ------
    InvalidInputError
        An unknown filter or sort key (the message lists the known ones).
    """
    filters = filters or {}
    unknown = [k for k in filters if k not in FILTER_KEYS]
    if unknown:
        raise InvalidInputError(f"cannot filter predictors by {', '.join(unknown)}; use {', '.join(FILTER_KEYS)}")
    if sort_by is not None and sort_by not in SORT_KEYS:
        raise InvalidInputError(f"cannot sort predictors by {sort_by!r}; use {', '.join(SORT_KEYS)}")
    found = [r for r in registry.list(Kind.PREDICTOR)
             if all(str(_field(r, k)) == v for k, v in filters.items())]
    if sort_by in ("name", "created_at"):
        return sorted(found, key=lambda r: getattr(r, sort_by), reverse=descending)
    if sort_by is not None:
        def value(r: Resource) -> float:
            v = predictor_metrics(r.result.get("metrics", {})).get(sort_by)
            return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else float("nan")
        have = [r for r in found if not np.isnan(value(r))]
        return sorted(have, key=value, reverse=descending) + [r for r in found if np.isnan(value(r))]
    return found


def load_active_predictor(workspace: Workspace, registry: Registry, name: str) -> tuple[Resource, Any]:
    """The resource and its fitted model (DeepAR's import torch)."""
    resource = registry.get_active(Kind.PREDICTOR, name)
    return resource, load_predictor(workspace, str(resource.artifact))


def delete_predictor(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a predictor and its artifacts; refused while it is in flight or a forecast uses it."""
    delete_resource(registry, workspace, Kind.PREDICTOR, name)
