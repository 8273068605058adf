"""Locations the service reads from and writes to: a local folder or file, or an ``s3://`` prefix,
resolved once and checked there, and the allowlists that the HTTP and AWS surfaces hold them to
(``FORECAST_ALLOWED_IMPORT_PREFIXES`` for sources, ``FORECAST_ALLOWED_EXPORT_PREFIXES`` for
destinations).

Containment is decided on the location that will actually be read or written, normalised the way
the filesystem sees it: fsspec and the OS treat ``#``, ``?`` and ``%xx`` as plain characters, so
a check on a parsed URL's path would judge a different place. :func:`resolve_location` gives the
canonical URL (absolute, symlinks and ``..`` resolved for local folders; no ``.``/``..``/empty
segments for S3), and that URL is what is checked, stored and opened.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from fsspec.core import url_to_fs

from resources.errors import InvalidInputError, LocationNotAllowedError

_LOCAL_SCHEMES = ("file", "local")
_S3_SCHEMES = ("s3", "s3a")


def redact(url: str) -> str:
    """The URL without user info, query or fragment (no secrets in messages)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:  # an unparseable port: keep only the scheme
        return url.split("://", 1)[0] + "://<redacted>" if "://" in url else "<redacted>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if parts.scheme else url.split("?", 1)[0].split("#", 1)[0]


@dataclass(frozen=True)
class Location:
    """A resolved location: ``protocol`` is ``file`` or ``s3``; ``path`` has no trailing slash."""

    protocol: str
    path: str

    @property
    def url(self) -> str:
        """The canonical URL, ending with ``/`` (what is stored with the export and written to)."""
        return f"{self.protocol}://{self.path.rstrip('/')}/" if self.protocol != "file" else f"file://{self.path.rstrip('/')}/"

    @property
    def source(self) -> str:
        """The location as a source to read: a local path, or ``s3://bucket/key``."""
        return self.path if self.protocol == "file" else f"{self.protocol}://{self.path}"

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this folder or lies under it (whole path segments only)."""
        if self.protocol != other.protocol:
            return False
        base = self.path.rstrip("/")
        return other.path == base or other.path.startswith(base + "/") or base == ""


def resolve_location(url: str, what: str = "destination") -> Location:
    """The location ``url`` names (``what``: a destination, a source, in messages).

    Raises
    ------
    InvalidInputError
        Empty, a query string or fragment (``?``/``#``), credentials in the URL, control
        characters, a scheme other than a local folder or ``s3://``, ``..`` in an S3 key.
    """
    text = url.strip()
    if not text:
        raise InvalidInputError(f"{what} is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInputError(f"{what} contains control characters")
    if "?" in text or "#" in text:
        raise InvalidInputError(
            f"{what} {redact(text)} may not contain '?' or '#': a location is a folder or a file, not a URL with a "
            "query string or fragment (S3 credentials belong in FORECAST_S3__KEY / FORECAST_S3__SECRET)"
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Location("file", os.path.realpath(os.path.expanduser(text)))
    scheme = scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        if not rest.startswith("/"):
            raise InvalidInputError(
                f"{what} {redact(text)}: a file URL needs an absolute path with no host (file:///folder)"
            )
        _, path = url_to_fs(f"file://{rest}")
        return Location("file", os.path.realpath(path))
    if scheme in _S3_SCHEMES:
        bucket = rest.split("/", 1)[0]
        if "@" in bucket:
            raise InvalidInputError(
                f"{what} {redact(text)}: credentials in the URL are not accepted; "
                "use FORECAST_S3__KEY / FORECAST_S3__SECRET"
            )
        if not bucket:
            raise InvalidInputError(f"{what} {redact(text)} names no bucket")
        segments = rest.rstrip("/").split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise InvalidInputError(
                f"{what} {redact(text)}: S3 keys may not contain empty, '.' or '..' segments"
            )
        return Location("s3", posixpath.join(*segments))
    raise InvalidInputError(
        f"{what} {redact(text)}: unsupported scheme {scheme!r}; use a folder, file:///folder or s3://bucket/prefix"
    )



def check_allowed(url: str, allowed_prefixes: list[str], *, what: str = "destination",
                  setting: str = "FORECAST_ALLOWED_EXPORT_PREFIXES") -> Location:
    """The resolved location of ``url``; raises unless it lies under one of ``allowed_prefixes``
    (none configured: nothing is allowed). Bad URLs raise :class:`InvalidInputError` first.
    ``what`` and ``setting`` name the location and the setting in messages.

    Raises
    ------
    InvalidInputError
    LocationNotAllowedError
    """
    target = resolve_location(url, what)
    for prefix in allowed_prefixes:
        if resolve_location(prefix, "allowed prefix").contains(target):
            return target
    allowed = ", ".join(redact(p) for p in allowed_prefixes) or f"none configured ({setting})"
    raise LocationNotAllowedError(
        f"{what} {redact(url)} (resolved: {target.url}) is not allowed; allowed prefixes: {allowed}"
    )


def allowed_source(url: str, allowed_prefixes: list[str]) -> str:
    """An import's source, checked against ``FORECAST_ALLOWED_IMPORT_PREFIXES``, as the path to read."""
    return check_allowed(url, allowed_prefixes, what="source", setting="FORECAST_ALLOWED_IMPORT_PREFIXES").source
