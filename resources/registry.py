"""The resource registry: one SQLite table of datasets, predictors, forecasts and exports.

Every resource has a kind, a name, a status, timestamps and two JSON documents: ``spec`` (what
was asked for) and ``result`` (what came out). Artifacts live in the workspace; a row points at
them only once they are complete, so a reader never sees a half-written resource as ``ACTIVE``.

The row also records which process owns a resource being created (host, pid and the process's
start time: see :mod:`resources.owner`). A process that dies (a crash, ``kill -9``) cannot mark
its resource failed, so readers do it for it: a resource in flight whose owner on this host is
gone (or a zombie, or its pid now belongs to another process) is reported ``CREATE_FAILED``
(``CREATE_STOPPED`` if a stop was requested). While in flight, ``artifact`` names the partial
output, which :func:`resources.lifecycle.sweep` removes once the job is known dead.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self

from pydantic import BaseModel

from resources.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    JobStopped,
    NotFoundError,
)
from resources.owner import ProcessIdentity

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class Status(StrEnum):
    """The managed services' names. In flight: ``CREATE_PENDING`` (registered), ``CREATE_IN_PROGRESS``
    (working), ``CREATE_STOPPING`` (a stop was asked for). Final: ``ACTIVE``, ``CREATE_FAILED``,
    ``CREATE_STOPPED``."""

    CREATE_PENDING = "CREATE_PENDING"
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_STOPPING = "CREATE_STOPPING"
    ACTIVE = "ACTIVE"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_STOPPED = "CREATE_STOPPED"

    @property
    def in_flight(self) -> bool:
        return self in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS, Status.CREATE_STOPPING)


class Kind(StrEnum):
    """The resource kinds, each with the module that declares it (:mod:`resources.kinds`): adding
    a kind is its module and one line here."""

    module: str

    def __new__(cls, value: str, module: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.module = module
        return member

    DATASET = "dataset", "datasets.dataset_kind"
    PREDICTOR = "predictor", "forecast.predictor_kind"
    FORECAST = "forecast", "forecast.forecast_kind"
    EXPORT = "export", "exports.export_kind"
    IMPORT = "import", "datasets.import_kind"
    MONITOR = "monitor", "forecast.monitor_kind"
    ALIAS = "alias", "forecast.alias_kind"
    TUNING_JOB = "tuning-job", "forecast.tuning_kind"


class Resource(BaseModel):
    kind: Kind
    name: str
    status: Status
    message: str | None = None
    created_at: datetime
    updated_at: datetime
    artifact: str | None = None
    spec: dict[str, Any] = {}
    result: dict[str, Any] = {}

    def require_active(self) -> Resource:
        """This resource if it is ``ACTIVE`` (with its artifact, for the kinds stored in the
        workspace; an export's files live at its destination, an import's in its dataset's folder);
        else :class:`ConflictError`."""
        if self.status != Status.ACTIVE:
            raise ConflictError(f"{self.kind.value} {self.name!r} is {self.status.value}, not ACTIVE")
        if self.kind not in (Kind.EXPORT, Kind.IMPORT, Kind.ALIAS, Kind.TUNING_JOB) and not self.artifact:  # theirs live elsewhere
            raise ConflictError(f"{self.kind.value} {self.name!r} is ACTIVE but has nothing stored")
        return self


def check_name(name: str, what: str = "name") -> str:
    """Names are 1-100 letters, digits, ``-`` or ``_``, starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid {what} {name!r}: use 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: The message of a job a reader found dead (its owner gave no reason).
OWNER_DIED = "the process creating this resource exited before it finished"


def _taken(kind: Kind, name: str) -> AlreadyExistsError:
    return AlreadyExistsError(f"{kind.value} {name!r} already exists; delete it first or choose another name")


def _owner_dead(owner: str | None) -> bool:
    """Whether the recorded owner is known to be gone (another host's cannot be judged here)."""
    if not owner:
        return False
    try:
        return ProcessIdentity.decode(owner).alive() is False
    except ValueError:
        return False


_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    artifact TEXT,
    spec TEXT NOT NULL DEFAULT '{}',
    result TEXT NOT NULL DEFAULT '{}',
    owner TEXT,
    PRIMARY KEY (kind, name)
)
"""


@contextmanager
def connect(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection to the registry's SQLite file (autocommit, rows by column name, 30 s busy
    timeout), closed on exit; shared by the registry and the tables kept beside it."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


class Registry:
    """Resource rows in a SQLite file; safe to share between the CLI, the server and workers."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    def _row(self, row: sqlite3.Row, *, judge_owner: bool = True) -> Resource:
        status = Status(row["status"])
        message = row["message"]
        if judge_owner and status.in_flight and _owner_dead(row["owner"]):
            if status == Status.CREATE_STOPPING:
                status, message = Status.CREATE_STOPPED, "stopped on request (the job's process has exited)"
            else:
                status, message = Status.CREATE_FAILED, OWNER_DIED
            with self._connect() as db:  # only if nobody changed it meanwhile
                db.execute("UPDATE resources SET status = ?, message = ?, updated_at = ? WHERE kind = ? AND name = ?"
                           " AND status = ? AND owner IS ?",
                           (status.value, message, _now(), row["kind"], row["name"], row["status"], row["owner"]))
        return Resource(
            kind=Kind(row["kind"]),
            name=row["name"],
            status=status,
            message=message,
            created_at=datetime.fromisoformat(row["created_at"]),
            updated_at=datetime.fromisoformat(row["updated_at"]),
            artifact=row["artifact"],
            spec=json.loads(row["spec"]),
            result=json.loads(row["result"]),
        )

    def create(
        self,
        kind: Kind,
        name: str,
        *,
        status: Status,
        spec: dict[str, Any] | None = None,
        artifact: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> Resource:
        """Insert a new resource; the current process owns it until it is ACTIVE or failed.

        Raises
        ------
        AlreadyExistsError
            A resource of this kind and name exists (nothing is overwritten).
        """
        check_name(name, f"{kind.value} name")
        now = _now()
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO resources (kind, name, status, created_at, updated_at, artifact, spec, result, owner)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind.value, name, status.value, now, now, artifact, json.dumps(spec or {}, default=str),
                     json.dumps(result or {}, default=str), ProcessIdentity.of().encode()),
                )
        except sqlite3.IntegrityError:
            raise _taken(kind, name) from None
        return self.get(kind, name)

    def _set(self, kind: str, name: str, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            db.execute(
                f"UPDATE resources SET {cols}, updated_at = ? WHERE kind = ? AND name = ?",
                (*[v.value if isinstance(v, StrEnum) else v for v in fields.values()], _now(), kind, name),
            )

    def update(
        self,
        kind: Kind,
        name: str,
        *,
        status: Status | None = None,
        message: str | None = None,
        artifact: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> Resource:
        fields: dict[str, Any] = {}
        if status is not None:
            fields["status"] = status
            fields["message"] = message
        if artifact is not None:
            fields["artifact"] = artifact
        if result is not None:
            fields["result"] = json.dumps(result, default=str)
        if fields:
            self._set(kind.value, name, **fields)
        return self.get(kind, name)

    def swap_result(self, kind: Kind, name: str, field: str, expected: int, result: dict[str, Any]) -> bool:
        """Replace the ``result`` of an ``ACTIVE`` resource only if its ``field`` is still
        ``expected`` (absent counts as 1): a compare and set, for writers that may race (two imports
        committing versions of one dataset). Whether it was replaced."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE resources SET result = ?, updated_at = ? WHERE kind = ? AND name = ? AND status = ?"
                f" AND COALESCE(json_extract(result, '$.{field}'), 1) = ?",
                (json.dumps(result, default=str), _now(), kind.value, name, Status.ACTIVE.value, expected))
        return cur.rowcount == 1

    def update_spec(self, kind: Kind, name: str, spec: dict[str, Any], *, result: dict[str, Any]) -> Resource:
        """Replace a resource's ``spec`` and ``result`` in one row update (an alias moving)."""
        self._set(kind.value, name, spec=json.dumps(spec, default=str), result=json.dumps(result, default=str))
        return self.get(kind, name)

    def require_free(self, kind: Kind, name: str) -> None:
        """Check that ``name`` is valid and not taken by a resource of ``kind``.

        Raises
        ------
        InvalidInputError, AlreadyExistsError
        """
        check_name(name, f"{kind.value} name")
        if self.exists(kind, name):
            raise _taken(kind, name)

    def claim(self, kind: Kind, name: str, pid: int | None = None) -> None:
        """Make process ``pid`` (default: this one) the owner of a job in flight.

        Raises
        ------
        JobStopped
            A stop was asked for before the job started; it is now ``CREATE_STOPPED``.
        """
        owner = ProcessIdentity.of(pid).encode()
        with self._connect() as db:
            db.execute("UPDATE resources SET owner = ?, updated_at = ? WHERE kind = ? AND name = ?",
                       (owner, _now(), kind.value, name))
        if pid is None and self.get(kind, name).status == Status.CREATE_STOPPING:
            self.update(kind, name, status=Status.CREATE_STOPPED, message="stopped on request before it started")
            raise JobStopped(f"{kind.value} {name!r} was stopped before it started")

    def owner(self, kind: Kind, name: str) -> ProcessIdentity | None:
        with self._connect() as db:
            row = db.execute("SELECT owner FROM resources WHERE kind = ? AND name = ?", (kind.value, name)).fetchone()
        if row is None:
            raise NotFoundError(f"{kind.value} {name!r} not found")
        try:
            return ProcessIdentity.decode(row["owner"]) if row["owner"] else None
        except ValueError:
            return None

    def transition(self, kind: Kind, name: str, *, from_: Status, to: Status, message: str | None = None) -> bool:
        """Set ``to`` only if the status is still ``from_`` (compare and set); whether it was set."""
        with self._connect() as db:
            cur = db.execute(
                "UPDATE resources SET status = ?, message = ?, updated_at = ? WHERE kind = ? AND name = ? AND status = ?",
                (to.value, message, _now(), kind.value, name, from_.value))
        return cur.rowcount == 1

    def report_progress(self, kind: Kind, name: str, progress: dict[str, Any]) -> None:
        """Record a job's progress (shown by describe as ``result.progress``) and the partial output.

        Raises
        ------
        JobStopped
            A stop was asked for: the job should end now (cooperative stop, for owners that a
            signal cannot reach).
        """
        with self._connect() as db:
            row = db.execute("SELECT status FROM resources WHERE kind = ? AND name = ?", (kind.value, name)).fetchone()
            if row is None:
                raise NotFoundError(f"{kind.value} {name!r} not found")
            if row["status"] == Status.CREATE_STOPPING.value:
                raise JobStopped(f"{kind.value} {name!r} was stopped on request")
            db.execute("UPDATE resources SET result = ?, updated_at = ? WHERE kind = ? AND name = ? AND status = ?",
                       (json.dumps({"progress": progress}, default=str), _now(), kind.value, name, row["status"]))

    def set_partial(self, kind: Kind, name: str, artifact: str | None) -> None:
        """Record (or, with ``None``, forget) where a job in flight writes, for the sweep."""
        with self._connect() as db:
            db.execute("UPDATE resources SET artifact = ?, updated_at = ? WHERE kind = ? AND name = ?",
                       (artifact, _now(), kind.value, name))

    def get(self, kind: Kind, name: str, *, judge_owner: bool = True) -> Resource:
        """The resource; with ``judge_owner`` (the default) a job in flight whose owner is dead is
        reported (and recorded) as ended. Raises :class:`NotFoundError` naming the kind and name."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM resources WHERE kind = ? AND name = ?", (kind.value, name)).fetchone()
        if row is None:
            raise NotFoundError(f"{kind.value} {name!r} not found")
        return self._row(row, judge_owner=judge_owner)

    def get_active(self, kind: Kind, name: str) -> Resource:
        """:meth:`get`, then :meth:`Resource.require_active`."""
        return self.get(kind, name).require_active()

    def exists(self, kind: Kind, name: str) -> bool:
        with self._connect() as db:
            return db.execute("SELECT 1 FROM resources WHERE kind = ? AND name = ?", (kind.value, name)).fetchone() is not None

    def list_all(self) -> list[Resource]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM resources ORDER BY created_at, name").fetchall()
        return [self._row(r) for r in rows]

    def list(self, kind: Kind) -> list[Resource]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM resources WHERE kind = ? ORDER BY created_at, name", (kind.value,)).fetchall()
        return [self._row(r) for r in rows]

    def delete(self, kind: Kind, name: str) -> None:
        with self._connect() as db:
            cur = db.execute("DELETE FROM resources WHERE kind = ? AND name = ?", (kind.value, name))
        if cur.rowcount == 0:
            raise NotFoundError(f"{kind.value} {name!r} not found")


class ActiveResources(Protocol):
    """Anything that looks up ``ACTIVE`` resources by kind and name: the :class:`Registry`, or a
    :class:`ResourceSnapshot` of the few a job reads, taken by the process that plans it."""

    def get_active(self, kind: Kind, name: str) -> Resource: ...


class ResourceSnapshot(BaseModel):
    """The resources a job's workers read, resolved once by the driver, so workers on other
    machines need only the workspace, never the registry (:class:`ActiveResources`)."""

    resources: list[Resource]

    @classmethod
    def of(cls, lookup: ActiveResources, kind: Kind, names: list[str | None]) -> ResourceSnapshot:
        return cls(resources=[lookup.get_active(kind, n) for n in dict.fromkeys(n for n in names if n)])

    def get_active(self, kind: Kind, name: str) -> Resource:
        for r in self.resources:
            if r.kind == kind and r.name == name:
                return r.require_active()
        raise NotFoundError(f"{kind.value} {name!r} is not among the resources this job was planned with")
