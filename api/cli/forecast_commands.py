"""``forecast forecasts ...``: create, query, list, describe, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli._common import (
    JsonFlag,
    WhereOption,
    add_resource_commands,
    console,
    count_progress,
    err_console,
    handle_errors,
    print_json,
    runtime,
    where_filters,
)
from resources import Kind
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.FORECAST).summary, no_args_is_help=True)


@app.command()
@handle_errors
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="name for the forecast")],
    predictor: Annotated[str, typer.Option("--predictor", "-p", help="ACTIVE predictor to forecast with")],
    types: Annotated[str, typer.Option(help="quantiles 0.01..0.99 (steps of 0.01) and mean, comma-separated")] = "0.1,0.5,0.9",
    dataset: Annotated[str | None, typer.Option(help=escape("dataset to forecast from [default: the predictor's]"))] = None,
    dataset_version: Annotated[int | None, typer.Option(min=1, help=escape(
        "the dataset's version to forecast from [default: its latest]"))] = None,
    related: Annotated[str | None, typer.Option(help="what-if: a related dataset of other future values (same "
                                                     "columns as the predictor's) in place of its own")] = None,
    metadata: Annotated[str | None, typer.Option(help="an item metadata dataset in place of the predictor's "
                                                      "(new items' attributes)")] = None,
    transform: Annotated[list[str] | None, typer.Option(help="what-if: change a related column over the horizon, "
                                                             "e.g. 'price*0.9 where store=3' (* + - /; repeatable)")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Forecast every item of the dataset from its full history and store the chosen types.

    The history is the dataset's latest version (--dataset-version pins one): after an
    incremental import, the predictor forecasts from the new points and new items without
    retraining."""
    from forecast.forecasts import create_forecast

    rt = runtime(ctx)
    with count_progress(f"forecasting {name}") as progress:
        r = create_forecast(rt.workspace, rt.registry, name, predictor=predictor, types=types, dataset=dataset,
                            related=related, metadata=metadata, transforms=transform or [],
                            dataset_version=dataset_version, precision=rt.settings.inference_precision, on_progress=progress,
                            engine=rt.settings.job_engine())
    if json_output:
        print_json(declaration(Kind.FORECAST).view(r))
        return
    console.print(f"forecast {name!r} is ACTIVE: {r.result['num_items']:,} items x {r.result['prediction_length']} steps, "
                  f"types {', '.join(r.result['columns'])}, from dataset {r.spec['dataset']!r} version "
                  f"{r.spec['dataset_version']} ({r.result['seconds']:.1f} s)", highlight=False)


@app.command()
@handle_errors
def query(
    ctx: typer.Context,
    name: str,
    item_id: Annotated[str, typer.Argument(help="the item to show")],
    where: WhereOption = None,
    types: Annotated[str | None, typer.Option(help=escape("output columns, e.g. p10,mean [default: all]"))] = None,
    start: Annotated[str | None, typer.Option(help="first timestamp to include (ISO-8601)")] = None,
    end: Annotated[str | None, typer.Option(help="last timestamp to include (ISO-8601)")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Show one item's forecast."""
    from forecast.store import ForecastCache, parse_bounds

    rt = runtime(ctx)
    loaded = ForecastCache(rt.workspace, rt.registry).get(name)
    columns = loaded.select_columns(types)
    lo, hi = parse_bounds(start, end)
    result = loaded.item(item_id, columns=columns, start=lo, end=hi, filters=where_filters(where))
    if json_output:
        print_json({"forecast": name, **result})
        return
    dims = result.get("dimensions")
    title = f"{name}: {item_id}" + (" (" + ", ".join(f"{k}={v}" for k, v in dims.items()) + ")" if dims else "")
    t = Table("timestamp", *columns, title=title, title_justify="left")
    preds = result["predictions"]
    for i, point in enumerate(preds[columns[0]]):
        t.add_row(point["timestamp"], *(f"{preds[c][i]['value']:.6g}" for c in columns))
    console.print(t)


@app.command()
@handle_errors
def plot(
    ctx: typer.Context,
    name: str,
    item_id: Annotated[str, typer.Argument(help="the item to draw")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write")] = Path("item.png"),
    where: WhereOption = None,
) -> None:
    """Draw one item: history, the forecast band, quantiles and the mean, as a PNG."""
    from forecast.plot import plot_forecast_item
    from forecast.store import ForecastCache

    rt = runtime(ctx)
    loaded = ForecastCache(rt.workspace, rt.registry).get(name)
    png = plot_forecast_item(rt.workspace, rt.registry, loaded, item_id, where_filters(where))
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(png)
    tmp.replace(out)
    err_console.print(f"wrote {out}", highlight=False, markup=False)


alias_app = typer.Typer(help="Stable names for forecasts: set, move back (roll back), list.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")


@alias_app.command("set")
@handle_errors
def alias_set(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="the stable name clients query")],
    forecast: Annotated[str, typer.Argument(help="the ACTIVE forecast it names from now on")],
    json_output: JsonFlag = False,
) -> None:
    """Point ALIAS at FORECAST (create or move it): queries, the lookup page and exports given
    ALIAS read FORECAST from now on. Setting it to the previous forecast is the rollback."""
    from forecast.aliases import set_alias

    r = set_alias(runtime(ctx).registry, alias, forecast)
    if json_output:
        print_json(declaration(Kind.ALIAS).view(r))
        return
    history = r.result.get("history") or []
    before = f" (was {history[-2]['forecast']!r})" if len(history) > 1 else ""
    console.print(f"alias {alias!r} -> forecast {forecast!r}{before}", highlight=False, markup=False)


@alias_app.command("list")
@handle_errors
def alias_list(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Every alias and the forecast it names."""
    aliases = runtime(ctx).registry.list(Kind.ALIAS)
    if json_output:
        print_json([declaration(Kind.ALIAS).view(r) for r in aliases])
        return
    for r in aliases:
        console.print(f"{r.name} -> {r.spec['forecast']}", highlight=False, markup=False)


@alias_app.command("delete")
@handle_errors
def alias_delete(ctx: typer.Context, alias: str) -> None:
    """Delete ALIAS (the forecast stays)."""
    from resources.lifecycle import delete_resource

    rt = runtime(ctx)
    delete_resource(rt.registry, rt.workspace, Kind.ALIAS, alias)


add_resource_commands(app, Kind.FORECAST)
