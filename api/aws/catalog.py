"""What the managed service's API has and our resources do not: dataset definitions (a schema
before any data), dataset groups, which of our datasets an import job made, and the request fields
of predictors, forecasts and export jobs created over that API. Kept beside the registry, in its
SQLite file, in a table of its own; the resources themselves stay in the registry."""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from resources.registry import connect

RecordKind = Literal["dataset", "dataset_group", "import_job", "predictor", "forecast", "export"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS aws_records (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, name)
)
"""


class Record(BaseModel):
    kind: str
    name: str
    body: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AwsCatalog:
    """Records by kind and name; ``put`` refuses a name taken (returns False)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    @staticmethod
    def _record(row: sqlite3.Row) -> Record:
        return Record(kind=row["kind"], name=row["name"], body=json.loads(row["body"]),
                      created_at=datetime.fromisoformat(row["created_at"]),
                      updated_at=datetime.fromisoformat(row["updated_at"]))

    def put(self, kind: RecordKind, name: str, body: dict[str, Any]) -> bool:
        now = datetime.now(UTC).isoformat()
        try:
            with self._connect() as db:
                db.execute("INSERT INTO aws_records (kind, name, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                           (kind, name, json.dumps(body, default=str), now, now))
        except sqlite3.IntegrityError:
            return False
        return True

    def update(self, kind: RecordKind, name: str, body: dict[str, Any]) -> None:
        with self._connect() as db:
            db.execute("UPDATE aws_records SET body = ?, updated_at = ? WHERE kind = ? AND name = ?",
                       (json.dumps(body, default=str), datetime.now(UTC).isoformat(), kind, name))

    def get(self, kind: RecordKind, name: str) -> Record | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM aws_records WHERE kind = ? AND name = ?", (kind, name)).fetchone()
        return None if row is None else self._record(row)

    def list(self, kind: RecordKind) -> list[Record]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM aws_records WHERE kind = ? ORDER BY created_at, name", (kind,)).fetchall()
        return [self._record(r) for r in rows]

    def delete(self, kind: RecordKind, name: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM aws_records WHERE kind = ? AND name = ?", (kind, name))
