"""The managed API's datasets, dataset groups and dataset import jobs (see :mod:`api.aws.forecast_api`)."""

from __future__ import annotations

from typing import Any

from api.aws.catalog import Record
from api.aws.kit import AwsContext, filtered, operation, page, s3_path, status_fields, times
from api.aws.timestamp_format import strftime_of
from api.aws.wire import AwsError, invalid, not_found
from resources import Kind, Resource, Status

#: The target field of each domain (the managed service's dataset domains).
TARGET_FIELDS = {"RETAIL": "demand", "CUSTOM": "target_value", "INVENTORY_PLANNING": "demand",
                 "EC2_CAPACITY": "number_of_instances", "WORK_FORCE": "workforce_demand", "WEB_TRAFFIC": "value",
                 "METRICS": "metric_value"}
DATASET_TYPES = {"TARGET_TIME_SERIES": "target", "RELATED_TIME_SERIES": "related", "ITEM_METADATA": "metadata"}


# -- datasets --------------------------------------------------------------------------------------
def _schema_from_summary(r: Resource) -> dict[str, Any]:
    summary = r.result or {}
    kind = r.spec.get("type", "target")
    attrs = [{"AttributeName": "item_id", "AttributeType": "string"}]
    attrs += [{"AttributeName": d, "AttributeType": "string"} for d in summary.get("dimensions") or []]
    if kind != "metadata":
        attrs.append({"AttributeName": "timestamp", "AttributeType": "timestamp"})
    if kind == "target":
        attrs.append({"AttributeName": "target_value", "AttributeType": "float"})
    attrs += [{"AttributeName": f, "AttributeType": "float"} for f in summary.get("feature_names") or []]
    return {"Attributes": attrs}


def _aws_type(ours: str) -> str:
    return {v: k for k, v in DATASET_TYPES.items()}[ours]


def dataset_view(ctx: AwsContext, name: str, imported: set[str] | None = None) -> dict[str, Any] | None:
    """A dataset as DescribeDataset shows it: a catalog definition, or one of our datasets that no
    import job made (``imported``: those that one did, when the caller has them already)."""
    rec = ctx.catalog.get("dataset", name)
    if rec is not None:
        body = rec.body
        busy = any(ctx.registry.exists(_kind(j), j.body["ours"])
                   and ctx.registry.get(_kind(j), j.body["ours"]).status.in_flight
                   for j in import_jobs(ctx, name))
        return {"DatasetArn": ctx.arn("dataset", name), "DatasetName": name, "Domain": body["Domain"],
                "DatasetType": body["DatasetType"], "DataFrequency": body.get("DataFrequency"),
                "Schema": body["Schema"], "Status": "UPDATE_IN_PROGRESS" if busy else "ACTIVE", **times(rec)}
    if ctx.registry.exists(Kind.DATASET, name) and name not in (_imported(ctx) if imported is None else imported):
        r = ctx.registry.get(Kind.DATASET, name)
        return {"DatasetArn": ctx.arn("dataset", name), "DatasetName": name, "Domain": "CUSTOM",
                "DatasetType": _aws_type(r.spec.get("type", "target")), "DataFrequency": r.spec.get("freq"),
                "Schema": _schema_from_summary(r), "Status": r.status.value, **times(r)}
    return None


def _imported(ctx: AwsContext) -> set[str]:
    """Our datasets that import jobs made."""
    return {j.body["ours"] for j in ctx.catalog.list("import_job")}


def import_jobs(ctx: AwsContext, dataset: str) -> list[Record]:
    return [j for j in ctx.catalog.list("import_job") if j.body["dataset"] == dataset]


def _check_schema(p: dict[str, Any]) -> None:
    kind = DATASET_TYPES[p["DatasetType"]]
    attrs = p["Schema"].get("Attributes") or []
    names = [a.get("AttributeName") for a in attrs]
    if not all(names) or len(set(names)) != len(names):
        raise invalid("Schema.Attributes: every attribute needs a name, and names must be unique")
    required = ["item_id"] + (["timestamp"] if kind != "metadata" else [])
    if kind == "target":
        required.append(TARGET_FIELDS[p["Domain"]])
    missing = [n for n in required if n not in names]
    if missing:
        raise invalid(f"Schema: a {p['DatasetType']} dataset of domain {p['Domain']} needs the attribute(s) "
                      f"{', '.join(missing)}")
    if kind != "metadata" and not p.get("DataFrequency"):
        raise invalid(f"DataFrequency is required for a {p['DatasetType']} dataset")
    if any(a.get("AttributeType") == "geolocation" for a in attrs):
        raise invalid("Schema: geolocation attributes are not supported by this service")


@operation("CreateDataset")
def create_dataset(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name = p["DatasetName"]
    _check_schema(p)
    if p.get("DataFrequency"):
        from datasets.frequency import normalize_freq

        try:
            normalize_freq(pandas_freq(p["DataFrequency"]))
        except ValueError as e:
            raise invalid(f"DataFrequency: {e}") from None
    if ctx.registry.exists(Kind.DATASET, name) or not ctx.catalog.put("dataset", name, {
            k: p.get(k) for k in ("Domain", "DatasetType", "DataFrequency", "Schema")}):
        raise AwsError("ResourceAlreadyExistsException", f"dataset {name!r} already exists")
    return {"DatasetArn": ctx.arn("dataset", name)}


@operation("DescribeDataset")
def describe_dataset(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    (name,) = ctx.names(p["DatasetArn"], "dataset")
    view = dataset_view(ctx, name)
    if view is None:
        raise not_found(f"dataset {name!r} does not exist")
    return view


@operation("ListDatasets")
def list_datasets(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    imported = _imported(ctx)
    names = [r.name for r in ctx.catalog.list("dataset")]
    names += [r.name for r in ctx.registry.list(Kind.DATASET) if r.name not in imported]
    views = [v for v in (dataset_view(ctx, n, imported) for n in names) if v is not None]
    summaries = [{k: v[k] for k in ("DatasetArn", "DatasetName", "DatasetType", "Domain", "CreationTime",
                                    "LastModificationTime")} for v in views]
    return page(summaries, p, "Datasets")


@operation("DeleteDataset")
def delete_dataset_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from datasets import delete_dataset

    (name,) = ctx.names(p["DatasetArn"], "dataset")
    if ctx.catalog.get("dataset", name) is None:
        if dataset_view(ctx, name) is None:
            raise not_found(f"dataset {name!r} does not exist")
        delete_dataset(ctx.state.runtime.workspace, ctx.registry, name)
        return {}
    from resources.lifecycle import delete_resource

    jobs = import_jobs(ctx, name)
    for job in sorted(jobs, key=lambda j: _kind(j) != Kind.IMPORT):  # the increments first, then what they add to
        if ctx.registry.exists(_kind(job), job.body["ours"]):
            delete_resource(ctx.registry, ctx.state.runtime.workspace, _kind(job), job.body["ours"])  # refused in use
        ctx.catalog.delete("import_job", job.name)
    ctx.catalog.delete("dataset", name)
    return {}


# -- dataset groups --------------------------------------------------------------------------------
def group_of(ctx: AwsContext, arn: str) -> tuple[str, Record]:
    (name,) = ctx.names(arn, "dataset-group")
    rec = ctx.catalog.get("dataset_group", name)
    if rec is None:
        raise not_found(f"dataset group {name!r} does not exist")
    return name, rec


def _check_group_datasets(ctx: AwsContext, arns: list[str]) -> None:
    kinds = []
    for arn in arns:
        (name,) = ctx.names(arn, "dataset")
        view = dataset_view(ctx, name)
        if view is None:
            raise not_found(f"dataset {name!r} does not exist")
        kinds.append(view["DatasetType"])
    if len(set(kinds)) != len(kinds):
        raise invalid("DatasetArns: a dataset group holds at most one dataset of each type")


@operation("CreateDatasetGroup")
def create_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name = p["DatasetGroupName"]
    _check_group_datasets(ctx, p.get("DatasetArns") or [])
    if not ctx.catalog.put("dataset_group", name, {"Domain": p["Domain"], "DatasetArns": p.get("DatasetArns") or []}):
        raise AwsError("ResourceAlreadyExistsException", f"dataset group {name!r} already exists")
    return {"DatasetGroupArn": ctx.arn("dataset-group", name)}


@operation("UpdateDatasetGroup")
def update_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, rec = group_of(ctx, p["DatasetGroupArn"])
    _check_group_datasets(ctx, p["DatasetArns"])
    ctx.catalog.update("dataset_group", name, {**rec.body, "DatasetArns": p["DatasetArns"]})
    return {}


@operation("DescribeDatasetGroup")
def describe_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, rec = group_of(ctx, p["DatasetGroupArn"])
    return {"DatasetGroupName": name, "DatasetGroupArn": ctx.arn("dataset-group", name),
            "DatasetArns": rec.body["DatasetArns"], "Domain": rec.body["Domain"], "Status": "ACTIVE", **times(rec)}


@operation("ListDatasetGroups")
def list_dataset_groups(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    return page([{"DatasetGroupArn": ctx.arn("dataset-group", r.name), "DatasetGroupName": r.name, **times(r)}
                  for r in ctx.catalog.list("dataset_group")], p, "DatasetGroups")


@operation("DeleteDatasetGroup")
def delete_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, _ = group_of(ctx, p["DatasetGroupArn"])
    ctx.catalog.delete("dataset_group", name)
    return {}


# -- dataset import jobs ---------------------------------------------------------------------------
def pandas_freq(freq: str) -> str:
    """The managed service's frequencies (Y, M, W, D, H, 30min, ...) as pandas aliases."""
    return {"Y": "Y", "M": "M", "W": "W", "D": "D", "H": "H"}.get(freq, freq)


@operation("CreateDatasetImportJob")
def create_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from datasets.catalog import register_import
    from datasets.long_format import LongFormat
    from resources.locations import allowed_source

    (dataset,) = ctx.names(p["DatasetArn"], "dataset")
    rec = ctx.catalog.get("dataset", dataset)
    if rec is None:
        raise not_found(f"dataset {dataset!r} does not exist (or was not created with CreateDataset)")
    mode = p.get("ImportMode", "FULL")
    if p.get("UseGeolocationForTimeZone"):
        raise invalid("UseGeolocationForTimeZone is not supported; give TimeZone")
    job = p["DatasetImportJobName"]
    ours = f"{dataset}-{job}"
    settings = ctx.state.runtime.settings
    source = allowed_source(s3_path(p, "DataSource"), settings.allowed_import_prefixes)
    body = rec.body
    kind = DATASET_TYPES[body["DatasetType"]]
    attrs = body["Schema"]["Attributes"]
    names = [a["AttributeName"] for a in attrs]
    target = TARGET_FIELDS[body["Domain"]]
    dims = [a["AttributeName"] for a in attrs if a["AttributeType"] == "string" and a["AttributeName"] != "item_id"]
    fmt = (p.get("Format") or "CSV").upper()
    long = LongFormat(type=kind, target_column=target if kind == "target" else "target_value",
                      dimensions=dims if kind != "metadata" else [],
                      timestamp_format=strftime_of(p["TimestampFormat"]) if p.get("TimestampFormat")
                      and p["TimestampFormat"] != "auto" else None,
                      timezone=p.get("TimeZone"), column_names=names if fmt == "CSV" else None)
    if ctx.catalog.get("import_job", f"{dataset}/{job}") is not None:
        raise AwsError("ResourceAlreadyExistsException", f"import job {job!r} of dataset {dataset!r} already exists")
    request = {k: v for k, v in p.items() if k != "Tags"}
    if mode == "INCREMENTAL":
        from datasets.increments import register_increment

        into = latest_import(ctx, dataset)
        if into is None:
            raise AwsError("ResourceInUseException", f"dataset {dataset!r} has no ACTIVE import to add to; "
                           "import its history first (ImportMode FULL)")
        register_increment(ctx.registry, ours, into, source, long=long)
        ctx.catalog.put("import_job", f"{dataset}/{job}", {"dataset": dataset, "job": job, "ours": ours,
                                                            "kind": Kind.IMPORT.value, "into": into,
                                                            "request": request})
        ctx.start(Kind.IMPORT, ours)
        return {"DatasetImportJobArn": ctx.arn("dataset-import-job", dataset, job)}
    register_import(ctx.registry, ours, source, freq=pandas_freq(body["DataFrequency"]) if kind != "metadata" else None,
                    layout="long", long=long, source_options=settings.storage_options(source))
    ctx.catalog.put("import_job", f"{dataset}/{job}", {"dataset": dataset, "job": job, "ours": ours,
                                                        "request": request})
    ctx.start(Kind.DATASET, ours)
    return {"DatasetImportJobArn": ctx.arn("dataset-import-job", dataset, job)}


def latest_import(ctx: AwsContext, dataset: str) -> str | None:
    """The dataset of ours that the latest ACTIVE full import of AWS dataset ``dataset`` made (an
    incremental import adds to it), if any."""
    made = [j.body["ours"] for j in import_jobs(ctx, dataset) if _kind(j) == Kind.DATASET]
    active = [ctx.registry.get(Kind.DATASET, n) for n in made if ctx.registry.exists(Kind.DATASET, n)]
    active = [r for r in active if r.status == Status.ACTIVE]
    return max(active, key=lambda r: r.created_at).name if active else None


def _kind(rec: Record) -> Kind:
    """What an import job record made: a dataset (FULL), or an import into one (INCREMENTAL)."""
    return Kind(rec.body.get("kind", Kind.DATASET.value))


def _mode(rec: Record) -> str:
    return "INCREMENTAL" if _kind(rec) == Kind.IMPORT else "FULL"


def import_job(ctx: AwsContext, arn: str) -> tuple[Record, Resource]:
    dataset, job = ctx.names(arn, "dataset-import-job", 2)
    rec = ctx.catalog.get("import_job", f"{dataset}/{job}")
    if rec is None:
        raise not_found(f"import job {job!r} of dataset {dataset!r} does not exist")
    return rec, ctx.resource(_kind(rec), rec.body["ours"], "dataset import")


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    rec, r = import_job(ctx, p["DatasetImportJobArn"])
    req = rec.body["request"]
    return {"DatasetImportJobName": rec.body["job"], "DatasetImportJobArn": p["DatasetImportJobArn"],
            "DatasetArn": req["DatasetArn"], "TimestampFormat": req.get("TimestampFormat"),
            "TimeZone": req.get("TimeZone"), "DataSource": req["DataSource"], "Format": req.get("Format", "CSV"),
            "ImportMode": _mode(rec), **status_fields(r), **times(r), **_what_it_did(ctx, rec, r)}


def _what_it_did(ctx: AwsContext, rec: Record, r: Resource) -> dict[str, Any]:
    """An ACTIVE import's ``FieldStatistics`` of the target (values read, empty ones) and, as its
    ``Message``, what it changed (fills, combined rows, stray negative values)."""
    from datasets.summary import ImportChanges

    raw = (r.result.get("summary") or r.result).get("changes") if r.status == Status.ACTIVE else None
    if not raw:
        return {}
    changes = ImportChanges.model_validate(raw)
    dataset = ctx.catalog.get("dataset", rec.body["dataset"])
    target = TARGET_FIELDS[dataset.body["Domain"]] if dataset is not None else "target_value"
    read = changes.empty_values + changes.negative_values + changes.non_negative_values
    changed = changes.changed()
    return {"FieldStatistics": {target: {"Count": read, "CountNull": changes.empty_values, "CountNan": 0,
                                         "CountLong": read, "CountNullLong": changes.empty_values}},
            **({"Message": "changed: " + "; ".join(changed)} if changed else {})}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = []
    for rec in ctx.catalog.list("import_job"):
        if not ctx.registry.exists(_kind(rec), rec.body["ours"]):
            continue
        r = ctx.registry.get(_kind(rec), rec.body["ours"])
        out.append({"DatasetImportJobArn": ctx.arn("dataset-import-job", rec.body["dataset"], rec.body["job"]),
                    "DatasetImportJobName": rec.body["job"], "DataSource": rec.body["request"]["DataSource"],
                    "ImportMode": _mode(rec), "DatasetArn": rec.body["request"]["DatasetArn"], **status_fields(r), **times(r)})
    # DatasetArn is for the filters; the summary shape leaves it out on the wire
    return page(filtered(out, p.get("Filters"), {"DatasetArn", "Status"}), p, "DatasetImportJobs")


@operation("DeleteDatasetImportJob")
def delete_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from resources.lifecycle import delete_resource

    rec, r = import_job(ctx, p["DatasetImportJobArn"])
    if r.status.in_flight:
        raise AwsError("ResourceInUseException", f"import job {rec.body['job']!r} is {r.status.value}")
    # a FULL import's dataset goes with it; an INCREMENTAL one's version stays in its dataset
    delete_resource(ctx.registry, ctx.state.runtime.workspace, _kind(rec), rec.body["ours"])
    ctx.catalog.delete("import_job", rec.name)
    return {}


