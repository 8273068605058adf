"""Datasets: read, validate and store time series in the DeepAR JSON-lines format (or Parquet).

This is the lowest layer; it also holds what every layer shares: the workspace (artifact
storage), the resource registry and the error tree.
"""

from datasets.catalog import delete_dataset, get_dataset, import_dataset, iter_dataset
from datasets.errors import (
    AlreadyExistsError,
    ConflictError,
    DatasetValidationError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ServiceError,
)
from datasets.frequency import normalize_freq
from datasets.registry import Kind, Registry, Resource, Status, check_name
from datasets.scan import scan_dataset
from datasets.summary import DatasetSummary
from datasets.workspace import Workspace

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "DatasetSummary",
    "DatasetValidationError",
    "InvalidInputError",
    "Kind",
    "NotFoundError",
    "Problem",
    "Registry",
    "Resource",
    "ServiceError",
    "Status",
    "Workspace",
    "check_name",
    "delete_dataset",
    "get_dataset",
    "import_dataset",
    "iter_dataset",
    "normalize_freq",
    "scan_dataset",
]
