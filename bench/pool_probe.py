"""Averaging the members' quantiles (today) against averaging their distributions (a linear pool).

    .venv/bin/python bench/pool_probe.py tourism-quarterly m1-quarterly [--seed 0 1 2] [--store DIR]

Today ``auto`` combines its members by the weighted average of their quantiles at each level
(Vincentization): the combined spread is the average spread, however much the members disagree.
A linear pool mixes the members' distributions instead (the combined CDF is the weighted average
of theirs), so where the members disagree its intervals are wider. The statistical members'
intervals are too narrow on most of the suite (AutoTheta's 80 % intervals hold 51-70 % of the test
points: "AutoTheta's exact spread" in bench/README.md), which is where a pool should help.

One real ``auto`` training per set and seed (the service's ``create_predictor``), recording each
member's forecast of the validation window and of the backtest window at the levels 0.01..0.99 (the
service asks for 0.1..0.9 and the median: the grid is widened underneath and only those levels are
handed back, so the training and its reported figures are unchanged). Then, on the same member
forecasts:

- ``quantile average (today)``: the service's greedy weights and ``combine``: must reproduce the
  predictor's reported figures (the check that the capture is right);
- ``pool, today's weights``: the linear pool with the same weights;
- ``pool, its own weights``: greedy selection (the service's rounds and score) with the pool as
  the combination;
- ``half and half``: the average of today's quantiles and the pool's with today's weights;
- ``today's median, pool's spread``: the pool (today's weights) shifted so its median is today's:
  the point forecast and MASE stay today's, the intervals widen where the members disagree;
- ``400 paths, ...``: the same training, with DeepAR's quantiles read from 400 sample paths instead
  of 100 (recorded beside them), weights chosen again on the validation window;
- ``weights per volume group (G)``: the items split into G equal groups by volume (the mean absolute
  value of their last season) and greedy selection run per group, each group scored by its share of
  the whole set's score (mean wQL is a volume-weighted sum over items, MASE a plain mean: the large
  series decide wQL, the many small ones MASE, and one global weighting has to serve both).

``--hindsight`` also prints the best global weights (steps of 0.05) chosen on the backtest window
itself, by wQL and by MASE, and the front of weightings no other beats on both: not a method (it
looks at the answers) but the bound on what any choice of global weights for these members could
reach, e.g. whether a pair of MASE and wQL targets is reachable at all; and the same front with
weights per volume group (each group's weights on the same grid; the lower convex hull, by a sweep
of the trade-off between the two metrics, which are both sums over items).

Prints one JSON line per set, seed and combiner (MASE and mean wQL on the backtest window) and,
over several pairs, each against today's as ``combiners_bench.py`` does.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: DeepAR's sample paths in the ``more paths`` variants (the service's default is 100).
MORE_PATHS = 400
#: How many volume groups the ``weights per volume group`` variants split the items into.
VOLUME_GROUPS = (2, 3)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))


def pool(weights: np.ndarray, quantiles: list[np.ndarray], grid: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles at ``levels`` of the mixture of the members' distributions. ``weights`` ``(N, M)``
    (rows summing to 1), ``quantiles`` M arrays ``(N, L, H)`` at the levels ``grid`` (each
    member's CDF linear between its quantiles, and beyond the outer ones down to 0 and up to 1 over
    the distance its outer 4 % span). Returns ``(N, len(levels), H)``."""
    n, _, h = quantiles[0].shape
    knots = [np.moveaxis(q, 1, 2).reshape(n * h, -1).astype(np.float64) for q in quantiles]  # (R, L)
    # the tails beyond the outer levels: linear to 0 and 1, as far out as the outer 4 % reach
    knots = [np.concatenate([k[:, :1] - (k[:, 4:5] - k[:, :1]), k, k[:, -1:] + (k[:, -1:] - k[:, -5:-4])], axis=1)
             for k in knots]
    grid = np.concatenate([[0.0], grid, [1.0]])
    w = np.repeat(weights, h, axis=0)  # (R, M)
    cand = np.sort(np.concatenate(knots, axis=1), axis=1)  # (R, C)
    rows = np.arange(cand.shape[0])[:, None]
    lo, hi = cand[:, :1], cand[:, -1:]
    width = np.where(hi > lo, hi - lo, 1.0)

    def norm(v: np.ndarray) -> np.ndarray:  # every row into its own interval [2r, 2r + 1]
        return (v - lo) / width + 2 * rows

    cdf = np.zeros_like(cand)
    flat_c = norm(cand).ravel()
    for j, k in enumerate(knots):
        if not w[:, j].any():
            continue
        idx = (np.searchsorted(norm(k).ravel(), flat_c, side="right").reshape(cand.shape) - rows * k.shape[1])
        left = np.clip(idx - 1, 0, k.shape[1] - 1)
        right = np.clip(idx, 0, k.shape[1] - 1)
        kl, kr = np.take_along_axis(k, left, 1), np.take_along_axis(k, right, 1)
        t = np.where(kr > kl, (cand - kl) / np.where(kr > kl, kr - kl, 1.0), 0.0)
        f = grid[left] + np.clip(t, 0, 1) * (grid[right] - grid[left])
        f = np.where(idx == 0, grid[0], np.where(idx >= k.shape[1], grid[-1], f))
        cdf += w[:, j, None] * f
    cdf = np.maximum.accumulate(cdf, axis=1)
    # invert: for each level, the first candidate whose CDF reaches it, linear from the one before
    pos = np.stack([(cdf < tau).sum(axis=1) for tau in levels], axis=1)  # (R, K)
    right = np.clip(pos, 0, cand.shape[1] - 1)
    left = np.clip(pos - 1, 0, cand.shape[1] - 1)
    cl, cr = np.take_along_axis(cdf, left, 1), np.take_along_axis(cdf, right, 1)
    xl, xr = np.take_along_axis(cand, left, 1), np.take_along_axis(cand, right, 1)
    t = np.where(cr > cl, (levels[None, :] - cl) / np.where(cr > cl, cr - cl, 1.0), 1.0)
    out = xl + np.clip(t, 0, 1) * (xr - xl)
    return np.moveaxis(out.reshape(n, h, len(levels)), 2, 1)


def volume_groups(histories: list[np.ndarray], season: int, groups: int) -> np.ndarray:
    """Each item's group ``0..groups-1`` by the mean absolute value of its last season (equal-sized
    groups, the largest items in the last)."""
    volume = np.array([np.abs(h[np.isfinite(h)][-max(season, 1):]).mean() for h in histories])
    rank = np.argsort(np.argsort(volume, kind="stable"), kind="stable")
    return np.minimum(rank * groups // len(histories), groups - 1)


def joined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Member forecasts of consecutive batches of items (name -> (quantiles, mean)) as one."""
    return {n: (np.concatenate([b[n][0] for b in parts]), np.concatenate([b[n][1] for b in parts])) for n in parts[0]}


def todays_backtest(seen: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """`auto`'s backtest forecasts as the captured training made them: its members' quantiles at
    the service's levels combined with the weights it chose; ``(quantiles, mean)``."""
    from forecast.models.ensemble import combine

    _, _, actuals, levels, season, grid = seen["validation"]
    pick = [grid.index(level) for level in levels]
    members = {n: (q[:, pick, :], m) for n, (q, m) in joined(seen["backtest"]).items()}
    entries = [{"target": h} for h in seen["backtest_histories"]]
    return combine(seen["weights"], members, entries, actuals.shape[1], season)


def capture(set_name: str, seed: int) -> dict[str, Any]:
    from suite_deepar_bench import train_in_process

    from forecast.models import ensemble
    from forecast.models.base import SAMPLING_LEVELS

    seen: dict[str, Any] = {"backtest": []}
    last: dict[str, Any] = {}
    member_forecasts = ensemble.EnsembleModel.member_forecasts

    def widened(self: Any, entries: Any, levels: Any, **kw: Any) -> Any:
        grid = sorted(set(levels) | set(SAMPLING_LEVELS))
        fine = member_forecasts(self, entries, grid, **kw)
        last["fine"], last["grid"] = fine, grid
        if "deepar" in kw["names"]:  # the same network's quantiles from more sample paths
            more = member_forecasts(self, entries, grid, **{**kw, "names": ["deepar"], "num_samples": MORE_PATHS})
            last["fine_more"] = {**fine, **more}
        pick = [grid.index(level) for level in levels]
        return {n: (q[:, pick, :], m) for n, (q, m) in fine.items()}

    select = ensemble.select_weights

    def recording_select(forecasts: Any, entries: Any, actuals: Any, levels: Any, season: int, *rest: Any) -> Any:
        weights, report = select(forecasts, entries, actuals, levels, season, *rest)
        seen["validation"] = (last["fine"], [np.asarray(e["target"], dtype=np.float64) for e in entries], actuals,
                              list(levels), season, last["grid"])
        seen["weights"] = weights
        seen["validation_more"] = last.get("fine_more")
        return weights, report

    predict = ensemble.EnsembleModel.predict

    def recording_predict(self: Any, entries: Any, levels: Any, **kw: Any) -> Any:
        for p in predict(self, entries, levels, **kw):
            if kw.get("members"):
                seen["backtest"].append(last["fine"])
                seen.setdefault("backtest_more", []).append(last.get("fine_more"))
            yield p
        if kw.get("members"):
            seen["backtest_histories"] = [np.asarray(e["target"], dtype=np.float64) for e in entries]

    ensemble.EnsembleModel.member_forecasts = widened  # type: ignore[method-assign]
    ensemble.select_weights = recording_select
    ensemble.EnsembleModel.predict = recording_predict  # type: ignore[method-assign]
    try:
        r = train_in_process(set_name, seed=seed)
    finally:
        ensemble.EnsembleModel.member_forecasts = member_forecasts  # type: ignore[method-assign]
        ensemble.select_weights = select
        ensemble.EnsembleModel.predict = predict  # type: ignore[method-assign]
    seen["reported"] = r.result["metrics"]
    return seen


def captured(set_name: str, seed: int, store: Path | None) -> dict[str, Any]:
    """The capture of one training, read from ``store`` when it holds it (else trained and kept there)."""
    from combiners_bench import kept

    return kept(store / f"{set_name}-seed{seed}-fine.pkl" if store else None, lambda: capture(set_name, seed))


def compare(set_name: str, seed: int, store: Path | None, oracle: bool = False) -> list[dict[str, Any]]:
    from suite import load

    from forecast.metrics import accuracy, per_item_quantile_loss, seasonal_naive, seasonal_scale
    from forecast.models.ensemble import combine, greedy_selection, item_weights, select_weights

    seen = captured(set_name, seed, store)
    fine_val, histories, actuals, levels, season, grid = seen["validation"]
    names = list(fine_val)
    grid_a = np.asarray(grid)
    pick = [grid.index(level) for level in levels]
    median = levels.index(0.5)
    lv = np.asarray(levels)
    nonnegative = all(bool((h[np.isfinite(h)] >= 0).all()) for h in histories)

    def coarse(fine: dict[str, Any]) -> dict[str, Any]:
        return {n: (q[:, pick, :], m) for n, (q, m) in fine.items()}

    def pooled(w: dict[str, float], fine: dict[str, Any], entries: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        ww, ok = item_weights(w, fine, entries)  # the service's: unusable members left out per item
        q = pool(ww, [np.where(ok[:, j, None, None], fine[n][0], 0.0) for j, n in enumerate(names)], grid_a, lv)
        if nonnegative:
            q = np.maximum(q, 0.0)
        mean = sum(ww[:, j, None] * np.where(ok[:, j, None], fine[n][1], 0.0) for j, n in enumerate(names))
        return q.astype(np.float32), np.asarray(mean, dtype=np.float32)

    val_entries = [{"target": h} for h in histories]
    val_scale = np.array([seasonal_scale(h, season) for h in histories])
    naive = np.stack([seasonal_naive(h, actuals.shape[1], season) for h in histories])
    base, _ = accuracy(actuals, np.repeat(naive[:, None, :], len(levels), axis=1), levels, naive, naive, val_scale)

    def greedy_pool(fine_val: dict[str, Any]) -> dict[str, float]:
        def score(w: dict[str, float]) -> float:
            q, mean = pooled(w, fine_val, val_entries)
            acc, _ = accuracy(actuals, q, levels, mean, q[:, median, :], val_scale)
            return acc.mean_wql / base.mean_wql + acc.mase / base.mase

        return greedy_selection(names, score)

    def shares(y: np.ndarray, q: np.ndarray, scale: np.ndarray, denominator: float, items: int) -> np.ndarray:
        """Each item's share of the set's mean wQL and of its MASE, relative to seasonal naive's
        on the validation window, ``(N,)``: their sum over all items is the selection score."""
        ql = per_item_quantile_loss(y, q.astype(np.float64), lv).sum(axis=1)
        mase = np.nanmean(np.abs(y - q[:, median, :]), axis=1) / scale
        return (2 * ql / len(levels) / denominator) / base.mean_wql + (mase / items) / base.mase

    def group_weights(fine_val: dict[str, Any], groups: int) -> list[dict[str, float]]:
        """Greedy selection per volume group on the validation window, each group scored by its
        share of the whole set's score."""
        members, labels, chosen = coarse(fine_val), volume_groups(histories, season, groups), []
        for g in range(groups):
            idx = np.flatnonzero(labels == g)
            sub = {n: (q[idx], m[idx]) for n, (q, m) in members.items()}

            def score(w: dict[str, float], idx: np.ndarray = idx, sub: dict[str, Any] = sub) -> float:
                q, _ = combine(w, sub, [val_entries[i] for i in idx], actuals.shape[1], season)
                return float(shares(actuals[idx], q, val_scale[idx], float(np.abs(actuals).sum()), len(actuals)).sum())

            chosen.append(greedy_selection(names, score))
        return chosen

    def recentred(q_pool: np.ndarray, q_avg: np.ndarray) -> np.ndarray:
        """The pool's quantiles moved so that its median is the quantile average's."""
        q = q_pool + (q_avg[:, median : median + 1, :] - q_pool[:, median : median + 1, :])
        return np.maximum(q, 0.0) if nonnegative else q

    bt_hist = seen["backtest_histories"]
    bt_entries = [{"target": h} for h in bt_hist]
    y = np.stack(load(set_name).test).astype(np.float64)
    bt_scale = np.array([seasonal_scale(h, season) for h in bt_hist])
    horizon = y.shape[1]
    variants: list[tuple[str, np.ndarray, np.ndarray, Any]] = []
    bt_fine = joined(seen["backtest"])
    today = seen["weights"]
    q_today, m_today = todays_backtest(seen)
    q_pool, m_pool = pooled(today, bt_fine, bt_entries)
    own = greedy_pool(fine_val)
    variants += [("quantile average (today)", q_today, m_today, today),
                 ("pool, today's weights", q_pool, m_pool, today),
                 ("pool, its own weights", *pooled(own, bt_fine, bt_entries), own),
                 ("half and half", (q_today + q_pool) / 2, m_today, today),
                 ("today's median, pool's spread", recentred(q_pool, q_today), m_today, today)]
    for groups in VOLUME_GROUPS:
        chosen = group_weights(fine_val, groups)
        per_item = np.array([[chosen[g].get(n, 0.0) for n in names] for g in volume_groups(bt_hist, season, groups)])
        variants.append((f"weights per volume group ({groups})",
                         *combine(per_item, coarse(bt_fine), bt_entries, horizon, season), chosen))
    if seen.get("validation_more"):  # DeepAR's quantiles from MORE_PATHS sample paths
        val_more, bt_more = seen["validation_more"], joined(seen["backtest_more"])
        chosen, _ = select_weights(coarse(val_more), val_entries, actuals, levels, season)
        own_more = greedy_pool(val_more)
        variants += [(f"{MORE_PATHS} paths, quantile average", *combine(chosen, coarse(bt_more), bt_entries, horizon,
                                                                         season), chosen),
                     (f"{MORE_PATHS} paths, pool, its own weights", *pooled(own_more, bt_more, bt_entries), own_more)]
    if oracle:  # hindsight: global weights (steps of 0.05) chosen on the backtest window itself
        results = []
        for counts in itertools.product(range(21), repeat=len(names) - 1):
            if sum(counts) <= 20:
                w = dict(zip(names, [c / 20 for c in counts] + [(20 - sum(counts)) / 20], strict=True))
                q, mean = combine(w, coarse(bt_fine), bt_entries, horizon, season)
                acc, _ = accuracy(y, q, levels, mean, q[:, median, :], bt_scale)
                results.append((acc.mean_wql, acc.mase, w))
        for label, key in (("hindsight, best wQL", 0), ("hindsight, best MASE", 1)):
            wql, mase, w = min(results, key=lambda r: r[key])
            print(json.dumps({"set": set_name, "seed": seed, "combiner": label, "mase": round(mase, 4),
                              "mean_wql": round(wql, 4), "weights": w}), flush=True)
        front, lowest = [], np.inf  # the weightings no other beats on both metrics, by MASE
        for wql, mase, w in sorted(results, key=lambda r: (r[1], r[0])):
            if wql < lowest:
                front.append({"mase": round(mase, 4), "mean_wql": round(wql, 4), "weights": w})
                lowest = wql
        print(json.dumps({"set": set_name, "seed": seed, "hindsight front": front}), flush=True)
        # per volume group: every weighting's share of the test window's wQL and MASE, per item
        grid_w = [r[2] for r in results]
        wql_share, mase_share = np.zeros((len(grid_w), len(y))), np.zeros((len(grid_w), len(y)))
        for k, w in enumerate(grid_w):
            q, _ = combine(w, coarse(bt_fine), bt_entries, horizon, season)
            wql_share[k] = 2 * per_item_quantile_loss(y, q.astype(np.float64), lv).sum(axis=1) / len(levels) / np.abs(y).sum()
            mase_share[k] = np.nanmean(np.abs(y - q[:, median, :]), axis=1) / bt_scale / len(y)
        for groups in VOLUME_GROUPS:
            labels, hull = volume_groups(bt_hist, season, groups), set()
            for trade in np.concatenate([np.linspace(0, 0.2, 81), np.linspace(0.25, 5, 20)]):
                picks = [int((wql_share[:, labels == g].sum(1) + trade * mase_share[:, labels == g].sum(1)).argmin())
                         for g in range(groups)]
                hull.add((round(float(sum(mase_share[k, labels == g].sum() for g, k in enumerate(picks))), 4),
                          round(float(sum(wql_share[k, labels == g].sum() for g, k in enumerate(picks))), 4)))
            print(json.dumps({"set": set_name, "seed": seed, f"hindsight front, {groups} volume groups":
                              [{"mase": m, "mean_wql": w} for m, w in sorted(hull)]}), flush=True)
    rows = []
    for label, q, mean, w in variants:
        acc, _ = accuracy(y, q, levels, mean, q[:, median, :], bt_scale)
        rows.append({"set": set_name, "seed": seed, "combiner": label, "mase": round(acc.mase, 4),
                     "mean_wql": round(acc.mean_wql, 4), "weights": w})
        print(json.dumps(rows[-1]), flush=True)
    rep = seen["reported"]["predictor"]
    print(json.dumps({"set": set_name, "seed": seed, "combiner": "reported by the predictor",
                      "mase": round(rep["mase"], 4), "mean_wql": round(rep["mean_wql"], 4)}), flush=True)
    return rows


def main() -> None:
    from combiners_bench import summarize

    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--store", type=Path, default=None,
                    help="keep each training's capture here and read it back on later runs")
    ap.add_argument("--hindsight", action="store_true",
                    help="also the best global weights chosen on the backtest window itself (an upper bound, not a method)")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for seed in args.seed:
        for set_name in args.sets:
            rows.extend(compare(set_name, seed, args.store, args.hindsight))
    if len(rows) > 4:
        summarize([{**r, "combiner": "global" if r["combiner"] == "quantile average (today)" else r["combiner"]}
                   for r in rows])


if __name__ == "__main__":
    main()
