"""Command-line flags made from an option model: one flag per field, its help the field's
description and default, so the flags cannot drift from what the HTTP body, the options file and
the AWS mapping accept (they all validate with the same model)."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Collection
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from rich.markup import escape

#: The keyword the wrapped command receives the flags' values under (only those given, as text).
GIVEN = "given_options"


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _help(info: FieldInfo) -> str:
    text = info.description or ""
    if info.is_required():
        return escape(text + " [required]")
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "default_text" in extra:
        return escape(f"{text} [default: {extra['default_text']}]")
    default = info.get_default(call_default_factory=True)
    if default is not None and default != [] and default is not False:
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        text += f" [default: {shown}]"
    return escape(text)  # rich would take "[default: 32]" for a markup tag and print nothing


def _metavar(info: FieldInfo) -> str:
    """What the flag takes, from the field's type: ``<int>``, ``<float>``, ``<a,b,...>``, ``<str>``."""
    union = typing.get_origin(info.annotation) in (typing.Union, types.UnionType)
    arms = typing.get_args(info.annotation) if union else (info.annotation,)
    kinds = {typing.get_origin(a) or a for a in arms} - {type(None)}
    if list in kinds:
        return "<a,b,...>"
    for kind in (int, float):
        if kind in kinds and len(kinds) == 1:
            return f"<{kind.__name__}>"
    return "<str>"


def _parameter(name: str, info: FieldInfo, panel: str | None) -> inspect.Parameter:
    if info.annotation is bool:
        option = typer.Option(f"{flag_name(name)}/--no-{name.replace('_', '-')}", help=_help(info), metavar="",
                              show_default=False, rich_help_panel=panel)
        annotation: Any = Annotated[bool | None, option]
    else:
        option = typer.Option(flag_name(name), help=_help(info), show_default=False, rich_help_panel=panel,
                              metavar=_metavar(info))
        annotation = Annotated[str | None, option]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _spliced(command: Callable[..., Any], params: list[inspect.Parameter], receiver: str,
             build: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """``command`` with ``params`` added to its signature (every parameter by name, as typer passes
    them); their values are taken out, and the command's keyword ``receiver`` (not a flag) gets
    ``build(values)`` instead."""
    hints = typing.get_type_hints(command, include_extras=True)  # the command's own, resolved in its module
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
           for p in inspect.signature(command).parameters.values() if p.name != receiver]
    added = [p.name for p in params]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {n: kwargs.pop(n) for n in added if n in kwargs}
        return command(*args, **kwargs, **{receiver: build(values)})

    every = own + params
    wrapper.__signature__ = inspect.signature(command).replace(parameters=every)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in every}
    return wrapper


def options_from(builder: Callable[..., Any], *, into: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator giving a command the flags of ``builder``'s parameters (options several commands
    share, declared once); the command receives ``builder(**flags)`` as ``into``."""
    hints = typing.get_type_hints(builder, include_extras=True)
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name])
              for p in inspect.signature(builder).parameters.values()]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        return _spliced(command, params, into, lambda values: builder(**values))

    return decorate


def model_options(model: type[BaseModel], *, panels: Callable[[str], str | None] = lambda name: None,
                  skip: Collection[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator giving a command a flag for every field of ``model`` but ``skip``; the command
    receives those given as ``given_options`` (field -> text, or a bool for a flag), for
    ``model.from_values`` or ``model_validate`` to cast and check."""
    fields = {n: f for n, f in model.model_fields.items() if n not in skip}
    params = [_parameter(n, f, panels(n)) for n, f in fields.items()]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        return _spliced(command, params, GIVEN, lambda values: {n: v for n, v in values.items() if v is not None})

    return decorate
