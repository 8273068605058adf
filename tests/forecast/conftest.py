from __future__ import annotations

from pathlib import Path

import pytest

from api.runtime import Runtime, build_runtime
from datasets import import_dataset
from forecast.config import Hyperparameters

TINY = {"algorithm": "deepar", "epochs": 2, "num_batches_per_epoch": 3, "mini_batch_size": 8, "num_cells": 8, "num_layers": 1,
        "num_eval_samples": 20, "early_stopping_patience": 5}


def tiny(**overrides: object) -> Hyperparameters:
    return Hyperparameters.model_validate({"prediction_length": 4, **TINY, **overrides})


@pytest.fixture
def rt() -> Runtime:
    return build_runtime()


@pytest.fixture
def s3_rt(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """A runtime whose workspace is on the moto S3 server (the registry stays a local file)."""
    monkeypatch.setenv("FORECAST_HOME", f"s3://{s3_bucket}/ws")
    monkeypatch.setenv("FORECAST_REGISTRY", str(tmp_path / "registry.db"))
    runtime = build_runtime()
    assert not runtime.workspace.is_local
    return runtime


def head_lines(src: Path, dst: Path, n: int) -> Path:
    with open(src) as f:
        dst.write_text("".join(line for _, line in zip(range(n), f, strict=False)))
    return dst


@pytest.fixture
def quarterly(rt: Runtime, samples_dir: Path, tmp_path: Path) -> str:
    """40 real Tourism quarterly series."""
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 40)
    import_dataset(rt.workspace, rt.registry, "tq", str(path), freq="Q")
    return "tq"
