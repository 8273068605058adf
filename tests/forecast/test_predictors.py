"""Predictor lifecycle with tiny models on real data: statuses, failures, reproducibility, reload."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from api.runtime import Runtime
from datasets import import_dataset
from forecast.artifacts import read_manifest
from forecast.data import load_entries
from forecast.errors import HyperparameterError, TrainingError
from forecast.inference import iter_samples
from forecast.predictors import create_predictor, delete_predictor, load_active_predictor
from resources import AlreadyExistsError, Kind, Status
from tests.forecast.conftest import head_lines, tiny

pytestmark = pytest.mark.slow


def test_create_stores_metrics_manifest_and_reloads(rt: Runtime, quarterly: str) -> None:
    phases: list[str] = []
    epochs: list[tuple[int, float, float | None]] = []
    r = create_predictor(rt.workspace, rt.registry, "p", dataset=quarterly, hyperparameters=tiny(),
                         on_phase=phases.append, on_epoch=lambda e, _, t, v: epochs.append((e, t, v)))
    assert r.status == Status.ACTIVE and r.artifact
    assert phases == ["loading", "training", "backtest", "saving"]  # no refit asked
    assert [e for e, _, _ in epochs] == [1, 2] and all(v is not None for _, _, v in epochs)
    metrics = r.result["metrics"]
    assert metrics["algorithm"] == "deepar" and metrics["members"] == {}
    for model in ("predictor", "seasonal_naive"):
        m = metrics[model]
        assert m["num_items"] == 40 and m["num_points"] == 160
        assert set(m["wql"]) == {"0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}
        assert m["mean_wql"] > 0 and m["mase"] > 0 and m["wape"] > 0 and m["rmse"] > 0
    assert [h["epoch"] for h in r.result["training"]["history"]] == [1, 2]

    manifest = read_manifest(rt.workspace, r.artifact)
    assert manifest.dataset == "tq" and manifest.freq == "Q-DEC" and manifest.prediction_length == 4
    assert manifest.versions["gluonts"].startswith("0.17")
    assert manifest.hyperparameters["num_cells"] == 8

    # a fresh process-like reload from the workspace forecasts with the stored weights
    predictor = load_active_predictor(rt.workspace, rt.registry, "p")[1].predictor
    entries = load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "tq"))
    torch.manual_seed(0)
    (batch,) = list(iter_samples(predictor, entries[:5], num_samples=30))
    assert batch.samples.shape == (5, 30, 4) and np.isfinite(batch.samples).all()
    assert batch.samples.min() >= 0  # non-negative data -> non-negative sample paths

    with pytest.raises(AlreadyExistsError):
        create_predictor(rt.workspace, rt.registry, "p", dataset=quarterly, hyperparameters=tiny())


def test_same_seed_same_metrics(rt: Runtime, quarterly: str) -> None:
    a = create_predictor(rt.workspace, rt.registry, "a", dataset=quarterly, hyperparameters=tiny(seed=7))
    b = create_predictor(rt.workspace, rt.registry, "b", dataset=quarterly, hyperparameters=tiny(seed=7))
    c = create_predictor(rt.workspace, rt.registry, "c", dataset=quarterly, hyperparameters=tiny(seed=8))
    assert a.result["metrics"] == b.result["metrics"]
    assert a.result["training"]["history"] == b.result["training"]["history"]
    assert a.result["metrics"] != c.result["metrics"]


class _EpochStates(pl.Callback):
    """The network's weights at the end of every epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})


def test_without_validation_the_second_half_of_training_is_averaged(rt: Runtime, quarterly: str) -> None:
    # gluonts would restore the epoch with the lowest training loss, a choice made by which random
    # windows each epoch drew; the stored predictor holds the mean weights of epochs 3 and 4 of 4
    states = _EpochStates()
    r = create_predictor(rt.workspace, rt.registry, "p", dataset=quarterly,
                         hyperparameters=tiny(epochs=4, early_stopping_patience=None), extra_callbacks=[states])
    training = r.result["training"]
    assert training["best_epoch"] == 4 == len(states.states) and training["weights_from_epochs"] == [3, 4]
    predictor = load_active_predictor(rt.workspace, rt.registry, "p")[1].predictor
    kept = predictor.prediction_net.state_dict()
    for name, value in kept.items():
        expected = (states.states[2][name] + states.states[3][name]) / 2
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7)
    assert not torch.equal(kept["model.rnn.weight_hh_l0"], states.states[3]["model.rnn.weight_hh_l0"])


def test_with_validation_the_best_validation_epoch_is_kept(rt: Runtime, quarterly: str) -> None:
    states = _EpochStates()
    r = create_predictor(rt.workspace, rt.registry, "p", dataset=quarterly, hyperparameters=tiny(epochs=4),
                         extra_callbacks=[states])
    training = r.result["training"]
    losses = [h["val_loss"] for h in training["history"]]
    best = losses.index(min(losses)) + 1
    assert training["weights_from_epochs"] == [best, best] and training["best_epoch"] == best
    predictor = load_active_predictor(rt.workspace, rt.registry, "p")[1].predictor
    kept = predictor.prediction_net.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in states.states[best - 1].items())


class _Boom(pl.Callback):
    """Raises after epoch 2, when a checkpoint from epoch 1 exists (gluonts would 'recover')."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("disk on fire")


def test_failure_inside_training_is_reported(rt: Runtime, quarterly: str) -> None:
    with pytest.raises(TrainingError, match="disk on fire"):
        create_predictor(rt.workspace, rt.registry, "f", dataset=quarterly, hyperparameters=tiny(epochs=3),
                         extra_callbacks=[_Boom()])
    r = rt.registry.get(Kind.PREDICTOR, "f")
    assert r.status == Status.CREATE_FAILED and "disk on fire" in (r.message or "")
    assert r.artifact is None
    assert not list(Path(rt.workspace.root).glob("predictors/f/*"))
    delete_predictor(rt.workspace, rt.registry, "f")


def test_invalid_hyperparameters_register_nothing(rt: Runtime, quarterly: str) -> None:
    with pytest.raises(HyperparameterError, match=r"needs every target value in \(0, 1\)"):
        create_predictor(rt.workspace, rt.registry, "x", dataset=quarterly, hyperparameters=tiny(likelihood="beta"))
    with pytest.raises(HyperparameterError, match="every series is too short"):
        create_predictor(rt.workspace, rt.registry, "x", dataset=quarterly, hyperparameters=tiny(prediction_length=400))
    assert rt.registry.list(Kind.PREDICTOR) == []


def test_negative_binomial_rejects_negative_targets(rt: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "neg.jsonl"
    path.write_text("".join(json.dumps({"start": "2020-01-01", "target": [float(i % 7 - 3) for i in range(60)]}) + "\n"
                            for _ in range(3)))
    import_dataset(rt.workspace, rt.registry, "neg", str(path), freq="D")
    with pytest.raises(HyperparameterError, match="needs non-negative targets; the data has -3"):
        create_predictor(rt.workspace, rt.registry, "nb", dataset="neg", hyperparameters=tiny(likelihood="negative-binomial"))


def test_categorical_and_dynamic_features(rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    retail = head_lines(samples_dir / "aus-retail.jsonl", tmp_path / "r.jsonl", 30)
    import_dataset(rt.workspace, rt.registry, "retail", str(retail), freq="M")
    r = create_predictor(rt.workspace, rt.registry, "pr", dataset="retail", hyperparameters=tiny(embedding_dimension=3))
    assert r.result["resolved"]["cardinality"] == rt.registry.get(Kind.DATASET, "retail").result["cat_cardinalities"]
    assert len(r.result["resolved"]["cardinality"]) == 2
    import_dataset(rt.workspace, rt.registry, "epf", str(samples_dir / "epf-fr-be.jsonl"), freq="H")
    e = create_predictor(rt.workspace, rt.registry, "pe", dataset="epf", hyperparameters=tiny(prediction_length=24))
    assert e.result["resolved"]["num_dynamic_feat"] == 2
    assert e.result["metrics"]["predictor"]["num_points"] == 48


def test_s3_workspace(s3_rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    rt = s3_rt
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq40.jsonl", 40)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    r = create_predictor(rt.workspace, rt.registry, "p", dataset="tq", hyperparameters=tiny())
    assert r.artifact and rt.workspace.exists(f"{r.artifact}/model/prediction-net-state.pt")
    assert read_manifest(rt.workspace, r.artifact).name == "p"
    predictor = load_active_predictor(rt.workspace, rt.registry, "p")[1].predictor
    entries = load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "tq"))
    (batch,) = list(iter_samples(predictor, entries[:3], num_samples=10))
    assert batch.samples.shape == (3, 10, 4)


def test_a_retraining_starts_from_the_reference_network(rt: Runtime, quarterly: str) -> None:
    """DeepAR retrained from a reference starts from its weights and runs half its epochs; the new
    predictor names its reference and the dataset version it trained on."""
    from forecast.predictors import retrain_predictor

    create_predictor(rt.workspace, rt.registry, "ref", dataset=quarterly,
                     hyperparameters=tiny(epochs=4, early_stopping_patience=None))
    r = retrain_predictor(rt.workspace, rt.registry, "again", reference="ref")
    training = r.result["training"]
    assert training["started_from_reference"] is True and training["epochs_run"] == 2
    assert r.spec["reference"] == "ref" and r.spec["dataset_version"] == 1
    scratch = create_predictor(rt.workspace, rt.registry, "scratch", dataset=quarterly,
                               hyperparameters=tiny(epochs=4, early_stopping_patience=None))
    assert scratch.result["training"]["started_from_reference"] is False
    assert scratch.result["training"]["epochs_run"] == 4


def test_a_network_trained_in_another_process_can_be_stored_here(rt: Runtime, quarterly: str, tmp_path: Path) -> None:
    """A trained network pickled (as a Ray worker returns it) and unpickled in a fresh process that
    never built one itself is stored there, with the same weights: gluonts makes a class
    serializable only once an instance is constructed in the process, and unpickling constructs
    nothing (this broke DeepAR predictors trained on Ray by a driver that had not trained one)."""
    import pickle
    import subprocess
    import sys

    from forecast.training import TrainedNetwork

    create_predictor(rt.workspace, rt.registry, "p", dataset=quarterly, hyperparameters=tiny())
    model = load_active_predictor(rt.workspace, rt.registry, "p")[1]
    trained = TrainedNetwork(predictor=model.predictor, history=[], weights_from=(1, 1), seconds=0.0)
    (tmp_path / "net.pickle").write_bytes(pickle.dumps(trained))
    store = ("import pickle, sys; from pathlib import Path; "
             "t = pickle.loads(Path(sys.argv[1]).read_bytes()); t.predictor.serialize(Path(sys.argv[2]))")
    (tmp_path / "stored").mkdir()
    done = subprocess.run([sys.executable, "-c", store, str(tmp_path / "net.pickle"), str(tmp_path / "stored")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    from forecast.inference import read_network

    stored = read_network(tmp_path / "stored").prediction_net.state_dict()
    for key, value in model.predictor.prediction_net.state_dict().items():
        assert torch.equal(stored[key], value)
