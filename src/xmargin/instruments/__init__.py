"""Instruments: kinds, Deribit-style names, and the resolved instrument table used by pricing and risk."""

from xmargin.instruments._names import format_expiry, format_name, format_strike, parse_expiry, parse_name
from xmargin.instruments._portfolio import Portfolio, Position, load_portfolio, portfolio_from_mapping
from xmargin.instruments._types import Instrument, Kind

__all__ = [
    "Instrument",
    "Kind",
    "Portfolio",
    "Position",
    "format_expiry",
    "format_name",
    "format_strike",
    "load_portfolio",
    "parse_expiry",
    "parse_name",
    "portfolio_from_mapping",
]
