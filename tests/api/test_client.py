"""The Python client (``api.client``) against ``forecast serve`` started by ``LocalService`` on a
loopback port: every call is one route, refusals raise ``ApiError`` with the service's status and
message, failed jobs ``JobFailed`` with the job's message, and the server process is gone after
``stop()``."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from api.client import ApiError, JobFailed, LocalService

pytestmark = pytest.mark.slow  # trains predictors in the service's worker processes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_client_round_trip_and_errors(tmp_path: Path, samples_dir: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = (samples_dir / "tourism-quarterly.jsonl").read_text().splitlines(keepends=True)[:30]
    (data / "tq.jsonl").write_text("".join(lines))
    (data / "broken.jsonl").write_text('{"start": "2000-01-01", "target": [1, 2, "x"]}\n')

    with LocalService(home=tmp_path / "home", allowed_prefixes=[data]) as service:
        client = service.client
        pid = service.pid
        assert client.health()["status"] == "ok"

        dataset = client.import_dataset("tq", str(data / "tq.jsonl"), freq="Q")
        assert dataset["status"] == "ACTIVE" and dataset["result"]["num_series"] == 30

        predictor = client.create_predictor("naive", dataset="tq", prediction_length=4,
                                            algorithm="seasonal_naive")
        assert predictor["result"]["prediction_length"] == 4
        report = client.backtest("naive", item_id="Q1")
        assert {row["model"] for row in report["items"]} >= {"seasonal_naive"}

        client.create_forecast("f", predictor="naive", types=["p10", "0.5", "mean"])
        frame = client.query("f", "Q1")
        assert list(frame.columns) == ["p10", "p50", "mean"] and len(frame) == 4
        assert (frame["p10"] <= frame["p50"]).all()
        assert client.query("f", "Q1", types="mean", start=str(frame.index[1].date())).shape == (3, 1)
        assert client.item_ids("f", prefix="Q1", limit=3) == ["Q1", "Q10", "Q11"]
        assert client.dimensions("f") == {}
        assert client.plot("f", "Q1").startswith(b"\x89PNG")

        out = data / "exports"
        export = client.create_export("e", forecast="f", destination=str(out))
        part = Path(export["result"]["files"][0].removeprefix("file://"))
        assert export["result"]["rows"] == 30 * 4 and part.is_relative_to(out)
        assert (part.parent / "_SUCCESS").exists()

        answer = client.invoke("naive", [{"start": "2000-01-01", "target": [1.0, 2, 3, 4, 5, 6, 7, 8]}])
        assert len(answer["predictions"][0]["mean"]) == 4

        with pytest.raises(ApiError) as missing:
            client.describe("forecasts", "nope")
        assert missing.value.status == 404 and "nope" in missing.value.detail
        with pytest.raises(ApiError) as outside:
            client.import_dataset("x", str(tmp_path / "home"), freq="Q")
        assert outside.value.status == 403
        with pytest.raises(ApiError) as bad:
            client.create_predictor("bad", dataset="tq", prediction_length=0)
        assert bad.value.status == 422 and "prediction_length" in bad.value.detail
        with pytest.raises(JobFailed) as failed:
            client.import_dataset("broken", str(data / "broken.jsonl"), freq="Q")
        assert failed.value.resource["status"] == "CREATE_FAILED"
        assert "broken.jsonl:1" in str(failed.value)
        assert [d["name"] for d in client.list("datasets") if d["status"] == "ACTIVE"] == ["tq"]
        children = [c.pid for c in psutil.Process(pid).children(recursive=True)]
        assert children  # the worker process the invocation's fits ran in
    assert not _alive(pid)
    _, alive = psutil.wait_procs([psutil.Process(c) for c in children if psutil.pid_exists(c)], timeout=10)
    assert not alive, f"the server left {alive} behind"
