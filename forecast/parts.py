"""Part files: what each partition of a job writes beside the others' (one file per partition and
name, written whole, so a retried partition replaces its part and never adds rows), and their
merge into one Parquet file, a part at a time, so the process that merges never holds more than
one partition's rows."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from datasets.columnar import read_parquet
from resources import Workspace


@dataclass(frozen=True)
class Parts:
    """The folder ``rel`` of a workspace where a job's partitions write their parts."""

    root: str
    rel: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def under(cls, workspace: Workspace, rel: str) -> Parts:
        return cls(workspace.root, rel, workspace.storage_options)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.root, storage_options=self.storage_options)

    def file(self, name: str, index: int, suffix: str = "parquet") -> str:
        return f"{self.rel}/{name}/{index:05d}.{suffix}"

    def write_table(self, name: str, index: int, table: pa.Table) -> None:
        """Part ``index`` of ``name``, written whole (again whole when a partition is retried)."""
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        self.workspace.write_bytes(self.file(name, index), buf.getvalue())

    def read_table(self, name: str, index: int) -> pa.Table:
        with self.workspace.open(self.file(name, index), "rb") as f:
            return read_parquet(f)

    def write_bytes(self, name: str, index: int, data: bytes, suffix: str) -> None:
        self.workspace.write_bytes(self.file(name, index, suffix), data)

    def read_bytes(self, name: str, index: int, suffix: str) -> bytes:
        return self.workspace.read_bytes(self.file(name, index, suffix))

    def merge(self, files: Sequence[tuple[str, int]], out: IO[bytes], *, empty: pa.Schema,
              metadata: dict[bytes, bytes] | None = None) -> int:
        """The parts ``(name, index)`` of ``files``, in that order, as one Parquet file written to
        ``out``, one row group per part (``empty``'s schema when there are none); returns its rows.
        A missing part is an error naming it."""
        writer: pq.ParquetWriter | None = None
        rows = 0
        try:
            for name, index in files:
                if not self.workspace.exists(self.file(name, index)):
                    raise FileNotFoundError(f"partition {index} wrote no {name} part ({self.file(name, index)})")
                table = self.read_table(name, index)
                if writer is None:
                    schema = table.schema.with_metadata({**(table.schema.metadata or {}), **(metadata or {})})
                    writer = pq.ParquetWriter(out, schema, compression="zstd")
                writer.write_table(table.replace_schema_metadata(writer.schema.metadata),
                                   row_group_size=max(1, table.num_rows))
                rows += table.num_rows
            if writer is None:
                pq.write_table(empty.empty_table().replace_schema_metadata(
                    {**(empty.metadata or {}), **(metadata or {})}), out, compression="zstd")
        finally:
            if writer is not None:
                writer.close()
        return rows

    def remove(self) -> None:
        self.workspace.remove_tree(self.rel)
