"""A small closed-loop HTTP/1.1 load generator (asyncio, keep-alive), run as its own process.

    python bench/loadgen.py URL_BASE PATHS_FILE --concurrency 32 --requests 20000 [--method POST --body-file F]

Each of ``concurrency`` connections sends its next request as soon as the previous answer is read.
Prints JSON: count, errors, throughput, and latency percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from urllib.parse import urlsplit


async def worker(host: str, port: int, requests: list[bytes], latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for req in requests:
            t = time.perf_counter()
            writer.write(req)
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t)
            if not status.startswith(b"HTTP/1.1 200"):
                errors.append(int(status.split()[1]))
    finally:
        writer.close()


def build(method: str, host: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("paths_file")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--method", default="GET")
    ap.add_argument("--body-file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    url = urlsplit(args.base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    paths = [p for p in open(args.paths_file).read().splitlines() if p]
    bodies = [b.encode() for b in open(args.body_file).read().splitlines()] if args.body_file else None
    rng = random.Random(args.seed)
    per = args.requests // args.concurrency
    plans = []
    for _ in range(args.concurrency):
        plan = []
        for _ in range(per):
            i = rng.randrange(len(paths))
            plan.append(build(args.method, host, paths[i], bodies[i] if bodies else None, {}))
        plans.append(plan)
    latencies: list[float] = []
    errors: list[int] = []
    t = time.perf_counter()
    await asyncio.gather(*(worker(host, port, plan, latencies, errors) for plan in plans))
    elapsed = time.perf_counter() - t
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3)

    print(json.dumps({"requests": len(lat), "errors": len(errors), "seconds": round(elapsed, 3),
                      "throughput_rps": round(len(lat) / elapsed, 1), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": round(lat[-1] * 1000, 3)}))


if __name__ == "__main__":
    asyncio.run(main())
