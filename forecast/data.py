"""Stored dataset -> gluonts data entries, the facts training checks, and backtest splits.

Entries are plain dicts with gluonts field names (``start`` as ``pd.Period``, ``target`` float32,
``feat_static_cat``, ``feat_dynamic_real``, ``item_id``); gluonts' transformations take them as is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from datasets import iter_dataset
from datasets.summary import DatasetSummary
from forecast.config import DataFacts
from resources import Resource, Workspace

Entry = dict[str, Any]


def to_entry(raw: dict[str, Any], freq: str) -> Entry:
    """One stored series (or an HTTP instance) as a gluonts entry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entry: Entry = {
            "item_id": raw.get("item_id"),
            "start": pd.Period(raw["start"], freq=freq),
            "target": np.asarray(raw["target"], dtype=np.float32),
        }
    if raw.get("cat") is not None:
        entry["feat_static_cat"] = np.asarray(raw["cat"], dtype=np.int64)
    if raw.get("dynamic_feat") is not None:
        entry["feat_dynamic_real"] = np.asarray(raw["dynamic_feat"], dtype=np.float32)
    return entry


def load_entries(workspace: Workspace, dataset: Resource) -> list[Entry]:
    """All series of an imported dataset, in stored order."""
    freq = dataset.spec["freq"]
    return [to_entry(raw, freq) for raw in iter_dataset(workspace, dataset)]


def facts_of(entries: list[Entry], summary: DatasetSummary) -> DataFacts:
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
        cat_cardinalities=summary.cat_cardinalities,
        num_dynamic_feat=summary.num_dynamic_feat,
        freq=summary.freq,
    )


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


def model_view(entries: Iterable[Entry], *, num_dynamic_feat: int, num_cat: int, for_training: bool) -> list[Entry]:
    """Entries as the estimator was configured: fields it does not use are removed; for training,
    dynamic features are cut to the target length (for inference they must reach past it)."""
    out = []
    for e in entries:
        v = dict(e)
        if num_dynamic_feat == 0:
            v.pop("feat_dynamic_real", None)
        elif for_training and "feat_dynamic_real" in v:
            v["feat_dynamic_real"] = v["feat_dynamic_real"][:, : len(v["target"])]
        if num_cat == 0:
            v.pop("feat_static_cat", None)
        out.append(v)
    return out
