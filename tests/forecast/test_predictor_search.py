"""Finding predictors like experiment runs: filter by dataset, algorithm, status; sort by a
backtest metric (predictors without it last), in the CLI and over HTTP."""

from __future__ import annotations

import json

import pytest

from api.runtime import Runtime
from forecast.predictors import find_predictors
from resources import InvalidInputError, Kind, Status


@pytest.fixture
def runs(rt: Runtime) -> Runtime:
    for name, dataset, algorithm, wql, status in [
        ("a", "sales", "deepar", 0.12, Status.ACTIVE), ("b", "sales", "auto", 0.08, Status.ACTIVE),
        ("c", "sales", "deepar", 0.10, Status.ACTIVE), ("d", "other", "deepar", 0.05, Status.ACTIVE),
        ("e", "sales", "deepar", None, Status.CREATE_FAILED),
    ]:
        rt.registry.create(Kind.PREDICTOR, name, status=Status.CREATE_PENDING,
                           spec={"dataset": dataset, "hyperparameters": {"algorithm": algorithm}})
        metrics = {"predictor": {"mean_wql": wql, "mase": 1.0}} if wql is not None else {}
        rt.registry.update(Kind.PREDICTOR, name, status=status, result={"metrics": metrics})
    return rt


def test_filter_and_sort(runs: Runtime) -> None:
    def names(**kw: object) -> list[str]:
        return [r.name for r in find_predictors(runs.registry, **kw)]  # type: ignore[arg-type]

    assert names(filters={"dataset": "sales"}, sort_by="mean_wql") == ["b", "c", "a", "e"]  # no metric: last
    assert names(filters={"dataset": "sales", "algorithm": "deepar"}, sort_by="mean_wql") == ["c", "a", "e"]
    assert names(filters={"status": "ACTIVE"}, sort_by="mean_wql", descending=True) == ["a", "c", "b", "d"]
    assert names(sort_by="name", descending=True) == ["e", "d", "c", "b", "a"]
    with pytest.raises(InvalidInputError, match="cannot filter predictors by colour; use dataset, algorithm"):
        find_predictors(runs.registry, filters={"colour": "red"})
    with pytest.raises(InvalidInputError, match="cannot sort predictors by 'speed'"):
        find_predictors(runs.registry, sort_by="speed")


def test_cli_and_http(runs: Runtime, cli) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from api.server import create_app

    code, out, _ = cli("predictors", "list", "--filter", "dataset=sales", "--filter", "algorithm=deepar",
                       "--sort-by", "mean_wql", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)] == ["c", "a", "e"]
    code, _, err = cli("predictors", "list", "--filter", "dataset")
    assert code == 2 and "expected key=value" in err
    with TestClient(create_app(runs.settings)) as client:
        r = client.get("/v1/predictors", params=[("filter", "dataset=sales"), ("sort_by", "mean_wql")])
        assert [p["name"] for p in r.json()["data"]] == ["b", "c", "a", "e"]
        assert client.get("/v1/predictors", params={"sort_by": "speed"}).status_code == 422
