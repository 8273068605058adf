"""Where a job's work runs: one small interface, two engines.

A job splits its work into calls (partitions of items, chunks of series, one training) and hands
them to an :class:`Engine`; it never asks which engine it has. Every call reads its input from
and writes its output to locations it is given (the workspace, a destination), so the same calls
give the same values on any engine:

- :class:`LocalEngine` runs them in this process (stateless chunks over a process per core);
- :class:`resources.ray_engine.RayEngine` runs them on a Ray cluster (``FORECAST_ENGINE=ray``;
  ``pip install '.[ray]'``), the only module that imports Ray, loaded only when asked for.

:func:`engine_for` builds the one the settings name.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, ClassVar, Literal

EngineName = Literal["local", "ray"]
#: ``on_result(call, result)``: told as each call completes (progress, checks); it may raise to stop.
ResultCallback = Callable[[tuple[Any, ...], Any], None]


class Engine(ABC):
    """Runs a job's calls. ``map`` is for work that loads something once per worker (a predictor,
    a model): ``worker(*init)`` is built once per worker and ``worker.<method>(*call)`` runs each
    call. ``tasks`` is for stateless work. ``train`` runs one long call whose events (a network's
    finished epochs) reach ``on_epoch`` here as they happen. Results come back in call order."""

    #: the name jobs record (``local``, ``ray``)
    name: ClassVar[EngineName]
    #: threads each call may use: ``None`` (the whole machine) where calls run one at a time
    call_threads: int | None = None
    #: items per partition of a job's items (``None``: the job's default); set by :func:`engine_for`
    partition_items: int | None = None

    @abstractmethod
    def workers(self) -> int:
        """How many calls run at once."""

    @abstractmethod
    def map(self, worker: type, init: tuple[Any, ...], calls: Sequence[tuple[Any, ...]], method: str, *,
            on_result: ResultCallback | None = None) -> list[Any]:
        """``worker(*init).<method>(*call)`` for every call; the results in call order."""

    @abstractmethod
    def tasks(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]], *,
              on_result: ResultCallback | None = None) -> list[Any]:
        """``function(*call)`` for every call (a module-level function); the results in call order."""

    @abstractmethod
    def train(self, train: Callable[..., Any], kwargs: dict[str, Any], *,
              on_epoch: Callable[..., None] | None = None) -> Any:
        """``train(**kwargs, on_epoch=...)``; each epoch it reports reaches ``on_epoch`` here. When
        ``on_epoch`` raises (a stop was asked for), the training ends and the error goes on up."""

    def chunk_size(self, items: int, most: int) -> int:
        """Items per task when ``items`` items are spread over the workers: four tasks per worker
        (so a slow one does not hold the rest up), at most ``most``."""
        return max(1, min(most, math.ceil(items / (4 * self.workers()))))


class LocalEngine(Engine):
    """This process: calls that load something run here, one after the other, each with every core;
    stateless calls are spread over a forked process per core."""

    name = "local"
    call_threads = None

    def workers(self) -> int:
        return os.cpu_count() or 1

    def map(self, worker: type, init: tuple[Any, ...], calls: Sequence[tuple[Any, ...]], method: str, *,
            on_result: ResultCallback | None = None) -> list[Any]:
        if not calls:
            return []
        run = getattr(worker(*init), method)
        results = []
        for call in calls:
            results.append(run(*call))
            if on_result is not None:
                on_result(call, results[-1])
        return results

    def tasks(self, function: Callable[..., Any], calls: Sequence[tuple[Any, ...]], *,
              on_result: ResultCallback | None = None) -> list[Any]:
        workers = self.workers()
        if workers == 1 or len(calls) < 2:
            outputs = (function(*call) for call in calls)
        else:
            outputs = process_pool("fork", workers).map(_apply, [(function, call) for call in calls])
        results = []
        for call, result in zip(calls, outputs, strict=True):
            results.append(result)
            if on_result is not None:
                on_result(call, result)
        return results

    def train(self, train: Callable[..., Any], kwargs: dict[str, Any], *,
              on_epoch: Callable[..., None] | None = None) -> Any:
        return train(**kwargs, on_epoch=on_epoch)


def _apply(function_and_call: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    function, call = function_and_call
    return function(*call)


def engine_for(name: EngineName = "local", address: str | None = None, partition_items: int | None = None
               ) -> Engine:
    """The engine called ``name``; ``ray`` connects to ``address`` (``auto``, ``ray://host:10001``,
    or ``None`` for a local Ray) when it first runs something. ``partition_items``: items per
    partition of its jobs (default: each job's own)."""
    engine: Engine
    if name == "ray":  # by name: what imports this module never loads Ray (import-linter checks it)
        ray_engine: type[Engine] = importlib.import_module("resources.ray_engine").RayEngine
        engine = ray_engine(address)  # type: ignore[call-arg]
    else:
        engine = LocalEngine()
    engine.partition_items = partition_items
    return engine


_pools: dict[str, tuple[int, ProcessPoolExecutor]] = {}  # start method -> (owner pid, pool)


def process_pool(method: str, workers: int) -> ProcessPoolExecutor:
    """One pool of worker processes per start method and process, kept for later calls.

    ``fork`` for jobs (as statsforecast's own): a spawned worker would re-run the caller's
    ``__main__``, which breaks scripts and notebooks without a main guard; the pooled work runs only
    numpy and statsforecast, never torch's OpenMP, so a parent that trained DeepAR is safe to fork.
    ``spawn`` for a server (forking a process with server threads is not safe); its ``__main__`` is
    the ``forecast`` command or a test runner, both guarded."""
    owner, pool = _pools.get(method, (None, None))
    if pool is None or owner != os.getpid() or pool._max_workers != workers:  # type: ignore[attr-defined]
        if pool is not None and owner == os.getpid():
            pool.shutdown(cancel_futures=True)
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
        _pools[method] = (os.getpid(), pool)
    return pool


def shutdown_pools() -> None:
    """Stop this process's pools (a server at shutdown, a test session at its end)."""
    for method, (owner, pool) in list(_pools.items()):
        if owner == os.getpid():
            pool.shutdown(cancel_futures=True)
        del _pools[method]
