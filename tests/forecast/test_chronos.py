"""Pretrained models (algorithm ``chronos``) from weights the user provides: small Chronos-Bolt and
Chronos-2 models built here with chronos-forecasting's own configuration classes (random weights of
tiny dimensions: nothing is downloaded), loaded from a folder and from a moto bucket, backtested,
forecast and exported; as a member of ``auto``; Chronos-2 reading related series; and every bad
model path refused with the path named and nothing registered. Real data: Tourism quarterly and
the EPF France/Belgium electricity prices with their two regressors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from api.runtime import Runtime, build_runtime
from api.settings import Settings
from datasets import LongFormat, import_dataset
from datasets.samples import long_frames
from exports import create_export
from forecast.config import Hyperparameters
from forecast.features import FeatureInputs
from forecast.forecasts import create_forecast
from forecast.models.base import interpolate_levels
from forecast.models.chronos import quantile_mean
from forecast.predictors import create_predictor
from forecast.pretrained import settle_pretrained
from forecast.store import load_forecast
from resources import InvalidInputError, Kind, NotFoundError
from tests.forecast.conftest import head_lines

pytestmark = pytest.mark.slow  # builds (and loads) models

BOLT_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
CHRONOS2_QUANTILES = [0.01, 0.05, *[round(0.1 + 0.05 * i, 2) for i in range(17)], 0.95, 0.99]


def build_bolt(folder: Path, *, prediction_length: int = 64) -> int:
    """A Chronos-Bolt of tiny dimensions with random weights, saved as Hugging Face does; its
    parameter count."""
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    torch.manual_seed(0)
    config = T5Config(
        d_model=16, d_kv=4, d_ff=16, num_layers=2, num_decoder_layers=2, num_heads=4, vocab_size=2, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0, feed_forward_proj="relu", is_encoder_decoder=True, reg_token_id=1,
        architectures=["ChronosBoltModelForForecasting"], chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config={"context_length": 512, "input_patch_size": 16, "input_patch_stride": 16,
                        "prediction_length": prediction_length, "quantiles": BOLT_QUANTILES, "use_reg_token": True})
    model = ChronosBoltModelForForecasting(config)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())  # each tied tensor once, as the file holds it


def build_chronos2(folder: Path) -> int:
    """A Chronos-2 of tiny dimensions with random weights; its parameter count."""
    import torch
    from chronos.chronos2 import Chronos2Model
    from chronos.chronos2.config import Chronos2CoreConfig

    torch.manual_seed(0)
    config = Chronos2CoreConfig(
        d_model=16, d_kv=4, d_ff=16, num_layers=2, num_heads=4, reg_token_id=1, architectures=["Chronos2Model"],
        chronos_pipeline_class="Chronos2Pipeline",
        chronos_config={"context_length": 2048, "input_patch_size": 16, "input_patch_stride": 16,
                        "output_patch_size": 16, "max_output_patches": 64, "quantiles": CHRONOS2_QUANTILES,
                        "use_reg_token": True, "use_arcsinh": True, "time_encoding_scale": 2048})
    model = Chronos2Model(config)
    model.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())  # each tied tensor once, as the file holds it


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    root = tmp_path_factory.mktemp("models")
    return {"chronos-bolt-tiny": (root / "chronos-bolt-tiny", build_bolt(root / "chronos-bolt-tiny")),
            "chronos-2-tiny": (root / "chronos-2-tiny", build_chronos2(root / "chronos-2-tiny"))}


@pytest.fixture
def tq(samples_dir: Path, tmp_path: Path) -> Runtime:
    rt = build_runtime()
    import_dataset(rt.workspace, rt.registry, "tq", str(head_lines(samples_dir / "tourism-quarterly.jsonl",
                                                                   tmp_path / "tq.jsonl", 30)), freq="Q")
    return rt


def test_model_quantiles_become_the_levels_asked_for_and_a_true_mean() -> None:
    """Sorted (never crossing), linear between the model's levels, held beyond them; the mean is
    the quantile function's, not the median."""
    levels = np.array(BOLT_QUANTILES)
    uniform = np.tile(levels[None, :, None], (2, 1, 3))  # Uniform(0, 1)'s quantiles at the model's levels
    uniform[1] = uniform[1] ** 2  # a skewed distribution: U^2, mean 1/3, median 1/4
    uniform[1, [3, 5]] = uniform[1, [5, 3]]  # two crossing model quantiles
    q = interpolate_levels(uniform, BOLT_QUANTILES, [0.05, 0.25, 0.5, 0.95])
    np.testing.assert_allclose(q[0, :, 0], [0.1, 0.25, 0.5, 0.9], rtol=1e-6)
    assert (np.diff(q, axis=1) >= 0).all()
    mean = quantile_mean(uniform, BOLT_QUANTILES)
    assert mean[0] == pytest.approx([0.5] * 3, abs=1e-6)
    assert mean[1][0] == pytest.approx(1 / 3, abs=0.02) and mean[1][0] > q[1, 2, 0] + 0.05  # not the median


@pytest.mark.parametrize("name", ["chronos-bolt-tiny", "chronos-2-tiny"])
def test_chronos_from_a_folder_backtests_forecasts_and_exports(name: str, models: dict[str, tuple[Path, int]],
                                                                  tq: Runtime, tmp_path: Path) -> None:
    folder, parameters = models[name]
    hp = Hyperparameters(prediction_length=4, algorithm="chronos", model_path=str(folder))
    p = create_predictor(tq.workspace, tq.registry, "c", dataset="tq", hyperparameters=hp)
    assert p.status.value == "ACTIVE"
    model = p.result["training"]["model"]
    assert model["name"] == name and model["parameters"] == parameters
    assert model["sha256"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert model["architecture"] == name.removesuffix("-tiny")
    m = p.result["metrics"]
    assert m["predictor"]["num_items"] == 30 and np.isfinite(m["predictor"]["mase"])
    create_forecast(tq.workspace, tq.registry, "f", predictor="c", types="0.1,0.5,0.9,mean")
    f = load_forecast(tq.workspace, tq.registry.get(Kind.FORECAST, "f"))
    p10, p50, p90 = (f.values[c] for c in ("p10", "p50", "p90"))
    assert p10.shape == (30, 4) and np.isfinite(p50).all()
    assert (p10 <= p50).all() and (p50 <= p90).all()
    assert (p10 >= 0).all()  # the visitors are never negative: neither are the forecasts
    e = create_export(tq.workspace, tq.registry, "e", forecast="f", destination=str(tmp_path / "out"))
    assert e.result["rows"] == 30 * 4
    rows = pd.read_csv(next((tmp_path / "out").rglob("*.csv")))
    assert list(rows.columns)[:2] == ["item_id", "date"] and len(rows) == 120


def test_chronos_from_a_bucket_through_the_cli(models: dict[str, tuple[Path, int]], s3_bucket: str,
                                               s3fs_client: Any, samples_dir: Path, tmp_path: Path,
                                               cli: Any) -> None:
    """The model's folder mirrored to a bucket: the CLI's predictor reads it there (copied once to
    this machine), and a forecast's worker loads it from its record."""
    folder, parameters = models["chronos-bolt-tiny"]
    s3fs_client.put(str(folder), f"{s3_bucket}/models/bolt", recursive=True)
    url = f"s3://{s3_bucket}/models/bolt"
    head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    assert cli("datasets", "import", "tq", str(tmp_path / "tq.jsonl"), "--freq", "Q")[0] == 0
    code, out, err = cli("predictors", "create", "c", "--dataset", "tq", "--algorithm", "chronos",
                         "--model-path", url, "--prediction-length", "4", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "ACTIVE"
    assert result["training"]["model"]["path"] == url and result["hyperparameters"]["model_path"] == url
    assert result["training"]["model"]["parameters"] == parameters
    code, _, err = cli("forecasts", "create", "f", "--predictor", "c")
    assert code == 0, err


def test_chronos_over_http_from_a_bucket_forecasts_queries_and_invokes(
        models: dict[str, tuple[Path, int]], s3_bucket: str, s3fs_client: Any, samples_dir: Path,
        tmp_path: Path) -> None:
    """Over HTTP (a job in a worker process): a Chronos-2 predictor from the bucket, a forecast,
    an item's query, and on-demand inference answered by the server from the same weights."""
    from fastapi.testclient import TestClient

    from api.http.app import create_app
    from tests.service_fixtures import poll

    s3fs_client.put(str(models["chronos-2-tiny"][0]), f"{s3_bucket}/models/c2", recursive=True)
    url = f"s3://{s3_bucket}/models/c2"
    settings = Settings(allowed_import_prefixes=[f"s3://{s3_bucket}/models"])  # type: ignore[call-arg]
    rt = build_runtime(settings)
    import_dataset(rt.workspace, rt.registry, "tq", str(head_lines(samples_dir / "tourism-quarterly.jsonl",
                                                                   tmp_path / "tq.jsonl", 30)), freq="Q")
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/predictors", json={"name": "c", "dataset": "tq", "hyperparameters": {
            "prediction_length": 4, "algorithm": "chronos", "model_path": url}})
        assert r.status_code == 202, r.text
        body = poll(client, "/v1/predictors/c", timeout=180)
        assert body["status"] == "ACTIVE", body
        assert body["result"]["training"]["model"]["architecture"] == "chronos-2"
        assert client.post("/v1/forecasts", json={"name": "f", "predictor": "c", "types": "0.1,0.5,mean"}
                           ).status_code == 202
        assert poll(client, "/v1/forecasts/f")["status"] == "ACTIVE"
        item = client.get("/v1/forecasts/f/items/Q1").json()["predictions"]
        assert list(item) == ["p10", "p50", "mean"] and len(item["p50"]) == 4
        history = {"start": "2000-01-01", "target": [float(x) for x in range(100, 140)]}
        (pred,) = client.post("/v1/predictors/c/invocations", json={"instances": [history]}).json()["predictions"]
        assert len(pred["mean"]) == 4 and pred["quantiles"]["0.1"][0] <= pred["quantiles"]["0.9"][0]


def test_chronos2_reads_related_series_and_chronos_bolt_says_it_ignores_them(
        models: dict[str, tuple[Path, int]], tmp_path: Path) -> None:
    """Chronos-2 takes the regressors (known through the horizon) and holidays as covariates: a
    scenario with other regressor values gives another forecast. Chronos-Bolt forecasts the same
    either way and says it ignores them."""
    rt = build_runtime()
    frames = long_frames("epf-fr-be")
    target, related = frames["target"], frames["related"]
    first = (pd.to_datetime(target["timestamp"]).max() - pd.Timedelta(days=20)).strftime("%Y-%m-%d %H:%M:%S")
    target[target["timestamp"] > first].to_csv(tmp_path / "prices.csv", index=False)
    recent = related[related["timestamp"] > first]
    recent.to_csv(tmp_path / "regressors.csv", index=False)
    future = recent["timestamp"] > target["timestamp"].max()
    recent.assign(system_load=np.where(future, recent["system_load"] * 1.5, recent["system_load"])).to_csv(
        tmp_path / "scenario.csv", index=False)
    import_dataset(rt.workspace, rt.registry, "prices", str(tmp_path / "prices.csv"), freq="H")
    for name in ("regressors", "scenario"):
        import_dataset(rt.workspace, rt.registry, name, str(tmp_path / f"{name}.csv"), freq="H",
                       long=LongFormat(type="related"))
    features = FeatureInputs(related="regressors", holidays=["FR"])
    changed = {}
    for name in ("chronos-2-tiny", "chronos-bolt-tiny"):
        hp = Hyperparameters(prediction_length=24, algorithm="chronos", model_path=str(models[name][0]))
        p = create_predictor(rt.workspace, rt.registry, name, dataset="prices", hyperparameters=hp, features=features)
        notes, training = p.result["training"]["notes"], p.result["training"]
        forecasts = []
        for related_name in ("regressors", "scenario"):
            r = create_forecast(rt.workspace, rt.registry, f"{name}-{related_name}", predictor=name,
                                related=related_name, types="0.5,mean")
            forecasts.append(load_forecast(rt.workspace, r).values["p50"])
        changed[name] = not np.array_equal(*forecasts)
        if name == "chronos-2-tiny":
            assert training["covariates"] == 3 and not any("ignored" in n for n in notes)  # 2 regressors, holidays
        else:
            assert training["covariates"] == 0 and training["covariates_ignored"] == 3
            assert any("takes only the target" in n and "ignored" in n for n in notes)
    assert changed == {"chronos-2-tiny": True, "chronos-bolt-tiny": False}


def test_chronos_as_a_member_of_auto(models: dict[str, tuple[Path, int]], tq: Runtime) -> None:
    """Weighted on the validation window like any member, scored in the backtest beside the others;
    with FORECAST_CHRONOS_MODEL set, auto's default members include it and the notes say why."""
    folder = str(models["chronos-bolt-tiny"][0])
    hp = Hyperparameters(prediction_length=4, algorithm="auto", members=["theta", "chronos"], model_path=folder)
    p = create_predictor(tq.workspace, tq.registry, "a", dataset="tq", hyperparameters=hp)
    assert set(p.result["metrics"]["members"]) == {"theta", "chronos"}
    assert sum(p.result["training"]["weights"].values()) == pytest.approx(1)
    weights = p.result["training"]["weights"]
    if weights.get("chronos"):  # a member with weight is stored, and describes its model
        assert p.result["training"]["members"]["chronos"]["model"]["name"] == "chronos-bolt-tiny"
    create_forecast(tq.workspace, tq.registry, "fa", predictor="a")

    defaulted, notes = settle_pretrained(Hyperparameters(prediction_length=4), folder)
    assert defaulted.members == ["deepar", "ets", "theta", "ces", "chronos"] and defaulted.model_path == folder
    assert notes and "FORECAST_CHRONOS_MODEL" in notes[0]
    kept, none = settle_pretrained(Hyperparameters(prediction_length=4, members=["ets", "theta"]), folder)
    assert kept.members == ["ets", "theta"] and kept.model_path is None and none == []
    given, _ = settle_pretrained(Hyperparameters(prediction_length=4, algorithm="chronos"), folder)
    assert given.model_path == folder


def _bad_model_paths(models: dict[str, tuple[Path, int]], root: Path, bucket: str) -> dict[str, tuple[str, str]]:
    """Each bad case: (model path, a fragment of the error)."""
    bolt = models["chronos-bolt-tiny"][0]
    no_weights = root / "no-weights"
    no_weights.mkdir()
    shutil.copy(bolt / "config.json", no_weights)
    cut = root / "cut"
    shutil.copytree(bolt, cut)
    (cut / "model.safetensors").write_bytes((bolt / "model.safetensors").read_bytes()[:-64])
    garbage = root / "garbage"
    garbage.mkdir()
    shutil.copy(bolt / "config.json", garbage)
    (garbage / "model.safetensors").write_bytes(b"\x00" * 4096)
    other = root / "chronos-t5"  # the original Chronos (a T5 language model over tokens): another architecture
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**json.loads((bolt / "config.json").read_text()),
                                                   "chronos_pipeline_class": "ChronosPipeline"}))
    shutil.copy(bolt / "model.safetensors", other)
    empty = root / "empty"
    empty.mkdir()
    return {"missing": (str(root / "nothing-here"), "nothing there to read"),
            "empty folder": (str(empty), "no config.json there"),
            "no weights": (str(no_weights), "no model.safetensors there"),
            "cut short": (str(cut), "cut short or damaged"),
            "not safetensors": (str(garbage), "not a safetensors file"),
            "another architecture": (str(other), "the model is ChronosPipeline"),
            "unreadable bucket": (f"s3://{bucket}-missing/models/bolt", "no such folder or bucket, or no access")}


def test_bad_model_paths_are_refused_naming_the_path_and_register_nothing(
        models: dict[str, tuple[Path, int]], s3_bucket: str, samples_dir: Path, tmp_path: Path, cli: Any) -> None:
    from fastapi.testclient import TestClient

    from api.http.app import create_app

    head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    assert cli("datasets", "import", "tq", str(tmp_path / "tq.jsonl"), "--freq", "Q")[0] == 0
    cases = _bad_model_paths(models, tmp_path, s3_bucket)
    allowed = [str(tmp_path), f"s3://{s3_bucket}-missing"]  # HTTP reads models only under the allowed prefixes
    with TestClient(create_app(Settings(allowed_import_prefixes=allowed))) as client:  # type: ignore[call-arg]
        for case, (path, fragment) in cases.items():
            code, _, err = cli("predictors", "create", "c", "--dataset", "tq", "--algorithm", "chronos",
                               "--model-path", path, "--prediction-length", "4")
            assert code == 2 and path in err and fragment in err, (case, err)
            r = client.post("/v1/predictors", json={"name": "c", "dataset": "tq", "hyperparameters": {
                "prediction_length": 4, "algorithm": "chronos", "model_path": path}})
            assert r.status_code == 422 and path in r.text and fragment in r.text, (case, r.text)
            assert client.get("/v1/predictors/c").status_code == 404, case
        outside = str(models["chronos-bolt-tiny"][0])
        r = client.post("/v1/predictors", json={"name": "c", "dataset": "tq", "hyperparameters": {
            "prediction_length": 4, "algorithm": "chronos", "model_path": outside}})
        assert r.status_code == 403 and "allowed prefixes" in r.text and outside in r.text
        code, _, err = cli("predictors", "create", "c", "--dataset", "tq", "--algorithm", "ets",
                           "--model-path", str(models["chronos-bolt-tiny"][0]), "--prediction-length", "4")
        assert code == 2 and "model_path is an option of algorithm 'chronos'" in err
        code, _, err = cli("predictors", "create", "c", "--dataset", "tq", "--algorithm", "chronos",
                           "--prediction-length", "4")
        assert code == 2 and "algorithm chronos needs model_path" in err and "FORECAST_CHRONOS_MODEL" in err
    rt = build_runtime()
    with pytest.raises(NotFoundError):
        rt.registry.get(Kind.PREDICTOR, "c")


def test_weights_that_do_not_load_fail_the_cli_job_naming_the_path(
        models: dict[str, tuple[Path, int]], tq: Runtime, tmp_path: Path) -> None:
    """Weights of the right size whose tensors do not match the config pass the cheap check, fail
    to load in the job, and leave nothing registered (the CLI's path)."""
    broken = tmp_path / "mismatched"
    shutil.copytree(models["chronos-bolt-tiny"][0], broken)
    shutil.copy(models["chronos-2-tiny"][0] / "model.safetensors", broken / "model.safetensors")
    hp = Hyperparameters(prediction_length=4, algorithm="chronos", model_path=str(broken))
    with pytest.raises(InvalidInputError, match=str(broken)):
        create_predictor(tq.workspace, tq.registry, "c", dataset="tq", hyperparameters=hp)
    with pytest.raises(NotFoundError):
        tq.registry.get(Kind.PREDICTOR, "c")
