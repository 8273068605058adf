"""`auto` with its DeepAR member trained on at the backtest origin, against the same network not.

    .venv/bin/python bench/member_finetune_probe.py tourism-yearly m3-yearly ... [--seed 0 1 2]
        [--epochs 20] [--learning-rate-factor 0.1]

`auto` trains its DeepAR member before the validation window. Until this probe, that network
forecast the backtest window (and the future) from the longer histories without having seen the
newest points; trained again from scratch at the backtest origin (`member_refit_probe.py`) it was
better on six sets of nine, but worse on Tourism monthly (a new network, not the one the weights
were chosen for) and 3.37x DeepAR alone's time there. The service's `DeepARAlgorithm.update` trains
the *same* network on over the longer histories for ``deepar_update_epochs`` epochs at a fraction
of the learning rate.

One real `auto` training per set and seed through the service's `create_predictor` with
``--epochs`` and ``--learning-rate-factor``; the backtest window is forecast by both networks, the
one trained on and the one before (with the same sample seed), and combined with the same weights
(chosen on the validation window, which both share): a paired comparison. Prints one JSON line per
set and seed: `auto` and the DeepAR member, today (not trained on) against continued (MASE / mean
wQL on the competition's test window), the weights, and the seconds each update took.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))


def run(set_name: str, seed: int, epochs: int, learning_rate_factor: float) -> dict[str, Any]:
    from pool_probe import joined
    from suite import load
    from suite_deepar_bench import train_in_process

    from forecast.metrics import accuracy, seasonal_scale
    from forecast.models import deepar, ensemble
    from forecast.models.deepar import DeepARAlgorithm, DeepARModel

    networks: list[DeepARModel] = []  # the member as trained before the validation window
    update = DeepARAlgorithm.update

    def recording_update(self: DeepARAlgorithm, model: Any, entries: Any, ctx: Any) -> DeepARModel:
        if not networks:
            networks.append(model)
        return update(self, model, entries, ctx)

    seen: dict[str, Any] = {"continued": [], "today": [], "entries": []}
    predict = ensemble.EnsembleModel.predict

    def recording_predict(self: Any, entries: Any, levels: Any, **kw: Any) -> Any:
        for p in predict(self, entries, levels, **kw):
            if kw.get("members") and networks:
                seen["levels"], seen["weights"], seen["season"] = list(levels), dict(self.weights), self.season
                seen["continued"].append(p.members)
                batch = entries[len(seen["entries"]) : len(seen["entries"]) + len(p.item_ids)]
                seen["entries"].extend(batch)
                before = ensemble.EnsembleModel(self.cfg, {"deepar": networks[0]}, {}, {})
                seen["today"].append({**p.members, **before.member_forecasts(
                    batch, levels, names=["deepar"], num_samples=kw["num_samples"], seed=kw.get("seed"),
                    threads=kw.get("threads"))})
            yield p

    DeepARAlgorithm.update = recording_update  # type: ignore[method-assign]
    ensemble.EnsembleModel.predict = recording_predict  # type: ignore[method-assign]
    factor = deepar.UPDATE_LEARNING_RATE_FACTOR
    deepar.UPDATE_LEARNING_RATE_FACTOR = learning_rate_factor
    try:
        r = train_in_process(set_name, seed=seed, deepar_update_epochs=epochs)
    finally:
        DeepARAlgorithm.update = update  # type: ignore[method-assign]
        ensemble.EnsembleModel.predict = predict  # type: ignore[method-assign]
        deepar.UPDATE_LEARNING_RATE_FACTOR = factor

    levels, weights = seen["levels"], seen["weights"]
    median = levels.index(0.5)
    entries = seen["entries"]
    y = np.stack(load(set_name).test).astype(np.float64)
    season = seen["season"]
    scale = np.array([seasonal_scale(np.asarray(e["target"], dtype=np.float64), season) for e in entries])

    def score(q: np.ndarray, mean: np.ndarray) -> list[float]:
        acc, _ = accuracy(y, q, levels, mean, q[:, median, :], scale)
        return [round(acc.mase, 4), round(acc.mean_wql, 4)]

    out: dict[str, Any] = {"set": set_name, "seed": seed, "epochs": epochs, "learning_rate_factor": learning_rate_factor,
                           "weights": weights}
    for label in ("today", "continued"):
        members = joined(seen[label])
        out[f"auto, {label}"] = score(*ensemble.combine(weights, members, entries, y.shape[1], season))
        out[f"deepar, {label}"] = score(*members["deepar"])
    out["reported"] = [round(r.result["metrics"]["predictor"]["mase"], 4),
                       round(r.result["metrics"]["predictor"]["mean_wql"], 4)]
    member = r.result["training"].get("members", {}).get("deepar", {})
    out["update seconds"] = [u["seconds"] for u in member.get("updates", [])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=20, help="deepar_update_epochs")
    ap.add_argument("--learning-rate-factor", type=float, default=0.1,
                    help="the continuation's learning rate over the training's (the service's: 0.1)")
    args = ap.parse_args()
    for seed in args.seed:
        for set_name in args.sets:
            print(json.dumps(run(set_name, seed, args.epochs, args.learning_rate_factor)), flush=True)


if __name__ == "__main__":
    main()
