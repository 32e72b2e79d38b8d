"""The risk dashboard at ``GET /`` (docs/dashboard.md) and the read endpoints it needs beyond the API's:
``GET /v1/me``, ``GET /v1/accounts/{account}/risk-matrix`` and ``GET /v1/instruments``.

The page is three static files shipped in the package (``static/``: HTML, one script, one stylesheet) and
plotly.js, served from the copy that the Python ``plotly`` package bundles (``package_data/plotly.min.js``),
so the page loads nothing from another origin; its Content-Security-Policy says so to the browser too.

The risk matrix is the scenario model's own table (:class:`xmargin.margin.PnlGrid` of each risk group:
P&L per price move x vol shock, and the extended moves at the vol-up shock with their weights), with the
model's worst scenario located in it. The vol rows are labelled in vol points of the underlying's
at-the-money implied vol at the preset's pivot expiry (Deribit's vol shock is relative and scales with
expiry: ``range x (pivot_days / days)^power``, presets/pm-deribit.yaml D2/D4), since that is where the
relative shock equals the preset's ``vol_up`` / ``vol_down``.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import importlib.util
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, format_name, parse_name
from xmargin.ledger import Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._requests import check_account
from xmargin.margin import MarginModel, PmBreakdown, PmGroup, PortfolioMargin, account_report, resolve_model
from xmargin.market import MarketSnapshot
from xmargin.pricing import value_instruments
from xmargin.service._access import Access
from xmargin.service._dashboard_models import (
    InstrumentList,
    InstrumentOut,
    MatrixCell,
    MatrixGroup,
    Me,
    RiskMatrix,
    VolRow,
    error_responses,
)
from xmargin.service._errors import ServiceError, request_wheres
from xmargin.service._keys import ApiKey, Scope

STATIC_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
PAGE_HEADERS = {
    # same origin only: scripts, styles (plotly writes inline styles), images, fetch and the WebSocket
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STABLECOINS = ("USDC", "USDT", "USD")
LADDER_SPAN = 0.3
"""Synthesised strikes span index x (1 ± 0.3) when the market lists few options of an underlying."""
LADDER_STRIKES = 13
LISTED_ENOUGH = 10
"""An underlying with at least this many listed options (a Deribit chain) gets no synthesised strikes."""


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def plotly_js() -> Path | None:
    """plotly.min.js as bundled in the Python ``plotly`` package (found without importing it), or None."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def _static(name: str) -> bytes:
    return (resources.files("xmargin.service") / "static" / name).read_bytes()


# -- the risk matrix --------------------------------------------------------------------------------------
def scenario_model(model: MarginModel) -> tuple[PortfolioMargin, list[str]]:
    """``model`` if it is a scenario (pm) model, else ``pm`` with a warning saying so."""
    if isinstance(model, PortfolioMargin):
        return model, []
    pm = resolve_model("pm")
    assert isinstance(pm, PortfolioMargin)
    return pm, [
        f"the service's model {model.name} has no scenario grid: the matrix is pm's ({pm.preset.name})"
    ]


def _atm_vol(market: MarketSnapshot, underlying: str, t_years: float) -> float | None:
    """The at-the-money implied vol of ``underlying`` at ``t_years``: its surface, else its flat vol."""
    if not market.has_index(underlying):
        return None
    surface = market.surfaces.get(underlying)
    if surface is not None:
        f = market.index(underlying)
        return float(surface.vol(strike=f, forward=f, t_years=t_years))
    return market.vol.get(underlying)


def _matrix_group(g: PmGroup, model: PortfolioMargin, market: MarketSnapshot) -> MatrixGroup:
    grid = g.pnl_grid
    p = model.preset
    params = p.params(g.underlying)
    pivot = float(p.vol_shock.pivot_days)
    atm = _atm_vol(market, g.underlying, pivot / 365.0)
    relative = {1: params.vol_up, 0: 0.0, -1: -min(params.vol_down, 0.99)}
    rows = [
        VolRow(
            vol_shock=v,
            label=label,
            relative_at_pivot=relative[v],
            vol_points_at_pivot=None if atm is None else 100.0 * atm * relative[v],
        )
        for v, label in zip(grid.vol_shocks, grid.vol_shock_labels, strict=True)
    ]
    cells = [
        MatrixCell(price_move=m, vol_shock=v, kind="standard", weight=1.0, pnl_usd=pnl, weighted_pnl_usd=pnl)
        for v, row in zip(grid.vol_shocks, grid.pnl_usd, strict=True)
        for m, pnl in zip(grid.price_moves, row, strict=True)
    ]
    cells += [
        MatrixCell(
            price_move=e.price_move,
            vol_shock=1,
            kind="extended",
            weight=e.weight,
            pnl_usd=e.pnl_usd,
            # a loss after the preset's extended-table dampener (ExtendedCell.weighted_loss_usd)
            weighted_pnl_usd=-e.weighted_loss_usd if e.pnl_usd * e.weight < 0 else e.pnl_usd * e.weight,
        )
        for e in grid.extended
    ]
    w = g.worst_scenario
    worst = next(
        (
            i
            for i, c in enumerate(cells)
            if c.kind == w.kind and c.vol_shock == w.vol_shock and abs(c.price_move - w.price_move) < 1e-12
        ),
        -1,
    )
    total = len(model.scenarios([g.underlying]))
    return MatrixGroup(
        underlying=g.underlying,
        settlement=g.settlement,
        price_moves=list(grid.price_moves),
        extended_moves=[e.price_move for e in grid.extended],
        vol_rows=rows,
        pivot_days=pivot,
        atm_vol_at_pivot=atm,
        cells=cells,
        worst=worst,
        worst_loss_usd=g.worst_loss_usd,
        requirement_usd=g.requirement_usd,
        scenarios_not_shown=max(total - len(cells), 0),
    )


def risk_matrix(account: str, model: MarginModel, pf: Portfolio, market: MarketSnapshot) -> RiskMatrix:
    """The risk matrix of ``account`` (:class:`RiskMatrix`) under ``model`` (pm if it has no grid)."""
    pm, warnings = scenario_model(model)
    report = account_report(pm, pf, market, with_liquidation=False)
    bd = report.breakdown
    assert isinstance(bd, PmBreakdown)
    return RiskMatrix(
        account=account,
        model=pm.name,
        preset=pm.preset.name,
        valuation_time=_iso(report.valuation_time),
        groups=[_matrix_group(g, pm, market) for g in bd.groups],
        warnings=[*warnings, *report.warnings],
    )


# -- instruments ------------------------------------------------------------------------------------------
def _nice_step(x: float) -> float:
    """A round strike step near ``x``: 1, 2.5 or 5 times a power of ten."""
    mag = 10.0 ** int(f"{x:e}".split("e")[1])
    return min((m * mag for m in (1.0, 2.5, 5.0, 10.0)), key=lambda s: abs(s - x))


def universe(market: MarketSnapshot) -> list[Instrument]:
    """The instruments a what-if can pick: every listed one (marks, option IVs), the linear USDC perpetual of
    each underlying, and, for an underlying with few listed options, calls and puts at round strikes around the index on each listed expiry (priced
    off the market's surface or flat vol, as ``xmargin price`` would); expired ones are left out."""
    listed: dict[str, Instrument] = {}
    for name in (*market.marks_usd, *market.option_iv):
        try:
            listed[name] = parse_name(name)
        except InputError:
            continue
    out = dict(listed)
    for u in sorted({i.base for i in listed.values()}):
        if u in STABLECOINS or not market.has_index(u):
            continue
        linear = parse_name(f"{u}_USDC-PERPETUAL")  # as Deribit lists one beside each inverse perpetual
        out.setdefault(linear.name, linear)
        options = [i for i in listed.values() if i.base == u and i.kind is Kind.OPTION]
        if len(options) >= LISTED_ENOUGH or (u not in market.vol and u not in market.surfaces):
            continue
        expiries = sorted({i.expiry for i in listed.values() if i.base == u and i.expiry is not None})
        spot = market.index(u)
        step = _nice_step(2 * LADDER_SPAN * spot / (LADDER_STRIKES - 1))
        lo = round(spot * (1 - LADDER_SPAN) / step) * step
        for e in expiries:
            for k in range(LADDER_STRIKES):
                strike = lo + k * step
                if strike <= 0:
                    continue
                for call in (True, False):
                    inst = Instrument(Kind.OPTION, u, None, e, strike, call)
                    out.setdefault(format_name(inst), inst)
    return [
        i
        for _, i in sorted(out.items())
        if i.kind is not Kind.SPOT and (i.expiry is None or i.expiry > market.valuation_time)
    ]


def instrument_rows(market: MarketSnapshot, instruments: Sequence[Instrument]) -> list[InstrumentOut]:
    priceable = [
        i for i in instruments if market.has_index(i.base) and market.has_index(i.settlement_asset())
    ]
    values = value_instruments(priceable, market).instruments if priceable else {}
    rows = []
    for i in instruments:
        v = values.get(i.name)
        rows.append(
            InstrumentOut(
                name=i.name,
                kind=i.kind.value,
                underlying=i.base,
                settlement=i.settlement_asset(),
                expiry=i.expiry.date().isoformat() if i.expiry is not None else None,
                strike=i.strike_usd,
                call_put=None if i.is_call is None else ("call" if i.is_call else "put"),
                mark=None if v is None else v.price,
                iv=None if v is None else v.iv,
            )
        )
    return rows


def _matches(i: InstrumentOut, words: list[str], expiry: str | None, strike: float | None) -> bool:
    name = i.name.lower()
    if any(w not in name for w in words):
        return False
    if expiry is not None and i.expiry != expiry:
        return False
    return strike is None or (i.strike is not None and abs(i.strike - strike) < 1e-9)


# -- the routes -------------------------------------------------------------------------------------------
def include_dashboard(
    app: FastAPI,
    ledger: Ledger,
    market_now: Callable[[], MarketSnapshot | None],
    model_name: str,
    a: Access,
) -> None:
    """Register the page, its static files and the dashboard's read endpoints on ``app``. ``market_now``
    returns the market in force (the one loaded at start, or the latest after ticks)."""
    model = resolve_model(model_name)
    plotly_path = plotly_js()
    page = _static("index.html")
    AnyKey = Annotated[ApiKey, Depends(a.key)]
    Reader = Annotated[ApiKey, Depends(a.reader)]

    def need_market() -> MarketSnapshot:
        m = market_now()
        if m is None:
            raise ServiceError(
                503, where="market", expected="a market loaded (xmargin serve --market FILE)", found="none"
            )
        return m

    cached: list[tuple[MarketSnapshot, tuple[InstrumentOut, ...]]] = []

    def rows_of(market: MarketSnapshot) -> tuple[InstrumentOut, ...]:
        """The market's instrument rows, kept while the market in force is the same object."""
        if not cached or cached[0][0] is not market:
            cached[:] = [(market, tuple(instrument_rows(market, universe(market))))]
        return cached[0][1]

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "plotly.min.js" and plotly_path is not None:
            return FileResponse(
                plotly_path, media_type="text/javascript", headers={"Cache-Control": "max-age=3600"}
            )
        if name not in STATIC_FILES:
            raise ServiceError(404, where="path", expected=f"one of {sorted(STATIC_FILES)}", found=name)
        return Response(_static(name), media_type=STATIC_FILES[name], headers={"Cache-Control": "no-store"})

    @app.get("/v1/me", response_model=Me, responses=error_responses(401, 429), tags=["dashboard"])
    def me(k: AnyKey) -> Me:
        """Who the key is: its scope and account (null for admin), with the market and the model in use."""
        m = market_now()
        return Me(
            key_id=k.key_id,
            scope=k.scope.value,
            account=None if k.scope is Scope.ADMIN else k.account,
            market=None if m is None else _iso(m.valuation_time),
            model=model_name,
        )

    @app.get(
        "/v1/accounts/{account}/risk-matrix",
        response_model=RiskMatrix,
        responses=error_responses(401, 403, 422, 429, 503),
        tags=["dashboard"],
    )
    def matrix(account: str, _: Reader) -> RiskMatrix:
        """The account's risk matrix: every scenario of the scenario model with the group's P&L (USD),
        the worst marked; the vol rows in vol points of the at-the-money vol at the pivot expiry."""
        with request_wheres():
            name = check_account(account, reserved_ok=True)
        mkt = need_market()
        return risk_matrix(name, model, to_portfolio(ledger.state(name)), mkt)

    @app.get(
        "/v1/instruments",
        response_model=InstrumentList,
        responses=error_responses(401, 422, 429, 503),
        tags=["dashboard"],
    )
    def instruments(
        _: AnyKey,
        q: Annotated[str, Query(max_length=100, description="Words the name must contain")] = "",
        expiry: Annotated[str | None, Query(description="An expiry date, YYYY-MM-DD")] = None,
        strike: Annotated[float | None, Query(gt=0, description="A strike in USD")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> InstrumentList:
        """The loaded market's instruments (listed, and round strikes where few options are listed) with
        their marks, filtered by words of the name, expiry and strike."""
        if expiry is not None:
            try:
                expiry = datetime.strptime(expiry, "%Y-%m-%d").date().isoformat()
            except ValueError:
                raise InputError(where="query.expiry", expected="a date YYYY-MM-DD", found=expiry) from None
        mkt = need_market()
        words = [w for w in q.lower().replace(",", " ").split() if w]
        found = [i for i in rows_of(mkt) if _matches(i, words, expiry, strike)]
        return InstrumentList(
            valuation_time=_iso(mkt.valuation_time), total=len(found), instruments=found[:limit]
        )
