"""Sample paths from a trained gluonts predictor, in large batches, straight from the network.

``PyTorchPredictor.predict`` runs batches of ``mini_batch_size`` (32 by default) and wraps every
item in a ``SampleForecast``; here the batch is sized for throughput and the network's sample
tensor is used directly, then reduced to quantiles and the mean with numpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecast.data import Entry
from forecast.errors import ForecastInputError


@dataclass
class SampleBatch:
    """Samples for a batch of items: ``samples`` has shape ``(items, num_samples, prediction_length)``."""

    item_ids: list[Any]
    forecast_start: list[Any]  # pd.Period of the first forecast step, per item
    samples: np.ndarray


def check_future_features(entries: Sequence[Entry], prediction_length: int, num_dynamic_feat: int) -> None:
    """Dynamic features must extend ``prediction_length`` steps past every target."""
    if num_dynamic_feat == 0:
        return
    for e in entries:
        feat = e.get("feat_dynamic_real")
        if feat is None or feat.shape[0] != num_dynamic_feat:
            raise ForecastInputError(
                f"item {e.get('item_id')!r}: the predictor uses {num_dynamic_feat} dynamic feature(s); "
                "give dynamic_feat for every series"
            )
        need = len(e["target"]) + prediction_length
        if feat.shape[1] < need:
            raise ForecastInputError(
                f"item {e.get('item_id')!r}: dynamic_feat must extend prediction_length={prediction_length} steps "
                f"past the target (length {need}), got {feat.shape[1]}"
            )


def iter_samples(
    predictor: Any, entries: Sequence[Entry], *, num_samples: int, batch_size: int = 256
) -> Iterator[SampleBatch]:
    """Yield sample paths for ``entries`` (gluonts entries) in order, ``batch_size`` items at a time."""
    import torch
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    names = list(predictor.input_names)
    loader = InferenceDataLoader(
        entries,
        transform=predictor.input_transform + SelectFields(names + ["forecast_start", "item_id"], allow_missing=True),
        batch_size=batch_size,
        stack_fn=lambda data: batchify(data, predictor.device),
    )
    net = predictor.prediction_net
    net.eval()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gluonts' indexing triggers a torch deprecation warning per batch
        for batch in loader:
            inputs = {k: batch[k] for k in names}
            samples = net(**inputs, num_parallel_samples=num_samples)
            yield SampleBatch(
                item_ids=list(batch.get("item_id", [None] * samples.shape[0])),
                forecast_start=list(batch["forecast_start"]),
                samples=samples.cpu().numpy(),
            )


def summarize(samples: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``(items, len(levels), H)`` and the true sample mean ``(items, H)`` of ``samples``
    ``(items, num_samples, H)``, both float32. Quantiles of one sample set never cross."""
    n, _, h = samples.shape
    if levels:
        q = np.moveaxis(np.quantile(samples, np.asarray(levels, dtype=np.float64), axis=1), 0, 1)
    else:
        q = np.empty((n, 0, h))
    return q.astype(np.float32), samples.mean(axis=1, dtype=np.float64).astype(np.float32)
