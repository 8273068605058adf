"""``forecast exports ...``: bulk CSV/Parquet of a forecast to a folder or s3:// URL."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli._common import (
    JsonFlag,
    add_resource_commands,
    console,
    count_progress,
    handle_errors,
    print_json,
    runtime,
)
from resources import Kind
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.EXPORT).summary, no_args_is_help=True)


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
        print_json(declaration(Kind.EXPORT).view(r))
        return
    console.print(f"export {name!r} is ACTIVE: {r.result['rows']:,} rows in {len(r.result['files'])} part(s) under "
                  f"{r.result['folder']}", highlight=False, markup=False)


add_resource_commands(app, Kind.EXPORT)
