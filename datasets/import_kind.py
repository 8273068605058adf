"""The import kind: an incremental import of new observations into an existing dataset, making a
new version of it (:mod:`datasets.increments`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind, Resource


class IncrementalImport(BaseModel):
    """Read ``source`` (a file or folder under an allowed prefix, or ``s3://``) in the dataset's
    format and add it to ``dataset`` as a new version: new items and new observations added, an
    observation of an (item, timestamp) the dataset holds replacing it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "sales-2026-49", "dataset": "sales", "source": "s3://bucket/exports/sales/2026-49/"}]})

    name: str = Field(pattern=NAME_PATTERN.pattern)
    dataset: str = Field(pattern=NAME_PATTERN.pattern, description="the dataset to add to")
    source: str = Field(min_length=1, max_length=2000, description="file, folder or s3:// URL")
    freq: str | None = Field(None, max_length=20, description="the dataset's frequency (checked when given)")


def view(r: Resource) -> dict[str, Any]:
    """An import as one JSON object: what it read, into which dataset, and the version it made."""
    return {"name": r.name, "status": r.status.value, "message": r.message, "dataset": r.spec.get("dataset"),
            "source": r.spec.get("source"), "created_at": r.created_at.isoformat(), **r.result}


DECLARATION = KindDeclaration(
    kind=Kind.IMPORT,
    summary="Incremental imports: new observations and items added to a dataset as a new version.",
    job="an incremental import",
    spec=IncrementalImport,
    run="datasets.increments:run_increment_job",
    register="datasets.increments:register_increment_job",
    locations={"source": "source"},
    uses=(Use("dataset", Kind.DATASET, while_in_flight=True),),
    view=view,
    columns=(Column("dataset", lambda r: str(r.spec.get("dataset", ""))),
             Column("version", lambda r: str(r.result.get("version", ""))),
             Column("added", lambda r: f"{r.result.get('observations_added', 0):,}"),
             Column("created", lambda r: r.created_at.strftime("%Y-%m-%d %H:%M"))),
)
