"""``sim._backtest_stats``: coverage, independence, traffic light, procyclicality and breach size.

Where the expected numbers come from (never from the module under test):

- Kupiec's and Christoffersen's closed forms written out again here with ``math.log`` / ``scipy``;
- the Basel Committee's January 1996 backtesting framework, Table 2 (zones and their cumulative
  probabilities at 250 observations and 99 %), and ``scipy.stats.binom.ppf`` for other windows;
- the independent package ``vartests`` (``kupiec_test``, ``binomial_test``, ``duration_test``) on seeded
  random, clustered and breach-free series. ``vartests`` has no Christoffersen test, so independence is
  checked against the likelihood-ratio (G) test of the 2×2 transition table,
  ``scipy.stats.chi2_contingency(..., lambda_="log-likelihood")``, which is the same statistic;
- small series worked out by hand, and brute-force loops over every window / every pair.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.stats import binom, chi2, chi2_contingency

from xmargin.core import InputError
from xmargin.sim._backtest_stats import (
    WorstWindow,
    basel_zones,
    christoffersen,
    excess_p_value,
    kupiec,
    loss_quantile_pct,
    procyclicality,
    shortfall,
    spread,
    traffic_light,
)

BoolArray = NDArray[np.bool_]


def _days(n: int, start: str = "2024-01-01", step: int = 1) -> NDArray[np.datetime64]:
    return np.datetime64(start, "D") + np.arange(n) * np.timedelta64(step, "D")


def _with_breaches(n: int, positions: list[int]) -> BoolArray:
    hits = np.zeros(n, dtype=bool)
    hits[positions] = True
    return hits


def _series() -> dict[str, tuple[BoolArray, float]]:
    """Breach series shared by the ``vartests`` comparisons: (hits, breach probability under H0)."""
    rng = np.random.default_rng(20240601)
    clustered = np.zeros(500, dtype=bool)
    clustered[100:105] = True
    clustered[300:306] = True
    # ends on a breach, so 0→1 and 1→0 transitions differ in number (3 and 2)
    ends_in_breach = _with_breaches(300, [50, 120, 121, 122, 297, 298, 299])
    return {
        "random_1pct": (rng.random(1000) < 0.012, 1.0 - 0.99),
        "random_too_many": (rng.random(750) < 0.03, 1.0 - 0.99),
        "random_2.5pct": (rng.random(500) < 0.025, 1.0 - 0.975),
        "clustered": (clustered, 1.0 - 0.99),
        "ends_in_breach": (ends_in_breach, 1.0 - 0.99),
        "no_breach": (np.zeros(250, dtype=bool), 1.0 - 0.99),
    }


SERIES = _series()


# --------------------------------------------------------------------------------------------- Kupiec


def test_kupiec_golden_values_at_250_observations_and_1pct() -> None:
    # Closed form by hand: x = 0 → -2·250·ln 0.99; x = 10 → 2·[240·ln(0.96/0.99) + 10·ln 4].
    none = kupiec(250, 0, 0.01)
    ten = kupiec(250, 10, 0.01)
    assert none.lr == pytest.approx(-500.0 * math.log(0.99), rel=1e-12)
    assert ten.lr == pytest.approx(2.0 * (240.0 * math.log(0.96 / 0.99) + 10.0 * math.log(4.0)), rel=1e-12)
    assert round(none.lr, 3) == 5.025
    assert round(ten.lr, 3) == 12.955  # 12.95549…: the brief's "12.956" is off in the last digit
    assert none.p_value == pytest.approx(float(chi2.sf(none.lr, 1)), rel=1e-12)
    assert ten.p_value == pytest.approx(0.000319, abs=1e-6)


@pytest.mark.parametrize(("n", "x", "p"), [(250, 2, 0.01), (250, 3, 0.01), (1000, 40, 0.025), (20, 20, 0.05)])
def test_kupiec_matches_the_closed_form(n: int, x: int, p: float) -> None:
    rate = x / n
    null = (n - x) * math.log(1 - p) + x * math.log(p)
    alternative = (n - x) * math.log(1 - rate) if x < n else 0.0
    alternative += x * math.log(rate)
    expected = -2.0 * (null - alternative)
    result = kupiec(n, x, p)
    assert result.lr == pytest.approx(expected, rel=1e-10)
    assert result.p_value == pytest.approx(float(chi2.sf(expected, 1)), rel=1e-9)


def test_kupiec_at_the_expected_rate_is_zero_not_negative() -> None:
    result = kupiec(300, 3, 0.01)
    assert result.lr == 0.0
    assert result.p_value == 1.0


def test_excess_p_value_is_the_upper_binomial_tail() -> None:
    # Basel Table 2: P(X ≤ 4) = 89.22 % at 250 / 99 %, so P(X ≥ 5) = 10.78 %.
    assert excess_p_value(250, 5, 0.01) == pytest.approx(0.1078, abs=5e-5)
    tail = float(sum(binom.pmf(k, 250, 0.01) for k in range(10, 251)))
    assert excess_p_value(250, 10, 0.01) == pytest.approx(tail, rel=1e-9)
    assert excess_p_value(250, 0, 0.01) == 1.0
    assert excess_p_value(250, 250, 0.01) == pytest.approx(0.01**250, rel=1e-9)


# --------------------------------------------------------------------------------------------- vartests


@pytest.mark.parametrize("name", sorted(SERIES))
def test_kupiec_and_excess_agree_with_vartests(name: str) -> None:
    vartests = pytest.importorskip("vartests")
    hits, p = SERIES[name]
    theirs = vartests.kupiec_test(hits.astype(int), risk_conf_level=1.0 - p)
    ours = kupiec(hits.size, int(hits.sum()), p)
    assert ours.lr == pytest.approx(theirs["statistic"], rel=1e-9, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs["p-value"], rel=1e-9)
    exact = vartests.binomial_test(hits.astype(int), risk_conf_level=1.0 - p, alternative="greater")
    assert excess_p_value(hits.size, int(hits.sum()), p) == pytest.approx(
        exact["p-value"], rel=1e-7, abs=1e-15
    )


def _transitions(hits: BoolArray) -> NDArray[np.int64]:
    table = np.zeros((2, 2), dtype=np.int64)
    for before, after in itertools.pairwise(hits):
        table[int(before), int(after)] += 1
    return table


@pytest.mark.parametrize("name", sorted(SERIES))
def test_christoffersen_agrees_with_g_test_and_vartests_kupiec(name: str) -> None:
    vartests = pytest.importorskip("vartests")
    hits, p = SERIES[name]
    table = _transitions(hits)
    result = christoffersen(hits, p)
    if (table.sum(axis=0) > 0).all() and (table.sum(axis=1) > 0).all():
        g, g_p, dof, _ = chi2_contingency(table, correction=False, lambda_="log-likelihood")
        assert dof == 1
        assert result.lr_ind == pytest.approx(g, rel=1e-9, abs=1e-12)
        assert result.p_independence == pytest.approx(g_p, rel=1e-9)
    else:  # a state never seen: nothing to tell the two Markov chains apart
        assert result.lr_ind == 0.0
        assert result.p_independence == 1.0
    pof = vartests.kupiec_test(hits.astype(int), risk_conf_level=1.0 - p)["statistic"]
    assert result.lr_cc == pytest.approx(pof + result.lr_ind, rel=1e-9, abs=1e-12)
    assert result.p_conditional_coverage == pytest.approx(float(chi2.sf(result.lr_cc, 2)), rel=1e-9)


def test_clustered_breaches_reject_independence_as_vartests_duration_test_does() -> None:
    vartests = pytest.importorskip("vartests")
    clustered, p = SERIES["clustered"]
    duration = vartests.duration_test(clustered.astype(int))
    assert duration["weibull shape (b)"] < 1.0  # shorter gaps than memoryless: clustering
    assert duration["p-value"] < 0.01
    assert christoffersen(clustered, p).p_independence < 0.01
    assert christoffersen(SERIES["random_1pct"][0], 0.01).p_independence > 0.05


# --------------------------------------------------------------------------------------------- Christoffersen


def test_christoffersen_by_hand() -> None:
    # 0 0 1 1 0 0 0 0: n00 = 4, n01 = 1, n10 = 1, n11 = 1; π = 2/7, π0 = 1/5, π1 = 1/2.
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    null = 5 * math.log(5 / 7) + 2 * math.log(2 / 7)
    markov = 4 * math.log(4 / 5) + math.log(1 / 5) + 2 * math.log(1 / 2)
    lr_ind = -2.0 * (null - markov)
    pof = -2.0 * (6 * math.log(0.99) + 2 * math.log(0.01)) + 2.0 * (6 * math.log(0.75) + 2 * math.log(0.25))
    result = christoffersen(hits, 0.01)
    assert result.lr_ind == pytest.approx(lr_ind, rel=1e-12)
    assert result.lr_ind == pytest.approx(0.5992, abs=1e-4)
    assert result.lr_cc == pytest.approx(pof + lr_ind, rel=1e-12)


def test_christoffersen_by_hand_ending_on_a_breach() -> None:
    # 0 0 0 1 0 0 1 1: n00 = 3, n01 = 2, n10 = 1, n11 = 1; π = 3/7, π0 = 2/5, π1 = 1/2.
    hits = np.array([0, 0, 0, 1, 0, 0, 1, 1], dtype=bool)
    null = 4 * math.log(4 / 7) + 3 * math.log(3 / 7)
    markov = 3 * math.log(3 / 5) + 2 * math.log(2 / 5) + 2 * math.log(1 / 2)
    assert christoffersen(hits, 0.01).lr_ind == pytest.approx(-2.0 * (null - markov), rel=1e-12)


def test_alternating_breaches_are_dependent_too() -> None:
    hits = np.arange(40) % 2 == 0  # T F T F …: n01 = 19, n10 = 20, π0 = 1, π1 = 0, π = 19/39
    result = christoffersen(hits, 0.5)
    expected = -2.0 * (20 * math.log(20 / 39) + 19 * math.log(19 / 39))  # the Markov chain fits exactly
    assert result.lr_ind == pytest.approx(expected, rel=1e-12)
    assert result.p_independence < 1e-6


def test_christoffersen_on_one_observation_has_no_transition() -> None:
    result = christoffersen(np.array([True]), 0.01)
    assert result.lr_ind == 0.0
    assert result.lr_cc == pytest.approx(-2.0 * math.log(0.01), rel=1e-12)


# --------------------------------------------------------------------------------------------- traffic light


def test_basel_zones_at_250_and_99pct_follow_table_2() -> None:
    assert basel_zones(250, 0.99) == (5, 10)
    # The cumulative probabilities Basel prints (4 → 89.22 %, 5 → 95.88 %, 9 → 99.97 %, 10 → 99.99 %).
    cumulative = {k: round(float(binom.cdf(k, 250, 0.01)), 4) for k in (4, 5, 9, 10)}
    assert cumulative == {4: 0.8922, 5: 0.9588, 9: 0.9997, 10: 0.9999}


@pytest.mark.parametrize(("window", "confidence"), [(500, 0.99), (1000, 0.99), (250, 0.975), (100, 0.99)])
def test_basel_zones_elsewhere_are_the_binomial_quantiles(window: int, confidence: float) -> None:
    p = 1.0 - confidence
    expected = (int(binom.ppf(0.95, window, p)), int(binom.ppf(0.9999, window, p)))
    assert basel_zones(window, confidence) == expected


@pytest.mark.parametrize(
    ("breaches", "zone"), [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"), (14, "red")]
)
def test_one_window_of_250_is_classified_by_its_breaches(breaches: int, zone: str) -> None:
    hits = _with_breaches(250, list(range(3, 3 + 17 * breaches, 17)))
    assert int(hits.sum()) == breaches
    light = traffic_light(hits, _days(250))
    counts = {"green": light.green, "yellow": light.yellow, "red": light.red}
    assert counts == {name: int(name == zone) for name in counts}
    assert light.window == 250
    assert light.worst_window.breaches == breaches
    assert light.worst_window.start == "2024-01-01"


def test_rolling_windows_match_a_brute_force_count() -> None:
    rng = np.random.default_rng(7)
    hits = rng.random(400) < 0.06
    dates = _days(400, "2023-03-01")
    window = 50
    yellow_from, red_from = basel_zones(window, 0.99)
    counts = [int(hits[s : s + window].sum()) for s in range(400 - window + 1)]
    light = traffic_light(hits, dates, window=window, confidence=0.99)
    assert light.green == sum(c < yellow_from for c in counts)
    assert light.red == sum(c >= red_from for c in counts)
    assert light.green + light.yellow + light.red == 351
    worst = counts.index(max(counts))
    assert light.worst_window.breaches == max(counts)
    assert light.worst_window.start == str(dates[worst])
    assert light.green > 0 and light.yellow > 0  # the series exercises more than one zone


def test_worst_window_is_the_earliest_and_dates_may_be_nanoseconds() -> None:
    hits = _with_breaches(12, [1, 2, 8, 9])
    dates = (_days(12, "2024-02-27") + np.timedelta64(15, "h")).astype("datetime64[ns]")  # 15:00 each day
    light = traffic_light(hits, dates, window=4)
    assert light.worst_window == WorstWindow(start="2024-02-27", breaches=2)
    light_later = traffic_light(_with_breaches(12, [8, 9]), dates, window=4)
    # windows starting at index 6, 7 and 8 hold both; index 6 is 2024-03-04 (2024 has a 29 February)
    assert light_later.worst_window.start == "2024-03-04"


def test_fewer_observations_than_window_is_one_window() -> None:
    hits = _with_breaches(100, [10, 40, 70])
    light = traffic_light(hits, _days(100), window=250, confidence=0.99)
    assert (light.window, light.green + light.yellow + light.red) == (100, 1)
    # 100 observations at 1 %: P(X ≤ 2) = 92.1 % < 95 % ≤ P(X ≤ 3) = 98.2 %: three breaches is yellow.
    assert light.yellow == 1


# --------------------------------------------------------------------------------------------- procyclicality


def test_procyclicality_daily_by_hand() -> None:
    margin = np.array([10.0, 12.0, 11.0, 15.0, 9.0, 9.5])
    result = procyclicality(_days(6), margin)
    assert result.peak_to_trough == pytest.approx(15.0 / 9.0, rel=1e-12)
    assert result.max_rise_1d_pp == pytest.approx(4.0)  # 11 → 15
    assert result.max_rise_30d_pp == pytest.approx(5.0)  # 10 → 15


def test_every_other_day_has_no_one_day_rise() -> None:
    result = procyclicality(_days(3, step=2), np.array([10.0, 11.0, 13.0]))
    assert result.max_rise_1d_pp == 0.0
    assert result.max_rise_30d_pp == pytest.approx(3.0)


def test_thirty_days_is_inclusive_and_thirty_one_is_out() -> None:
    dates = np.array(["2024-01-01", "2024-01-31", "2024-02-01"], dtype="datetime64[D]")
    result = procyclicality(dates, np.array([5.0, 20.0, 30.0]))
    assert result.max_rise_30d_pp == pytest.approx(15.0)  # 5 → 30 is 31 days apart
    assert result.max_rise_1d_pp == pytest.approx(10.0)


def test_five_day_steps_reach_six_observations_back() -> None:
    margin = np.array([1.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 10.0])  # day 0, 5, …, 35
    result = procyclicality(_days(8, step=5), margin)
    assert result.max_rise_1d_pp == 0.0
    assert result.max_rise_30d_pp == pytest.approx(8.0)  # 1 → 9 (day 30); 1 → 10 is 35 days


def test_falling_constant_and_zero_margins() -> None:
    falling = procyclicality(_days(4), np.array([4.0, 3.0, 2.0, 1.0]))
    assert (falling.max_rise_1d_pp, falling.max_rise_30d_pp, falling.peak_to_trough) == (0.0, 0.0, 4.0)
    assert procyclicality(_days(3), np.array([2.0, 2.0, 2.0])).peak_to_trough == 1.0
    assert procyclicality(_days(3), np.array([0.0, 1.0, 2.0])).peak_to_trough == math.inf
    assert procyclicality(_days(1), np.array([5.0])).max_rise_30d_pp == 0.0


def test_nan_margins_are_ignored() -> None:
    result = procyclicality(_days(3), np.array([10.0, np.nan, 14.0]))
    assert result.peak_to_trough == pytest.approx(1.4)
    assert result.max_rise_1d_pp == 0.0  # the only neighbour within a day is NaN
    assert result.max_rise_30d_pp == pytest.approx(4.0)


def _brute_rise(dates: NDArray[np.datetime64], margin: NDArray[np.float64], days: int) -> float:
    best = 0.0
    for j in range(margin.size):
        for i in range(j):
            if dates[j] - dates[i] <= np.timedelta64(days, "D") and not np.isnan(margin[i] + margin[j]):
                best = max(best, float(margin[j] - margin[i]))
    return best


def test_rises_match_all_pairs_on_irregular_dates() -> None:
    rng = np.random.default_rng(11)
    steps = rng.choice([0, 1, 1, 1, 2, 3, 5], size=300)
    dates = (np.datetime64("2022-06-01", "D") + np.cumsum(steps) * np.timedelta64(1, "D")).astype(
        "datetime64[ns]"
    )
    margin = 10.0 + np.cumsum(rng.normal(0.0, 0.5, size=300))
    margin[rng.choice(300, size=15, replace=False)] = np.nan
    result = procyclicality(dates, margin)
    assert result.max_rise_1d_pp == pytest.approx(_brute_rise(dates, margin, 1), rel=1e-12)
    assert result.max_rise_30d_pp == pytest.approx(_brute_rise(dates, margin, 30), rel=1e-12)
    assert result.max_rise_30d_pp > result.max_rise_1d_pp > 0.0


# --------------------------------------------------------------------------------------------- sizes


def test_shortfall_over_breaches_only() -> None:
    margin = np.array([100.0, 100.0, 100.0, 50.0])
    loss = np.array([130.0, 100.0, 20.0, 60.0])  # 100 = margin is no breach
    assert (shortfall(margin, loss).mean_given_breach, shortfall(margin, loss).max) == (20.0, 30.0)
    none = shortfall(margin, np.zeros(4))
    assert (none.mean_given_breach, none.max) == (0.0, 0.0)


def test_spread_ignores_nan() -> None:
    result = spread(np.array([4.0, np.nan, 1.0, 7.0]))
    assert (result.mean, result.min, result.max) == (4.0, 1.0, 7.0)
    assert all(math.isnan(v) for v in (spread(np.array([np.nan])).mean, spread(np.array([])).max))


def test_loss_quantile_interpolates_linearly() -> None:
    loss = np.arange(1.0, 101.0) * 2.0
    notional = np.full(100, 200.0)  # 1 %, 2 %, …, 100 %
    # Linear: position 0.99 × 99 = 98.01 → 99 % + 0.01 × (100 % - 99 %).
    assert loss_quantile_pct(loss, notional) == pytest.approx(99.01, rel=1e-12)
    assert loss_quantile_pct(loss, notional, 0.5) == pytest.approx(50.5, rel=1e-12)


# --------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: kupiec(250, 3, 0.0), "kupiec.p"),
        (lambda: kupiec(250, 3, 1.0), "kupiec.p"),
        (lambda: kupiec(250, 251, 0.01), "kupiec.breaches"),
        (lambda: kupiec(0, 0, 0.01), "kupiec.observations"),
        (lambda: excess_p_value(10, -1, 0.01), "excess_p_value.breaches"),
        (lambda: christoffersen(np.array([0, 2, 1]), 0.01), "christoffersen.hits"),
        (lambda: christoffersen(np.array([True]), 1.5), "christoffersen.p"),
        (lambda: traffic_light(np.zeros(5, dtype=bool), _days(5), window=0), "traffic_light.window"),
        (lambda: traffic_light(np.zeros(5, dtype=bool), _days(4)), "traffic_light.dates"),
        (lambda: basel_zones(250, 1.0), "basel_zones.confidence"),
        (lambda: procyclicality(_days(3)[::-1], np.ones(3)), "procyclicality.dates"),
        (lambda: procyclicality(_days(3), np.ones(2)), "procyclicality.margin_pct"),
        (lambda: shortfall(np.ones(3), np.ones(2)), "shortfall.loss"),
        (lambda: loss_quantile_pct(np.ones(3), np.ones(3), 1.5), "loss_quantile_pct.q"),
    ],
)
def test_bad_arguments_raise_input_error(call: object, where: str) -> None:
    assert callable(call)
    with pytest.raises(InputError) as info:
        call()
    assert info.value.where == where
