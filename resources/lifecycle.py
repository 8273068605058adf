"""The one lifecycle every resource kind follows, in one place.

::

    register ─► CREATE_PENDING ─► CREATE_IN_PROGRESS ─► ACTIVE
                      │                  │  └──────────► CREATE_FAILED   (error, Ctrl-C, owner died)
                      └──── stop ───► CREATE_STOPPING ──► CREATE_STOPPED  (then deletable)

- :func:`building` wraps a job's work: it records where the job writes (its *partial* output),
  turns SIGTERM into :class:`JobStopped`, and on any way out but success records the outcome and
  removes the partial output.
- :func:`request_stop` asks a job in flight to stop: ``CREATE_STOPPING``, then SIGTERM to its
  owner (when on this host); a job also notices the request at its next progress report.
- A job whose owner died is reported failed by the registry on the next read; :func:`sweep`
  (run when the server starts, and by every delete) removes what such jobs left behind.
- :func:`delete_resource` is the one delete guard: nothing in flight, nothing in use.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from resources.errors import ConflictError, JobStopped, ServiceError
from resources.registry import Kind, Registry, Resource, Status
from resources.workspace import Workspace


def record_end(registry: Registry, kind: Kind, name: str, exc: BaseException) -> None:
    """Record how a job ended without success: stopped, interrupted or failed with the reason."""
    if isinstance(exc, JobStopped):
        registry.update(kind, name, status=Status.CREATE_STOPPED, message=str(exc) or "stopped on request")
    elif isinstance(exc, KeyboardInterrupt):
        registry.update(kind, name, status=Status.CREATE_FAILED, message="interrupted (Ctrl-C)")
    else:
        registry.update(kind, name, status=Status.CREATE_FAILED, message=str(exc) or type(exc).__name__)


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within this block (on the main thread), SIGTERM raises :class:`JobStopped`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise JobStopped("stopped on request")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def building(
    registry: Registry,
    workspace: Workspace,
    kind: Kind,
    name: str,
    partial: str | None,
    *,
    wrap: type[ServiceError],
    keep: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Around the work of a registered job that writes to ``partial`` (a workspace-relative folder
    or a URL; ``None``: nothing yet). The job becomes ``CREATE_IN_PROGRESS`` (or stops at once if a
    stop was asked for). On any failure (Ctrl-C, SIGTERM and a stop request included) the outcome
    is recorded and ``partial`` removed. Unexpected exceptions are re-raised as ``wrap``; ``wrap``,
    ``keep`` and non-``Exception`` errors pass through."""
    try:
        with stop_on_sigterm():
            if partial is not None:
                registry.set_partial(kind, name, partial)
            status = registry.get(kind, name).status
            if status == Status.CREATE_STOPPING or not registry.transition(
                    kind, name, from_=status, to=Status.CREATE_IN_PROGRESS):
                raise JobStopped(f"{kind.value} {name!r} was stopped before it started")
            yield
    except BaseException as e:
        record_end(registry, kind, name, e)
        if partial is not None:
            workspace.remove(partial)
            registry.set_partial(kind, name, None)
        if isinstance(e, Exception) and not isinstance(e, (wrap, *keep)):
            raise wrap(f"creating {kind.value} {name!r} failed: {type(e).__name__}: {e}") from e
        raise


def fail_before_start(registry: Registry, kind: Kind, name: str, exc: BaseException) -> None:
    """Record the end of a registered job that failed before :func:`building` (loading, checks)."""
    if registry.exists(kind, name):
        record_end(registry, kind, name, exc)


def request_stop(registry: Registry, kind: Kind, name: str) -> Resource:
    """Ask a job in flight to stop: ``CREATE_STOPPING`` now, ``CREATE_STOPPED`` once its process has
    cleaned up (or is found dead). Stopping a stopped or stopping job is a no-op.

    Raises
    ------
    NotFoundError
    ConflictError
        The resource is not in flight (``ACTIVE`` or failed): there is nothing to stop.
    """
    for _ in range(3):  # the status may move on between reading and setting it
        r = registry.get(kind, name)
        if r.status in (Status.CREATE_STOPPING, Status.CREATE_STOPPED):
            return r
        if not r.status.in_flight:
            raise ConflictError(f"{kind.value} {name!r} is {r.status.value}; only a job in progress can be stopped")
        if registry.transition(kind, name, from_=r.status, to=Status.CREATE_STOPPING, message="stop requested"):
            owner = registry.owner(kind, name)
            if owner is not None:
                owner.signal(signal.SIGTERM)  # never this process; others notice at their next progress report
            return registry.get(kind, name)
    return registry.get(kind, name)


def sweep(registry: Registry, workspace: Workspace) -> list[Resource]:
    """Remove the partial output of every job known to have ended without success (its owner died,
    or it failed before it could clean up); returns those resources. Jobs in flight are untouched."""
    swept = []
    for r in registry.list_all():  # reading marks jobs with dead owners failed / stopped
        if r.artifact and r.status in (Status.CREATE_FAILED, Status.CREATE_STOPPED):
            workspace.remove(r.artifact)
            registry.set_partial(r.kind, r.name, None)
            swept.append(r)
    return swept


def delete_resource(
    registry: Registry, workspace: Workspace, kind: Kind, name: str, *, users: Callable[[], list[Resource]] | None = None,
) -> None:
    """Delete a resource and its stored artifact: refused while it is in flight (stop it first) or
    while ``users()`` names resources that depend on it.

    Raises
    ------
    NotFoundError
    ConflictError
    """
    r = registry.get(kind, name)
    if r.status.in_flight:
        raise ConflictError(
            f"{kind.value} {name!r} is {r.status.value}; stop it first (forecast {kind.value}s stop {name}, or "
            f"DELETE it over HTTP, which stops it) and delete it once it is CREATE_STOPPED"
        )
    dependants = users() if users is not None else []
    if dependants:
        names = ", ".join(f"{d.kind.value} {d.name!r}" for d in dependants[:10])
        raise ConflictError(f"{kind.value} {name!r} is used by {names}; delete those first")
    registry.delete(kind, name)
    if r.artifact:
        workspace.remove(r.artifact)
