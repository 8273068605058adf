"""What the surfaces share about parameters: those the CLI and the HTTP routes both take, parsed
one way, and pydantic's errors worded one way."""

from __future__ import annotations

from typing import Any

from resources import InvalidInputError


def key_values(pairs: list[str] | None, *, what: str, example: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict (``--filter``, ``--where``, ``?filter=``); a pair without ``=``
    or with an empty key is refused, naming ``what`` and an ``example``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise InvalidInputError(f"{what} {pair!r}: expected key=value, e.g. {example}")
        out[key.strip()] = value.strip()
    return out


def describe_errors(errors: Any) -> str:
    """``loc: message`` for each pydantic error, joined; the input values are left out."""
    problems = []
    for e in errors:
        if e.get("type") == "json_invalid":
            problems.append(f"body: not valid JSON ({(e.get('ctx') or {}).get('error', 'cannot decode')})")
            continue
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body" or len(e.get("loc", ())) == 1)
        problems.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(problems) or "invalid request"


