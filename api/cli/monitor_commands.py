"""``forecast monitors ...``: a predictor's forecasts evaluated against the actuals that arrive."""

from __future__ import annotations

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
from api.cli.kinds import add_create
from resources import Kind
from resources.kinds import declaration

app = typer.Typer(help=declaration(Kind.MONITOR).summary, no_args_is_help=True)
add_create(app, Kind.MONITOR)


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


@app.command()
@handle_errors
def evaluations(
    ctx: typer.Context,
    name: str,
    item: Annotated[str | None, typer.Option("--item", help="one item's figures in each evaluation")] = None,
    worst: Annotated[int, typer.Option(help="items to show from the latest evaluation, worst mean wQL first",
                                       min=0)] = 10,
    json_output: JsonFlag = False,
) -> None:
    """The monitor's evaluations, oldest first: each forecast against the actuals that arrived for
    it, beside the predictor's backtest (flagged past the monitor's ratio)."""
    from forecast.monitors import evaluations as read

    rt = runtime(ctx)
    out = read(rt.workspace, rt.registry, name, item=item, worst=worst)
    if json_output:
        print_json(out)
        return
    t = Table(title=f"monitor {name!r} of predictor {out['predictor']!r}", title_justify="left")
    for c in ("#", "forecast", "version", "window", "items", "mean wQL", "backtest", "WAPE", "MASE", "flagged"):
        t.add_column(c)
    for e in out["evaluations"]:
        t.add_row(str(e["number"]), e["forecast"], str(e["dataset_version"]),
                  f"{(e['window_start'] or '')[:10]} .. {(e['window_end'] or '')[:10]}", f"{e['items_evaluated']:,}",
                  _f(e["mean_wql"]), _f(e["backtest_mean_wql"]), _f(e["wape"]), _f(e["mase"]),
                  "FLAGGED" if e["flagged"] else "")
    console.print(t)
    rows = out.get("item", {}).get("evaluations") if item else out.get("worst_items")
    if rows:
        t = Table(title=f"item {item!r}" if item else "worst items (latest evaluation)", title_justify="left")
        for c in rows[0]:
            t.add_column(c)
        for r in rows:
            t.add_row(*(_f(v) for v in r.values()))
        console.print(t)


@app.command()
@handle_errors
def evaluate(ctx: typer.Context, name: str, json_output: JsonFlag = False) -> None:
    """Evaluate the predictor's forecasts now (imports do it on their own)."""
    from forecast.monitors import evaluate_monitor

    rt = runtime(ctx)
    new = evaluate_monitor(rt.workspace, rt.registry, name)
    if json_output:
        print_json([e.model_dump(mode="json", exclude={"items_file"}) for e in new])
        return
    console.print(f"{len(new)} new evaluation(s)", highlight=False)


@app.command()
@handle_errors
def pause(ctx: typer.Context, name: str) -> None:
    """Stop evaluating on imports (resume starts again)."""
    from forecast.monitors import set_state

    set_state(runtime(ctx).registry, name, "STOPPED")


@app.command()
@handle_errors
def resume(ctx: typer.Context, name: str) -> None:
    """Evaluate on imports again."""
    from forecast.monitors import set_state

    set_state(runtime(ctx).registry, name, "ACTIVE")


add_resource_commands(app, Kind.MONITOR)
