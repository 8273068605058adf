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
- A job whose owner died is reported failed by the registry on the next read. The server's job
  runner removes what its dead workers left (:func:`end_orphaned`); :func:`sweep` (when the server
  starts) removes what any other dead job left; a delete removes its resource's own.
- :func:`delete_resource` is the one delete and its guard: nothing in flight, nothing in use.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from resources import kinds
from resources.errors import ConflictError, JobStopped, ServiceError
from resources.registry import OWNER_DIED, Kind, Registry, Resource, Status
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


def throttled_progress(
    registry: Registry, kind: Kind, name: str, every_seconds: float = 0.5,
) -> Callable[..., None]:
    """``report(progress, final=False)``: record a job's progress at most every ``every_seconds``
    (the registry is a file: a few writes a second), and always when ``final``. Each write is
    also where the job notices a stop request (:meth:`Registry.report_progress`)."""
    last = -math.inf

    def report(progress: dict[str, Any], *, final: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if final or now - last >= every_seconds:
            last = now
            registry.report_progress(kind, name, progress)

    return report


@contextmanager
def time_limit(registry: Registry, kind: Kind, name: str, seconds: float | None) -> Iterator[None]:
    """Stop job ``name`` when it runs past ``seconds`` (``None``: no limit): a stop is asked for
    then, which the job notices at its next progress report, and it ends ``CREATE_STOPPED`` with a
    message that says why. Use inside :func:`building`."""
    if not seconds:
        yield
        return
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        try:
            request_stop(registry, kind, name)
        except (ConflictError, ServiceError):  # it ended meanwhile
            pass

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except JobStopped:
        if fired.is_set():
            raise JobStopped(f"{kind.value} {name!r} ran past its maximum runtime ({seconds:g} s) and was "
                             "stopped") from None
        raise
    finally:
        timer.cancel()


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


def discard_partial(registry: Registry, workspace: Workspace, r: Resource) -> None:
    """Remove what a job that ended without success left at its recorded partial location."""
    if r.artifact:
        workspace.remove(r.artifact)
        registry.set_partial(r.kind, r.name, None)


def end_orphaned(registry: Registry, workspace: Workspace, kind: Kind, name: str, reason: str,
                 pid: int | None = None) -> None:
    """A job's process exited while the job was still in flight (killed, crashed): record that
    (``CREATE_STOPPED`` if a stop was asked for, else ``CREATE_FAILED`` with ``reason``) and remove
    its partial output now. A reader may have found the dead owner first and recorded it without a
    reason; ``reason`` then replaces that. A job that ended on its own is left as it is, and so is
    one that another process owns by now (``pid``: the process that exited; a finished job run on
    by a new process, as an extended tuning job is, belongs to that one)."""
    owner = registry.owner(kind, name) if pid is not None else None
    if owner is not None and owner.pid != pid:
        return
    r = registry.get(kind, name, judge_owner=False)  # the caller knows the owner is gone, and why
    if r.status == Status.CREATE_STOPPING:
        r = registry.update(kind, name, status=Status.CREATE_STOPPED, message="stopped on request")
    elif r.status.in_flight or (r.status == Status.CREATE_FAILED and r.message == OWNER_DIED):
        r = registry.update(kind, name, status=Status.CREATE_FAILED, message=reason)
    elif r.status != Status.CREATE_STOPPED:
        return
    discard_partial(registry, workspace, r)


def sweep(registry: Registry, workspace: Workspace) -> list[Resource]:
    """Remove the partial output of every job known to have ended without success (its owner died
    without anyone watching it); returns those resources. Jobs in flight are untouched. Run when
    the server starts; a delete removes its own resource's partial output."""
    swept = []
    for r in registry.list_all():  # reading marks jobs with dead owners failed / stopped
        if r.artifact and r.status in (Status.CREATE_FAILED, Status.CREATE_STOPPED):
            discard_partial(registry, workspace, r)
            swept.append(r)
    return swept


def delete_resource(registry: Registry, workspace: Workspace, kind: Kind, name: str) -> None:
    """Delete a resource and its stored artifact: refused while it is in flight (stop it first) or
    while resources that its kind's declared users name depend on it (:func:`resources.kinds.dependants`).
    Every surface deletes through this, so they all agree.

    Raises
    ------
    NotFoundError
    ConflictError
    """
    r = registry.get(kind, name)
    if r.status.in_flight:
        raise ConflictError(
            f"{kind.value} {name!r} is {r.status.value}; stop it first and delete it once it is CREATE_STOPPED"
        )
    dependants = kinds.dependants(registry, kind, name)
    if dependants:
        names = ", ".join(f"{d.kind.value} {d.name!r}" for d in dependants[:10])
        raise ConflictError(f"{kind.value} {name!r} is used by {names}; delete those first")
    registry.delete(kind, name)
    if r.artifact:
        workspace.remove(r.artifact)
