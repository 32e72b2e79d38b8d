"""The real-time risk loop: price ticks in, the whole book kept current, margin calls and liquidation
triggers out.

Each tick moves one underlying's index (and, optionally, scales its vols); ``BookEngine.tick`` reprices only
that underlying's columns and recomputes only its holders. Every account then has a status: ``ok``,
``margin_call`` (margin balance below initial margin) or ``liquidation`` (below maintenance). An alert is
emitted when an account's status gets worse, and a ``recovered`` alert when it returns to ``ok``, so a
long stress does not repeat the same alert on every tick. Statuses worsen at once but improve only with a
margin (``hysteresis``, 2% by default): back from ``liquidation`` when the margin balance is at least
``(1 + h) × MM``, back to ``ok`` at ``(1 + h) × IM``, so an account hovering at a threshold does not flap. Everything is a function of the tick stream:
replaying the same ticks gives the same alerts (no clock is read; timestamps come from the ticks).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.engine import BookEngine

STATUS = ("ok", "margin_call", "liquidation")


@dataclass(frozen=True, slots=True)
class Tick:
    """A new index price of ``underlying`` at ``ts_s`` (seconds); ``vol_factor`` scales its implied vols."""

    ts_s: float
    underlying: str
    price_usd: float
    vol_factor: float = 1.0


@dataclass(frozen=True, slots=True)
class Alert:
    """An account whose status changed at a tick."""

    ts_s: float
    account: str
    status: str
    margin_balance: float
    initial_margin: float
    maintenance_margin: float


def _status(
    balance: NDArray[np.float64], im: NDArray[np.float64], mm: NDArray[np.float64]
) -> NDArray[np.int8]:
    return np.where(balance < mm, 2, np.where(balance < im, 1, 0)).astype(np.int8)


def _status_with_hysteresis(
    prev: NDArray[np.int8],
    balance: NDArray[np.float64],
    im: NDArray[np.float64],
    mm: NDArray[np.float64],
    h: float,
) -> NDArray[np.int8]:
    """Worse at once; better only once the balance clears the threshold by ``h``."""
    plain = _status(balance, im, mm)
    cleared = _status(balance, im * (1.0 + h), mm * (1.0 + h))
    return np.where(plain >= prev, plain, np.maximum(cleared, plain)).astype(np.int8)


class RiskLoop:
    """Runs ticks through a ``BookEngine`` and yields status-change alerts."""

    def __init__(self, engine: BookEngine, *, hysteresis: float = 0.02) -> None:
        """Futures and perpetuals the book holds without an entry price are entered at the engine's current
        marks, so that later ticks show up as unrealised P&L."""
        if not (math.isfinite(hysteresis) and 0.0 <= hysteresis <= 1.0):
            raise InputError(where="RiskLoop.hysteresis", expected="a number in [0, 1]", found=hysteresis)
        self.hysteresis = hysteresis
        self.engine = engine
        engine.pin_entries()
        r = engine.result()
        self.status = _status(r.margin_balance, r.initial_margin, r.maintenance_margin)
        self.ticks = 0

    def apply(self, tick: Tick) -> list[Alert]:
        """One tick: update the book, return the alerts it caused (accounts in book order)."""
        market = self.engine.market
        if not (math.isfinite(tick.price_usd) and tick.price_usd > 0):
            raise InputError(where=f"tick {tick.ts_s}", expected="a price > 0", found=tick.price_usd)
        current = market.index(tick.underlying)
        moved = market.shifted(tick.underlying, tick.price_usd / current)
        if tick.vol_factor != 1.0:
            moved = moved.replace(
                vol={k: (v * tick.vol_factor if k == tick.underlying else v) for k, v in moved.vol.items()},
                option_iv={
                    k: (
                        v * tick.vol_factor
                        if k.startswith(f"{tick.underlying}-") or k.startswith(f"{tick.underlying}_")
                        else v
                    )
                    for k, v in moved.option_iv.items()
                },
            )
        self.engine.tick(moved, tick.underlying)
        self.ticks += 1
        r = self.engine.result()
        new = _status_with_hysteresis(
            self.status, r.margin_balance, r.initial_margin, r.maintenance_margin, self.hysteresis
        )
        changed = np.flatnonzero((new > self.status) | ((new == 0) & (self.status > 0)))
        self.status = new
        accounts = self.engine.book.accounts
        return [
            Alert(
                tick.ts_s,
                accounts[i],
                "recovered" if new[i] == 0 else STATUS[new[i]],
                float(r.margin_balance[i]),
                float(r.initial_margin[i]),
                float(r.maintenance_margin[i]),
            )
            for i in changed
        ]

    def run(self, ticks: Iterable[Tick]) -> Iterator[Alert]:
        """Every alert of a tick stream, in order."""
        for tick in ticks:
            yield from self.apply(tick)


def ticks_from_bars(
    path: str | Path, *, symbol: str, underlying: str, source: str | None = None, field: str = "close"
) -> list[Tick]:
    """Ticks from an OHLC bar file (the crash windows of ``data/crashes``): one tick per bar at its close."""
    p = Path(path)
    if not p.is_file():
        raise InputError(where=str(p), expected="an existing bar file", found="no such file")
    ticks = []
    with p.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("symbol") != symbol or (source is not None and row.get("source") != source):
                continue
            ts = datetime.fromisoformat(row["open_time_utc"].replace("Z", "+00:00")).timestamp()
            ticks.append(Tick(ts, underlying, float(row[field])))
    if not ticks:
        raise InputError(where=str(p), expected=f"bars of {symbol}", found="none")
    return ticks
