"""Aliases: stable names for forecasts.

An alias is a registry row naming one forecast; setting it again moves it in one row update, so a
reader resolves it to the old forecast or the new one, never to a mix. A forecast an alias points
at cannot be deleted (the alias kind uses it). Everything that reads a forecast by name resolves
aliases through :func:`resolve_forecast`: queries over HTTP and the managed API, the lookup page,
exports.
"""

from __future__ import annotations

from datetime import UTC, datetime

from forecast.alias_kind import AliasSet
from resources import Kind, NotFoundError, Registry, Resource, Status
from resources.kinds import JobContext


def set_alias(registry: Registry, name: str, forecast: str) -> Resource:
    """Point alias ``name`` at ACTIVE ``forecast``, creating it or moving it (its history keeps
    every forecast it pointed at, so rolling back is setting it to the previous one).

    Raises
    ------
    NotFoundError, ConflictError
        ``forecast`` does not exist or is not ``ACTIVE``.
    InvalidInputError
        ``name`` is a forecast's name (an alias may not hide a forecast).
    """
    from resources import InvalidInputError

    registry.get_active(Kind.FORECAST, forecast)
    if registry.exists(Kind.FORECAST, name):
        raise InvalidInputError(f"{name!r} is a forecast's name; an alias needs a name of its own")
    entry = {"forecast": forecast, "at": datetime.now(UTC).isoformat()}
    if not registry.exists(Kind.ALIAS, name):
        registry.create(Kind.ALIAS, name, status=Status.ACTIVE, spec={"forecast": forecast},
                        result={"history": [entry]})
        return registry.get(Kind.ALIAS, name)
    old = registry.get(Kind.ALIAS, name)
    return registry.update_spec(Kind.ALIAS, name, {"forecast": forecast},
                                result={"history": [*(old.result.get("history") or []), entry][-100:]})


def resolve_forecast(registry: Registry, name: str) -> Resource:
    """The forecast named ``name``, or the one alias ``name`` points at (read in one row, so a
    moving alias gives one forecast or the other).

    Raises
    ------
    NotFoundError
        Neither a forecast nor an alias has that name.
    """
    if registry.exists(Kind.FORECAST, name):
        return registry.get(Kind.FORECAST, name)
    try:
        alias = registry.get(Kind.ALIAS, name)
    except NotFoundError:
        raise NotFoundError(f"forecast {name!r} not found (no forecast or alias has that name)") from None
    return registry.get(Kind.FORECAST, alias.spec["forecast"])


def aliases_of(registry: Registry, forecast: str) -> list[str]:
    return [a.name for a in registry.list(Kind.ALIAS) if a.spec.get("forecast") == forecast]


def register_alias_job(ctx: JobContext, spec: AliasSet) -> Resource:
    return set_alias(ctx.registry, spec.name, spec.forecast)


def run_alias_job(ctx: JobContext, name: str) -> Resource:
    """An alias has no work to do: it is ACTIVE once set."""
    return ctx.registry.get(Kind.ALIAS, name)


def move_from_document(ctx: JobContext, alias: Resource, request: AliasSet, changed: list[str]) -> Resource | None:
    """The alias kind's update (:mod:`resources.specs`): a document naming another forecast moves
    the alias to it, as ``alias set`` does."""
    if changed != ["forecast"]:
        return None
    return set_alias(ctx.registry, alias.name, request.forecast)
