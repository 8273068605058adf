"""A small trained world shared by a test module: real data, a tiny predictor, a forecast."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from api.client import free_port
from api.runtime import Runtime, build_runtime
from api.settings import Settings
from datasets import import_dataset
from forecast.forecasts import create_forecast
from forecast.predictors import create_predictor
from tests.forecast.conftest import head_lines, tiny


@dataclass
class World:
    settings: Settings
    runtime: Runtime
    dataset: str
    predictor: str
    forecast: str


def build_world(root: Path, samples_dir: Path, *, likelihood: str = "student-T", **settings: object) -> World:
    s = Settings(home=str(root / "home"), registry=str(root / "registry.db"), **settings)  # type: ignore[arg-type]
    rt = build_runtime(s)
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", root / "tq.jsonl", 40)
    if likelihood == "negative-binomial":  # counts: the same real series, rounded to whole trips
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**r, "target": [round(v) for v in r["target"]]}) + "\n" for r in rows))
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    create_predictor(rt.workspace, rt.registry, "pq", dataset="tq", hyperparameters=tiny(likelihood=likelihood))
    create_forecast(rt.workspace, rt.registry, "fq", predictor="pq", types="0.1,0.35,mean,0.5,0.9")
    return World(settings=s, runtime=rt, dataset="tq", predictor="pq", forecast="fq")


IN_FLIGHT = ("CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_STOPPING")


def poll(client: Any, path: str, until: Callable[[dict[str, Any]], bool] | None = None,
         timeout: float = 120) -> dict[str, Any]:
    """GET ``path`` until ``until(body)`` (default: the job is no longer in flight); the last body."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path).json()
        if (until or (lambda b: b["status"] not in IN_FLIGHT))(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL and stops
    the server on exit."""
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not srv.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@contextmanager
def sandboxed_client(root: Path) -> Iterator[Any]:
    """An in-process HTTP client of a server whose home and registry are under ``root``, which
    imports only from ``root/data`` and exports only under ``root/out``."""
    from fastapi.testclient import TestClient

    from api.server import create_app

    settings = Settings(home=str(root / "home"), registry=str(root / "registry.db"),  # type: ignore[call-arg]
                        allowed_import_prefixes=[str(root / "data")], allowed_export_prefixes=[str(root / "out")])
    with TestClient(create_app(settings)) as c:
        yield c
