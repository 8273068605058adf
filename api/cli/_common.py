"""Shared pieces of the CLI: consoles, the runtime, error-to-exit-code mapping, JSON output,
progress bars."""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from api.runtime import Runtime, build_runtime
from resources import (
    AlreadyExistsError,
    ConflictError,
    InvalidInputError,
    Kind,
    Resource,
    ServiceError,
    Status,
)
from resources.errors import JobStopped
from resources.kinds import declaration, delete_summary

#: Width when the stream is not a terminal (a pipe, a file, CI logs): wide enough that no table or
#: message breaks a value across lines (``..._part0.cs`` / ``v``); a terminal keeps its own width.
PIPE_WIDTH = 1000


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else PIPE_WIDTH)


console = _console()
err_console = _console(stderr=True)

def flag(*names: str, help: str, **options: Any) -> Any:
    """A boolean option, shown in help as a flag (no ``<bool>`` type column)."""
    return typer.Option(*names, help=help, metavar="", **options)


JsonFlag = Annotated[bool, flag("--json", help="print machine-readable JSON")]
WhereOption = Annotated[list[str] | None, typer.Option("--where", help="dimension=value, to choose the item's series "
                                                       "when the data has dimensions (repeatable)")]


def where_filters(where: list[str] | None) -> dict[str, str]:
    """``--where`` pairs as dimension -> value."""
    from api.params import key_values

    return key_values(where, what="--where", example="store=3")

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def runtime(ctx: typer.Context) -> Runtime:
    """The runtime for this invocation (built lazily, once, from the environment)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = build_runtime()
    return root.obj  # type: ignore[no-any-return]


def in_flags(message: str, ctx: typer.Context | None = None) -> str:
    """A domain message in this command's words: an option named as a field (```timestamp_format```)
    becomes the command's flag for it (``--timestamp-format``); others lose their quotes."""
    flags: dict[str, str] = {}
    for param in ctx.command.params if ctx is not None else []:
        long = [o for o in param.opts if o.startswith("--")]
        if param.name and long:
            flags[param.name.rstrip("_")] = long[0]
    return re.sub(r"`([a-z_]+)`", lambda m: flags.get(m.group(1), m.group(1)), message)


def print_error(message: str, ctx: typer.Context | None = None) -> None:
    """``error: <message>`` on stderr, in the flags of ``ctx``'s command; printed verbatim (no markup)."""
    err_console.print("[red]error:[/red]", end=" ")
    err_console.print(in_flags(message, ctx), markup=False, highlight=False, soft_wrap=True)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the service's errors into one line on stderr and an exit code: 2 for bad input
    (invalid data, unknown or duplicate names, wrong state), 1 for other failures."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        ctx = kwargs.get("ctx") or next((a for a in args if hasattr(a, "command")), None)  # typer's context
        try:
            return func(*args, **kwargs)
        except (InvalidInputError, AlreadyExistsError, ConflictError) as e:
            print_error(str(e), ctx)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ValidationError as e:
            lines = "\n".join(f"  {'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}" for err in e.errors())
            print_error(f"invalid parameters\n{lines}", ctx)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ServiceError as e:
            print_error(str(e), ctx)
            raise typer.Exit(EXIT_FAILURE) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except JobStopped as e:
            print_error(str(e), ctx)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper


def print_resource(info: dict[str, Any], *, json_output: bool) -> None:
    """A described resource as JSON, or as ``key: value`` lines."""
    if json_output:
        print_json(info)
        return
    for k, v in info.items():
        console.print(f"{k}: {v}", highlight=False, markup=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colours, no wrapping)."""
    from forecast.store import json_default

    sys.stdout.write(json.dumps(data, indent=2, default=json_default) + "\n")


def interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def count_progress(description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over a count (items, rows), shown only in a terminal."""
    if not interactive():
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


@contextmanager
def byte_progress(description: str) -> Iterator[Callable[[int, int | None, str], None] | None]:
    """A progress bar over bytes read, shown only in a terminal."""
    if not interactive():
        yield None
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=err_console, transient=True,
    ) as progress:
        tasks: dict[str, Any] = {}

        def update(done: int, total: int | None, name: str) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(f"{description} {name}", total=total)
            progress.update(tasks[name], completed=done)

        yield update


def print_list(kind: Kind, resources: list[Resource], *, json_output: bool) -> None:
    """Resources of ``kind`` as a table of the declaration's columns, or as JSON of its view."""
    d = declaration(kind)
    if json_output:
        print_json([d.view(r) for r in resources])
        return
    t = Table("name", "status", *(c.title for c in d.columns))
    for r in resources:
        t.add_row(r.name, r.status.value, *(c.text(r) for c in d.columns))
    console.print(t)


def add_resource_commands(
    app: typer.Typer, kind: Kind, *, own: tuple[str, ...] = (),
    describe: Callable[[Resource], None] | None = None,
) -> None:
    """The commands every kind has, from its declaration: ``list``, ``describe``, ``delete``,
    ``stop`` and ``log``, but those in ``own`` (the kind's module writes them). ``describe(r)``
    prints a resource for a person (default: its view as ``key: value`` lines); ``--json`` prints
    the declaration's view."""
    d = declaration(kind)

    if "list" not in own:
        @app.command("list", help=f"List {d.plural}.")
        @handle_errors
        def list_(ctx: typer.Context, json_output: JsonFlag = False) -> None:
            print_list(kind, runtime(ctx).registry.list(kind), json_output=json_output)

    if "describe" not in own:
        @app.command("describe", help=f"Show {d.a}: what was asked for, what came out, or its progress.")
        @handle_errors
        def describe_(ctx: typer.Context, name: str, json_output: JsonFlag = False) -> None:
            r = runtime(ctx).registry.get(kind, name)
            if json_output or describe is None:
                print_resource(d.view(r), json_output=json_output)
                return
            describe(r)

    @app.command("delete", help=f"{delete_summary(kind)}; {d.job} in progress must be stopped first.")
    @handle_errors
    def delete(ctx: typer.Context, name: str) -> None:
        from resources.lifecycle import delete_resource

        rt = runtime(ctx)
        delete_resource(rt.registry, rt.workspace, kind, name)
        extra = f" ({d.on_delete})" if d.on_delete else ""
        err_console.print(f"deleted {d.noun} {name!r}{extra}", highlight=False, markup=False)

    @app.command(help=f"Stop {d.job} in progress (CREATE_STOPPING, then CREATE_STOPPED; delete it after).")
    @handle_errors
    def stop(
        ctx: typer.Context,
        name: str,
        wait: Annotated[float, typer.Option(help="seconds to wait for CREATE_STOPPED (0: do not wait)")] = 60,
    ) -> None:
        from resources.lifecycle import request_stop

        registry = runtime(ctx).registry
        r = request_stop(registry, kind, name)
        deadline = time.monotonic() + wait
        while r.status == Status.CREATE_STOPPING and time.monotonic() < deadline:
            time.sleep(0.2)
            r = registry.get(kind, name)
        console.print(f"{kind.value} {name!r} is {r.status.value}", highlight=False, markup=False)
        if r.status == Status.CREATE_STOPPING:
            raise typer.Exit(EXIT_FAILURE)

    @app.command(help=f"Print the log of {d.job} started over HTTP (progress, errors, tracebacks).")
    @handle_errors
    def log(ctx: typer.Context, name: str,
            follow: Annotated[bool, typer.Option("--follow", "-F", help="keep printing until the job ends")] = False,
            ) -> None:
        from api.jobs.runner import read_log

        rt = runtime(ctx)
        r = rt.registry.get(kind, name)
        text = read_log(rt.settings, kind, name)
        sys.stdout.write(text)
        while follow and r.status.in_flight:
            time.sleep(0.5)
            r = rt.registry.get(kind, name)
            now = read_log(rt.settings, kind, name)
            sys.stdout.write(now.removeprefix(text))
            sys.stdout.flush()
            text = now


def progress_line(r: Resource) -> str | None:
    """``epoch 12/100, loss 1.234, about 40 s left`` / ``3,000 of 10,000 items`` for a job in flight."""
    p = r.result.get("progress") if r.status.in_flight else None
    if not p:
        return None
    if "epoch" in p:
        eta = f", about {p['eta_seconds']:.0f} s left" if p.get("eta_seconds") is not None else ""
        return f"training: epoch {p['epoch']}/{p['epochs']}, loss {p['train_loss']:.4f}{eta}"
    if "items_done" in p:
        return f"{p['items_done']:,} of {p['items_total']:,} items"
    if "rows_done" in p:
        return f"{p['rows_done']:,} of {p.get('rows_total') or 0:,} rows written"
    if "bytes_read" in p:
        total = f" of {p['bytes_total']:,}" if p.get("bytes_total") else ""
        return f"{p['bytes_read']:,}{total} bytes read"
    return str(p.get("phase", ""))
