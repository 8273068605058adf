"""``forecast apply -f FILE`` and the kind-generic ``get``, ``describe`` and ``logs``: every
resource kind handled by its name, as ``kubectl`` handles its objects (:mod:`resources.specs`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli._common import JsonFlag, console, err_console, handle_errors, print_json, runtime
from resources import InvalidInputError
from resources.kinds import declarations

FileOption = Annotated[list[Path] | None, typer.Option(
    "--filename", "-f", help="YAML or JSON spec file ('-' for stdin); several documents per file, applied in order "
    "(repeatable)")]


@handle_errors
def apply(
    ctx: typer.Context,
    filename: FileOption = None,
    schema: Annotated[bool, typer.Option("--schema", help="print the JSON Schema of spec documents and exit")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Create the resources a spec file describes ({kind, name, spec} per document, spec as the HTTP
    body), running each job here to its end; a resource that exists with the same spec is left as
    it is, one with another spec is an error naming the fields (a dataset whose source changed gets
    it as a new version). Every document is checked before any is applied. --schema prints the
    documents' JSON Schema."""
    from api.operator_specs import is_operator_document, translate
    from resources.specs import apply_document, check_document, document_of, load_documents
    from resources.specs import schema as spec_schema

    if schema:
        sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")
        return
    if not filename:
        raise InvalidInputError("give a spec file with -f FILE (or --schema)")
    docs = []
    for path in filename:
        text = sys.stdin.read() if str(path) == "-" else _read(path)
        for i, raw in enumerate(load_documents(text, str(path)), start=1):
            where = f"{path}, document {i}"
            if not is_operator_document(raw):
                docs.append(document_of(raw, where))
                continue
            translated, ignored = translate(raw, where)  # the SageMaker operator's TrainingJob, tuning job
            docs += translated
            for field in ignored:
                err_console.print(f"note: {where}: ignored {field}", highlight=False, markup=False)
    rt = runtime(ctx)
    job = rt.job_context()
    for doc in docs:  # every request, and every existing resource's, checked before anything is created
        check_document(job, doc)
    applied = []
    for doc in docs:
        a = apply_document(job, doc)
        applied.append(a)
        if not json_output:
            console.print(f"{a.declaration.noun} {doc.name!r} {a.action} ({a.resource.status.value})",
                          highlight=False, markup=False)
    if json_output:
        print_json([{"kind": a.declaration.document, "name": a.resource.name, "action": a.action,
                     "resource": a.declaration.view(a.resource)} for a in applied])


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise InvalidInputError(f"cannot read {path}: {e.strerror or e}") from None


def _forward(ctx: typer.Context, kind: str, command: str, args: list[str]) -> None:
    """Run ``forecast <kind> <command> <args>``: the kind's own command, so every kind's output is
    the one its group prints."""
    plurals = {d.plural: d for d in declarations()}
    if kind not in plurals:
        err_console.print(f"[red]error:[/red] unknown kind {kind!r}; one of {', '.join(plurals)}", highlight=False)
        raise typer.Exit(2)
    root = ctx.find_root()
    group = root.command.get_command(root, kind)  # type: ignore[attr-defined]  # the kind's group (a click group)
    sub = group.get_command(ctx, command)
    with sub.make_context(f"{root.info_name} {kind} {command}", list(args), parent=ctx) as sub_ctx:
        sub.invoke(sub_ctx)


def get(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="datasets, predictors, forecasts, exports, imports, monitors, aliases")],
    name: Annotated[str | None, typer.Argument(help="one resource (default: list them)")] = None,
    json_output: JsonFlag = False,
) -> None:
    """List the resources of KIND, or show one (as `forecast KIND list|describe`)."""
    flags = ["--json"] if json_output else []
    _forward(ctx, kind, "describe" if name else "list", [name, *flags] if name else flags)


def describe(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="datasets, predictors, forecasts, exports, imports, monitors, aliases")],
    name: str,
    json_output: JsonFlag = False,
) -> None:
    """Show one resource of KIND (as `forecast KIND describe NAME`)."""
    _forward(ctx, kind, "describe", [name, *(["--json"] if json_output else [])])


def logs(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="datasets, predictors, forecasts, exports, imports, monitors")],
    name: str,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="keep printing until the job ends")] = False,
) -> None:
    """Print the log of a job started over HTTP (as `forecast KIND log NAME`)."""
    _forward(ctx, kind, "log", [name, *(["--follow"] if follow else [])])
