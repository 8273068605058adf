"""The managed services' endpoints on the service's own port, for stock boto3 clients with
``endpoint_url``: ``POST /`` (AWS JSON 1.1: ``X-Amz-Target: AmazonForecast.<Op>`` or
``AmazonForecastRuntime.QueryForecast``) and ``POST /endpoints/{EndpointName}/invocations``
(SageMaker runtime, REST-JSON).

Authentication: with ``FORECAST_AWS_ACCESS_KEY_ID`` and ``FORECAST_AWS_SECRET_ACCESS_KEY`` set,
every request must carry a valid SigV4 signature by that key; without them these endpoints are
open only when the server has no ``FORECAST_API_KEY`` either (a loopback development server)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from botocore.model import OperationNotFoundError
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.aws.catalog import AwsCatalog
from api.aws.forecast_api import HANDLERS, AwsContext
from api.aws.kit import in_aws_terms
from api.aws.runtime_api import (
    QUERY_HANDLERS,
    endpoint_predictor,
    invocation_request,
    invocation_response,
)
from api.aws.sigv4 import verify
from api.aws.wire import JSON_11, AwsError, check_input, error_body, operation_model, to_wire
from api.http.deps import AppState
from resources import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RequestTooLargeError,
)

#: X-Amz-Target prefixes: the service model and our handlers.
SERVICES: dict[str, tuple[str, dict[str, Any]]] = {
    "AmazonForecast": ("forecast", HANDLERS),
    "AmazonForecastRuntime": ("forecastquery", QUERY_HANDLERS),
}


def as_aws_error(e: Exception) -> AwsError | None:
    """Our errors in the forecast service's terms (``None``: not one we raise on purpose)."""
    if isinstance(e, AwsError):
        return e
    if isinstance(e, NotFoundError):
        return AwsError("ResourceNotFoundException", in_aws_terms(str(e)))
    if isinstance(e, AlreadyExistsError):
        return AwsError("ResourceAlreadyExistsException", in_aws_terms(str(e)))
    if isinstance(e, ConflictError):
        return AwsError("ResourceInUseException", in_aws_terms(str(e)))
    if isinstance(e, RequestTooLargeError):
        return AwsError("LimitExceededException", in_aws_terms(str(e)))
    if isinstance(e, InvalidInputError | ValidationError):
        return AwsError("InvalidInputException", in_aws_terms(str(e)))
    return None


def install_aws_routes(app: FastAPI, state: AppState) -> None:
    settings = state.runtime.settings
    ctx = AwsContext(state=state, catalog=AwsCatalog(state.runtime.registry.path), region=settings.aws_region,
                     account=settings.aws_account_id)

    def authenticate(request: Request, body: bytes, services: frozenset[str]) -> None:
        if settings.aws_access_key_id and settings.aws_secret_access_key:
            verify(method=request.method, raw_path=request.scope.get("raw_path", b"").decode("latin-1")
                   or request.url.path, query=request.url.query, headers={k.lower(): v for k, v in request.headers.items()},
                   body=body, access_key=settings.aws_access_key_id,
                   secret_key=settings.aws_secret_access_key.get_secret_value(), region=settings.aws_region,
                   services=services)
        elif settings.api_key is not None:
            raise AwsError("UnrecognizedClientException", "this server has an API key; its AWS-protocol endpoints "
                           "need FORECAST_AWS_ACCESS_KEY_ID and FORECAST_AWS_SECRET_ACCESS_KEY (SigV4)", 403)

    def json_11(status: int, payload: Any, code: str | None = None) -> Response:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if code:
            headers["x-amzn-ErrorType"] = code
        return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                        media_type=JSON_11, headers=headers)

    @app.post("/", include_in_schema=False)
    async def aws_json_11(request: Request) -> Response:
        """Amazon Forecast and Forecast Query operations (AWS JSON 1.1)."""
        body = await request.body()
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        try:
            if prefix not in SERVICES:
                raise AwsError("UnknownOperationException", f"unknown X-Amz-Target {target!r}")
            service, handlers = SERVICES[prefix]
            authenticate(request, body, frozenset({"forecast"}))
            try:
                op = operation_model(service, name)
            except OperationNotFoundError:
                raise AwsError("UnknownOperationException", f"{prefix} has no operation {name!r}") from None
            handler = handlers.get(name)
            if handler is None:
                raise AwsError("InvalidInputException", f"{name} is not supported by this service; see the README's "
                               "table of supported operations")
            try:
                params = orjson.loads(body or b"{}")
            except orjson.JSONDecodeError:
                raise AwsError("SerializationException", "the request body is not JSON") from None
            check_input(op, params)
            result = await run_in_threadpool(handler, ctx, params)
            return json_11(200, to_wire(result, op.output_shape))
        except Exception as e:
            err = as_aws_error(e)
            if err is None:
                raise
            return json_11(err.status, error_body(err), err.code)

    @app.post("/endpoints/{endpoint_name}/invocations", include_in_schema=False)
    async def invoke_endpoint(endpoint_name: str, request: Request) -> Response:
        """SageMaker runtime InvokeEndpoint with DeepAR's request and response (REST-JSON)."""
        from api.http.invocations import check_size, invoke
        from api.http.schemas import InvocationRequest
        from resources import Kind

        body = await request.body()
        try:
            authenticate(request, body, frozenset({"sagemaker"}))
            name = endpoint_predictor(endpoint_name, request.headers.get("x-amzn-sagemaker-target-model"))
            if not state.runtime.registry.exists(Kind.PREDICTOR, name):
                raise AwsError("ValidationError", f"Endpoint {name} of account {settings.aws_account_id} not found.")
            payload = InvocationRequest.model_validate(invocation_request(body, request.headers.get("content-type", "")))
            horizon = int(state.runtime.registry.get_active(Kind.PREDICTOR, name).result["prediction_length"])
            check_size(payload, horizon, max_values=settings.max_invocation_values,
                       max_response_bytes=settings.max_response_bytes)
            manifest, predictor = await run_in_threadpool(state.predictors.get, name)
            result = await run_in_threadpool(invoke, manifest, predictor, payload)
            content, media_type = invocation_response(result, request.headers.get("accept", ""))
            return Response(content, media_type=media_type,
                            headers={"x-Amzn-Invoked-Production-Variant": "AllTraffic"})
        except Exception as e:
            err = as_aws_error(e)
            if err is None:
                raise
            if err.status == 400:  # the runtime API has one client-error type
                err = AwsError("ValidationError", err.message)
            return Response(orjson.dumps({"message": err.message}), status_code=err.status,
                            media_type="application/json", headers={"x-amzn-ErrorType": err.code})
