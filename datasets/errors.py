"""Dataset validation errors: every :class:`Problem` of a dataset, located by file, line and field."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from resources.errors import InvalidInputError

#: Problems of one kind listed one by one; the rest are counted into one entry.
SHOWN_PER_KIND = 3
#: What differs between problems of one kind (quoted values, numbers): left out when grouping.
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\d[\d,.:\- ]*")


class Problem(BaseModel):
    """One validation problem, located by file, line (1-based; row for Parquet) and field; or
    ``count`` more problems of a kind already listed (the same message but for the values in it)
    from ``line`` to ``last_line``, ``message`` being the first of them."""

    file: str
    line: int | None = None
    field: str | None = None
    message: str
    count: int = 1
    last_line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.count > 1 and self.line is not None and self.last_line is not None:
            where += f":lines {self.line:,}-{self.last_line:,}"
        elif self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}" + (f" ({self.count:,} more rows like this)" if self.count > 1 else "")


class ProblemLog:
    """Collects :class:`Problem` s up to a cap, so a user sees all that is wrong with a source in
    one go; :meth:`raise_if_any` ends a pass."""

    def __init__(self, *, max_problems: int = 100) -> None:
        self.max_problems = max_problems
        self.problems: list[Problem] = []
        self.truncated = False
        self._kinds: dict[tuple[str, str | None, str], list[Any]] = {}  # kind -> [listed, the counted rest]

    def add(self, file: str, line: int | None, field: str | None, message: str, *, count: int = 1,
            last_line: int | None = None) -> None:
        """One problem, or ``count`` of one kind on lines ``line`` .. ``last_line``. Problems that
        differ only in the values their messages quote are of one kind: its first
        :data:`SHOWN_PER_KIND` are listed, the rest counted into one entry (so one bad format is a
        few lines of the report and how many rows it affects, not a hundred identical lines)."""
        kind = (file, field, _VALUES.sub("#", message))
        seen = self._kinds.setdefault(kind, [0, None]) if line is not None else [0, None]
        if count == 1 and seen[0] < SHOWN_PER_KIND:
            if self._append(Problem(file=file, line=line, field=field, message=message)):
                seen[0] += 1
            return
        rest: Problem | None = seen[1]
        if rest is not None:
            rest.count += count
            rest.last_line = max(rest.last_line or rest.line or 0, last_line or line or 0)
            return
        rest = Problem(file=file, line=line, field=field, message=message, count=count,
                       last_line=last_line or line)
        if self._append(rest):
            seen[1] = rest

    def _append(self, problem: Problem) -> bool:
        if len(self.problems) >= self.max_problems:
            self.truncated = True
            return False
        self.problems.append(problem)
        return True

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
        rows = sum(p.count for p in problems)
        counted = f" in {rows:,} rows" if rows > len(problems) else ""
        super().__init__(f"dataset is invalid: {len(problems)} problem(s){counted}{more}\n{lines}")
