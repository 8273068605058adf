"""DeepAR (gluonts' torch estimator): one global network trained on every series, forecasting by
sample paths. This module forecasts with a trained network (sampling is :mod:`forecast.inference`);
training it is :mod:`forecast.models.deepar_training`, which what serves requests never loads."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from forecast.config import ResolvedConfig
from forecast.data import Entry
from forecast.models.base import Model, Prediction
from forecast.sampling import Precision

TRAINING_FILE = "training.json"


class DeepARModel(Model):
    algorithm: ClassVar[str] = "deepar"

    def __init__(self, predictor: Any, cfg: ResolvedConfig, training: dict[str, Any] | None = None,
                 precision: Precision = "auto") -> None:
        self.predictor = predictor  # gluonts PyTorchPredictor
        self.cfg = cfg
        self.training = training or {}
        self.decode_precision: Precision = precision

    @property
    def precision(self) -> str:
        from forecast.inference import sampler_for

        return sampler_for(self.predictor, self.decode_precision).precision

    def use_precision(self, precision: Precision) -> None:
        self.decode_precision = precision

    def predict(self, entries: Sequence[Entry], levels: Sequence[float], *, num_samples: int, seed: int | None = None,
                want_samples: bool = False, threads: int | None = None, members: bool = False) -> Iterator[Prediction]:
        from forecast.inference import iter_samples, summarize

        for b in iter_samples(self.predictor, entries, num_samples=num_samples, precision=self.decode_precision,
                              threads=threads, reduce=lambda samples: summarize(samples, levels), seed=seed):
            q, mean = b.reduced
            yield Prediction(item_ids=b.item_ids, forecast_start=b.forecast_start, quantiles=q, mean=mean,
                             samples=b.samples if want_samples else None)

    def save(self, folder: Path) -> None:
        self.predictor.serialize(folder)
        (folder / TRAINING_FILE).write_text(json.dumps(self.training))

    @classmethod
    def load(cls, folder: Path, cfg: ResolvedConfig) -> DeepARModel:
        from forecast.inference import read_network

        predictor = read_network(folder)
        training = json.loads((folder / TRAINING_FILE).read_text()) if (folder / TRAINING_FILE).exists() else {}
        return cls(predictor, cfg, training)

    def describe(self) -> dict[str, Any]:
        return self.training

