"""The keepers of a DEX replay: a seeded set, each with a gas cost, a latency in blocks and limited capital.

At every block the keepers look at every running sale (in a seeded order: who sees a sale first is fair
and reproducible): a sale that needs it is restarted (``redo``, for the incentive), then each keeper that
is not busy bids when, at the price its transaction will land at, buying and reselling at the market is
profitable after gas (``liquidation.keeper_bids``). ``Keepers.turn`` does this for a whole block, acting
only on the sales where a redo or a paying bid is possible (``_live.LiveSales``); on every other sale the
turn would only have drawn the keepers' order, and those draws are made in bulk (``_Orders``), so the
random stream, and every later order, is the same as if each sale had had its turn. A take is sized to
the keeper's capital (partial fills) and so that it never leaves less than ``chost`` (Maker's dust rule).
The transaction lands after the keeper's latency; if the sale has moved on by then (over, needs a redo, or
its price is above the bid) it reverts and the gas is lost. What a keeper buys it resells into the market
at once (price impact).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from xmargin.liquidation import AuctionError, AuctionStatus, DutchAuction, Take, bid_pays, keeper_bids
from xmargin.sim._venue import Venue
from xmargin.sim.dex._auctions import Sale
from xmargin.sim.dex._live import LiveSales

ETH_BLOCK_S = 12.0
"""Ethereum's slot time since the Merge: keeper latencies are counted in these blocks."""


@dataclass(slots=True)
class Keeper:
    gas_usd: float
    latency_s: float
    capital_usd: float
    busy_until: float = -math.inf
    takes: int = 0
    reverts: int = 0
    profit_usd: float = 0.0


@dataclass(slots=True)
class _PendingTake:
    land_s: float
    keeper: Keeper
    sale: Sale
    amount_coin: float
    max_price: float


def take_size(a: DutchAuction, price: float, capital_usd: float) -> float:
    """What a keeper with ``capital_usd`` can take at ``price`` under Maker's dust rule: a partial take may
    not leave ``tab`` below ``chost`` (then it buys less, leaving exactly ``chost``, or nothing)."""
    if price <= 0:
        return a.lot_coin
    amount = min(a.lot_coin, capital_usd / price)
    owe = amount * price
    tab, chost = a.tab_usd, a.params.chost
    if owe < tab and amount < a.lot_coin and tab - owe < chost:
        return (tab - chost) / price if tab > chost else 0.0
    return amount


class _Orders:
    """The keepers' order on successive sales' turns: ``rng.permutation(n)`` one call after another, where
    ``skip(k)`` stands for k calls whose results are not needed. The skipped ones are drawn in bulk, when the
    next order is asked for: ``Generator.permuted`` along the rows of a (k, n) array draws what k calls of
    ``permutation(n)`` draw, row after row (numpy shuffles each row with the same Fisher-Yates draws;
    checked against the calls one by one, generator state included, in ``tests/sim/test_dex_screen.py``)."""

    _CHUNK = 1 << 15

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng, self.n = rng, n
        self._owed = 0
        self._buf = np.empty((0, n), dtype=np.int64)

    def skip(self, k: int) -> None:
        self._owed += k

    def next(self) -> NDArray[np.int64]:
        """The order of the next sale's turn (after drawing the skipped ones)."""
        while self._owed > 0:
            k = min(self._owed, self._CHUNK)
            if self._buf.shape[0] < k:
                self._buf = np.empty((self._CHUNK, self.n), dtype=np.int64)
            rows = self._buf[:k]
            rows[:] = np.arange(self.n)
            self.rng.permuted(rows, axis=1, out=rows)
            self._owed -= k
        return self.rng.permutation(self.n)


class Keepers:
    """The keepers, their transactions in flight and what they did (redos, takes, reverts, discount)."""

    def __init__(self, v: Venue, rng: np.random.Generator, live: LiveSales | None = None) -> None:
        cfg = v.config.dex
        lo, hi = cfg.keeper_latency_blocks
        self.v, self.rng = v, rng
        self.keepers = [
            Keeper(cfg.keeper_gas_usd, float(rng.integers(lo, hi + 1)) * ETH_BLOCK_S, cfg.keeper_capital_usd)
            for _ in range(cfg.keepers)
        ]
        self.pending: list[_PendingTake] = []
        self.live = live  # told of every redo and take, so that its arrays follow the sales
        self._orders = _Orders(rng, len(self.keepers))
        self.redos = self.takes = self.reverted_takes = 0
        self.discount_usd = 0.0  # Σ over takes of (market value − price paid), USD
        self.bought_usd = 0.0  # Σ over takes of the market value of the coins bought, USD

    def turn(
        self, live: LiveSales, t: float, oracle_px: Mapping[str, float], market_px: Mapping[str, float]
    ) -> None:
        """The keepers' turn on every running sale at block time ``t`` (prices per underlying): what ``act``
        on each sale in order does, done only on the sales where it can do something: those that may need
        a redo (``LiveSales.redo_rows``) and, while a keeper is free, those on which a free keeper's bid may
        pay (``LiveSales.pay_rows``, looked at again after each bid, which leaves one keeper fewer). On every
        other sale ``act`` would only have drawn the keepers' order: those draws are made in bulk."""
        running = live.alive_count  # a turn ends no sale (takes land later)
        if running == 0:
            return
        rank = live.start_turn()
        prices = [market_px[u] for u in live.underlyings]
        redo = live.redo_rows(t)
        todo = np.union1d(redo, self._pay_rows(live, t, prices, 0))
        seen = k = 0
        while k < todo.size:
            row = int(todo[k])
            k += 1
            pos = int(rank[row]) - 1
            self._orders.skip(pos - seen)
            seen = pos + 1
            sale = live.sales[row]
            bids = len(self.pending)
            self._redo_if_needed(sale, oracle_px[sale.underlying], t)
            self._bid(sale, self._orders.next(), market_px[sale.underlying], t)
            if len(self.pending) != bids:  # a keeper is busy now: look again at the sales after this one
                todo, k = np.union1d(redo[redo > row], self._pay_rows(live, t, prices, row + 1)), 0
        self._orders.skip(running - seen)

    def _pay_rows(self, live: LiveSales, t: float, prices: list[float], start: int) -> NDArray[np.intp]:
        """``live.pay_rows`` for the keepers free at ``t`` (none free: no sale)."""
        free = [kp for kp in self.keepers if not kp.busy_until > t]
        if not free:
            return np.zeros(0, dtype=np.intp)
        latest = max(kp.latency_s for kp in free)
        return live.pay_rows(t, prices, latest, min(kp.gas_usd for kp in free), start)

    def act(self, sale: Sale, oracle_px: float, market_px: float, t: float) -> None:
        """The keepers' turn on a running ``sale`` at block time ``t``: redo it if it needs it, then bid."""
        self._redo_if_needed(sale, oracle_px, t)
        order = self._orders.next()  # who sees the sale first: seeded, fair
        if self.v.config.reference:
            a = sale.auction
            for j in order:
                kp = self.keepers[j]
                if kp.busy_until > t:
                    continue
                if keeper_bids(a, market_px, kp.gas_usd, kp.latency_s, t):
                    price = a.price_at(t + kp.latency_s)
                    amount = take_size(a, price, kp.capital_usd)
                    if amount > 0:
                        self.pending.append(_PendingTake(t + kp.latency_s, kp, sale, amount, price))
                        kp.busy_until = t + kp.latency_s
            return
        self._bid(sale, order, market_px, t)

    def _redo_if_needed(self, sale: Sale, oracle_px: float, t: float) -> None:
        a = sale.auction
        if a.status(t).needs_redo:
            self.v.pay_incentive(a.redo(oracle_px, t), sale.underlying)
            self.redos += 1
            if self.live is not None:
                self.live.refresh(sale)

    def _bid(self, sale: Sale, order: NDArray[np.int64], market_px: float, t: float) -> None:
        """Each keeper that is not busy, in ``order``, bids on ``sale`` if its take pays when it lands."""
        a = sale.auction
        if not a.kicked or a.done:
            return
        # ``keeper_bids`` for each keeper, with the sale's status computed once per landing time (bidding
        # does not change the sale; keepers share a handful of latencies): the same decisions and prices
        at: dict[float, AuctionStatus] = {}
        for j in order:
            kp = self.keepers[j]
            if kp.busy_until > t:
                continue
            land = t + kp.latency_s
            st = at.get(land)
            if st is None:
                st = at[land] = a.status(land)
            if not st.needs_redo and bid_pays(a, st.price, market_px, kp.gas_usd):
                amount = take_size(a, st.price, kp.capital_usd)
                if amount > 0:
                    self.pending.append(_PendingTake(land, kp, sale, amount, st.price))
                    kp.busy_until = land

    def land(
        self, t: float, market_px: Mapping[str, float], on_over: Callable[[Sale, Mapping[str, float]], None]
    ) -> None:
        """The transactions landing in the block at ``t``, in the order they were sent. ``on_over(sale,
        market_px)`` is called as soon as a take ends a sale (before the next take lands)."""
        if not self.pending:
            return
        landing = [p for p in self.pending if p.land_s <= t]
        self.pending = [p for p in self.pending if p.land_s > t]
        for p in landing:
            take = self._take(p, t)
            if take is None:
                continue
            u = p.sale.underlying
            p.sale.proceeds_usd += take.usd_paid
            p.keeper.takes += 1
            self.takes += 1
            p.keeper.profit_usd += take.coin_bought * market_px[u] - take.usd_paid - p.keeper.gas_usd
            self.discount_usd += take.coin_bought * market_px[u] - take.usd_paid
            self.bought_usd += take.coin_bought * market_px[u]
            self.v.impact.add(u, -take.coin_bought * market_px[u])  # the keeper resells at once
            if self.live is not None:
                self.live.refresh(p.sale)
            if p.sale.auction.done:
                on_over(p.sale, market_px)

    def _take(self, p: _PendingTake, t: float) -> Take | None:
        """``p``'s take at ``t``, or None if it reverts (the gas is lost)."""
        a = p.sale.auction
        now = a.status(t)
        if not (a.done or now.needs_redo or now.price > p.max_price):
            try:
                return a.take(p.amount_coin, p.max_price, t)
            except AuctionError:  # e.g. a partial take that would leave dust: reverted, gas lost
                pass
        p.keeper.reverts += 1
        p.keeper.profit_usd -= p.keeper.gas_usd
        self.reverted_takes += 1
        return None

    def discount_pct(self) -> float:
        """The keepers' average discount to the market, % of the market value of what they bought."""
        return 100.0 * self.discount_usd / self.bought_usd if self.bought_usd > 0 else 0.0

    def summary(self) -> list[dict[str, float]]:
        return [
            {
                "gas_usd": k.gas_usd,
                "latency_s": k.latency_s,
                "takes": k.takes,
                "reverts": k.reverts,
                "profit_usd": k.profit_usd,
            }
            for k in self.keepers
        ]
