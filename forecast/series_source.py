"""Where the workers of a fit or a backtest read their partition's series.

A job over many items never hands its workers the series: it hands them a :class:`StoredSeries`
(the dataset at its version, the related and metadata datasets its features read, and how the
model sees the entries), and each worker reads rows ``[start, stop)`` itself, so the process that
runs the job holds no series (:mod:`forecast.fitting`). :class:`HeldSeries` serves series a
caller already holds (a benchmark, a test).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from pydantic import BaseModel

from forecast.data import Entry, load_entries, model_view, truncate
from forecast.features import FeaturePlan, attach_features
from forecast.partitions import partition_ranges
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

    def longest(self) -> int:
        """The length of the longest series."""
        ...


#: What a fit is given: the series themselves, or where to read them (a global model's training
#: streams them; a per-series model's worker is given its partition's).
Series = list[Entry] | SeriesSource


class SeriesStream:
    """Every series of a source, read a partition at a time each time it is iterated: a gluonts
    dataset that a network's training streams (its loader cycles through it, in stored order, as
    through a list), so training holds one partition of series, not all of them."""

    def __init__(self, source: SeriesSource, partition_items: int | None = None) -> None:
        self.source = source
        self.partition_items = partition_items

    def __iter__(self) -> Iterator[Entry]:
        for _, start, stop in partition_ranges(self.source.num_items, self.partition_items):
            yield from self.source.read(start, stop)

    def __len__(self) -> int:
        return self.source.num_items


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

    def longest(self) -> int:
        return max((len(e["target"]) for e in self.entries), default=0) - self.drop


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
    length_max: int = 0  # of the stored series (the facts of the data)

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

    def longest(self) -> int:
        return self.length_max - self.drop
