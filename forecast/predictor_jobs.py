"""The predictor kind's job: train a registered predictor, after the search it is tuned by when it
has one (the managed API's ``PerformHPO``). Apart from :mod:`forecast.predictors` because it
stands on both that and :mod:`forecast.tuning`, whose trials are predictors."""

from __future__ import annotations

from forecast.config import Hyperparameters
from forecast.errors import TrainingError
from forecast.predictors import create_predictor
from forecast.tuning import run_tuning_job
from resources import Kind, Resource
from resources.kinds import JobContext
from resources.lifecycle import record_end


def run_predictor_job(ctx: JobContext, name: str) -> Resource:
    """The predictor kind's job (:mod:`forecast.predictor_kind`): train registered predictor ``name``."""
    spec = ctx.registry.get(Kind.PREDICTOR, name).spec
    hyperparameters = Hyperparameters.model_validate(spec["hyperparameters"])
    if spec.get("tuned_by"):
        hyperparameters = _tuned(ctx, name, spec["tuned_by"])
    return create_predictor(ctx.workspace, ctx.registry, name, dataset=spec["dataset"],
                            hyperparameters=hyperparameters,
                            registered=True, precision=ctx.precision,  # type: ignore[arg-type]
                            memory_limit_mb=ctx.max_training_memory_mb, engine=ctx.engine)


def _tuned(ctx: JobContext, name: str, job: str) -> Hyperparameters:
    """Run tuning job ``job`` for registered predictor ``name``; the predictor's hyperparameters
    with the best trial's setting, now on record in its spec. A stop or failure of the search
    ends the predictor too, saying so."""
    registry = ctx.registry
    registry.claim(Kind.PREDICTOR, name)
    registry.report_progress(Kind.PREDICTOR, name, {"phase": f"tuning ({job})"})
    try:
        best = run_tuning_job(ctx, job).result["best"]
    except BaseException as e:
        record_end(registry, Kind.PREDICTOR, name,
                   e if not isinstance(e, Exception) else TrainingError(f"its tuning job {job!r} failed: {e}"))
        raise
    spec = registry.get(Kind.PREDICTOR, name).spec
    tuned = Hyperparameters.from_values({**spec["hyperparameters"], **best["params"]})
    registry.update_spec(Kind.PREDICTOR, name, {**spec, "hyperparameters": tuned.model_dump(mode="json")},
                         result=registry.get(Kind.PREDICTOR, name).result)
    return tuned
