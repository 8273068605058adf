"""What a dataset holds, computed in one streaming pass: :class:`DatasetSummary`."""

from __future__ import annotations

import hashlib
import warnings
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from datasets.long_format import Aggregation, DatasetType, Filling
from datasets.records import Series

#: Syntetos, Boylan and Croston's (2005) cut-offs: average demand interval and squared
#: coefficient of variation of the non-zero demands.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "no demand", "not demand")


def demand_class(target: np.ndarray) -> str:
    """A series' demand pattern by ADI (periods per non-zero demand) and CV^2 (of the non-zero
    demands): ``smooth`` (ADI < 1.32, CV^2 < 0.49), ``erratic`` (CV^2 >= 0.49), ``intermittent``
    (ADI >= 1.32), ``lumpy`` (both); ``no demand`` when every value is 0, ``not demand`` when
    some are negative (not a demand series). Missing values count for nothing."""
    y = np.asarray(target)
    return classify_demand(y[y > 0], y.size - int(np.count_nonzero(np.isnan(y))), bool((y < 0).any()))


def classify_demand(nonzero: np.ndarray, observed: int, negative: bool) -> str:
    """:func:`demand_class` from a series' positive values, its count of observed values and
    whether any is negative (what an import's summary has counted already)."""
    if negative:
        return "not demand"
    n = nonzero.size
    if n == 0:
        return "no demand"
    adi = observed / n
    nonzero = nonzero.astype(np.float64)
    mean = float(nonzero.sum()) / n
    cv2 = max(float(nonzero @ nonzero) / n - mean * mean, 0.0) / (mean * mean)  # the population variance's
    if adi < ADI_CUTOFF:
        return "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


class Attribute(BaseModel):
    """One column of an item metadata dataset."""

    kind: Literal["categorical", "numeric"]
    cardinality: int | None = Field(default=None, description="distinct values of a categorical column")


#: Negative values are remarked on when they are at most this share of a target's values.
FEW_NEGATIVES = 0.05


class ImportChanges(BaseModel):
    """What an import did to the values it read, so that nothing changes without a word: cells read
    empty, periods with no row, how each missing cell was filled, periods whose rows were combined,
    and negative values in a target that is otherwise non-negative. ``examples``: the first of
    each, as ``file:line``."""

    empty_values: int = Field(0, description="cells read empty (blank, n/a, null)")
    gap_periods: int = Field(0, description="periods between a series' first and last row with no row")
    filled: dict[str, int] = Field(default_factory=dict, description="missing cells by what filled them "
                                   "('middlefill zero', 'backfill mean'; 'left missing' for nan)")
    aggregated_periods: int = Field(0, description="periods of a series whose several rows were combined")
    aggregated_rows: int = Field(0, description="the rows of those periods")
    negative_values: int = 0
    non_negative_values: int = 0
    examples: dict[str, str] = Field(default_factory=dict, description="change -> its first file:line")

    @property
    def suspicious_negatives(self) -> bool:
        """A few negative values (at most :data:`FEW_NEGATIVES` of them) among non-negative ones:
        counts or sales with an error, rather than a quantity that takes both signs."""
        return 0 < self.negative_values <= FEW_NEGATIVES * (self.negative_values + self.non_negative_values)

    def changed(self) -> list[str]:
        """Each change in a few words, for a summary line or a --strict error."""
        out = []
        if self.empty_values:
            out.append(f"{self.empty_values:,} empty value(s)")
        if self.gap_periods:
            out.append(f"{self.gap_periods:,} period(s) with no row")
        out += [f"{n:,} cell(s) {how}" if how == "left missing" else f"{n:,} cell(s) filled by {how}"
                for how, n in sorted(self.filled.items())]
        if self.aggregated_periods:
            out.append(f"{self.aggregated_periods:,} period(s) whose {self.aggregated_rows:,} rows were combined")
        if self.suspicious_negatives:
            out.append(f"{self.negative_values:,} negative value(s) among {self.non_negative_values:,} non-negative ones")
        return out

    def note(self, what: str, example: str | None) -> None:
        if example is not None:
            self.examples.setdefault(what, example)


class DatasetSummary(BaseModel):
    """Summary shown by ``validate`` and stored with an imported dataset."""

    freq: str
    num_files: int
    num_series: int
    num_observations: int = Field(description="target points, missing ones included")
    length_min: int
    length_median: float
    length_max: int
    missing_share: float = Field(description="share of target points (related: values) that are missing")
    cat_cardinalities: list[int] = Field(description="per cat position: largest value + 1")
    num_dynamic_feat: int
    dynamic_feat_extension: int = Field(
        description="how many steps the dynamic features extend past the target (0 for training data)"
    )
    start_min: datetime | None = Field(description="first timestamp (none for item metadata)")
    end_max: datetime | None = Field(description="timestamp of the latest target observation")
    assigned_item_ids: int = Field(description="records without item_id that were given one")
    ignored_fields: list[str] = []
    period_end_starts: int = Field(0, description="distinct start values that were their period's last day "
                                   "(2020-01-31 for M, as pandas' resample writes periods), taken as the period's start")
    fingerprint: str = Field(description="sha256 of the validated content")
    format: Literal["jsonlines", "long"] = "jsonlines"
    dataset_type: DatasetType = DatasetType.TARGET
    dimensions: list[str] = Field(default=[], description="dimension columns: a series is an item and their values")
    feature_names: list[str] = Field(default=[], description="a related dataset's value columns")
    attributes: dict[str, Attribute] = Field(default={}, description="an item metadata dataset's columns")
    aggregation: Aggregation | None = None
    filling: Filling | None = None
    changes: ImportChanges | None = Field(None, description="what a long-format import did to the values it read")
    demand_classes: dict[str, int] | None = Field(None, description="series per demand pattern (ADI / CV^2: smooth, "
                                                  "erratic, intermittent, lumpy), as first imported")


class SummaryBuilder:
    """Accumulates a :class:`DatasetSummary` series by series, in O(number of series) memory."""

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.missing = 0
        self.cells = 0
        self.cat_max: list[int] = []
        self._hash = hashlib.sha256()
        self._max_len_by_start: dict[pd.Timestamp, int] = {}
        self.negative = self.non_negative = 0
        self.first_negative: str | None = None
        self.classes: dict[str, int] = {}

    def add(self, item_id: str, s: Series) -> None:
        values = s.target if len(s.target) or s.dynamic_feat is None else s.dynamic_feat  # related: its columns
        n = int(values.shape[-1])
        self.lengths.append(n)
        missing = int(np.isnan(values).sum())
        self.missing += missing
        self.cells += int(values.size)
        if len(s.target):
            negative = int((s.target < 0).sum())
            if negative and self.first_negative is None:
                self.first_negative = item_id
            self.negative += negative
            self.non_negative += int((s.target >= 0).sum())
            cls = classify_demand(s.target[s.target > 0], len(s.target) - missing, negative > 0)
            self.classes[cls] = self.classes.get(cls, 0) + 1
        if s.cat:
            if not self.cat_max:
                self.cat_max = list(s.cat)
            else:
                self.cat_max = [max(a, b) for a, b in zip(self.cat_max, s.cat, strict=False)]
        if self._max_len_by_start.get(s.start, -1) < n:
            self._max_len_by_start[s.start] = n
        h = self._hash
        h.update(item_id.encode())
        h.update(b"\x00")
        h.update(np.int64(s.start.value).tobytes())
        h.update(s.target.tobytes())
        if s.cat:
            h.update(np.asarray(s.cat, dtype=np.int32).tobytes())
        if s.dynamic_feat is not None:
            h.update(s.dynamic_feat.tobytes())
        h.update(b"\x01")

    def build(
        self,
        *,
        freq: str,
        num_files: int,
        num_dynamic_feat: int,
        dynamic_feat_extension: int,
        assigned_item_ids: int,
        ignored_fields: list[str],
    ) -> DatasetSummary:
        lengths = np.asarray(self.lengths, dtype=np.int64)
        total = int(lengths.sum())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ends = [
                (pd.Period(start, freq=freq) + (n - 1)).start_time
                for start, n in self._max_len_by_start.items()
            ]
        return DatasetSummary(
            freq=freq,
            num_files=num_files,
            num_series=len(lengths),
            num_observations=total,
            length_min=int(lengths.min()),
            length_median=float(np.median(lengths)),
            length_max=int(lengths.max()),
            missing_share=(self.missing / self.cells) if self.cells else 0.0,
            cat_cardinalities=[m + 1 for m in self.cat_max],
            num_dynamic_feat=num_dynamic_feat,
            dynamic_feat_extension=dynamic_feat_extension,
            start_min=min(self._max_len_by_start).to_pydatetime(),
            end_max=max(ends).to_pydatetime(),
            assigned_item_ids=assigned_item_ids,
            ignored_fields=sorted(ignored_fields),
            fingerprint=self._hash.hexdigest(),
            demand_classes={c: self.classes[c] for c in DEMAND_CLASSES if c in self.classes} or None,
            changes=ImportChanges(negative_values=self.negative, non_negative_values=self.non_negative,
                                  examples={"negative values": f"item {self.first_negative}"}) if self.negative else None,
        )
