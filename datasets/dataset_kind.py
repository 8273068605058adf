"""The dataset kind: an import of a source into the workspace (:mod:`datasets.catalog`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from datasets.long_format import LongFormat
from datasets.versions import dataset_versions
from resources.kinds import Column, KindDeclaration
from resources.registry import NAME_PATTERN, Kind, Resource


class DatasetImport(LongFormat):
    """An import job: read ``source`` (a file or folder under an allowed prefix, or ``s3://``) and
    store it as dataset ``name``. The long-format fields apply to CSV and long Parquet."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [
        {"name": "sales", "source": "s3://bucket/exports/sales/", "freq": "W", "dimensions": ["store"]}]})

    name: str = Field(pattern=NAME_PATTERN.pattern)
    source: str = Field(min_length=1, max_length=2000, description="file, folder or s3:// URL")
    freq: str | None = Field(None, max_length=20, description="pandas alias: H, D, W, M, Q, 15min (not for metadata)")
    format: Literal["auto", "jsonlines", "long"] = "auto"

    def long_format(self) -> LongFormat:
        return LongFormat.model_validate(self.model_dump(include=set(LongFormat.model_fields)))


def view(r: Resource) -> dict[str, Any]:
    """A dataset as one JSON object: its source, frequency, type, summary (at its latest version)
    and versions."""
    summary = {k: v for k, v in r.result.items() if k not in ("versions", "version")}
    out = {"name": r.name, "status": r.status.value, "source": r.spec.get("source"), "freq": r.spec.get("freq"),
           "type": r.spec.get("type", "target"), "created_at": r.created_at.isoformat(), "summary": summary}
    versions = dataset_versions(r)
    if versions:
        out["version"] = versions[-1].number
        out["versions"] = [v.public() for v in versions]
    return out


DECLARATION = KindDeclaration(
    kind=Kind.DATASET,
    document_name="DatasetImport",
    update="datasets.increments:import_new_source",
    summary="Import and inspect data: DeepAR JSON lines, or long-format CSV / Parquet (target, related time series, "
            "item metadata).",
    job="an import",
    spec=DatasetImport,
    run="datasets.catalog:run_import_job",
    register="datasets.catalog:register_import_job",
    locations={"source": "source"},
    view=view,
    columns=(Column("freq", lambda r: r.spec.get("freq", "")),
             Column("series", lambda r: f"{r.result.get('num_series', 0):,}"),
             Column("created", lambda r: r.created_at.strftime("%Y-%m-%d %H:%M"))),
)
