"""Column values of long-format sources to numbers and timestamps, a batch at a time.

Each parser returns the values and a mask of the rows it could not read, so problems are reported
per row without a Python loop over good rows: pyarrow's kernels take the common case, pandas
locates the bad values of a batch that has any.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FLOAT32_MAX = float(np.finfo(np.float32).max)
_OFFSET = r"(?:[zZ]|[+-]\d{2}:?\d{2})$"


def as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A key column (item id, dimension) as strings; numbers keep their decimal form (7, not 7.0)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_floating(values.type):
        whole = pc.fill_null(pc.equal(values, pc.round(values)), True)
        if pc.all(whole).as_py():
            values = pc.cast(values, pa.int64(), safe=False)
    if pa.types.is_large_string(values.type) or not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def as_key_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A key column as strings, like :func:`as_strings`; a dictionary-encoded column stays encoded
    (its dictionary made strings), so ten million rows of a few thousand ids cost an int32 each."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        return pa.DictionaryArray.from_arrays(values.indices, as_strings(values.dictionary))
    return as_strings(values)


def empty_keys(values: pa.Array) -> np.ndarray:
    """The rows of a key column (from :func:`as_key_strings`) that are null or empty strings."""
    if pa.types.is_dictionary(values.type):
        empty = _empty_strings(values.dictionary)
        indices = values.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return values.is_null().to_numpy(zero_copy_only=False) | (empty[indices] if len(empty) else False)
    return _empty_strings(values)


def _empty_strings(values: pa.Array) -> np.ndarray:
    return (values.is_null().to_numpy(zero_copy_only=False)
            | (pc.utf8_length(values).fill_null(0).to_numpy(zero_copy_only=False) == 0))


def parse_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray, str]:
    """float64 values (NaN where missing: empty, null or ``NaN``), the rows that are not numbers or
    lie beyond float32, and what a bad row's message should say."""
    t = values.type
    if pa.types.is_boolean(t):
        return np.full(len(values), np.nan), np.ones(len(values), bool), "is a boolean, not a number"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        strings = as_strings(values)
        try:
            out = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raw = pd.Series(strings.to_pandas(), dtype=object)
            out = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            text = raw.astype(str).str.strip().str.lower()
            bad = np.isnan(out) & raw.notna().to_numpy() & ~text.isin(["", "nan", "null", "na"]).to_numpy()
            return out, bad | _beyond_float32(out), "is not a number, or is beyond the float32 range (about ±3.4e38)"
    out = np.asarray(out, dtype=np.float64)
    bad = _beyond_float32(out)
    if bad.any():
        return out, bad, "is infinite or beyond the float32 range (about ±3.4e38)"
    return out, bad, ""


def _beyond_float32(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.abs(values) > FLOAT32_MAX


def parse_timestamps(values: pa.Array, *, fmt: str | None, timezone: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Naive wall-clock timestamps as int64 nanoseconds and the rows that could not be read
    (missing, unparseable, or outside pandas' range). Timestamps with a zone offset are converted
    to ``timezone``'s wall clock (UTC when none is given); those without one are taken as they are."""
    t = values.type
    zone = timezone or "UTC"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        if pa.types.is_timestamp(t) and t.tz is not None:
            values = pc.local_timestamp(pc.cast(values, pa.timestamp(t.unit, zone)))
        try:
            ns = pc.cast(values, pa.timestamp("ns"))
        except pa.ArrowInvalid:  # beyond 1677..2262 in a coarser unit
            ns = pa.array(pd.to_datetime(values.to_pandas(), errors="coerce"), pa.timestamp("ns"))
        return _ns(ns)
    strings = as_strings(values)
    parsed: pa.Array | None = None
    try:
        if fmt:
            parsed = pc.strptime(strings, format=fmt, unit="ns", error_is_null=True)
        else:
            parsed = pc.cast(strings, pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = None
    if parsed is not None and parsed.null_count == strings.null_count:
        return _ns(parsed)
    raw = pd.Series(strings.to_pandas(), dtype=object).str.strip()
    aware = raw.str.contains(_OFFSET, regex=True, na=False).to_numpy()
    out = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    form = fmt or "ISO8601"
    if (~aware).any():
        out[~aware] = pd.to_datetime(raw[~aware], format=form, errors="coerce")
    if aware.any():
        local = pd.to_datetime(raw[aware], format=form, errors="coerce", utc=True)
        out[aware] = local.dt.tz_convert(zone).dt.tz_localize(None)
    ns = out.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return ns, out.isna().to_numpy()


def _ns(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    bad = arr.is_null().to_numpy(zero_copy_only=False)
    ns = pc.fill_null(pc.cast(arr, pa.int64()), np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)
    return ns, bad


#: strftime formats tried on timestamps the reader could not read, most common first.
FORMAT_CANDIDATES = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%Y", "%d.%m.%Y %H:%M", "%d-%m-%Y", "%m-%d-%Y", "%Y%m%d", "%Y%m%d%H%M%S",
    "%Y %b", "%Y %B", "%b %Y", "%B %Y", "%Y-%b", "%b-%Y", "%b-%y", "%Y %m", "%Y-%m", "%Y/%m", "%m/%Y",
    "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y", "%a, %d %b %Y %H:%M:%S", "%Y",
)


def propose_timestamp_format(samples: list[str]) -> str | None:
    """A strftime format that reads every one of ``samples`` (timestamps the reader could not
    read), if one of the common ones does; ``None`` otherwise."""
    from datetime import datetime

    texts = [t.strip() for t in samples if t and t.strip()][:20]
    if not texts:
        return None
    for fmt in FORMAT_CANDIDATES:
        try:
            for t in texts:
                datetime.strptime(t, fmt)
        except ValueError:
            continue
        return fmt
    return None
