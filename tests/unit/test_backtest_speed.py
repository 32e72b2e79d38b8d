"""The backtest's fast paths give the values of the plain computations, bit for bit: the scenario windows kept
per (columns, horizon) against the windows built from the returns and the forecasts each day, repricing
without a rate shift against a zero shift, pinning at a table already resolved, and no look-ahead through
the kept windows."""

from __future__ import annotations

import math
import pickle
from datetime import date

import numpy as np
import pytest

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import FhsMargin, load_fhs_preset
from xmargin.market import MarketSnapshot, PriceHistory, close_time
from xmargin.risk import (
    Book,
    FilteredHistory,
    joint_scenario_pnl,
    pin_entries,
    reprice,
    resolve_instruments,
)

DAYS = 160
START = date(2020, 1, 1)


def _history(seed: int = 5) -> PriceHistory:
    """BTC over every day, ETH starting on day 40 and ending 20 days early (windows valid for one only)."""
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, size=(DAYS - 1, 2)) * 0.03 / math.sqrt(2.0)
    close = np.vstack([[100.0, 10.0], [100.0, 10.0] * np.exp(np.cumsum(r, axis=0))])
    close[:40, 1] = np.nan
    close[-20:, 1] = np.nan
    iv = np.full_like(close, np.nan)
    iv[60:, 0] = 0.6 * np.exp(np.cumsum(rng.normal(0, 0.05, DAYS - 60)))
    dates = np.arange(np.datetime64(START), np.datetime64(START) + np.timedelta64(DAYS, "D"))
    return PriceHistory("toy", dates, ("BTC", "ETH"), close, iv=iv)


def _reference(
    fh: FilteredHistory,
    asof: np.datetime64,
    unders: tuple[str, ...],
    h: int,
    cap: float | None,
    lag: int,
    span: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Price moves (filtered, reference, raw blocks), vol moves and end rows, built from the returns and the
    forecasts of the day alone (the computation before the windows were kept)."""
    hist = fh.history
    cols = hist.columns(unders)
    t_asof = int(np.searchsorted(hist.dates, asof, side="right")) - 1
    t_u = np.minimum(t_asof, fh.last_valid[cols])
    start_u = fh.first_valid[cols]
    first_end = max(int(start_u.min()) + h - 1, h)
    if span is not None:
        first_end = max(first_end, int(t_u.min()) - span + 1)
    ends = np.arange(first_end, int(t_u.max()) + 1)
    valid = (ends[None, :] - h + 1 >= start_u[:, None]) & (ends[None, :] <= t_u[:, None])
    if span is not None:
        usable = (valid & (ends[None, :] > t_u[:, None] - span)).any(axis=0)
        ends, valid = ends[usable], valid[:, usable]
    cs = fh.cum_ret[:, cols]
    sig = fh.sigma[:, cols]
    window = np.where(valid.T, cs[ends + 1] - cs[ends + 1 - h], 0.0)
    with np.errstate(invalid="ignore"):
        sig_start = np.where(valid.T, sig[ends - h + 1], 1.0)
    ucol = np.arange(cols.size)

    def rescaled(to: np.ndarray) -> np.ndarray:
        ratio = to[None, :] / sig_start
        return window * (ratio if cap is None else np.minimum(ratio, cap))

    blocks = [
        rescaled(sig[t_u + 1, ucol]),
        rescaled(sig[np.maximum(t_u + 1 - lag, start_u), ucol]),
        window,
    ]
    price = np.hstack([np.expm1(x).T for x in blocks])
    with np.errstate(invalid="ignore", divide="ignore"):
        proxy = np.expm1(np.log(sig[ends + 1] / sig[ends - h + 1]))
    assert fh.iv_log_change is not None
    ivc = fh.iv_log_change[:, cols]
    ics = np.vstack([np.zeros((1, cols.size)), np.cumsum(np.nan_to_num(ivc), axis=0)])
    n_ok = np.vstack([np.zeros((1, cols.size)), np.cumsum(np.isfinite(ivc), axis=0)])
    full = (n_ok[ends + 1] - n_ok[ends + 1 - h]) == h
    vol = np.where(valid.T, np.where(full, np.expm1(ics[ends + 1] - ics[ends + 1 - h]), proxy), 0.0)
    return price, np.tile(vol.T, 3), np.tile(ends, 3)


@pytest.mark.parametrize("unders", [("BTC",), ("ETH",), ("BTC", "ETH")])
@pytest.mark.parametrize("h", [1, 2, 5])
@pytest.mark.parametrize(("cap", "span"), [(None, None), (2.0, 50)])
def test_kept_windows_give_the_scenarios_of_the_day(
    unders: tuple[str, ...], h: int, cap: float | None, span: int | None
) -> None:
    fh = FilteredHistory.build(_history(), 0.94)
    # later days first: the windows kept from them must not change an earlier day's scenarios
    for t in (DAYS - 1, 150, 130, 100, 80):
        asof = fh.history.dates[t]
        scen = fh.scenarios(
            asof, unders, horizon_days=h, ratio_cap=cap, reference_lag=7, raw=True, span_days=span
        )
        price, vol, ends = _reference(fh, asof, unders, h, cap, 7, span)
        np.testing.assert_array_equal(scen.price_move, price)
        np.testing.assert_array_equal(scen.vol_move, vol)
        np.testing.assert_array_equal(scen.end_row, ends)
        assert scen.price_move.flags.owndata or scen.price_move.base is not None
        scen.price_move[:] = np.nan  # the caller's copy: the kept windows are not touched
        scen.vol_move[:] = np.nan
    assert list(fh.windows_kept) == [(tuple(fh.history.columns(unders).tolist()), h)]


def _table_book() -> tuple[Book, MarketSnapshot]:
    names = (
        "BTC-PERPETUAL",
        "BTC_USDC-PERPETUAL",
        "BTC-27JUN25",
        "BTC-27JUN25-90000-C",
        "BTC_USDC-27JUN25-80000-P",
        "ETH-PERPETUAL",
    )
    pf = Portfolio(
        "a", {"USDC": 1e5, "BTC": 1.0}, tuple(Position(parse_name(n), 1.0 + k) for k, n in enumerate(names))
    )
    market = MarketSnapshot(
        valuation_time=close_time(date(2025, 3, 1)),
        index_usd={"BTC": 85_000.0, "ETH": 2_200.0},
        vol={"BTC": 0.55, "ETH": 0.7},
        rate=0.03,
    )
    return Book.from_portfolio(pf), market


@pytest.mark.parametrize("view", ["usd", "settlement"])
def test_repricing_without_a_rate_shift_is_a_zero_shift(view: str) -> None:
    book, market = _table_book()
    table = resolve_instruments(book.columns, market)
    rng = np.random.default_rng(1)
    n, s = len(table.instruments), 300
    move = np.expm1(rng.normal(0, 0.1, (n, s)))
    vol_mult = np.maximum(1.0 + rng.normal(0, 0.2, (int(table.is_option.sum()), s)), 0.01)
    a = reprice(table, move, vol_mult, None, view=view, rate=market.rate)
    b = reprice(table, move, vol_mult, np.zeros((n, s)), view=view, rate=market.rate)
    np.testing.assert_array_equal(a, b)
    price = np.expm1(rng.normal(0, 0.1, (2, s)))
    vmove = rng.normal(0, 0.2, (2, s))
    pnl = joint_scenario_pnl(table, ("BTC", "ETH"), price, vmove, view=view, rate=market.rate)
    row = np.array([{"BTC": 0, "ETH": 1}.get(str(u), -1) for u in table.underlying])
    listed = row >= 0
    full_move = np.where(listed[:, None], price[np.maximum(row, 0)], 0.0)
    full_vol = np.where(listed[:, None], vmove[np.maximum(row, 0)], 0.0)[table.is_option]
    expected = reprice(
        table, full_move, np.maximum(1.0 + full_vol, 0.01), np.zeros((n, s)), view=view, rate=market.rate
    )
    np.testing.assert_array_equal(pnl, expected)


def test_pinning_at_a_resolved_table_is_pinning_at_the_market() -> None:
    book, market = _table_book()
    table = resolve_instruments(book.columns, market)
    a, b = pin_entries(book, market), pin_entries(book, market, table=table)
    for name in ("q", "q_entry", "q_at_entry"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_array_equal(x.toarray(), y.toarray())
    other = resolve_instruments((parse_name("ETH-PERPETUAL"),), market)
    with pytest.raises(InputError, match="pin_entries"):
        pin_entries(book, market, table=other)


def test_a_model_that_margined_later_days_margins_an_earlier_day_as_a_fresh_one() -> None:
    """No look-ahead through the kept windows: one model instance margining the last day first, then day t,
    gives day t the margin of a model whose history ends at t."""
    hist = _history()
    preset = load_fhs_preset("fhs").model_copy(update={"horizon_days": 1})
    book = Book.from_portfolio(
        Portfolio("p", {"USDC": 1e6}, (Position(parse_name("BTC_USDC-PERPETUAL"), -1.0),))
    )

    def market(t: int) -> MarketSnapshot:
        return MarketSnapshot(
            valuation_time=close_time(hist.dates[t].astype(object)),
            index_usd={"BTC": float(hist.close[t, 0])},
        )

    used = FhsMargin(preset, history=hist)
    state = pickle.dumps(used)
    last = used.requirement(book, market(DAYS - 1), detail=False)
    assert used.filtered.windows_kept  # kept ...
    assert pickle.dumps(used) == state  # ... but not the model's state: not pickled, rebuilt on first use
    again_last = pickle.loads(state).requirement(book, market(DAYS - 1), detail=False)
    assert again_last.initial_margin[0] == last.initial_margin[0]
    assert hist.iv is not None
    for t in (70, 110, 139):
        cut = PriceHistory(
            "toy", hist.dates[: t + 1], hist.underlyings, hist.close[: t + 1], iv=hist.iv[: t + 1]
        )
        fresh = FhsMargin(preset, history=cut).requirement(book, market(t), detail=False)
        again = used.requirement(book, market(t), detail=False)
        assert again.initial_margin[0] == fresh.initial_margin[0] > 0
