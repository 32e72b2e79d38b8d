"""Golden: Deribit portfolio margin on Deribit's own published numbers.

Sources (see docs/margin.md):
- G1: a live Deribit ``private/pme/simulate`` response for ETH (2026-02-15): ETH-PERPETUAL −0.999487053 ETH,
  index 1949.34, price range ±18%: worst case 0.15246412672881357 ETH (at +18%), roll shock
  0.005 × 0.999487053, risk-matrix margin 0.157461562265 ETH, maintenance 0.8 × that = 0.125969249812 ETH.
- G2: the example response of Deribit's API reference for ``private/pme/simulate`` (BTC, 2024-06-17
  10:22:20.5 UTC): BTC-PERPETUAL +0.314538364, BTC-28JUN24 −0.001187534, index 65666.19: worst case
  0.05968587238095239 BTC (at −16%), roll shock 0.00315725898 BTC, risk-matrix margin 0.06284313098 BTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import PmBreakdown, get_model
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

TOL_COIN = 1e-9


def _run(
    positions: dict[str, float], index: dict[str, float], at: datetime
) -> tuple[float, float, PmBreakdown]:
    pf = Portfolio("golden", {}, tuple(Position(parse_name(n), q) for n, q in positions.items()))
    market = MarketSnapshot(valuation_time=at, index_usd=index)
    r = get_model("pm").requirement(Book.from_portfolio(pf), market)
    coin = next(iter(index))
    bd = r.breakdown[0]
    assert isinstance(bd, PmBreakdown)
    return float(r.initial_margin[0]) / index[coin], float(r.maintenance_margin[0]) / index[coin], bd


def test_g1_eth_short_perpetual() -> None:
    im, mm, bd = _run(
        {"ETH-PERPETUAL": -0.999487053}, {"ETH": 1949.34}, datetime(2026, 2, 15, 12, tzinfo=UTC)
    )
    [group] = bd.groups
    assert group.worst_loss_usd / 1949.34 == pytest.approx(0.15246412672881357, abs=TOL_COIN)
    assert group.worst_scenario.price_move > 0
    assert group.roll_shock_usd / 1949.34 == pytest.approx(0.004997435265, abs=TOL_COIN)
    assert im == pytest.approx(0.157461562265, abs=TOL_COIN)
    assert mm == pytest.approx(0.125969249812, abs=TOL_COIN)


def test_g2_btc_perpetual_and_future() -> None:
    at = datetime(2024, 6, 17, 10, 22, 20, 501000, tzinfo=UTC)
    im, mm, bd = _run({"BTC-PERPETUAL": 0.314538364, "BTC-28JUN24": -0.001187534}, {"BTC": 65666.19}, at)
    [group] = bd.groups
    assert group.worst_loss_usd / 65666.19 == pytest.approx(0.05968587238095239, abs=TOL_COIN)
    assert group.worst_scenario.price_move < 0  # −16%, or an extended move scaled to the same loss
    assert group.roll_shock_usd / 65666.19 == pytest.approx(0.00315725898, abs=TOL_COIN)
    assert im == pytest.approx(0.06284313098, abs=TOL_COIN)
    assert mm == pytest.approx(0.8 * 0.06284313098, abs=TOL_COIN)


def test_lone_future_closed_form_usd_view() -> None:
    """A lone linear future under pm (USD view): size × price × the largest move, plus the roll add-on."""
    at = datetime(2026, 11, 25, 8, tzinfo=UTC)
    inst = parse_name("BTC_USDC-26MAR27")
    pf = Portfolio("f", {}, (Position(inst, 2.0),))
    market = MarketSnapshot(
        valuation_time=at, index_usd={"BTC": 95000.0, "USDC": 1.0}, marks_usd={"BTC_USDC-26MAR27": 96000.0}
    )
    model = get_model("pm", view="usd")
    r = model.requirement(Book.from_portfolio(pf), market)
    t = (inst.expiry - at).total_seconds() / (365 * 86400)  # type: ignore[operator]
    import math

    roll = max(math.expm1(0.075 * t), 0.01) * 2.0 * 95000.0
    assert float(r.initial_margin[0]) == pytest.approx(2.0 * 96000.0 * 0.16 + roll, rel=1e-12)
