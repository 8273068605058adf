"""``forecast predictors ...``: create (train + backtest), list, describe, delete."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli._common import (
    add_job_commands,
    console,
    err_console,
    handle_errors,
    interactive,
    print_json,
    progress_line,
    runtime,
)
from forecast.config import DeepARHyperparameters
from resources import InvalidInputError, Kind, Resource

app = typer.Typer(help="Train DeepAR predictors and inspect their backtest accuracy.", no_args_is_help=True)
logger = logging.getLogger("forecast.cli")

JsonFlag = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def _opt(help_text: str) -> Any:
    # escaped: rich would take "[default: 32]" for a markup tag and print nothing
    return typer.Option(help=escape(help_text), show_default=False)


def _weights(training: dict[str, Any]) -> str:
    first, last = training.get("weights_from_epochs") or (training["best_epoch"],) * 2
    return f"weights from epoch {last}" if first == last else f"weights averaged over epochs {first}-{last}"


def _default(field: str) -> str:
    """``[default: X]`` from the hyperparameter model, so help and behaviour cannot drift apart."""
    return f"[default: {DeepARHyperparameters.model_fields[field].default}]"


@contextmanager
def _training_progress(name: str, epochs: int) -> Iterator[tuple[Any, Any]]:
    """A per-epoch bar with losses in a terminal; INFO log lines otherwise."""
    if not interactive():
        def on_epoch(epoch: int, total: int, train: float, val: float | None) -> None:
            logger.info("epoch %d/%d train_loss=%.4f val_loss=%s", epoch, total, train,
                        "-" if val is None else f"{val:.4f}")

        def on_phase(phase: str) -> None:
            logger.info("predictor %s: %s", name, phase)

        yield on_epoch, on_phase
        return
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(), console=err_console, transient=False,
    ) as progress:
        task = progress.add_task(f"{name}: loading", total=epochs, losses="")

        def on_epoch(epoch: int, total: int, train: float, val: float | None) -> None:
            losses = f"train {train:.4f}" + ("" if val is None else f"  val {val:.4f}")
            progress.update(task, completed=epoch, total=total, losses=losses)

        def on_phase(phase: str) -> None:
            progress.update(task, description=f"{name}: {phase}")

        yield on_epoch, on_phase


def _accuracy_table(result: dict[str, Any]) -> Table:
    metrics = result.get("metrics", {})
    deepar, naive = metrics.get("deepar", {}), metrics.get("seasonal_naive", {})
    t = Table("metric", "DeepAR", "seasonal naive", title=f"backtest accuracy ({metrics.get('backtest_windows', 1)} window(s), "
              f"{deepar.get('num_items', 0)} items)", title_justify="left")

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    for key, label in (("mean_wql", "mean wQL"), ("wape", "WAPE"), ("rmse", "RMSE"), ("mase", "MASE"), ("mape", "MAPE")):
        t.add_row(label, fmt(deepar.get(key)), fmt(naive.get(key)))
    for q, v in deepar.get("wql", {}).items():
        t.add_row(f"wQL[{q}]", fmt(v), fmt(naive.get("wql", {}).get(q)))
    for q, v in deepar.get("coverage", {}).items():
        t.add_row(f"coverage[{q}]", fmt(v), fmt(naive.get("coverage", {}).get(q)))
    return t


def _describe(r: Resource) -> dict[str, Any]:
    return {
        "name": r.name,
        "status": r.status.value,
        "message": r.message,
        "dataset": r.spec.get("dataset"),
        "dataset_fingerprint": r.spec.get("dataset_fingerprint"),
        "hyperparameters": r.spec.get("hyperparameters"),
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
        **{k: r.result.get(k) for k in ("freq", "prediction_length", "context_length", "metrics", "training", "versions",
                                     "progress")},
    }


@app.command()
@handle_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the predictor")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="imported dataset to train on")],
    prediction_length: Annotated[int | None, _opt("forecast horizon (steps), required unless in the file")] = None,
    hyperparameters: Annotated[Path | None, typer.Option("--hyperparameters", help="JSON file with hyperparameters (same names)")] = None,
    context_length: Annotated[int | None, _opt("steps of history the RNN sees before forecasting [default: prediction_length, at most max(8, 1.25 seasons)]")] = None,
    epochs: Annotated[int | None, _opt("maximum epochs " + _default("epochs"))] = None,
    num_batches_per_epoch: Annotated[int | None, _opt("mini-batches per epoch; an epoch is NOT a pass over the data " + _default("num_batches_per_epoch"))] = None,
    mini_batch_size: Annotated[int | None, _opt(_default("mini_batch_size"))] = None,
    learning_rate: Annotated[float | None, _opt(_default("learning_rate"))] = None,
    num_cells: Annotated[int | None, _opt("LSTM cells per layer " + _default("num_cells"))] = None,
    num_layers: Annotated[int | None, _opt(_default("num_layers"))] = None,
    likelihood: Annotated[str | None, _opt("student-T, gaussian, negative-binomial or beta [default: student-T]")] = None,
    dropout_rate: Annotated[float | None, _opt(_default("dropout_rate"))] = None,
    embedding_dimension: Annotated[int | None, _opt("size of each cat embedding " + _default("embedding_dimension"))] = None,
    cardinality: Annotated[str | None, _opt("auto, ignore, or comma-separated ints [default: auto]")] = None,
    num_dynamic_feat: Annotated[str | None, _opt("auto, ignore, or an int [default: auto]")] = None,
    early_stopping_patience: Annotated[int | None, _opt("stop after this many epochs without validation improvement (holds out a validation window); 0 or unset: off [default: off]")] = None,
    num_eval_samples: Annotated[int | None, _opt("sample paths for the backtest " + _default("num_eval_samples"))] = None,
    test_quantiles: Annotated[str | None, _opt("comma-separated quantiles scored in the backtest [default: 0.1..0.9]")] = None,
    backtest_windows: Annotated[int | None, _opt("held-out windows of prediction_length at the end [default: 1]")] = None,
    refit: Annotated[bool | None, typer.Option("--refit/--no-refit", help=escape("retrain on the full history after the backtest [default: no]"), show_default=False)] = None,
    seed: Annotated[int | None, _opt("[default: 0]")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train a DeepAR predictor on DATASET, backtest it against seasonal naive, and store it."""
    from forecast.predictors import create_predictor

    values: dict[str, Any] = {}
    if hyperparameters is not None:
        try:
            loaded = json.loads(hyperparameters.read_text())
        except (OSError, ValueError) as e:
            raise InvalidInputError(f"cannot read hyperparameters from {hyperparameters}: {e}") from e
        if not isinstance(loaded, dict):
            raise InvalidInputError(f"{hyperparameters}: expected a JSON object of hyperparameters")
        values.update(loaded)
    given = {
        "prediction_length": prediction_length, "context_length": context_length, "epochs": epochs,
        "num_batches_per_epoch": num_batches_per_epoch, "mini_batch_size": mini_batch_size,
        "learning_rate": learning_rate, "num_cells": num_cells, "num_layers": num_layers, "likelihood": likelihood,
        "dropout_rate": dropout_rate, "embedding_dimension": embedding_dimension, "num_eval_samples": num_eval_samples,
        "backtest_windows": backtest_windows, "refit": refit, "seed": seed,
    }
    values.update({k: v for k, v in given.items() if v is not None})
    if cardinality is not None:
        values["cardinality"] = cardinality if cardinality in ("auto", "ignore") else _ints(cardinality, "cardinality")
    if num_dynamic_feat is not None:
        values["num_dynamic_feat"] = num_dynamic_feat  # "auto", "ignore" or an int as text (pydantic parses it)
    if early_stopping_patience is not None:
        values["early_stopping_patience"] = early_stopping_patience or None
    if test_quantiles is not None:
        values["test_quantiles"] = [q.strip() for q in test_quantiles.split(",") if q.strip()]  # pydantic parses
    if "prediction_length" not in values:
        raise InvalidInputError("--prediction-length is required (or prediction_length in --hyperparameters)")
    hp = DeepARHyperparameters.model_validate(values)
    rt = runtime(ctx)
    with _training_progress(name, hp.epochs) as (on_epoch, on_phase):
        resource = create_predictor(rt.workspace, rt.registry, name, dataset=dataset, hyperparameters=hp,
                                    on_epoch=on_epoch, on_phase=on_phase,
                                    precision=rt.settings.inference_precision,
                                    memory_limit_mb=rt.settings.max_training_memory_mb)
    if json_output:
        print_json(_describe(resource))
        return
    training = resource.result["training"]
    console.print(f"predictor {name!r} is ACTIVE: {training['epochs_run']} epoch(s), {_weights(training)}, "
                  f"{training['total_seconds']:.0f} s", highlight=False)
    console.print(_accuracy_table(resource.result))


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"{what} must be auto, ignore or comma-separated integers, got {text!r}") from None


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List predictors with their status and headline accuracy."""
    resources = runtime(ctx).registry.list(Kind.PREDICTOR)
    if json_output:
        print_json([_describe(r) for r in resources])
        return
    t = Table("name", "status", "dataset", "horizon", "mean wQL", "naive wQL", "MASE", "created")
    for r in resources:
        m = r.result.get("metrics", {})
        d, n = m.get("deepar", {}), m.get("seasonal_naive", {})
        f = lambda v: "-" if v is None else f"{v:.3f}"
        t.add_row(r.name, r.status.value, r.spec.get("dataset", ""), str(r.spec.get("hyperparameters", {}).get("prediction_length", "")),
                  f(d.get("mean_wql")), f(n.get("mean_wql")), f(d.get("mase")), r.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(t)


@app.command()
@handle_errors
def describe(ctx: typer.Context, name: str, json_output: JsonFlag = False) -> None:
    """Status, hyperparameters, dataset fingerprint, accuracy and timings of a predictor."""
    from forecast.predictors import get_predictor

    r = get_predictor(runtime(ctx).registry, name)
    info = _describe(r)
    if json_output:
        print_json(info)
        return
    console.print(f"predictor {name!r}: {r.status.value}" + (f" ({r.message})" if r.message else ""), highlight=False)
    line = progress_line(r)
    if line:
        console.print(line, highlight=False, markup=False)
    console.print(f"dataset {info['dataset']!r} (fingerprint {str(info['dataset_fingerprint'])[:16]})", highlight=False)
    console.print("hyperparameters: " + json.dumps(info["hyperparameters"]), highlight=False, markup=False)
    if "training" in r.result:
        tr = r.result["training"]
        console.print(f"training: {tr['epochs_run']} epochs ({_weights(tr)}), train {tr['train_seconds']:.1f} s, "
                      f"backtest {tr['backtest_seconds']:.1f} s, total {tr['total_seconds']:.1f} s", highlight=False)
        console.print(_accuracy_table(r.result))


@app.command()
@handle_errors
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a predictor and its artifacts (refused while a forecast uses it)."""
    from forecast.predictors import delete_predictor

    rt = runtime(ctx)
    delete_predictor(rt.workspace, rt.registry, name)
    err_console.print(f"deleted predictor {name!r}", highlight=False, markup=False)


add_job_commands(app, Kind.PREDICTOR)
