"""Risk: the book, its resolution against a market, scenario sets and the PnL[instrument, scenario] matrix."""

from xmargin.risk._book import DELTA_ONE, MATRICES, Book, Orders
from xmargin.risk._es_kernel import es_scan
from xmargin.risk._haircut_path import HaircutPath, depeg_haircut, fhs_haircut_path
from xmargin.risk._historical import FilteredHistory, HistoricalScenarios, expected_shortfall
from xmargin.risk._kernels import GroupScan, group_scan, row_max, row_sum
from xmargin.risk._resolve import KIND_CODE, Columns, InstrumentTable, resolve, resolve_instruments
from xmargin.risk._scenarios import VIEWS, ScenarioSet, joint_scenario_pnl, reprice, scenario_pnl
from xmargin.risk._valuation import (
    Trade,
    UnderlyingGreeks,
    account_greeks,
    apply_trades,
    equity_usd,
    fill_price,
    long_option_value_usd,
    pin_entries,
    pin_portfolio,
    portfolio_greeks,
    realize_entries,
    trades_from,
    upnl_settle,
    upnl_usd_entries,
)

__all__ = [
    "DELTA_ONE",
    "KIND_CODE",
    "MATRICES",
    "VIEWS",
    "Book",
    "Columns",
    "FilteredHistory",
    "GroupScan",
    "HaircutPath",
    "HistoricalScenarios",
    "InstrumentTable",
    "Orders",
    "ScenarioSet",
    "Trade",
    "UnderlyingGreeks",
    "account_greeks",
    "apply_trades",
    "depeg_haircut",
    "equity_usd",
    "es_scan",
    "expected_shortfall",
    "fhs_haircut_path",
    "fill_price",
    "group_scan",
    "joint_scenario_pnl",
    "long_option_value_usd",
    "pin_entries",
    "pin_portfolio",
    "portfolio_greeks",
    "realize_entries",
    "reprice",
    "resolve",
    "resolve_instruments",
    "row_max",
    "row_sum",
    "scenario_pnl",
    "trades_from",
    "upnl_settle",
    "upnl_usd_entries",
]
