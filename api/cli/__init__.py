"""The ``forecast`` command line."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from api.cli import serve_command, spec_commands
from api.cli.kinds import kind_group
from resources.kinds import declarations

app = typer.Typer(
    name="forecast",
    help="Self-hosted probabilistic forecasting: datasets -> DeepAR predictors -> forecasts -> HTTP and exports.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
for _kind in declarations():  # every resource kind's group: its own module's, or made from its declaration
    app.add_typer(kind_group(_kind.kind), name=_kind.plural)
app.command("serve")(serve_command.serve)
app.command("apply")(spec_commands.apply)
app.command("get")(spec_commands.get)
app.command("describe")(spec_commands.describe)
app.command("logs")(spec_commands.logs)


@app.command("usage")
def usage_command(ctx: typer.Context,
                  json_output: Annotated[bool, typer.Option("--json", help="print machine-readable JSON",
                                                            metavar="")] = False,
                  ) -> None:
    """Forecasts generated, as items x forecast types per forecast and in total."""
    from rich.table import Table

    from api.cli._common import console, print_json, runtime
    from forecast.forecasts import usage

    report = usage(runtime(ctx).registry)
    if json_output:
        print_json(report.model_dump())
        return
    t = Table("forecast", "predictor", "items", "types", "items x types", "created")
    for u in report.forecasts:
        t.add_row(u.forecast, u.predictor or "", f"{u.items:,}", str(u.types), f"{u.item_types:,}",
                  (u.created_at or "")[:16])
    t.add_row("total", "", f"{report.total_items:,}", "", f"{report.total_item_types:,}", "")
    console.print(t)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"forecast-service {version('forecast-service')}")
        raise typer.Exit()


@app.callback()
def callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress (INFO)", metavar="")] = False,
    log_format: Annotated[str | None, typer.Option(help="text or json (structured logs on stderr)")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version",
                                                    metavar="")] = False,
) -> None:
    """Settings come from FORECAST_* environment variables (see the README)."""
    import os

    if not sys.stdout.isatty() and not (os.environ.get("COLUMNS") or os.environ.get("TERMINAL_WIDTH")):
        import typer.rich_utils  # help in a pipe or a file: wide enough not to cut option names

        typer.rich_utils.MAX_WIDTH = 200
    from pydantic import ValidationError

    from api.cli._common import EXIT_BAD_INPUT, print_error
    from api.log_config import setup_logging
    from api.settings import Settings

    try:
        settings = Settings()
    except ValidationError as e:
        from api.params import describe_errors

        print_error(f"invalid settings (FORECAST_* environment variables): {describe_errors(e.errors())}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    level = "INFO" if verbose else settings.log_level
    setup_logging(level, fmt=log_format or settings.log_format, secrets=settings.secrets())


def _help_as_a_flag() -> None:
    """Typer 0.29 renders its own ``-h/--help`` with a ``<bool>`` type column; show it as the flag
    it is, like every other flag here (``metavar=""``). Other Typer versions are left as they are."""
    try:
        from typer._click import core as click_core
    except ImportError:
        return
    original = click_core.Command.get_help_option

    def get_help_option(self: click_core.Command, ctx: click_core.Context) -> object:
        option = original(self, ctx)
        if option is not None:
            option.metavar = ""
        return option

    click_core.Command.get_help_option = get_help_option  # type: ignore[method-assign]


def main() -> None:
    _help_as_a_flag()
    app()
