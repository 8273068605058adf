"""Export destinations: a local folder or an ``s3://`` prefix, resolved once and checked there.

Containment is decided on the location that will actually be written, normalised the way the
filesystem that writes it sees it: fsspec and the OS treat ``#``, ``?`` and ``%xx`` as plain
characters, so a check on a parsed URL's path would judge a different place than the one written.
:func:`resolve_destination` gives the canonical URL (absolute, symlinks and ``..`` resolved for
local folders; no ``.``/``..``/empty segments for S3), and that URL is what is checked, stored
with the export and opened by the writer.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec
from fsspec.core import url_to_fs

from exports.errors import DestinationNotAllowedError, ExportError
from resources import InvalidInputError

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
class Destination:
    """A resolved destination: ``protocol`` is ``file`` or ``s3``; ``path`` has no trailing slash."""

    protocol: str
    path: str

    @property
    def url(self) -> str:
        """The canonical URL, ending with ``/`` (what is stored with the export and written to)."""
        return f"{self.protocol}://{self.path.rstrip('/')}/" if self.protocol != "file" else f"file://{self.path.rstrip('/')}/"

    def contains(self, other: Destination) -> bool:
        """Whether ``other`` is this folder or lies under it (whole path segments only)."""
        if self.protocol != other.protocol:
            return False
        base = self.path.rstrip("/")
        return other.path == base or other.path.startswith(base + "/") or base == ""


def resolve_destination(url: str) -> Destination:
    """The location ``url`` will be written to.

    Raises
    ------
    InvalidInputError
        Empty, a query string or fragment (``?``/``#``), credentials in the URL, control
        characters, a scheme other than a local folder or ``s3://``, ``..`` in an S3 key.
    """
    text = url.strip()
    if not text:
        raise InvalidInputError("destination is empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInputError("destination contains control characters")
    if "?" in text or "#" in text:
        raise InvalidInputError(
            f"destination {redact(text)} may not contain '?' or '#': a destination is a folder, not a URL with a "
            "query string or fragment (S3 credentials belong in FORECAST_S3__KEY / FORECAST_S3__SECRET)"
        )
    scheme, sep, rest = text.partition("://")
    if not sep:
        return Destination("file", os.path.realpath(os.path.expanduser(text)))
    scheme = scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        if not rest.startswith("/"):
            raise InvalidInputError(
                f"destination {redact(text)}: a file URL needs an absolute path with no host (file:///folder)"
            )
        _, path = url_to_fs(f"file://{rest}")
        return Destination("file", os.path.realpath(path))
    if scheme in _S3_SCHEMES:
        bucket = rest.split("/", 1)[0]
        if "@" in bucket:
            raise InvalidInputError(
                f"destination {redact(text)}: credentials in the URL are not accepted; "
                "use FORECAST_S3__KEY / FORECAST_S3__SECRET"
            )
        if not bucket:
            raise InvalidInputError(f"destination {redact(text)} names no bucket")
        segments = rest.rstrip("/").split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise InvalidInputError(
                f"destination {redact(text)}: S3 keys may not contain empty, '.' or '..' segments"
            )
        return Destination("s3", posixpath.join(*segments))
    raise InvalidInputError(
        f"destination {redact(text)}: unsupported scheme {scheme!r}; use a folder, file:///folder or s3://bucket/prefix"
    )


def normalize(url: str) -> str:
    """The canonical URL of a destination (see :func:`resolve_destination`)."""
    return resolve_destination(url).url


def check_allowed(url: str, allowed_prefixes: list[str], *, what: str = "destination",
                  setting: str = "FORECAST_ALLOWED_EXPORT_PREFIXES") -> Destination:
    """The resolved location of ``url``; raises unless it lies under one of ``allowed_prefixes``
    (none configured: nothing is allowed). Bad URLs raise :class:`InvalidInputError` first.
    ``what`` and ``setting`` name the location and the setting in messages (an import's source
    is checked the same way as an export's destination)."""
    target = resolve_destination(url)
    for prefix in allowed_prefixes:
        if resolve_destination(prefix).contains(target):
            return target
    allowed = ", ".join(redact(p) for p in allowed_prefixes) or f"none configured ({setting})"
    raise DestinationNotAllowedError(
        f"{what} {redact(url)} (resolved: {target.url}) is not allowed; allowed prefixes: {allowed}"
    )


def open_destination(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and base path for a resolved destination URL; checks that an S3 bucket exists."""
    dest = resolve_destination(url)
    fs, _ = url_to_fs(dest.url, **(storage_options or {}))
    if dest.protocol == "s3":
        bucket = dest.path.split("/", 1)[0]
        try:
            exists = fs.exists(bucket)
        except PermissionError as e:
            raise ExportError(f"no permission to use bucket {bucket!r} ({redact(url)})") from e
        except OSError as e:
            raise ExportError(f"cannot reach the destination {redact(url)}: {e}") from e
        if not exists:
            raise ExportError(f"destination bucket {bucket!r} does not exist ({redact(url)})")
    return fs, dest.path
