"""Statistical models per series, by statsforecast: AutoETS, AutoTheta, AutoARIMA, AutoCES and
seasonal naive.

Each series gets its own model, fitted in parallel on every core (forked worker processes; ``forecast serve``'s
requests use a spawned worker, so fitting never holds the server's GIL). The forecast of a series
is the model's own predictive distribution: statsforecast's intervals for these models are
Gaussian around the point forecast (checked: the 80 % half-width is 1.900x the 50 % one, the
normal ratio), so a mean and a standard deviation per step give every quantile from 0.01 to 0.99
exactly, and no conformal calibration is needed. When every training value is >= 0 the forecast
is that of ``max(Y, 0)``: quantiles clipped at 0 and the mean of the censored Gaussian. AutoCES's
spread is computed exactly from its fitted states (:func:`forecast.models.gaussian.ces_gaussian`) instead of by
statsforecast's 5,000-path simulation, which was most of its cost.

Models are fitted at each forecast origin: on the histories before each backtest window (whose
forecasts the backtest scores) and again on the full histories for the stored final forecasts, so
the backtest measures the procedure the forecasts come from. Keeping a fit's parameters and only
updating its state with the newer observations (statsforecast's ``forward``) is milliseconds per
series but measurably worse: updated over one horizon, AutoETS's MASE was 2-23 % worse than a
refit on each of the 9 development sets, AutoTheta's up to 10 % (bench/README.md, "Refit or
update"). A history the model has not seen (another dataset, an HTTP request) is fitted too.

A series a model cannot fit (too short, degenerate), or whose forecast is not finite, gets
seasonal naive instead: counted in the predictor's notes and listed in its fit report
(:mod:`forecast.fit_report`). Each series is fitted on its last ``max(1000, 20 seasons)`` points.
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forecast.config import INTERMITTENT, ResolvedConfig, season_length
from forecast.data import Entry
from forecast.models.base import (
    SAMPLING_LEVELS,
    Algorithm,
    FitContext,
    Model,
    Prediction,
    sample_from_quantiles,
)
from forecast.models.gaussian import ces_gaussian, gaussian_from_interval, gaussian_quantiles
from forecast.models.intermittent import count_quantiles, count_spread, make_intermittent
from forecast.parts import Parts
from resources.engine import Engine, LocalEngine, process_pool

logger = logging.getLogger(__name__)

#: Items per batch handed to the process pool (and yielded to the caller).
ITEMS_PER_BATCH = 2_000
#: Models fitted with regressors are kept (to forecast the same history with the horizon's
#: regressor values, as the backtest does) up to this many series; beyond, they are fitted again,
#: so memory stays bounded (a fitted model holds its history).
KEEP_FITS_UP_TO = 50_000
#: The statistical models see at most the last max(MIN_HISTORY, HISTORY_SEASONS x season) points.
MIN_HISTORY = 1_000
HISTORY_SEASONS = 20
#: Stored final forecasts of the training histories.
FORECASTS_FILE = "gaussian_forecasts.parquet"


def _make(algorithm: str, season: int) -> Any:
    from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta, SeasonalNaive

    if algorithm in INTERMITTENT:
        return make_intermittent(algorithm)
    table = {"ets": AutoETS, "theta": AutoTheta, "arima": AutoARIMA, "ces": AutoCES, "seasonal_naive": SeasonalNaive}
    return table[algorithm](season_length=season)


def clean_history(target: np.ndarray) -> np.ndarray:
    """The series statsforecast can take: leading missing values dropped, inner ones interpolated,
    trailing ones carried forward."""
    y = target.astype(np.float64)
    finite = np.isfinite(y)
    if not finite.any():
        return y[:0]
    y = y[np.argmax(finite):]
    finite = np.isfinite(y)
    if not finite.all():
        idx = np.arange(len(y))
        y = np.interp(idx, idx[finite], y[finite])
    return y


def _digest(y: np.ndarray, x: np.ndarray | None = None) -> str:
    h = hashlib.blake2b(np.ascontiguousarray(y, dtype=np.float32).tobytes(), digest_size=12)
    if x is not None:
        h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    return h.hexdigest()


@dataclass
class FitJob:
    """One series to fit (or only forecast) with one statsforecast model, as :func:`run_jobs` takes it."""

    algorithm: str
    season: int
    horizon: int
    target: np.ndarray  # cleaned float64
    fitted: Any = None  # a model fitted on exactly ``target``: only forecast (new horizon regressors)
    keep: bool = False  # return the fitted model
    x: np.ndarray | None = None  # (len(target), k) exogenous regressors over the history (AutoARIMA)
    x_future: np.ndarray | None = None  # (horizon, k) their values over the horizon; None: fit only


class FitResult(NamedTuple):
    """One series' forecast: a mean and a standard deviation per step (Gaussian, see the module docstring)."""

    mean: np.ndarray
    sigma: np.ndarray
    fitted: Any  # the fitted model, when the job asked to keep it
    note: str | None  # why the series fell back to seasonal naive


def _forecast(model: Any, algorithm: str, h: int, x_future: np.ndarray | None,
              y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sigma) of a fitted model over the next ``h`` steps (an intermittent model's spread
    from its history ``y``: :func:`forecast.models.intermittent.count_spread`)."""
    if algorithm in INTERMITTENT:
        mean = np.maximum(np.asarray(model.predict(h=h)["mean"], dtype=np.float64), 0.0)
        return mean, count_spread(y if y is not None else np.zeros(0), mean)
    fast = ces_gaussian(model, h) if algorithm == "ces" else None
    if fast is not None:
        return fast
    return gaussian_from_interval(model.predict(h=h, level=[80], **({"X": x_future} if x_future is not None else {})))


def _run(job: FitJob) -> FitResult:
    """(mean, sigma) of one series, the fitted model if asked for, and a note if it fell back."""
    y, h, x, xf = job.target, job.horizon, job.x, job.x_future
    if len(y) == 0:
        return FitResult(np.zeros(h), np.zeros(h), None, "no observations")
    if job.algorithm == IN_SAMPLE_ETS:
        return _in_sample(job)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            if job.fitted is not None:
                return FitResult(*_forecast(job.fitted, job.algorithm, h, xf, y), job.fitted, None)
            model = _make(job.algorithm, job.season).fit(y, **({"X": x} if x is not None else {}))
            kept = model if job.keep else None
            if x is not None and xf is None:  # fitted for this history; no horizon values to forecast with
                return FitResult(np.full(h, np.nan), np.full(h, np.nan), kept, None)
            mean, sigma = _forecast(model, job.algorithm, h, xf if x is not None else None, y)
            if not np.isfinite(mean).all():
                raise ValueError("the forecast is not finite")
            return FitResult(mean, sigma, kept, None)
        except Exception as e:  # noqa: BLE001 - any model failure falls back, with a note
            note = f"{type(e).__name__}: {e}"[:200]
        try:
            season = job.season if len(y) > job.season else 1
            out = _make("seasonal_naive", season).forecast(y=y, h=h, level=[80])
            return FitResult(*gaussian_from_interval(out), None, note)
        except Exception:  # noqa: BLE001 - one point: repeat it
            return FitResult(np.full(h, y[-1]), np.zeros(h), None, note)


#: A job's algorithm for AutoETS's one-step in-sample forecasts of its history (``fitted``: the
#: history and those forecasts), which reconciliation weighs errors by (:mod:`forecast.reconcile`).
IN_SAMPLE_ETS = "ets_fitted"


def _in_sample(job: FitJob) -> FitResult:
    h = job.horizon
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            fitted = np.asarray(_make("ets", job.season if len(job.target) > 2 * job.season else 1)
                                .fit(job.target).predict_in_sample()["fitted"], dtype=np.float64)
            if not np.isfinite(fitted).all():
                raise ValueError("the in-sample forecasts are not finite")
            return FitResult(np.zeros(h), np.zeros(h), (job.target, fitted), None)
        except Exception as e:  # noqa: BLE001 - the caller uses seasonal naive's errors instead
            return FitResult(np.zeros(h), np.zeros(h), None, f"{type(e).__name__}: {e}"[:200])


def _run_chunk(jobs: list[FitJob]) -> list[FitResult]:
    return [_run(j) for j in jobs]


#: Most series per call when a job's fits are spread over its engine (a call costs milliseconds).
FIT_CHUNK = 128
#: Fewer series than this are fitted here, in one go: spreading them costs more than it saves.
SMALL_FIT = 8
_server_workers = False


def fit_requests_out_of_process(enabled: bool = True) -> None:
    """Fit single-threaded requests (``threads=1``: a server's invocations) in a spawned worker
    process instead of the calling thread. ``forecast serve`` turns it on: its ``__main__`` is the
    guarded ``forecast`` command, which a spawned worker can import. Elsewhere (scripts without a
    main guard, notebooks, a TestClient) requests are fitted in the calling thread."""
    global _server_workers
    _server_workers = enabled


def run_jobs(jobs: list[FitJob], threads: int | None, *, engine: Engine | None = None) -> list[FitResult]:
    """Every job's result in order. ``threads=None`` (a job that owns the machine): spread by
    ``engine`` (default: a forked process per core here) in chunks of at most :data:`FIT_CHUNK`.
    ``threads=k``: over ``k`` forked processes here. Fewer than :data:`SMALL_FIT` jobs run here.
    ``threads=1`` (a request): in this thread, or in a spawned worker process in a server
    (:func:`fit_requests_out_of_process`), because AutoETS and AutoTheta hold the GIL while they
    fit (measured: a 1 ms ticker thread ran 44 times during a 1.3 s AutoETS fit), which would
    stall every other request."""
    if not jobs:
        return []
    if threads == 1 and _server_workers:
        return process_pool("spawn", 1).submit(_run_chunk, jobs).result()
    if threads == 1 or len(jobs) < SMALL_FIT:
        return _run_chunk(jobs)
    if threads is None:
        engine = engine or LocalEngine()
        size = engine.chunk_size(len(jobs), FIT_CHUNK)
        chunks = [(jobs[i : i + size],) for i in range(0, len(jobs), size)]
        return [r for part in engine.tasks(_run_chunk, chunks) for r in part]
    size = max(1, math.ceil(len(jobs) / (threads * 4)))  # a given number of processes, here
    return [r for part in process_pool("fork", threads).map(_run_chunk, [jobs[i : i + size]
                                                                          for i in range(0, len(jobs), size)])
            for r in part]


@dataclass
class KnownItem:
    """What the model knows of one item: the history it forecast from (length, digest) and its
    forecast; the fitted statsforecast model while fitting."""

    length: int
    digest: str  # of the history (target, and regressors where the model takes them)
    mean: np.ndarray
    sigma: np.ndarray
    fitted: Any = None
    future: str = ""  # digest of the regressors' horizon values the forecast used


class StatisticalModel(Model):
    """Per-series statistical forecasts; ``algorithm`` is set per instance."""

    algorithm: ClassVar[str] = "statistical"

    def __init__(self, name: str, cfg: ResolvedConfig, season: int, nonnegative: bool,
                 known: dict[str, KnownItem] | None = None, integer: bool = False) -> None:
        self.algorithm = name  # type: ignore[misc]  # one class serves every statistical model
        self.cfg = cfg
        self.season = season
        self.nonnegative = nonnegative
        self.integer = integer  # whole-number data: an intermittent model's distribution is a count one
        self._known: dict[str, KnownItem] | None = known or {}
        self.stored: Path | None = None  # the stored forecasts, read when first needed
        #: where the workers of a partitioned fit wrote this model's stored forecasts: the parts
        #: folder and its files, ``(name, partition index)`` in row order (:meth:`save` merges them)
        self.parts: tuple[Parts, list[tuple[str, int]]] | None = None
        self.notes: dict[str, str] = {}  # item -> why it fell back to seasonal naive (examples, when partitioned)
        self.fallback_items: int | None = None  # items that fell back, when not every one is in notes

    @property
    def history_limit(self) -> int:
        """Series are fitted on their last ``max(1000, 20 seasons)`` points: AutoETS took minutes per
        16,080-point hourly series, and older history rarely helps these local models."""
        return max(MIN_HISTORY, HISTORY_SEASONS * self.season)

    def forecast_gaussian(self, entries: Sequence[Entry], *, threads: int | None, remember: bool = False,
                          keep: bool = False, refit: bool = False,
                          on_progress: Callable[[int, int], None] | None = None,
                          ctx: FitContext | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, sigma)`` ``(N, H)`` for every entry: known histories from memory (with other
        horizon regressors, from the kept fitted model), the rest fitted. ``remember`` keeps the
        forecasts for these histories, ``keep`` also the fitted models; ``refit`` fits every item
        afresh. ``on_progress(done, total)`` after each chunk of series (it may raise to stop).
        A fitting ``ctx`` fits on its engine."""
        engine = ctx.engine if ctx is not None else None
        h = self.cfg.prediction_length
        mean = np.empty((len(entries), h))
        sigma = np.empty((len(entries), h))
        todo: list[tuple[int, str, np.ndarray, str, str]] = []
        jobs: list[FitJob] = []
        for i, e in enumerate(entries):
            y, x, xf = self._inputs(e)
            key = str(e.get("item_id"))
            digest, future = _digest(y, x), _digest(xf) if xf is not None else ""
            k = self.known.get(key)
            if not refit and k is not None and k.length == len(y) and k.digest == digest and k.future == future:
                mean[i], sigma[i] = k.mean, k.sigma
                continue
            same = not refit and k is not None and k.fitted is not None and k.length == len(y) and k.digest == digest
            todo.append((i, key, y, digest, future))
            limit = self.history_limit
            jobs.append(FitJob(self.algorithm, self.season, h, y[-limit:], fitted=k.fitted if same else None,  # type: ignore[union-attr]
                               keep=keep, x=None if x is None else x[-limit:], x_future=xf))
        for start in range(0, len(jobs), ITEMS_PER_BATCH):
            chunk = slice(start, start + ITEMS_PER_BATCH)
            for (i, key, y, digest, future), r in zip(todo[chunk], run_jobs(jobs[chunk], threads, engine=engine),
                                                      strict=True):
                mean[i], sigma[i] = r.mean, r.sigma
                if r.note is not None:
                    self.notes[key] = r.note
                    if ctx is not None:
                        ctx.fell_back(key, self.algorithm, r.note)
                if remember:
                    self.known[key] = KnownItem(len(y), digest, r.mean, r.sigma, r.fitted if keep else None, future)
            if on_progress is not None:
                on_progress(min(start + ITEMS_PER_BATCH, len(jobs)), len(jobs))
        return mean, sigma

    @property
    def uses_regressors(self) -> bool:
        """AutoARIMA on its own takes the dynamic features as exogenous regressors; the other
        models (and ``auto``'s members) forecast from the target alone."""
        return self.algorithm == "arima" and self.cfg.hp.algorithm == "arima" and self.cfg.num_dynamic_feat > 0

    def _inputs(self, e: Entry) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The cleaned target, and with regressors their history ``(n, k)`` aligned with it and
        their horizon values ``(h, k)`` (``None`` where the entry does not reach the horizon)."""
        target = e["target"]
        y = clean_history(target)
        if not self.uses_regressors:
            return y, None, None
        feat = np.asarray(e["feat_dynamic_real"], dtype=np.float64)
        n, h = len(target), self.cfg.prediction_length
        x = feat[:, n - len(y):n].T
        xf = feat[:, n:n + h].T if feat.shape[1] >= n + h else None
        return y, x, xf

    def remember(self, entries: Sequence[Entry], mean: np.ndarray, sigma: np.ndarray) -> None:
        """Keep these forecasts as the stored ones (saved with the predictor)."""
        self.known = {}
        for e, m, s in zip(entries, mean, sigma, strict=True):
            y, x, xf = self._inputs(e)
            self.known[str(e.get("item_id"))] = KnownItem(len(y), _digest(y, x), m, s, None,
                                                          _digest(xf) if xf is not None else "")

    def predict(self, entries: Sequence[Entry], levels: Sequence[float], *, num_samples: int, seed: int | None = None,
                want_samples: bool = False, threads: int | None = None, members: bool = False) -> Iterator[Prediction]:
        rng = np.random.default_rng(seed)
        for start in range(0, len(entries), ITEMS_PER_BATCH):
            batch = entries[start : start + ITEMS_PER_BATCH]
            mean, sigma = self.forecast_gaussian(batch, threads=threads)
            q, m = self.quantiles(mean, sigma, levels)
            samples = None
            if want_samples:
                grid, _ = self.quantiles(mean, sigma, SAMPLING_LEVELS)
                samples = sample_from_quantiles(grid, SAMPLING_LEVELS, num_samples, rng)
            yield Prediction(item_ids=[e.get("item_id") for e in batch],
                             forecast_start=[e["start"] + len(e["target"]) for e in batch],
                             quantiles=q, mean=m, samples=samples)

    def quantiles(self, mean: np.ndarray, sigma: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles ``(N, Q, H)`` and mean ``(N, H)`` of the forecast distribution: Gaussian
        (censored at 0 for non-negative data), or for the intermittent models a count distribution
        whose mean is the model's forecast (:func:`forecast.models.intermittent.count_quantiles`)."""
        if self.algorithm in INTERMITTENT:
            return count_quantiles(mean, sigma, levels, integer=self.integer)
        return gaussian_quantiles(mean, sigma, levels, self.nonnegative)

    def table(self) -> pa.Table:
        """The stored forecasts (of :attr:`known`) as a table, one row per item."""
        ids = list(self.known)
        h = self.cfg.prediction_length
        return pa.table({
            "item_id": pa.array(ids, pa.string()),
            "length": pa.array([self.known[i].length for i in ids], pa.int64()),
            "digest": pa.array([self.known[i].digest for i in ids], pa.string()),
            "future": pa.array([self.known[i].future for i in ids], pa.string()),
            "mean": pa.FixedSizeListArray.from_arrays(
                pa.array(np.concatenate([self.known[i].mean for i in ids]) if ids else np.zeros(0)), h),
            "sigma": pa.FixedSizeListArray.from_arrays(
                pa.array(np.concatenate([self.known[i].sigma for i in ids]) if ids else np.zeros(0)), h),
        })

    def _metadata(self) -> dict[bytes, bytes]:
        return {b"algorithm": self.algorithm.encode(), b"season": str(self.season).encode(),
                b"nonnegative": str(int(self.nonnegative)).encode(), b"integer": str(int(self.integer)).encode()}

    def save(self, folder: Path) -> None:
        """The stored forecasts, one row group per partition when the workers of a partitioned fit
        wrote them (:attr:`parts`), merged here a part at a time."""
        with (folder / FORECASTS_FILE).open("wb") as f:
            if self.parts is not None:
                parts, files = self.parts
                parts.merge(files, f, empty=self.table().schema, metadata=self._metadata())
            else:
                pq.write_table(self.table().replace_schema_metadata(self._metadata()), f, compression="zstd")

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> StatisticalModel:
        """The model stored in ``folder``; its forecasts are read when first needed: all of them,
        or with :meth:`focus` a partition's."""
        meta = pq.read_schema(folder / FORECASTS_FILE).metadata
        model = cls(meta[b"algorithm"].decode(), cfg, int(meta[b"season"]), meta[b"nonnegative"] == b"1",
                    integer=meta.get(b"integer") == b"1")
        model.stored = folder / FORECASTS_FILE
        model._known = None  # read when first needed
        return model

    @property
    def known(self) -> dict[str, KnownItem]:
        """What the model knows of each item (the stored forecasts: read whole on first use, unless
        :meth:`focus` read a partition's)."""
        if self._known is None:
            self._known = self._read_known(None) if self.stored is not None else {}
        return self._known

    @known.setter
    def known(self, value: dict[str, KnownItem]) -> None:
        self._known = value

    def focus(self, start: int, stop: int) -> None:
        """Hold only the stored forecasts of rows ``[start, stop)`` of the fitted dataset (the row
        groups that cover them): what a worker forecasting that partition reads. Items not among
        them (another dataset) are fitted when forecast."""
        if self.stored is not None:
            self._known = self._read_known((start, stop))

    def _read_known(self, rows: tuple[int, int] | None) -> dict[str, KnownItem]:
        assert self.stored is not None
        with self.stored.open("rb") as f:
            file = pq.ParquetFile(f)
            if rows is None:
                table = file.read()
            else:
                groups, first = [], 0
                for g in range(file.metadata.num_row_groups):
                    n = file.metadata.row_group(g).num_rows
                    if first < rows[1] and first + n > rows[0]:
                        groups.append(g)
                    first += n
                table = file.read_row_groups(groups) if groups else file.schema_arrow.empty_table()
        h = self.cfg.prediction_length
        means = table.column("mean").combine_chunks().flatten().to_numpy().reshape(-1, h)
        sigmas = table.column("sigma").combine_chunks().flatten().to_numpy().reshape(-1, h)
        futures = table.column("future").to_pylist() if "future" in table.column_names else [""] * table.num_rows
        return {i: KnownItem(n, d, m, s, None, fu) for i, n, d, m, s, fu in zip(
            table.column("item_id").to_pylist(), table.column("length").to_pylist(),
            table.column("digest").to_pylist(), means, sigmas, futures, strict=True)}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"season_length": self.season, "distribution": (
            ("negative binomial" if self.integer else "gamma") + " with the model's rate as its mean and the history's "
            "variance-to-mean ratio" if self.algorithm in INTERMITTENT else "gaussian (the model's own prediction intervals)")}
        items = self.fallback_items if self.fallback_items is not None else len(self.notes)
        if items:
            out["fallbacks"] = {"items": items, "to": "seasonal_naive", "examples": dict(list(self.notes.items())[:5])}
        return out


class StatisticalAlgorithm(Algorithm):
    """``ets``, ``theta``, ``arima``, ``ces``, ``seasonal_naive`` and the intermittent models."""

    name: ClassVar[str] = "statistical"
    per_series: ClassVar[bool] = True
    CHOICES: ClassVar[tuple[str, ...]] = ("ets", "theta", "arima", "ces", "seasonal_naive", *INTERMITTENT)

    def __init__(self, cfg: ResolvedConfig, algorithm: str) -> None:
        super().__init__(cfg)
        self.algorithm = algorithm

    @property
    def season(self) -> int:
        return season_length(self.cfg)

    def fit(self, entries: list[Entry], ctx: FitContext, *, keep_fits: bool = True) -> StatisticalModel:
        ctx.phase(f"fitting {self.algorithm}")
        model = StatisticalModel(self.algorithm, self.cfg, self.season, ctx.nonnegative, integer=ctx.integer)
        keep = keep_fits and model.uses_regressors and len(entries) <= KEEP_FITS_UP_TO
        model.forecast_gaussian(entries, threads=ctx.threads, remember=True, keep=keep, ctx=ctx,
                                on_progress=lambda done, total: ctx.phase(f"fitting {self.algorithm}: {done}/{total} series"))
        return model

    def update(self, model: Model, entries: list[Entry], ctx: FitContext) -> StatisticalModel:
        return self.fit(entries, ctx)  # cheap enough to fit at each origin; updating was worse ("Refit or update")

    def finalize(self, model: Model, entries: list[Entry], ctx: FitContext) -> StatisticalModel:
        assert isinstance(model, StatisticalModel)
        ctx.phase(f"final forecasts {self.algorithm}")
        mean, sigma = model.forecast_gaussian(
            entries, threads=ctx.threads, refit=self.cfg.hp.refit, ctx=ctx,
            on_progress=lambda done, total: ctx.phase(f"final forecasts {self.algorithm}: {done}/{total} series"))
        for k in model.known.values():
            k.fitted = None  # the fitted models are not stored
        final = StatisticalModel(self.algorithm, self.cfg, self.season, model.nonnegative, integer=model.integer)
        final.remember(entries, mean, sigma)
        final.notes = model.notes  # the predictor's notes count them over every partition (forecast.fit_report)
        return final
