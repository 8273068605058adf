"""The SageMaker operator for Kubernetes' documents (``apiVersion: sagemaker.aws.amazon.com/v1``,
``kind: TrainingJob`` or ``HyperparameterTuningJob``) for the built-in DeepAR image, as our spec
documents (:mod:`resources.specs`): ``forecast apply -f training.yaml`` takes them as they are.

A ``TrainingJob`` becomes the import of its ``train`` channel (DeepAR JSON lines, at
``time_freq``; one dataset per channel and frequency, ``train-<hash>``, shared by the jobs that
read it) and a DeepAR predictor; a ``HyperparameterTuningJob`` the same import and a tuning
job over its parameter ranges. ``hyperParameters`` are name/value strings, cast and then checked
by our option model; ``stoppingCondition.maxRuntimeInSeconds`` stops the job at the limit. Fields
with no meaning here (instances, volumes, roles, the ``test`` channel: our backtest holds out the
end of ``train``) are accepted and reported as ignored, never silently dropped.
"""

from __future__ import annotations

import json
from typing import Any

from resources import InvalidInputError
from resources.specs import SpecDocument

API_VERSION = "sagemaker.aws.amazon.com"
#: The built-in forecasting algorithm's image, whatever its registry and tag.
DEEPAR_IMAGE = "forecasting-deepar"
#: The DeepAR image's objective metrics -> ours.
OBJECTIVES = {"test:mean_wQuantileLoss": "mean_wql", "test:RMSE": "rmse", "test:mean_wql": "mean_wql"}
#: Spec fields that have no meaning on this service (reported as ignored).
IGNORED = ("resourceConfig", "roleArn", "region", "tags", "vpcConfig", "enableNetworkIsolation",
           "enableInterContainerTrafficEncryption", "enableManagedSpotTraining", "checkpointConfig",
           "debugHookConfig", "tensorBoardOutputConfig", "sageMakerEndpoint")


def is_operator_document(raw: Any) -> bool:
    return isinstance(raw, dict) and str(raw.get("apiVersion", "")).startswith(API_VERSION)


def translate(raw: dict[str, Any], where: str) -> tuple[list[SpecDocument], list[str]]:
    """Our documents for one operator document, and what was ignored (one line each).

    Raises
    ------
    InvalidInputError
        Another kind, another algorithm's image, no ``train`` channel, or a hyperparameter value
        that is not one (named with the document).
    """
    kind = raw.get("kind")
    spec = raw.get("spec") or {}
    meta = raw.get("metadata") or {}
    if kind == "TrainingJob":
        name = spec.get("trainingJobName") or meta.get("name")
        definition = spec
    elif kind == "HyperparameterTuningJob":
        name = spec.get("hyperParameterTuningJobName") or meta.get("name")
        definition = spec.get("trainingJobDefinition") or {}
    else:
        raise InvalidInputError(f"{where}: kind {kind!r} of {API_VERSION} is not one this service runs "
                                "(TrainingJob, HyperparameterTuningJob)")
    if not name:
        raise InvalidInputError(f"{where}: the job has no name (metadata.name)")
    image = str((definition.get("algorithmSpecification") or {}).get("trainingImage", ""))
    if DEEPAR_IMAGE not in image:
        raise InvalidInputError(f"{where}: trainingImage {image!r} is not the forecasting algorithm's "
                                f"({DEEPAR_IMAGE}); this service trains that one only")
    ignored = [f"{k}" for k in IGNORED if k in definition or k in spec]
    key = "staticHyperParameters" if kind == "HyperparameterTuningJob" else "hyperParameters"
    hp = {p["name"]: _cast(p.get("value")) for p in definition.get(key) or []}
    hp.pop("_tuning_objective_metric", None)
    if "time_freq" not in hp:
        raise InvalidInputError(f"{where}: {key} need time_freq (the data's frequency)")
    source, more = _train_channel(definition, where)
    ignored += more
    if (definition.get("outputDataConfig") or {}).get("s3OutputPath"):
        ignored.append("outputDataConfig.s3OutputPath (the model is stored in the workspace; "
                       "`forecast exports create --backtest-of` writes its backtest where you say)")
    limit = (definition.get("stoppingCondition") or {}).get("maxRuntimeInSeconds")
    data = SpecDocument(kind="DatasetImport", name=_dataset_name(source, str(hp["time_freq"])),
                        spec={"source": source, "freq": hp["time_freq"], "format": "jsonlines"})
    fixed = {**hp, "algorithm": "deepar"}
    if kind == "TrainingJob":
        return [data, SpecDocument(kind="Predictor", name=name, spec={
            "dataset": data.name, "hyperparameters": fixed,
            **({"max_runtime_seconds": int(limit)} if limit else {})})], ignored
    config = spec.get("hyperParameterTuningJobConfig") or {}
    objective = config.get("hyperParameterTuningJobObjective") or {}
    metric = objective.get("metricName", "test:mean_wQuantileLoss")
    if metric not in OBJECTIVES or objective.get("type", "Minimize") != "Minimize":
        raise InvalidInputError(f"{where}: objective {objective.get('type', 'Minimize')} {metric} is not one "
                                f"this service tunes for; minimise one of {', '.join(OBJECTIVES)}")
    limits = config.get("resourceLimits") or {}
    warm = spec.get("warmStartConfig") or {}
    ignored += [f"hyperParameterTuningJobConfig.{k}" for k in ("strategy", "tuningJobCompletionCriteria")
                if k in config]
    return [data, SpecDocument(kind="TuningJob", name=name, spec={
        "dataset": data.name, "hyperparameters": fixed, "ranges": parameter_ranges(config.get("parameterRanges") or {}, where),
        "objective": OBJECTIVES[metric], "max_jobs": int(limits.get("maxNumberOfTrainingJobs", 20)),
        "max_parallel_jobs": int(limits.get("maxParallelTrainingJobs", 1)),
        "early_stopping": "auto" if config.get("trainingJobEarlyStoppingType") == "Auto" else "off",
        "warm_start_from": [p["hyperParameterTuningJobName"] for p in warm.get("parentHyperParameterTuningJobs") or []],
        "warm_start_type": {"TransferLearning": "transfer-learning"}.get(warm.get("warmStartType", ""),
                                                                         "identical-data-and-algorithm"),
        **({"max_runtime_seconds": int(limit)} if limit else {})})], ignored


def _dataset_name(source: str, freq: str) -> str:
    """One dataset per train channel and frequency, so jobs on the same data share it (and a
    warm start from a parent on it is one on identical data)."""
    import hashlib

    return "train-" + hashlib.sha256(f"{source}\n{freq}".encode()).hexdigest()[:12]


def _cast(value: Any) -> Any:
    """A name/value string as what it says: numbers, lists (``[0.1, 0.9]``), else the string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _train_channel(definition: dict[str, Any], where: str) -> tuple[str, list[str]]:
    channels = {c.get("channelName"): c for c in definition.get("inputDataConfig") or []}
    if "train" not in channels:
        raise InvalidInputError(f"{where}: inputDataConfig has no train channel")
    ds = channels["train"].get("dataSource") or {}
    uri = (ds.get("s3DataSource") or {}).get("s3Uri") or (ds.get("fileSystemDataSource") or {}).get("directoryPath")
    if not uri:
        raise InvalidInputError(f"{where}: the train channel has no s3Uri")
    ignored = [f"inputDataConfig channel {c!r} (the backtest holds out the end of train)" for c in channels
               if c != "train"]
    return str(uri), ignored


def parameter_ranges(ranges: dict[str, Any], where: str) -> dict[str, Any]:
    """Our ranges from the AWS form of parameter ranges, camelCase (the SageMaker operator's
    ``parameterRanges``) or PascalCase (Forecast's ``HPOConfig.ParameterRanges``): continuous,
    integer and categorical ranges, their scaling types, values as strings.

    Raises
    ------
    InvalidInputError
        No range at all.
    """
    ranges = _camel(ranges)
    out: dict[str, Any] = {}
    for r in map(_camel, ranges.get("continuousParameterRanges") or []):
        out[r["name"]] = {"min": float(r["minValue"]), "max": float(r["maxValue"]),
                          "scale": "log" if r.get("scalingType") in ("Logarithmic", "ReverseLogarithmic") else "linear"}
    for r in map(_camel, ranges.get("integerParameterRanges") or []):
        out[r["name"]] = {"min": int(r["minValue"]), "max": int(r["maxValue"]), "type": "integer",
                          "scale": "log" if r.get("scalingType") == "Logarithmic" else "linear"}
    for r in map(_camel, ranges.get("categoricalParameterRanges") or []):
        out[r["name"]] = {"values": [_cast(v) for v in r["values"]]}
    if not out:
        raise InvalidInputError(f"{where}: the parameter ranges are empty")
    return out


def _camel(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with each key's first letter lower-cased (``MinValue`` -> ``minValue``)."""
    return {k[:1].lower() + k[1:]: v for k, v in d.items()}
