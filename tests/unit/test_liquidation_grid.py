"""The stacked liquidation-price solver (margin/_liquidation_grid.py, margin/_shifts.py) against the
point-by-point one it replaces (``margin.solve``: a 1% scan and ``scipy.optimize.brentq``, the reference).

- a stacked book margins each row as ``requirement`` does on ``market.shifted(u, x)`` (to rounding);
- on random accounts of the shipped Deribit chain (inverse and linear options with their own IV or a
  surface vol, futures, perpetuals, coin and stablecoin collateral sized near the initial margin), the
  liquidation prices are the same sides as the reference's, each within 1e-9 relative of brentq's root
  (the module docstring's stated tolerance);
- a model that cannot run stacked (``cross``) falls back to the reference itself.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import (
    LiquidationPrices,
    MarginModel,
    PortfolioMargin,
    liquidation_prices,
    resolve_model,
    solve,
)
from xmargin.margin._liquidation import DOWN, UP, account_gap, underlyings_of
from xmargin.margin._liquidation_grid import grid_prices
from xmargin.margin._shifts import bases_of, stack
from xmargin.market import DEMO_SNAPSHOT, MarketSnapshot, load_deribit_chain, shipped_chain_path
from xmargin.risk import Book, resolve_instruments

TOLERANCE = 1e-9


@lru_cache(maxsize=1)
def _market() -> MarketSnapshot:
    return load_deribit_chain(shipped_chain_path(), DEMO_SNAPSHOT)


def _account(seed: int, model: MarginModel) -> Portfolio:
    """A random account: 2-8 positions on BTC and ETH, collateral 1.02-3x its initial margin."""
    market = _market()
    rng = np.random.default_rng(seed)
    listed = sorted(
        n for n in market.option_iv if n.startswith(("BTC-27MAR26-", "ETH-27MAR26-", "BTC-26JUN26-"))
    )
    names = [str(x) for x in rng.choice(listed, int(rng.integers(1, 5)), replace=False)]
    names += [str(x) for x in rng.choice(["BTC-PERPETUAL", "ETH-PERPETUAL", "BTC-27MAR26", "ETH-26JUN26"], 2)]
    if rng.random() < 0.5:  # a strike the chain does not list: its vol comes from the surface
        names.append(
            f"BTC-27MAR26-{int(rng.integers(40, 90)) * 1000 + 500}-{'C' if rng.random() < 0.5 else 'P'}"
        )
    if rng.random() < 0.4:  # a linear (USDC-settled) option
        names.append(f"BTC_USDC-27MAR26-{int(rng.integers(50, 80)) * 1000}-P")
    sizes = rng.normal(0.0, 2.0, len(names))
    positions = tuple(
        Position(parse_name(n), float(q) * (10.0 if n.startswith("ETH") else 1.0))
        for n, q in zip(names, sizes, strict=True)
    )
    coins = {"BTC": float(rng.uniform(0.0, 1.0)), "ETH": float(rng.uniform(0.0, 5.0))}
    bare = Portfolio(f"r{seed}", {**coins, "USDC": 0.0}, positions)
    r = model.requirement(Book.from_portfolio(bare), market, detail=False)
    need = float(r.initial_margin[0]) * float(rng.uniform(1.02, 3.0)) - float(r.margin_balance[0])
    return Portfolio(f"r{seed}", {**coins, "USDC": max(need, 0.0) + 1.0}, positions)


def _reference(model: MarginModel, book: Book, market: MarketSnapshot) -> dict[str, LiquidationPrices]:
    gap = account_gap(model, model.pin(book, market))
    return {u: solve(gap, market, u) for u in underlyings_of(book)}


def _same(got: dict[str, LiquidationPrices], want: dict[str, LiquidationPrices]) -> int:
    """Assert the two answers agree (sides and tolerance); the number of prices compared."""
    assert got.keys() == want.keys()
    found = 0
    for u in want:
        for g, w in ((got[u].below, want[u].below), (got[u].above, want[u].above)):
            assert (g is None) == (w is None), (u, got[u], want[u])
            if g is not None and w is not None:
                assert abs(g / w - 1.0) <= TOLERANCE, (u, g, w)
                found += 1
    return found


@pytest.mark.parametrize("preset", ["pm-deribit", "pm-cross-collateral", "pm-span"])
def test_a_stacked_row_is_the_model_on_the_shifted_market(preset: str) -> None:
    model = resolve_model(preset)
    market = _market()
    book = model.pin(Book.from_portfolio(_account(7, model)), market)
    rows = [(b, 1.0) for b in bases_of(book)] + [("BTC", 0.63), ("BTC", 1.37), ("ETH", 0.2), ("ETH", 4.5)]
    st_ = stack(book, resolve_instruments(book.columns, market), market, rows)
    assert isinstance(model, PortfolioMargin)
    prep = model.prepare_shifted(st_.book.columns, st_.table, market, st_.row_index)
    got = model.requirement(st_.book, market, detail=False, prepared=prep)
    for r, (b, x) in enumerate(rows):
        cols = np.flatnonzero(book.columns.underlying == b)
        want = model.requirement(book.select(None, cols), market.shifted(b, x), detail=False)
        for field in ("margin_balance", "maintenance_margin", "initial_margin", "equity"):
            assert getattr(got, field)[r] == pytest.approx(getattr(want, field)[0], rel=1e-12, abs=1e-9), (
                b,
                x,
                field,
            )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), preset=st.sampled_from(["pm-deribit", "pm-cross-collateral"]))
def test_random_accounts_match_the_point_by_point_solver(seed: int, preset: str) -> None:
    model = resolve_model(preset)
    market = _market()
    book = Book.from_portfolio(_account(seed, model))
    got = grid_prices(model, model.pin(book, market), market, underlyings_of(book), (DOWN, UP))
    assert got is not None  # pm runs stacked
    _same(got, _reference(model, book, market))


def test_the_random_accounts_do_have_liquidation_prices() -> None:
    """The property above compares prices, not only Nones: most generated accounts have some."""
    model = resolve_model("pm")
    market = _market()
    compared = 0
    for seed in range(6):
        book = Book.from_portfolio(_account(seed, model))
        compared += _same(liquidation_prices(model, book, market), _reference(model, book, market))
    assert compared >= 4


def test_a_model_that_cannot_run_stacked_uses_the_scan() -> None:
    model = resolve_model("cross")
    market = _market()
    book = Book.from_portfolio(_account(3, resolve_model("pm")))
    assert grid_prices(model, model.pin(book, market), market, underlyings_of(book), (DOWN, UP)) is None
    assert liquidation_prices(model, book, market) == _reference(model, book, market)
