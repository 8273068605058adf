"""Stored dataset -> gluonts data entries, the facts training checks, and backtest splits.

Entries are plain dicts with gluonts field names (``start`` as ``pd.Period``, ``target`` float32,
``feat_static_cat``, ``feat_static_real``, ``feat_dynamic_real``, ``item_id``); gluonts'
transformations take them as is. A series of a dataset with dimensions has the series key as its
``item_id`` (``A|store=3``, unique), with ``series_item`` (``A``) and ``dimensions``
(``{"store": "3"}``) beside it; :func:`model_view` removes those two.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from datasets import dataset_summary, iter_dataset, series_key
from datasets.summary import DatasetSummary
from forecast.config import DataFacts
from resources import Resource, Workspace

Entry = dict[str, Any]


#: Entry fields that name a series for people and exports; models never see them.
SERIES_FIELDS = ("series_item", "dimensions")


def to_entry(raw: dict[str, Any], freq: str, dimension_names: list[str] | None = None) -> Entry:
    """One stored series (or an HTTP instance) as a gluonts entry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entry: Entry = {
            "item_id": raw.get("item_id"),
            "start": pd.Period(raw["start"], freq=freq),
            "target": np.asarray(raw["target"], dtype=np.float32),
        }
    if dimension_names and raw.get("dimensions") is not None:
        dims = dict(zip(dimension_names, raw["dimensions"], strict=True))
        entry["series_item"] = str(raw["item_id"])
        entry["dimensions"] = dims
        entry["item_id"] = series_key(str(raw["item_id"]), dims)
    if raw.get("cat") is not None:
        entry["feat_static_cat"] = np.asarray(raw["cat"], dtype=np.int64)
    if raw.get("dynamic_feat") is not None:
        entry["feat_dynamic_real"] = np.asarray(raw["dynamic_feat"], dtype=np.float32)
    return entry


def load_entries_iter(workspace: Workspace, dataset: Resource, *, rows: tuple[int, int] | None = None
                      ) -> Iterator[Entry]:
    """The series of an imported dataset in stored order, streamed: all, or rows ``[start, stop)``."""
    freq = dataset.spec["freq"]
    names = dataset_summary(dataset).dimensions
    return (to_entry(raw, freq, names) for raw in iter_dataset(workspace, dataset, rows=rows))


def load_entries(workspace: Workspace, dataset: Resource, *, rows: tuple[int, int] | None = None) -> list[Entry]:
    """All series of an imported dataset (or rows ``[start, stop)``), in stored order."""
    return list(load_entries_iter(workspace, dataset, rows=rows))


def facts_of(entries: list[Entry], summary: DatasetSummary, *, extra_cardinalities: list[int] | None = None
             ) -> DataFacts:
    """The facts of ``entries`` with their features attached (:func:`forecast.features.attach_features`):
    dynamic and static feature counts are read off the entries, cardinalities are the dataset's
    ``cat`` ones and then ``extra_cardinalities`` (metadata categories)."""
    lengths = np.fromiter((len(e["target"]) for e in entries), dtype=np.int64, count=len(entries))
    lo, hi = np.inf, -np.inf
    integer = True
    for e in entries:
        t = e["target"]
        if np.isfinite(t).any():
            lo = min(lo, float(np.nanmin(t)))
            hi = max(hi, float(np.nanmax(t)))
            if integer:
                finite = t[np.isfinite(t)]
                integer = bool((finite == np.round(finite)).all())
    return DataFacts(
        num_series=len(entries),
        lengths_min=int(lengths.min()),
        lengths_max=int(lengths.max()),
        target_min=lo if np.isfinite(lo) else 0.0,
        target_max=hi if np.isfinite(hi) else 0.0,
        target_integer=integer,
        cat_cardinalities=[*summary.cat_cardinalities, *(extra_cardinalities or [])],
        num_dynamic_feat=_rows(entries, "feat_dynamic_real"),
        num_static_real=_rows(entries, "feat_static_real"),
        freq=summary.freq,
    )


def merge_facts(parts: Sequence[DataFacts]) -> DataFacts:
    """The facts of several partitions' series as one (in partition order)."""
    first = parts[0]
    return first.model_copy(update={
        "num_series": sum(p.num_series for p in parts),
        "lengths_min": min(p.lengths_min for p in parts),
        "lengths_max": max(p.lengths_max for p in parts),
        "target_min": min(p.target_min for p in parts if p.num_series),
        "target_max": max(p.target_max for p in parts if p.num_series),
        "target_integer": all(p.target_integer for p in parts),
    })


def _rows(entries: list[Entry], field: str) -> int:
    value = entries[0].get(field) if entries else None
    return 0 if value is None else int(np.shape(value)[0])


def truncate(entries: Iterable[Entry], drop: int, *, keep_future_feat: int = 0, min_length: int = 1) -> list[Entry]:
    """Drop the last ``drop`` target points of every series (features keep ``keep_future_feat``
    points past the new end). Series left shorter than ``min_length`` are left out."""
    out = []
    for e in entries:
        n = len(e["target"]) - drop
        if n < min_length:
            continue
        cut = dict(e)
        cut["target"] = e["target"][:n]
        if "feat_dynamic_real" in e:
            cut["feat_dynamic_real"] = e["feat_dynamic_real"][:, : n + keep_future_feat]
        out.append(cut)
    return out


def model_view(entries: Iterable[Entry], *, num_dynamic_feat: int, num_cat: int, for_training: bool,
               num_static_real: int = 0) -> list[Entry]:
    """Entries as the estimator was configured: fields it does not use are removed; for training,
    dynamic features are cut to the target length (for inference they must reach past it)."""
    out = []
    for e in entries:
        v = {k: x for k, x in e.items() if k not in SERIES_FIELDS}
        if num_static_real == 0:
            v.pop("feat_static_real", None)
        if num_dynamic_feat == 0:
            v.pop("feat_dynamic_real", None)
        elif for_training and "feat_dynamic_real" in v:
            v["feat_dynamic_real"] = v["feat_dynamic_real"][:, : len(v["target"])]
        if num_cat == 0:
            v.pop("feat_static_cat", None)
        out.append(v)
    return out
