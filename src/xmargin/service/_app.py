"""``create_app(ledger, keys, market, config)``: the HTTP API of FORMATS.md ("Service") over one ledger.

Everything the app uses is passed in (no global state): the :class:`xmargin.ledger.Ledger` (the source of
truth: every accepted write is an event there before it is answered), the :class:`KeyStore` on the same
database, the market the margin and the pre-trade checks use (``None``: routes that need one answer 503;
ticks move it: :mod:`._ticks`), and a :class:`ServiceConfig`. Ticks, the stream, NATS and the metrics are
registered from their own modules (:mod:`._ticks`, :mod:`._stream`, :mod:`._nats`, :mod:`._metrics`).
Routes are plain functions (FastAPI runs them in its thread pool; a ``Ledger`` may be shared by threads).

Writes take an ``Idempotency-Key`` header (1-100 visible ASCII characters; a fresh one is made when it is
absent and returned in the body). It is scoped to the account: the ledger stores the command under a
digest of (account, key), and the ledger's own idempotency answers a retry: the same key with the same body
replays the original document (header ``Idempotent-Replayed: true``), with another body it is 422. A
refused command writes nothing, so a retry of it is checked again.

(No ``from __future__ import annotations`` here: FastAPI reads the routes' annotations, some of which are
aliases local to :func:`_routes`, so they must be evaluated where they are written.)
"""

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from limits import RateLimitItem

from xmargin import __version__
from xmargin.core import InputError, to_data
from xmargin.instruments import MAX_PRICE_USD, MAX_SIZE_COIN, Kind, portfolio_from_mapping
from xmargin.ledger import Ledger, LiabilitiesProof, Receipt
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._requests import check_account, check_instrument
from xmargin.margin import (
    MarginModel,
    MarginReport,
    account_report,
    check_portfolio,
    model_names,
    resolve_model,
    whatif_report,
)
from xmargin.margin._presets import shipped_presets
from xmargin.market import MarketSnapshot, market_from_mapping
from xmargin.risk import Trade
from xmargin.service._access import Access, access
from xmargin.service._backtests import include_backtests
from xmargin.service._dashboard import include_dashboard
from xmargin.service._errors import ServiceError, install, request_wheres
from xmargin.service._keys import ApiKey, KeyStore
from xmargin.service._logging import RequestLog, log_ticks, service_log
from xmargin.service._metrics import Metrics, install_metrics
from xmargin.service._models import (
    CashBody,
    ErrorBody,
    Health,
    MarginBody,
    PortfolioOut,
    ReceiptOut,
    RefusedBody,
    TradeBody,
    WhatIfBody,
    WhatIfTrade,
    portfolio_out,
    receipt_out,
)
from xmargin.service._nats import live_lifespan
from xmargin.service._replays import include_replays
from xmargin.service._reports import ReportCache
from xmargin.service._roots import RootsCache, include_roots
from xmargin.service._shard import EVERY_ACCOUNT, Shard, install_shard
from xmargin.service._snapshots import NO_SNAPSHOTS, SnapshotPolicy, SnapshotWriter, with_snapshots
from xmargin.service._stream import Hub, install_stream
from xmargin.service._ticks import Ticker, install_ticks
from xmargin.service._venue import include_venue

IDEMPOTENCY_RE = re.compile(r"[\x21-\x7e]{1,100}")
NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""A decimal number in ASCII digits (no inf, nan, underscores or other scripts' digits)."""
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """``model``: the default margin model of the routes (a model or a shipped preset; the ledger's
    pre-trade checks use the ledger's own); ``rate_limit``: per key (``limits``' notation, e.g.
    ``100/second``; None: no limit); ``cors_origins``: origins allowed to call from a browser (none by
    default: CORS closed); ``nats_url``: a NATS server for ticks in and alerts out (None: none), on
    subjects under ``nats_prefix`` (:mod:`._nats`); ``liquidate``: liquidate accounts below maintenance on
    a tick (:mod:`._ticks`); ``shard``: the accounts this process serves (:mod:`._shard`; all by
    default); ``snapshots``: when to write ledger snapshots (:mod:`._snapshots`; none by default here,
    ``xmargin serve`` writes them); ``use_snapshot``: build the risk book from the latest snapshot; ``span_file``: the SPAN
    risk-parameter file model ``span`` reads (``xmargin serve --span-file``; without one, ``span`` is bad input)."""

    model: str = "pm"
    rate_limit: RateLimitItem | None = None
    cors_origins: tuple[str, ...] = ()
    nats_url: str | None = None
    nats_prefix: str = "xmargin"
    liquidate: bool = True
    shard: Shard = EVERY_ACCOUNT
    snapshots: SnapshotPolicy = NO_SNAPSHOTS
    use_snapshot: bool = True
    span_file: str | None = None


def config_model(config: ServiceConfig, name: str) -> MarginModel:
    """The model ``name`` stands for in this service: ``span`` reads the configured SPAN file."""
    if name.strip().lower() == "span" and config.span_file is not None:
        from xmargin.margin import SpanMargin

        return SpanMargin(config.span_file)
    return resolve_model(name)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "No key, or an unknown or revoked one",
        403: "The key may not touch this account",
        409: "Refused by a risk check; nothing was written",
        422: "Bad input: where, expected, found",
        429: "Past the key's rate limit",
        503: "No market loaded (xmargin serve --market)",
    }
    return {s: {"model": RefusedBody if s == 409 else ErrorBody, "description": text[s]} for s in statuses}


def _ledger_key(account: str, given: str | None) -> tuple[str, str]:
    """(the client's Idempotency-Key, the ledger key it is stored under for ``account``)."""
    if given is None:
        given = uuid.uuid4().hex
    elif not IDEMPOTENCY_RE.fullmatch(given):
        raise InputError(
            where="header.Idempotency-Key", expected="1-100 visible ASCII characters", found=given[:120]
        )
    digest = hashlib.sha256(f"{account}\n{given}".encode()).hexdigest()[:40]
    return given, f"api-{digest}"


def _written(receipt: Receipt, given: str) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if receipt.replayed else {}
    body = receipt_out(receipt, given).model_dump(mode="json")
    return JSONResponse(body, status_code=201, headers=headers)


def _margin(report: MarginReport) -> JSONResponse:
    return JSONResponse(to_data(report))


def _decimal_float(text: str, *, where: str, lo: float, hi: float) -> float:
    """A what-if figure: a decimal string in ASCII digits, within [lo, hi] (risk works in float64)."""
    if not NUMBER_RE.fullmatch(text) or not lo <= float(text) <= hi:
        raise InputError(where=where, expected=f"a decimal string in [{lo:g}, {hi:g}]", found=text)
    return float(text)


def _whatif_trade(i: int, t: WhatIfTrade) -> Trade:
    where = f"body.trades.{i}"
    inst = check_instrument(t.instrument, where=f"{where}.instrument")
    size = _decimal_float(t.size, where=f"{where}.size", lo=-MAX_SIZE_COIN, hi=MAX_SIZE_COIN)
    if size == 0:
        raise InputError(where=f"{where}.size", expected="a non-zero size in coin", found=t.size)
    price = None
    if t.price is not None:
        price = _decimal_float(t.price, where=f"{where}.price", lo=0.0, hi=MAX_PRICE_USD)
        if price <= 0 and inst.kind is not Kind.OPTION:
            raise InputError(where=f"{where}.price", expected="a price > 0", found=t.price)
    return Trade(inst, size, price)


def _routes(
    app: FastAPI,
    ledger: Ledger,
    current: Callable[[], MarketSnapshot | None],
    config: ServiceConfig,
    a: Access,
    reports: ReportCache,
    roots: RootsCache,
) -> None:
    allowed = {n.lower() for n in (*model_names(), *shipped_presets())}

    @lru_cache(maxsize=64)
    def model_named(name: str) -> MarginModel:
        return config_model(config, name)

    default_model = config_model(config, config.model)  # the operator's choice: a preset file is allowed here

    def model_of(name: str | None, where: str) -> MarginModel:
        """The service's model, or one a request names: a model kind or a shipped preset, never a file (a
        request may not make the server read its files)."""
        if name is None:
            return default_model
        if name.strip().lower() not in allowed:
            raise InputError(
                where=where, expected=f"a model or a shipped preset: {', '.join(sorted(allowed))}", found=name
            )
        return model_named(name.strip().lower())

    def need_market() -> MarketSnapshot:
        market = current()
        if market is None:
            raise ServiceError(
                503, where="market", expected="a market loaded (xmargin serve --market FILE)", found="none"
            )
        return market

    def account_of(account: str, *, reserved_ok: bool = True) -> str:
        with request_wheres():
            return check_account(account, reserved_ok=reserved_ok)

    Reader = Annotated[ApiKey, Depends(a.reader)]
    Trader = Annotated[ApiKey, Depends(a.trader)]
    Admin = Annotated[ApiKey, Depends(a.admin)]
    AnyKey = Annotated[ApiKey, Depends(a.key)]
    IdemKey = Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="Retries with the same key and body are applied once"),
    ]
    ModelQuery = Annotated[str | None, Query(description="A model or a shipped preset (xmargin models)")]

    def write(account: str, given: str | None, command: Callable[[str], Receipt]) -> JSONResponse:
        client_key, ledger_key = _ledger_key(account, given)
        with request_wheres():
            receipt = command(ledger_key)
        return _written(receipt, client_key)

    @app.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness: the service answers, with the market (its time, moved by ticks) and the model it uses."""
        market = current()
        shown = market.valuation_time.isoformat().replace("+00:00", "Z") if market is not None else None
        return Health(
            status="ok", version=__version__, market=shown, model=config.model, shard=config.shard.label
        )

    @app.get(
        "/v1/accounts/{account}",
        response_model=PortfolioOut,
        responses=_errors(401, 403, 422, 429),
        tags=["accounts"],
    )
    def portfolio(account: str, _: Reader) -> PortfolioOut:
        """The account as the ledger holds it (a portfolio file; an account without events is empty)."""
        return portfolio_out(ledger.state(account_of(account)))

    @app.get(
        "/v1/accounts/{account}/margin",
        response_model=MarginReport,
        responses=_errors(401, 403, 422, 429, 503),
        tags=["accounts"],
    )
    def margin(account: str, _: Reader, model: ModelQuery = None) -> JSONResponse:
        """The account's margin: the same document as ``xmargin margin --json``."""
        m = model_of(model, "query.model")
        name = account_of(account)
        state, mkt = ledger.state(name), need_market()
        key = (name, (model or config.model).strip().lower(), "USD")
        return _margin(
            reports.get(key, state.version, mkt, lambda: account_report(m, to_portfolio(state), mkt))
        )

    @app.get(
        "/v1/accounts/{account}/liabilities-proof",
        response_model=LiabilitiesProof,
        responses=_errors(401, 403, 422, 429, 503),
        tags=["accounts"],
    )
    def liabilities_proof(account: str, _: Reader) -> JSONResponse:
        """The account's inclusion proof in the proof-of-liabilities Merkle sum tree (docs/ledger.md), built
        over the ledger as it stands and only over a hash chain that verifies (else 503). Check it offline with
        ``xmargin ledger verify-proof`` against the published root (``GET /v1/roots``, ``xmargin ledger
        liabilities``). The tree is kept while no account changes (``_roots.RootsCache``)."""
        name = account_of(account, reserved_ok=False)
        return JSONResponse(to_data(roots.current()[1].proof(name)))

    @app.post(
        "/v1/accounts/{account}/whatif",
        response_model=MarginReport,
        responses=_errors(401, 403, 422, 429, 503),
        tags=["accounts"],
    )
    def whatif(account: str, body: WhatIfBody, _: Reader) -> JSONResponse:
        """The account after the proposed trades, with ``before`` (nothing is written)."""
        m = model_of(body.model, "body.model")
        trades = [_whatif_trade(i, t) for i, t in enumerate(body.trades)]
        name = account_of(account)
        state, mkt = ledger.state(name), need_market()
        pf = to_portfolio(state)
        # ``before`` is the account's margin report: the one GET .../margin keeps, valid while the account's
        # events (its ledger version) and the market object stand (_reports.py)
        key = (name, (body.model or config.model).strip().lower(), "USD")
        before = reports.get(key, state.version, mkt, lambda: account_report(m, pf, mkt))
        return _margin(whatif_report(m, pf, trades, mkt, before=before))

    @app.post(
        "/v1/accounts/{account}/deposits",
        response_model=ReceiptOut,
        status_code=201,
        responses=_errors(401, 403, 422, 429),
        tags=["ledger"],
    )
    def deposit(account: str, body: CashBody, _: Admin, idempotency_key: IdemKey = None) -> JSONResponse:
        """Credit collateral (admin: the venue records deposits)."""
        name = account_of(account)
        return write(account, idempotency_key, lambda k: ledger.deposit(name, body.asset, body.amount, key=k))

    @app.post(
        "/v1/accounts/{account}/withdrawals",
        response_model=ReceiptOut,
        status_code=201,
        responses=_errors(401, 403, 409, 422, 429),
        tags=["ledger"],
    )
    def withdrawal(account: str, body: CashBody, _: Trader, idempotency_key: IdemKey = None) -> JSONResponse:
        """Debit collateral; 409 if it would leave ``available < 0`` or exceed the balance held."""
        name = account_of(account, reserved_ok=False)
        return write(
            account,
            idempotency_key,
            lambda k: ledger.withdraw(name, body.asset, body.amount, market=current(), key=k),
        )

    @app.post(
        "/v1/accounts/{account}/trades",
        response_model=ReceiptOut,
        status_code=201,
        responses=_errors(401, 403, 409, 422, 429, 503),
        tags=["ledger"],
    )
    def trade(account: str, body: TradeBody, _: Trader, idempotency_key: IdemKey = None) -> JSONResponse:
        """Record a fill after the pre-trade checks (price band, ``available >= 0`` after); 409 if refused."""
        name = account_of(account, reserved_ok=False)
        mkt = need_market()
        return write(
            account,
            idempotency_key,
            lambda k: ledger.trade(
                name, body.instrument, body.size, body.price, market=mkt, fee=body.fee, key=k
            ),
        )

    @app.post(
        "/v1/margin", response_model=MarginReport, responses=_errors(401, 422, 429, 503), tags=["margin"]
    )
    def stateless_margin(body: MarginBody, _: AnyKey) -> JSONResponse:
        """The margin of a posted portfolio (and market, else the service's); nothing is stored."""
        m = model_of(body.model, "body.model")
        pf = portfolio_from_mapping(body.portfolio, source="body.portfolio")
        mkt = market_from_mapping(body.market, source="body.market") if body.market is not None else None
        mkt = mkt if mkt is not None else need_market()
        check_portfolio(pf, mkt, where="body.portfolio")
        return _margin(account_report(m, pf, mkt))


def create_app(
    ledger: Ledger,
    keys: KeyStore,
    market: MarketSnapshot | None = None,
    config: ServiceConfig | None = None,
) -> FastAPI:
    """The FastAPI application over ``ledger`` (module docstring)."""
    config = config if config is not None else ServiceConfig()
    hub = Hub()
    shard = config.shard
    ticker = Ticker(
        ledger,
        market,
        config_model(config, config.model),
        hub,
        liquidate=config.liquidate,
        owns=shard.owns if shard.count > 1 else None,
        use_snapshot=config.use_snapshot,
    )
    writer = (
        SnapshotWriter(ledger.store, config.snapshots)
        if config.snapshots.active and shard.index == 0
        else None
    )
    app = FastAPI(
        lifespan=with_snapshots(live_lifespan(ticker, hub, config.nats_url, config.nats_prefix), writer),
        title="xmargin",
        version=__version__,
        description="Cross-margin and portfolio-margin risk service over the xmargin ledger "
        "(FORMATS.md, Service). Key in header X-API-Key.",
    )
    install(app)
    install_shard(app, shard)  # 421 for another shard's accounts; X-Xmargin-Shard on every answer
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Idempotency-Key", "Content-Type"],
        )
    acc = access(keys, config.rate_limit)
    reports = ReportCache()  # margin reports while an account's events and the market stand (_reports.py)
    roots = include_roots(app, ledger, acc)  # GET /v1/roots: the published chain and liabilities roots
    _routes(app, ledger, ticker.current, config, acc, reports, roots)
    install_ticks(app, ticker, acc.key, _errors(401, 403, 422, 429, 503))
    install_stream(app, hub, keys)
    metrics = Metrics()
    ticker.on_tick = lambda r, by_status: metrics.tick(r.seconds, len(r.liquidated), by_status, ledger)
    install_metrics(app, metrics, hub)
    log = service_log()  # structured logs: one event per request, tick and liquidation (_logging.py)
    app.add_middleware(RequestLog, log=log)
    log_ticks(ticker, log)
    include_dashboard(
        app, ledger, ticker.current, config.model, acc
    )  # GET /, /v1/me, risk matrix, instruments
    include_venue(app, ledger, ticker.current, config.model, acc, reports, shard)  # GET /v1/venue/accounts
    include_replays(app, acc)  # GET /v1/replays[/{scenario}]
    include_backtests(app, ledger, config.model, acc)  # GET /v1/accounts/{account}/backtest
    return app
