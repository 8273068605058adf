"""``forecast tuning-jobs ...``: hyperparameter searches whose trials are predictors."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli._common import (
    JsonFlag,
    add_resource_commands,
    console,
    handle_errors,
    print_json,
    runtime,
)
from resources import InvalidInputError, Kind, Resource
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.TUNING_JOB).summary, no_args_is_help=True)


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInputError(f"cannot read {what} from {path}: {e}") from None
    if not isinstance(loaded, dict):
        raise InvalidInputError(f"{path}: expected a mapping of {what}")
    return loaded


@app.command()
@handle_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the tuning job (its trials are predictors NAME-001, ...)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="imported dataset to tune on")],
    ranges: Annotated[Path, typer.Option("--ranges", help="YAML or JSON: hyperparameter -> {min, max[, scale: log]"
                                         "[, type: integer]} or {values: [...]}")],
    prediction_length: Annotated[int | None, typer.Option(help="the horizon (or in --hyperparameters)")] = None,
    algorithm: Annotated[str | None, typer.Option(help="the algorithm tuned (or in --hyperparameters; default "
                                                  "auto)")] = None,
    hyperparameters: Annotated[Path | None, typer.Option(help="YAML or JSON: the fixed hyperparameters")] = None,
    objective: Annotated[str, typer.Option(help="mean_wql, wape, rmse, mase or mape, minimised on a validation "
                                           "window before the backtest window")] = "mean_wql",
    validation_windows: Annotated[int, typer.Option(help="windows before the backtest's that the objective "
                                                    "is measured on")] = 1,
    max_jobs: Annotated[int, typer.Option(help="trials to run")] = 20,
    max_parallel_jobs: Annotated[int, typer.Option(help="trials at once")] = 1,
    warm_start_from: Annotated[list[str] | None, typer.Option(help="a parent tuning job (repeatable, at most 5)")] = None,
    warm_start_type: Annotated[str, typer.Option(help="identical-data-and-algorithm or transfer-learning")] = (
        "identical-data-and-algorithm"),
    early_stopping: Annotated[str, typer.Option(help="auto: stop a trial's training when its validation loss is "
                                                "behind the median of the completed trials' at that epoch; off")] = "off",
    json_output: JsonFlag = False,
) -> None:
    """Search RANGES for the hyperparameters that minimise --objective on a validation window
    before the backtest window; each trial is a predictor, trained and backtested here."""
    from forecast.tuning import register_tuning_job, run_tuning_job
    from forecast.tuning_kind import TuningJobCreate

    fixed = _read_mapping(hyperparameters, "hyperparameters") if hyperparameters else {}
    fixed |= {k: v for k, v in (("prediction_length", prediction_length), ("algorithm", algorithm)) if v is not None}
    if "prediction_length" not in fixed:
        raise InvalidInputError("--prediction-length is required (or prediction_length in --hyperparameters)")
    request = TuningJobCreate.model_validate({
        "name": name, "dataset": dataset, "hyperparameters": fixed, "ranges": _read_mapping(ranges, "ranges"),
        "objective": objective, "validation_windows": validation_windows, "max_jobs": max_jobs,
        "max_parallel_jobs": max_parallel_jobs,
        "warm_start_from": warm_start_from or [], "warm_start_type": warm_start_type,
        "early_stopping": early_stopping})
    rt = runtime(ctx)
    register_tuning_job(rt.registry, request)
    _print_outcome(run_tuning_job(rt.job_context(), name), json_output)


@app.command()
@handle_errors
def extend(
    ctx: typer.Context,
    name: str,
    max_jobs: Annotated[int, typer.Option(help="trials in all, above those the job ran")],
    json_output: JsonFlag = False,
) -> None:
    """Run a finished tuning job on to --max-jobs trials, its search going on from every trial it
    ran (the same ranges, objective and early stopping)."""
    from forecast.tuning import extend_tuning_job, run_tuning_job

    rt = runtime(ctx)
    extend_tuning_job(rt.registry, name, max_jobs)
    _print_outcome(run_tuning_job(rt.job_context(), name), json_output)


def _print_outcome(r: Resource, json_output: bool) -> None:
    if json_output:
        print_json(declaration(Kind.TUNING_JOB).view(r))
        return
    best = r.result.get("best") or {}
    console.print(f"tuning job {r.name!r} is {r.status.value}: best trial {best.get('predictor')!r}, "
                  f"{best.get('objective_name')} {best.get('objective', float('nan')):.4f} on the validation window, "
                  f"{best.get('backtest') or float('nan'):.4f} on the backtest", highlight=False, markup=False)


@app.command()
@handle_errors
def trials(
    ctx: typer.Context,
    name: str,
    sort_by: Annotated[str, typer.Option(help="a column: objective, backtest, a hyperparameter, number, ...")] = "number",
    descending: Annotated[bool, typer.Option(help="largest first")] = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="print CSV")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Every trial: its predictor, hyperparameters, objective (validation window), the same metric
    on the backtest, status and seconds."""
    from forecast.tuning import trials_of

    rt = runtime(ctx)
    rows = trials_of(rt.workspace, rt.registry, name, sort_by=sort_by, descending=descending)
    if json_output:
        print_json(rows)
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if csv_output:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        return
    t = Table(*columns, title=f"tuning job {name!r}", title_justify="left")
    for r in rows:
        t.add_row(*("-" if r.get(c) is None else f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c])
                    for c in columns))
    console.print(t)


add_resource_commands(app, Kind.TUNING_JOB, describe=lambda r: print_json(declaration(Kind.TUNING_JOB).view(r)))
