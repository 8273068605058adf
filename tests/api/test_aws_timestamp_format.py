"""The managed API's TimestampFormat (Java patterns) as strftime: every pattern letter of Java's
table translated or refused with its reason, and real timestamps read with the translation."""

from __future__ import annotations

from datetime import datetime

import pytest

from api.aws.timestamp_format import _LETTERS, _REFUSED, strftime_of
from api.aws.wire import AwsError

#: Java's pattern letters (DateTimeFormatter and SimpleDateFormat): each is handled one way or the other.
JAVA_LETTERS = set("GuyDMLdQqYwWEecFaBhKkHmsSAnNVvzOXxZpgu")


def test_every_java_pattern_letter_is_translated_or_refused() -> None:
    assert JAVA_LETTERS <= set(_LETTERS) | set(_REFUSED)
    assert not set(_LETTERS) & set(_REFUSED)
    for letter, why in _REFUSED.items():
        with pytest.raises(AwsError, match=why.split(" (")[0]) as refused:
            strftime_of(f"yyyy-MM-dd {letter}")
        assert refused.value.code == "InvalidInputException"


@pytest.mark.parametrize(("java", "text", "expected"), [
    ("yyyy-MM-dd", "2026-12-07", datetime(2026, 12, 7)),
    ("yyyy-MM-dd HH:mm:ss", "2026-12-07 13:05:09", datetime(2026, 12, 7, 13, 5, 9)),
    ("yyyy MMM", "1991 Jul", datetime(1991, 7, 1)),  # fpp3 PBS's months
    ("MMMM d, yyyy", "July 4, 1991", datetime(1991, 7, 4)),
    ("dd.MM.yy", "07.12.26", datetime(2026, 12, 7)),
    ("EEE, d MMM yyyy h:mm a", "Mon, 7 Dec 2026 1:05 PM", datetime(2026, 12, 7, 13, 5)),
    ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2026-12-07T13:05:09.250", datetime(2026, 12, 7, 13, 5, 9, 250000)),
    ("yyyy DDD", "2026 341", datetime(2026, 12, 7)),
    ("yyyy-MM-dd HH:mm:ssXXX", "2026-12-07 13:05:09+01:00", datetime.fromisoformat("2026-12-07T13:05:09+01:00")),
    ("yyyy-MM-dd HH:mm Z", "2026-12-07 13:05 +0100", datetime.fromisoformat("2026-12-07T13:05:00+01:00")),
    ("yyyy-MM-dd 'at' HH 'o''clock'", "2026-12-07 at 13 o'clock", datetime(2026, 12, 7, 13)),
])
def test_translations_read_real_timestamps(java: str, text: str, expected: datetime) -> None:
    assert datetime.strptime(text, strftime_of(java)) == expected


def test_literal_percent_and_unclosed_quote() -> None:
    assert strftime_of("yyyy'%'MM") == "%Y%%%m"
    with pytest.raises(AwsError, match="quote is not closed"):
        strftime_of("yyyy-MM-dd'T")
    with pytest.raises(AwsError, match="not a pattern letter"):
        strftime_of("yyyy-MM-dd T")


def test_proposed_formats_in_the_managed_apis_words() -> None:
    from api.aws.kit import in_aws_terms
    from api.aws.timestamp_format import java_of
    from datasets.columns import FORMAT_CANDIDATES

    for fmt in FORMAT_CANDIDATES:  # every format a failed import may propose reads back the same
        java = java_of(fmt)
        assert java is not None and strftime_of(java) == fmt, fmt
    message = "cannot read '1991 Jul' as a timestamp (ISO 8601; `timestamp_format` '%Y %b' reads it); see `item_column`"
    assert in_aws_terms(message) == ("cannot read '1991 Jul' as a timestamp (ISO 8601; TimestampFormat 'yyyy MMM' "
                                     "reads it); see item_column")
