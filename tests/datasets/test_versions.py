"""Week two on real data: incremental imports make versions (replaced and new items, bad files
that change nothing, concurrent imports that both land), forecasts read the version they name,
monitors evaluate last week's forecast as an export would, aliases move atomically under load."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from api.runtime import Runtime, build_runtime
from datasets import (
    DatasetValidationError,
    dataset_at,
    dataset_versions,
    import_dataset,
    iter_dataset,
)
from datasets.increments import import_increment
from resources import ConflictError, Kind


def _rows(samples_dir: Path, n: int) -> list[dict]:
    lines = (samples_dir / "tourism-quarterly.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _tail(r: dict, drop: int, keep: int) -> dict:
    """The ``keep`` points of ``r`` that start ``drop`` points before its end."""
    start = pd.Period(r["start"], freq="Q") + len(r["target"]) - drop
    return {"item_id": r["item_id"], "start": str(start.start_time.date()), "target": r["target"][-drop:][:keep]}


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return build_runtime()


def _series(rt: Runtime, name: str, version: int | None = None) -> dict[str, np.ndarray]:
    ds = dataset_at(rt.registry.get(Kind.DATASET, name), version)
    return {e["item_id"]: np.asarray(e["target"]) for e in iter_dataset(rt.workspace, ds)}


def test_incremental_imports_add_replace_and_keep_every_version(rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    rows = _rows(samples_dir, 30)
    week1 = [{**r, "target": r["target"][:-8]} for r in rows[:25]]
    import_dataset(rt.workspace, rt.registry, "d", _write(tmp_path / "w1.jsonl", week1), freq="Q")
    # week two: 4 new points for each old item, one replaced value, and 5 new items
    week2 = [_tail(r, 8, 4) for r in rows[:25]]
    week2[0]["start"] = str((pd.Period(week2[0]["start"], freq="Q") - 1).start_time.date())
    week2[0]["target"] = [123.0, *week2[0]["target"]]
    week2 += rows[25:]
    r = import_increment(rt.workspace, rt.registry, "d-w2", "d", _write(tmp_path / "w2.jsonl", week2))
    assert r.result["observations_replaced"] == 1 and r.result["items_added"] == 5
    assert r.result["observations_added"] == 25 * 4 + sum(len(x["target"]) for x in rows[25:])
    v2 = _series(rt, "d")
    assert len(v2) == 30
    first = rows[0]["target"]
    assert v2[rows[0]["item_id"]].tolist() == pytest.approx([*first[:-9], 123.0, *first[-8:-4]])
    for x in rows[1:25]:
        assert v2[x["item_id"]].tolist() == pytest.approx(x["target"][:-4])
    assert _series(rt, "d", 1)[rows[1]["item_id"]].tolist() == pytest.approx(rows[1]["target"][:-8])
    ds = rt.registry.get(Kind.DATASET, "d")
    assert [v.number for v in dataset_versions(ds)] == [1, 2]
    assert ds.result["num_series"] == 30 and ds.result["num_observations"] == sum(len(t) for t in v2.values())
    # rows of the version in partitions: the same series as a whole read
    parts = [e["item_id"] for lo in range(0, 30, 7)
             for e in iter_dataset(rt.workspace, dataset_at(ds), rows=(lo, min(lo + 7, 30)))]
    assert parts == list(v2)


def test_a_bad_incremental_file_changes_nothing(rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    rows = _rows(samples_dir, 5)
    import_dataset(rt.workspace, rt.registry, "d", _write(tmp_path / "w1.jsonl", rows), freq="Q")
    before = rt.registry.get(Kind.DATASET, "d").result
    bad = [{"item_id": rows[0]["item_id"], "start": "2010-02-15", "target": [1.0]},
           {"item_id": "x", "start": "2010-01-01", "target": ["many"]},
           {"item_id": "y", "start": "2010-01-01", "target": [1.0], "colour": "red"}]
    with pytest.raises(DatasetValidationError) as e:
        import_increment(rt.workspace, rt.registry, "bad", "d", _write(tmp_path / "bad.jsonl", bad))
    text = str(e.value)
    assert "bad.jsonl:1 [start]" in text and "bad.jsonl:2 [target]" in text
    with pytest.raises(DatasetValidationError, match="colour"):
        import_increment(rt.workspace, rt.registry, "bad2", "d", _write(tmp_path / "bad2.jsonl", bad[2:]))
    assert rt.registry.get(Kind.DATASET, "d").result == before
    assert not rt.registry.exists(Kind.IMPORT, "bad")
    with pytest.raises(Exception, match="frequency"):
        import_increment(rt.workspace, rt.registry, "bad3", "d", str(tmp_path / "w1.jsonl"), freq="M")


def test_concurrent_imports_both_land(rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    rows = _rows(samples_dir, 20)
    import_dataset(rt.workspace, rt.registry, "d", _write(tmp_path / "w1.jsonl", [
        {**r, "target": r["target"][:-8]} for r in rows]), freq="Q")
    files = [_write(tmp_path / f"a{i}.jsonl", [_tail(r, 8 - 4 * i, 4) for r in rows]) for i in range(2)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            import_increment(rt.workspace, rt.registry, f"imp{i}", "d", files[i])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ds = rt.registry.get(Kind.DATASET, "d")
    assert ds.result["version"] == 3
    for r in rows:
        assert _series(rt, "d")[r["item_id"]].tolist() == pytest.approx(r["target"])


@pytest.mark.slow
def test_week_two_monitor_alias_and_refresh(rt: Runtime, samples_dir: Path, tmp_path: Path) -> None:
    """A predictor trained in week one forecasts week two from the new version; the monitor's
    evaluation of week one's forecast equals the figures computed from its export and the actuals."""
    from exports import create_export
    from forecast.aliases import set_alias
    from forecast.config import Hyperparameters
    from forecast.forecasts import create_forecast
    from forecast.monitors import create_monitor, evaluations
    from forecast.predictors import create_predictor

    rows = _rows(samples_dir, 30)
    import_dataset(rt.workspace, rt.registry, "d", _write(tmp_path / "w1.jsonl", [
        {**r, "target": r["target"][:-4]} for r in rows]), freq="Q")
    create_predictor(rt.workspace, rt.registry, "p", dataset="d", hyperparameters=Hyperparameters(
        algorithm="ets", prediction_length=4, backtest_windows=1))
    create_forecast(rt.workspace, rt.registry, "f1", predictor="p", types="0.1,0.5,0.9")
    create_monitor(rt.workspace, rt.registry, "m", "p")
    set_alias(rt.registry, "demand", "f1")
    actuals = [_tail(r, 4, 4) for r in rows]
    import_increment(rt.workspace, rt.registry, "w2", "d", _write(tmp_path / "w2.jsonl", actuals))
    out = evaluations(rt.workspace, rt.registry, "m")
    (e,) = out["evaluations"]
    assert e["forecast"] == "f1" and e["dataset_version"] == 2 and e["items_evaluated"] == 30
    create_export(rt.workspace, rt.registry, "x", forecast="demand", destination=str(tmp_path / "x"), fmt="csv")
    export = pd.concat(pd.read_csv(p) for p in sorted((tmp_path / "x").rglob("*.csv")))
    truth = pd.DataFrame([{"item_id": a["item_id"], "ts": pd.Timestamp(a["start"]) + pd.offsets.QuarterBegin(i, startingMonth=1),
                           "y": v} for a in actuals for i, v in enumerate(a["target"])])
    export["ts"] = pd.to_datetime(export["date"]).dt.tz_localize(None)
    joined = export.merge(truth, on=["item_id", "ts"])
    assert len(joined) == 30 * 4
    denom = joined["y"].abs().sum()
    for q in (0.1, 0.5, 0.9):
        diff = joined["y"] - joined[f"p{int(q * 100)}"]
        loss = np.where(diff >= 0, q * diff, (q - 1) * diff).sum()
        assert e["wql"][f"{q:g}"] == pytest.approx(2 * loss / denom, rel=1e-4)
        assert e["coverage"][f"{q:g}"] == pytest.approx((joined["y"] < joined[f"p{int(q * 100)}"]).mean())
    assert e["wape"] == pytest.approx((joined["y"] - joined["p50"]).abs().sum() / denom, rel=1e-4)
    assert e["flagged"] == (e["mean_wql"] > 1.5 * e["backtest_mean_wql"])
    # week two: the same predictor forecasts from the new points; the alias moves; f1 is guarded
    f2 = create_forecast(rt.workspace, rt.registry, "f2", predictor="p", types="0.1,0.5,0.9")
    assert f2.spec["dataset_version"] == 2
    set_alias(rt.registry, "demand", "f2")
    with pytest.raises(ConflictError, match="alias 'demand'"):
        from forecast.forecasts import delete_forecast

        delete_forecast(rt.workspace, rt.registry, "f2")
