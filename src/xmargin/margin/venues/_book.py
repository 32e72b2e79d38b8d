"""The book's positions account by account, for the venue models that evaluate one account at a time."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from xmargin.margin._ratio import Entries
from xmargin.risk import Book

Rows = tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def account_rows(book: Book) -> Iterator[Rows]:
    """Per account, in order: its columns, sizes (coin), entry notionals (USD) and sizes entered at a price."""
    e = Entries.of(book.q)
    entry, at = e.aligned(book.q_entry), e.aligned(book.q_at_entry)
    bounds = np.searchsorted(e.rows, np.arange(book.n_accounts + 1))
    for r in range(book.n_accounts):
        lo, hi = int(bounds[r]), int(bounds[r + 1])
        yield e.cols[lo:hi], e.size[lo:hi], entry[lo:hi], at[lo:hi]
