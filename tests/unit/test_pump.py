"""Oracle-manipulation scenario: a thin token pumped 13x in 30 minutes, naive oracle vs Mango v4 stable price.

Expectations are computed independently of the module: exact products for the naive venue, the stable
price's update rule written out by hand for its first steps, and its continuous-time solution
``s(t) = p0 * sqrt(1 + 2 g t)`` (delay price fixed at ``p0`` for the first day, oracle above ``s``).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from xmargin.core import InputError
from xmargin.oracle import StablePriceConfig
from xmargin.sim._pump import PumpConfig, oracle_pump, plot_pump, pump_path

G = StablePriceConfig().stable_growth_limit  # 0.0003 per second, Mango v4's default
TOL_CLOSED_FORM = 1e-3  # discrete 10 s compounding vs the ODE's solution, relative


def test_naive_peak_is_collateral_times_weight_times_the_pump() -> None:
    r = oracle_pump()
    assert r.peak_naive_usd == 1_000_000 * 0.5 * 13.0
    assert r.peak_naive_t_s == 1800.0
    assert r.oracle_usd[r.pump_end_index] == 13.0 and r.t_s[r.pump_end_index] == 1800.0


def test_stable_venue_lends_less_than_12_percent_of_naive_at_the_top() -> None:
    """As ``test_oracle.test_pump_13x_in_30_minutes_cannot_be_borrowed_against``, through the scenario."""
    r = oracle_pump()
    i = r.pump_end_index
    assert r.borrowable_stable_usd[i] < 0.12 * r.borrowable_naive_usd[i]
    assert r.ratio_at_pump_end == pytest.approx(math.sqrt(1.0 + 2.0 * G * 1800.0) / 13.0, rel=TOL_CLOSED_FORM)


def test_first_two_stable_steps_follow_the_mango_growth_formula() -> None:
    # update: growth = g * fraction^2 * dt with fraction = min(s, delay) / max(s, delay); delay = start price
    for step in (10.0, 60.0):
        r = oracle_pump(PumpConfig(step_s=step))
        s1 = 1.0 * (1.0 + G * step)  # fraction 1, and the oracle (1 + 12 * step / 1800) is above 1 + g dt
        s2 = s1 * (1.0 + G * step * (1.0 / s1) ** 2)
        assert r.oracle_usd[1] > s1 and r.oracle_usd[2] > s2
        assert r.stable_usd[1] == pytest.approx(s1, rel=1e-12)
        assert r.stable_usd[2] == pytest.approx(s2, rel=1e-12)


def test_stable_price_tracks_its_closed_form_while_the_oracle_leads() -> None:
    r = oracle_pump()
    top = r.pump_end_index
    assert r.stable_usd[top] == pytest.approx(math.sqrt(1.0 + 2.0 * G * 1800.0), rel=TOL_CLOSED_FORM)
    leading = r.oracle_usd > r.stable_usd
    expected = np.sqrt(1.0 + 2.0 * G * r.t_s[leading])
    np.testing.assert_allclose(r.stable_usd[leading], expected, rtol=TOL_CLOSED_FORM)


def test_ramp_and_hold_are_monotonic_and_stable_stays_below_the_oracle() -> None:
    r = oracle_pump(PumpConfig(shape="hold", hold_s=3600.0))
    for series in (r.oracle_usd, r.stable_usd, r.borrowable_naive_usd, r.borrowable_stable_usd):
        assert np.all(np.diff(series) >= 0.0)
    assert np.all(r.stable_usd <= r.oracle_usd)
    assert np.all(r.borrowable_stable_usd <= r.borrowable_naive_usd)
    assert r.t_s[-1] == 1800.0 + 3600.0 and np.all(np.diff(r.t_s) > 0)


def test_revert_leaves_the_naive_venue_with_bad_debt_and_the_stable_venue_without() -> None:
    r = oracle_pump()
    assert r.oracle_usd[-1] == 1.0 and r.final_collateral_usd == 1_000_000.0
    assert r.bad_debt_naive_usd == 6_500_000.0 - 1_000_000.0
    assert r.bad_debt_stable_usd == 0.0
    # the stable venue's best moment is when the falling oracle meets the still-rising stable price
    assert r.peak_stable_t_s > 1800.0 + 600.0
    assert r.peak_stable_usd < r.final_collateral_usd


def test_hold_leaves_no_bad_debt() -> None:
    r = oracle_pump(PumpConfig(shape="hold"))
    assert r.oracle_usd[-1] == 13.0
    assert r.bad_debt_naive_usd == 0.0 and r.bad_debt_stable_usd == 0.0


def test_stable_venue_does_not_care_how_big_the_pump_is() -> None:
    small, big = oracle_pump(PumpConfig(pump_factor=13.0)), oracle_pump(PumpConfig(pump_factor=50.0))
    i = small.pump_end_index
    assert small.borrowable_stable_usd[i] == pytest.approx(big.borrowable_stable_usd[i], rel=1e-12)
    assert big.peak_naive_usd == pytest.approx(50.0 / 13.0 * small.peak_naive_usd, rel=1e-12)


def test_results_scale_with_price_collateral_and_weight() -> None:
    base = oracle_pump()
    other = oracle_pump(PumpConfig(start_price_usd=0.04, collateral_tokens=250_000.0, init_asset_weight=0.25))
    k = 0.04 * 0.25 * 0.5  # price x (collateral ratio 1/4) x (weight ratio 1/2)
    np.testing.assert_allclose(other.borrowable_naive_usd, k * base.borrowable_naive_usd, rtol=1e-12)
    np.testing.assert_allclose(other.borrowable_stable_usd, k * base.borrowable_stable_usd, rtol=1e-9)
    assert other.ratio == pytest.approx(base.ratio, rel=1e-9)


def test_top_of_the_pump_is_on_the_grid_even_off_step() -> None:
    t, oracle = pump_path(PumpConfig(pump_s=1805.0, hold_s=0.0, step_s=60.0))
    assert 1805.0 in t and oracle[t == 1805.0][0] == 13.0
    assert oracle[0] == 1.0 and oracle[-1] == 1.0 and t[-1] == 1805.0 + 1800.0


def test_series_are_read_only() -> None:
    r = oracle_pump()
    with pytest.raises(ValueError):
        r.stable_usd[0] = 99.0


def test_as_dict_is_json_ready_and_downsampled() -> None:
    r = oracle_pump()
    d = r.as_dict(max_points=21)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["naive_peak_borrowable_usd"] == 6_500_000.0
    assert back["naive_bad_debt_usd"] == 5_500_000.0 and back["stable_bad_debt_usd"] == 0.0
    assert back["config"]["stable"]["stable_growth_limit"] == G
    series = back["series"]
    n = len(series["t_s"])
    assert 21 <= n <= 24 and all(len(v) == n for v in series.values())
    assert series["t_s"][0] == 0.0 and series["t_s"][-1] == r.t_s[-1]
    assert 1800.0 in series["t_s"] and r.peak_stable_t_s in series["t_s"]
    assert all(type(x) is float for x in series["stable_usd"])


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"pump_factor": 0.0}, "PumpConfig.pump_factor"),
        ({"pump_factor": -13.0}, "PumpConfig.pump_factor"),
        ({"pump_s": 0.0}, "PumpConfig.pump_s"),
        ({"pump_s": -60.0}, "PumpConfig.pump_s"),
        ({"revert_s": 0.0}, "PumpConfig.revert_s"),
        ({"hold_s": -1.0}, "PumpConfig.hold_s"),
        ({"step_s": 5.0}, "PumpConfig.step_s"),
        ({"shape": "moon"}, "PumpConfig.shape"),
        ({"init_asset_weight": 1.5}, "PumpConfig.init_asset_weight"),
        ({"collateral_tokens": math.nan}, "PumpConfig.collateral_tokens"),
    ],
)
def test_bad_config_is_named(change: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as info:
        replace(PumpConfig(), **change)
    err = info.value
    assert err.where == where
    assert err.expected and str(err).startswith(f"{where}: expected ")
    found = change[next(iter(change))]
    assert err.found is found or (isinstance(found, float) and math.isnan(found))


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot_pump(oracle_pump(), tmp_path / "pump.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
