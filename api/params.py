"""Parameters the CLI and the HTTP routes both take, parsed one way."""

from __future__ import annotations

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
