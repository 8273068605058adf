"""Domain errors -> HTTP status codes, with the message as ``detail``. Never a 500 for user input.

Every error body has one shape, :class:`api.http.schemas.Message` (``{"detail": "..."}``). Validation
errors name each field (``body.instances.0.target: ...``) and never echo the input back: an input
such as ``NaN`` cannot be written as JSON, and an echoed secret would end up in client logs.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.params import describe_errors
from resources import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    LocationNotAllowedError,
    NotFoundError,
    RequestTooLargeError,
    ServiceError,
)

#: The error responses every route may give, for the OpenAPI document.
ERROR_STATUSES = {400: "Host not allowed", 401: "missing or invalid API key", 403: "destination not allowed",
                  404: "no such resource or item", 409: "name taken, or the resource is in the wrong state",
                  413: "request too large (body, work or response over a limit)",
                  422: "invalid input; the message names the field", 500: "internal error (a bug: please report it)"}


def _handler(status: int):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, (ValidationError, RequestValidationError)) else []
    return JSONResponse({"detail": describe_errors(errors)}, status_code=422)


def summary_of(operation: dict[str, Any]) -> str:
    """An operation's summary: the first sentence of its description (the route's docstring), not
    FastAPI's title-cased function name ("Delete Dataset Route")."""
    description = " ".join(str(operation.get("description", "")).split())
    if description:
        first = re.split(r"(?<=[a-z0-9)`])[.;:] ", description + " ", maxsplit=1)[0].rstrip(".;: ")
        return first if len(first) <= 90 else first[:87].rsplit(" ", 1)[0] + "..."
    return re.sub(r" (Route|Job)$", "", str(operation.get("summary", "")))


def complete_openapi(app: FastAPI, *, key_required: bool, exempt: str) -> None:
    """Finish the OpenAPI document: every error response is the JSON :class:`api.http.schemas.Message`
    (also on routes that answer text or PNG), and the bearer scheme is described; with an API key
    configured, every operation but ``exempt`` (liveness) requires it."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            message = {"application/json": {"schema": {"$ref": "#/components/schemas/Message"}}}
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation["summary"] = summary_of(operation)
                    for status, response in operation.get("responses", {}).items():
                        if status[0] in "45":
                            response["content"] = message
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "FORECAST_API_KEY, when the server has one"}}
            if key_required:
                schema["security"] = [{"bearer": []}]
                for method in schema["paths"].get(exempt, {}).values():
                    method["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(LocationNotAllowedError, _handler(403))
    app.add_exception_handler(NotFoundError, _handler(404))
    app.add_exception_handler(RequestTooLargeError, _handler(413))
    app.add_exception_handler(AlreadyExistsError, _handler(409))
    app.add_exception_handler(ConflictError, _handler(409))
    app.add_exception_handler(InvalidInputError, _handler(422))
    app.add_exception_handler(ServiceError, _handler(500))
