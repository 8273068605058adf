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
    JsonFlag,
    WhereOption,
    add_resource_commands,
    console,
    err_console,
    flag,
    handle_errors,
    interactive,
    print_json,
    print_list,
    progress_line,
    runtime,
    where_filters,
)
from api.cli.options import model_options
from api.params import key_values
from forecast.config import Hyperparameters, option_group
from forecast.features import FeatureInputs
from forecast.predictor_kind import predictor_metrics, view
from resources import InvalidInputError, Kind, Resource
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.PREDICTOR).summary,
                  no_args_is_help=True)
logger = logging.getLogger("forecast.cli")



def _weights(training: dict[str, Any]) -> str:
    first, last = training.get("weights_from_epochs") or (training["best_epoch"],) * 2
    return f"weights from epoch {last}" if first == last else f"weights averaged over epochs {first}-{last}"


def _summary(result: dict[str, Any]) -> str:
    """One line on how the predictor was fitted."""
    training = result.get("training", {})
    algorithm = result.get("algorithm", "deepar")
    parts = [f"algorithm {algorithm}"]
    if "weights" in training:
        parts.append("weights " + ", ".join(f"{n} {w:.2f}" for n, w in training["weights"].items()))
    if "epochs_run" in training:
        parts.append(f"{training['epochs_run']} epoch(s), {_weights(training)}")
    elif "deepar" in training.get("members", {}) and "epochs_run" in training["members"]["deepar"]:
        parts.append(f"its DeepAR member trained {training['members']['deepar']['epochs_run']} epoch(s)")
    if "total_seconds" in training:
        parts.append(f"{training['total_seconds']:.0f} s")
    return "; ".join(parts)


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
    """The predictor's backtest metrics beside each ensemble member's and seasonal naive's."""
    metrics = result.get("metrics", {})
    own = predictor_metrics(metrics)
    members = metrics.get("members", {})
    columns = {result.get("algorithm", "deepar"): own, **{n.replace("_", " "): m for n, m in members.items()}}
    columns.setdefault("seasonal naive", metrics.get("seasonal_naive", {}))  # a member of that name is the one column
    t = Table("metric", *columns, title=f"backtest accuracy ({metrics.get('backtest_windows', 1)} window(s), "
              f"{own.get('num_items', 0)} items)", title_justify="left")

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    for key, label in (("mean_wql", "mean wQL"), ("wape", "WAPE"), ("rmse", "RMSE"), ("mase", "MASE"), ("mape", "MAPE")):
        t.add_row(label, *(fmt(m.get(key)) for m in columns.values()))
    for key, label in (("mase_median", "MASE, median item"), ("mase_worst_share", "MASE share of the worst 5")):
        if own.get(key) is not None:
            t.add_row(label, *(fmt(m.get(key)) for m in columns.values()))
    for group, label in (("wql", "wQL"), ("coverage", "coverage")):
        for q in own.get(group, {}):
            t.add_row(f"{label}[{q}]", *(fmt(m.get(group, {}).get(q)) for m in columns.values()))
    return t


def _levels_table(result: dict[str, Any]) -> Table | None:
    """A hierarchical predictor's backtest per level: base vs reconciled MASE and mean wQL."""
    report = result.get("metrics", {}).get("hierarchy")
    if not report:
        return None
    t = Table("level", "nodes", "MASE base", "MASE reconciled", "mean wQL base", "mean wQL reconciled",
              title=f"backtest per level, reconciled by {report['method']}", title_justify="left")

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    for row in [*report["levels"], {"level": "all", "nodes": None, **report["overall"]}]:
        t.add_row(row["level"], "" if row["nodes"] is None else f"{row['nodes']:,}",
                  *(fmt(row[kind][k]) for k in ("mase", "mean_wql") for kind in ("base", "reconciled")))
    return t


def _print_accuracy(result: dict[str, Any]) -> None:
    console.print(_accuracy_table(result))
    levels = _levels_table(result)
    if levels is not None:
        console.print(levels)


def backtest_notes(result: dict[str, Any]) -> list[str]:
    """What the headline figures hide: items with extreme scores (and why), items left out."""
    metrics = result.get("metrics", {})
    out = []
    for e in metrics.get("extreme_items") or []:
        out.append(f"item {e['item_id']!r} (window {e['window']}) has {e['metric'].upper()} {e['value']:,.1f} against a "
                   f"median of {e['median'] or 0:.2f}: {e['reason']}")
    left = metrics.get("items_left_out")
    if left:
        out.append(f"{left['items']:,} item(s) are not in the backtest: {left['reason']}")
    return out


PANELS = {"DeepAR": "DeepAR (--algorithm deepar, and auto's DeepAR member)", "auto": "auto",
          "chronos": "chronos (pretrained: --algorithm chronos, and auto's chronos member)"}


@app.command()
@handle_errors
@model_options(Hyperparameters, panels=lambda field: PANELS.get(option_group(field)))
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the predictor")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="imported dataset to train on")],
    related: Annotated[str | None, typer.Option("--related", help="related time series dataset (prices, promotions): "
                                                "its columns are features, known through the horizon")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="item metadata dataset: its columns are static "
                                                 "features (categories encoded, numbers standardised)")] = None,
    holidays: Annotated[str | None, typer.Option("--holidays", help="comma-separated countries (US, FR, DE-BY): a "
                                                 "holiday indicator each, in history and horizon")] = None,
    hyperparameters: Annotated[Path | None, typer.Option("--hyperparameters", help="JSON file of hyperparameters "
                                                         "(the same names; flags override it)")] = None,
    monitor: Annotated[str | None, typer.Option("--monitor", help="create a monitor of this name: it evaluates the "
                                                "predictor's forecasts as actuals arrive")] = None,
    max_runtime_seconds: Annotated[int | None, typer.Option(help="stop the training when it runs longer "
                                                            "(CREATE_STOPPED, saying so)", min=1)] = None,
    json_output: JsonFlag = False,
    *,
    given_options: dict[str, Any],
) -> None:
    """Train a predictor on DATASET, backtest it against seasonal naive, and store it.

    Every hyperparameter is a flag (--prediction-length is required, here or in the file). DeepAR
    options apply to --algorithm deepar and to auto's DeepAR member; giving one to another
    algorithm is an error."""
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
    values.update(given_options)
    if "prediction_length" not in values:
        raise InvalidInputError("--prediction-length is required (or prediction_length in --hyperparameters)")
    hp = Hyperparameters.from_values(values)
    features = FeatureInputs(related=related, metadata=metadata,
                             holidays=[c for c in (holidays or "").split(",") if c.strip()])
    rt = runtime(ctx)
    with _training_progress(name, hp.epochs if hp.uses_deepar else 0) as (on_epoch, on_phase):
        resource = create_predictor(rt.workspace, rt.registry, name, dataset=dataset, hyperparameters=hp,
                                    features=features, on_epoch=on_epoch, on_phase=on_phase,
                                    precision=rt.settings.inference_precision,
                                    memory_limit_mb=rt.settings.max_training_memory_mb,
                                    engine=rt.settings.job_engine(), monitor=monitor,
                                    max_runtime_seconds=max_runtime_seconds, pretrained_default=rt.settings.chronos_model)
    if json_output:
        print_json(view(resource))
        return
    console.print(f"predictor {name!r} is ACTIVE: {_summary(resource.result)}", highlight=False)
    if monitor is not None:
        console.print(f"monitor {monitor!r} watches its forecasts", highlight=False)
    for note in [*resource.result["training"].get("notes", []), *backtest_notes(resource.result)]:
        console.print(f"note: {note}", highlight=False, markup=False)
    _print_accuracy(resource.result)


@app.command()
@handle_errors
def retrain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the new predictor")],
    reference: Annotated[str, typer.Option("--from", help="ACTIVE predictor whose configuration to train again")],
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help=escape(
        "dataset to train on [default: the reference's, at its latest version]"))] = None,
    json_output: JsonFlag = False,
) -> None:
    """Train the configuration of predictor --from again on the latest version of its dataset.

    DeepAR (alone or in auto) starts from the reference's network and trains half of its
    epochs; the statistical models fit the new histories; auto chooses its weights again on the
    new validation window. The new predictor names its reference in describe."""
    from forecast.models.deepar_training import retrain_epochs
    from forecast.predictors import retrain_predictor

    rt = runtime(ctx)
    ref = rt.registry.get_active(Kind.PREDICTOR, reference)
    hp = Hyperparameters.model_validate(ref.spec["hyperparameters"])
    with _training_progress(name, retrain_epochs(hp.epochs) if hp.uses_deepar else 0) as (on_epoch, on_phase):
        resource = retrain_predictor(rt.workspace, rt.registry, name, reference=reference, dataset=dataset,
                                     on_epoch=on_epoch, on_phase=on_phase, precision=rt.settings.inference_precision,
                                     memory_limit_mb=rt.settings.max_training_memory_mb,
                                     engine=rt.settings.job_engine())
    if json_output:
        print_json(view(resource))
        return
    console.print(f"predictor {name!r} (retrained from {reference!r}) is ACTIVE: {_summary(resource.result)}",
                  highlight=False)
    console.print(_accuracy_table(resource.result))


def _features_lines(result: dict[str, Any]) -> list[str]:
    """What the predictor was fitted with: its features by name, and the values resolved from the data."""
    lines = []
    feats = result.get("features") or {}
    if feats.get("related") or feats.get("metadata") or feats.get("holidays"):
        parts = [f"dynamic {', '.join(feats['dynamic_features'])}"] if feats.get("dynamic_features") else []
        parts += [f"{c} ({n} categories)" for c, n in feats.get("categorical", {}).items()]
        parts += [f"{c} (numeric)" for c in feats.get("numeric", [])]
        sources = ", ".join(f"{k} {feats[k]!r}" for k in ("related", "metadata") if feats.get(k))
        lines.append("features: " + "; ".join(parts) + (f" (from {sources})" if sources else ""))
    resolved = result.get("resolved") or {}
    if resolved:
        lines.append("resolved: " + ", ".join(f"{k} {resolved[k]}" for k in (
            "context_length", "cardinality", "num_dynamic_feat", "num_static_real") if k in resolved))
    return lines


@app.command("list")
@handle_errors
def list_(
    ctx: typer.Context,
    sort_by: Annotated[str | None, typer.Option(help="mean_wql, mase, wape, rmse, mape, name or created_at "
                                                     "(metrics: best first)")] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter", help="key=value: dataset, algorithm, status, "
                                                      "related or metadata (repeatable)")] = None,
    descending: Annotated[bool, flag("--descending", help="largest first")] = False,
    json_output: JsonFlag = False,
) -> None:
    """List predictors with their status and headline accuracy; filter and sort them like runs."""
    from forecast.predictors import find_predictors

    filters = key_values(filter_, what="--filter", example="dataset=sales")
    resources = find_predictors(runtime(ctx).registry, filters=filters, sort_by=sort_by, descending=descending)
    print_list(Kind.PREDICTOR, resources, json_output=json_output)


def _print_predictor(r: Resource) -> None:
    """Status, hyperparameters, dataset fingerprint, accuracy and timings of a predictor."""
    info = view(r)
    name = r.name
    console.print(f"predictor {name!r}: {r.status.value}" + (f" ({r.message})" if r.message else ""), highlight=False)
    line = progress_line(r)
    if line:
        console.print(line, highlight=False, markup=False)
    console.print(f"dataset {info['dataset']!r} (fingerprint {str(info['dataset_fingerprint'])[:16]})", highlight=False)
    console.print("hyperparameters: " + json.dumps(info["hyperparameters"]), highlight=False, markup=False)
    if "training" in r.result:
        tr = r.result["training"]
        console.print(f"fitted: {_summary(r.result)}; backtest {tr['backtest_seconds']:.1f} s", highlight=False)
        for line in _features_lines(r.result):
            console.print(line, highlight=False, markup=False)
        for note in [*tr.get("notes", []), *backtest_notes(r.result)]:
            console.print(f"note: {note}", highlight=False, markup=False)
        _print_accuracy(r.result)


@app.command()
@handle_errors
def backtest(
    ctx: typer.Context,
    name: str,
    item: Annotated[str | None, typer.Option("--item", help="one item: its metrics per model and window, and its "
                                             "backtest forecasts beside the actuals")] = None,
    where: WhereOption = None,
    limit: Annotated[int, typer.Option(help="items to show without --item")] = 20,
    json_output: JsonFlag = False,
) -> None:
    """Backtest accuracy: overall per model, and per item (the predictor's own, or one item's)."""
    from forecast.backtest_reports import read_backtest

    rt = runtime(ctx)
    report = read_backtest(rt.workspace, rt.registry, name, item=item,
                           filters=where_filters(where),
                           limit=limit if not json_output or item else 10**9)
    if json_output:
        print_json(report.model_dump(mode="json"))
        return
    r = rt.registry.get(Kind.PREDICTOR, name)
    console.print(_accuracy_table(r.result))
    if report.weights:
        console.print("weights: " + ", ".join(f"{n} {w:.2f}" for n, w in report.weights.items()), highlight=False)
    t = Table("item", "window", "model", "mean wQL", "WAPE", "RMSE", "MASE",
              title=f"item {item!r}" if item else f"first {len(report.items)} of {report.total_items} item rows",
              title_justify="left")
    f = lambda v: "-" if v is None else f"{v:.4f}"
    for row in report.items:
        t.add_row(row.item_id, str(row.window), row.model, f(row.mean_wql), f(row.wape), f(row.rmse), f(row.mase))
    console.print(t)
    if report.points:
        columns = list(report.points[0].values)
        pts = Table("window", "timestamp", "actual", *columns, title="backtest forecasts", title_justify="left")
        for p in report.points:
            pts.add_row(str(p.window), p.timestamp, f(p.actual), *(f(p.values[c]) for c in columns))
        console.print(pts)


@app.command()
@handle_errors
def describe(
    ctx: typer.Context,
    name: str,
    fit_report: Annotated[bool, flag("--fit-report", help="the series a model could not fit (or whose forecast "
                                     "was not finite), at which origin and why: they fell back to seasonal naive")
                          ] = False,
    csv_output: Annotated[bool, flag("--csv", help="with --fit-report: the whole report as CSV")] = False,
    limit: Annotated[int, typer.Option(help="with --fit-report: rows to show")] = 20,
    json_output: JsonFlag = False,
) -> None:
    """Show a predictor: what was asked for, what came out, or its progress; or its fit report."""
    rt = runtime(ctx)
    if not fit_report:
        if csv_output:
            raise InvalidInputError("--csv goes with --fit-report")
        r = rt.registry.get(Kind.PREDICTOR, name)
        if json_output:
            print_json(view(r))
        else:
            _print_predictor(r)
        return
    from forecast.fit_report import fit_report_csv, read_fit_report

    if csv_output:
        typer.echo(fit_report_csv(rt.workspace, rt.registry, name), nl=False)
        return
    report = read_fit_report(rt.workspace, rt.registry, name, limit=limit if not json_output else 10**9)
    if json_output:
        print_json(report.model_dump(mode="json"))
        return
    if not report.total:
        console.print(f"predictor {name!r}: every series fitted with every model", highlight=False, markup=False)
        return
    console.print(f"predictor {name!r}: {report.total:,} fit(s) of {report.items:,} item(s) fell back to seasonal "
                  "naive (" + ", ".join(f"{m} {n:,}" for m, n in report.by_model.items()) + ")",
                  highlight=False, markup=False)
    t = Table("item", "model", "origin", "reason", title=f"first {len(report.rows)} of {report.total}",
              title_justify="left")
    for row in report.rows:
        t.add_row(row["item_id"], row["model"], row["origin"], row["reason"])
    console.print(t)


add_resource_commands(app, Kind.PREDICTOR, own=("list", "describe"))
