"""What every layer shares, at the bottom of the import graph: the error tree, the resource
registry, the workspace where artifacts live, and the one lifecycle every resource kind follows
(create, progress, stop, fail, sweep). It imports no other package of the service."""

from resources.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    LocationNotAllowedError,
    NotFoundError,
    RequestTooLargeError,
    ServiceError,
)
from resources.registry import (
    ActiveResources,
    Kind,
    Registry,
    Resource,
    ResourceSnapshot,
    Status,
    check_name,
)
from resources.workspace import Workspace

__forecast_service__ = True

__all__ = [
    "ActiveResources",
    "AlreadyExistsError",
    "ConflictError",
    "InvalidInputError",
    "Kind",
    "LocationNotAllowedError",
    "NotFoundError",
    "Registry",
    "RequestTooLargeError",
    "Resource",
    "ResourceSnapshot",
    "ServiceError",
    "Status",
    "Workspace",
    "check_name",
]
