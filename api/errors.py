"""Domain errors -> HTTP status codes, with the message as ``detail``. Never a 500 for user input."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from exports import DestinationNotAllowedError
from datasets import AlreadyExistsError, ConflictError, InvalidInputError, NotFoundError, ServiceError


def _handler(status: int):  # type: ignore[no-untyped-def]
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, ValidationError) else []
    problems = [f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in errors]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(DestinationNotAllowedError, _handler(403))
    app.add_exception_handler(NotFoundError, _handler(404))
    app.add_exception_handler(AlreadyExistsError, _handler(409))
    app.add_exception_handler(ConflictError, _handler(409))
    app.add_exception_handler(InvalidInputError, _handler(422))
    app.add_exception_handler(ServiceError, _handler(500))
