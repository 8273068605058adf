"""Errors shared by every layer of the service.

The tree::

    ServiceError                      base of everything we raise on purpose
    ├── InvalidInputError (ValueError) the caller's input is wrong: CLI exit 2, HTTP 422
    │   ├── DatasetValidationError    a dataset failed validation; carries every Problem
    │   └── NotFoundError (KeyError)  no resource or item of that name: HTTP 404
    ├── AlreadyExistsError            a resource of that name exists: CLI exit 2, HTTP 409
    └── ConflictError                 the resource is in the wrong state: HTTP 409

``datasets`` is the lowest layer, so ``forecast`` and ``exports`` derive their own errors from
these classes and the CLI and HTTP layers map whole families at once.
"""

from __future__ import annotations

from pydantic import BaseModel


class ServiceError(Exception):
    """Base class of every error the service raises on purpose."""


class InvalidInputError(ServiceError, ValueError):
    """The caller's input is wrong; the message says what and what is allowed."""


class NotFoundError(InvalidInputError, KeyError):
    """No resource (or item) with that name."""

    def __str__(self) -> str:  # KeyError quotes its message; we don't want that
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(ServiceError):
    """A resource with that name exists already; nothing was overwritten."""


class ConflictError(ServiceError):
    """The resource exists but is not in a state that allows the operation."""


class Problem(BaseModel):
    """One validation problem, located by file, line (1-based; row for Parquet) and field."""

    file: str
    line: int | None = None
    field: str | None = None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class DatasetValidationError(InvalidInputError):
    """A dataset failed validation. ``problems`` lists every problem found (up to a cap)."""

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        self.problems = problems
        self.truncated = truncated
        more = " (more problems were not listed: the cap was reached)" if truncated else ""
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"dataset is invalid: {len(problems)} problem(s){more}\n{lines}")
