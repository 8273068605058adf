"""Fits run partition by partition: ``auto``'s weights, every backtest figure, the backtest's rows,
the fit report and the stored forecasts are the same for any partition size (the Ray engine's
are compared in test_ray_engine.py); a partition that cannot be read fails the job naming it and
leaves nothing behind; a forecast's worker reads only its partition's stored forecasts. Real
data: 45 Tourism quarterly series and one too short for the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from api.runtime import Runtime
from datasets import import_dataset
from forecast.artifacts import load_predictor
from forecast.backtest_reports import BACKTEST_FILE, BACKTEST_FORECASTS_FILE
from forecast.config import DEFAULT_TEST_QUANTILES, Hyperparameters
from forecast.fit_report import FIT_REPORT_FILE
from forecast.forecasts import create_forecast
from forecast.predictors import PARTS_DIR, create_predictor
from forecast.store import load_forecast
from resources import Kind, Status
from resources.engine import LocalEngine
from tests.forecast.conftest import head_lines

pytestmark = pytest.mark.slow
AUTO = Hyperparameters(prediction_length=4, algorithm="auto", members=["ets", "theta", "seasonal_naive"])


@pytest.fixture
def tq(rt: Runtime, samples_dir: Path, tmp_path: Path) -> Runtime:
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 45)
    with path.open("a") as f:  # too short for the models before auto's weight window
        f.write(json.dumps({"item_id": "tiny", "start": "2005-01-01", "target": [5.0, 6.0, 7.0, 6.0, 5.0, 6.0,
                                                                                 7.0, 6.0, 5.0, 6.0]}) + "\n")
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    return rt


def _engine(partition_items: int | None) -> LocalEngine:
    engine = LocalEngine()
    engine.partition_items = partition_items
    return engine


def _table(rt: Runtime, name: str, file: str) -> list[str]:
    """A stored table's rows, each as JSON (NaN equal to NaN), in sorted order."""
    artifact = rt.registry.get(Kind.PREDICTOR, name).artifact
    with rt.workspace.open(f"{artifact}/{file}", "rb") as f:
        rows = pq.read_table(f).to_pylist()
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def _made_for_partition_sizes(rt: Runtime, hyperparameters: Hyperparameters) -> dict[int | None, dict[str, Any]]:
    """Predictors ``auto-None`` (one partition) and ``auto-7`` (seven) of the same data and
    hyperparameters, checked to be the same in every figure, table and forecast; their results."""
    made = {size: create_predictor(rt.workspace, rt.registry, f"auto-{size}", dataset="tq",
                                   hyperparameters=hyperparameters, engine=_engine(size)).result for size in (None, 7)}
    whole, parted = made[None], made[7]
    assert parted["metrics"] == whole["metrics"]  # every figure, to the last digit
    assert parted["training"]["weights"] == whole["training"]["weights"]
    assert parted["training"]["validation"] == whole["training"]["validation"]
    assert parted["training"]["notes"] == whole["training"]["notes"]
    assert parted["training"]["fit_report"] == whole["training"]["fit_report"]
    for file in (BACKTEST_FILE, BACKTEST_FORECASTS_FILE, FIT_REPORT_FILE):
        assert _table(rt, "auto-7", file) == _table(rt, "auto-None", file)
    for name in ("auto-None", "auto-7"):  # the parts were merged and removed
        assert not rt.workspace.exists(f"{rt.registry.get(Kind.PREDICTOR, name).artifact}/{PARTS_DIR}")
    forecasts = {}
    for size in (None, 7):
        create_forecast(rt.workspace, rt.registry, f"f-{size}", predictor=f"auto-{size}", types="0.1,0.5,0.9,mean",
                        engine=_engine(size))
        forecasts[size] = load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, f"f-{size}"))
    assert forecasts[7].item_ids == forecasts[None].item_ids and len(forecasts[7].item_ids) == 46
    for column in forecasts[None].columns:
        np.testing.assert_array_equal(forecasts[7].values[column], forecasts[None].values[column])
    return made


def test_auto_is_the_same_for_any_partition_size(tq: Runtime) -> None:
    whole = _made_for_partition_sizes(tq, AUTO)[None]
    assert any("fell back to seasonal naive" in n and "'tiny'" in n for n in whole["training"]["notes"])
    assert whole["training"]["fit_report"]["items"] == 1
    assert len(_table(tq, "auto-7", BACKTEST_FILE)) == 46 * 4  # auto, ets, theta, seasonal naive (member, baseline)


def test_auto_with_sampling_members_is_the_same_for_any_partition_size(tq: Runtime) -> None:
    """DeepAR's and NPTS's sample paths are drawn per item (a stream per item, batches decoded at
    full size), so they too are the same for one partition and for seven."""
    from tests.forecast.conftest import tiny

    whole = _made_for_partition_sizes(tq, tiny(algorithm="auto", members=["deepar", "npts"]))[None]
    assert set(whole["metrics"]["members"]) == {"deepar", "npts"}
    assert sum(whole["training"]["weights"].values()) == pytest.approx(1)  # the forecasts are theirs


def test_a_worker_reads_only_its_partition_of_the_stored_forecasts(tq: Runtime) -> None:
    rt = tq
    p = create_predictor(rt.workspace, rt.registry, "ets", dataset="tq", engine=_engine(10),
                         hyperparameters=Hyperparameters(prediction_length=4, algorithm="ets"))
    model = load_predictor(rt.workspace, str(p.artifact))
    model.focus(10, 20)
    assert len(model.known) == 10  # type: ignore[attr-defined]
    model = load_predictor(rt.workspace, str(p.artifact))
    assert len(model.known) == 46  # type: ignore[attr-defined]  # not focused: every item

    # the stored model backtested again on series held here (histories it has not seen: fitted
    # again, partition by partition): the predictor's own backtest
    from forecast.backtest import BacktestSpec, run_backtest
    from forecast.data import load_entries

    entries = load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "tq"))
    again = run_backtest(model, entries, BacktestSpec(freq="Q", prediction_length=4, windows=1, num_samples=100,
                                                      levels=DEFAULT_TEST_QUANTILES), engine=_engine(20))
    assert again.predictor.model_dump() == p.result["metrics"]["predictor"]


def test_a_partition_that_cannot_be_read_fails_the_job_naming_it(tq: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecast.errors import TrainingError
    from forecast.series_source import StoredSeries

    original = StoredSeries.read

    def broken(self: StoredSeries, start: int, stop: int) -> Any:
        if start == 14:
            raise OSError("the disk went away")
        return original(self, start, stop)

    monkeypatch.setattr(StoredSeries, "read", broken)
    with pytest.raises(TrainingError, match=r"partition 2 \(rows 14-20\) could not be read: OSError: the disk"):
        create_predictor(tq.workspace, tq.registry, "p", dataset="tq", hyperparameters=AUTO, engine=_engine(7))
    failed = tq.registry.get(Kind.PREDICTOR, "p")
    assert failed.status == Status.CREATE_FAILED and "partition 2" in (failed.message or "")
    assert failed.artifact is None and not list((Path(tq.workspace.root) / "predictors").glob("p/*"))


def test_deepar_streams_its_training_input_a_partition_at_a_time(tq: Runtime, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """The job never reads more than one partition of series at once, DeepAR's training included
    (it streams them from the stored dataset), and the network it trains is the one trained on the
    same series held in a list: the same epochs and losses."""
    from forecast.artifacts import read_manifest, resolved_config
    from forecast.features import FeaturePlan
    from forecast.models.deepar import DeepARModel
    from forecast.series_source import ModelShape, SeriesStream, StoredSeries
    from forecast.training import train_network
    from resources.registry import ResourceSnapshot
    from tests.forecast.conftest import tiny

    reads: list[int] = []
    original = StoredSeries.read

    def counted(self: StoredSeries, start: int, stop: int) -> Any:
        reads.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(StoredSeries, "read", counted)
    p = create_predictor(tq.workspace, tq.registry, "auto", dataset="tq", engine=_engine(7),
                         hyperparameters=tiny(algorithm="auto", members=["deepar", "ets"]))
    assert reads and max(reads) <= 7  # a partition at a time: facts, training, fits, backtest
    deepar = load_predictor(tq.workspace, str(p.artifact)).members["deepar"]  # type: ignore[attr-defined]
    assert isinstance(deepar, DeepARModel)

    cfg = resolved_config(read_manifest(tq.workspace, str(p.artifact)))
    series = StoredSeries(root=tq.workspace.root, dataset=tq.registry.get(Kind.DATASET, "tq"),
                          resources=ResourceSnapshot(resources=[]), plan=FeaturePlan(), freq="Q", num_items=46,
                          shape=ModelShape(num_dynamic_feat=cfg.num_dynamic_feat, num_cat=len(cfg.cardinality)),
                          drop=8)  # auto's DeepAR member trains before its weight window: 2 x 4 points
    # early stopping (tiny's): trained before the last 4 points of those, validated on them
    listed = train_network(cfg, original(series.before(4), 0, 46), original(series, 0, 46), nonnegative=True)
    streamed = train_network(cfg, SeriesStream(series.before(4), 7), SeriesStream(series, 7), nonnegative=True)
    losses = [[(e.train_loss, e.val_loss) for e in t.history] for t in (listed, streamed)]
    assert losses[0] == losses[1]
    assert losses[1] == [(e["train_loss"], e["val_loss"]) for e in deepar.training["history"]]
