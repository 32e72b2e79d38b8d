"""The ``mango`` model (preset ``mango-v4``) on xmargin books: the mapping to a Mango account, the conformance
suite on books Mango can hold, and bad input for instruments Mango does not list.

The reference for the mapping test is Mango's own health (``venues._mango.health``, checked against Mango's
tests in ``test_mango.py``) on the Mango account written out by hand from the model's docstring.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import resolve_model
from xmargin.margin.venues._mango import Account, Bank, HealthType, PerpMarket, PerpPosition, Prices, health
from xmargin.market import MarketSnapshot
from xmargin.risk import Book
from xmargin.testing import parametrize_margin_models

NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
MARKET = MarketSnapshot(NOW, index_usd={"BTC": 95000.0, "ETH": 3500.0, "USDC": 1.0, "SOL": 150.0})


def pf(account: str, collateral: dict[str, float], *positions: Position) -> Portfolio:
    return Portfolio(account, collateral, positions)


def pos(name: str, size: float, avg: float | None = None) -> Position:
    return Position(parse_name(name), size, avg)


BOOKS = (
    (
        pf(
            "perps",
            {"USDC": 20000.0, "ETH": 5.0},
            pos("BTC_USDC-PERPETUAL", 2.0, 94000.0),
            pos("ETH_USDC-PERPETUAL", -10.0),
        ),
        pf("borrow", {"USDC": 5000.0, "SOL": -20.0}),
        pf("empty", {}),
        pf("sol", {"SOL": 300.0}, pos("SOL_USDC-PERPETUAL", -250.0, 152.5)),
    ),
)


def test_model_is_mango_health_on_a_hand_mapped_account() -> None:
    model = resolve_model("mango-v4")
    res = model.requirement(Book.from_portfolios([BOOKS[0][0]]), MARKET)
    usdc = Bank(Prices(1.0), 1.0, 1.0, 1.0, 1.0)
    eth = Bank(Prices(3500.0), 0.8, 1.2, 0.9, 1.1)
    btc_perp = PerpMarket(Prices(95000.0), 0.95, 1.05, 0.975, 1.025, 0.9, 0.95, base_lot_size=0.0001)
    eth_perp = PerpMarket(Prices(3500.0), 0.95, 1.05, 0.975, 1.025, 0.9, 0.95, base_lot_size=0.0001)
    account = Account(
        [usdc, eth],
        [20000.0, 5.0],
        (),
        [PerpPosition(btc_perp, 20000, -188000.0), PerpPosition(eth_perp, -100000, 35000.0)],
    )
    value = 20000.0 + 5 * 3500.0 + 2 * 95000.0 - 188000.0
    assert res.equity[0] == pytest.approx(value, rel=1e-12)
    assert res.available[0] == pytest.approx(health(account, HealthType.INIT).health, rel=1e-12)
    assert res.gap[0] == pytest.approx(health(account, HealthType.MAINT).health, rel=1e-12)


def test_borrow_is_liquidatable_exactly_when_maint_health_is_negative() -> None:
    model = resolve_model("mango-v4")
    # 20 SOL borrowed at 150 (3000 USD), maint liab weight 1.1 → 3300 of USDC needed
    for usdc, liquidatable in [(3299.0, True), (3300.0, False)]:
        book = Book.from_portfolios([pf("b", {"USDC": usdc, "SOL": -20.0})])
        assert bool(model.requirement(book, MARKET).liquidatable[0]) is liquidatable


def test_sizes_off_the_lot_are_rounded_with_a_warning() -> None:
    book = Book.from_portfolios([pf("x", {"USDC": 1000.0}, pos("BTC_USDC-PERPETUAL", 0.00017))])
    res = resolve_model("mango-v4").requirement(book, MARKET)
    assert any("rounded to 2 base lots" in w for w in res.warnings)


@pytest.mark.parametrize(
    ("name", "found"),
    [("BTC-PERPETUAL", "an inverse or non-USDC contract"), ("BTC-27DEC26-100000-C", "an option")],
)
def test_instruments_mango_does_not_list_are_bad_input(name: str, found: str) -> None:
    book = Book.from_portfolios([pf("x", {"USDC": 1000.0}, pos(name, 1.0))])
    market = MarketSnapshot(NOW, index_usd={"BTC": 95000.0, "USDC": 1.0}, vol={"BTC": 0.5})
    with pytest.raises(InputError) as err:
        resolve_model("mango-v4").requirement(book, market)
    assert err.value.where == name
    assert err.value.found == found


@parametrize_margin_models(["mango-v4"], market=MARKET, books=BOOKS)
def test_conformance(model: object, check: object) -> None:
    check(model)  # type: ignore[operator]
