"""Dataset validation errors: every :class:`Problem` of a dataset, located by file, line and field."""

from __future__ import annotations

from pydantic import BaseModel

from resources.errors import InvalidInputError


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
