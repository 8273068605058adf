"""AutoCES's forecast spread: statsforecast's 5,000-path simulation against the exact Gaussian the
service computes from the fitted states (``forecast.models.statistical.ces_gaussian``).

    .venv/bin/python bench/ces_spread_bench.py tourism-monthly tourism-yearly m3-yearly [--series 60]

For the first ``--series`` training histories of each suite set: AutoCES fitted once, then its
forecast and 80 % interval both ways. Prints per set the largest relative difference of the point
forecasts, the ratio exact / simulated of the standard deviation per step (median, 1st and 99th
percentiles over series and steps), how many series fell back to the simulation, and the CPU
seconds of each way (one process). The simulation draws with a fixed seed, so its Monte-Carlo
error (about 2 % of a standard deviation at 5,000 paths) is shared by series of similar shape;
``--paths N`` also simulates N paths per series with fresh seeds, to show which side that error is on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))


def run(set_name: str, series: int, paths: int) -> dict[str, object]:
    from statsforecast.ces import cesforecast, switch_ces
    from statsforecast.models import AutoCES
    from suite import load

    from forecast.models.statistical import ces_gaussian, clean_history, gaussian_from_interval

    s = load(set_name)
    ratios: list[float] = []
    fresh: list[float] = []
    mean_diff, fallbacks, t_exact, t_simulated = 0.0, 0, 0.0, 0.0
    rng = np.random.default_rng(12345)
    for history in s.train[:series]:
        model = AutoCES(season_length=s.period).fit(clean_history(history))
        t = time.process_time()
        exact = ces_gaussian(model, s.horizon)
        t_exact += time.process_time() - t
        t = time.process_time()
        mean, sigma = gaussian_from_interval(model.predict(h=s.horizon, level=[80]))
        t_simulated += time.process_time() - t
        if exact is None:
            fallbacks += 1
            continue
        mean_diff = max(mean_diff, float(np.abs(exact[0] - mean).max() / (np.abs(mean).max() + 1e-12)))
        ok = sigma > 0
        ratios.extend((exact[1][ok] / sigma[ok]).tolist())
        if paths:
            fit = model.model_
            draws = np.empty((paths, s.horizon))
            for k in range(paths):
                noise = rng.normal(0.0, np.sqrt(fit["sigma2"]), size=fit["states"].shape)
                cesforecast(states=fit["states"] + noise, n=fit["n"], m=fit["m"], season=switch_ces(fit["seasontype"]),
                            h=s.horizon, f=draws[k], **fit["par"])
            spread = draws.std(axis=0)
            fresh.extend((exact[1][spread > 0] / spread[spread > 0]).tolist())
    r = np.array(ratios)
    out: dict[str, object] = {
        "set": set_name, "series": min(series, len(s.train)), "fallbacks": fallbacks,
        "largest point difference": mean_diff,
        "exact / simulated sd": {"median": round(float(np.median(r)), 4), "p1": round(float(np.percentile(r, 1)), 4),
                                 "p99": round(float(np.percentile(r, 99)), 4)},
        "cpu s exact": round(t_exact, 2), "cpu s simulated": round(t_simulated, 2)}
    if fresh:
        out[f"exact / sd of {paths} fresh paths (median)"] = round(float(np.median(fresh)), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--series", type=int, default=60)
    ap.add_argument("--paths", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    for set_name in args.sets:
        print(json.dumps(run(set_name, args.series, args.paths)), flush=True)


if __name__ == "__main__":
    main()
