"""Exports: bulk CSV or Parquet of a stored forecast, or of a predictor's backtest, to any fsspec URL
(s3:// through s3fs)."""

from exports.destinations import check_allowed, redact
from exports.errors import DestinationNotAllowedError, ExportError
from exports.jobs import create_export, delete_export, register_export, run_export
from exports.writer import backtest_source, forecast_source, write_export

__forecast_service__ = True  # checked at start-up (api.check_packages)

__all__ = [
    "DestinationNotAllowedError",
    "ExportError",
    "backtest_source",
    "check_allowed",
    "create_export",
    "delete_export",
    "forecast_source",
    "redact",
    "register_export",
    "run_export",
    "write_export",
]
