"""Query latency of stored forecasts vs on-demand inference, over HTTP, from a separate process.

    .venv/bin/python bench/query_latency_bench.py [--items 100000]

1. A workspace with a DeepAR predictor (Tourism monthly, horizon 24, 2 quick epochs: weights do
   not change inference cost) and a stored forecast of ``--items`` items x 24 steps x 5 types
   (values written without the model, see ``forecast/synthetic.py``; item ids are the Tourism
   series ids with a suffix so invocations can send the same items' history).
2. ``forecast serve`` in its own process (uvicorn, one worker).
3. ``bench/loadgen.py`` in another process: closed-loop keep-alive clients at concurrency 1 and 32,
   random items: ``GET /v1/forecasts/{name}/items/{item}``, then ``POST /v1/predictors/{name}/invocations``
   with that item's history (100 samples, mean + quantiles 0.1/0.5/0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadgen(base: str, paths: Path, concurrency: int, requests: int, body: Path | None = None) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, str(ROOT / "bench" / "loadgen.py"), base, str(paths), "--concurrency", str(concurrency),
           "--requests", str(requests)]
    if body is not None:
        cmd += ["--method", "POST", "--body-file", str(body)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--query-requests", type=int, default=20_000)
    ap.add_argument("--invocation-requests", type=int, default=320)
    args = ap.parse_args()

    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from datasets.samples import write_sample
    from forecast.config import Hyperparameters
    from forecast.data import load_entries
    from forecast.predictors import create_predictor
    from forecast.synthetic import write_synthetic_forecast
    from resources import Kind

    with tempfile.TemporaryDirectory() as tmp:
        home, reg = f"{tmp}/home", f"{tmp}/registry.db"
        rt = build_runtime(Settings(home=home, registry=reg))
        write_sample("tourism-monthly", f"{tmp}/m.jsonl")
        import_dataset(rt.workspace, rt.registry, "m", f"{tmp}/m.jsonl", freq="M")
        create_predictor(rt.workspace, rt.registry, "p", dataset="m", hyperparameters=Hyperparameters(
            prediction_length=24, epochs=2, early_stopping_patience=None, algorithm="deepar"))
        entries = load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "m"))
        ids = [f"{entries[i % len(entries)]['item_id']}-{i}" for i in range(args.items)]
        t = time.perf_counter()
        write_synthetic_forecast(rt.workspace, rt.registry, "f", items=args.items, item_ids=ids, freq="M",
                                 start="2008-01-01", types="0.1,0.5,mean,0.9,0.99")
        write_seconds = time.perf_counter() - t
        sample = ids[:: max(1, args.items // 5000)]
        (Path(tmp) / "paths.txt").write_text("".join(f"/v1/forecasts/f/items/{i}\n" for i in sample))
        inv_paths = Path(tmp) / "inv_paths.txt"
        inv_paths.write_text("/v1/predictors/p/invocations\n" * len(sample))
        bodies = []
        for item in sample:
            e = entries[int(item.rsplit("-", 1)[1]) % len(entries)]
            bodies.append(json.dumps({"instances": [{"start": str(e["start"].start_time), "target": [float(v) for v in e["target"]]}],
                                      "configuration": {"num_samples": 100, "output_types": ["mean", "quantiles"],
                                                        "quantiles": ["0.1", "0.5", "0.9"]}}))
        (Path(tmp) / "bodies.txt").write_text("\n".join(bodies) + "\n")

        port = free_port()
        env = {**os.environ, "FORECAST_HOME": home, "FORECAST_REGISTRY": reg}
        server = subprocess.Popen([str(Path(sys.executable).parent / "forecast"), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/v1/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            t = time.perf_counter()
            assert httpx.get(f"{base}/v1/forecasts/f/items/{ids[0]}", timeout=120).status_code == 200
            first_query = time.perf_counter() - t
            t = time.perf_counter()
            r = httpx.post(f"{base}/v1/predictors/p/invocations", content=bodies[0], timeout=120,
                           headers={"content-type": "application/json"})
            assert r.status_code == 200, r.text
            first_invocation = time.perf_counter() - t
            results = {
                "query_c1": loadgen(base, Path(tmp) / "paths.txt", 1, args.query_requests // 4),
                "query_c32": loadgen(base, Path(tmp) / "paths.txt", 32, args.query_requests),
                "invocation_c1": loadgen(base, inv_paths, 1, args.invocation_requests // 4, Path(tmp) / "bodies.txt"),
                "invocation_c32": loadgen(base, inv_paths, 32, args.invocation_requests, Path(tmp) / "bodies.txt"),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({
        "items": args.items, "horizon": 24, "types": 5, "cpus": os.cpu_count(),
        "synthetic_forecast_write_seconds": round(write_seconds, 2),
        "first_query_seconds_incl_load": round(first_query, 3),
        "first_invocation_seconds_incl_predictor_load": round(first_invocation, 3),
        **results,
        "p50_ratio_invocation_over_query_c1": round(results["invocation_c1"]["p50_ms"] / results["query_c1"]["p50_ms"], 1),
        "p99_ratio_invocation_over_query_c32": round(results["invocation_c32"]["p99_ms"] / results["query_c32"]["p99_ms"], 1),
    }, indent=2))


if __name__ == "__main__":
    main()
