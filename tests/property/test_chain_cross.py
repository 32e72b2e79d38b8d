"""The vault contract's cross margin equals the engine's ``cross`` on random portfolios (issue 16).

Reference: the engine's ``CrossMargin.requirement`` (float64) on the same book and market. Tolerance: 1e-9
relative (absolute floor 1e-9 USD for amounts near zero). The vault computes in 18-decimal fixed point, so the
difference is the engine's float rounding plus the vault's own (at most a few 1e-18 USD per term).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import CollateralPolicy, CrossMargin
from xmargin.market import load_market
from xmargin.risk import Book

from ..conftest import EXAMPLES

pytest.importorskip("boa")

from xmargin.chain import LoadedVault, plan_cross

pytestmark = pytest.mark.slow

TOL = 1e-9
INSTRUMENTS = (
    "BTC-PERPETUAL",
    "BTC-27DEC26",
    "BTC-26MAR27",
    "BTC_USDC-PERPETUAL",
    "ETH-PERPETUAL",
    "ETH-27DEC26",
    "BTC-27DEC26-100000-C",
    "BTC-27DEC26-80000-P",
    "BTC-27DEC26-95000-C",
    "BTC-27DEC26-110000-P",
    "BTC_USDC-27DEC26-90000-C",
    "ETH-27DEC26-3500-P",
)
COLLATERAL = ("BTC", "ETH", "USDC")
MARKET = load_market(EXAMPLES / "market.yaml")
MODELS = (
    CrossMargin(),
    CrossMargin(collateral=CollateralPolicy(haircuts={"BTC": 0.05, "ETH": 0.1, "USDC": 0.02})),
)


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    collateral = {
        a: draw(st.floats(0.0, hi, allow_nan=False).map(lambda x: round(x, 6)))
        for a, hi in zip(COLLATERAL, (5.0, 80.0, 300_000.0), strict=True)
        if draw(st.booleans())
    }
    names = draw(st.lists(st.sampled_from(INSTRUMENTS), min_size=1, max_size=8, unique=True))
    positions = []
    for n in names:
        size = draw(st.floats(-20.0, 20.0, allow_nan=False).filter(lambda x: abs(x) > 1e-3))
        inst = parse_name(n)
        entry = None
        if "-C" not in n[-2:] and "-P" not in n[-2:] and draw(st.booleans()):
            entry = draw(st.floats(0.5, 1.5)) * (95_000.0 if n.startswith("BTC") else 3_500.0)
        positions.append(Position(inst, round(size, 4), entry))
    return Portfolio("random", collateral, tuple(positions))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(pf=portfolios(), which=st.sampled_from(range(len(MODELS))))
def test_vault_cross_equals_engine(pf: Portfolio, which: int) -> None:
    market = MARKET
    model = MODELS[which]
    book = Book.from_portfolio(pf)
    h = LoadedVault(plan_cross(model, book, market)).health()
    r = model.requirement(book, market, detail=False)
    assert h.prices_fresh
    for name, ours, ref in (
        ("equity", h.equity_usd, r.equity[0]),
        ("margin_balance", h.margin_balance_usd, r.margin_balance[0]),
        ("initial_margin", h.initial_margin_usd, r.initial_margin[0]),
        ("maintenance_margin", h.maintenance_margin_usd, r.maintenance_margin[0]),
    ):
        assert abs(ours - ref) <= TOL * max(abs(ref), 1.0), (name, ours, ref)
