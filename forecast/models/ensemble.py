"""``auto``: several algorithms trained side by side, combined by weights chosen on a validation
window that lies before the backtest window.

How it fits, given the histories before the backtest window(s):

1. The last ``prediction_length`` points of those histories are the validation window; every
   member is fitted on what comes before it (DeepAR trains there; statistical models estimate
   their parameters there) and forecasts the validation window.
2. Weights come from greedy ensemble selection (Caruana et al. 2004, as AutoGluon does): 20
   rounds, each adding (with replacement) the member whose addition scores best, where the score
   is the sum of mean wQL and MASE, each relative to seasonal naive's on the same window, so the
   combination is good on both the distribution and the point forecast (``selection_metric``
   scores one metric instead: wql, mase, wape, rmse or mape, as a managed auto predictor's
   ``OptimizationMetric``). Weights are the counts over the rounds: a member that never helps
   gets 0 and is not stored.
3. Every member is brought to the backtest origin (``Algorithm.update``): the statistical members
   are fitted again on the histories before the backtest window; DeepAR's network conditions on
   the longer histories as it is, or, with ``deepar_update_epochs``, trains on from its own
   weights over them at a tenth of the learning rate (measured on the suite: better on the yearly
   sets, worse by more than 1 % on two of 27 runs, so not the default; training it again from
   scratch cost a whole training and lost on Tourism monthly). The backtest runs the ensemble on
   the backtest window(s), combined with the weights from step 2. The backtest window
   was never used to fit a member or choose a weight, so the stored metrics are out-of-sample
   figures of the whole procedure. The final forecasts fit the weighted statistical members once
   more, on the full histories, and a weighted DeepAR member that trained on at the backtest origin
   trains on once more over them: every forecast comes from a model brought to its own origin the
   same way. Updating a statistical fit's state instead (statsforecast's ``forward``), or keeping
   its model form and estimating only the parameters, was measured and is worse (bench/README.md,
   "Refit or update"): the ensemble's MASE up to 4.3 % (updated) and 1.6 % (form kept) worse.

Combination: the weighted average of the members' quantiles at each level (and of their means).
Each member's quantiles are non-decreasing in the level, so a non-negative combination is too: the
combined quantiles never cross. A member whose forecast for an item is not finite or explodes (a
value beyond 10x the largest absolute value of the item's history) is left out for that item and
the other members' weights renormalised; if no weighted member is usable, the other members share
equally, and with none at all the item gets seasonal naive. Every drop is counted by member.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from forecast.config import ResolvedConfig, SelectionMetric, season_length
from forecast.data import Entry, truncate
from forecast.errors import HyperparameterError
from forecast.metrics import accuracy, seasonal_naive, seasonal_scale
from forecast.models.base import (
    SAMPLING_LEVELS,
    Algorithm,
    FitContext,
    Model,
    Prediction,
    sample_from_quantiles,
)
from forecast.sampling import Precision

ENSEMBLE_FILE = "ensemble.json"
#: Greedy selection rounds: weights are multiples of 1/ROUNDS.
ROUNDS = 20
#: A forecast beyond this multiple of the history's largest absolute value has diverged.
EXPLODES_AT = 10.0
#: Items per combination step (each member forecasts the same items, then they are combined).
ITEMS_PER_BATCH = 2_000

MemberForecasts = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (quantiles (N,Q,H), mean (N,H))
#: The :class:`forecast.metrics.Accuracy` fields each selection metric sums (relative to naive).
SCORED: dict[str, tuple[str, ...]] = {"wql+mase": ("mean_wql", "mase"), "wql": ("mean_wql",), "mase": ("mase",),
                                      "wape": ("wape",), "rmse": ("rmse",), "mape": ("mape",)}


def _limits(entries: Sequence[Entry]) -> np.ndarray:
    out = np.empty(len(entries))
    for i, e in enumerate(entries):
        t = np.abs(e["target"][np.isfinite(e["target"])])
        out[i] = EXPLODES_AT * float(t.max()) if t.size and t.max() > 0 else 1e-6
    return out


def usable(q: np.ndarray, mean: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Per item: every quantile and mean value finite and within the item's limit."""
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(q).all(axis=(1, 2)) & np.isfinite(mean).all(axis=1)
        size = np.maximum(np.nan_to_num(np.abs(q), nan=np.inf).max(axis=(1, 2)),
                          np.nan_to_num(np.abs(mean), nan=np.inf).max(axis=1))
    return finite & (size <= limits)


def item_weights(
    weights: dict[str, float] | np.ndarray,
    forecasts: MemberForecasts,
    entries: Sequence[Entry],
    dropped: Counter[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's weights over the members in ``forecasts``' order, ``(N, M)`` summing to 1, with
    unusable members left out and the rest renormalised (see the module docstring; a row of zeros:
    no member is usable), and which members are usable ``(N, M)``. ``weights``: one per member,
    or one row per item."""
    names = list(forecasts)
    limits = _limits(entries)
    ok = np.stack([usable(*forecasts[n], limits) for n in names], axis=1)  # (N, M)
    given = (np.array([weights.get(n, 0.0) for n in names], dtype=np.float64)[None, :]
             if isinstance(weights, dict) else np.asarray(weights, dtype=np.float64))
    w = np.broadcast_to(given, ok.shape) * ok
    if dropped is not None:
        lost = np.broadcast_to(given > 0, ok.shape) & ~ok  # weighted but unusable
        for j, n in enumerate(names):
            if lost[:, j].any():
                dropped[n] += int(lost[:, j].sum())
    none_weighted = w.sum(axis=1) == 0
    w[none_weighted] = ok[none_weighted]  # the usable members share equally
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0), ok


def combine(
    weights: dict[str, float] | np.ndarray,
    forecasts: MemberForecasts,
    entries: Sequence[Entry],
    horizon: int,
    season: int,
    dropped: Counter[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted quantile average of the members, per item leaving out unusable members (see the
    module docstring); returns ``(quantiles, mean)``. ``weights``: one per member, or one row per
    item ``(N, M)`` over the members in ``forecasts``' order."""
    names = list(forecasts)
    w, ok = item_weights(weights, forecasts, entries, dropped)
    q = sum(w[:, j, None, None] * np.where(ok[:, j, None, None], forecasts[n][0], 0.0) for j, n in enumerate(names))
    mean = sum(w[:, j, None] * np.where(ok[:, j, None], forecasts[n][1], 0.0) for j, n in enumerate(names))
    q = np.asarray(q, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    for i in np.flatnonzero(~ok.any(axis=1)):  # no usable member at all
        point = seasonal_naive(entries[i]["target"], horizon, season)
        q[i] = point[None, :]
        mean[i] = point
        if dropped is not None:
            dropped["every member (seasonal naive used)"] += 1
    return q, mean


def select_weights(
    forecasts: MemberForecasts,
    entries: Sequence[Entry],
    actuals: np.ndarray,
    levels: list[float],
    season: int,
    metric: SelectionMetric = "wql+mase",
) -> tuple[dict[str, float], dict[str, Any]]:
    """Greedy ensemble selection on one window (``actuals`` ``(N, H)``); ``levels`` include 0.5.
    The score is the sum of ``metric``'s terms, each relative to seasonal naive's on the window.
    Returns the weights and a report of every member's and the ensemble's validation scores."""
    terms = SCORED[metric]
    shown = tuple(dict.fromkeys((*SCORED["wql+mase"], *terms)))  # reported: mean wQL, MASE, the scored
    horizon = actuals.shape[1]
    median = levels.index(0.5)
    scale = np.array([seasonal_scale(e["target"], season) for e in entries])
    naive = np.stack([seasonal_naive(e["target"], horizon, season) for e in entries])
    base, _ = accuracy(actuals, np.repeat(naive[:, None, :], len(levels), axis=1), levels, naive, naive, scale)

    def score(weights: dict[str, float]) -> tuple[float, dict[str, float | None]]:
        q, mean = combine(weights, forecasts, entries, horizon, season)
        acc, _ = accuracy(actuals, q, levels, mean, q[:, median, :], scale)
        rel = 0.0
        for term in terms:
            value, ref = getattr(acc, term), getattr(base, term)
            rel += (value / ref) if value is not None and ref else (0.0 if value is None else value)
        return rel, {t: getattr(acc, t) for t in shown}

    report: dict[str, Any] = {"seasonal_naive": {t: getattr(base, t) for t in shown}}
    for n in forecasts:
        report[n] = score({n: 1.0})[1]
    weights = greedy_selection(list(forecasts), lambda w: score(w)[0])
    report["ensemble"] = score(weights)[1]
    return weights, report


def greedy_selection(candidates: Sequence[str], score: Callable[[dict[str, float]], float]) -> dict[str, float]:
    """Greedy ensemble selection: ``ROUNDS`` rounds, each adding (with replacement) the candidate
    whose addition gives the lowest ``score`` of the weights (ties to the first name in sort
    order); the weights are the counts over the rounds, a candidate never added left out."""
    counts: Counter[str] = Counter()
    for _ in range(ROUNDS):
        best = min(candidates, key=lambda n: (score(dict(counts + Counter([n]))), n))
        counts[best] += 1
    return {n: counts[n] / ROUNDS for n in candidates if counts[n]}


class EnsembleModel(Model):
    algorithm: ClassVar[str] = "auto"

    def __init__(self, cfg: ResolvedConfig, members: dict[str, Model], weights: dict[str, float],
                 selection: dict[str, Any]) -> None:
        self.cfg = cfg
        self.members = members
        self.weights = weights
        self.selection = selection  # validation scores, left-out members and why
        self.dropped: Counter[str] = Counter()

    @property
    def season(self) -> int:
        return season_length(self.cfg)

    @property
    def precision(self) -> str:
        precisions = {m.precision for m in self.members.values()}
        return "float16" if "float16" in precisions else "float32"

    def use_precision(self, precision: Precision) -> None:
        for m in self.members.values():
            m.use_precision(precision)

    def member_forecasts(self, entries: Sequence[Entry], levels: Sequence[float], *, names: Sequence[str],
                         num_samples: int, seed: int | None, threads: int | None) -> MemberForecasts:
        out: MemberForecasts = {}
        for n in names:
            parts = list(self.members[n].predict(entries, levels, num_samples=num_samples, seed=seed, threads=threads))
            out[n] = (np.concatenate([p.quantiles for p in parts]), np.concatenate([p.mean for p in parts]))
        return out

    def predict(self, entries: Sequence[Entry], levels: Sequence[float], *, num_samples: int, seed: int | None = None,
                want_samples: bool = False, threads: int | None = None, members: bool = False) -> Iterator[Prediction]:
        levels = list(levels)
        grid = sorted(set(levels) | set(SAMPLING_LEVELS)) if want_samples else levels
        names = list(self.members) if members else [n for n in self.members if self.weights.get(n, 0) > 0]
        rng = np.random.default_rng(seed)
        for start in range(0, len(entries), ITEMS_PER_BATCH):
            batch = entries[start : start + ITEMS_PER_BATCH]
            forecasts = self.member_forecasts(batch, grid, names=names, num_samples=num_samples, seed=seed,
                                              threads=threads)
            q, mean = combine(self.weights, forecasts, batch, self.cfg.prediction_length, self.season, self.dropped)
            pick = [grid.index(level) for level in levels]
            samples = None
            if want_samples:
                at = [grid.index(level) for level in SAMPLING_LEVELS]
                samples = sample_from_quantiles(q[:, at, :], SAMPLING_LEVELS, num_samples, rng)
            yield Prediction(item_ids=[e.get("item_id") for e in batch],
                             forecast_start=[e["start"] + len(e["target"]) for e in batch],
                             quantiles=q[:, pick, :], mean=mean, samples=samples,
                             members={n: (f[0][:, pick, :], f[1]) for n, f in forecasts.items()} if members else {})

    def save(self, folder: Path) -> None:
        stored = {n: m for n, m in self.members.items() if self.weights.get(n, 0) > 0}
        for n, m in stored.items():
            (folder / n).mkdir()
            m.save(folder / n)
        (folder / ENSEMBLE_FILE).write_text(json.dumps({
            "members": {n: m.algorithm for n, m in stored.items()}, "weights": self.weights,
            "selection": self.selection}, indent=2))

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> EnsembleModel:
        from forecast.models import model_class

        info = json.loads((folder / ENSEMBLE_FILE).read_text())
        members = {n: model_class(algorithm).load(folder / n, cfg) for n, algorithm in info["members"].items()}
        return cls(cfg, members, info["weights"], info["selection"])

    def describe(self) -> dict[str, Any]:
        return {"weights": self.weights, "validation": self.selection,
                "members": {n: m.describe() for n, m in self.members.items()},
                **({"dropped_items": dict(self.dropped)} if self.dropped else {})}


class EnsembleAlgorithm(Algorithm):
    """``auto``: fit ``hp.members`` and choose their weights (see the module docstring)."""

    name: ClassVar[str] = "auto"
    uses_features: ClassVar[bool] = True  # through its DeepAR member

    def _members(self) -> dict[str, Algorithm]:
        from forecast.models import build_algorithm

        return {n: build_algorithm(self.cfg, n) for n in self.cfg.hp.members}

    def fit(self, entries: list[Entry], ctx: FitContext) -> EnsembleModel:
        h = self.cfg.prediction_length
        hp = self.cfg.hp
        levels = sorted(set(hp.test_quantiles) | {0.5})
        # the validation window's features stay (known in advance: related series, holidays), so
        # members that use them can forecast it; fitting cuts them to the target again
        inner = truncate(entries, h, keep_future_feat=h, min_length=1)
        kept = {id(e) for e in entries if len(e["target"]) > h}
        scored = [e for e in entries if id(e) in kept]
        actuals = np.stack([e["target"][-h:] for e in scored]) if scored else np.zeros((0, h))
        fitted: dict[str, Model] = {}
        left_out: dict[str, str] = {}
        algorithms = self._members()
        for name, algorithm in algorithms.items():
            if name == "deepar" and max((len(e["target"]) for e in inner), default=0) < self.cfg.context_length + h:
                left_out[name] = (f"the series are too short to train it before the validation window "
                                  f"(context {self.cfg.context_length} + horizon {h})")
                continue
            reference = ctx.reference.members.get(name) if isinstance(ctx.reference, EnsembleModel) else None
            fitted[name] = algorithm.fit(inner, dataclasses.replace(ctx, reference=reference,
                                                                    origin=f"{ctx.origin}: auto's weight window"),
                                         keep_fits=False)
        if not fitted:
            raise HyperparameterError("auto: no member could be fitted: " + "; ".join(f"{n}: {why}" for n, why in left_out.items()))
        if not scored:
            weights = {n: 1 / len(fitted) for n in fitted}
            selection: dict[str, Any] = {"method": "equal weights: no series is long enough for a validation window"}
            ctx.notes.append("auto: no series is long enough for a validation window; members weighted equally")
        else:
            ctx.phase("choosing weights")
            model = EnsembleModel(self.cfg, fitted, {}, {})
            forecasts = model.member_forecasts(inner, levels, names=list(fitted), num_samples=hp.num_eval_samples,
                                               seed=hp.seed, threads=None)
            weights, report = select_weights(forecasts, inner, actuals.astype(np.float64), levels, model.season,
                                             hp.selection_metric)
            selection = {"method": f"greedy ensemble selection, {ROUNDS} rounds, on the window before the backtest",
                         "metric": f"{hp.selection_metric}, relative to seasonal naive",
                         "validation_items": len(scored), "scores": report}
        if left_out:
            selection["left_out"] = left_out
            ctx.notes.extend(f"auto: {n} left out: {why}" for n, why in left_out.items())
        # every member brought to the backtest origin: per-series models fitted again, DeepAR's
        # network as it is or trained on for deepar_update_epochs
        for name, model in fitted.items():
            fitted[name] = algorithms[name].update(model, entries, ctx)
        return EnsembleModel(self.cfg, fitted, weights, selection)

    def finalize(self, model: Model, entries: list[Entry], ctx: FitContext) -> EnsembleModel:
        assert isinstance(model, EnsembleModel)
        algorithms = self._members()
        final = {n: algorithms[n].finalize(m, entries, ctx) for n, m in model.members.items()
                 if model.weights.get(n, 0) > 0}
        return EnsembleModel(self.cfg, {**model.members, **final}, model.weights, model.selection)
