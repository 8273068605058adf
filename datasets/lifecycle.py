"""The failure half of every resource's lifecycle, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from datasets.errors import ServiceError
from datasets.registry import Kind, Registry, Status
from datasets.workspace import Workspace


@contextmanager
def building(
    registry: Registry,
    workspace: Workspace,
    kind: Kind,
    name: str,
    rel: str,
    *,
    wrap: type[ServiceError],
    keep: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Around the code that writes a resource's artifacts to ``rel``: on any failure (Ctrl-C
    included) the resource becomes ``CREATE_FAILED`` with the reason and ``rel`` is removed.
    Unexpected exceptions are re-raised as ``wrap``; ``wrap`` and ``keep`` pass through."""
    try:
        yield
    except KeyboardInterrupt:
        registry.update(kind, name, status=Status.CREATE_FAILED, message="interrupted (Ctrl-C)")
        workspace.remove_tree(rel)
        raise
    except BaseException as e:
        registry.update(kind, name, status=Status.CREATE_FAILED, message=str(e) or type(e).__name__)
        workspace.remove_tree(rel)
        if isinstance(e, Exception) and not isinstance(e, (wrap, *keep)):
            raise wrap(f"creating {kind.value} {name!r} failed: {type(e).__name__}: {e}") from e
        raise
