from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.http.deps import StateDep
from api.http.routes._common import NameParam, resource_router
from api.http.schemas import (
    ForecastDimensions,
    ForecastQuery,
    ItemForecast,
    ItemForecasts,
    ItemIds,
)
from forecast.plot import ItemContext
from forecast.store import LoadedForecast, parse_bounds
from resources import InvalidInputError, Kind, NotFoundError

router = resource_router(Kind.FORECAST, on_delete=lambda state, name: state.forecasts.drop(name))

TypesQuery = Annotated[str | None, Query(description="output columns, e.g. p10,mean (default: all)")]
#: Query parameters the item routes take themselves; any other one filters a dimension (?store=3).
_OWN_PARAMS = frozenset({"item_id", "types", "start", "end"})


def dimension_filters(request: Request, own: frozenset[str] = _OWN_PARAMS) -> dict[str, str]:
    """The query parameters that are not the route's ``own``: dimension filters, one value each."""
    filters: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in own:
            continue
        if key in filters:
            raise InvalidInputError(f"{key}: give one value per dimension")
        filters[key] = value
    return filters
StartQuery = Annotated[str | None, Query(description="first timestamp to include, ISO-8601")]
EndQuery = Annotated[str | None, Query(description="last timestamp to include, ISO-8601")]


class JSONBytes(JSONResponse):
    """A JSON response from bytes already encoded (orjson); documented with the route's model."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else super().render(content)


def _json(data: dict[str, Any]) -> JSONBytes:
    """An item answer: forecast values are float32 scalars, written in their shortest form."""
    return JSONBytes(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY))


async def _loaded(state: StateDep, name: str) -> LoadedForecast:
    """The hot path: a freshly validated cached forecast is returned without a thread hop."""
    hit = state.forecasts.fresh(name)
    return hit if hit is not None else await run_in_threadpool(state.forecasts.get, name)


@router.get("/{name}/items", response_class=JSONBytes, response_model=ItemForecasts)
async def read_items(
    name: NameParam, state: StateDep, request: Request,
    item_id: Annotated[list[str], Query(min_length=1, max_length=1000, description="repeat for several items")],
    types: TypesQuery = None, start: StartQuery = None, end: EndQuery = None,
) -> Response:
    """Several items in one call: ``?item_id=a&item_id=b``: the items found, in the order asked
    for, and the ids not in the forecast under ``missing`` (404 only when none is found). With
    dimensions, a query parameter per dimension chooses each item's series (``&store=3``)."""
    loaded = await _loaded(state, name)
    columns = loaded.select_columns(types)
    lo, hi = parse_bounds(start, end)
    filters = dimension_filters(request)
    items, missing = [], []
    for i in item_id:
        try:
            items.append(loaded.item(i, columns=columns, start=lo, end=hi, filters=filters))
        except NotFoundError:
            missing.append(i)
    if not items:
        raise NotFoundError(f"none of the item(s) {', '.join(map(repr, missing[:10]))} is in forecast {name!r}")
    return _json({"forecast": loaded.name, "items": items, "missing": missing})


@router.get("/{name}/item-ids")
async def read_item_ids(
    name: NameParam, state: StateDep, request: Request,
    prefix: Annotated[str, Query(max_length=1000, description="only ids starting with this")] = "",
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    next_token: Annotated[str | None, Query(max_length=1100, description="from the previous page")] = None,
) -> ItemIds:
    """A forecast's item ids in sorted order, ``limit`` at a time from ``prefix`` (for search
    boxes); ``next_token`` continues. With dimensions, each series' key (``item|dim=value``), and a
    query parameter per dimension keeps the series with that value (``&state=Victoria``)."""
    loaded = await _loaded(state, name)
    filters = dimension_filters(request, frozenset({"prefix", "limit", "next_token"}))
    ids, token = loaded.item_ids_page(prefix=prefix, limit=limit, after=next_token, filters=filters)
    return ItemIds(forecast=name, item_ids=ids, next_token=token)


@router.get("/{name}/dimensions")
async def read_dimensions(
    name: NameParam, state: StateDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="values per dimension")] = 1000,
) -> ForecastDimensions:
    """The forecast's dimensions and each one's values, sorted (for filter forms); empty when the
    data has none."""
    loaded = await _loaded(state, name)
    values, truncated = loaded.dimension_choices(limit)
    return ForecastDimensions(forecast=name, dimensions=values, truncated=truncated)


@router.get("/{name}/items/{item_id:path}/plot.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def read_item_plot(name: NameParam, item_id: str, state: StateDep, request: Request) -> Response:
    """PNG of one item: history, the forecast band, quantiles and the mean. Unknown item: 404.
    With dimensions, a query parameter per dimension chooses the series (``?state=Victoria``)."""
    from forecast.plot import plot_forecast_item

    loaded = state.forecasts.get(name)
    png = plot_forecast_item(state.runtime.workspace, state.runtime.registry, loaded, item_id,
                             dimension_filters(request))
    return Response(png, media_type="image/png")


def wants_csv(request: Request) -> bool:
    """Whether the client asked for CSV (``Accept: text/csv``) rather than JSON, the default."""
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def item_csv(loaded: LoadedForecast, result: dict[str, Any]) -> Response:
    """One item's rows as the CSV export writes them: ``item_id,date,<dimensions>,<types>``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from exports.writer import long_schema

    columns = list(result["predictions"])
    dims = result.get("dimensions") or {}
    points = result["predictions"][columns[0]] if columns else []
    n = len(points)
    schema = long_schema(columns, "csv", list(dims))
    arrays = [pa.array([result["item_id"]] * n), pa.array([p["timestamp"] for p in points])]
    arrays += [pa.array([v] * n) for v in dims.values()]
    arrays += [pa.array(np.array([p["value"] for p in result["predictions"][c]], dtype=np.float32)) for c in columns]
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_arrays(arrays, schema=schema), sink,
                    write_options=pacsv.WriteOptions(quoting_style="needed"))
    return Response(sink.getvalue().to_pybytes(), media_type="text/csv")


CSV_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get("/{name}/items/{item_id:path}/context")
def read_item_context(
    name: NameParam, item_id: str, state: StateDep, request: Request,
    limit: Annotated[int, Query(ge=1, le=100_000, description="history points, the latest")] = 500,
) -> ItemContext:
    """One item's history and its predictor's backtest (actuals beside the backtest forecasts, and
    the item's backtest metrics per model): what the lookup page draws around the forecast."""
    from forecast.plot import item_context

    loaded = state.forecasts.get(name)
    return item_context(state.runtime.workspace, state.runtime.registry, loaded, item_id,
                        dimension_filters(request, _OWN_PARAMS | {"limit"}), limit=limit)


@router.get("/{name}/items/{item_id:path}", response_class=JSONBytes, response_model=ItemForecast,
            responses=CSV_RESPONSE)
async def read_item(
    name: NameParam, item_id: str, state: StateDep, request: Request,
    types: TypesQuery = None, start: StartQuery = None, end: EndQuery = None,
) -> Response:
    """One item's forecast: each type as a list of ``{timestamp, value}`` points, or with
    ``Accept: text/csv`` the export's rows for the item. A forecast with dimensions takes a query
    parameter per dimension to choose the item's series (``?store=3``), or the series key as the
    item (``A|store=3``); the answer names the series' dimensions."""
    loaded = await _loaded(state, name)
    lo, hi = parse_bounds(start, end)
    result: dict[str, Any] = loaded.item(item_id, columns=loaded.select_columns(types), start=lo, end=hi,
                                         filters=dimension_filters(request))
    if wants_csv(request):
        return item_csv(loaded, result)
    return _json({"forecast": loaded.name, **result})


@router.post("/{name}/query", response_class=JSONBytes, response_model=ItemForecast)
async def query_forecast(name: NameParam, body: ForecastQuery, state: StateDep) -> Response:
    """One series by filters (``{"filters": {"item_id": "A", "store": "3"}}``), as the managed
    query APIs take them; every dimension that tells the item's series apart must be given."""
    filters = dict(body.filters)
    item_id = filters.pop("item_id", None)
    if item_id is None:
        raise InvalidInputError("filters: item_id is required")
    loaded = await _loaded(state, name)
    lo, hi = parse_bounds(body.start, body.end)
    result: dict[str, Any] = loaded.item(item_id, columns=loaded.select_columns(body.types), start=lo, end=hi,
                                         filters=filters)
    return _json({"forecast": loaded.name, **result})
