"""Tuning jobs: a search over hyperparameter ranges with Optuna's TPE sampler, each trial an
ordinary predictor (ACTIVE, backtested, tagged with its job) trained with a validation window.

The objective of a trial is its predictor's metric on the window *before* the backtest window
(``metrics["validation"]``, from a fit on the history before that window), never on the window
its reported backtest scores: the best trial's backtest stays an honest out-of-sample figure. A
warm start seeds the search with the completed trials of up to five parent jobs: as evaluated
trials when data and algorithm are unchanged (``identical-data-and-algorithm``), as the first
points to try otherwise (``transfer-learning``). Trials run ``max_parallel_jobs`` at a time:
one in the job's process; several in fresh processes of its own (the local engine) or in threads
of the job whose trainings and backtests are Ray tasks (the Ray engine: only the job's process
touches the registry). A finished job is extended by raising ``max_jobs``: its search goes on from
every trial it ran.

Early stopping (``auto``) prunes with Optuna's median rule: a trial's training stops at an epoch
where its best loss on the validation window so far is above the median of the completed trials'
losses at that epoch. The rule is decided where the trial trains, from a snapshot of the completed
trials' curves taken when the trial starts (:class:`Pruning`): with one trial at a time this is
exactly Optuna's pruner; with several, a trial does not see the curves of trials completing while
it runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from forecast.config import Hyperparameters
from forecast.errors import HyperparameterError, TrainingError, TrialPruned
from forecast.models.base import EpochCallback
from forecast.tuning_kind import MAX_PARENTS, MAX_TRIALS, ParameterRange, TuningJobCreate
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
#: Early stopping prunes once this many trials have completed (Optuna's ``n_startup_trials``) ...
PRUNE_AFTER_TRIALS = 5
#: ... and never in the first quarter of a trial's epochs.
PRUNE_WARMUP_SHARE = 0.25


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


@dataclass(frozen=True)
class Pruning:
    """What a trial's pruner knows when the trial starts: each completed trial's validation loss
    per epoch (picklable, so the trial decides wherever it trains)."""

    curves: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, study: Any) -> Pruning:
        import optuna

        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        return cls(tuple(tuple(v for _, v in sorted(t.intermediate_values.items())) for t in done
                         if t.intermediate_values))

    def watch(self, curve: list[float]) -> EpochCallback:
        """An epoch callback appending each validation loss to ``curve`` and raising
        :class:`TrialPruned` when Optuna's median pruner says so."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="minimize",
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS))
        for c in self.curves:
            study.add_trial(optuna.trial.create_trial(value=min(c), intermediate_values=dict(enumerate(c, 1)),
                                                      params={}, distributions={}))
        trial = study.ask()
        record = curve_of(curve)

        def on_epoch(epoch: int, epochs: int, train_loss: float, val_loss: float | None) -> None:
            record(epoch, epochs, train_loss, val_loss)
            if val_loss is None:
                return
            step = len(curve)  # epochs of every network the validation fit trains, in order
            trial.report(val_loss, step)
            if epoch > epochs * PRUNE_WARMUP_SHARE and trial.should_prune():
                median = statistics.median(c[step - 1] for c in self.curves if len(c) >= step)
                raise TrialPruned(f"pruned by its tuning job at epoch {epoch} of {epochs}: its best validation loss "
                                  f"so far, {min(curve):.4f}, is above the median of the completed trials' at that "
                                  f"epoch, {median:.4f}")

        return on_epoch


def train_trial(ctx: JobContext | TrialPlace, request: TuningJobCreate, number: int,
                params: dict[str, Any], pruning: Pruning | None = None) -> dict[str, Any]:
    """Trial ``number`` of a tuning job: its predictor trained with ``params`` and a validation
    window, pruned by ``pruning`` if given; the trial's row (status, objective, the backtest's same
    metric, seconds, the validation loss per epoch). Runs in the job's process (or one of its
    threads), or in a process of its own (``ctx`` a :class:`TrialPlace`)."""
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
    curve: list[float] = []
    try:
        hp = Hyperparameters.from_values({**request.hyperparameters, **params})
        p = create_predictor(ctx.workspace, ctx.registry, predictor, dataset=request.dataset, hyperparameters=hp,
                             features=FeatureInputs(related=request.related, metadata=request.metadata,
                                                    holidays=request.holidays),
                             engine=ctx.engine, precision=ctx.precision,  # type: ignore[arg-type]
                             memory_limit_mb=ctx.max_training_memory_mb, tuning_job=request.name,
                             validation_windows=request.validation_windows,
                             on_validation_epoch=pruning.watch(curve) if pruning else curve_of(curve))
        value = p.result["metrics"]["validation"].get(request.objective)
        if value is None:
            raise TrainingError(f"the validation window gave no {request.objective}")
        row |= {"status": "COMPLETED", "objective": float(value),
                "backtest": p.result["metrics"]["predictor"].get(request.objective),
                "periods": p.result["metrics"]["periods"]}
    except TrialPruned as e:
        row |= {"status": "PRUNED", "objective": None, "backtest": None, "message": str(e)}
    except (TrainingError, HyperparameterError, InvalidInputError) as e:
        row |= {"status": "FAILED", "objective": None, "backtest": None, "message": str(e)[:300]}
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["curve"] = [round(v, 6) for v in curve]
    return row


def curve_of(curve: list[float]) -> EpochCallback:
    """An epoch callback appending each validation loss to ``curve``."""
    def on_epoch(epoch: int, epochs: int, train_loss: float, val_loss: float | None) -> None:
        if val_loss is not None:
            curve.append(val_loss)

    return on_epoch


def run_tuning_job(ctx: JobContext, name: str) -> Resource:
    """Run registered tuning job ``name`` to its end: ``max_jobs`` trials, ``max_parallel_jobs``
    at a time; an extended job goes on from the trials it ran."""
    import optuna

    registry, workspace = ctx.registry, ctx.workspace
    r = registry.get(Kind.TUNING_JOB, name)
    request = TuningJobCreate.model_validate({**{k: v for k, v in r.spec.items() if k in TuningJobCreate.model_fields},
                                              "name": name})
    trials: list[dict[str, Any]] = list(r.result.get("trials") or [])
    registry.claim(Kind.TUNING_JOB, name)
    with building(registry, workspace, Kind.TUNING_JOB, name, None, wrap=TrainingError, keep=(InvalidInputError,)), \
            time_limit(registry, Kind.TUNING_JOB, name, request.max_runtime_seconds), _trial_runner(ctx, request) as run:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        base = check_ranges(request.hyperparameters, request.ranges)
        study = optuna.create_study(direction="minimize")
        distributions = _distributions(request.ranges)
        seeded = _warm_start(registry, request, study, distributions)
        for row in trials:  # an extended job: the search goes on from what it ran
            study.add_trial(_as_trial(row, distributions))
        # seeded past the trials it knows, so a job extended (or warm-started from a parent of the
        # same seed) does not draw its first settings again
        study.sampler = optuna.samplers.TPESampler(seed=base.seed + len(study.trials))
        running: dict[Future[dict[str, Any]], Any] = {}
        asked = len(trials)
        while asked < request.max_jobs or running:
            while asked < request.max_jobs and len(running) < request.max_parallel_jobs:
                trial = study.ask(distributions)
                asked += 1
                pruning = Pruning.of(study) if request.early_stopping == "auto" else None
                running[run(asked, trial.params, pruning)] = trial
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                trial, row = running.pop(future), future.result()
                for step, value in enumerate(row["curve"], 1):
                    trial.report(value, step)
                if row["status"] == "COMPLETED":
                    study.tell(trial, row["objective"])
                else:
                    study.tell(trial, state=optuna.trial.TrialState[_STATES[row["status"]]])
                trials.append(row)
            trials.sort(key=lambda t: t["number"])
            progress = {"phase": "tuning", "items_done": len(trials), "items_total": request.max_jobs}
            registry.report_progress(Kind.TUNING_JOB, name, progress)  # a stop asked for ends the job here
            registry.update(Kind.TUNING_JOB, name, result={"trials": trials, "warm_start_trials": seeded,
                                                          "best": _best(trials, request), "progress": progress})
        if not any(t["status"] == "COMPLETED" for t in trials):
            raise TrainingError(f"no trial completed: {trials[-1].get('message', '')}")
        return registry.update(Kind.TUNING_JOB, name, status=Status.ACTIVE, message=None, result={
            "trials": trials, "warm_start_trials": seeded, "best": _best(trials, request)})


#: A trial row's status -> Optuna's state of the trial.
_STATES = {"COMPLETED": "COMPLETE", "PRUNED": "PRUNED", "FAILED": "FAIL"}


def _as_trial(row: dict[str, Any], distributions: dict[str, Any]) -> Any:
    """A trial row as a finished Optuna trial (what the search learns from it)."""
    import optuna

    state = optuna.trial.TrialState[_STATES[row["status"]]]
    params = {k: v for k, v in row["params"].items() if k in distributions}
    return optuna.trial.create_trial(
        state=state, value=row["objective"] if state == optuna.trial.TrialState.COMPLETE else None,
        params=params, distributions={k: distributions[k] for k in params},
        intermediate_values=dict(enumerate(row.get("curve") or [], 1)))


TrialRunner = Callable[[int, dict[str, Any], Pruning | None], Future[dict[str, Any]]]


@contextmanager
def _trial_runner(ctx: JobContext, request: TuningJobCreate) -> Iterator[TrialRunner]:
    """``run(number, params, pruning)`` -> the trial's future: here, one at a time; in a pool of
    ``max_parallel_jobs`` fresh processes (the local engine); in as many threads of this process,
    each trial's training and backtest running on the Ray engine. Trials in flight when the job
    ends (a stop, the time limit) are stopped with it."""
    if request.max_parallel_jobs == 1:
        def here(number: int, params: dict[str, Any], pruning: Pruning | None) -> Future[dict[str, Any]]:
            future: Future[dict[str, Any]] = Future()
            future.set_result(train_trial(ctx, request, number, params, pruning))
            return future

        yield here
        return
    import multiprocessing

    pool: ThreadPoolExecutor | ProcessPoolExecutor
    if ctx.engine.name == "ray":
        pool, where = ThreadPoolExecutor(max_workers=request.max_parallel_jobs), ctx
    else:
        pool = ProcessPoolExecutor(max_workers=request.max_parallel_jobs,
                                   mp_context=multiprocessing.get_context("spawn"))
        where = TrialPlace.of(ctx, request.max_parallel_jobs)
    try:
        yield lambda number, params, pruning: pool.submit(train_trial, where, request, number, params, pruning)
    except BaseException:
        from resources.lifecycle import request_stop

        for r in ctx.registry.list(Kind.PREDICTOR):
            if r.spec.get("tuning_job") == request.name and r.status.in_flight:
                try:
                    request_stop(ctx.registry, Kind.PREDICTOR, r.name)
                except (ConflictError, NotFoundError):
                    pass
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def extend_tuning_job(registry: Registry, name: str, max_jobs: int) -> Resource:
    """Give finished tuning job ``name`` more trials: ``max_jobs`` in all, registered to run again
    (``CREATE_PENDING``); :func:`run_tuning_job` goes on from the trials it ran.

    Raises
    ------
    NotFoundError
    ConflictError
        The job is still running.
    InvalidInputError
        ``max_jobs`` is not above the trials it ran, or above the most a job may run.
    """
    r = registry.get(Kind.TUNING_JOB, name)
    if r.status.in_flight:
        raise ConflictError(f"tuning job {name!r} is {r.status.value}; extend it when it has finished")
    ran = len(r.result.get("trials") or [])
    if not ran < max_jobs <= MAX_TRIALS:
        raise InvalidInputError(f"max_jobs: tuning job {name!r} ran {ran} trials; extend it to more than {ran} "
                                f"and at most {MAX_TRIALS} trials, not {max_jobs}")
    spec = {**r.spec, "max_jobs": max_jobs}
    if isinstance(spec.get("applied"), dict):  # what a spec document asked for (resources.specs)
        spec["applied"] = {**spec["applied"], "max_jobs": max_jobs}
    registry.update_spec(Kind.TUNING_JOB, name, spec, result=r.result)
    return registry.update(Kind.TUNING_JOB, name, status=Status.CREATE_PENDING, message=None)


def extend_from_document(ctx: JobContext, job: Resource, request: TuningJobCreate,
                         changed: list[str]) -> Resource | None:
    """The tuning-job kind's update (:mod:`resources.specs`): a document asking for more trials
    (``max_jobs`` alone changed, upwards) extends the finished job and runs it on."""
    if changed != ["max_jobs"] or request.max_jobs <= job.spec.get("max_jobs", 0):
        return None
    extend_tuning_job(ctx.registry, job.name, request.max_jobs)
    return run_tuning_job(ctx, job.name)


def _best(trials: list[dict[str, Any]], request: TuningJobCreate) -> dict[str, Any] | None:
    done = [t for t in trials if t["status"] == "COMPLETED"]
    if not done:
        return None
    best = min(done, key=lambda t: t["objective"])
    return {"predictor": best["predictor"], "trial": best["number"], "objective": best["objective"],
            "objective_name": request.objective, "backtest": best["backtest"], "params": best["params"],
            "periods": best.get("periods")}


def _warm_start(registry: Registry, request: TuningJobCreate, study: Any, distributions: dict[str, Any]) -> int:
    """Seed ``study`` with the parents' completed trials; how many were used."""

    used = 0
    for parent in request.warm_start_from:
        try:
            p = registry.get(Kind.TUNING_JOB, parent)
        except NotFoundError:  # deleted since the job was registered (an extension runs later)
            continue
        for t in p.result.get("trials") or []:
            if t["status"] != "COMPLETED":
                continue
            params = {k: v for k, v in t["params"].items() if k in distributions}
            inside = all(_inside(distributions[k], v) for k, v in params.items())
            same_objective = t.get("objective_name", request.objective) == request.objective and \
                p.spec.get("validation_windows", 1) == request.validation_windows
            if request.warm_start_type == "identical-data-and-algorithm" and len(params) == len(distributions) \
                    and inside and same_objective:
                study.add_trial(_as_trial({**t, "params": params}, distributions))
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
    the validation window), the same metric on the backtest, status, the epochs its validation fit
    trained (fewer when pruned) and seconds.

    Raises
    ------
    NotFoundError
    InvalidInputError
        ``sort_by`` is not a column.
    """
    r = registry.get(Kind.TUNING_JOB, name)
    rows = [{"number": t["number"], "predictor": t["predictor"], **t["params"], "objective": t["objective"],
             "backtest": t["backtest"], "status": t["status"], "epochs_run": len(t.get("curve") or []),
             "seconds": t["seconds"]}
            for t in r.result.get("trials") or []]
    if rows and sort_by not in rows[0]:
        raise InvalidInputError(f"sort_by {sort_by!r} is not a column; one of {', '.join(rows[0])}")
    have = [t for t in rows if t.get(sort_by) is not None]
    return sorted(have, key=lambda t: t[sort_by], reverse=descending) + [t for t in rows if t.get(sort_by) is None]

