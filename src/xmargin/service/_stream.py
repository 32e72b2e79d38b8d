"""``WS /v1/stream``: the service's messages (ticks, status changes, alerts, liquidations) pushed to every
connected key that may read them (the contract: docs/service.md, "Stream").

The :class:`Hub` is the one place messages go out: the ticker publishes a tick's messages once, in order,
from whatever thread ran the tick; each subscriber (a WebSocket, or the NATS publisher) has an asyncio queue
on its own event loop, fed with ``call_soon_threadsafe``, and sees only the messages of accounts its
``may_read`` accepts (``None``-account messages, the ticks, go to everyone). A subscriber that falls
:data:`QUEUE_LIMIT` messages behind is dropped (its socket closed with 1013, "try again later") rather
than letting the server's memory grow without bound.

Authentication: the ``X-API-Key`` header, or ``?api_key=KEY`` (browsers cannot set headers on a WebSocket).
The socket is accepted, then closed with 4401 (no, unknown or malformed key) or 4403 (a revoked key) before
any message; a close code is what a browser can read, a refused handshake is not. The key in the query
string is redacted from uvicorn's logs (:class:`RedactKeys`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from xmargin.service._keys import ApiKey, KeyStore

QUEUE_LIMIT = 10_000
"""Messages a subscriber may fall behind before it is dropped."""
CLOSE_NO_KEY = 4401
CLOSE_REVOKED = 4403
CLOSE_OVERLOADED = 1013

Message = tuple[str | None, dict[str, Any]]
"""(the account a message is about, or None for everyone; the JSON document)."""


def utc_text(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(eq=False)
class Subscriber:
    """One consumer: its loop and queue, and which accounts it may read."""

    loop: asyncio.AbstractEventLoop
    may_read: Callable[[str], bool]
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    dropped: bool = False

    def offer(self, text: str) -> None:
        """On the subscriber's loop: queue ``text``, or drop the subscriber past the limit."""
        if self.dropped:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(text)


class Hub:
    """Fan-out of messages to subscribers (module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: set[Subscriber] = set()

    def subscribe(self, may_read: Callable[[str], bool]) -> Subscriber:
        sub = Subscriber(asyncio.get_running_loop(), may_read)
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, messages: list[Message]) -> None:
        """Send ``messages``, in order, to every subscriber that may read each."""
        if not messages:
            return
        texts = [(account, json.dumps(doc, separators=(",", ":"))) for account, doc in messages]
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            for account, text in texts:
                if account is None or sub.may_read(account):
                    with contextlib.suppress(RuntimeError):  # the subscriber's loop has closed
                        sub.loop.call_soon_threadsafe(sub.offer, text)


KEY_IN_TEXT = re.compile(r"(api_key=)[^&\s\"']*", re.IGNORECASE)


class RedactKeys(logging.Filter):
    """Replace the value of ``api_key=`` in a log record (uvicorn logs a WebSocket's path with its query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "api_key=" in text.lower():
            record.msg, record.args = KEY_IN_TEXT.sub(r"\1REDACTED", text), ()
        return True


def redact_uvicorn_logs() -> None:
    """Install :class:`RedactKeys` on uvicorn's loggers (idempotent)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())


def install_stream(app: FastAPI, hub: Hub, keys: KeyStore) -> None:
    """Register ``WS /v1/stream`` on ``app``."""

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket) -> None:
        presented = ws.headers.get("x-api-key") or ws.query_params.get("api_key") or ""
        key: ApiKey | None = None
        revoked = False
        if presented:
            key = await anyio.to_thread.run_sync(keys.check, presented)
            if key is None:
                revoked = await anyio.to_thread.run_sync(keys.revoked, presented)
        await ws.accept()
        if key is None:
            await ws.close(code=CLOSE_REVOKED if revoked else CLOSE_NO_KEY)
            return
        sub = hub.subscribe(key.may_read)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "scope": key.scope.value,
                    "account": None if key.scope.value == "admin" else key.account,
                    "time": utc_text(datetime.now(UTC)),
                }
            )
            receiver = asyncio.ensure_future(_drain(ws))
            try:
                while True:
                    getter = asyncio.ensure_future(sub.queue.get())
                    done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    if receiver in done:
                        getter.cancel()
                        return
                    text = getter.result()
                    if text is None:
                        await ws.close(code=CLOSE_OVERLOADED)
                        return
                    await ws.send_text(text)
            finally:
                receiver.cancel()
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            hub.unsubscribe(sub)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it disconnects."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
