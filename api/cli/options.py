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


def model_options(model: type[BaseModel], *, panels: Callable[[str], str | None] = lambda name: None,
                  skip: Collection[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator giving a command a flag for every field of ``model`` but ``skip``; the command
    receives those given as ``given_options`` (field -> text, or a bool for a flag), for
    ``model.from_values`` or ``model_validate`` to cast and check."""
    fields = {n: f for n, f in model.model_fields.items() if n not in skip}

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)  # the command's own, resolved in its module
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
               for p in signature.parameters.values() if p.name != GIVEN]
        params = own + [_parameter(n, f, panels(n)) for n, f in fields.items()]  # typer passes every one by name

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in fields if kwargs.get(n) is not None}
            for n in fields:
                kwargs.pop(n, None)
            return command(*args, **kwargs, **{GIVEN: given})

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
