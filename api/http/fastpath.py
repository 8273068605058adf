"""The hot path for item queries as a bare ASGI layer in front of FastAPI.

``GET /v1/forecasts/{name}/items/{item_id}`` for a forecast already loaded (and re-validated within
the cache's window) is answered here without routing, dependency injection or response models,
which costs several times the lookup itself. Everything else, including every error case and a
forecast that still has to be loaded, falls through to the FastAPI route, which is the documented
one and answers identically.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from forecast.store import ForecastCache

_ROUTE = re.compile(r"^/v1/forecasts/([A-Za-z0-9][A-Za-z0-9_-]{0,99})/items/(.+)$")
_HEADERS = [(b"content-type", b"application/json")]
#: The documented route this layer answers for.
ROUTE_TEMPLATE = "/v1/forecasts/{name}/items/{item_id:path}"


def _asks_for_csv(scope: dict[str, Any]) -> bool:
    """CSV answers (``Accept: text/csv``) are the route's."""
    return any(k == b"accept" and b"text/csv" in v for k, v in scope.get("headers", ()))


class FastItemQuery:
    def __init__(self, app: Any, cache: ForecastCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not _asks_for_csv(scope):
            m = _ROUTE.match(scope["path"])
            if m is not None:
                body = self._answer(m.group(1), m.group(2), scope.get("query_string", b""))
                if body is not None:
                    scope["route"] = ROUTE_TEMPLATE  # for the request metrics
                    await send({"type": "http.response.start", "status": 200,
                                "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    def _answer(self, name: str, item_id: str, query: bytes) -> bytes | None:
        loaded = self.cache.fresh(name)
        if loaded is None or item_id not in loaded.index:
            return None
        types = start = end = None
        if query:
            params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
            if set(params) - {"types", "start", "end"} or any(len(v) != 1 for v in params.values()):
                return None
            types = params.get("types", [None])[0]
            start, end = params.get("start", [None])[0], params.get("end", [None])[0]
        if start is not None or end is not None:
            return None  # timestamp parsing and its errors live in the route
        try:
            columns = loaded.select_columns(types)
        except ValueError:
            return None
        return orjson.dumps({"forecast": loaded.name, **loaded.item(item_id, columns=columns)},
                            option=orjson.OPT_SERIALIZE_NUMPY)
