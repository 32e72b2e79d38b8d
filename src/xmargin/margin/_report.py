"""One account's margin document (FORMATS.md ``margin``): the model's figures, Greeks and liquidation prices."""

from __future__ import annotations

from typing import Any

from xmargin.core import InputError
from xmargin.instruments import Portfolio
from xmargin.margin._liquidation import liquidation_prices
from xmargin.margin._model import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, pin_entries, portfolio_greeks, resolve

MONEY_FIELDS = ("equity", "margin_balance", "initial_margin", "maintenance_margin", "available")


def check_portfolio(portfolio: Portfolio, market: MarketSnapshot) -> None:
    """Raise ``InputError`` for anything in the portfolio the market cannot price (one line per problem)."""
    resolve(Book.from_portfolio(portfolio), market)


def account_report(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    currency: str = "USD",
    with_liquidation: bool = True,
) -> dict[str, Any]:
    """The FORMATS.md ``margin`` document of one account, amounts in ``currency``.

    ``breakdown`` holds the model's own detail plus ``greeks`` (per underlying: delta in coin and USD,
    gamma, vega, theta) and ``liquidation_price`` (USD index price per underlying, or null).
    """
    if currency != "USD" and not market.has_index(currency):
        raise InputError(
            where="--currency", expected="USD or an asset with an index price in the market", found=currency
        )
    book = Book.from_portfolio(portfolio)
    result = model.requirement(book, market, detail=True)
    doc = result.account(0)
    rate = 1.0 if currency == "USD" else market.index(currency)
    for key in MONEY_FIELDS:
        doc[key] = doc[key] / rate
    doc["currency"] = currency
    table = resolve(book, market)
    greeks = {
        u: {k: float(v[0]) for k, v in g.items()}
        for u, g in portfolio_greeks(book, table).items()
        if u not in ("USDC", "USDT")
    }
    breakdown = dict(doc["breakdown"])
    breakdown["greeks"] = greeks
    if with_liquidation:
        breakdown["liquidation_price"] = liquidation_prices(model, pin_entries(book, market), market)
    doc["breakdown"] = breakdown
    return doc
