"""xmargin: cross-margin and portfolio-margin risk engine for crypto derivatives.

The public API in a few names (imported on first use, so ``import xmargin`` stays fast)::

    import xmargin

    market = xmargin.load_market("examples/market.yaml")
    report = xmargin.margin_account(xmargin.load_portfolio("examples/hedged.yaml"), market)
    report.initial_margin, report.available, report.status        # floats and a status, USD

    frame = xmargin.margin_book(xmargin.Book.from_portfolios([...]), market)   # a pandas DataFrame

Everything else lives in the subpackages (``xmargin.margin``, ``xmargin.engine``, ...).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from xmargin.core import InputError, XmarginError

__version__ = "0.1.0"

_LAZY = {
    "Book": "xmargin.risk",
    "Portfolio": "xmargin.instruments",
    "Position": "xmargin.instruments",
    "MarketSnapshot": "xmargin.market",
    "MarginReport": "xmargin.margin",
    "MarginModel": "xmargin.margin",
    "Trade": "xmargin.risk",
    "load_market": "xmargin.market",
    "load_portfolio": "xmargin.instruments",
    "resolve_model": "xmargin.margin",
    "margin_account": "xmargin._api",
    "margin_book": "xmargin._api",
}

__all__ = [
    "Book",
    "InputError",
    "MarginModel",
    "MarginReport",
    "MarketSnapshot",
    "Portfolio",
    "Position",
    "Trade",
    "XmarginError",
    "__version__",
    "load_market",
    "load_portfolio",
    "margin_account",
    "margin_book",
    "resolve_model",
]

if TYPE_CHECKING:
    from xmargin._api import margin_account, margin_book
    from xmargin.instruments import Portfolio, Position, load_portfolio
    from xmargin.margin import MarginModel, MarginReport, resolve_model
    from xmargin.market import MarketSnapshot, load_market
    from xmargin.risk import Book, Trade


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xmargin' has no attribute {name!r}")
    return getattr(import_module(module), name)
