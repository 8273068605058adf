"""The managed API's forecasts and export jobs (a forecast's and a predictor's backtest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.aws.kit import AwsContext, filtered, operation, page, s3_path, status_fields, times
from api.aws.predictors_api import current_data, forecast_types, group_arn, predictor_of
from api.aws.wire import invalid, not_found
from resources import Kind, Resource


# -- forecasts -------------------------------------------------------------------------------------
def _forecast(ctx: AwsContext, arn: str) -> tuple[str, Resource]:
    (name,) = ctx.names(arn, "forecast")
    return name, ctx.resource(Kind.FORECAST, name, "forecast")


@operation("CreateForecast")
def create_forecast_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.forecasts import register_forecast

    if p.get("TimeSeriesSelector"):
        raise invalid("TimeSeriesSelector is not supported: forecasts cover every item of the predictor's dataset")
    predictor, r, body = predictor_of(ctx, p["PredictorArn"])
    types = forecast_types(p.get("ForecastTypes") or body.get("ForecastTypes"))
    name = p["ForecastName"]
    ctx.registry.require_free(Kind.FORECAST, name)  # before a featurization re-import, not after
    data = current_data(ctx, predictor, body)
    newer = {} if data is None else {  # imports since the predictor was trained replace what it read
        "dataset": data.target if data.target != r.spec.get("dataset") else None,
        "related": data.related if r.spec.get("related") and data.related != r.spec["related"] else None,
        "metadata": data.metadata if r.spec.get("metadata") and data.metadata != r.spec["metadata"] else None}
    register_forecast(ctx.state.runtime.workspace, ctx.registry, name, predictor=predictor, types=types, **newer)
    ctx.start(Kind.FORECAST, name)
    return {"ForecastArn": ctx.arn("forecast", name)}


def _forecast_summary(ctx: AwsContext, r: Resource) -> dict[str, Any]:
    predictor = r.spec.get("predictor")
    rec = ctx.catalog.get("predictor", predictor) if predictor else None
    body = rec.body if rec is not None else {}
    return {"ForecastArn": ctx.arn("forecast", r.name), "ForecastName": r.name,
            "PredictorArn": ctx.arn("predictor", predictor) if predictor else None,
            "CreatedUsingAutoPredictor": bool(body.get("IsAutoPredictor")), "DatasetGroupArn": group_arn(body),
            **status_fields(r), **times(r)}


@operation("DescribeForecast")
def describe_forecast(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    _, r = _forecast(ctx, p["ForecastArn"])
    summary = _forecast_summary(ctx, r)
    summary.pop("CreatedUsingAutoPredictor")
    return {**summary, "ForecastTypes": list(r.spec.get("types") or [])}


@operation("ListForecasts")
def list_forecasts(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = [_forecast_summary(ctx, r) for r in ctx.registry.list(Kind.FORECAST)]
    return page(filtered(out, p.get("Filters"), {"DatasetGroupArn", "PredictorArn", "Status"}), p, "Forecasts")


@operation("DeleteForecast")
def delete_forecast_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.forecasts import delete_forecast

    name, _ = _forecast(ctx, p["ForecastArn"])  # in flight or in use: the shared guard refuses (ResourceInUse)
    delete_forecast(ctx.state.runtime.workspace, ctx.registry, name)
    ctx.state.forecasts.drop(name)
    return {}


# -- export jobs (forecast and predictor backtest) -------------------------------------------------
def _create_export(ctx: AwsContext, p: dict[str, Any], name: str, *, forecast: str | None = None,
                   backtest_of: str | None = None) -> None:
    from exports.jobs import register_export
    from resources.locations import check_allowed

    destination = s3_path(p, "Destination")
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
    return {"Destination": destination, "Format": (r.spec.get("format") or "csv").upper(), **status_fields(r), **times(r)}


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
        return page(filtered(out, p.get("Filters"), {kind.parent_field, "Status"}), p, f"{kind.job}s")

    def delete(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
        from exports.jobs import delete_export

        r = kind.find(ctx, p[f"{kind.job}Arn"])
        delete_export(ctx.state.runtime.workspace, ctx.registry, r.name)
        ctx.catalog.delete("export", r.name)
        return {}

    for verb, handler in (("Create", create), ("Describe", describe), ("List", list_jobs), ("Delete", delete)):
        operation(f"{verb}{kind.job}{'s' if verb == 'List' else ''}")(handler)


EXPORT_JOB_KINDS = (
    ExportJobKind("ForecastExportJob", "forecast-export-job", "ForecastArn", Kind.FORECAST, "forecast", "forecast"),
    ExportJobKind("PredictorBacktestExportJob", "predictor-backtest-export-job", "PredictorArn", Kind.PREDICTOR,
                  "predictor", "backtest_of"),
)
for _kind in EXPORT_JOB_KINDS:
    _export_operations(_kind)
