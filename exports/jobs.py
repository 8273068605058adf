"""Export lifecycle: register, write, and record the outcome (``ACTIVE``, ``CREATE_FAILED`` or
``CREATE_STOPPED``), through the same :func:`resources.lifecycle.building` as every other job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exports.destinations import normalize, open_destination, redact
from exports.errors import ExportError
from exports.export_kind import ExportCreate
from exports.partitioned import export_partitions
from exports.writer import Format, backtest_source, forecast_source, run_name, write_export
from resources import InvalidInputError, Kind, Registry, Resource, Status, Workspace
from resources.engine import Engine, LocalEngine
from resources.kinds import JobContext
from resources.lifecycle import building, delete_resource, throttled_progress

DEFAULT_PART_SIZE_MB = 256


def register_export(
    registry: Registry, name: str, *, forecast: str | None = None, destination: str, fmt: Format = "csv",
    part_size_mb: float = DEFAULT_PART_SIZE_MB, backtest_of: str | None = None,
) -> Resource:
    """Check the request and register the export as ``CREATE_PENDING``; the destination is stored
    resolved (:func:`exports.destinations.resolve_destination`), so what runs is what was checked.
    It exports ``forecast``, or with ``backtest_of`` that predictor's backtest forecasts and actuals."""
    registry.require_free(Kind.EXPORT, name)
    if (forecast is None) == (backtest_of is None):
        raise InvalidInputError("give either a forecast to export or a predictor whose backtest to export")
    if fmt not in ("csv", "parquet"):
        raise InvalidInputError(f"format must be csv or parquet, got {fmt!r}")
    if not 0 < part_size_mb <= 100_000:
        raise InvalidInputError(f"part size must be between 0 and 100000 MB, got {part_size_mb}")
    destination = normalize(destination)
    if forecast is not None:  # an alias is resolved now: the export reads the forecast it pointed at
        from forecast.aliases import resolve_forecast

        resolved = resolve_forecast(registry, forecast).require_active().name
        what = {"forecast": resolved, **({"alias": forecast} if resolved != forecast else {})}
    else:
        registry.get_active(Kind.PREDICTOR, str(backtest_of))
        what = {"predictor": str(backtest_of), "backtest": True}
    return registry.create(Kind.EXPORT, name, status=Status.CREATE_PENDING, spec={
        **what, "destination": destination, "format": fmt, "part_size_mb": part_size_mb})


def run_export(
    workspace: Workspace, registry: Registry, name: str, *, storage_options: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None, engine: Engine | None = None,
) -> Resource:
    """Run a registered export to the end: a forecast's on ``engine`` (default: this process),
    whose workers write the parts (:mod:`exports.partitioned`), a backtest's here. A failure leaves
    ``CREATE_FAILED`` with the reason, no run folder at the destination, and raises
    :class:`ExportError`."""
    spec = registry.get(Kind.EXPORT, name).spec
    registry.claim(Kind.EXPORT, name)
    where = redact(spec["destination"])
    now = datetime.now(UTC)
    run_folder = spec["destination"] + run_name(name, now)  # the destination is stored canonical, ending in /
    report = throttled_progress(registry, Kind.EXPORT, name)
    total = [0]  # known once the forecast is read

    def progress(rows: int) -> None:
        report({"rows_done": rows, "rows_total": total[0]})
        if on_progress is not None:
            on_progress(rows, total[0])

    try:
        with building(registry, workspace, Kind.EXPORT, name, run_folder, wrap=ExportError):
            part_size = int(spec["part_size_mb"] * 2**20)
            fs, base = open_destination(spec["destination"], storage_options)
            if spec.get("backtest"):
                source = backtest_source(workspace, registry.get_active(Kind.PREDICTOR, spec["predictor"]), spec["format"])
            else:
                forecast = registry.get_active(Kind.FORECAST, spec["forecast"])
                source = forecast_source(workspace, forecast, spec["format"])
            total[0] = source.rows_total
            if spec.get("backtest"):
                result = write_export(source, fs, base, name=name, fmt=spec["format"], part_size_bytes=part_size,
                                      now=now, on_rows=progress)
            else:
                result = export_partitions(engine or LocalEngine(), workspace, forecast, source.schema, fs=fs,
                                           destination=spec["destination"], destination_options=storage_options,
                                           folder=f"{base}/{run_name(name, now)}", fmt=spec["format"],
                                           part_size_bytes=part_size, on_rows=progress)
            registry.set_partial(Kind.EXPORT, name, None)  # the files now belong to their destination
            return registry.update(Kind.EXPORT, name, status=Status.ACTIVE, result={
                "folder": fs.unstrip_protocol(result.folder), "files": result.files, "rows": result.rows,
                "bytes": result.bytes, "seconds": round(result.seconds, 3),
                "rows_per_second": round(result.rows / result.seconds) if result.seconds else None})
    except ExportError as e:
        message = f"export to {where} failed: {e}"
        registry.update(Kind.EXPORT, name, status=Status.CREATE_FAILED, message=message)
        raise ExportError(message) from e


def register_export_job(ctx: JobContext, spec: ExportCreate) -> Resource:
    """The export kind's request (:class:`exports.export_kind.ExportCreate`), registered."""
    return register_export(ctx.registry, spec.name, forecast=spec.forecast, destination=spec.destination,
                           fmt=spec.format, part_size_mb=spec.part_size_mb, backtest_of=spec.backtest_of)


def run_export_job(ctx: JobContext, name: str) -> Resource:
    """The export kind's job (:mod:`exports.export_kind`): run registered export ``name``."""
    spec = ctx.registry.get(Kind.EXPORT, name).spec
    return run_export(ctx.workspace, ctx.registry, name, storage_options=ctx.storage_options(spec["destination"]),
                      engine=ctx.engine)


def create_export(
    workspace: Workspace, registry: Registry, name: str, *, forecast: str | None = None, destination: str,
    fmt: Format = "csv", part_size_mb: float = DEFAULT_PART_SIZE_MB, storage_options: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None, backtest_of: str | None = None,
    engine: Engine | None = None,
) -> Resource:
    """Register and run an export in this process (the CLI's path); ``on_progress(rows, total)``."""
    register_export(registry, name, forecast=forecast, destination=destination, fmt=fmt, part_size_mb=part_size_mb,
                    backtest_of=backtest_of)
    return run_export(workspace, registry, name, storage_options=storage_options, on_progress=on_progress,
                      engine=engine)


def delete_export(workspace: Workspace, registry: Registry, name: str) -> None:
    """Forget an export. The files of a finished export belong to their destination and are left in
    place; what a failed one left behind is removed."""
    delete_resource(registry, workspace, Kind.EXPORT, name)
