"""Golden: Deribit's ``private/pme/simulate`` responses, field by field, and the parts of initial margin that
Deribit documents but does not publish a worked case for.

Published responses (numbers in coin; see docs/margin.md "pm-deribit", reproduction table):

- **D2** — the response example of Deribit's API reference for ``private/pme/simulate``
  (https://docs.deribit.com/api-reference/account-management/private-simulate, BTC, timestamp
  1718619740501 = 2024-06-17 10:22:20.501 UTC): BTC-PERPETUAL +0.314538364, BTC-28JUN24 −0.001187534,
  index 65666.19. It publishes ``initial_risk_vectors`` per instrument (standard and extended),
  ``aggregated_risk_vectors.btc_btc`` (extended: eight zeros), the worst case, roll shock, risk-matrix margin,
  maintenance margin, and ``mmp_margin`` 0.06 / ``open_orders_margin`` 0.000018212 without the MMP settings
  or the orders behind them.
- **D3** — a live response for ETH captured on 2026-02-15 in a public file (same fields as D2):
  ETH-PERPETUAL −0.999487053, index 1949.34; ``mmp_margin`` and ``open_orders_margin`` 0; aggregated extended
  vector eight zeros; ``initial_margin`` 0.157461562.

Documented without a worked case (each tested against its own formula, computed here independently):

- extended-table dampener (D1 names it; D2/D3 publish ``extended_dampener`` per currency): a weighted
  extended loss falls by ``(max(|m|/range, 1) − 1) · dampener / (1 + sign(m)·range)`` USD, floored at 0;
- MMP margin: ``3% × max(MQQ, quantity limit)`` (Deribit API ``private/set_mmp_config``; KB "25 November
  2025");
- open-orders margin: Deribit charges it under PM (KB "18 August 2022") but publishes no method; xmargin's
  rule (the larger rise of IM with every bid or every ask filled) is checked against runs of the filled books.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from xmargin.core import InputError, InputErrors
from xmargin.instruments import MmpConfig, Order, Portfolio, Position, parse_name, portfolio_from_mapping
from xmargin.margin import PmBreakdown, PmGroup, get_model
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

TOL_COIN = 1e-12
D2_AT = datetime(2024, 6, 17, 10, 22, 20, 501000, tzinfo=UTC)
D2_INDEX = 65666.19
D3_AT = datetime(2026, 2, 15, 23, 20, 9, 587000, tzinfo=UTC)
D3_INDEX = 1949.34

# D2 initial_risk_vectors (coin): standard entries are bucket-major with 3 equal vol entries per bucket for
# these delta-one instruments, so one value per bucket (−16% … +16%); extended: −66%, −33%, +50% … +500%.
D2_PERP_STANDARD = (
    -0.05991206933333334,
    -0.04289159509090909,
    -0.027351162086956524,
    -0.013105765166666668,
    0.0,
    0.012097629384615385,
    0.023299138074074074,
    0.033700538999999995,
    0.043384601931034494,
)
D2_PERP_EXTENDED = (-0.05991206933333334,) * 2 + (0.04338460193103449,) * 6
D2_FUT_STANDARD = (
    0.0002261969523809524,
    0.00016193645454545456,
    0.00010326382608695652,
    0.00004948058333333334,
    0.0,
    -0.00004567438461538462,
    -0.00008796548148148148,
    -0.0001272357857142857,
    -0.00016379779310344832,
)
D2_FUT_EXTENDED = (0.0002261969523809524,) * 2 + (-0.0001637977931034483,) * 6
D3_PERP_STANDARD = (
    0.21939959699999997,
    0.155989308849711,
    0.09885036787912087,
    0.04709624857068063,
    0.0,
    -0.04304011233014354,
    -0.08252645391743119,
    -0.11888171996035243,
    -0.15246412672881357,
)
D3_PERP_EXTENDED = (0.21939959699999997,) * 2 + (-0.15246412672881357,) * 6


def _market(at: datetime, coin: str, index: float) -> MarketSnapshot:
    return MarketSnapshot(valuation_time=at, index_usd={coin: index})


def _run(pf: Portfolio, market: MarketSnapshot, preset: Any = None) -> tuple[float, float, PmBreakdown]:
    r = get_model("pm", preset=preset).requirement(Book.from_portfolio(pf), market)
    bd = r.breakdown[0]
    assert isinstance(bd, PmBreakdown)
    return float(r.initial_margin[0]), float(r.maintenance_margin[0]), bd


def _pf(positions: dict[str, float], **extra: Any) -> Portfolio:
    return Portfolio("golden", {}, tuple(Position(parse_name(n), q) for n, q in positions.items()), **extra)


def _group(bd: PmBreakdown) -> PmGroup:
    [group] = bd.groups
    return group


def _vectors(group: PmGroup, index: float) -> tuple[list[float], list[float]]:
    """(standard P&L at unchanged vol per bucket, extended P&L after its weight), in coin."""
    grid = group.pnl_grid
    flat = grid.vol_shocks.index(0)
    return [x / index for x in grid.pnl_usd[flat]], [c.pnl_usd * c.weight / index for c in grid.extended]


@pytest.mark.parametrize(
    ("name", "size", "standard", "extended"),
    [
        ("BTC-PERPETUAL", 0.314538364, D2_PERP_STANDARD, D2_PERP_EXTENDED),
        ("BTC-28JUN24", -0.001187534, D2_FUT_STANDARD, D2_FUT_EXTENDED),
    ],
)
def test_deribit_pme_simulate_response_example_btc_initial_risk_vectors(
    name: str, size: float, standard: tuple[float, ...], extended: tuple[float, ...]
) -> None:
    _, _, bd = _run(_pf({name: size}), _market(D2_AT, "BTC", D2_INDEX))
    std, ext = _vectors(_group(bd), D2_INDEX)
    assert std == pytest.approx(standard, abs=TOL_COIN)
    assert ext == pytest.approx(extended, abs=TOL_COIN)


def test_deribit_pme_simulate_response_example_btc_margins() -> None:
    """D2: the aggregated extended vector is eight zeros because the dampener (100,000 USD for btc) exceeds
    every extended loss; risk-matrix margin and MM as published. IM without the (unpublished) MMP settings
    and orders is the risk-matrix margin; with them Deribit's IM is their sum (0.122861343)."""
    pf = _pf({"BTC-PERPETUAL": 0.314538364, "BTC-28JUN24": -0.001187534})
    im, mm, bd = _run(pf, _market(D2_AT, "BTC", D2_INDEX))
    group = _group(bd)
    cells = group.pnl_grid.extended
    assert [c.weighted_loss_usd for c in cells] == [0.0] * 8  # aggregated_risk_vectors.btc_btc.extended
    # without the dampener the two downside cells would lose the worst case itself
    assert [c.dampener_usd / D2_INDEX for c in cells[:2]] == pytest.approx(
        [0.05968587238095239] * 2, abs=1e-12
    )
    _, _, bare = _run(pf, _market(D2_AT, "BTC", D2_INDEX), preset=_undamped())
    assert _group(bare).pnl_grid.extended[0].weighted_loss_usd / D2_INDEX == pytest.approx(
        0.05968587238095239, abs=1e-12
    )
    assert group.worst_loss_usd / D2_INDEX == pytest.approx(0.05968587238095239, abs=1e-12)
    assert group.worst_scenario.kind == "standard"
    assert group.worst_scenario.price_move == pytest.approx(-0.16)
    assert im / D2_INDEX == pytest.approx(0.06284313098, abs=1e-9)  # risk_matrix_margin
    worst, roll = group.worst_loss_usd / D2_INDEX, group.roll_shock_usd / D2_INDEX
    assert round(worst, 9) + roll == pytest.approx(0.06284313098, abs=1e-12)  # Deribit rounds the worst case
    assert mm / D2_INDEX == pytest.approx(0.050274504784, abs=1e-9)  # maintenance_margin
    assert bd.mmp_margin_usd == 0.0 and bd.open_orders_margin_usd == 0.0


def test_deribit_pme_simulate_live_eth_2026_02_15() -> None:
    """D3, every published margin field and both vectors; no MMP and no orders: IM = risk-matrix margin."""
    im, mm, bd = _run(_pf({"ETH-PERPETUAL": -0.999487053}), _market(D3_AT, "ETH", D3_INDEX))
    group = _group(bd)
    std, ext = _vectors(group, D3_INDEX)
    assert std == pytest.approx(D3_PERP_STANDARD, abs=TOL_COIN)
    assert ext == pytest.approx(D3_PERP_EXTENDED, abs=TOL_COIN)
    assert [c.weighted_loss_usd for c in group.pnl_grid.extended] == [0.0] * 8  # aggregated: eight zeros
    assert group.worst_loss_usd / D3_INDEX == pytest.approx(0.15246412672881357, abs=1e-12)
    assert group.roll_shock_usd / D3_INDEX == pytest.approx(0.004997435265, abs=1e-12)
    assert group.delta_shock_usd == 0.0
    assert bd.mmp_margin_usd == 0.0 and bd.open_orders_margin_usd == 0.0
    assert im / D3_INDEX == pytest.approx(0.157461562, abs=1e-9)  # initial_margin (published to 9 dp)
    assert mm / D3_INDEX == pytest.approx(0.125969249812, abs=1e-9)
    # Deribit's risk_matrix_margin is the worst case rounded to 9 decimals plus the roll shock (so are D2's):
    # the one step xmargin does not take, worth < 5e-10 coin
    worst, roll = group.worst_loss_usd / D3_INDEX, group.roll_shock_usd / D3_INDEX
    assert round(worst, 9) + roll == pytest.approx(0.157461562265, abs=1e-12)


def _undamped() -> dict[str, Any]:
    from xmargin.margin import load_pm_preset

    doc = load_pm_preset("pm-deribit").model_dump()
    doc["extended"]["dampener_usd"] = {}
    doc["name"] = "pm-deribit-undamped"
    return doc


def test_dampener_formula_when_it_binds_in_part() -> None:
    """A short perpetual large enough that every extended loss exceeds its dampener: each extended cell's
    loss is the weighted loss less (max(|m|/r, 1) − 1)·D/(1 + sign(m)·r), D = 200,000 USD (eth)."""
    size, r, d = -5000.0, 0.18, 200000.0
    _, _, bd = _run(_pf({"ETH-PERPETUAL": size}), _market(D3_AT, "ETH", D3_INDEX))
    _, _, bare = _run(_pf({"ETH-PERPETUAL": size}), _market(D3_AT, "ETH", D3_INDEX), preset=_undamped())
    for cell, raw in zip(_group(bd).pnl_grid.extended, _group(bare).pnl_grid.extended, strict=True):
        m = cell.price_move
        amount = (max(abs(m) / r, 1.0) - 1.0) * d / (1.0 + (1.0 if m > 0 else -1.0) * r)
        assert cell.weighted_loss_usd == pytest.approx(max(raw.weighted_loss_usd - amount, 0.0), rel=1e-12)
    # the +50% cell: the loss of a short inverse perpetual at +18%, in USD, less the dampener
    edge_loss = -size * (1.0 - 1.0 / 1.18) * D3_INDEX
    damp_50 = (0.5 / r - 1.0) * d / 1.18
    plus_50 = next(c for c in _group(bd).pnl_grid.extended if c.price_move == 0.5)
    assert plus_50.weighted_loss_usd == pytest.approx(edge_loss - damp_50, rel=1e-12)
    assert plus_50.dampener_usd == pytest.approx(damp_50, rel=1e-12)


def test_mmp_margin_three_percent_of_max_mqq_quantity_limit() -> None:
    """IM rises by 3% × max(MQQ, quantity limit) × index per configuration; MM does not move."""
    base = {"BTC-PERPETUAL": 0.314538364}
    market = _market(D2_AT, "BTC", D2_INDEX)
    im0, mm0, _ = _run(_pf(base), market)
    cfgs = (
        MmpConfig("BTC", quantity_limit=5.0, max_quote_quantity=8.0),  # MQQ above the limit: 8
        MmpConfig("BTC", quantity_limit=0.0, delta_limit=4.0),  # no MQQ, no quantity limit: MQQ = delta limit
        MmpConfig("BTC", quantity_limit=3.0, max_quote_quantity=1.0),  # quantity limit above MQQ: 3
    )
    im, mm, bd = _run(_pf(base, mmp=cfgs), market)
    expected = 0.03 * (8.0 + 4.0 + 3.0) * D2_INDEX
    assert bd.mmp_margin_usd == pytest.approx(expected, rel=1e-12)
    assert im == pytest.approx(im0 + expected, rel=1e-12)
    assert mm == mm0


def test_open_orders_margin_is_the_worse_side_filled() -> None:
    """Orders are margined as the larger rise of IM when every bid, or every ask, is filled: checked against
    the model run on the filled books, and in closed form for a lone bid on an empty account."""
    market = _market(D2_AT, "BTC", D2_INDEX)
    perp, fut = parse_name("BTC-PERPETUAL"), parse_name("BTC-28JUN24")
    orders = (Order(perp, 0.2), Order(fut, 0.5), Order(perp, -0.4))
    held = {"BTC-PERPETUAL": 0.314538364, "BTC-28JUN24": -0.001187534}
    im, mm, bd = _run(_pf(held, open_orders=orders), market)
    im0, mm0, _ = _run(_pf(held), market)
    im_bid, _, _ = _run(_pf({"BTC-PERPETUAL": 0.314538364 + 0.2, "BTC-28JUN24": -0.001187534 + 0.5}), market)
    im_ask, _, _ = _run(_pf({"BTC-PERPETUAL": 0.314538364 - 0.4, "BTC-28JUN24": -0.001187534}), market)
    assert bd.open_orders_margin_usd == pytest.approx(max(im_bid, im_ask, im0) - im0, rel=1e-12)
    assert bd.open_orders_margin_usd > 0.0
    assert im == pytest.approx(im0 + bd.open_orders_margin_usd, rel=1e-12)
    assert mm == mm0
    # a lone 1 BTC bid on an inverse perpetual: its loss at −16% in coin, 1/0.84 − 1, plus the 1% roll
    im1, _, bd1 = _run(_pf({}, open_orders=(Order(perp, 1.0),)), market)
    assert bd1.open_orders_margin_usd / D2_INDEX == pytest.approx(1.0 / 0.84 - 1.0 + 0.01, rel=1e-12)
    assert im1 == bd1.open_orders_margin_usd


def test_orders_that_only_reduce_risk_cost_nothing() -> None:
    market = _market(D2_AT, "BTC", D2_INDEX)
    im, _, bd = _run(
        _pf({"BTC-PERPETUAL": 1.0}, open_orders=(Order(parse_name("BTC-PERPETUAL"), -0.5),)), market
    )
    assert bd.open_orders_margin_usd == 0.0
    assert im == _run(_pf({"BTC-PERPETUAL": 1.0}), market)[0]


def test_portfolio_file_orders_and_mmp_round_trip_through_the_book() -> None:
    doc = {
        "account": "mm",
        "positions": {"BTC-PERPETUAL": 1.0},
        "open_orders": [
            {"instrument": "BTC-28JUN24", "size": 0.5},
            {"instrument": "BTC-PERPETUAL", "size": -2},
        ],
        "mmp": {"BTC": {"quantity_limit": 2, "max_quote_quantity": 3}, "ETH": [{"delta_limit": 1}]},
    }
    pf = portfolio_from_mapping(doc)
    assert [(o.instrument.name, o.size_coin) for o in pf.open_orders] == [
        ("BTC-28JUN24", 0.5),
        ("BTC-PERPETUAL", -2.0),
    ]
    assert [m.reserved_coin for m in pf.mmp] == [3.0, 1.0]
    book = Book.from_portfolios([pf, _pf({"BTC-PERPETUAL": -1.0})])
    back = book.row(0).portfolio(0)
    assert sorted((o.instrument.name, o.size_coin) for o in back.open_orders) == [
        ("BTC-28JUN24", 0.5),
        ("BTC-PERPETUAL", -2.0),
    ]
    assert back.mmp == pf.mmp
    assert book.row(1).portfolio(0).open_orders == ()


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"open_orders": [{"instrument": "BTC-PERPETUAL", "size": 0}]}, "open_orders.0.size"),
        ({"open_orders": [{"instrument": "BTC", "size": 1}]}, "open_orders.0.instrument"),
        ({"mmp": {"BTC": {"quantity_limit": -1}}}, "mmp.BTC.quantity_limit"),
        ({"mmp": {"BTC-PERPETUAL": {"quantity_limit": 1}}}, "mmp.BTC-PERPETUAL"),
    ],
)
def test_bad_orders_and_mmp_name_where(doc: dict[str, Any], where: str) -> None:
    with pytest.raises((InputError, InputErrors)) as info:
        portfolio_from_mapping(doc)
    assert where in str(info.value)
