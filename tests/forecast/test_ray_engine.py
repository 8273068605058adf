"""Forecast generation on a local Ray (``num_cpus=2``, no dashboard): the same values as the local
engine, row for row, for DeepAR (sampled, seeded per partition) and a statistical model; a
failing partition fails the job cleanly. Real data: 60 Tourism quarterly series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime import Runtime
from datasets import import_dataset
from forecast.config import Hyperparameters
from forecast.forecasts import create_forecast
from forecast.predictors import create_predictor
from forecast.store import load_forecast
from resources import Kind, Status
from tests.forecast.conftest import head_lines, tiny

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()  # stops the raylet, the GCS and the workers this module started


@pytest.fixture
def world(rt: Runtime, samples_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    import forecast.forecasts

    monkeypatch.setattr(forecast.forecasts, "PARTITION_ITEMS", 16)  # four partitions of 60 items
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 60)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    create_predictor(rt.workspace, rt.registry, "deepar", dataset="tq", hyperparameters=tiny())
    create_predictor(rt.workspace, rt.registry, "ets", dataset="tq",
                     hyperparameters=Hyperparameters(prediction_length=4, algorithm="ets"))
    return rt


@pytest.mark.parametrize("predictor", ["deepar", "ets"])
def test_ray_forecast_equals_the_local_one(ray_cluster: None, world: Runtime, predictor: str) -> None:
    types = "0.1,0.5,0.9,mean"
    create_forecast(world.workspace, world.registry, "local", predictor=predictor, types=types)
    create_forecast(world.workspace, world.registry, "ray", predictor=predictor, types=types, engine="ray")
    local, ray = (load_forecast(world.workspace, world.registry.get(Kind.FORECAST, n)) for n in ("local", "ray"))
    assert ray.item_ids == local.item_ids and len(local.item_ids) == 60
    for column in local.columns:
        np.testing.assert_array_equal(ray.values[column], local.values[column])
    np.testing.assert_array_equal(ray.starts, local.starts)


def test_a_failing_partition_fails_the_job_cleanly(ray_cluster: None, world: Runtime,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that cannot load the predictor (given a path with nothing there) fail the forecast:
    CREATE_FAILED with the reason, nothing stored, the predictor untouched."""
    import forecast.ray_engine as engine
    from forecast.errors import GenerationError

    original = engine.generate_on_ray

    def missing_artifact(**kw: Any) -> int:
        return original(**{**kw, "artifact": kw["artifact"] + "-missing"})

    monkeypatch.setattr(engine, "generate_on_ray", missing_artifact)
    with pytest.raises(GenerationError):
        create_forecast(world.workspace, world.registry, "broken", predictor="ets", types="0.5", engine="ray")
    failed = world.registry.get(Kind.FORECAST, "broken")
    assert failed.status == Status.CREATE_FAILED and failed.message and failed.artifact is None
    assert world.registry.get(Kind.PREDICTOR, "ets").status == Status.ACTIVE
