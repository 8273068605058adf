"""Sources: plain, gzip and Parquet files, folders, and s3:// URLs on a moto server; round trip
of the stored columnar copy."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.runtime import build_runtime
from datasets import DatasetValidationError, import_dataset, iter_dataset, scan_dataset
from resources import InvalidInputError


def test_real_samples_validate(samples_dir: Path) -> None:
    monthly = scan_dataset(str(samples_dir / "tourism-monthly.jsonl"), freq="M")
    assert monthly.num_series == 366 and monthly.length_max == 333
    retail = scan_dataset(str(samples_dir / "aus-retail.jsonl"), freq="M")
    assert retail.num_series == 152 and retail.cat_cardinalities == [8, 20]
    epf = scan_dataset(str(samples_dir / "epf-fr-be.jsonl"), freq="H")
    assert epf.num_series == 2 and epf.num_dynamic_feat == 2 and epf.freq == "h"


def test_gzip_equals_plain(samples_dir: Path, tmp_path: Path) -> None:
    plain = samples_dir / "tourism-quarterly.jsonl"
    gz = tmp_path / "tq.jsonl.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert scan_dataset(str(gz), freq="Q").fingerprint == scan_dataset(str(plain), freq="Q").fingerprint


def test_corrupt_gzip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"start": "2020-01-01", "target": [1]}\n' * 100)[:-20])
    with pytest.raises(DatasetValidationError, match="cannot read the file"):
        scan_dataset(str(path), freq="D")


def _records(n: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(0)
    return [
        {
            "item_id": f"item-{i}",
            "start": "2021-01-01 00:00:00",
            "target": [None if j == 3 else float(v) for j, v in enumerate(rng.gamma(2, 3, size=20 + i))],
            "cat": [i % 3, i % 2],
            "dynamic_feat": [list(map(float, range(20 + i))), [float(i)] * (20 + i)],
        }
        for i in range(n)
    ]


def test_parquet_equals_json_lines(tmp_path: Path) -> None:
    records = _records(7)
    jl = tmp_path / "d.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in records))
    pq_path = tmp_path / "d.parquet"
    renamed = [{**{k: v for k, v in r.items() if k not in ("cat", "dynamic_feat")},
                "feat_static_cat": r["cat"], "feat_dynamic_real": r["dynamic_feat"]} for r in records]
    pq.write_table(pa.Table.from_pylist(renamed), pq_path)
    a = scan_dataset(str(jl), freq="h")
    b = scan_dataset(str(pq_path), freq="h")
    assert a.fingerprint == b.fingerprint
    assert b.num_dynamic_feat == 2 and b.cat_cardinalities == [3, 2]


def test_bad_parquet_row_is_located(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"start": "2021-01-01", "target": [1.0]}, {"start": "2021-01-01", "target": []}]), path)
    with pytest.raises(DatasetValidationError) as info:
        scan_dataset(str(path), freq="D")
    (problem,) = info.value.problems
    assert (problem.line, problem.field, problem.message) == (2, "target", "is empty")


def test_folder_skips_markers_and_dotfiles(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "part").mkdir(parents=True)
    records = _records(4)
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:2]))
    with gzip.open(folder / "part" / "b.json.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records[2:]))
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.jsonl").write_text("garbage\n")
    (folder / "README.txt").write_text("not data")
    summary = scan_dataset(str(folder), freq="h")
    assert summary.num_series == 4 and summary.num_files == 2


def test_folder_problem_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.jsonl").write_text(json.dumps({"start": "2020-01-01", "target": [1]}) + "\n")
    (folder / "b.jsonl").write_text("\n" + json.dumps({"start": "2020-01-01", "target": ["x"]}) + "\n")
    with pytest.raises(DatasetValidationError) as info:
        scan_dataset(str(folder), freq="D")
    (problem,) = info.value.problems
    assert problem.file == f"{folder}/b.jsonl" and problem.line == 2
    assert str(problem).startswith(f"{folder}/b.jsonl:2 [target]:")


def test_missing_and_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        scan_dataset(str(tmp_path / "nope.jsonl"), freq="D")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(InvalidInputError, match="long-format rows; import it with `format` long"):
        scan_dataset(str(tmp_path / "x.csv"), freq="D")
    (tmp_path / "x.txt").write_text("a,b\n")
    with pytest.raises(InvalidInputError, match="unknown file type"):
        scan_dataset(str(tmp_path / "x.txt"), freq="D")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no data files"):
        scan_dataset(str(tmp_path / "empty"), freq="D")


def test_import_round_trips_values(tmp_path: Path) -> None:
    records = _records(5)
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    rt = build_runtime()
    resource = import_dataset(rt.workspace, rt.registry, "small", str(path), freq="h")
    stored = list(iter_dataset(rt.workspace, resource))
    assert [e["item_id"] for e in stored] == [r["item_id"] for r in records]
    for entry, record in zip(stored, records, strict=True):
        expected = np.array([np.nan if v is None else v for v in record["target"]], dtype=np.float32)  # type: ignore[union-attr]
        np.testing.assert_array_equal(entry["target"], expected)
        assert entry["cat"] == record["cat"]
        np.testing.assert_array_equal(entry["dynamic_feat"], np.array(record["dynamic_feat"], dtype=np.float32))
        assert str(entry["start"]) == "2021-01-01 00:00:00"


def test_s3_source_and_s3_workspace(s3_bucket: str, s3fs_client, samples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    s3fs_client.put(str(samples_dir / "aus-retail.jsonl"), f"{s3_bucket}/in/retail/part-0.jsonl")
    s3fs_client.pipe(f"{s3_bucket}/in/retail/_SUCCESS", b"")
    monkeypatch.setenv("FORECAST_HOME", f"s3://{s3_bucket}/workspace")
    monkeypatch.setenv("FORECAST_REGISTRY", str(Path(str(samples_dir)).parent / f"reg-{s3_bucket}.db"))
    rt = build_runtime()
    source = f"s3://{s3_bucket}/in/retail/"
    resource = import_dataset(
        rt.workspace, rt.registry, "retail", source, freq="M", source_options=rt.settings.storage_options(source)
    )
    assert resource.result["num_series"] == 152
    assert s3fs_client.exists(f"{s3_bucket}/workspace/{resource.artifact}/series.parquet")
    first = next(iter_dataset(rt.workspace, resource))
    assert first["cat"] == [0, 0] and len(first["target"]) > 0
