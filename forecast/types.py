"""Forecast types: quantiles 0.01 .. 0.99 in steps of 0.01, and ``mean`` — one rule for stored
forecasts, queries, invocations and exports.

Users write them as ``0.1,0.35,mean,0.75,0.99`` or by their output names ``p10``, ``p35``,
``p99`` (the same types); outputs name them ``p10``, ``p35``, ``mean``. Inside the code a
quantile is a float; names are made only at the edges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from forecast.errors import ForecastTypesError

MEAN: Final[str] = "mean"
DEFAULT_TYPES: Final[str] = "0.1,0.5,0.9"
RULE: Final[str] = (
    "forecast types are quantiles from 0.01 to 0.99 in steps of 0.01 (such as 0.1, 0.35, 0.99, or "
    "p10, p35, p99) and 'mean', comma-separated, each at most once"
)
_QUANTILE = re.compile(r"^0?\.(\d{1,2})$")
_NAMED = re.compile(r"^p(\d{1,2})$")


@dataclass(frozen=True, order=True)
class ForecastType:
    """A quantile level (``percent`` 1..99) or the mean (``percent`` None)."""

    percent: int | None

    @property
    def is_mean(self) -> bool:
        return self.percent is None

    @property
    def level(self) -> float:
        if self.percent is None:
            raise ValueError("the mean has no quantile level")
        return self.percent / 100

    @property
    def column(self) -> str:
        """Output name: ``p10``, ``p35``, ``mean``."""
        return MEAN if self.percent is None else f"p{self.percent}"

    @property
    def label(self) -> str:
        """Input spelling: ``0.1``, ``0.35``, ``mean``."""
        return MEAN if self.percent is None else f"{self.percent / 100:g}"


def parse_type(text: str) -> ForecastType:
    t = text.strip()
    if t == MEAN:
        return ForecastType(None)
    m = _QUANTILE.match(t)
    if m:
        digits = m.group(1)
        percent = int(digits) * (10 if len(digits) == 1 else 1)
        if 1 <= percent <= 99:
            return ForecastType(percent)
    m = _NAMED.match(t)
    if m and 1 <= int(m.group(1)) <= 99:
        return ForecastType(int(m.group(1)))
    raise ForecastTypesError(f"invalid forecast type {text.strip()!r}: {RULE}")


def parse_types(text: str | list[str] | None) -> list[ForecastType]:
    """Parse and check a list of forecast types, keeping the user's order.

    Raises
    ------
    ForecastTypesError
        Empty, unknown (0, 1, 0.125, p50, ...) or repeated types; the message states the rule.
    """
    if text is None:
        text = DEFAULT_TYPES
    parts = text if isinstance(text, list) else text.split(",")
    if not parts or all(not p.strip() for p in parts):
        raise ForecastTypesError(f"no forecast types given: {RULE}")
    types = [parse_type(p) for p in parts]
    seen: set[ForecastType] = set()
    for t in types:
        if t in seen:
            raise ForecastTypesError(f"forecast type {t.label!r} is given twice: {RULE}")
        seen.add(t)
    return types


def parse_columns(text: str | None, available: list[str]) -> list[str]:
    """Output columns requested in a query (``p10,mean`` or ``0.1,mean``), checked against a
    forecast's columns."""
    if text is None or not text.strip():
        return list(available)
    cols = []
    for c in (c.strip() for c in text.split(",") if c.strip()):
        try:
            cols.append(parse_type(c).column)
        except ForecastTypesError:
            cols.append(c)
    unknown = [c for c in cols if c not in available]
    if unknown:
        raise ForecastTypesError(f"unknown forecast type(s) {', '.join(map(repr, unknown))}; this forecast has {', '.join(available)}")
    if len(set(cols)) != len(cols):
        raise ForecastTypesError("a forecast type is requested twice")
    return cols
