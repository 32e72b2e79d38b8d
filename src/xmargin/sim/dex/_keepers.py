"""The keepers of a DEX replay: a seeded set, each with a gas cost, a latency in blocks and limited capital.

At every block the keepers look at every running sale (in a seeded order: who sees a sale first is fair
and reproducible): a sale that needs it is restarted (``redo``, for the incentive), then each keeper that
is not busy bids when, at the price its transaction will land at, buying and reselling at the market is
profitable after gas (``liquidation.keeper_bids``). A take is sized to the keeper's capital (partial
fills) and so that it never leaves less than ``chost`` (Maker's dust rule). The transaction lands after the
keeper's latency; if the sale has moved on by then (over, needs a redo, or its price is above the bid) it
reverts and the gas is lost. What a keeper buys it resells into the market at once (price impact).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from xmargin.liquidation import AuctionError, AuctionStatus, DutchAuction, Take, bid_pays, keeper_bids
from xmargin.sim._venue import Venue
from xmargin.sim.dex._auctions import Sale

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


class Keepers:
    """The keepers, their transactions in flight and what they did (redos, takes, reverts, discount)."""

    def __init__(self, v: Venue, rng: np.random.Generator) -> None:
        cfg = v.config.dex
        lo, hi = cfg.keeper_latency_blocks
        self.v, self.rng = v, rng
        self.keepers = [
            Keeper(cfg.keeper_gas_usd, float(rng.integers(lo, hi + 1)) * ETH_BLOCK_S, cfg.keeper_capital_usd)
            for _ in range(cfg.keepers)
        ]
        self.pending: list[_PendingTake] = []
        self.redos = self.takes = self.reverted_takes = 0
        self.discount_usd = 0.0  # Σ over takes of (market value − price paid), USD
        self.bought_usd = 0.0  # Σ over takes of the market value of the coins bought, USD

    def act(self, sale: Sale, oracle_px: float, market_px: float, t: float) -> None:
        """The keepers' turn on a running ``sale`` at block time ``t``: redo it if it needs it, then bid."""
        a = sale.auction
        if a.status(t).needs_redo:
            self.v.pay_incentive(a.redo(oracle_px, t), sale.underlying)
            self.redos += 1
        order = self.rng.permutation(len(self.keepers))  # who sees the sale first: seeded, fair
        if self.v.config.reference:
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
