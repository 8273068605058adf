"""Export destinations: any fsspec URL (``s3://bucket/prefix/`` through s3fs, a local folder)."""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec
from fsspec.core import url_to_fs

from datasets import InvalidInputError
from exports.errors import DestinationNotAllowedError, ExportError


def redact(url: str) -> str:
    """The URL without user info, query or fragment (no secrets in messages)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if parts.scheme else url


def normalize(url: str) -> str:
    url = url.strip()
    if not url:
        raise InvalidInputError("destination is empty")
    if "://" not in url:
        url = "file://" + posixpath.abspath(url)
    return url.rstrip("/") + "/"


def check_allowed(url: str, allowed_prefixes: list[str]) -> None:
    """Raise unless ``url`` lies under one of ``allowed_prefixes`` (none configured: nothing allowed)."""
    target = normalize(url)
    if ".." in urlsplit(target).path.split("/"):
        raise DestinationNotAllowedError(f"destination {redact(url)} may not contain '..'")
    for prefix in allowed_prefixes:
        if target.startswith(normalize(prefix)):
            return
    allowed = ", ".join(redact(p) for p in allowed_prefixes) or "none configured (FORECAST_ALLOWED_EXPORT_PREFIXES)"
    raise DestinationNotAllowedError(f"destination {redact(url)} is not allowed; allowed prefixes: {allowed}")


def open_destination(url: str, storage_options: dict[str, Any] | None = None) -> tuple[fsspec.AbstractFileSystem, str]:
    """The filesystem and base path for ``url``; checks that an S3 bucket exists."""
    fs, path = url_to_fs(url, **(storage_options or {}))
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if "s3" in protocols or "s3a" in protocols:
        bucket = path.split("/", 1)[0]
        try:
            exists = fs.exists(bucket)
        except PermissionError as e:
            raise ExportError(f"no permission to use bucket {bucket!r} ({redact(url)})") from e
        except OSError as e:
            raise ExportError(f"cannot reach the destination {redact(url)}: {e}") from e
        if not exists:
            raise ExportError(f"destination bucket {bucket!r} does not exist ({redact(url)})")
    return fs, path.rstrip("/")
