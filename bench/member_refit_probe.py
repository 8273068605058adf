"""A probe: `auto` with its DeepAR member trained again at the backtest origin.

    .venv/bin/python bench/member_refit_probe.py tourism-yearly m3-yearly ... [--seed 0]

Today `auto` trains its DeepAR member once, before the validation window, and that network
forecasts the backtest window from the longer histories; the statistical members are fitted again
at the backtest origin. This runs the service's own `create_predictor` with the DeepAR member
trained from scratch at the backtest origin (``DeepARAlgorithm.update`` made a fresh ``fit`` for
this process only), so the validation window, and so the weights, are exactly today's (same seed, same
machine: training is reproducible there) and only the DeepAR member's backtest forecasts change:
compare with `bench/suite_deepar_bench.py <sets> --seeds N --algorithm auto` run on the same
machine. The retrained member is the network `--algorithm deepar` trains (same data, settings and
seed). One JSON line per set: `auto`, each member, seconds.

Measured (bench/README.md, "Seed 0 again on every set"): better on six of the nine sets (M3
yearly's MASE by 7 %), worse on Tourism monthly's wQL by 4.4 %, and 3.37x DeepAR alone's time
there (today 2.32x): not adopted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))


def run(set_name: str, seed: int) -> dict[str, object]:
    from suite_deepar_bench import train_in_process

    from forecast.models.deepar import DeepARAlgorithm

    DeepARAlgorithm.update = lambda self, model, entries, ctx: self.fit(entries, ctx)  # type: ignore[method-assign]
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
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for set_name in args.sets:
        print(json.dumps(run(set_name, args.seed)), flush=True)


if __name__ == "__main__":
    main()
