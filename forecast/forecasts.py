"""Forecast lifecycle: generate every item's chosen forecast types once, store them columnar.

Stored layout (``<artifact>/forecast.parquet``): one row per item, in dataset order, with
``item_id``, ``start`` (first forecast step) and one ``fixed_size_list<float32>[prediction_length]``
column per forecast type (``p10``, ``mean``, ...), written in row groups as generation streams.
:mod:`forecast.store` reads it back without torch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pyarrow as pa

from datasets.summary import DatasetSummary
from forecast.artifacts import PredictorManifest, load_predictor, read_manifest
from forecast.data import Entry, load_entries, model_view
from forecast.errors import ForecastInputError, GenerationError
from forecast.models.base import Model
from forecast.sampling import Precision
from forecast.store import MANIFEST_FILE, forecast_batch, forecast_table_writer, period_starts_ns
from forecast.types import ForecastType, parse_types
from resources import Kind, Registry, Resource, Status, Workspace
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


def generate(
    model: Model,
    entries: list[Entry],
    types: Sequence[ForecastType],
    *,
    num_samples: int,
    sink: Callable[[pa.RecordBatch], None],
    horizon: int,
    seed: int | None = None,
    threads: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Forecast every entry and hand Arrow batches to ``sink`` in input order; returns the item
    count. Quantile types come from the model's distribution (they never cross), ``mean`` is its
    mean. By default the work is spread over all cores."""
    quantile_types = [t for t in types if not t.is_mean]
    levels = [t.level for t in quantile_types]
    done = 0
    for p in model.predict(entries, levels, num_samples=num_samples, seed=seed, threads=threads):
        values = {t.column: p.quantiles[:, i, :] for i, t in enumerate(quantile_types)}
        if len(quantile_types) < len(types):
            values["mean"] = p.mean
        ids = [str(i) for i in p.item_ids]
        sink(forecast_batch(ids, period_starts_ns(p.forecast_start), values, [t.column for t in types], horizon))
        done += len(ids)
        if on_progress is not None:
            on_progress(done, len(entries))
    return done


def _check_sources(
    workspace: Workspace, registry: Registry, predictor: str, dataset: str | None
) -> tuple[Resource, Resource, PredictorManifest]:
    """The predictor, the dataset to forecast (default: the predictor's) and the predictor's
    manifest, checked against each other (both ACTIVE, same frequency, future features)."""
    pred = registry.get_active(Kind.PREDICTOR, predictor)
    dataset = dataset or pred.spec["dataset"]
    ds = registry.get_active(Kind.DATASET, dataset)
    manifest = read_manifest(workspace, pred.artifact)
    summary = DatasetSummary.model_validate(ds.result)
    if summary.freq != manifest.freq:
        raise ForecastInputError(
            f"dataset {dataset!r} has frequency {summary.freq} but predictor {predictor!r} was trained on {manifest.freq}"
        )
    num_feat = int(manifest.resolved["num_dynamic_feat"])
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
) -> Resource:
    """Check a forecast request and register it as ``CREATE_PENDING`` (run it with
    :func:`run_forecast`, here or in a worker process).

    Raises
    ------
    ForecastTypesError, NotFoundError, AlreadyExistsError, ConflictError, ForecastInputError
        Bad input; nothing is registered.
    """
    registry.require_free(Kind.FORECAST, name)
    parsed = parse_types(types)
    _, ds, manifest = _check_sources(workspace, registry, predictor, dataset)
    spec = {"predictor": predictor, "dataset": ds.name, "types": [t.label for t in parsed],
            "columns": [t.column for t in parsed], "num_samples": num_samples or manifest.hyperparameters["num_eval_samples"]}
    return registry.create(Kind.FORECAST, name, status=Status.CREATE_PENDING, spec=spec)


def run_forecast(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    precision: Precision = "auto",
    on_progress: ProgressCallback | None = None,
) -> Resource:
    """Generate registered forecast ``name`` for every item of its dataset, from each item's full
    history, and store it; ``ACTIVE`` at the end, or ``CREATE_FAILED`` with the reason."""
    spec = registry.get(Kind.FORECAST, name).spec
    registry.claim(Kind.FORECAST, name)
    rel = workspace.new_artifact_dir("forecast", name)

    report = throttled_progress(registry, Kind.FORECAST, name)

    def progress(done: int, total: int) -> None:
        report({"items_done": done, "items_total": total}, final=done == total)
        if on_progress is not None:
            on_progress(done, total)

    with building(registry, workspace, Kind.FORECAST, name, rel, wrap=GenerationError, keep=(ForecastInputError,)):
        started = time.perf_counter()
        # checked at registration; again here, since a worker may run it later
        pred, ds, manifest = _check_sources(workspace, registry, spec["predictor"], spec["dataset"])
        resolved = manifest.resolved
        model = load_predictor(workspace, str(pred.artifact), manifest, precision)
        entries = model_view(load_entries(workspace, ds), num_dynamic_feat=int(resolved["num_dynamic_feat"]),
                             num_cat=len(resolved["cardinality"]), for_training=False)
        check_static_cats(entries, resolved["cardinality"])
        horizon = manifest.prediction_length
        types = parse_types(spec["types"])
        with forecast_table_writer(workspace, rel, spec["columns"], horizon) as write:
            # seeded: the same predictor and data give the same forecast
            n = generate(model, entries, types, num_samples=spec["num_samples"], sink=write, horizon=horizon,
                         seed=int(manifest.hyperparameters["seed"]), on_progress=progress)
        seconds = time.perf_counter() - started
        result = {
            "columns": spec["columns"], "types": spec["types"], "prediction_length": horizon, "freq": manifest.freq,
            "num_items": n, "precision": model.precision, "algorithm": manifest.algorithm,
            "seconds": round(seconds, 3), "items_per_second": round(n / seconds, 1) if seconds else None,
            "created_at": datetime.now(UTC).isoformat(),
        }
        workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps({"name": name, **spec, **result}, indent=2).encode())
        return registry.update(Kind.FORECAST, name, status=Status.ACTIVE, artifact=rel, result=result)


def create_forecast(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    predictor: str,
    types: str | list[str] | None = None,
    dataset: str | None = None,
    num_samples: int | None = None,
    precision: Precision = "auto",
    on_progress: ProgressCallback | None = None,
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
                      num_samples=num_samples)
    return run_forecast(workspace, registry, name, precision=precision, on_progress=on_progress)


def delete_forecast(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a forecast and its stored values; refused while it is in flight or being exported."""
    delete_resource(registry, workspace, Kind.FORECAST, name, users=lambda: [
        r for r in registry.find_referencing(Kind.EXPORT, "forecast", name) if r.status.in_flight])
