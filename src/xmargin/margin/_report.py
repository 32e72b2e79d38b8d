"""One account's margin document (FORMATS.md ``margin``), a what-if before and after, and ``compare``.

The model's own figures come from ``requirement`` on a one-row book; the report adds the Greeks per
underlying, the liquidation prices (both sides, and per position under an isolated model), the status and
the warnings, and converts the amounts into the report's currency (liquidation prices stay USD index prices;
the scenario grids give their P&L in both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from xmargin.core import InputError, InputErrors
from xmargin.instruments import Portfolio
from xmargin.margin._collateral import CollateralPolicy
from xmargin.margin._liquidation import (
    liquidation_prices,
    nearest,
    nearest_of,
    position_gap,
    solve,
)
from xmargin.margin._model import MarginModel
from xmargin.margin._result import (
    ALLOCATION_NAMES,
    CollateralLine,
    CompareReport,
    LiquidationPrices,
    MarginReport,
    ModelSummary,
    PmBreakdown,
    PnlGrid,
    PositionMargin,
    status_of,
)
from xmargin.market import STABLECOINS, MarketSnapshot
from xmargin.risk import Book, Trade, account_greeks, apply_trades, pin_entries, resolve

MONEY_FIELDS = ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available")


def check_portfolio(portfolio: Portfolio, market: MarketSnapshot, *, where: str = "") -> None:
    """Raise ``InputError`` for anything in the portfolio the market cannot price (one line per problem)."""
    try:
        resolve(Book.from_portfolio(portfolio), market)
    except InputError as exc:
        if not where:
            raise
        errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
        raise InputErrors(
            [InputError(where=f"{where}: {e.where}", expected=e.expected, found=e.found) for e in errors]
        ) from None


def _rate(market: MarketSnapshot, currency: str) -> float:
    if currency != "USD" and not market.has_index(currency):
        raise InputError(
            where="currency", expected="USD or an asset with an index price in the market", found=currency
        )
    return 1.0 if currency == "USD" else market.index(currency)


def _positions(
    model: MarginModel, book: Book, market: MarketSnapshot, with_liquidation: bool
) -> dict[str, PositionMargin]:
    """Every position of an isolated model's one-row book: its own margin, status and liquidation prices."""
    from xmargin.margin._simple import IsolatedMargin

    if not isinstance(model, IsolatedMargin):
        return {}
    pinned = model.pin(book, market)  # the default margins fixed at today's: the wallet does not move
    x = model.entries(pinned, market)
    given = model.entries(pin_entries(book, market), market).allocation  # how each margin was set
    premium = ALLOCATION_NAMES.index("premium")
    out: dict[str, PositionMargin] = {}
    for k, c in enumerate(x.entries.cols.tolist()):
        if x.allocation[k] < 0:  # a coin balance
            continue
        inst = book.instruments[c]
        im = float(max(x.margin[k], x.charges.im[k]))
        mm = float(x.charges.mm[k])
        balance = float(x.balance[k])
        lp = LiquidationPrices(None, None)  # a long option is paid in full: never liquidated
        if with_liquidation and inst.base not in STABLECOINS and given[k] != premium:
            lp = solve(position_gap(model, pinned, k), market, inst.base)
        out[inst.name] = PositionMargin(
            margin=float(x.margin[k]),
            liquidation_price=nearest_of(lp, market.index(inst.base)),
            allocation=ALLOCATION_NAMES[int(given[k])],
            leverage=float(x.leverage[k]) if x.leverage[k] > 0 else None,
            initial_margin=im,
            maintenance_margin=mm,
            unrealised_pnl_usd=float(x.upnl[k]),
            status=status_of(balance, im, mm),
            liquidation_prices=lp,
        )
    return out


def _in_currency(grid: PnlGrid, currency: str, rate: float) -> PnlGrid:
    return replace(
        grid,
        currency=currency,
        usd_per_unit=rate,
        pnl=tuple(tuple(v / rate for v in row) for row in grid.pnl_usd),
    )


def _collateral(
    model: MarginModel, portfolio: Portfolio, market: MarketSnapshot
) -> dict[str, CollateralLine]:
    """The account's balances with the model's haircuts (none for a model without a collateral policy)."""
    policy = getattr(model, "collateral", None)
    if not isinstance(policy, CollateralPolicy):
        return {}
    return policy.lines(portfolio.collateral, market)


def account_report(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    currency: str = "USD",
    with_liquidation: bool = True,
) -> MarginReport:
    """The FORMATS.md ``margin`` document of one account, amounts in ``currency``."""
    rate = _rate(market, currency)
    book = Book.from_portfolio(portfolio)
    result = model.requirement(book, market, detail=True)
    bd = result.breakdown[0]
    table = resolve(book, market)
    greeks = account_greeks(book, table, skip=frozenset(STABLECOINS))
    prices = liquidation_prices(model, book, market) if with_liquidation else {}
    bd = replace(
        bd,
        greeks=greeks,
        liquidation_prices=prices,
        liquidation_price=nearest(prices, market),
        positions=_positions(model, book, market, with_liquidation),
        collateral=_collateral(model, portfolio, market),
    )
    if isinstance(bd, PmBreakdown):
        bd = replace(
            bd,
            groups=tuple(replace(g, pnl_grid=_in_currency(g.pnl_grid, currency, rate)) for g in bd.groups),
        )
    mb, im, mm = (
        float(x[0]) for x in (result.margin_balance, result.initial_margin, result.maintenance_margin)
    )
    status = "liquidatable" if bool(result.liquidatable[0]) else status_of(mb, im, mm)
    return MarginReport(
        valuation_time=market.valuation_time,
        account=portfolio.account,
        model=model.name,
        preset=model.preset_name,
        currency=currency,
        equity=float(result.equity[0]) / rate,
        margin_balance=mb / rate,
        initial_margin=im / rate,
        maintenance_margin=mm / rate,
        available=(mb - im) / rate,
        status=status,
        warnings=result.warnings,
        breakdown=bd,
    )


def whatif_report(
    model: MarginModel,
    portfolio: Portfolio,
    trades: Sequence[Trade],
    market: MarketSnapshot,
    *,
    currency: str = "USD",
    with_liquidation: bool = True,
    before: MarginReport | None = None,
) -> MarginReport:
    """The account after the proposed trades (each paying or receiving its premium, or entering a future at
    its price: ``risk.apply_trades``), with ``before`` holding the account as it is.

    ``before``: the account's report already made by ``account_report`` with the same model, portfolio,
    market, currency and ``with_liquidation`` (a caller that keeps reports, as the service does, passes it
    to skip computing it again); checked only for its account, model, currency and valuation time."""
    if before is None:
        before = account_report(
            model, portfolio, market, currency=currency, with_liquidation=with_liquidation
        )
    elif (before.account, before.model, before.preset, before.currency, before.valuation_time) != (
        portfolio.account,
        model.name,
        model.preset_name,
        currency,
        market.valuation_time,
    ):
        raise ValueError("whatif_report(before=...): a report of another account, model, currency or market")
    after_pf = apply_trades(portfolio, list(trades), market)
    check_portfolio(after_pf, market, where="trades")
    after = account_report(model, after_pf, market, currency=currency, with_liquidation=with_liquidation)
    return replace(after, before=before)


def compare_report(
    models: Sequence[MarginModel],
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    currency: str = "USD",
    with_liquidation: bool = True,
) -> CompareReport:
    """FORMATS.md ``compare``: IM, MM, margin balance, available, status and liquidation prices per model."""
    out: dict[str, ModelSummary] = {}
    warnings: list[str] = []
    kinds = [m.name for m in models]
    for m in models:
        r = account_report(m, portfolio, market, currency=currency, with_liquidation=with_liquidation)
        # a model kind compared under two presets is keyed KIND:PRESET
        key = m.name if kinds.count(m.name) == 1 else f"{m.name}:{m.preset_name}"
        out[key] = ModelSummary(
            initial_margin=r.initial_margin,
            maintenance_margin=r.maintenance_margin,
            margin_balance=r.margin_balance,
            available=r.available,
            status=r.status,
            preset=r.preset,
            liquidation_prices=r.breakdown.liquidation_prices,
        )
        warnings.extend(r.warnings)
    return CompareReport(
        valuation_time=market.valuation_time,
        account=portfolio.account,
        currency=currency,
        models=out,
        warnings=tuple(dict.fromkeys(warnings)),
    )
