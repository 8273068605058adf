"""Warehouse data over HTTP: an import job from a long CSV with a dimension, queries that choose a
series by its dimension (query parameters and the filters form), and the CSV export header.

Real data: fpp3 ``aus_retail`` (monthly turnover by industry and state), as ``forecast datasets
sample aus-retail FILE --format long`` writes it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from datasets.samples import long_frames
from forecast.config import Hyperparameters
from tests.service_fixtures import poll, sandboxed_client

pytestmark = pytest.mark.slow

INDUSTRIES = ["Food retailing", "Liquor retailing"]


def series_count() -> int:
    frame = long_frames("aus-retail")["target"]
    return int(frame[frame["item_id"].isin(INDUSTRIES)].groupby(["item_id", "state"]).ngroups)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long-http")
    data = root / "data"
    data.mkdir()
    frame = long_frames("aus-retail")["target"]
    frame[frame["item_id"].isin(INDUSTRIES)].to_csv(data / "retail.csv", index=False)
    (data / "broken.csv").write_text("item_id,state,timestamp,target_value\nA,X,2020-01-01,1\nA,X,yesterday,2\n")
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with sandboxed_client(root) as c:
        yield c


@pytest.fixture(scope="module")
def forecast(client: TestClient, root: Path) -> str:
    r = client.post("/v1/datasets", json={"name": "retail", "source": str(root / "data" / "retail.csv"), "freq": "M",
                                          "dimensions": ["state"]})
    assert r.status_code == 202, r.text
    body = poll(client, "/v1/datasets/retail")
    assert body["status"] == "ACTIVE", body
    assert body["result"]["dimensions"] == ["state"] and body["result"]["num_series"] == series_count()
    hp = Hyperparameters(prediction_length=6, algorithm="seasonal_naive").model_dump(mode="json")
    assert client.post("/v1/predictors", json={"name": "naive", "dataset": "retail", "hyperparameters": hp}
                       ).status_code == 202
    assert poll(client, "/v1/predictors/naive")["status"] == "ACTIVE"
    assert client.post("/v1/forecasts", json={"name": "f", "predictor": "naive", "types": "0.1,0.5,mean"}
                       ).status_code == 202
    assert poll(client, "/v1/forecasts/f")["status"] == "ACTIVE"
    return "f"


def test_query_a_series_by_its_dimension(client: TestClient, forecast: str) -> None:
    r = client.get("/v1/forecasts/f/items/Food retailing", params={"state": "Victoria", "types": "mean"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["item_id"] == "Food retailing" and body["dimensions"] == {"state": "Victoria"}
    assert len(body["predictions"]["mean"]) == 6
    key = client.get("/v1/forecasts/f/items/Food retailing|state=Victoria", params={"types": "mean"}).json()
    assert key["predictions"] == body["predictions"]  # the series key names the same series
    form = client.post("/v1/forecasts/f/query", json={"filters": {"item_id": "Food retailing", "state": "Victoria"},
                                                      "types": "mean"})
    assert form.status_code == 200 and form.json()["predictions"] == body["predictions"]
    other = client.get("/v1/forecasts/f/items/Food retailing", params={"state": "Tasmania", "types": "mean"}).json()
    assert other["predictions"] != body["predictions"]
    both = client.get("/v1/forecasts/f/items", params=[("item_id", "Food retailing"), ("item_id", "Liquor retailing"),
                                                       ("state", "Queensland")]).json()
    assert [(i["item_id"], i["dimensions"]["state"]) for i in both["items"]] == [
        ("Food retailing", "Queensland"), ("Liquor retailing", "Queensland")]
    ctx = client.get("/v1/forecasts/f/items/Food retailing/context", params={"state": "Victoria", "limit": 10}).json()
    assert ctx["series_key"] == "Food retailing|state=Victoria" and ctx["dimensions"] == {"state": "Victoria"}
    assert len(ctx["history"]) == 10 and len(ctx["backtest"]) == 6
    assert set(ctx["backtest_metrics"]) == {"seasonal_naive"}
    png = client.get("/v1/forecasts/f/items/Food retailing/plot.png", params={"state": "Victoria"})
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert client.get("/v1/forecasts/f/items/Food retailing/plot.png").status_code == 422  # which state?


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "fragment"), [
    ("get", "/v1/forecasts/f/items/Food retailing", {}, 422,
     "has 8 series in forecast 'f'; choose one with a filter per dimension (state: Australian Capital Territory"),
    ("get", "/v1/forecasts/f/items/Food retailing", {"params": {"store": "1"}}, 422,
     "store: forecast 'f' has dimensions state; filter by those only"),
    ("get", "/v1/forecasts/f/items/Food retailing", {"params": {"state": "Narnia"}}, 404,
     "item 'Food retailing' has no series with state=Narnia"),
    ("post", "/v1/forecasts/f/query", {"json": {"filters": {"state": "Victoria"}}}, 422, "filters: item_id is required"),
])
def test_dimension_errors(client: TestClient, forecast: str, method: str, url: str, kwargs: dict, status: int,  # type: ignore[type-arg]
                          fragment: str) -> None:
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status and fragment in r.json()["detail"], r.text


def test_export_puts_dimensions_between_date_and_types(client: TestClient, forecast: str, root: Path) -> None:
    r = client.post("/v1/exports", json={"name": "e", "forecast": "f", "destination": str(root / "out")})
    assert r.status_code == 202, r.text
    assert poll(client, "/v1/exports/e")["status"] == "ACTIVE"
    (part,) = (root / "out").glob("e_*/*.csv")
    with open(part) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["item_id", "date", "state", "p10", "p50", "mean"]
    assert len(rows) == 1 + series_count() * 6
    assert rows[1][:3] == ["Food retailing", rows[1][1], "Australian Capital Territory"]


def test_import_jobs_check_the_source(client: TestClient, root: Path) -> None:
    r = client.post("/v1/datasets", json={"name": "etc", "source": "/etc/passwd", "freq": "M"})
    assert r.status_code == 403 and "source /etc/passwd" in r.json()["detail"]
    r = client.post("/v1/datasets", json={"name": "x", "source": f"{root}/data/../home/registry.db", "freq": "M"})
    assert r.status_code == 403 and f"(resolved: file://{root}/home/registry.db/) is not allowed" in r.json()["detail"]
    r = client.post("/v1/datasets", json={"name": "nofreq", "source": str(root / "data" / "retail.csv")})
    assert r.status_code == 422 and "needs `freq`" in r.json()["detail"]
    r = client.post("/v1/datasets", json={"name": "broken", "source": str(root / "data" / "broken.csv"), "freq": "M",
                                          "dimensions": ["state"]})
    assert r.status_code == 202
    body = poll(client, "/v1/datasets/broken")
    assert body["status"] == "CREATE_FAILED"
    assert "broken.csv:3 [timestamp]: cannot read 'yesterday' as a timestamp" in body["message"]
    log = client.get("/v1/datasets/broken/log")
    assert log.status_code == 200 and "cannot read 'yesterday'" in log.text
    assert client.delete("/v1/datasets/broken").status_code == 204


def test_dimension_values_and_filtered_item_ids(client: TestClient, forecast: str) -> None:
    body = client.get("/v1/forecasts/f/dimensions").json()
    states = sorted(long_frames("aus-retail")["target"]["state"].unique())
    assert body == {"forecast": "f", "dimensions": {"state": states}, "truncated": False}
    assert client.get("/v1/forecasts/f/dimensions", params={"limit": 2}).json()["truncated"] is True
    ids = client.get("/v1/forecasts/f/item-ids", params={"state": "Victoria"}).json()
    assert ids["item_ids"] == [f"{i}|state=Victoria" for i in INDUSTRIES] and ids["next_token"] is None
    page = client.get("/v1/forecasts/f/item-ids", params={"prefix": "Liquor", "state": "Victoria", "limit": 1}).json()
    assert page["item_ids"] == ["Liquor retailing|state=Victoria"]
    unknown = client.get("/v1/forecasts/f/item-ids", params={"store": "3"})
    assert unknown.status_code == 422 and "store" in unknown.json()["detail"]
