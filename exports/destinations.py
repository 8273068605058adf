"""Export destinations: where an export writes, resolved and checked by :mod:`resources.locations`,
opened here (an S3 bucket must exist)."""

from __future__ import annotations

from typing import Any

import fsspec
from fsspec.core import url_to_fs

from exports.errors import ExportError
from resources.locations import Location, check_allowed, redact, resolve_location

#: A resolved destination (:class:`resources.locations.Location`).
Destination = Location

__all__ = ["Destination", "check_allowed", "normalize", "open_destination", "redact", "resolve_destination"]


def resolve_destination(url: str) -> Location:
    """The location ``url`` will be written to (:func:`resources.locations.resolve_location`)."""
    return resolve_location(url, "destination")


def normalize(url: str) -> str:
    """The canonical URL of a destination (see :func:`resolve_destination`)."""
    return resolve_destination(url).url


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
