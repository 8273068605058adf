"""Hierarchies end to end over HTTP and the CLI, on fpp3's tourism (three states: 52 region x
purpose series): a predictor per reconciliation method, the stored forecast exported and checked
for coherence at every level, aggregate nodes queried by id, the backtest per level, and bad
hierarchy specifications refused with nothing registered."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from datasets.samples import long_frames
from forecast.config import RECONCILE_METHODS, Hyperparameters
from tests.service_fixtures import poll, sandboxed_client

pytestmark = pytest.mark.slow

STATES = ["Tasmania", "Northern Territory", "ACT"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hierarchy-http")
    data = root / "data"
    data.mkdir()
    frame = long_frames("tourism-regions")["target"].rename(columns={"item_id": "region"})
    frame[frame["state"].isin(STATES)].to_csv(data / "tourism.csv", index=False)
    (data / "matrix.csv").write_text("node,x\ntop,1\n")
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with sandboxed_client(root) as c:
        r = c.post("/v1/datasets", json={"name": "tourism", "source": str(root / "data" / "tourism.csv"), "freq": "Q",
                                         "item_column": "region", "dimensions": ["state", "purpose"]})
        assert r.status_code == 202, r.text
        assert poll(c, "/v1/datasets/tourism")["status"] == "ACTIVE"
        yield c


def _exported(client: TestClient, root: Path, forecast: str) -> dict[str, dict[str, np.ndarray]]:
    """The export's rows: series (node id, or region|state|purpose) -> column -> values by date."""
    assert client.post("/v1/exports", json={"name": f"e-{forecast}", "forecast": forecast,
                                            "destination": str(root / "out")}).status_code == 202
    assert poll(client, f"/v1/exports/e-{forecast}")["status"] == "ACTIVE"
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for part in sorted((root / "out").glob(f"e-{forecast}_*/*.csv")):
        with open(part) as f:
            for row in csv.DictReader(f):
                key = row["item_id"] if not row["state"] else f"{row['item_id']}|{row['state']}|{row['purpose']}"
                for c in ("p10", "p50", "p90", "mean"):
                    out[key][c].append(float(row[c]))
    return {k: {c: np.asarray(v) for c, v in cols.items()} for k, cols in out.items()}


def _values(body: dict) -> list[float]:  # type: ignore[type-arg]
    return [p["value"] for p in body["predictions"]["mean"]]


def _members(node: str, bottom: list[str]) -> list[str]:
    """The bottom series (region|state|purpose) a node id sums."""
    if node == "__total__":
        return bottom
    want = dict(part.split("=", 1) for part in node.split("/"))
    fields = ("region", "state", "purpose")
    return [b for b in bottom if all(dict(zip(fields, b.split("|"), strict=True))[k] == v for k, v in want.items())]


@pytest.mark.parametrize("method", RECONCILE_METHODS)
def test_reconciled_forecasts_add_up_at_every_level(client: TestClient, root: Path, method: str) -> None:
    hierarchy = "state/region" if method == "top-down" else "state/region * purpose"
    algorithm = "ets" if method == "mint-shrink" else "seasonal_naive"
    hp = Hyperparameters(prediction_length=8, algorithm=algorithm, hierarchy=hierarchy,  # type: ignore[arg-type]
                         reconcile=method).model_dump(mode="json", exclude_defaults=True)
    name = f"p-{method}"
    r = client.post("/v1/predictors", json={"name": name, "dataset": "tourism", "hyperparameters": hp})
    assert r.status_code == 202, r.text
    pred = poll(client, f"/v1/predictors/{name}")
    assert pred["status"] == "ACTIVE", pred
    pred = {**pred, **pred.get("result", {})}  # the view: metrics at the top level or under result
    report = pred["metrics"]["hierarchy"]
    assert report["method"] == method
    levels = [lv["level"] for lv in report["levels"]]
    assert levels[0] == "__total__" and levels[-1] == "series"
    for lv in report["levels"]:
        assert lv["base"]["mase"] > 0 and lv["reconciled"]["mase"] > 0 and lv["reconciled"]["rmsse"] > 0
    assert pred["metrics"]["predictor"]["mase"] == pytest.approx(report["overall"]["reconciled"]["mase"])
    assert pred["metrics"]["base"]["mase"] == pytest.approx(report["overall"]["base"]["mase"])

    forecast = f"f-{method}"
    assert client.post("/v1/forecasts", json={"name": forecast, "predictor": name, "types": "0.1,0.5,0.9,mean"}
                       ).status_code == 202
    body = poll(client, f"/v1/forecasts/{forecast}")
    assert body["status"] == "ACTIVE", body
    rows = _exported(client, root, forecast)
    bottom = [k for k in rows if "|" in k]
    nodes = [k for k in rows if "|" not in k]
    frame = long_frames("tourism-regions")["target"]
    assert len(bottom) == frame[frame["state"].isin(STATES)].groupby(["item_id", "purpose"]).ngroups
    assert "__total__" in nodes and "state=Tasmania/region=Hobart and the South" in nodes
    if method != "top-down":
        assert "purpose=Holiday" in nodes and "state=Tasmania/purpose=Business" in nodes
    columns = ("mean", "p50", "p10", "p90") if method == "top-down" else ("mean", "p50")
    for node in nodes:
        for c in columns:  # the export writes 6 significant digits
            members = np.stack([rows[b][c] for b in _members(node, bottom)])
            # a median clipped at 0 (non-negative data; MinTrace may reconcile a small series below 0) is the
            # documented exception
            kept = (members > 0).all(axis=0) if c == "p50" and method != "top-down" else np.ones(8, dtype=bool)
            assert np.allclose(rows[node][c][kept], members.sum(axis=0)[kept], rtol=1e-4, atol=1e-3), (node, c)
    # an aggregate node over HTTP, by its id
    r = client.get(f"/v1/forecasts/{forecast}/items/state=Tasmania", params={"types": "mean"})
    assert r.status_code == 200, r.text
    assert np.allclose(_values(r.json()), rows["state=Tasmania"]["mean"], rtol=1e-5)
    # a bottom series by its own key, as before
    key = bottom[0].split("|")
    r = client.get(f"/v1/forecasts/{forecast}/items/{key[0]}", params={"state": key[1], "purpose": key[2],
                                                                      "types": "mean"})
    assert r.status_code == 200 and np.allclose(_values(r.json()), rows[bottom[0]]["mean"], rtol=1e-5)


@pytest.mark.parametrize(("hyperparameters", "status", "fragment"), [
    ({"hierarchy": "state/county"}, 422, ("names 'county', which the dataset does not have; its dimensions are "
                                          "state, purpose, and its item column is 'item_id' or 'region'")),
    ({"hierarchy": "state * purpose", "reconcile": "top-down"}, 422, "top-down needs a strict hierarchy"),
    ({"reconcile": "mint-ols"}, 422, "reconcile needs a hierarchy"),
    ({"hierarchy_file": "/etc/passwd"}, 403, "is not allowed"),
    ({"hierarchy_file": "MATRIX"}, 422, "matrix.csv:1: column(s) 'x' are not series of the dataset"),
])
def test_bad_hierarchies_register_nothing(client: TestClient, root: Path, hyperparameters: dict,  # type: ignore[type-arg]
                                          status: int, fragment: str) -> None:
    hp = {"prediction_length": 8, "algorithm": "seasonal_naive",
          **{k: (str(root / "data" / "matrix.csv") if v == "MATRIX" else v) for k, v in hyperparameters.items()}}
    r = client.post("/v1/predictors", json={"name": "bad", "dataset": "tourism", "hyperparameters": hp})
    assert r.status_code == status and fragment in r.json()["detail"], r.text
    assert client.get("/v1/predictors/bad").status_code == 404


def test_cli_refuses_a_bad_hierarchy_with_exit_2(cli, root: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = cli("datasets", "import", "t", str(root / "data" / "tourism.csv"), "--freq", "Q",
                     "--item-column", "region", "--dimensions", "state,purpose")
    assert code == 0
    code, out, err = cli("predictors", "create", "p", "-d", "t", "--prediction-length", "8", "--algorithm",
                         "seasonal_naive", "--hierarchy", "state/zone")
    assert code == 2 and "names 'zone', which the dataset does not have" in out + err
    code, out, err = cli("predictors", "create", "p", "-d", "t", "--prediction-length", "8", "--algorithm",
                         "seasonal_naive", "--hierarchy", "state * purpose", "--reconcile", "top-down")
    assert code == 2 and "top-down needs a strict hierarchy" in out + err
    code, out, _ = cli("predictors", "list", "--json")
    assert code == 0 and '"p"' not in out
