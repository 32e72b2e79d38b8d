"""The DEX's block loop: at every block the market moves, the push oracles observe it, the accounts below
maintenance at the oracle are kicked, the keepers redo and bid (on the sales where that can happen:
``_live``), and the transactions due in the block land.
At the end of the window what is still for sale is closed out at the market and every kick is netted."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from xmargin.liquidation import StairstepExponentialDecrease
from xmargin.oracle import PushOracle
from xmargin.sim._report import ReplayReport
from xmargin.sim._venue import Venue
from xmargin.sim.dex._auctions import AuctionBook
from xmargin.sim.dex._keepers import Keepers
from xmargin.sim.dex._kick import Kicker
from xmargin.sim.dex._live import LiveSales


def replay_dex(v: Venue) -> ReplayReport:
    """Run the DEX through the whole path on ``v``, block by block, and report."""
    cfg = v.config.dex
    curve = StairstepExponentialDecrease(step_seconds=cfg.step_s, cut=cfg.cut)
    live = LiveSales(v.path.underlyings, curve, cfg.tail_s, cfg.cusp)
    keepers = Keepers(v, np.random.default_rng(v.seed + 1), live)
    oracles = {u: PushOracle(cfg.oracle) for u in v.path.underlyings}
    kicker = Kicker(v, oracles, curve)
    book = AuctionBook(v)
    t_blocks, logf = v.grid()
    market_px: dict[str, float] = {}
    kick_latencies: list[float] = []
    t0 = time.perf_counter()
    for b in range(t_blocks.size):
        t = float(t_blocks[b])
        v.impact.decay_to(t)
        for u in v.path.underlyings:
            market_px[u] = v.price(u, float(logf[u][b]))
        moved = {u: oracles[u].price for u in v.path.underlyings if oracles[u].observe(t, market_px[u])}
        v.oracle_px.update(moved)
        if moved:
            v.move_engine(moved)
            rows = v.liquidatable()
            if rows.size:
                s = time.perf_counter()
                sales = kicker.kick(rows, t, market_px)
                book.open(sales)
                live.add(sales)
                kick_latencies.append((time.perf_counter() - s) / rows.size)
        if v.config.reference:  # keepers: redo what needs it, then bid, on every sale
            for sale in book.running():
                keepers.act(sale, oracles[sale.underlying].price, market_px[sale.underlying], t)
        elif live.alive_count:  # the same, on the sales where a redo or a paying bid is possible
            keepers.turn(live, t, {u: o.price for u, o in oracles.items()}, market_px)
        keepers.land(t, market_px, book.settle)
        v.record_due(t, market_px)
    book.close_out(market_px)
    v.restate_last_point()  # the close-outs happen after the last point: it shows the final fund and debt
    timing = _timing(time.perf_counter() - t0, kick_latencies)
    return v.report("dex", _detail(v, oracles, kicker, book, keepers, blocks=t_blocks.size), timing)


def _detail(
    v: Venue,
    oracles: Mapping[str, PushOracle],
    kicker: Kicker,
    book: AuctionBook,
    keepers: Keepers,
    *,
    blocks: int,
) -> dict[str, Any]:
    return {
        "blocks": blocks,
        "block_s": v.config.clock_s,
        "oracle_updates": {u: o.updates for u, o in oracles.items()},
        "auctions": len(book.sales),
        "auction_groups": len(book.groups),
        "settled_groups": len(book.settled),
        "dust_closeouts": kicker.dust_closeouts,
        "redos": keepers.redos,
        "takes": keepers.takes,
        "reverted_takes": keepers.reverted_takes,
        "keeper_incentives_usd": v.incentives,
        "keeper_incentives_paid_by_fund_usd": v.incentive_paid,
        "keeper_incentives_socialized_usd": v.system_socialized,
        "closed_out_at_end": book.closed_out_at_end,
        "keeper_discount_pct": keepers.discount_pct(),
        "keepers": keepers.summary(),
    }


def _timing(wall_s: float, kick_latencies: list[float]) -> dict[str, float]:
    lat = np.array(kick_latencies) * 1e3
    return {
        "wall_s": wall_s,
        "kick_latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else 0.0,
        "kick_latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else 0.0,
    }
