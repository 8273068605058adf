"""AutoTheta's forecast spread: statsforecast's 200-path simulation (what the service stores)
against the exact Gaussian of the same simulation, and how well either covers the test window.

    .venv/bin/python bench/theta_spread_bench.py tourism-quarterly tourism-yearly m3-yearly ...

statsforecast makes AutoTheta's intervals from 200 paths, each the Theta recursion run on the
point forecast's states with i.i.d. N(0, sigma^2) errors added step by step. Every update in that
recursion is linear in the errors, so the paths are exactly Gaussian; this runs the same recursion
once per error step (an impulse each) to get the exact standard deviation, without the
Monte-Carlo error of 200 paths (about 9 % of a standard deviation at the 80 % interval's edge).

For each suite set: AutoTheta fitted on every training history by the service's own
``run_jobs`` (both cores), and the test window
scored with the service's own metric code (``forecast.metrics.accuracy``) three ways: the
service's spread, the exact spread, and the exact spread times 1.25 and 1.5; plus the share of
test points inside the 80 % interval (0.80 if calibrated). One JSON line per set.

Measured (bench/README.md, "AutoTheta's spread"): the exact spread moves mean wQL by at most
0.0006 on the nine sets, and the 80 % intervals hold 51-80 % of the test points; widening them by
1.25 helps wQL on five sets and hurts it on four (Tourism monthly and quarterly among them), so
neither change is a default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
WIDER = (1.25, 1.5)


def exact_spread(fit: dict, h: int) -> np.ndarray:
    """The standard deviation per step of statsforecast's ``compute_pi_samples`` paths, exactly:
    its recursion run with no error (column 0) and with a unit error at each step (columns 1..h)."""
    from statsforecast.theta import _repeat_val_seas

    n, alpha, theta = fit["n"], fit["par"]["alpha"], fit["par"]["theta"]
    smoothed, _, a, b, _ = fit["states"][-1]
    runs = h + 1
    smoothed, a, b = np.full(runs, smoothed, float), np.full(runs, a, float), np.full(runs, b, float)
    mean_y = np.full(runs, fit["mean_y"], float)
    impulses = np.vstack([np.zeros(h), np.eye(h)])
    paths = np.empty((h, runs))
    for k, i in enumerate(range(n, n + h)):
        s = smoothed + (1 - 1 / theta) * (a * (1 - alpha) ** i + b * (1 - (1 - alpha) ** (i + 1)) / alpha)
        s = s + impulses[:, k]
        paths[k] = s
        smoothed = alpha * s + (1 - alpha) * smoothed
        mean_y = (i * mean_y + s) / (i + 1)
        b = ((i - 1) * b + 6 * (s - mean_y) / (i + 1)) / (i + 2)
        a = mean_y - b * (i + 2) / 2
    residuals = fit["residuals"][3:] if len(fit["residuals"]) > 4 else fit["residuals"]
    sd = np.std(residuals, ddof=1) * np.sqrt(((paths[:, 1:] - paths[:, :1]) ** 2).sum(axis=1))
    if fit.get("decompose", False) and fit["decomposition_type"] == "multiplicative":
        sd = sd * _repeat_val_seas(fit["seas_forecast"]["mean"], h=h)
    return sd


def run(set_name: str) -> dict[str, object]:
    from suite import load

    from forecast.metrics import accuracy, seasonal_scale
    from forecast.models.statistical import FitJob, clean_history, gaussian_quantiles, run_jobs

    s = load(set_name)
    started = time.perf_counter()
    # the service's own fits (every core): its mean and spread, and the fitted model kept
    fits = run_jobs([FitJob("theta", s.period, s.horizon, clean_history(y), keep=True) for y in s.train], None)
    ok = [i for i, r in enumerate(fits) if r.note is None]  # a series that fell back to seasonal naive is left out
    y = np.stack([s.test[i] for i in ok])
    scale = np.array([seasonal_scale(s.train[i].astype(np.float32), s.period) for i in ok])
    nonnegative = all(s.train[i].min() >= 0 for i in ok)
    mean = np.stack([fits[i].mean for i in ok])
    simulated = np.stack([fits[i].sigma for i in ok])
    exact = np.stack([exact_spread(fits[i].fitted.model_, s.horizon) for i in ok])
    out: dict[str, object] = {"set": set_name, "series": len(ok)}
    ways = {"service (200 paths)": simulated, "exact": exact, **{f"exact x{k}": exact * k for k in WIDER}}
    for name, sigma in ways.items():
        q, m = gaussian_quantiles(mean, sigma, LEVELS, nonnegative)
        acc, _ = accuracy(y, q, LEVELS, m, q[:, LEVELS.index(0.5)], scale)
        inside = float(((y >= q[:, 0]) & (y <= q[:, -1])).mean())
        out[name] = {"mase": round(acc.mase, 4), "mean_wql": round(acc.mean_wql, 4), "in 80 % interval": round(inside, 3)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    for set_name in ap.parse_args().sets:
        print(json.dumps(run(set_name)), flush=True)


if __name__ == "__main__":
    main()
