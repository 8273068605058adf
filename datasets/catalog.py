"""Imported datasets: import (validate + store + register), describe, delete, and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from datasets.columnar import ParquetSink, iter_entries
from resources.lifecycle import delete_resource
from resources.registry import Kind, Registry, Resource, Status
from datasets.scan import ProgressCallback, scan_dataset
from datasets.summary import DatasetSummary
from resources.workspace import Workspace

DATA_FILE = "series.parquet"
MANIFEST_FILE = "manifest.json"


def import_dataset(
    workspace: Workspace,
    registry: Registry,
    name: str,
    source: str,
    *,
    freq: str,
    source_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    progress: ProgressCallback | None = None,
) -> Resource:
    """Validate ``source`` and store it as ``name``: one pass, written to a fresh folder, and
    registered only when complete. Nothing is registered or left behind when it is invalid.

    Raises
    ------
    AlreadyExistsError
        ``name`` is taken (checked first, and again atomically at registration).
    DatasetValidationError
        The source has problems; every one is listed.
    """
    registry.require_free(Kind.DATASET, name)
    rel = workspace.new_artifact_dir("dataset", name)
    try:
        with workspace.open(f"{rel}/{DATA_FILE}", "wb") as f:
            sink = ParquetSink(f)
            try:
                summary = scan_dataset(
                    source, freq=freq, storage_options=source_options, max_problems=max_problems,
                    write=sink.write, progress=progress,
                )
            finally:
                sink.close()
        spec = {"source": source, "freq": summary.freq}
        manifest = {"name": name, **spec, "summary": summary.model_dump(mode="json")}
        workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps(manifest, indent=2).encode())
        return registry.create(
            Kind.DATASET, name, status=Status.ACTIVE, spec=spec, artifact=rel,
            result=summary.model_dump(mode="json"),
        )
    except BaseException:
        workspace.remove_tree(rel)
        raise


def dataset_summary(resource: Resource) -> DatasetSummary:
    return DatasetSummary.model_validate(resource.result)


def get_dataset(registry: Registry, name: str) -> Resource:
    return registry.get(Kind.DATASET, name)


def delete_dataset(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a dataset and its stored copy; refused while a predictor or forecast uses it or reads
    it (both are registered before they read any data)."""
    delete_resource(registry, workspace, Kind.DATASET, name, users=lambda: [
        r for kind in (Kind.PREDICTOR, Kind.FORECAST) for r in registry.find_referencing(kind, "dataset", name)])


def iter_dataset(workspace: Workspace, resource: Resource, *, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Stream the stored series of an ``ACTIVE`` dataset (see :func:`datasets.columnar.iter_entries`)."""
    resource.require_active()
    with workspace.open(f"{resource.artifact}/{DATA_FILE}", "rb") as f:
        yield from iter_entries(f, columns=columns)
