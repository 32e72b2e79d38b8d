"""The ``fhs`` model: EWMA filter against the ``arch`` library, hand-checked FHS expected shortfall on a small
history, the anti-procyclicality tools, no look-ahead, and the conformance suite."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import FhsMargin, load_fhs_preset, resolve_model
from xmargin.market import MarketSnapshot, PriceHistory, close_time, load_history
from xmargin.risk import Book, FilteredHistory, expected_shortfall
from xmargin.risk._historical import WARMUP_DAYS
from xmargin.testing import books, parametrize_margin_models

DAYS = 80
START = date(2020, 1, 1)


def _history(seed: int = 3, n: int = DAYS, vol: float = 0.03) -> PriceHistory:
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, size=(n - 1, 2)) * vol / math.sqrt(2.0)
    close = np.vstack([[100.0, 10.0], [100.0, 10.0] * np.exp(np.cumsum(r, axis=0))])
    dates = np.arange(np.datetime64(START), np.datetime64(START) + np.timedelta64(n, "D"))
    return PriceHistory("toy", dates, ("BTC", "ETH"), close)


def _preset(**changes: Any) -> Any:
    base = load_fhs_preset("fhs-plain").model_dump(by_alias=True)
    base["liquidity"] = {"y": 0.0, "daily_volume_usd": {}}
    base["short_option_minimum"] = 0.0
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = base[k] | v
        else:
            base[k] = v
    return base


def _market(hist: PriceHistory, t: int) -> MarketSnapshot:
    day = hist.dates[t].astype(object)
    return MarketSnapshot(
        valuation_time=close_time(day),
        index_usd={u: float(hist.close[t, k]) for k, u in enumerate(hist.underlyings)},
    )


def _perp(size: float, name: str = "BTC_USDC-PERPETUAL") -> Book:
    return Book.from_portfolio(Portfolio("a", {"USDC": 1e6}, (Position(parse_name(name), size),)))


def test_ewma_volatility_equals_arch() -> None:
    """Independent library: ``arch``'s EWMAVariance (RiskMetrics, λ = 0.94) with the same backcast gives the
    same conditional volatility as ``FilteredHistory`` after the warm-up."""
    arch = pytest.importorskip("arch.univariate")
    hist = _history()
    fh = FilteredHistory.build(hist, 0.94)
    r = fh.log_ret[:, 0]
    seed = int(fh.first_valid[0])
    v0 = float(np.mean(r[1:seed] ** 2))
    model = arch.ZeroMean(r[seed - 1 :] * 100.0, volatility=arch.EWMAVariance(0.94), rescale=False)
    res = model.fit(disp="off", backcast=v0 * 1e4)
    sigma_arch = np.asarray(res.conditional_volatility) / 100.0
    # arch's sigma[k] is the forecast for r[seed-1+k]; ours sigma[t] for r[t]
    np.testing.assert_allclose(fh.sigma[seed : len(r), 0], sigma_arch[1:], rtol=1e-12)


def test_fhs_margin_of_a_linear_perp_is_the_hand_computed_es() -> None:
    """Recomputed here in plain Python from the method's definition (RiskMetrics EWMA, FHS rescaling,
    overlapping h-day log returns, discrete ES): a linear perpetual's loss is −size × F × (exp(x) − 1)."""
    hist = _history()
    lam, h, conf = 0.94, 2, 0.95
    model = FhsMargin(_preset(**{"lambda": lam, "horizon_days": h, "confidence": conf}), history=hist)
    t = DAYS - 1
    result = model.requirement(_perp(-2.0), _market(hist, t))
    # -- by hand
    closes = hist.close[:, 0].tolist()
    r = [math.nan] + [math.log(closes[i] / closes[i - 1]) for i in range(1, DAYS)]
    var = sum(x * x for x in r[1 : 1 + WARMUP_DAYS]) / WARMUP_DAYS
    sigma = [math.nan] * (DAYS + 1)
    for i in range(1 + WARMUP_DAYS, DAYS + 1):
        var = lam * var + (1 - lam) * r[i - 1] ** 2
        sigma[i] = math.sqrt(var)
    first = 1 + WARMUP_DAYS
    losses = []
    for end in range(first + h - 1, t + 1):
        window = sum(r[end - h + 1 : end + 1])
        x = window * sigma[t + 1] / sigma[end - h + 1]
        losses.append(2.0 * closes[t] * math.expm1(x))  # short 2: loses when the price rises
    k = math.ceil(len(losses) * (1 - conf))
    es = sum(sorted(losses)[-k:]) / k
    assert result.initial_margin[0] == pytest.approx(es, rel=1e-12)
    assert result.maintenance_margin[0] == pytest.approx(0.8 * es, rel=1e-12)


def test_expected_shortfall_is_the_mean_of_the_worst_tail() -> None:
    loss = np.array([[1.0, 5.0, 3.0, 9.0, 7.0, 2.0, 4.0, 8.0, 6.0, 0.0]])
    assert expected_shortfall(loss, 0.8)[0] == pytest.approx((9 + 8) / 2)
    assert expected_shortfall(loss, 0.95)[0] == pytest.approx(9.0)


def test_buffer_is_released_when_volatility_rises_and_rebuilt_when_it_falls() -> None:
    """EMIR RTS 153/2013 Art. 28(1)(a): margin = clip(1.25 × ES at the reference vol, ES, 1.25 × ES)."""
    calm, stressed = _history(vol=0.01, n=120), _history(vol=0.01, n=120)
    stressed.close[-10:, :] = stressed.close[-11, :] * np.exp(
        np.cumsum(np.tile([0.12, -0.1], (10, 1)), axis=0)
    )
    buffered = _preset(apc={"buffer": 0.25, "reference_lag_days": 30})
    for hist, rising in ((calm, False), (stressed, True)):
        m = FhsMargin(buffered, history=hist).requirement(_perp(1.0), _market(hist, 119))
        bd = m.breakdown[0]
        es, ref = bd.es_filtered_usd, bd.es_reference_usd
        assert ref is not None
        assert bd.apc_margin_usd == pytest.approx(min(max(1.25 * ref, es), 1.25 * es))
        if rising:  # volatility up tenfold: the buffer is used up, the margin is the ES itself
            assert bd.apc_margin_usd == pytest.approx(es)
        else:
            assert bd.apc_margin_usd > es


def test_floor_and_stressed_weight_and_ratio_cap() -> None:
    hist = _history(n=400)
    t = 399
    plain = FhsMargin(_preset(), history=hist).requirement(_perp(1.0), _market(hist, t)).breakdown[0]
    floored = FhsMargin(_preset(apc={"floor_years": 1, "floor_basis": "returns"}), history=hist)
    f = floored.requirement(_perp(1.0), _market(hist, t)).breakdown[0]
    assert f.es_lookback_usd is not None
    assert f.apc_margin_usd == pytest.approx(max(plain.es_filtered_usd, f.es_lookback_usd))
    weighted = FhsMargin(_preset(apc={"stressed_weight": 0.25}), history=hist)
    w = weighted.requirement(_perp(1.0), _market(hist, t)).breakdown[0]
    assert w.es_stressed_usd is not None
    assert w.apc_margin_usd == pytest.approx(0.75 * w.es_filtered_usd + 0.25 * w.es_stressed_usd)
    capped = FhsMargin(_preset(vol_ratio_cap=1.0), history=hist)
    c = capped.requirement(_perp(1.0), _market(hist, t)).breakdown[0]
    assert c.es_filtered_usd <= plain.es_filtered_usd * (1 + 1e-12) or plain.sigma_daily["BTC"] < 0


def test_pair_nets_across_underlyings_from_the_joint_days() -> None:
    """Correlations come from joint historical days: long BTC / short ETH on perfectly co-moving prices
    (ETH = BTC / 10 every day) needs nothing beyond zero."""
    hist = _history()
    hist.close[:, 1] = hist.close[:, 0] / 10.0
    model = FhsMargin(_preset(), history=hist)
    pair = Book.from_portfolio(
        Portfolio(
            "p",
            {"USDC": 1e6},
            (
                Position(parse_name("BTC_USDC-PERPETUAL"), 1.0),
                Position(parse_name("ETH_USDC-PERPETUAL"), -10.0),
            ),
        )
    )
    im = model.requirement(pair, _market(hist, DAYS - 1)).initial_margin[0]
    alone = model.requirement(_perp(1.0), _market(hist, DAYS - 1)).initial_margin[0]
    assert alone > 1.0
    assert abs(im) < 1e-9 * alone


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=45, max_value=DAYS - 2), noise=st.floats(0.5, 2.0), seed=st.integers(0, 99))
def test_no_look_ahead(cut: int, noise: float, seed: int) -> None:
    """The margin on day t depends on rows up to t only: rewriting every later close changes nothing."""
    hist = _history()
    rng = np.random.default_rng(seed)
    future = hist.close.copy()
    future[cut + 1 :] *= noise * np.exp(rng.normal(0, 0.2, size=future[cut + 1 :].shape))
    other = PriceHistory("toy", hist.dates, hist.underlyings, future)
    for h in (1, 2):
        pre = _preset(horizon_days=h, apc={"buffer": 0.25, "stressed_weight": 0.25, "floor_years": 1})
        a = FhsMargin(pre, history=hist).requirement(_perp(-1.0), _market(hist, cut))
        b = FhsMargin(pre, history=other).requirement(_perp(-1.0), _market(hist, cut))
        assert a.initial_margin[0] == b.initial_margin[0]


def test_a_history_without_the_underlying_or_too_short_is_bad_input() -> None:
    hist = _history().select(("ETH",))
    with pytest.raises(InputError, match="BTC"):
        FhsMargin(_preset(), history=hist).requirement(_perp(1.0), _market(_history(), DAYS - 1))
    short = _history(n=20)
    with pytest.raises(InputError, match="daily returns"):
        FhsMargin(_preset(), history=short).requirement(_perp(1.0), _market(short, 19))


def test_a_valuation_after_the_history_is_named_in_warnings() -> None:
    hist = _history()
    market = MarketSnapshot(
        valuation_time=datetime(2021, 6, 1, tzinfo=UTC), index_usd={"BTC": 100.0, "ETH": 10.0}
    )
    res = FhsMargin(_preset(), history=hist).requirement(_perp(1.0), market)
    assert any("until 2020-03-20" in w for w in res.warnings)
    assert (market.valuation_time - timedelta(days=1)).date() > hist.last_day()


def test_shipped_history_and_presets_load() -> None:
    h = load_history("crypto-daily")
    assert h.underlyings == ("BTC", "ETH")
    assert h.first_day("BTC") == date(2011, 8, 18) and h.first_day("ETH") == date(2017, 8, 18)
    for name in ("fhs", "fhs-plain", "fhs-buffer", "fhs-stressed", "fhs-floor"):
        assert resolve_model(name).name == "fhs"


NO_LIQUIDITY = _preset(apc={"floor_years": 10})


@parametrize_margin_models([FhsMargin(NO_LIQUIDITY), FhsMargin("fhs")], market=books.example_market())
def test_conformance(model: Any, check: Any) -> None:
    check(model)
