"""Unit and golden tests of the ``isolated`` and ``cross`` models (``xmargin.margin._simple``).

Sources (../research/margin_methodology.md §3; presets/cross-binance.yaml):
- B1: Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts",
  https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93 — the ``cum`` recursion
  (250,000 × (1% − 0.5%) + 50 = 1,300) and the cross-margin example's lines
  BTCUSDT MM = 3,500,032.458 × 2.5% − 16,300 = 71,200.81 and ETHUSDT MM = 4,918,775.081 × 10% − 135,365
  = 356,512.51.
- B2: Binance "Updates to Leverage and Margin Tiers of Binance Futures Contracts (2021-03-18)": BTCUSDT tiers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import xmargin.margin._simple as simple
import xmargin.margin._standard as standard
from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import get_model
from xmargin.margin._simple import CrossMargin, IsolatedMargin, TierTable
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, resolve

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PRESETS = Path(simple.__file__).parent / "presets"


def market(**index: float) -> MarketSnapshot:
    prices = {"BTC": 100_000.0, "ETH": 2_000.0, "USDC": 1.0, **index}
    return MarketSnapshot(valuation_time=T0, index_usd=prices, vol={"BTC": 0.55, "ETH": 0.65})


def pf(
    positions: dict[str, Any], collateral: dict[str, float] | None = None, account: str = "a"
) -> Portfolio:
    out = []
    for name, spec in positions.items():
        size, avg = spec if isinstance(spec, tuple) else (spec, None)
        out.append(Position(parse_name(name), size, avg))
    return Portfolio(account, collateral or {}, tuple(out))


def run(model: Any, portfolio: Portfolio, mkt: MarketSnapshot | None = None) -> Any:
    return model.requirement(Book.from_portfolio(portfolio), mkt or market())


# -- Binance tiers (B1, B2) --------------------------------------------------------------------------------
def btc_tiers() -> TierTable:
    return CrossMargin("cross-binance").tiers["BTC"]


def test_cum_recursion_b1_faq() -> None:
    """B1: 250,000 × (1% − 0.5%) + 50 = 1,300; the next tier's cum is 16,300 (B1's BTCUSDT line)."""
    t = btc_tiers()
    assert t.cum_usd[1] == pytest.approx(50.0)
    assert t.cum_usd[2] == pytest.approx(250_000 * (0.01 - 0.005) + 50)
    assert t.cum_usd[2] == pytest.approx(1_300.0)
    assert t.cum_usd[3] == pytest.approx(16_300.0)


def test_btcusdt_mm_b1_example() -> None:
    """B1: BTCUSDT MM = 3,500,032.458 × 2.5% − 16,300 = 71,200.81 (TMM1 = 71,200.81144 in the FAQ)."""
    size = 3_500_032.458 / 100_000.0
    res = run(CrossMargin("cross-binance"), pf({"BTC_USDC-PERPETUAL": size}))
    assert float(res.maintenance_margin[0]) == pytest.approx(71_200.81, abs=0.005)
    assert float(res.maintenance_margin[0]) == pytest.approx(3_500_032.458 * 0.025 - 16_300, rel=1e-12)
    assert float(res.initial_margin[0]) == pytest.approx(3_500_032.458 / 20, rel=1e-12)  # B2: 20x in tier 4
    line = res.breakdown[0].instruments["BTC_USDC-PERPETUAL"]
    assert line.tier == 4 and line.notional_usd == pytest.approx(3_500_032.458)


def test_ethusdt_mm_b1_example() -> None:
    """B1: ETHUSDT MM = 4,918,775.081 × 10% − 135,365 = 356,512.51. xmargin's ETH tiers are a reconstruction
    (the preset says so); this is the one published number they are checked against."""
    size = 4_918_775.081 / 2_000.0
    res = run(CrossMargin("cross-binance"), pf({"ETH_USDC-PERPETUAL": size}))
    assert float(res.maintenance_margin[0]) == pytest.approx(356_512.51, abs=0.005)


def test_tier_boundaries_and_continuity() -> None:
    t = btc_tiers()
    floors = t.floor_usd
    np.testing.assert_array_equal(t.tier(floors), np.arange(t.n_tiers))  # a floor starts its tier
    below = floors[1:] * (1 - 1e-12)
    _, mm_below, tier_below = t.margin(below)
    _, mm_at, _ = t.margin(floors[1:])
    np.testing.assert_array_equal(tier_below, np.arange(t.n_tiers - 1))
    np.testing.assert_allclose(mm_below, mm_at, rtol=1e-9)  # the cum makes MM continuous (B1)
    assert t.margin(np.array([1e12]))[2][0] == t.n_tiers - 1  # beyond the last floor: the last tier


def test_b2_table_as_loaded() -> None:
    t = btc_tiers()
    np.testing.assert_allclose(1 / t.initial, [125, 100, 50, 20, 10, 5, 4, 3, 2, 1])
    np.testing.assert_allclose(
        t.cum_usd, [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300, 100_016_300]
    )


def test_inverse_future_tiered_in_coin() -> None:
    """An inverse future: the tier margin of notional |N|·F, converted to coin at F, valued at the index."""
    mkt = market().replace(marks_usd={"BTC-PERPETUAL": 125_000.0})
    res = run(CrossMargin("cross-binance"), pf({"BTC-PERPETUAL": -8.0}), mkt)  # notional 1,000,000: tier 4
    coin = (1_000_000 * 0.025 - 16_300) / 125_000.0
    assert float(res.maintenance_margin[0]) == pytest.approx(coin * 100_000.0, rel=1e-12)


# -- fixed ratios ----------------------------------------------------------------------------------------
def test_cross_fixed_ratios() -> None:
    res = run(CrossMargin(), pf({"BTC_USDC-PERPETUAL": 2.0, "BTC-PERPETUAL": -2.0, "ETH-PERPETUAL": 10.0}))
    assert float(res.initial_margin[0]) == pytest.approx(0.10 * (200_000 + 200_000 + 20_000))
    assert float(res.maintenance_margin[0]) == pytest.approx(0.05 * (200_000 + 200_000 + 20_000))
    model = CrossMargin()
    assert model.scales_linearly and model.subadditive
    tiered = CrossMargin("cross-binance")
    assert not tiered.scales_linearly and "tier" in tiered.scales_linearly_reason


# -- isolated vs cross -----------------------------------------------------------------------------------
def test_long_option_locks_its_premium_in_both() -> None:
    """A long option is paid in full and backs nothing else, pooled or not (``_ratio``): IM = MM = its value,
    so only the cash is available."""
    p = pf({"BTC-27DEC26-110000-C": 2.0}, {"USDC": 5_000.0})
    table = resolve(Book.from_portfolio(p), market())
    value = 2.0 * float(table.value_usd[table.is_option][0])
    for res in (run(IsolatedMargin(), p), run(CrossMargin(), p)):
        assert float(res.initial_margin[0]) == pytest.approx(value) == float(res.maintenance_margin[0])
        assert float(res.equity[0]) == pytest.approx(5_000.0 + value)
        assert float(res.available[0]) == pytest.approx(5_000.0)


def test_short_options_use_the_standard_formula() -> None:
    p = pf({"BTC-27DEC26-110000-C": -1.5, "ETH_USDC-27DEC26-1800-P": -4.0})
    want = run(standard.StandardMargin(), p)
    for model in (IsolatedMargin(), CrossMargin(), CrossMargin("cross-binance")):
        got = run(model, p)
        assert float(got.initial_margin[0]) == pytest.approx(float(want.initial_margin[0]), rel=1e-12)
        assert float(got.maintenance_margin[0]) == pytest.approx(float(want.maintenance_margin[0]), rel=1e-12)


def test_isolated_profits_do_not_back_other_positions() -> None:
    """Unrealised profits of futures are taken out of the isolated margin balance; losses stay in."""
    p = pf(
        {
            "BTC_USDC-PERPETUAL": (1.0, 90_000.0),  # +10,000 USD
            "BTC-PERPETUAL": (-1.0, 110_000.0),  # inverse short: 1 − 1.1 = +0.1 BTC = +10,000 USD
            "ETH_USDC-PERPETUAL": (10.0, 2_100.0),  # −1,000 USD
        },
        {"USDC": 50_000.0},
    )
    iso, cross = run(IsolatedMargin(), p), run(CrossMargin(), p)
    assert float(cross.equity[0]) == pytest.approx(50_000 + 10_000 + 10_000 - 1_000)
    assert float(cross.margin_balance[0]) == pytest.approx(float(cross.equity[0]))
    # the profits are locked with the positions' margins: they raise neither IM's cover nor available
    assert float(iso.margin_balance[0]) == pytest.approx(float(cross.margin_balance[0]))
    assert iso.breakdown[0].unrealised_profit_excluded_usd == pytest.approx(20_000.0)
    np.testing.assert_allclose(iso.initial_margin, cross.initial_margin + 20_000.0)
    assert float(iso.available[0]) == pytest.approx(50_000 - 1_000 - float(cross.initial_margin[0]))


def test_registered_by_name() -> None:
    assert isinstance(get_model("cross"), CrossMargin)
    assert isinstance(get_model("isolated", preset="cross-binance"), IsolatedMargin)
    assert get_model("cross").name == "cross" and get_model("isolated").name == "isolated"


# -- presets ---------------------------------------------------------------------------------------------
def _doc() -> dict[str, Any]:
    return yaml.safe_load((PRESETS / "cross-binance.yaml").read_text(encoding="utf-8"))


def _tier(d: dict[str, Any], i: int) -> dict[str, Any]:
    row: dict[str, Any] = d["futures"]["BTC"]["tiers"]["value"][i]
    return row


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.update(tiers=[]), "cross-binance.tiers"),
        (lambda d: _tier(d, 2).update(floor_usd=40_000), "cross-binance.futures.BTC.tiers[2].floor_usd"),
        (lambda d: _tier(d, 0).update(floor_usd=10), "cross-binance.futures.BTC.tiers[0].floor_usd"),
        (lambda d: _tier(d, 3).update(maintenance=0.001), "cross-binance.futures.BTC.tiers[3].maintenance"),
        (lambda d: _tier(d, 1).update(max_leverage=0.5), "cross-binance.futures.BTC.tiers[1].max_leverage"),
        (lambda d: _tier(d, 1).update(max_leverage=500), "cross-binance.futures.BTC.tiers[1].initial"),
        (lambda d: _tier(d, 1).update(mmr=0.1), "cross-binance.futures.BTC.tiers[1].mmr"),
        (lambda d: _tier(d, 1).update(initial=0.1), "cross-binance.futures.BTC.tiers[1]"),
        (lambda d: d["futures"]["ETH"].update(initial=0.1), "cross-binance.futures.ETH.initial"),
        (lambda d: d["options"]["im_base"].update(value=2), "cross-binance.options.im_base"),
    ],
)
def test_bad_preset_names_the_key(edit: Any, where: str) -> None:
    doc = _doc()
    edit(doc)
    with pytest.raises(InputError) as err:
        CrossMargin(doc)
    assert err.value.where == where


def test_fixed_preset_validation() -> None:
    doc = yaml.safe_load((PRESETS / "cross-fixed.yaml").read_text(encoding="utf-8"))
    doc["futures"]["default"]["maintenance"] = 0.2
    with pytest.raises(InputError) as err:
        IsolatedMargin(doc)
    assert err.value.where == "cross-fixed.futures.default.maintenance"


def test_isolated_short_option_is_liquidated_on_its_own_loss() -> None:
    """An isolated short call's balance is its margin plus the premium's change since entry (pinned at
    today's mark): the account's and the position's liquidation prices are the same price, where the
    position's own balance meets its own maintenance."""
    from xmargin.margin import account_report

    mkt = market()
    p = pf({"BTC-27DEC26-110000-C": -1.0}, {"USDC": 50_000.0})
    model = IsolatedMargin()
    report = account_report(model, p, mkt)
    pos = report.breakdown.positions["BTC-27DEC26-110000-C"]
    above = report.breakdown.liquidation_prices["BTC"].above
    assert above is not None and pos.liquidation_prices.above == pytest.approx(above, rel=1e-9)
    pinned = model.pin(Book.from_portfolio(p), mkt)
    x = model.entries(pinned, mkt.shifted("BTC", above / 100_000.0))
    k = [pinned.instruments[int(c)].kind.value for c in x.entries.cols].index("option")
    assert float(x.balance[k]) == pytest.approx(float(x.charges.mm[k]), rel=1e-6)
    assert float(x.upnl[k]) < 0  # the call's value rose: the short lost it
