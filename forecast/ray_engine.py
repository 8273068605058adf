"""Forecast generation on a Ray cluster (``FORECAST_ENGINE=ray``; ``pip install '.[ray]'``).

The driver plans partitions of :data:`forecast.forecasts.PARTITION_ITEMS` items; actors, one per
worker CPU, each load the predictor from the workspace once and forecast the partitions they are
given with the partition's own seed (:func:`forecast.forecasts.forecast_partition`), so the
values are the same as the local engine's, whatever the number of workers. The driver keeps a
bounded number of partitions in flight and hands their batches to the sink in partition order,
so the stored table is the local one, row for row. An actor that dies mid-partition is restarted
and the partition retried (Ray's actor restarts and task retries).

Only this module imports Ray, and only when the engine is asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from forecast.data import Entry
from forecast.types import ForecastType

#: Partitions in flight per actor (one running, one queued).
IN_FLIGHT_PER_ACTOR = 2


class _Forecaster:
    """A Ray actor: the predictor loaded once, then partitions forecast on this worker."""

    def __init__(self, root: str, storage_options: dict[str, Any], artifact: str, manifest: dict[str, Any],
                 precision: str) -> None:
        from forecast.artifacts import PredictorManifest, load_predictor
        from resources import Workspace

        workspace = Workspace(root, storage_options=storage_options)
        self.model = load_predictor(workspace, artifact, PredictorManifest.model_validate(manifest), precision)  # type: ignore[arg-type]

    def forecast(self, index: int, entries: list[Entry], types: list[str], kwargs: dict[str, Any]) -> list[pa.RecordBatch]:
        from forecast.forecasts import forecast_partition
        from forecast.types import parse_types

        return forecast_partition(self.model, entries, parse_types(types), index=index, **kwargs)


def connect(address: str | None, num_cpus: int | None = None) -> Any:
    """Ray, connected: to ``address`` (``auto``, ``ray://host:10001``), or a local Ray on this
    machine when ``None`` (no dashboard)."""
    import ray

    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


def generate_on_ray(
    *,
    address: str | None,
    root: str,
    storage_options: dict[str, Any],
    artifact: str,
    manifest: dict[str, Any],
    precision: str,
    entries: list[Entry],
    types: Sequence[ForecastType],
    num_samples: int,
    horizon: int,
    seed: int | None,
    sink: Callable[[pa.RecordBatch], None],
    on_progress: Callable[[int, int], None] | None = None,
    series: Sequence[tuple[str, dict[str, str] | None]] | None = None,
    dimensions: Sequence[str] = (),
    actors: int | None = None,
) -> int:
    """:func:`forecast.forecasts.generate` on Ray workers; returns the item count."""
    from forecast.forecasts import PARTITION_ITEMS

    ray = connect(address)
    count = actors or max(1, int(ray.available_resources().get("CPU", 1)))
    forecaster = ray.remote(num_cpus=1, max_restarts=3, max_task_retries=3)(_Forecaster)
    pool = [forecaster.remote(root, storage_options, artifact, manifest, precision) for _ in range(count)]
    labels = [t.label for t in types]
    starts = list(range(0, len(entries), PARTITION_ITEMS))
    pending: deque[tuple[int, Any]] = deque()
    done = 0
    try:
        for index, start in enumerate(starts):
            part = entries[start:start + PARTITION_ITEMS]
            kwargs = {"num_samples": num_samples, "horizon": horizon, "seed": seed, "threads": 1,
                      "dimensions": list(dimensions),
                      "series": list(series[start:start + PARTITION_ITEMS]) if series is not None else None}
            pending.append((len(part), pool[index % count].forecast.remote(index, part, labels, kwargs)))
            while len(pending) > count * IN_FLIGHT_PER_ACTOR:
                done = _hand_on(ray, pending.popleft(), sink, done, len(entries), on_progress)
        while pending:
            done = _hand_on(ray, pending.popleft(), sink, done, len(entries), on_progress)
    finally:
        for actor in pool:
            ray.kill(actor)
    return done


def _hand_on(ray: Any, item: tuple[int, Any], sink: Callable[[pa.RecordBatch], None], done: int, total: int,
             on_progress: Callable[[int, int], None] | None) -> int:
    n, ref = item
    for batch in ray.get(ref):
        sink(batch)
    done += n
    if on_progress is not None:
        on_progress(done, total)
    return done
