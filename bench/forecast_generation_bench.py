"""Forecast generation speed: our batched path vs calling the gluonts predictor with its defaults.

    .venv/bin/python bench/forecast_generation_bench.py [--items 3660] [--epochs 3]

Trains a small-epoch DeepAR (default architecture: 2 x 40 LSTM, student-T) on Tourism monthly,
horizon 24, then forecasts the same items both ways in one run, 100 sample paths each, producing
the same outputs (quantiles 0.1, 0.5, 0.9 and the mean):

- gluonts: ``predictor.predict(dataset, num_samples=100)`` (batches of the predictor's
  ``batch_size``: mini_batch_size, pinned to 128 here), then ``forecast.quantile(q)`` and ``forecast.mean``
  per item;
- ours, float32: :func:`forecast_all` (a forecast job's partitions) with ``precision="float32"`` (gluonts' input
  transformation, our decoding loop, numpy reduction, Arrow output): the same draws as gluonts;
- ours, auto: the default, float16 LSTM decoding where the CPU has native half precision;
- statistical (``--statistical-items``, default 100,000): an AutoETS predictor fitted on the same
  Tourism monthly series, its stored per-series forecasts repeated to that many items (what a
  predictor fitted on them would hold: a mean and a standard deviation per step), generated
  through the same :func:`forecast_all`. Every statistical algorithm (and the
  statistical members of ``auto``) generates from stored forecasts this way, so the figure holds
  for all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def forecast_all(model, entries, types) -> None:  # type: ignore[no-untyped-def]
    """Every entry forecast as a forecast job does it (partition by partition, each into the stored
    table's batches; 100 sample paths, horizon 24), the batches dropped."""
    from forecast.forecasts import forecast_partition
    from forecast.partitions import partition_ranges

    for index, start, stop in partition_ranges(len(entries)):
        forecast_partition(model, entries[start:stop], types, index=index, num_samples=100, horizon=24)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=3660)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--statistical-items", type=int, default=100_000)
    args = ap.parse_args()

    import numpy as np
    import torch

    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from datasets.samples import write_sample
    from forecast.config import Hyperparameters
    from forecast.data import load_entries, model_view
    from forecast.inference import sampler_for
    from forecast.predictors import create_predictor, load_active_predictor
    from forecast.types import parse_types
    from resources import Kind

    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Settings(home=f"{tmp}/home", registry=f"{tmp}/reg.db"))
        write_sample("tourism-monthly", f"{tmp}/m.jsonl")
        import_dataset(rt.workspace, rt.registry, "m", f"{tmp}/m.jsonl", freq="M")
        create_predictor(rt.workspace, rt.registry, "p", dataset="m", hyperparameters=Hyperparameters(
            prediction_length=24, epochs=args.epochs, early_stopping_patience=None, algorithm="deepar",
            # pinned: gluonts predicts in batches of the training batch size, and 32 (our default) would
            # slow its baseline; context 24 is the setup the README's figures were measured with
            mini_batch_size=128, context_length=24))
        _, model = load_active_predictor(rt.workspace, rt.registry, "p")
        predictor = model.predictor
        base = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "m")), num_dynamic_feat=0,
                          num_cat=0, for_training=False)
        entries = [dict(base[i % len(base)], item_id=f"{base[i % len(base)]['item_id']}-{i}") for i in range(args.items)]
        types = parse_types("0.1,0.5,0.9,mean")
        levels = [0.1, 0.5, 0.9]

        def ours(precision: str) -> float:
            t = time.perf_counter()
            model.use_precision(precision)  # type: ignore[arg-type]
            forecast_all(model, entries, types)
            return time.perf_counter() - t

        def gluonts_default() -> float:
            t = time.perf_counter()
            for f in predictor.predict(entries, num_samples=100):
                _ = [f.quantile(q) for q in levels], f.mean
            return time.perf_counter() - t

        torch.manual_seed(0)
        ours("auto")  # warm-up (first batch allocations)
        timings: dict[str, list[float]] = {"gluonts_predict_defaults": [], "ours_float32": [], "ours_auto": []}
        for _ in range(args.repeats):
            timings["gluonts_predict_defaults"].append(gluonts_default())
            timings["ours_float32"].append(ours("float32"))
            timings["ours_auto"].append(ours("auto"))
        best = {k: min(v) for k, v in timings.items()}
        rate = {k: args.items / v for k, v in best.items()}
        rate["statistical_ets"] = args.statistical_items / statistical(rt, base, args.statistical_items, types,
                                                                      args.repeats)
        gluonts_rate = rate["gluonts_predict_defaults"]
        print(json.dumps({
            "items": args.items, "num_samples": 100, "prediction_length": 24, "torch_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "seconds_best_of": args.repeats,
            "items_per_second": {k: round(v, 1) for k, v in rate.items()},
            "speedup": {k: round(v / gluonts_rate, 2) for k, v in rate.items()},
            "auto_precision": sampler_for(predictor, "auto").precision, "statistical_items": args.statistical_items,
            "numpy": np.__version__, "torch": torch.__version__,
        }, indent=2))


def statistical(rt, base, n: int, types, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Best-of-``repeats`` seconds to generate ``n`` items from stored AutoETS forecasts."""
    from forecast.config import Hyperparameters
    from forecast.models.statistical import KnownItem, StatisticalModel
    from forecast.predictors import create_predictor, load_active_predictor

    create_predictor(rt.workspace, rt.registry, "ets", dataset="m",
                     hyperparameters=Hyperparameters(prediction_length=24, algorithm="ets"))
    _, fitted = load_active_predictor(rt.workspace, rt.registry, "ets")
    entries, known = [], {}
    for i in range(n):
        e = base[i % len(base)]
        k = fitted.known[str(e["item_id"])]
        item = f"{e['item_id']}-{i}"
        entries.append(dict(e, item_id=item))
        known[item] = KnownItem(k.length, k.digest, k.mean, k.sigma)
    model = StatisticalModel("ets", fitted.cfg, fitted.season, fitted.nonnegative, known)
    import forecast.models.statistical as statistical_module

    fitting = statistical_module.run_jobs

    def no_fitting(jobs, threads):  # type: ignore[no-untyped-def]
        assert not jobs, "generation fitted a series instead of using its stored forecast"
        return fitting(jobs, threads)

    statistical_module.run_jobs = no_fitting
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        forecast_all(model, entries, types)
        seconds.append(time.perf_counter() - t)
    statistical_module.run_jobs = fitting
    return min(seconds)


if __name__ == "__main__":
    main()
