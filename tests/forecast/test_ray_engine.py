"""Forecasts and exports on a local Ray (``num_cpus=2``, no dashboard): the same values as the
local engine, row for row, for DeepAR (sampled, a random stream per item) and a statistical model; the
same with the workspace and the export destination on S3 (a moto server on 127.0.0.1); a worker
killed mid-partition is retried and the result is complete and identical; a failing partition
fails the job cleanly. Real data: 60 Tourism quarterly series."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest

from api.runtime import Runtime
from datasets import import_dataset
from exports import create_export
from exports.destinations import open_destination
from forecast.backtest_reports import BACKTEST_FILE
from forecast.config import Hyperparameters
from forecast.forecasts import create_forecast
from forecast.predictors import create_predictor
from forecast.store import load_forecast, table_files
from resources import Kind, Status
from resources.engine import engine_for
from resources.lifecycle import sweep
from resources.ray_engine import FAULT_FILE_VARIABLE, RayEngine
from tests.forecast.conftest import head_lines, tiny
from tests.processes import kill_cli_when

pytestmark = [pytest.mark.slow, pytest.mark.ray]

#: The module's Ray (started by ``ray_cluster``), as the engine jobs run on.
RAY = RayEngine()


@pytest.fixture(scope="module")
def fault_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """While this file exists, the next Ray worker to start a partition takes it and dies."""
    return tmp_path_factory.mktemp("faults") / "kill-next-worker"


@pytest.fixture(scope="module")
def ray_cluster(fault_file: Path) -> Iterator[None]:
    import ray

    os.environ[FAULT_FILE_VARIABLE] = str(fault_file)  # the workers inherit it from the raylet
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()  # stops the raylet, the GCS and the workers this module started
        del os.environ[FAULT_FILE_VARIABLE]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()  # type: ignore[no-any-return]
    except psutil.Error:  # gone meanwhile
        return []


def assert_one_worker_died(fault_file: Path) -> None:
    """One worker took the fault file and died (its process is gone); the record is cleared."""
    (taken,) = fault_file.parent.glob(f"{fault_file.name}.taken.*")
    assert not psutil.pid_exists(int(taken.read_text()))
    taken.unlink()


@pytest.fixture
def tq60(rt: Runtime, samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """60 Tourism quarterly series imported as ``tq``, in partitions of 16 items (four)."""
    import forecast.partitions

    monkeypatch.setattr(forecast.partitions, "PARTITION_ITEMS", 16)
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 60)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    return rt


@pytest.fixture
def world(tq60: Runtime) -> Runtime:
    """``tq`` with a tiny DeepAR predictor and an AutoETS one."""
    rt = tq60
    create_predictor(rt.workspace, rt.registry, "deepar", dataset="tq", hyperparameters=tiny())
    create_predictor(rt.workspace, rt.registry, "ets", dataset="tq",
                     hyperparameters=Hyperparameters(prediction_length=4, algorithm="ets"))
    return rt


@pytest.mark.parametrize("predictor", ["deepar", "ets"])
def test_ray_forecast_equals_the_local_one(ray_cluster: None, world: Runtime, predictor: str) -> None:
    types = "0.1,0.5,0.9,mean"
    create_forecast(world.workspace, world.registry, "local", predictor=predictor, types=types)
    create_forecast(world.workspace, world.registry, "ray", predictor=predictor, types=types, engine=RAY)
    local, ray = (load_forecast(world.workspace, world.registry.get(Kind.FORECAST, n)) for n in ("local", "ray"))
    assert ray.item_ids == local.item_ids and len(local.item_ids) == 60
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])
    np.testing.assert_array_equal(ray.starts, local.starts)


def test_a_failing_partition_fails_the_job_cleanly(ray_cluster: None, world: Runtime,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that cannot load the predictor (given a path with nothing there) fail the forecast:
    CREATE_FAILED with the reason, nothing stored, the predictor untouched."""
    import forecast.forecasts
    from forecast.errors import GenerationError

    original = forecast.forecasts.plan_forecast

    def missing_artifact(*args: Any, **kw: Any) -> Any:
        job = original(*args, **kw)
        return job.model_copy(update={"predictor_artifact": job.predictor_artifact + "-missing"})

    monkeypatch.setattr(forecast.forecasts, "plan_forecast", missing_artifact)
    with pytest.raises(GenerationError):
        create_forecast(world.workspace, world.registry, "broken", predictor="ets", types="0.5", engine=RAY)
    failed = world.registry.get(Kind.FORECAST, "broken")
    assert failed.status == Status.CREATE_FAILED and failed.message and failed.artifact is None
    assert world.registry.get(Kind.PREDICTOR, "ets").status == Status.ACTIVE


def test_a_killed_worker_is_retried_and_the_forecast_is_complete(ray_cluster: None, world: Runtime,
                                                                  fault_file: Path) -> None:
    fault_file.write_text("")
    create_forecast(world.workspace, world.registry, "local", predictor="deepar", types="0.5,mean")
    create_forecast(world.workspace, world.registry, "ray", predictor="deepar", types="0.5,mean", engine=RAY)
    assert_one_worker_died(fault_file)
    local, ray = (load_forecast(world.workspace, world.registry.get(Kind.FORECAST, n)) for n in ("local", "ray"))
    assert ray.item_ids == local.item_ids and len(ray.item_ids) == 60
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])
    result = world.registry.get(Kind.FORECAST, "ray").result
    assert result["parts"] == 4 and result["precision"] == world.registry.get(Kind.FORECAST, "local").result["precision"]


def test_on_an_s3_workspace_the_ray_forecast_and_export_equal_the_local_ones(
        ray_cluster: None, fault_file: Path, s3_rt: Runtime, s3_bucket: str, samples_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The statistical fits run on Ray workers (one killed and retried) with the same results; forecast workers read the
    dataset and the predictor from S3 and write the forecast's parts there; the export's workers
    write their parts to an S3 destination, the same files as the local engine writes."""
    import exports.partitioned
    import forecast.partitions

    monkeypatch.setattr(forecast.partitions, "PARTITION_ITEMS", 16)
    monkeypatch.setattr(exports.partitioned, "EXPORT_PARTITION_ITEMS", 25)  # three export partitions
    rt = s3_rt
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 60)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    fault_file.write_text("")  # the first fitting worker dies: its chunk is fitted again by a restarted one
    fitted = {engine: create_predictor(rt.workspace, rt.registry, name, dataset="tq", engine=engine_for(engine),
                                       hyperparameters=Hyperparameters(prediction_length=4, algorithm="theta"))
              for engine, name in (("ray", "theta"), ("local", "theta-local"))}
    # the per-series fits ran on the workers: the same backtest, to the last digit
    assert fitted["ray"].result["metrics"] == fitted["local"].result["metrics"]
    assert_one_worker_died(fault_file)
    # the partition whose worker died was fitted again and wrote its parts again: no row twice
    with rt.workspace.open(f"{fitted['ray'].artifact}/{BACKTEST_FILE}", "rb") as f:
        rows = pq.read_table(f, columns=["item_id", "model"]).to_pylist()
    assert len(rows) == 60 * 2 == len({(r["item_id"], r["model"]) for r in rows})  # theta, seasonal naive
    types = "0.1,0.5,0.9,mean"
    create_forecast(rt.workspace, rt.registry, "local", predictor="theta", types=types)
    f = create_forecast(rt.workspace, rt.registry, "ray", predictor="theta", types=types, engine=RAY)
    assert f.result["parts"] == 4 and all(rt.workspace.exists(p) for p in table_files(f))
    local, ray = (load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, n)) for n in ("local", "ray"))
    assert ray.item_ids == local.item_ids
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])

    destination = f"s3://{s3_bucket}/exports/"
    options = rt.settings.storage_options(destination)
    exported = {}
    for engine in ("local", "ray"):
        e = create_export(rt.workspace, rt.registry, f"e-{engine}", forecast="ray", destination=destination,
                          storage_options=options, engine=engine_for(engine))  # type: ignore[arg-type]
        fs, _ = open_destination(destination, options)
        assert fs.exists(f"{e.result['folder']}/_SUCCESS")
        assert not fs.exists(f"{e.result['folder']}/_temporary")
        exported[engine] = (e.result, [fs.cat(p).decode() for p in e.result["files"]])
    (_, local_files), (ray_result, ray_files) = exported["local"], exported["ray"]
    assert len(ray_files) == 3 and ray_files == local_files  # every engine writes the same files
    header = '"item_id","date","p10","p50","p90","mean"'
    assert all(f.splitlines()[0] == header for f in ray_files)
    rows = [line for f in ray_files for line in f.splitlines()[1:]]
    assert len(rows) == 60 * 4 == ray_result["rows"] == len(set(rows))


def test_a_ray_backtest_equals_the_local_one(ray_cluster: None, tq60: Runtime) -> None:
    """``auto`` (DeepAR and the statistical members, weights, the ensemble) created with the Ray
    engine: the statistical fits and the backtest's forecasts ran on the workers, and every
    backtest figure is the local one's, to the last digit."""
    made = {engine: create_predictor(tq60.workspace, tq60.registry, f"auto-{engine}", dataset="tq",
                                     hyperparameters=tiny(algorithm="auto"), engine=engine_for(engine))  # type: ignore[arg-type]
            for engine in ("local", "ray")}
    local, ray = (made[e].result["metrics"] for e in ("local", "ray"))
    assert set(local["members"]) == {"deepar", "ets", "theta", "ces"}
    assert ray == local
    assert made["ray"].result["training"]["notes"] == made["local"].result["training"]["notes"]


def _pid_recorder(path: Path) -> Any:
    """A Lightning callback (pickled by value, so a Ray worker can load it) that writes the
    training process's id to ``path``."""
    import lightning.pytorch as pl

    class RecordPid(pl.Callback):
        def on_train_start(self, trainer: Any, module: Any) -> None:
            path.write_text(str(os.getpid()))

    return RecordPid()


def test_deepar_trains_on_a_ray_worker_and_reports_its_epochs_here(ray_cluster: None, tq60: Runtime,
                                                                    tmp_path: Path) -> None:
    """With the Ray engine DeepAR's training is a Ray task in another process; its epochs reach
    the job's progress as they finish, and the network is the local engine's (same epochs, losses
    and backtest)."""
    runs = {}
    for engine in ("local", "ray"):
        epochs: list[tuple[Any, ...]] = []
        r = create_predictor(tq60.workspace, tq60.registry, f"deepar-{engine}", dataset="tq",
                             hyperparameters=tiny(epochs=3, early_stopping_patience=None), engine=engine_for(engine),
                             on_epoch=lambda *e, seen=epochs: seen.append(e),
                             extra_callbacks=[_pid_recorder(tmp_path / f"{engine}.pid")])
        runs[engine] = (epochs, r.result["metrics"])
    assert int((tmp_path / "local.pid").read_text()) == os.getpid()
    assert int((tmp_path / "ray.pid").read_text()) != os.getpid()
    assert [e[0] for e in runs["ray"][0]] == [1, 2, 3]
    assert runs["ray"] == runs["local"]


def test_tuning_trials_train_at_once_as_ray_tasks(ray_cluster: None, tq60: Runtime) -> None:
    """A tuning job on the Ray engine with two trials at once: each trial is a thread of the job
    (the only process touching the registry) whose trainings are Ray tasks; two trials' trainings
    are in flight at once, every trial completes as an ordinary predictor with its validation
    losses per epoch (what early stopping reads)."""
    import dataclasses
    import threading

    from forecast.tuning import register_tuning_job, run_tuning_job
    from forecast.tuning_kind import TuningJobCreate

    spans: list[tuple[int, float, float]] = []

    class Watched(RayEngine):
        def train(self, train: Any, kwargs: dict[str, Any], *, on_epoch: Any = None) -> Any:
            started = time.monotonic()
            try:
                return super().train(train, kwargs, on_epoch=on_epoch)
            finally:
                spans.append((threading.get_ident(), started, time.monotonic()))

    hp = tiny(early_stopping_patience=None, epochs=3).model_dump(mode="json", exclude_defaults=True, exclude={"num_cells"})
    request = TuningJobCreate(name="tune", dataset="tq", hyperparameters={**hp, "algorithm": "deepar"},
                              ranges={"num_cells": {"min": 4, "max": 12, "type": "integer"}}, max_jobs=4,
                              max_parallel_jobs=2, early_stopping="auto")
    register_tuning_job(tq60.registry, request)
    job = run_tuning_job(dataclasses.replace(tq60.job_context(), engine=Watched()), "tune")
    assert job.status == Status.ACTIVE
    trials = job.result["trials"]
    assert [t["status"] for t in trials] == ["COMPLETED"] * 4 and all(len(t["curve"]) == 3 for t in trials)
    for t in trials:
        assert tq60.registry.get(Kind.PREDICTOR, t["predictor"]).status == Status.ACTIVE
    assert len(spans) == 4 * 2  # each trial's validation and backtest fits trained on Ray
    assert len({thread for thread, _, _ in spans}) == 2
    assert any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans)  # in flight at once


def test_a_stop_during_ray_training_cancels_the_task(ray_cluster: None, tq60: Runtime, tmp_path: Path) -> None:
    """A stop asked for at the first epoch (as the registry's progress report raises it) stops the
    job: CREATE_STOPPED, and the Ray worker that was training is killed, not left to finish."""
    from resources.errors import JobStopped

    def stop(*epoch: Any) -> None:
        raise JobStopped("stopped on request")

    pid_file = tmp_path / "train.pid"
    started = time.monotonic()
    with pytest.raises(JobStopped):
        create_predictor(tq60.workspace, tq60.registry, "stopped", dataset="tq",
                         hyperparameters=tiny(epochs=500, early_stopping_patience=None), engine=RAY,
                         on_epoch=stop, extra_callbacks=[_pid_recorder(pid_file)])
    assert tq60.registry.get(Kind.PREDICTOR, "stopped").status == Status.CREATE_STOPPED
    deadline = time.monotonic() + 30
    while psutil.pid_exists(int(pid_file.read_text())):
        assert time.monotonic() < deadline, "the training worker is still running"
        time.sleep(0.2)
    assert time.monotonic() - started < 120  # 500 epochs would take far longer


def test_a_killed_driver_leaves_the_forecast_failed_with_no_half_result(
        ray_cluster: None, rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    """``forecast forecasts create`` with the Ray engine (a driver of its own on this module's Ray)
    is killed once the first partition's part is written: the forecast is CREATE_FAILED, and the
    sweep removes its folder with every part in it."""
    import numpy as np
    import ray

    rng = np.random.default_rng(0)
    with (tmp_path / "many.jsonl").open("w") as f:  # 6,000 quarterly series: three partitions
        for i in range(6000):
            f.write(json.dumps({"item_id": f"s{i}", "start": "2000Q1",
                                "target": (rng.gamma(5, 20) + rng.normal(0, 5, 40)).round(1).tolist()}) + "\n")
    import_dataset(rt.workspace, rt.registry, "many", str(tmp_path / "many.jsonl"), freq="Q")
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 60)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    create_predictor(rt.workspace, rt.registry, "deepar", dataset="tq", hyperparameters=tiny(num_eval_samples=200))
    env = {**os.environ, "FORECAST_ENGINE": "ray", "FORECAST_RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    parts = Path(rt.workspace.path("forecasts"))
    kill_cli_when(["forecasts", "create", "big", "--predictor", "deepar", "--dataset", "many"],
                  lambda: bool(list(parts.glob("big/*/parts/part-*.parquet"))), what="forecast", timeout=300,
                  poll=0.05, env=env)
    r = rt.registry.get(Kind.FORECAST, "big")
    assert r.status == Status.CREATE_FAILED and r.artifact
    # Ray stops the actors of a driver that is gone; until then they may still write a part
    deadline = time.monotonic() + 60
    while any("_Forecaster" in " ".join(_cmdline(p)) for p in psutil.Process().children(recursive=True)):
        assert time.monotonic() < deadline, "the dead driver's actors are still running"
        time.sleep(0.2)
    assert [s.name for s in sweep(rt.registry, rt.workspace)] == ["big"]
    assert not rt.workspace.exists(r.artifact)


class _Sleeper:
    """A worker whose calls take a while (so two maps hold the cluster at once)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def run(self, i: int) -> str:
        time.sleep(0.2)
        return f"{self.tag}{i}"


def test_maps_at_once_on_a_full_cluster_each_go_on_with_the_actors_they_got(ray_cluster: None) -> None:
    """Four maps of two actors each on two CPUs (a tuning job's trials, in threads): each gets the
    actors the cluster can start and finishes on them; none waits on an actor that cannot start."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(4)
    try:
        futures = [pool.submit(RayEngine().map, _Sleeper, (tag,), [(i,) for i in range(6)], "run") for tag in "abcd"]
        results = [f.result(timeout=120) for f in futures]
    finally:
        pool.shutdown(wait=False)  # a deadlock fails the test instead of hanging it
    assert results == [[f"{tag}{i}" for i in range(6)] for tag in "abcd"]


def test_a_chronos_predictor_fits_and_forecasts_on_ray_as_it_does_here(ray_cluster: None, tq60: Runtime,
                                                                        tmp_path: Path) -> None:
    """A pretrained model (a small random-weight Chronos-Bolt) in auto with a statistical member:
    the workers load it from its folder (once per worker process) and every figure and forecast
    is the local engine's."""
    from tests.forecast.test_chronos import build_bolt

    build_bolt(tmp_path / "bolt")
    hp = Hyperparameters(prediction_length=4, algorithm="auto", members=["theta", "chronos"],
                         model_path=str(tmp_path / "bolt"))
    made = {name: create_predictor(tq60.workspace, tq60.registry, f"a-{name}", dataset="tq", hyperparameters=hp,
                                   engine=engine) for name, engine in (("local", None), ("ray", RAY))}
    assert made["ray"].result["metrics"] == made["local"].result["metrics"]
    assert made["ray"].result["training"]["weights"] == made["local"].result["training"]["weights"]
    for name, engine in (("local", None), ("ray", RAY)):
        create_forecast(tq60.workspace, tq60.registry, f"f-{name}", predictor="a-local", engine=engine)
    local, ray = (load_forecast(tq60.workspace, tq60.registry.get(Kind.FORECAST, f"f-{n}")) for n in ("local", "ray"))
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])


def test_a_hierarchical_predictor_and_forecast_on_ray_equal_the_local_ones(ray_cluster: None, rt: Runtime,
                                                                          tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """fpp3 tourism (two states) over ``state/region * purpose``: the nodes' fits and forecasts on
    Ray workers (partitions of 16 nodes) reconcile to the local engine's figures and table."""
    import forecast.partitions
    from datasets.long_format import LongFormat
    from datasets.samples import long_frames

    monkeypatch.setattr(forecast.partitions, "PARTITION_ITEMS", 16)
    frame = long_frames("tourism-regions")["target"].rename(columns={"item_id": "region"})
    frame[frame["state"].isin(["Tasmania", "ACT"])].to_csv(tmp_path / "t.csv", index=False)
    import_dataset(rt.workspace, rt.registry, "t", str(tmp_path / "t.csv"), freq="Q",
                   long=LongFormat(item_column="region", dimensions=["state", "purpose"]))
    hp = Hyperparameters(prediction_length=8, algorithm="seasonal_naive", hierarchy="state/region * purpose")
    for engine in ("local", "ray"):
        create_predictor(rt.workspace, rt.registry, f"h-{engine}", dataset="t", hyperparameters=hp,
                         engine=engine_for(engine))  # type: ignore[arg-type]
        create_forecast(rt.workspace, rt.registry, f"f-{engine}", predictor=f"h-{engine}", types="0.1,0.5,0.9,mean",
                        engine=engine_for(engine))  # type: ignore[arg-type]
    metrics = [rt.registry.get(Kind.PREDICTOR, f"h-{e}").result["metrics"] for e in ("local", "ray")]
    assert metrics[0]["hierarchy"] == metrics[1]["hierarchy"] and metrics[0]["hierarchy"]["levels"]
    local, ray = (load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, f"f-{e}")) for e in ("local", "ray"))
    assert ray.item_ids == local.item_ids and "__total__" in local.item_ids
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])
