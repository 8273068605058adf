"""Exports to a real S3-protocol server (moto on 127.0.0.1) and to local folders, read back with
pandas and compared value by value with the stored forecast."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.runtime import Runtime, build_runtime
from api.server import create_app
from api.settings import Settings
from exports import ExportError, create_export, forecast_source, register_export, write_export
from exports.destinations import open_destination
from forecast.store import load_forecast
from forecast.synthetic import write_synthetic_forecast
from resources import Kind, Status
from tests.processes import kill_cli_when
from tests.service_fixtures import poll

AWKWARD = ["plain", "with,comma", 'with "quotes"', "multi\nline", "  spaced  ", "ünïcödé/ß", "semi;colon", "=1+2"]


@pytest.fixture
def rt() -> Runtime:
    return build_runtime()


def _forecast(rt: Runtime, name: str = "f", items: int = 300, **kw: object):  # type: ignore[no-untyped-def]
    ids = (AWKWARD + [f"item-{i}" for i in range(items - len(AWKWARD))])[:items]
    return write_synthetic_forecast(rt.workspace, rt.registry, name, items=items, item_ids=ids,
                                    types="0.1,0.35,mean,0.75,0.99", **kw)  # type: ignore[arg-type]


def _read_parts(fs, folder: str, ext: str) -> tuple[pd.DataFrame, list[str]]:  # type: ignore[no-untyped-def]
    parts = sorted((p for p in fs.ls(folder) if p.endswith(f".{ext}")), key=lambda p: int(p.rsplit("part", 1)[1].split(".")[0]))
    frames = []
    for p in parts:
        data = fs.cat(p)
        if ext == "csv":
            frames.append(pd.read_csv(io.BytesIO(data), dtype={"item_id": str}, keep_default_na=False))
        else:
            frames.append(pd.read_parquet(io.BytesIO(data)))
    return pd.concat(frames, ignore_index=True), parts


def _compare(rt: Runtime, df: pd.DataFrame, forecast_name: str) -> None:
    loaded = load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, forecast_name))
    assert list(df.columns) == ["item_id", "date", "p10", "p35", "mean", "p75", "p99"]
    assert len(df) == len(loaded.item_ids) * loaded.horizon
    assert df["item_id"].tolist() == [i for i in loaded.item_ids for _ in range(loaded.horizon)]
    for c in loaded.columns:
        np.testing.assert_array_equal(df[c].to_numpy(np.float32), loaded.values[c].reshape(-1))
    _, iso = loaded.timestamps(int(loaded.starts[0]))
    dates = df["date"] if df["date"].dtype == object else df["date"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert dates.tolist()[: loaded.horizon] == iso
    assert iso[0] == "2015-01-01T01:00:00Z"


def test_csv_to_s3_round_trips_value_by_value(s3_bucket: str, rt: Runtime, s3fs_client) -> None:  # type: ignore[no-untyped-def]
    _forecast(rt)
    dest = f"s3://{s3_bucket}/exports/run/"
    r = create_export(rt.workspace, rt.registry, "e", forecast="f", destination=dest, part_size_mb=0.1,
                      storage_options=rt.settings.storage_options(dest))
    assert r.status == Status.ACTIVE
    folder = r.result["folder"].removeprefix("s3://")
    assert folder.startswith(f"{s3_bucket}/exports/run/e_")
    names = [p.rsplit("/", 1)[1] for p in s3fs_client.ls(folder)]
    assert "_SUCCESS" in names and "_temporary" not in names
    df, parts = _read_parts(s3fs_client, folder, "csv")
    assert len(parts) > 1  # split into numbered parts
    run = folder.rsplit("/", 1)[1]
    assert [p.rsplit("/", 1)[1] for p in parts] == [f"{run}_part{i}.csv" for i in range(len(parts))]
    assert all(s3fs_client.size(p) < 0.1 * 2**20 + 200_000 for p in parts)
    _compare(rt, df, "f")
    header = s3fs_client.cat(parts[0]).split(b"\n", 1)[0]
    assert header == b'"item_id","date","p10","p35","mean","p75","p99"'
    assert r.result["rows"] == 300 * 24


def test_parquet_to_local_folder(rt: Runtime, tmp_path: Path) -> None:
    import fsspec

    _forecast(rt, items=50)
    r = create_export(rt.workspace, rt.registry, "p", forecast="f", destination=str(tmp_path / "out"), fmt="parquet")
    folder = r.result["folder"].removeprefix("file://")
    df, parts = _read_parts(fsspec.filesystem("file"), folder, "parquet")
    assert len(parts) == 1 and (Path(folder) / "_SUCCESS").exists()
    assert str(df["date"].dt.tz) == "UTC"
    _compare(rt, df, "f")


def test_missing_bucket_fails_clearly(s3_bucket: str, rt: Runtime) -> None:
    _forecast(rt, items=10)
    dest = f"s3://no-such-bucket-{s3_bucket}/x/"
    with pytest.raises(ExportError, match="does not exist"):
        create_export(rt.workspace, rt.registry, "e", forecast="f", destination=dest,
                      storage_options=rt.settings.storage_options(dest))
    r = rt.registry.get(Kind.EXPORT, "e")
    assert r.status == Status.CREATE_FAILED and "does not exist" in (r.message or "")


def test_failure_midway_leaves_nothing_that_looks_complete(s3_bucket: str, rt: Runtime, s3fs_client) -> None:  # type: ignore[no-untyped-def]
    f = _forecast(rt)
    fs, base = open_destination(f"s3://{s3_bucket}/mid", rt.settings.storage_options("s3://x"))

    def boom(part: int) -> None:
        if part == 1:
            raise RuntimeError("network gone")

    with pytest.raises(RuntimeError):
        write_export(forecast_source(rt.workspace, f, "csv"), fs, base, name="mid", part_size_bytes=50_000, on_part=boom)
    left = s3fs_client.find(f"{s3_bucket}/mid")
    assert not any(p.endswith("_SUCCESS") for p in left)
    assert not any("_part" in p for p in left), left


def test_second_export_does_not_touch_the_first(rt: Runtime, tmp_path: Path) -> None:
    _forecast(rt, items=20)
    dest = str(tmp_path / "shared")
    a = create_export(rt.workspace, rt.registry, "a", forecast="f", destination=dest)
    folder_a = Path(a.result["folder"].removeprefix("file://"))
    before = {p.name: p.read_bytes() for p in folder_a.iterdir()}
    second = int(time.time())  # run folders are named to the second: wait for the clock to pass it
    while int(time.time()) == second:
        time.sleep(0.01)
    b = create_export(rt.workspace, rt.registry, "b", forecast="f", destination=dest)
    assert b.result["folder"] != a.result["folder"]
    assert {p.name: p.read_bytes() for p in folder_a.iterdir()} == before


def test_export_killed_midway(rt: Runtime, tmp_path: Path) -> None:
    _forecast(rt, items=40_000)
    dest = tmp_path / "killed"
    kill_cli_when(["exports", "create", "k", "--forecast", "f", "--destination", str(dest), "--part-size-mb", "0.5"],
                  lambda: bool(list(dest.glob("*/_temporary/*part2.csv"))), what="export", timeout=60, poll=0.005)
    assert not list(dest.rglob("_SUCCESS"))
    assert not [p for p in dest.rglob("*_part*.csv")]
    r = rt.registry.get(Kind.EXPORT, "k")
    assert r.status == Status.CREATE_FAILED


def test_http_exports_only_under_allowed_prefixes(s3_bucket: str, rt: Runtime, tmp_path: Path, s3fs_client) -> None:  # type: ignore[no-untyped-def]
    _forecast(rt, items=30)
    allowed = f"s3://{s3_bucket}/allowed/"
    settings = Settings(allowed_export_prefixes=[allowed])
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/exports", json={"name": "x", "forecast": "f", "destination": f"s3://{s3_bucket}/other/"})
        assert r.status_code == 403 and "not allowed" in r.json()["detail"]
        r = c.post("/v1/exports", json={"name": "x", "forecast": "f", "destination": f"{allowed}../other/"})
        assert r.status_code == 422 and "'..'" in r.json()["detail"]
        r = c.post("/v1/exports", json={"name": "ok", "forecast": "f", "destination": f"{allowed}daily/", "part_size_mb": 1})
        assert r.status_code == 202, r.text
        body = poll(c, "/v1/exports/ok")
        assert body["status"] == "ACTIVE", body
        folder = body["result"]["folder"].removeprefix("s3://")
        assert s3fs_client.exists(f"{folder}/_SUCCESS")
        assert c.get("/v1/exports").json()["count"] == 1
        assert c.delete("/v1/exports/ok").status_code == 204
        assert s3fs_client.exists(f"{folder}/_SUCCESS")  # deleting the job leaves the files


def test_cli_exports(cli, rt: Runtime, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _forecast(rt, items=5)
    code, out, _ = cli("exports", "create", "c", "--forecast", "f", "--destination", str(tmp_path / "o"), "--json")
    assert code == 0
    import json

    assert json.loads(out)["rows"] == 5 * 24
    code, _, err = cli("exports", "create", "c2", "--forecast", "nope", "--destination", str(tmp_path / "o"))
    assert code == 2 and "forecast 'nope' not found" in err
    code, _, err = cli("exports", "create", "c3", "--forecast", "f", "--destination", str(tmp_path), "--format", "xml")
    assert code == 2 and "csv or parquet" in err
    assert cli("exports", "describe", "c")[0] == 0
    assert cli("exports", "delete", "c")[0] == 0


def test_register_rejects_bad_requests(rt: Runtime) -> None:
    _forecast(rt, items=5)
    with pytest.raises(ValueError, match="part size"):
        register_export(rt.registry, "z", forecast="f", destination="/tmp/x", part_size_mb=0)
