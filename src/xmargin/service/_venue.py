"""The venue's view of its book for the dashboard: ``GET /v1/venue/accounts`` (an admin key only).

Every customer account (the venue's own ``~`` accounts are not customers) is margined by the service's
model on the market in force, with its liquidation prices: the book's totals, the insurance fund (the
``~insurance`` account's balances at the index), the accounts sorted by their distance to liquidation
(the smallest relative index move to a liquidation price over their underlyings), the distribution of
their utilisation in bands, and the concentration of delta by underlying.

Utilisation is MM / margin balance, the inverse of Binance's unified maintenance margin ratio ("uniMMR =
adjusted equity / maintenance margin", Binance FAQ "Binance Portfolio Margin Pro Maintenance Margin Ratio
Calculation"). Its bands are Binance's uniMMR thresholds: above 150 % an account trades freely; 120-150 %
it is reminded to add funds; 105-120 % new orders are refused (reduce-only accepted); 100-105 %
Binance liquidates; at or below 100 % here the account is below maintenance (``liquidatable``). In
utilisation: below 1/1.5, 1/1.5 to 1/1.2, 1/1.2 to 1/1.05, 1/1.05 to 1, and 1 or more.

Each account's report (with its liquidation prices, about 0.25 s) is kept until its events or the market
change, so a refresh after a tick or a write recomputes only what moved; the first request margins every
account, fine for a demo or tens of accounts; a venue with thousands would read the whole-book engine
(docs/engine.md) instead.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import functools
import math
import threading
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, FastAPI

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.margin import MarginReport, account_report, resolve_model
from xmargin.market import MarketSnapshot
from xmargin.service._access import Access
from xmargin.service._dashboard_models import (
    Band,
    BookTotals,
    Concentration,
    LiquidationOut,
    VenueAccount,
    VenueBook,
    error_responses,
)
from xmargin.service._errors import ServiceError
from xmargin.service._keys import ApiKey, Scope
from xmargin.service._reports import ReportCache
from xmargin.service._shard import Shard

UNIMMR_BANDS: tuple[tuple[str, float], ...] = (
    ("free (uniMMR > 150%)", 1.5),
    ("reminder (120-150%)", 1.2),
    ("no new orders (105-120%)", 1.05),
    ("liquidation zone (100-105%)", 1.0),
    ("below maintenance (<= 100%)", 0.0),
)
"""Binance Portfolio Margin Pro's uniMMR thresholds (module docstring), highest first: a band holds the
accounts whose margin balance / MM is above its number and at or below the previous one's."""


def utilisation(margin_balance: float, maintenance_margin: float) -> float | None:
    """MM / margin balance: 0 without maintenance margin; None (unbounded) when the balance is not
    positive and there is margin to keep."""
    if maintenance_margin <= 0:
        return 0.0
    if margin_balance <= 0:
        return None
    return maintenance_margin / margin_balance


def _row(account: str, r: MarginReport, market: MarketSnapshot) -> VenueAccount:
    liq: list[LiquidationOut] = []
    for u, lp in sorted(r.breakdown.liquidation_prices.items()):
        index = market.index(u)
        near = [abs(p / index - 1.0) for p in (lp.below, lp.above) if p is not None]
        liq.append(
            LiquidationOut(
                underlying=u,
                index_usd=index,
                below=lp.below,
                above=lp.above,
                distance=min(near, default=None),
            )
        )
    dist = [x.distance for x in liq if x.distance is not None]
    if r.status == "liquidatable":
        dist = [0.0]
    return VenueAccount(
        account=account,
        status=r.status,
        equity=r.equity,
        margin_balance=r.margin_balance,
        initial_margin=r.initial_margin,
        maintenance_margin=r.maintenance_margin,
        available=r.available,
        utilisation=utilisation(r.margin_balance, r.maintenance_margin),
        distance=min(dist, default=None),
        liquidation=liq,
        underlyings=sorted(r.breakdown.greeks),
    )


def bands(rows: Iterable[VenueAccount]) -> list[Band]:
    """Count the accounts (and sum their MM) per uniMMR band (:data:`UNIMMR_BANDS`)."""
    out = []
    upper = math.inf
    rows = list(rows)
    for label, lo_ratio in UNIMMR_BANDS:
        # utilisation u = 1 / uniMMR; band (lo_ratio, upper] in uniMMR is [1/upper, 1/lo_ratio) in u
        u_lo = 0.0 if upper == math.inf else 1.0 / upper
        u_hi = None if lo_ratio == 0.0 else 1.0 / lo_ratio
        inside = [
            a
            for a in rows
            if (u := math.inf if a.utilisation is None else a.utilisation) >= u_lo
            and (u_hi is None or u < u_hi)
        ]
        out.append(
            Band(
                label=label,
                lo=u_lo,
                hi=u_hi,
                accounts=len(inside),
                maintenance_margin=sum(a.maintenance_margin for a in inside),
            )
        )
        upper = lo_ratio
    return out


def concentration(reports: Iterable[MarginReport]) -> list[Concentration]:
    """Per underlying: net and gross delta (USD) over the accounts and each one's share of the gross."""
    net: dict[str, float] = {}
    gross: dict[str, float] = {}
    holders: dict[str, int] = {}
    for r in reports:
        for u, g in r.breakdown.greeks.items():
            net[u] = net.get(u, 0.0) + g.delta_usd
            gross[u] = gross.get(u, 0.0) + abs(g.delta_usd)
            holders[u] = holders.get(u, 0) + 1
    total = sum(gross.values())
    return sorted(
        (
            Concentration(
                underlying=u,
                net_delta_usd=net[u],
                gross_delta_usd=gross[u],
                share=gross[u] / total if total > 0 else 0.0,
                accounts=holders[u],
            )
            for u in gross
        ),
        key=lambda c: -c.gross_delta_usd,
    )


def venue_book(
    ledger: Ledger,
    model_name: str,
    market: MarketSnapshot,
    cache: ReportCache | None = None,
    owns: Callable[[str], bool] | None = None,
) -> VenueBook:
    """Every customer account of ``ledger`` margined by ``model_name`` on ``market`` (module docstring).
    ``cache`` keeps each account's report while neither its events nor the market (the same object) change.
    ``owns``: only the accounts of one shard (:mod:`xmargin.service._shard`)."""
    model = resolve_model(model_name)
    cache = cache if cache is not None else ReportCache()
    reports: dict[str, MarginReport] = {}
    warnings: list[str] = []
    for name in ledger.accounts():
        if name.startswith("~") or (owns is not None and not owns(name)):
            continue
        state = ledger.state(name)
        r = cache.get(
            (name, model_name.strip().lower(), "USD"),
            state.version,
            market,
            functools.partial(account_report, model, to_portfolio(state), market),
        )
        reports[name] = r
        warnings += [f"{name}: {w}" for w in r.warnings]
    rows = sorted(
        (_row(n, r, market) for n, r in reports.items()),
        key=lambda a: (a.distance is None, a.distance if a.distance is not None else 0.0, a.account),
    )
    fund = ledger.state(INSURANCE_ACCOUNT)
    fund_usd = sum(float(v) * market.index(a) for a, v in fund.balances.items() if market.has_index(a))
    by_status = {s: sum(1 for a in rows if a.status == s) for s in ("ok", "margin_call", "liquidatable")}
    totals = BookTotals(
        accounts=len(rows),
        equity=sum(a.equity for a in rows),
        margin_balance=sum(a.margin_balance for a in rows),
        initial_margin=sum(a.initial_margin for a in rows),
        maintenance_margin=sum(a.maintenance_margin for a in rows),
        insurance_fund_usd=fund_usd,
        by_status=by_status,
    )
    return VenueBook(
        valuation_time=market.valuation_time.isoformat().replace("+00:00", "Z"),
        model=model_name,
        totals=totals,
        accounts=rows,
        bands=bands(rows),
        concentration=concentration(reports.values()),
        warnings=list(dict.fromkeys(warnings)),
    )


def include_venue(
    app: FastAPI,
    ledger: Ledger,
    market_now: Callable[[], MarketSnapshot | None],
    model_name: str,
    a: Access,
    cache: ReportCache,
    shard: Shard | None = None,
) -> None:
    """Register ``GET /v1/venue/accounts`` on ``app`` (an admin key only); its reports are kept in ``cache``
    (shared with the margin route). With a ``shard`` of several, only its accounts."""
    owns = shard.owns if shard is not None and shard.count > 1 else None
    lock = threading.Lock()

    def admin(k: Annotated[ApiKey, Depends(a.key)]) -> ApiKey:
        if k.scope is not Scope.ADMIN:
            raise ServiceError(
                403,
                where="account",
                expected=f"an admin key (the venue's book; this key: {k.scope.value} on {k.account})",
                found="venue",
            )
        return k

    @app.get(
        "/v1/venue/accounts",
        response_model=VenueBook,
        responses=error_responses(401, 403, 429, 503),
        tags=["venue"],
    )
    def venue_accounts(_: Annotated[ApiKey, Depends(admin)]) -> VenueBook:
        """Every customer account's margin, utilisation (MM / margin balance), liquidation prices and
        distance, nearest to liquidation first; the book's totals with the insurance fund; the utilisation
        bands (Binance's uniMMR thresholds 150/120/105/100 %) and the concentration of delta."""
        market = market_now()
        if market is None:
            raise ServiceError(
                503, where="market", expected="a market loaded (xmargin serve --market FILE)", found="none"
            )
        with lock:
            return venue_book(ledger, model_name, market, cache, owns)
