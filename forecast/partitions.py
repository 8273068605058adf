"""Items in partitions: the unit of work (on a cluster, one task).

Partitions do not change results: a sampling model draws each item's paths from the item's own
random stream (:mod:`forecast.item_streams`), so the same predictor, seed and data give the same
values on any engine, number of workers and partition size (forecasts and backtests alike).
"""

from __future__ import annotations

#: Items per partition unless the engine is given another size (``FORECAST_PARTITION_ITEMS``).
PARTITION_ITEMS = 2048


def partition_ranges(items: int, size: int | None = None) -> list[tuple[int, int, int]]:
    """``(index, start, stop)`` of each partition of ``items`` items, in order, ``size`` items each
    (default :data:`PARTITION_ITEMS`)."""
    size = size or PARTITION_ITEMS
    return [(i, a, min(a + size, items)) for i, a in enumerate(range(0, items, size))]
