"""A small Python client for the service's HTTP API, and a local service to point it at.

    from api.client import LocalService

    with LocalService(home="forecast-home", allowed_prefixes=["/data"]) as service:
        client = service.client                       # a ForecastClient for `forecast serve` on a loopback port
        client.import_dataset("sales", "/data/sales.csv", freq="D")
        client.create_predictor("p", dataset="sales", prediction_length=14)   # algorithm "auto"
        client.create_forecast("f", predictor="p", types="0.1,0.5,0.9,mean")
        client.query("f", "A")                        # a DataFrame: one row per timestamp, one column per type

Against a server already running elsewhere: ``ForecastClient("http://host:8000", api_key="...")``.

Every ``create_*`` call waits for its job by default (``wait=False`` returns the accepted resource at
once; ``client.wait(kind, name)`` later) and raises :class:`JobFailed` with the job's message and log
when it ends in ``CREATE_FAILED``. A refused request raises :class:`ApiError` with the service's
status and message (422 for bad input, 403 for a source or destination outside the allowed prefixes,
404 for an unknown name). The client is a thin layer over the HTTP API: every method is one route,
named in its docstring.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import httpx
import pandas as pd

Kind = Literal["datasets", "predictors", "forecasts", "exports"]
FINAL_STATUSES = frozenset({"ACTIVE", "CREATE_FAILED", "CREATE_STOPPED"})


class ApiError(RuntimeError):
    """The service refused a request: ``status`` is the HTTP status, ``detail`` its message."""

    def __init__(self, status: int, detail: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {status} {detail}")
        self.status = status
        self.detail = detail


class JobFailed(RuntimeError):
    """A job ended in ``CREATE_FAILED`` or ``CREATE_STOPPED``: ``resource`` is its final description,
    ``log`` the job's log (progress, and any traceback)."""

    def __init__(self, resource: dict[str, Any], log: str) -> None:
        super().__init__(f"{resource['kind']} {resource['name']!r} {resource['status']}: {resource.get('message')}")
        self.resource = resource
        self.log = log


class ForecastClient:
    """The HTTP API as Python calls. ``base_url`` is the server's root (``http://127.0.0.1:8000``);
    ``api_key`` the server's ``FORECAST_API_KEY`` when it has one."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail if isinstance(detail, str) else json.dumps(detail),
                           method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _created(self, kind: Kind, body: dict[str, Any], wait: bool, timeout: float | None) -> dict[str, Any]:
        resource: dict[str, Any] = self._json("POST", f"/v1/{kind}", json=body)
        return self.wait(kind, resource["name"], timeout=timeout) if wait else resource

    # -- every kind --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /v1/health``."""
        return dict(self._json("GET", "/v1/health"))

    def describe(self, kind: Kind, name: str) -> dict[str, Any]:
        """``GET /v1/{kind}/{name}``: status, spec, result (or the job's progress)."""
        return dict(self._json("GET", f"/v1/{kind}/{name}"))

    def list(self, kind: Kind, **params: Any) -> list[dict[str, Any]]:
        """``GET /v1/{kind}`` (predictors take ``sort_by`` and ``filter=[...]``)."""
        return list(self._json("GET", f"/v1/{kind}", params=params)["data"])

    def log(self, kind: Kind, name: str) -> str:
        """``GET /v1/{kind}/{name}/log``: the log of a job started over HTTP."""
        return self._request("GET", f"/v1/{kind}/{name}/log").text

    def delete(self, kind: Kind, name: str) -> None:
        """``DELETE /v1/{kind}/{name}`` (refused while its job runs: :meth:`stop` it first)."""
        self._request("DELETE", f"/v1/{kind}/{name}")

    def stop(self, kind: Kind, name: str) -> dict[str, Any]:
        """``POST /v1/{kind}/{name}/stop``: ``CREATE_STOPPING``, then ``CREATE_STOPPED`` (then delete it)."""
        return dict(self._json("POST", f"/v1/{kind}/{name}/stop"))

    def wait(self, kind: Kind, name: str, *, timeout: float | None = None, interval: float = 0.5) -> dict[str, Any]:
        """Poll until the job ends; its description when ``ACTIVE``, else :class:`JobFailed`.
        ``TimeoutError`` after ``timeout`` seconds (the job goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            resource = self.describe(kind, name)
            if resource["status"] in FINAL_STATUSES:
                if resource["status"] != "ACTIVE":
                    raise JobFailed(resource, self.log(kind, name))
                return resource
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{kind} {name!r} still {resource['status']} after {timeout} s")
            time.sleep(interval)

    # -- datasets ----------------------------------------------------------------------------------

    def import_dataset(self, name: str, source: str, *, freq: str | None = None, wait: bool = True,
                       timeout: float | None = None, **options: Any) -> dict[str, Any]:
        """``POST /v1/datasets``: import ``source`` (a file, folder or ``s3://`` URL under the server's
        ``FORECAST_ALLOWED_IMPORT_PREFIXES``). ``options`` are the long-format fields (``format``,
        ``type``, ``item_column``, ``dimensions``, ``aggregation``, fills...), as in ``forecast
        datasets import``."""
        return self._created("datasets", {"name": name, "source": source, "freq": freq, **options}, wait, timeout)

    # -- predictors --------------------------------------------------------------------------------

    def create_predictor(self, name: str, *, dataset: str, prediction_length: int, related: str | None = None,
                         metadata: str | None = None, holidays: Sequence[str] = (), wait: bool = True,
                         timeout: float | None = None, **hyperparameters: Any) -> dict[str, Any]:
        """``POST /v1/predictors``: train on ``dataset``. ``hyperparameters`` as in a hyperparameters
        file: ``algorithm`` (default ``auto``), ``epochs``, ``seed``, ``members``, ..."""
        body = {"name": name, "dataset": dataset, "related": related, "metadata": metadata,
                "holidays": list(holidays),
                "hyperparameters": {"prediction_length": prediction_length, **hyperparameters}}
        return self._created("predictors", body, wait, timeout)

    def backtest(self, predictor: str, *, item_id: str | None = None, offset: int = 0,
                 limit: int = 100) -> dict[str, Any]:
        """``GET /v1/predictors/{name}/backtest``: per-item backtest metrics (one item's for every
        model with ``item_id``)."""
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if item_id is not None:
            params["item_id"] = item_id
        return dict(self._json("GET", f"/v1/predictors/{predictor}/backtest", params=params))

    def invoke(self, predictor: str, instances: list[dict[str, Any]],
               configuration: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/predictors/{name}/invocations``: forecast the given histories (DeepAR's request
        shape: ``{"start": ..., "target": [...]}`` per instance)."""
        body: dict[str, Any] = {"instances": instances}
        if configuration is not None:
            body["configuration"] = configuration
        return dict(self._json("POST", f"/v1/predictors/{predictor}/invocations", json=body))

    # -- forecasts ---------------------------------------------------------------------------------

    def create_forecast(self, name: str, *, predictor: str, types: str | Iterable[str] = "0.1,0.5,0.9",
                        wait: bool = True, timeout: float | None = None, **options: Any) -> dict[str, Any]:
        """``POST /v1/forecasts``: forecast every item of the predictor's dataset at ``types``
        (quantiles 0.01..0.99 as ``0.1`` or ``p10``, and ``mean``). ``options``: ``related``,
        ``metadata``, ``transforms`` for a what-if forecast."""
        body = {"name": name, "predictor": predictor, "types": types if isinstance(types, str) else list(types),
                **options}
        return self._created("forecasts", body, wait, timeout)

    def query(self, forecast: str, item_id: str, *, types: str | None = None, start: str | None = None,
              end: str | None = None, **dimensions: str) -> pd.DataFrame:
        """``GET /v1/forecasts/{name}/items/{item_id}``: one item's forecast as a DataFrame indexed by
        timestamp, one column per type. ``dimensions`` select the series (``state="NSW"``)."""
        params = {k: v for k, v in {"types": types, "start": start, "end": end, **dimensions}.items() if v is not None}
        body = self._json("GET", f"/v1/forecasts/{forecast}/items/{item_id}", params=params)
        frame = pd.DataFrame({t: [p["value"] for p in points] for t, points in body["predictions"].items()})
        first = next(iter(body["predictions"].values()), [])
        frame.index = pd.DatetimeIndex([p["timestamp"] for p in first], name="timestamp")
        return frame

    def item_ids(self, forecast: str, *, prefix: str = "", limit: int = 100, **dimensions: str) -> list[str]:
        """``GET /v1/forecasts/{name}/item-ids``: up to ``limit`` item ids (series keys where the
        data has dimensions) starting with ``prefix``, of the series with the given dimension values."""
        params = {"prefix": prefix, "limit": limit, **dimensions}
        return list(self._json("GET", f"/v1/forecasts/{forecast}/item-ids", params=params)["item_ids"])

    def dimensions(self, forecast: str) -> dict[str, list[str]]:
        """``GET /v1/forecasts/{name}/dimensions``: each dimension's values (empty without)."""
        return dict(self._json("GET", f"/v1/forecasts/{forecast}/dimensions")["dimensions"])

    def plot(self, forecast: str, item_id: str, **dimensions: str) -> bytes:
        """``GET /v1/forecasts/{name}/items/{item_id}/plot.png``: history, backtest and quantile
        bands as a PNG."""
        return self._request("GET", f"/v1/forecasts/{forecast}/items/{item_id}/plot.png", params=dimensions).content

    # -- exports -----------------------------------------------------------------------------------

    def create_export(self, name: str, *, destination: str, forecast: str | None = None,
                      backtest_of: str | None = None, format: Literal["csv", "parquet"] = "csv",
                      wait: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """``POST /v1/exports``: write a forecast (or a predictor's backtest forecasts with actuals,
        ``backtest_of``) under ``destination`` (inside ``FORECAST_ALLOWED_EXPORT_PREFIXES``);
        ``_SUCCESS`` is written last."""
        body = {"name": name, "forecast": forecast, "backtest_of": backtest_of, "destination": destination,
                "format": format}
        return self._created("exports", body, wait, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalService:
    """``forecast serve`` in a child process on a free loopback port, for notebooks and scripts.

    ``home`` is the workspace (created if missing); ``allowed_prefixes`` the folders (or ``s3://``
    prefixes) HTTP imports may read and exports may write. ``env`` adds settings
    (``FORECAST_...``). The process is stopped by :meth:`stop`, on leaving a ``with`` block, or when
    this Python process exits."""

    def __init__(self, home: str | os.PathLike[str], *, allowed_prefixes: Sequence[str | os.PathLike[str]] = (),
                 env: dict[str, str] | None = None, startup_timeout: float = 60.0) -> None:
        Path(home).mkdir(parents=True, exist_ok=True)
        prefixes = json.dumps([str(p) for p in allowed_prefixes])
        child_env = {**os.environ, "FORECAST_HOME": str(home), "FORECAST_ALLOWED_IMPORT_PREFIXES": prefixes,
                     "FORECAST_ALLOWED_EXPORT_PREFIXES": prefixes, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)  a file, not a pipe: a full pipe would block the server
        self._process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr)
        atexit.register(self.stop)
        self.client = ForecastClient(self.url, api_key=child_env.get("FORECAST_API_KEY"))
        self._wait_ready(startup_timeout)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")
                raise RuntimeError(f"the service exited with code {self._process.returncode}: {err.strip()}")
            try:
                self.client.health()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"the service did not answer on {self.url} within {timeout} s") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the service and close the client. Jobs still in flight run on in their own
        processes and record their end in the workspace; wait for them first (``wait=True``)."""
        self.client.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
