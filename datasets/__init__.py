"""Datasets: read, validate and store time series: DeepAR JSON lines (or Parquet), and long-format
CSV or Parquet as warehouses export it (target, related time series, item metadata).

The registry, workspace, lifecycle and error tree every layer shares live in ``resources``.
"""

from datasets.catalog import (
    dataset_at,
    dataset_summary,
    dataset_type,
    dataset_versions,
    delete_dataset,
    import_dataset,
    iter_dataset,
    read_metadata,
    require_type,
    validate_source,
)
from datasets.errors import DatasetValidationError, Problem
from datasets.frequency import normalize_freq
from datasets.long_format import DatasetType, Filling, LongFormat, choose_series, series_key
from datasets.scan import scan_dataset
from datasets.summary import DatasetSummary

__forecast_service__ = True  # checked at start-up: this is our package, not another "datasets"

__all__ = [
    "DatasetSummary",
    "DatasetType",
    "DatasetValidationError",
    "Filling",
    "LongFormat",
    "Problem",
    "choose_series",
    "dataset_at",
    "dataset_summary",
    "dataset_type",
    "dataset_versions",
    "delete_dataset",
    "import_dataset",
    "iter_dataset",
    "normalize_freq",
    "read_metadata",
    "require_type",
    "scan_dataset",
    "series_key",
    "validate_source",
]
