"""Errors of the model layer (derived from the shared tree in :mod:`datasets.errors`)."""

from __future__ import annotations

from resources.errors import InvalidInputError, JobStopped, ServiceError


class HyperparameterError(InvalidInputError):
    """A hyperparameter is out of range or does not fit the dataset; raised before training."""


class TrialPruned(JobStopped):
    """A tuning job's pruner ended this trial's training: its validation loss was behind the
    completed trials' at the same epoch. The trial's predictor ends ``CREATE_STOPPED`` saying so."""


class TrainingError(ServiceError):
    """Training failed (an exception inside the training loop, or non-finite losses)."""


class ForecastInputError(InvalidInputError):
    """Inference input is unusable (e.g. dynamic features do not reach far enough)."""


class ForecastTypesError(InvalidInputError):
    """Forecast types break the rule (quantiles 0.01..0.99 in steps of 0.01, and mean)."""


class GenerationError(ServiceError):
    """Generating a forecast failed for a reason other than bad input."""


class PartitionError(ServiceError):
    """A partition of a job's items could not be read or written; the message names it (its index
    and rows). A job fails on one only after the engine's retries."""
