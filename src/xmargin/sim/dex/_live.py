"""The running sales of a DEX replay as arrays, and the screen that finds the few a keepers' turn can change.

At every block the keepers look at every running sale (``_keepers``), but on almost every sale nothing
happens: it needs no redo and no keeper's bid would pay at its landing price (a sale too small to pay for
gas, or priced above the market while the oracle lags, keeps running and is redone every ``tail``).
``LiveSales`` keeps what a turn reads (``top``, ``tic``, ``lot``, ``tab`` of every running sale, in the
order the sales were opened) in numpy arrays, refreshed whenever a kick, a redo or a take changes a sale,
and finds for all of them at once what could make a turn act:

- **a redo** at the block (``redo_rows``; Maker's ``getStatus``, ``dss/src/clip.sol``: older than ``tail``
  or ``price / top < cusp``), from the first time either can hold;
- **a bid** (``pay_rows``): ``take_pays`` (``liquidation._auction``) at the price of the *latest* landing
  among the free keepers (the largest latency) with the *smallest* gas. Between redos the price falls with
  time (the curve is non-increasing), and at a given market price the keeper's gain ``(market − p) ·
  min(lot, tab / p)`` rises as ``p`` falls (``tab · (market / p − 1)`` above ``p = tab / lot``,
  ``(market − p) · lot`` below it, equal at it), so if some keeper's bid pays at its own landing price, this
  one pays too. The market price is the block's own (it moves from block to block, so no later block can
  be ruled out once and for all: the check runs every block, on arrays).

The screen only has to be *safe*: every sale on which the exact turn could act is selected (``_SLACK``
covers the last-bit differences between numpy's array ``power`` and the scalar one the auction uses); the
auction itself (``DutchAuction.status``, ``bid_pays``) then decides on the selected sales exactly as
before, so a replay's results do not depend on the screen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from xmargin.liquidation import StairstepExponentialDecrease
from xmargin.sim.dex._auctions import Sale

FloatArray = NDArray[np.float64]
Rows = NDArray[np.intp]

_SLACK = 1e-9
"""Relative margin of the screen's price comparisons (numpy's array ``power`` may differ from the scalar
one in the last bit, 1e-16 relative): a sale within it of acting is handed to the exact code."""

_TIME_SLACK_S = 1e-3
"""Margin on redo times, seconds (a block is 12 s; times are Unix seconds, whose last bit is ~2e-7 s)."""


class LiveSales:
    """The sales not over yet, in the order they were opened, with their auction state as arrays.

    All sales of a replay share one curve and ``tail`` / ``cusp`` (``DexConfig``); ``add`` checks it."""

    _FIELDS = ("top", "tic", "lot", "tab", "due", "under", "alive")

    def __init__(
        self, underlyings: Sequence[str], curve: StairstepExponentialDecrease, tail: float, cusp: float
    ) -> None:
        self.underlyings = tuple(underlyings)
        self._u = {u: k for k, u in enumerate(self.underlyings)}
        self.curve, self.tail, self.cusp = curve, tail, cusp
        self._redo_after = min(tail, _cusp_steps(curve.cut, cusp) * curve.step_seconds) - _TIME_SLACK_S
        self.sales: list[Sale] = []
        self._row: dict[int, int] = {}  # id(sale) -> row
        self.n = 0
        self.alive_count = 0
        self._next_due = math.inf  # <= every running sale's ``due``
        cap = 64
        self.top, self.tic = np.zeros(cap), np.zeros(cap)
        self.lot, self.tab = np.zeros(cap), np.zeros(cap)
        self.due = np.zeros(cap)  # the earliest time at which the sale may need a redo
        self.under = np.zeros(cap, dtype=np.intp)
        self.alive = np.zeros(cap, dtype=bool)

    def add(self, sales: Iterable[Sale]) -> None:
        """Append newly kicked sales (after those already running)."""
        for sale in sales:
            p = sale.auction.params
            if p.curve != self.curve or p.tail != self.tail or p.cusp != self.cusp:
                raise ValueError("LiveSales: every sale of a replay must share the curve, tail and cusp")
            if self.n == self.top.size:
                self._resize(2 * self.n)
            self.sales.append(sale)
            self._row[id(sale)] = self.n
            self.under[self.n] = self._u[sale.underlying]
            self.alive[self.n] = False
            self.n += 1
            self.refresh(sale)

    def refresh(self, sale: Sale) -> None:
        """Read ``sale``'s auction again (after a redo or a take); a sale that is over leaves the table."""
        i = self._row.get(id(sale))
        if i is None:  # over, and dropped already
            return
        a = sale.auction
        self.top[i], self.tic[i], self.lot[i], self.tab[i] = a.top_usd, a.tic, a.lot_coin, a.tab_usd
        self.due[i] = due = a.tic + self._redo_after
        self._next_due = min(self._next_due, due)
        alive = not a.done
        if alive != bool(self.alive[i]):
            self.alive_count += 1 if alive else -1
            self.alive[i] = alive

    def start_turn(self) -> NDArray[np.intp]:
        """Before a keepers' turn: drop the rows of sales that are over if they are most of the table; return
        each row's position among the running sales plus one (the running sales' order, for the draws)."""
        if 2 * self.alive_count < self.n and self.n > 256:
            keep = np.flatnonzero(self.alive[: self.n])
            for name in self._FIELDS:
                arr = getattr(self, name)
                arr[: keep.size] = arr[keep]
            self.sales = [self.sales[int(i)] for i in keep]
            self._row = {id(s): i for i, s in enumerate(self.sales)}
            self.n = keep.size
        rank: NDArray[np.intp] = np.cumsum(self.alive[: self.n], dtype=np.intp)
        return rank

    def redo_rows(self, t: float) -> Rows:
        """The running sales that may need a redo at ``t`` (rows, in order): Maker's ``getStatus`` says a
        sale needs one once ``t − tic > tail`` or ``price / top < cusp``; ``due`` is the first time either
        can hold (``tic`` + the lesser of ``tail`` and the steps to fall below ``cusp``, minus a margin)."""
        if t < self._next_due:
            return _NONE
        n = self.n
        alive = self.alive[:n]
        due = self.due[:n]
        self._next_due = float(due[alive].min()) if self.alive_count else math.inf
        rows: Rows = np.flatnonzero(alive & (due <= t))
        return rows

    def pay_rows(
        self, t: float, market: Sequence[float], latest_s: float, least_gas_usd: float, start: int
    ) -> Rows:
        """The running sales from row ``start`` on (rows, in order) whose take may pay at ``t + latest_s``
        (the free keepers' largest latency) for ``least_gas_usd`` at the block's ``market`` price (one per
        underlying, in ``underlyings`` order): ``take_pays`` with a margin. Every sale on which a free
        keeper's bid would pay is in it (see the module docstring)."""
        n = self.n
        if start >= n:
            return _NONE
        top, tic = self.top[start:n], self.tic[start:n]
        lot, tab = self.lot[start:n], self.tab[start:n]
        cut, step = self.curve.cut, self.curve.step_seconds
        p = top * np.power(cut, np.floor(((t + latest_s) - tic) / step))
        positive = p > 0.0
        q = np.where(positive, np.minimum(lot, tab / np.where(positive, p, 1.0)), lot)
        m = np.asarray(market, dtype=np.float64)[self.under[start:n]]
        # ``take_pays``'s gain against the gas, with a margin for the last bit (m, q >= 0)
        pays = (m - p) * q - least_gas_usd > -_SLACK * (m * q + abs(least_gas_usd) + 1.0)
        rows: Rows = np.flatnonzero(self.alive[start:n] & pays) + start
        return rows

    def _resize(self, cap: int) -> None:
        for name in self._FIELDS:
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: old.size] = old
            setattr(self, name, new)


_NONE: Rows = np.zeros(0, dtype=np.intp)


def _cusp_steps(cut: float, cusp: float) -> float:
    """A number of curve steps below the first at which ``cut ** steps < cusp`` can hold (inf: never), with a
    margin of two steps for rounding."""
    if cusp <= 0.0 or cut >= 1.0:
        return math.inf
    if cusp >= 1.0:
        return 0.0
    return max(0.0, math.floor(math.log(cusp) / math.log(cut)) - 2.0)
