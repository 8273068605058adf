"""Forecasts, backtests, statistical fits and DeepAR training on a Ray cluster
(``FORECAST_ENGINE=ray``; ``pip install '.[ray]'``).

The driver plans the partitions (:meth:`forecast.forecasts.ForecastJob.partitions`: ranges of
dataset rows) and hands them to actors, one per worker CPU. Each actor loads the predictor from
the workspace once; per partition it reads its rows of the dataset, forecasts them with the
partition's own seed (:func:`forecast.forecasts.forecast_rows`, what the local engine runs) and
writes its part of the table straight to the workspace (:func:`forecast.store.write_forecast_part`).
The driver only tracks progress and, when every part is written, lets the caller commit; it never
holds the items, so its memory does not grow with them. Workers never touch the registry: the job
carries the few resources they read, so a cluster needs only the shared workspace
(``FORECAST_HOME=s3://...``).

Statistical fits run as tasks of up to :data:`FIT_CHUNK` series, backtests on actors that receive
the model once, and a DeepAR training as one task (:func:`train_on_ray`) whose epochs the driver
relays to the job's progress.

Faults: an actor that dies mid-partition is restarted and the partition retried (Ray's actor
restarts and task retries; a retried partition writes its whole part again). Any other failure
fails the job, whose folder (and every part in it) the lifecycle removes.

Only this module imports Ray, and only when the engine is asked for.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forecast.forecasts import ForecastJob
from resources import Workspace

#: Partitions in flight per actor (one running, one queued).
IN_FLIGHT_PER_ACTOR = 2
#: Most series per Ray task when fitting statistical models (a task costs milliseconds).
FIT_CHUNK = 128
#: CPUs a DeepAR training task asks for (torch's threads on that worker); fewer if the cluster has fewer.
TRAIN_CPUS = 2
#: How often the driver relays a remote training's finished epochs (seconds).
EPOCH_POLL_SECONDS = 0.5
#: Restarts of a dead actor, and retries of the partition it was running.
RETRIES = 3
#: Fault injection for tests of the retry path: when this variable names a file that exists, the
#: first worker to start a partition takes the file away and dies at once, as a killed process
#: would. Unset in production.
FAULT_FILE_VARIABLE = "FORECAST_RAY_FAULT_FILE"


class _Forecaster:
    """A Ray actor: the predictor loaded once, then partitions forecast and written on this worker."""

    def __init__(self, root: str, storage_options: dict[str, Any], job: dict[str, Any]) -> None:
        from forecast.artifacts import load_predictor

        self.workspace = Workspace(root, storage_options=storage_options)
        self.job = ForecastJob.model_validate(job)
        self.model = load_predictor(self.workspace, self.job.predictor_artifact, self.job.manifest,
                                    self.job.precision)  # type: ignore[arg-type]

    def forecast(self, index: int, start: int, stop: int, rel: str) -> tuple[int, str]:
        """Forecast rows ``[start, stop)`` as partition ``index`` and write its part under ``rel``;
        returns its rows and the precision this worker sampled in."""
        from forecast.forecasts import forecast_rows
        from forecast.store import write_forecast_part

        maybe_die()
        job = self.job
        batches = forecast_rows(self.workspace, job, self.model, index, job.read_rows(self.workspace, start, stop),
                                threads=1)
        rows = write_forecast_part(self.workspace, rel, index, batches, job.spec["columns"],
                                   job.manifest.prediction_length, job.dimensions)
        return rows, self.model.precision


class _BacktestForecaster:
    """A Ray actor: the model being backtested, received once, then partitions of backtest
    windows forecast on this worker (:func:`forecast.backtest.backtest_partition`)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def forecast(self, entries: list[Any], levels: list[float], num_samples: int, seed: int | None
                 ) -> tuple[list[Any], dict[str, int]]:
        """The partition's forecasts, and the item-windows it left members out of (an
        ensemble's ``dropped`` counts, which the driver's model adds up)."""
        from forecast.backtest import backtest_partition

        maybe_die()
        before = Counter(getattr(self.model, "dropped", None) or {})
        predictions = backtest_partition(self.model, entries, levels, num_samples, seed, threads=1)
        return predictions, dict(Counter(getattr(self.model, "dropped", None) or {}) - before)


def backtest_on_ray(model: Any, calls: list[tuple[Any, ...]], address: str | None) -> list[Any]:
    """Each call's backtest forecasts (``(entries, levels, num_samples, seed)``) on Ray actors that
    hold ``model`` (sent once through the object store); the results in call order. What the
    workers' copies of an ensemble counted as dropped is added to ``model.dropped``."""
    ray = connect(address)
    results = run_on_actors(_BacktestForecaster, (ray.put(model),), calls, "forecast", address=address)
    dropped = getattr(model, "dropped", None)
    for _, counts in results:
        if dropped is not None:
            dropped.update(counts)
    return [predictions for predictions, _ in results]


def _fit_chunk(jobs: list[Any]) -> list[Any]:
    """A Ray task: one chunk of statistical fitting jobs (:mod:`forecast.models.statistical`)."""
    from forecast.models.statistical import run_jobs

    maybe_die()
    return run_jobs(jobs, 1)


def fit_on_ray(jobs: list[Any], address: str | None) -> list[Any]:
    """Statistical fitting jobs run on Ray workers, in chunks of at most :data:`FIT_CHUNK` series
    and at least four per worker CPU; the results in job order."""
    ray = connect(address)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = max(1, min(FIT_CHUNK, math.ceil(len(jobs) / (4 * workers))))
    chunks = [(jobs[i : i + size],) for i in range(0, len(jobs), size)]
    return [r for part in run_tasks(_fit_chunk, chunks, address=address) for r in part]


def _train_task(train: Callable[..., Any], kwargs: dict[str, Any], epochs: Any) -> Any:
    """A Ray task: ``train(**kwargs)``, each finished epoch put on the ``epochs`` queue."""
    maybe_die()
    return train(**kwargs, on_epoch=lambda *epoch: epochs.put(epoch))


def train_on_ray(train: Callable[..., Any], kwargs: dict[str, Any], *, address: str | None,
                 on_epoch: Callable[..., None] | None = None) -> Any:
    """``train(**kwargs)`` (a network's training, :func:`forecast.training.train_network`) as one
    Ray task of :data:`TRAIN_CPUS` CPUs, so a training job lands on whichever node has room; its
    epochs are relayed to ``on_epoch`` here as they finish (progress, ETA). A worker that dies is
    retried from the start (the same seed trains the same network). When ``on_epoch`` raises (a
    stop was asked for), the task is cancelled and the error goes on up.

    Raises
    ------
    Exception
        The training's failure, as the worker raised it (its type kept where Ray can).
    """
    from ray.util.queue import Queue

    ray = connect(address)
    cpus = max(1, min(TRAIN_CPUS, int(ray.cluster_resources().get("CPU", 1))))
    epochs = Queue(actor_options={"num_cpus": 0})
    ref = ray.remote(num_cpus=cpus, max_retries=RETRIES)(_train_task).remote(train, kwargs, epochs)
    done = False
    try:
        while not done:
            done = bool(ray.wait([ref], timeout=EPOCH_POLL_SECONDS)[0])
            for epoch in epochs.get_nowait_batch(epochs.qsize()):
                if on_epoch is not None:
                    on_epoch(*epoch)
        return _result(ray, ref)
    finally:
        if not done:
            ray.cancel(ref, force=True)
        epochs.shutdown()


def maybe_die() -> None:
    """Die here if a test asked for it (:data:`FAULT_FILE_VARIABLE`)."""
    fault = os.environ.get(FAULT_FILE_VARIABLE)
    if not fault:
        return
    taken = f"{fault}.taken.{os.getpid()}"
    try:
        os.replace(fault, taken)  # atomic: one worker dies per file
    except FileNotFoundError:
        return
    Path(taken).write_text(str(os.getpid()))
    os._exit(1)


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


def forecast_on_ray(
    workspace: Workspace,
    job: ForecastJob,
    rel: str,
    *,
    address: str | None,
    on_progress: Callable[[int, int], None] | None = None,
    actors: int | None = None,
) -> tuple[int, str]:
    """Forecast every partition of ``job`` on Ray workers, each writing its part under ``rel``;
    returns the number of parts once all are written, and the precision the workers sampled in
    (``auto`` resolves per worker's CPU: several are listed).

    Raises
    ------
    Exception
        The first partition's failure, as the worker raised it (its type kept where Ray can).
    """
    partitions = job.partitions()
    done = [0]
    precisions: set[str] = set()

    def finished(call: tuple[Any, ...], result: tuple[int, str]) -> None:
        _, start, stop, _ = call
        rows, precision = result
        precisions.add(precision)
        if rows != stop - start:
            raise RuntimeError(f"a partition wrote {rows} rows, not the {stop - start} it was given")
        done[0] += rows
        if on_progress is not None:
            on_progress(done[0], job.num_items)

    run_on_actors(_Forecaster, (workspace.root, workspace.storage_options, job.model_dump(mode="json")),
                  [(index, start, stop, rel) for index, start, stop in partitions], "forecast",
                  address=address, on_result=finished, actors=actors)
    if not partitions and on_progress is not None:
        on_progress(0, 0)
    return len(partitions), ", ".join(sorted(precisions)) or job.precision


def run_on_actors(
    actor_class: type,
    init: tuple[Any, ...],
    calls: list[tuple[Any, ...]],
    method: str,
    *,
    address: str | None,
    on_result: Callable[[tuple[Any, ...], Any], None] | None = None,
    actors: int | None = None,
) -> list[Any]:
    """``actor.<method>(*call)`` for every call, on a pool of actors of ``actor_class(*init)`` (one
    per available CPU, at most one per call): for work that loads something once per worker (a
    predictor). A dead actor is restarted and its call retried (:data:`RETRIES`). The actors are
    killed at the end. See :func:`_run_bounded` for the rest."""
    ray = connect(address)
    count = max(1, min(actors or int(ray.cluster_resources().get("CPU", 1)), len(calls)))
    remote = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(actor_class)
    pool = [remote.remote(*init) for _ in range(count)] if calls else []
    try:
        return _run_bounded(ray, lambda i: getattr(pool[i % count], method).remote(*calls[i]), calls, count,
                            on_result)
    finally:
        for actor in pool:
            ray.kill(actor)


def run_tasks(function: Callable[..., Any], calls: list[tuple[Any, ...]], *, address: str | None,
              on_result: Callable[[tuple[Any, ...], Any], None] | None = None) -> list[Any]:
    """``function(*call)`` for every call as Ray tasks: for stateless work. Ray keeps its worker
    processes between tasks (what they imported and compiled stays warm); a task whose worker
    dies is retried (:data:`RETRIES`). See :func:`_run_bounded` for the rest."""
    ray = connect(address)
    remote = ray.remote(num_cpus=1, max_retries=RETRIES)(function)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return _run_bounded(ray, lambda i: remote.remote(*calls[i]), calls, workers, on_result)


def _run_bounded(ray: Any, submit: Callable[[int], Any], calls: list[tuple[Any, ...]], workers: int,
                 on_result: Callable[[tuple[Any, ...], Any], None] | None) -> list[Any]:
    """Submit call ``i`` with ``submit(i)``, keeping :data:`IN_FLIGHT_PER_ACTOR` calls in flight
    per worker, so the driver holds a bounded amount of work whatever the number of calls;
    ``on_result(call, result)`` as each completes; the results in call order.

    Raises
    ------
    Exception
        The first failed call's error, as the worker raised it (its type kept where Ray can).
    """
    results: list[Any] = [None] * len(calls)
    waiting = list(range(len(calls)))
    running: dict[Any, int] = {}
    while waiting or running:
        while waiting and len(running) < workers * IN_FLIGHT_PER_ACTOR:
            i = waiting.pop(0)
            running[submit(i)] = i
        ready, _ = ray.wait(list(running), num_returns=1)
        for ref in ready:
            i = running.pop(ref)
            results[i] = _result(ray, ref)
            if on_result is not None:
                on_result(calls[i], results[i])
    return results


def _result(ray: Any, ref: Any) -> Any:
    """A call's result; its failure as the worker raised it, without Ray's wrapping."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        cause = getattr(e, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
