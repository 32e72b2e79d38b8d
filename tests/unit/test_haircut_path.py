"""Dynamic collateral haircuts from each asset's FHS tail (``risk/_haircut_path.py``, ``margin/_collateral.py``):
a naive re-computation of the path, no look-ahead, the daily-change limit, the rise with volatility, the depeg
scenario, held vs borrowed balances, the warnings, and the shipped preset."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from xmargin.instruments import Portfolio
from xmargin.margin import CollateralPolicy, get_model
from xmargin.margin._collateral import FhsHaircutParams, FhsHaircuts
from xmargin.market import MarketSnapshot, PriceHistory, close_time
from xmargin.risk import Book, FilteredHistory, depeg_haircut, fhs_haircut_path, resolve_instruments
from xmargin.risk._haircut_path import MIN_WINDOWS
from xmargin.risk._historical import WARMUP_DAYS

START = date(2019, 1, 1)
LAM, CONF, H, LOOKBACK, RATIO_CAP = 0.94, 0.99, 2, 300, 2.0


def _history(n: int = 420, seed: int = 5, shock_at: int | None = None) -> PriceHistory:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, size=n - 1) * 0.02
    if shock_at is not None:
        r[shock_at:] *= 4.0  # a regime of four times the volatility
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dates = np.arange(np.datetime64(START), np.datetime64(START) + np.timedelta64(n, "D"))
    return PriceHistory("toy", dates, ("BTC",), close[:, None])


def _path(hist: PriceHistory, **kw: float) -> object:
    args: dict[str, float] = {"floor": 0.0, "cap": 1.0, "max_daily_change": 1.0} | kw
    return fhs_haircut_path(
        FilteredHistory.build(hist, LAM),
        "BTC",
        confidence=CONF,
        horizon_days=H,
        lookback_days=LOOKBACK,
        ratio_cap=RATIO_CAP,
        floor=args["floor"],
        cap=args["cap"],
        max_daily_change=args["max_daily_change"],
    )


def _naive(close: list[float], t: int) -> tuple[float, float]:
    """The haircut of day t from the formula, written out with plain Python: EWMA variance backcast with the
    mean square of the first WARMUP_DAYS returns (as ``arch``'s EWMAVariance, test_fhs.py), 2-day log-return windows rescaled by min(σ_now/σ_start, 2),
    ES99 = mean of the ⌈n·1%⌉ largest losses."""
    r = [math.log(close[i] / close[i - 1]) for i in range(1, len(close))]  # r[i-1] is row i's return
    var = sum(x * x for x in r[:WARMUP_DAYS]) / WARMUP_DAYS  # the backcast of rows 1..30
    sigma = {}
    for row in range(WARMUP_DAYS + 1, len(close) + 1):  # the forecast for a row uses the rows before it
        var = LAM * var + (1 - LAM) * r[row - 2] ** 2
        sigma[row] = math.sqrt(var)
    first_end = WARMUP_DAYS + 1 + H - 1
    held, borrowed = [], []
    for e in range(max(first_end, t - LOOKBACK + 1), t + 1):
        x = math.log(close[e] / close[e - H])
        ratio = min(sigma[t + 1] / sigma[e - H + 1], RATIO_CAP)
        move = math.exp(x * ratio) - 1.0
        held.append(-move)
        borrowed.append(move)
    k = math.ceil(len(held) * (1 - CONF) - 1e-9)
    return (
        sum(sorted(held, reverse=True)[:k]) / k,
        sum(sorted(borrowed, reverse=True)[:k]) / k,
    )


def test_path_equals_a_naive_recomputation() -> None:
    hist = _history()
    path = _path(hist)
    close = hist.close[:, 0].tolist()
    checked = 0
    for t in range(path.first, len(close), 17):  # type: ignore[attr-defined]
        held, borrowed = _naive(close, t)
        assert path.raw_held[t] == pytest.approx(held, rel=1e-12)  # type: ignore[attr-defined]
        assert path.raw_borrowed[t] == pytest.approx(borrowed, rel=1e-12)  # type: ignore[attr-defined]
        checked += 1
    assert checked > 5
    assert path.first == WARMUP_DAYS + 1 + H - 1 + MIN_WINDOWS - 1  # type: ignore[attr-defined]
    assert np.isnan(path.held[: path.first]).all()  # type: ignore[attr-defined]


def test_no_look_ahead() -> None:
    hist = _history()
    cut = 360
    changed = hist.close.copy()
    changed[cut + 1 :] *= np.exp(
        np.random.default_rng(1).normal(0, 0.2, size=(hist.close.shape[0] - cut - 1, 1))
    )
    other = PriceHistory("toy", hist.dates, hist.underlyings, changed)
    a, b = _path(hist, max_daily_change=0.01), _path(other, max_daily_change=0.01)
    np.testing.assert_array_equal(a.held[: cut + 1], b.held[: cut + 1])  # type: ignore[attr-defined]
    assert not np.array_equal(a.held[cut + 2 :], b.held[cut + 2 :])  # type: ignore[attr-defined]


def test_haircut_rises_with_volatility_within_the_daily_limit_and_bounds() -> None:
    hist = _history(shock_at=380)
    free = _path(hist)
    limited = _path(hist, floor=0.03, cap=0.4, max_daily_change=0.01)
    f = free.raw_held  # type: ignore[attr-defined]
    # the haircut follows the vol up (calm windows scaled up at most twice, then the stressed ones come in)
    assert np.nanmean(f[395:]) > 1.5 * np.nanmean(f[340:379])
    h = limited.held[limited.first :]  # type: ignore[attr-defined]
    assert np.abs(np.diff(h)).max() <= 0.01 + 1e-15
    assert h.min() >= 0.03 and h.max() <= 0.4
    # the limit binds: the raw haircut jumps more than a point a day after the shock, the limited one lags
    assert np.nanmax(np.abs(np.diff(f[380:]))) > 0.01
    assert limited.held[390] < min(free.raw_held[390], 0.4)  # type: ignore[attr-defined]


def test_depeg_haircut_is_the_depeg_over_the_tail_count() -> None:
    # 1000 pegged windows + the depeg at 99%: the tail holds ceil(1001 * 0.01) = 11 scenarios
    assert depeg_haircut(0.12, confidence=0.99, lookback_days=1000) == pytest.approx(0.12 / 11)
    assert depeg_haircut(0.05, confidence=0.975, lookback_days=399) == pytest.approx(0.05 / 10)


def _policy(hist: PriceHistory, **floors: float) -> CollateralPolicy:
    params = FhsHaircutParams(
        lam=LAM, confidence=CONF, horizon_days=H, lookback_days=LOOKBACK, depeg={"USDC": 0.12}
    )
    fhs = FhsHaircuts.build(hist, params, floors=floors, default_floor=0.1, cap=0.5)
    return CollateralPolicy(haircuts=floors, default_haircut=0.1, fhs=fhs)


def _market(hist: PriceHistory, t: int, extra: dict[str, float] | None = None) -> MarketSnapshot:
    index = {"BTC": float(hist.close[t, 0]), "USDC": 1.0} | (extra or {})
    return MarketSnapshot(valuation_time=close_time(hist.dates[t].astype(object)), index_usd=index)


def test_policy_applies_held_and_borrowed_haircuts_by_sign() -> None:
    hist = _history()
    policy = _policy(hist, BTC=0.0, USDC=0.0)
    path = policy.fhs.paths["BTC"]  # type: ignore[union-attr]
    t = 400
    market = _market(hist, t)
    book = Book.from_portfolios(
        [Portfolio("long", {"BTC": 2.0, "USDC": 1000.0}, ()), Portfolio("short", {"BTC": -1.0}, ())]
    )
    table = resolve_instruments(book.columns, market)
    usd = policy.haircut_usd(book, table, market)
    px = hist.close[t, 0]
    usdc = 0.12 / math.ceil((LOOKBACK + 1) * 0.01)
    assert usd[0] == pytest.approx(2.0 * px * path.held[t] + 1000.0 * usdc, rel=1e-12)
    assert usd[1] == pytest.approx(px * path.borrowed[t], rel=1e-12)
    assert path.borrowed[t] != path.held[t]
    assert policy.warnings(table, market) == ()


def test_policy_names_what_it_had_to_assume() -> None:
    hist = _history()
    policy = _policy(hist)
    late = _market(hist, hist.close.shape[0] - 1)
    late = MarketSnapshot(
        valuation_time=close_time(date(2021, 1, 1)), index_usd=late.index_usd | {"SOL": 20.0}
    )
    book = Book.from_portfolio(Portfolio("a", {"BTC": 1.0, "SOL": 10.0}, ()))
    table = resolve_instruments(book.columns, late)
    warnings = policy.warnings(table, late)
    assert any("fhs haircut of BTC is as of 2020-02-24" in w for w in warnings)
    assert any("no fhs haircut for SOL" in w and "static haircut 0.1" in w for w in warnings)
    assert policy.haircut("SOL", late) == 0.1
    early = _market(hist, 50)  # before the first year of windows: the floor, named
    assert policy.haircut("BTC", early) == 0.1
    assert any("no fhs haircut for BTC" in w for w in policy.warnings(table, early))


def test_shipped_preset_haircuts_follow_the_market() -> None:
    model = get_model("cross", preset="cross-dynamic-collateral")
    fhs = model.collateral.fhs  # type: ignore[attr-defined]
    btc = fhs.paths["BTC"]
    assert np.abs(np.diff(btc.held[btc.first : btc.last + 1])).max() <= 0.05 + 1e-12
    march_2020 = btc.row(np.datetime64("2020-03-20"))
    calm_2020 = btc.row(np.datetime64("2020-02-10"))
    assert btc.held[march_2020] > btc.held[calm_2020] + 0.05  # COVID crash: the BTC haircut rose
    assert fhs.depeg("USDC") == pytest.approx(0.12 / 11)


def test_haircut_backtest_counts_the_breaches_of_the_path() -> None:
    from xmargin.sim import haircut_backtest

    hist = _history(n=600, shock_at=450)
    policy = _policy(hist, BTC=0.0)
    path = policy.fhs.paths["BTC"]  # type: ignore[union-attr]
    res = haircut_backtest(policy, "BTC", hist, side="held", horizon_days=H)
    days = np.arange(path.first, path.last - H + 1, H)
    close = hist.close[:, 0]
    loss = 1.0 - close[days + H] / close[days]
    assert res.observations == days.size
    assert res.breaches == int((loss > path.held[days]).sum())
    assert res.mean == pytest.approx(path.held[days].mean())
    short = haircut_backtest(policy, "BTC", hist, side="borrowed", horizon_days=H)
    assert short.breaches == int((-loss > path.borrowed[days]).sum())


def test_account_report_lists_each_balance_with_its_haircut() -> None:
    from xmargin.margin import account_report

    hist = _history()
    policy = _policy(hist, BTC=0.0, USDC=0.0)
    model = get_model("cross", preset="cross-fixed")
    model.collateral = policy  # type: ignore[attr-defined]
    market = _market(hist, 400, {"SOL": 20.0})
    pf = Portfolio("a", {"BTC": -0.5, "USDC": 5000.0, "SOL": 3.0}, ())
    doc = account_report(model, pf, market, with_liquidation=False)
    lines = doc.breakdown.collateral
    path = policy.fhs.paths["BTC"]  # type: ignore[union-attr]
    assert lines["BTC"].haircut == path.borrowed[400] and lines["BTC"].basis == "fhs"
    assert lines["USDC"].haircut == pytest.approx(0.12 / 4) and lines["USDC"].basis == "fhs"
    assert lines["SOL"].haircut == 0.1 and lines["SOL"].basis == "static"  # no history: the floor, named
    assert sum(c.haircut_usd for c in lines.values()) == pytest.approx(doc.equity - doc.margin_balance)
