"""The whole server on one port: the HTTP service (:mod:`api.http`) with the managed services'
protocols (:mod:`api.aws`) mounted on it; what ``forecast serve`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from api.aws.routes import install_aws_routes
from api.http.app import create_app as create_http_app
from api.settings import Settings


def create_app(settings: Settings | None = None, *, bind_host: str | None = None) -> FastAPI:
    """The ``/v1`` API, the lookup page and metrics, and the boto3-compatible endpoints."""
    return create_http_app(settings, bind_host=bind_host, mounts=(install_aws_routes,))
