"""The managed API's predictors (auto and by algorithm) and their accuracy metrics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from api.aws.datasets_api import DATASET_TYPES, dataset_view, group_of, import_jobs, pandas_freq
from api.aws.kit import AwsContext, filtered, operation, page, status_fields, times
from api.aws.wire import AwsError, invalid, not_found
from forecast.config import DEEPAR_OPTIONS
from resources import Kind, Resource, Status

#: AlgorithmArn suffixes and our algorithms; the others (Prophet, CNN-QR) are refused by name.
ALGORITHMS = {"Deep_AR_Plus": "deepar", "ETS": "ets", "ARIMA": "arima", "NPTS": "npts"}
OUR_ALGORITHM_NAMES = {"deepar": "Deep_AR_Plus", "ets": "ETS", "arima": "ARIMA", "npts": "NPTS", "theta": "Theta",
                       "ces": "CES", "seasonal_naive": "Seasonal_Naive", "auto": "AutoPredictor"}
#: DeepAR+ TrainingParameters: DeepAR's options under their own names (the managed service's words),
#: values as text, cast and checked by the one option model (``Hyperparameters.from_values``).
TRAINING_PARAMETERS = DEEPAR_OPTIONS
DEFAULT_TYPES = ["0.1", "0.5", "0.9"]
#: OptimizationMetric and what an auto predictor's weight selection then scores (selection_metric).
OPTIMIZATION_METRICS = {"AverageWeightedQuantileLoss": "wql", "WAPE": "wape", "RMSE": "rmse", "MASE": "mase",
                        "MAPE": "mape"}


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
    _, rec = group_of(ctx, group_arn)
    found: dict[str, tuple[str, str]] = {}
    for arn in rec.body["DatasetArns"]:
        (dataset,) = ctx.names(arn, "dataset")
        view = dataset_view(ctx, dataset)
        if view is None:
            raise not_found(f"dataset {dataset!r} of the dataset group does not exist")
        kind = DATASET_TYPES[view["DatasetType"]]
        candidates = [(j.body["ours"], ctx.arn("dataset-import-job", dataset, j.body["job"]))
                      for j in import_jobs(ctx, dataset)]
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
        wanted = normalize_freq(pandas_freq(freq))
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


def _attribute_configs(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A predictor request's featurization as ``AttributeConfigs`` (CreateAutoPredictor's own;
    CreatePredictor's ``Featurizations`` pipelines, converted)."""
    if (request.get("DataConfig") or {}).get("AttributeConfigs"):
        return list(request["DataConfig"]["AttributeConfigs"])
    featurizations = (request.get("FeaturizationConfig") or {}).get("Featurizations") or []
    return [{"AttributeName": f["AttributeName"], "Transformations": m.get("FeaturizationMethodParameters") or {}}
            for f in featurizations for m in f.get("FeaturizationPipeline") or []]


def current_data(ctx: AwsContext, predictor: str, body: dict[str, Any]) -> GroupData | None:
    """What the managed service forecasts from: the predictor's dataset group's data now (each
    dataset's latest ACTIVE import, so a FULL import after training replaces what forecasts read),
    with the predictor's featurization; ``None`` for a predictor without a dataset group (made
    over ``/v1``), or whose group is gone."""
    group = group_arn(body)
    if not group or ctx.catalog.get("dataset_group", ctx.names(group, "dataset-group")[0]) is None:
        return None
    return _featurized(ctx, _group_data(ctx, group), predictor, _attribute_configs(body))


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
                        monitor: str | None, record: dict[str, Any], tuned_by: str | None = None) -> None:
    from forecast.config import Hyperparameters
    from forecast.features import FeatureInputs
    from forecast.predictors import register_predictor

    try:
        hyperparameters = Hyperparameters.from_values(hp)
    except ValueError as e:
        raise invalid(str(e)) from None
    features = FeatureInputs(related=data.related, metadata=data.metadata, holidays=holidays)
    register_predictor(ctx.registry, name, dataset=data.target, hyperparameters=hyperparameters, features=features,
                       monitor=monitor, tuned_by=tuned_by)
    ctx.catalog.delete("predictor", name)  # a record left by a predictor deleted over /v1
    ctx.catalog.put("predictor", name, {**record, "DatasetImportJobArns": data.import_arns})
    ctx.start(Kind.PREDICTOR, name)


@operation("CreateAutoPredictor")
def create_auto_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name = p["PredictorName"]
    if p.get("ExplainPredictor") or p.get("TimeAlignmentBoundary"):
        raise invalid("ExplainPredictor and TimeAlignmentBoundary are not supported by this service")
    if p.get("ReferencePredictorArn"):
        return _retrain(ctx, name, p)
    for field in ("DataConfig", "ForecastHorizon", "ForecastFrequency"):
        if field not in p:
            raise invalid(f"{field} is required")
    data = _group_data(ctx, p["DataConfig"]["DatasetGroupArn"])
    _check_frequency_and_dimensions(data, p["ForecastFrequency"], p.get("ForecastDimensions"))
    holidays = _holidays(p["DataConfig"].get("AdditionalDatasets") or [])
    types = forecast_types(p.get("ForecastTypes"))
    ctx.registry.require_free(Kind.PREDICTOR, name)  # before a featurization re-import, not after
    data = _featurized(ctx, data, name, _attribute_configs(p))
    hp = {**ctx.state.runtime.settings.auto_predictor_hyperparameters, "prediction_length": p["ForecastHorizon"],
          "algorithm": "auto", **_selection_metric(p)}
    _register_predictor(ctx, name, data, hp, holidays, (p.get("MonitorConfig") or {}).get("MonitorName"),
                        {"IsAutoPredictor": True, "ForecastTypes": types,
                         **{k: p.get(k) for k in ("ForecastFrequency", "ForecastDimensions", "DataConfig",
                                                  "OptimizationMetric")}})
    return {"PredictorArn": ctx.arn("predictor", name)}


def _retrain(ctx: AwsContext, name: str, p: dict[str, Any]) -> dict[str, Any]:
    """CreateAutoPredictor with ReferencePredictorArn: the reference's configuration trained again
    on the latest data of its dataset group (the managed service's retraining)."""
    from forecast.predictors import register_retrain

    (reference,) = ctx.names(p["ReferencePredictorArn"], "predictor")
    if not ctx.registry.exists(Kind.PREDICTOR, reference):
        raise not_found(f"predictor {reference!r} does not exist")
    if set(p) - {"PredictorName", "ReferencePredictorArn", "Tags"}:
        raise invalid("a retraining (ReferencePredictorArn) takes the reference's configuration: give only "
                      "PredictorName and ReferencePredictorArn")
    record = ctx.catalog.get("predictor", reference)
    register_retrain(ctx.registry, name, reference=reference)
    ctx.catalog.delete("predictor", name)
    ctx.catalog.put("predictor", name, {**(record.body if record else {"IsAutoPredictor": True}),
                                        "ReferencePredictorArn": p["ReferencePredictorArn"]})
    ctx.start(Kind.PREDICTOR, name)
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


def forecast_types(types: list[str] | None) -> list[str]:
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
    if p.get("HPOConfig") and not p.get("PerformHPO"):
        raise invalid("HPOConfig needs PerformHPO true")
    if p.get("PerformHPO") and p.get("PerformAutoML"):
        raise invalid("PerformHPO needs PerformAutoML false and an AlgorithmArn")
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
    hp |= p.get("TrainingParameters") or {}
    evaluation = p.get("EvaluationParameters") or {}
    if evaluation.get("BackTestWindowOffset") not in (None, p["ForecastHorizon"]):
        raise invalid("EvaluationParameters.BackTestWindowOffset must equal ForecastHorizon here")
    if evaluation.get("NumberOfBacktestWindows"):
        hp["backtest_windows"] = evaluation["NumberOfBacktestWindows"]
    data = _group_data(ctx, p["InputDataConfig"]["DatasetGroupArn"])
    featurization = p["FeaturizationConfig"]
    _check_frequency_and_dimensions(data, featurization["ForecastFrequency"], featurization.get("ForecastDimensions"))
    ctx.registry.require_free(Kind.PREDICTOR, name)  # before a featurization re-import, not after
    data = _featurized(ctx, data, name, _attribute_configs({"FeaturizationConfig": featurization}))
    holidays = []
    for f in p["InputDataConfig"].get("SupplementaryFeatures") or []:
        if f["Name"] != "holiday":
            raise invalid(f"SupplementaryFeatures: {f['Name']!r} is not supported (only 'holiday')")
        holidays.append(f["Value"])
    tuned_by = _register_hpo(ctx, name, data, hp, holidays, p.get("HPOConfig")) if p.get("PerformHPO") else None
    try:
        _register_predictor(ctx, name, data, hp, holidays, None, {
            "IsAutoPredictor": False, "ForecastTypes": forecast_types(p.get("ForecastTypes")),
            **{k: p.get(k) for k in ("AlgorithmArn", "PerformAutoML", "PerformHPO", "HPOConfig", "TrainingParameters",
                                     "EvaluationParameters", "InputDataConfig", "FeaturizationConfig",
                                     "OptimizationMetric")}}, tuned_by=tuned_by)
    except Exception:
        if tuned_by is not None:  # the predictor was refused: its search is not left behind
            ctx.registry.delete(Kind.TUNING_JOB, tuned_by)
        raise
    return {"PredictorArn": ctx.arn("predictor", name)}


#: PerformHPO: the trials of the search (the managed API has no budget field).
HPO_TRIALS = 10
#: PerformHPO without HPOConfig: Deep_AR_Plus's ranges searched.
DEFAULT_HPO_RANGES = {"learning_rate": {"min": 0.0001, "max": 0.01, "scale": "log"},
                      "num_cells": {"min": 16, "max": 64, "type": "integer"},
                      "num_layers": {"min": 1, "max": 3, "type": "integer"}}


def _register_hpo(ctx: AwsContext, name: str, data: GroupData, hp: dict[str, Any], holidays: list[str],
                  config: dict[str, Any] | None) -> str:
    """PerformHPO: a tuning job ``<name>-hpo`` of :data:`HPO_TRIALS` trials over ``HPOConfig``'s
    ranges (or :data:`DEFAULT_HPO_RANGES`), minimising mean wQL on the window before the
    backtest's; the predictor runs it first and trains with its best setting. Its name."""
    from api.operator_specs import parameter_ranges
    from forecast.tuning import register_tuning_job
    from forecast.tuning_kind import TuningJobCreate

    if hp["algorithm"] != "deepar":
        raise invalid("PerformHPO: this service tunes arn:aws:forecast:::algorithm/Deep_AR_Plus only")
    ranges = parameter_ranges(config["ParameterRanges"], "HPOConfig") if config and config.get(
        "ParameterRanges") else DEFAULT_HPO_RANGES
    unknown = sorted(set(ranges) - set(TRAINING_PARAMETERS))
    if unknown:
        raise invalid(f"HPOConfig.ParameterRanges {unknown} are not supported; supported: "
                      f"{', '.join(TRAINING_PARAMETERS)}")
    try:
        request = TuningJobCreate(name=f"{name}-hpo", dataset=data.target, hyperparameters=hp, ranges=ranges,
                                  max_jobs=HPO_TRIALS, related=data.related, metadata=data.metadata,
                                  holidays=holidays)
    except ValueError as e:
        raise invalid(f"HPOConfig: {e}") from None
    return register_tuning_job(ctx.registry, request).name


def predictor_of(ctx: AwsContext, arn: str) -> tuple[str, Resource, dict[str, Any]]:
    (name,) = ctx.names(arn, "predictor")
    r = ctx.resource(Kind.PREDICTOR, name, "predictor")
    rec = ctx.catalog.get("predictor", name)
    return name, r, rec.body if rec is not None else {}


def _algorithm(r: Resource) -> str:
    return str(r.spec.get("hyperparameters", {}).get("algorithm", "deepar"))


def _algorithm_arn(algorithm: str) -> str:
    return f"arn:aws:forecast:::algorithm/{OUR_ALGORITHM_NAMES.get(algorithm, algorithm)}"


def group_arn(body: dict[str, Any]) -> str | None:
    return (body.get("DataConfig") or {}).get("DatasetGroupArn") or (body.get("InputDataConfig") or {}).get("DatasetGroupArn")


def monitor_status(r: Resource) -> str:
    """A monitor's ``Status``: ours while it is created, ``ACTIVE_STOPPED`` while stopped."""
    if r.status == Status.ACTIVE and r.result.get("state", "ACTIVE") == "STOPPED":
        return "ACTIVE_STOPPED"
    return r.status.value


def _monitor_info(ctx: AwsContext, predictor: str) -> dict[str, Any] | None:
    """``MonitorInfo`` of a predictor: its first monitor, if any."""
    watching = sorted((m for m in ctx.registry.list(Kind.MONITOR) if m.spec.get("predictor") == predictor),
                      key=lambda m: m.created_at)
    return {"MonitorArn": ctx.arn("monitor", watching[0].name), "Status": monitor_status(watching[0])} \
        if watching else None


def _reference_summary(ctx: AwsContext, r: Resource) -> dict[str, Any] | None:
    reference = r.spec.get("reference")
    if not reference:
        return None
    return {"Arn": ctx.arn("predictor", reference),
            "State": "Active" if ctx.registry.exists(Kind.PREDICTOR, reference) else "Deleted"}


@operation("DescribeAutoPredictor")
def describe_auto_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, r, body = predictor_of(ctx, p["PredictorArn"])
    hp = r.spec.get("hyperparameters", {})
    return {"PredictorArn": p["PredictorArn"], "PredictorName": name, "ForecastHorizon": hp.get("prediction_length"),
            "ForecastTypes": body.get("ForecastTypes") or DEFAULT_TYPES,
            "ForecastFrequency": body.get("ForecastFrequency") or r.result.get("freq"),
            "ForecastDimensions": body.get("ForecastDimensions"), "DatasetImportJobArns": body.get("DatasetImportJobArns"),
            "DataConfig": body.get("DataConfig"), "OptimizationMetric": body.get("OptimizationMetric"),
            "ReferencePredictorSummary": _reference_summary(ctx, r), "MonitorInfo": _monitor_info(ctx, name),
            **status_fields(r), **times(r)}


@operation("DescribePredictor")
def describe_predictor(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    name, r, body = predictor_of(ctx, p["PredictorArn"])
    hp = r.spec.get("hyperparameters", {})
    algorithm = _algorithm(r)
    members = hp.get("members") if algorithm == "auto" else None
    featurization = body.get("FeaturizationConfig") or {"ForecastFrequency": body.get("ForecastFrequency")
                                                        or r.result.get("freq") or "D"}
    return {"PredictorArn": p["PredictorArn"], "PredictorName": name, "AlgorithmArn": _algorithm_arn(algorithm),
            "AutoMLAlgorithmArns": [_algorithm_arn(m) for m in members] if members else None,
            "ForecastHorizon": hp.get("prediction_length"), "ForecastTypes": body.get("ForecastTypes") or DEFAULT_TYPES,
            "PerformAutoML": algorithm == "auto", "PerformHPO": bool(body.get("PerformHPO")),
            "HPOConfig": body.get("HPOConfig"), "TrainingParameters": _training_parameters(r, body),
            "EvaluationParameters": {"NumberOfBacktestWindows": hp.get("backtest_windows", 1),
                                     "BackTestWindowOffset": hp.get("prediction_length")},
            "InputDataConfig": body.get("InputDataConfig") or ({"DatasetGroupArn": group_arn(body)} if group_arn(body)
                                                               else None),
            "FeaturizationConfig": featurization, "DatasetImportJobArns": body.get("DatasetImportJobArns"),
            "IsAutoPredictor": bool(body.get("IsAutoPredictor")), "OptimizationMetric": body.get("OptimizationMetric"),
            **status_fields(r), **times(r)}


def _training_parameters(r: Resource, body: dict[str, Any]) -> dict[str, str]:
    """The TrainingParameters given, and with PerformHPO the values its search chose."""
    given = {k: str(v) for k, v in (body.get("TrainingParameters") or {}).items()}
    if not body.get("PerformHPO"):
        return given
    from api.operator_specs import parameter_ranges

    config = body.get("HPOConfig") or {}
    searched = parameter_ranges(config["ParameterRanges"], "HPOConfig") if config.get("ParameterRanges") \
        else DEFAULT_HPO_RANGES
    hp = r.spec.get("hyperparameters", {})
    return given | {k: str(hp[k]) for k in searched if k in hp}


@operation("ListPredictors")
def list_predictors(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    out = []
    predictors = ctx.registry.list(Kind.PREDICTOR)
    searches = {r.spec["tuned_by"] for r in predictors if r.spec.get("tuned_by")}
    for r in predictors:
        if r.spec.get("tuning_job") in searches:  # a PerformHPO search's trial: the managed API has none
            continue
        rec = ctx.catalog.get("predictor", r.name)
        body = rec.body if rec is not None else {}
        out.append({"PredictorArn": ctx.arn("predictor", r.name), "PredictorName": r.name,
                    "DatasetGroupArn": group_arn(body), "IsAutoPredictor": bool(body.get("IsAutoPredictor")),
                    **status_fields(r), **times(r)})
    return page(filtered(out, p.get("Filters"), {"DatasetGroupArn", "Status"}), p, "Predictors")


@operation("DeletePredictor")
def delete_predictor_op(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    from forecast.predictors import delete_predictor

    name, _, _ = predictor_of(ctx, p["PredictorArn"])  # in flight or in use: the shared guard refuses
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
    from forecast.backtest_reports import window_accuracy
    from forecast.predictors import predictor_metrics

    name, r, body = predictor_of(ctx, p["PredictorArn"])
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


