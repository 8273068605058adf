"""``forecast datasets ...`` end to end in-process: exit codes, messages, --json."""

from __future__ import annotations

import json
from pathlib import Path


def test_validate_import_list_describe_delete(cli, samples_dir: Path) -> None:  # type: ignore[no-untyped-def]
    path = str(samples_dir / "tourism-regions.jsonl")
    code, out, _ = cli("datasets", "validate", path, "--freq", "Q")
    assert code == 0 and "304" in out and "76, 8, 4" in out

    code, out, _ = cli("datasets", "validate", path, "--freq", "Q", "--json")
    assert code == 0 and json.loads(out)["num_series"] == 304

    code, out, _ = cli("datasets", "import", "regions", path, "--freq", "Q")
    assert code == 0 and "imported" in out

    code, _, err = cli("datasets", "import", "regions", path, "--freq", "Q")
    assert code == 2 and "already exists" in err

    code, out, _ = cli("datasets", "list", "--json")
    assert code == 0 and [d["name"] for d in json.loads(out)] == ["regions"]

    code, out, _ = cli("datasets", "describe", "regions", "--json")
    described = json.loads(out)
    assert described["freq"] == "Q-DEC" and described["summary"]["cat_cardinalities"] == [76, 8, 4]

    code, _, err = cli("datasets", "describe", "nope")
    assert code == 2 and "dataset 'nope' not found" in err

    code, _, err = cli("datasets", "delete", "regions")
    assert code == 0
    code, out, _ = cli("datasets", "list", "--json")
    assert json.loads(out) == []


def test_invalid_dataset_exits_2_with_every_problem(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"start": "2020-01-01", "target": [1, 2]}\n'
        '{"start": "2020-01-01", "target": []}\n'
        '{"target": [1]}\n'
    )
    code, _, err = cli("datasets", "import", "bad", str(path), "--freq", "D")
    assert code == 2
    assert f"{path}:2 [target]: is empty" in err
    assert f"{path}:3 [start]: is missing" in err
    code, out, _ = cli("datasets", "list", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("datasets", "validate", str(path), "--freq", "D", "--json")
    report = json.loads(out)  # the problems as JSON on stdout, for scripts
    assert code == 2 and report["valid"] is False and not report["truncated"]
    assert {"file": str(path), "line": 2, "field": "target", "message": "is empty", "count": 1,
            "last_line": None} in report["problems"]


def test_bad_name_and_usage_errors(cli, samples_dir: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli("datasets", "import", "../escape", str(samples_dir / "epf-fr-be.jsonl"), "--freq", "H")
    assert code == 2 and "invalid dataset name" in err
    code, _, _ = cli("datasets", "import", "x")  # missing arguments: click usage error
    assert code == 2


def test_sample_writes_real_data(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "m.jsonl.gz"
    code, _, err = cli("datasets", "sample", "tourism-monthly", str(out))
    assert code == 0 and "366 series" in err
    code, out_text, _ = cli("datasets", "validate", str(out), "--freq", "M", "--json")
    assert json.loads(out_text)["num_series"] == 366
    code, _, err = cli("datasets", "sample", "m5", str(out))
    assert code == 2 and "unknown sample" in err


def test_long_format_sample_import_and_describe(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real fpp3 tourism set as a warehouse exports it: one row per quarter, region x state x purpose."""
    path = tmp_path / "tourism.csv.gz"
    code, _, err = cli("datasets", "sample", "tourism-regions", str(path), "--format", "long")
    assert code == 0 and "--freq Q --dimensions state,purpose" in err
    code, out, _ = cli("datasets", "import", "trips", str(path), "--freq", "Q", "--dimensions", "state,purpose",
                       "--middlefill", "nan", "--json")
    assert code == 0
    described = json.loads(out)
    summary = described["summary"]
    assert described["type"] == "target" and summary["format"] == "long" and summary["num_series"] == 304
    assert summary["dimensions"] == ["state", "purpose"] and summary["filling"]["middlefill"] == "nan"
    code, out, _ = cli("datasets", "describe", "trips")
    assert code == 0 and "frontfill none, middlefill nan, backfill zero" in out and "state, purpose" in out
    for args, message in [
        (["--middlefill", "often"], "middlefill: Input should be"),
        (["--middlefill", "value"], "no fill value is given (--fill-value)"),
        (["--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["--dimensions", "region"], "missing column 'region'"),
    ]:
        code, _, err = cli("datasets", "import", "bad", str(path), "--freq", "Q", *args)
        assert code == 2 and message in err, err
    code, out, _ = cli("datasets", "list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["trips"]  # nothing half-registered


def test_piped_output_does_not_break_values(tmp_path: Path) -> None:
    """Not a terminal (a pipe, CI logs): messages and tables keep every value on one line."""
    import subprocess
    import sys

    out = tmp_path / ("a-rather-long-folder-name-" * 4) / "tourism-quarterly-sample.jsonl"
    forecast = str(Path(sys.executable).parent / "forecast")
    done = subprocess.run([forecast, "datasets", "sample", "tourism-quarterly", str(out)], capture_output=True,
                          text=True, check=True, env={"FORECAST_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"})
    assert f"wrote 427 series to {out}:" in done.stderr
    help_text = subprocess.run([forecast, "predictors", "create", "--help"], capture_output=True, text=True,
                               check=True, env={"FORECAST_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}).stdout
    assert "--num-batches-per-epoch" in help_text and "--json" in help_text
    assert "<bool>" not in help_text  # flags, --help included, are shown as flags


def test_an_unreadable_timestamp_format_is_one_problem_with_the_flag_that_reads_it(  # type: ignore[no-untyped-def]
        cli, tmp_path: Path) -> None:
    """fpp3 PBS's months ('1991 Jul'): the import lists a few rows and counts the rest, proposes
    the format that reads them in this command's flag, and that format imports the file."""
    from tsdata import fpp3

    path = tmp_path / "pbs.csv"
    fpp3.PBS[["Month", "Concession", "Type", "ATC1", "ATC2", "Cost"]].head(3_000).to_csv(path, index=False)
    args = ["datasets", "import", "pbs", str(path), "--freq", "M", "--item-column", "ATC2", "--timestamp-column",
            "Month", "--target-column", "Cost", "--dimensions", "Concession,Type,ATC1"]
    code, _, err = cli(*args)
    assert code == 2
    assert "--timestamp-format '%Y %b' reads it" in err and "timestamp_format" not in err
    assert "more rows like this" in err and err.count("cannot read") == 4  # three shown, the rest counted
    assert cli(*args, "--timestamp-format", "%Y %b")[0] == 0


def test_strict_imports_from_the_flag_or_the_setting(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An empty cell is filled and counted; --strict (or FORECAST_IMPORT_STRICT) refuses it at
    its line, and --no-strict overrides the setting."""
    path = tmp_path / "gap.csv"
    path.write_text("item_id,timestamp,target_value\nA,2024-01-01,1\nA,2024-01-02,n/a\nA,2024-01-03,3\n")
    code, out, _ = cli("datasets", "import", "filled", str(path), "--freq", "D", "--json")
    assert code == 0 and json.loads(out)["summary"]["changes"]["filled"] == {"middlefill zero": 1}
    code, _, err = cli("datasets", "import", "strict", str(path), "--freq", "D", "--strict")
    assert code == 2 and "gap.csv:3: empty values" in err and "--strict" in err
    monkeypatch.setenv("FORECAST_IMPORT_STRICT", "true")
    assert cli("datasets", "import", "strict", str(path), "--freq", "D")[0] == 2
    assert cli("datasets", "import", "strict", str(path), "--freq", "D", "--no-strict")[0] == 0
