"""The export kind: a forecast, or a predictor's backtest, written as CSV or Parquet parts to a
folder or URL (:mod:`exports.jobs`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resources.kinds import Column, KindDeclaration, Use
from resources.registry import NAME_PATTERN, Kind

_NAME = NAME_PATTERN.pattern


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=_NAME)
    forecast: str | None = Field(None, pattern=_NAME, description="the forecast to export")
    backtest_of: str | None = Field(None, pattern=_NAME, description="instead of a forecast: the predictor "
                                    "whose backtest forecasts and actuals to export")
    destination: str = Field(min_length=1, max_length=2000, description="folder or URL under an allowed prefix "
                             "(no query string or fragment)")
    format: Literal["csv", "parquet"] = "csv"
    part_size_mb: float = Field(256, gt=0, le=100_000)


DECLARATION = KindDeclaration(
    kind=Kind.EXPORT,
    summary="Export forecasts as CSV or Parquet part files to any folder or s3:// URL.",
    job="an export job",
    spec=ExportCreate,
    run="exports.jobs:run_export_job",
    register="exports.jobs:register_export_job",
    locations={"destination": "destination"},
    # the files of a finished export belong to their destination: it holds nothing back once done
    uses=(Use("forecast", Kind.FORECAST, while_in_flight=True), Use("predictor", Kind.PREDICTOR, while_in_flight=True)),
    columns=(Column("source", lambda r: r.spec.get("forecast") or f"backtest of {r.spec.get('predictor')}"),
             Column("format", lambda r: r.spec.get("format", "")),
             Column("rows", lambda r: f"{r.result.get('rows', 0):,}"),
             Column("destination", lambda r: r.spec.get("destination", ""))),
    on_delete="its files were left in place",
)
