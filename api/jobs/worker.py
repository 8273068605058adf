"""Run one registered job in its own process: ``python -m api.jobs.worker KIND NAME``.

The HTTP service registers a job as ``CREATE_PENDING`` and starts this process with its whole
settings as JSON on stdin, so the server itself never imports torch or trains. The worker owns
the job (its death marks the job failed) and runs it to ``ACTIVE``, ``CREATE_FAILED`` or, on a
stop request (SIGTERM), ``CREATE_STOPPED``. What it prints is the job's log.
"""

from __future__ import annotations

import sys
import traceback

from api.log_config import setup_logging
from api.runtime import build_runtime
from api.settings import Settings
from resources import Kind, ServiceError
from resources.errors import JobStopped
from resources.kinds import declaration


def run(kind: str, name: str, settings: Settings) -> int:
    rt = build_runtime(settings)
    setup_logging("INFO" if settings.log_level.upper() == "WARNING" else settings.log_level, fmt=settings.log_format,
                  secrets=settings.secrets())
    if kind not in set(Kind):
        print(f"error: unknown job kind {kind!r}", flush=True)
        return 2
    print(f"{kind} {name!r}: started", flush=True)
    try:
        r = declaration(Kind(kind)).job_function()(rt.job_context(), name)
    except JobStopped as e:
        print(f"{kind} {name!r}: {e}", flush=True)
        return 0
    except ServiceError as e:
        print(f"error: {e}", flush=True)
        return 1
    except Exception:  # noqa: BLE001 - the traceback belongs in the job's log
        traceback.print_exc()
        print(f"error: {kind} {name!r} failed unexpectedly (traceback above)", flush=True)
        return 1
    print(f"{kind} {name!r}: {r.status.value}", flush=True)
    return 0


if __name__ == "__main__":
    settings = Settings.model_validate_json(sys.stdin.read())
    sys.exit(run(sys.argv[1], sys.argv[2], settings))
