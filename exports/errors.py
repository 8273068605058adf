"""Export errors. URLs in messages never carry credentials."""

from __future__ import annotations

from resources.errors import LocationNotAllowedError, ServiceError


class ExportError(ServiceError):
    """Writing the export failed (destination missing, not writable, interrupted)."""


#: The destination is outside the prefixes this service may write to (HTTP 403).
DestinationNotAllowedError = LocationNotAllowedError
