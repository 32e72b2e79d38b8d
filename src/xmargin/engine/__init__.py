"""Whole-book state: the sparse book, per-underlying margin parts, incremental ticks and trades; book files."""

from xmargin.engine._distributed import connect, margin_book, margin_book_dask
from xmargin.engine._engine import BookEngine, TickReport
from xmargin.engine._generate import generate_book, market_instruments
from xmargin.engine._io import (
    COLUMNS,
    account_portfolio,
    book_from_frame,
    book_to_frame,
    read_book,
    write_book,
)
from xmargin.engine._liquidation import BOOK_DOWN, BOOK_UP, book_liquidation_prices

__all__ = [
    "BOOK_DOWN",
    "BOOK_UP",
    "COLUMNS",
    "BookEngine",
    "TickReport",
    "account_portfolio",
    "book_from_frame",
    "book_liquidation_prices",
    "book_to_frame",
    "connect",
    "generate_book",
    "margin_book",
    "margin_book_dask",
    "market_instruments",
    "read_book",
    "write_book",
]
