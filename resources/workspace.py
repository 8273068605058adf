"""The workspace: where artifacts live, a local folder or any fsspec URL (``s3://bucket/prefix``).

Artifacts are written to a fresh, unique folder (``<kind>s/<name>/<uuid>/``) and only then
referenced from the registry, so an interrupted write leaves an unreferenced folder, never a
resource that loads half-written data.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable
from typing import IO, Any

import fsspec
from fsspec.core import url_to_fs


class Workspace:
    """A root URL plus the filesystem that serves it."""

    def __init__(
        self, root: str, *, storage_options: dict[str, Any] | None = None,
        options_for: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        """``options_for(url)`` gives fsspec options for URLs outside the root (export destinations,
        a pretrained model's weights); by default the root's own options for URLs of its protocol
        (a worker's workspace: the same S3 settings), none for others."""
        self.root = root.rstrip("/") or root
        self.storage_options = dict(storage_options or {})
        self.options_for = options_for or self._same_store
        self.fs: fsspec.AbstractFileSystem
        self.fs, self._base = url_to_fs(self.root, **self.storage_options)
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            self.fs.makedirs(self._base, exist_ok=True)

    def _same_store(self, url: str) -> dict[str, Any]:
        scheme = url.split("://", 1)[0] if "://" in url else "file"
        root_scheme = self.root.split("://", 1)[0] if "://" in self.root else "file"
        return dict(self.storage_options) if scheme == root_scheme else {}

    def new_artifact_dir(self, kind: str, name: str) -> str:
        """A fresh relative folder for one artifact (never reused)."""
        return f"{kind}s/{name}/{uuid.uuid4().hex}"

    def path(self, rel: str) -> str:
        """Path on ``self.fs`` of a workspace-relative path."""
        return posixpath.join(self._base, rel)

    def url(self, rel: str) -> str:
        """Full URL (or local path) of a workspace-relative path, for messages and other libraries."""
        return self.fs.unstrip_protocol(self.path(rel)) if not self.is_local else self.path(rel)

    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        if "w" in mode and self.is_local:
            self.fs.makedirs(posixpath.dirname(self.path(rel)), exist_ok=True)
        return self.fs.open(self.path(rel), mode)  # type: ignore[no-any-return]

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.open(rel, "wb") as f:
            f.write(data)

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel, "rb") as f:
            return f.read()  # type: ignore[no-any-return]

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def remove(self, location: str) -> None:
        """Remove a partial output: a workspace-relative folder, or a URL / absolute path elsewhere
        (an export's run folder at its destination). A missing one is fine."""
        if "://" not in location and not location.startswith("/"):
            self.remove_tree(location)
            return
        fs, path = url_to_fs(location, **self.options_for(location))
        try:
            fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass

    def remove_tree(self, rel: str) -> None:
        """Remove an artifact folder; a missing one is fine."""
        try:
            self.fs.rm(self.path(rel), recursive=True)
        except FileNotFoundError:
            pass
        if self.is_local:  # drop the now-empty <kind>s/<name> parent
            parent = posixpath.dirname(self.path(rel))
            try:
                if not self.fs.ls(parent):
                    self.fs.rmdir(parent)
            except (FileNotFoundError, OSError):
                pass
