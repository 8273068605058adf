"""Items in partitions: the unit of work (on a cluster, one task) and of reproducibility.

Every partition is forecast with its own seed, derived from the predictor's seed and the
partition's index, so the same predictor, seed and data give the same values on any engine and any
number of workers (forecasts and backtests alike).
"""

from __future__ import annotations

import numpy as np

#: Items per partition unless the engine is given another size (``FORECAST_PARTITION_ITEMS``).
PARTITION_ITEMS = 2048


def partition_seed(seed: int | None, index: int) -> int | None:
    """The seed of partition ``index`` of work seeded with ``seed``."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])  # 32 bits: every library takes it


def partition_ranges(items: int, size: int | None = None) -> list[tuple[int, int, int]]:
    """``(index, start, stop)`` of each partition of ``items`` items, in order, ``size`` items each
    (default :data:`PARTITION_ITEMS`)."""
    size = size or PARTITION_ITEMS
    return [(i, a, min(a + size, items)) for i, a in enumerate(range(0, items, size))]
