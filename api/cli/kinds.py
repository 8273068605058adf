"""The command group of every resource kind, from its declaration (:mod:`resources.kinds`).

A kind's group is its module ``api/cli/<noun>_commands.py`` if it has one (its ``app``, which adds
its own commands beside the shared ones); else a group made here: ``create`` with a flag for every
field of the kind's request model, which registers the resource and runs its job in this process,
and the shared ``list / describe / delete / stop / log``."""


# annotations are evaluated where the command is made (they name the kind), so no `from __future__`
import importlib
import importlib.util
from typing import Annotated, Any

import typer

from api.cli._common import (
    JsonFlag,
    add_resource_commands,
    console,
    handle_errors,
    print_json,
    runtime,
)
from api.cli.options import model_options
from resources import Kind
from resources.kinds import declaration


def kind_group(kind: Kind) -> typer.Typer:
    """``forecast <plural> ...`` for ``kind``."""
    d = declaration(kind)
    module = f"{__package__}.{d.noun.replace('-', '_')}_commands"
    if importlib.util.find_spec(module) is not None:
        group: typer.Typer = importlib.import_module(module).app
        return group
    group = typer.Typer(help=d.summary, no_args_is_help=True)
    if d.register:
        add_create(group, kind)
    add_resource_commands(group, kind)
    return group


def add_create(group: typer.Typer, kind: Kind) -> None:
    d = declaration(kind)

    @group.command(help=f"Create {d.a}: register it, then run {d.job} here to its end.")
    @handle_errors
    @model_options(d.spec, skip=("name",))
    def create(ctx: typer.Context, name: Annotated[str, typer.Argument(help=f"name for the {d.noun}")],
               json_output: JsonFlag = False, *, given_options: dict[str, Any]) -> None:
        rt = runtime(ctx)
        spec = d.spec.model_validate({**given_options, "name": name})
        job = rt.job_context()
        d.register_function()(job, spec)
        r = d.job_function()(job, name)
        if json_output:
            print_json(d.view(r))
            return
        console.print(f"{d.noun} {name!r} is {r.status.value}", highlight=False, markup=False)
