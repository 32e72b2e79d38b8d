"""``WS /v1/stream`` through the router (``service/_router.py``): one socket to every shard, opened with the
client's key as the client gave it (the ``X-API-Key`` header or the ``?api_key=`` query), their messages
merged onto the client's socket (websockets' asyncio client).

- **Opening.** The client's socket is accepted, then one socket per shard is opened; each shard checks the
  key and answers ``hello`` or closes (4401 no or unknown key, 4403 revoked: docs/service.md, "Stream").
  A shard's close code is passed on to the client as it is; a shard that cannot be reached closes the
  client with **1014** (RFC 6455's registry: "Bad Gateway") and a reason naming the shard. The client
  gets shard 0's ``hello``.
- **Messages.** Each shard sends its own accounts' ``status``, ``alert`` and ``liquidation`` messages, so
  those are disjoint; every shard sends the same ``tick`` (a tick fanned out by NATS or by the router's
  ``POST /v1/ticks``), so a ``tick`` already passed on (same ``time`` and ``prices``) is dropped. Each
  shard's messages keep their order; a shard's ``status`` never comes before the ``tick`` that caused it.
  Messages of different shards interleave as they arrive.
- **Closing.** When the client leaves, every shard socket is closed. When a shard closes its socket (a
  slow client, 1013; the shard stopping) the client's socket is closed with that code (1014 if it has
  none) and the reason names the shard: the client reconnects, as it would to one server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

if TYPE_CHECKING:
    from xmargin.service._router import ShardUrl

CLOSE_BAD_GATEWAY = 1014
OPEN_TIMEOUT_S = 10.0
"""How long opening a shard's socket (and its ``hello``) may take."""
MAX_MESSAGE = 16 * 2**20
"""The largest message taken from a shard (a liquidation's fills of a large book)."""
TICKS_KEPT = 1024
"""Recent ticks remembered to drop the other shards' copies."""


def _ws_url(shard: ShardUrl) -> str:
    return "ws" + shard.url.removeprefix("http") + "/v1/stream"


def _reason(text: str) -> str:
    return text.encode()[:120].decode(errors="ignore")  # a close reason is at most 123 bytes


async def _open(shard: ShardUrl, query: str, headers: dict[str, str]) -> ClientConnection:
    return await connect(
        _ws_url(shard) + (f"?{query}" if query else ""),
        additional_headers=headers,
        open_timeout=OPEN_TIMEOUT_S,
        max_size=MAX_MESSAGE,
        ping_interval=None,  # the shards do not ping either; the client's socket carries the liveness
    )


async def fan_in(ws: WebSocket, shards: Sequence[ShardUrl]) -> None:
    """Serve one client's ``/v1/stream`` from every shard (module docstring)."""
    key = ws.headers.get("x-api-key")
    headers = {"X-API-Key": key} if key else {}
    query = ws.scope.get("query_string", b"").decode("latin-1")
    await ws.accept()
    ups: list[ClientConnection] = []
    try:
        opened = await asyncio.gather(*(_open(s, query, headers) for s in shards), return_exceptions=True)
        ups = [u for u in opened if isinstance(u, ClientConnection)]
        for s, u in zip(shards, opened, strict=True):
            if not isinstance(u, ClientConnection):
                await ws.close(CLOSE_BAD_GATEWAY, _reason(f"shard {s.label} ({s.url}) unreachable"))
                return
        hellos: list[str] = []
        for s, u in zip(shards, ups, strict=True):
            try:
                first = await asyncio.wait_for(u.recv(), OPEN_TIMEOUT_S)
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else CLOSE_BAD_GATEWAY
                await ws.close(code, _reason(exc.rcvd.reason if exc.rcvd is not None else f"shard {s.label}"))
                return
            except TimeoutError:
                await ws.close(CLOSE_BAD_GATEWAY, _reason(f"shard {s.label} ({s.url}) sent no hello"))
                return
            hellos.append(first if isinstance(first, str) else first.decode())
        await ws.send_text(hellos[0])
        await _pump(ws, shards, ups)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        for u in ups:
            with contextlib.suppress(Exception):
                await u.close()


async def _pump(ws: WebSocket, shards: Sequence[ShardUrl], ups: Sequence[ClientConnection]) -> None:
    sending = asyncio.Lock()
    recent: collections.deque[str] = collections.deque(maxlen=TICKS_KEPT)

    async def relay(u: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed, WebSocketDisconnect, RuntimeError, OSError):
            async for message in u:
                text = message if isinstance(message, str) else message.decode()
                if '"tick"' in text:
                    doc = json.loads(text)
                    if doc.get("type") == "tick":
                        seen = json.dumps([doc.get("time"), doc.get("prices")], sort_keys=True)
                        if seen in recent:
                            continue
                        recent.append(seen)
                async with sending:
                    await ws.send_text(text)

    async def client_gone() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass

    relays = [asyncio.ensure_future(relay(u)) for u in ups]
    watcher = asyncio.ensure_future(client_gone())
    try:
        done, _ = await asyncio.wait([*relays, watcher], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in [*relays, watcher]:
            t.cancel()
    if watcher in done:
        return
    for s, u, t in zip(shards, ups, relays, strict=True):
        if t in done:
            code = u.close_code if u.close_code not in (None, 1000, 1005, 1006) else CLOSE_BAD_GATEWAY
            with contextlib.suppress(WebSocketException, RuntimeError, WebSocketDisconnect):
                await ws.close(
                    code or CLOSE_BAD_GATEWAY, _reason(f"shard {s.label} ({s.url}) closed its stream")
                )
            return
