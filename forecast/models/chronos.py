"""``chronos``: a pretrained forecasting model (Chronos-Bolt or Chronos-2, through
``chronos-forecasting``) from weights the user provides (``model_path``, :mod:`forecast.pretrained`).

Zero-shot: "fitting" checks and loads the model and records its identity (name, architecture,
the weights' sha256, parameter count); the backtest then scores it like any model. The model reads
the last ``context_length`` values of each series (the model's own context) and outputs its own
quantiles (Chronos-Bolt 0.1 .. 0.9, Chronos-2 0.01 .. 0.99); those are sorted (so they never
cross) and linearly interpolated to the levels asked for, held at the outermost model quantile
beyond it (a level outside the model's range says no more than its outermost quantile; ``describe``
gives the range). The **mean** is the mean of that quantile function (its integral over the
levels), not the median the library's pipelines report as their "mean": for a skewed forecast the
two differ, and a mean is what the user asked for.

Chronos-2 takes related series known through the horizon and holiday indicators as covariates
(past and future values of each); Chronos-Bolt takes only the target and ignores them, saying so
in the predictor's notes and ``describe``. The pipeline is loaded once per process (and shared by
every predictor with the same weights) in float32, or in bfloat16 with
``FORECAST_INFERENCE_PRECISION=float16`` where the CPU has native bfloat16 arithmetic.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from forecast.config import ResolvedConfig
from forecast.data import Entry
from forecast.errors import HyperparameterError
from forecast.models.base import (
    SAMPLING_LEVELS,
    Algorithm,
    FitContext,
    Model,
    Prediction,
    interpolate_levels,
    sample_from_quantiles,
)
from forecast.models.chronos_loading import bfloat16_available, load_pipeline
from forecast.pretrained import ModelIdentity, StorageOptions, fetch_model
from forecast.sampling import Precision
from forecast.series_source import Series

CHRONOS_FILE = "chronos.json"
#: Input tokens (patches of the context) per inference batch: the batch's item count is this over
#: each series' patches, between :data:`MIN_BATCH` and :data:`MAX_BATCH` items (bench/README.md,
#: "Pretrained models").
TOKENS_PER_BATCH = 32_768
MIN_BATCH, MAX_BATCH = 8, 1024
#: Levels at which the quantile function is averaged for the mean.
_MEAN_GRID = (np.arange(200) + 0.5) / 200


def quantile_mean(model_quantiles: np.ndarray, model_levels: Sequence[float]) -> np.ndarray:
    """The mean ``(items, H)`` of the piecewise-linear quantile function through the model's
    quantiles (flat beyond the outermost): its average over 200 evenly spaced levels."""
    return interpolate_levels(model_quantiles, model_levels, list(_MEAN_GRID)).mean(axis=1, dtype=np.float64
                                                                                     ).astype(np.float32)


class ChronosModel(Model):
    algorithm: ClassVar[str] = "chronos"

    def __init__(self, cfg: ResolvedConfig, identity: ModelIdentity, *, nonnegative: bool,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.cfg = cfg
        self.identity = identity
        self.nonnegative = nonnegative
        self.storage_options = dict(storage_options or {})
        self.dtype = "float32"

    @property
    def covariates(self) -> int:
        """The related series and holiday indicators the model reads (Chronos-2; Bolt ignores them)."""
        return self.cfg.num_dynamic_feat if self.identity.covariates else 0

    @property
    def precision(self) -> str:
        return self.dtype

    def use_precision(self, precision: Precision) -> None:
        """``float16`` (``FORECAST_INFERENCE_PRECISION``: half precision where native) runs the model
        in bfloat16 where the CPU has native bfloat16 arithmetic; ``auto`` and ``float32`` in float32
        (bfloat16's effect on accuracy is not measured here: bench/README.md)."""
        self.dtype = "bfloat16" if precision == "float16" and bfloat16_available() else "float32"

    def use_storage(self, options_for: StorageOptions) -> None:
        self.storage_options = options_for(self.identity.path)

    def _pipeline(self) -> Any:
        return load_pipeline(self.identity, self.dtype, lambda url: self.storage_options)

    def batch_items(self) -> int:
        """Items per inference batch: :data:`TOKENS_PER_BATCH` over the patches of a full context."""
        patches = max(1, self.identity.context_length // 16)
        return int(np.clip(TOKENS_PER_BATCH // patches, MIN_BATCH, MAX_BATCH))

    def _model_quantiles(self, pipeline: Any, batch: Sequence[Entry]) -> np.ndarray:
        """The model's own quantiles ``(items, model levels, H)`` for ``batch``."""
        import torch

        h, context = self.cfg.prediction_length, self.identity.context_length
        targets = [np.asarray(e["target"], dtype=np.float32)[-context:] for e in batch]
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # horizons past the model's own: rolled out, said in describe
            if self.identity.architecture == "chronos-bolt":
                out = pipeline.predict([torch.from_numpy(t) for t in targets], prediction_length=h)
                return out.float().numpy()
            inputs: list[Any] = list(targets)
            if self.covariates:
                inputs = []
                for e, t in zip(batch, targets, strict=True):
                    n = len(e["target"])
                    feat = np.asarray(e["feat_dynamic_real"], dtype=np.float32)
                    past = {f"x{k}": feat[k, max(0, n - context):n] for k in range(self.covariates)}
                    future = {f"x{k}": feat[k, n:n + h] for k in range(self.covariates)}
                    inputs.append({"target": t, "past_covariates": past, "future_covariates": future})
            out = pipeline.predict(inputs, prediction_length=h, batch_size=len(inputs) * (1 + self.covariates))
            return torch.cat([o[:1] for o in out]).float().numpy()

    def predict(self, entries: Sequence[Entry], levels: Sequence[float], *, num_samples: int, seed: int | None = None,
                want_samples: bool = False, threads: int | None = None, members: bool = False) -> Iterator[Prediction]:
        pipeline = self._pipeline()
        model_levels = self.identity.quantiles
        rng = np.random.default_rng(seed)
        step = self.batch_items()
        for start in range(0, len(entries), step):
            batch = entries[start : start + step]
            raw = self._model_quantiles(pipeline, batch)
            if self.nonnegative:
                np.maximum(raw, 0, out=raw)
            q = interpolate_levels(raw, model_levels, levels)
            samples = None
            if want_samples:
                grid = interpolate_levels(raw, model_levels, SAMPLING_LEVELS)
                samples = sample_from_quantiles(grid, SAMPLING_LEVELS, num_samples, rng)
            yield Prediction(item_ids=[e.get("item_id") for e in batch],
                             forecast_start=[e["start"] + len(e["target"]) for e in batch],
                             quantiles=q, mean=quantile_mean(raw, model_levels), samples=samples)

    def save(self, folder: Path) -> None:
        (folder / CHRONOS_FILE).write_text(json.dumps({"model": self.identity.model_dump(),
                                                       "nonnegative": self.nonnegative}, indent=2))

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> ChronosModel:
        info = json.loads((folder / CHRONOS_FILE).read_text())
        return cls(cfg, ModelIdentity.model_validate(info["model"]), nonnegative=info["nonnegative"])

    def describe(self) -> dict[str, Any]:
        identity = self.identity
        return {"model": {**identity.model_dump(exclude={"quantiles"}),
                          "quantile_range": [identity.quantiles[0], identity.quantiles[-1]]},
                "covariates": self.covariates,
                **({"covariates_ignored": self.cfg.num_dynamic_feat}
                   if self.cfg.num_dynamic_feat and not identity.covariates else {})}


class ChronosAlgorithm(Algorithm):
    """Zero-shot: :meth:`fit` checks the weights (their hash), loads them once and notes what the
    user should know (ignored covariates, a horizon past the model's own)."""

    name: ClassVar[str] = "chronos"
    uses_features: ClassVar[bool] = True  # Chronos-2's covariates

    def fit(self, entries: Series, ctx: FitContext, *, keep_fits: bool = True) -> ChronosModel:
        path = self.cfg.hp.model_path
        if path is None:  # registering a predictor fills it in from the settings, or refuses
            raise HyperparameterError("algorithm chronos needs model_path")
        options = ctx.options_for(path)
        ctx.phase("loading chronos")
        identity, _ = fetch_model(path, lambda url: options)
        model = ChronosModel(self.cfg, identity, nonnegative=ctx.nonnegative, storage_options=options)
        model._pipeline()  # weights that do not load fail here, naming the path
        note = _notes(self.cfg, identity)
        ctx.notes.extend(n for n in note if n not in ctx.notes)
        return model


def _notes(cfg: ResolvedConfig, identity: ModelIdentity) -> list[str]:
    notes = []
    if cfg.num_dynamic_feat and not identity.covariates:
        notes.append(f"chronos: {identity.name} (Chronos-Bolt) takes only the target; its {cfg.num_dynamic_feat} "
                     "related series and holiday features are ignored (Chronos-2 uses them)")
    if cfg.prediction_length > identity.prediction_length:
        notes.append(f"chronos: the horizon ({cfg.prediction_length}) is longer than {identity.name}'s own "
                     f"({identity.prediction_length}); later steps are rolled out from its median")
    return notes
