"""The vault's PM mode equals the engine's ``pm`` with the ``pm-chain`` preset on random portfolios (issue 16).

Reference: ``PortfolioMargin("pm-chain").requirement`` (float64, scipy-free vectorised Black-76) on the same
book and market. Tolerance: 1e-6 relative (floor 1e-6 USD), the issue's target for the PM mode; the vault's
options are priced by Black76.vy (docs/chain.md for its error bounds).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import CollateralPolicy, PortfolioMargin
from xmargin.market import load_market
from xmargin.risk import Book

from ..conftest import EXAMPLES

pytest.importorskip("boa")

from xmargin.chain import LoadedVault, plan_pm

pytestmark = pytest.mark.slow

TOL = 1e-6
MARKET = load_market(EXAMPLES / "market.yaml")
MODELS = (
    PortfolioMargin("pm-chain"),
    PortfolioMargin("pm-chain", collateral=CollateralPolicy(haircuts={"BTC": 0.05, "ETH": 0.1})),
)
DELTA_ONE = ("BTC-PERPETUAL", "BTC-27DEC26", "BTC_USDC-PERPETUAL", "ETH-PERPETUAL", "ETH-27DEC26")
OPTIONS = (
    "BTC-27DEC26-100000-C",
    "BTC-27DEC26-80000-P",
    "BTC-26MAR27-120000-C",
    "BTC_USDC-27DEC26-90000-C",
    "BTC_USDC-27DEC26-95000-P",
    "ETH-27DEC26-3500-P",
)


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    collateral = {
        a: round(draw(st.floats(0.0, hi)), 6)
        for a, hi in (("BTC", 5.0), ("ETH", 60.0), ("USDC", 200_000.0))
        if draw(st.booleans())
    }
    names = draw(st.lists(st.sampled_from(DELTA_ONE), max_size=3, unique=True))
    names += draw(st.lists(st.sampled_from(OPTIONS), min_size=1, max_size=2, unique=True))
    positions = []
    for n in names:
        size = draw(st.floats(-10.0, 10.0).filter(lambda x: abs(x) > 1e-2))
        positions.append(Position(parse_name(n), round(size, 3)))
    return Portfolio("random", collateral, tuple(positions))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(pf=portfolios(), which=st.sampled_from(range(len(MODELS))))
def test_vault_pm_equals_engine(pf: Portfolio, which: int) -> None:
    model = MODELS[which]
    book = Book.from_portfolio(pf)
    h = LoadedVault(plan_pm(model, book, MARKET)).health_pm()
    r = model.requirement(book, MARKET, detail=False)
    assert h.prices_fresh
    for name, ours, ref in (
        ("equity", h.equity_usd, r.equity[0]),
        ("margin_balance", h.margin_balance_usd, r.margin_balance[0]),
        ("initial_margin", h.initial_margin_usd, r.initial_margin[0]),
        ("maintenance_margin", h.maintenance_margin_usd, r.maintenance_margin[0]),
    ):
        assert abs(ours - ref) <= TOL * max(abs(ref), 1.0), (name, ours, ref)
