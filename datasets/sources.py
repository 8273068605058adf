"""Find the files of a dataset source (a file, a folder, or an ``s3://`` URL) and open them."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Literal

import fsspec
from fsspec.core import url_to_fs

from datasets.schema import CSV_SUFFIXES, JSON_SUFFIXES, PARQUET_SUFFIXES
from resources.errors import InvalidInputError

FileKind = Literal["json", "parquet", "csv"]

#: Called with (bytes read so far in the current file, file size or None, file display name).
ProgressCallback = Callable[[int, int | None, str], None]


def file_kind(path: str) -> FileKind | None:
    """``"json"``, ``"csv"`` or ``"parquet"`` by suffix (``.gz`` allowed on JSON lines and CSV),
    else ``None``."""
    name = posixpath.basename(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
        return "json" if name.endswith(JSON_SUFFIXES) else "csv" if name.endswith(CSV_SUFFIXES) else None
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _skipped(name: str) -> bool:
    return name.startswith((".", "_"))


#: The files each layout is read from.
SUFFIXES: dict[str, tuple[FileKind, ...]] = {"jsonlines": ("json", "parquet"), "long": ("csv", "parquet"),
                                             "any": ("json", "csv", "parquet")}
_SHOWN = {"json": "JSON lines (.json, .jsonl, .ndjson, also .gz)", "csv": "CSV (.csv, also .gz)",
          "parquet": "Parquet (.parquet, .pq)"}


def _expected(kinds: tuple[FileKind, ...]) -> str:
    return " or ".join(_SHOWN[k] for k in kinds)


def list_source_files(
    source: str, *, storage_options: dict[str, Any] | None = None, layout: str = "jsonlines",
) -> tuple[fsspec.AbstractFileSystem, str, list[tuple[str, FileKind]]]:
    """Resolve ``source`` to its filesystem, its path there, and its data files sorted by path,
    of the kinds ``layout`` (``jsonlines`` or ``long``) reads.

    A folder is searched recursively; dotfiles, ``_SUCCESS`` and other ``_``-prefixed files are
    skipped, as are files with other suffixes inside a folder. A single file of another kind is
    an error (a CSV given as JSON lines says to use the long format).

    Raises
    ------
    InvalidInputError
        The source does not exist, or holds no data files.
    """
    kinds = SUFFIXES[layout]
    fs, path = url_to_fs(source, **(storage_options or {}))
    try:
        exists = fs.exists(path)
    except (PermissionError, OSError) as e:
        raise InvalidInputError(f"cannot read {source}: {e}") from e
    if not exists:
        raise InvalidInputError(f"{source}: no such file or folder")
    if fs.isdir(path):
        found = []
        for p in sorted(fs.find(path)):
            rel = posixpath.relpath(p, path)
            if any(_skipped(part) for part in rel.split("/")):
                continue
            kind = file_kind(p)
            if kind in kinds:
                found.append((p, kind))
        if not found:
            raise InvalidInputError(f"{source}: the folder holds no data files (expected {_expected(kinds)})")
        return fs, path, found
    kind = file_kind(path)
    if kind == "csv" and layout == "jsonlines":
        raise InvalidInputError(f"{source}: a CSV file holds long-format rows; import it with `format` long "
                                "(columns item_id, timestamp, target_value; see `item_column` and the others)")
    if kind == "json" and layout == "long":
        raise InvalidInputError(f"{source}: JSON lines are read as DeepAR records; leave out `format` long")
    if kind not in kinds:
        raise InvalidInputError(f"{source}: unknown file type; expected {_expected(kinds)}")
    return fs, path, [(path, kind)]


def display_name(source: str, root: str, path: str) -> str:
    """How problems name a data file: the source as given, or the source and the file's path
    inside the folder."""
    return source if path == root else source.rstrip("/") + "/" + posixpath.relpath(path, root)


def file_size(fs: fsspec.AbstractFileSystem, path: str) -> int | None:
    """A file's size in bytes, or ``None`` where the filesystem does not say."""
    try:
        return int(fs.size(path))
    except (OSError, NotImplementedError, TypeError):
        return None


@contextmanager
def open_source_file(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[IO[bytes]]:
    """Open a data file for binary reading, gunzipping ``.gz`` on the fly."""
    compression = "gzip" if path.lower().endswith(".gz") else None
    with fs.open(path, "rb", compression=compression, block_size=8 * 2**20) as f:
        yield f
