"""``forecast datasets ...``: validate, import, list, describe, delete, sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli._common import (
    add_job_commands,
    byte_progress,
    console,
    err_console,
    handle_errors,
    print_json,
    progress_line,
    runtime,
)
from datasets import DatasetSummary, delete_dataset, get_dataset, import_dataset, scan_dataset
from resources import Kind, Resource, Status

app = typer.Typer(help="Import and inspect training data (DeepAR JSON lines or Parquet).", no_args_is_help=True)

FreqOption = Annotated[
    str, typer.Option("--freq", "-f", help="pandas frequency alias of the series: H, D, W, M, Q, 15min, ...")
]
MaxErrors = Annotated[int, typer.Option(help="stop listing problems after this many", min=1)]
JsonFlag = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]


def summary_table(summary: DatasetSummary, title: str) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_row("frequency", summary.freq)
    t.add_row("series", f"{summary.num_series:,}")
    t.add_row("observations", f"{summary.num_observations:,}")
    t.add_row("length min / median / max", f"{summary.length_min:,} / {summary.length_median:,.0f} / {summary.length_max:,}")
    t.add_row("missing values", f"{summary.missing_share:.2%}")
    t.add_row("cat cardinalities", ", ".join(map(str, summary.cat_cardinalities)) or "none")
    feats = str(summary.num_dynamic_feat)
    if summary.dynamic_feat_extension:
        feats += f" (extending {summary.dynamic_feat_extension} steps past the target)"
    t.add_row("dynamic features", feats)
    t.add_row("date range", f"{summary.start_min} .. {summary.end_max}")
    t.add_row("files", str(summary.num_files))
    t.add_row("fingerprint", summary.fingerprint[:16])
    return t


def _notes(summary: DatasetSummary) -> None:
    if summary.assigned_item_ids:
        err_console.print(
            f"note: {summary.assigned_item_ids} record(s) had no item_id; they were given ids "
            "item_<n> by position (files in path order, then line)", highlight=False, markup=False,
        )
    if summary.ignored_fields:
        err_console.print(f"note: ignored unknown field(s): {', '.join(summary.ignored_fields)}", highlight=False, markup=False)


def _describe(resource: Resource) -> dict[str, object]:
    return {
        "name": resource.name,
        "status": resource.status.value,
        "source": resource.spec.get("source"),
        "freq": resource.spec.get("freq"),
        "created_at": resource.created_at.isoformat(),
        "summary": resource.result,
    }


@app.command()
@handle_errors
def validate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="file, folder or s3:// URL")],
    freq: FreqOption,
    max_errors: MaxErrors = 100,
    json_output: JsonFlag = False,
) -> None:
    """Check a dataset and print its summary; exit 2 listing every problem when it is invalid."""
    rt = runtime(ctx)
    with byte_progress("validating") as progress:
        summary = scan_dataset(
            path, freq=freq, storage_options=rt.settings.storage_options(path), max_problems=max_errors,
            progress=progress,
        )
    if json_output:
        print_json(summary.model_dump(mode="json"))
        return
    _notes(summary)
    console.print(summary_table(summary, f"{path}: valid"))


@app.command("import")
@handle_errors
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the dataset (letters, digits, - and _)")],
    path: Annotated[str, typer.Argument(help="file, folder or s3:// URL")],
    freq: FreqOption,
    max_errors: MaxErrors = 100,
    json_output: JsonFlag = False,
) -> None:
    """Validate a dataset and store a columnar copy in the workspace under NAME."""
    rt = runtime(ctx)
    with byte_progress("importing") as progress:
        resource = import_dataset(
            rt.workspace, rt.registry, name, path, freq=freq,
            source_options=rt.settings.storage_options(path), max_problems=max_errors, progress=progress,
        )
    if json_output:
        print_json(_describe(resource))
        return
    summary = DatasetSummary.model_validate(resource.result)
    _notes(summary)
    console.print(summary_table(summary, f"dataset {name!r} imported"))


@app.command("list")
@handle_errors
def list_(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List imported datasets."""
    resources = runtime(ctx).registry.list(Kind.DATASET)
    if json_output:
        print_json([_describe(r) for r in resources])
        return
    t = Table("name", "status", "freq", "series", "created")
    for r in resources:
        t.add_row(r.name, r.status.value, r.spec.get("freq", ""), f"{r.result.get('num_series', 0):,}",
                  r.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(t)


@app.command()
@handle_errors
def describe(ctx: typer.Context, name: str, json_output: JsonFlag = False) -> None:
    """Show a dataset's source, frequency and summary."""
    resource = get_dataset(runtime(ctx).registry, name)
    if json_output:
        print_json(_describe(resource))
        return
    console.print(f"source: {resource.spec.get('source')}", highlight=False)
    if resource.status != Status.ACTIVE:  # importing, or failed: no summary yet
        console.print(f"dataset {name!r}: {resource.status.value}" + (f" ({resource.message})" if resource.message else ""),
                      highlight=False, markup=False)
        line = progress_line(resource)
        if line:
            console.print(line, highlight=False, markup=False)
        return
    console.print(summary_table(DatasetSummary.model_validate(resource.result), f"dataset {name!r} ({resource.status.value})"))


@app.command()
@handle_errors
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a dataset and its stored copy (refused while a predictor or forecast uses it)."""
    rt = runtime(ctx)
    delete_dataset(rt.workspace, rt.registry, name)
    err_console.print(f"deleted dataset {name!r}", highlight=False, markup=False)


@app.command()
@handle_errors
def sample(
    name: Annotated[str, typer.Argument(help="tourism-monthly, tourism-quarterly, aus-retail, tourism-regions or epf-fr-be")],
    out: Annotated[Path, typer.Argument(help="JSON-lines file to write (.gz to compress)")],
) -> None:
    """Write a real, bundled dataset as JSON lines (offline), to try the service with."""
    from datasets.samples import SAMPLES, write_sample

    n = write_sample(name, out)
    freq, horizon, _, description = SAMPLES[name]
    err_console.print(f"wrote {n} series to {out}: {description}; use --freq {freq} (suggested horizon {horizon})",
                      highlight=False)


add_job_commands(app, Kind.DATASET, with_log=False)  # imports run in the CLI only
