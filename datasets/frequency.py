"""Frequencies: the user's pandas alias, normalised once, and the start-alignment rule."""

from __future__ import annotations

import warnings
from functools import lru_cache

import pandas as pd
from pandas.tseries.frequencies import to_offset

from resources.errors import InvalidInputError

_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")


@lru_cache(maxsize=64)
def normalize_freq(freq: str) -> str:
    """Return the canonical period alias for a pandas frequency (``"H"`` -> ``"h"``, ``"W"`` -> ``"W-SUN"``).

    Raises
    ------
    InvalidInputError
        When pandas does not know the alias.
    """
    text = (freq or "").strip()
    if not text:
        raise InvalidInputError("frequency is empty; give a pandas alias such as H, D, W, M, Q, 15min")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pd.Period("2000-01-03", freq=text).freqstr
        except (ValueError, TypeError, AttributeError) as e:
            # A few aliases (e.g. "ME") exist only as offsets; map them to their period alias.
            try:
                offset = to_offset(text)
                return pd.Period("2000-01-03", freq=offset.rule_code.replace("ME", "M")).freqstr
            except (ValueError, TypeError, AttributeError):
                raise InvalidInputError(
                    f"unknown frequency {freq!r}; use a pandas alias such as H, D, W, M, Q, 15min"
                ) from e


@lru_cache(maxsize=64)
def freq_offset(freq: str) -> pd.DateOffset:
    """The pandas offset of a normalised alias, without pandas' alias-deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return to_offset(freq)


def misalignment(start: pd.Timestamp, freq: str) -> str | None:
    """Say why ``start`` does not fit ``freq`` (a normalised alias), or ``None`` when it fits.

    A start fits when it is the first instant of its period: ``2009-11-01`` fits ``M`` but
    ``2009-11-15`` does not; ``01:30`` does not fit ``h``; for fixed-length frequencies such as
    ``15min`` the start must be a multiple of the step.
    """
    offset = freq_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        if start.tz is not None:
            start = start.tz_localize(None)
        if start == start.floor(offset):
            return None
        return f"start {start} is not on a {freq} boundary (expected e.g. {start.floor(offset)})"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        period = pd.Period(start, freq=freq)
    expected = period.start_time
    if start == expected:
        return None
    hint = ""
    if freq.startswith("W-"):
        anchor = _WEEKDAYS[(start.weekday() - 1) % 7]
        hint = f"; weekly periods of {freq} start on {expected.day_name()}, use W-{anchor} for weeks starting on {start.day_name()}"
    return f"start {start} is not the first instant of its {freq} period (expected {expected}){hint}"


def period_end_start(start: pd.Timestamp, freq: str) -> pd.Timestamp | None:
    """For months, quarters and years, the first instant of the period ``start`` ends, when
    ``start`` is that period's last day (as pandas' ``resample("M")`` stamps periods: 2020-01-31
    for January); else ``None``. Not for weeks: a Sunday may start a week as well as end one."""
    offset = freq_offset(freq)
    if isinstance(offset, (pd.offsets.Tick, pd.offsets.Week)) or start != start.normalize():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        period = pd.Period(start, freq=freq)
    if period.end_time.normalize() == start and period.start_time != start:
        return period.start_time
    return None
