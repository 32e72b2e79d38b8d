"""CEX liquidation: partial, restores margin, fees to the insurance fund; the waterfall accounts for every
unit of bad debt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.liquidation import CexConfig, liquidate, waterfall
from xmargin.margin import get_model
from xmargin.risk import Book
from xmargin.testing import books

MARKET = books.example_market()
MODEL = get_model("pm")


def margin(pf: Portfolio) -> tuple[float, float]:
    r = MODEL.requirement(Book.from_portfolio(pf), MARKET, detail=False)
    return float(r.margin_balance[0]), float(r.maintenance_margin[0])


def test_partial_liquidation_restores_margin_and_keeps_the_rest() -> None:
    pf = Portfolio(
        "x",
        {"USDC": 30_000.0},
        (Position(parse_name("BTC_USDC-PERPETUAL"), 3.0), Position(parse_name("ETH_USDC-PERPETUAL"), 2.0)),
    )
    mb, mm = margin(pf)
    assert mb < mm  # starts liquidatable
    res = liquidate(MODEL, pf, MARKET, CexConfig(buffer=0.1, step=0.25))
    mb2, mm2 = margin(res.account)
    assert res.restored and mb2 >= 1.1 * mm2
    assert res.account.positions  # partial: something is left
    # the riskiest first: most MM relief per USD of notional; ETH moves ±18% in pm-deribit, BTC ±16%
    assert res.fills[0].instrument.name == "ETH_USDC-PERPETUAL"
    assert res.insurance_fee_usd == pytest.approx(sum(f.penalty_usd for f in res.fills))
    assert res.account.collateral["USDC"] == pytest.approx(30_000.0 - res.insurance_fee_usd)
    assert res.bad_debt_usd == 0.0


def test_a_healthy_account_is_left_alone() -> None:
    pf = Portfolio("ok", {"USDC": 1e6}, (Position(parse_name("BTC_USDC-PERPETUAL"), 1.0),))
    res = liquidate(MODEL, pf, MARKET)
    assert res.fills == () and res.account == pf and res.restored


def test_backstop_takes_what_the_market_cannot_absorb() -> None:
    pf = Portfolio("big", {"USDC": 100_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), 20.0),))
    res = liquidate(MODEL, pf, MARKET, CexConfig(depth_usd=600_000.0, step=0.25))
    assert any(f.backstop for f in res.fills) and not res.fills[0].backstop
    assert all(f.penalty_usd == 0.0 for f in res.fills if f.backstop)


def test_underwater_account_ends_with_bad_debt_not_a_negative_balance() -> None:
    pf = Portfolio("under", {"USDC": 1_000.0}, (Position(parse_name("BTC-27DEC26-90000-C"), -5.0),))
    mb, _ = margin(pf)
    assert mb < 0
    res = liquidate(MODEL, pf, MARKET, CexConfig(step=1.0))
    assert not res.account.positions
    # no fee out of margin that is not there: the whole deficit is bad debt, nothing went to the fund
    assert res.insurance_fee_usd == 0.0
    assert res.bad_debt_usd == pytest.approx(-mb, rel=1e-9)
    assert margin(res.account)[0] == pytest.approx(0.0, abs=1e-6)


def test_a_flat_underwater_account_sells_its_collateral_before_declaring_bad_debt() -> None:
    """ETH held against a USDC loan, no positions, worth less than the loan: the ETH is sold at index and
    only the rest is bad debt; the account keeps no price exposure (a review finding: it used to)."""
    eth = MARKET.index("ETH")
    pf = Portfolio("flat", {"ETH": 10.0, "USDC": -12.0 * eth}, ())
    res = liquidate(MODEL, pf, MARKET)
    assert res.fills == ()
    assert res.bad_debt_usd == pytest.approx(2.0 * eth, rel=1e-12)
    assert res.account.collateral == {"USDC": 0.0}


def test_when_no_single_close_lowers_the_requirement_every_position_is_cut_together() -> None:
    """A long future against two short calls (one risk group, BTC-settled): removing either leg alone
    raises MM, so the liquidator cuts both by a slice in the same step instead of unhedging the account."""
    pf = Portfolio(
        "hedged",
        {"BTC": 0.05},
        (Position(parse_name("BTC-27DEC26"), 1.0), Position(parse_name("BTC-27DEC26-90000-C"), -2.0)),
    )
    mb, mm = margin(pf)
    assert mb < mm
    alone = [
        margin(Portfolio("h", pf.collateral, tuple(q for q in pf.positions if q is not p)))[1]
        for p in pf.positions
    ]
    assert all(m > mm for m in alone)
    res = liquidate(MODEL, pf, MARKET, CexConfig(step=0.25))
    assert {f.instrument.name for f in res.fills[:2]} == {"BTC-27DEC26", "BTC-27DEC26-90000-C"}


@given(
    st.floats(0, 1e7),
    st.floats(0, 1e7),
    st.dictionaries(st.sampled_from(list("abcdef")), st.floats(-1e6, 1e6), max_size=6),
    st.sampled_from(["adl", "socialize"]),
)
def test_waterfall_accounts_for_every_unit(
    debt: float, fund: float, profits: dict[str, float], mode: str
) -> None:
    w = waterfall(debt, fund, mode=mode, profits_usd=profits, leverage={k: 2.0 for k in profits})
    assert w.insurance_used_usd + w.adl_usd + w.socialized_usd == pytest.approx(debt, rel=1e-9, abs=1e-6)
    assert 0.0 <= w.insurance_used_usd <= fund
    assert all(0 < v <= profits[a] + 1e-9 for a, v in w.adl_by_account.items())
    if mode == "socialize":
        assert w.adl_usd == 0.0


def test_adl_ranks_by_profit_times_leverage() -> None:
    w = waterfall(
        100.0, 30.0, profits_usd={"a": 50.0, "b": 40.0, "c": 80.0}, leverage={"a": 1, "b": 5, "c": 1}
    )
    assert w.insurance_used_usd == 30.0
    assert list(w.adl_by_account) == ["b", "c"] and w.adl_by_account == {"b": 40.0, "c": 30.0}
