"""Golden: Binance USDⓈ-M isolated margin, each position on its own margin (issue 12 #4).

Sources:
- B1: Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
  (https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93): for one position in isolated
  mode, ``LP = (WB + cumB − side·|N|·EP) / (|N|·MMR − side·|N|)`` with WB the isolated wallet balance.
  Its isolated example, as freqtrade's test suite reproduces it (freqtrade/freqtrade,
  tests/exchange/test_binance.py ``test_liquidation_price_binance``, case ``isolated``): BTCUSDT long
  109.488 at 32,481.98, isolated wallet 1,535,443.01, MMR 2.5%, maintenance amount 16,300 → LP 18,778.73.
- The issue's case: long 1 BTC at 60,000, 10x → WB = 60,000 / 10 = 6,000. With Binance's first BTCUSDT
  bracket (MMR 0.4%, maintenance amount 0) B1's formula gives (6,000 − 60,000) / (0.004 − 1) = 54,216.87;
  with the 2021 table shipped in ``cross-binance`` (B2: 60,000 is in the 0.5% / 50 bracket) 54,221.11.
Before: ``isolated`` used the whole account (100,000 USDC) and gave no liquidation price below.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import IsolatedMargin, account_report
from xmargin.market import MarketSnapshot

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
PERP = parse_name("BTC_USDT-PERPETUAL")
ONE_TIER = {
    "kind": "ratio",
    "name": "binance-btc-bracket-1",
    "futures": {"default": {"tiers": [{"floor_usd": 0, "max_leverage": 125, "maintenance": 0.004}]}},
    "options": {"im_base": 0.15, "im_floor": 0.10, "mm_base": 0.075},
}


def market(price: float) -> MarketSnapshot:
    return MarketSnapshot(valuation_time=T0, index_usd={"BTC": price, "USDT": 1.0, "USDC": 1.0})


def b1(wb: float, cum: float, size: float, entry: float, mmr: float) -> float:
    side = 1.0 if size > 0 else -1.0
    n = abs(size)
    return (wb + cum - side * n * entry) / (n * mmr - side * n)


def position_lp(model: Any, pf: Portfolio, price: float) -> float | None:
    report = account_report(model, pf, market(price))
    return report.breakdown.positions[PERP.name].liquidation_price


@pytest.mark.parametrize(
    ("preset", "want"),
    [(ONE_TIER, 54_216.87), ("cross-binance", 54_221.11)],
)
def test_long_1_btc_at_60000_with_10x_in_a_100k_account(preset: Any, want: float) -> None:
    pf = Portfolio("iso", {"USDC": 100_000.0}, (Position(PERP, 1.0, 60_000.0, leverage=10.0),))
    model = IsolatedMargin(preset)
    report = account_report(model, pf, market(60_000.0))
    pos = report.breakdown.positions[PERP.name]
    assert pos.margin == pytest.approx(6_000.0) and pos.allocation == "leverage"
    assert pos.liquidation_price == pytest.approx(want, abs=0.01)
    mmr, cum = (0.004, 0.0) if preset is ONE_TIER else (0.005, 50.0)
    assert pos.liquidation_price == pytest.approx(b1(6_000.0, cum, 1.0, 60_000.0, mmr), rel=1e-9)
    # the rest of the account does not stand behind the position: the account itself is liquidated there
    assert report.breakdown.liquidation_prices["BTC"].below == pytest.approx(pos.liquidation_price, rel=1e-9)
    assert report.initial_margin == pytest.approx(6_000.0) and report.available == pytest.approx(94_000.0)


def test_binance_faq_isolated_example() -> None:
    """B1's isolated BTCUSDT example (freqtrade's case): LP 18,778.73."""
    preset = {
        **ONE_TIER,
        "name": "b1-tier",
        "futures": {"default": {"tiers": [{"floor_usd": 0, "max_leverage": 20, "maintenance": 0.025}]}},
    }
    # one tier at 2.5% has no maintenance amount; B1's bracket has 16,300: carry it as extra isolated margin
    pf = Portfolio(
        "b1", {}, (Position(PERP, 109.488, 32_481.98, isolated_margin_usd=1_535_443.01 + 16_300.0),)
    )
    lp = position_lp(IsolatedMargin(preset), pf, 32_481.98)
    assert lp == pytest.approx(18_778.73, abs=0.01)
    assert lp == pytest.approx(b1(1_535_443.01, 16_300.0, 109.488, 32_481.98, 0.025), rel=1e-9)


def test_short_isolated_position_liquidates_above() -> None:
    pf = Portfolio("s", {"USDC": 50_000.0}, (Position(PERP, -2.0, 60_000.0, isolated_margin_usd=10_000.0),))
    lp = position_lp(IsolatedMargin(ONE_TIER), pf, 60_000.0)
    assert lp == pytest.approx(b1(10_000.0, 0.0, -2.0, 60_000.0, 0.004), rel=1e-9)
    assert lp is not None and lp > 60_000.0


def test_without_an_allocation_the_default_is_named() -> None:
    pf = Portfolio("d", {"USDC": 100_000.0}, (Position(PERP, 1.0),))
    report = account_report(IsolatedMargin(ONE_TIER), pf, market(60_000.0))
    pos = report.breakdown.positions[PERP.name]
    assert pos.allocation == "default" and pos.margin == pytest.approx(60_000.0 / 125)
    assert any("no leverage or isolated_margin given for BTC_USDT-PERPETUAL" in w for w in report.warnings)


def test_a_position_below_its_own_maintenance_makes_the_account_liquidatable() -> None:
    """100,000 USDC of cash does not save an isolated position whose own margin is gone."""
    pf = Portfolio("x", {"USDC": 100_000.0}, (Position(PERP, 1.0, 60_000.0, leverage=10.0),))
    report = account_report(IsolatedMargin(ONE_TIER), pf, market(54_000.0))
    assert report.breakdown.positions[PERP.name].status == "liquidatable"
    assert report.status == "liquidatable"
    assert report.margin_balance > report.maintenance_margin  # the account's cash is untouched
