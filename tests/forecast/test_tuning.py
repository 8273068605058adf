"""Tuning jobs on real data (Tourism quarterly, tiny DeepAR): trials are predictors scored on a
validation window before the backtest window, the best is the lowest objective, a warm start
reuses a parent's trials, and bad ranges or parents are refused by name; a TuningJob document
through `apply -f`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.forecast.conftest import head_lines

pytestmark = pytest.mark.slow

FIXED = "epochs: 2\nnum_batches_per_epoch: 3\nmini_batch_size: 8\nnum_layers: 1\nnum_eval_samples: 20\n"
RANGES = ("learning_rate: {min: 0.0001, max: 0.01, scale: log}\nnum_cells: {min: 4, max: 16, type: integer}\n"
          "likelihood: {values: [student-T, gaussian]}\n")


@pytest.fixture
def files(cli: Any, samples_dir: Path, tmp_path: Path) -> dict[str, Path]:
    data = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    assert cli("datasets", "import", "tq", str(data), "--freq", "Q")[0] == 0
    (tmp_path / "fixed.yaml").write_text(FIXED)
    (tmp_path / "ranges.yaml").write_text(RANGES)
    return {"fixed": tmp_path / "fixed.yaml", "ranges": tmp_path / "ranges.yaml"}


def _create(cli: Any, files: dict[str, Path], name: str, *extra: str) -> tuple[int, str, str]:
    return cli("tuning-jobs", "create", name, "--dataset", "tq", "--prediction-length", "4", "--algorithm", "deepar",
               "--hyperparameters", str(files["fixed"]), "--ranges", str(files["ranges"]), *extra)


def test_trials_are_predictors_scored_before_the_backtest_window(cli: Any, files: dict[str, Path]) -> None:
    code, out, err = _create(cli, files, "t1", "--max-jobs", "4", "--json")
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "ACTIVE" and job["trials_completed"] == 4
    code, out, _ = cli("tuning-jobs", "trials", "t1", "--sort-by", "objective", "--json")
    rows = json.loads(out)
    assert [r["objective"] for r in rows] == sorted(r["objective"] for r in rows)
    assert job["best"]["predictor"] == rows[0]["predictor"] and job["best"]["objective"] == rows[0]["objective"]
    for r in rows:
        code, out, _ = cli("predictors", "describe", r["predictor"], "--json")
        p = json.loads(out)
        assert p["status"] == "ACTIVE" and p["tuning_job"] == "t1"
        metrics = p["metrics"]  # the objective is the validation window's, the backtest is the later window's
        assert r["objective"] == pytest.approx(metrics["validation"]["mean_wql"])
        assert r["backtest"] == pytest.approx(metrics["predictor"]["mean_wql"])
        validation, backtest = metrics["periods"]["validation"], metrics["periods"]["backtest"]
        assert validation[1] < backtest[0]  # the window scored ends before the backtest's begins
        assert p["hyperparameters"]["likelihood"] == r["likelihood"]
        assert 4 <= p["hyperparameters"]["num_cells"] <= 16
    code, out, _ = cli("tuning-jobs", "trials", "t1", "--csv")
    assert out.splitlines()[0].startswith("number,predictor,learning_rate,num_cells,likelihood,objective")
    assert cli("forecasts", "create", "best", "--predictor", job["best"]["predictor"])[0] == 0  # it forecasts

    # a warm start reuses the parent's four trials; the limits and mistakes are refused by name
    code, out, err = _create(cli, files, "t2", "--max-jobs", "2", "--warm-start-from", "t1", "--json")
    assert code == 0, err
    child = json.loads(out)
    assert child["warm_start_trials"] == 4 and child["trials_completed"] == 2
    code, out, _ = cli("datasets", "describe", "tq", "--json")
    assert cli("datasets", "import", "tq2", json.loads(out)["source"], "--freq", "Q")[0] == 0
    code, _, err = cli("tuning-jobs", "create", "t3", "--dataset", "tq2", "--prediction-length", "4", "--algorithm",
                       "deepar", "--hyperparameters", str(files["fixed"]), "--ranges", str(files["ranges"]),
                       "--warm-start-from", "t1")
    assert code == 2 and "identical-data-and-algorithm needs both the same" in err
    code, out, err = cli("tuning-jobs", "create", "t3", "--dataset", "tq2", "--prediction-length", "4", "--algorithm",
                         "deepar", "--hyperparameters", str(files["fixed"]), "--ranges", str(files["ranges"]),
                         "--warm-start-from", "t1", "--warm-start-type", "transfer-learning", "--max-jobs", "2", "--json")
    assert code == 0 and json.loads(out)["warm_start_trials"] == 4, err
    code, _, err = _create(cli, files, "t4", *[a for p in ["t1"] * 6 for a in ("--warm-start-from", p)])
    assert code == 2 and "at most 5" in err

    # extended, the job runs on from its four trials (they stay as they were) to six
    code, out, err = cli("tuning-jobs", "extend", "t1", "--max-jobs", "6", "--json")
    assert code == 0, err
    extended = json.loads(out)
    assert extended["status"] == "ACTIVE" and extended["max_jobs"] == 6
    code, out, _ = cli("tuning-jobs", "trials", "t1", "--json")
    more = json.loads(out)
    assert [r["number"] for r in more] == [1, 2, 3, 4, 5, 6] and more[:4] == sorted(rows, key=lambda r: r["number"])
    assert all(r["epochs_run"] == 2 for r in more)  # every epoch's loss on the validation window was recorded
    assert extended["best"]["objective"] == min(r["objective"] for r in more if r["objective"] is not None)
    code, _, err = cli("tuning-jobs", "extend", "t1", "--max-jobs", "6")
    assert code == 2 and "ran 6 trials; extend it to more than 6" in err


@pytest.mark.parametrize(("ranges", "fragment"), [
    ("colour: {values: [red]}\n", "'colour' is not a hyperparameter"),
    ("num_cells: {min: 4, max: 100000, type: integer}\n", "num_cells 100000"),
    ("epochs: {min: 1, max: 3, type: integer}\n", "'epochs' is also fixed"),
    ("prediction_length: {min: 2, max: 4, type: integer}\n", "defines the job"),
    ("learning_rate: {min: 0, max: 0.1, scale: log}\n", "log scale needs min above 0"),
])
def test_bad_ranges_name_the_option(cli: Any, files: dict[str, Path], ranges: str, fragment: str) -> None:
    files["ranges"].write_text(ranges)
    code, _, err = _create(cli, files, "bad")
    assert code == 2 and fragment in err, err
    code, out, _ = cli("tuning-jobs", "list", "--json")
    assert json.loads(out) == []


def test_a_tuning_job_document(cli: Any, files: dict[str, Path], tmp_path: Path) -> None:
    doc = tmp_path / "tune.yaml"
    doc.write_text("kind: TuningJob\nname: tuned\nspec:\n  dataset: tq\n  max_jobs: 2\n  hyperparameters:\n"
                   "    prediction_length: 4\n    algorithm: deepar\n" + "".join(f"    {line}\n" for line in FIXED.splitlines())
                   + "  ranges:\n" + "".join(f"    {line}\n" for line in RANGES.splitlines()))
    code, out, err = cli("apply", "-f", str(doc), "--json")
    assert code == 0, err
    (applied,) = json.loads(out)
    assert applied["action"] == "created" and applied["resource"]["trials_completed"] == 2
    code, out, _ = cli("apply", "-f", str(doc), "--json")
    assert json.loads(out)[0]["action"] == "unchanged"
    doc.write_text(doc.read_text().replace("max_jobs: 2", "max_jobs: 3"))  # more trials: the job is extended
    code, out, err = cli("apply", "-f", str(doc), "--json")
    assert code == 0, err
    (applied,) = json.loads(out)
    assert applied["action"] == "updated" and applied["resource"]["trials_completed"] == 3
    code, out, _ = cli("apply", "-f", str(doc), "--json")
    assert json.loads(out)[0]["action"] == "unchanged"
    doc.write_text(doc.read_text().replace("max_jobs: 3", "max_jobs: 1"))  # fewer is a change it cannot take
    code, _, err = cli("apply", "-f", str(doc))
    assert code == 2 and "max_jobs" in err


def test_the_objective_over_several_validation_windows(cli: Any, files: dict[str, Path]) -> None:
    """--validation-windows 2: each trial is fitted before the two windows preceding the
    backtest's and scored on both (twice the backtest's points), ending before the backtest."""
    code, out, err = _create(cli, files, "w2", "--max-jobs", "1", "--validation-windows", "2", "--json")
    assert code == 0, err
    job = json.loads(out)
    assert job["validation_windows"] == 2
    code, out, _ = cli("predictors", "describe", job["best"]["predictor"], "--json")
    metrics = json.loads(out)["metrics"]
    assert metrics["validation"]["num_points"] == 2 * metrics["predictor"]["num_points"]
    validation, backtest = metrics["periods"]["validation"], metrics["periods"]["backtest"]
    assert validation[1] < backtest[0] and validation[0] < validation[1]
    assert job["best"]["objective"] == pytest.approx(metrics["validation"]["mean_wql"])


def test_early_stopping_prunes_a_trial_behind_the_completed_ones(rt: Any, samples_dir: Path, tmp_path: Path) -> None:
    """A trial whose validation loss is above the median of five completed trials' at an epoch past
    the first quarter stops there: the row is PRUNED with the losses it reached, its predictor
    CREATE_STOPPED saying why; ahead of them, it trains to the end. Real training on real data."""
    import yaml

    from datasets import import_dataset
    from forecast.tuning import Pruning, train_trial
    from forecast.tuning_kind import TuningJobCreate
    from resources import Kind, Status

    data = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    import_dataset(rt.workspace, rt.registry, "tq", str(data), freq="Q")
    request = TuningJobCreate(name="p", dataset="tq", ranges=yaml.safe_load(RANGES), early_stopping="auto",
                              hyperparameters={"prediction_length": 4, "algorithm": "deepar",
                                               **yaml.safe_load(FIXED), "epochs": 4})
    params = {"learning_rate": 0.001, "num_cells": 8, "likelihood": "student-T"}
    hopeless = Pruning(curves=((-100.0,) * 4,) * 5)  # five trials far ahead at every epoch
    row = train_trial(rt.job_context(), request, 1, params, hopeless)
    assert row["status"] == "PRUNED" and len(row["curve"]) == 2 and "at epoch 2 of 4" in row["message"]
    assert "above the median of the completed trials' at that epoch, -100.0000" in row["message"]
    stopped = rt.registry.get(Kind.PREDICTOR, "p-001")
    assert stopped.status == Status.CREATE_STOPPED and "pruned by its tuning job" in (stopped.message or "")
    ahead = Pruning(curves=((100.0,) * 4,) * 5)
    row = train_trial(rt.job_context(), request, 2, params, ahead)
    assert row["status"] == "COMPLETED" and len(row["curve"]) == 4
    few = Pruning(curves=((-100.0,) * 4,) * 4).watch(curve := [])
    for epoch in (1, 2, 3, 4):  # fewer than five completed trials: it never prunes
        few(epoch, 4, 1.0, 1.0)
    assert curve == [1.0] * 4


def test_a_tuning_job_over_http(samples_dir: Path, tmp_path: Path) -> None:
    """POST /v1/tuning-jobs runs the job in a worker; its trials show as predictors."""
    import yaml
    from fastapi.testclient import TestClient

    from api.server import create_app
    from api.settings import Settings
    from tests.service_fixtures import poll

    data = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    settings = Settings(home=str(tmp_path / "home"), registry=str(tmp_path / "registry.db"),  # type: ignore[call-arg]
                        allowed_import_prefixes=[str(tmp_path)])
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/datasets", json={"name": "tq", "source": str(data), "freq": "Q"}).status_code == 202
        poll(c, "/v1/datasets/tq")
        body = {"name": "t", "dataset": "tq", "max_jobs": 2, "ranges": yaml.safe_load(RANGES),
                "hyperparameters": {"prediction_length": 4, "algorithm": "deepar", **yaml.safe_load(FIXED)}}
        assert c.post("/v1/tuning-jobs", json=body).status_code == 202
        done = poll(c, "/v1/tuning-jobs/t", timeout=180)
        assert done["status"] == "ACTIVE", done
        trials = done["result"]["trials"]
        assert len(trials) == 2 and done["result"]["best"]["predictor"] in {t["predictor"] for t in trials}
        names = {p["name"] for p in c.get("/v1/predictors").json()["data"]}
        assert {t["predictor"] for t in trials} <= names
        table = c.get("/v1/tuning-jobs/t/trials", params={"sort_by": "objective"}).json()
        assert [r["objective"] for r in table] == sorted(t["objective"] for t in trials)
        assert c.get("/v1/tuning-jobs/t/trials", params={"sort_by": "colour"}).status_code == 422
        assert c.post("/v1/tuning-jobs/t/extend", json={"max_jobs": 3}).status_code == 202
        extended = poll(c, "/v1/tuning-jobs/t", timeout=180)
        assert extended["status"] == "ACTIVE" and len(extended["result"]["trials"]) == 3, extended
        fewer = c.post("/v1/tuning-jobs/t/extend", json={"max_jobs": 2})
        assert fewer.status_code == 422 and "ran 3 trials" in fewer.text
        body["ranges"] = {"colour": {"values": ["red"]}}
        bad = c.post("/v1/tuning-jobs", json={**body, "name": "bad"})
        assert bad.status_code in (400, 422) and "colour" in bad.text


OPERATOR = """apiVersion: sagemaker.aws.amazon.com/v1
kind: {kind}
metadata:
  name: {name}
spec:
{body}
"""
DEFINITION = """  algorithmSpecification:
    trainingImage: 123456789012.dkr.ecr.us-west-2.amazonaws.com/forecasting-deepar:latest
    trainingInputMode: File
  roleArn: arn:aws:iam::123456789012:role/sagemaker
  resourceConfig: {{instanceCount: 1, instanceType: ml.c5.xlarge, volumeSizeInGB: 5}}
  outputDataConfig: {{s3OutputPath: s3://bucket/out}}
  stoppingCondition: {{maxRuntimeInSeconds: {limit}}}
  inputDataConfig:
    - channelName: train
      dataSource: {{s3DataSource: {{s3DataType: S3Prefix, s3Uri: {data}}}}}
    - channelName: test
      dataSource: {{s3DataSource: {{s3DataType: S3Prefix, s3Uri: {data}}}}}
  {key}:
    - {{name: time_freq, value: Q}}
    - {{name: prediction_length, value: "4"}}
    - {{name: epochs, value: "{epochs}"}}
    - {{name: num_batches_per_epoch, value: "3"}}
    - {{name: num_eval_samples, value: "20"}}
"""


def _operator(kind: str, name: str, data: Path, *, limit: int = 600, epochs: int = 2, extra: str = "",
              nested: bool = False) -> str:
    key = "staticHyperParameters" if nested else "hyperParameters"
    definition = DEFINITION.format(limit=limit, data=data, key=key, epochs=epochs)
    if nested:
        definition = "  trainingJobDefinition:\n" + "".join(f"  {line}\n" for line in definition.splitlines())
    return OPERATOR.format(kind=kind, name=name, body=definition + extra)


def test_the_operators_training_and_tuning_jobs(cli: Any, samples_dir: Path, tmp_path: Path) -> None:
    """The SageMaker operator's YAML for the DeepAR image: a TrainingJob is the train channel's
    import and a predictor (fields with no meaning reported as ignored), maxRuntimeInSeconds
    stops a job that runs past it, a HyperparameterTuningJob is a tuning job over its ranges with
    its warm start; another image is refused."""
    data = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    training = tmp_path / "training.yaml"
    training.write_text(_operator("TrainingJob", "deepar-tq", data))
    code, out, err = cli("apply", "-f", str(training), "--json")
    assert code == 0, err
    applied = [(a["kind"], a["name"], a["action"]) for a in json.loads(out)]
    assert applied[1] == ("Predictor", "deepar-tq", "created") and applied[0][0] == "DatasetImport"
    assert "ignored resourceConfig" in err and "ignored roleArn" in err and "channel 'test'" in err
    code, out, _ = cli("describe", "predictors", "deepar-tq", "--json")
    p = json.loads(out)
    assert p["status"] == "ACTIVE" and p["hyperparameters"]["epochs"] == 2 and p["hyperparameters"]["time_freq"] == "Q"

    slow = tmp_path / "slow.yaml"
    slow.write_text(_operator("TrainingJob", "too-slow", data, limit=1, epochs=400).replace(
        "value: \"3\"}", "value: \"50\"}"))
    code, _, err = cli("apply", "-f", str(slow))
    assert code == 1 and "ran past its maximum runtime (1 s)" in err
    code, out, _ = cli("describe", "predictors", "too-slow", "--json")
    assert json.loads(out)["status"] == "CREATE_STOPPED"

    ranges = """  hyperParameterTuningJobConfig:
    strategy: Bayesian
    hyperParameterTuningJobObjective: {type: Minimize, metricName: "test:mean_wQuantileLoss"}
    resourceLimits: {maxNumberOfTrainingJobs: 2, maxParallelTrainingJobs: 1}
    parameterRanges:
      continuousParameterRanges: [{name: learning_rate, minValue: "0.0001", maxValue: "0.01", scalingType: Logarithmic}]
      integerParameterRanges: [{name: num_cells, minValue: "4", maxValue: "16", scalingType: Linear}]
      categoricalParameterRanges: [{name: likelihood, values: [student-T, gaussian]}]
"""
    tuning = tmp_path / "tuning.yaml"
    tuning.write_text(_operator("HyperparameterTuningJob", "hpo", data, nested=True, extra=ranges))
    code, out, err = cli("apply", "-f", str(tuning), "--json")
    assert code == 0, err
    job = json.loads(out)[-1]["resource"]
    assert job["trials_completed"] == 2 and job["objective"] == "mean_wql" and job["early_stopping"] == "off"
    assert job["ranges"]["learning_rate"]["scale"] == "log" and job["ranges"]["num_cells"]["type"] == "integer"
    child = tmp_path / "child.yaml"
    child.write_text(_operator("HyperparameterTuningJob", "hpo-2", data, nested=True, extra=ranges.replace(
        "strategy: Bayesian", "strategy: Bayesian\n    trainingJobEarlyStoppingType: Auto") + (
        "  warmStartConfig:\n    parentHyperParameterTuningJobs: [{hyperParameterTuningJobName: hpo}]\n"
        "    warmStartType: IdenticalDataAndAlgorithm\n")))
    code, out, err = cli("apply", "-f", str(child), "--json")
    assert code == 0, err
    data_doc, child_job = json.loads(out)
    assert data_doc["action"] == "unchanged"  # the same train channel: the same dataset
    assert child_job["resource"]["warm_start_trials"] == 2 and child_job["resource"]["warm_start_from"] == ["hpo"]
    assert child_job["resource"]["early_stopping"] == "auto"

    other = tmp_path / "other.yaml"
    other.write_text(_operator("TrainingJob", "xgb", data).replace("forecasting-deepar:latest", "xgboost:1"))
    code, _, err = cli("apply", "-f", str(other))
    assert code == 2 and "is not the forecasting algorithm's (forecasting-deepar)" in err


def test_trials_run_in_parallel_processes(cli: Any, files: dict[str, Path]) -> None:
    """--max-parallel-jobs 2: two trials train at once (their predictors' lifetimes overlap), each
    in a fresh process; every trial completes and the best is the lowest objective."""
    code, out, err = _create(cli, files, "par", "--max-jobs", "4", "--max-parallel-jobs", "2", "--json")
    assert code == 0, err
    job = json.loads(out)
    assert job["trials_completed"] == 4 and job["max_parallel_jobs"] == 2
    spans = []
    for n in (1, 2):
        code, out, _ = cli("describe", "predictors", f"par-00{n}", "--json")
        p = json.loads(out)
        spans.append((p["created_at"], p["updated_at"]))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # both were in flight at once
