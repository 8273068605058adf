"""Pure-ASGI middleware (cheap on the hot path): the Host check, the API-key check and the
request-body size limit. Each refusal is a JSON ``{"detail": ...}`` body, like every other error."""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

Scope = dict[str, Any]


async def send_json(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope["headers"]:
        if k == name:
            return v  # type: ignore[no-any-return]
    return None


def host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``::1``, ``Example.com.:80`` -> ``example.com``)."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0].rstrip(".") if h.count(":") == 1 else h.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """``localhost``, a ``*.localhost`` name (RFC 6761) or a loopback IP literal."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class HostCheckMiddleware:
    """Refuse requests whose Host is not allowed (400): the names in ``allowed`` (``*.example.com``
    matches subdomains, ``*`` anything) and, with ``loopback``, every loopback name. A server bound
    to loopback without an API key allows only loopback names, so a web page on another origin
    cannot reach it through DNS rebinding."""

    def __init__(self, app: Any, allowed: list[str], *, loopback: bool) -> None:
        self.app = app
        self.exact = {host_name(a) for a in allowed if not a.startswith("*")}
        self.suffixes = tuple(a[1:].lower() for a in allowed if a.startswith("*."))
        self.any = "*" in allowed
        self.loopback = loopback

    def allows(self, name: str) -> bool:
        return (self.any or name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))
                or (self.loopback and is_loopback_name(name)))

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = _header(scope, b"host")
        name = host_name(raw.decode("latin-1")) if raw else ""
        if not self.allows(name):
            hint = ("loopback names only: this server has no API key (set FORECAST_API_KEY, or list the name "
                    "in FORECAST_ALLOWED_HOSTS)") if self.loopback and not self.exact else "see FORECAST_ALLOWED_HOSTS"
            await send_json(send, 400, f"host {name!r} is not allowed; {hint}")
            return
        await self.app(scope, receive, send)


class ApiKeyMiddleware:
    """When a key is configured, every request needs ``Authorization: Bearer <key>`` (the scheme
    is case-insensitive, RFC 7235). ``exempt`` paths (liveness, the lookup page) and paths under
    ``exempt_prefixes`` (its static files) are answered without one: they hold no data."""

    def __init__(self, app: Any, api_key: str, exempt: frozenset[str] = frozenset(),
                 exempt_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.expected = api_key.encode()
        self.exempt = exempt
        self.exempt_prefixes = exempt_prefixes

    def authorized(self, header: bytes | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.expected)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        if not self.authorized(_header(scope, b"authorization")):
            await send_json(send, 401, "missing or invalid API key (Authorization: Bearer <key>)",
                            [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, by their Content-Length or, for chunked
    bodies, while reading them: the body is read here (it is bounded) and replayed to the app, so
    an oversized body never reaches a parser that would report it as malformed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = f"request body over the limit of {self.max_bytes} bytes"
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await send_json(send, 413, too_large)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await send_json(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
