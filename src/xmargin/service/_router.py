"""The router: one address in front of the ``xmargin serve --shard I/N`` processes of a venue
(``xmargin route``; docs/service.md, "Router").

**What goes where.**

- ``/v1/accounts/{account}...`` (any method): to the shard that owns the account, computed by
  :func:`xmargin.service._shard.shard_of` on the same percent-decoded path segment the shard itself checks
  (:func:`~xmargin.service._shard.account_in_path`), so the router never sends a request a shard would
  answer 421. The method, the raw path, the query string, the request headers (``X-API-Key``,
  ``Idempotency-Key``, ``Content-Type``, ...) and the body are streamed to the shard; its status, headers
  (with its ``X-Xmargin-Shard``) and body are streamed back unchanged. Hop-by-hop headers (RFC 9110 §7.6.1:
  ``Connection``, ``Keep-Alive``, ``Transfer-Encoding``, ``Upgrade``, ...) and ``Host`` are not forwarded.
- ``GET /v1/health``: every shard's health, asked concurrently (:func:`health_of_shards`).
- ``POST /v1/ticks``: the same body and headers to every shard (a tick moves each shard's market and
  re-margins its own accounts; each shard stores the tick's index prices under the same key, so the ledger
  keeps them once, as with a tick fanned out over NATS; :func:`merge_ticks`).
- ``GET /v1/venue/accounts``: every shard's part of the book, merged (``service/_router_merge.py``).
- ``WS /v1/stream``: one socket to each shard, their messages merged (``service/_router_stream.py``).
- ``/metrics``: not routed (404): each process counts its own requests; scrape every shard.
- Everything else (``POST /v1/margin``, ``GET /v1/roots``, ``/v1/me``, ``/v1/instruments``, the replays,
  the dashboard, ``/openapi.json``): any shard, taken in turn (round robin). These answers do not depend on
  which shard gives them: they read the whole ledger (the roots) or nothing of it (a posted portfolio).
  The body is read first, so a shard that refuses the connection is skipped for the next one.

**Errors of its own.** A shard that refuses the connection: **503**; one that breaks the exchange or
answers 421 (started with another ``--shard`` since the router checked it): **502**; one that does not
answer within :data:`READ_TIMEOUT_S`: **504** (RFC 9110 §15.6.3-5). Each is the service's error document
``{"error": {"where", "expected", "found"}}`` with ``"shard": {"index", "count", "url"}`` naming the shard,
never a traceback.

**No keys, no state.** The router checks no key (every shard checks the key it is sent) and keeps nothing
between requests but its connection pool (``httpx.AsyncClient``) and the round-robin counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from xmargin import __version__
from xmargin.core import InputError
from xmargin.service._router_merge import (
    accepted_by_all,
    fault_text,
    health_document,
    merge_ticks,
    merge_venue_books,
)
from xmargin.service._shard import MAX_SHARDS, account_in_path, shard_of

LOG = logging.getLogger("xmargin.service.router")
CONNECT_TIMEOUT_S = 5.0
"""How long the router waits for a shard to accept a connection."""
READ_TIMEOUT_S = 120.0
"""How long the router waits for a shard's answer: a what-if on a loaded machine takes seconds, a tick
that liquidates longer (docs/service.md, "Latency: requests")."""
HEALTH_TIMEOUT_S = 5.0
"""Each shard's share of ``GET /v1/health`` (and of the check at start)."""
POOL = httpx.Limits(max_connections=512, max_keepalive_connections=128, keepalive_expiry=30.0)
"""Connections kept open to the shards (all shards together)."""
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
"""Headers of one connection, not of the message (RFC 9110 §7.6.1), and ``Host``: never forwarded."""
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True, slots=True)
class ShardUrl:
    """Shard ``index`` of ``count``, served at ``url`` (``http://host:port``, no trailing slash)."""

    index: int
    count: int
    url: str

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def about(self) -> dict[str, object]:
        return {"index": self.index, "count": self.count, "url": self.url}


def parse_shard_urls(urls: Sequence[str], *, where: str = "--shard-url") -> tuple[ShardUrl, ...]:
    """The ``--shard-url`` values, in shard order (the first is shard 0): ``http(s)://host[:port]`` without
    a path, query or credentials, each once, at most :data:`MAX_SHARDS`; else bad input."""
    if not urls:
        raise InputError(where=where, expected="one URL per shard, shard 0 first", found="none")
    if len(urls) > MAX_SHARDS:
        raise InputError(where=where, expected=f"at most {MAX_SHARDS} shards", found=len(urls))
    out: list[ShardUrl] = []
    for i, raw in enumerate(urls):
        text = raw.strip().rstrip("/")
        try:
            parts = urlsplit(text)
            _ = parts.port  # a port that is not a number in 0-65535 raises here
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise InputError(
                where=f"{where} #{i + 1}",
                expected="http://HOST:PORT (or https://), no path, query or credentials",
                found=raw[:100],
            )
        if any(s.url == text for s in out):
            raise InputError(where=f"{where} #{i + 1}", expected="each shard once", found=raw[:100])
        out.append(ShardUrl(i, len(urls), text))
    return tuple(out)


def check_shards(shards: Sequence[ShardUrl], transport: httpx.BaseTransport | None = None) -> None:
    """At start: each URL's ``GET /v1/health`` answers 200 with ``"shard": "I/N"``, its position among
    ``shards`` and their number; else bad input naming the first URL that does not."""
    with httpx.Client(timeout=HEALTH_TIMEOUT_S, transport=transport) as client:
        for s in shards:
            where = f"--shard-url #{s.index + 1} ({s.url})"
            expected = (
                f"a running `xmargin serve --shard {s.label}` (its GET /v1/health says shard {s.label})"
            )
            try:
                r = client.get(f"{s.url}/v1/health")
            except httpx.HTTPError as exc:
                raise InputError(where=where, expected=expected, found=fault_text(exc)) from None
            try:
                said = r.json().get("shard") if r.status_code == 200 else None
            except (ValueError, AttributeError):
                said = None
            if r.status_code != 200 or not isinstance(said, str):
                raise InputError(
                    where=where,
                    expected=expected,
                    found=f"HTTP {r.status_code}, no shard in its health (not xmargin serve?)",
                )
            if said != s.label:
                raise InputError(where=where, expected=expected, found=f"shard {said}")


def shard_error(shard: ShardUrl, exc: BaseException | None, *, status: int | None = None) -> JSONResponse:
    """The answer when ``shard`` did not give one (module docstring): 503 refused, 504 timed out, 502 else."""
    if status is None:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            status = 503
        elif isinstance(exc, httpx.TimeoutException):
            status = 504
        else:
            status = 502
    found = fault_text(exc) if exc is not None else f"HTTP {status}"
    return JSONResponse(
        {
            "error": {
                "where": f"shard {shard.label} ({shard.url})",
                "expected": f"an answer from shard {shard.label}",
                "found": found,
            },
            "shard": shard.about(),
        },
        status_code=status,
    )


def forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The request's headers without the hop-by-hop ones (module docstring)."""
    return [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]


class Router:
    """The routing of one router process: its shards, its connection pool, the round-robin counter."""

    def __init__(self, shards: Sequence[ShardUrl], transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.shards = tuple(shards)
        self._transport = transport
        self._turn = itertools.count()
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # the lifespan opens it; a test app without a lifespan opens it here
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            limits=POOL,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=READ_TIMEOUT_S),
            follow_redirects=False,
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._client = self._new_client()
        try:
            yield
        finally:
            await self._client.aclose()
            self._client = None

    def owner(self, account: str) -> ShardUrl:
        return self.shards[shard_of(account, len(self.shards))]

    def _target(self, shard: ShardUrl, request: Request) -> str:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        return shard.url + raw.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")

    async def forward(self, request: Request, shard: ShardUrl) -> Response:
        """Stream ``request`` to ``shard`` and its answer back (module docstring)."""
        headers = forwarded_headers(request)
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        sent = self.client.build_request(
            request.method,
            self._target(shard, request),
            headers=headers,
            content=request.stream() if has_body else None,
        )
        try:
            r = await self.client.send(sent, stream=True)
        except httpx.HTTPError as exc:
            return shard_error(shard, exc)
        if r.status_code == 421:  # the shard no longer serves this account: its --shard changed
            await r.aclose()
            return shard_error(shard, None, status=502)
        return _streamed(r)

    async def any_shard(self, request: Request) -> Response:
        """A venue-wide read or a stateless request: the shards in turn, skipping one that refuses."""
        body = await request.body()
        headers = forwarded_headers(request)
        first = next(self._turn) % len(self.shards)
        last: Response | None = None
        for k in range(len(self.shards)):
            shard = self.shards[(first + k) % len(self.shards)]
            sent = self.client.build_request(
                request.method, self._target(shard, request), headers=headers, content=body or None
            )
            try:
                r = await self.client.send(sent, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last = shard_error(shard, exc)
                continue  # nothing reached this shard: the next one may answer
            except httpx.HTTPError as exc:
                return shard_error(shard, exc)
            return _streamed(r)
        assert last is not None
        return last

    async def every_shard(
        self, request: Request, body: bytes | None = None
    ) -> list[tuple[ShardUrl, httpx.Response | BaseException]]:
        """The same request to every shard at once; each shard's answer (read whole) or its fault."""
        headers = forwarded_headers(request)
        payload = body if body is not None else await request.body()

        async def one(shard: ShardUrl) -> httpx.Response | BaseException:
            try:
                return await self.client.request(
                    request.method, self._target(shard, request), headers=headers, content=payload or None
                )
            except httpx.HTTPError as exc:
                return exc

        answers = await asyncio.gather(*(one(s) for s in self.shards))
        return list(zip(self.shards, answers, strict=True))


async def _body(r: httpx.Response) -> AsyncIterator[bytes]:
    """``r``'s raw body; a shard that breaks off mid-body ends it there (the status and headers are sent:
    the client sees a body shorter than its ``Content-Length``), with one log line, not a traceback."""
    try:
        async for chunk in r.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        LOG.warning(
            "shard %s broke off its answer to %s: %s", r.request.url.host, r.request.url.path, fault_text(exc)
        )


def _streamed(r: httpx.Response) -> Response:
    """``r``'s status, headers (every one, repeated ones too, without the hop-by-hop ones) and raw body,
    streamed as they come; the shard's connection goes back to the pool once the body is sent."""
    out = StreamingResponse(_body(r), status_code=r.status_code, background=BackgroundTask(r.aclose))
    out.raw_headers = [(k, v) for k, v in r.headers.raw if k.decode("latin-1").lower() not in HOP_BY_HOP]
    return out


def create_router(shards: Sequence[ShardUrl], transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The router's ASGI app over ``shards`` (shard ``i`` at ``shards[i]``; module docstring). ``transport``
    replaces the network (a test's)."""
    from xmargin.service._router_stream import fan_in

    router = Router(shards, transport)

    async def health(request: Request) -> Response:
        async def one(s: ShardUrl) -> httpx.Response | BaseException:
            try:
                return await router.client.get(f"{s.url}/v1/health", timeout=HEALTH_TIMEOUT_S)
            except httpx.HTTPError as exc:
                return exc

        answers = await asyncio.gather(*(one(s) for s in router.shards))
        return health_document(router.shards, answers, __version__)

    async def ticks(request: Request) -> Response:
        got = accepted_by_all(await router.every_shard(request), "the tick")
        return got if isinstance(got, Response) else JSONResponse(merge_ticks(got))

    async def venue(request: Request) -> Response:
        got = accepted_by_all(await router.every_shard(request), "the venue's accounts")
        return got if isinstance(got, Response) else JSONResponse(merge_venue_books(router.shards, got))

    async def metrics(request: Request) -> Response:
        return JSONResponse(
            {
                "error": {
                    "where": "path",
                    "expected": "a routed path; /metrics is each shard's own: scrape every shard",
                    "found": "/metrics",
                }
            },
            status_code=404,
        )

    async def dispatch(request: Request) -> Response:
        account = account_in_path(request.url.path)
        if account is None:
            return await router.any_shard(request)
        return await router.forward(request, router.owner(account))

    async def stream(ws: WebSocket) -> None:
        await fan_in(ws, router.shards)

    async def fault(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"error": {"where": "router", "expected": "no fault", "found": type(exc).__name__}},
            status_code=500,
        )

    return Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/ticks", ticks, methods=["POST"]),
            Route("/v1/venue/accounts", venue, methods=["GET"]),
            Route("/metrics", metrics),
            WebSocketRoute("/v1/stream", stream),
            Route("/{path:path}", dispatch, methods=ALL_METHODS),
        ],
        exception_handlers={Exception: fault},
        lifespan=router.lifespan,
    )
