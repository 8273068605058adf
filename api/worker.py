"""Run one registered job in its own process: ``python -m api.worker KIND NAME``.

The HTTP service registers a job as ``CREATE_PENDING`` and starts this process, so the server
itself never imports torch or trains. The worker takes the job over (it becomes the owner whose
death marks the job failed) and runs it to ``ACTIVE`` or ``CREATE_FAILED``.
"""

from __future__ import annotations

import sys

from api.log_config import setup_logging
from api.runtime import build_runtime
from datasets import Kind, ServiceError


def run(kind: str, name: str) -> int:
    rt = build_runtime()
    setup_logging(rt.settings.log_level, fmt=rt.settings.log_format)
    resource = rt.registry.get(Kind(kind), name)
    spec = resource.spec
    try:
        if kind == Kind.FORECAST.value:
            from forecast.forecasts import run_forecast

            run_forecast(rt.workspace, rt.registry, name, precision=rt.settings.inference_precision)
        elif kind == Kind.PREDICTOR.value:
            from forecast.config import DeepARHyperparameters
            from forecast.predictors import create_predictor

            create_predictor(rt.workspace, rt.registry, name, dataset=spec["dataset"],
                             hyperparameters=DeepARHyperparameters.model_validate(spec["hyperparameters"]),
                             registered=True, precision=rt.settings.inference_precision)
        elif kind == Kind.EXPORT.value:
            from exports.jobs import run_export

            run_export(rt.workspace, rt.registry, name, storage_options=rt.settings.storage_options(spec["destination"]),
                       registered=True)
        else:
            raise SystemExit(f"unknown job kind {kind!r}")
    except ServiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2]))
