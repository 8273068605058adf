"""Refit or update: how AutoETS and AutoTheta should forecast from a later origin.

    .venv/bin/python bench/origin_update_bench.py tourism-monthly tourism-quarterly [--seed 0] --store /work/captures

A statistical model fitted at one origin can forecast from a later one (``h`` more points) three
ways: fitted again from scratch (``refit``: what the service does at every origin), its
parameters and model form kept and only the state updated with the newer points (``update``:
statsforecast's ``forward``, milliseconds per series), or its model form kept and the parameters
estimated again (``form``: only the chosen ETS/Theta form fitted, not the whole search).

Reads the captures ``combiners_bench.py`` stores (one real ``auto`` training per set and seed: the
members' validation-window and backtest-window forecasts as the service computed them), fits each
member (``--members``, default ``ets,theta``) at the validation origin, and forecasts the backtest
window the three ways; ``refit`` is the service's own (checked: it reproduces the captured
forecasts). The ensemble keeps the captured weights (the validation window does not change), so
each line is a paired comparison on the backtest window: MASE and mean wQL (0.1..0.9) of each
member and of the ensemble, and the seconds of each way on this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))


def _entries(histories: list[np.ndarray]) -> list[dict[str, Any]]:
    return [{"item_id": str(i), "start": 0, "target": h} for i, h in enumerate(histories)]


def _forecast(model: Any, entries: list[dict[str, Any]], levels: list[float]) -> tuple[np.ndarray, np.ndarray]:
    parts = list(model.predict(entries, levels, num_samples=100, seed=0))
    return np.concatenate([p.quantiles for p in parts]), np.concatenate([p.mean for p in parts])


def _ways(args: tuple[str, int, int, np.ndarray, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One series: (mean, sigma) updated and form-kept from a fit on ``y_val``; {} if either fails."""
    import warnings

    from statsforecast.models import AutoETS, AutoTheta

    from forecast.models.statistical import gaussian_from_interval

    name, season, h, y_val, y_bt = args
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            if name == "ets":
                model = AutoETS(season_length=season).fit(y_val)
                error, trend, seasonal = str(model.model_["method"])[4:-1].split(",")  # "ETS(M,Ad,M)"
                same_form = AutoETS(season_length=season, model=error + trend[0] + seasonal, damped=trend.endswith("d"))
            else:
                model = AutoTheta(season_length=season).fit(y_val)
                same_form = AutoTheta(season_length=season, model=model.model_["modeltype"],
                                      decomposition_type=model.model_.get("decomposition_type", "multiplicative"))
            return {"update": gaussian_from_interval(model.forward(y=y_bt, h=h, level=[80])),
                    "form": gaussian_from_interval(same_form.fit(y_bt).predict(h=h, level=[80]))}
        except Exception:  # noqa: BLE001 - that series keeps the refit's forecast in both ways
            return {}


def run(set_name: str, seed: int, store: Path, members: list[str]) -> None:
    from combiners_bench import captured
    from suite import load

    from forecast.metrics import accuracy, seasonal_naive, seasonal_scale
    from forecast.models.ensemble import combine, greedy_selection
    from forecast.models.statistical import StatisticalModel, gaussian_quantiles

    seen = captured(set_name, seed, None, store)
    forecasts, histories, actuals, levels, season = seen["validation"]
    median = levels.index(0.5)
    val_entries = [{"target": h} for h in histories]
    val_scale = np.array([seasonal_scale(h, season) for h in histories])
    naive = np.stack([seasonal_naive(h, actuals.shape[1], season) for h in histories])
    base, _ = accuracy(actuals, np.repeat(naive[:, None, :], len(levels), axis=1), levels, naive, naive, val_scale)

    def global_score(w: dict[str, float]) -> float:
        q, mean = combine(w, forecasts, val_entries, actuals.shape[1], season)
        acc, _ = accuracy(actuals, q, levels, mean, q[:, median, :], val_scale)
        return (acc.mean_wql or 0) / base.mean_wql + (acc.mase or 0) / base.mase

    weights = greedy_selection(list(forecasts), global_score)  # the service's, as combiners_bench replays it

    parts = seen["backtest"]
    bt_hist = seen["backtest_histories"]
    captured_bt = {n: (np.concatenate([p[n][0] for p in parts]), np.concatenate([p[n][1] for p in parts]))
                   for n in parts[0]}
    y = np.stack(load(set_name).test).astype(np.float64)
    bt_entries = [{"target": h} for h in bt_hist]
    bt_scale = np.array([seasonal_scale(h, season) for h in bt_hist])
    h = y.shape[1]
    nonnegative = all(np.nanmin(x) >= 0 for x in bt_hist if np.isfinite(x).any())
    cfg = SimpleNamespace(prediction_length=h, num_dynamic_feat=0, hp=SimpleNamespace(algorithm="auto", refit=False))

    def score(fc: dict[str, tuple[np.ndarray, np.ndarray]], w: dict[str, float]) -> tuple[float, float]:
        q, mean = combine(w, fc, bt_entries, h, season)
        acc, _ = accuracy(y, q, levels, mean, q[:, median, :], bt_scale)
        return round(acc.mase, 4), round(acc.mean_wql, 4)

    variants: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {v: dict(captured_bt) for v in ("refit", "form", "update")}
    seconds: dict[str, dict[str, float]] = {}
    for name in members:
        t0 = time.perf_counter()
        variants["refit"][name] = _forecast(StatisticalModel(name, cfg, season, nonnegative), _entries(bt_hist), levels)  # type: ignore[arg-type]
        seconds[name] = {"refit": round(time.perf_counter() - t0, 1)}
        gap = float(np.nanmax(np.abs(variants["refit"][name][0] - captured_bt[name][0])))
        assert gap <= 1e-5 * max(1.0, float(np.nanmax(np.abs(captured_bt[name][0])))), (name, gap)
        t0 = time.perf_counter()
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            ways = list(pool.map(_ways, [(name, season, h, a, b) for a, b in zip(histories, bt_hist, strict=True)],
                                 chunksize=8))
        seconds[name]["update and form, from a validation fit"] = round(time.perf_counter() - t0, 1)
        seconds[name]["series that failed"] = sum(1 for w in ways if not w)
        for way in ("update", "form"):
            q, m = (np.array(a) for a in variants["refit"][name])
            for i, w in enumerate(ways):
                if w:
                    qi, mi = gaussian_quantiles(w[way][0][None], w[way][1][None], levels, nonnegative)
                    q[i], m[i] = qi[0], mi[0]
            variants[way][name] = (q, m)
    out = {"set": set_name, "seed": seed, "weights": weights,
           "auto": {v: score(fc, weights) for v, fc in variants.items()}, "seconds": seconds}
    out["auto"]["reported"] = [round(seen["reported"]["predictor"][k], 4) for k in ("mase", "mean_wql")]
    for name in members:
        out[name] = {v: score(fc, {name: 1.0}) for v, fc in variants.items()}
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, required=True, help="the captures combiners_bench.py keeps")
    ap.add_argument("--members", default="ets,theta")
    args = ap.parse_args()
    for set_name in args.sets:
        run(set_name, args.seed, args.store, args.members.split(","))


if __name__ == "__main__":
    main()
