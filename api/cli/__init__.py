"""The ``forecast`` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli import (
    dataset_commands,
    export_commands,
    forecast_commands,
    predictor_commands,
    serve_command,
)

app = typer.Typer(
    name="forecast",
    help="Self-hosted probabilistic forecasting: datasets -> DeepAR predictors -> forecasts -> HTTP and exports.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.add_typer(dataset_commands.app, name="datasets")
app.add_typer(predictor_commands.app, name="predictors")
app.add_typer(forecast_commands.app, name="forecasts")
app.add_typer(export_commands.app, name="exports")
app.command("serve")(serve_command.serve)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"forecast-service {version('forecast-service')}")
        raise typer.Exit()


@app.callback()
def callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress (INFO)")] = False,
    log_format: Annotated[str | None, typer.Option(help="text or json (structured logs on stderr)")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version")] = False,
) -> None:
    """Settings come from FORECAST_* environment variables (see the README)."""
    from pydantic import ValidationError

    from api.cli._common import EXIT_BAD_INPUT, print_error
    from api.log_config import setup_logging
    from api.settings import Settings

    try:
        settings = Settings()
    except ValidationError as e:
        from api.errors import describe_errors

        print_error(f"invalid settings (FORECAST_* environment variables): {describe_errors(e.errors())}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    level = "INFO" if verbose else settings.log_level
    setup_logging(level, fmt=log_format or settings.log_format, secrets=settings.secrets())


def main() -> None:
    app()
