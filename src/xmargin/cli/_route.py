"""``xmargin route``: one address in front of the shards of ``xmargin serve --shard I/N`` (docs/service.md,
"Router"; source ``service/_router.py``)."""

from __future__ import annotations

from typing import Annotated

import typer

from xmargin.core import require

from ._common import err_console, handle_errors


@handle_errors
def route(
    shard_url: Annotated[
        list[str],
        typer.Option(
            "--shard-url",
            help="http://HOST:PORT of a shard, once per shard, shard 0 first (N URLs: shards 0/N..N-1/N)",
        ),
    ],
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on", min=0, max=65535)] = 8080,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines: json (one object per line) or console")
    ] = "json",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error")] = "info",
) -> None:
    """Route each request to the shard that owns its account (and venue-wide ones to every or any shard)
    until interrupted. Each URL's GET /v1/health must say the shard of its position: checked at start."""
    require("fastapi", "service")
    require("uvicorn", "service")
    require("httpx", "service")

    from xmargin.service._logging import check_logging
    from xmargin.service._router import check_shards, create_router, parse_shard_urls
    from xmargin.service._server import run_server
    from xmargin.service._stream import redact_uvicorn_logs

    fmt, level = check_logging(log_format, log_level)
    shards = parse_shard_urls(shard_url)
    check_shards(shards)
    app = create_router(shards)
    redact_uvicorn_logs()  # a /v1/stream client may put its key in the query string
    if fmt == "console":
        err_console.print(
            f"xmargin route: http://{host}:{port}/ in front of "
            + ", ".join(f"shard {s.label} at {s.url}" for s in shards),
            markup=False,
        )
    about = {"shards": [f"{s.label} {s.url}" for s in shards]}
    run_server(app, host=host, port=port, log_format=fmt, log_level=level, about=about)
