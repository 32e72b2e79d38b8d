"""Structured logs of the service (structlog over the standard library's ``logging``).

**Events.** One JSON object per line (``--log-format json``, the default of ``xmargin serve``) or one
readable line (``console``), each with ``event``, ``level``, ``logger`` and ``timestamp`` (ISO-8601, UTC):

=============  ==========================================================================================
``event``      fields
=============  ==========================================================================================
``request``    ``method``, ``path`` (the route's template, ``/v1/accounts/{account}``; ``unmatched`` for a
               404), ``status``, ``latency_ms``, ``key_id`` (the id in the key's ``xm<ID>_`` prefix, or
               null), ``account`` (the path's account, when the route has one); one per HTTP request and
               one per WebSocket session (``method`` = ``WS``, ``status`` = the close code, the server's or the client's)
``tick``       ``time`` (the market's), ``index`` (every underlying's index after it, USD), ``accounts``
               (client accounts per status), ``changed``, ``liquidated`` (counts), ``seconds``
``liquidation``  ``account``, ``fills``, ``events``, ``converted_usd``, ``bad_debt_usd``,
               ``insurance_fund_used_usd``, ``adl_usd``, ``socialized_loss_usd``, ``outstanding_usd``
``start``      ``host``, ``port``, ``ledger`` (its URL, password hidden), ``market``, ``model``, ``pid``
``stop``       ``reason`` (``SIGTERM``, ``SIGINT`` or ``exit``), ``seconds`` (shutdown time)
=============  ==========================================================================================

Lines from other loggers (uvicorn's server messages, the service's warnings) go through the same renderer.
uvicorn's access log is switched off: the ``request`` event replaces it, and carries no query string.

**Secrets.** A key is never logged: the request event reads only the id of its ``xm<ID>_`` prefix, and
:func:`redact` runs on every line, from every logger, before it is rendered: any text shaped like a key
(``xm<ID>_`` + 43 characters) or an ``api_key=`` value in a query becomes ``REDACTED`` (a second guard,
after :class:`xmargin.service._stream.RedactKeys` on uvicorn's loggers).

:func:`configure_logging` is called once by ``xmargin serve`` (logging is the process's, not the app's);
:func:`service_log` makes the app's logger, which goes through the standard library, so an app built
without it (the tests' ``TestClient``) logs only warnings, through Python's last-resort handler.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import IO, Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from xmargin.core import InputError
from xmargin.service._live import STATUSES
from xmargin.service._ticks import Ticker, TickResult

LOGGER_NAME = "xmargin.service"
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
KEY_TEXT = re.compile(r"xm[1-9][0-9]{0,17}_[A-Za-z0-9_-]{43}")
QUERY_KEY = re.compile(r"(api_key=)[^&\s\"']*", re.IGNORECASE)
KEY_ID = re.compile(r"xm([1-9][0-9]{0,17})_")
REDACTED = "REDACTED"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        if "xm" in value:
            value = KEY_TEXT.sub(REDACTED, value)
        if "api_key=" in value.lower():
            value = QUERY_KEY.sub(r"\1" + REDACTED, value)
        return value
    if isinstance(value, Mapping):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """A structlog processor: every string of the event with a key's text in it redacted (module docstring);
    ``timestamp``, ``level``, ``event`` first, for a reader's eye."""
    head = {k: event_dict[k] for k in ("timestamp", "level", "event") if k in event_dict}
    return {k: _scrub(v) for k, v in {**head, **event_dict}.items()}


def _shared() -> list[Processor]:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    fmt: Literal["json", "console"] = "json", level: str = "info", stream: IO[str] | None = None
) -> logging.Handler:
    """Route every logger of the process to ``stream`` (standard error by default) as ``fmt`` lines at
    ``level`` and up; returns the handler installed on the root logger (a test removes it)."""
    renderer: Processor = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "xmargin", False)]:
        root.removeHandler(old)
    # uvicorn's own logging config (installed whenever a Config is built with its default log_config, e.g.
    # by an embedding program) gives its loggers their own handlers and stops them at "uvicorn": send them
    # to the root handler like every other logger, or their lines would bypass the renderer and redaction
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True
    handler.xmargin = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def service_log() -> structlog.stdlib.BoundLogger:
    """The app's structured logger: events go to the standard library's ``xmargin.service`` logger (and so
    to :func:`configure_logging`'s handler when it is installed)."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger(LOGGER_NAME),
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    return logger


def check_logging(fmt: str, level: str) -> tuple[Literal["json", "console"], str]:
    """``--log-format`` and ``--log-level``, checked (bad input names the flag)."""
    if fmt not in LOG_FORMATS:
        raise InputError(where="--log-format", expected=" or ".join(LOG_FORMATS), found=fmt)
    if level.lower() not in LOG_LEVELS:
        raise InputError(where="--log-level", expected=", ".join(LOG_LEVELS), found=level)
    return ("json" if fmt == "json" else "console"), level.lower()


def _key_id(scope: Scope) -> int | None:
    """The id in the presented key's ``xm<ID>_`` prefix (the header, or a WebSocket's query, where the stream
    takes it): never more of the key."""
    presented = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-api-key":
            presented = value.decode("latin-1")
            break
    if not presented and scope["type"] == "websocket" and b"api_key=" in scope.get("query_string", b""):
        text = scope["query_string"].decode("latin-1")
        presented = text.split("api_key=", 1)[1]
    m = KEY_ID.match(presented)
    return int(m.group(1)) if m else None


class RequestLog:
    """Pure ASGI middleware: one ``request`` event per HTTP request and per WebSocket session."""

    def __init__(self, app: ASGIApp, log: structlog.stdlib.BoundLogger) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            t = message["type"]
            if t == "http.response.start":
                status = int(message["status"])
            elif t == "websocket.close":
                status = int(message.get("code", 1000))
            elif t == "websocket.accept" and status is None:
                status = 101
            await send(message)

        async def receiving() -> Message:
            nonlocal status
            message = await receive()
            if message["type"] == "websocket.disconnect" and status in (None, 101):
                status = int(message.get("code", 1000))  # the client closed first
            return message

        try:
            await self.app(scope, receiving if kind == "websocket" else receive, sending)
        except Exception:
            status = 500
            raise
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            fields: dict[str, Any] = {
                "method": scope.get("method", "WS") if kind == "http" else "WS",
                "path": template,
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "key_id": _key_id(scope),
            }
            if "{account}" in template:
                fields["account"] = scope.get("path_params", {}).get("account")
            self.log.info("request", **fields)


def log_ticks(ticker: Ticker, log: structlog.stdlib.BoundLogger) -> None:
    """Log every accepted tick and each liquidation it wrote, after the ticker's own ``on_tick`` (the
    metrics)."""
    previous = ticker.on_tick

    def on_tick(result: TickResult, by_status: list[int]) -> None:
        if previous is not None:
            previous(result, by_status)
        market = ticker.current()
        log.info(
            "tick",
            time=result.out().time,
            index={u: float(p) for u, p in sorted(market.index_usd.items())} if market is not None else {},
            accounts=dict(zip(STATUSES, by_status, strict=True)),
            changed=len(result.changed),
            liquidated=len(result.liquidated),
            seconds=round(result.seconds, 6),
        )
        for r in result.liquidated:
            log.warning(
                "liquidation",
                account=r.account,
                fills=r.fills,
                events=r.events,
                converted_usd=r.converted_usd,
                bad_debt_usd=r.bad_debt_usd,
                insurance_fund_used_usd=r.insurance_fund_used_usd,
                adl_usd=r.adl_usd,
                socialized_loss_usd=r.socialized_loss_usd,
                outstanding_usd=r.outstanding_usd,
            )

    ticker.on_tick = on_tick
