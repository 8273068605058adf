"""Export lifecycle: register, write, and record the outcome (``ACTIVE`` or ``CREATE_FAILED``)."""

from __future__ import annotations

from typing import Any

from datasets import AlreadyExistsError, ConflictError, InvalidInputError, Kind, Registry, Resource, Status, Workspace, check_name
from exports.destinations import normalize, open_destination, redact
from exports.errors import ExportError
from exports.writer import Format, write_export

DEFAULT_PART_SIZE_MB = 256


def register_export(
    registry: Registry, name: str, *, forecast: str, destination: str, fmt: Format = "csv",
    part_size_mb: float = DEFAULT_PART_SIZE_MB,
) -> Resource:
    """Check the request and register the export as ``CREATE_PENDING``."""
    check_name(name, "export name")
    if fmt not in ("csv", "parquet"):
        raise InvalidInputError(f"format must be csv or parquet, got {fmt!r}")
    if not 0 < part_size_mb <= 100_000:
        raise InvalidInputError(f"part size must be between 0 and 100000 MB, got {part_size_mb}")
    if registry.exists(Kind.EXPORT, name):
        raise AlreadyExistsError(f"export {name!r} already exists; delete it first or choose another name")
    registry.get_active(Kind.FORECAST, forecast)
    return registry.create(Kind.EXPORT, name, status=Status.CREATE_PENDING, spec={
        "forecast": forecast, "destination": normalize(destination), "format": fmt, "part_size_mb": part_size_mb})


def run_export(
    workspace: Workspace, registry: Registry, name: str, *, storage_options: dict[str, Any] | None = None,
    registered: bool = True,
) -> Resource:
    """Run a registered export to the end. A failure leaves ``CREATE_FAILED`` with the reason and
    raises :class:`ExportError`."""
    resource = registry.get(Kind.EXPORT, name)
    spec = resource.spec
    registry.claim(Kind.EXPORT, name)
    registry.update(Kind.EXPORT, name, status=Status.CREATE_IN_PROGRESS)
    try:
        forecast = registry.get(Kind.FORECAST, spec["forecast"])
        if forecast.status != Status.ACTIVE:
            raise ExportError(f"forecast {spec['forecast']!r} is {forecast.status.value}, not ACTIVE")
        fs, base = open_destination(spec["destination"], storage_options)
        result = write_export(workspace, forecast, fs, base, name=name, fmt=spec["format"],
                              part_size_bytes=int(spec["part_size_mb"] * 2**20))
    except KeyboardInterrupt:
        registry.update(Kind.EXPORT, name, status=Status.CREATE_FAILED, message="interrupted (Ctrl-C)")
        raise
    except BaseException as e:
        message = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
        registry.update(Kind.EXPORT, name, status=Status.CREATE_FAILED,
                        message=f"export to {redact(spec['destination'])} failed: {message}")
        if isinstance(e, ExportError):
            raise
        if isinstance(e, Exception):
            raise ExportError(f"export {name!r} to {redact(spec['destination'])} failed: {message}") from e
        raise
    return registry.update(Kind.EXPORT, name, status=Status.ACTIVE, result={
        "folder": fs.unstrip_protocol(result.folder), "files": result.files, "rows": result.rows,
        "bytes": result.bytes, "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows / result.seconds) if result.seconds else None})


def create_export(
    workspace: Workspace, registry: Registry, name: str, *, forecast: str, destination: str, fmt: Format = "csv",
    part_size_mb: float = DEFAULT_PART_SIZE_MB, storage_options: dict[str, Any] | None = None,
) -> Resource:
    """Register and run an export in this process (the CLI's path)."""
    register_export(registry, name, forecast=forecast, destination=destination, fmt=fmt, part_size_mb=part_size_mb)
    return run_export(workspace, registry, name, storage_options=storage_options)


def delete_export(registry: Registry, name: str) -> None:
    """Forget an export. The files it wrote belong to their destination and are left in place."""
    r = registry.get(Kind.EXPORT, name)
    if r.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
        raise ConflictError(f"export {name!r} is {r.status.value}; wait for it to finish")
    registry.delete(Kind.EXPORT, name)
