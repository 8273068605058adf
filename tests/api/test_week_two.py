"""The weekly cycle through the CLI, as a scheduler runs it, and over HTTP: a predictor created with a monitor, a
forecast named by an alias, next week's actuals imported incrementally (a bad file first, which
changes nothing), the monitor's evaluation checked against figures computed here from an export of
the forecast and the actuals, a forecast from the new version, the alias moved, a retraining from
the predictor. Real data: Tourism quarterly, its last 4 quarters held back as "next week"."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

HELD_BACK = 4
LEVELS = (0.1, 0.5, 0.9)


def _split(samples_dir: Path, tmp_path: Path, n: int = 30) -> tuple[Path, Path, dict[str, dict[str, float]]]:
    """Week one (each series without its last quarters) and next week (those quarters, one record
    per series starting where week one ends); the held-back actuals by item and date."""
    week1, week2 = tmp_path / "week1.jsonl", tmp_path / "week2.jsonl"
    actuals: dict[str, dict[str, float]] = {}
    with open(samples_dir / "tourism-quarterly.jsonl") as src, open(week1, "w") as a, open(week2, "w") as b:
        for line in list(src)[:n]:
            r = json.loads(line)
            y = r["target"]
            start = pd.Period(r["start"], freq="Q")
            nxt = start + (len(y) - HELD_BACK)
            a.write(json.dumps({**r, "target": y[:-HELD_BACK]}) + "\n")
            b.write(json.dumps({"item_id": r["item_id"], "start": str(nxt.start_time.date()),
                                "target": y[-HELD_BACK:]}) + "\n")
            actuals[r["item_id"]] = {str((nxt + k).start_time.date()): float(v) for k, v in enumerate(y[-HELD_BACK:])}
    return week1, week2, actuals


def _run(cli: Any, *args: str) -> Any:
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out) if out.strip() else None


def test_weekly_cycle(cli: Any, samples_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    week1, week2, actuals = _split(samples_dir, tmp_path)
    _run(cli, "datasets", "import", "tq", str(week1), "--freq", "Q")
    p = _run(cli, "predictors", "create", "p", "--dataset", "tq", "--prediction-length", "8",
             "--algorithm", "ets", "--monitor", "m")
    assert p["dataset_version"] == 1
    monitor = _run(cli, "monitors", "describe", "m")
    assert monitor["predictor"] == "p" and monitor["status"] == "ACTIVE" and monitor["evaluations"] == 0
    _run(cli, "forecasts", "create", "week1", "--predictor", "p", "--types", "0.1,0.5,0.9,mean")
    assert cli("forecasts", "alias", "set", "demand", "week1")[0] == 0

    # a bad file (a value that is not a number) is refused by line and field; nothing changes
    bad = tmp_path / "bad.jsonl"
    bad.write_text(week2.read_text().replace('"target": [', '"target": ["x", ', 1))
    code, _, err = cli("datasets", "import", "tq", str(bad), "--mode", "incremental")
    assert code == 2 and "bad.jsonl:1" in err and "target" in err, err
    assert [v["number"] for v in _run(cli, "datasets", "describe", "tq")["versions"]] == [1]

    version = _run(cli, "datasets", "import", "tq", str(week2), "--mode", "incremental")
    described = _run(cli, "datasets", "describe", "tq")
    assert [v["number"] for v in described["versions"]] == [1, 2], version
    assert described["versions"][1]["observations_added"] == 30 * HELD_BACK

    # the monitor evaluated week one's forecast on the quarters that arrived: the same figures as
    # an export of the forecast against the held-back actuals
    out = _run(cli, "monitors", "evaluations", "m")
    (e,) = out["evaluations"]
    assert e["forecast"] == "week1" and e["dataset_version"] == 2 and e["items_evaluated"] == 30
    _run(cli, "exports", "create", "x", "--forecast", "week1", "--destination", str(tmp_path / "export"))
    rows = [r for f in sorted((tmp_path / "export").rglob("*.csv")) for r in csv.DictReader(f.open())]
    loss, below, abs_y, abs_err, points = np.zeros(len(LEVELS)), np.zeros(len(LEVELS)), 0.0, 0.0, 0
    for r in rows:
        y = actuals[r["item_id"]].get(r["date"][:10])
        if y is None:
            continue
        for k, q in enumerate(LEVELS):
            f = float(r[f"p{int(q * 100)}"])
            loss[k] += max(q * (y - f), (q - 1) * (y - f))
            below[k] += y < f
        abs_y += abs(y)
        abs_err += abs(y - float(r["mean"]))
        points += 1
    assert points == e["points"] == 30 * HELD_BACK
    wql = 2 * loss / abs_y
    assert e["mean_wql"] == pytest.approx(wql.mean(), rel=1e-5)
    assert [e["wql"][f"{q:g}"] for q in LEVELS] == pytest.approx(wql, rel=1e-5)
    assert e["wape"] == pytest.approx(abs_err / abs_y, rel=1e-5)
    assert [e["coverage"][f"{q:g}"] for q in LEVELS] == pytest.approx(below / points)
    assert e["flagged"] == (e["mean_wql"] > 1.5 * e["backtest_mean_wql"])
    one = _run(cli, "monitors", "evaluations", "m", "--item", "Q1")["item"]["evaluations"]
    assert one[0]["points"] == HELD_BACK and one[0]["forecast"] == "week1"
    worst = _run(cli, "monitors", "evaluations", "m", "--worst", "3")["worst_items"]
    assert len(worst) == 3 and worst[0]["mean_wql"] >= worst[-1]["mean_wql"]

    # week two: a forecast from the new version, the alias moved (the forecast it names cannot be
    # deleted), the monitor paused and resumed
    week2_forecast = _run(cli, "forecasts", "create", "week2", "--predictor", "p")
    assert week2_forecast["dataset_version"] == 2
    assert cli("forecasts", "alias", "set", "demand", "week2")[0] == 0
    code, _, err = cli("forecasts", "delete", "week2")
    assert code == 2 and "demand" in err
    assert cli("monitors", "pause", "m")[0] == 0
    assert _run(cli, "monitors", "describe", "m")["state"] == "STOPPED"
    assert cli("monitors", "resume", "m")[0] == 0

    retrained = _run(cli, "predictors", "retrain", "p2", "--from", "p")
    assert retrained["reference"] == "p" and retrained["dataset_version"] == 2


def test_weekly_cycle_over_http(samples_dir: Path, tmp_path: Path) -> None:
    """The same cycle's steps as HTTP requests (each job in its worker): a predictor with a
    monitor, a forecast, an incremental import the monitor evaluates, pause and resume, a
    retraining from the predictor."""
    from fastapi.testclient import TestClient

    from api.server import create_app
    from api.settings import Settings
    from tests.service_fixtures import poll

    week1, week2, _ = _split(samples_dir, tmp_path)
    settings = Settings(home=str(tmp_path / "home"), registry=str(tmp_path / "registry.db"),  # type: ignore[call-arg]
                        allowed_import_prefixes=[str(tmp_path)])
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/datasets", json={"name": "tq", "source": str(week1), "freq": "Q"}).status_code == 202
        assert poll(c, "/v1/datasets/tq")["status"] == "ACTIVE"
        hp = {"prediction_length": 8, "algorithm": "ets"}
        r = c.post("/v1/predictors", json={"name": "p", "dataset": "tq", "hyperparameters": hp, "monitor": "m"})
        assert r.status_code == 202, r.text
        assert c.get("/v1/monitors/m").json()["status"] == "ACTIVE"
        assert c.post("/v1/predictors", json={"name": "p-2", "dataset": "tq", "hyperparameters": hp,
                                               "monitor": "m"}).status_code == 409  # the monitor's name is taken
        assert not c.get("/v1/predictors/p-2").is_success  # and nothing was registered
        assert poll(c, "/v1/predictors/p", timeout=180)["status"] == "ACTIVE"
        assert c.post("/v1/forecasts", json={"name": "week1", "predictor": "p"}).status_code == 202
        assert poll(c, "/v1/forecasts/week1")["status"] == "ACTIVE"

        assert c.post("/v1/imports", json={"name": "w2", "dataset": "tq", "source": str(week2)}).status_code == 202
        assert poll(c, "/v1/imports/w2")["status"] == "ACTIVE"
        out = c.get("/v1/monitors/m/evaluations").json()
        (e,) = out["evaluations"]
        assert e["forecast"] == "week1" and e["dataset_version"] == 2 and e["items_evaluated"] == 30
        assert c.get("/v1/monitors/m/evaluations", params={"item_id": "Q1"}).json()["item"]["evaluations"][0][
            "points"] == HELD_BACK
        assert c.post("/v1/monitors/m/evaluate").json() == {"evaluations": []}  # nothing new since
        assert c.post("/v1/monitors/m/pause").json()["state"] == "STOPPED"
        assert c.post("/v1/monitors/m/resume").json()["state"] == "ACTIVE"
        assert c.post("/v1/monitors/nope/pause").status_code == 404

        assert c.post("/v1/predictors/p/retrain", json={"name": "p2"}).status_code == 202
        body = poll(c, "/v1/predictors/p2", timeout=180)
        assert body["status"] == "ACTIVE" and body["spec"]["reference"] == "p" and body["spec"]["dataset_version"] == 2
