"""NATS (``xmargin serve --nats URL``): ticks in on ``xmargin.ticks.<UNDERLYING>``, alerts out on
``xmargin.alerts`` (nats-py, core NATS subjects).

**In.** A message on ``xmargin.ticks.BTC`` with the JSON payload ``{"price": 61000.0, "time": "...Z"?}``
is the tick ``{"prices": {"BTC": 61000.0}, "time": ...}`` and takes the same path as ``POST /v1/ticks``
(:meth:`Ticker.apply`, run in a worker thread; messages are handled one at a time, in order). A message
that is not such a tick (bad JSON, a missing or non-finite price, an unknown underlying, a time going
back) is dropped and logged as one line naming where, what was expected and what was found; it writes
nothing. The NATS message's reply subject, when set, gets ``{"accepted": true, ...}`` (the HTTP answer) or
``{"error": {...}}``.

**Out.** Every ``status``, ``alert`` and ``liquidation`` message of the stream (docs/service.md) is
published as the same JSON document on ``xmargin.alerts`` (ticks are not republished: the feed has them).
The publisher is a subscriber of the :class:`Hub` with the venue's view (every account).

The connection is made when the app starts (``connect_timeout`` 2 s; nats-py reconnects on its own after
that) and drained when it stops. Without ``--nats`` nothing of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from xmargin.core import InputError, InputErrors
from xmargin.service._errors import ServiceError
from xmargin.service._stream import Hub, redact_uvicorn_logs
from xmargin.service._ticks import Ticker

LOG = logging.getLogger("xmargin.service")
PREFIX = "xmargin"
"""Subjects are ``<prefix>.ticks.<UNDERLYING>`` and ``<prefix>.alerts`` (``--nats-prefix``; tests sharing
a server use their own)."""


def _feed_tick(subject: str, data: bytes) -> tuple[dict[str, object], str | None]:
    """A NATS tick message as (prices, time); ``InputError`` when it is not one."""
    underlying = subject.rsplit(".", 1)[-1]
    where = f"nats {subject}"
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(
            where=where,
            expected='a JSON object {"price": p, "time": t?}',
            found=data[:80].decode(errors="replace"),
        ) from None
    if not isinstance(doc, dict) or "price" not in doc or not set(doc) <= {"price", "time"}:
        raise InputError(where=where, expected='a JSON object {"price": p, "time": t?}', found=str(doc)[:80])
    when = doc.get("time")
    if when is not None and not isinstance(when, str):
        raise InputError(where=f"{where}.time", expected="an ISO-8601 time string", found=str(when)[:64])
    return {underlying: doc["price"]}, when


def _error_doc(exc: Exception) -> dict[str, Any]:
    errs = exc.errors if isinstance(exc, InputErrors) else [exc]
    details = [
        {
            "where": getattr(e, "where", "nats"),
            "expected": getattr(e, "expected", ""),
            "found": str(getattr(e, "found", "")),
        }
        for e in errs
    ]
    return {"error": details[0], **({"errors": details} if len(details) > 1 else {})}


class NatsBridge:
    """The connection, the tick subscription and the alerts publisher (module docstring)."""

    def __init__(self, url: str, ticker: Ticker, hub: Hub, prefix: str = PREFIX) -> None:
        self.url = url
        self.ticks_subject = f"{prefix}.ticks.*"
        self.alerts_subject = f"{prefix}.alerts"
        self.ticker = ticker
        self.hub = hub
        self.nc: Any = None
        self._pump: asyncio.Task[None] | None = None
        self.handled = 0

    async def start(self) -> None:
        import nats

        self.nc = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=-1, name="xmargin")
        sub = self.hub.subscribe(lambda _account: True)
        self._pump = asyncio.ensure_future(self._publish(sub.queue))
        await self.nc.subscribe(self.ticks_subject, cb=self._on_tick)
        await self.nc.flush(timeout=2)

    async def _on_tick(self, msg: Any) -> None:
        reply: dict[str, Any]
        try:
            prices, when = _feed_tick(msg.subject, msg.data)
            result = await anyio.to_thread.run_sync(
                lambda: self.ticker.apply(prices, when, where=f"nats {msg.subject}")
            )
            reply = result.out().model_dump()
        except (InputError, ServiceError) as exc:
            reply = _error_doc(exc)
            e = reply["error"]
            LOG.warning("tick dropped: %s: expected %s, found %s", e["where"], e["expected"], e["found"])
        except Exception as exc:  # a fault in the tick path must not stop the subscription
            LOG.error("tick failed: %s", type(exc).__name__)
            reply = {
                "error": {"where": "server", "expected": "no internal fault", "found": type(exc).__name__}
            }
        self.handled += 1
        if msg.reply:
            with contextlib.suppress(Exception):
                await self.nc.publish(msg.reply, json.dumps(reply).encode())

    async def _publish(self, queue: asyncio.Queue[str | None]) -> None:
        while True:
            text = await queue.get()
            if text is None:
                return
            if '"type":"tick"' in text[:20]:
                continue
            try:
                await self.nc.publish(self.alerts_subject, text.encode())
            except Exception as exc:  # a lost connection: nats-py reconnects; the message is logged lost
                LOG.warning("alert not published on %s: %s", self.alerts_subject, type(exc).__name__)

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()


def live_lifespan(
    ticker: Ticker, hub: Hub, nats_url: str | None, prefix: str = PREFIX
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: uvicorn's logs redacted (keys in a stream's query), NATS started and stopped."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redact_uvicorn_logs()
        bridge = NatsBridge(nats_url, ticker, hub, prefix) if nats_url is not None else None
        if bridge is not None:
            await bridge.start()
        app.state.nats = bridge
        try:
            yield
        finally:
            if bridge is not None:
                await bridge.stop()

    return lifespan


async def _probe(url: str) -> None:
    import nats

    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    await nc.close()


def check_nats(url: str, *, where: str = "--nats") -> str:
    """``url`` if it is a ``nats://`` (or ``tls://``) URL of a server that answers within 2 s; else bad input."""
    if not isinstance(url, str) or not url.startswith(("nats://", "tls://")):
        raise InputError(where=where, expected="a NATS URL such as nats://127.0.0.1:4222", found=url)
    try:
        asyncio.run(asyncio.wait_for(_probe(url), timeout=5))
    except Exception as exc:
        raise InputError(
            where=where,
            expected="a NATS server that answers (nats-server running?)",
            found=f"{url}: {type(exc).__name__}",
        ) from None
    return url
