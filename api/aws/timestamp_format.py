"""The managed API's ``TimestampFormat`` (Java ``DateTimeFormatter`` / ``SimpleDateFormat``
patterns: ``yyyy-MM-dd HH:mm:ss``, ``yyyy MMM``, ``dd/MM/yy h:mm a``) as the strftime format our
long-format reader takes.

Every pattern letter of Java's table is either translated or refused with the reason: a letter
with no strptime counterpart (an era, a week-based year, a quarter, an hour counted 1-24) is an
``InvalidInputException`` naming it, never a format that silently misreads dates. Text between
single quotes is literal (``''`` is a quote); other characters are copied.
"""

from __future__ import annotations

import re

from api.aws.wire import invalid

#: letter -> strftime by run length (the longest entry not above the run applies).
_LETTERS: dict[str, dict[int, str]] = {
    "y": {1: "%Y", 2: "%y", 3: "%Y"},  # year of era: yy is two digits, else the full year
    "u": {1: "%Y", 2: "%y", 3: "%Y"},  # year (DateTimeFormatter; SimpleDateFormat: day of week, see below)
    "M": {1: "%m", 3: "%b", 4: "%B"},  # month: number, short name, full name
    "L": {1: "%m", 3: "%b", 4: "%B"},  # standalone month
    "d": {1: "%d"},  # day of month
    "D": {1: "%j"},  # day of year
    "E": {1: "%a", 4: "%A"},  # day name: short, full
    "a": {1: "%p"},  # AM / PM
    "H": {1: "%H"},  # hour 0-23
    "h": {1: "%I"},  # hour 1-12 (with a)
    "m": {1: "%M"},  # minute
    "s": {1: "%S"},  # second
    "S": {1: "%f"},  # fraction of a second (1 to 6 digits)
    "n": {1: "%f"},  # nano of second: read as a fraction
    "Z": {1: "%z"},  # offset +0000
    "X": {1: "%z"},  # offset Z, +00, +0000, +00:00
    "x": {1: "%z"},  # offset +00, +0000, +00:00
    "z": {1: "%Z"},  # zone name (UTC, GMT)
}
#: Letters of Java's table with no strptime counterpart, and why.
_REFUSED: dict[str, str] = {
    "G": "an era (AD/BC)",
    "Y": "a week-based year (use yyyy, the calendar year)",
    "w": "a week of the week-based year",
    "W": "a week of the month",
    "F": "an aligned week of the month",
    "e": "a localized day of the week",
    "c": "a localized day of the week",
    "Q": "a quarter",
    "q": "a quarter",
    "k": "an hour counted 1-24 (use HH, 0-23)",
    "K": "an hour counted 0-11 (use hh, 1-12, with a)",
    "A": "milliseconds of the day",
    "N": "nanoseconds of the day",
    "V": "a zone id (use Z or X, an offset)",
    "v": "a generic zone name (use Z or X, an offset)",
    "O": "a localized zone offset (use Z or X)",
    "B": "a period of the day",
    "p": "padding",
    "g": "a modified Julian day",
}
_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)


def strftime_of(java: str) -> str:
    """``java`` (a ``TimestampFormat``) as a strftime format.

    Raises
    ------
    AwsError
        ``InvalidInputException``: a pattern letter without a strptime counterpart, or an
        unterminated quote.
    """
    out: list[str] = []
    for match in _TOKEN.finditer(java):
        token = match.group(0)
        if token == "'":
            raise invalid(f"TimestampFormat {java!r}: a quote is not closed")
        if token.startswith("'"):
            out.append(token[1:-1].replace("''", "'").replace("%", "%%") if token != "''" else "'")
        elif token[0].isalpha():
            letter = token[0]
            if letter in _REFUSED:
                raise invalid(f"TimestampFormat {java!r}: {token!r} is {_REFUSED[letter]}, which this service cannot "
                              "read; the supported letters are " + " ".join(sorted(_LETTERS)))
            if letter not in _LETTERS:
                raise invalid(f"TimestampFormat {java!r}: {letter!r} is not a pattern letter (put literal text "
                              "between single quotes, as 'T')")
            by_run = _LETTERS[letter]
            out.append(by_run[max(n for n in by_run if n <= len(token))])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


#: strftime directives -> Java pattern letters (what :func:`java_of` writes).
_JAVA = {"%Y": "yyyy", "%y": "yy", "%m": "MM", "%b": "MMM", "%B": "MMMM", "%d": "dd", "%j": "DDD", "%a": "EEE",
         "%A": "EEEE", "%p": "a", "%H": "HH", "%I": "hh", "%M": "mm", "%S": "ss", "%f": "SSSSSS", "%z": "Z",
         "%Z": "z", "%%": "%"}


def java_of(strftime: str) -> str | None:
    """A strftime format as a ``TimestampFormat`` (``%Y %b`` -> ``yyyy MMM``); ``None`` when it
    uses a directive with no pattern letter."""
    out: list[str] = []
    for token in re.findall(r"%.|[A-Za-z]+|[^%A-Za-z]+", strftime):
        if token.startswith("%"):
            if token not in _JAVA:
                return None
            out.append(_JAVA[token])
        elif token[0].isalpha():
            out.append("'" + token.replace("'", "''") + "'")
        else:
            out.append(token.replace("'", "''"))
    return "".join(out)

