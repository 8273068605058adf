"""The routes every resource kind has, made from its declaration (:mod:`resources.kinds`): create
(the kind's request model as the body, its register function, the server's allowlists for the
locations it names), list, describe, delete, stop and the job's log. A kind's own module under
``api/http/routes/`` adds whatever else it serves (a kind without one has these alone)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from api.http.deps import AppState, StateDep
from api.http.schemas import NAME_PATTERN, Message, ResourcePublic, ResourcesPublic
from api.jobs.runner import read_log, remove_log
from resources import Kind
from resources.kinds import declaration, delete_summary
from resources.lifecycle import delete_resource, request_stop
from resources.locations import allowed_source, check_allowed

NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="resource name: letters, digits, - and _")]


def resource_router(kind: Kind, *, list_route: bool = True,
                    on_delete: Callable[[AppState, str], None] | None = None) -> APIRouter:
    """A router at ``/{kind}s`` with the kind's shared routes: ``POST ""`` (create, when the kind
    declares a register function), ``GET ""`` (unless the kind lists its own way), ``GET /{name}``,
    ``DELETE /{name}``, ``POST /{name}/stop`` and ``GET /{name}/log``.
    ``on_delete(state, name)`` runs after a delete (to drop what the server caches)."""
    d = declaration(kind)
    router = APIRouter(prefix=f"/{d.plural}", tags=[d.plural])

    def read_all(state: StateDep) -> ResourcesPublic:
        items = [ResourcePublic.of(r) for r in state.runtime.registry.list(kind)]
        return ResourcesPublic(data=items, count=len(items))

    def read_one(name: NameParam, state: StateDep) -> ResourcePublic:
        return ResourcePublic.of(state.runtime.registry.get(kind, name))

    def delete(name: NameParam, state: StateDep) -> Response:
        delete_resource(state.runtime.registry, state.runtime.workspace, kind, name)
        if on_delete is not None:
            on_delete(state, name)
        remove_log(state.runtime.settings, kind, name)
        return Response(status_code=204)

    def create(body: BaseModel, state: StateDep) -> ResourcePublic:
        settings = state.runtime.settings
        spec = body
        for field, role in d.locations.items():  # this surface's allowlists (the CLI reads and writes anywhere)
            *outer, name = field.split(".")  # a field of a nested model: hyperparameters.model_path
            holders = [spec]
            for part in outer:
                holders.append(getattr(holders[-1], part))
            if (value := getattr(holders[-1], name)) is None:
                continue
            if role == "source":
                updated = holders[-1].model_copy(update={name: allowed_source(value, settings.allowed_import_prefixes)})
                for holder, part in zip(reversed(holders[:-1]), reversed(outer), strict=True):
                    updated = holder.model_copy(update={part: updated})
                spec = updated
            else:
                check_allowed(value, settings.allowed_export_prefixes)
        r = d.register_function()(state.runtime.job_context(), spec)
        state.jobs.start(kind, r.name)
        return ResourcePublic.of(r)

    create.__annotations__ = {"body": d.spec, "state": StateDep, "return": ResourcePublic}

    def stop(name: NameParam, state: StateDep) -> ResourcePublic:
        return ResourcePublic.of(request_stop(state.runtime.registry, kind, name))

    def read_job_log(name: NameParam, state: StateDep) -> PlainTextResponse:
        state.runtime.registry.get(kind, name)
        return PlainTextResponse(read_log(state.runtime.settings, kind, name))

    if list_route:
        router.add_api_route("", read_all, methods=["GET"], summary=f"List {d.plural}",
                             name=f"read_{d.plural}", description=f"List {d.plural}. {d.summary}")
    if d.register:
        allowlist = ({403: {"model": Message, "description": "a location outside the server's allowed prefixes"}}
                     if d.locations else {})
        router.add_api_route("", create, methods=["POST"], status_code=202, name=f"create_{d.noun}",
                             responses=allowlist, summary=f"Start {d.job}",
                             description=f"Start {d.job} in a worker process. It answers 202 at once; poll "
                                         f"`GET /v1/{d.plural}/{{name}}` and read its log at `/log`. "
                                         + " ".join((d.spec.__doc__ or "").split()))
    router.add_api_route("/{name}", read_one, methods=["GET"], summary=f"Describe {d.a}",
                         name=f"read_{d.noun}",
                         description=f"Describe {d.a}: its status, what was asked for (spec) and what came "
                                     f"out (result), or, while {d.job} runs, its progress.")
    router.add_api_route("/{name}", delete, methods=["DELETE"], status_code=204, summary=f"Delete {d.a}",
                         name=f"delete_{d.noun}", responses={204: {"description": "deleted"}},
                         description=f"{delete_summary(kind)}. Refused (409) too while {d.job} runs: stop it "
                                     f"first. {d.on_delete.capitalize()}")
    router.add_api_route("/{name}/stop", stop, methods=["POST"], status_code=202, summary=f"Stop {d.job}",
                         name=f"stop_{d.noun}",
                         description=f"Stop {d.job} in progress: CREATE_STOPPING now, CREATE_STOPPED once its "
                                     "process has cleaned up; then it can be deleted. Stopping a stopped job changes "
                                     "nothing; 409 when it is not in progress.")
    router.add_api_route("/{name}/log", read_job_log, methods=["GET"], response_class=PlainTextResponse,
                         summary=f"Read {d.job}'s log", name=f"read_{d.noun}_log",
                         description=f"Read the log of {d.job} started over HTTP: what the CLI would have "
                                     "printed, progress, and any traceback (the last MiB).",
                         responses={200: {"content": {"text/plain": {}}}})
    return router


def kind_router(kind: Kind) -> APIRouter:
    """The router of ``kind``: its module under ``api/http/routes/`` (named by the kind's plural,
    ``-`` as ``_``) if it has one, else the shared routes alone."""
    module = f"{__package__}.{declaration(kind).plural.replace('-', '_')}"
    if importlib.util.find_spec(module) is None:
        return resource_router(kind)
    router: APIRouter = importlib.import_module(module).router
    return router
