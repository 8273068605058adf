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
   gets 0 and is not stored. The scores are sums over every item, which each partition of items
   gives for its own (:class:`SelectionPart`, exactly: :class:`forecast.metrics.AccuracySums`),
   so the weights are the same whatever the partitions (:mod:`forecast.fitting` runs the rounds).
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

Intermittent series: an item whose history before the forecast origin is intermittent or lumpy
(ADI >= 1.32 periods per demand, :func:`datasets.summary.demand_class`) belongs to the
``intermittent`` group, every other item to ``smooth``. The smooth group's weights are chosen over
``members`` on the smooth items alone (a dataset without intermittent series gets exactly the
weights it got before); the intermittent group's over ``members`` and ``intermittent_members``
(Croston, SBA, TSB, ADIDA, IMAPA by default) on the intermittent items alone. A group with no item
in the validation window uses the smooth weights.

Combination: the weighted average of the members' quantiles at each level (and of their means).
Each member's quantiles are non-decreasing in the level, so a non-negative combination is too: the
combined quantiles never cross. A member whose forecast for an item is not finite or explodes (a
value beyond 10x the largest absolute value of the item's history) is left out for that item and
the other members' weights renormalised; if no weighted member is usable, the other members share
equally, and with none at all the item gets seasonal naive. Every drop is counted by member.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from forecast.config import ResolvedConfig, SelectionMetric, season_length
from forecast.data import Entry
from forecast.metrics import Accuracy, AccuracySums, accuracy_sums, seasonal_naive, seasonal_scale
from forecast.models.base import (
    SAMPLING_LEVELS,
    Algorithm,
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


#: The demand groups whose weights are chosen apart, the first the default.
GROUPS = ("smooth", "intermittent")


def demand_groups(entries: Sequence[Entry]) -> np.ndarray:
    """Each entry's demand group (:data:`GROUPS`) by its history: ``intermittent`` for intermittent
    and lumpy demand, else ``smooth``."""
    from datasets.summary import demand_class

    return np.array(["intermittent" if demand_class(e["target"]) in ("intermittent", "lumpy") else "smooth"
                     for e in entries], dtype=object)


def weighted_members(weights: dict[str, float], group_weights: dict[str, dict[str, float]]) -> set[str]:
    """The members with a weight in any demand group."""
    return {n for w in (weights, *group_weights.values()) for n, v in w.items() if v > 0}


def group_matrix(weights: dict[str, float], group_weights: dict[str, dict[str, float]], groups: np.ndarray,
                 names: Sequence[str]) -> np.ndarray | dict[str, float]:
    """Each item's weights over ``names`` ``(N, M)`` by its group, or ``weights`` itself when no
    item is in a group with weights of its own."""
    own = [g for g in group_weights if (groups == g).any()]
    if not own:
        return weights
    out = np.tile(np.array([weights.get(n, 0.0) for n in names], dtype=np.float64), (len(groups), 1))
    for g in own:
        out[groups == g] = [group_weights[g].get(n, 0.0) for n in names]
    return out


def item_limits(entries: Sequence[Entry]) -> np.ndarray:
    """Per item: the largest absolute value a usable forecast may reach (:data:`EXPLODES_AT` times
    its history's)."""
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
    limits: np.ndarray,
    dropped: Counter[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's weights over the members in ``forecasts``' order, ``(N, M)`` summing to 1, with
    unusable members left out and the rest renormalised (see the module docstring; a row of zeros:
    no member is usable), and which members are usable ``(N, M)``. ``weights``: one per member,
    or one row per item; ``limits``: :func:`item_limits`."""
    names = list(forecasts)
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


def combine_arrays(
    weights: dict[str, float] | np.ndarray,
    forecasts: MemberForecasts,
    limits: np.ndarray,
    fallback: Callable[[int], np.ndarray],
    dropped: Counter[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted quantile average of the members, per item leaving out unusable members (see the
    module docstring); an item with none usable gets ``fallback(i)`` (seasonal naive's point
    forecast). Returns ``(quantiles, mean)``. ``weights``: one per member, or one row per item
    ``(N, M)`` over the members in ``forecasts``' order."""
    names = list(forecasts)
    w, ok = item_weights(weights, forecasts, limits, dropped)
    q = sum(w[:, j, None, None] * np.where(ok[:, j, None, None], forecasts[n][0], 0.0) for j, n in enumerate(names))
    mean = sum(w[:, j, None] * np.where(ok[:, j, None], forecasts[n][1], 0.0) for j, n in enumerate(names))
    q = np.asarray(q, dtype=np.float32)
    mean = np.asarray(mean, dtype=np.float32)
    for i in np.flatnonzero(~ok.any(axis=1)):  # no usable member at all
        point = fallback(int(i))
        q[i] = point[None, :]
        mean[i] = point
        if dropped is not None:
            dropped["every member (seasonal naive used)"] += 1
    return q, mean


def combine(
    weights: dict[str, float] | np.ndarray,
    forecasts: MemberForecasts,
    entries: Sequence[Entry],
    horizon: int,
    season: int,
    dropped: Counter[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`combine_arrays` of the members' forecasts of ``entries``."""
    return combine_arrays(weights, forecasts, item_limits(entries),
                          lambda i: seasonal_naive(entries[i]["target"], horizon, season), dropped)


@dataclass
class SelectionPart:
    """One partition's validation window, all weight selection needs of it: every member's
    forecasts at the selection's levels, the actuals, each item's MASE scale, seasonal naive's
    forecast and forecast limit. The job keeps none of it: each round of the selection asks every
    partition for the sums of its candidate weightings (:meth:`score`)."""

    forecasts: MemberForecasts
    actuals: np.ndarray  # (N, H)
    scale: np.ndarray  # (N,)
    naive: np.ndarray  # (N, H)
    limits: np.ndarray  # (N,)
    levels: list[float]  # with 0.5
    groups: np.ndarray  # (N,) each item's demand group (GROUPS)

    @classmethod
    def of(cls, forecasts: MemberForecasts, entries: Sequence[Entry], actuals: np.ndarray, levels: Sequence[float],
           season: int) -> SelectionPart:
        h = actuals.shape[1]
        naive = (np.stack([seasonal_naive(e["target"], h, season) for e in entries]) if entries
                 else np.zeros((0, h)))
        return cls(forecasts, actuals.astype(np.float64),
                   np.array([seasonal_scale(e["target"], season) for e in entries]), naive, item_limits(entries),
                   list(levels), demand_groups(entries))

    def _rows(self, group: str | None) -> SelectionPart:
        """This part's items of ``group`` (all when ``None``)."""
        if group is None:
            return self
        keep = self.groups == group
        return SelectionPart({n: (q[keep], m[keep]) for n, (q, m) in self.forecasts.items()}, self.actuals[keep],
                             self.scale[keep], self.naive[keep], self.limits[keep], self.levels, self.groups[keep])

    def count(self, group: str) -> int:
        """Items of ``group`` here."""
        return int((self.groups == group).sum())

    def score(self, batch: Sequence[dict[str, float]], group: str | None = None) -> list[AccuracySums]:
        """The accuracy sums of each weighting's combination here (over ``group``'s items)."""
        part = self._rows(group)
        median = part.levels.index(0.5)
        out = []
        for weights in batch:
            q, mean = combine_arrays(weights, part.forecasts, part.limits, lambda i: part.naive[i])
            out.append(accuracy_sums(part.actuals, q, part.levels, mean, q[:, median, :], part.scale, rows=False)[0])
        return out

    def base(self, group: str | None = None) -> AccuracySums:
        """Seasonal naive's accuracy sums here (over ``group``'s items): what each score is relative to."""
        part = self._rows(group)
        point = np.repeat(part.naive[:, None, :], len(part.levels), axis=1)
        return accuracy_sums(part.actuals, point, part.levels, part.naive, part.naive, part.scale, rows=False)[0]

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        names = list(self.forecasts)
        np.savez(buf, names=np.array(names, dtype=str), levels=np.array(self.levels), actuals=self.actuals,
                 scale=self.scale, naive=self.naive, limits=self.limits, groups=np.array(self.groups, dtype=str),
                 **{f"q{j}": self.forecasts[n][0] for j, n in enumerate(names)},
                 **{f"m{j}": self.forecasts[n][1] for j, n in enumerate(names)})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SelectionPart:
        with np.load(io.BytesIO(data)) as z:
            names = [str(n) for n in z["names"]]
            return cls({n: (z[f"q{j}"], z[f"m{j}"]) for j, n in enumerate(names)}, z["actuals"], z["scale"],
                       z["naive"], z["limits"], [float(v) for v in z["levels"]], z["groups"].astype(object))


#: The accuracy of each weighting's combination on the validation window (the sums of every partition).
Scorer = Callable[[Sequence[dict[str, float]]], list[Accuracy]]


def select_weights(
    forecasts: MemberForecasts,
    entries: Sequence[Entry],
    actuals: np.ndarray,
    levels: list[float],
    season: int,
    metric: SelectionMetric = "wql+mase",
) -> tuple[dict[str, float], dict[str, Any]]:
    """Greedy ensemble selection on one window (``actuals`` ``(N, H)``) of held forecasts;
    ``levels`` include 0.5 (see :func:`choose_weights`)."""
    part = SelectionPart.of(forecasts, entries, actuals, levels, season)
    return choose_weights(list(forecasts), lambda batch: [s.result() for s in part.score(batch)],
                          part.base().result(), metric)


def choose_weights(names: Sequence[str], scorer: Scorer, base: Accuracy, metric: SelectionMetric = "wql+mase",
                   ) -> tuple[dict[str, float], dict[str, Any]]:
    """Greedy ensemble selection of ``names`` by ``scorer``. The score is the sum of ``metric``'s
    terms, each relative to seasonal naive's (``base``) on the window. Returns the weights and a
    report of every member's and the ensemble's validation scores."""
    terms = SCORED[metric]
    shown = tuple(dict.fromkeys((*SCORED["wql+mase"], *terms)))  # reported: mean wQL, MASE, the scored

    def relative(acc: Accuracy) -> float:
        rel = 0.0
        for term in terms:
            value, ref = getattr(acc, term), getattr(base, term)
            rel += (value / ref) if value is not None and ref else (0.0 if value is None else value)
        return rel

    report: dict[str, Any] = {"seasonal_naive": {t: getattr(base, t) for t in shown}}
    for n, acc in zip(names, scorer([{n: 1.0} for n in names]), strict=True):
        report[n] = {t: getattr(acc, t) for t in shown}
    weights = greedy_selection(names, lambda batch: [relative(a) for a in scorer(batch)])
    report["ensemble"] = {t: getattr(scorer([weights])[0], t) for t in shown}
    return weights, report


def greedy_selection(candidates: Sequence[str],
                     score: Callable[[list[dict[str, float]]], list[float]]) -> dict[str, float]:
    """Greedy ensemble selection: ``ROUNDS`` rounds, each adding (with replacement) the candidate
    whose addition gives the lowest score of the weights (ties to the first name in sort order);
    ``score`` scores a round's weightings at once. The weights are the counts over the rounds, a
    candidate never added left out."""
    counts: Counter[str] = Counter()
    for _ in range(ROUNDS):
        batch = [dict(counts + Counter([n])) for n in candidates]
        best = min(zip(score([{k: float(v) for k, v in b.items()} for b in batch]), candidates, strict=True))[1]
        counts[best] += 1
    return {n: counts[n] / ROUNDS for n in candidates if counts[n]}


class EnsembleModel(Model):
    algorithm: ClassVar[str] = "auto"

    def __init__(self, cfg: ResolvedConfig, members: dict[str, Model], weights: dict[str, float],
                 selection: dict[str, Any], group_weights: dict[str, dict[str, float]] | None = None) -> None:
        self.cfg = cfg
        self.members = members
        self.weights = weights  # the smooth group's, and every group's without its own
        self.group_weights = group_weights or {}  # a demand group's own (intermittent)
        self.selection = selection  # validation scores, left-out members and why
        self.dropped: Counter[str] = Counter()

    def weighted(self, name: str) -> bool:
        """Whether member ``name`` has a weight in any group."""
        return name in weighted_members(self.weights, self.group_weights)

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

    def focus(self, start: int, stop: int) -> None:
        for m in self.members.values():
            m.focus(start, stop)

    def use_storage(self, options_for: Callable[[str], dict[str, Any]]) -> None:
        for m in self.members.values():
            m.use_storage(options_for)

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
        names = list(self.members) if members else [n for n in self.members if self.weighted(n)]
        rng = np.random.default_rng(seed)
        for start in range(0, len(entries), ITEMS_PER_BATCH):
            batch = entries[start : start + ITEMS_PER_BATCH]
            forecasts = self.member_forecasts(batch, grid, names=names, num_samples=num_samples, seed=seed,
                                              threads=threads)
            weights = group_matrix(self.weights, self.group_weights, demand_groups(batch), list(forecasts))
            q, mean = combine(weights, forecasts, batch, self.cfg.prediction_length, self.season, self.dropped)
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
        stored = {n: m for n, m in self.members.items() if self.weighted(n)}
        for n, m in stored.items():
            (folder / n).mkdir()
            m.save(folder / n)
        (folder / ENSEMBLE_FILE).write_text(json.dumps({
            "members": {n: m.algorithm for n, m in stored.items()}, "weights": self.weights,
            "group_weights": self.group_weights, "selection": self.selection}, indent=2))

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> EnsembleModel:
        from forecast.models import model_class

        info = json.loads((folder / ENSEMBLE_FILE).read_text())
        members = {n: model_class(algorithm).load(folder / n, cfg) for n, algorithm in info["members"].items()}
        return cls(cfg, members, info["weights"], info["selection"], info.get("group_weights"))

    def describe(self) -> dict[str, Any]:
        return {"weights": self.weights, **({"group_weights": self.group_weights} if self.group_weights else {}),
                "validation": self.selection,
                "members": {n: m.describe() for n, m in self.members.items()},
                **({"dropped_items": dict(self.dropped)} if self.dropped else {})}


class EnsembleAlgorithm:
    """``auto``: ``hp.members`` fitted side by side and combined by weights chosen on a validation
    window (see the module docstring). Its procedure, which fits each member where it fits best and
    chooses the weights from every partition's sums, is :func:`forecast.fitting.fit_predictor`'s."""

    name: ClassVar[str] = "auto"
    uses_features: ClassVar[bool] = True  # through its DeepAR member
    per_series: ClassVar[bool] = False

    def __init__(self, cfg: ResolvedConfig) -> None:
        self.cfg = cfg

    def members(self) -> dict[str, Algorithm]:
        """Each candidate's algorithm: ``hp.members`` then the ``intermittent_members`` not among them."""
        from forecast.models import build_algorithm

        return {n: build_algorithm(self.cfg, n) for n in self.cfg.hp.all_members}  # type: ignore[misc]
