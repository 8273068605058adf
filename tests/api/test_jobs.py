"""One lifecycle for every job kind: progress, logs, stop (HTTP and CLI), the server's settings in
the worker, and fault injection: a job's process dies (``os._exit``, as kill -9 leaves it: no
cleanup runs) at its most awkward moment, and a fresh process still sees the truth."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.runtime import build_runtime
from api.server import create_app
from api.settings import Settings
from resources import ConflictError, Kind, Status
from resources.lifecycle import sweep
from tests.forecast.conftest import TINY
from tests.service_fixtures import World, build_world, poll

pytestmark = pytest.mark.slow

LONG = {"prediction_length": 4, **TINY, "epochs": 1000, "num_batches_per_epoch": 5, "early_stopping_patience": None}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    return build_world(tmp_path_factory.mktemp("jobs"), samples_dir)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


def test_http_training_progress_log_and_stop(client: TestClient, world: World) -> None:
    r = client.post("/v1/predictors", json={"name": "long", "dataset": "tq", "hyperparameters": LONG})
    assert r.status_code == 202
    body = poll(client, "/v1/predictors/long", lambda b: b["result"].get("progress", {}).get("epoch", 0) >= 3)
    p = body["result"]["progress"]
    assert body["status"] == "CREATE_IN_PROGRESS" and p["phase"] == "training" and p["epochs"] == 1000
    assert p["train_loss"] > 0 and p["eta_seconds"] > 0
    log = client.get("/v1/predictors/long/log")
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert "predictor 'long': started" in log.text and "epoch 3/1000" in log.text
    with pytest.raises(ConflictError, match="predictor 'long'"):  # it is reading the dataset
        from datasets import delete_dataset

        delete_dataset(world.runtime.workspace, world.runtime.registry, "tq")
    r = client.delete("/v1/predictors/long")  # in progress: refused, as by the CLI and the AWS API
    assert r.status_code == 409 and "stop it first" in r.json()["detail"]
    r = client.post("/v1/predictors/long/stop")
    assert r.status_code == 202 and r.json()["status"] in ("CREATE_STOPPING", "CREATE_STOPPED")
    body = poll(client, "/v1/predictors/long", lambda b: b["status"] != "CREATE_STOPPING", timeout=60)
    assert body["status"] == "CREATE_STOPPED", body
    assert not list(Path(world.settings.home, "predictors").glob("long/*"))  # nothing partial kept
    assert "stopped" in client.get("/v1/predictors/long/log").text
    assert client.post("/v1/predictors/long/invocations", json={"instances": [
        {"start": "2000-01-01", "target": [1, 2, 3]}]}).status_code == 409
    assert client.delete("/v1/predictors/long").status_code == 204
    assert client.get("/v1/predictors/long/log").status_code == 404
    assert client.get("/v1/predictors/long").status_code == 404


def test_http_jobs_get_the_servers_whole_settings(world: World) -> None:
    """A setting given to the app (not in the environment) reaches the worker: here a training
    memory limit that refuses the job."""
    settings = world.settings.model_copy(update={"max_training_memory_mb": 64})
    assert "FORECAST_MAX_TRAINING_MEMORY_MB" not in os.environ
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/predictors", json={"name": "capped", "dataset": "tq", "hyperparameters": {"prediction_length": 4}})
        assert r.status_code == 202
        body = poll(c, "/v1/predictors/capped")
        assert body["status"] == "CREATE_FAILED" and "over the limit of 0.1 GiB" in body["message"]
        assert "over the limit of 0.1 GiB" in c.get("/v1/predictors/capped/log").text
        assert c.delete("/v1/predictors/capped").status_code == 204


def test_cli_stop_and_describe_progress(cli, world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FORECAST_HOME", world.settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(world.settings.registry))
    forecast = str(Path(sys.executable).parent / "forecast")
    proc = subprocess.Popen([forecast, "predictors", "create", "cli-long", "--dataset", "tq", "--prediction-length",
                             "4", "--epochs", "1000", "--num-batches-per-epoch", "5", "--mini-batch-size", "8",
                             "--num-cells", "8", "--num-layers", "1"], env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        registry = world.runtime.registry
        deadline = time.monotonic() + 120
        while registry.get(Kind.PREDICTOR, "cli-long").result.get("progress", {}).get("epoch", 0) < 2 \
                if registry.exists(Kind.PREDICTOR, "cli-long") else True:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        code, out, _ = cli("predictors", "describe", "cli-long")
        assert code == 0 and "CREATE_IN_PROGRESS" in out and "training: epoch" in out and "/1000" in out
        code, out, err = cli("predictors", "stop", "cli-long")
        assert code == 0, err
        assert "predictor 'cli-long' is CREATE_STOPPED" in out
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "stopped" in err and "Traceback" not in err
    finally:
        proc.kill()
    code, _, err = cli("predictors", "stop", "cli-long")
    assert code == 0  # stopping a stopped job is a no-op
    code, _, err = cli("predictors", "log", "cli-long")
    assert code == 2 and "only jobs started over HTTP" in err
    assert cli("predictors", "delete", "cli-long")[0] == 0


# -- fault injection -------------------------------------------------------------------------------


def _die_midway(kind: str, home: str, registry: str, dest: str) -> None:
    """Run one job in this (spawned) process and die without cleanup at the worst moment."""
    os.environ["FORECAST_HOME"], os.environ["FORECAST_REGISTRY"] = home, registry
    rt = build_runtime(Settings(home=home, registry=registry))
    if kind == "dataset":
        from datasets import catalog, versions

        original_write = versions.IndexingSink.write

        def write_then_die(self: Any, *a: Any, **k: Any) -> None:
            original_write(self, *a, **k)
            os._exit(9)  # part of the stored copy is written

        versions.IndexingSink.write = write_then_die  # type: ignore[method-assign]
        source = Path(home).parent / "tq.jsonl"  # the world's source file
        catalog.import_dataset(rt.workspace, rt.registry, "killed", str(source), freq="Q")
    elif kind == "forecast":
        import pyarrow.parquet as pq

        from forecast.forecasts import create_forecast

        original = pq.ParquetWriter.write_batch

        def write_then_die(self: Any, batch: Any, *a: Any, **k: Any) -> None:
            original(self, batch, *a, **k)
            os._exit(9)  # after the first batch reached the forecast file

        pq.ParquetWriter.write_batch = write_then_die  # type: ignore[method-assign]
        create_forecast(rt.workspace, rt.registry, "killed", predictor="pq", types="0.5")
    elif kind == "predictor":
        from forecast import predictors
        from forecast.config import Hyperparameters

        original_save = predictors.save_predictor

        def save_then_die(workspace: Any, rel: str, *a: Any, **k: Any) -> None:
            original_save(workspace, rel, *a, **k)
            os._exit(9)  # the artifacts are written, the row does not point at them yet

        predictors.save_predictor = save_then_die  # type: ignore[assignment]
        predictors.create_predictor(rt.workspace, rt.registry, "killed", dataset="tq",
                                    hyperparameters=Hyperparameters.model_validate({"prediction_length": 4, **TINY}))
    else:
        from fsspec.implementations import local

        from exports import create_export

        original_mv = local.LocalFileSystem.mv

        def mv_then_die(self: Any, *a: Any, **k: Any) -> None:
            original_mv(self, *a, **k)
            os._exit(9)  # one part already has its final name; no _SUCCESS

        local.LocalFileSystem.mv = mv_then_die  # type: ignore[method-assign]
        create_export(rt.workspace, rt.registry, "killed", forecast="fq", destination=dest, part_size_mb=0.001)
    raise SystemExit("did not die")


@pytest.mark.parametrize("kind", ["dataset", "forecast", "predictor", "export"])
def test_a_job_killed_midway_leaves_the_truth(kind: str, world: World, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    home, registry_path = world.settings.home, str(world.settings.registry)
    child = multiprocessing.get_context("spawn").Process(target=_die_midway, args=(kind, home, registry_path, str(dest)))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == 9
    rt = build_runtime(Settings(home=home, registry=registry_path))  # a fresh process's view
    k = Kind(kind)
    r = rt.registry.get(k, "killed")
    assert r.status == Status.CREATE_FAILED and "exited before it finished" in (r.message or "")
    with pytest.raises(ConflictError):
        rt.registry.get_active(k, "killed")
    assert r.artifact  # the partial output is on record ...
    if kind == "export":
        assert list(dest.glob("killed_*/killed_*_part0.csv")) and not list(dest.rglob("_SUCCESS"))
    else:
        assert Path(rt.workspace.path(r.artifact)).exists()
    assert [s.name for s in sweep(rt.registry, rt.workspace)] == ["killed"]  # ... and removed by the sweep
    if kind == "export":
        assert not list(dest.rglob("*_part*")) and not list(dest.glob("killed_*"))
    else:
        assert not Path(rt.workspace.path(r.artifact)).exists()
    from resources.lifecycle import delete_resource

    delete_resource(rt.registry, rt.workspace, k, "killed")  # the name can be reused
    assert not rt.registry.exists(k, "killed")


def test_server_start_sweeps_what_dead_jobs_left(world: World, tmp_path: Path) -> None:
    rt = world.runtime
    rel = "forecasts/orphan/abc"
    rt.workspace.write_bytes(f"{rel}/forecast.parquet", b"half")
    rt.registry.create(Kind.FORECAST, "orphan", status=Status.CREATE_IN_PROGRESS, spec={})
    rt.registry.set_partial(Kind.FORECAST, "orphan", rel)
    with rt.registry._connect() as db:
        import socket

        db.execute("UPDATE resources SET owner = ? WHERE name = 'orphan'", (f"{socket.gethostname()}|999999999|x-1",))
    with TestClient(create_app(world.settings)) as c:
        assert c.get("/v1/forecasts/orphan").json()["status"] == "CREATE_FAILED"
        assert not rt.workspace.exists(rel)
        assert c.delete("/v1/forecasts/orphan").status_code == 204


def test_http_stop_then_delete_an_import_in_progress(client: TestClient, world: World) -> None:
    """A CLI import in progress (here: a row owned by another process) is not deleted but stopped
    by POST .../stop, then deleted."""
    registry = world.runtime.registry
    importer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        registry.create(Kind.DATASET, "importing", status=Status.CREATE_IN_PROGRESS, spec={"source": "x", "freq": "Q"})
        registry.claim(Kind.DATASET, "importing", pid=importer.pid)
        assert client.delete("/v1/datasets/importing").status_code == 409
        r = client.post("/v1/datasets/importing/stop")
        assert r.status_code == 202 and r.json()["status"] in ("CREATE_STOPPING", "CREATE_STOPPED")
        assert importer.wait(timeout=10) == -15  # SIGTERM reached the importing process
        assert poll(client, "/v1/datasets/importing")["status"] == "CREATE_STOPPED"
        assert client.delete("/v1/datasets/importing").status_code == 204
    finally:
        importer.kill()
        importer.wait()


def test_a_killed_worker_is_noticed_and_its_partial_output_removed(client: TestClient, world: World) -> None:
    """kill -9 of an HTTP job's worker: the server's watcher records why (the log's last line) and
    removes the partial output at once, without waiting for a sweep."""
    import signal

    r = client.post("/v1/predictors", json={"name": "doomed", "dataset": "tq", "hyperparameters": LONG})
    assert r.status_code == 202
    poll(client, "/v1/predictors/doomed", lambda b: b["result"].get("progress", {}).get("epoch", 0) >= 1)
    registry = world.runtime.registry
    partial = registry.get(Kind.PREDICTOR, "doomed").artifact
    assert partial
    owner = registry.owner(Kind.PREDICTOR, "doomed")
    assert owner is not None and owner.pid != os.getpid()
    os.kill(owner.pid, signal.SIGKILL)
    body = poll(client, "/v1/predictors/doomed", lambda b: b["status"] == "CREATE_FAILED" and b["message"].startswith("worker exited"))
    assert "epoch" in body["message"]  # the last line of its log
    assert registry.get(Kind.PREDICTOR, "doomed").artifact is None
    assert not world.runtime.workspace.exists(partial)
    assert client.delete("/v1/predictors/doomed").status_code == 204
