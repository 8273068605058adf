"""``forecast predictors ...`` in-process, and killed/interrupted in a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.runtime import build_runtime
from forecast.predictors import delete_predictor
from resources import ConflictError, Kind, Status
from resources.lifecycle import sweep
from tests.forecast.conftest import head_lines

pytestmark = pytest.mark.slow

TINY_ARGS = ["--algorithm", "deepar", "--epochs", "2", "--num-batches-per-epoch", "3", "--mini-batch-size", "8", "--num-cells", "8",
             "--num-layers", "1", "--num-eval-samples", "20"]


@pytest.fixture
def dataset(cli, samples_dir: Path, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    assert cli("datasets", "import", "tq", str(path), "--freq", "Q")[0] == 0
    return "tq"


def test_create_describe_list_delete(cli, dataset: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hp = tmp_path / "hp.json"
    hp.write_text(json.dumps({"prediction_length": 4, "likelihood": "gaussian", "seed": 3}))
    code, out, err = cli("predictors", "create", "p", "--dataset", dataset, "--hyperparameters", str(hp), *TINY_ARGS, "--json")
    assert code == 0, err
    created = json.loads(out)
    assert created["status"] == "ACTIVE"
    assert created["hyperparameters"]["likelihood"] == "gaussian" and created["hyperparameters"]["epochs"] == 2
    assert created["metrics"]["seasonal_naive"]["mase"] > 0

    code, out, _ = cli("predictors", "describe", "p")
    assert code == 0 and "seasonal naive" in out and "MASE" in out and "ACTIVE" in out
    code, out, _ = cli("predictors", "list", "--json")
    assert [p["name"] for p in json.loads(out)] == ["p"]

    code, _, err = cli("datasets", "delete", dataset)
    assert code == 2 and "used by predictor 'p'" in err
    assert cli("predictors", "delete", "p")[0] == 0
    code, _, err = cli("predictors", "describe", "p")
    assert code == 2 and "predictor 'p' not found" in err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--prediction-length", "401"], "prediction_length: Input should be less than or equal to 400"),
        (["--prediction-length", "4", "--likelihood", "poisson"], "likelihood: Input should be"),
        (["--prediction-length", "4", "--likelihood", "beta"], "needs every target value in (0, 1)"),
        (["--prediction-length", "61"], "every series is too short"),
        (["--prediction-length", "41", "--context-length", "41"], "every series is shorter than context_length"),
        (["--prediction-length", "4", "--cardinality", "3"], "cardinality has 1 entries but the data has 0"),
        ([], "--prediction-length is required"),
    ],
)
def test_bad_hyperparameters_exit_2(cli, dataset: str, args: list[str], fragment: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("predictors", "create", "bad", "--dataset", dataset, *args)
    assert code == 2
    assert fragment in err
    code, out, _ = cli("predictors", "list", "--json")
    assert json.loads(out) == []


def test_help_shows_the_model_defaults(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from forecast.config import Hyperparameters

    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = cli("predictors", "create", "--help")
    assert code == 0
    fields = Hyperparameters.model_fields
    for name in ("epochs", "num_batches_per_epoch", "mini_batch_size", "learning_rate", "num_eval_samples"):
        line = next(x for x in out.splitlines() if f"--{name.replace('_', '-')} " in x)
        assert f"[default: {fields[name].default}]" in line, line
    assert "[default: prediction_length, at most max(8, 1.25 seasons)]" in out


def test_unknown_dataset(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("predictors", "create", "p", "--dataset", "nope", "--prediction-length", "4")
    assert code == 2 and "dataset 'nope' not found" in err


def _start_long_training(dataset: str) -> subprocess.Popen[str]:
    forecast = str(Path(sys.executable).parent / "forecast")
    cmd = [forecast, "predictors", "create", "long", "--dataset", dataset, "--prediction-length", "4", "--algorithm", "deepar",
           "--epochs", "1000", "--num-batches-per-epoch", "5", "--mini-batch-size", "8", "--num-cells", "8",
           "--num-layers", "1", "--early-stopping-patience", "0"]
    return subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(status: Status, timeout: float = 60.0, *, epochs: int = 0) -> None:
    """Until predictor ``long`` is in ``status`` (and, with ``epochs``, has reported that many)."""
    registry = build_runtime().registry
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.exists(Kind.PREDICTOR, "long"):
            r = registry.get(Kind.PREDICTOR, "long")
            if r.status == status and r.result.get("progress", {}).get("epoch", 0) >= epochs:
                return
        time.sleep(0.2)
    raise AssertionError(f"predictor never reached {status}" + (f" with {epochs} epoch(s)" if epochs else ""))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_or_killed_training_is_failed(dataset: str, sig: signal.Signals) -> None:
    proc = _start_long_training(dataset)
    try:
        _wait_for(Status.CREATE_IN_PROGRESS, epochs=1)  # training, with a first epoch on record
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    rt = build_runtime()
    r = rt.registry.get(Kind.PREDICTOR, "long")  # a fresh process sees the truth
    assert r.status == Status.CREATE_FAILED
    if sig == signal.SIGINT:  # the process cleaned up after itself
        assert proc.returncode == 130 and r.message == "interrupted (Ctrl-C)"
        assert r.artifact is None
    else:  # killed: its partial folder is recorded, and the sweep removes it
        assert "exited before it finished" in (r.message or "")
        partial = Path(rt.workspace.path(str(r.artifact)))
        assert partial.parent == Path(rt.workspace.path("predictors/long"))
        (partial / "predictor").mkdir(parents=True, exist_ok=True)  # as if it died while saving
        (partial / "predictor" / "half-written.bin").write_bytes(b"\0" * 10)
        assert [s.name for s in sweep(rt.registry, rt.workspace)] == ["long"]
        assert not partial.exists() and rt.registry.get(Kind.PREDICTOR, "long").artifact is None
    with pytest.raises(ConflictError, match="not ACTIVE"):
        rt.registry.get_active(Kind.PREDICTOR, "long")
    delete_predictor(rt.workspace, rt.registry, "long")  # the name can be reused
    assert not rt.registry.exists(Kind.PREDICTOR, "long")


def test_dataset_cannot_be_deleted_while_a_job_reads_it(dataset: str) -> None:
    """The predictor is registered before its data is read, so the dataset is in use from the start."""
    from datasets import delete_dataset

    proc = _start_long_training(dataset)
    try:
        rt = build_runtime()
        deadline = time.monotonic() + 60
        while not rt.registry.exists(Kind.PREDICTOR, "long"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with pytest.raises(ConflictError, match=f"dataset '{dataset}' is used by predictor 'long'"):
            delete_dataset(rt.workspace, rt.registry, dataset)
    finally:
        proc.kill()
        proc.wait()
