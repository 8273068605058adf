"""Ways to combine the auto predictor's members, compared on the same member forecasts.

    .venv/bin/python bench/combiners_bench.py tourism-quarterly m1-quarterly [--seed 0 1 2] [--epochs 100]

One real ``auto`` training per set (the service's own ``create_predictor``, default members and
settings; ``--epochs`` only for quick looks) with two hooks that record what it already computes:
the members' forecasts of the validation window (the window before the backtest) with its actuals,
and the members' forecasts of the backtest window (the competition's test window) with its
actuals. Then every combiner chooses its weights on the validation window only and is scored on
the backtest window, all on the same forecasts, so the comparison is paired and costs one
training:

- ``global``: today's greedy ensemble selection (one weight per member, scored on mean wQL + MASE,
  each relative to seasonal naive);
- ``per-level``: the same greedy selection run per quantile level on that level's weighted
  quantile loss, and for the median/mean on MASE; quantiles sorted per step afterwards so they
  never cross;
- ``equal``: every member the same weight; ``best``: the member with the best validation score;
- ``shrink-0.5``: halfway between the greedy weights and equal ones;
- ``top-k equal``: the k members best on validation, equally; ``within-x% equal``: every member
  whose validation score is within x % of the best one's, equally;
- ``inverse-score^p`` (p = 1, 4, 8, and h/2 or h: growing with the validation window's length h):
  weights proportional to the validation score to the power -p;
- ``greedy sQL``, ``greedy sQL+MASE``, ``greedy wQL+sQL+MASE``: today's greedy selection with
  another validation score. sQL is the scaled quantile loss: each series' mean quantile loss
  divided by its in-sample seasonal-naive error (as MASE scales the absolute error), averaged
  over the series, so every series counts the same; mean wQL instead weights each series by its
  size, so on one short window a few large series decide it. Each term is relative to seasonal
  naive's on the same window.

- ``per-item greedy``: greedy selection for each item on its own validation points, scored on
  the item's sQL plus its MASE; ``per-cluster greedy (k=4)``: items grouped by k-means on three
  features of their history (log length, strength of seasonality: seasonal-naive error over
  naive error, and noise: naive error over mean level), each group's weights chosen by today's
  greedy selection on its own items (a group under 20 items takes the global weights).

- ``calibrated spreads``: each member's quantiles first widened or narrowed about its median by
  the factor (0.4-3.0, steps of 0.05) that minimises its own mean wQL on the validation window
  (conformal-style recalibration), then today's greedy selection; the backtest forecasts get
  the same factors.

- ``greedy wQL+sQL``: today's greedy selection scored on mean wQL plus sQL (no MASE term).
- ``+naive``, ``+drift``, ``+seasonal naive``, ``+naive+drift+seasonal naive``: today's greedy
  selection with cheap baselines as extra candidates (statsforecast's Naive, RandomWalkWithDrift,
  SeasonalNaive, Gaussian around the point forecast as the statistical members).
- ``k windows, one selection`` / ``k windows, two-stage`` (k = 2, 3): weights chosen on k
  validation windows, the captured one and the k-1 before it, where the statistical members are
  fitted again at each earlier origin (kept in ``STORE/windows``: the same for every seed).
  DeepAR has only the captured window (its network trained before it: the earlier windows are in
  its training data). ``one selection`` runs today's greedy selection on all windows' series
  together, DeepAR's forecasts missing (left out, the rest renormalised) on the earlier ones;
  ``two-stage`` chooses the statistical members' blend on all windows, then DeepAR's share
  against that blend on the captured window.

Prints one JSON line per set, seed and combiner (MASE and mean wQL on the backtest window), then,
with several sets or seeds, each combiner against ``global`` over every (set, seed) pair:
geometric means of the ratios, the worst ratio, and the pairs more than 1 % worse on either.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))


def scaled_ql(y: np.ndarray, q: np.ndarray, levels: list[float], scale: np.ndarray) -> float:
    """Mean over the series of each one's mean quantile loss (levels x observed steps, twice the
    pinball loss as in wQL) divided by its seasonal-naive scale; series without a usable scale are
    left out."""
    observed = ~np.isnan(y)
    loss = np.zeros(len(y))
    for i, tau in enumerate(levels):
        d = np.where(observed, y - q[:, i, :], 0.0)
        loss += 2 * np.where(d >= 0, tau * d, (tau - 1) * d).sum(axis=1)
    points = observed.sum(axis=1) * len(levels)
    ok = np.isfinite(scale) & (scale > 0) & (points > 0)
    return float(np.mean(loss[ok] / points[ok] / scale[ok])) if ok.any() else float("nan")


def item_features(histories: list[np.ndarray], season: int) -> np.ndarray:
    """(N, 3) standardised: log length, log(seasonal-naive error / naive error), log(naive error /
    mean absolute level)."""
    from forecast.metrics import seasonal_scale

    rows = []
    for h in histories:
        one, seasonal = seasonal_scale(h, 1), seasonal_scale(h, season)
        level = float(np.nanmean(np.abs(h))) if len(h) else 0.0
        rows.append([np.log(max(len(h), 1)), np.log((seasonal + 1e-9) / (one + 1e-9)),
                     np.log((one + 1e-9) / (level + 1e-9))])
    x = np.nan_to_num(np.array(rows))
    return (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)


def kmeans(x: np.ndarray, k: int, rounds: int = 50) -> np.ndarray:
    """Labels of Lloyd's k-means with k-means++ starts (seeded: the same groups on every run)."""
    rng = np.random.default_rng(0)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min([((x - c) ** 2).sum(axis=1) for c in centres], axis=0)
        centres.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.integers(len(x))])
    c = np.array(centres)
    for _ in range(rounds):
        labels = ((x[:, None, :] - c[None]) ** 2).sum(axis=2).argmin(axis=1)
        c = np.array([x[labels == j].mean(axis=0) if (labels == j).any() else c[j] for j in range(k)])
    return labels


def per_item_greedy(forecasts: dict[str, tuple[np.ndarray, np.ndarray]], entries: list[dict[str, Any]],
                    actuals: np.ndarray, levels: list[float], season: int, scale: np.ndarray) -> np.ndarray:
    """Greedy selection run for every item at once on its own points: each round adds, per item,
    the member that most lowers the item's sQL + MASE. Returns weights ``(N, M)``."""
    from forecast.models.ensemble import ROUNDS, combine

    names = list(forecasts)
    n, m = len(actuals), len(names)
    median = levels.index(0.5)
    observed = ~np.isnan(actuals)
    points = np.maximum(observed.sum(axis=1), 1)
    s = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    counts = np.zeros((n, m))
    for r in range(1, ROUNDS + 1):
        scores = np.empty((n, m))
        for j in range(m):
            trial = counts.copy()
            trial[:, j] += 1
            q, _ = combine(trial / r, forecasts, entries, actuals.shape[1], season)
            d = np.where(observed[:, None, :], actuals[:, None, :] - q, 0.0)
            tau = np.asarray(levels)[None, :, None]
            ql = (2 * np.where(d >= 0, tau * d, (tau - 1) * d)).sum(axis=(1, 2)) / (points * len(levels))
            ae = np.abs(d[:, median, :]).sum(axis=1) / points
            scores[:, j] = np.nan_to_num((ql + ae) / s, nan=np.inf)
        counts[np.arange(n), scores.argmin(axis=1)] += 1
    return counts / ROUNDS


SPREADS = np.round(np.arange(0.4, 3.0001, 0.05), 2)


def spread(q: np.ndarray, factor: float, median: int, nonnegative: bool) -> np.ndarray:
    """Quantiles ``(N, Q, H)`` scaled about the median by ``factor`` (order kept for factor > 0)."""
    out = q[:, median : median + 1, :] + factor * (q - q[:, median : median + 1, :])
    return np.maximum(out, 0.0) if nonnegative else out


def capture(set_name: str, seed: int, epochs: int | None) -> dict[str, Any]:
    from suite_deepar_bench import train_in_process

    from forecast.models import ensemble

    seen: dict[str, Any] = {}
    select = ensemble.select_weights

    def recording_select(forecasts: Any, entries: Any, actuals: Any, levels: Any, season: int, *rest: Any) -> Any:
        seen["validation"] = (forecasts, [np.asarray(e["target"], dtype=np.float64) for e in entries], actuals,
                              list(levels), season)
        return select(forecasts, entries, actuals, levels, season, *rest)

    predict = ensemble.EnsembleModel.predict

    def recording_predict(self: Any, entries: Any, levels: Any, **kw: Any) -> Any:
        if kw.get("members"):
            seen["backtest_histories"] = [np.asarray(e["target"], dtype=np.float64) for e in entries]
        for p in predict(self, entries, levels, **kw):
            if kw.get("members"):
                seen.setdefault("backtest", []).append(p)
            yield p

    ensemble.select_weights = recording_select
    ensemble.EnsembleModel.predict = recording_predict  # type: ignore[method-assign]
    r = train_in_process(set_name, seed=seed, **({"epochs": epochs} if epochs else {}))
    ensemble.select_weights = select
    ensemble.EnsembleModel.predict = predict  # type: ignore[method-assign]
    seen["reported"] = r.result["metrics"]
    return seen


def kept(path: Path | None, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """What ``make()`` returns, read back from ``path`` when it exists, else made and written there
    (atomically: a run stopped half-way leaves no file)."""
    if path is not None and path.exists():
        with path.open("rb") as f:
            return pickle.load(f)  # our own file, written below
    seen = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(seen, f)
        tmp.replace(path)
    return seen


def captured(set_name: str, seed: int, epochs: int | None, store: Path | None) -> dict[str, Any]:
    """The capture of one training, read from ``store`` when it holds it (else trained and kept there)."""
    def make() -> dict[str, Any]:
        seen = capture(set_name, seed, epochs)
        seen["backtest"] = [p.members for p in seen["backtest"]]  # only what the comparison reads
        return seen

    return kept(store / f"{set_name}-seed{seed}{f'-e{epochs}' if epochs else ''}.pkl" if store else None, make)


#: Cheap baselines tried as extra candidates (statsforecast's Naive, RandomWalkWithDrift, SeasonalNaive).
BASELINES = ("naive", "drift", "seasonal naive")
#: Validation windows of the "more windows" combiners: the captured one and the ones before it.
WINDOWS = 3


def baseline_forecasts(name: str, histories: list[np.ndarray], horizon: int, season: int, levels: list[float],
                       nonnegative: bool) -> tuple[np.ndarray, np.ndarray]:
    """One baseline's quantiles and mean from each history, Gaussian around its point forecast
    with statsforecast's own 80 % interval, as the service's statistical members are."""
    from statsforecast.models import Naive, RandomWalkWithDrift, SeasonalNaive

    from forecast.models.statistical import (
        clean_history,
        gaussian_from_interval,
        gaussian_quantiles,
    )

    means, sigmas = [], []
    for h in histories:
        y = clean_history(h)
        model = {"naive": Naive(), "drift": RandomWalkWithDrift(),
                 "seasonal naive": SeasonalNaive(season_length=season if len(y) > season else 1)}[name]
        mean, sigma = gaussian_from_interval(model.forecast(y=y, h=horizon, level=[80]))
        means.append(mean)
        sigmas.append(sigma)
    return gaussian_quantiles(np.stack(means), np.stack(sigmas), levels, nonnegative)


def earlier_windows(set_name: str, seen: dict[str, Any], store: Path | None) -> list[dict[str, Any]]:
    """The statistical members refitted at the origins 1 .. WINDOWS-1 horizons before the captured
    validation window's (the service's own per-series fits), with those windows' actuals; a series
    too short for a window is left out of it. The same for every seed: kept in ``store/windows``."""
    import forecast.models.statistical as st

    path = store / "windows" / f"{set_name}.pkl" if store else None
    if path is not None and path.exists():
        with path.open("rb") as f:
            return pickle.load(f)  # our own file, written below
    forecasts, histories, actuals, levels, season = seen["validation"]
    horizon = actuals.shape[1]
    nonnegative = all(bool((h[np.isfinite(h)] >= 0).all()) for h in seen["backtest_histories"])
    out: list[dict[str, Any]] = []
    current = list(histories)
    for _ in range(1, WINDOWS):
        current = [h for h in current if len(h) > horizon + 2]
        window_actuals = np.stack([h[-horizon:] for h in current])
        current = [h[:-horizon] for h in current]
        members: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in forecasts:
            if name == "deepar":
                continue  # trained before the captured window: these windows are in its training data
            results = st.run_jobs([st.FitJob(name, season, horizon, st.clean_history(h)) for h in current], None)
            members[name] = st.gaussian_quantiles(np.stack([r.mean for r in results]),
                                                  np.stack([r.sigma for r in results]), levels, nonnegative)
        out.append({"forecasts": members, "histories": list(current), "actuals": window_actuals})
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            pickle.dump(out, f)
    return out


def compare(set_name: str, seed: int, epochs: int | None, store: Path | None) -> list[dict[str, Any]]:
    from suite import load

    from forecast.metrics import accuracy, seasonal_naive, seasonal_scale
    from forecast.models.ensemble import combine, greedy_selection, select_weights

    seen = captured(set_name, seed, epochs, store)
    rows: list[dict[str, Any]] = []
    forecasts, histories, actuals, levels, season = seen["validation"]
    median = levels.index(0.5)
    entries = [{"target": h} for h in histories]

    def scale_of(hist: list[np.ndarray]) -> np.ndarray:
        return np.array([seasonal_scale(h, season) for h in hist])

    val_scale = scale_of(histories)
    naive = np.stack([seasonal_naive(h, actuals.shape[1], season) for h in histories])
    naive_q = np.repeat(naive[:, None, :], len(levels), axis=1)
    base, _ = accuracy(actuals, naive_q, levels, naive, naive, val_scale)
    base_sql = scaled_ql(actuals, naive_q, levels, val_scale)
    def scorer(members: dict[str, Any]) -> Any:
        """``relative(w)``: the combination of ``members``' validation mean wQL, MASE and sQL, each
        relative to seasonal naive's (cached per weights)."""
        scored: dict[tuple[tuple[str, float], ...], tuple[float, float, float]] = {}

        def relative(w: dict[str, float]) -> tuple[float, float, float]:
            key = tuple(sorted(w.items()))
            if key not in scored:
                q, mean = combine(w, members, entries, actuals.shape[1], season)
                acc, _ = accuracy(actuals, q, levels, mean, q[:, median, :], val_scale)
                scored[key] = ((acc.mean_wql or 0) / base.mean_wql, (acc.mase or 0) / base.mase,
                               scaled_ql(actuals, q, levels, val_scale) / base_sql)
            return scored[key]

        return relative

    relative = scorer(forecasts)

    def greedy(score: Any) -> dict[str, float]:
        return greedy_selection(list(forecasts), score)

    def cluster_weights(idx: np.ndarray) -> dict[str, float]:
        """Today's greedy selection (the service's own) on the items ``idx`` alone."""
        sub = {n: (f[0][idx], f[1][idx]) for n, f in forecasts.items()}
        return select_weights(sub, [entries[i] for i in idx], actuals[idx], levels, season)[0]

    def global_score(w: dict[str, float]) -> float:
        wql, mase, _ = relative(w)
        return wql + mase

    def level_score(i: int) -> Any:
        tau = levels[i]

        def score(w: dict[str, float]) -> float:
            q, mean = combine(w, forecasts, entries, actuals.shape[1], season)
            d = actuals - q[:, i, :]
            ok = ~np.isnan(actuals)
            loss = np.where(d >= 0, tau * d, (tau - 1) * d)
            wql = 2 * np.nansum(np.where(ok, loss, 0)) / np.nansum(np.abs(np.where(ok, actuals, 0)))
            if i == median:  # the point forecast: MASE too
                acc, _ = accuracy(actuals, q, levels, mean, q[:, median, :], val_scale)
                return wql / base.mean_wql + (acc.mase or 0) / base.mase
            return wql

        return score

    combiners: dict[str, Any] = {"global": greedy(global_score),
                                 "greedy sQL": greedy(lambda w: relative(w)[2]),
                                 "greedy sQL+MASE": greedy(lambda w: relative(w)[2] + relative(w)[1]),
                                 "greedy wQL+sQL+MASE": greedy(lambda w: sum(relative(w))),
                                 "per-level": [greedy(level_score(i)) for i in range(len(levels))],
                                 "equal": {n: 1 / len(forecasts) for n in forecasts}}
    singles = {n: global_score({n: 1.0}) for n in forecasts}
    combiners["best"] = {min(singles, key=singles.get): 1.0}  # type: ignore[arg-type]
    greedy_weights = combiners["global"]
    combiners["shrink-0.5"] = {n: 0.5 * greedy_weights.get(n, 0.0) + 0.5 / len(forecasts) for n in forecasts}
    ranked = sorted(singles, key=singles.get)  # type: ignore[arg-type]
    for k in (2, 3):
        combiners[f"top-{k} equal"] = {n: 1 / k for n in ranked[:k]}
    for slack in (0.05, 0.10):  # every member within this fraction of the best validation score, equally
        near = [n for n in ranked if singles[n] <= singles[ranked[0]] * (1 + slack)]
        combiners[f"within-{int(slack * 100)}% equal"] = {n: 1 / len(near) for n in near}
    nonnegative = all(bool((h[np.isfinite(h)] >= 0).all()) for h in histories)

    def mean_wql(q: np.ndarray) -> float:
        acc, _ = accuracy(actuals, q, levels, q[:, median, :], q[:, median, :], val_scale)
        return acc.mean_wql or 0.0

    factors = {n: float(SPREADS[int(np.argmin([mean_wql(spread(f[0], x, median, nonnegative)) for x in SPREADS]))])
               for n, f in forecasts.items()}
    calibrated = {n: (spread(f[0], factors[n], median, nonnegative).astype(np.float32), f[1])
                  for n, f in forecasts.items()}
    on_calibrated = scorer(calibrated)
    combiners["calibrated spreads"] = ("spreads", factors, greedy(lambda w: sum(on_calibrated(w)[:2])))
    points = actuals.shape[1]  # validation points per series: how much the window can tell apart
    for label, power in (("1", 1), ("4", 4), ("8", 8), ("h/2", points / 2), ("h", points)):
        inv = {n: singles[n] ** -power for n in forecasts}
        combiners[f"inverse-score^{label}"] = {n: v / sum(inv.values()) for n, v in inv.items()}

    combiners["greedy wQL+sQL"] = greedy(lambda w: relative(w)[0] + relative(w)[2])
    # more validation windows: DeepAR only has the captured one (its network trained before it)
    windows = earlier_windows(set_name, seen, store)
    statistical = [n for n in forecasts if n != "deepar"]

    def stacked(name: str, part: int, used: list[dict[str, Any]]) -> np.ndarray:
        """A member's quantiles (``part`` 0) or means (1) on the captured window, then on ``used``
        earlier windows (NaN where it has none: ``combine`` leaves it out there)."""
        own = forecasts[name][part]
        return np.concatenate([own, *(w["forecasts"][name][part] if name in w["forecasts"]
                                      else np.full((len(w["histories"]), *own.shape[1:]), np.nan, np.float32)
                                      for w in used)])

    for count in range(2, WINDOWS + 1):
        used = windows[: count - 1]
        union = {n: (stacked(n, 0, used), stacked(n, 1, used)) for n in forecasts}
        union_entries = entries + [{"target": h} for w in used for h in w["histories"]]
        union_actuals = np.concatenate([actuals, *(w["actuals"] for w in used)]).astype(np.float64)
        combiners[f"{count} windows, one selection"] = select_weights(union, union_entries, union_actuals, levels,
                                                                      season)[0]
        among, _ = select_weights({n: union[n] for n in statistical}, union_entries, union_actuals, levels, season)
        if "deepar" in forecasts:  # then DeepAR's share against that blend, on the captured window
            blend = combine(among, {n: forecasts[n] for n in statistical}, entries, actuals.shape[1], season)
            share, _ = select_weights({"deepar": forecasts["deepar"], "blend": blend}, entries, actuals, levels, season)
            among = {**{n: share.get("blend", 0.0) * w for n, w in among.items()}, "deepar": share.get("deepar", 0.0)}
        combiners[f"{count} windows, two-stage"] = {n: w for n, w in among.items() if w > 0}

    # the backtest window: the members' forecasts the predictor's backtest made
    parts = seen["backtest"]
    bt_hist = seen["backtest_histories"]
    names = list(parts[0])
    bt = {n: (np.concatenate([p[n][0] for p in parts]), np.concatenate([p[n][1] for p in parts])) for n in names}
    s = load(set_name)
    y = np.stack(s.test).astype(np.float64)
    bt_entries = [{"target": h} for h in bt_hist]
    bt_scale = np.array([seasonal_scale(h, season) for h in bt_hist])
    extra_val = {b: baseline_forecasts(b, histories, actuals.shape[1], season, levels, nonnegative)
                 for b in BASELINES if b != "seasonal naive" or season > 1}
    extra_bt = {b: baseline_forecasts(b, bt_hist, y.shape[1], season, levels, nonnegative) for b in extra_val}
    for added in [[b] for b in extra_val] + [list(extra_val)]:
        chosen, _ = select_weights({**forecasts, **{b: extra_val[b] for b in added}}, entries, actuals, levels, season)
        combiners["+" + "+".join(added)] = ("members", {**bt, **{b: extra_bt[b] for b in added}}, chosen)
    if len(bt_hist) == len(histories) and list(forecasts) == names:  # the same items, in order
        combiners["per-item greedy"] = ("per item", per_item_greedy(forecasts, entries, actuals, levels, season,
                                                                      val_scale))
        labels = kmeans(item_features(histories, season), 4)
        groups = {int(g): (cluster_weights(np.flatnonzero(labels == g)) if (labels == g).sum() >= 20
                           else greedy_weights) for g in np.unique(labels)}
        combiners["per-cluster greedy (k=4)"] = ("per item", np.array(
            [[groups[int(g)].get(n, 0.0) for n in names] for g in labels]))
    for label, weights in combiners.items():
        if isinstance(weights, tuple) and weights[0] == "spreads":
            factors_used, weights = weights[1], weights[2]
            q, mean = combine(weights, {n: (spread(f[0], factors_used[n], median, nonnegative), f[1])
                                        for n, f in bt.items()}, bt_entries, y.shape[1], season)
            weights = {**weights, "spread factors": factors_used}
        elif isinstance(weights, tuple) and weights[0] == "members":  # chosen among other candidates
            q, mean = combine(weights[2], weights[1], bt_entries, y.shape[1], season)
            weights = weights[2]
        elif isinstance(weights, tuple):  # weights per item
            q, mean = combine(weights[1], bt, bt_entries, y.shape[1], season)
            weights = "per item"
        elif isinstance(weights, list):
            per = [combine(w, bt, bt_entries, y.shape[1], season) for w in weights]
            q = np.stack([per[i][0][:, i, :] for i in range(len(levels))], axis=1)
            q = np.sort(q, axis=1)  # rearranged: never crossing
            mean = per[median][1]
        else:
            q, mean = combine(weights, bt, bt_entries, y.shape[1], season)
        acc, _ = accuracy(y, q, levels, mean, q[:, median, :], bt_scale)
        rows.append({"set": set_name, "seed": seed, "combiner": label, "mase": round(acc.mase, 4),
                     "mean_wql": round(acc.mean_wql, 4),
                     "weights": weights if not isinstance(weights, list) else "per level"})
        print(json.dumps(rows[-1]), flush=True)
    rep = seen["reported"]["predictor"]
    print(json.dumps({"set": set_name, "seed": seed, "combiner": "reported by the predictor",
                      "mase": round(rep["mase"], 4), "mean_wql": round(rep["mean_wql"], 4)}), flush=True)
    return rows


def summarize(rows: list[dict[str, Any]]) -> None:
    """Each combiner against ``global`` over the (set, seed) pairs: geometric-mean ratios of MASE
    and mean wQL, the worst ratio, and how many pairs are more than 1 % worse on either."""
    ref = {(r["set"], r["seed"]): r for r in rows if r["combiner"] == "global"}
    for label in dict.fromkeys(r["combiner"] for r in rows):
        ratios = [(r["mase"] / ref[k]["mase"], r["mean_wql"] / ref[k]["mean_wql"], k) for r in rows
                  if r["combiner"] == label and (k := (r["set"], r["seed"])) in ref]
        mase, wql = (float(np.exp(np.mean(np.log([x[i] for x in ratios])))) for i in (0, 1))
        worst = max(ratios, key=lambda x: max(x[0], x[1]))
        worse = sum(max(m, w) > 1.01 for m, w, _ in ratios)
        print(f"{label:26s} {len(ratios):3d} pairs  MASE {mase:.3f}  wQL {wql:.3f}  worst {max(worst[:2]):.3f} "
              f"({worst[2][0]} seed {worst[2][1]})  pairs >1 % worse: {worse}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--store", type=Path, default=None,
                    help="keep each training's capture here and read it back on later runs")
    ap.add_argument("--capture-only", action="store_true", help="train and store; compare nothing")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for seed in args.seed:
        for set_name in args.sets:
            if args.capture_only:
                captured(set_name, seed, args.epochs, args.store)
            else:
                rows.extend(compare(set_name, seed, args.epochs, args.store))
    if len(args.seed) * len(args.sets) > 1 and rows:
        summarize(rows)


if __name__ == "__main__":
    main()
