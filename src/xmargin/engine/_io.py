"""Books on disk: a long table, one row per (account, instrument), written as Parquet.

Columns: ``account`` (string), ``instrument`` (string: an instrument name, or a coin code such as ``BTC`` for a
collateral balance), ``size`` (float64, coin for derivatives, asset units for collateral), and optionally
``avg_price`` (float64, USD per coin, null when unknown), ``leverage`` and ``isolated_margin`` (float64,
USD; null unless the position is isolated, FORMATS.md). Building the sparse ``Q`` from it is vectorised
(factorize, then CSR), so a million accounts load without a Python loop over rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from xmargin.core import InputError
from xmargin.instruments import MAX_SIZE_COIN, Kind, Portfolio, parse_name
from xmargin.risk import DELTA_ONE, Book

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("account", "instrument", "size", "avg_price", "leverage", "isolated_margin")
REQUIRED = ("account", "instrument", "size")


def _column(df: pd.DataFrame, name: str, source: str, *, lo: float, hi: float) -> np.ndarray:
    """An optional numeric column (NaN where absent), every given value within [lo, hi]."""
    import pandas as pd

    if name not in df.columns:
        return np.full(len(df), np.nan)
    values = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
    given = df[name].notna().to_numpy()
    bad = given & ~(np.isfinite(values) & (values >= lo) & (values <= hi))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            where=f"{source}: row {i} {name}",
            expected=f"a number in [{lo:g}, {hi:g}]",
            found=df[name].iloc[i],
        )
    return values


def book_from_frame(df: pd.DataFrame, *, source: str = "book") -> Book:
    """A ``Book`` from the long table (see the module docstring); bad rows are bad input."""
    import pandas as pd

    missing = [c for c in REQUIRED if c not in df.columns]
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
    avg = _column(df, "avg_price", source, lo=1e-12, hi=1e12)
    lev = _column(df, "leverage", source, lo=1.0, hi=1000.0)
    iso = _column(df, "isolated_margin", source, lo=0.0, hi=1e15)
    acc_codes, accounts = pd.factorize(df["account"].astype(str), sort=False)
    inst_codes, names = pd.factorize(df["instrument"].astype(str), sort=False)
    instruments = []
    for n in names:
        try:
            instruments.append(parse_name(str(n)))
        except InputError as exc:
            raise InputError(
                where=f"{source}: instrument {exc.where}", expected=exc.expected, found=exc.found
            ) from None
    derivative = np.array([i.kind is not Kind.SPOT for i in instruments], dtype=bool)
    if derivative.any():
        too_big = derivative[inst_codes] & (np.abs(size) > MAX_SIZE_COIN)
        if too_big.any():
            i = int(np.flatnonzero(too_big)[0])
            raise InputError(
                where=f"{source}: row {i} size", expected=f"|size| <= {MAX_SIZE_COIN:g}", found=size[i]
            )
    n_acc, n_inst = len(accounts), len(instruments)
    shape = (n_acc, n_inst)

    def csr(values: np.ndarray, rows_of: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((values, (acc_codes[rows_of], inst_codes[rows_of])), shape=shape)
        m.sum_duplicates()
        return m

    delta_one = np.array([i.kind in DELTA_ONE for i in instruments], dtype=bool)
    everything = np.arange(len(df))
    e = np.flatnonzero(np.isfinite(avg) & delta_one[inst_codes]) if n_inst else np.array([], dtype=np.intp)
    lv = np.flatnonzero(np.isfinite(lev))
    im = np.flatnonzero(np.isfinite(iso))
    return Book(
        tuple(str(a) for a in accounts),
        tuple(instruments),
        csr(size, everything),
        csr(size[e] * avg[e], e),
        csr(size[e], e),
        csr(lev[lv], lv),
        csr(iso[im], im),
    )


def book_to_frame(book: Book) -> pd.DataFrame:
    """The long table of a book (rows in account order; entries carry what the book holds for them)."""
    import pandas as pd

    coo = book.q.tocoo()
    order = np.lexsort((coo.col, coo.row))
    r, c = coo.row[order], coo.col[order]

    def at(m: sp.csr_matrix) -> np.ndarray:
        out = np.full(r.size, np.nan)
        if m.nnz and r.size:
            stored = (m != 0).astype(np.float64)
            has = np.asarray(stored[r, c]).reshape(-1) > 0
            out[has] = np.asarray(m[r[has], c[has]]).reshape(-1)
        return out

    num, den = at(book.q_entry), at(book.q_at_entry)
    ok = np.isfinite(den) & (den != 0)
    avg = np.full(r.size, np.nan)
    avg[ok] = num[ok] / den[ok]
    names = np.array([i.name for i in book.instruments], dtype=object)
    accounts = np.array(book.accounts, dtype=object)
    return pd.DataFrame(
        {
            "account": accounts[r],
            "instrument": names[c],
            "size": coo.data[order],
            "avg_price": avg,
            "leverage": at(book.q_leverage),
            "isolated_margin": at(book.q_isolated),
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
    from xmargin.core import atomic_write

    with atomic_write(Path(path)) as tmp:
        book_to_frame(book).to_parquet(tmp, index=False)


def account_portfolio(book: Book, account: str) -> Portfolio:
    """One account of a book as a ``Portfolio`` (``Book.portfolio``)."""
    try:
        return book.portfolio(book.row_of(account))
    except KeyError:
        raise InputError(where="account", expected="an account of the book", found=account) from None
