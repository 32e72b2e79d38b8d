"""The two calls most users need: one account's margin (a typed report of floats) and a whole book's
(a pandas DataFrame). Both run the same computation as the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xmargin.instruments import Portfolio
from xmargin.margin import MarginModel, MarginReport, account_report, resolve_model, whatif_report
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Trade

if TYPE_CHECKING:
    import pandas as pd


def _model(model: str | MarginModel) -> MarginModel:
    return resolve_model(model) if isinstance(model, str) else model


def margin_account(
    portfolio: Portfolio,
    market: MarketSnapshot,
    model: str | MarginModel = "pm",
    *,
    currency: str = "USD",
    trades: Sequence[Trade] = (),
    liquidation_prices: bool = True,
) -> MarginReport:
    """One account's margin (FORMATS.md ``margin``): floats in ``currency``, its status, warnings and the
    model's typed breakdown; with ``trades``, the account after them and ``before``.

    >>> import xmargin
    >>> market = xmargin.load_market("examples/market.yaml")
    >>> r = xmargin.margin_account(xmargin.load_portfolio("examples/hedged.yaml"), market, "cross")
    >>> round(r.initial_margin, 2), r.status
    (7940.09, 'ok')
    """
    m = _model(model)
    if trades:
        return whatif_report(
            m, portfolio, trades, market, currency=currency, with_liquidation=liquidation_prices
        )
    return account_report(m, portfolio, market, currency=currency, with_liquidation=liquidation_prices)


def margin_book(book: Book, market: MarketSnapshot, model: str | MarginModel = "pm") -> pd.DataFrame:
    """Every account of ``book``: one row each with initial and maintenance margin, margin balance, equity,
    available (USD) and status (``MarginResult.to_frame``)."""
    from xmargin.engine import margin_book as run

    return run(_model(model), book, market).to_frame()
