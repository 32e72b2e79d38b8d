"""Kicks: the accounts below maintenance at the oracle are seized and their lots put on sale.

An account's positions are taken over at the oracle price and converted to their delta (gamma and vega are
dropped: an on-chain vault holds collateral, not options), so that it becomes a vault in the MakerDAO
sense: ``lot`` coins of each underlying it was long (delta, including coin collateral) and a USD debt
``D = Σ lot × oracle − equity``. Net short delta is bought back at once at the market (with impact). Each
lot is sold by a Clipper Dutch auction (``liquidation.DutchAuction``) for ``tab = D × chop``, starting at
``oracle × buf`` and falling on the Stairstep curve, reset on ``tail`` or ``cusp``; the kick's incentive
(``tip + chip × tab``) is paid by the surplus buffer. A debt below ``dust`` cannot be a vault: its lots are
sold at the market at once. An account with no lots or no debt is flattened into its lots and cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from xmargin.instruments import Instrument, Kind, Portfolio
from xmargin.liquidation import DutchAuction, StairstepExponentialDecrease
from xmargin.oracle import PushOracle
from xmargin.risk import Book, portfolio_greeks, resolve, resolve_instruments
from xmargin.sim._venue import Debt, Venue
from xmargin.sim.dex._auctions import Sale


@dataclass(slots=True)
class _Batch:
    """What one kick does to the book, applied once all its accounts are seized."""

    sales: list[Sale] = field(default_factory=list)
    emptied: list[Portfolio] = field(default_factory=list)
    debts: list[Debt] = field(default_factory=list)
    incentives: list[tuple[float, str]] = field(default_factory=list)


def _batch_deltas(pfs: list[Portfolio], v: Venue) -> list[dict[str, float]]:
    """Each account's delta (coin) per underlying it holds, from one resolution of the batch's instruments.

    Each account's sum runs over its own instruments in its own order (collateral, then positions, as
    ``Book.from_portfolio`` orders them; repeated instruments added first), which is the order of the
    reference's one-row book: the same floating-point sums, so the same lots."""
    sizes: list[dict[Instrument, float]] = []
    for pf in pfs:
        own: dict[Instrument, float] = {}
        for a, amount in pf.collateral.items():
            inst = Instrument(Kind.SPOT, a)
            own[inst] = own.get(inst, 0.0) + amount
        for p in pf.positions:
            own[p.instrument] = own.get(p.instrument, 0.0) + p.size_coin
        sizes.append(own)
    insts = tuple(dict.fromkeys(i for own in sizes for i in own))
    if not insts:
        return [{} for _ in pfs]
    table = resolve_instruments(insts, v.engine.market)
    delta = {i: float(x) for i, x in zip(insts, table.delta, strict=True)}
    under = {i: str(u) for i, u in zip(insts, table.underlying, strict=True)}
    out = []
    for own in sizes:
        d: dict[str, float] = {}
        for inst, q in own.items():
            u = under[inst]
            d[u] = d.get(u, 0.0) + q * delta[inst]
        out.append(dict(sorted(d.items())))  # the reference visits underlyings in np.unique (sorted) order
    return out


class Kicker:
    """Seizes the accounts below maintenance (Maker's ``Dog.bark``) and kicks a Clipper per lot."""

    def __init__(
        self, v: Venue, oracles: Mapping[str, PushOracle], curve: StairstepExponentialDecrease
    ) -> None:
        self.v, self.oracles, self.curve = v, oracles, curve
        self.dust_closeouts = 0

    def kick(self, rows: NDArray[np.intp], t: float, market_px: Mapping[str, float]) -> list[Sale]:
        """Seize the accounts below maintenance: positions → delta lots + a USD debt, one auction per lot."""
        v, dust_usd = self.v, self.v.config.dex.dust_usd
        r = v.engine.result()
        batch = _Batch()
        accs = [v.accounts[i] for i in rows]
        deltas = None if v.config.reference else _batch_deltas([v.engine.portfolio(a) for a in accs], v)
        for k, i in enumerate(rows):
            acc = accs[k]
            d = None if deltas is None else deltas[k]
            lots, value, equity = self._seize(acc, float(r.equity[i]), market_px, d)
            debt = value - equity
            if lots and 0 < debt < dust_usd:
                self._sell_dust(acc, lots, debt, market_px, batch)
            elif not lots or debt <= 0:
                self._flatten(acc, lots, equity, debt, batch)
            else:
                self._auction(acc, lots, value, debt, t, batch)
        v.engine.replace_accounts(batch.emptied)
        v.cover(batch.debts, "socialize")
        # after the batch is emptied: an incentive the buffer cannot pay is never charged to a seized account
        for usd, u in batch.incentives:
            v.pay_incentive(usd, u)
        return batch.sales

    def _seize(
        self,
        acc: str,
        equity: float,
        market_px: Mapping[str, float],
        deltas: dict[str, float] | None = None,
    ) -> tuple[dict[str, float], float, float]:
        """Take ``acc`` over: its long delta per underlying (the lots), their value at the oracle and its
        equity after net short delta is bought back at the market (with impact). Counts the liquidation.
        ``deltas``: the account's delta (coin) per underlying if already computed (the fast path)."""
        v, oracles = self.v, self.oracles
        if deltas is None:
            pf = v.engine.portfolio(acc)
            one = Book.from_portfolio(pf)
            greeks = portfolio_greeks(one, resolve(one, v.engine.market))
            deltas = {u: float(g["delta_coin"][0]) for u, g in greeks.items()}
        lots: dict[str, float] = {}
        bought_back = 0.0
        for u, d in deltas.items():
            if u not in oracles or d == 0.0:
                continue
            if d > 0:
                lots[u] = d
            else:  # short delta: bought back at once at the market, with impact
                equity -= -d * (market_px[u] - oracles[u].price)
                v.impact.add(u, -d * market_px[u])
                bought_back += -d * market_px[u]
        v.backstop += bought_back
        value = sum(d * oracles[u].price for u, d in lots.items())
        v.count_liquidation(acc)
        v.add_volume(value + bought_back)
        return lots, value, equity

    def _sell_dust(
        self, acc: str, lots: Mapping[str, float], debt: float, market_px: Mapping[str, float], batch: _Batch
    ) -> None:
        """Below Maker's dust no vault can exist: the lots are sold at the market at once."""
        v = self.v
        proceeds = 0.0
        for u, d in lots.items():
            proceeds += d * market_px[u]
            v.impact.add(u, -d * market_px[u])
        self.dust_closeouts += 1
        if proceeds >= debt:
            batch.emptied.append(Portfolio(acc, {"USDC": proceeds - debt}, ()))
        else:
            v.bankrupt.add(acc)
            batch.debts.append((acc, debt - proceeds, next(iter(lots)), 1.0, 0.0))
            batch.emptied.append(Portfolio(acc, {}, ()))

    def _flatten(self, acc: str, lots: dict[str, float], equity: float, debt: float, batch: _Batch) -> None:
        """Nothing to auction, or no debt: the account is flattened into its lots and cash."""
        if equity < 0 and not lots:
            self.v.bankrupt.add(acc)
            batch.debts.append((acc, -equity, next(iter(self.oracles)), 1.0, 0.0))
            batch.emptied.append(Portfolio(acc, {}, ()))
        else:
            batch.emptied.append(Portfolio(acc, {**lots, "USDC": -debt} if lots else {"USDC": equity}, ()))

    def _auction(
        self, acc: str, lots: Mapping[str, float], value: float, debt: float, t: float, batch: _Batch
    ) -> None:
        """The account becomes a vault: one Clipper per lot, for its share of ``debt × chop``."""
        cfg, oracles = self.v.config.dex, self.oracles
        batch.emptied.append(Portfolio(acc, {}, ()))
        for u, d in lots.items():
            share = d * oracles[u].price / value
            a = DutchAuction(
                buf=cfg.buf,
                tail=cfg.tail_s,
                cusp=cfg.cusp,
                chip=cfg.chip,
                tip=cfg.tip_usd,
                chost=cfg.dust_usd * cfg.chop,
                curve=self.curve,
            )
            tab = debt * share * cfg.chop
            batch.incentives.append((a.kick(tab, d, oracles[u].price, t), u))
            batch.sales.append(Sale(acc, u, a, debt * share))
