"""Risk: the book, its resolution against a market, scenario sets and the PnL[instrument, scenario] matrix."""

from xmargin.risk._book import (
    KIND_CODE,
    Book,
    InstrumentTable,
    equity_usd,
    pin_entries,
    portfolio_greeks,
    resolve,
    resolve_instruments,
)
from xmargin.risk._kernels import group_scan, row_max, row_sum
from xmargin.risk._scenarios import VIEWS, ScenarioSet, scenario_pnl

__all__ = [
    "KIND_CODE",
    "VIEWS",
    "Book",
    "InstrumentTable",
    "ScenarioSet",
    "equity_usd",
    "group_scan",
    "pin_entries",
    "portfolio_greeks",
    "resolve",
    "resolve_instruments",
    "row_max",
    "row_sum",
    "scenario_pnl",
]
