"""Probes of where `auto`'s DeepAR member is trained.

    .venv/bin/python bench/member_refit_probe.py tourism-yearly m3-yearly ... [--seed 0 1 2] [--mode refit|once]

Today `auto` trains its DeepAR member once, before the validation window, and that network
forecasts the backtest window from the longer histories; the statistical members are fitted again
at the backtest origin. Both modes run the service's own `create_predictor` with the member
trained where the mode says (for this process only):

- ``refit``: trained again from scratch at the backtest origin (``DeepARAlgorithm.update`` made a
  fresh ``fit``), so the validation window, and so the weights, are exactly today's (same seed, same
  machine: training is reproducible there) and only the member's backtest forecasts change. Two
  trainings.
- ``once``: trained only once, at the backtest origin (on what DeepAR alone trains on), so the
  validation window lies inside its training data: the weights are chosen on that network's
  in-sample forecasts of it, while the backtest window stays unseen by every member and every
  weight. One training, on a longer history than today's member.

Both modes' member is the network `--algorithm deepar` trains (same data, settings and seed).
Compare with `bench/suite_deepar_bench.py <sets> --seeds N --algorithm auto` run on the same
machine. One JSON line per set and seed: `auto`, each member, the weights, seconds.

Measured (bench/README.md, "Seed 0 again on every set" and "The DeepAR member trained once, at the
backtest origin"): ``refit`` is better on six of the nine sets (M3 yearly's MASE by 7 %), worse on
Tourism monthly's wQL by 4.4 %, and 3.37x DeepAR alone's time there (today 2.32x); ``once``, over
27 runs, 0.998 / 0.992 of today's MASE / wQL with 10 runs more than 1 % worse (the in-sample
validation window raises DeepAR's weight; Tourism monthly's wQL 0.0724 misses 0.072). Neither adopted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))


def trained_once_at_backtest_origin() -> None:
    """The DeepAR member fitted on the entries `auto` itself was given (the histories up to the
    backtest origin) instead of on those before the validation window."""
    from forecast.models import deepar, ensemble

    given: dict[str, Any] = {}
    fit, member_fit = ensemble.EnsembleAlgorithm.fit, deepar.DeepARAlgorithm.fit

    def auto_fit(self: Any, entries: Any, ctx: Any) -> Any:
        given["entries"] = entries
        return fit(self, entries, ctx)

    def deepar_fit(self: Any, entries: Any, ctx: Any, *, keep_fits: bool = True) -> Any:
        return member_fit(self, entries if keep_fits else given["entries"], ctx, keep_fits=keep_fits)

    ensemble.EnsembleAlgorithm.fit = auto_fit  # type: ignore[method-assign]
    deepar.DeepARAlgorithm.fit = deepar_fit  # type: ignore[method-assign]


def trained_again_at_backtest_origin() -> None:
    from forecast.models.deepar import DeepARAlgorithm

    DeepARAlgorithm.update = lambda self, model, entries, ctx: self.fit(entries, ctx)  # type: ignore[method-assign]


def run(set_name: str, seed: int) -> dict[str, object]:
    from suite_deepar_bench import train_in_process

    started = time.perf_counter()
    r = train_in_process(set_name, seed=seed)
    seconds = time.perf_counter() - started
    m = r.result["metrics"]
    figures = {"auto": m["predictor"], **m.get("members", {})}
    return {"set": set_name, "seed": seed, "seconds": round(seconds, 1),
            "weights": r.result["training"].get("weights"),
            **{k: [round(v["mase"], 4), round(v["mean_wql"], 4)] for k, v in figures.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--seed", type=int, nargs="+", default=[0])
    ap.add_argument("--mode", choices=["refit", "once"], default="refit")
    args = ap.parse_args()
    (trained_again_at_backtest_origin if args.mode == "refit" else trained_once_at_backtest_origin)()
    for seed in args.seed:
        for set_name in args.sets:
            print(json.dumps({"mode": args.mode, **run(set_name, seed)}), flush=True)


if __name__ == "__main__":
    main()
