"""Write a stored forecast of any size without a model: for benchmarks and tests of the paths
that only read forecasts (HTTP queries, exports). Values are random but well-formed: quantile
columns are sorted so they never cross, and ``mean`` lies between the outer quantiles."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np

from forecast.store import MANIFEST_FILE, forecast_batch, forecast_table_writer
from forecast.types import parse_types
from resources import Kind, Registry, Resource, Status, Workspace


def write_synthetic_forecast(
    workspace: Workspace, registry: Registry, name: str, *, items: int, horizon: int = 24,
    types: str = "0.1,0.5,mean,0.9,0.99", freq: str = "h", start: str = "2015-01-01 01:00:00",
    item_ids: list[str] | None = None, seed: int = 0, batch_items: int = 8192,
) -> Resource:
    parsed = parse_types(types)
    columns = [t.column for t in parsed]
    ids = item_ids if item_ids is not None else [f"item_{i}" for i in range(items)]
    rng = np.random.default_rng(seed)
    rel = workspace.new_artifact_dir("forecast", name)
    start_ns = np.datetime64(start, "ns").astype(np.int64)
    with forecast_table_writer(workspace, rel, columns, horizon) as write:
        for lo in range(0, len(ids), batch_items):
            chunk = ids[lo : lo + batch_items]
            n = len(chunk)
            q_levels = sorted(t.level for t in parsed if not t.is_mean)
            base = rng.gamma(2.0, 50.0, size=(n, 1, horizon)).astype(np.float32)
            spread = np.sort(rng.normal(0, 1, size=(n, max(len(q_levels), 2), horizon)).astype(np.float32), axis=1)
            qvals = {f"p{round(q * 100)}": base[:, 0] + 10 * spread[:, i] for i, q in enumerate(q_levels)}
            qvals["mean"] = base[:, 0] + 10 * spread.mean(axis=1)
            write(forecast_batch(chunk, np.full(n, start_ns), qvals, columns, horizon))
    result = {"columns": columns, "types": [t.label for t in parsed], "prediction_length": horizon, "freq": freq,
              "num_items": len(ids), "seconds": 0.0, "items_per_second": None,
              "created_at": datetime.now(UTC).isoformat(), "synthetic": True}
    workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps({"name": name, **result}).encode())
    return registry.create(Kind.FORECAST, name, status=Status.ACTIVE, artifact=rel,
                           spec={"predictor": None, "dataset": None, "types": result["types"], "columns": columns},
                           result=result)
