"""The fit report: a series a model cannot fit falls back to seasonal naive and is listed with
the model, the origin and the reason, on the CLI (table, JSON, CSV) and over HTTP; the rest of the
real data fits. Real data: 30 Tourism quarterly series, and one too short for the models."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.forecast.conftest import head_lines


@pytest.fixture
def data(cli: Any, samples_dir: Path, tmp_path: Path) -> str:
    path = head_lines(samples_dir / "tourism-quarterly.jsonl", tmp_path / "tq.jsonl", 30)
    with path.open("a") as f:  # ten points: two before auto's weight window, too few for the models
        f.write(json.dumps({"item_id": "tiny", "start": "2005-01-01",
                            "target": [5.0, 6.0, 7.0, 6.0, 5.0, 6.0, 7.0, 6.0, 5.0, 6.0]}) + "\n")
    assert cli("datasets", "import", "tq", str(path), "--freq", "Q")[0] == 0
    return "tq"


@pytest.mark.slow
def test_series_that_cannot_be_fitted_are_reported(cli: Any, data: str) -> None:
    code, out, err = cli("predictors", "create", "p", "--dataset", data, "--prediction-length", "4",
                         "--algorithm", "auto", "--members", "ets,theta", "--json")
    assert code == 0, err
    summary = json.loads(out)["training"]["fit_report"]
    code, out, _ = cli("predictors", "describe", "p", "--fit-report", "--json")
    report = json.loads(out)
    assert report["total"] == summary["rows"] > 0 and report["items"] == summary["items"]
    rows = report["rows"]
    assert {r["item_id"] for r in rows} == {"tiny"}  # every real series fitted
    assert {(r["model"], r["origin"]) for r in rows} >= {("ets", "backtest: auto's weight window"),
                                                         ("theta", "backtest: auto's weight window")}
    assert all("tiny datasets" in r["reason"] for r in rows)
    code, out, _ = cli("predictors", "describe", "p", "--fit-report", "--csv")
    assert list(csv.DictReader(io.StringIO(out))) == rows
    code, out, _ = cli("predictors", "describe", "p", "--fit-report")
    assert "fell back to seasonal naive" in out and "tiny" in out
    code, _, err = cli("predictors", "describe", "p", "--csv")
    assert code == 2 and "--csv goes with --fit-report" in err

    from fastapi.testclient import TestClient

    from api.server import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings())) as c:
        page = c.get("/v1/predictors/p/fit-report", params={"limit": 1})
        assert page.status_code == 200 and page.json()["total"] == len(rows) and page.json()["rows"] == rows[:1]
        text = c.get("/v1/predictors/p/fit-report", params={"format": "csv"})
        assert text.headers["content-type"].startswith("text/csv") and list(csv.DictReader(io.StringIO(text.text))) == rows
        assert c.get("/v1/predictors/nope/fit-report").status_code == 404
        assert c.get("/v1/predictors/p/fit-report", params={"format": "xml"}).status_code == 422


def test_a_forecast_that_is_not_finite_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that fits but forecasts NaN or infinity falls back, saying so."""
    from forecast.models import statistical

    monkeypatch.setattr(statistical, "_forecast", lambda *a: (np.array([1.0, np.inf]), np.ones(2)))
    y = np.arange(1.0, 25.0)
    result = statistical._run(statistical.FitJob("ets", 4, 2, y))
    assert result.note == "ValueError: the forecast is not finite" and np.isfinite(result.mean).all()
