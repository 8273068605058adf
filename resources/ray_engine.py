"""The Ray engine (``FORECAST_ENGINE=ray``; ``pip install '.[ray]'``): a job's calls on a cluster.

``map`` runs on a pool of actors, one per worker CPU (at most one per call), each building the
job's worker once (a predictor loaded once per worker); ``tasks`` runs stateless calls as Ray
tasks, whose worker processes Ray keeps warm; ``train`` runs one training as a task of
:data:`TRAIN_CPUS` CPUs and relays its epochs to the driver. The driver keeps
:data:`IN_FLIGHT_PER_ACTOR` calls in flight per worker, so it holds a bounded amount of work
whatever the number of calls. Workers never touch the registry: a job hands them what they read,
so a cluster needs only the shared workspace (``FORECAST_HOME=s3://...``).

Faults: an actor that dies mid-call is restarted and the call retried, a task whose worker dies is
retried (:data:`RETRIES`); a retried call writes its whole output again. Any other failure is
raised here as the worker raised it.

This is the only module that imports Ray, and only when the engine is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from resources.engine import Engine, ResultCallback

#: Calls in flight per worker (one running, one queued).
IN_FLIGHT_PER_ACTOR = 2
#: CPUs a training task asks for (torch's threads on that worker); fewer if the cluster has fewer.
TRAIN_CPUS = 2
#: How often the driver relays a remote training's finished epochs (seconds).
EPOCH_POLL_SECONDS = 0.5
#: Restarts of a dead actor, and retries of the call it was running.
RETRIES = 3
#: Fault injection for tests of the retry path: when this variable names a file that exists, the
#: first worker to start a call takes the file away and dies at once, as a killed process would.
#: Unset in production.
FAULT_FILE_VARIABLE = "FORECAST_RAY_FAULT_FILE"


class _Actor:
    """A Ray actor holding one worker of a job, built once; each call runs one of its methods."""

    def __init__(self, worker: type, *init: Any) -> None:
        self.worker = worker(*init)

    def call(self, method: str, *args: Any) -> Any:
        maybe_die()
        return getattr(self.worker, method)(*args)


def _task(function: Callable[..., Any], *args: Any) -> Any:
    maybe_die()
    return function(*args)


def _train_task(train: Callable[..., Any], kwargs: dict[str, Any], epochs: Any) -> Any:
    """A Ray task: ``train(**kwargs)``, each finished epoch put on the ``epochs`` queue."""
    maybe_die()
    return train(**kwargs, on_epoch=lambda *epoch: epochs.put(epoch))


class RayEngine(Engine):
    """A Ray cluster at ``address`` (``auto``, ``ray://host:10001``), or a local Ray on this machine
    when ``None`` (no dashboard). Each call runs single-threaded; the cluster's CPUs run them at once."""

    name = "ray"
    call_threads = 1

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def connect(self) -> Any:
        return connect(self.address)

    def workers(self) -> int:
        return max(1, int(self.connect().cluster_resources().get("CPU", 1)))

    def map(self, worker: type, init: tuple[Any, ...], calls: Sequence[tuple[Any, ...]], method: str, *,
            on_result: ResultCallback | None = None) -> list[Any]:
        ray = self.connect()
        if not calls:
            return []
        count = max(1, min(self.workers(), len(calls)))
        named = type(worker.__name__, (_Actor,), {})  # its processes are named after the worker (ray::_Forecaster)
        remote = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(named)
        shared = [ray.put(v) for v in init]  # sent once through the object store, whatever the actors
        pool = [remote.remote(worker, *shared) for _ in range(count)]
        try:
            return _run_on_started(ray, pool, method, calls, on_result)
        finally:
            for actor in pool:
                ray.kill(actor)

    def tasks(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]], *,
              on_result: ResultCallback | None = None) -> list[Any]:
        ray = self.connect()
        remote = ray.remote(num_cpus=1, max_retries=RETRIES)(_task)
        return _run_bounded(ray, lambda i: remote.remote(function, *calls[i]), calls, self.workers(), on_result)

    def train(self, train: Callable[..., Any], kwargs: dict[str, Any], *,
              on_epoch: Callable[..., None] | None = None) -> Any:
        """One Ray task, so a training lands on whichever node has room; a worker that dies is
        retried from the start (the same seed trains the same network). When ``on_epoch`` raises,
        the task is cancelled (its worker killed) and the error goes on up."""
        from ray.util.queue import Queue

        ray = self.connect()
        cpus = max(1, min(TRAIN_CPUS, self.workers()))
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
    """Ray, connected: to ``address``, or a local Ray on this machine when ``None`` (no dashboard)."""
    import ray

    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return ray


def _run_bounded(ray: Any, submit: Callable[[int], Any], calls: Sequence[tuple[Any, ...]], workers: int,
                 on_result: ResultCallback | None) -> list[Any]:
    """Submit call ``i`` with ``submit(i)``, keeping :data:`IN_FLIGHT_PER_ACTOR` calls in flight
    per worker; ``on_result(call, result)`` as each completes; the results in call order.

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


def _run_on_started(ray: Any, pool: list[Any], method: str, calls: Sequence[tuple[Any, ...]],
                    on_result: ResultCallback | None) -> list[Any]:
    """Run call ``i`` as ``actor.call(method, *calls[i])`` on the actors of ``pool`` that have
    started, :data:`IN_FLIGHT_PER_ACTOR` at a time each; ``on_result(call, result)`` as each
    completes; the results in call order.

    Calls go only to started actors: when several jobs' maps share a full cluster (a tuning job's
    trials, in threads), each goes on with the actors it got, instead of queueing calls on an actor
    that cannot start until another map, waiting the same way, ends.
    """
    results: list[Any] = [None] * len(calls)
    waiting = list(range(len(calls)))[::-1]  # popped from the end: call 0 first
    starting = {actor.__ray_ready__.remote(): actor for actor in pool}
    in_flight: dict[Any, int] = {}  # started actor -> its calls in flight
    running: dict[Any, tuple[int, Any]] = {}  # call's ref -> (call, actor)
    while waiting or running:
        for actor, n in in_flight.items():
            while waiting and n < IN_FLIGHT_PER_ACTOR:
                i = waiting.pop()
                running[actor.call.remote(method, *calls[i])] = (i, actor)
                n += 1
            in_flight[actor] = n
        ready, _ = ray.wait([*running, *starting], num_returns=1)
        for ref in ready:
            if ref in starting:
                actor = starting.pop(ref)
                _result(ray, ref)  # an actor that cannot be built fails the map with the worker's error
                in_flight[actor] = 0
            else:
                i, actor = running.pop(ref)
                in_flight[actor] -= 1
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
