"""Hierarchies and intermittent demand on the development suite's two sets for them, through the
service's own CLI (a fresh FORECAST_HOME):

- ``tourism-hierarchy``: fpp3 tourism (304 region x purpose series, state / region * purpose, 425
  nodes), horizon 8: base vs each reconciliation method, per level (the backtest's last 8 quarters).
- ``pbs``: fpp3 PBS scripts (334 series), horizon 12: the intermittent models vs today's ``auto``,
  on the intermittent (intermittent + lumpy) and the smooth (smooth + erratic) series separately,
  each series counting once (the median over series of RMSSE, the scaled pinball loss, as M5 scored
  them, and MASE), ``auto`` with and without its intermittent members among them.

    .venv/bin/python bench/hierarchy_bench.py [--algorithm ets] [--methods mint-shrink,bottom-up]
        [--intermittent-only | --hierarchy-only] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

METHODS = ("bottom-up", "top-down", "mint-shrink", "mint-ols", "wls-struct")
INTERMITTENT = ("croston", "sba", "tsb", "adida", "imapa")


def forecast(home: Path, *args: str) -> str:
    exe = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "forecast"
    out = subprocess.run([str(exe), *args], env={**os.environ, "FORECAST_HOME": str(home)}, capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise SystemExit(f"forecast {' '.join(args)} failed: {out.stderr or out.stdout}")
    return out.stdout


def hierarchy(home: Path, algorithm: str, methods: list[str]) -> None:
    forecast(home, "datasets", "sample", "tourism-regions", str(home / "tourism.csv"), "--format", "long")
    forecast(home, "datasets", "import", "tourism", str(home / "tourism.csv"), "--freq", "Q", "--item-column",
             "item_id", "--dimensions", "state,purpose")
    print(f"## tourism-hierarchy, {algorithm}, h 8: MASE / mean wQL per level, base -> reconciled")
    for method in methods:
        spec = "state/item_id" if method == "top-down" else "state/item_id * purpose"
        name = f"h-{method}"
        forecast(home, "predictors", "create", name, "-d", "tourism", "--prediction-length", "8", "--algorithm",
                 algorithm, "--hierarchy", spec, "--reconcile", method)
        m = json.loads(forecast(home, "predictors", "describe", name, "--json"))["metrics"]["hierarchy"]
        rows = [*m["levels"], {"level": "all", **m["overall"]}]
        print(f"{method:12s} " + "  ".join(
            f"{r['level']}: {r['base']['mase']:.3f}->{r['reconciled']['mase']:.3f} / "
            f"{r['base']['mean_wql']:.4f}->{r['reconciled']['mean_wql']:.4f}" for r in rows))


def intermittent(home: Path, seed: int) -> None:
    from datasets.samples import long_frames
    from datasets.summary import demand_class

    forecast(home, "datasets", "sample", "pbs", str(home / "pbs.csv"), "--format", "long")
    forecast(home, "datasets", "import", "pbs", str(home / "pbs.csv"), "--freq", "M", "--dimensions",
             "concession,type")
    frame = long_frames("pbs")["target"]
    classes, demand = {}, set()
    for (i, c, t), g in frame.groupby(["item_id", "concession", "type"]):
        y = g.sort_values("timestamp")["target_value"].to_numpy()
        classes[f"{i}|concession={c}|type={t}"] = demand_class(y[:-12])
        if (y[-12:] > 0).any():
            demand.add(f"{i}|concession={c}|type={t}")
    groups = {"intermittent": ("intermittent", "lumpy"), "smooth": ("smooth", "erratic")}
    print(f"## pbs, h 12, seed {seed}: per group, the median over its series of RMSSE, SPL (M5) and MASE; in "
          "brackets the mean, which a few series own (backtest: the last 12 months)")
    print("series: " + ", ".join(f"{g} {sum(c in cs for c in classes.values())}" for g, cs in groups.items())
          + f"; intermittent with demand in the window {sum(classes[k] in groups['intermittent'] for k in demand)}")
    runs = {**{a: ["--algorithm", a] for a in (*INTERMITTENT, "ets")}, "auto": ["--algorithm", "auto"],
            "auto, no intermittent members": ["--algorithm", "auto", "--intermittent-members", "[]"]}
    for label, flags in runs.items():
        name = "i-" + label.replace(",", "").replace(" ", "-")
        forecast(home, "predictors", "create", name, "-d", "pbs", "--prediction-length", "12", "--seed", str(seed),
                 *flags)
        model = flags[1]
        (path,) = (home / "predictors" / name).glob("*/backtest_items.parquet")
        table = pq.read_table(path).to_pandas()
        table = table[table["model"] == model]
        group_of = {k: next((g for g, cs in groups.items() if c in cs), "other") for k, c in classes.items()}
        table["group"] = table["item_id"].map(group_of)
        out = []
        subsets = {**{g: table["group"] == g for g in groups},
                   "intermittent, demand in the window": (table["group"] == "intermittent") &
                   table["item_id"].isin(demand)}
        for g, rows in subsets.items():
            t = table[rows]
            out.append(f"{g}: RMSSE {np.nanmedian(t['rmsse']):.3f} ({np.nanmean(t['rmsse']):.2f}), "
                       f"SPL {np.nanmedian(t['spl']):.3f} ({np.nanmean(t['spl']):.2f}), "
                       f"MASE {np.nanmedian(t['mase']):.3f}")
        print(f"{label:30s} " + "  ".join(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algorithm", default="ets", help="the hierarchy's base forecasts")
    parser.add_argument("--methods", default=",".join(METHODS), help="reconciliation methods, comma-separated")
    parser.add_argument("--hierarchy-only", action="store_true")
    parser.add_argument("--intermittent-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if not args.intermittent_only:
            hierarchy(home, args.algorithm, args.methods.split(","))
        if not args.hierarchy_only:
            intermittent(home, args.seed)


if __name__ == "__main__":
    main()
