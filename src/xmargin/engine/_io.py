"""Books on disk: a long table, one row per (account, instrument), written as Parquet.

Columns: ``account`` (string), ``instrument`` (string: an instrument name, or a coin code such as ``BTC`` for a
collateral balance), ``size`` (float64, coin for derivatives, asset units for collateral) and ``avg_price``
(float64, USD per coin, null when unknown). Building the sparse ``Q`` from it is vectorised (factorize, then
CSR), so a million accounts load without a Python loop over rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind, Portfolio, Position, parse_name
from xmargin.risk import Book

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("account", "instrument", "size", "avg_price")


def book_from_frame(df: pd.DataFrame, *, source: str = "book") -> Book:
    """A ``Book`` from the long table (see the module docstring); bad rows are bad input."""
    import pandas as pd

    missing = [c for c in ("account", "instrument", "size") if c not in df.columns]
    if missing:
        raise InputError(
            where=source, expected=f"columns {', '.join(COLUMNS)}", found=f"missing {', '.join(missing)}"
        )
    size = pd.to_numeric(df["size"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(size)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            where=f"{source}: row {i} size", expected="a finite number", found=df["size"].iloc[i]
        )
    avg = (
        pd.to_numeric(df["avg_price"], errors="coerce").to_numpy(dtype=np.float64)
        if "avg_price" in df.columns
        else np.full(len(df), np.nan)
    )
    acc_codes, accounts = pd.factorize(df["account"].astype(str), sort=False)
    inst_codes, names = pd.factorize(df["instrument"].astype(str), sort=False)
    instruments = tuple(parse_name(str(n)) for n in names)
    n_acc, n_inst = len(accounts), len(instruments)
    q = sp.csr_matrix((size, (acc_codes, inst_codes)), shape=(n_acc, n_inst))
    kinds = np.array([i.kind in (Kind.FUTURE, Kind.PERPETUAL) for i in instruments], dtype=bool)
    has_entry = np.isfinite(avg) & kinds[inst_codes] if n_inst else np.zeros(len(df), dtype=bool)
    e = np.flatnonzero(has_entry)
    q_entry = sp.csr_matrix((size[e] * avg[e], (acc_codes[e], inst_codes[e])), shape=(n_acc, n_inst))
    q_at_entry = sp.csr_matrix((size[e], (acc_codes[e], inst_codes[e])), shape=(n_acc, n_inst))
    for m in (q, q_entry, q_at_entry):
        m.sum_duplicates()
    return Book(tuple(str(a) for a in accounts), instruments, q, q_entry, q_at_entry)


def book_to_frame(book: Book) -> pd.DataFrame:
    """The long table of a book (rows in account order; entries with a known entry price carry it)."""
    import pandas as pd

    coo = book.q.tocoo()
    entry = book.q_entry.tocsr()
    at_entry = book.q_at_entry.tocsr()
    avg = np.full(coo.nnz, np.nan)
    if entry.nnz:
        num = np.asarray(entry[coo.row, coo.col]).reshape(-1)
        den = np.asarray(at_entry[coo.row, coo.col]).reshape(-1)
        ok = den != 0
        avg[ok] = num[ok] / den[ok]
    names = np.array([i.name for i in book.instruments], dtype=object)
    accounts = np.array(book.accounts, dtype=object)
    order = np.lexsort((coo.col, coo.row))
    return pd.DataFrame(
        {
            "account": accounts[coo.row[order]],
            "instrument": names[coo.col[order]],
            "size": coo.data[order],
            "avg_price": avg[order],
        }
    )


def read_book(path: str | Path) -> Book:
    """Read a book written by ``write_book`` (or any Parquet file with the same columns)."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(where=str(p), expected="an existing Parquet book file", found="no such file")
    try:
        df = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several unrelated types for a file that is not Parquet
        raise InputError(where=str(p), expected="a Parquet file", found=type(exc).__name__) from None
    return book_from_frame(df, source=str(p))


def write_book(book: Book, path: str | Path) -> None:
    """Write a book as Parquet, atomically (a temporary file renamed into place: nothing half-written)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    book_to_frame(book).to_parquet(tmp, index=False)
    tmp.replace(p)


def account_portfolio(book: Book, account: str) -> Portfolio:
    """One account of a book as a ``Portfolio`` (collateral from spot columns)."""
    try:
        row = book.accounts.index(account)
    except ValueError:
        raise InputError(where="--account", expected="an account of the book", found=account) from None
    q = book.q.getrow(row).tocoo()
    entry = book.q_entry.getrow(row).toarray().reshape(-1)
    at_entry = book.q_at_entry.getrow(row).toarray().reshape(-1)
    collateral: dict[str, float] = {}
    positions: list[Position] = []
    for c, v in zip(q.col, q.data, strict=True):
        inst: Instrument = book.instruments[c]
        if inst.kind is Kind.SPOT:
            collateral[inst.base] = float(v)
        else:
            avg = float(entry[c] / at_entry[c]) if at_entry[c] != 0 else None
            positions.append(Position(inst, float(v), avg))
    return Portfolio(account, collateral, tuple(positions))
