"""The protocol kit of the managed forecasting API (``AmazonForecast.<Op>``, AWS JSON 1.1): the
operation registry, the request context (ARNs, names, our resources), and the service's list
conventions (``NextToken`` pages, ``Filters``). The resource families register their operations
with :func:`operation`: :mod:`api.aws.datasets_api`, :mod:`api.aws.predictors_api`,
:mod:`api.aws.forecasts_api`."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.aws.catalog import AwsCatalog, Record
from api.aws.timestamp_format import java_of
from api.aws.wire import AwsError, invalid, not_found
from api.http.deps import AppState
from resources import Kind, Resource

Handler = Callable[["AwsContext", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}




def operation(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@dataclass
class AwsContext:
    state: AppState
    catalog: AwsCatalog
    region: str
    account: str

    @property
    def registry(self) -> Any:
        return self.state.runtime.registry

    def arn(self, kind: str, *names: str) -> str:
        return f"arn:aws:forecast:{self.region}:{self.account}:{kind}/{'/'.join(names)}"

    def names(self, arn: str, kind: str, parts: int = 1) -> list[str]:
        """The names in ``arn`` (one, or a parent's and its own); a wrong ARN is invalid input."""
        prefix = f"arn:aws:forecast:{self.region}:{self.account}:{kind}/"
        if not isinstance(arn, str) or not arn.startswith(prefix):
            raise invalid(f"{arn!r} is not a {kind} ARN of this service (expected {prefix}<name>)")
        names = arn[len(prefix):].split("/")
        if len(names) != parts or not all(names):
            raise invalid(f"{arn!r} is not a {kind} ARN of this service")
        return names

    def resource(self, kind: Kind, name: str, what: str) -> Resource:
        if not self.registry.exists(kind, name):
            raise not_found(f"{what} {name!r} does not exist")
        return self.registry.get(kind, name)

    def start(self, kind: Kind, name: str) -> None:
        self.state.jobs.start(kind, name)


def times(r: Resource | Record) -> dict[str, datetime]:
    return {"CreationTime": r.created_at, "LastModificationTime": r.updated_at}


def status_fields(r: Resource) -> dict[str, Any]:
    return {"Status": r.status.value, "Message": in_aws_terms(r.message) if r.message else r.message}


def in_aws_terms(message: str) -> str:
    """A domain message in the managed API's words: a proposed `timestamp_format` becomes its
    ``TimestampFormat`` pattern; other option names lose their quotes."""
    def timestamp(m: re.Match[str]) -> str:
        java = java_of(m.group(1))
        return f"TimestampFormat {java!r}" if java else f"a timestamp format of {m.group(1)!r}"

    message = re.sub(r"`timestamp_format` '([^']*)'", timestamp, message)
    message = message.replace("`timestamp_format`", "TimestampFormat")
    return re.sub(r"`([a-z_]+)`", r"\1", message)


def page(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    """``MaxResults`` items from ``NextToken`` (an opaque offset)."""
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise AwsError("InvalidNextTokenException", "the NextToken is not one this service issued") from None
    size = int(params.get("MaxResults") or 100)
    page = items[start:start + size]
    out: dict[str, Any] = {key: page}
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def filtered(summaries: list[dict[str, Any]], filters: list[dict[str, str]] | None, keys: set[str]) -> list[dict[str, Any]]:
    for f in filters or []:
        if f["Key"] not in keys:
            raise invalid(f"Filters: Key {f['Key']!r} is not one of {', '.join(sorted(keys))}")
        same = f["Condition"] == "IS"
        summaries = [s for s in summaries if (s.get(f["Key"]) == f["Value"]) == same]
    return summaries


def s3_path(params: dict[str, Any], field: str) -> str:
    return str(params[field]["S3Config"]["Path"])


