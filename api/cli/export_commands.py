"""``forecast exports ...``: bulk CSV/Parquet of a forecast to a folder or s3:// URL."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli._common import (
    JsonFlag,
    add_job_commands,
    console,
    count_progress,
    describe_resource,
    err_console,
    handle_errors,
    print_json,
    print_resource,
    runtime,
)
from resources import Kind

app = typer.Typer(help="Export forecasts as CSV or Parquet part files to any folder or s3:// URL.", no_args_is_help=True)


@app.command()
@handle_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the export job")],
    destination: Annotated[str, typer.Option("--destination", help="folder or URL, e.g. s3://bucket/prefix/")],
    forecast: Annotated[str | None, typer.Option("--forecast", help="ACTIVE forecast to export")] = None,
    backtest_of: Annotated[str | None, typer.Option("--backtest-of", help="instead of a forecast: export this "
                                                    "predictor's backtest forecasts beside the actual values")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    part_size_mb: Annotated[float, typer.Option(help="start a new part file after this many MB")] = 256,
    json_output: JsonFlag = False,
) -> None:
    """Write every item and timestamp of a forecast (or a predictor's backtest) under DESTINATION, then
    a _SUCCESS marker."""
    from exports import create_export

    rt = runtime(ctx)
    with count_progress(f"exporting {name} (rows)") as on_progress:
        r = create_export(rt.workspace, rt.registry, name, forecast=forecast, backtest_of=backtest_of,
                          destination=destination,
                          fmt=format, part_size_mb=part_size_mb,  # type: ignore[arg-type]
                          storage_options=rt.settings.storage_options(destination), on_progress=on_progress,
                          engine=rt.settings.job_engine())
    if json_output:
        print_json(describe_resource(r))
        return
    console.print(f"export {name!r} is ACTIVE: {r.result['rows']:,} rows in {len(r.result['files'])} part(s) under "
                  f"{r.result['folder']}", highlight=False, markup=False)


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List export jobs."""
    resources = runtime(ctx).registry.list(Kind.EXPORT)
    if json_output:
        print_json([describe_resource(r) for r in resources])
        return
    t = Table("name", "status", "source", "format", "rows", "destination")
    for r in resources:
        source = r.spec.get("forecast") or f"backtest of {r.spec.get('predictor')}"
        t.add_row(r.name, r.status.value, source, r.spec.get("format", ""),
                  f"{r.result.get('rows', 0):,}", r.spec.get("destination", ""))
    console.print(t)


@app.command()
@handle_errors
def describe(ctx: typer.Context, name: str, json_output: JsonFlag = False) -> None:
    """Show an export's destination, files and outcome."""
    print_resource(describe_resource(runtime(ctx).registry.get(Kind.EXPORT, name)), json_output=json_output)


@app.command()
@handle_errors
def delete(ctx: typer.Context, name: str) -> None:
    """Forget an export job (the exported files are left where they are)."""
    from exports import delete_export

    rt = runtime(ctx)
    delete_export(rt.workspace, rt.registry, name)
    err_console.print(f"deleted export {name!r} (its files were left in place)", highlight=False, markup=False)


add_job_commands(app, Kind.EXPORT)
