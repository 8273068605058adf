"""How a predictor is fitted and backtested, partition by partition, so that the process running
the job holds no series: only the list of partitions and a small summary of each.

The procedure is the same for every algorithm: fit on the histories before the backtest
window(s), score each window, then fit on the full histories for the stored forecasts. Where each
fit runs depends on the algorithm:

- **Per-series algorithms** (the statistical models, :attr:`Algorithm.per_series`) are fitted by
  the engine's workers, each on its own partition of items (:mod:`forecast.partitions`), at every
  origin: a worker reads its partition (:class:`~forecast.series_source.StoredSeries`), fits it
  before the backtest window(s), scores each window (:func:`forecast.backtest.score_partition`),
  fits it on the full histories and writes that model's stored forecasts as its part.
- **Global algorithms** (DeepAR, NPTS) are fitted once on every series, which the training
  streams from the source a partition at a time (:class:`~forecast.series_source.SeriesStream`);
  the workers score the backtest with the fitted model.
- **auto**: every member is fitted before the validation window (per-series members by the
  workers, DeepAR here), and each worker writes its partition's validation forecasts
  (:class:`~forecast.models.ensemble.SelectionPart`). Greedy ensemble selection then runs here,
  each round asking every partition for the exact metric sums of the round's candidate weightings
  and adding them up (:class:`~forecast.metrics.AccuracySums`): the weights are the same on every
  engine and for any partition size. The workers then fit the per-series members at the backtest
  origin, combine, score, and fit the weighted ones on the full histories.

A worker returns its backtest's exact sums, its extreme item-windows, the totals of its fit report
and its timings; the rows (per-item metrics, backtest forecasts, fit report, stored forecasts)
are its parts (:mod:`forecast.parts`), which the predictor's files merge a part at a time. A
retried partition writes its parts again whole, so rows are never duplicated; a partition that
cannot be read fails the job naming it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import forecast.models
from datasets.summary import DatasetSummary
from forecast.backtest import (
    BacktestPart,
    BacktestResult,
    BacktestSpec,
    finish_backtest,
    read_partition,
    score_partition,
)
from forecast.config import DataFacts, ResolvedConfig, season_length
from forecast.data import facts_of, merge_facts, truncate
from forecast.errors import HyperparameterError
from forecast.fit_report import Fallback, FallbackTally, report_table
from forecast.metrics import AccuracySums
from forecast.models.base import Algorithm, FitContext, Model
from forecast.models.ensemble import (
    GROUPS,
    ROUNDS,
    EnsembleAlgorithm,
    EnsembleModel,
    SelectionPart,
    choose_weights,
    weighted_members,
)
from forecast.models.statistical import StatisticalModel
from forecast.partitions import partition_ranges
from forecast.parts import Parts
from forecast.series_source import SeriesSource
from resources.engine import Engine, LocalEngine

#: Part names: each partition's validation window (auto), its fit report per pass, each
#: per-series model's stored forecasts.
SELECTION_PART = "selection"
REPORT_PART = "fit_report_{}"
WEIGHTS_REPORT = "{}_weights"
MODEL_PART = "model_{}"


@dataclass
class _Plan:
    """What every worker of one pass is handed once."""

    cfg: ResolvedConfig
    nonnegative: bool
    integer: bool
    spec: BacktestSpec
    origin: str  # where in the predictor's making the fits are (the fit report's origin)
    local: list[str]  # per-series algorithms the workers fit
    given: dict[str, Model]  # models fitted here (DeepAR), which the workers forecast with
    ensemble: bool
    weights: dict[str, float] = field(default_factory=dict)
    group_weights: dict[str, dict[str, float]] = field(default_factory=dict)  # auto's intermittent group's own
    final: bool = False  # fit the (weighted) per-series models on the full histories, write their parts
    keep_rows: bool = True  # write the backtest's rows (a tuning trial's validation keeps none)
    report: str = "fit"  # the fit report part's pass name

    def weighted(self, name: str) -> bool:
        """Whether auto's member ``name`` has a weight in any demand group."""
        return name in weighted_members(self.weights, self.group_weights)


@dataclass
class PartitionSummary:
    """What one partition's worker returns: its backtest's sums (``None`` for a validation
    pass; its fit report is its part), the items with a validation window, and its seconds per
    step."""

    backtest: BacktestPart | None
    validation_items: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # validation items per demand group


class _PartitionFitter:
    """A worker of a fit: the plan and where the series are, received once; then partitions."""

    def __init__(self, plan: _Plan, source: SeriesSource, parts: Parts, threads: int | None) -> None:
        self.plan = plan
        self.source = source
        self.parts = parts
        self.threads = threads
        self.algorithms: dict[str, Algorithm] = {n: forecast.models.build_algorithm(plan.cfg, n) for n in plan.local}  # type: ignore[misc]

    def _ordered(self, models: dict[str, Model]) -> dict[str, Model]:
        order = list(self.plan.cfg.hp.members) if self.plan.ensemble else []
        return dict(sorted(models.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))

    def _ctx(self, origin: str) -> FitContext:
        return FitContext(cfg=self.plan.cfg, nonnegative=self.plan.nonnegative, integer=self.plan.integer,
                          engine=LocalEngine(),
                          threads=self.threads, origin=origin)

    def _summary(self, index: int, fallbacks: list[Fallback], **kwargs: Any) -> PartitionSummary:
        self.parts.write_table(REPORT_PART.format(self.plan.report), index, report_table(fallbacks))
        return PartitionSummary(**kwargs)

    def validate(self, index: int, start: int, stop: int) -> PartitionSummary:
        """auto: the members fitted before the validation window, their forecasts of it written as
        this partition's :class:`SelectionPart`."""
        plan, h = self.plan, self.plan.cfg.prediction_length
        started = time.perf_counter()
        entries = read_partition(self.source, index, start, stop)
        before = truncate(entries, plan.spec.windows * h, min_length=1)
        inner = truncate(before, h, keep_future_feat=h, min_length=1)
        scored = [e for e in before if len(e["target"]) > h]
        ctx = self._ctx(f"{plan.origin}: auto's weight window")
        members = self._ordered({**plan.given, **{n: a.fit(inner, ctx, keep_fits=False)
                                                  for n, a in self.algorithms.items()}})
        fitted = time.perf_counter()
        levels = sorted(set(plan.spec.levels) | {0.5})
        forecasts = EnsembleModel(plan.cfg, members, {}, {}).member_forecasts(
            inner, levels, names=list(members), num_samples=plan.spec.num_samples, seed=plan.spec.seed,
            threads=self.threads)
        actuals = (np.stack([e["target"][-h:] for e in scored]) if scored else np.zeros((0, h)))
        part = SelectionPart.of(forecasts, inner, actuals, levels, season_length(plan.cfg))
        self.parts.write_bytes(SELECTION_PART, index, part.to_bytes(), "npz")
        return self._summary(index, ctx.fallbacks, backtest=None, validation_items=len(scored),
                             groups={g: part.count(g) for g in GROUPS},
                             seconds={"fit": fitted - started, "validation": time.perf_counter() - fitted})

    def fit(self, index: int, start: int, stop: int) -> PartitionSummary:
        """The per-series models fitted before the backtest window(s), the backtest scored, and
        with ``final``, the (weighted) per-series models fitted on the full histories, each
        written as this partition's part of its stored forecasts."""
        plan, h = self.plan, self.plan.cfg.prediction_length
        started = time.perf_counter()
        entries = read_partition(self.source, index, start, stop)
        before = truncate(entries, plan.spec.windows * h, min_length=1)
        ctx = self._ctx(plan.origin)
        fitted = {n: a.fit(before, ctx) for n, a in self.algorithms.items()}
        members = self._ordered({**plan.given, **fitted})
        model = (EnsembleModel(plan.cfg, members, plan.weights, {}, plan.group_weights) if plan.ensemble
                 else next(iter(members.values())))
        fit_done = time.perf_counter()
        backtest = score_partition(model, entries, plan.spec, index, threads=self.threads,
                                   parts=self.parts if plan.keep_rows else None)
        if not plan.keep_rows:
            backtest.per_item, backtest.forecasts = [], []
        scored = time.perf_counter()
        if plan.final:
            final_ctx = dataclasses.replace(ctx, origin="final")
            for name, m in fitted.items():
                if plan.ensemble and not plan.weighted(name):
                    continue
                final = self.algorithms[name].finalize(m, entries, final_ctx)
                assert isinstance(final, StatisticalModel)
                self.parts.write_table(MODEL_PART.format(name), index, final.table())
        return self._summary(index, ctx.fallbacks, backtest=backtest,
                             seconds={"fit": fit_done - started, "backtest": scored - fit_done,
                                      "final": time.perf_counter() - scored})


def _score_selection(parts: Parts, index: int, batch: list[dict[str, float]], group: str | None = None
                     ) -> list[AccuracySums]:
    """A call of auto's weight selection: one partition's sums of each candidate weighting (over
    one demand group's items)."""
    return SelectionPart.from_bytes(parts.read_bytes(SELECTION_PART, index, "npz")).score(batch, group)


def _selection_base(parts: Parts, index: int, group: str | None = None) -> AccuracySums:
    """One partition's seasonal-naive sums on the weight window (over one demand group's items)."""
    return SelectionPart.from_bytes(parts.read_bytes(SELECTION_PART, index, "npz")).base(group)


class _FactsReader:
    """A worker gathering the facts of the data a partition at a time."""

    def __init__(self, source: SeriesSource, summary: DatasetSummary, extra_cardinalities: list[int]) -> None:
        self.source = source
        self.summary = summary
        self.extra_cardinalities = extra_cardinalities

    def facts(self, index: int, start: int, stop: int) -> DataFacts:
        return facts_of(read_partition(self.source, index, start, stop), self.summary,
                        extra_cardinalities=self.extra_cardinalities)


def gather_facts(source: SeriesSource, summary: DatasetSummary, extra_cardinalities: list[int],
                 engine: Engine) -> DataFacts:
    """The facts of ``source``'s series (with their features; see :func:`forecast.data.facts_of`),
    gathered partition by partition on ``engine``."""
    calls = partition_ranges(source.num_items, engine.partition_items)
    return merge_facts(engine.map(_FactsReader, (source, summary, extra_cardinalities), calls, "facts"))


@dataclass
class Fitted:
    """A fitted predictor: the model forecasts use, its backtest, its fit report's totals, the
    parts of its fit report, seconds per step."""

    model: Model | None  # None when not asked for the final fit
    backtest: BacktestResult
    fallbacks: FallbackTally
    report_parts: list[tuple[str, int]]
    seconds: dict[str, float]
    precision: str  # of the backtest's forecasts
    notes: list[str]
    partitions: list[int]  # the partitions' indexes (their parts' names)


def tally_report(parts: Parts, files: list[tuple[str, int]]) -> FallbackTally:
    """The totals of the fit report in these parts, a partition at a time (an item's fallbacks in
    several passes are one item)."""
    by_index: dict[int, list[str]] = {}
    for name, index in files:
        by_index.setdefault(index, []).append(name)
    tally = FallbackTally()
    for index, names in by_index.items():
        rows = [Fallback(**r) for n in names for r in parts.read_table(n, index).to_pylist()]
        tally = tally + FallbackTally.of(rows)
    return tally


def _add(summaries: list[PartitionSummary]) -> tuple[BacktestPart | None, dict[str, float]]:
    backtest = None
    seconds: dict[str, float] = {}
    for s in summaries:
        if s.backtest is not None:
            backtest = s.backtest if backtest is None else backtest + s.backtest
        for k, v in s.seconds.items():
            seconds[k] = seconds.get(k, 0.0) + v
    return backtest, seconds


def fit_predictor(
    cfg: ResolvedConfig,
    source: SeriesSource,
    spec: BacktestSpec,
    ctx: FitContext,
    *,
    parts: Parts,
    final: bool = True,
    keep_rows: bool = True,
    report: str = "fit",
    precision: str = "auto",
    watch: SeriesSource | None = None,
) -> Fitted:
    """Fit ``cfg``'s algorithm on ``source`` (full-length model-view series) before the last
    ``spec.windows`` windows, score them, and with ``final`` fit on the full histories: partition
    by partition on ``ctx.engine`` (see the module docstring). The partitions' rows (per-series
    models' stored forecasts, the backtest's, the fit report, auto's weight window) go to
    ``parts``. ``keep_rows=False`` keeps no backtest rows (a
    tuning trial's validation); ``report`` names this run's fit report parts; ``watch``: series
    whose validation loss a global network reports each epoch (a tuning trial's pruner)."""
    engine = ctx.engine
    calls = partition_ranges(source.num_items, engine.partition_items)
    indexes = [c[0] for c in calls]
    h = cfg.prediction_length
    algorithm = forecast.models.build_algorithm(cfg)
    if watch is not None:
        ctx = dataclasses.replace(ctx, watch=watch)

    def run(plan: _Plan, method: str, phase: str) -> list[PartitionSummary]:
        done = [0]

        def progress(_call: tuple[Any, ...], _result: Any) -> None:
            done[0] += 1
            if len(calls) > 1:
                ctx.phase(f"{phase}: {done[0]}/{len(calls)} partitions")

        ctx.phase(phase)
        return engine.map(_PartitionFitter, (plan, source, parts, engine.call_threads), calls, method,
                          on_result=progress)

    seconds: dict[str, float] = {}
    notes: list[str] = []
    started = time.perf_counter()
    base = _Plan(cfg=cfg, nonnegative=ctx.nonnegative, integer=ctx.integer, spec=spec, origin=ctx.origin, local=[], given={},
                 ensemble=False, final=final, keep_rows=keep_rows, report=report)
    validation: list[PartitionSummary] = []
    model = None
    if isinstance(algorithm, EnsembleAlgorithm):
        model, plan, validation, members = _fit_auto(algorithm, cfg, source, spec, ctx, base, parts, run, indexes,
                                                     notes)
    elif algorithm.per_series:
        members, plan = {}, dataclasses.replace(base, local=[cfg.hp.algorithm])
    else:
        fitted = algorithm.fit(source.before(spec.windows * h), ctx)
        members, plan = {cfg.hp.algorithm: algorithm}, dataclasses.replace(base, given={cfg.hp.algorithm: fitted},
                                                                          final=False)
    for m in plan.given.values():
        m.use_precision(precision)  # type: ignore[arg-type]
    fit_started = time.perf_counter()
    seconds["fit"] = fit_started - started  # global fits and auto's weights (per-series fits: in the pass)
    summaries = run(plan, "fit", "fitting and backtest" if plan.local else "backtest")
    seconds["backtest"] = time.perf_counter() - fit_started
    backtest_part, partition_seconds = _add(validation + summaries)
    passes = ([WEIGHTS_REPORT.format(report)] if validation else []) + [report]
    report_parts = [(REPORT_PART.format(p), i) for p in passes for i in indexes]
    tally = tally_report(parts, report_parts)
    if backtest_part is None:
        raise HyperparameterError("no series to fit")
    backtest = finish_backtest(backtest_part, spec)
    precision_of = {m.precision for m in plan.given.values()} or {"float32"}
    finals: dict[str, Model] = {}
    final_started = time.perf_counter()
    if final:
        final_ctx = dataclasses.replace(ctx, origin="final")
        for name, fitted_model in plan.given.items():
            if not plan.ensemble or plan.weighted(name):
                finals[name] = members[name].finalize(fitted_model, source, final_ctx)
        for name in plan.local:
            if plan.ensemble and not plan.weighted(name):
                continue
            stored = StatisticalModel(name, cfg, season_length(cfg), ctx.nonnegative, integer=ctx.integer)
            stored.parts = (parts, [(MODEL_PART.format(name), i) for i in indexes])
            stored.notes = dict(tally.examples.get(name, {}))
            stored.fallback_items = tally.items_by_model.get(name, 0)
            finals[name] = stored
    seconds["final"] = time.perf_counter() - final_started
    result: Model | None = None
    if final:
        result = (EnsembleModel(cfg, finals, plan.weights, model.selection, plan.group_weights)  # type: ignore[union-attr]
                  if plan.ensemble
                  else next(iter(finals.values())))
    return Fitted(model=result, backtest=backtest, fallbacks=tally, report_parts=report_parts,
                  seconds={**{k: round(v, 3) for k, v in seconds.items()},
                           **{f"partitions_{k}": round(v, 3) for k, v in partition_seconds.items()}},
                  precision="float16" if "float16" in precision_of else "float32",
                  notes=notes + tally.notes(), partitions=indexes)


def _fit_auto(algorithm: EnsembleAlgorithm, cfg: ResolvedConfig, source: SeriesSource, spec: BacktestSpec,
              ctx: FitContext, base: _Plan, parts: Parts,
              run: Callable[[_Plan, str, str], list[PartitionSummary]], indexes: list[int], notes: list[str],
              ) -> tuple[EnsembleModel, _Plan, list[PartitionSummary], dict[str, Algorithm]]:
    """auto's members fitted before the validation window, its weights chosen, its global members
    brought to the backtest origin: the model and the plan of the backtest pass."""
    h = cfg.prediction_length
    hp = cfg.hp
    members = algorithm.members()
    local = [n for n, a in members.items() if a.per_series]
    given: dict[str, Model] = {}
    left_out: dict[str, str] = {}
    for name, member in members.items():
        if member.per_series:
            continue
        inner = source.before(spec.windows * h + h)  # the histories before the validation window
        if name == "deepar" and inner.longest() < cfg.context_length + h:
            left_out[name] = (f"the series are too short to train it before the validation window "
                              f"(context {cfg.context_length} + horizon {h})")
            continue
        reference = ctx.reference.members.get(name) if isinstance(ctx.reference, EnsembleModel) else None
        given[name] = member.fit(inner, dataclasses.replace(ctx, reference=reference,
                                                            origin=f"{ctx.origin}: auto's weight window"),
                                 keep_fits=False)
    if not given and not [n for n in local if n in hp.members]:
        raise HyperparameterError("auto: no member could be fitted: " + "; ".join(f"{n}: {why}" for n, why in left_out.items()))
    plan = dataclasses.replace(base, local=local, given=given, ensemble=True)
    validation = run(dataclasses.replace(plan, report=WEIGHTS_REPORT.format(base.report)), "validate",
                     "fitting the members before the validation window")
    counts = {g: sum(s.groups.get(g, 0) for s in validation) for g in GROUPS}
    names = [n for n in members if n in given or n in local]
    scored = sum(s.validation_items for s in validation)
    group_weights: dict[str, dict[str, float]] = {}
    if not scored:
        equal = [n for n in names if n in hp.members]
        weights = {n: 1 / len(equal) for n in equal}
        selection: dict[str, Any] = {"method": "equal weights: no series is long enough for a validation window"}
        notes.append("auto: no series is long enough for a validation window; members weighted equally")
    else:
        ctx.phase("choosing weights")
        chosen = {g: _choose_group(ctx.engine, parts, indexes, g,
                                   [n for n in names if g != "smooth" or n in hp.members], hp.selection_metric)
                  for g in GROUPS if counts[g]}
        first = "smooth" if "smooth" in chosen else next(iter(chosen))
        weights = chosen[first][0]
        group_weights = {g: w for g, (w, _) in chosen.items() if g != first}
        selection = {"method": f"greedy ensemble selection, {ROUNDS} rounds, on the window before the backtest",
                     "metric": f"{hp.selection_metric}, relative to seasonal naive",
                     "validation_items": scored, "scores": chosen[first][1],
                     "groups": {g: {"items": counts[g], "weights": w, **({"scores": r} if g != first else {})}
                                for g, (w, r) in chosen.items()}}
        if len(chosen) > 1 or first != "smooth":
            notes.append("auto: " + "; ".join(f"{counts[g]:,} {g} series weighted "
                                              + ", ".join(f"{n} {v:.2f}" for n, v in w.items())
                                              for g, (w, _) in chosen.items()) + " (weights chosen per demand group)")
    # an intermittent member no group weighs (none does without intermittent series) is not carried
    # on: it would only be scored over every series in the backtest, most of which it never forecasts
    weighted = weighted_members(weights, group_weights)
    plan = dataclasses.replace(plan, local=[n for n in local if n in hp.members or n in weighted])
    if left_out:
        selection["left_out"] = left_out
        notes.extend(f"auto: {n} left out: {why}" for n, why in left_out.items())
    # every member brought to the backtest origin: per-series models fitted again by the workers,
    # DeepAR's network as it is or trained on for deepar_update_epochs
    given = {n: members[n].update(m, source.before(spec.windows * h), ctx) for n, m in given.items()}
    return (EnsembleModel(cfg, {}, weights, selection, group_weights),
            dataclasses.replace(plan, given=given, weights=weights, group_weights=group_weights), validation, members)


def _choose_group(engine: Engine, parts: Parts, indexes: list[int], group: str, names: list[str],
                  metric: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """auto's weights for one demand group: greedy selection of ``names`` on the group's items of
    every partition's validation window, the partitions' exact sums added up."""
    base_sums = engine.tasks(_selection_base, [(parts, i, group) for i in indexes])
    baseline = sum(base_sums[1:], base_sums[0]).result()

    def scorer(batch: Any) -> list[Any]:
        totals = [AccuracySums.empty(base_sums[0].levels) for _ in batch]

        def add(_call: Any, sums: list[AccuracySums]) -> None:  # as each partition answers
            for j, s in enumerate(sums):
                totals[j] = totals[j] + s

        engine.tasks(_score_selection, [(parts, i, list(batch), group) for i in indexes], on_result=add)
        return [t.result() for t in totals]

    return choose_weights(names, scorer, baseline, metric)
