"""Features a predictor takes beside the target: related time series (by name), item metadata
(categories encoded with a stored vocabulary, numbers standardised) and holiday indicators.

:class:`FeatureInputs` is what a user asks for; :func:`plan_features` fixes it against the data
when a predictor is created (the vocabulary, the scaling, the feature names) into a
:class:`FeaturePlan` stored in the predictor's manifest; :func:`attach_features` adds the same
features to any series later: the training data (up to the end of each target), and a forecast's
data (through the horizon), where a related dataset of future values may replace the one trained on
(what-if scenarios).

Dynamic features are stacked in this order: the target dataset's own ``dynamic_feat`` rows, the
related columns, one holiday indicator per country.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from datasets import (
    DatasetType,
    Filling,
    dataset_summary,
    iter_dataset,
    read_metadata,
    require_type,
    series_key,
)
from datasets.summary import DatasetSummary
from forecast.data import Entry
from forecast.errors import ForecastInputError
from resources import ActiveResources, InvalidInputError, Kind, Registry, Resource, Workspace

#: Items named in one message, at most.
SHOWN = 5

_TRANSFORM = re.compile(
    r"^\s*(?P<column>[^*+/\s-][^*+/]*?)\s*(?P<op>[*+/-])\s*(?P<value>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*"
    r"(?:\bwhere\b\s*(?P<where>.+))?$", re.IGNORECASE)


class Transform(BaseModel):
    """A what-if change to a related column over the forecast horizon: multiply, add, subtract or
    divide it by a number, for every series or for those matching ``where`` (item id or
    dimension values). Written ``price*0.9 where store=3`` (conditions joined with ``and``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    column: str
    op: Literal["*", "+", "-", "/"]
    value: float
    where: dict[str, str] = {}

    @classmethod
    def parse(cls, text: str) -> Transform:
        """Raises InvalidInputError with the expected form."""
        m = _TRANSFORM.match(text)
        if m is None:
            raise InvalidInputError(f"transform {text!r}: expected <column> <*|+|-|/> <number> "
                                    "[where <field>=<value> [and ...]], e.g. 'price*0.9 where store=3'")
        where: dict[str, str] = {}
        for cond in re.split(r"\s+and\s+", m.group("where") or "", flags=re.IGNORECASE):
            if not cond.strip():
                continue
            field, eq, value = cond.partition("=")
            if not eq or not field.strip() or not value.strip():
                raise InvalidInputError(f"transform {text!r}: condition {cond.strip()!r} is not <field>=<value>")
            where[field.strip()] = value.strip().strip("'\"")
        value = float(m.group("value"))
        if m.group("op") == "/" and value == 0:
            raise InvalidInputError(f"transform {text!r}: division by zero")
        return cls(column=m.group("column").strip(), op=m.group("op"), value=value, where=where)

    def __str__(self) -> str:
        cond = " and ".join(f"{k}={v}" for k, v in self.where.items())
        return f"{self.column}{self.op}{self.value:g}" + (f" where {cond}" if cond else "")

    def matches(self, entry: Entry) -> bool:
        for k, v in self.where.items():
            actual = entry.get("series_item", entry["item_id"]) if k == "item_id" else entry.get("dimensions", {}).get(k)
            if actual != v:
                return False
        return True

    def apply(self, values: np.ndarray) -> np.ndarray:
        return {"*": np.multiply, "+": np.add, "-": np.subtract, "/": np.divide}[self.op](values, self.value)


class FeatureInputs(BaseModel):
    """The datasets and calendars a predictor is asked to use beside its target dataset."""

    model_config = ConfigDict(extra="forbid")

    related: str | None = Field(default=None, description="a related time series dataset (imported with type related)")
    metadata: str | None = Field(default=None, description="an item metadata dataset (imported with type metadata)")
    holidays: list[str] = Field(default=[], description="country codes (US, FR, DE-BY ...): one holiday "
                                                         "indicator each, in history and horizon")

    @field_validator("holidays")
    @classmethod
    def _countries(cls, codes: list[str]) -> list[str]:
        import holidays as hol

        known = hol.list_supported_countries()
        out = []
        for raw in codes:
            code = raw.strip().upper()
            country, _, subdiv = code.partition("-")
            if country not in known:
                raise ValueError(f"unknown holiday country {raw!r}; use an ISO 3166 code such as US, FR, DE "
                                 "(a subdivision as DE-BY)")
            if subdiv and subdiv not in [s.upper() for s in known[country]]:
                raise ValueError(f"{country} has no subdivision {subdiv!r}; it has {', '.join(known[country][:20])}")
            out.append(code)
        if len(set(out)) != len(out):
            raise ValueError(f"holiday countries are repeated: {out}")
        return out

    @property
    def any(self) -> bool:
        return bool(self.related or self.metadata or self.holidays)


class FeaturePlan(BaseModel):
    """What a predictor's features are, fixed when it is created and stored with it."""

    related: str | None = None
    related_features: list[str] = []
    related_dimensions: list[str] = []
    related_filling: Filling | None = None
    related_scaling: list[tuple[float, float]] = Field(
        default=[], description="per related column: (mean, standard deviation) over the related dataset; the "
        "network sees standardised values (raw ones, such as a load of 70,000 MW, saturate it)")
    metadata: str | None = None
    categorical: dict[str, list[str]] = Field(default={}, description="metadata column -> vocabulary (index = code)")
    numeric: dict[str, tuple[float, float]] = Field(default={}, description="metadata column -> (mean, scale)")
    holidays: list[str] = []
    dataset_dynamic_feat: int = 0
    dataset_dimensions: list[str] = []

    @property
    def dynamic_names(self) -> list[str]:
        own = [f"dynamic_feat[{i}]" for i in range(self.dataset_dynamic_feat)]
        return own + list(self.related_features) + [f"holiday_{c}" for c in self.holidays]

    @property
    def cardinalities(self) -> list[int]:
        return [len(v) for v in self.categorical.values()]

    def describe(self) -> dict[str, Any]:
        """For ``describe``: the names of the features used and where they came from."""
        return {
            "dynamic_features": self.dynamic_names,
            "related": self.related,
            "metadata": self.metadata,
            "categorical": {k: len(v) for k, v in self.categorical.items()},
            "numeric": list(self.numeric),
            "holidays": self.holidays,
        }


def plan_features(workspace: Workspace, registry: Registry, inputs: FeatureInputs, target: Resource) -> FeaturePlan:
    """Check ``inputs`` against the target dataset and fix the features.

    Raises
    ------
    NotFoundError, ConflictError
        A named dataset is missing or not ACTIVE.
    InvalidInputError
        A dataset of the wrong type, another frequency, or dimensions the target does not have.
    """
    summary = dataset_summary(target)
    plan = FeaturePlan(holidays=inputs.holidays, dataset_dynamic_feat=summary.num_dynamic_feat,
                       dataset_dimensions=summary.dimensions)
    if inputs.related:
        rel = registry.get_active(Kind.DATASET, inputs.related)
        require_type(rel, DatasetType.RELATED, "related")
        rs = dataset_summary(rel)
        _same_grid(rs, summary, inputs.related, target.name)
        plan.related, plan.related_features = rel.name, rs.feature_names
        plan.related_dimensions, plan.related_filling = rs.dimensions, rs.filling
        plan.related_scaling = _column_scaling(workspace, rel, len(rs.feature_names))
    if inputs.metadata:
        meta = registry.get_active(Kind.DATASET, inputs.metadata)
        table = read_metadata(workspace, meta)
        ms = dataset_summary(meta)
        plan.metadata = meta.name
        for name, attr in ms.attributes.items():
            col = table.column(name)
            if attr.kind == "categorical":
                plan.categorical[name] = sorted(set(col.to_pylist()))
            else:
                values = col.to_numpy()
                scale = float(values.std()) or 1.0
                plan.numeric[name] = (float(values.mean()), scale)
    return plan


def _column_scaling(workspace: Workspace, related: Resource, k: int) -> list[tuple[float, float]]:
    """Mean and standard deviation of each related column over every series (missing values left out)."""
    count, total, squares = np.zeros(k), np.zeros(k), np.zeros(k)
    for raw in iter_dataset(workspace, related, columns=["dynamic_feat"]):
        values = np.asarray(raw["dynamic_feat"], dtype=np.float64)
        present = ~np.isnan(values)
        count += present.sum(axis=1)
        total += np.where(present, values, 0).sum(axis=1)
        squares += np.where(present, values**2, 0).sum(axis=1)
    mean = total / np.maximum(count, 1)
    std = np.sqrt(np.maximum(squares / np.maximum(count, 1) - mean**2, 0))
    return [(float(m), float(sd) if sd > 0 else 1.0) for m, sd in zip(mean, std, strict=True)]


def _same_grid(related: DatasetSummary, target: DatasetSummary, related_name: str, target_name: str) -> None:
    if related.freq != target.freq:
        raise ForecastInputError(f"related dataset {related_name!r} has frequency {related.freq} but target dataset "
                                 f"{target_name!r} has {target.freq}; import both at one frequency")
    extra = [d for d in related.dimensions if d not in target.dimensions]
    if extra:
        raise ForecastInputError(f"related dataset {related_name!r} has dimensions {extra} that target dataset "
                                 f"{target_name!r} does not have ({target.dimensions or 'none'})")


def check_transforms(plan: FeaturePlan, transforms: Sequence[Transform], dimensions: list[str]) -> None:
    """Each transform names a related column the predictor uses and conditions on known fields."""
    for t in transforms:
        if t.column not in plan.related_features:
            has = f"its related columns are {plan.related_features}" if plan.related_features else "it uses no related series"
            raise InvalidInputError(f"transform {str(t)!r}: the predictor has no related column {t.column!r}; {has}")
        unknown = [k for k in t.where if k != "item_id" and k not in dimensions]
        if unknown:
            raise InvalidInputError(f"transform {str(t)!r}: {', '.join(unknown)} is neither item_id nor a dimension "
                                    f"of the dataset ({', '.join(dimensions) or 'none'})")


def check_related_reach(related: Resource, target: DatasetSummary, horizon: int) -> None:
    """Before a forecast is registered: the related dataset reaches ``horizon`` steps past the
    target's last timestamp, or its futurefill fills the rest (each series is checked when the
    forecast runs)."""
    rs = dataset_summary(related)
    filling = rs.filling or Filling().resolved(DatasetType.RELATED)
    if filling.futurefill not in (None, "none", "nan") or rs.end_max is None or target.end_max is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        need = (pd.Period(target.end_max, freq=target.freq) + horizon).start_time
    if pd.Timestamp(rs.end_max) < need:
        raise ForecastInputError(
            f"related dataset {related.name!r} ends at {rs.end_max}, so it does not cover the forecast horizon: "
            f"the target ends at {target.end_max} and the forecast needs related values through {need} "
            f"({horizon} steps). Import it with the future values, or with `futurefill`")


def check_related_for(plan: FeaturePlan, related: Resource, target: DatasetSummary) -> None:
    """A scenario dataset given at forecast time must carry the columns the predictor was trained on."""
    require_type(related, DatasetType.RELATED, "related")
    rs = dataset_summary(related)
    _same_grid(rs, target, related.name, "the forecast's")
    missing = [c for c in plan.related_features if c not in rs.feature_names]
    if missing:
        raise ForecastInputError(f"related dataset {related.name!r} lacks column(s) {missing} that the predictor "
                                 f"was trained with ({plan.related_features})")


def attach_features(
    workspace: Workspace,
    registry: ActiveResources,
    entries: list[Entry],
    plan: FeaturePlan,
    *,
    freq: str,
    horizon: int,
    related: str | None = None,
    metadata: str | None = None,
    transforms: Sequence[Transform] = (),
) -> list[Entry]:
    """``entries`` with the plan's features, covering each target and ``horizon`` steps past it
    (0 for training). ``related`` replaces the related dataset trained on (a scenario), and
    ``metadata`` the metadata dataset (new items' attributes); ``transforms`` change related
    columns over the horizon (what-if).

    Raises
    ------
    ForecastInputError
        An item without a related series or metadata row, a related series with gaps where it is
        needed (after the dataset's backfill and futurefill), or a category the predictor never saw.
    """
    if not (plan.related or plan.metadata or plan.holidays):
        return entries
    out = [dict(e) for e in entries]
    dynamic: list[list[np.ndarray]] = [[] for _ in out]
    if plan.related:
        rel = registry.get_active(Kind.DATASET, related or plan.related)
        columns = plan.related_features
        if related:
            rs = dataset_summary(rel)
            picks = [rs.feature_names.index(c) for c in columns]
        else:
            picks = list(range(len(columns)))
        scaling = np.asarray(plan.related_scaling, dtype=np.float64).reshape(-1, 2)
        for i, block in enumerate(_related_blocks(workspace, rel, out, plan, picks, freq=freq, horizon=horizon)):
            n = len(out[i]["target"])
            for t in transforms:  # on the values as the user knows them, then standardised
                if t.matches(out[i]):
                    j = columns.index(t.column)
                    block[j, n:] = t.apply(block[j, n:])
            if len(scaling):
                block = (block - scaling[:, :1]) / scaling[:, 1:]
            dynamic[i].append(block)
    if plan.holidays:
        for i, block in enumerate(_holiday_blocks(out, plan.holidays, freq=freq, horizon=horizon)):
            dynamic[i].append(block)
    for e, blocks in zip(out, dynamic, strict=True):
        if not blocks:
            continue
        need = len(e["target"]) + horizon
        own = e.get("feat_dynamic_real")
        parts = ([own[:, :need]] if own is not None else []) + blocks
        e["feat_dynamic_real"] = np.vstack(parts).astype(np.float32)
    if plan.metadata:
        _attach_metadata(workspace, registry, out, plan, metadata or plan.metadata)
    return out


_read_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_read_lock = threading.Lock()
#: Related and metadata datasets kept read, most recent first.
READ_CACHE_SIZE = 2


def _read_once(key: tuple[Any, ...], read: Callable[[], Any]) -> Any:
    """``read()``, once per key while it stays among the :data:`READ_CACHE_SIZE` most recent: a
    forecast attaches features partition by partition, and each partition reads the same related
    and metadata datasets (artifacts never change once written, so the key is their folder)."""
    with _read_lock:
        if key in _read_cache:
            _read_cache.move_to_end(key)
            return _read_cache[key]
    value = read()
    with _read_lock:
        _read_cache[key] = value
        while len(_read_cache) > READ_CACHE_SIZE:
            _read_cache.popitem(last=False)
    return value


def _related_blocks(workspace: Workspace, rel: Resource, entries: Sequence[Entry], plan: FeaturePlan,
                    picks: list[int], *, freq: str, horizon: int) -> list[np.ndarray]:
    """Each entry's related columns over its target and horizon, filled per the related dataset's
    backfill and futurefill; an item without a series, or gaps left, is an error naming them."""
    rs = dataset_summary(rel)
    filling = rs.filling or Filling().resolved(DatasetType.RELATED)
    names = rs.dimensions

    def read() -> dict[str, tuple[pd.Period, np.ndarray]]:
        by_key = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for raw in iter_dataset(workspace, rel):
                dims = dict(zip(names, raw.get("dimensions") or [], strict=True))
                by_key[series_key(str(raw["item_id"]), dims)] = (
                    pd.Period(raw["start"], freq=freq), np.asarray(raw["dynamic_feat"], dtype=np.float64)[picks])
        return by_key

    by_key = _read_once((workspace.root, rel.artifact, "related", tuple(picks), freq), read)
    missing, gaps, blocks = [], [], []
    for e in entries:
        dims = {d: e.get("dimensions", {}).get(d) for d in names}
        key = series_key(str(e.get("series_item", e["item_id"])), dims)
        hit = by_key.get(key)
        n = len(e["target"])
        if hit is None:
            missing.append(key)
            blocks.append(np.zeros((len(picks), n + horizon)))
            continue
        r_start, values = hit
        offset = int((e["start"] - r_start).n) if e["start"] >= r_start else -int((r_start - e["start"]).n)
        block = np.full((len(picks), n + horizon), np.nan)
        lo, hi = max(0, -offset), min(n + horizon, values.shape[1] - offset)
        if hi > lo:
            block[:, lo:hi] = values[:, lo + offset:hi + offset]
        last = hi  # positions from here on lie past the related series' end
        for j in range(len(picks)):
            observed = values[j][~np.isnan(values[j])]
            back = _fill_value(filling.backfill, observed, filling.fill_value)
            future = _fill_value(filling.futurefill, observed, filling.fill_value)
            if back is not None:
                block[j, last:n] = np.where(np.isnan(block[j, last:n]), back, block[j, last:n])
            if future is not None:
                tail = slice(max(last, n), n + horizon)
                block[j, tail] = np.where(np.isnan(block[j, tail]), future, block[j, tail])
        bad = np.isnan(block)
        if bad.any():
            j, pos = np.argwhere(bad)[0]
            when = (e["start"] + int(pos)).start_time
            part = "the forecast horizon" if pos >= n else "the target's history"
            gaps.append(f"{key}: column {plan.related_features[j]!r} has no value at {when} (in {part})")
        blocks.append(block)
    if missing:
        raise ForecastInputError(f"{len(missing)} item(s) have no series in related dataset {rel.name!r}: "
                                 f"{', '.join(map(repr, missing[:SHOWN]))}" + (" ..." if len(missing) > SHOWN else ""))
    if gaps:
        raise ForecastInputError(
            f"related dataset {rel.name!r} does not cover what the predictor needs in {len(gaps)} series "
            f"(every step of the target's history{' and the ' + str(horizon) + '-step horizon' if horizon else ''}): "
            + "; ".join(gaps[:SHOWN]) + (" ..." if len(gaps) > SHOWN else "")
            + ". Import it with the values, or with `middlefill`, `backfill` or `futurefill`")
    return blocks


def _fill_value(method: str | None, observed: np.ndarray, value: float | None) -> float | None:
    if method in (None, "none", "nan") or (len(observed) == 0 and method not in ("zero", "value")):
        return None
    if method == "zero":
        return 0.0
    if method == "value":
        return value
    return float({"mean": np.mean, "median": np.median, "min": np.min, "max": np.max}[method](observed))


def _holiday_blocks(entries: Sequence[Entry], countries: list[str], *, freq: str, horizon: int) -> list[np.ndarray]:
    """One 0/1 row per country: whether the period holds one of its public holidays."""
    import holidays as hol

    first = min(e["start"] for e in entries)
    last = max(e["start"] + (len(e["target"]) + horizon - 1) for e in entries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        periods = pd.period_range(first, last, freq=freq)
    day_lo = periods.start_time.values.astype("datetime64[D]")
    day_hi = periods.end_time.values.astype("datetime64[D]")
    years = range(int(periods[0].start_time.year), int(periods[-1].end_time.year) + 1)
    rows = []
    for code in countries:
        country, _, subdiv = code.partition("-")
        days = np.array(sorted(hol.country_holidays(country, subdiv=subdiv or None, years=years)), dtype="datetime64[D]")
        count = np.searchsorted(days, day_hi, side="right") - np.searchsorted(days, day_lo, side="left")
        rows.append((count > 0).astype(np.float64))
    table = np.vstack(rows)
    out = []
    for e in entries:
        at = int((e["start"] - first).n)
        out.append(table[:, at:at + len(e["target"]) + horizon])
    return out


def _attach_metadata(workspace: Workspace, registry: ActiveResources, entries: list[Entry], plan: FeaturePlan,
                     name: str) -> None:
    meta = registry.get_active(Kind.DATASET, name)
    table = _read_once((workspace.root, meta.artifact, "metadata"), lambda: read_metadata(workspace, meta))
    absent = [c for c in [*plan.categorical, *plan.numeric] if c not in table.column_names]
    if absent:
        raise ForecastInputError(f"metadata dataset {meta.name!r} lacks column(s) {absent} that the predictor "
                                 "was trained with")
    rows = {v: i for i, v in enumerate(table.column("item_id").to_pylist())}
    codes = {c: {v: k for k, v in enumerate(vocab)} for c, vocab in plan.categorical.items()}
    values = {c: table.column(c).to_pylist() for c in [*plan.categorical, *plan.numeric]}
    missing: list[str] = []
    unseen: dict[str, set[str]] = {}
    for e in entries:
        item = str(e.get("series_item", e["item_id"]))
        row = rows.get(item)
        if row is None:
            missing.append(item)
            continue
        cats = []
        for c, lookup in codes.items():
            code = lookup.get(values[c][row])
            if code is None:
                unseen.setdefault(c, set()).add(str(values[c][row]))
                code = 0
            cats.append(code)
        own = list(e.get("feat_static_cat", []))
        if cats:
            e["feat_static_cat"] = np.asarray(own + cats, dtype=np.int64)
        if plan.numeric:
            e["feat_static_real"] = np.asarray(
                [(float(values[c][row]) - m) / s for c, (m, s) in plan.numeric.items()], dtype=np.float32)
    if missing:
        raise ForecastInputError(f"{len(missing)} item(s) have no row in metadata dataset {meta.name!r}: "
                                 f"{', '.join(map(repr, missing[:SHOWN]))}" + (" ..." if len(missing) > SHOWN else ""))
    if unseen:
        detail = "; ".join(f"{c}: {', '.join(map(repr, sorted(v)[:SHOWN]))}" for c, v in unseen.items())
        raise ForecastInputError(
            f"metadata dataset {meta.name!r} has categories the predictor never saw in training ({detail}); "
            "a category's effect is learned in training, so retrain the predictor with them")
