"""The DEX keepers' turn on the screened sales only (``sim.dex._live``, ``Keepers.turn``).

The exact rules are the independent side: ``DutchAuction.status`` (Maker's ``getStatus``) and
``liquidation.keeper_bids`` decide, sale by sale, whether a turn would redo or a keeper would bid; the
screen must select every such sale. The keepers' order is checked against ``Generator.permutation`` called
once per sale, as the turn did before it skipped sales."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xmargin.liquidation import DutchAuction, StairstepExponentialDecrease, keeper_bids
from xmargin.sim import DexConfig, ReplayConfig, replay
from xmargin.sim.dex._auctions import Sale
from xmargin.sim.dex._keepers import _Orders
from xmargin.sim.dex._live import LiveSales

CURVE = StairstepExponentialDecrease(step_seconds=90.0, cut=0.99)
T0 = 1_584_000_000.0  # Unix seconds, as in a replay


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_skipped_orders_draw_what_one_permutation_per_sale_draws(n: int) -> None:
    plan = np.random.default_rng(n).integers(0, 3000, size=40)
    one, bulk = np.random.default_rng(7), np.random.default_rng(7)
    orders = _Orders(bulk, n)
    for k in plan:
        want = [one.permutation(n) for _ in range(int(k) + 1)][-1]  # k sales skipped, then one used
        orders.skip(int(k))
        assert orders.next().tolist() == want.tolist()
    assert bulk.bit_generator.state == one.bit_generator.state
    orders.skip(70_000)  # more than one chunk
    for _ in range(70_001):
        want = one.permutation(n)
    assert orders.next().tolist() == want.tolist()
    assert bulk.bit_generator.state == one.bit_generator.state


def _sale(rng: np.random.Generator, tail: float, cusp: float, chost: float) -> Sale:
    a = DutchAuction(buf=1.2, tail=tail, cusp=cusp, chip=0.001, tip=300.0, chost=chost, curve=CURVE)
    oracle = float(rng.uniform(5_000.0, 9_000.0))
    a.kick(
        float(rng.choice([50.0, 2_000.0, 9_000.0, 1e5, 3e6])),
        float(rng.choice([0.01, 0.5, 3.0, 40.0])),
        oracle,
        T0 - float(rng.uniform(0.0, 9_000.0)),
    )
    return Sale("acc", str(rng.choice(["BTC", "ETH"])), a, 0.0)


@pytest.mark.parametrize(("tail", "cusp"), [(5_400.0, 0.4), (20_000.0, 0.6), (600.0, 0.0)])
def test_the_screen_selects_every_sale_a_turn_would_redo_or_bid_on(tail: float, cusp: float) -> None:
    rng = np.random.default_rng(11)
    sales = [_sale(rng, tail, cusp, 8_475.0) for _ in range(600)]
    live = LiveSales(("BTC", "ETH"), CURVE, tail, cusp)
    live.add(sales)
    keepers = [(12.0, 50.0), (24.0, 50.0), (36.0, 20.0)]  # (latency s, gas USD)
    acted = 0
    for step in range(120):
        t = T0 + 12.0 * step
        market = {"BTC": float(rng.uniform(3_000.0, 9_000.0)), "ETH": float(rng.uniform(3_000.0, 9_000.0))}
        live.start_turn()
        redo = set(live.redo_rows(t).tolist())
        latest, least = max(k[0] for k in keepers), min(k[1] for k in keepers)
        pays = set(live.pay_rows(t, [market["BTC"], market["ETH"]], latest, least, 0).tolist())
        for row, s in enumerate(live.sales):
            a = s.auction
            if a.done:
                continue
            if a.status(t).needs_redo:
                assert row in redo
                acted += 1
                continue
            if any(keeper_bids(a, market[s.underlying], gas, lat, t) for lat, gas in keepers):
                assert row in pays
                acted += 1
        for row in sorted(redo):  # move the sales on, so that later steps see redone ones too
            s = live.sales[row]
            if s.auction.status(t).needs_redo:
                s.auction.redo(market[s.underlying] / 1.1, t)
                live.refresh(s)
    assert acted > 100  # the check met many sales that act


def test_the_screen_forgets_sales_that_are_over() -> None:
    rng = np.random.default_rng(3)
    sales = [_sale(rng, 5_400.0, 0.4, 0.0) for _ in range(600)]
    live = LiveSales(("BTC", "ETH"), CURVE, 5_400.0, 0.4)
    live.add(sales)
    for k, s in enumerate(sales):
        if k % 3:
            s.auction.close_out(0.0)
            live.refresh(s)
    assert live.alive_count == 200
    rank = live.start_turn()  # most rows over: compacted, the running ones kept in order
    assert live.n == 200 and rank.tolist() == list(range(1, 201))
    assert live.sales == sales[::3]
    assert live.redo_rows(T0 + 1e6).tolist() == list(range(200))


def test_a_replay_with_saturated_keepers_and_redos_equals_the_reference() -> None:
    """Black Thursday with two small keepers paying 500 USD of gas and a 30-minute ``tail``: sales queue for
    the keepers, most are redone many times; the screened turn must give the reference's report (every
    field but timing, the timeline included)."""
    dex = DexConfig(
        keepers=2,
        keeper_latency_blocks=(1, 3),
        keeper_capital_usd=50_000.0,
        keeper_gas_usd=500.0,
        tail_s=1_800.0,
    )
    cfg = ReplayConfig(clock_s=60.0, cex_tick_move=0.004, dex=dex)
    ref = replay("2020-03-12", "dex", accounts=150, seed=4, config=replace(cfg, reference=True))
    fast = replay("2020-03-12", "dex", accounts=150, seed=4, config=cfg)
    a, b = ref.as_dict(timeline=True), fast.as_dict(timeline=True)
    a.pop("timing")
    b.pop("timing")
    assert a["venue_detail"]["redos"] > 100 and a["venue_detail"]["takes"] > 10
    assert b == a
