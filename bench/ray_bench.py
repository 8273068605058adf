"""Forecasts, statistical fits and CSV exports of many items, local engine vs Ray, on this machine.

    .venv/bin/python bench/ray_bench.py [--items 100000] [--length 120] [--horizon 12]
    .venv/bin/python bench/ray_bench.py --items 1000000 --fit-engines local --no-flat-check
    .venv/bin/python bench/ray_bench.py --items 50000 --fit-algorithm auto --members theta,seasonal_naive \
        --steps fit,forecast-naive

Synthetic monthly series of realistic length (``--length`` points: level, trend, yearly season,
noise; every series different) are imported once. Then, each step in a fresh child process (so
the driver's peak RSS is its own), with the local engine and with a local Ray (``num_cpus`` = the
machine's cores, started by the child; its start-up is timed apart):

- ``fit``: a seasonal-naive predictor (``--fit-algorithm``: another, or ``auto`` with
  ``--members``) fitted and backtested on every series, partition by partition on the engine's
  workers (statsforecast per series: the statistical fitting path; AutoETS and the others run the
  same path, tens of times slower per series);
- ``forecast-deepar``: a forecast of every series (0.1, 0.5, 0.9, mean; 100 sample paths) from a
  DeepAR predictor trained on 2,000 of them (a few epochs: generation cost does not depend on the
  training);
- ``forecast-naive``: the same from the predictor fitted on the first of ``--fit-engines`` (its
  workers read their partition's stored forecasts);
- ``export``: the DeepAR forecast (without ``forecast-deepar``: the fitted predictor's) as CSV
  into a local folder;
- ``statsforecast``: the same model (``--fit-algorithm``, not ``auto``) fitted and forecast once per
  series by statsforecast itself: ``StatsForecast.forecast`` with ``n_jobs=-1`` locally, and on Ray
  through its Fugue back end (a ``ray.data`` dataset; needs ``pip install 'fugue[ray]'``), from a
  pandas frame of every series the driver builds, as statsforecast's own distributed run takes it.

The driver's memory is measured again on a quarter of the items (``--flat-check``: the DeepAR
forecast on Ray, and the fit on every fit engine), to show it does not grow with them. Worker peak RSS is the largest Ray worker process seen (polled every
0.2 s). Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def write_series(path: Path, items: int, length: int, seed: int = 0) -> None:
    """JSON lines of ``items`` monthly series (different level, trend, season and noise each)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    with path.open("w") as f:
        for lo in range(0, items, 10_000):
            n = min(10_000, items - lo)
            level = rng.lognormal(4, 1, (n, 1))
            trend = rng.normal(0, 0.003, (n, 1)) * level * t
            season = rng.uniform(0, 0.3, (n, 1)) * level * np.sin(2 * np.pi * (t + rng.integers(0, 12, (n, 1))) / 12)
            y = np.maximum(level + trend + season + rng.normal(0, 0.1, (n, length)) * level, 0).round(2)
            for i in range(n):
                f.write(json.dumps({"item_id": f"item_{lo + i}", "start": "2010-01",
                                    "target": y[i].tolist()}) + "\n")


class PeakWatcher:
    """The largest RSS of any Ray worker process below this one, polled in a thread."""

    def __init__(self) -> None:
        import psutil

        self.peak = 0
        self._stop = threading.Event()
        self._me = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for p in self._me.children(recursive=True):
                try:
                    if "ray::" in p.name() or "default_worker" in " ".join(p.cmdline()):
                        self.peak = max(self.peak, p.memory_info().rss)
                except psutil.Error:
                    pass

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def child(args: argparse.Namespace) -> None:
    """One step with one engine, in this process; prints its measurements as JSON."""
    import resource

    from api.runtime import build_runtime
    from api.settings import Settings
    from exports import create_export
    from forecast.config import Hyperparameters
    from forecast.forecasts import create_forecast
    from forecast.predictors import create_predictor
    from resources import Kind
    from resources.engine import engine_for

    rt = build_runtime(Settings(home=args.home, registry=args.registry))  # type: ignore[call-arg]
    out: dict[str, Any] = {"step": args.step, "engine": args.engine, "dataset": args.dataset}
    watcher = None
    if args.engine == "ray":
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        out["ray_start_seconds"] = round(time.perf_counter() - started, 2)
        watcher = PeakWatcher()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    tag = f"{args.engine}-{args.dataset}"
    engine = engine_for(args.engine, partition_items=args.partition_items)
    out["partition_items"] = args.partition_items or 2048
    if args.step == "fit":
        hp = Hyperparameters(prediction_length=args.horizon, algorithm=args.fit_algorithm,
                             **({"members": args.members.split(",")} if args.fit_algorithm == "auto" else {}))
        p = create_predictor(rt.workspace, rt.registry, f"naive-{tag}", dataset=args.dataset, engine=engine,
                             hyperparameters=hp)
        items = rt.registry.get(Kind.DATASET, args.dataset).result["num_series"]
        training = p.result["training"]
        out.update(algorithm=args.fit_algorithm, weights=training.get("weights"),
                   mase=p.result["metrics"]["predictor"]["mase"],
                   step_seconds={k: training[k] for k in ("fit_seconds", "backtest_seconds", "finalize_seconds")},
                   partition_seconds=training.get("partition_seconds"))
    elif args.step == "statsforecast":
        items, out["fits"] = statsforecast_run(rt, args, engine.name)
    elif args.step.startswith("forecast-"):
        predictor = "deepar" if args.step == "forecast-deepar" else f"naive-{args.fitted_on}-{args.dataset}"
        r = create_forecast(rt.workspace, rt.registry, f"{args.step}-{tag}", predictor=predictor,
                            dataset=args.dataset, types="0.1,0.5,0.9,mean", engine=engine)
        items = r.result["num_items"]
        out["partitions"] = r.result.get("parts")
        out["precision"] = r.result["precision"]
    else:
        r = create_export(rt.workspace, rt.registry, f"export-{tag}", forecast=f"{args.export_of}-{tag}",
                          destination=str(Path(args.home).parent / "exports"), engine=engine)
        items = r.result["rows"]
        out["rows"] = r.result["rows"]
        out["mib"] = round(r.result["bytes"] / 2**20, 1)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.update(seconds=round(seconds, 2), per_second=round(items / seconds) if items else None,
               driver_cpu_seconds=round(usage.ru_utime + usage.ru_stime - cpu_before, 2),
               driver_peak_mib=round(usage.ru_maxrss / 1024))
    if watcher is not None:
        out["worker_peak_mib"] = round(watcher.stop())
    print(json.dumps(out), flush=True)


def statsforecast_run(rt: Any, args: argparse.Namespace, engine: str) -> tuple[int, int]:
    """statsforecast's own run of ``--fit-algorithm`` on every series (one fit and forecast each);
    returns the items and the fits."""
    import numpy as np
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoCES, AutoETS, AutoTheta, SeasonalNaive

    from forecast.data import load_entries
    from resources import Kind

    entries = load_entries(rt.workspace, rt.registry.get(Kind.DATASET, args.dataset))
    frame = pd.DataFrame({
        "unique_id": np.repeat([e["item_id"] for e in entries], [len(e["target"]) for e in entries]),
        "ds": np.concatenate([pd.period_range(e["start"], periods=len(e["target"])).to_timestamp()
                              for e in entries]),
        "y": np.concatenate([e["target"] for e in entries]).astype(np.float64),
    })
    model = {"seasonal_naive": SeasonalNaive, "theta": AutoTheta, "ets": AutoETS, "ces": AutoCES}[args.fit_algorithm]
    sf = StatsForecast(models=[model(season_length=12)], freq="MS", n_jobs=-1)
    if engine == "ray":
        import ray.data

        result = sf.forecast(df=ray.data.from_pandas(frame), h=args.horizon, level=[80]).to_pandas()
    else:
        result = sf.forecast(df=frame, h=args.horizon, level=[80])
    assert len(result) == len(entries) * args.horizon
    return len(entries), len(entries)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--length", type=int, default=120)
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--flat-check", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--steps", default="fit,forecast-naive,forecast-deepar,export",
                    help="which steps to measure (fit comes first: the naive forecasts use its predictor)")
    ap.add_argument("--fit-engines", default="local,ray",
                    help="engines the fit step runs on (at 1M items, 'local' alone: the forecasts need one fit)")
    ap.add_argument("--fit-algorithm", default="seasonal_naive", help="the fit step's algorithm")
    ap.add_argument("--members", default="ets,theta,ces", help="with --fit-algorithm auto: its members")
    ap.add_argument("--partition-items", type=int, help="items per partition (default 2,048)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fitted-on", help=argparse.SUPPRESS)
    ap.add_argument("--export-of", help=argparse.SUPPRESS)
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--dataset", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    ap.add_argument("--registry", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.steps = args.steps.split(",")
    if args.child:
        child(args)
        return

    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from forecast.config import Hyperparameters
    from forecast.predictors import create_predictor

    with tempfile.TemporaryDirectory() as tmp:
        home, registry = f"{tmp}/home", f"{tmp}/registry.db"
        rt = build_runtime(Settings(home=home, registry=registry))  # type: ignore[call-arg]
        sets = {"big": args.items, "quarter": args.items // 4,
                **({"train": 2000} if "forecast-deepar" in args.steps else {})}
        for name, n in sets.items():
            if name == "quarter" and not args.flat_check:
                continue
            started = time.perf_counter()
            write_series(Path(tmp) / f"{name}.jsonl", n, args.length)
            import_dataset(rt.workspace, rt.registry, name, str(Path(tmp) / f"{name}.jsonl"), freq="M")
            print(json.dumps({"step": "import", "dataset": name, "items": n,
                              "seconds": round(time.perf_counter() - started, 2)}), flush=True)
        if "forecast-deepar" in args.steps:
            started = time.perf_counter()
            create_predictor(rt.workspace, rt.registry, "deepar", dataset="train", hyperparameters=Hyperparameters(
                prediction_length=args.horizon, algorithm="deepar", epochs=args.epochs))
            print(json.dumps({"step": "train deepar", "seconds": round(time.perf_counter() - started, 2)}),
                  flush=True)

        def step(name: str, engine: str, dataset: str = "big") -> None:
            subprocess.run([sys.executable, __file__, "--child", "--step", name, "--engine", engine, "--dataset",
                            dataset, "--home", home, "--registry", registry, "--horizon", str(args.horizon),
                            "--fit-algorithm", args.fit_algorithm, "--members", args.members,
                            "--fitted-on", args.fit_engines.split(",")[0],
                            "--export-of", "forecast-deepar" if "forecast-deepar" in args.steps else "forecast-naive",
                            *(["--partition-items", str(args.partition_items)] if args.partition_items else [])],
                           check=True)

        for name in ("fit", "forecast-naive", "forecast-deepar", "export", "statsforecast"):
            for engine in ("local", "ray"):
                if name in args.steps and (name != "fit" or engine in args.fit_engines.split(",")):
                    step(name, engine)
        if args.flat_check and "forecast-deepar" in args.steps:
            step("forecast-deepar", "ray", "quarter")
        if args.flat_check and "fit" in args.steps:
            for engine in args.fit_engines.split(","):
                step("fit", engine, "quarter")


if __name__ == "__main__":
    main()
