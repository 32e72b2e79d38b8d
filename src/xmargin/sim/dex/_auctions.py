"""The auction book of a DEX replay: every sale, grouped by the kick that opened it, and the netting of a
group once all of its sales are over.

An account's sales are netted when all are over: proceeds beyond the debts (the penalty) go to the surplus
buffer (the insurance fund here); a shortfall is paid first from the lots that came back unsold (sold at
the market), the rest is bad debt, covered by the buffer and then socialized (Maker's answer is to mint
MKR in a debt auction: a loss spread over others). Auctions still running at the end of the window are
closed out at the market.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from xmargin.instruments import Portfolio
from xmargin.liquidation import DutchAuction
from xmargin.sim._venue import Venue

Group = tuple[str, int]
"""The sales of one account's kick: (account, kick number)."""


@dataclass(slots=True)
class Sale:
    """One lot of a kicked account on sale: its auction and the share of the account's debt it covers."""

    account: str
    underlying: str
    auction: DutchAuction
    debt_usd: float
    proceeds_usd: float = 0.0
    group: Group = ("", 0)


class AuctionBook:
    """Every sale of a replay by kick; ``settle`` nets a kick's sales once, when the last one is over."""

    def __init__(self, v: Venue) -> None:
        self.v = v
        self.sales: list[Sale] = []
        self.groups: dict[Group, list[Sale]] = {}
        self.settled: set[Group] = set()
        self.kicks = 0
        self.closed_out_at_end = 0
        self._live: list[Sale] = []  # the sales that may still be running, in the order they were opened

    def open(self, sales: list[Sale]) -> None:
        """Add the sales of one kick (one group per account)."""
        self.kicks += 1
        for sale in sales:
            sale.group = (sale.account, self.kicks)
            self.sales.append(sale)
            self._live.append(sale)
            self.groups.setdefault(sale.group, []).append(sale)

    def running(self) -> Iterator[Sale]:
        """The sales not over yet, in the order they were opened (a sale is over for good once done, so the
        list of live sales only shrinks between kicks; taken at the call: a keeper's turn ends no sale)."""
        self._live = [sale for sale in self._live if not sale.auction.done]
        return iter(list(self._live))

    def settle(self, sale: Sale, market_px: Mapping[str, float]) -> None:
        """A sale is over. Once all of its account's sales are over they are netted: proceeds beyond the
        debts (the penalty) go to the surplus buffer; a shortfall is paid first out of the lots that came
        back unsold (sold at the market), and only what is still missing is bad debt."""
        v = self.v
        group = self.groups[sale.group]
        if sale.group in self.settled or not all(x.auction.done for x in group):
            return
        self.settled.add(sale.group)
        surplus = sum(x.proceeds_usd - x.debt_usd for x in group)
        back = {x.underlying: 0.0 for x in group}
        for x in group:
            back[x.underlying] += x.auction.lot_coin
        if surplus < 0:
            surplus = self._sell_unsold(back, surplus, market_px)
        if any(c > 0 for c in back.values()):
            self._give_back(sale.account, back)
        if surplus >= -1e-9:
            v.collect_penalty(max(surplus, 0.0))
        else:
            v.bankrupt.add(sale.account)
            v.cover([(sale.account, -surplus, sale.underlying, 1.0, 0.0)], "socialize")

    def _sell_unsold(self, back: dict[str, float], surplus: float, market_px: Mapping[str, float]) -> float:
        """Sell the unsold lots ``back`` (updated in place) at the market until the shortfall ``-surplus`` is
        paid or they are gone; returns the surplus after it."""
        for u in sorted(back):
            if surplus >= 0 or back[u] <= 0:
                continue
            px = market_px[u]
            sold = min(back[u], -surplus / px)
            back[u] -= sold
            surplus += sold * px
            self.v.impact.add(u, -sold * px)
        return surplus

    def _give_back(self, account: str, back: Mapping[str, float]) -> None:
        """The unsold coins go back to the account's collateral (Maker: ``vat.flux`` to ``usr``)."""
        v = self.v
        pf = v.engine.portfolio(account)
        c = dict(pf.collateral)
        for u, coin in back.items():
            if coin > 0:
                c[u] = c.get(u, 0.0) + coin
        v.engine.replace_accounts([Portfolio(pf.account, c, pf.positions)])

    def close_out(self, market_px: Mapping[str, float]) -> None:
        """The window ends: what is still for sale is sold at the market (at most what covers its tab), then
        every group is netted."""
        for sale in self.running():
            a = sale.auction
            px_u = market_px[sale.underlying]
            coins = min(a.lot_coin, a.tab_usd / px_u)
            sale.proceeds_usd += coins * px_u
            self.closed_out_at_end += 1
            self.v.impact.add(sale.underlying, -coins * px_u)
            a.close_out(coins)
        for sale in self.sales:
            self.settle(sale, market_px)
