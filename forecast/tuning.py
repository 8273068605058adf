"""Tuning jobs: a search over hyperparameter ranges with Optuna's TPE sampler, each trial an
ordinary predictor (ACTIVE, backtested, tagged with its job) trained with a validation window.

The objective of a trial is its predictor's metric on the window *before* the backtest window
(``metrics["validation"]``, from a fit on the history before that window), never on the window
its reported backtest scores: the best trial's backtest stays an honest out-of-sample figure. A
warm start seeds the search with the completed trials of up to five parent jobs: as evaluated
trials when data and algorithm are unchanged (``identical-data-and-algorithm``), as the first
points to try otherwise (``transfer-learning``). Trials run ``max_parallel_jobs`` at a time:
one in the job's process, or several in fresh processes of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from forecast.config import Hyperparameters
from forecast.errors import HyperparameterError, TrainingError
from forecast.tuning_kind import MAX_PARENTS, ParameterRange, TuningJobCreate
from resources import (
    ConflictError,
    InvalidInputError,
    Kind,
    NotFoundError,
    Registry,
    Resource,
    Status,
    Workspace,
)
from resources.kinds import JobContext
from resources.lifecycle import building, time_limit

#: Our option names that a range may not search: they define the job, not a setting of it.
FIXED_ONLY = ("prediction_length", "backtest_windows", "seed")


def check_ranges(fixed: dict[str, Any], ranges: dict[str, ParameterRange]) -> Hyperparameters:
    """The fixed hyperparameters, checked, with each range's ends (and each of its values) checked
    against the algorithm's own option model.

    Raises
    ------
    InvalidInputError
        An unknown option, one the job fixes, or a range end or value the option does not accept:
        the message names the option and its bound.
    """
    for name in ranges:
        if name not in Hyperparameters.model_fields:
            raise InvalidInputError(f"ranges: {name!r} is not a hyperparameter (see `forecast predictors create -h`)")
        if name in FIXED_ONLY:
            raise InvalidInputError(f"ranges: {name!r} defines the job; give it in hyperparameters")
        if name in fixed:
            raise InvalidInputError(f"ranges: {name!r} is also fixed in hyperparameters; give it in one place")
    try:
        base = Hyperparameters.from_values(fixed)
    except (ValidationError, ValueError) as e:
        raise InvalidInputError(f"hyperparameters: {e}") from None
    for name, r in ranges.items():
        ends = r.values if r.values is not None else [r.min, r.max]
        for value in ends:
            try:
                Hyperparameters.from_values({**fixed, name: _cast(r, value)})
            except (ValidationError, ValueError) as e:
                raise InvalidInputError(f"ranges: {name} {value!r} is not a value the option takes: "
                                        f"{str(e).splitlines()[-1].strip()}") from None
    return base


def _cast(r: ParameterRange, value: Any) -> Any:
    return int(value) if r.values is None and r.type == "integer" else value


def _distributions(ranges: dict[str, ParameterRange]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, r in ranges.items():
        if r.values is not None:
            out[name] = CategoricalDistribution(r.values)
        elif r.type == "integer":
            out[name] = IntDistribution(int(r.min or 0), int(r.max or 0), log=r.scale == "log")
        else:
            out[name] = FloatDistribution(float(r.min or 0), float(r.max or 0), log=r.scale == "log")
    return out


def register_tuning_job(registry: Registry, request: TuningJobCreate) -> Resource:
    """Check a tuning job's request and register it ``CREATE_PENDING``.

    Raises
    ------
    InvalidInputError
        Bad ranges or hyperparameters, more than five parents, a parent on another algorithm
        under ``identical-data-and-algorithm``.
    NotFoundError, ConflictError
        The dataset or a parent does not exist; a parent is not finished.
    """
    registry.require_free(Kind.TUNING_JOB, request.name)
    registry.get_active(Kind.DATASET, request.dataset)
    base = check_ranges(request.hyperparameters, request.ranges)
    if len(request.warm_start_from) > MAX_PARENTS:
        raise InvalidInputError(f"warm_start_from: at most {MAX_PARENTS} parent tuning jobs, got "
                                f"{len(request.warm_start_from)}")
    for parent in request.warm_start_from:
        p = registry.get(Kind.TUNING_JOB, parent)
        if p.status != Status.ACTIVE:
            raise ConflictError(f"parent tuning job {parent!r} is {p.status.value}; a warm start takes finished jobs")
        algorithm = p.spec["hyperparameters"].get("algorithm", "auto")
        if request.warm_start_type == "identical-data-and-algorithm" and (
                algorithm != base.algorithm or p.spec["dataset"] != request.dataset):
            raise InvalidInputError(
                f"parent tuning job {parent!r} tuned {algorithm} on {p.spec['dataset']!r}, not {base.algorithm} on "
                f"{request.dataset!r}: identical-data-and-algorithm needs both the same; use transfer-learning")
    return registry.create(Kind.TUNING_JOB, request.name, status=Status.CREATE_PENDING,
                           spec=request.model_dump(mode="json", exclude={"name"}), result={"trials": []})


def register_tuning_job_request(ctx: JobContext, request: TuningJobCreate) -> Resource:
    """The tuning-job kind's register function."""
    return register_tuning_job(ctx.registry, request)


@dataclass(frozen=True)
class TrialPlace:
    """Where a trial trains, as a process of its own can rebuild it (picklable)."""

    root: str
    storage_options: dict[str, Any]
    registry: str
    precision: str
    max_training_memory_mb: int | None
    threads: int  # this machine's cores shared by the trials running at once

    @classmethod
    def of(cls, ctx: JobContext, parallel: int) -> TrialPlace:
        import os

        return cls(ctx.workspace.root, dict(ctx.workspace.storage_options), str(ctx.registry.path), ctx.precision,
                   ctx.max_training_memory_mb, max(1, (os.cpu_count() or 1) // parallel))


def train_trial(ctx: JobContext | TrialPlace, request: TuningJobCreate, number: int,
                params: dict[str, Any]) -> dict[str, Any]:
    """Trial ``number`` of a tuning job: its predictor trained with ``params`` and a validation
    window; the trial's row (status, objective, the backtest's same metric, seconds). Runs in the
    job's process, or in one of its own (``ctx`` a :class:`TrialPlace`)."""
    from forecast.features import FeatureInputs
    from forecast.predictors import create_predictor

    if isinstance(ctx, TrialPlace):
        import torch

        torch.set_num_threads(ctx.threads)  # trials at once share the cores instead of fighting over them
        ctx = JobContext(workspace=Workspace(ctx.root, storage_options=ctx.storage_options),
                         registry=Registry(ctx.registry), precision=ctx.precision,
                         max_training_memory_mb=ctx.max_training_memory_mb)
    started = time.perf_counter()
    predictor = f"{request.name}-{number:03d}"
    row: dict[str, Any] = {"number": number, "predictor": predictor, "params": params}
    try:
        hp = Hyperparameters.from_values({**request.hyperparameters, **params})
        p = create_predictor(ctx.workspace, ctx.registry, predictor, dataset=request.dataset, hyperparameters=hp,
                             features=FeatureInputs(related=request.related, metadata=request.metadata,
                                                    holidays=request.holidays),
                             engine=ctx.engine, precision=ctx.precision,  # type: ignore[arg-type]
                             memory_limit_mb=ctx.max_training_memory_mb, tuning_job=request.name, validation=True)
        value = p.result["metrics"]["validation"].get(request.objective)
        if value is None:
            raise TrainingError(f"the validation window gave no {request.objective}")
        row |= {"status": "COMPLETED", "objective": float(value),
                "backtest": p.result["metrics"]["predictor"].get(request.objective)}
    except (TrainingError, HyperparameterError, InvalidInputError) as e:
        row |= {"status": "FAILED", "objective": None, "backtest": None, "message": str(e)[:300]}
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def run_tuning_job(ctx: JobContext, name: str) -> Resource:
    """Run registered tuning job ``name`` to its end: ``max_jobs`` trials, ``max_parallel_jobs``
    at a time (more than one: each in a process of its own, started fresh)."""
    import optuna

    registry, workspace = ctx.registry, ctx.workspace
    r = registry.get(Kind.TUNING_JOB, name)
    request = TuningJobCreate.model_validate({**{k: v for k, v in r.spec.items() if k in TuningJobCreate.model_fields},
                                              "name": name})
    registry.claim(Kind.TUNING_JOB, name)
    with building(registry, workspace, Kind.TUNING_JOB, name, None, wrap=TrainingError, keep=(InvalidInputError,)), \
            time_limit(registry, Kind.TUNING_JOB, name, request.max_runtime_seconds), _trial_runner(ctx, request) as run:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        base = check_ranges(request.hyperparameters, request.ranges)
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=base.seed))
        distributions = _distributions(request.ranges)
        seeded = _warm_start(registry, request, study, distributions)
        trials: list[dict[str, Any]] = []
        running: dict[Future[dict[str, Any]], Any] = {}
        asked = 0
        while asked < request.max_jobs or running:
            while asked < request.max_jobs and len(running) < request.max_parallel_jobs:
                trial = study.ask(distributions)
                asked += 1
                running[run(asked, trial.params)] = trial
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                trial, row = running.pop(future), future.result()
                if row["status"] == "COMPLETED":
                    study.tell(trial, row["objective"])
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                trials.append(row)
            trials.sort(key=lambda t: t["number"])
            progress = {"phase": "tuning", "items_done": len(trials), "items_total": request.max_jobs}
            registry.report_progress(Kind.TUNING_JOB, name, progress)  # a stop asked for ends the job here
            registry.update(Kind.TUNING_JOB, name, result={"trials": trials, "warm_start_trials": seeded,
                                                          "best": _best(trials, request), "progress": progress})
        if not any(t["status"] == "COMPLETED" for t in trials):
            raise TrainingError(f"no trial completed: {trials[-1].get('message', '')}")
        return registry.update(Kind.TUNING_JOB, name, status=Status.ACTIVE, result={
            "trials": trials, "warm_start_trials": seeded, "best": _best(trials, request)})


@contextmanager
def _trial_runner(ctx: JobContext, request: TuningJobCreate) -> Iterator[Callable[[int, dict[str, Any]],
                                                                                   Future[dict[str, Any]]]]:
    """``run(number, params)`` -> the trial's future: here, one at a time, or in a pool of
    ``max_parallel_jobs`` fresh processes (stopped trials' predictors are stopped with the job)."""
    if request.max_parallel_jobs == 1:
        def here(number: int, params: dict[str, Any]) -> Future[dict[str, Any]]:
            future: Future[dict[str, Any]] = Future()
            future.set_result(train_trial(ctx, request, number, params))
            return future

        yield here
        return
    import multiprocessing

    place = TrialPlace.of(ctx, request.max_parallel_jobs)
    pool = ProcessPoolExecutor(max_workers=request.max_parallel_jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield lambda number, params: pool.submit(train_trial, place, request, number, params)
    except BaseException:
        from resources.lifecycle import request_stop

        for r in ctx.registry.list(Kind.PREDICTOR):  # the trials in flight end with the job
            if r.spec.get("tuning_job") == request.name and r.status.in_flight:
                try:
                    request_stop(ctx.registry, Kind.PREDICTOR, r.name)
                except (ConflictError, NotFoundError):
                    pass
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _best(trials: list[dict[str, Any]], request: TuningJobCreate) -> dict[str, Any] | None:
    done = [t for t in trials if t["status"] == "COMPLETED"]
    if not done:
        return None
    best = min(done, key=lambda t: t["objective"])
    return {"predictor": best["predictor"], "trial": best["number"], "objective": best["objective"],
            "objective_name": request.objective, "backtest": best["backtest"], "params": best["params"]}


def _warm_start(registry: Registry, request: TuningJobCreate, study: Any, distributions: dict[str, Any]) -> int:
    """Seed ``study`` with the parents' completed trials; how many were used."""
    import optuna

    used = 0
    for parent in request.warm_start_from:
        p = registry.get(Kind.TUNING_JOB, parent)
        for t in p.result.get("trials") or []:
            if t["status"] != "COMPLETED":
                continue
            params = {k: v for k, v in t["params"].items() if k in distributions}
            inside = all(_inside(distributions[k], v) for k, v in params.items())
            if request.warm_start_type == "identical-data-and-algorithm" and len(params) == len(distributions) \
                    and inside and t.get("objective_name", request.objective) == request.objective:
                study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                          value=t["objective"]))
                used += 1
            elif inside:
                study.enqueue_trial(params, skip_if_exists=True)
                used += 1
    return used


def _inside(distribution: Any, value: Any) -> bool:
    """Whether a parent's value lies in this search's range for it."""
    if hasattr(distribution, "choices"):
        return value in distribution.choices
    return bool(distribution.low <= value <= distribution.high)


def trials_of(workspace: Workspace, registry: Registry, name: str, *, sort_by: str = "number",
              descending: bool = False) -> list[dict[str, Any]]:
    """A tuning job's trials: number, predictor, each searched hyperparameter, the objective (on
    the validation window), the same metric on the backtest, status and seconds.

    Raises
    ------
    NotFoundError
    InvalidInputError
        ``sort_by`` is not a column.
    """
    r = registry.get(Kind.TUNING_JOB, name)
    rows = [{"number": t["number"], "predictor": t["predictor"], **t["params"], "objective": t["objective"],
             "backtest": t["backtest"], "status": t["status"], "seconds": t["seconds"]}
            for t in r.result.get("trials") or []]
    if rows and sort_by not in rows[0]:
        raise InvalidInputError(f"sort_by {sort_by!r} is not a column; one of {', '.join(rows[0])}")
    have = [t for t in rows if t.get(sort_by) is not None]
    return sorted(have, key=lambda t: t[sort_by], reverse=descending) + [t for t in rows if t.get(sort_by) is None]

