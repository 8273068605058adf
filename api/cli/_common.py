"""Shared pieces of the CLI: consoles, the runtime, error-to-exit-code mapping, JSON output,
progress bars."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from api.runtime import Runtime, build_runtime
from datasets import AlreadyExistsError, ConflictError, InvalidInputError, Resource, ServiceError

console = Console()
err_console = Console(stderr=True)

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


def print_error(message: str) -> None:
    """``error: <message>`` on stderr; the message is printed verbatim (no markup)."""
    err_console.print("[red]error:[/red]", end=" ")
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the service's errors into one line on stderr and an exit code: 2 for bad input
    (invalid data, unknown or duplicate names, wrong state), 1 for other failures."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (InvalidInputError, AlreadyExistsError, ConflictError) as e:
            print_error(str(e))
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ValidationError as e:
            lines = "\n".join(f"  {'.'.join(map(str, err['loc'])) or 'value'}: {err['msg']}" for err in e.errors())
            print_error(f"invalid parameters\n{lines}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except ServiceError as e:
            print_error(str(e))
            raise typer.Exit(EXIT_FAILURE) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def describe_resource(r: Resource) -> dict[str, Any]:
    """A resource as one flat JSON object: name, status, what was asked for, what came out."""
    return {"name": r.name, "status": r.status.value, "message": r.message, **r.spec,
            "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(), **r.result}


def print_resource(info: dict[str, Any], *, json_output: bool) -> None:
    """A described resource as JSON, or as ``key: value`` lines."""
    if json_output:
        print_json(info)
        return
    for k, v in info.items():
        console.print(f"{k}: {v}", highlight=False, markup=False)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colours, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def interactive() -> bool:
    return sys.stderr.isatty()


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
