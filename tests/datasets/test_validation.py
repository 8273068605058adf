"""Every validation rule, on real files: each bad record is reported with file, line and field,
and nothing is registered or left in the workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.runtime import build_runtime
from datasets import DatasetValidationError, import_dataset, scan_dataset
from resources import InvalidInputError, Kind


def write_lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


GOOD = {"start": "2020-01-01 00:00:00", "target": [1.0, 2.0, "NaN", None, 5]}


def problems_of(path: Path, freq: str = "D") -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(DatasetValidationError) as info:
        scan_dataset(str(path), freq=freq)
    return [(p.line, p.field, p.message) for p in info.value.problems]


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ("{not json", None, "invalid JSON"),
        ("[1, 2]", None, "must be a JSON object"),
        ({"target": [1, 2]}, "start", "is missing"),
        ({"start": "2020-01-01"}, "target", "is missing"),
        ({"start": "2020-01-01", "target": [1, "abc"]}, "target", "'abc' at position 1 is not a number"),
        ({"start": "2020-01-01", "target": [1, True]}, "target", "is not a number"),
        ({"start": "2020-01-01", "target": []}, "target", "is empty"),
        ({"start": "2020-01-01", "target": 5}, "target", "must be a list"),
        ({"start": "not a date", "target": [1]}, "start", "cannot parse"),
        ({"start": "2020-01-01 12:30:00", "target": [1]}, "start", "is not on a D boundary"),
        ({"start": "2020-01-01", "target": [1], "cat": [-1]}, "cat", "non-negative integers"),
        ({"start": "2020-01-01", "target": [1], "cat": [1.5]}, "cat", "non-negative integers"),
        ({"start": "2020-01-01", "target": [1], "cat": 3}, "cat", "must be a list"),
        ({"start": "2020-01-01", "target": [1, 2], "dynamic_feat": [[1, None]]}, "dynamic_feat[0]", "missing"),
        ({"start": "2020-01-01", "target": [1, 2], "dynamic_feat": [[1, "NaN"]]}, "dynamic_feat[0]", "missing"),
        ({"start": "2020-01-01", "target": [1, 2], "dynamic_feat": [[1]]}, "dynamic_feat", "shorter than the target"),
        ({"start": "2020-01-01", "target": [1, 2], "dynamic_feat": [[1, 2], [1, 2, 3]]}, "dynamic_feat", "different lengths"),
        ({"start": "2020-01-01", "target": [1], "item_id": ["x"]}, "item_id", "must be a string"),
    ],
)
def test_each_bad_record_is_located(tmp_path: Path, record: object, field: str | None, fragment: str) -> None:
    path = write_lines(tmp_path / "data.jsonl", [GOOD, record])
    problems = problems_of(path)
    assert {line for line, _, _ in problems} == {2}, problems
    assert any(f == field and fragment in message for _, f, message in problems), problems


def test_cross_record_rules(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "data.jsonl",
        [
            {"item_id": "a", "start": "2020-01-01", "target": [1, 2], "cat": [0, 1], "dynamic_feat": [[1, 2]]},
            {"item_id": "a", "start": "2020-01-01", "target": [1, 2], "cat": [0, 1], "dynamic_feat": [[1, 2]]},
            {"item_id": "b", "start": "2020-01-01", "target": [1, 2], "cat": [0], "dynamic_feat": [[1, 2]]},
            {"item_id": "c", "start": "2020-01-01", "target": [1, 2], "cat": [0, 1], "dynamic_feat": [[1, 2], [3, 4]]},
            {"item_id": "d", "start": "2020-01-01", "target": [1, 2], "cat": [0, 1], "dynamic_feat": [[1, 2, 3]]},
            {"item_id": "e", "start": "2020-01-01", "target": [1, 2], "cat": [0, 1]},
        ],
    )
    problems = problems_of(path)
    by_line = {line: (field, msg) for line, field, msg in problems}
    assert by_line[2][0] == "item_id" and "duplicate item_id 'a'" in by_line[2][1] and "data.jsonl:1" in by_line[2][1]
    assert by_line[3][0] == "cat" and "has 1 entries but earlier records have 2" in by_line[3][1]
    assert by_line[4][0] == "dynamic_feat" and "has 2 features but earlier records have 1" in by_line[4][1]
    assert by_line[5][0] == "dynamic_feat" and "len(target) + 0" in by_line[5][1]
    assert by_line[6][0] == "dynamic_feat" and "has 0 features" in by_line[6][1]


def test_every_problem_is_collected_up_to_the_cap(tmp_path: Path) -> None:
    rows = [{"start": "2020-01-01", "target": []}, {"start": "2020-01-01"}, {"target": [1.0]}, {"start": "nope",
            "target": [1.0]}, {"start": "2020-01-01", "target": [1.0], "cat": "x"}]
    path = write_lines(tmp_path / "data.jsonl", rows)
    with pytest.raises(DatasetValidationError) as info:
        scan_dataset(str(path), freq="D", max_problems=3)
    assert len(info.value.problems) == 3 and info.value.truncated
    assert "cap" in str(info.value)


def test_one_mistake_repeated_is_listed_a_few_times_and_counted(tmp_path: Path) -> None:
    """A hundred rows with one mistake (the values in the message aside) are three lines of the
    report and a count, not a hundred lines; the count goes on past the cap."""
    rows = [{"start": f"2020-01-0{1 + i % 5}T00:30", "target": [1.0]} for i in range(300)]
    path = write_lines(tmp_path / "data.jsonl", rows)
    with pytest.raises(DatasetValidationError) as info:
        scan_dataset(str(path), freq="D", max_problems=5)
    problems = info.value.problems
    assert [p.line for p in problems] == [1, 2, 3, 4] and not info.value.truncated
    assert problems[3].count == 297 and problems[3].last_line == 300
    assert str(problems[3]).startswith(f"{path}:lines 4-300 [start]:")
    assert str(problems[3]).endswith("(297 more rows like this)")
    assert "4 problem(s) in 300 rows" in str(info.value)


def test_empty_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    assert problems_of(path) == [(None, None, "the file is empty (no records)")]


def test_missing_values_gluonts_names_and_assigned_ids(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "data.jsonl",
        [
            {"start": "2020-01-01", "target": [1, "NaN", None, 4], "feat_static_cat": [2], "feat_dynamic_real": [[0, 1, 2, 3]]},
            # Python's json module writes bare NaN; we accept it too
            '{"start": "2020-01-02", "target": [NaN, 2], "feat_static_cat": [0], "feat_dynamic_real": [[1, 2]], "extra": 1}',
        ],
    )
    summary = scan_dataset(str(path), freq="D")
    assert summary.num_series == 2
    assert summary.num_observations == 6
    assert summary.missing_share == pytest.approx(3 / 6)
    assert summary.cat_cardinalities == [3]
    assert summary.num_dynamic_feat == 1
    assert summary.assigned_item_ids == 2
    assert summary.ignored_fields == ["extra"]
    assert str(summary.end_max) == "2020-01-04 00:00:00"


@pytest.mark.parametrize(
    ("freq", "start", "ok"),
    [
        ("H", "2020-01-01 05:00:00", True),
        ("H", "2020-01-01 05:30:00", False),
        ("15min", "2020-01-01 05:45:00", True),
        ("15min", "2020-01-01 05:50:00", False),
        ("M", "2020-03-01", True),
        ("M", "2020-03-15", False),
        ("M", "2020-03-31", True),  # the month's last day, as pandas' resample("M") stamps it
        ("Q", "2020-06-30", True),
        ("Q", "2020-04-01", True),
        ("Q", "2020-05-01", False),
        ("W", "2020-01-06", True),  # W = W-SUN: weeks run Monday..Sunday
        ("W-SAT", "2020-01-05", True),
        ("W", "2020-01-05", False),
    ],
)
def test_start_must_fit_the_frequency(tmp_path: Path, freq: str, start: str, ok: bool) -> None:
    path = write_lines(tmp_path / "d.jsonl", [{"start": start, "target": [1, 2]}])
    if ok:
        scan_dataset(str(path), freq=freq)
    else:
        (line, field, _message), = problems_of(path, freq)
        assert (line, field) == (1, "start")


def test_period_end_starts_are_taken_as_their_period(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [{"item_id": "a", "start": "2020-01-31", "target": [1, 2]},
                                              {"item_id": "b", "start": "2020-02-29", "target": [3]}])
    summary = scan_dataset(str(path), freq="M")
    assert summary.period_end_starts == 2 and str(summary.start_min) == "2020-01-01 00:00:00"


def test_weekly_misalignment_suggests_an_anchor(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [{"start": "2020-01-05", "target": [1, 2]}])
    (_, _, message), = problems_of(path, "W")
    assert "use W-SAT for weeks starting on Sunday" in message


def test_unknown_frequency(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [GOOD])
    with pytest.raises(InvalidInputError, match="unknown frequency 'fortnightly'"):
        scan_dataset(str(path), freq="fortnightly")


def test_invalid_import_registers_and_leaves_nothing(tmp_path: Path) -> None:
    rt = build_runtime()
    good = [{"item_id": f"s{i}", "start": "2020-01-01", "target": list(range(50))} for i in range(3000)]
    path = write_lines(tmp_path / "d.jsonl", [*good, {"start": "2020-01-01", "target": "oops"}])
    with pytest.raises(DatasetValidationError):
        import_dataset(rt.workspace, rt.registry, "bad", str(path), freq="D")
    assert rt.registry.list(Kind.DATASET) == []
    assert not (Path(rt.workspace.root) / "datasets").exists() or not any((Path(rt.workspace.root) / "datasets").rglob("*.parquet"))
