"""Pricing: vectorised Black-76 (linear and inverse), Greeks, implied volatility."""

from xmargin.pricing._black import (
    IV_REASONS,
    Greeks,
    ImpliedVol,
    InverseGreeks,
    black76,
    black76_price,
    implied_vol,
    inverse_greeks,
)
from xmargin.pricing._chain import ChainFit, fit_chain
from xmargin.pricing._jit import kernel_threads, parallel_and_serial
from xmargin.pricing._valuation import PriceReport, Valuation, value_instruments

__all__ = [
    "IV_REASONS",
    "ChainFit",
    "Greeks",
    "ImpliedVol",
    "InverseGreeks",
    "PriceReport",
    "Valuation",
    "black76",
    "black76_price",
    "fit_chain",
    "implied_vol",
    "inverse_greeks",
    "kernel_threads",
    "parallel_and_serial",
    "value_instruments",
]
