"""Our top-level packages have common names; another distribution's ``datasets`` (Hugging Face's,
say) installed beside us must be a clear error at start-up, not a silent import of theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import api


@pytest.mark.parametrize("shadowed", ["datasets", "exports", "forecast", "resources"])
def test_a_foreign_package_of_the_same_name_is_a_clear_error(tmp_path: Path, shadowed: str) -> None:
    fake = tmp_path / shadowed
    fake.mkdir()
    (fake / "__init__.py").write_text("'''Another project's package.'''\nclass Dataset: ...\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # first on sys.path, as a site-packages install would be
    forecast = str(Path(sys.executable).parent / "forecast")
    for cmd in ([forecast, "datasets", "list"], [sys.executable, "-m", "api.jobs.worker", "forecast", "x"]):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
        assert out.returncode == 2, out.stderr
        assert f"the package '{shadowed}' imported from {fake / '__init__.py'} is not forecast-service's" in out.stderr
        assert "virtual environment of its own" in out.stderr and "Traceback" not in out.stderr


def test_our_packages_are_marked() -> None:
    api.check_packages()  # passes in our own environment
    for name in api.OUR_PACKAGES:
        module = __import__(name)
        assert module.__forecast_service__ is True
        assert Path(module.__file__).parent.parent == Path(api.__file__).parent.parent


def _forecast_file(path: Path, row_group_size: int = 2) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6 * 24, dtype=np.float32)), 24)
    pq.write_table(pa.table({"item_id": ["a", "b", "c", "d", "e", "f"], "p50": values}), path,
                   row_group_size=row_group_size)


def test_reading_a_stored_forecast_does_not_abort_the_process(tmp_path: Path) -> None:
    """An Arrow thread that reads a Python file object takes the GIL, and one alive at interpreter
    exit aborts the process ("terminate called without an active exception", apache/arrow#34314):
    1 short process in 20 in CI once. Every read of ours runs on the calling thread, so no Arrow
    thread exists to be caught: counted here, then twenty short processes as CLI queries are."""
    path = tmp_path / "forecast.parquet"
    _forecast_file(path)
    code = f"""
import os
from datasets.columnar import iter_batches, iter_entries, open_parquet, read_parquet
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
with open({str(path)!r}, "rb") as f:
    read_parquet(f)
    read_parquet(f, item_id="c", columns=["p50"])
    list(iter_batches(open_parquet(f), 2))
    list(iter_entries(f))
print(before, threads())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(int, out.stdout.split())
    assert after == before
    short = f"from datasets.columnar import read_parquet\nwith open({str(path)!r}, 'rb') as f: read_parquet(f)"
    codes = [subprocess.run([sys.executable, "-c", short], capture_output=True, check=False).returncode for _ in range(20)]
    assert codes == [0] * 20


def test_one_item_is_read_from_the_row_groups_that_may_hold_it(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from datasets.columnar import open_parquet, read_parquet

    path = tmp_path / "forecast.parquet"
    _forecast_file(path)
    assert pq.ParquetFile(path).num_row_groups == 3
    with path.open("rb") as f:
        whole = read_parquet(f)
        one = read_parquet(f, item_id="d")
        values = read_parquet(f, item_id="d", columns=["p50"])
        missing = read_parquet(f, item_id="zz")
        missing_values = read_parquet(f, item_id="zz", columns=["p50"])  # no row group may hold it
        opened = read_parquet(open_parquet(f), item_id="d")  # a file opened once (its footer read once)
    assert whole.num_rows == 6
    assert one.to_pylist() == opened.to_pylist() == [whole.to_pylist()[3]]
    assert values.column_names == ["p50"] and values.to_pylist() == [{"p50": whole.to_pylist()[3]["p50"]}]
    assert missing.num_rows == 0 and missing.column_names == ["item_id", "p50"]
    assert missing_values.num_rows == 0 and missing_values.column_names == ["p50"]


def test_the_serving_path_imports_neither_ray_nor_torch(tmp_path: Path) -> None:
    """Ray is an optional extra and torch is for training and sampling: the app and the CLI load
    without either."""
    import subprocess
    import sys

    code = ("import sys\nfrom api.server import create_app\ncreate_app()\nimport api.cli\n"
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"FORECAST_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"
