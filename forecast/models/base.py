"""The one interface every forecasting algorithm implements.

An :class:`Algorithm` (DeepAR, a statistical model, NPTS, the ensemble) is built from the
predictor's hyperparameters and :meth:`~Algorithm.fit` on training histories; the
:class:`Model` it returns forecasts ``prediction_length`` steps past any histories given to
:meth:`~Model.predict` (the stored dataset, a backtest cut, an HTTP request's instances), as
quantiles at any levels and a mean, in batches, in input order. :meth:`Model.save` writes it into
a predictor's folder and :func:`forecast.models.load_model` reads it back.

Quantiles never cross: each model's come from one predictive distribution (a sample set, or a
Gaussian), and the ensemble averages them with non-negative weights.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from forecast.config import ResolvedConfig
from forecast.data import Entry
from forecast.fit_report import Fallback
from forecast.sampling import Precision
from forecast.series_source import Series
from resources.engine import Engine, LocalEngine

#: Called with a phase name ("training deepar", "fitting ets", ...) as work moves on.
PhaseCallback = Callable[[str], None]
#: Called after each DeepAR epoch with (epoch, epochs, train loss, validation loss or None).
EpochCallback = Callable[[int, int, float, float | None], None]


@dataclass
class Prediction:
    """Forecasts of a batch of items: ``quantiles`` ``(items, len(levels), H)`` and ``mean``
    ``(items, H)``, float32; ``samples`` ``(items, S, H)`` when the caller asked for them.
    ``members`` holds each ensemble member's own ``(quantiles, mean)`` for the same items."""

    item_ids: list[Any]
    forecast_start: list[Any]  # pd.Period of the first forecast step, per item
    quantiles: np.ndarray
    mean: np.ndarray
    samples: np.ndarray | None = None
    members: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass
class FitContext:
    """What fitting needs beside the training histories."""

    cfg: ResolvedConfig
    nonnegative: bool  # every training target is >= 0: forecasts are kept >= 0 too
    integer: bool = False  # every training target is a whole number (counts)
    on_phase: PhaseCallback | None = None
    on_epoch: EpochCallback | None = None
    extra_callbacks: list[Any] | None = None  # Lightning callbacks (tests, stopping)
    notes: list[str] = field(default_factory=list)  # what fitting wants the user to know
    engine: Engine = field(default_factory=LocalEngine)  # where per-series fits and DeepAR's training run
    #: retraining: the reference predictor's model of this algorithm, whose learned state a fit may
    #: start from (DeepAR's weights); ``None`` trains from scratch
    reference: Model | None = None
    #: histories whose last ``prediction_length`` points a network's training scores each epoch
    #: (the validation loss its epochs report) without choosing weights by them: what a tuning
    #: job's pruner reads
    watch: Series | None = None
    #: where in the predictor's making this fit is (``validation``, ``backtest``, ``final``): what
    #: the fit report says of a series that fell back here
    origin: str = "backtest"
    #: the series that fell back, across every fit of the predictor (shared by copies of the context)
    fallbacks: list[Fallback] = field(default_factory=list)
    #: processes a per-series fit may use: ``None`` spreads the series on :attr:`engine`; ``1`` fits
    #: them in this thread (a partition's worker on a cluster, which has one CPU)
    threads: int | None = None
    #: fsspec options for URLs a fit reads beside the dataset (a pretrained model's weights)
    options_for: Callable[[str], dict[str, Any]] = field(default=lambda url: {})

    def fell_back(self, item_id: str, model: str, reason: str) -> None:
        """Record that ``model`` fell back to seasonal naive on ``item_id`` here, and why."""
        self.fallbacks.append(Fallback(item_id, model, self.origin, reason))

    def phase(self, name: str) -> None:
        if self.on_phase is not None:
            self.on_phase(name)


class Model(ABC):
    """A fitted model: forecasts from any histories, saves and loads."""

    #: the algorithm's name (``deepar``, ``ets``, ...), stored in the manifest
    algorithm: ClassVar[str]

    @abstractmethod
    def predict(
        self,
        entries: Sequence[Entry],
        levels: Sequence[float],
        *,
        num_samples: int,
        seed: int | None = None,
        want_samples: bool = False,
        threads: int | None = None,
        members: bool = False,
    ) -> Iterator[Prediction]:
        """Forecasts of ``prediction_length`` steps after each entry's target, in input order.

        ``threads=1`` keeps to the calling thread (a server answering requests); by default the
        work is spread over the machine. ``members=True`` also returns ensemble members' own
        forecasts (for the backtest). ``num_samples`` is the sample-path count of sampling models;
        ``seed`` seeds their draws (``None``: leave the random state as it is).
        """

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (which exists and is empty)."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> Model:
        """Read back what :meth:`save` wrote."""

    @property
    def precision(self) -> str:
        """Arithmetic of the forecasts (``float32``; DeepAR may decode in ``float16``)."""
        return "float32"

    def focus(self, start: int, stop: int) -> None:
        """Hold only what rows ``[start, stop)`` of the fitted dataset need (a worker forecasting
        that partition): per-series models read only those items' stored forecasts."""

    def use_precision(self, precision: Precision) -> None:
        """Decode sample paths in ``precision`` from now on (DeepAR; the others have nothing to set)."""

    def use_storage(self, options_for: Callable[[str], dict[str, Any]]) -> None:
        """Read what the model keeps outside its folder (a pretrained model's weights) with the
        fsspec options ``options_for(url)`` gives (the loading workspace's)."""

    def describe(self) -> dict[str, Any]:
        """What ``describe`` shows about the fitted model (ensemble weights, notes)."""
        return {}


class Algorithm(ABC):
    """Builds a :class:`Model` from training histories."""

    name: ClassVar[str]
    #: whether the algorithm uses cat and dynamic features (DeepAR); the others ignore them
    uses_features: ClassVar[bool] = False
    #: whether each series is fitted on its own (the statistical models): such a fit is the same
    #: when run partition by partition, which is how a predictor fits it (:mod:`forecast.fitting`);
    #: the others (DeepAR, NPTS) are fitted once on every series
    per_series: ClassVar[bool] = False

    def __init__(self, cfg: ResolvedConfig) -> None:
        self.cfg = cfg

    @abstractmethod
    def fit(self, entries: Series, ctx: FitContext, *, keep_fits: bool = True) -> Model:
        """Fit on ``entries`` (the histories before the backtest windows: a partition's, held, for a
        per-series algorithm; where to read every series, for a global one). ``keep_fits=False``: the
        model will only forecast from these histories (a validation window), so per-series models
        need not keep their fits (kept only to forecast the same histories with the horizon's
        regressor values, as the backtest does)."""

    def update(self, model: Model, entries: Series, ctx: FitContext) -> Model:
        """``model``, fitted on shorter histories, brought to the forecast origin of ``entries`` (the
        ensemble's backtest origin, after its validation window): by default the same model, which
        forecasts from the longer histories; per-series models are fitted again, DeepAR's network
        can train on for a few epochs (``deepar_update_epochs``)."""
        return model

    def finalize(self, model: Model, entries: Series, ctx: FitContext) -> Model:
        """The model forecasts will use, after the backtest, given the full ``entries``: the same
        model unless the algorithm wants to refit (DeepAR with ``refit``) or can precompute the
        forecasts of the stored histories (statistical models)."""
        return model


def interpolate_levels(model_quantiles: np.ndarray, model_levels: Sequence[float],
                       levels: Sequence[float]) -> np.ndarray:
    """``(items, len(levels), H)`` from the model's ``(items, len(model_levels), H)`` quantiles:
    sorted along the levels (never crossing), linear between the model's levels, held at the
    outermost beyond them; float32 unless given float64."""
    q = np.sort(model_quantiles, axis=1)
    grid = np.asarray(model_levels, dtype=np.float64)
    out = np.empty((q.shape[0], len(levels), q.shape[2]), dtype=np.result_type(q.dtype, np.float32))
    for i, level in enumerate(levels):
        j = int(np.clip(np.searchsorted(grid, level, side="right") - 1, 0, len(grid) - 1))
        if level <= grid[0] or j == len(grid) - 1:
            out[:, i] = q[:, 0 if level <= grid[0] else -1]
            continue
        t = (level - grid[j]) / (grid[j + 1] - grid[j])
        out[:, i] = q[:, j] + (q[:, j + 1] - q[:, j]) * t
    return out


def sample_from_quantiles(quantiles: np.ndarray, levels: Sequence[float], num_samples: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Draws ``(items, num_samples, H)`` from the piecewise-linear quantile function through
    ``quantiles`` ``(items, Q, H)`` at increasing ``levels`` (held flat beyond the outer levels):
    sample paths for models whose output is a distribution rather than paths."""
    n, _, h = quantiles.shape
    u = rng.uniform(levels[0], levels[-1], size=(n, num_samples, h))
    lv = np.asarray(levels)
    idx = np.clip(np.searchsorted(lv, u, side="right") - 1, 0, len(lv) - 2)
    lo, hi = lv[idx], lv[idx + 1]
    t = (u - lo) / (hi - lo)
    q = np.moveaxis(quantiles, 1, 2)  # (n, h, Q)
    items = np.arange(n)[:, None, None]
    steps = np.arange(h)[None, None, :]
    a = q[items, steps, idx]
    b = q[items, steps, idx + 1]
    return (a + (b - a) * t).astype(np.float32)


#: Levels used to turn a distribution into sample paths (1 % .. 99 %).
SAMPLING_LEVELS: tuple[float, ...] = tuple(round(0.01 * i, 2) for i in range(1, 100))
