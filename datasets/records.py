"""Validate one raw record at a time and turn it into a typed :class:`Series`.

:class:`RecordValidator` keeps the cross-record state (item ids seen, the number of ``cat`` and
``dynamic_feat`` entries the first good record had) and collects every :class:`Problem` up to a
cap, so a user sees all that is wrong with a file in one go.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from datasets.errors import ProblemLog
from datasets.frequency import misalignment, period_end_start
from datasets.schema import ALIASES, CAT, DYNAMIC_FEAT, ITEM_ID, KNOWN_FIELDS, START, TARGET


@dataclass(slots=True)
class Series:
    """One valid series. ``target`` is float32 with NaN for missing values; ``dynamic_feat`` has
    shape ``(num_features, len(target) + extension)``. A related time series has an empty target
    and its named columns in ``dynamic_feat``. ``dimensions`` are the values of the dataset's
    dimension columns and ``key`` the series key (:func:`datasets.long_format.series_key`)."""

    item_id: str | None
    start: pd.Timestamp
    target: np.ndarray
    cat: list[int] | None
    dynamic_feat: np.ndarray | None
    dimensions: tuple[str, ...] | None = None
    key: str | None = None


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_NUMBER_TYPES = frozenset({int, float, type(None)})  # numpy turns None into NaN for float dtypes
_MISSING_TYPES = frozenset({int, float, str, type(None)})


#: Timestamps pandas can hold (nanoseconds since 1970 in 64 bits), for messages.
TIMESTAMP_RANGE = f"{pd.Timestamp.min.ceil('D').date()} .. {pd.Timestamp.max.floor('D').date()}"


def in_timestamp_range(ts: pd.Timestamp) -> bool:
    """Whether ``ts`` fits pandas' nanosecond timestamps (about 1677-09-22 .. 2262-04-11)."""
    try:
        ts.as_unit("ns")
    except (OverflowError, ValueError):  # OutOfBoundsDatetime is a ValueError
        return False
    return True


def _finite_float32(arr: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """``arr`` as float32, or the position of the first value that is infinite or beyond float32."""
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32, copy=False)
    bad = np.isinf(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return None, (f"value {float(arr[i])!r} at position {i} is infinite or beyond the float32 range "
                      "(about ±3.4e38); missing values are written \"NaN\" or null")
    return out, None


def parse_target(values: Any) -> tuple[np.ndarray | None, str | None]:
    """Parse a target list: finite numbers within float32, with ``"NaN"`` or ``null`` for missing
    values."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return _finite_float32(values) if len(values) else (None, "is empty")
    if not isinstance(values, (list, tuple, np.ndarray)):
        return None, f"must be a list of numbers, got {type(values).__name__}"
    if len(values) == 0:
        return None, "is empty"
    types = set(map(type, values))
    if int in types and any(v.__class__ is int and abs(v) > 2**128 for v in values):  # beyond float64 too
        values = [float("inf") if v.__class__ is int and abs(v) > 2**128 else v for v in values]
    if types <= _NUMBER_TYPES:
        return _finite_float32(np.array(values, dtype=np.float64))
    if types <= _MISSING_TYPES and all(
        s.strip().lower() == "nan" for s in {v for v in values if v.__class__ is str}
    ):
        return _finite_float32(np.array([None if v.__class__ is str else v for v in values], dtype=np.float64))
    for i, v in enumerate(values):
        if not (v is None or _is_number(v) or (isinstance(v, str) and v.strip().lower() == "nan")):
            return None, (
                f"value {v!r} at position {i} is not a number "
                '(missing values are written "NaN" or null)'
            )
    return None, "must be a flat list of numbers"  # pragma: no cover - unreachable for JSON input


def parse_feature_row(values: Any) -> tuple[np.ndarray | None, str | None]:
    """Parse one ``dynamic_feat`` row: numbers only, no missing values."""
    if not isinstance(values, (list, tuple, np.ndarray)):
        return None, f"must be a list of numbers, got {type(values).__name__}"
    arr: np.ndarray | None
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "fiu" or bool in set(map(type, values)):
        for i, v in enumerate(values):
            if v is None or (isinstance(v, str) and v.strip().lower() == "nan"):
                return None, f"has a missing value at position {i}; dynamic features may not have gaps"
            if not _is_number(v):
                return None, f"value {v!r} at position {i} is not a number"
        return None, "must be a flat list of numbers"
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        return None, f"has a missing or non-finite value at position {i}; dynamic features may not have gaps"
    return arr.astype(np.float32), None


class RecordValidator(ProblemLog):
    """Checks records one by one against ``freq`` and the records seen before them."""

    def __init__(self, freq: str, *, max_problems: int = 100) -> None:
        super().__init__(max_problems=max_problems)
        self.freq = freq
        self.period_end_starts = 0  # starts given as their period's last day, aligned to its start
        self.ignored_fields: set[str] = set()
        self._ids: dict[str, str] = {}
        self._num_cat: tuple[int, str] | None = None
        self._feat_shape: tuple[int, int, str] | None = None
        self._starts: dict[Any, tuple[pd.Timestamp | None, str | None]] = {}

    # -- fields ----------------------------------------------------------------
    def _start(self, raw: Any) -> tuple[pd.Timestamp | None, str | None]:
        key = raw if isinstance(raw, (str, int, float)) else repr(raw)
        cached = self._starts.get(key)
        if cached is not None:
            return cached
        result: tuple[pd.Timestamp | None, str | None]
        if not isinstance(raw, (str, datetime, date, pd.Timestamp)):
            result = None, f'must be a timestamp string such as "2009-11-01 00:00:00", got {raw!r}'
        else:
            try:
                ts = pd.Timestamp(raw)
            except (ValueError, TypeError) as e:
                result = None, f"cannot parse {raw!r} as a timestamp ({e})"
            else:
                if ts is pd.NaT:
                    result = None, f"cannot parse {raw!r} as a timestamp"
                elif not in_timestamp_range(ts):
                    result = None, f"{raw!r} is outside the supported range {TIMESTAMP_RANGE}"
                else:
                    if ts.tz is not None:
                        ts = ts.tz_localize(None)
                    problem = misalignment(ts, self.freq)
                    aligned = period_end_start(ts, self.freq) if problem else None
                    if aligned is not None:  # a period stamped with its last day: its start
                        result = aligned, None
                        self.period_end_starts += 1
                    else:
                        result = ts, problem
        if len(self._starts) < 100_000:
            self._starts[key] = result
        return result

    def check(self, file: str, line: int, obj: dict[str, Any]) -> Series | None:
        """Validate one decoded record; return the series, or ``None`` after recording problems."""
        before = len(self.problems) + (1 if self.truncated else 0)
        where = f"{file}:{line}"
        for alias, name in ALIASES.items():
            if alias in obj:
                if name in obj:
                    self.add(file, line, alias, f"both {alias!r} and {name!r} are given; use one")
                else:
                    obj[name] = obj[alias]
        for key in obj:
            if key not in KNOWN_FIELDS:
                self.ignored_fields.add(key)

        # start
        start: pd.Timestamp | None = None
        if obj.get(START) is None:
            self.add(file, line, START, "is missing")
        else:
            start, err = self._start(obj[START])
            if err is not None:
                self.add(file, line, START, err)
                start = None

        # target
        target: np.ndarray | None = None
        if TARGET not in obj or obj[TARGET] is None:
            self.add(file, line, TARGET, "is missing")
        else:
            target, err = parse_target(obj[TARGET])
            if err is not None:
                self.add(file, line, TARGET, err)

        # item_id
        item_id: str | None = None
        raw_id = obj.get(ITEM_ID)
        if raw_id is not None:
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
                self.add(file, line, ITEM_ID, f"must be a string, got {raw_id!r}")
            elif str(raw_id) == "":
                self.add(file, line, ITEM_ID, "is empty")
            else:
                item_id = str(raw_id)
                first = self._ids.get(item_id)
                if first is not None:
                    self.add(file, line, ITEM_ID, f"duplicate item_id {item_id!r} (first seen at {first})")
                else:
                    self._ids[item_id] = where

        # cat
        cat: list[int] | None = None
        raw_cat = obj.get(CAT)
        if raw_cat is not None:
            if isinstance(raw_cat, np.ndarray):
                raw_cat = raw_cat.tolist()
            if not isinstance(raw_cat, (list, tuple)):
                self.add(file, line, CAT, f"must be a list of non-negative integers, got {raw_cat!r}")
            else:
                bad = [v for v in raw_cat if isinstance(v, bool) or not isinstance(v, int) or v < 0]
                if bad:
                    self.add(file, line, CAT, f"values must be non-negative integers; got {bad[0]!r}")
                elif any(v >= 2**31 for v in raw_cat):
                    self.add(file, line, CAT, "values must be below 2**31")
                else:
                    cat = list(raw_cat)
        n_cat = len(cat) if cat is not None else (0 if raw_cat is None else None)
        if n_cat is not None:
            if self._num_cat is None:
                self._num_cat = (n_cat, where)
            elif self._num_cat[0] != n_cat:
                self.add(
                    file, line, CAT,
                    f"has {n_cat} entries but earlier records have {self._num_cat[0]} (as at {self._num_cat[1]})",
                )

        # dynamic_feat
        feats: np.ndarray | None = None
        raw_feat = obj.get(DYNAMIC_FEAT)
        n_feat: int | None = 0 if raw_feat is None else None
        if raw_feat is not None:
            if not isinstance(raw_feat, (list, tuple, np.ndarray)) or len(raw_feat) == 0:
                self.add(file, line, DYNAMIC_FEAT, "must be a non-empty list of lists of numbers (one per feature)")
            else:
                rows, ok = [], True
                for k, row in enumerate(raw_feat):
                    arr, err = parse_feature_row(row)
                    if err is not None:
                        self.add(file, line, f"{DYNAMIC_FEAT}[{k}]", err)
                        ok = False
                        break
                    rows.append(arr)
                if ok:
                    lengths = {len(r) for r in rows}
                    n_feat = len(rows)
                    if len(lengths) != 1:
                        self.add(file, line, DYNAMIC_FEAT, f"feature rows have different lengths {sorted(lengths)}")
                    elif target is not None and rows[0].shape[0] < target.shape[0]:
                        self.add(
                            file, line, DYNAMIC_FEAT,
                            f"feature rows have length {rows[0].shape[0]}, shorter than the target ({target.shape[0]})",
                        )
                    elif target is not None:
                        feats = np.vstack(rows)
        if n_feat is not None:
            extension = (feats.shape[1] - target.shape[0]) if (feats is not None and target is not None) else 0
            if self._feat_shape is None:
                if n_feat == 0 or feats is not None:
                    self._feat_shape = (n_feat, extension, where)
            elif self._feat_shape[0] != n_feat:
                self.add(
                    file, line, DYNAMIC_FEAT,
                    f"has {n_feat} features but earlier records have {self._feat_shape[0]} (as at {self._feat_shape[2]})",
                )
            elif feats is not None and self._feat_shape[1] != extension:
                want = self._feat_shape[1]
                self.add(
                    file, line, DYNAMIC_FEAT,
                    f"feature rows must have length len(target) + {want} = {target.shape[0] + want} "  # type: ignore[union-attr]
                    f"like earlier records (as at {self._feat_shape[2]}), got {feats.shape[1]}",
                )

        if start is not None and target is not None:
            end = end_of_series(start, len(target) + self.dynamic_feat_extension, self.freq)
            if end is None:
                self.add(file, line, TARGET, f"{len(target)} values from {start} run past the supported "
                         f"range {TIMESTAMP_RANGE} at frequency {self.freq}")
        if len(self.problems) + (1 if self.truncated else 0) != before or start is None or target is None:
            return None
        return Series(item_id=item_id, start=start, target=target, cat=cat, dynamic_feat=feats)

    @property
    def num_cat(self) -> int:
        return self._num_cat[0] if self._num_cat else 0

    @property
    def num_dynamic_feat(self) -> int:
        return self._feat_shape[0] if self._feat_shape else 0

    @property
    def dynamic_feat_extension(self) -> int:
        return self._feat_shape[1] if self._feat_shape else 0


def end_of_series(start: pd.Timestamp, periods: int, freq: str) -> pd.Timestamp | None:
    """The start of the period ``periods`` after ``start``'s, or ``None`` past pandas' range
    (memoised: series of one source mostly share their start and length, and pandas' period
    arithmetic costs tens of microseconds a call)."""
    return _end_of_series(start, periods, freq)


@functools.lru_cache(maxsize=4096)
def _end_of_series(start: pd.Timestamp, periods: int, freq: str) -> pd.Timestamp | None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            end = (pd.Period(start, freq=freq) + periods).start_time
    except (OverflowError, ValueError):
        return None
    return end if in_timestamp_range(end) else None


def decode_json_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Decode one JSON-lines row; bare ``NaN`` (as Python's json writes it) is accepted."""
    import orjson

    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            return None, f"invalid JSON: {e}"
    if not isinstance(obj, dict):
        return None, f"each line must be a JSON object, got {type(obj).__name__}"
    return obj, None
