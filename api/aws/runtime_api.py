"""Reading forecasts the managed way: ``AmazonForecastRuntime.QueryForecast`` (AWS JSON 1.1) from the
stored forecast table, and SageMaker-runtime ``InvokeEndpoint`` (REST-JSON) with DeepAR's request
and response shapes on our on-demand invocations."""

from __future__ import annotations

from typing import Any

import orjson

from api.aws.forecast_api import AwsContext
from api.aws.wire import AwsError, invalid, not_found
from resources import InvalidInputError, Kind, NotFoundError

QUERY_HANDLERS = {}


def query_forecast(ctx: AwsContext, p: dict[str, Any]) -> dict[str, Any]:
    """One series' forecast: ``Filters`` holds ``item_id`` and a value per dimension; every type the
    forecast has, as ``{Timestamp, Value}`` points in the service's timestamp format
    (``yyyy-MM-ddTHH:mm:ss``), between ``StartDate`` and ``EndDate`` when given."""
    from forecast.store import parse_bounds

    (name,) = ctx.names(p["ForecastArn"], "forecast")
    if not ctx.registry.exists(Kind.FORECAST, name):
        raise not_found(f"forecast {name!r} does not exist")
    if p.get("NextToken"):
        raise AwsError("InvalidNextTokenException", "this service answers a query in one page; there is no next page")
    filters = dict(p["Filters"])
    item = filters.pop("item_id", None)
    if item is None:
        raise invalid("Filters must include item_id")
    loaded = ctx.state.forecasts.get(name)
    try:
        start, end = parse_bounds(p.get("StartDate"), p.get("EndDate"))
        found = loaded.item(item, start=start, end=end, filters=filters)
    except NotFoundError as e:
        raise not_found(str(e)) from None
    except InvalidInputError as e:
        raise invalid(str(e)) from None
    return {"Forecast": {"Predictions": {
        column: [{"Timestamp": pt["timestamp"].removesuffix("Z"), "Value": pt["value"]} for pt in points]
        for column, points in found["predictions"].items()}}}


QUERY_HANDLERS["QueryForecast"] = query_forecast

#: Content types of DeepAR endpoints.
JSON, JSON_LINES = "application/json", "application/jsonlines"


def invocation_request(body: bytes, content_type: str) -> dict[str, Any]:
    """DeepAR's request: ``application/json`` ``{"instances": [...], "configuration": {...}}``, or
    ``application/jsonlines`` with one instance per line."""
    kind = (content_type or JSON).split(";")[0].strip().lower()
    try:
        if kind == JSON:
            request = orjson.loads(body)
            if not isinstance(request, dict):
                raise ValueError("the body must be a JSON object with instances")
            return request
        if kind == JSON_LINES:
            return {"instances": [orjson.loads(line) for line in body.splitlines() if line.strip()]}
    except (orjson.JSONDecodeError, ValueError) as e:
        raise AwsError("ValidationError", f"the request body is not valid {kind}: {e}") from None
    raise AwsError("ValidationError", f"ContentType {content_type!r} is not supported; use {JSON} or {JSON_LINES}")


def invocation_response(result: dict[str, Any], accept: str) -> tuple[bytes, str]:
    kind = (accept or JSON).split(";")[0].strip().lower()
    if kind in (JSON, "*/*"):
        return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY), JSON
    if kind == JSON_LINES:
        lines = [orjson.dumps(p, option=orjson.OPT_SERIALIZE_NUMPY) for p in result["predictions"]]
        return b"\n".join(lines) + b"\n", JSON_LINES
    raise AwsError("ValidationError", f"Accept {accept!r} is not supported; use {JSON} or {JSON_LINES}")


def endpoint_predictor(endpoint: str, target_model: str | None) -> str:
    """The predictor an invocation asks for: ``TargetModel`` (a multi-model endpoint's model,
    ``name`` or ``name.tar.gz``), else the endpoint's name."""
    return (target_model or endpoint).removesuffix(".tar.gz")
