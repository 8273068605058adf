"""Long-format imports (one row per observation, CSV or Parquet): keys with dimensions, aggregation
to the frequency, each fill method, item metadata, and every bad-input case with its message."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.runtime import build_runtime
from datasets import (
    DatasetValidationError,
    Filling,
    LongFormat,
    import_dataset,
    iter_dataset,
    validate_source,
)
from datasets.long_scan import scan_long
from datasets.metadata import scan_metadata
from datasets.records import Series
from resources import InvalidInputError, Kind

# Daily sales of two items in two stores. A/1 has two rows on 01-01 and a gap on 01-02; A/2 starts
# on 01-02; B/1 has an empty value on 01-03 and ends before the dataset's last day (01-05).
SALES = """item_id,store,timestamp,target_value,price
A,1,2024-01-01,5,1.0
A,1,2024-01-01,2,1.0
A,1,2024-01-03,4,1.5
A,1,2024-01-05,6,1.5
A,2,2024-01-02,1,2.0
A,2,2024-01-05,3,2.0
B,1,2024-01-01,7,3.0
B,1,2024-01-03,,3.0
B,1,2024-01-04,9,3.5
"""


def scan(path: Path, **options: object) -> dict[str, Series]:
    out: list[Series] = []
    scan_long(str(path), freq=str(options.pop("freq", "D")), fmt=LongFormat.model_validate(options), write=out.extend)
    return {str(s.key): s for s in out}


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    path = tmp_path / "sales.csv"
    path.write_text(SALES)
    return path


def test_series_keys_aggregation_and_default_filling(sales: Path) -> None:
    got = scan(sales, dimensions=["store"])
    assert list(got) == ["A|store=1", "A|store=2", "B|store=1"]  # sorted by key
    a1, a2, b1 = got.values()
    assert (a1.item_id, a1.dimensions, a1.start) == ("A", ("1",), pd.Timestamp("2024-01-01"))
    # 01-01 summed (5 + 2), the 01-02 and 01-04 gaps are zero (middlefill zero)
    np.testing.assert_array_equal(a1.target, [7, 0, 4, 0, 6])
    assert a2.start == pd.Timestamp("2024-01-02")  # frontfill none: a series starts at its first row
    np.testing.assert_array_equal(a2.target, [1, 0, 0, 3])
    # the empty value is a gap (zero), and backfill zero runs to the dataset's last day, 01-05
    np.testing.assert_array_equal(b1.target, [7, 0, 0, 9, 0])


@pytest.mark.parametrize(("how", "first_value"), [("sum", 7), ("avg", 3.5), ("first", 5), ("min", 2), ("max", 5)])
def test_aggregation(sales: Path, how: str, first_value: float) -> None:
    got = scan(sales, dimensions=["store"], aggregation=how)
    assert got["A|store=1"].target[0] == first_value


def test_weekly_aggregation_sums_days_into_their_week(sales: Path) -> None:
    got = scan(sales, freq="W", dimensions=["store"])  # W-SUN: Monday..Sunday; 2024-01-01 is a Monday
    assert got["A|store=1"].start == pd.Timestamp("2024-01-01")
    np.testing.assert_array_equal(got["A|store=1"].target, [17])
    np.testing.assert_array_equal(got["B|store=1"].target, [16])


@pytest.mark.parametrize(("method", "middle", "back"), [
    # B/1 observed 7 (01-01) and 9 (01-04): gaps at 01-02, 01-03; back at 01-05
    ("zero", [0, 0], [0]),
    ("value", [-1, -1], [-1]),
    ("mean", [8, 8], [8]),
    ("median", [8, 8], [8]),
    ("min", [7, 7], [7]),
    ("max", [9, 9], [9]),
])
def test_each_fill_method(sales: Path, method: str, middle: list[float], back: list[float]) -> None:
    filling = {"middlefill": method, "backfill": method, "fill_value": -1 if method == "value" else None}
    b1 = scan(sales, dimensions=["store"], filling=filling)["B|store=1"]
    np.testing.assert_array_equal(b1.target, [7, *middle, 9, *back])


def test_nan_and_none_fills(sales: Path) -> None:
    b1 = scan(sales, dimensions=["store"], filling={"middlefill": "nan", "backfill": "none"})["B|store=1"]
    np.testing.assert_array_equal(b1.target, [7, np.nan, np.nan, 9])  # ends at its last observation


def test_filling_options_are_checked() -> None:
    with pytest.raises(ValueError, match="no fill value"):
        LongFormat(filling=Filling(middlefill="value"))
    with pytest.raises(ValueError, match="futurefill applies to related"):
        LongFormat(filling=Filling(futurefill="zero"))
    with pytest.raises(ValueError, match="middlefill none is not possible"):
        LongFormat(filling=Filling(middlefill="none"))
    with pytest.raises(ValueError, match="clash with a forecast column"):
        LongFormat(dimensions=["p10"])


def test_related_series_keep_their_columns_unfilled_by_default(sales: Path) -> None:
    got = scan(sales, dimensions=["store"], type="related")
    b1 = got["B|store=1"]
    assert b1.target.size == 0 and b1.dynamic_feat is not None
    np.testing.assert_array_equal(b1.dynamic_feat[1], [3.0, np.nan, 3.0, 3.5])  # price; no backfill to 01-05


def test_parquet_gzip_and_folder_sources_give_the_same_series(sales: Path, tmp_path: Path) -> None:
    expected = scan(sales, dimensions=["store"])
    frame = pd.read_csv(sales, dtype={"store": str})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "sales.parquet")
    gz = tmp_path / "sales.csv.gz"
    gz.write_bytes(gzip.compress(sales.read_bytes()))
    folder = tmp_path / "parts"
    folder.mkdir()
    lines = SALES.splitlines()
    (folder / "a.csv").write_text("\n".join(lines[:5]) + "\n")
    (folder / "b.csv").write_text("\n".join([lines[0], *lines[5:]]) + "\n")
    for source in (tmp_path / "sales.parquet", gz, folder):
        got = scan(source, dimensions=["store"])
        assert list(got) == list(expected)
        for key, s in expected.items():
            np.testing.assert_array_equal(got[key].target, s.target)
            assert got[key].start == s.start


def test_partitioned_on_disk_equals_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({
        "item_id": rng.choice([f"i{k}" for k in range(40)], n),
        "store": rng.choice(["1", "2", "3"], n),
        "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
        "target_value": rng.integers(0, 10, n).astype(float),
    })
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    fmt = LongFormat(dimensions=["store"])
    whole: list[Series] = []
    scan_long(str(path), freq="D", fmt=fmt, write=whole.extend)
    parts: list[Series] = []
    summary = scan_long(str(path), freq="D", fmt=fmt, write=parts.extend, partition_bytes=10_000)
    assert summary.num_series == len(whole) == len(parts) == frame.groupby(["item_id", "store"]).ngroups
    by_key = {s.key: s for s in parts}
    for s in whole:
        np.testing.assert_array_equal(by_key[s.key].target, s.target)
        assert by_key[s.key].start == s.start
    assert sum(float(s.target.sum()) for s in parts) == frame["target_value"].sum()


def test_a_source_of_many_partitions_opens_at_most_max_partitions_spill_files(tmp_path: Path) -> None:
    """100-byte partitions of a 150 KB file would be 1,500 spill files open at once (past the usual
    limit of 1,024 open files); the count is capped and the import is the in-memory one."""
    from datasets.long_scan import MAX_PARTITIONS, partition_count

    rng = np.random.default_rng(1)
    n = 6000
    frame = pd.DataFrame({"item_id": rng.choice([f"i{k}" for k in range(300)], n),
                          "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
                          "target_value": rng.integers(0, 10, n).astype(float)})
    path = tmp_path / "many.csv"
    frame.to_csv(path, index=False)
    assert path.stat().st_size // 100 > 1024 and partition_count(path.stat().st_size, 100) <= MAX_PARTITIONS
    whole: list[Series] = []
    scan_long(str(path), freq="D", fmt=LongFormat(), write=whole.extend)
    parts: list[Series] = []
    scan_long(str(path), freq="D", fmt=LongFormat(), write=parts.extend, partition_bytes=100)
    by_key = {s.key or s.item_id: s for s in parts}
    assert len(parts) == len(whole) == frame["item_id"].nunique()
    for s in whole:
        np.testing.assert_array_equal(by_key[s.key or s.item_id].target, s.target)


def test_timestamps_with_offsets_and_formats(tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text("item_id,timestamp,target_value\nA,2024-01-01T23:30:00+00:00,1\nA,2024-01-02T01:00:00+02:00,2\n")
    utc = scan(path, freq="h")["A"]
    assert utc.start == pd.Timestamp("2024-01-01 23:00") and list(utc.target) == [3]  # both are 23:xx UTC
    paris = scan(path, freq="D", timezone="Europe/Paris")["A"]
    assert paris.start == pd.Timestamp("2024-01-02") and list(paris.target) == [3]  # 00:30 and 00:00 in Paris
    path.write_text("item_id,timestamp,target_value\nA,31/01/2024,1\nA,01/02/2024,2\n")
    got = scan(path, timestamp_format="%d/%m/%Y")["A"]
    assert got.start == pd.Timestamp("2024-01-31") and list(got.target) == [1, 2]


def test_bad_input_is_listed_by_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("item_id,timestamp,target_value\nA,2024-01-01,1\nA,2024-13-01,2\n,2024-01-02,3\n"
                    "A,2024-01-03,abc\nA,2024-01-04,1e50\n")
    with pytest.raises(DatasetValidationError) as info:
        scan(path)
    assert [str(p) for p in info.value.problems] == [
        (f"{path}:3 [timestamp]: cannot read '2024-13-01' as a timestamp (ISO 8601 such as 2024-01-31; supported "
         "range 1677-09-22 .. 2262-04-11; `timestamp_format` sets another format)"),
        f"{path}:4 [item_id]: is empty",
        f"{path}:5 [target_value]: 'abc' is not a number, or is beyond the float32 range (about ±3.4e38)",
        f"{path}:6 [target_value]: '1e50' is not a number, or is beyond the float32 range (about ±3.4e38)",
    ]


def test_a_header_row_in_a_file_read_without_one_is_called_one(tmp_path: Path) -> None:
    """The managed API names the columns by its schema, so its files have no header row: a first
    line that holds the column names is said to be a header, not an unreadable timestamp."""
    path = tmp_path / "with-header.csv"
    path.write_text("timestamp,item_id,target_value\n2024-01-01,A,1\n2024-01-02,A,2\n")
    with pytest.raises(DatasetValidationError) as info:
        scan(path, column_names=["timestamp", "item_id", "target_value"])
    first = info.value.problems[0]
    assert (first.line, first.field) == (1, "timestamp") and "looks like a header row" in first.message


def test_every_change_to_the_values_is_counted_and_strict_refuses_them(tmp_path: Path) -> None:
    """n/a and empty cells, a period with no row, two rows of one period and a stray negative
    value: stored as today (filled with zeros, summed), and each counted in the summary; with
    `strict` the import is refused, each change at its first file:line."""
    lines = ["item_id,timestamp,target_value"]
    for item in "ab":
        lines += [f"{item},2024-01-{d:02d},{d}" for d in range(1, 31) if not (item == "b" and d == 20)]
    lines[4] = "a,2024-01-04,n/a"
    lines[5] = "a,2024-01-05,"
    lines[40] = "b,2024-01-10,-500"
    lines.append("a,2024-01-07,5")  # a second row for a's 7 January
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(lines) + "\n")
    stored: list[Series] = []
    summary = scan_long(str(path), freq="D", fmt=LongFormat(), write=stored.extend)
    c = summary.changes
    assert c is not None
    assert (c.empty_values, c.gap_periods, c.aggregated_periods, c.aggregated_rows) == (2, 1, 1, 2)
    assert c.filled == {"middlefill zero": 3} and c.negative_values == 1 and c.suspicious_negatives
    assert c.examples == {"empty values": f"{path}:5", "combined rows": f"{path}:61",
                          "negative values": f"{path}:41"}
    a = next(s for s in stored if s.item_id == "a")
    assert a.target[3] == 0 and a.target[4] == 0 and a.target[6] == 12  # filled and summed, as before
    with pytest.raises(DatasetValidationError) as info:
        scan_long(str(path), freq="D", fmt=LongFormat(strict=True))
    where = {(p.line, p.message.split(":")[0]) for p in info.value.problems if p.line}
    assert where == {(5, "empty values"), (61, "combined rows"), (41, "negative values")}
    assert "1 period(s) have no row" in str(info.value)


def test_missing_columns_name_the_option(sales: Path) -> None:
    with pytest.raises(DatasetValidationError) as info:
        scan(sales, target_column="sales", dimensions=["region"])
    messages = [str(p) for p in info.value.problems]
    assert any("[sales]: missing column 'sales'" in m and "`target_column`" in m for m in messages)
    assert any("[region]: missing column 'region'" in m and "`dimensions`" in m for m in messages)


def test_duplicate_rows_without_aggregation(sales: Path) -> None:
    with pytest.raises(DatasetValidationError) as info:
        scan(sales, dimensions=["store"], aggregation="none")
    (problem,) = info.value.problems
    assert str(problem) == (f"{sales}:3 [timestamp]: a second row for item_id=A store=1 in period 2024-01-01 "
                            f"(first at {sales}:2); rows must be unique per series and period, or give "
                            "`aggregation` sum, avg, first, min or max")


def test_a_series_with_no_values_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("item_id,timestamp,target_value\nA,2024-01-01,1\nB,2024-01-01,\n")
    with pytest.raises(DatasetValidationError, match=r"empty.csv:3 \[target_value\]: item_id=B has no values"):
        scan(path)


def test_item_metadata(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,brand,size\nA,acme,1.5\nB,zen,2\nC,,3\n")
    table, summary = scan_metadata(str(path), fmt=LongFormat(type="metadata"))
    assert table.column("brand").to_pylist() == ["acme", "zen", ""]  # empty is a category of its own
    assert table.column("size").to_pylist() == [1.5, 2.0, 3.0]
    assert summary.attributes["brand"].kind == "categorical" and summary.attributes["brand"].cardinality == 3
    assert summary.attributes["size"].kind == "numeric"
    path.write_text("item_id,brand,size\nA,acme,1\nB,zen,\nA,x,3\n")
    with pytest.raises(DatasetValidationError) as info:
        scan_metadata(str(path), fmt=LongFormat(type="metadata"))
    assert [str(p) for p in info.value.problems] == [
        f"{path}:3 [size]: is empty; a numeric attribute needs a value for every item",
        f"{path}:4 [item_id]: item 'A' has a second row (first at {path}:2); item metadata holds one row per item",
    ]


def test_import_stores_dimensions_and_leaves_nothing_on_bad_input(sales: Path, tmp_path: Path) -> None:
    rt = build_runtime()
    resource = import_dataset(rt.workspace, rt.registry, "s", str(sales), freq="D",
                              long=LongFormat(dimensions=["store"]))
    assert resource.result["format"] == "long" and resource.result["dimensions"] == ["store"]
    assert resource.spec["long_format"]["filling"]["middlefill"] == "zero"
    stored = list(iter_dataset(rt.workspace, resource))
    assert [(e["item_id"], e["dimensions"]) for e in stored] == [("A", ["1"]), ("A", ["2"]), ("B", ["1"])]
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,timestamp,target_value\nA,nope,1\n")
    with pytest.raises(DatasetValidationError):
        import_dataset(rt.workspace, rt.registry, "bad", str(bad), freq="D")
    assert [r.name for r in rt.registry.list(Kind.DATASET)] == ["s"]
    with pytest.raises(InvalidInputError, match="needs `freq`"):
        validate_source(str(sales), freq=None)
    (tmp_path / "x.jsonl").write_text('{"start": "2024-01-01", "target": [1]}\n')
    with pytest.raises(InvalidInputError, match="leave out `format` long"):
        validate_source(str(tmp_path / "x.jsonl"), freq="D", layout="long")


@pytest.mark.parametrize("partition_bytes", [10_000, 1 << 30], ids=["partitioned", "in-memory"])
def test_typed_csv_pieces_fall_back_to_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               partition_bytes: int) -> None:
    """Keys, numbers and ISO timestamps are converted by Arrow's CSV reader while parsing, a piece of
    the file at a time; a piece with a value it cannot convert (' 5 ', 'Null', an offset) is parsed
    as strings, whose parsers accept what they accept and report the rest by line: the same series,
    the same problems, no row read twice."""
    from datasets import long_rows

    monkeypatch.setattr(long_rows, "CSV_PIECE_BYTES", 4096)  # many pieces
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"item_id": [f"i{k % 7}" for k in range(n)], "store": [str(k % 2) for k in range(n)],
                          "timestamp": (pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) // 14, unit="D")
                                        ).strftime("%Y-%m-%d"),
                          "target_value": rng.integers(0, 100, n).astype(str)})
    clean = tmp_path / "clean.csv"
    frame.to_csv(clean, index=False)
    odd = frame.copy()
    odd.loc[2500, "target_value"] = f" {odd.loc[2500, 'target_value']} "  # padded: the string parser reads it
    odd.loc[2600, "target_value"] = "Null"  # missing, in a spelling Arrow's reader does not know
    odd.loc[2700, "timestamp"] += "T00:00:00+00:00"  # with an offset
    mixed = tmp_path / "mixed.csv"
    odd.to_csv(mixed, index=False)
    pieces: list[bool] = []  # per piece parsed: was it parsed as strings
    read_csv = long_rows._read_csv

    def spy(piece: pa.Buffer, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
        table = read_csv(piece, names, types)
        pieces.append(all(t == pa.string() for t in types.values()))
        return table

    monkeypatch.setattr(long_rows, "_read_csv", spy)

    def series(path: Path) -> dict[str, Series]:
        out: list[Series] = []
        scan_long(str(path), freq="D", fmt=LongFormat(dimensions=["store"]), write=out.extend,
                  partition_bytes=partition_bytes)
        return {str(s.key): s for s in out}

    want = series(clean)
    assert len(pieces) > 10 and not any(pieces)  # the typed reader took every piece
    pieces.clear()
    got = series(mixed)
    assert 1 <= sum(pieces) <= 3 and len(pieces) > 10  # only the pieces with the odd values, again as strings
    assert sorted(got) == sorted(want) and len(got) == 14
    row = frame.loc[2600]
    missing_key = f"{row.item_id}|store={row.store}"
    for key, s in want.items():
        expected = s.target.copy()
        if key == missing_key:  # 'Null' is missing; a day's other rows of that series are summed
            expected[(pd.Timestamp(row.timestamp) - s.start).days] -= float(row.target_value)
        np.testing.assert_array_equal(got[key].target, expected)
        assert got[key].start == s.start

    odd.loc[2800, "target_value"] = "abc"
    odd.to_csv(mixed, index=False)
    with pytest.raises(DatasetValidationError) as info:
        series(mixed)
    assert [str(p) for p in info.value.problems] == [
        f"{mixed}:2802 [target_value]: 'abc' is not a number, or is beyond the float32 range (about ±3.4e38)"]


def test_csv_without_a_header_row_takes_its_column_names(tmp_path: Path) -> None:
    """As the managed service imports: no header row, the columns named by the schema, in order;
    problems counted from line 1."""
    path = tmp_path / "headless.csv"
    path.write_text("2024-01-01,5,A\n2024-01-02,7,A\n2024-01-01,1,B\n")
    got = scan(path, column_names=["timestamp", "target_value", "item_id"])
    assert list(got["A"].target) == [5, 7] and list(got["B"].target) == [1, 0]  # backfilled to the end
    path.write_text("2024-01-01,5,A\n2024-01-02,x,A\n")
    with pytest.raises(DatasetValidationError) as info:
        scan(path, column_names=["timestamp", "target_value", "item_id"])
    assert [str(p) for p in info.value.problems] == [
        f"{path}:2 [target_value]: 'x' is not a number, or is beyond the float32 range (about ±3.4e38)"]


def test_choose_series_names_one_series_or_lists_the_choices() -> None:
    from datasets import choose_series
    from resources import NotFoundError

    keys = ["A|store=1|region=N", "A|store=2|region=N", "B|store=1|region=S", "C"]
    assert choose_series(keys, "C", None, "x") == "C"
    assert choose_series(keys, "B", None, "x") == "B|store=1|region=S"  # one series: no filter needed
    assert choose_series(keys, "A", {"store": "2"}, "x") == "A|store=2|region=N"
    assert choose_series(keys, "A|store=1|region=N", None, "x") == "A|store=1|region=N"
    with pytest.raises(InvalidInputError, match=r"2 series in x; choose one with a filter per dimension \(store: 1, 2\)"):
        choose_series(keys, "A", None, "x")
    with pytest.raises(NotFoundError, match="no series with store=3"):
        choose_series(keys, "A", {"store": "3"}, "x")
