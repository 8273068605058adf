"""The HTTP API in-process (TestClient) and over a real socket (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from tests.service_fixtures import World, build_world, poll, serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    return build_world(tmp_path_factory.mktemp("http"), samples_dir, likelihood="negative-binomial")


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings)) as c:
        yield c


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[str]:
    """uvicorn on a free loopback port, in a thread, for the module."""
    with serving(create_app(world.settings)) as url:
        yield url


def test_import_does_not_load_torch() -> None:
    # the job and delete routes import these lazily; they must not pull in torch either
    code = "import sys, api.http.app, forecast.predictors, forecast.forecasts; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_query_item_over_a_real_socket(server: str, world: World) -> None:
    from forecast.store import load_forecast
    from resources import Kind

    with httpx.Client(base_url=server) as http:
        r = http.get("/v1/forecasts/fq/items/Q1")
        assert r.status_code == 200
        body = r.json()
        assert body["forecast"] == "fq" and body["item_id"] == "Q1"
        assert list(body["predictions"]) == ["p10", "p35", "mean", "p50", "p90"]
        points = body["predictions"]["p50"]
        assert len(points) == 4 and points[0]["timestamp"] == "2008-01-01T00:00:00Z"
        stored = load_forecast(world.runtime.workspace, world.runtime.registry.get(Kind.FORECAST, "fq"))
        row = stored.values["p50"][stored.index["Q1"]]
        assert [np.float32(p["value"]) for p in points] == row.tolist()  # the stored float32 values
        r = http.get("/v1/forecasts/fq/items/Q1", params={"types": "p10,mean", "start": "2008-04-01", "end": "2008-07-01"})
        body = r.json()
        assert list(body["predictions"]) == ["p10", "mean"]
        assert [p["timestamp"] for p in body["predictions"]["mean"]] == ["2008-04-01T00:00:00Z", "2008-07-01T00:00:00Z"]
        r = http.get("/v1/forecasts/fq/items", params=[("item_id", "Q1"), ("item_id", "Q2"), ("types", "p90")])
        assert [i["item_id"] for i in r.json()["items"]] == ["Q1", "Q2"]


def test_quantiles_do_not_cross_and_mean_is_sample_mean(client: TestClient) -> None:
    for item in ("Q1", "Q7", "Q23"):
        preds = client.get(f"/v1/forecasts/fq/items/{item}").json()["predictions"]
        v = {k: np.array([p["value"] for p in pts]) for k, pts in preds.items()}
        assert (v["p10"] <= v["p35"]).all() and (v["p35"] <= v["p50"]).all() and (v["p50"] <= v["p90"]).all()
    # negative-binomial is skewed: the mean is the samples' mean, not the median
    body = {"instances": [{"start": "2000-01-01", "target": [float(x) for x in [3, 0, 8, 1, 0, 12, 2, 0, 5, 1] * 3]}],
            "configuration": {"num_samples": 400, "output_types": ["mean", "quantiles", "samples"], "quantiles": ["0.5"]}}
    (pred,) = client.post("/v1/predictors/pq/invocations", json=body).json()["predictions"]
    samples = np.array(pred["samples"])
    assert samples.shape == (400, 4)
    np.testing.assert_allclose(pred["mean"], samples.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(pred["quantiles"]["0.5"], np.quantile(samples, 0.5, axis=0), rtol=1e-5)
    assert not np.allclose(pred["mean"], pred["quantiles"]["0.5"])


def test_list_and_describe(client: TestClient) -> None:
    for kind, name in (("datasets", "tq"), ("predictors", "pq"), ("forecasts", "fq")):
        listing = client.get(f"/v1/{kind}").json()
        assert listing["count"] == 1 and listing["data"][0]["name"] == name
        one = client.get(f"/v1/{kind}/{name}").json()
        assert one["status"] == "ACTIVE"
    metrics = client.get("/v1/predictors/pq").json()["result"]["metrics"]
    assert set(metrics) >= {"predictor", "members", "seasonal_naive"}
    assert client.get("/openapi.json").json()["info"]["title"] == "Forecast service"


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "fragment"),
    [
        ("get", "/v1/forecasts/nope/items/Q1", {}, 404, "forecast 'nope' not found"),
        ("get", "/v1/forecasts/fq/items/nope", {}, 404, "item 'nope' not found"),
        ("get", "/v1/forecasts/fq/items", {"params": {"item_id": ["zy", "zz"]}}, 404, "none of the item(s) 'zy', 'zz'"),
        ("get", "/v1/forecasts/fq/items/Q1", {"params": {"types": "p99"}}, 422, "unknown forecast type(s) 'p99'"),
        ("get", "/v1/forecasts/fq/items/Q1", {"params": {"start": "yesterday-ish"}}, 422, "cannot parse"),
        ("get", "/v1/predictors/nope", {}, 404, "predictor 'nope' not found"),
        ("get", "/v1/datasets/bad%20name", {}, 422, "pattern"),
        ("post", "/v1/forecasts", {"json": {"name": "f2", "predictor": "pq", "types": "0.125"}}, 422, "steps of 0.01"),
        ("post", "/v1/forecasts", {"json": {"name": "../x", "predictor": "pq"}}, 422, "pattern"),
        ("post", "/v1/forecasts", {"json": {"name": "fq", "predictor": "pq"}}, 409, "already exists"),
        ("post", "/v1/forecasts", {"json": {"name": "f3", "predictor": "nope"}}, 404, "predictor 'nope' not found"),
        ("post", "/v1/predictors/pq/invocations", {"json": {"instances": [{"start": "2000-01-01", "target": ["x"]}]}},
         422, "instances[0].target"),
        ("post", "/v1/predictors/pq/invocations", {"json": {"instances": [{"start": "2000-02-01", "target": [1.0]}]}},
         422, "instances[0].start"),
        ("post", "/v1/predictors/pq/invocations",
         {"json": {"instances": [{"start": "2000-01-01", "target": [1.0]}], "configuration": {"quantiles": ["1.5"]}}},
         422, "configuration.quantiles: invalid forecast type '1.5'"),
        ("post", "/v1/predictors/pq/invocations", {"json": {"instances": []}}, 422, "at least 1"),
        ("post", "/v1/predictors", {"json": {"name": "p2", "dataset": "tq", "hyperparameters": {"prediction_length": 500}}},
         422, "prediction_length: Input should be less than or equal to 400"),
        ("post", "/v1/predictors", {"json": {"name": "p2", "dataset": "nope", "hyperparameters": {"prediction_length": 4}}},
         404, "dataset 'nope' not found"),
        ("delete", "/v1/datasets/tq", {}, 409, "used by"),
        ("delete", "/v1/predictors/pq", {}, 409, "used by forecast"),
    ],
)
def test_errors(client: TestClient, method: str, url: str, kwargs: dict, status: int, fragment: str) -> None:  # type: ignore[type-arg]
    r = getattr(client, method)(url, **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.text


def test_body_size_limit(world: World) -> None:
    settings = world.settings.model_copy(update={"max_body_bytes": 2048})
    with TestClient(create_app(settings)) as c:
        big = {"instances": [{"start": "2000-01-01", "target": [1.0] * 2000}]}
        r = c.post("/v1/predictors/pq/invocations", json=big)
        assert r.status_code == 413 and "limit of 2048 bytes" in r.json()["detail"]


def test_api_key(world: World) -> None:
    from pydantic import SecretStr

    settings = world.settings.model_copy(update={"api_key": SecretStr("s3cret")})
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/health").json() == {"status": "ok"}  # liveness probes need no key
        assert c.get("/v1/metrics").status_code == 401
        assert c.get("/v1/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/v1/metrics", headers={"Authorization": "Basic s3cret"}).status_code == 401
        assert c.get("/v1/metrics", headers={"Authorization": "s3cret"}).status_code == 401
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):  # RFC 7235: the scheme is case-insensitive
            assert c.get("/v1/metrics", headers={"Authorization": f"{scheme} s3cret"}).status_code == 200, scheme
        assert c.get("/openapi.json").status_code == 401
        r = c.get("/v1/forecasts/fq/items/Q1")  # the fast path sits behind the key too
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("key", ["", " ", "  \t "])
def test_blank_api_key_is_refused(key: str, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from pydantic import ValidationError

    from api.settings import Settings

    if key.strip() != key or key:
        with pytest.raises(ValidationError, match="blank"):
            Settings(api_key=key)
    monkeypatch.setenv("FORECAST_API_KEY", key)
    code, _, err = cli("serve", "--host", "0.0.0.0")  # an empty variable counts as unset; blank is an error
    assert code == 2
    assert ("FORECAST_API_KEY is blank" in err) if key else ("needs an API key" in err)


def test_serve_refuses_public_bind_without_key(cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("serve", "--host", "0.0.0.0")
    assert code == 2 and "needs an API key" in err


def test_invocation_cache_metrics(client: TestClient) -> None:
    body = {"instances": [{"start": "2000-01-01", "target": [1.0, 2.0, 3.0, 4.0, 5.0]}]}
    before = client.get("/v1/metrics").json()["predictor_cache"]
    for _ in range(3):
        assert client.post("/v1/predictors/pq/invocations", json=body).status_code == 200
    after = client.get("/v1/metrics").json()["predictor_cache"]
    assert after["loads"] == 1 and after["hits"] - before["hits"] >= 2
    assert after["load_seconds_total"] > 0


def test_forecast_job_over_http(client: TestClient, world: World) -> None:
    r = client.post("/v1/forecasts", json={"name": "job", "predictor": "pq", "types": "0.2,mean"})
    assert r.status_code == 202 and r.json()["status"] == "CREATE_PENDING"
    body = poll(client, "/v1/forecasts/job")
    assert body["status"] == "ACTIVE", body
    assert list(client.get("/v1/forecasts/job/items/Q3").json()["predictions"]) == ["p20", "mean"]
    assert client.delete("/v1/forecasts/job").status_code == 204
    assert client.get("/v1/forecasts/job").status_code == 404


def test_forecast_job_checks_the_dataset_before_accepting(client: TestClient, world: World, samples_dir: Path,
                                                         tmp_path: Path) -> None:
    """A request that cannot succeed is refused at once (422), not accepted and failed later."""
    from datasets import delete_dataset, import_dataset
    from resources import Kind
    from tests.forecast.conftest import head_lines

    rt = world.runtime
    import_dataset(rt.workspace, rt.registry, "monthly", str(head_lines(samples_dir / "tourism-monthly.jsonl",
                                                                        tmp_path / "m.jsonl", 5)), freq="M")
    try:
        r = client.post("/v1/forecasts", json={"name": "fm", "predictor": "pq", "dataset": "monthly"})
        assert r.status_code == 422 and "has frequency M but predictor 'pq' was trained on Q-DEC" in r.json()["detail"]
        assert not rt.registry.exists(Kind.FORECAST, "fm")
    finally:
        delete_dataset(rt.workspace, rt.registry, "monthly")


def test_plot_png(client: TestClient) -> None:
    r = client.get("/v1/forecasts/fq/items/Q1/plot.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n" and len(r.content) > 10_000
    r = client.get("/v1/forecasts/fq/items/nope/plot.png")
    assert r.status_code == 404 and "item 'nope' not found" in r.json()["detail"]
    assert client.get("/v1/forecasts/nope/items/Q1/plot.png").status_code == 404


def test_plot_cli(cli, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FORECAST_HOME", world.settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(world.settings.registry))
    out = tmp_path / "q.png"
    code, _, err = cli("forecasts", "plot", "fq", "Q3", "--out", str(out))
    assert code == 0, err
    assert out.read_bytes()[:4] == b"\x89PNG"
    code, _, err = cli("forecasts", "plot", "fq", "nope", "--out", str(tmp_path / "n.png"))
    assert code == 2 and "not found" in err and not (tmp_path / "n.png").exists()


def test_predictor_job_over_http(client: TestClient) -> None:
    from tests.forecast.conftest import TINY

    hp = {"prediction_length": 4, **TINY, "likelihood": "negative-binomial"}
    r = client.post("/v1/predictors", json={"name": "pjob", "dataset": "tq", "hyperparameters": hp})
    assert r.status_code == 202 and r.json()["status"] == "CREATE_PENDING"
    body = poll(client, "/v1/predictors/pjob", timeout=180)
    assert body["status"] == "ACTIVE", body
    assert body["result"]["metrics"]["predictor"]["num_items"] == 40
    assert client.post("/v1/predictors", json={"name": "pjob", "dataset": "tq", "hyperparameters": hp}).status_code == 409
    assert client.delete("/v1/predictors/pjob").status_code == 204


@pytest.mark.parametrize("query", ["", "?types=p10,mean", "?types=p90", "?types=mean,p10,p35"])
def test_fast_path_answers_byte_for_byte_what_the_route_answers(world: World, query: str) -> None:
    """The item-query fast path (api.http.fastpath) must be used for a loaded forecast and give exactly
    the documented route's bytes and headers."""
    from api.http.fastpath import FastItemQuery

    app = create_app(world.settings)
    with TestClient(app) as c:
        for item in ("Q1", "Q7", "Q23"):
            path = f"/v1/forecasts/fq/items/{item}{query}"
            state = app.state.service
            state.forecasts.drop("fq")
            assert state.forecasts.fresh("fq") is None
            routed = c.get(path)  # not loaded yet: the fast path steps aside, the route loads it
            assert routed.status_code == 200
            fast = FastItemQuery(app=None, cache=state.forecasts)._answer("fq", item, query.lstrip("?").encode())
            assert fast is not None, "the fast path did not answer a loaded forecast"
            assert fast == routed.content
            again = c.get(path)  # answered by the fast path now
            assert again.content == routed.content
            assert again.headers["content-type"] == routed.headers["content-type"] == "application/json"
            assert again.headers["content-length"] == routed.headers["content-length"]


def test_several_items_report_the_missing_ones(client: TestClient) -> None:
    r = client.get("/v1/forecasts/fq/items", params=[("item_id", "Q2"), ("item_id", "nope"), ("item_id", "Q1")])
    assert r.status_code == 200
    body = r.json()
    assert [i["item_id"] for i in body["items"]] == ["Q2", "Q1"] and body["missing"] == ["nope"]


def test_item_ids_page_by_prefix(client: TestClient) -> None:
    everything = sorted(f"Q{i}" for i in range(1, 41))
    seen, token = [], None
    while True:
        params = {"limit": 7, **({"next_token": token} if token else {})}
        body = client.get("/v1/forecasts/fq/item-ids", params=params).json()
        seen += body["item_ids"]
        token = body["next_token"]
        if token is None:
            break
    assert seen == everything
    body = client.get("/v1/forecasts/fq/item-ids", params={"prefix": "Q3"}).json()
    assert body["item_ids"] == ["Q3", *sorted(f"Q3{i}" for i in range(10))] and body["next_token"] is None
    assert client.get("/v1/forecasts/fq/item-ids", params={"prefix": "X"}).json()["item_ids"] == []
    assert client.get("/v1/forecasts/fq/item-ids", params={"limit": 0}).status_code == 422


def test_values_are_the_stored_float32_in_shortest_form(client: TestClient, world: World) -> None:
    """One number, one rendering: HTTP writes a stored value as the CSV export does (3502.5088, not
    the float64 it widens to, 3502.5087890625)."""
    import re

    from forecast.store import load_forecast
    from resources import Kind

    stored = load_forecast(world.runtime.workspace, world.runtime.registry.get(Kind.FORECAST, "fq"))
    row = stored.values["mean"][stored.index["Q1"]]
    text = client.get("/v1/forecasts/fq/items/Q1", params={"types": "mean"}).text
    raw = re.findall(r'"value":([^,}]+)', text)
    assert [np.float32(r) for r in raw] == row.tolist()
    assert raw == [str(v) for v in row]  # numpy's shortest float32 form, e.g. 3502.5088


def test_item_as_csv_matches_the_export(client: TestClient, world: World, tmp_path: Path) -> None:
    r = client.get("/v1/forecasts/fq/items/Q1", params={"types": "p10,mean"}, headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.splitlines()
    assert lines[0] == '"item_id","date","p10","mean"' and len(lines) == 5
    from exports.writer import iter_long_batches
    from resources import Kind

    exported = next(iter_long_batches(world.runtime.workspace, world.runtime.registry.get(Kind.FORECAST, "fq"), "csv"))
    rows = exported.to_pylist()[:4]
    for line, row in zip(lines[1:], rows, strict=True):
        item, date, p10, mean = line.split(",")
        assert (item, date) == ('"Q1"', f'"{row["date"]}"')
        assert np.float32(p10) == np.float32(row["p10"]) and np.float32(mean) == np.float32(row["mean"])


def test_usage_counts_items_times_types(client: TestClient, cli, world: World, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/usage").json()
    fq = next(u for u in body["forecasts"] if u["forecast"] == "fq")
    assert (fq["items"], fq["types"], fq["item_types"]) == (40, 5, 200)
    assert body["total_item_types"] == sum(u["item_types"] for u in body["forecasts"])
    monkeypatch.setenv("FORECAST_HOME", world.settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(world.settings.registry))
    code, out, _ = cli("usage", "--json")
    assert code == 0 and json.loads(out)["total_item_types"] == body["total_item_types"]


def test_prometheus_metrics(client: TestClient) -> None:
    client.get("/v1/forecasts/fq/items/Q1")
    client.get("/v1/forecasts/fq/items/nope")
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    item = 'method="GET",route="/v1/forecasts/{name}/items/{item_id}"'
    assert f'forecast_http_requests_total{{{item},status="200"}}' in text  # the fast path's answers too
    assert f'forecast_http_requests_total{{{item},status="404"}}' in text
    assert f'forecast_http_request_seconds_bucket{{le="0.001",{item}}}' in text
    assert 'forecast_jobs{kind="forecast",status="ACTIVE"}' in text
    assert "forecast_predictor_cache_hits_total" in text and "forecast_forecast_cache_loads_total" in text


def test_one_rule_for_forecast_types(client: TestClient) -> None:
    """0.1 and p10 are the same type everywhere; 0.125 is refused everywhere."""
    by_level = client.get("/v1/forecasts/fq/items/Q1", params={"types": "0.1,mean"}).json()["predictions"]
    by_name = client.get("/v1/forecasts/fq/items/Q1", params={"types": "p10,mean"}).json()["predictions"]
    assert by_level == by_name and list(by_level) == ["p10", "mean"]
    body = {"instances": [{"start": "2000-01-01", "target": [3.0, 5.0, 4.0, 6.0, 5.0, 7.0, 6.0, 8.0, 7.0, 9.0]}],
            "configuration": {"output_types": ["quantiles"], "quantiles": ["0.125"]}}
    r = client.post("/v1/predictors/pq/invocations", json=body)
    assert r.status_code == 422 and "steps of 0.01" in r.json()["detail"]
    body["configuration"]["quantiles"] = ["p10", "0.9"]  # type: ignore[index]
    r = client.post("/v1/predictors/pq/invocations", json=body)
    assert r.status_code == 200 and list(r.json()["predictions"][0]["quantiles"]) == ["p10", "0.9"]


def test_docs_work_offline(client: TestClient) -> None:
    """/docs is Swagger UI from our own copy: every asset it loads is served here, none from a CDN."""
    import re

    html = client.get("/docs").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls and all(u.startswith("/static/") for u in urls), urls
    for url in urls:
        assert client.get(url).status_code == 200
    assert "https://" not in html and "//cdn" not in html
    assert client.get("/redoc").status_code == 404  # redoc would need a CDN; not offered
