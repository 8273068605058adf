"""Incremental imports: new observations (and new items) added to an existing dataset as a new
version (:mod:`datasets.versions`), the dataset staying ``ACTIVE`` and readable throughout.

An import validates its source as the dataset's first import did (the dataset's frequency and
long-format options), plus what only the dataset can say: a series' ``cat`` or feature count
that differs from the stored one, columns the dataset does not have. A bad file is rejected with
every problem located (file, line, field) and nothing changes. A good one is written as a delta
under the dataset's folder, then committed: the new version's index and summary are computed from
the latest version's, and the dataset's row is swapped only if no other import committed
meanwhile (else the commit is computed again on top of that one), so two imports at once both
land, in the order they commit, and the later one wins where they overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datasets.catalog import (
    INDEX_FILE,
    Conflicts,
    _scan_and_store,
    dataset_summary,
    dataset_type,
    version_result,
)
from datasets.errors import DatasetValidationError, Problem
from datasets.import_kind import IncrementalImport
from datasets.long_format import DatasetType, LongFormat
from datasets.long_scan import PARTITION_BYTES
from datasets.records import Series
from datasets.schema import ITEM_ID
from datasets.sources import ProgressCallback
from datasets.summary import DatasetSummary
from datasets.versions import (
    COMPACT_SHARE,
    MAX_DELTAS,
    METADATA_FILE,
    Storage,
    Version,
    apply_increment,
    dataset_versions,
    read_index,
    recount_missing,
    series_keys,
    summary_of,
    write_index,
    write_merged,
)
from resources.errors import ConflictError, InvalidInputError, ServiceError
from resources.kinds import JobContext, announce_new_data
from resources.lifecycle import building, throttled_progress
from resources.registry import Kind, Registry, Resource, Status
from resources.workspace import Workspace

#: How many times a commit is computed again when other imports commit first.
COMMIT_ATTEMPTS = 20


def register_increment(registry: Registry, name: str, dataset: str, source: str, *, freq: str | None = None,
                       long: LongFormat | None = None) -> Resource:
    """Check the request against the dataset and register import ``name`` (``CREATE_PENDING``).

    Raises
    ------
    NotFoundError, ConflictError
        The dataset does not exist or is not ``ACTIVE``.
    InvalidInputError
        ``freq`` differs from the dataset's; the name is taken.
    """
    registry.require_free(Kind.IMPORT, name)
    ds = registry.get_active(Kind.DATASET, dataset)
    if freq and ds.spec.get("freq"):
        from datasets.frequency import normalize_freq

        if normalize_freq(freq) != ds.spec["freq"]:
            raise InvalidInputError(f"dataset {dataset!r} has frequency {ds.spec['freq']}; an incremental import "
                                    f"adds to it at that frequency, not {freq}")
    spec: dict[str, Any] = {"dataset": dataset, "source": source}
    if long is not None:
        spec["long_format"] = long.model_dump(mode="json")
    return registry.create(Kind.IMPORT, name, status=Status.CREATE_PENDING, spec=spec)


def _long_of(ds: Resource, override: dict[str, Any] | None) -> LongFormat | None:
    """The long-format options an import into ``ds`` reads its source with: the dataset's, with
    a request's reading options (timestamp format, zone, header) where it gives them."""
    if "long_format" not in ds.spec:
        return None
    base = LongFormat.model_validate(ds.spec["long_format"])
    if override:
        given = LongFormat.model_validate(override)
        base = base.model_copy(update={k: getattr(given, k) for k in ("timestamp_format", "timezone", "column_names")
                                       if getattr(given, k) is not None})
    return base


def _conflicts(workspace: Workspace, ds: Resource, summary: DatasetSummary) -> Conflicts:
    """The checks of a JSON-lines record against the dataset: same feature count, and an existing
    item's ``cat`` unchanged (static attributes do not move between versions)."""
    index = read_index(workspace, dataset_versions(ds)[-1].storage)
    cats = dict(zip(series_keys(index.column(ITEM_ID).to_pylist(), index.column("dimensions").to_pylist()),
                    index.column("cat").to_pylist(), strict=True))

    def check(item_id: str, s: Series) -> list[tuple[str, str]]:
        out = []
        k = 0 if s.dynamic_feat is None else int(s.dynamic_feat.shape[0])
        if k != summary.num_dynamic_feat:
            out.append(("dynamic_feat", (f"has {k} feature row(s); dataset {ds.name!r} has "
                                         f"{summary.num_dynamic_feat}")))
        key = item_id if not s.dimensions else "\x1f".join([item_id, *s.dimensions])
        if key in cats:
            old = cats[key]
            if (s.cat or None) is not None and list(s.cat or []) != list(old or []):
                out.append(("cat", (f"item {item_id!r} has cat {old} in dataset {ds.name!r}; static attributes "
                                    f"cannot change in an incremental import (got {list(s.cat or [])})")))
        elif summary.cat_cardinalities and not s.cat:
            out.append(("cat", (f"new item {item_id!r} needs cat ({len(summary.cat_cardinalities)} value(s)), as "
                                f"every series of dataset {ds.name!r} has")))
        return out

    return check


def _check_columns(ds: Resource, before: DatasetSummary, delta: DatasetSummary, source: str) -> None:
    """Columns the dataset does not have, or related series it does not hold, reject the file."""
    problems = []
    unknown = sorted(set(delta.ignored_fields) - set(before.ignored_fields))
    if unknown:
        problems.append(Problem(file=source, field=", ".join(unknown), message=(
            f"column(s) {', '.join(unknown)} are not in dataset {ds.name!r}; an incremental import holds the "
            "dataset's columns only (import a new dataset to change them)")))
    if delta.feature_names != before.feature_names:
        problems.append(Problem(file=source, field=", ".join(delta.feature_names), message=(
            f"related series {delta.feature_names}, but dataset {ds.name!r} holds {before.feature_names}")))
    if before.dataset_type == DatasetType.METADATA and set(delta.attributes) != set(before.attributes):
        problems.append(Problem(file=source, field=", ".join(sorted(set(delta.attributes) ^ set(before.attributes))),
                                message=f"attributes {sorted(delta.attributes)}, but dataset {ds.name!r} has "
                                        f"{sorted(before.attributes)}"))
    if problems:
        raise DatasetValidationError(problems)


def run_increment(workspace: Workspace, registry: Registry, name: str, *, source_options: dict[str, Any] | None = None,
                  max_problems: int = 100, progress: ProgressCallback | None = None, registered: bool = False,
                  partition_bytes: int = PARTITION_BYTES) -> Resource:
    """Validate the registered import's source, store it as a delta and commit a new version of
    its dataset. Invalid data: the import is ``CREATE_FAILED`` (``registered``) or unregistered,
    the dataset unchanged.

    Raises
    ------
    DatasetValidationError
        The source has problems; every one is listed.
    """
    job = registry.get(Kind.IMPORT, name)
    ds = registry.get_active(Kind.DATASET, job.spec["dataset"])
    long = _long_of(ds, job.spec.get("long_format"))
    before = dataset_summary(ds)
    rel = f"{ds.artifact}/versions/{name}"
    report_progress = throttled_progress(registry, Kind.IMPORT, name)

    def report(done: int, total: int | None, path: str) -> None:
        report_progress({"bytes_read": done, "bytes_total": total, "file": path})
        if progress is not None:
            progress(done, total, path)

    metadata = dataset_type(ds) == DatasetType.METADATA
    try:
        with building(registry, workspace, Kind.IMPORT, name, rel, wrap=ServiceError, keep=(InvalidInputError,)):
            conflicts = None if metadata or long is not None else _conflicts(workspace, ds, before)
            delta, storage, table = _scan_and_store(
                workspace, rel, job.spec["source"], freq=ds.spec.get("freq"), long=long,
                source_options=source_options, max_problems=max_problems, progress=report,
                partition_bytes=partition_bytes, file="delta.parquet", conflicts=conflicts)
            _check_columns(ds, before, delta, job.spec["source"])
            assert table is not None
            commit = _commit_metadata if metadata else _commit_series
            version = commit(workspace, registry, ds.name, name, job.spec["source"], rel, delta, storage, table)
            registry.set_partial(Kind.IMPORT, name, None)  # the delta is the dataset's now
        problems = announce_new_data(JobContext(workspace, registry), ds.name)
        return registry.update(Kind.IMPORT, name, status=Status.ACTIVE,
                               result={"version": version.number, **version.public(),
                                       **({"watchers": problems} if problems else {})})
    except InvalidInputError:
        if not registered:
            registry.delete(Kind.IMPORT, name)
        raise


#: One attempt at a commit: given the dataset and its latest version, the next version and the
#: files written for it (removed if another import commits first).
Attempt = Callable[[Resource, Version], tuple[Version, list[str]]]


def _commit(workspace: Workspace, registry: Registry, dataset: str, attempt: Attempt) -> Version:
    """Land a version computed by ``attempt`` on the dataset's latest one, by compare-and-set on
    the version number; when another import landed first, compute it again on top of that one."""
    for _ in range(COMMIT_ATTEMPTS):
        ds = registry.get_active(Kind.DATASET, dataset)
        versions = dataset_versions(ds)
        version, written = attempt(ds, versions[-1])
        previous = [v.model_dump(mode="json") for v in versions]
        if registry.swap_result(Kind.DATASET, dataset, "version", versions[-1].number,
                                version_result(version, previous)):
            return version
        for path in written:
            workspace.remove(path)
    raise ConflictError(f"dataset {dataset!r}: {COMMIT_ATTEMPTS} other imports committed while this one tried; "
                        "run it again")


def _commit_series(workspace: Workspace, registry: Registry, dataset: str, name: str, source: str, rel: str,
                   delta: DatasetSummary, delta_storage: Storage, delta_index: pa.Table) -> Version:
    """Land a delta of series on the dataset's latest version."""

    def attempt(ds: Resource, latest: Version) -> tuple[Version, list[str]]:
        freq = str(ds.spec["freq"])
        number = latest.number + 1
        index, change = apply_increment(read_index(workspace, latest.storage), delta_index, freq)
        storage = latest.storage.model_copy(update={
            "deltas": [*latest.storage.deltas, delta_storage.base], "index": f"{rel}/v{number}-{INDEX_FILE}",
            "rows": index.num_rows, "delta_values": latest.storage.delta_values + delta_storage.base_values})
        index = recount_missing(workspace, storage, freq, index, change.overlapping)
        write_index(workspace, str(storage.index), index)
        written = [str(storage.index)]
        compacted = (len(storage.deltas) > MAX_DELTAS
                     or storage.delta_values > COMPACT_SHARE * max(storage.base_values, 1))
        if compacted:
            base = f"{rel}/v{number}-series.parquet"
            index, values = write_merged(workspace, storage, freq, base)
            storage = Storage(base=base, index=storage.index, base_rows=index.num_rows, rows=index.num_rows,
                              base_values=values)
            write_index(workspace, str(storage.index), index)
            written.append(base)
        summary = summary_of(index, freq, dataset_summary(ds), delta)
        return Version(number=number, created_at=datetime.now(UTC), mode="incremental", source=source,
                       import_name=name, compacted=compacted, storage=storage, summary=summary,
                       **change.model_dump(exclude={"overlapping"})), written

    return _commit(workspace, registry, dataset, attempt)


def _commit_metadata(workspace: Workspace, registry: Registry, dataset: str, name: str, source: str, rel: str,
                     delta: DatasetSummary, delta_storage: Storage, table: pa.Table) -> Version:
    """Item metadata: new items' rows added, existing items' rows replaced; the table is small
    (one row per item), so each version stores it whole."""

    def attempt(ds: Resource, latest: Version) -> tuple[Version, list[str]]:
        with workspace.open(str(latest.storage.metadata), "rb") as f:
            old = pq.read_table(f)
        new = table.select(old.column_names).cast(old.schema)
        kept = old.filter(pc.invert(pc.is_in(old.column(ITEM_ID), new.column(ITEM_ID))))
        merged = pa.concat_tables([kept, new])
        path = f"{rel}/v{latest.number + 1}-{METADATA_FILE}"
        with workspace.open(path, "wb") as f:
            pq.write_table(merged, f, compression="zstd")
        replaced = old.num_rows - kept.num_rows
        before = dataset_summary(ds)
        summary = before.model_copy(update={"num_series": merged.num_rows,
                                            "num_files": before.num_files + delta.num_files,
                                            "attributes": delta.attributes or before.attributes})
        return Version(number=latest.number + 1, created_at=datetime.now(UTC), mode="incremental", source=source,
                       import_name=name, observations_added=new.num_rows - replaced, observations_replaced=replaced,
                       items_added=new.num_rows - replaced, items_updated=replaced,
                       storage=Storage(base="", metadata=path, base_rows=merged.num_rows, rows=merged.num_rows),
                       summary=summary), [path]

    return _commit(workspace, registry, dataset, attempt)


def import_increment(workspace: Workspace, registry: Registry, name: str, dataset: str, source: str, *,
                     freq: str | None = None, source_options: dict[str, Any] | None = None, max_problems: int = 100,
                     progress: ProgressCallback | None = None,
                     partition_bytes: int = PARTITION_BYTES) -> Resource:
    """:func:`register_increment` then :func:`run_increment` in this process (the CLI's path)."""
    register_increment(registry, name, dataset, source, freq=freq)
    return run_increment(workspace, registry, name, source_options=source_options, max_problems=max_problems,
                         progress=progress, partition_bytes=partition_bytes)


def default_import_name(dataset: str) -> str:
    """A name for an import nobody named: the dataset's, with the time to the millisecond."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    suffix = int(np.random.default_rng().integers(0, 36**3))
    return f"{dataset[:70]}-{stamp}-{np.base_repr(suffix, 36).lower()}"


def register_increment_job(ctx: JobContext, spec: IncrementalImport) -> Resource:
    """The import kind's request (:class:`datasets.import_kind.IncrementalImport`), registered."""
    return register_increment(ctx.registry, spec.name, spec.dataset, spec.source, freq=spec.freq)


def run_increment_job(ctx: JobContext, name: str) -> Resource:
    """The import kind's job: run registered import ``name``."""
    spec = ctx.registry.get(Kind.IMPORT, name).spec
    return run_increment(ctx.workspace, ctx.registry, name, source_options=ctx.storage_options(spec["source"]),
                         registered=True, partition_bytes=ctx.import_partition_bytes)


def import_new_source(ctx: JobContext, dataset: Resource, request: Any, changed: list[str]) -> Resource | None:
    """The dataset kind's update (:mod:`resources.specs`): a dataset document whose ``source``
    alone changed adds that source to the dataset as a new version (an incremental import in the
    dataset's own format); any other change is not one a dataset can take (``None``)."""
    if changed != ["source"]:
        return None
    name = default_import_name(dataset.name)
    register_increment(ctx.registry, name, dataset.name, str(request.source))
    run_increment(ctx.workspace, ctx.registry, name)
    return ctx.registry.get(Kind.DATASET, dataset.name)
