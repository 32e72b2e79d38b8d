"""Instruments: kinds, Deribit-style names, and the resolved instrument table used by pricing and risk."""

from xmargin.instruments._names import format_expiry, format_name, format_strike, parse_expiry, parse_name
from xmargin.instruments._portfolio import (
    MAX_BALANCE,
    MAX_PRICE_USD,
    MAX_SIZE_COIN,
    MmpConfig,
    Order,
    Portfolio,
    PortfolioFile,
    Position,
    load_portfolio,
    portfolio_document,
    portfolio_from_mapping,
)
from xmargin.instruments._types import EXPIRY_HOUR_UTC, Instrument, Kind

__all__ = [
    "EXPIRY_HOUR_UTC",
    "MAX_BALANCE",
    "MAX_PRICE_USD",
    "MAX_SIZE_COIN",
    "Instrument",
    "Kind",
    "MmpConfig",
    "Order",
    "Portfolio",
    "PortfolioFile",
    "Position",
    "format_expiry",
    "format_name",
    "format_strike",
    "load_portfolio",
    "parse_expiry",
    "parse_name",
    "portfolio_document",
    "portfolio_from_mapping",
]
