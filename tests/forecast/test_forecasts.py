"""Forecast generation: types, non-crossing quantiles, the true sample mean, storage, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets import import_dataset
from forecast.data import load_entries, model_view
from forecast.errors import ForecastInputError, ForecastTypesError
from forecast.forecasts import create_forecast, delete_forecast
from forecast.inference import summarize
from forecast.predictors import create_predictor, load_active_predictor
from forecast.store import load_forecast, table_files
from forecast.types import parse_types
from resources import AlreadyExistsError, Kind, Status
from tests.forecast.conftest import tiny
from tests.service_fixtures import World, build_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    return build_world(tmp_path_factory.mktemp("world"), samples_dir)


@pytest.mark.parametrize("bad", ["0", "1", "0.125", "p0", "p100", "p5.5", "0.1,0.1", "0.5,p50", "", " , ", "0.5,mean,mean",
                                 "-0.1", "abc"])
def test_types_rule(bad: str) -> None:
    with pytest.raises(ForecastTypesError, match="quantiles from 0.01 to 0.99 in steps of 0.01"):
        parse_types(bad)


def test_types_names() -> None:
    assert [t.column for t in parse_types("0.1,0.35,mean,0.75,0.99")] == ["p10", "p35", "mean", "p75", "p99"]
    assert [t.column for t in parse_types(["0.01", ".5"])] == ["p1", "p50"]
    assert parse_types("p10,0.35,mean,p99") == parse_types("0.1,0.35,mean,0.99")  # one type, two spellings
    assert [t.column for t in parse_types(None)] == ["p10", "p50", "p90"]


def test_summarize_mean_is_the_sample_mean_on_skewed_samples() -> None:
    rng = np.random.default_rng(0)
    samples = rng.lognormal(0, 1.5, size=(3, 500, 4)).astype(np.float32)
    q, mean = summarize(samples, [0.1, 0.5, 0.9])
    np.testing.assert_allclose(mean, samples.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(q[:, 1], np.quantile(samples, 0.5, axis=1), rtol=1e-6)
    assert (mean > q[:, 1] * 1.3).all()  # right-skewed: mean well above the median
    assert (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()


@pytest.mark.parametrize("num_samples", [1, 2, 7, 100, 1000])
def test_summarize_is_numpys_quantile_bit_for_bit(num_samples: int) -> None:
    rng = np.random.default_rng(num_samples)
    samples = (rng.standard_t(3, size=(20, num_samples, 6)) * 1000).astype(np.float32)
    samples[3, 0, 2] = np.nan  # one NaN sample: that item and step is NaN at every level, as in numpy
    levels = [0.01, 0.1, 0.25, 0.35, 0.5, 0.75, 0.9, 0.98, 0.99]
    q, mean = summarize(samples, levels)
    expected = np.moveaxis(np.quantile(samples, np.asarray(levels), axis=1), 0, 1).astype(np.float32)
    assert q.dtype == np.float32 and np.array_equal(q, expected, equal_nan=True)
    assert np.isnan(q[3, :, 2]).all() and np.isfinite(np.delete(q, 3, axis=0)).all()
    np.testing.assert_array_equal(mean, samples.mean(axis=1, dtype=np.float64).astype(np.float32))


def test_stored_forecast(world: World) -> None:
    rt = world.runtime
    r = rt.registry.get(Kind.FORECAST, "fq")
    assert r.status == Status.ACTIVE
    assert r.result["columns"] == ["p10", "p35", "mean", "p50", "p90"] and r.result["num_items"] == 40
    table = pa.concat_tables([pq.read_table(rt.workspace.path(f)) for f in table_files(r)])
    assert table.column_names == ["item_id", "start", "p10", "p35", "mean", "p50", "p90"]
    loaded = load_forecast(rt.workspace, r)
    v = loaded.values
    assert (v["p10"] <= v["p35"]).all() and (v["p35"] <= v["p50"]).all() and (v["p50"] <= v["p90"]).all()
    assert np.isfinite(v["mean"]).all()
    # forecasts start right after each item's history (Tourism quarterly series end in 2007Q4)
    assert loaded.item("Q1", columns=["p50"])["predictions"]["p50"][0]["timestamp"] == "2008-01-01T00:00:00Z"
    manifest = json.loads((Path(rt.workspace.path(r.artifact)) / "manifest.json").read_text())
    assert manifest["predictor"] == "pq" and manifest["types"] == ["0.1", "0.35", "mean", "0.5", "0.9"]


def test_float32_forecast_is_what_gluonts_predict_gives(world: World) -> None:
    """Our generation path (own decoding loop, numpy reduction, Arrow) against gluonts' own
    ``predictor.predict`` on the same network and random state: the same numbers."""
    import torch

    from forecast.inference import iter_samples

    rt = world.runtime
    _, model = load_active_predictor(rt.workspace, rt.registry, "pq")
    predictor = model.predictor
    entries = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "tq")), num_dynamic_feat=0,
                         num_cat=0, for_training=False)
    n = predictor.prediction_net.model.num_parallel_samples
    torch.manual_seed(11)
    reduced = [b.reduced for b in iter_samples(predictor, entries, num_samples=n, batch_size=predictor.batch_size,
                                               precision="float32", threads=1,
                                               reduce=lambda s: summarize(s, [0.1, 0.5, 0.9]))]
    ours = {"p10": np.concatenate([q[:, 0] for q, _ in reduced]), "mean": np.concatenate([m for _, m in reduced])}
    torch.manual_seed(11)
    theirs = np.stack([f.samples for f in predictor.predict(entries, num_samples=n)])  # (items, samples, H)
    assert theirs.shape == (40, n, 4)
    # gluonts' SampleForecast.quantile takes the nearest rank; ours interpolates (numpy's default)
    np.testing.assert_allclose(np.stack(ours["p10"]), np.quantile(theirs, 0.1, axis=1), rtol=1e-6)
    np.testing.assert_allclose(np.stack(ours["mean"]), theirs.mean(axis=1), rtol=1e-6)
    assert rt.registry.get(Kind.FORECAST, "fq").result["precision"] in ("float16", "float32")


def test_seeded_sampling_depends_on_the_seed_and_the_item_alone(world: World) -> None:
    """With a seed, each item draws from its own stream: the same paths whatever the number of
    threads, the batch or the other items; without one, a single thread draws from torch's global
    state and several from streams keyed by a seed taken from it."""
    import torch

    from forecast.inference import iter_samples

    rt = world.runtime
    predictor = load_active_predictor(rt.workspace, rt.registry, "pq")[1].predictor
    entries = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "tq")), num_dynamic_feat=0,
                         num_cat=0, for_training=False)

    def run(items: list[dict], threads: int, seed: int | None = 3) -> np.ndarray:
        torch.manual_seed(3)
        return np.concatenate([b.samples for b in iter_samples(predictor, items, num_samples=50, batch_size=6,
                                                               threads=threads, seed=seed)])

    before = torch.get_num_threads()
    two = run(entries, 2)
    assert two.shape == (40, 50, 4) and np.isfinite(two).all()
    np.testing.assert_array_equal(two, run(entries, 2))
    np.testing.assert_array_equal(two, run(entries, 3))
    np.testing.assert_array_equal(two, run(entries, 1))
    np.testing.assert_array_equal(two[7:20], run(entries[7:20], 2))  # another grouping into batches
    np.testing.assert_array_equal(two[[30, 5]], run([entries[30], entries[5]], 1))
    assert not np.array_equal(two, run(entries, 2, seed=4))
    unseeded = run(entries, 1, seed=None)
    assert not np.array_equal(two, unseeded)
    np.testing.assert_array_equal(unseeded, run(entries, 1, seed=None))  # torch's global state, seeded alike
    np.testing.assert_array_equal(run(entries, 2, seed=None), run(entries, 3, seed=None))
    assert torch.get_num_threads() == before  # restored


def test_same_predictor_same_forecast(world: World) -> None:
    rt = world.runtime
    again = create_forecast(rt.workspace, rt.registry, "fq-again", predictor="pq", types="0.1,0.35,mean,0.5,0.9")
    try:
        a = load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, "fq")).values
        b = load_forecast(rt.workspace, again).values
        for column in ("p10", "mean", "p90"):
            np.testing.assert_array_equal(a[column], b[column])
    finally:
        delete_forecast(rt.workspace, rt.registry, "fq-again")


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

