"""``xmargin serve`` and ``xmargin keys create|revoke`` (FORMATS.md "Service"; docs/service.md).

``--db`` is the ledger's (``xmargin ledger``): a URL or a SQLite file, else ``$XMARGIN_LEDGER_DB``, else
``./xmargin-data/ledger.db``. The service and the keys live in that one database.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import make_url

from xmargin.core import InputError, require

from ._common import err_console, handle_errors

if TYPE_CHECKING:
    from xmargin.ledger import Ledger
    from xmargin.market import MarketSnapshot
    from xmargin.service import KeyStore
from ._ledger import DbOpt, _open, database_url

NATS_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")

DEMO_DB = Path("xmargin-data") / "demo-ledger.db"
keys_app = typer.Typer(
    help="API keys of the service: created (shown once) and revoked.",
    no_args_is_help=True,
)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@handle_errors
def serve(
    db: DbOpt = None,
    market: Annotated[
        Path | None,
        typer.Option("--market", help="Market file for margins and pre-trade checks (else those answer 503)"),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on", min=0, max=65535)] = 8000,
    model: Annotated[
        str, typer.Option("--model", help="Margin model of the routes and the pre-trade checks")
    ] = "pm",
    rate_limit: Annotated[
        str, typer.Option("--rate-limit", help="Requests per key, e.g. 100/second, 6000/minute, or none")
    ] = "100/second",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="An origin browsers may call from (repeatable; none by default)"),
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option(
            "--nats", help="NATS URL: ticks in on xmargin.ticks.<UNDERLYING>, alerts out on xmargin.alerts"
        ),
    ] = None,
    nats_prefix: Annotated[
        str, typer.Option("--nats-prefix", help="Subject prefix of the NATS ticks and alerts")
    ] = "xmargin",
    shard: Annotated[
        str,
        typer.Option(
            "--shard",
            help="I/N: serve shard I of N (accounts split by a BLAKE2b hash of their name; 0/1: all)",
        ),
    ] = "0/1",
    snapshot_every: Annotated[
        int,
        typer.Option(
            "--snapshot-every", help="Write a ledger snapshot after this many new events (0: never)"
        ),
    ] = 10_000,
    snapshot_interval: Annotated[
        float,
        typer.Option(
            "--snapshot-interval",
            help="...or after this many seconds with at least one new event (0: never)",
        ),
    ] = 600.0,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines: json (one object per line) or console")
    ] = "json",
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error")] = "info",
    span_file: Annotated[
        Path | None,
        typer.Option(
            "--span-file", help="A SPAN risk-parameter file: model span (--model, ?model=) reads it"
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Serve the six shipped example books on the shipped Deribit chain (ledger "
            "xmargin-data/demo-ledger.db unless --db) and print an admin and a read key for the dashboard",
        ),
    ] = False,
) -> None:
    """Run the HTTP API over the ledger (FastAPI + uvicorn) until interrupted."""
    require("fastapi", "service")
    require("uvicorn", "service")

    from xmargin.margin import SpanMargin
    from xmargin.market import load_market
    from xmargin.service import KeyStore, ServiceConfig, create_app, parse_rate_limit
    from xmargin.service._logging import check_logging
    from xmargin.service._server import run_server
    from xmargin.service._shard import parse_shard
    from xmargin.service._snapshots import SnapshotPolicy

    from ._margin import model_of

    if span_file is not None:
        SpanMargin(span_file)  # a bad file is bad input now, not at the first request
    if model.strip().lower() == "span" and span_file is not None:
        raise InputError(
            where="--model span",
            expected="a default model the ledger's pre-trade checks can run (span answers per request: "
            "?model=span, POST /v1/margin with model span)",
            found="span",
        )
    model_of(model, None)
    fmt, level = check_logging(log_format, log_level)
    limit = parse_rate_limit(rate_limit)
    part = parse_shard(shard)
    if snapshot_every < 0:
        raise InputError(where="--snapshot-every", expected="a count of events >= 0", found=snapshot_every)
    if not 0 <= snapshot_interval <= 1e9:
        raise InputError(
            where="--snapshot-interval", expected="seconds >= 0 (0: never)", found=snapshot_interval
        )
    if demo and market is None:
        from xmargin.market import DEMO_SNAPSHOT, shipped_chain_path

        market = Path(f"{shipped_chain_path()}#{DEMO_SNAPSHOT}")
    if demo and db is None:
        DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
        db = str(DEMO_DB)
    mkt = load_market(market) if market is not None else None
    url = database_url(db)
    if not NATS_PREFIX_RE.fullmatch(nats_prefix):
        raise InputError(
            where="--nats-prefix", expected="letters, digits, _ and - (dot-separated)", found=nats_prefix
        )
    if nats is not None:
        from xmargin.service._nats import check_nats

        check_nats(nats)
    ledger = _open(db, model)
    try:
        config = ServiceConfig(
            model=model,
            rate_limit=limit,
            cors_origins=tuple(cors_origin or ()),
            nats_url=nats,
            nats_prefix=nats_prefix,
            shard=part,
            snapshots=SnapshotPolicy(snapshot_every, snapshot_interval),
            span_file=None if span_file is None else str(span_file),
        )
        keys = KeyStore(ledger.store)
        if demo:
            _seed_demo(ledger, keys, mkt, model, f"http://{host}:{port}/")
        app = create_app(ledger, keys, mkt, config)
        where = "none (margin routes answer 503)" if mkt is None else str(market)
        subjects = f"{nats_prefix}.ticks.*, {nats_prefix}.alerts"
        if fmt == "console":  # in json, the start event says the same (every line of the log is JSON)
            err_console.print(
                f"xmargin serve: http://{host}:{port}/ (the dashboard; OpenAPI at /openapi.json), "
                f"ledger {_shown(url)}, market {where}, model {model}"
                + (f", NATS {nats} ({subjects})" if nats else "")
                + (f", shard {part.label}" if part.count > 1 else ""),
                markup=False,
            )
        about = {
            "ledger": _shown(url),
            "market": None if mkt is None else str(market),
            "model": model,
            "nats": None if nats is None else f"{nats} ({subjects})",
            "shard": part.label,
        }
        run_server(app, host=host, port=port, log_format=fmt, log_level=level, about=about)
    finally:
        ledger.close()


def _seed_demo(ledger: Ledger, keys: KeyStore, market: MarketSnapshot | None, model: str, url: str) -> None:
    """Write the demo book (xmargin.service._demo) and print the dashboard's address and two keys."""
    from xmargin.margin import resolve_model
    from xmargin.service import Scope
    from xmargin.service._demo import seed_demo

    if market is None:
        raise InputError(where="--demo", expected="a market (the shipped chain, or --market)", found="none")
    book = seed_demo(ledger, market, resolve_model(model))
    reader = book.accounts[-1]
    admin = keys.create("venue", Scope.ADMIN).key
    read = keys.create(reader, Scope.READ).key
    err_console.print(
        f"demo: {len(book.accounts)} accounts ({', '.join(book.accounts)}); open {url} and log in with\n"
        f"  admin key (venue view, every account): {admin}\n"
        f"  read key of {reader} (its account view): {read}",
        markup=False,
    )


@keys_app.command("create")
@handle_errors
def create(
    account: Annotated[str, typer.Argument(help="The account the key is bound to ('venue' for admin)")],
    scope: Annotated[str, typer.Option("--scope", help="read, trade or admin")] = "read",
    db: DbOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help='{"key_id": i, "key": k} on standard output')
    ] = False,
) -> None:
    """Create a key and print it once (it is stored hashed: it cannot be shown again)."""
    require("fastapi", "service")
    from xmargin.service import KeyStore, check_scope

    s = check_scope(scope)
    ledger = _open(db)
    try:
        new = KeyStore(ledger.store).create(account, s)
    finally:
        ledger.close()
    if json_out:
        doc = {"key_id": new.key_id, "key": new.key, "account": new.account, "scope": new.scope.value}
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        sys.stdout.write(new.key + "\n")
        err_console.print(
            f"key id {new.key_id}: {new.scope.value} on {new.account}; shown once, keep it now",
            markup=False,
        )


@keys_app.command("revoke")
@handle_errors
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (from keys create)")],
    db: DbOpt = None,
) -> None:
    """Revoke a key: every request with it is refused (401) from then on."""
    require("fastapi", "service")
    from xmargin.service import KeyStore

    if not key_id.isdigit() or int(key_id) < 1:
        raise InputError(where="KEY_ID", expected="a key id (a positive integer)", found=key_id)
    ledger = _open(db)
    try:
        done = KeyStore(ledger.store).revoke(int(key_id))
    finally:
        ledger.close()
    if not done:
        raise InputError(where="KEY_ID", expected="the id of a key not yet revoked", found=key_id)
    err_console.print(f"key id {key_id} revoked", markup=False)
