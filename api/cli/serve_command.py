"""``forecast serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from api.cli._common import err_console, handle_errors
from resources import InvalidInputError


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address to bind; non-loopback needs FORECAST_API_KEY")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port", min=0, max=65535)] = 8000,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.server import create_app
    from api.settings import Settings

    settings = Settings()
    if not is_loopback(host) and settings.api_key is None:
        raise InvalidInputError(
            f"refusing to bind {host}: a non-loopback address needs an API key (set FORECAST_API_KEY)"
        )
    from forecast.models.statistical import fit_requests_out_of_process

    fit_requests_out_of_process()  # invocations of statistical models must not hold the server's GIL
    app = create_app(settings, bind_host=host)
    err_console.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)", highlight=False,
                      markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
