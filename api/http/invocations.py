"""On-demand inference: the DeepAR request shape in, predictions in input order out.

Instances are validated with the same rules as imported datasets (and their problems reported as
``instances[i].field``); dynamic features must reach ``prediction_length`` steps past the target.
"""

from __future__ import annotations

from typing import Any

from api.http.schemas import InvocationRequest
from datasets.records import TIMESTAMP_RANGE, RecordValidator, end_of_series
from forecast.errors import ForecastTypesError
from forecast.types import parse_types
from resources import InvalidInputError, RequestTooLargeError


def _levels(quantiles: list[str]) -> list[float]:
    """The levels of ``configuration.quantiles``, by the one rule of forecast types (0.01..0.99 in
    steps of 0.01, or p1..p99; ``mean`` is an output type of its own here)."""
    try:
        types = parse_types(list(quantiles))
    except ForecastTypesError as e:
        raise InvalidInputError(f"configuration.quantiles: {e}") from None
    if any(t.is_mean for t in types):
        raise InvalidInputError('configuration.quantiles: "mean" is an output type; put it in output_types')
    return [t.level for t in types]


#: Bytes one value takes in the JSON response, at most (``-1234567.875,`` is 13; float32 in shortest
#: form with a sign and an exponent needs up to 16).
_BYTES_PER_VALUE = 16


def check_size(body: InvocationRequest, prediction_length: int, *, max_values: int, max_response_bytes: int) -> None:
    """Refuse a request whose work (sample paths x steps) or response would exceed the limits,
    before any work starts.

    Raises
    ------
    RequestTooLargeError
        With the request's figure and the limit (``FORECAST_MAX_INVOCATION_VALUES``,
        ``FORECAST_MAX_RESPONSE_BYTES``).
    """
    cfg = body.configuration
    n = len(body.instances)
    values = n * cfg.num_samples * prediction_length
    if values > max_values:
        raise RequestTooLargeError(
            f"the request draws {n} instances x {cfg.num_samples} samples x {prediction_length} steps = {values:,} "
            f"values, over the limit of {max_values:,} (FORECAST_MAX_INVOCATION_VALUES); send fewer instances "
            "or samples per request"
        )
    per_step = ((cfg.num_samples if "samples" in cfg.output_types else 0)
                + (len(cfg.quantiles) if "quantiles" in cfg.output_types else 0)
                + (1 if "mean" in cfg.output_types else 0))
    size = n * prediction_length * per_step * _BYTES_PER_VALUE
    if size > max_response_bytes:
        raise RequestTooLargeError(
            f"the response would be up to {size:,} bytes, over the limit of {max_response_bytes:,} "
            "(FORECAST_MAX_RESPONSE_BYTES); ask for fewer instances, samples or quantiles"
        )


def invoke(manifest: Any, model: Any, body: InvocationRequest) -> dict[str, Any]:
    """Forecasts for the request's instances from their own histories (statistical models are
    fitted on them here; DeepAR conditions on them)."""
    from forecast.data import model_view, to_entry
    from forecast.forecasts import check_static_cats
    from forecast.inference import check_future_features

    cfg = body.configuration
    levels = _levels(cfg.quantiles) if "quantiles" in cfg.output_types else []
    validator = RecordValidator(manifest.freq, max_problems=50)
    raw = []
    for i, inst in enumerate(body.instances):
        s = validator.check("instances", i, dict(inst))
        if s is not None:
            raw.append({"item_id": str(i), "start": s.start, "target": s.target, "cat": s.cat,
                        "dynamic_feat": s.dynamic_feat})
    for r in raw:
        if end_of_series(r["start"], len(r["target"]) + manifest.prediction_length, manifest.freq) is None:
            validator.add("instances", int(r["item_id"]), "start", f"the forecast of {manifest.prediction_length} steps after "
                          f"{len(r['target'])} values from {r['start']} runs past the supported range {TIMESTAMP_RANGE}")
    if validator.problems:
        problems = [f"instances[{p.line}].{p.field or 'record'}: {p.message}" for p in validator.problems]
        raise InvalidInputError("invalid instances: " + "; ".join(problems))
    resolved = manifest.resolved
    num_feat = int(resolved["num_dynamic_feat"])
    num_cat = len(resolved["cardinality"])
    entries = model_view([to_entry(r, manifest.freq) for r in raw], num_dynamic_feat=num_feat, num_cat=num_cat,
                         for_training=False)
    if num_cat:
        missing = [i for i, e in enumerate(entries) if "feat_static_cat" not in e]
        if missing:
            raise InvalidInputError(f"instances[{missing[0]}]: the predictor uses {num_cat} cat feature(s); give cat")
        check_static_cats(entries, resolved["cardinality"])
    check_future_features(entries, manifest.prediction_length, num_feat)
    predictions: list[dict[str, Any]] = []
    # threads=1: this runs on a server thread, beside others; no process-wide thread or seed settings
    for p in model.predict(entries, levels, num_samples=cfg.num_samples, want_samples="samples" in cfg.output_types,
                           threads=1):
        q, mean, samples = p.quantiles, p.mean, p.samples
        for j in range(len(p.item_ids)):
            out: dict[str, Any] = {}
            if "mean" in cfg.output_types:
                out["mean"] = mean[j].tolist()
            if "quantiles" in cfg.output_types:
                out["quantiles"] = {label: q[j, k].tolist() for k, label in enumerate(cfg.quantiles)}
            if samples is not None:
                out["samples"] = samples[j].tolist()
            predictions.append(out)
    return {"predictions": predictions}
