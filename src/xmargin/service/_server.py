"""Running the app with uvicorn: structured logs, and a graceful shutdown that finishes in-flight writes.

**Shutdown.** On SIGTERM (or SIGINT, Ctrl-C) uvicorn stops accepting connections at once (its listening
sockets close: a new connection is refused), closes idle keep-alive connections, and lets every request
already being handled run to its end and send its answer: a write's ledger transaction commits (or, if it
was refused, writes nothing) and its client gets the answer. It waits at most ``SHUTDOWN_TIMEOUT_S`` for
them; a request still running then is cancelled (its client gets no answer; its transaction commits whole
or not at all, the ledger's atomicity, so a retry with the same ``Idempotency-Key`` settles it). Then the
app's lifespan ends (NATS drained), the ledger is closed and the process exits with status 0, with a
``stop`` log event.

uvicorn re-raises a signal it caught once it has shut down (so that a default handler would end the
process with it); :func:`run_server` installs its own handlers first, so the re-raised signal is only
recorded and the process exits 0 after the ledger is closed (systemd, Kubernetes and the tests read 0 as a
clean stop).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from types import FrameType
from typing import Literal

from starlette.applications import Starlette

from xmargin.service._logging import configure_logging, service_log

SHUTDOWN_TIMEOUT_S = 10
"""The longest a shutdown waits for requests in flight (a write takes milliseconds; a what-if about a
second on a loaded machine, docs/service.md)."""


def run_server(
    app: Starlette,
    *,
    host: str,
    port: int,
    log_format: Literal["json", "console"] = "json",
    log_level: str = "info",
    about: Mapping[str, object] | None = None,
) -> str:
    """Serve ``app`` until a signal (module docstring); returns the reason it stopped (``SIGTERM``,
    ``SIGINT`` or ``exit``). ``about`` is added to the ``start`` event (ledger, market, model)."""
    import uvicorn

    configure_logging(log_format, log_level)
    log = service_log()
    caught: list[int] = []

    def remember(sig: int, _frame: FrameType | None) -> None:
        caught.append(sig)

    previous = {s: signal.signal(s, remember) for s in (signal.SIGTERM, signal.SIGINT)}
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # the root logger's handler (configure_logging) renders uvicorn's lines too
        log_level=log_level,
        access_log=False,  # replaced by the app's ``request`` events, which carry no query string
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_S,
    )
    asked: list[float] = []

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            asked.append(time.perf_counter())  # when the shutdown began (the stop event's seconds)
            super().handle_exit(sig, frame)

    server = Server(config)
    log.info("start", host=host, port=port, pid=os.getpid(), **(about or {}))
    try:
        server.run()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    reason = signal.Signals(caught[0]).name if caught else "exit"
    seconds = time.perf_counter() - asked[0] if asked else 0.0
    log.info("stop", reason=reason, seconds=round(seconds, 3))
    return reason
