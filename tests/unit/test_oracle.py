"""Oracle: index guards, clamped mark price, and the Mango v4 stable price on Mango's own test values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmargin.core import InputError
from xmargin.oracle import (
    FakeSource,
    IndexConfig,
    IndexOracle,
    MarkConfig,
    MarkPrice,
    Quote,
    StablePrice,
    compute_index,
)


def test_index_is_median_of_fresh_quotes() -> None:
    quotes = [Quote("a", 100.0, 99.0), Quote("b", 101.0, 95.0), Quote("c", 99.5, 100.0)]
    r = compute_index(quotes, 100.0)
    assert r.ok and r.price == pytest.approx(100.0) and set(r.used) == {"a", "b", "c"}


def test_stale_and_outlying_quotes_are_rejected_and_named() -> None:
    quotes = [
        Quote("a", 100.0, 100.0),
        Quote("b", 100.2, 100.0),
        Quote("stale", 90.0, 10.0),
        Quote("pump", 130.0, 100.0),
    ]
    r = compute_index(quotes, 100.0, IndexConfig(max_age_s=30, max_deviation=0.05))
    assert r.ok and r.price == pytest.approx(100.1)
    assert r.rejected["stale"].startswith("stale") and r.rejected["pump"].startswith("outlier")


def test_too_few_sources_is_a_failure_not_a_price() -> None:
    r = compute_index([Quote("a", 100.0, 100.0), Quote("b", 100.0, 0.0)], 100.0, IndexConfig(min_sources=2))
    assert not r.ok and math.isnan(r.price) and r.status == "insufficient_sources"


def test_oracle_falls_back_conservatively_and_flags() -> None:
    feed = {"a": (100.0, 0.0), "b": (100.0, 0.0)}
    sources = [
        FakeSource(n, lambda sym, now, n=n: (feed[n][0], now if feed[n][1] == 0 else feed[n][1]))
        for n in feed
    ]
    oracle = IndexOracle(sources, IndexConfig(min_sources=2))
    good = oracle.price("BTC", 0.0)
    assert not good.flagged and good.asset_price == good.liability_price == 100.0
    feed["b"] = (80.0, 0.0)  # b now deviates 20% from a: two sources, no majority, no index
    bad = oracle.price("BTC", 10.0)
    assert bad.flagged and "insufficient_sources" in bad.reason
    assert bad.asset_price == 80.0 and bad.liability_price == 100.0  # assets low, liabilities high


def test_oracle_without_any_good_price_gives_nan_and_a_flag() -> None:
    oracle = IndexOracle([FakeSource("a", lambda s, now: None)])
    p = oracle.price("BTC", 0.0)
    assert p.flagged and math.isnan(p.asset_price)


def test_mark_basis_is_smoothed_and_clamped() -> None:
    mark = MarkPrice(MarkConfig(halflife_s=60.0, clamp=0.005))
    assert mark.update(index=100.0, trade=100.2, now_s=0.0) == pytest.approx(100.2)
    # one print at +20% moves the mark by at most the clamp (0.5% of the index)
    assert mark.update(index=100.0, trade=120.0, now_s=1.0) <= 100.5 + 1e-12
    # after one half-life of trades at the index the basis has halved
    m = MarkPrice(MarkConfig(halflife_s=60.0, clamp=0.5))
    m.update(index=100.0, trade=101.0, now_s=0.0)
    assert m.update(index=100.0, trade=100.0, now_s=60.0) == pytest.approx(100.5)


def test_stable_price_matches_mango_v4_unit_test() -> None:
    """Source: mango-v4 ``stable_price.rs`` unit test: from 1.0 with the oracle at 10.0."""
    s = StablePrice(1.0, 0.0)
    t = 0.0
    for _ in range(60):  # one hour at 60 s
        t += 60
        s.update(t, 10.0)
    assert s.stable == pytest.approx(1.8, abs=0.1)
    assert s.delay_prices[0] == pytest.approx(1.06)
    for _ in range(360):  # another hour at 10 s
        t += 10
        s.update(t, 10.0)
    assert s.stable == pytest.approx(2.3, abs=0.1)
    assert s.delay_prices[1] == pytest.approx(1.06**2)
    for _ in range(276):  # 23 hours at 300 s
        t += 300
        s.update(t, 10.0)
    assert s.stable == pytest.approx(7.4, abs=0.1)


def test_pump_13x_in_30_minutes_cannot_be_borrowed_against() -> None:
    """A thin token pumped from 1 to 13 in 30 minutes: a naive oracle values 13x collateral, the stable price
    (which health uses for assets: min(oracle, stable)) lets less than 12% of that be borrowed."""
    s = StablePrice(1.0, 0.0)
    t, oracle = 0.0, 1.0
    for step in range(1, 181):  # 30 min of 10 s updates, price ramping to 13
        t += 10
        oracle = 1.0 + 12.0 * step / 180
        s.update(t, oracle)
    naive_value = 1_000 * oracle
    stable_value = 1_000 * min(oracle, s.stable)
    assert oracle == pytest.approx(13.0)
    assert stable_value < 0.12 * naive_value


@given(st.lists(st.floats(0.01, 1000.0), min_size=1, max_size=200))
def test_stable_price_moves_toward_the_oracle_within_its_growth_limit(prices: list[float]) -> None:
    s = StablePrice(10.0, 0.0)
    for i, p in enumerate(prices, start=1):
        before = s.stable
        after = s.update(i * 60.0, p)
        limit = 0.0003 * 60.0
        assert after <= before * (1 + limit) + 1e-12 and after >= before * (1 - limit) - 1e-12
        assert min(before, p) - 1e-12 <= after <= max(before, p) + 1e-12


def test_bad_parameters_are_named() -> None:
    with pytest.raises(InputError, match=r"IndexConfig\.max_age_s"):
        IndexConfig(max_age_s=0)
    with pytest.raises(InputError, match=r"MarkConfig\.clamp"):
        MarkConfig(clamp=2.0)
