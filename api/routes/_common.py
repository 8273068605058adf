"""What the resource routes share: the name parameter, delete-or-stop, and the job log route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import AppState, StateDep
from api.jobs import read_log, remove_log
from api.schemas import NAME_PATTERN, ResourcePublic
from resources import Kind
from resources.lifecycle import request_stop

NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="resource name: letters, digits, - and _")]

DELETE_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": ResourcePublic, "description": "the job was in progress: it is stopping (CREATE_STOPPING); "
          "DELETE again once it is CREATE_STOPPED"},
    204: {"description": "deleted"},
}


def delete_or_stop(state: AppState, kind: Kind, name: str, delete: Callable[[], None]) -> Response:
    """A job in flight is stopped (202 with its status); anything else is deleted (204)."""
    registry = state.runtime.registry
    if registry.get(kind, name).status.in_flight:
        r = request_stop(registry, kind, name)
        return JSONResponse(ResourcePublic.of(r).model_dump(mode="json"), status_code=202)
    delete()
    remove_log(state.runtime.settings, kind, name)
    return Response(status_code=204)


def add_log_route(router: APIRouter, kind: Kind) -> None:
    """``GET /{name}/log``: the log of a job started over HTTP, as plain text."""

    def read_job_log(name: NameParam, state: StateDep) -> PlainTextResponse:
        state.runtime.registry.get(kind, name)
        return PlainTextResponse(read_log(state.runtime.settings, kind, name))

    what = f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value}"
    read_job_log.__doc__ = (f"The log of {what} job started over HTTP: what the CLI would have printed, "
                            "progress, and any traceback (the last MiB).")
    router.add_api_route("/{name}/log", read_job_log, methods=["GET"], response_class=PlainTextResponse,
                         summary=f"Read {what} job's log", name=f"read_{kind.value}_log",
                         responses={200: {"content": {"text/plain": {}}}})
