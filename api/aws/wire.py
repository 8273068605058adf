"""The managed services' wire format, taken from the service models botocore ships (they are the
specification): requests checked against an operation's input shape, responses shaped by its
output shape (timestamps as epoch seconds, as AWS JSON 1.1 and REST-JSON send them), and errors as
the service's exception types so ``client.exceptions.X`` catches them."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

JSON_11 = "application/x-amz-json-1.1"


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of ``forecast``, ``forecastquery`` or ``sagemaker-runtime``."""
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


class AwsError(Exception):
    """A refusal in the service's terms: ``code`` is the exception type (its shape's name),
    ``status`` the HTTP status the service answers it with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def check_input(op: OperationModel, params: Any, error_code: str = "InvalidInputException") -> dict[str, Any]:
    """``params`` checked against the operation's input shape by botocore's own validator (types,
    required members, unknown members, lengths and ranges)."""
    if not isinstance(params, dict):
        raise AwsError(error_code, "the request body must be a JSON object")
    if op.input_shape is None:
        return params
    report = ParamValidator().validate(params, op.input_shape)
    if report.has_errors():
        raise AwsError(error_code, report.generate_report())
    for name, member in op.input_shape.members.items():  # enums are part of the contract too
        _check_enums(params.get(name), member, name, error_code)
    return params


def _check_enums(value: Any, shape: Shape, where: str, error_code: str) -> None:
    if value is None:
        return
    enum = getattr(shape, "enum", None)
    if enum and isinstance(value, str) and value not in enum:
        raise AwsError(error_code, f"{where}: {value!r} is not one of {', '.join(enum)}")
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            _check_enums(value.get(name), member, f"{where}.{name}", error_code)
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _check_enums(item, shape.member, f"{where}[{i}]", error_code)


def to_wire(value: Any, shape: Shape | None) -> Any:
    """``value`` as the output ``shape`` puts it on the wire: members the shape does not have and
    ``None`` values left out, timestamps as epoch seconds."""
    if shape is None or value is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        return {name: to_wire(value[name], member) for name, member in shape.members.items()
                if value.get(name) is not None}
    if kind == "list":
        return [to_wire(v, shape.member) for v in value]
    if kind == "map":
        return {k: to_wire(v, shape.value) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, datetime):
        return value.timestamp()
    return value


def error_body(err: AwsError) -> dict[str, str]:
    return {"__type": err.code, "Message": err.message}
