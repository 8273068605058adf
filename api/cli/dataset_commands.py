"""``forecast datasets ...``: validate, import, list, describe, delete, sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, NamedTuple

import typer
from rich.table import Table

from api.cli._common import (
    JsonFlag,
    add_resource_commands,
    byte_progress,
    console,
    err_console,
    handle_errors,
    print_json,
    progress_line,
    runtime,
)
from api.cli.options import options_from
from api.runtime import Runtime
from api.settings import Settings
from datasets import (
    DatasetSummary,
    DatasetType,
    DatasetValidationError,
    Filling,
    LongFormat,
    dataset_summary,
    import_dataset,
)
from datasets.catalog import Layout, dataset_versions, validate_source
from datasets.dataset_kind import view
from datasets.long_format import Aggregation, FillMethod
from resources import InvalidInputError, Kind, Resource, Status
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.DATASET).summary, no_args_is_help=True)

FreqOption = Annotated[
    str | None, typer.Option("--freq", "-f", help="pandas frequency alias of the series: H, D, W, M, Q, 15min, ... "
                             "(long format: rows are aggregated to it); not for item metadata")
]
LONG = "Long format (one row per observation)"
FormatOption = Annotated[Layout, typer.Option("--format", help="jsonlines (DeepAR records) or long; auto: CSV is "
                                              "long, JSON lines are not, Parquet is long unless it has a target column")]
TypeOption = Annotated[DatasetType, typer.Option("--type", rich_help_panel=LONG,
                       help="target: the series to forecast; related: time series known ahead (prices, promotions), "
                            "every non-key column is one; metadata: one row of attributes per item")]
ItemColumn = Annotated[str, typer.Option(rich_help_panel=LONG, help="column of the item id")]
TimestampColumn = Annotated[str, typer.Option(rich_help_panel=LONG, help="column of the timestamp")]
TargetColumn = Annotated[str, typer.Option(rich_help_panel=LONG, help="column of the value to forecast")]
DimensionsOption = Annotated[str, typer.Option(rich_help_panel=LONG,
                             help="comma-separated columns that, with the item, name a series (e.g. store,region)")]
TimestampFormat = Annotated[str | None, typer.Option(rich_help_panel=LONG,
                            help="strftime format of the timestamps, e.g. '%d/%m/%Y %H:%M' (default ISO 8601)")]
TimezoneOption = Annotated[str | None, typer.Option(rich_help_panel=LONG,
                           help="IANA zone for timestamps with an offset (default UTC); others are taken as given")]
AggregationOption = Annotated[str, typer.Option(rich_help_panel=LONG,
                              help="rows of one series in one period: sum, avg, first, min, max, or none (an error)")]
FillOption = Annotated[str | None, typer.Option(rich_help_panel=LONG,
                       help="zero, nan, value, median, mean, min, max (or none)")]
FillValue = Annotated[float | None, typer.Option(rich_help_panel=LONG, help="the value of the 'value' fill method")]
StrictOption = Annotated[bool | None, typer.Option("--strict/--no-strict", rich_help_panel=LONG, show_default=False,
                         help="refuse the import, with examples, if it would fill an empty cell or period, combine "
                              "rows of one period or keep a few negative values among non-negative ones [default: "
                              "FORECAST_IMPORT_STRICT, else off]")]


_ = FillMethod  # the names the fill options take
MaxErrors = Annotated[int, typer.Option(help="stop listing problems after this many", min=1)]


class SourceOptions(NamedTuple):
    """How to read a source: what ``validate`` and ``import`` both take."""

    freq: str | None
    layout: Layout
    long: LongFormat
    max_errors: int
    strict_given: bool = False

    def with_defaults(self, settings: Settings) -> SourceOptions:
        """The settings' defaults where the command line gave nothing."""
        if self.strict_given or not settings.import_strict:
            return self
        return self._replace(long=self.long.model_copy(update={"strict": True}))


def source_options(
    freq: FreqOption = None,
    format_: FormatOption = "auto",
    type_: TypeOption = DatasetType.TARGET,
    item_column: ItemColumn = "item_id",
    timestamp_column: TimestampColumn = "timestamp",
    target_column: TargetColumn = "target_value",
    dimensions: DimensionsOption = "",
    timestamp_format: TimestampFormat = None,
    timezone: TimezoneOption = None,
    aggregation: AggregationOption = "sum",
    middlefill: FillOption = None,
    backfill: FillOption = None,
    futurefill: FillOption = None,
    fill_value: FillValue = None,
    strict: StrictOption = None,
    max_errors: MaxErrors = 100,
) -> SourceOptions:
    """The source options as given (pydantic checks the long-format ones: a bad one is exit 2 with
    the reason); declared once for every command that reads a source."""
    filling = Filling.model_validate({"middlefill": middlefill, "backfill": backfill, "futurefill": futurefill,
                                      "fill_value": fill_value})
    agg: Aggregation = aggregation  # type: ignore[assignment]
    long = LongFormat.model_validate({
        "type": type_, "item_column": item_column, "timestamp_column": timestamp_column,
        "target_column": target_column, "dimensions": [d for d in dimensions.split(",") if d.strip()],
        "timestamp_format": timestamp_format, "timezone": timezone, "aggregation": agg, "filling": filling,
        **({"strict": strict} if strict is not None else {}),
    })
    return SourceOptions(freq, format_, long, max_errors, strict is not None)


def summary_table(summary: DatasetSummary, title: str) -> Table:
    t = Table(title=title, show_header=False, title_justify="left")
    t.add_row("type", f"{summary.dataset_type.value} ({summary.format})")
    if summary.dataset_type == DatasetType.METADATA:
        t.add_row("items", f"{summary.num_series:,}")
        for name, a in summary.attributes.items():
            t.add_row(f"attribute {name}", a.kind + (f", {a.cardinality} values" if a.cardinality else ""))
        t.add_row("files", str(summary.num_files))
        return t
    t.add_row("frequency", summary.freq)
    if summary.dimensions:
        t.add_row("dimensions", ", ".join(summary.dimensions))
    if summary.feature_names:
        t.add_row("related series", ", ".join(summary.feature_names))
    if summary.aggregation:
        t.add_row("aggregation", summary.aggregation)
    if summary.filling:
        f = summary.filling
        fills = f"frontfill {f.frontfill}, middlefill {f.middlefill}, backfill {f.backfill}"
        if f.futurefill:
            fills += f", futurefill {f.futurefill}"
        if f.fill_value is not None:
            fills += f" (value {f.fill_value:g})"
        t.add_row("filling", fills)
    t.add_row("series", f"{summary.num_series:,}")
    t.add_row("observations", f"{summary.num_observations:,}")
    t.add_row("length min / median / max", f"{summary.length_min:,} / {summary.length_median:,.0f} / {summary.length_max:,}")
    t.add_row("missing values", f"{summary.missing_share:.2%}" + (" (after filling)" if summary.changes else ""))
    for change in summary.changes.changed() if summary.changes else []:
        t.add_row("changed", change)
    t.add_row("cat cardinalities", ", ".join(map(str, summary.cat_cardinalities)) or "none")
    if summary.demand_classes:
        t.add_row("demand (ADI / CV²)", ", ".join(f"{n:,} {c}" for c, n in summary.demand_classes.items()))
    feats = str(summary.num_dynamic_feat)
    if summary.dynamic_feat_extension:
        feats += f" (extending {summary.dynamic_feat_extension} steps past the target)"
    if summary.format == "jsonlines":
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
    if summary.period_end_starts:
        err_console.print(
            f"note: {summary.period_end_starts} distinct start value(s) were the last day of their {summary.freq} period "
            "(as pandas' resample writes periods); each was taken as its period's start", highlight=False, markup=False)
    if summary.ignored_fields:
        err_console.print(f"note: ignored unknown field(s): {', '.join(summary.ignored_fields)}", highlight=False, markup=False)


@app.command()
@handle_errors
@options_from(source_options, into="source")
def validate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="file, folder or s3:// URL")],
    json_output: JsonFlag = False,
    *,
    source: SourceOptions,
) -> None:
    """Check a dataset and print its summary; exit 2 listing every problem when it is invalid."""
    rt = runtime(ctx)
    source = source.with_defaults(rt.settings)
    try:
        with byte_progress("validating") as progress:
            summary = validate_source(
                path, freq=source.freq, layout=source.layout, long=source.long,
                storage_options=rt.settings.storage_options(path), max_problems=source.max_errors, progress=progress,
            )
    except DatasetValidationError as e:
        if not json_output:
            raise
        print_json({"valid": False, "truncated": e.truncated, "problems": [p.model_dump() for p in e.problems]})
        raise typer.Exit(2) from None
    if json_output:
        print_json(summary.model_dump(mode="json"))
        return
    _notes(summary)
    console.print(summary_table(summary, f"{path}: valid"))


@app.command("import")
@handle_errors
@options_from(source_options, into="source")
def import_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the dataset (letters, digits, - and _)")],
    path: Annotated[str, typer.Argument(help="file, folder or s3:// URL")],
    json_output: JsonFlag = False,
    mode: Annotated[Literal["full", "incremental"], typer.Option(
        help="full: a new dataset NAME; incremental: add FILE's observations and items to dataset NAME as a new "
             "version (the latest import wins where both hold a value), read in NAME's own format")] = "full",
    import_name: Annotated[str | None, typer.Option(
        help="name of the incremental import (default: NAME and the time)")] = None,
    *,
    source: SourceOptions,
) -> None:
    """Validate a dataset and store a columnar copy in the workspace under NAME; with --mode
    incremental, add to dataset NAME as its next version.

    Long format (CSV, CSV.gz or Parquet, one row per observation): rows are keyed by the item and
    the --dimensions, aggregated to --freq, placed on a regular grid and gaps filled (frontfill
    none; --middlefill and --backfill default zero for a target, nothing for related series)."""
    rt = runtime(ctx)
    source = source.with_defaults(rt.settings)
    if mode == "incremental":
        _import_increment(rt, name, path, import_name, source, json_output)
        return
    with byte_progress("importing") as progress:
        resource = import_dataset(
            rt.workspace, rt.registry, name, path, freq=source.freq, layout=source.layout, long=source.long,
            source_options=rt.settings.storage_options(path), max_problems=source.max_errors, progress=progress,
            partition_bytes=rt.settings.import_partition_mb * 2**20,
        )
    if json_output:
        print_json(view(resource))
        return
    summary = dataset_summary(resource)
    _notes(summary)
    console.print(summary_table(summary, f"dataset {name!r} imported"))


def _import_increment(rt: Runtime, dataset: str, path: str, import_name: str | None, source: SourceOptions,
                      json_output: bool) -> None:
    from datasets.increments import default_import_name, import_increment

    name = import_name or default_import_name(dataset)
    with byte_progress("importing") as progress:
        r = import_increment(rt.workspace, rt.registry, name, dataset, path, freq=source.freq,
                             source_options=rt.settings.storage_options(path), max_problems=source.max_errors,
                             progress=progress, partition_bytes=rt.settings.import_partition_mb * 2**20)
    if json_output:
        print_json(declaration(Kind.IMPORT).view(r))
        return
    v = r.result
    err_console.print(f"dataset {dataset!r} version {v['version']}: {v['observations_added']:,} observation(s) added, "
                      f"{v['observations_replaced']:,} replaced, {v['items_added']:,} new item(s), "
                      f"{v['items_updated']:,} updated" + (f", {v['gap_points']:,} step(s) between old and new points "
                                                           "stored as missing" if v.get("gap_points") else "")
                      + f" (import {name!r})", highlight=False, markup=False)


def versions_table(resource: Resource) -> Table:
    """A dataset's versions, oldest first."""
    t = Table(title="versions", title_justify="left")
    for c in ("version", "created", "mode", "series", "added", "replaced", "new items", "last timestamp", "import"):
        t.add_column(c, justify="right" if c in ("version", "series", "added", "replaced", "new items") else "left")
    for v in dataset_versions(resource):
        t.add_row(str(v.number), v.created_at.strftime("%Y-%m-%d %H:%M"), v.mode, f"{v.summary.num_series:,}",
                  f"{v.observations_added:,}", f"{v.observations_replaced:,}", f"{v.items_added:,}",
                  str(v.summary.end_max or ""), v.import_name or "")
    return t


@app.command()
@handle_errors
def sample(
    name: Annotated[str, typer.Argument(help="tourism-monthly, tourism-quarterly, aus-retail, tourism-regions or epf-fr-be")],
    out: Annotated[Path, typer.Argument(help="file to write: JSON lines, or CSV with --format long (.gz to compress)")],
    format_: Annotated[str, typer.Option("--format", help="jsonlines (DeepAR records) or long (CSV rows: item_id, "
                                         "dimensions, timestamp, target_value; related series beside it)")] = "jsonlines",
    hold_back: Annotated[int, typer.Option(min=0, help="JSON lines: leave each series' last N points out of OUT and "
                                           "write them to OUT's name with -next (next week's actuals, to import "
                                           "with --mode incremental)")] = 0,
) -> None:
    """Write a real, bundled dataset (offline), to try the service with."""
    from datasets.samples import SAMPLES, write_long_sample, write_sample

    if format_ not in ("jsonlines", "long"):
        raise InvalidInputError(f"--format: expected jsonlines or long, got {format_!r}")
    if name not in SAMPLES:
        raise InvalidInputError(f"unknown sample {name!r}; choose one of {', '.join(SAMPLES)}")
    freq, horizon, _, description = SAMPLES[name]
    if format_ == "jsonlines":
        n = write_sample(name, out)
        if hold_back:
            _hold_back(out, hold_back, freq)
        err_console.print(f"wrote {n} series to {out}: {description}; use --freq {freq} (suggested horizon {horizon})",
                          highlight=False, markup=False)
        return
    written = write_long_sample(name, out)
    dims = long_dimensions(name)
    for kind, (path, rows) in written.items():
        err_console.print(f"wrote {rows:,} {kind} rows to {path}", highlight=False)
    hint = f"--freq {freq}" + (f" --dimensions {','.join(dims)}" if dims else "")
    err_console.print(f"{description}; import with {hint} (suggested horizon {horizon})", highlight=False,
                      markup=False)


def _hold_back(out: Path, n: int, freq: str) -> Path:
    """Move each series' last ``n`` points of JSON-lines file ``out`` to ``<out>-next<suffix>``."""
    import json

    import pandas as pd

    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    if any(len(r["target"]) <= n for r in rows):
        raise InvalidInputError(f"--hold-back {n}: some series have no more than {n} points")
    nxt = out.with_name(f"{out.stem}-next{out.suffix}")
    with out.open("w") as head, nxt.open("w") as tail:
        for r in rows:
            start = (pd.Period(r["start"], freq=freq) + len(r["target"]) - n).start_time
            head.write(json.dumps({**r, "target": r["target"][:-n]}) + "\n")
            tail.write(json.dumps({"item_id": r["item_id"], "start": str(start), "target": r["target"][-n:]}) + "\n")
    err_console.print(f"held back the last {n} points of each series in {nxt}", highlight=False, markup=False)
    return nxt


def long_dimensions(name: str) -> list[str]:
    return {"aus-retail": ["state"], "tourism-regions": ["state", "purpose"], "pbs": ["concession", "type"]}.get(name, [])


def _print_dataset(resource: Resource) -> None:
    console.print(f"source: {resource.spec.get('source')}", highlight=False)
    if resource.status != Status.ACTIVE:  # importing, or failed: no summary yet
        console.print(f"dataset {resource.name!r}: {resource.status.value}"
                      + (f" ({resource.message})" if resource.message else ""), highlight=False, markup=False)
        line = progress_line(resource)
        if line:
            console.print(line, highlight=False, markup=False)
        return
    console.print(summary_table(dataset_summary(resource), f"dataset {resource.name!r} ({resource.status.value}, "
                                f"version {dataset_versions(resource)[-1].number})"))
    console.print(versions_table(resource))


add_resource_commands(app, Kind.DATASET, describe=_print_dataset)
