"""A predictor's fit report: every series a model could not fit, or whose forecast was not finite,
at which origin and why. Such a series falls back to seasonal naive there (the fit goes on); the
report says which ones, so a failure is never only a count. Stored beside the predictor
(:data:`FIT_REPORT_FILE`), read a page at a time or whole as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from datasets.columnar import read_parquet
from resources import Kind, Registry, Workspace

#: One row per series, model and origin that fell back.
FIT_REPORT_FILE = "fit_report.parquet"
COLUMNS = ("item_id", "model", "origin", "reason")


class Fallback(NamedTuple):
    """One series a model fell back on: the item, the model, the origin (``validation``,
    ``backtest``, ``final``; ``auto``'s weight window beside them) and the reason."""

    item_id: str
    model: str
    origin: str
    reason: str


class FitReport(BaseModel):
    """A page of a predictor's fit report, and its totals."""

    predictor: str
    total: int = Field(description="rows in the report: series x model x origin that fell back")
    items: int = Field(description="distinct items among them")
    by_model: dict[str, int] = Field(description="rows per model")
    rows: list[dict[str, str]]
    offset: int
    limit: int


def _report_table(fallbacks: Sequence[Fallback]) -> pa.Table:
    return pa.table({c: pa.array([getattr(f, c) for f in fallbacks], pa.string()) for c in COLUMNS})


def report_bytes(fallbacks: Sequence[Fallback]) -> bytes:
    """The stored report (Parquet), an empty table when every series fitted."""
    buf = io.BytesIO()
    pq.write_table(_report_table(fallbacks), buf, compression="zstd")
    return buf.getvalue()


def summary(fallbacks: Sequence[Fallback]) -> dict[str, Any]:
    """What a predictor's description says of its report."""
    return {"rows": len(fallbacks), "items": len({f.item_id for f in fallbacks}),
            "by_model": dict(Counter(f.model for f in fallbacks))}


def _table(workspace: Workspace, registry: Registry, name: str) -> pa.Table:
    r = registry.get_active(Kind.PREDICTOR, name)
    path = f"{r.artifact}/{FIT_REPORT_FILE}"
    if not workspace.exists(path):  # a predictor made before fit reports: nothing on record
        return _report_table([])
    with workspace.open(path, "rb") as f:
        return read_parquet(f)


def read_fit_report(workspace: Workspace, registry: Registry, name: str, *, offset: int = 0,
                    limit: int = 100) -> FitReport:
    """``limit`` rows of ACTIVE predictor ``name``'s fit report from ``offset``, with its totals.

    Raises
    ------
    NotFoundError, ConflictError
        No such predictor, or it is not ``ACTIVE``.
    """
    rows = _table(workspace, registry, name).to_pylist()
    totals = summary([Fallback(**r) for r in rows])
    return FitReport(predictor=name, total=totals["rows"], items=totals["items"], by_model=totals["by_model"],
                     rows=rows[offset:offset + limit], offset=offset, limit=limit)


def fit_report_csv(workspace: Workspace, registry: Registry, name: str) -> str:
    """The whole fit report as CSV (a header, then a row per series, model and origin)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_table(workspace, registry, name).to_pylist())
    return out.getvalue()
