"""Daily price histories: ``PriceHistory`` and the shipped ones (``btc-daily``, ``eth-daily``, ``crypto-daily``,
``deribit-2026``) or a CSV file in the same columns.

A history file is a CSV (optionally gzipped) with a ``date`` column (``YYYY-MM-DD``, one row per UTC day, the
day's close in USD) and one column per underlying named by it (``BTC``, ``ETH``); optional ``iv_<U>`` columns
hold a 30-day at-the-money implied vol (annualised fraction) for option books. A cell may be empty before an
underlying's history starts; gaps inside it are carried forward from the previous close and named in
``warnings``. The shipped files and their sources are in ``xmargin/data/history/SOURCES.md``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError, read_text

if TYPE_CHECKING:
    import pandas as pd

FloatArray = NDArray[np.float64]
DayArray = NDArray[np.datetime64]

SHIPPED: dict[str, tuple[str, tuple[str, ...]]] = {
    "crypto-daily": ("crypto_daily.csv.gz", ("BTC", "ETH")),
    "btc-daily": ("crypto_daily.csv.gz", ("BTC",)),
    "eth-daily": ("crypto_daily.csv.gz", ("ETH",)),
    "deribit-2026": ("deribit_2026_daily.csv", ("BTC", "ETH")),
}
"""Shipped history names → (file in xmargin/data/history, the underlyings it offers)."""
MAX_HISTORY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True, eq=False)
class PriceHistory:
    """Daily closes of several underlyings on one calendar: ``close[day, underlying]`` (USD; NaN before an
    underlying's history starts) and optionally ``iv[day, underlying]`` (30-day ATM implied vol, NaN where
    absent). ``dates`` are UTC days in increasing order, one per calendar day."""

    name: str
    dates: DayArray
    underlyings: tuple[str, ...]
    close: FloatArray
    iv: FloatArray | None = None
    source: str = ""
    missing_days: int = 0
    """calendar days absent from the file, carried forward from the previous close"""
    filled: Mapping[str, int] = field(default_factory=dict)
    """per underlying: empty price cells inside its series, carried forward"""

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.warnings_for(self.underlyings)

    def warnings_for(self, underlyings: tuple[str, ...]) -> tuple[str, ...]:
        """The assumptions made loading this history that concern ``underlyings``."""
        out = []
        if self.missing_days:
            out.append(
                f"history {self.name}: {self.missing_days} missing day(s) carried forward from the previous close"
            )
        for u in underlyings:
            if self.filled.get(u):
                out.append(
                    f"history {self.name}: {self.filled[u]} empty {u} price(s) inside its series carried forward"
                )
        return tuple(out)

    def __len__(self) -> int:
        return int(self.dates.shape[0])

    def column(self, underlying: str) -> int:
        try:
            return self.underlyings.index(underlying)
        except ValueError:
            raise InputError(
                where=f"history {self.name}",
                expected=f"prices of {underlying} (it has {', '.join(self.underlyings)})",
                found=f"no {underlying} column",
            ) from None

    def columns(self, underlyings: tuple[str, ...]) -> NDArray[np.intp]:
        """The column of each of ``underlyings``; bad input naming every one the history lacks."""
        missing = [u for u in underlyings if u not in self.underlyings]
        if missing:
            raise InputError(
                where=f"history {self.name}",
                expected=f"prices of {', '.join(underlyings)} (it has {', '.join(self.underlyings)})",
                found=f"no {', '.join(missing)} column",
            )
        return np.array([self.underlyings.index(u) for u in underlyings], dtype=np.intp)

    def first_day(self, underlying: str) -> date:
        col = self.close[:, self.column(underlying)]
        ok = np.flatnonzero(np.isfinite(col))
        return _as_date(self.dates[ok[0]])

    def last_day(self, underlying: str | None = None) -> date:
        """The last day with a price (of ``underlying``, or of any)."""
        if underlying is None:
            return _as_date(self.dates[-1])
        col = self.close[:, self.column(underlying)]
        ok = np.flatnonzero(np.isfinite(col))
        return _as_date(self.dates[ok[-1]])

    def day_index(self, day: date) -> int:
        """Index of the last row on or before ``day`` (−1 if none)."""
        return int(np.searchsorted(self.dates, np.datetime64(day, "D"), side="right")) - 1

    def select(self, underlyings: tuple[str, ...]) -> PriceHistory:
        """The same history restricted to ``underlyings`` (each must be present)."""
        cols = self.columns(underlyings)
        return PriceHistory(
            self.name,
            self.dates,
            underlyings,
            self.close[:, cols],
            None if self.iv is None else self.iv[:, cols],
            self.source,
            self.missing_days,
            {u: n for u, n in self.filled.items() if u in underlyings},
        )


def close_time(day: date) -> datetime:
    """The UTC time a daily bar closes: midnight after ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def _as_date(d: np.datetime64) -> date:
    return date.fromisoformat(str(np.datetime_as_string(d, unit="D")))


def shipped_history_names() -> tuple[str, ...]:
    return tuple(SHIPPED)


def load_history(spec: str | Path) -> PriceHistory:
    """A shipped history by name (``btc-daily``...) or a history CSV file (module docstring)."""
    key = str(spec).lower()
    if key in SHIPPED:
        fname, unders = SHIPPED[key]
        raw = files("xmargin").joinpath("data", "history", fname).read_bytes()
        text = gzip.decompress(raw).decode() if fname.endswith(".gz") else raw.decode()
        full = parse_history(text, name=key, source=f"xmargin/data/history/{fname} (SOURCES.md)")
        return full.select(unders) if unders != full.underlyings else full
    path = Path(spec)
    if not path.exists() and path.suffix == "":
        raise InputError(
            where="--history", expected=f"one of {', '.join(SHIPPED)} or a CSV file", found=str(spec)
        )
    if str(path).endswith(".gz"):
        try:
            with path.open("rb") as fh:
                text = gzip.decompress(fh.read(MAX_HISTORY_BYTES + 1)).decode()
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise InputError(where=str(path), expected="a gzipped CSV history", found=str(exc)) from None
    else:
        text = read_text(path, limit=MAX_HISTORY_BYTES)
    return parse_history(text, name=path.name, source=str(path))


def parse_history(text: str, *, name: str, source: str) -> PriceHistory:
    """Parse and check a history CSV (module docstring); every problem names the file, row and column."""
    import pandas as pd

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(where=name, expected="a CSV history with a date column", found=str(exc)) from None
    if "date" not in df.columns:
        raise InputError(where=name, expected="a 'date' column", found=f"columns {', '.join(df.columns)}")
    price_cols = [c for c in df.columns if c != "date" and not c.startswith("iv_")]
    iv_cols = [c for c in df.columns if c.startswith("iv_")]
    if not price_cols:
        raise InputError(where=name, expected="one price column per underlying (BTC, ETH...)", found="none")
    for c in iv_cols:
        if c[3:] not in price_cols:
            raise InputError(
                where=f"{name}: column {c}", expected=f"a price column {c[3:]} beside it", found="none"
            )
    if len(df) < 2:
        raise InputError(where=name, expected="at least 2 daily rows", found=f"{len(df)} rows")
    try:
        days = np.array(df["date"].to_numpy(dtype=str), dtype="datetime64[D]")
        if any(len(s) != 10 for s in df["date"]):
            raise ValueError("not YYYY-MM-DD")
    except ValueError:
        bad = next(i for i, s in enumerate(df["date"]) if not _is_day(s))
        raise InputError(
            where=f"{name}: row {bad + 2}, column date", expected="a date YYYY-MM-DD", found=df["date"][bad]
        ) from None
    steps = np.diff(days).astype(np.int64)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise InputError(
            where=f"{name}: row {i + 2}, column date",
            expected=f"a day after {days[i - 1]}",
            found=str(days[i]),
        )
    close = _numbers(df, price_cols, name, lo=0.0, what="a price > 0 USD or empty")
    iv = (
        _numbers(df, iv_cols, name, lo=0.0, what="an implied vol > 0 (0.55 = 55%) or empty")
        if iv_cols
        else None
    )
    # one row per calendar day: missing days are carried forward (named in warnings)
    calendar = np.arange(days[0], days[-1] + np.timedelta64(1, "D"), dtype="datetime64[D]")
    pos = np.searchsorted(days, calendar, side="right") - 1
    close, iv = close[pos], None if iv is None else iv[pos]
    filled = _fill_gaps(close)
    if iv is not None:
        _fill_gaps(iv)
        iv_full = np.full_like(close, np.nan)
        for k, c in enumerate(iv_cols):
            iv_full[:, price_cols.index(c[3:])] = iv[:, k]
        iv = iv_full
    return PriceHistory(
        name,
        calendar,
        tuple(price_cols),
        close,
        iv,
        source,
        int(calendar.size - days.size),
        {u: int(n) for u, n in zip(price_cols, filled, strict=True) if n},
    )


def _is_day(s: str) -> bool:
    try:
        date.fromisoformat(s)
    except ValueError:
        return False
    return True


def _numbers(df: pd.DataFrame, cols: list[str], name: str, *, lo: float, what: str) -> FloatArray:
    import pandas as pd

    out = np.full((len(df), len(cols)), np.nan)
    for k, c in enumerate(cols):
        raw = df[c]
        x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = (raw != "").to_numpy() & ~(np.isfinite(x) & (x > lo))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(where=f"{name}: row {i + 2}, column {c}", expected=what, found=raw.iloc[i])
        out[:, k] = np.where(raw.to_numpy() == "", np.nan, x)
    return out


def _fill_gaps(a: FloatArray) -> list[int]:
    """Carry values forward inside each column's span (NaN before its first and after its last value stay);
    returns how many were filled per column."""
    filled = []
    for k in range(a.shape[1]):
        col = a[:, k]
        ok = np.isfinite(col)
        if not ok.any():
            filled.append(0)
            continue
        first = int(np.argmax(ok))
        last = col.size - int(np.argmax(ok[::-1]))
        idx = np.where(ok, np.arange(col.size), 0)
        np.maximum.accumulate(idx, out=idx)
        filled.append(int((~ok[first:last]).sum()))
        col[first:last] = col[idx[first:last]]
    return filled


__all__ = [
    "SHIPPED",
    "PriceHistory",
    "close_time",
    "load_history",
    "parse_history",
    "shipped_history_names",
]
