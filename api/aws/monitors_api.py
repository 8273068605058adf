"""The managed API's predictor monitoring (``CreateMonitor`` .. ``ListMonitorEvaluations``) and
``StopResource`` / ``ResumeResource``, on our monitors (:mod:`forecast.monitors`).

A monitor's ``Status`` is ours while it is created (``CREATE_PENDING`` .. ``ACTIVE``), then
``ACTIVE_STOPPED`` while stopped. Each of our evaluations is one ``PredictorMonitorEvaluation``:
its metrics as ``MetricResults`` (the service's names ``AverageWeightedQuantileLoss``, ``WAPE``,
``RMSE``, ``MASE``, ``MAPE``, and per quantile ``WeightedQuantileLoss_0.1`` and ``Coverage_0.1``),
the forecast and the import that brought the actuals as ``MonitorDataSource``, and a flagged
evaluation (live mean wQL above the monitor's ratio times the backtest's) as a ``PredictorEvent``.
"""

from __future__ import annotations

from typing import Any

from api.aws.kit import AwsContext, filtered, operation, page, times
from api.aws.predictors_api import monitor_status, predictor_of
from api.aws.wire import AwsError, invalid
from resources import ConflictError, Kind, Resource, Status

#: Our metric names -> the service's.
METRIC_NAMES = {"mean_wql": "AverageWeightedQuantileLoss", "wape": "WAPE", "rmse": "RMSE", "mase": "MASE",
                "mape": "MAPE"}


def _monitor(ctx: AwsContext, arn: str) -> Resource:
    (name,) = ctx.names(arn, "monitor")
    return ctx.resource(Kind.MONITOR, name, "monitor")


def _summary(ctx: AwsContext, r: Resource) -> dict[str, Any]:
    return {"MonitorArn": ctx.arn("monitor", r.name), "MonitorName": r.name,
            "ResourceArn": ctx.arn("predictor", r.spec["predictor"]), "Status": monitor_status(r), **times(r)}


@operation("CreateMonitor")
def create_monitor_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.monitors import register_monitor

    predictor, r, _ = predictor_of(ctx, p["ResourceArn"])
    if r.status not in (Status.ACTIVE, *(s for s in Status if s.in_flight)):
        raise AwsError("ResourceInUseException", f"predictor {predictor!r} is {r.status.value}; a monitor watches "
                       "a predictor that is ACTIVE or being trained")
    register_monitor(ctx.registry, p["MonitorName"], predictor)
    ctx.start(Kind.MONITOR, p["MonitorName"])
    return {"MonitorArn": ctx.arn("monitor", p["MonitorName"])}


@operation("DescribeMonitor")
def describe_monitor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.predictor_kind import predictor_metrics

    r = _monitor(ctx, p["MonitorArn"])
    evaluations = r.result.get("evaluations") or []
    latest = evaluations[-1] if evaluations else None
    predictor = ctx.registry.get(Kind.PREDICTOR, r.spec["predictor"])
    backtest = predictor_metrics(predictor.result.get("metrics") or {})
    baseline = [{"Name": aws, "Value": backtest[ours]} for ours, aws in METRIC_NAMES.items()
                if backtest.get(ours) is not None]
    return {**_summary(ctx, r), "Message": r.message,
            "Baseline": {"PredictorBaseline": {"BaselineMetrics": baseline}} if baseline else None,
            "LastEvaluationTime": latest["created_at"] if latest else None,
            "LastEvaluationState": "SUCCESS" if latest else None}


@operation("ListMonitors")
def list_monitors(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = [_summary(ctx, r) for r in ctx.registry.list(Kind.MONITOR)]
    return page(filtered(out, p.get("Filters"), {"Status"}), p, "Monitors")


def _import_arn(ctx: AwsContext, dataset: str, version: int) -> str | None:
    """The ARN of the import job that made ``version`` of our dataset, when a boto3 client made it."""
    from datasets.versions import dataset_versions

    if not ctx.registry.exists(Kind.DATASET, dataset):
        return None
    found = [v for v in dataset_versions(ctx.registry.get(Kind.DATASET, dataset)) if v.number == version]
    made_by = (found[0].import_name or dataset) if found else None
    for rec in ctx.catalog.list("import_job"):
        if rec.body["ours"] == made_by:
            return ctx.arn("dataset-import-job", rec.body["dataset"], rec.body["job"])
    return None


def _evaluation(ctx: AwsContext, r: Resource, e: dict[str, Any]) -> dict[str, Any]:
    metrics = [{"MetricName": aws, "MetricValue": e[ours]} for ours, aws in METRIC_NAMES.items()
               if e.get(ours) is not None]
    metrics += [{"MetricName": f"WeightedQuantileLoss_{q}", "MetricValue": v} for q, v in e["wql"].items()
                if v is not None]
    metrics += [{"MetricName": f"Coverage_{q}", "MetricValue": v} for q, v in e["coverage"].items() if v is not None]
    forecast = ctx.registry.get(Kind.FORECAST, e["forecast"]) if ctx.registry.exists(Kind.FORECAST, e["forecast"]) \
        else None
    source = {"ForecastArn": ctx.arn("forecast", e["forecast"]), "PredictorArn": ctx.arn("predictor", r.spec["predictor"]),
              "DatasetImportJobArn": _import_arn(ctx, forecast.spec["dataset"], e["dataset_version"])
              if forecast is not None else None}
    event = None
    if e["flagged"]:
        event = {"Detail": f"Degraded: live mean wQL {e['mean_wql']:.4f} is {e['ratio']:.2f}x the backtest's "
                           f"{e['backtest_mean_wql']:.4f} (the monitor flags above {r.spec.get('ratio', 1.5)}x); "
                           "consider retraining", "Datetime": e["created_at"]}
    return {"ResourceArn": ctx.arn("predictor", r.spec["predictor"]), "MonitorArn": ctx.arn("monitor", r.name),
            "EvaluationTime": e["created_at"], "EvaluationState": "SUCCESS", "WindowStartDatetime": e["window_start"],
            "WindowEndDatetime": e["window_end"], "PredictorEvent": event, "MonitorDataSource": source,
            "MetricResults": metrics, "NumItemsEvaluated": e["items_evaluated"],
            "Message": f"forecast {e['forecast']!r} on version {e['dataset_version']} of its dataset, "
                       f"{e['points']} points"}


@operation("ListMonitorEvaluations")
def list_monitor_evaluations(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    r = _monitor(ctx, p["MonitorArn"])
    out = [_evaluation(ctx, r, e) for e in reversed(r.result.get("evaluations") or [])]  # newest first
    return page(filtered(out, p.get("Filters"), {"EvaluationState"}), p, "PredictorMonitorEvaluations")


@operation("DeleteMonitor")
def delete_monitor_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from resources.lifecycle import delete_resource

    r = _monitor(ctx, p["MonitorArn"])
    delete_resource(ctx.registry, ctx.state.runtime.workspace, Kind.MONITOR, r.name)
    return {}


def _job(ctx: AwsContext, arn: str) -> Resource:
    """The job an ARN names: a predictor's training, a forecast, an export or a dataset import."""
    from api.aws.datasets_api import import_job
    from api.aws.forecasts_api import EXPORT_JOB_KINDS

    resource_type = arn.split(":", 5)[5].split("/", 1)[0] if isinstance(arn, str) and arn.count(":") >= 5 else ""
    if resource_type in (Kind.PREDICTOR.value, Kind.FORECAST.value):
        (name,) = ctx.names(arn, resource_type)
        return ctx.resource(Kind(resource_type), name, resource_type)
    if resource_type == "dataset-import-job":
        return import_job(ctx, arn)[1]
    for kind in EXPORT_JOB_KINDS:
        if kind.arn_kind == resource_type:
            return kind.find(ctx, arn)
    raise invalid(f"{arn!r}: StopResource stops a monitor, or a predictor, forecast, export or dataset import job "
                  "in progress")


@operation("StopResource")
def stop_resource(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    """A monitor stops evaluating (``ACTIVE_STOPPED``); a job in flight (a predictor's training, a
    forecast, an export, an import) is asked to stop (``CREATE_STOPPING``, then ``CREATE_STOPPED``)."""
    from forecast.monitors import set_state
    from resources.lifecycle import request_stop

    arn = p["ResourceArn"]
    if isinstance(arn, str) and arn.startswith(ctx.arn("monitor", "")):
        set_state(ctx.registry, _monitor(ctx, arn).name, "STOPPED")
        return {}
    job = _job(ctx, arn)
    try:
        request_stop(ctx.registry, job.kind, job.name)
    except ConflictError as e:  # not in flight: the operation's errors have no ResourceInUse
        raise invalid(str(e)) from None
    return {}


@operation("ResumeResource")
def resume_resource(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.monitors import set_state

    r = _monitor(ctx, p["ResourceArn"])
    if r.status != Status.ACTIVE:
        raise AwsError("ResourceInUseException", f"monitor {r.name!r} is {r.status.value}")
    set_state(ctx.registry, r.name, "ACTIVE")
    return {}
