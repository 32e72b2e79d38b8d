"""The conformance suite (``xmargin.testing``) on ``pm``: both presets and both P&L views, plus hypothesis
properties (scaling without size-dependent add-ons, permutation of positions, no mutation, unions)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import PortfolioMargin, load_pm_preset
from xmargin.risk import Book
from xmargin.testing import books, parametrize_margin_models

MARKET = books.example_market()
_DERIBIT = load_pm_preset("pm-deribit").model_dump()
_UNDAMPENED = {"extended": _DERIBIT["extended"] | {"dampener_usd": {}}}
"""The extended-table dampener takes a fixed amount off a loss: neither homogeneous nor subadditive."""
NO_CAP = _DERIBIT | {"long_options_at_premium": False} | _UNDAMPENED
NO_SIZE_ADDONS = (
    _DERIBIT | {"delta_shock": {"threshold_usd": 0.0, "max_fraction": 0.0, "slope": 0.0}} | _UNDAMPENED
)
MODELS = [
    PortfolioMargin("pm-deribit"),
    PortfolioMargin("pm-deribit", view="usd"),
    PortfolioMargin("pm-span"),
    PortfolioMargin(NO_CAP),
    PortfolioMargin(NO_CAP, view="usd"),
]
NAMES = [
    "BTC-PERPETUAL",
    "BTC-27DEC26",
    "BTC-27DEC26-100000-C",
    "BTC-27DEC26-90000-P",
    "BTC-26MAR27-110000-C",
    "ETH-27DEC26-4000-P",
    "ETH_USDC-PERPETUAL",
    "BTC_USDC-26MAR27-95000-C",
]


@parametrize_margin_models(MODELS)
def test_conformance(model: Any, check: Any) -> None:
    check(model)


sizes = st.floats(min_value=-20, max_value=20, allow_nan=False).filter(lambda x: abs(x) > 1e-3)
portfolios = st.dictionaries(st.sampled_from(NAMES), sizes, min_size=1, max_size=6).map(
    lambda d: Portfolio("p", {"USDC": 10_000.0}, tuple(Position(parse_name(n), q) for n, q in d.items()))
)


def _im(model: PortfolioMargin, pf: Portfolio) -> float:
    return float(model.requirement(Book.from_portfolio(pf), MARKET, detail=False).initial_margin[0])


def _union(a: Portfolio, b: Portfolio) -> Portfolio:
    merged: dict[Any, float] = {}
    for p in (*a.positions, *b.positions):
        merged[p.instrument] = merged.get(p.instrument, 0.0) + p.size_coin
    return Portfolio("u", {"USDC": 20_000.0}, tuple(Position(i, q) for i, q in merged.items()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios, st.floats(min_value=0.1, max_value=50), st.randoms(use_true_random=False))
def test_scaling_and_permutation(pf: Portfolio, k: float, rnd: Any) -> None:
    """Without size-dependent add-ons (the delta shock, the extended dampener), margin is positively
    homogeneous and order-free."""
    model = PortfolioMargin(NO_SIZE_ADDONS)
    base = _im(model, pf)
    assert np.isclose(_im(model, pf.scaled(k)), k * base, rtol=1e-9, atol=1e-6)
    shuffled = list(pf.positions)
    rnd.shuffle(shuffled)
    assert np.isclose(_im(model, Portfolio("p", pf.collateral, tuple(shuffled))), base, rtol=1e-12, atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios, portfolios)
def test_union_needs_no_more_than_the_parts(a: Portfolio, b: Portfolio) -> None:
    """The scenario charge is subadditive; with the premium cap a union stays under the uncapped parts."""
    for view in ("settlement", "usd"):
        plain = PortfolioMargin(NO_CAP, view=view)
        capped = PortfolioMargin("pm-deribit", view=view)
        bound = _im(plain, a) + _im(plain, b) + 1e-6
        assert _im(plain, _union(a, b)) <= bound
        assert _im(capped, _union(a, b)) <= bound


def test_dampener_is_size_dependent() -> None:
    """The dampener is a fixed USD amount: a short far-OTM call whose extended loss it wipes out at one size
    is charged for that loss at a hundred times the size, so the charge grows faster than the size."""
    model = PortfolioMargin("pm-deribit")
    assert not model.scales_linearly and not model.subadditive
    small = Portfolio("s", {}, (Position(parse_name("BTC-26MAR27-110000-C"), -0.5),))
    big = small.scaled(1000.0)
    bd_small = model.requirement(Book.from_portfolio(small), MARKET).breakdown[0]
    bd_big = model.requirement(Book.from_portfolio(big), MARKET).breakdown[0]
    assert max(c.weighted_loss_usd for c in bd_small.groups[0].pnl_grid.extended) == 0.0
    assert max(c.weighted_loss_usd for c in bd_big.groups[0].pnl_grid.extended) > 0.0


def test_delta_shock_is_size_dependent() -> None:
    """Deribit's delta shock applies above 20M USD of net delta: 300 BTC at 95k = 28.5M."""
    model = PortfolioMargin("pm-deribit", view="usd")
    small = Portfolio("s", {}, (Position(parse_name("BTC-PERPETUAL"), 3.0),))
    big = small.scaled(100.0)
    assert _im(model, big) > 100.0 * _im(model, small)
    bd = model.requirement(Book.from_portfolio(big), MARKET).breakdown[0]
    assert bd.groups[0].delta_shock_usd > 0
