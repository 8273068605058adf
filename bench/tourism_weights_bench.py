"""Which weights to keep after training without a validation split, on Tourism (paired comparison).

    .venv/bin/python bench/tourism_weights_bench.py monthly|quarterly [--seeds 0 1 2]

Trains the default predictor once per seed, recording the weights at the end of every epoch, then
backtests the same network with each choice of weights, with the same sampling seed (0) for all:

- ``min``: the epoch with the lowest training loss (what gluonts restores);
- ``last``: the final epoch;
- ``avgK``: the mean of the last K epochs' weights (``avg50`` of 100 epochs is our default).

Prints one JSON line per seed and a summary of means.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))
from tourism_bench import SETS

CHOICES = ("min", "last", "avg5", "avg10", "avg20", "avg50")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("which", choices=sorted(SETS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    rows = [one_seed(args.which, seed) for seed in args.seeds]
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({c: [round(statistics.mean(r[c][i] for r in rows), 4) for i in (0, 1)] for c in CHOICES}
                     | {"means_of": "[MASE, mean wQL]"}))


def one_seed(which: str, seed: int) -> dict[str, object]:
    import lightning.pytorch as pl
    import torch

    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from datasets.samples import write_sample
    from forecast.backtest import run_backtest
    from forecast.config import DEFAULT_TEST_QUANTILES, Hyperparameters
    from forecast.data import load_entries, model_view
    from forecast.predictors import create_predictor, load_active_predictor
    from resources import Kind

    class EpochStates(pl.Callback):
        def __init__(self) -> None:
            self.states: list[dict[str, torch.Tensor]] = []

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})

    sample, freq, h = SETS[which]
    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Settings(home=f"{tmp}/home", registry=f"{tmp}/reg.db"))
        write_sample(sample, f"{tmp}/d.jsonl")
        import_dataset(rt.workspace, rt.registry, "d", f"{tmp}/d.jsonl", freq=freq)
        epochs = EpochStates()
        r = create_predictor(rt.workspace, rt.registry, "p", dataset="d", extra_callbacks=[epochs],
                             hyperparameters=Hyperparameters(prediction_length=h, seed=seed, algorithm="deepar"))
        losses = [e["train_loss"] for e in r.result["training"]["history"]]
        lowest = losses.index(min(losses))
        _, model = load_active_predictor(rt.workspace, rt.registry, "p")
        predictor = model.predictor
        view = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "d")), num_dynamic_feat=0,
                          num_cat=0, for_training=True)

        def mean_of(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
            return {k: torch.stack([s[k] for s in states]).mean(0) for k in states[0]}

        choices = {"min": epochs.states[lowest], "last": epochs.states[-1],
                   **{f"avg{k}": mean_of(epochs.states[-k:]) for k in (5, 10, 20, 50)}}
        out: dict[str, object] = {"which": which, "seed": seed, "lowest_train_loss_epoch": lowest + 1,
                                  "context_length": r.result["context_length"]}
        for name, state in choices.items():
            predictor.prediction_net.load_state_dict(state)
            b = run_backtest(model, view, freq=r.result["freq"], prediction_length=h, windows=1, num_samples=100,
                             levels=list(DEFAULT_TEST_QUANTILES), seed=0)
            out[name] = [round(b.predictor.mase, 4), round(b.predictor.mean_wql, 4)]
    return out


if __name__ == "__main__":
    main()
