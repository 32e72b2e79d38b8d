"""One CEX liquidation round: each account below maintenance liquidated partially (``liquidation.liquidate``),
its penalty to the insurance fund, its slices' delta into the market (price impact), its bad debt to the
waterfall."""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from xmargin.instruments import Instrument, Kind
from xmargin.liquidation import LiquidationResult, liquidate, liquidate_batch
from xmargin.market import MarketSnapshot
from xmargin.risk import pin_portfolio, realize_entries, resolve_instruments
from xmargin.sim._venue import Debt, Venue


def liquidate_round(v: Venue, rows: NDArray[np.intp]) -> list[float]:
    """One liquidation round over the accounts ``rows``; returns each account's decision time (s).

    The fast path (default) liquidates the round's accounts together (``liquidation.liquidate_batch``: one
    book evaluation per step for all of them); ``ReplayConfig.reference`` runs ``liquidate`` account by
    account, as the replay did before (kept as the reference the fast path is tested and benchmarked
    against). The decision time of a batch is its wall time shared equally by its accounts."""
    if not v.config.reference:
        return _round_batched(v, rows)
    cfg = v.config
    market = v.engine.market
    replaced = []
    debts: list[Debt] = []
    latencies = []
    for i in rows:
        acc = v.accounts[i]
        s = time.perf_counter()
        pf = realize_entries(v.engine.portfolio(acc), market)
        res = liquidate(v.model, pf, market, cfg.cex)
        latencies.append(time.perf_counter() - s)
        v.count_liquidation(acc)
        v.collect_penalty(res.insurance_fee_usd)
        _trade(v, res, market)
        if res.bad_debt_usd > 0:
            v.bankrupt.add(acc)
            debts.append(_bad_debt(acc, res, market))
        replaced.append(pin_portfolio(res.account, market))
    v.engine.replace_accounts(replaced)
    v.cover(debts, cfg.waterfall)
    return latencies


def _round_batched(v: Venue, rows: NDArray[np.intp]) -> list[float]:
    """The round on the fast path: the same bookkeeping, in the same account order, as the reference."""
    cfg = v.config
    market = v.engine.market
    s = time.perf_counter()
    accs = [v.accounts[i] for i in rows]
    results = liquidate_batch(
        v.model, [realize_entries(v.engine.portfolio(a), market) for a in accs], market, cfg.cex
    )
    deltas = _deltas([f.instrument for res in results for f in res.fills], market)
    per_account = (time.perf_counter() - s) / max(len(accs), 1)
    debts: list[Debt] = []
    replaced = []
    for acc, res in zip(accs, results, strict=True):
        v.count_liquidation(acc)
        v.collect_penalty(res.insurance_fee_usd)
        _trade(v, res, market, deltas)
        if res.bad_debt_usd > 0:
            v.bankrupt.add(acc)
            debts.append(_bad_debt(acc, res, market, deltas))
        replaced.append(pin_portfolio(res.account, market))
    v.engine.replace_accounts(replaced)
    v.cover(debts, cfg.waterfall)
    return [per_account] * len(accs)


def _deltas(insts: list[Instrument], market: MarketSnapshot) -> dict[Instrument, float]:
    """Delta per coin of the options among ``insts`` (one resolution; each option is priced on its own)."""
    options = tuple(dict.fromkeys(i for i in insts if i.kind is Kind.OPTION))
    if not options:
        return {}
    d = resolve_instruments(options, market).delta
    return {inst: float(x) for inst, x in zip(options, d, strict=True)}


def _trade(
    v: Venue, res: LiquidationResult, market: MarketSnapshot, deltas: dict[Instrument, float] | None = None
) -> None:
    """Book the fills: volume, backstop takes, and the market taking each slice's delta (price impact)."""
    for f in res.fills:
        v.add_volume(f.notional_usd)
        if f.backstop:
            v.backstop += f.notional_usd
        else:  # the market takes the slice's delta (options: size × Black delta)
            u = f.instrument.base
            v.impact.add(u, f.size_coin * _delta(f.instrument, market, deltas) * market.index(u))


def _bad_debt(
    acc: str, res: LiquidationResult, market: MarketSnapshot, deltas: dict[Instrument, float] | None = None
) -> Debt:
    """The waterfall's view of a bankrupt account: its underlying with the most notional closed, the side of
    the derivatives closed there and that notional."""
    u_main = _main_underlying(res)
    fills_u = [f for f in res.fills if f.instrument.base == u_main]
    closed = sum(f.notional_usd for f in fills_u)
    # the side of the derivatives closed (a fill trades against the position: -size is its sign)
    held = sum(-f.size_coin * _delta(f.instrument, market, deltas) for f in fills_u)
    return (acc, res.bad_debt_usd, u_main, float(np.sign(held)), closed)


def _delta(inst: Instrument, market: MarketSnapshot, deltas: dict[Instrument, float] | None = None) -> float:
    """Delta per coin of a filled instrument: 1 for futures and perpetuals, Black delta for an option."""
    if inst.kind is not Kind.OPTION:
        return 1.0
    if deltas is not None:
        return deltas[inst]
    return float(resolve_instruments((inst,), market).delta[0])


def _main_underlying(res: LiquidationResult) -> str:
    notional: dict[str, float] = {}
    for f in res.fills:
        u = f.instrument.base
        notional[u] = notional.get(u, 0.0) + f.notional_usd
    return max(notional, key=lambda u: notional[u]) if notional else "BTC"
