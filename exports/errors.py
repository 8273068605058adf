"""Export errors. URLs in messages never carry credentials."""

from __future__ import annotations

from resources.errors import InvalidInputError, ServiceError


class ExportError(ServiceError):
    """Writing the export failed (destination missing, not writable, interrupted)."""


class DestinationNotAllowedError(InvalidInputError):
    """The destination is outside the prefixes this service may write to (HTTP 403)."""
