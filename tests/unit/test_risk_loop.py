"""The risk loop: ticks through the whole-book engine give deterministic margin calls and liquidation
triggers, equal to a full recompute at the final prices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xmargin.core import InputError
from xmargin.engine import BookEngine
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.liquidation import RiskLoop, Tick, ticks_from_bars
from xmargin.margin import get_model
from xmargin.risk import Book
from xmargin.testing import books

MARKET = books.example_market()
CRASH = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "crashes"
    / ("2020-03-12_covid_black_thursday_1h.csv")
)


def book() -> Book:
    return Book.from_portfolios(
        [
            Portfolio("long-lev", {"USDC": 30_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), 1.5),)),
            Portfolio("short-lev", {"USDC": 30_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), -1.5),)),
            Portfolio("safe", {"USDC": 500_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), 0.1),)),
            Portfolio("eth", {"USDC": 10_000.0}, (Position(parse_name("ETH_USDC-PERPETUAL"), 5.0),)),
        ]
    )


def test_a_crash_triggers_the_levered_long_once_and_a_rally_the_short() -> None:
    loop = RiskLoop(BookEngine(book(), MARKET, get_model("pm")))
    down = [Tick(float(i), "BTC", 95_000.0 * (1 - 0.01 * i)) for i in range(1, 16)]
    alerts = list(loop.run(down))
    long_alerts = [a for a in alerts if a.account == "long-lev"]
    assert [a.status for a in long_alerts] == ["margin_call", "liquidation"]  # once each, in order
    assert all(a.account != "safe" for a in alerts)
    assert all(a.account != "eth" for a in alerts)  # a BTC tick never touches the ETH account
    liq = long_alerts[-1]
    assert liq.margin_balance < liq.maintenance_margin
    up = [Tick(100.0 + i, "BTC", 80_750.0 * (1 + 0.02 * i)) for i in range(1, 20)]
    statuses = {(a.account, a.status) for a in loop.run(up)}
    assert ("long-lev", "recovered") in statuses and ("short-lev", "liquidation") in statuses


def test_replay_is_deterministic_and_matches_a_full_recompute() -> None:
    ticks = [Tick(float(i), "BTC", p) for i, p in enumerate([94_000, 90_000, 97_000, 88_000, 85_500])]
    runs = []
    for _ in range(2):
        loop = RiskLoop(BookEngine(book(), MARKET, get_model("pm")))
        runs.append(list(loop.run(ticks)))
        final = loop.engine.result()
        full = loop.engine.model.requirement(loop.engine.book, loop.engine.market, detail=False)
        np.testing.assert_allclose(final.initial_margin, full.initial_margin, rtol=1e-9)
    assert runs[0] == runs[1]


def test_real_crash_window_replays(tmp_path: Path) -> None:
    if not CRASH.exists():
        pytest.skip("../shared/data is not beside the checkout")
    ticks = ticks_from_bars(CRASH, symbol="BTCUSDT", underlying="BTC", source="binance_spot")
    assert len(ticks) > 100
    start = ticks[0].price_usd
    market = MARKET.shifted("BTC", start / MARKET.index("BTC"))
    crash_book = Book.from_portfolios(
        [
            Portfolio("long-lev", {"USDC": 20_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), 10.0),)),
            Portfolio("safe", {"USDC": 500_000.0}, (Position(parse_name("BTC_USDC-PERPETUAL"), 1.0),)),
        ]
    )
    loop = RiskLoop(BookEngine(crash_book, market, get_model("pm")))
    alerts = list(loop.run(ticks))
    assert any(a.account == "long-lev" and a.status == "liquidation" for a in alerts)  # BTC fell ~50%
    assert all(a.account != "safe" for a in alerts)
    assert min(t.price_usd for t in ticks) < 0.6 * start


def test_statuses_worsen_at_once_and_improve_only_past_the_hysteresis_band() -> None:
    """The levered long hovering at its maintenance line: with no band it flaps on every crossing, with
    a 2% band it is flagged once and returns only when its balance clears 1.02 × MM."""
    engine = BookEngine(book().select(np.array([0])), MARKET, get_model("pm"))
    probe = RiskLoop(BookEngine(book().select(np.array([0])), MARKET, get_model("pm")), hysteresis=0.0)
    # find the price where the account's margin balance meets its maintenance margin
    lo, hi = 60_000.0, 95_000.0
    for _ in range(60):
        mid = (lo + hi) / 2
        probe.apply(Tick(0.0, "BTC", mid))
        r = probe.engine.result()
        lo, hi = (mid, hi) if r.margin_balance[0] < r.maintenance_margin[0] else (lo, mid)
    line = hi
    wiggle = [line * f for f in (0.999, 1.001, 0.999, 1.001, 0.999, 1.001)]
    flappy = RiskLoop(BookEngine(book().select(np.array([0])), MARKET, get_model("pm")), hysteresis=0.0)
    calm = RiskLoop(engine, hysteresis=0.02)
    n_flappy = [a.status for a in flappy.run(Tick(float(i), "BTC", p) for i, p in enumerate(wiggle))]
    n_calm = [a.status for a in calm.run(Tick(float(i), "BTC", p) for i, p in enumerate(wiggle))]
    assert n_flappy.count("liquidation") == 3
    assert n_calm.count("liquidation") == 1 and "recovered" not in n_calm
    back = list(calm.run([Tick(10.0, "BTC", 95_000.0)]))
    assert [a.status for a in back] == ["recovered"]
    with pytest.raises(InputError, match="hysteresis"):
        RiskLoop(engine, hysteresis=-0.1)
