"""Exports: bulk CSV or Parquet of a stored forecast to any fsspec URL (s3:// through s3fs)."""

from exports.destinations import check_allowed, redact
from exports.errors import DestinationNotAllowedError, ExportError
from exports.jobs import create_export, delete_export, register_export, run_export
from exports.writer import write_export

__forecast_service__ = True  # checked at start-up (api.check_packages)

__all__ = [
    "DestinationNotAllowedError",
    "ExportError",
    "check_allowed",
    "create_export",
    "delete_export",
    "redact",
    "register_export",
    "run_export",
    "write_export",
]
