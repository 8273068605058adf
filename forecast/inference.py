"""Sample paths from a trained gluonts predictor, in batches sized for throughput.

``PyTorchPredictor.predict`` wraps every item in a ``SampleForecast``; here the predictor's own
input transformation (calendar features cached, :mod:`forecast.transforms`) feeds
:class:`forecast.sampling.PathSampler` and the sample tensor is reduced to quantiles and the mean
with numpy.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from forecast.data import Entry
from forecast.errors import ForecastInputError
from forecast.item_streams import ItemStreams, item_keys
from forecast.sampling import PathSampler, Precision
from forecast.transforms import inference_transform

#: Sample-path rows (items x samples) per batch: measured fastest on this project's 2-core
#: machine (the LSTM step's working set still fits the caches; 25,600 rows cost 2x per row).
ROWS_PER_BATCH = 12_800
#: Rows per batch when each batch is decoded on its own thread (96 items x 100 samples; of 32, 64,
#: 96 and 128 items, 96 was fastest here with one batch per core).
ROWS_PER_THREAD_BATCH = 9_600

#: Per loaded network: its inference transformation and a sampler per precision.
_per_net: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


def _cached(predictor: Any, key: str, build: Callable[[], Any]) -> Any:
    per_net = _per_net.setdefault(predictor.prediction_net, {})
    if key not in per_net:
        per_net[key] = build()
    return per_net[key]


@dataclass
class SampleBatch:
    """Samples for a batch of items: ``samples`` has shape ``(items, num_samples, prediction_length)``."""

    item_ids: list[Any]
    forecast_start: list[Any]  # pd.Period of the first forecast step, per item
    samples: np.ndarray
    reduced: Any = None  # what ``iter_samples(..., reduce=f)`` computed from ``samples``


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


def sampler_for(predictor: Any, precision: Precision = "auto") -> PathSampler:
    """The predictor's :class:`PathSampler` for ``precision``, built once per loaded predictor."""
    net = predictor.prediction_net
    return _cached(predictor, f"sampler-{precision}", lambda: PathSampler(getattr(net.eval(), "model", net), precision))


def iter_samples(
    predictor: Any,
    entries: Sequence[Entry],
    *,
    num_samples: int,
    batch_size: int | None = None,
    precision: Precision = "auto",
    threads: int | None = None,
    reduce: Callable[[np.ndarray], Any] | None = None,
    seed: int | None = None,
) -> Iterator[SampleBatch]:
    """Yield sample paths for ``entries`` (gluonts entries) in order, ``batch_size`` items at a time.

    With ``seed``, each item draws from its own random stream keyed by the seed and its id
    (:mod:`forecast.item_streams`), and every batch is decoded at the full batch size: the same
    seed, item and ``batch_size`` give the same paths, bit for bit, in any batch, partition or
    thread count. Without, ``threads=1`` draws from torch's global random
    state, one batch at a time (:data:`ROWS_PER_BATCH` rows), so a float32 run draws exactly
    what gluonts' predictor draws; ``threads=N`` keys the streams by a seed taken from that state.

    ``threads`` (default: torch's intra-op thread count) batches of
    :data:`ROWS_PER_THREAD_BATCH` rows are decoded at once, each single-threaded: for one process
    that owns the machine (forecast jobs, backtests), not for a server answering concurrent
    requests, as it sets torch's thread count while it runs. ``reduce``, if given, is applied to
    each batch's samples on the thread that drew them (numpy releases the GIL), its result in
    :attr:`SampleBatch.reduced`.
    """
    import torch
    from gluonts.dataset.loader import InferenceDataLoader
    from gluonts.torch.batchify import batchify
    from gluonts.transform import SelectFields

    sampler = sampler_for(predictor, precision)
    threads = threads or torch.get_num_threads()
    if not sampler.supports_streams:
        threads, seed = 1, None
    names = list(predictor.input_names)
    transform = _cached(predictor, "transform", lambda: inference_transform(predictor.input_transform))
    rows = ROWS_PER_BATCH if threads == 1 and seed is None else ROWS_PER_THREAD_BATCH
    batch_size = batch_size or max(1, rows // num_samples)
    loader = InferenceDataLoader(
        entries,
        transform=transform + SelectFields(names + ["forecast_start", "item_id"], allow_missing=True),
        batch_size=batch_size,
        stack_fn=lambda data: batchify(data, predictor.device),
    )

    def result(batch: dict[str, Any], out: tuple[np.ndarray, Any]) -> SampleBatch:
        samples, reduced = out
        return SampleBatch(item_ids=list(batch.get("item_id", [None] * samples.shape[0])),
                           forecast_start=list(batch["forecast_start"]), samples=samples, reduced=reduced)

    def finish(samples: Any) -> tuple[np.ndarray, Any]:
        array = samples.numpy()
        return array, (reduce(array) if reduce is not None else None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gluonts' indexing triggers a torch deprecation warning per batch
        if threads == 1 and seed is None:
            with torch.inference_mode():
                for batch in loader:
                    yield result(batch, finish(sampler.sample({k: batch[k] for k in names}, num_samples)))
            return
        key_seed = seed if seed is not None else int(torch.randint(0, 2**62, (1,)))

        def decode(keys: list[int], inputs: dict[str, Any]) -> tuple[np.ndarray, Any]:
            # every batch decoded at the full batch size (the last item repeated): the kernels' results
            # depend on the shape they run at, so an item's paths must not depend on its batch's size
            n = len(keys)
            if n < batch_size:
                padded = torch.cat([torch.arange(n), torch.full((batch_size - n,), n - 1)])
                inputs = {k: v.index_select(0, padded) for k, v in inputs.items()}
                keys = keys + [keys[-1]] * (batch_size - n)
            with torch.inference_mode():
                return finish(sampler.sample(inputs, num_samples, ItemStreams(keys, num_samples))[:n])

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads, thread_name_prefix="forecast-sample") as pool:
                pending: deque[tuple[dict[str, Any], Future[tuple[np.ndarray, Any]]]] = deque()
                done_items = 0
                for batch in loader:
                    ids = list(batch.get("item_id", [None] * len(batch["forecast_start"])))
                    keys = item_keys(key_seed, ids, done_items)
                    done_items += len(ids)
                    pending.append((batch, pool.submit(decode, keys, {k: batch[k] for k in names})))
                    if len(pending) > threads:  # keep every thread busy while the caller works
                        done, future = pending.popleft()
                        yield result(done, future.result())
                while pending:
                    done, future = pending.popleft()
                    yield result(done, future.result())
        finally:
            torch.set_num_threads(previous)


def summarize(samples: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``(items, len(levels), H)`` and the true sample mean ``(items, H)`` of ``samples``
    ``(items, num_samples, H)``, both float32. Quantiles of one sample set never cross.

    The quantiles are ``np.quantile``'s (linear interpolation, NaN if a sample is NaN), equal to
    it bit for bit (tested), from one sort of the samples: ``np.quantile`` costs ten times more.
    """
    n, k, h = samples.shape
    q = np.empty((n, len(levels), h), dtype=np.float32)
    if levels and k:
        ordered = np.sort(samples, axis=1)
        for i, level in enumerate(levels):
            position = np.float64(level) * (k - 1)
            below = int(np.floor(position))
            above = min(below + 1, k - 1)
            t = position - np.floor(position)
            a, b = ordered[:, below, :], ordered[:, above, :]
            diff = np.subtract(b, a)  # numpy's _lerp: from the nearer end, in float64
            q[:, i, :] = b - diff * (1 - t) if t >= 0.5 else a + diff * t
        q[np.broadcast_to(np.isnan(ordered[:, -1:, :]), q.shape)] = np.nan  # NaNs sort last
    return q, samples.mean(axis=1, dtype=np.float64).astype(np.float32)


def read_network(folder: Path) -> Any:
    """The gluonts predictor serialized in ``folder``, on the CPU."""
    from gluonts.model.predictor import Predictor

    with warnings.catch_warnings():  # pandas alias deprecations inside gluonts, torch RNN notes
        warnings.simplefilter("ignore")
        return Predictor.deserialize(folder, device="cpu")
