"""Errors shared by every layer of the service.

The tree::

    ServiceError                      base of everything we raise on purpose
    ├── InvalidInputError (ValueError) the caller's input is wrong: CLI exit 2, HTTP 422
    │   ├── DatasetValidationError    (datasets) a dataset failed validation; carries every Problem
    │   ├── RequestTooLargeError      more work or output than the limits allow: HTTP 413
    │   └── NotFoundError (KeyError)  no resource or item of that name: HTTP 404
    ├── AlreadyExistsError            a resource of that name exists: CLI exit 2, HTTP 409
    └── ConflictError                 the resource is in the wrong state: HTTP 409

    JobStopped (BaseException)        raised inside a job whose stop was asked for

``resources`` is the lowest layer, so ``datasets``, ``forecast`` and ``exports`` derive their own
errors from these classes and the CLI and HTTP layers map whole families at once.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class of every error the service raises on purpose."""


class InvalidInputError(ServiceError, ValueError):
    """The caller's input is wrong; the message says what and what is allowed."""


class NotFoundError(InvalidInputError, KeyError):
    """No resource (or item) with that name."""

    def __str__(self) -> str:  # KeyError quotes its message; we don't want that
        return str(self.args[0]) if self.args else ""


class LocationNotAllowedError(InvalidInputError):
    """A source or destination outside the prefixes this service may read or write (HTTP 403)."""


class RequestTooLargeError(InvalidInputError):
    """The request asks for more work or a larger answer than the configured limits: HTTP 413."""


class AlreadyExistsError(ServiceError):
    """A resource with that name exists already; nothing was overwritten."""


class ConflictError(ServiceError):
    """The resource exists but is not in a state that allows the operation."""


class JobStopped(BaseException):
    """Raised inside a job whose stop was asked for (SIGTERM, or seen at a progress report). A
    ``BaseException``, like ``KeyboardInterrupt``, so no ``except Exception`` swallows it; the
    lifecycle turns it into ``CREATE_STOPPED``."""
