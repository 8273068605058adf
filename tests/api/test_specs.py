"""Declarative specs through the CLI: `forecast apply -f` creates a week's resources from one YAML
file, applying it again changes nothing, a changed spec is refused naming the fields (before
anything is applied), a dataset's new source becomes a version and an alias's new forecast moves
it; `get`, `describe` and `logs` for every kind; the published JSON Schema. Real data: Tourism
quarterly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.forecast.conftest import head_lines

pytestmark = pytest.mark.slow

CYCLE = """
kind: DatasetImport
name: tq
spec: {{source: {data}, freq: Q}}
---
kind: Predictor
name: p
spec:
  dataset: tq
  hyperparameters: {{prediction_length: 8, algorithm: {algorithm}}}
  monitor: m
---
kind: Forecast
name: f1
spec: {{predictor: p, types: "0.1,0.5,0.9,mean"}}
---
kind: Alias
name: demand
spec: {{forecast: {target}}}
---
kind: Export
name: x
spec: {{forecast: demand, destination: {out}}}
"""


def _write(tmp_path: Path, data: Path, *, algorithm: str = "ets", target: str = "f1") -> Path:
    path = tmp_path / "cycle.yaml"
    path.write_text(CYCLE.format(data=data, algorithm=algorithm, target=target, out=tmp_path / "out"))
    return path


def _applied(cli: Any, path: Path) -> list[tuple[str, str]]:
    code, out, err = cli("apply", "-f", str(path), "--json")
    assert code == 0, err
    return [(a["name"], a["action"]) for a in json.loads(out)]


def test_apply_creates_then_changes_nothing_then_refuses_or_updates(cli: Any, samples_dir: Path,
                                                                     tmp_path: Path) -> None:
    data = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    path = _write(tmp_path, data)
    assert _applied(cli, path) == [("tq", "created"), ("p", "created"), ("f1", "created"), ("demand", "created"),
                                   ("x", "created")]
    assert _applied(cli, path) == [(n, "unchanged") for n in ("tq", "p", "f1", "demand", "x")]

    # another algorithm for an existing predictor: refused before anything is applied
    code, _, err = cli("apply", "-f", str(_write(tmp_path, data, algorithm="theta")))
    assert code == 2 and "predictor 'p' exists with other hyperparameters" in err

    # a second forecast and the alias moved to it; the dataset's new source is a new version
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps({**json.loads(line), "item_id": f"new-{i}"}) + "\n"
                            for i, line in enumerate(data.read_text().splitlines()[:3])))
    f2 = tmp_path / "f2.yaml"
    f2.write_text(f"kind: Forecast\nname: f2\nspec: {{predictor: p}}\n---\n"
                  f"kind: Alias\nname: demand\nspec: {{forecast: f2}}\n---\n"
                  f"kind: DatasetImport\nname: tq\nspec: {{source: {more}, freq: Q}}\n")
    assert _applied(cli, f2) == [("f2", "created"), ("demand", "updated"), ("tq", "updated")]
    code, out, _ = cli("get", "datasets", "tq", "--json")
    assert [v["number"] for v in json.loads(out)["versions"]] == [1, 2]
    code, out, _ = cli("describe", "aliases", "demand", "--json")
    assert json.loads(out)["forecast"] == "f2"

    # get / describe for every kind, as their groups print them
    for kind in ("datasets", "predictors", "forecasts", "exports", "monitors", "aliases", "imports"):
        code, out, err = cli("get", kind, "--json")
        assert code == 0 and isinstance(json.loads(out), list), (kind, err)
    code, out, _ = cli("describe", "predictors", "p")
    assert code == 0 and "backtest accuracy" in out
    code, _, err = cli("get", "nopes")
    assert code == 2 and "unknown kind 'nopes'" in err
    code, _, err = cli("logs", "predictors", "p", "--follow")  # made here, not by a server's worker: no log
    assert code == 2 and "log" in err


def test_bad_documents_are_refused_before_anything_is_created(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Predictor\nname: p\nspec: {dataset: tq, hyperparameters: {prediction_length: 8}}\n---\n"
                   "kind: Forecast\nname: f\nspec: {predictor: p, colour: blue}\n")
    code, _, err = cli("apply", "-f", str(bad))
    assert code == 2 and "Forecast 'f': colour: Extra inputs are not permitted" in err
    code, out, _ = cli("get", "predictors", "--json")
    assert json.loads(out) == []
    bad.write_text("kind: TrainingThing\nname: t\n")
    code, _, err = cli("apply", "-f", str(bad))
    assert code == 2 and "document 1: unknown kind 'TrainingThing'" in err and "DatasetImport" in err
    bad.write_text("kind: [unclosed\n")
    assert cli("apply", "-f", str(bad))[0] == 2


def test_the_spec_schema_has_every_kind(cli: Any) -> None:
    code, out, _ = cli("apply", "--schema")
    assert code == 0
    schema = json.loads(out)
    kinds = {v["properties"]["kind"]["const"]: v for v in schema["oneOf"]}
    assert {"DatasetImport", "Predictor", "Forecast", "Export", "Monitor", "Import", "Alias"} <= set(kinds)
    assert "hyperparameters" in kinds["Predictor"]["properties"]["spec"]["properties"]
    assert "name" not in kinds["Forecast"]["properties"]["spec"]["properties"]
