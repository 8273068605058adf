"""Datasets: read, validate and store time series in the DeepAR JSON-lines format (or Parquet).

The registry, workspace, lifecycle and error tree every layer shares live in ``resources``.
"""

from datasets.catalog import delete_dataset, get_dataset, import_dataset, iter_dataset
from datasets.errors import DatasetValidationError, Problem
from datasets.frequency import normalize_freq
from datasets.scan import scan_dataset
from datasets.summary import DatasetSummary

__forecast_service__ = True  # checked at start-up: this is our package, not another "datasets"

__all__ = [
    "DatasetSummary",
    "DatasetValidationError",
    "Problem",
    "delete_dataset",
    "get_dataset",
    "import_dataset",
    "iter_dataset",
    "normalize_freq",
    "scan_dataset",
]
