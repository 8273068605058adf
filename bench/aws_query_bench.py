"""QueryForecast through a stock boto3 ``forecastquery`` client against our ``/v1`` item query: the
same items, interleaved, one keep-alive client each, in one run.

    .venv/bin/python bench/aws_query_bench.py [--queries 2000]

A workspace with Tourism quarterly (427 series) imported, a seasonal-naive predictor (the query
path does not depend on the algorithm) and a forecast of p10, p50, p90 and mean over 8 quarters;
``forecast serve`` in its own process (``api.client.LocalService``) with SigV4 checking on
(``FORECAST_AWS_ACCESS_KEY_ID`` / ``FORECAST_AWS_SECRET_ACCESS_KEY``), as a migrated client runs it.
Each round asks both paths for the same random item; latencies are client-side wall times,
including boto3's signing and parsing and httpx's JSON decoding.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY, SECRET = "AKIDBENCH", "bench-secret"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    import boto3
    import httpx

    from api.client import LocalService
    from datasets.samples import write_sample

    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_sample("tourism-quarterly", root / "tq.jsonl")
        env = {"FORECAST_AWS_ACCESS_KEY_ID": KEY, "FORECAST_AWS_SECRET_ACCESS_KEY": SECRET}
        with LocalService(home=root / "home", allowed_prefixes=[root], env=env) as service:
            c = service.client
            c.import_dataset("tq", str(root / "tq.jsonl"), freq="Q")
            c.create_predictor("naive", dataset="tq", prediction_length=8, algorithm="seasonal_naive")
            c.create_forecast("f", predictor="naive", types="0.1,0.5,0.9,mean")
            items = c.item_ids("f", limit=1000)
            arn = "arn:aws:forecast:us-east-1:000000000000:forecast/f"
            fq = boto3.client("forecastquery", endpoint_url=service.url, region_name="us-east-1",
                              aws_access_key_id=KEY, aws_secret_access_key=SECRET)
            http = httpx.Client(base_url=service.url)
            rng = random.Random(0)
            boto_ms: list[float] = []
            v1_ms: list[float] = []
            for i in range(args.queries + 100):  # the first 100 rounds warm up both paths
                item = rng.choice(items)
                t = time.perf_counter()
                a = fq.query_forecast(ForecastArn=arn, Filters={"item_id": item})["Forecast"]["Predictions"]
                t1 = time.perf_counter()
                b = http.get(f"/v1/forecasts/f/items/{item}").json()["predictions"]
                t2 = time.perf_counter()
                assert [p["Value"] for p in a["p50"]] == [p["value"] for p in b["p50"]]
                if i >= 100:
                    boto_ms.append((t1 - t) * 1000)
                    v1_ms.append((t2 - t1) * 1000)
            http.close()
    result = {"queries": args.queries, "items": len(items), "sigv4": True}
    for label, values in (("boto3 query_forecast", boto_ms), ("/v1 item query (httpx)", v1_ms)):
        result[label] = {"p50_ms": round(statistics.median(values), 3), "p90_ms": round(percentile(values, 0.9), 3),
                         "p99_ms": round(percentile(values, 0.99), 3), "mean_ms": round(statistics.mean(values), 3)}
    result["ratio_p50"] = round(statistics.median(boto_ms) / statistics.median(v1_ms), 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
