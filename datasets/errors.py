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


class ProblemLog:
    """Collects :class:`Problem` s up to a cap, so a user sees all that is wrong with a source in
    one go; :meth:`raise_if_any` ends a pass."""

    def __init__(self, *, max_problems: int = 100) -> None:
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self.truncated = False

    def add(self, file: str, line: int | None, field: str | None, message: str) -> None:
        if len(self.problems) >= self.max_problems:
            self.truncated = True
            return
        self.problems.append(Problem(file=file, line=line, field=field, message=message))

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def full(self) -> bool:
        """No more problems will be listed: further checks can stop."""
        return len(self.problems) >= self.max_problems

    def raise_if_any(self) -> None:
        """Raise with every problem, by file (in the order files were read) and line."""
        if self.problems or self.truncated:
            files = {f: i for i, f in enumerate(dict.fromkeys(p.file for p in self.problems))}
            ordered = sorted(self.problems, key=lambda p: (files[p.file], p.line or 0))
            raise DatasetValidationError(ordered, truncated=self.truncated)


class DatasetValidationError(InvalidInputError):
    """A dataset failed validation. ``problems`` lists every problem found (up to a cap)."""

    def __init__(self, problems: list[Problem], *, truncated: bool = False) -> None:
        self.problems = problems
        self.truncated = truncated
        more = " (more problems were not listed: the cap was reached)" if truncated else ""
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"dataset is invalid: {len(problems)} problem(s){more}\n{lines}")
