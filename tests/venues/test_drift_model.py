"""The ``drift`` model (preset ``drift-v2``) on xmargin books: the mapping to a Drift user, the conformance
suite on books Drift can hold, and bad input for instruments Drift does not list.

The reference for the mapping test is Drift's own arithmetic (``venues._drift.margin_calculation``, checked
against Drift's tests in ``test_drift.py``) on the Drift user written out by hand from the docstring's mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import resolve_model
from xmargin.margin.venues._drift import (
    BASE,
    PRICE,
    MarginType,
    Markets,
    PerpMarket,
    PerpPosition,
    SpotMarket,
    SpotPosition,
    User,
    margin_calculation,
)
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
            {"USDC": 20000.0, "BTC": 0.5},
            pos("BTC_USDC-PERPETUAL", 2.0, 94000.0),
            pos("ETH_USDC-PERPETUAL", -10.0),
        ),
        pf("borrow", {"USDC": 5000.0, "SOL": -20.0}),
        pf("empty", {}),
        pf("sol", {"SOL": 300.0}, pos("SOL_USDC-PERPETUAL", -250.0, 152.5)),
    ),
)


def test_model_is_drift_on_a_hand_mapped_user() -> None:
    model = resolve_model("drift-v2")
    book = Book.from_portfolios([BOOKS[0][0]])
    res = model.requirement(book, MARKET)
    # the Drift user of the docstring's mapping: USDC market 0, BTC (8 decimals) and the perps at the index
    p = model.preset  # type: ignore[attr-defined]
    spot = {0: SpotMarket(**{k: v for k, v in p.spot["USDC"].model_dump().items() if k != "total_deposits"})}
    spot[1] = SpotMarket(**{k: v for k, v in p.spot["BTC"].model_dump().items() if k != "total_deposits"})
    perp = PerpMarket(**p.perp["default"].model_dump())
    markets = Markets(
        spot=spot,
        perp={0: perp, 1: perp},
        spot_price={0: PRICE, 1: 95000 * PRICE},
        perp_price={0: 95000 * PRICE, 1: 3500 * PRICE},
    )
    user = User(
        (SpotPosition(0, 20000 * 10**9), SpotPosition(1, 50_000_000 * 10)),
        (
            PerpPosition(0, 2 * BASE, -188000 * PRICE),
            PerpPosition(1, -10 * BASE, 35000 * PRICE),
        ),
    )
    init = margin_calculation(user, markets, MarginType.INITIAL)
    maint = margin_calculation(user, markets, MarginType.MAINTENANCE)
    assert res.equity[0] == init.equity / PRICE == 20000 + 47500 + 2000
    assert res.available[0] == (init.total_collateral - init.margin_requirement) / PRICE
    assert (
        res.margin_balance[0] - res.maintenance_margin[0]
        == (maint.total_collateral - maint.margin_requirement) / PRICE
    )
    assert not res.liquidatable[0]


def test_borrow_is_liquidatable_exactly_when_drift_says() -> None:
    model = resolve_model("drift-v2")
    # 20 SOL borrowed at 150 (3000 USD), maintenance liability weight 1.1 → 3300 needed
    for usdc, liquidatable in [(3299.0, True), (3300.0, False)]:
        book = Book.from_portfolios([pf("b", {"USDC": usdc, "SOL": -20.0})])
        assert bool(model.requirement(book, MARKET).liquidatable[0]) is liquidatable


@pytest.mark.parametrize(
    ("name", "found"),
    [("BTC-PERPETUAL", "an inverse or non-USDC contract"), ("BTC-27DEC26-100000-C", "an option")],
)
def test_instruments_drift_does_not_list_are_bad_input(name: str, found: str) -> None:
    book = Book.from_portfolios([pf("x", {"USDC": 1000.0}, pos(name, 1.0))])
    market = MarketSnapshot(NOW, index_usd={"BTC": 95000.0, "USDC": 1.0}, vol={"BTC": 0.5})
    with pytest.raises(InputError) as err:
        resolve_model("drift-v2").requirement(book, market)
    assert err.value.where == name
    assert err.value.found == found


def test_unknown_coin_is_bad_input() -> None:
    book = Book.from_portfolios([pf("x", {"DAI": 10.0})])
    with pytest.raises(InputError, match="Drift spot market"):
        resolve_model("drift-v2").requirement(book, MarketSnapshot(NOW, index_usd={"DAI": 1.0, "USDC": 1.0}))


@parametrize_margin_models(["drift-v2"], market=MARKET, books=BOOKS)
def test_conformance(model: object, check: object) -> None:
    check(model)  # type: ignore[operator]
