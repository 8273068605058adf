"""The managed forecasting API (``AmazonForecast.<Op>``, AWS JSON 1.1) on our resources.

How its objects map onto ours, so what a boto3 client creates is visible with ``forecast ... list``
and ``/v1``, and the other way round:

- a *dataset* (a schema: domain, type, frequency, attributes) and a *dataset group* are kept in
  :class:`~api.aws.catalog.AwsCatalog`; datasets imported with ``/v1`` or the CLI are listed as
  datasets of the CUSTOM domain with a schema from their summary;
- a *dataset import job* ``J`` into dataset ``D`` is our dataset ``D-J`` (a long-format import: the
  schema's attribute order names the CSV's columns; string attributes besides ``item_id`` are
  dimensions); predictors use each dataset's latest ACTIVE import;
- *predictors*, *forecasts* and *export jobs* (forecast and predictor-backtest) are ours under the
  same name.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.aws.catalog import AwsCatalog, Record
from api.aws.wire import AwsError, invalid, not_found
from api.deps import AppState
from resources import Kind, Resource, Status

Handler = Callable[["AwsContext", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}

#: The target field of each domain (the managed service's dataset domains).
TARGET_FIELDS = {"RETAIL": "demand", "CUSTOM": "target_value", "INVENTORY_PLANNING": "demand",
                 "EC2_CAPACITY": "number_of_instances", "WORK_FORCE": "workforce_demand", "WEB_TRAFFIC": "value",
                 "METRICS": "metric_value"}
DATASET_TYPES = {"TARGET_TIME_SERIES": "target", "RELATED_TIME_SERIES": "related", "ITEM_METADATA": "metadata"}
#: AlgorithmArn suffixes and our algorithms; the others (Prophet, CNN-QR) are refused by name.
ALGORITHMS = {"Deep_AR_Plus": "deepar", "ETS": "ets", "ARIMA": "arima", "NPTS": "npts"}
OUR_ALGORITHM_NAMES = {"deepar": "Deep_AR_Plus", "ets": "ETS", "arima": "ARIMA", "npts": "NPTS", "theta": "Theta",
                       "ces": "CES", "seasonal_naive": "Seasonal_Naive", "auto": "AutoPredictor"}
#: DeepAR+ TrainingParameters and our hyperparameters.
TRAINING_PARAMETERS = {"context_length": "context_length", "epochs": "epochs", "learning_rate": "learning_rate",
                       "likelihood": "likelihood", "num_cells": "num_cells", "num_layers": "num_layers",
                       "mini_batch_size": "mini_batch_size", "num_batches_per_epoch": "num_batches_per_epoch",
                       "dropout_rate": "dropout_rate", "embedding_dimension": "embedding_dimension"}
DEFAULT_TYPES = ["0.1", "0.5", "0.9"]
#: OptimizationMetric and what an auto predictor's weight selection then scores (selection_metric).
OPTIMIZATION_METRICS = {"AverageWeightedQuantileLoss": "wql", "WAPE": "wape", "RMSE": "rmse", "MASE": "mase",
                        "MAPE": "mape"}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@dataclass
class AwsContext:
    state: AppState
    catalog: AwsCatalog
    region: str
    account: str

    @property
    def registry(self) -> Any:
        return self.state.runtime.registry

    def arn(self, kind: str, *names: str) -> str:
        return f"arn:aws:forecast:{self.region}:{self.account}:{kind}/{'/'.join(names)}"

    def names(self, arn: str, kind: str, parts: int = 1) -> list[str]:
        """The names in ``arn`` (one, or a parent's and its own); a wrong ARN is invalid input."""
        prefix = f"arn:aws:forecast:{self.region}:{self.account}:{kind}/"
        if not isinstance(arn, str) or not arn.startswith(prefix):
            raise invalid(f"{arn!r} is not a {kind} ARN of this service (expected {prefix}<name>)")
        names = arn[len(prefix):].split("/")
        if len(names) != parts or not all(names):
            raise invalid(f"{arn!r} is not a {kind} ARN of this service")
        return names

    def resource(self, kind: Kind, name: str, what: str) -> Resource:
        if not self.registry.exists(kind, name):
            raise not_found(f"{what} {name!r} does not exist")
        return self.registry.get(kind, name)

    def start(self, kind: Kind, name: str) -> None:
        self.state.jobs.start(kind, name)


def _times(r: Resource | Record) -> dict[str, datetime]:
    return {"CreationTime": r.created_at, "LastModificationTime": r.updated_at}


def _status(r: Resource) -> dict[str, Any]:
    return {"Status": r.status.value, "Message": r.message}


def _page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    """``MaxResults`` items from ``NextToken`` (an opaque offset)."""
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise AwsError("InvalidNextTokenException", "the NextToken is not one this service issued") from None
    size = int(params.get("MaxResults") or 100)
    page = items[start:start + size]
    out: dict[str, Any] = {key: page}
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _filtered(summaries: list[dict[str, Any]], filters: list[dict[str, str]] | None, keys: set[str]) -> list[dict[str, Any]]:
    for f in filters or []:
        if f["Key"] not in keys:
            raise invalid(f"Filters: Key {f['Key']!r} is not one of {', '.join(sorted(keys))}")
        same = f["Condition"] == "IS"
        summaries = [s for s in summaries if (s.get(f["Key"]) == f["Value"]) == same]
    return summaries


def _s3_path(params: dict[str, Any], field: str) -> str:
    return str(params[field]["S3Config"]["Path"])


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


def _dataset_view(ctx: AwsContext, name: str, imported: set[str] | None = None) -> dict[str, Any] | None:
    """A dataset as DescribeDataset shows it: a catalog definition, or one of our datasets that no
    import job made (``imported``: those that one did, when the caller has them already)."""
    rec = ctx.catalog.get("dataset", name)
    if rec is not None:
        body = rec.body
        busy = any(ctx.registry.exists(Kind.DATASET, j.body["ours"])
                   and ctx.registry.get(Kind.DATASET, j.body["ours"]).status.in_flight
                   for j in _import_jobs(ctx, name))
        return {"DatasetArn": ctx.arn("dataset", name), "DatasetName": name, "Domain": body["Domain"],
                "DatasetType": body["DatasetType"], "DataFrequency": body.get("DataFrequency"),
                "Schema": body["Schema"], "Status": "UPDATE_IN_PROGRESS" if busy else "ACTIVE", **_times(rec)}
    if ctx.registry.exists(Kind.DATASET, name) and name not in (_imported(ctx) if imported is None else imported):
        r = ctx.registry.get(Kind.DATASET, name)
        return {"DatasetArn": ctx.arn("dataset", name), "DatasetName": name, "Domain": "CUSTOM",
                "DatasetType": _aws_type(r.spec.get("type", "target")), "DataFrequency": r.spec.get("freq"),
                "Schema": _schema_from_summary(r), "Status": r.status.value, **_times(r)}
    return None


def _imported(ctx: AwsContext) -> set[str]:
    """Our datasets that import jobs made."""
    return {j.body["ours"] for j in ctx.catalog.list("import_job")}


def _import_jobs(ctx: AwsContext, dataset: str) -> list[Record]:
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
            normalize_freq(_pandas_freq(p["DataFrequency"]))
        except ValueError as e:
            raise invalid(f"DataFrequency: {e}") from None
    if ctx.registry.exists(Kind.DATASET, name) or not ctx.catalog.put("dataset", name, {
            k: p.get(k) for k in ("Domain", "DatasetType", "DataFrequency", "Schema")}):
        raise AwsError("ResourceAlreadyExistsException", f"dataset {name!r} already exists")
    return {"DatasetArn": ctx.arn("dataset", name)}


@operation("DescribeDataset")
def describe_dataset(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    (name,) = ctx.names(p["DatasetArn"], "dataset")
    view = _dataset_view(ctx, name)
    if view is None:
        raise not_found(f"dataset {name!r} does not exist")
    return view


@operation("ListDatasets")
def list_datasets(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    imported = _imported(ctx)
    names = [r.name for r in ctx.catalog.list("dataset")]
    names += [r.name for r in ctx.registry.list(Kind.DATASET) if r.name not in imported]
    views = [v for v in (_dataset_view(ctx, n, imported) for n in names) if v is not None]
    summaries = [{k: v[k] for k in ("DatasetArn", "DatasetName", "DatasetType", "Domain", "CreationTime",
                                    "LastModificationTime")} for v in views]
    return _page(summaries, p, "Datasets")


@operation("DeleteDataset")
def delete_dataset_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from datasets import delete_dataset

    (name,) = ctx.names(p["DatasetArn"], "dataset")
    if ctx.catalog.get("dataset", name) is None:
        if _dataset_view(ctx, name) is None:
            raise not_found(f"dataset {name!r} does not exist")
        delete_dataset(ctx.state.runtime.workspace, ctx.registry, name)
        return {}
    for job in _import_jobs(ctx, name):
        if ctx.registry.exists(Kind.DATASET, job.body["ours"]):
            delete_dataset(ctx.state.runtime.workspace, ctx.registry, job.body["ours"])  # refused while in use
        ctx.catalog.delete("import_job", job.name)
    ctx.catalog.delete("dataset", name)
    return {}


# -- dataset groups --------------------------------------------------------------------------------
def _group(ctx: AwsContext, arn: str) -> tuple[str, Record]:
    (name,) = ctx.names(arn, "dataset-group")
    rec = ctx.catalog.get("dataset_group", name)
    if rec is None:
        raise not_found(f"dataset group {name!r} does not exist")
    return name, rec


def _check_group_datasets(ctx: AwsContext, arns: list[str]) -> None:
    kinds = []
    for arn in arns:
        (name,) = ctx.names(arn, "dataset")
        view = _dataset_view(ctx, name)
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
    name, rec = _group(ctx, p["DatasetGroupArn"])
    _check_group_datasets(ctx, p["DatasetArns"])
    ctx.catalog.update("dataset_group", name, {**rec.body, "DatasetArns": p["DatasetArns"]})
    return {}


@operation("DescribeDatasetGroup")
def describe_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, rec = _group(ctx, p["DatasetGroupArn"])
    return {"DatasetGroupName": name, "DatasetGroupArn": ctx.arn("dataset-group", name),
            "DatasetArns": rec.body["DatasetArns"], "Domain": rec.body["Domain"], "Status": "ACTIVE", **_times(rec)}


@operation("ListDatasetGroups")
def list_dataset_groups(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    return _page([{"DatasetGroupArn": ctx.arn("dataset-group", r.name), "DatasetGroupName": r.name, **_times(r)}
                  for r in ctx.catalog.list("dataset_group")], p, "DatasetGroups")


@operation("DeleteDatasetGroup")
def delete_dataset_group(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, _ = _group(ctx, p["DatasetGroupArn"])
    ctx.catalog.delete("dataset_group", name)
    return {}


# -- dataset import jobs ---------------------------------------------------------------------------
def _pandas_freq(freq: str) -> str:
    """The managed service's frequencies (Y, M, W, D, H, 30min, ...) as pandas aliases."""
    return {"Y": "Y", "M": "M", "W": "W", "D": "D", "H": "H"}.get(freq, freq)


def _strftime(java: str) -> str:
    """A Java-style timestamp format (yyyy-MM-dd HH:mm:ss) as strftime's."""
    out = java
    for a, b in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
        out = out.replace(a, b)
    return out


@operation("CreateDatasetImportJob")
def create_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from datasets.catalog import register_import
    from datasets.long_format import LongFormat
    from exports.destinations import check_allowed

    (dataset,) = ctx.names(p["DatasetArn"], "dataset")
    rec = ctx.catalog.get("dataset", dataset)
    if rec is None:
        raise not_found(f"dataset {dataset!r} does not exist (or was not created with CreateDataset)")
    if p.get("ImportMode", "FULL") != "FULL":
        raise invalid("ImportMode INCREMENTAL is not supported: import the full history (FULL)")
    if p.get("UseGeolocationForTimeZone"):
        raise invalid("UseGeolocationForTimeZone is not supported; give TimeZone")
    job = p["DatasetImportJobName"]
    ours = f"{dataset}-{job}"
    settings = ctx.state.runtime.settings
    where = check_allowed(_s3_path(p, "DataSource"), settings.allowed_import_prefixes, what="source",
                          setting="FORECAST_ALLOWED_IMPORT_PREFIXES")
    source = where.path if where.protocol == "file" else f"{where.protocol}://{where.path}"
    body = rec.body
    kind = DATASET_TYPES[body["DatasetType"]]
    attrs = body["Schema"]["Attributes"]
    names = [a["AttributeName"] for a in attrs]
    target = TARGET_FIELDS[body["Domain"]]
    dims = [a["AttributeName"] for a in attrs if a["AttributeType"] == "string" and a["AttributeName"] != "item_id"]
    fmt = (p.get("Format") or "CSV").upper()
    long = LongFormat(type=kind, target_column=target if kind == "target" else "target_value",
                      dimensions=dims if kind != "metadata" else [],
                      timestamp_format=_strftime(p["TimestampFormat"]) if p.get("TimestampFormat")
                      and p["TimestampFormat"] != "auto" else None,
                      timezone=p.get("TimeZone"), column_names=names if fmt == "CSV" else None)
    if ctx.catalog.get("import_job", f"{dataset}/{job}") is not None:
        raise AwsError("ResourceAlreadyExistsException", f"import job {job!r} of dataset {dataset!r} already exists")
    register_import(ctx.registry, ours, source, freq=_pandas_freq(body["DataFrequency"]) if kind != "metadata" else None,
                    layout="long", long=long, source_options=settings.storage_options(source))
    ctx.catalog.put("import_job", f"{dataset}/{job}", {"dataset": dataset, "job": job, "ours": ours,
                                                        "request": {k: v for k, v in p.items() if k != "Tags"}})
    ctx.start(Kind.DATASET, ours)
    return {"DatasetImportJobArn": ctx.arn("dataset-import-job", dataset, job)}


def _import_job(ctx: AwsContext, arn: str) -> tuple[Record, Resource]:
    dataset, job = ctx.names(arn, "dataset-import-job", 2)
    rec = ctx.catalog.get("import_job", f"{dataset}/{job}")
    if rec is None:
        raise not_found(f"import job {job!r} of dataset {dataset!r} does not exist")
    return rec, ctx.resource(Kind.DATASET, rec.body["ours"], "dataset import")


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    rec, r = _import_job(ctx, p["DatasetImportJobArn"])
    req = rec.body["request"]
    return {"DatasetImportJobName": rec.body["job"], "DatasetImportJobArn": p["DatasetImportJobArn"],
            "DatasetArn": req["DatasetArn"], "TimestampFormat": req.get("TimestampFormat"),
            "TimeZone": req.get("TimeZone"), "DataSource": req["DataSource"], "Format": req.get("Format", "CSV"),
            "ImportMode": "FULL", **_status(r), **_times(r)}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = []
    for rec in ctx.catalog.list("import_job"):
        if not ctx.registry.exists(Kind.DATASET, rec.body["ours"]):
            continue
        r = ctx.registry.get(Kind.DATASET, rec.body["ours"])
        out.append({"DatasetImportJobArn": ctx.arn("dataset-import-job", rec.body["dataset"], rec.body["job"]),
                    "DatasetImportJobName": rec.body["job"], "DataSource": rec.body["request"]["DataSource"],
                    "ImportMode": "FULL", "DatasetArn": rec.body["request"]["DatasetArn"], **_status(r), **_times(r)})
    # DatasetArn is for the filters; the summary shape leaves it out on the wire
    return _page(_filtered(out, p.get("Filters"), {"DatasetArn", "Status"}), p, "DatasetImportJobs")


@operation("DeleteDatasetImportJob")
def delete_dataset_import_job(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from datasets import delete_dataset

    rec, r = _import_job(ctx, p["DatasetImportJobArn"])
    if r.status.in_flight:
        raise AwsError("ResourceInUseException", f"import job {rec.body['job']!r} is {r.status.value}")
    delete_dataset(ctx.state.runtime.workspace, ctx.registry, rec.body["ours"])
    ctx.catalog.delete("import_job", rec.name)
    return {}


# -- predictors ------------------------------------------------------------------------------------
@dataclass
class GroupData:
    """A dataset group's data: our dataset of each type (its latest ACTIVE import) and import ARNs."""

    target: str
    related: str | None
    metadata: str | None
    import_arns: list[str]
    freq: str | None
    dimensions: list[str]
    target_field: str
    related_fields: list[str]


def _group_data(ctx: AwsContext, group_arn: str) -> GroupData:
    _, rec = _group(ctx, group_arn)
    found: dict[str, tuple[str, str]] = {}
    for arn in rec.body["DatasetArns"]:
        (dataset,) = ctx.names(arn, "dataset")
        view = _dataset_view(ctx, dataset)
        if view is None:
            raise not_found(f"dataset {dataset!r} of the dataset group does not exist")
        kind = DATASET_TYPES[view["DatasetType"]]
        candidates = [(j.body["ours"], ctx.arn("dataset-import-job", dataset, j.body["job"]))
                      for j in _import_jobs(ctx, dataset)]
        if not candidates and ctx.catalog.get("dataset", dataset) is None:
            candidates = [(dataset, ctx.arn("dataset-import-job", dataset, dataset))]  # one of ours
        active = [(ours, arn) for ours, arn in candidates
                  if ctx.registry.exists(Kind.DATASET, ours) and ctx.registry.get(Kind.DATASET, ours).status == Status.ACTIVE]
        if active:
            found[kind] = max(active, key=lambda c: ctx.registry.get(Kind.DATASET, c[0]).created_at)
    if "target" not in found:
        raise invalid("the dataset group has no TARGET_TIME_SERIES dataset with an ACTIVE import job")
    target = ctx.registry.get(Kind.DATASET, found["target"][0])
    related = found.get("related", (None, ""))[0]
    return GroupData(target=found["target"][0], related=related,
                     metadata=found.get("metadata", (None, ""))[0], import_arns=[a for _, a in found.values()],
                     freq=target.spec.get("freq"), dimensions=list(target.result.get("dimensions") or []),
                     target_field=(target.spec.get("long_format") or {}).get("target_column", "target_value"),
                     related_fields=list(ctx.registry.get(Kind.DATASET, related).result.get("feature_names") or [])
                     if related else [])


def _check_frequency_and_dimensions(data: GroupData, freq: str, dimensions: list[str] | None) -> None:
    from datasets.frequency import normalize_freq

    try:
        wanted = normalize_freq(_pandas_freq(freq))
    except ValueError as e:
        raise invalid(f"ForecastFrequency: {e}") from None
    if data.freq and wanted != data.freq:
        raise invalid(f"ForecastFrequency {freq} differs from the target dataset's frequency ({data.freq}); this "
                      "service forecasts at the data's frequency: aggregate the data before importing")
    if sorted(dimensions or []) != sorted(data.dimensions):
        raise invalid(f"ForecastDimensions {dimensions or []} must be the target dataset's dimensions "
                      f"{data.dimensions} (its string attributes besides item_id)")


FILL_KEYS = ("frontfill", "middlefill", "backfill", "futurefill")


def _featurized(ctx: AwsContext, data: GroupData, predictor: str, configs: list[dict[str, Any]]) -> GroupData:
    """The group's data with the predictor's featurization (``AttributeConfigs``: aggregation and
    fill methods per attribute) applied. This service fills at import, so a dataset whose import
    filled otherwise is imported again from the same source with the predictor's methods, as our
    dataset ``<import>-<predictor>`` (here, before the predictor is accepted: an import is seconds
    for a million rows)."""
    by_dataset: dict[str, dict[str, str]] = {}
    for c in configs:
        name, changes = c["AttributeName"], dict(c["Transformations"])
        which = "target" if name == data.target_field else "related" if name in data.related_fields else None
        if which is None:
            raise invalid(f"AttributeConfigs: {name!r} is not the target field or an attribute of the related dataset")
        unknown = sorted(set(changes) - set(FILL_KEYS) - {"aggregation"} - {f"{k}_value" for k in FILL_KEYS})
        if unknown:
            raise invalid(f"AttributeConfigs: {name}: unknown transformations {unknown}")
        merged = by_dataset.setdefault(which, {})
        for key, value in changes.items():
            if merged.get(key, value) != value:
                raise invalid(f"AttributeConfigs: the related attributes must share their fill methods ({key})")
            merged[key] = value
    for which, changes in by_dataset.items():
        ours = data.target if which == "target" else data.related
        assert ours is not None
        derived = _reimport(ctx, ours, f"{ours}-{predictor}", changes)
        if derived is not None:
            data = dataclasses.replace(data, **{which: derived})
    return data


def _reimport(ctx: AwsContext, ours: str, derived: str, changes: dict[str, str]) -> str | None:
    """``ours`` imported again with ``changes`` as ``derived``; ``None`` when nothing changes."""
    from datasets import import_dataset
    from datasets.long_format import LongFormat

    r = ctx.registry.get(Kind.DATASET, ours)
    if "long_format" not in r.spec:
        raise invalid(f"AttributeConfigs: dataset {ours!r} was imported as JSON lines, which this service cannot "
                      "fill again; import it in long format")
    fmt = LongFormat.model_validate(r.spec["long_format"])
    filling = fmt.filling.model_dump()
    values = {changes[f"{k}_value"] for k in FILL_KEYS if f"{k}_value" in changes}
    if len(values) > 1:
        raise invalid("AttributeConfigs: one fill value per dataset here (middlefill_value, backfill_value and "
                      "futurefill_value must agree)")
    try:
        filling |= {k: changes[k] for k in FILL_KEYS if k in changes}
        if values:
            filling["fill_value"] = float(values.pop())
        updated = LongFormat.model_validate({**fmt.model_dump(), "filling": filling,
                                             "aggregation": changes.get("aggregation", fmt.aggregation)})
    except ValueError as e:
        raise invalid(f"AttributeConfigs: {e}") from None
    if updated == fmt:
        return None
    if ctx.registry.exists(Kind.DATASET, derived):
        ctx.registry.get_active(Kind.DATASET, derived)
        return derived
    import_dataset(ctx.state.runtime.workspace, ctx.registry, derived, r.spec["source"], freq=r.spec.get("freq"),
                   layout="long", long=updated,
                   source_options=ctx.state.runtime.settings.storage_options(r.spec["source"]))
    return derived


def _register_predictor(ctx: AwsContext, name: str, data: GroupData, hp: dict[str, Any], holidays: list[str],
                        record: dict[str, Any]) -> None:
    from forecast.config import Hyperparameters
    from forecast.features import FeatureInputs
    from forecast.predictors import register_predictor

    try:
        hyperparameters = Hyperparameters.model_validate(hp)
    except ValueError as e:
        raise invalid(str(e)) from None
    features = FeatureInputs(related=data.related, metadata=data.metadata, holidays=holidays)
    register_predictor(ctx.registry, name, dataset=data.target, hyperparameters=hyperparameters, features=features)
    ctx.catalog.delete("predictor", name)  # a record left by a predictor deleted over /v1
    ctx.catalog.put("predictor", name, {**record, "DatasetImportJobArns": data.import_arns})
    ctx.start(Kind.PREDICTOR, name)


@operation("CreateAutoPredictor")
def create_auto_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name = p["PredictorName"]
    if p.get("ReferencePredictorArn"):
        raise invalid("ReferencePredictorArn (retraining) is not supported: create a new predictor")
    if p.get("ExplainPredictor") or p.get("MonitorConfig") or p.get("TimeAlignmentBoundary"):
        raise invalid("ExplainPredictor, MonitorConfig and TimeAlignmentBoundary are not supported by this service")
    for field in ("DataConfig", "ForecastHorizon", "ForecastFrequency"):
        if field not in p:
            raise invalid(f"{field} is required")
    data = _group_data(ctx, p["DataConfig"]["DatasetGroupArn"])
    _check_frequency_and_dimensions(data, p["ForecastFrequency"], p.get("ForecastDimensions"))
    holidays = _holidays(p["DataConfig"].get("AdditionalDatasets") or [])
    types = _types(p.get("ForecastTypes"))
    ctx.registry.require_free(Kind.PREDICTOR, name)  # before a featurization re-import, not after
    data = _featurized(ctx, data, name, p["DataConfig"].get("AttributeConfigs") or [])
    hp = {**ctx.state.runtime.settings.auto_predictor_hyperparameters, "prediction_length": p["ForecastHorizon"],
          "algorithm": "auto", **_selection_metric(p)}
    _register_predictor(ctx, name, data, hp, holidays,
                        {"IsAutoPredictor": True, "ForecastTypes": types,
                         **{k: p.get(k) for k in ("ForecastFrequency", "ForecastDimensions", "DataConfig",
                                                  "OptimizationMetric")}})
    return {"PredictorArn": ctx.arn("predictor", name)}


def _holidays(additional: list[dict[str, Any]]) -> list[str]:
    codes: list[str] = []
    for d in additional:
        if d["Name"] != "holiday":
            raise invalid(f"AdditionalDatasets: {d['Name']!r} is not supported (only 'holiday')")
        codes += list((d.get("Configuration") or {}).get("CountryCode") or [])
    if len(codes) > 20:
        raise AwsError("LimitExceededException", "at most 20 holiday country codes")
    return codes


def _types(types: list[str] | None) -> list[str]:
    from forecast.types import parse_types

    try:
        return [t.label for t in parse_types(types or DEFAULT_TYPES)]
    except ValueError as e:
        raise invalid(f"ForecastTypes: {e}") from None


def _selection_metric(p: dict[str, Any]) -> dict[str, str]:
    """An auto predictor's OptimizationMetric: the metric its weight selection scores."""
    metric = p.get("OptimizationMetric")
    return {"selection_metric": OPTIMIZATION_METRICS[metric]} if metric else {}


@operation("CreatePredictor")
def create_predictor_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name = p["PredictorName"]
    if p.get("PerformHPO") or p.get("HPOConfig"):
        raise invalid("PerformHPO and HPOConfig are not supported: give TrainingParameters")
    if p.get("PerformAutoML"):
        algorithm = "auto"
    else:
        arn = p.get("AlgorithmArn")
        if not arn:
            raise invalid("give AlgorithmArn, or PerformAutoML true")
        suffix = arn.rsplit("/", 1)[-1] if arn.startswith("arn:aws:forecast:::algorithm/") else None
        if suffix not in ALGORITHMS:
            raise invalid(f"AlgorithmArn {arn!r} is not supported; use one of "
                          + ", ".join(f"arn:aws:forecast:::algorithm/{a}" for a in ALGORITHMS))
        algorithm = ALGORITHMS[suffix]
    hp: dict[str, Any] = {"prediction_length": p["ForecastHorizon"], "algorithm": algorithm,
                          **(_selection_metric(p) if algorithm == "auto" else {})}
    unknown = sorted(set(p.get("TrainingParameters") or {}) - set(TRAINING_PARAMETERS))
    if unknown:
        raise invalid(f"TrainingParameters {unknown} are not supported; supported: {', '.join(TRAINING_PARAMETERS)}")
    if p.get("TrainingParameters") and algorithm != "deepar":
        raise invalid("TrainingParameters apply to Deep_AR_Plus only")
    hp |= {TRAINING_PARAMETERS[k]: v for k, v in (p.get("TrainingParameters") or {}).items()}
    evaluation = p.get("EvaluationParameters") or {}
    if evaluation.get("BackTestWindowOffset") not in (None, p["ForecastHorizon"]):
        raise invalid("EvaluationParameters.BackTestWindowOffset must equal ForecastHorizon here")
    if evaluation.get("NumberOfBacktestWindows"):
        hp["backtest_windows"] = evaluation["NumberOfBacktestWindows"]
    data = _group_data(ctx, p["InputDataConfig"]["DatasetGroupArn"])
    featurization = p["FeaturizationConfig"]
    _check_frequency_and_dimensions(data, featurization["ForecastFrequency"], featurization.get("ForecastDimensions"))
    ctx.registry.require_free(Kind.PREDICTOR, name)  # before a featurization re-import, not after
    data = _featurized(ctx, data, name, [
        {"AttributeName": f["AttributeName"], "Transformations": m.get("FeaturizationMethodParameters") or {}}
        for f in featurization.get("Featurizations") or [] for m in f.get("FeaturizationPipeline") or []])
    holidays = []
    for f in p["InputDataConfig"].get("SupplementaryFeatures") or []:
        if f["Name"] != "holiday":
            raise invalid(f"SupplementaryFeatures: {f['Name']!r} is not supported (only 'holiday')")
        holidays.append(f["Value"])
    _register_predictor(ctx, name, data, hp, holidays, {
        "IsAutoPredictor": False, "ForecastTypes": _types(p.get("ForecastTypes")),
        **{k: p.get(k) for k in ("AlgorithmArn", "PerformAutoML", "TrainingParameters", "EvaluationParameters",
                                 "InputDataConfig", "FeaturizationConfig", "OptimizationMetric")}})
    return {"PredictorArn": ctx.arn("predictor", name)}


def _predictor(ctx: AwsContext, arn: str) -> tuple[str, Resource, dict[str, Any]]:
    (name,) = ctx.names(arn, "predictor")
    r = ctx.resource(Kind.PREDICTOR, name, "predictor")
    rec = ctx.catalog.get("predictor", name)
    return name, r, rec.body if rec is not None else {}


def _algorithm(r: Resource) -> str:
    return str(r.spec.get("hyperparameters", {}).get("algorithm", "deepar"))


def _algorithm_arn(algorithm: str) -> str:
    return f"arn:aws:forecast:::algorithm/{OUR_ALGORITHM_NAMES.get(algorithm, algorithm)}"


def _group_arn(body: dict[str, Any]) -> str | None:
    return (body.get("DataConfig") or {}).get("DatasetGroupArn") or (body.get("InputDataConfig") or {}).get("DatasetGroupArn")


@operation("DescribeAutoPredictor")
def describe_auto_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, r, body = _predictor(ctx, p["PredictorArn"])
    hp = r.spec.get("hyperparameters", {})
    return {"PredictorArn": p["PredictorArn"], "PredictorName": name, "ForecastHorizon": hp.get("prediction_length"),
            "ForecastTypes": body.get("ForecastTypes") or DEFAULT_TYPES,
            "ForecastFrequency": body.get("ForecastFrequency") or r.result.get("freq"),
            "ForecastDimensions": body.get("ForecastDimensions"), "DatasetImportJobArns": body.get("DatasetImportJobArns"),
            "DataConfig": body.get("DataConfig"), "OptimizationMetric": body.get("OptimizationMetric"),
            **_status(r), **_times(r)}


@operation("DescribePredictor")
def describe_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, r, body = _predictor(ctx, p["PredictorArn"])
    hp = r.spec.get("hyperparameters", {})
    algorithm = _algorithm(r)
    members = hp.get("members") if algorithm == "auto" else None
    featurization = body.get("FeaturizationConfig") or {"ForecastFrequency": body.get("ForecastFrequency")
                                                        or r.result.get("freq") or "D"}
    return {"PredictorArn": p["PredictorArn"], "PredictorName": name, "AlgorithmArn": _algorithm_arn(algorithm),
            "AutoMLAlgorithmArns": [_algorithm_arn(m) for m in members] if members else None,
            "ForecastHorizon": hp.get("prediction_length"), "ForecastTypes": body.get("ForecastTypes") or DEFAULT_TYPES,
            "PerformAutoML": algorithm == "auto", "PerformHPO": False,
            "TrainingParameters": {k: str(v) for k, v in (body.get("TrainingParameters") or {}).items()},
            "EvaluationParameters": {"NumberOfBacktestWindows": hp.get("backtest_windows", 1),
                                     "BackTestWindowOffset": hp.get("prediction_length")},
            "InputDataConfig": body.get("InputDataConfig") or ({"DatasetGroupArn": _group_arn(body)} if _group_arn(body)
                                                               else None),
            "FeaturizationConfig": featurization, "DatasetImportJobArns": body.get("DatasetImportJobArns"),
            "IsAutoPredictor": bool(body.get("IsAutoPredictor")), "OptimizationMetric": body.get("OptimizationMetric"),
            **_status(r), **_times(r)}


@operation("ListPredictors")
def list_predictors(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = []
    for r in ctx.registry.list(Kind.PREDICTOR):
        rec = ctx.catalog.get("predictor", r.name)
        body = rec.body if rec is not None else {}
        out.append({"PredictorArn": ctx.arn("predictor", r.name), "PredictorName": r.name,
                    "DatasetGroupArn": _group_arn(body), "IsAutoPredictor": bool(body.get("IsAutoPredictor")),
                    **_status(r), **_times(r)})
    return _page(_filtered(out, p.get("Filters"), {"DatasetGroupArn", "Status"}), p, "Predictors")


@operation("DeletePredictor")
def delete_predictor_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.predictors import delete_predictor

    name, r, _ = _predictor(ctx, p["PredictorArn"])
    if r.status.in_flight:
        raise AwsError("ResourceInUseException", f"predictor {name!r} is {r.status.value}; stop it first")
    delete_predictor(ctx.state.runtime.workspace, ctx.registry, name)
    ctx.catalog.delete("predictor", name)
    return {}


def _test_window(a: dict[str, Any], evaluation: str = "SUMMARY", **window: Any) -> dict[str, Any]:
    wql = a.get("wql") or {}
    return {"EvaluationType": evaluation, **window, "ItemCount": a.get("num_items"), "Metrics": {
        "RMSE": a.get("rmse"),
        "WeightedQuantileLosses": [{"Quantile": float(q), "LossValue": v} for q, v in wql.items() if v is not None],
        "ErrorMetrics": [{"ForecastType": "0.5", "WAPE": a.get("wape"), "MASE": a.get("mase"), "MAPE": a.get("mape")},
                         {"ForecastType": "mean", "RMSE": a.get("rmse")}],
        "AverageWeightedQuantileLoss": a.get("mean_wql")}}


@operation("GetAccuracyMetrics")
def get_accuracy_metrics(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.predictors import predictor_metrics, window_accuracy

    name, r, body = _predictor(ctx, p["PredictorArn"])
    if r.status != Status.ACTIVE:
        raise AwsError("ResourceInUseException", f"predictor {name!r} is {r.status.value}; its accuracy metrics "
                       "exist once it is ACTIVE")
    metrics = r.result.get("metrics", {})
    windows = [_test_window(w.accuracy.model_dump(), "COMPUTED", TestWindowStart=w.start, TestWindowEnd=w.end)
               for w in window_accuracy(ctx.state.runtime.workspace, ctx.registry, name)]
    results = [{"AlgorithmArn": _algorithm_arn(_algorithm(r)),
                "TestWindows": [_test_window(predictor_metrics(metrics)), *windows]}]
    results += [{"AlgorithmArn": _algorithm_arn(m), "TestWindows": [_test_window(a)]}
                for m, a in (metrics.get("members") or {}).items()]
    results.append({"AlgorithmArn": _algorithm_arn("seasonal_naive"),
                    "TestWindows": [_test_window(metrics.get("seasonal_naive") or {})]})
    return {"PredictorEvaluationResults": results, "IsAutoPredictor": bool(body.get("IsAutoPredictor")),
            "OptimizationMetric": body.get("OptimizationMetric")}


# -- forecasts -------------------------------------------------------------------------------------
def _forecast(ctx: AwsContext, arn: str) -> tuple[str, Resource]:
    (name,) = ctx.names(arn, "forecast")
    return name, ctx.resource(Kind.FORECAST, name, "forecast")


@operation("CreateForecast")
def create_forecast_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.forecasts import register_forecast

    if p.get("TimeSeriesSelector"):
        raise invalid("TimeSeriesSelector is not supported: forecasts cover every item of the predictor's dataset")
    predictor, _, body = _predictor(ctx, p["PredictorArn"])
    types = _types(p.get("ForecastTypes") or body.get("ForecastTypes"))
    name = p["ForecastName"]
    register_forecast(ctx.state.runtime.workspace, ctx.registry, name, predictor=predictor, types=types)
    ctx.start(Kind.FORECAST, name)
    return {"ForecastArn": ctx.arn("forecast", name)}


def _forecast_summary(ctx: AwsContext, r: Resource) -> dict[str, Any]:
    predictor = r.spec.get("predictor")
    rec = ctx.catalog.get("predictor", predictor) if predictor else None
    body = rec.body if rec is not None else {}
    return {"ForecastArn": ctx.arn("forecast", r.name), "ForecastName": r.name,
            "PredictorArn": ctx.arn("predictor", predictor) if predictor else None,
            "CreatedUsingAutoPredictor": bool(body.get("IsAutoPredictor")), "DatasetGroupArn": _group_arn(body),
            **_status(r), **_times(r)}


@operation("DescribeForecast")
def describe_forecast(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    _, r = _forecast(ctx, p["ForecastArn"])
    summary = _forecast_summary(ctx, r)
    summary.pop("CreatedUsingAutoPredictor")
    return {**summary, "ForecastTypes": list(r.spec.get("types") or [])}


@operation("ListForecasts")
def list_forecasts(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = [_forecast_summary(ctx, r) for r in ctx.registry.list(Kind.FORECAST)]
    return _page(_filtered(out, p.get("Filters"), {"DatasetGroupArn", "PredictorArn", "Status"}), p, "Forecasts")


@operation("DeleteForecast")
def delete_forecast_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.forecasts import delete_forecast

    name, r = _forecast(ctx, p["ForecastArn"])
    if r.status.in_flight:
        raise AwsError("ResourceInUseException", f"forecast {name!r} is {r.status.value}")
    delete_forecast(ctx.state.runtime.workspace, ctx.registry, name)
    ctx.state.forecasts.drop(name)
    return {}


# -- export jobs (forecast and predictor backtest) -------------------------------------------------
def _create_export(ctx: AwsContext, p: dict[str, Any], name: str, *, forecast: str | None = None,
                   backtest_of: str | None = None) -> None:
    from exports.destinations import check_allowed
    from exports.jobs import register_export

    destination = _s3_path(p, "Destination")
    check_allowed(destination, ctx.state.runtime.settings.allowed_export_prefixes)
    fmt = (p.get("Format") or "CSV").lower()
    if fmt not in ("csv", "parquet"):
        raise invalid(f"Format {p.get('Format')!r} is not CSV or PARQUET")
    register_export(ctx.registry, name, forecast=forecast, backtest_of=backtest_of, destination=destination,
                    fmt=fmt)  # type: ignore[arg-type]
    ctx.catalog.delete("export", name)
    ctx.catalog.put("export", name, {"Destination": p["Destination"], "Format": fmt.upper()})
    ctx.start(Kind.EXPORT, name)


def _export_view(ctx: AwsContext, r: Resource) -> dict[str, Any]:
    rec = ctx.catalog.get("export", r.name)
    destination = rec.body["Destination"] if rec is not None else {
        "S3Config": {"Path": r.spec.get("destination"), "RoleArn": ""}}
    return {"Destination": destination, "Format": (r.spec.get("format") or "csv").upper(), **_status(r), **_times(r)}


@dataclass(frozen=True)
class ExportJobKind:
    """One of the two export jobs: a forecast's, or a predictor's backtest; both are our exports."""

    job: str  # the operations' noun: ForecastExportJob, PredictorBacktestExportJob
    arn_kind: str  # the job's ARN type
    parent_field: str  # ForecastArn, PredictorArn
    parent_kind: Kind
    spec_key: str  # where our export's spec names its parent: forecast, predictor (a backtest export)
    export_arg: str  # register_export's argument for the parent: forecast, backtest_of

    def job_arn(self, ctx: AwsContext, parent: str, job: str) -> str:
        return ctx.arn(self.arn_kind, parent, job)

    def view(self, ctx: AwsContext, r: Resource) -> dict[str, Any]:
        parent = r.spec[self.spec_key]
        return {f"{self.job}Arn": self.job_arn(ctx, parent, r.name), f"{self.job}Name": r.name,
                self.parent_field: ctx.arn(self.parent_kind.value, parent), **_export_view(ctx, r)}

    def find(self, ctx: AwsContext, arn: str) -> Resource:
        parent, job = ctx.names(arn, self.arn_kind, 2)
        r = ctx.resource(Kind.EXPORT, job, "export job")
        if r.spec.get(self.spec_key) != parent:
            raise not_found(f"export job {job!r} of {parent!r} does not exist")
        return r


def _export_operations(kind: ExportJobKind) -> None:
    """Create, Describe, List and Delete<kind.job>: the same four operations for both kinds."""

    def create(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
        (parent,) = ctx.names(p[kind.parent_field], kind.parent_kind.value)
        ctx.resource(kind.parent_kind, parent, kind.parent_kind.value)
        name = p[f"{kind.job}Name"]
        _create_export(ctx, p, name, **{kind.export_arg: parent})
        return {f"{kind.job}Arn": kind.job_arn(ctx, parent, name)}

    def describe(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
        return kind.view(ctx, kind.find(ctx, p[f"{kind.job}Arn"]))

    def list_jobs(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
        out = [kind.view(ctx, r) for r in ctx.registry.list(Kind.EXPORT) if r.spec.get(kind.spec_key)]
        return _page(_filtered(out, p.get("Filters"), {kind.parent_field, "Status"}), p, f"{kind.job}s")

    def delete(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
        from exports.jobs import delete_export

        r = kind.find(ctx, p[f"{kind.job}Arn"])
        if r.status.in_flight:
            raise AwsError("ResourceInUseException", f"export job {r.name!r} is {r.status.value}")
        delete_export(ctx.state.runtime.workspace, ctx.registry, r.name)
        ctx.catalog.delete("export", r.name)
        return {}

    for verb, handler in (("Create", create), ("Describe", describe), ("List", list_jobs), ("Delete", delete)):
        operation(f"{verb}{kind.job}{'s' if verb == 'List' else ''}")(handler)


_export_operations(ExportJobKind("ForecastExportJob", "forecast-export-job", "ForecastArn", Kind.FORECAST, "forecast",
                                 "forecast"))
_export_operations(ExportJobKind("PredictorBacktestExportJob", "predictor-backtest-export-job", "PredictorArn",
                                 Kind.PREDICTOR, "predictor", "backtest_of"))
