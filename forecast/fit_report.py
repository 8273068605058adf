"""A predictor's fit report: every series a model could not fit, or whose forecast was not finite,
at which origin and why. Such a series falls back to seasonal naive there (the fit goes on); the
report says which ones, so a failure is never only a count. Stored beside the predictor
(:data:`FIT_REPORT_FILE`), read a page at a time or whole as CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def report_table(fallbacks: Sequence[Fallback]) -> pa.Table:
    return pa.table({c: pa.array([getattr(f, c) for f in fallbacks], pa.string()) for c in COLUMNS})


def report_bytes(fallbacks: Sequence[Fallback]) -> bytes:
    """The stored report (Parquet), an empty table when every series fitted."""
    buf = io.BytesIO()
    pq.write_table(report_table(fallbacks), buf, compression="zstd")
    return buf.getvalue()


#: Examples of fallbacks kept per model (what ``describe`` shows beside the counts).
EXAMPLES = 5


@dataclass
class FallbackTally:
    """The totals of a fit report, added up partition by partition (an item is in one partition,
    so distinct items add up too): rows, distinct items overall and per model, and the first
    few examples per model."""

    rows: int = 0
    items: int = 0
    by_model: Counter[str] = field(default_factory=Counter)
    items_by_model: Counter[str] = field(default_factory=Counter)
    examples: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> item -> reason

    @classmethod
    def of(cls, fallbacks: Sequence[Fallback]) -> FallbackTally:
        examples: dict[str, dict[str, str]] = {}
        for f in fallbacks:
            shown = examples.setdefault(f.model, {})
            if len(shown) < EXAMPLES and f.item_id not in shown:
                shown[f.item_id] = f.reason
        return cls(len(fallbacks), len({f.item_id for f in fallbacks}), Counter(f.model for f in fallbacks),
                   Counter(m for m, _ in {(f.model, f.item_id) for f in fallbacks}), examples)

    def __add__(self, other: FallbackTally) -> FallbackTally:
        examples = {m: dict(e) for m, e in self.examples.items()}
        for m, e in other.examples.items():
            shown = examples.setdefault(m, {})
            for item, reason in e.items():
                if len(shown) < EXAMPLES:
                    shown.setdefault(item, reason)
        return FallbackTally(self.rows + other.rows, self.items + other.items, self.by_model + other.by_model,
                             self.items_by_model + other.items_by_model, examples)

    def summary(self) -> dict[str, Any]:
        """What a predictor's description says of its report."""
        return {"rows": self.rows, "items": self.items, "by_model": dict(self.by_model)}

    def notes(self) -> list[str]:
        """A line per model that fell back, for the predictor's notes."""
        out = []
        for model, items in self.items_by_model.items():
            item, reason = next(iter(self.examples[model].items()))
            out.append(f"{model}: {items} item(s) fell back to seasonal naive (e.g. {item!r}: {reason})")
        return out


def summary(fallbacks: Sequence[Fallback]) -> dict[str, Any]:
    """What a predictor's description says of its report."""
    return FallbackTally.of(fallbacks).summary()


def _table(workspace: Workspace, registry: Registry, name: str) -> pa.Table:
    r = registry.get_active(Kind.PREDICTOR, name)
    path = f"{r.artifact}/{FIT_REPORT_FILE}"
    if not workspace.exists(path):  # a predictor made before fit reports: nothing on record
        return report_table([])
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
