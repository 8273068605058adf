"""Forecast generation: types, non-crossing quantiles, the true sample mean, storage, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from datasets import AlreadyExistsError, Kind, Status, import_dataset
from forecast.errors import ForecastInputError, ForecastTypesError
from forecast.forecasts import create_forecast, reduce_samples
from forecast.predictors import create_predictor
from forecast.store import load_forecast
from forecast.types import parse_types
from tests.forecast.conftest import tiny
from tests.service_fixtures import World, build_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    return build_world(tmp_path_factory.mktemp("world"), samples_dir)


@pytest.mark.parametrize("bad", ["0", "1", "0.125", "p50", "0.1,0.1", "", " , ", "0.5,mean,mean", "-0.1", "abc"])
def test_types_rule(bad: str) -> None:
    with pytest.raises(ForecastTypesError, match="quantiles from 0.01 to 0.99 in steps of 0.01"):
        parse_types(bad)


def test_types_names() -> None:
    assert [t.column for t in parse_types("0.1,0.35,mean,0.75,0.99")] == ["p10", "p35", "mean", "p75", "p99"]
    assert [t.column for t in parse_types(["0.01", ".5"])] == ["p1", "p50"]
    assert [t.column for t in parse_types(None)] == ["p10", "p50", "p90"]


def test_reduce_samples_mean_is_the_sample_mean_on_skewed_samples() -> None:
    rng = np.random.default_rng(0)
    samples = rng.lognormal(0, 1.5, size=(3, 500, 4)).astype(np.float32)
    out = reduce_samples(samples, parse_types("0.1,0.5,mean,0.9"))
    np.testing.assert_allclose(out["mean"], samples.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out["p50"], np.quantile(samples, 0.5, axis=1), rtol=1e-6)
    assert (out["mean"] > out["p50"] * 1.3).all()  # right-skewed: mean well above the median
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()


def test_stored_forecast(world: World) -> None:
    rt = world.runtime
    r = rt.registry.get(Kind.FORECAST, "fq")
    assert r.status == Status.ACTIVE
    assert r.result["columns"] == ["p10", "p35", "mean", "p50", "p90"] and r.result["num_items"] == 40
    table = pq.read_table(Path(rt.workspace.path(r.artifact)) / "forecast.parquet")
    assert table.column_names == ["item_id", "start", "p10", "p35", "mean", "p50", "p90"]
    loaded = load_forecast(rt.workspace, r)
    v = loaded.values
    assert (v["p10"] <= v["p35"]).all() and (v["p35"] <= v["p50"]).all() and (v["p50"] <= v["p90"]).all()
    assert np.isfinite(v["mean"]).all()
    # forecasts start right after each item's history (Tourism quarterly series end in 2007Q4)
    assert loaded.item("Q1", columns=["p50"])["predictions"]["p50"][0]["timestamp"] == "2008-01-01T00:00:00Z"
    manifest = json.loads((Path(rt.workspace.path(r.artifact)) / "manifest.json").read_text())
    assert manifest["predictor"] == "pq" and manifest["types"] == ["0.1", "0.35", "mean", "0.5", "0.9"]


def test_bad_input_registers_nothing(world: World) -> None:
    rt = world.runtime
    with pytest.raises(AlreadyExistsError):
        create_forecast(rt.workspace, rt.registry, "fq", predictor="pq")
    with pytest.raises(ForecastTypesError):
        create_forecast(rt.workspace, rt.registry, "f2", predictor="pq", types="0.125")
    with pytest.raises(KeyError, match="predictor 'nope' not found"):
        create_forecast(rt.workspace, rt.registry, "f2", predictor="nope")
    assert [r.name for r in rt.registry.list(Kind.FORECAST)] == ["fq"]


def test_dynamic_features_must_reach_the_horizon(tmp_path: Path, samples_dir: Path) -> None:
    from api.runtime import build_runtime

    rt = build_runtime()
    records = [json.loads(line) for line in (samples_dir / "epf-fr-be.jsonl").read_text().splitlines()]
    import_dataset(rt.workspace, rt.registry, "epf", str(samples_dir / "epf-fr-be.jsonl"), freq="H")
    create_predictor(rt.workspace, rt.registry, "pe", dataset="epf", hyperparameters=tiny(prediction_length=24))
    with pytest.raises(ForecastInputError, match="must extend prediction_length=24 steps past each target"):
        create_forecast(rt.workspace, rt.registry, "fe", predictor="pe")
    # the real future regressors: hold back the last 24 prices, keep the features
    future = tmp_path / "future.jsonl"
    future.write_text("".join(json.dumps({**r, "target": r["target"][:-24]}) + "\n" for r in records))
    import_dataset(rt.workspace, rt.registry, "epf-future", str(future), freq="H")
    f = create_forecast(rt.workspace, rt.registry, "fe", predictor="pe", dataset="epf-future", types="0.5,mean")
    loaded = load_forecast(rt.workspace, f)
    first = loaded.item("FR")["predictions"]["p50"][0]["timestamp"]
    assert first == "2016-10-31T00:00:00Z"  # the first held-back hour

