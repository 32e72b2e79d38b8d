"""The whole-book engine: incremental ticks and trades equal a full recompute (hypothesis, every model), and
the book path equals the single-account path to 1e-9 relative."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xmargin.engine import BookEngine
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import PortfolioMargin, get_model
from xmargin.risk import Book
from xmargin.testing import books

MARKET = books.example_market()
NAMES = [
    "BTC-PERPETUAL",
    "BTC-27DEC26",
    "BTC-27DEC26-100000-C",
    "BTC-27DEC26-90000-P",
    "BTC-26MAR27-110000-C",
    "ETH-27DEC26-4000-P",
    "ETH_USDC-PERPETUAL",
    "BTC_USDC-26MAR27-95000-C",
    "ETH-26MAR27",
]
ACCOUNTS = [f"a{i}" for i in range(6)]
TOL = 1e-9


def random_book(rng: np.random.Generator) -> Book:
    pfs = []
    for name in ACCOUNTS:
        picks = rng.choice(NAMES, size=rng.integers(0, 5), replace=False)
        pos = tuple(Position(parse_name(str(n)), float(rng.normal(0, 3))) for n in picks)
        coll = {"USDC": float(rng.uniform(0, 5e4)), "BTC": float(rng.uniform(-0.5, 2))}
        pfs.append(Portfolio(name, coll, pos))
    return Book.from_portfolios(pfs)


def assert_matches(engine: BookEngine) -> None:
    full = engine.model.requirement(engine.book, engine.market, detail=False)
    got = engine.result()
    for field in ("initial_margin", "maintenance_margin", "equity", "margin_balance"):
        a, b = getattr(got, field), getattr(full, field)
        np.testing.assert_allclose(a, b, rtol=TOL, atol=1e-6, err_msg=field)


ticks = st.tuples(st.sampled_from(["BTC", "ETH"]), st.floats(0.7, 1.4), st.floats(0.6, 1.8))
trades = st.tuples(
    st.sampled_from(ACCOUNTS),
    st.sampled_from([*NAMES, "ETH-27DEC26-3000-C"]),
    st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3),
)
steps = st.lists(st.one_of(ticks.map(lambda t: ("tick", t)), trades.map(lambda t: ("trade", t))), max_size=8)


@pytest.mark.parametrize("model_name", ["pm", "pm-usd", "isolated", "cross", "standard"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**31), sequence=steps)
def test_incremental_equals_full_recompute(model_name: str, seed: int, sequence: list) -> None:
    model = PortfolioMargin(view="usd") if model_name == "pm-usd" else get_model(model_name)
    engine = BookEngine(random_book(np.random.default_rng(seed)), MARKET, model)
    assert_matches(engine)
    for kind, args in sequence:
        if kind == "tick":
            u, price, vol = args
            market = engine.market.shifted(u, price)
            market = market.replace(vol={**market.vol, u: market.vol[u] * vol})
            engine.tick(market, u)
        else:
            account, name, size = args
            engine.trade(account, parse_name(name), size)
        assert_matches(engine)


def test_tick_recomputes_only_holders() -> None:
    book = Book.from_portfolios(
        [
            Portfolio("btc", {"USDC": 1e4}, (Position(parse_name("BTC-PERPETUAL"), 1.0),)),
            Portfolio("eth", {"USDC": 1e4}, (Position(parse_name("ETH-PERPETUAL"), 1.0),)),
            Portfolio("cash", {"USDC": 1e4}, ()),
        ]
    )
    engine = BookEngine(book, MARKET, get_model("pm"))
    report = engine.tick(MARKET.shifted("ETH", 0.9), "ETH")
    assert report.accounts_recomputed == 1
    assert report.columns_repriced == 1


@pytest.mark.parametrize("model_name", ["pm", "isolated", "cross", "standard"])
def test_book_path_equals_single_account_path(model_name: str) -> None:
    model = get_model(model_name)
    book = random_book(np.random.default_rng(7))
    engine = BookEngine(book, MARKET, model)
    res = engine.result()
    for i in range(book.n_accounts):
        one = model.requirement(book.row(i), MARKET, detail=False)
        for field in ("initial_margin", "maintenance_margin", "equity", "margin_balance"):
            assert np.isclose(getattr(res, field)[i], getattr(one, field)[0], rtol=TOL, atol=1e-6), field


def test_trades_update_the_engine_copy_not_the_callers_book() -> None:
    book = random_book(np.random.default_rng(11))
    before = (book.q.data.copy(), book.q.indices.copy())
    engine = BookEngine(book, MARKET, get_model("pm"))
    held = book.instruments[int(book.q.indices[0])]
    account = book.accounts[int(np.searchsorted(book.q.indptr, 0, side="right") - 1)]
    engine.trade(account, held, 1.5)
    engine.trade(account, parse_name("ETH-27DEC26-3000-C"), -1.0)
    assert np.array_equal(book.q.data, before[0]) and np.array_equal(book.q.indices, before[1])
    assert_matches(engine)


@pytest.mark.parametrize("model_name", ["pm", "isolated", "standard"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31), picks=st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=4, unique=True)
)
def test_replacing_accounts_equals_a_full_recompute(model_name: str, seed: int, picks: list[str]) -> None:
    """A liquidation round rewrites whole accounts (new instruments, closed positions, entry prices, an ETH
    account appearing): the engine's result equals the model on the rebuilt book."""
    rng = np.random.default_rng(seed)
    model = get_model("pm", view="usd") if model_name == "pm-usd" else get_model(model_name)
    engine = BookEngine(random_book(rng), MARKET, model)
    engine.pin_entries()
    new = []
    for a in picks:
        chosen = rng.choice([*NAMES, "ETH-27DEC26-3000-C"], size=rng.integers(0, 4), replace=False)
        pos = tuple(
            Position(
                parse_name(str(n)),
                float(rng.normal(0, 2)),
                50_000.0 if str(n).endswith("BTC-27DEC26") else None,
            )
            for n in chosen
        )
        new.append(Portfolio(a, {"USDC": float(rng.uniform(0, 3e4))}, pos))
    engine.replace_accounts(new)
    assert_matches(engine)
    for pf in new:
        row = engine.book.accounts.index(pf.account)
        assert engine.book.q[row].nnz == len(pf.positions) + 1
    # a second round on columns the book already has (the no-rebuild path): half of each position closed
    columns = len(engine.book.instruments)
    halved = [
        Portfolio(
            pf.account,
            {"USDC": pf.collateral["USDC"] * 0.9},
            tuple(Position(p.instrument, p.size_coin / 2, p.avg_price_usd) for p in pf.positions[1:]),
        )
        for pf in new
    ]
    engine.replace_accounts(halved)
    assert len(engine.book.instruments) == columns
    assert_matches(engine)
