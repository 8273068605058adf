"""Where the workers of a fit or a backtest read their partition's series.

A job over many items never hands its workers the series: it hands them a :class:`StoredSeries`
(the dataset at its version, the related and metadata datasets its features read, and how the
model sees the entries), and each worker reads rows ``[start, stop)`` itself, so the process that
runs the job holds no series (:mod:`forecast.fitting`). :class:`HeldSeries` serves series a
caller already holds (a benchmark, a test).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from forecast.data import Entry, load_entries, model_view, truncate
from forecast.features import FeaturePlan, attach_features
from resources import Resource, Workspace
from resources.registry import ResourceSnapshot


class SeriesSource(Protocol):
    """Series by row: what a partition's worker reads."""

    @property
    def num_items(self) -> int: ...

    def read(self, start: int, stop: int) -> list[Entry]:
        """Rows ``[start, stop)`` as the model sees them (training view)."""
        ...

    def before(self, drop: int) -> SeriesSource:
        """The same series without their last ``drop`` points (those left with none dropped)."""
        ...


class HeldSeries:
    """Series this process already holds."""

    def __init__(self, entries: list[Entry], drop: int = 0) -> None:
        self.entries = entries
        self.drop = drop

    @property
    def num_items(self) -> int:
        return len(self.entries)

    def read(self, start: int, stop: int) -> list[Entry]:
        rows = self.entries[start:stop]
        return truncate(rows, self.drop, min_length=1) if self.drop else rows

    def before(self, drop: int) -> HeldSeries:
        return HeldSeries(self.entries, self.drop + drop)


class ModelShape(BaseModel):
    """Which feature fields the model takes (from its resolved configuration)."""

    num_dynamic_feat: int
    num_cat: int
    num_static_real: int = 0


class StoredSeries(BaseModel):
    """A dataset's series in the workspace, read a partition at a time with the predictor's
    features attached; ``shape``: cut to the model's view (``None``: every field, as the facts of
    the data are gathered before the model is configured); ``drop``: the last points left out of
    every series (the histories before a backtest), series left with none dropped."""

    root: str
    storage_options: dict[str, Any] = {}
    dataset: Resource
    resources: ResourceSnapshot
    plan: FeaturePlan
    freq: str
    num_items: int
    shape: ModelShape | None = None
    drop: int = 0

    def read(self, start: int, stop: int) -> list[Entry]:
        workspace = Workspace(self.root, storage_options=self.storage_options)
        entries = attach_features(workspace, self.resources, load_entries(workspace, self.dataset, rows=(start, stop)),
                                  self.plan, freq=self.freq, horizon=0)
        if self.shape is not None:
            entries = model_view(entries, num_dynamic_feat=self.shape.num_dynamic_feat, num_cat=self.shape.num_cat,
                                 for_training=True, num_static_real=self.shape.num_static_real)
        return truncate(entries, self.drop, min_length=1) if self.drop else entries

    def before(self, drop: int) -> StoredSeries:
        """The same series without their last ``drop`` more points."""
        return self.model_copy(update={"drop": self.drop + drop})
