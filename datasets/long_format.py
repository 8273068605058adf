"""Options of a long-format dataset (one row per observation, as warehouses export them): which
columns hold what, how rows become a regular series, and how gaps are filled.

The names follow the managed forecasting services' dataset schemas and featurization settings
(``target_value``, ``frontfill``/``middlefill``/``backfill``/``futurefill``, ``zero|nan|value|
median|mean|min|max``), so an existing import configuration carries over.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datasets.schema import ITEM_ID, START, TARGET
from resources.errors import InvalidInputError, NotFoundError


class DatasetType(StrEnum):
    """What a dataset holds: the series to forecast, time series known for the future as well
    (prices, promotions), or one row of attributes per item."""

    TARGET = "target"
    RELATED = "related"
    METADATA = "metadata"


#: How several rows of one series in one period become one value; ``none`` makes them an error.
Aggregation = Literal["sum", "avg", "first", "min", "max", "none"]

#: What fills a missing step: ``none`` leaves the range unfilled (``frontfill``; for ``backfill``,
#: the series ends at its last observation), ``nan`` marks it missing, ``value`` uses ``fill_value``,
#: the statistics are over the series' own observed values.
FillMethod = Literal["none", "zero", "nan", "value", "median", "mean", "min", "max"]

#: Column names a dimension may not take: they are columns of the stored forecast and its export.
RESERVED_NAMES = frozenset({ITEM_ID, START, TARGET, "date", "timestamp", "target_value", "mean"})
_QUANTILE_COLUMN = re.compile(r"^p\d+(\.\d+)?$")


class Filling(BaseModel):
    """How missing steps are filled, per range of a series: before its first observation
    (``frontfill``: never), between its first and last (``middlefill``), from its last to the
    dataset's last timestamp (``backfill``) and, for related series, over the forecast horizon
    (``futurefill``). ``None`` means the type's default (:meth:`resolved`)."""

    model_config = ConfigDict(extra="forbid")

    frontfill: Literal["none"] = "none"
    middlefill: FillMethod | None = None
    backfill: FillMethod | None = None
    futurefill: FillMethod | None = None
    fill_value: float | None = Field(default=None, allow_inf_nan=False)

    def resolved(self, kind: DatasetType) -> Filling:
        """The methods in force: a target's gaps and tail are zero by default (no sale recorded
        is no sale); a related series is not filled unless asked (a zero price is not a price),
        so a predictor refuses one with gaps where it needs values."""
        if kind == DatasetType.TARGET:
            if self.futurefill is not None:
                raise ValueError("futurefill applies to related time series only (`type` related)")
            out = self.model_copy(update={"middlefill": self.middlefill or "zero", "backfill": self.backfill or "zero"})
        else:
            out = self.model_copy(update={"middlefill": self.middlefill or "none", "backfill": self.backfill or "none",
                                          "futurefill": self.futurefill or "none"})
        if kind == DatasetType.TARGET and out.middlefill == "none":
            raise ValueError("middlefill none is not possible for a target: a gap must hold something; "
                             "use nan to keep it missing")
        methods = [out.middlefill, out.backfill, out.futurefill]
        if "value" in methods and out.fill_value is None:
            raise ValueError("a fill method is 'value' but no fill value is given (`fill_value`)")
        return out


class LongFormat(BaseModel):
    """Where a long-format source keeps the item, the timestamp, the dimensions and the values."""

    model_config = ConfigDict(extra="forbid")

    type: DatasetType = DatasetType.TARGET
    item_column: str = ITEM_ID
    timestamp_column: str = "timestamp"
    target_column: str = "target_value"
    dimensions: list[str] = Field(default_factory=list)
    timestamp_format: str | None = Field(
        default=None, description="strftime format such as %d/%m/%Y %H:%M; default ISO 8601")
    timezone: str | None = Field(
        default=None, description="IANA zone: timestamps with an offset are converted to its wall clock "
                                  "(default UTC); timestamps without one are taken as they are")
    aggregation: Aggregation = "sum"
    filling: Filling = Field(default_factory=Filling)
    column_names: list[str] | None = Field(
        default=None, description="CSV files without a header row: their columns, in order")
    strict: bool = Field(default=False, description="refuse the import, listing examples, if it would change any "
                         "value: fill an empty cell or a period with no row, combine rows of one period, or keep a "
                         "few negative values among non-negative ones")

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, names: list[str]) -> list[str]:
        names = [n.strip() for n in names if n.strip()]
        for n in names:
            if n in RESERVED_NAMES or _QUANTILE_COLUMN.match(n):
                raise ValueError(f"dimension {n!r} would clash with a forecast column; rename the column")
        if len(set(names)) != len(names):
            raise ValueError(f"dimensions are repeated: {names}")
        return names

    @field_validator("timezone")
    @classmethod
    def _zone(cls, tz: str | None) -> str | None:
        if tz is None:
            return None
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as Europe/Paris or UTC") from None
        return tz

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        keys = [self.item_column, *self.dimensions]
        if self.type != DatasetType.METADATA:
            keys.append(self.timestamp_column)
        if self.type == DatasetType.TARGET:
            keys.append(self.target_column)
        if len(set(keys)) != len(keys):
            raise ValueError(f"the item, timestamp, target and dimension columns must differ: {keys}")
        if self.type == DatasetType.METADATA and self.dimensions:
            raise ValueError("item metadata has one row per item: dimensions do not apply")
        self.filling = self.filling.resolved(self.type)
        return self

    @property
    def key_columns(self) -> list[str]:
        """The columns that identify a series: the item, then the dimensions."""
        return [self.item_column, *self.dimensions]


def choose_series(keys: Iterable[str], item: str, filters: dict[str, str] | None, where: str) -> str:
    """The one series key among ``keys`` that ``item`` names: a key itself (``A|store=3``), or an
    item id narrowed by ``filters`` (dimension -> value) to one of its series.

    Raises
    ------
    NotFoundError
        No series of the item (with those values) in ``where``.
    InvalidInputError
        Several series match; the message lists each dimension's values to choose from, as a
        forecast query's does.
    """
    filters = filters or {}
    candidates = [k for k in keys if k == item or k.startswith(item + "|")]
    if not candidates:
        raise NotFoundError(f"item {item!r} is not in {where}")
    if item in candidates and not filters:
        return item
    parsed = {k: dict(part.split("=", 1) for part in k.split("|")[1:]) for k in candidates if k != item}
    match = [k for k, dims in parsed.items() if all(dims.get(d) == v for d, v in filters.items())]
    if not match:
        shown = f" with {', '.join(f'{k}={v}' for k, v in filters.items())}" if filters else ""
        raise NotFoundError(f"item {item!r} has no series{shown} in {where}")
    if len(match) > 1:
        dims = [d for d in parsed[match[0]] if d not in filters and len({parsed[k].get(d) for k in match}) > 1]
        choices = "; ".join(f"{d}: {', '.join(sorted({parsed[k][d] for k in match})[:20])}" for d in dims)
        raise InvalidInputError(f"item {item!r} has {len(match)} series in {where}; choose one with a filter per "
                                f"dimension ({choices})")
    return match[0]


def series_key(item_id: str, dimensions: dict[str, str] | None) -> str:
    """The one string that names a series everywhere inside the service (backtests, invocations,
    ``--item``): the item id alone, or ``item|dim=value|...`` when the dataset has dimensions."""
    if not dimensions:
        return item_id
    return "|".join([item_id, *(f"{k}={v}" for k, v in dimensions.items())])
