"""Reading and checking a long-format source's rows (CSV pieces parsed on all cores, Parquet row
groups), vectorized: every row's timestamp, values and key columns are checked, problems logged
with their file and line, and the good rows kept columnar (:class:`CheckedRows`), in memory or spilled
by series-key hash to local files. :mod:`datasets.long_scan` groups them into series."""

from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pyarrow import ipc

from datasets.columnar import iter_batches, open_parquet
from datasets.columns import (
    as_key_strings,
    empty_keys,
    parse_numbers,
    parse_timestamps,
    propose_timestamp_format,
)
from datasets.errors import ProblemLog
from datasets.frequency import freq_offset
from datasets.long_format import DatasetType, LongFormat
from datasets.records import TIMESTAMP_RANGE
from datasets.sources import (
    FileKind,
    ProgressCallback,
    file_size,
    open_source_file,
)

#: Bytes of CSV text parsed at once (on all cores).
CSV_PIECE_BYTES = 16 << 20
ORD_COLUMN, LINE_COLUMN, FILE_COLUMN = "__ord", "__line", "__file"



@dataclass(frozen=True)
class SourceFile:
    name: str  # as shown in problems
    header_lines: int  # lines before the first row (1 for CSV, 0 for Parquet rows)


# -- reading ------------------------------------------------------------------------------------
def _csv_header(f: IO[bytes]) -> list[str]:
    first = f.readline().decode("utf-8-sig", errors="replace")
    return next(csv.reader([first]), [])


def read_tables(fs: Any, path: str, kind: FileKind, name: str, log: ProblemLog,
                progress: ProgressCallback | None, typed: dict[str, pa.DataType] | None = None,
                column_names: list[str] | None = None) -> Iterator[pa.Table]:
    """The file's rows as tables, in order: Parquet in its own types; CSV as strings, except the
    ``typed`` columns, which Arrow's reader converts while parsing (keys dictionary-encoded,
    numbers, ISO timestamps). A CSV file's first line names its columns, unless ``column_names``
    does (files without a header row, as the managed service's imports).

    A CSV file is read in pieces of ``CSV_PIECE_BYTES`` cut at line ends, each parsed on all cores
    (Arrow's streaming reader parses on one). A piece holding a value the typed reader cannot
    convert is parsed again as strings, whose parsers accept what they accept (`` 5 ``, ``Null``,
    timestamps with an offset) and report the rest by line."""
    size = file_size(fs, path)
    read = 0

    def report(table: pa.Table) -> pa.Table:
        nonlocal read
        read += table.nbytes
        if progress is not None:
            progress(min(read, size or read), size, name)
        return table

    try:
        if kind == "parquet":
            with open_source_file(fs, path) as f:
                for batch in iter_batches(open_parquet(f), 1 << 16):
                    yield report(pa.Table.from_batches([batch]))
            return
        with open_source_file(fs, path) as f:
            names = list(column_names) if column_names else _csv_header(f)
            if not names or not any(n.strip() for n in names):
                log.add(name, 1, None, "the file has no header row; the first line must name the columns")
                return
            strings = dict.fromkeys(names, pa.string())
            types = strings | {c: t for c, t in (typed or {}).items() if c in strings}
            while piece := _read_piece(f):
                yield report(_parse_piece(piece, names, types, strings))
    except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        log.add(name, None, None, f"cannot read the file: {e}")


def _read_piece(f: IO[bytes]) -> pa.Buffer | None:
    """The next ``CSV_PIECE_BYTES`` or so of ``f``, up to a line end; ``None`` at the end."""
    buf = bytearray(CSV_PIECE_BYTES)
    n = f.readinto(buf)  # type: ignore[attr-defined]
    if not n:
        return None
    if buf[n - 1] != ord("\n"):
        rest = f.readline()  # the rest of the piece's last line
        buf[n:n + len(rest)] = rest
        n += len(rest)
    return pa.py_buffer(memoryview(buf)[:n])


def _parse_piece(piece: pa.Buffer, names: list[str], types: dict[str, pa.DataType],
                 strings: dict[str, pa.DataType]) -> pa.Table:
    """A piece of CSV lines (no header) as a table: typed where it can be, else strings."""
    try:
        return _read_csv(piece, names, types)
    except pa.ArrowInvalid:
        if types == strings:
            raise
        return _read_csv(piece, names, strings)


def _read_csv(piece: pa.Buffer, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(piece), read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                             quoted_strings_can_be_null=False))


def typed_columns(fmt: LongFormat) -> dict[str, pa.DataType]:
    """The columns a CSV reader may convert while parsing: keys dictionary-encoded, the target as
    float64, ISO timestamps (not with ``--timestamp-format``)."""
    typed: dict[str, pa.DataType] = dict.fromkeys(fmt.key_columns, pa.dictionary(pa.int32(), pa.string()))
    if fmt.type == DatasetType.TARGET:
        typed[fmt.target_column] = pa.float64()
    if fmt.type != DatasetType.METADATA and not fmt.timestamp_format:
        typed[fmt.timestamp_column] = pa.timestamp("ns")
    return typed


def missing_columns(columns: list[str], fmt: LongFormat, name: str, log: ProblemLog) -> bool:
    wanted = list(fmt.key_columns)
    if fmt.type != DatasetType.METADATA:
        wanted.append(fmt.timestamp_column)
    if fmt.type == DatasetType.TARGET:
        wanted.append(fmt.target_column)
    missing = [c for c in wanted if c not in columns]
    for c in missing:
        flag = {fmt.item_column: "`item_column`", fmt.timestamp_column: "`timestamp_column`",
                fmt.target_column: "`target_column`"}.get(c, "`dimensions`")
        log.add(name, None, c, f"missing column {c!r} (the file has: {', '.join(columns)}); name yours with {flag}")
    return bool(missing)


def _timestamp_problem(raw: pa.Array, bad: np.ndarray, fmt: LongFormat, *, first_line: bool) -> Callable[[int], str]:
    """What to say about row ``i``'s unreadable timestamp: the value, what was expected, and a
    format that reads the bad values when a common one does (`timestamp_format`), or that the first
    line of a file read without a header looks like one."""
    expected = f"format {fmt.timestamp_format}" if fmt.timestamp_format else "ISO 8601 such as 2024-01-31"
    rows = np.flatnonzero(bad)
    samples = [str(v) for v in raw.take(pa.array(rows[:20])).to_pylist() if v is not None]
    proposal = propose_timestamp_format(samples[1:] if first_line and rows[0] == 0 else samples)
    fix = (f"`timestamp_format` {proposal!r} reads it" if proposal and proposal != fmt.timestamp_format
           else "`timestamp_format` sets another format")
    header = first_line and fmt.column_names is not None and bool(bad[0]) and raw[0].is_valid \
        and str(raw[0].as_py()).strip() == fmt.timestamp_column

    def message(i: int) -> str:
        if not raw[i].is_valid:
            return "is empty"
        if header and i == 0:
            return (f"{raw[0].as_py()!r} is the column's name: the first line looks like a header row, but the "
                    f"columns are named ({', '.join(fmt.column_names or [])}), so the file must not have one")
        return f"cannot read {raw[i].as_py()!r} as a timestamp ({expected}; supported range {TIMESTAMP_RANGE}; {fix})"

    return message


#: Bad rows of one batch and column reported one by one; more are counted in bulk.
REPORTED_ONE_BY_ONE = 10_000


def _report(log: ProblemLog, file: SourceFile, bad: np.ndarray, lines: np.ndarray, column: str,
            message: Callable[[int], str]) -> None:
    """Rows ``bad`` of a column, each reported (:meth:`ProblemLog.add` lists the first of each
    kind and counts the rest), up to :data:`REPORTED_ONE_BY_ONE` per batch."""
    rows = np.flatnonzero(bad)
    each = rows[:REPORTED_ONE_BY_ONE]
    for i in each:
        log.add(file.name, int(lines[i]), column, message(int(i)))
    if len(rows) > len(each):  # a file full of one mistake: the rest counted as the last one's kind
        log.add(file.name, int(lines[rows[len(each)]]), column, message(int(rows[len(each)])),
                count=len(rows) - len(each), last_line=int(lines[rows[-1]]))


class CheckedRows:
    """Checked rows, columnar, kept in memory or spilled to ``parts`` files by series-key hash."""

    def __init__(self, keys: list[str], values: list[str], parts: int, folder: str) -> None:
        self.keys, self.values, self.parts = keys, values, parts
        # keys stay dictionary-encoded, in memory and in the spill files (Arrow IPC streams, which
        # may change a dictionary between batches)
        self.key_type = pa.dictionary(pa.int32(), pa.string())
        fields = ([pa.field(k, self.key_type) for k in keys] + [pa.field(ORD_COLUMN, pa.int64())]
                  + [pa.field(v, pa.float64()) for v in values] + [pa.field(LINE_COLUMN, pa.int64()), pa.field(FILE_COLUMN, pa.int32())])
        self.schema = pa.schema(fields)
        self._memory: list[pa.Table] = []
        self._paths = [os.path.join(folder, f"part-{i}.arrows") for i in range(parts)] if parts > 1 else []
        self._writers = [ipc.new_stream(p, self.schema) for p in self._paths]
        self.rows = 0
        self.end_ord: int | None = None  # the last period holding a value, over all rows

    @staticmethod
    def key_column(values: pa.Array) -> pa.Array:
        """A key column (strings, or dictionary-encoded strings) as rows keep it: encoded."""
        return values if pa.types.is_dictionary(values.type) else values.dictionary_encode()

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        present = np.zeros(table.num_rows, dtype=bool)
        for v in self.values:
            present |= ~np.isnan(table.column(v).to_numpy())
        if present.any():
            last = int(table.column(ORD_COLUMN).to_numpy()[present].max())
            self.end_ord = last if self.end_ord is None else max(self.end_ord, last)
        if self.parts == 1:
            self._memory.append(table)
            return
        # the partition of a row: a hash of its key values (each batch's dictionary is hashed, not
        # its rows), so a series' rows meet in one partition whichever batch or file they come from
        h = np.zeros(table.num_rows, dtype=np.uint64)
        for k in self.keys:
            col = table.column(k).combine_chunks()
            by_value = pd.util.hash_array(np.asarray(col.dictionary.to_numpy(zero_copy_only=False), dtype=object))
            h = h * np.uint64(1_000_003) ^ by_value[col.indices.to_numpy(zero_copy_only=False)]
        part = (h % np.uint64(self.parts)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        grouped = table.take(order)
        at = 0
        for i, count in enumerate(np.bincount(part, minlength=self.parts)):
            if count:
                self._writers[i].write_table(grouped.slice(at, count))
            at += int(count)

    def partitions(self) -> Iterator[pa.Table]:
        if self.parts == 1:
            yield pa.concat_tables(self._memory) if self._memory else self.schema.empty_table()
            self._memory = []
            return
        for w in self._writers:
            w.close()
        for p in self._paths:
            with pa.memory_map(p) as source:
                yield ipc.open_stream(source).read_all()
            os.unlink(p)


def read_rows(files: list[tuple[str, FileKind]], display: Callable[[str], str], fs: Any, fmt: LongFormat, freq: str,
               log: ProblemLog, rows_of: Callable[[list[str]], CheckedRows], progress: ProgressCallback | None,
               typed: dict[str, pa.DataType],
               ) -> tuple[CheckedRows | None, list[SourceFile], list[str]]:
    """Check every row of every file; good rows go to the :class:`CheckedRows` made from the first file's
    value columns (related series: every column that is not a key or the timestamp)."""
    rows: CheckedRows | None = None
    seen_files: list[SourceFile] = []
    value_columns: list[str] = []
    ignored: set[str] = set()
    for path, kind in files:
        file = SourceFile(display(path), 1 if kind == "csv" and not fmt.column_names else 0)
        file_index = len(seen_files)
        seen_files.append(file)
        line = file.header_lines + 1
        count = 0
        for table in read_tables(fs, path, kind, file.name, log, progress, typed, fmt.column_names):
            if count == 0:
                if missing_columns(table.column_names, fmt, file.name, log):
                    break
                others = [c for c in table.column_names
                          if c not in (*fmt.key_columns, fmt.timestamp_column)]
                if fmt.type == DatasetType.TARGET:
                    ignored.update(c for c in others if c != fmt.target_column)
                    others = [fmt.target_column]
                if rows is None:
                    value_columns = others
                    if not value_columns:
                        log.add(file.name, None, None, "a related time series file needs at least one value column "
                                "besides the item, timestamp and dimension columns")
                        break
                    rows = rows_of(value_columns)
                elif set(others) != set(value_columns) and fmt.type == DatasetType.RELATED:
                    log.add(file.name, None, None, f"has value columns {others}, but the first file has {value_columns}")
                    break
            n = table.num_rows
            lines = np.arange(line, line + n, dtype=np.int64)
            line += n
            count += n
            cols: dict[str, pa.Array] = {}
            for k in fmt.key_columns:
                col = as_key_strings(table.column(k))
                empty = empty_keys(col)
                if empty.any():
                    _report(log, file, empty, lines, k, lambda i: "is empty")
                cols[k] = col
            raw_ts = table.column(fmt.timestamp_column).combine_chunks()
            ns, bad = parse_timestamps(raw_ts, fmt=fmt.timestamp_format, timezone=fmt.timezone)
            if bad.any():
                _report(log, file, bad, lines, fmt.timestamp_column,
                        _timestamp_problem(raw_ts, bad, fmt, first_line=file.header_lines + 1 == int(lines[0])))
            values = []
            for c in value_columns:
                raw = table.column(c).combine_chunks()
                nums, bad, why = parse_numbers(raw)
                if bad.any():
                    _report(log, file, bad, lines, c, lambda i, raw=raw, why=why: f"{raw[i].as_py()!r} {why}")
                values.append(nums)
            if not log.ok or rows is None:
                continue  # keep checking, store nothing
            # every row is good here (a bad one is a problem, and then nothing is stored)
            rows.add(pa.table(
                [rows.key_column(cols[k]) for k in fmt.key_columns] + [pa.array(period_ordinals(ns, freq))]
                + [pa.array(v) for v in values] + [pa.array(lines), pa.array(np.full(n, file_index, np.int32))],
                schema=rows.schema))
        if count == 0 and not any(p.file == file.name for p in log.problems):
            log.add(file.name, None, None, "the file holds no rows")
    return rows, seen_files, sorted(ignored)


def period_ordinals(ns: np.ndarray, freq: str) -> np.ndarray:
    """pandas' period ordinals of nanosecond timestamps: integer division for single fixed steps
    (hours, days, minutes), pandas' calendar arithmetic otherwise (weeks, months, multiples)."""
    offset = freq_offset(freq)
    if isinstance(offset, pd.offsets.Tick) and offset.n == 1:
        return np.floor_divide(ns, offset.nanos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.DatetimeIndex(ns).to_period(freq).asi8


# -- grouping, aggregation, grid ------------------------------------------------------------------
