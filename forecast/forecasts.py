"""Forecast lifecycle: generate every item's chosen forecast types once, store them columnar.

Stored layout (``<artifact>/parts/part-00000.parquet``, ...: one part per partition, written by
whichever worker forecast it): one row per item, in dataset order, with ``item_id``, ``start``
(first forecast step) and one ``fixed_size_list<float32>[prediction_length]`` column per forecast
type (``p10``, ``mean``, ...). :mod:`forecast.store` reads it back without torch.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field, PrivateAttr

from datasets import DatasetType, dataset_at, dataset_summary, require_type
from forecast.artifacts import PredictorManifest, load_predictor, read_manifest
from forecast.config import Hyperparameters
from forecast.data import Entry, load_entries, model_view
from forecast.errors import ForecastInputError, GenerationError
from forecast.features import (
    FeaturePlan,
    Transform,
    attach_features,
    check_related_for,
    check_related_reach,
    check_transforms,
)
from forecast.forecast_kind import ForecastCreate
from forecast.models.base import Model
from forecast.partitions import partition_ranges
from forecast.sampling import Precision
from forecast.store import MANIFEST_FILE, forecast_batch, period_starts_ns, write_forecast_part
from forecast.types import ForecastType, parse_types
from resources import ActiveResources, Kind, Registry, Resource, ResourceSnapshot, Status, Workspace
from resources.engine import Engine, LocalEngine
from resources.kinds import JobContext
from resources.lifecycle import building, delete_resource, throttled_progress

logger = logging.getLogger(__name__)


#: Called with (items done, items total).
ProgressCallback = Callable[[int, int], None]


def check_static_cats(entries: Sequence[Entry], cardinality: Sequence[int]) -> None:
    for e in entries:
        cats = e.get("feat_static_cat")
        if cats is None:
            continue
        for i, (v, card) in enumerate(zip(cats, cardinality, strict=False)):
            if v >= card:
                raise ForecastInputError(
                    f"item {e.get('item_id')!r}: cat[{i}] = {v} but the predictor was trained with cardinality {card}"
                )


def forecast_partition(
    model: Model,
    entries: Sequence[Entry],
    types: Sequence[ForecastType],
    *,
    index: int,
    num_samples: int,
    horizon: int,
    seed: int | None = None,
    threads: int | None = None,
    series: Sequence[tuple[str, dict[str, str] | None]] | None = None,
    dimensions: Sequence[str] = (),
) -> list[pa.RecordBatch]:
    """Partition ``index`` of a forecast (its entries, and their series when there are dimensions)
    as stored batches (each item's draws from its own stream under ``seed``)."""
    quantile_types = [t for t in types if not t.is_mean]
    levels = [t.level for t in quantile_types]
    out = []
    done = 0
    for p in model.predict(entries, levels, num_samples=num_samples, seed=seed, threads=threads):
        values = {t.column: p.quantiles[:, i, :] for i, t in enumerate(quantile_types)}
        if len(quantile_types) < len(types):
            values["mean"] = p.mean
        ids = [str(i) for i in p.item_ids]
        dims = None
        if dimensions and series is not None:
            rows = series[done:done + len(ids)]
            ids = [str(item) for item, _ in rows]
            dims = {d: [None if (v := (values_ or {}).get(d)) is None else str(v) for _, values_ in rows]
                    for d in dimensions}
        out.append(forecast_batch(ids, period_starts_ns(p.forecast_start), values, [t.column for t in types], horizon,
                                  dims))
        done += len(ids)
    return out


def _check_sources(
    workspace: Workspace, registry: Registry, predictor: str, dataset: str | None, version: int | None = None
) -> tuple[Resource, Resource, PredictorManifest]:
    """The predictor, the dataset to forecast (default: the predictor's) at ``version`` (default:
    its latest) and the predictor's manifest, checked against each other (both ACTIVE, same
    frequency, future features)."""
    pred = registry.get_active(Kind.PREDICTOR, predictor)
    dataset = dataset or pred.spec["dataset"]
    ds = dataset_at(registry.get_active(Kind.DATASET, dataset), version)
    manifest = read_manifest(workspace, pred.artifact)
    summary = dataset_summary(ds)
    if summary.freq != manifest.freq:
        raise ForecastInputError(
            f"dataset {dataset!r} has frequency {summary.freq} but predictor {predictor!r} was trained on {manifest.freq}"
        )
    plan = FeaturePlan.model_validate(manifest.features)
    require_type(ds, DatasetType.TARGET, "dataset")
    if summary.dimensions != plan.dataset_dimensions and manifest.features:
        raise ForecastInputError(f"dataset {dataset!r} has dimensions {summary.dimensions or 'none'} but predictor "
                                 f"{predictor!r} was trained on {plan.dataset_dimensions or 'none'}")
    # the dataset's own dynamic_feat (related series and holidays are added from elsewhere)
    num_feat = plan.dataset_dynamic_feat if manifest.features else int(manifest.resolved["num_dynamic_feat"])
    if num_feat and summary.dynamic_feat_extension < manifest.prediction_length:
        raise ForecastInputError(
            f"predictor {predictor!r} uses {num_feat} dynamic feature(s), so the dataset's dynamic_feat must extend "
            f"prediction_length={manifest.prediction_length} steps past each target; dataset {dataset!r} extends "
            f"{summary.dynamic_feat_extension}. Import a dataset with the future feature values."
        )
    if num_feat and summary.num_dynamic_feat != num_feat:
        raise ForecastInputError(
            f"predictor {predictor!r} uses {num_feat} dynamic feature(s); dataset {dataset!r} has {summary.num_dynamic_feat}"
        )
    return pred, ds, manifest


def register_forecast(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    predictor: str,
    types: str | list[str] | None = None,
    dataset: str | None = None,
    num_samples: int | None = None,
    related: str | None = None,
    metadata: str | None = None,
    transforms: Sequence[str] = (),
    dataset_version: int | None = None,
) -> Resource:
    """Check a forecast request and register it as ``CREATE_PENDING`` (run it with
    :func:`run_forecast`, here or in a worker process). It forecasts from the dataset's latest
    version (``dataset_version`` pins one), which may hold newer history and new items than the
    predictor was trained on: every series is forecast from its history in that version.
    ``related`` (a dataset of future values)
    and ``transforms`` (``price*0.9 where store=3``) make it a what-if scenario of the predictor's
    related series; ``metadata`` replaces its item metadata dataset (new items' attributes).

    Raises
    ------
    ForecastTypesError, NotFoundError, AlreadyExistsError, ConflictError, ForecastInputError
        Bad input; nothing is registered.
    """
    registry.require_free(Kind.FORECAST, name)
    parsed = parse_types(types)
    _, ds, manifest = _check_sources(workspace, registry, predictor, dataset, dataset_version)
    plan = FeaturePlan.model_validate(manifest.features)
    summary = dataset_summary(ds)
    if (related or transforms) and not plan.related:
        raise ForecastInputError(f"predictor {predictor!r} uses no related time series, so a scenario of them "
                                 "(`related`, `transforms`) cannot change its forecast")
    if related or plan.related:
        rel = registry.get_active(Kind.DATASET, related or str(plan.related))
        if related:
            check_related_for(plan, rel, summary)
        check_related_reach(rel, summary, manifest.prediction_length)
    if metadata:
        if not plan.metadata:
            raise ForecastInputError(f"predictor {predictor!r} uses no item metadata; `metadata` does not apply")
        require_type(registry.get_active(Kind.DATASET, metadata), DatasetType.METADATA, "metadata")
    parsed_transforms = [Transform.parse(t) for t in transforms]
    check_transforms(plan, parsed_transforms, summary.dimensions)
    spec = {"predictor": predictor, "dataset": ds.name, "dataset_version": ds.result["version"], "types": [t.label for t in parsed],
            "columns": [t.column for t in parsed], "num_samples": num_samples or manifest.hyperparameters["num_eval_samples"],
            "related": related, "metadata": metadata, "transforms": [str(t) for t in parsed_transforms]}
    return registry.create(Kind.FORECAST, name, status=Status.CREATE_PENDING, spec=spec)


class ForecastJob(BaseModel):
    """Everything one partition of a forecast needs, planned once by the process that runs the job:
    the request, the predictor's manifest and the datasets it reads, so a worker on another machine
    needs only the workspace, never the registry."""

    name: str
    spec: dict[str, Any]
    predictor_artifact: str
    manifest: PredictorManifest
    dataset: Resource
    resources: ResourceSnapshot  # the related and metadata datasets the features read
    num_items: int
    dimensions: list[str]
    precision: str = "auto"
    nodes: str | None = None  # a hierarchical predictor's: the nodes' series (forecast, then reconciled)
    #: the hierarchy and the nodes' histories, held by the process that planned the job (which
    #: reconciles what the workers forecast); not sent to the workers
    _hierarchy: tuple[Any, list[np.ndarray]] | None = PrivateAttr(None)

    @property
    def seed(self) -> int:
        return int(self.manifest.hyperparameters["seed"])

    def partitions(self, size: int | None = None) -> list[tuple[int, int, int]]:
        """``(index, start, stop)`` of each partition of the dataset's rows, ``size`` rows each."""
        return partition_ranges(self.num_items, size)

    def read_rows(self, workspace: Workspace, start: int, stop: int) -> list[Entry]:
        """Rows ``[start, stop)`` of the dataset (or of a hierarchy's nodes) as entries, before features."""
        if self.nodes is not None:
            from forecast.hierarchy import read_nodes

            return read_nodes(workspace, self.nodes, self.manifest.freq, (start, stop))
        return load_entries(workspace, self.dataset, rows=(start, stop))


def plan_forecast(workspace: Workspace, registry: Registry, name: str, precision: Precision = "auto",
                  rel: str | None = None) -> ForecastJob:
    """The job of registered forecast ``name``, its sources checked again (a worker may run it
    later than it was registered). A hierarchical predictor's nodes are built under ``rel``, the
    forecast's folder, from the dataset's version being forecast."""
    spec = registry.get(Kind.FORECAST, name).spec
    pred, ds, manifest = _check_sources(workspace, registry, spec["predictor"], spec["dataset"],
                                        spec.get("dataset_version"))
    plan = FeaturePlan.model_validate(manifest.features)
    snapshot = ResourceSnapshot.of(registry, Kind.DATASET,
                                   [plan.related, plan.metadata, spec.get("related"), spec.get("metadata")])
    summary = dataset_summary(ds)
    hp = Hyperparameters.model_validate(manifest.hyperparameters)
    hierarchy = None
    if hp.hierarchical and rel is not None:
        from forecast.hierarchical import base_types, prepare_nodes

        hierarchy = prepare_nodes(workspace, ds, hp, rel, manifest.freq, workspace.options_for)
        types = base_types(spec["types"])
        spec = {**spec, "types": types, "columns": [parse_types(t)[0].column for t in types]}
    job = ForecastJob(name=name, spec=spec, predictor_artifact=str(pred.artifact), manifest=manifest, dataset=ds,
                      resources=snapshot, num_items=len(hierarchy[1]) if hierarchy else summary.num_series,
                      dimensions=summary.dimensions, precision=precision, nodes=hierarchy[2] if hierarchy else None)
    if hierarchy is not None:
        job._hierarchy = (hierarchy[0], [np.asarray(e["target"], dtype=np.float64) for e in hierarchy[1]])
    return job


def forecast_rows(workspace: Workspace, job: ForecastJob, model: Model, index: int, raw: list[Entry],
                  threads: int | None = None) -> list[pa.RecordBatch]:
    """Partition ``index`` of a forecast, from its rows of the dataset (``raw``), as stored batches:
    features attached, and with a scenario, the scenario's rows where it changes an item (see
    :func:`run_forecast`). Every engine runs exactly this per partition."""
    spec, manifest = job.spec, job.manifest
    resolved = manifest.resolved
    horizon = manifest.prediction_length
    plan = FeaturePlan.model_validate(manifest.features)
    transforms = [Transform.parse(t) for t in spec.get("transforms") or []]
    entries = attach_features(workspace, job.resources, raw, plan, freq=manifest.freq, horizon=horizon,
                              related=spec.get("related"), metadata=spec.get("metadata"), transforms=transforms)
    series = [(e.get("series_item", e["item_id"]), e.get("dimensions")) for e in entries]

    def view(items: list[Entry]) -> list[Entry]:
        return model_view(items, num_dynamic_feat=int(resolved["num_dynamic_feat"]),
                          num_cat=len(resolved["cardinality"]), for_training=False,
                          num_static_real=int(resolved.get("num_static_real", 0)))

    entries = view(entries)
    check_static_cats(entries, resolved["cardinality"])
    run = functools.partial(forecast_partition, model, types=parse_types(spec["types"]), index=index,
                            num_samples=spec["num_samples"], horizon=horizon, seed=job.seed, threads=threads,
                            dimensions=job.dimensions, series=series)
    baseline = None
    if any(spec.get(k) for k in ("related", "metadata", "transforms")):
        baseline = _baseline(workspace, job.resources, raw, plan, manifest.freq, horizon, view)
    if baseline is None:
        return run(entries)
    # what-if: the partition is forecast twice, as in the baseline and with the scenario, with the
    # same random generators (common random numbers), and the scenario's rows are kept only for
    # the items it changes. Every other item gets exactly the baseline forecast, and most of the
    # sampling noise cancels in the difference for the changed ones.
    changed = {i for i, (a, b) in enumerate(zip(entries, baseline, strict=True)) if _differs(a, b)}
    scenario = run(entries) if changed else []
    out: list[pa.RecordBatch] = []
    keep = _replacing(out.append, changed, scenario)
    for batch in run(baseline):
        keep(batch)
    return out


class _Forecaster:
    """A worker of a forecast job: the predictor loaded once, then partitions forecast and each
    written as its part of the table (:func:`forecast.store.write_forecast_part`)."""

    def __init__(self, root: str, storage_options: dict[str, Any], job: dict[str, Any], threads: int | None) -> None:
        self.workspace = Workspace(root, storage_options=storage_options)
        self.job = ForecastJob.model_validate(job)
        self.threads = threads
        self.model = load_predictor(self.workspace, self.job.predictor_artifact, self.job.manifest,
                                    self.job.precision)  # type: ignore[arg-type]

    def forecast(self, index: int, start: int, stop: int, rel: str) -> tuple[int, str]:
        """Forecast rows ``[start, stop)`` as partition ``index`` and write its part under ``rel``;
        returns its rows and the precision this worker sampled in."""
        job = self.job
        self.model.focus(start, stop)  # a per-series model holds only this partition's stored forecasts
        batches = forecast_rows(self.workspace, job, self.model, index, job.read_rows(self.workspace, start, stop),
                                threads=self.threads)
        rows = write_forecast_part(self.workspace, rel, index, batches, job.spec["columns"],
                                   job.manifest.prediction_length, job.dimensions)
        return rows, self.model.precision


def run_forecast(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    precision: Precision = "auto",
    on_progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> Resource:
    """Generate registered forecast ``name`` for every item of its dataset, from each item's full
    history, and store it; ``ACTIVE`` at the end, or ``CREATE_FAILED`` with the reason. The work is
    :func:`forecast_rows` per partition of :data:`forecast.partitions.PARTITION_ITEMS` items, run
    by ``engine`` (default: this process), each partition writing its part
    of the table: the same values on every engine. The process running the job holds no items, so
    its memory does not grow with them; a worker holds one partition."""
    engine = engine or LocalEngine()
    registry.claim(Kind.FORECAST, name)
    rel = workspace.new_artifact_dir("forecast", name)

    report = throttled_progress(registry, Kind.FORECAST, name)

    def progress(done: int, total: int) -> None:
        report({"items_done": done, "items_total": total}, final=done == total)
        if on_progress is not None:
            on_progress(done, total)

    with building(registry, workspace, Kind.FORECAST, name, rel, wrap=GenerationError, keep=(ForecastInputError,)):
        started = time.perf_counter()
        job = plan_forecast(workspace, registry, name, precision, rel)
        spec, manifest = job.spec, job.manifest
        calls = [(index, start, stop, rel) for index, start, stop in job.partitions(engine.partition_items)]
        done = [0]
        precisions: set[str] = set()

        def finished(call: tuple[Any, ...], result: tuple[int, str]) -> None:
            _, start, stop, _ = call
            rows, model_precision = result
            precisions.add(model_precision)
            if rows != stop - start:
                raise GenerationError(f"a partition wrote {rows} rows, not the {stop - start} it was given")
            done[0] += rows
            progress(done[0], job.num_items)

        engine.map(_Forecaster, (workspace.root, workspace.storage_options, job.model_dump(mode="json"),
                                 engine.call_threads), calls, "forecast", on_result=finished)
        if not calls:
            progress(0, 0)
        parts: int | None = len(calls)
        if job._hierarchy is not None:  # the nodes' base forecasts, reconciled into the forecast's table
            from forecast.hierarchical import reconcile_forecast
            from forecast.store import part_file

            spec = registry.get(Kind.FORECAST, name).spec  # the types asked for, not the workers'
            reconcile_forecast(workspace, rel, [part_file(rel, i) for i, *_ in calls], *job._hierarchy,
                               Hyperparameters.model_validate(manifest.hyperparameters), manifest.freq,
                               manifest.prediction_length, spec["columns"], job.dimensions,
                               bool(manifest.training.get("nonnegative")))
            parts = None
        n = job.num_items
        seconds = time.perf_counter() - started
        scenario_spec = {k: spec.get(k) for k in ("related", "metadata", "transforms")}
        result = {
            "columns": spec["columns"], "types": spec["types"], "prediction_length": manifest.prediction_length,
            "freq": manifest.freq, "dimensions": job.dimensions,
            "scenario": scenario_spec if any(scenario_spec.values()) else None,
            "num_items": n, "precision": ", ".join(sorted(precisions)) or precision,
            "algorithm": manifest.algorithm, "engine": engine.name, "parts": parts,
            "seconds": round(seconds, 3), "items_per_second": round(n / seconds, 1) if seconds else None,
            "created_at": datetime.now(UTC).isoformat(),
        }
        workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps({"name": name, **spec, **result}, indent=2).encode())
        return registry.update(Kind.FORECAST, name, status=Status.ACTIVE, artifact=rel, result=result)


def _baseline(workspace: Workspace, resources: ActiveResources, raw: list[Entry], plan: FeaturePlan, freq: str,
              horizon: int, view: Callable[[list[Entry]], list[Entry]]) -> list[Entry] | None:
    """The entries as the predictor's own related and metadata datasets give them, or ``None``
    where they cannot (new items that only the scenario's metadata describes)."""
    try:
        return view(attach_features(workspace, resources, raw, plan, freq=freq, horizon=horizon))
    except ForecastInputError:
        return None


def _differs(a: Entry, b: Entry) -> bool:
    return any(not np.array_equal(a.get(k), b.get(k)) for k in ("feat_dynamic_real", "feat_static_cat",
                                                                 "feat_static_real") if k in a or k in b)


def _replacing(sink: Callable[[pa.RecordBatch], None], changed: set[int],
               scenario: list[pa.RecordBatch]) -> Callable[[pa.RecordBatch], None]:
    """A sink that passes the baseline's batches on with the rows in ``changed`` (counted over all
    batches) taken from ``scenario``, a forecast of the same items in the same order."""
    table = pa.Table.from_batches(scenario) if scenario else None
    done = 0

    def write(batch: pa.RecordBatch) -> None:
        nonlocal done
        n = batch.num_rows
        take = [n + i if done + i in changed else i for i in range(n)]
        if table is not None and take != list(range(n)):
            both = pa.concat_tables([pa.Table.from_batches([batch]), table.slice(done, n)])
            batch = both.take(take).combine_chunks().to_batches()[0]
        done += n
        sink(batch)

    return write


def register_forecast_job(ctx: JobContext, spec: ForecastCreate) -> Resource:
    """The forecast kind's request (:class:`forecast.forecast_kind.ForecastCreate`), registered."""
    return register_forecast(ctx.workspace, ctx.registry, spec.name, predictor=spec.predictor, types=spec.types,
                             dataset=spec.dataset, related=spec.related, metadata=spec.metadata,
                             transforms=spec.transforms, dataset_version=spec.dataset_version)


def run_forecast_job(ctx: JobContext, name: str) -> Resource:
    """The forecast kind's job (:mod:`forecast.forecast_kind`): generate registered forecast ``name``."""
    return run_forecast(ctx.workspace, ctx.registry, name, precision=ctx.precision,  # type: ignore[arg-type]
                        engine=ctx.engine)


def create_forecast(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    predictor: str,
    types: str | list[str] | None = None,
    dataset: str | None = None,
    num_samples: int | None = None,
    related: str | None = None,
    metadata: str | None = None,
    transforms: Sequence[str] = (),
    dataset_version: int | None = None,
    precision: Precision = "auto",
    on_progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> Resource:
    """:func:`register_forecast` then :func:`run_forecast` in this process (the CLI's path).

    Raises
    ------
    ForecastTypesError, NotFoundError, AlreadyExistsError, ConflictError, ForecastInputError
        Bad input, before anything is registered.
    GenerationError
        Generation failed; the forecast is ``CREATE_FAILED`` with the reason.
    """
    register_forecast(workspace, registry, name, predictor=predictor, types=types, dataset=dataset,
                      num_samples=num_samples, related=related, metadata=metadata, transforms=transforms,
                      dataset_version=dataset_version)
    return run_forecast(workspace, registry, name, precision=precision, on_progress=on_progress, engine=engine)


def delete_forecast(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a forecast and its stored values; refused while it is in flight or being exported."""
    delete_resource(registry, workspace, Kind.FORECAST, name)


class ForecastUsage(BaseModel):
    """How much one forecast generated: items x forecast types, the unit managed services billed."""

    forecast: str
    predictor: str | None
    items: int
    types: int
    item_types: int = Field(description="items x types")
    created_at: str | None


class Usage(BaseModel):
    forecasts: list[ForecastUsage]
    total_items: int
    total_item_types: int


def usage(registry: Registry) -> Usage:
    """Forecasts generated (ACTIVE ones), as items x types each and in total."""
    rows = []
    for r in registry.list(Kind.FORECAST):
        if r.status != Status.ACTIVE:
            continue
        items, types = int(r.result.get("num_items", 0)), len(r.result.get("columns", []))
        rows.append(ForecastUsage(forecast=r.name, predictor=r.spec.get("predictor"), items=items, types=types,
                                  item_types=items * types, created_at=r.result.get("created_at")))
    return Usage(forecasts=rows, total_items=sum(u.items for u in rows),
                 total_item_types=sum(u.item_types for u in rows))
