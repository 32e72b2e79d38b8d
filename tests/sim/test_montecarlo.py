"""Monte Carlo crash paths (``sim._paths``) and the Monte Carlo replay (``sim._montecarlo``)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from xmargin.liquidation import CexConfig
from xmargin.sim import (
    ImpactConfig,
    PathConfig,
    ReplayConfig,
    bar_log_returns,
    crash_path,
    load_path,
    monte_carlo,
    quantiles,
    replay,
    stationary_bootstrap_indices,
)

STRESSED = ReplayConfig(
    clock_s=120.0,
    cex_tick_move=0.004,
    insurance_fraction=0.001,
    impact=ImpactConfig(adv_to_oi=0.05),
    cex=CexConfig(penalty=0.0),
)
"""A coarse clock, a thin market and a tiny fund: paths that end with bad debt, quickly."""
PLAIN = PathConfig(vol_scale=(1.0, 1.0), jump_rate_per_day=0.0)


def test_stationary_bootstrap_blocks_have_mean_length_l() -> None:
    """Politis and Romano (1994): a block continues with probability 1 - 1/L, so block lengths are
    geometric with mean L. Measured on 20,000 draws against L = 6 (standard error about 0.06)."""
    idx = stationary_bootstrap_indices(20_000, 6.0, np.random.default_rng(1))
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    lengths = np.diff(np.concatenate([[0], breaks, [idx.size]]))
    assert abs(lengths.mean() - 6.0) < 0.3
    assert idx.min() >= 0 and idx.max() < 20_000


def test_bootstrap_keeps_the_windows_return_distribution_and_volatility() -> None:
    """Pooled over 300 paths (no scaling, no jumps), the bars' close-to-close returns have the window's
    distribution (two-sample Kolmogorov-Smirnov) and its variance (within 10%)."""
    path = load_path("2020-03-12")
    for u in ("BTC", "ETH"):
        real = bar_log_returns(path, u)
        pooled = np.concatenate([bar_log_returns(crash_path(path, i, 7, PLAIN), u) for i in range(1, 301)])
        assert stats.ks_2samp(real, pooled).pvalue > 0.01, u
        assert abs(pooled.var() / real.var() - 1.0) < 0.10, u


def test_volatility_scaling_multiplies_every_move_and_jumps_open_bars() -> None:
    path = load_path("2020-03-12")
    one = crash_path(path, 4, 0, PLAIN)
    two = crash_path(path, 4, 0, replace(PLAIN, vol_scale=(2.0, 2.0)))
    for u in ("BTC", "ETH"):
        np.testing.assert_allclose(np.log(two.factors[u]), 2.0 * np.log(one.factors[u]), atol=1e-12)
    jumpy = crash_path(path, 4, 0, replace(PLAIN, jump_rate_per_day=100.0, jump_mean=-0.05, jump_sd=0.0))
    d = bar_log_returns(jumpy, "BTC") - bar_log_returns(one, "BTC")
    # every bar but the first jumps with probability 1 - exp(-100/24) = 0.984, by exactly -5%
    assert np.all(np.isclose(d, 0.0, atol=1e-12) | np.isclose(d, -0.05, atol=1e-12))
    assert 0.95 < np.isclose(d[1:], -0.05).mean() <= 1.0
    # the same jump hits every underlying
    d_eth = bar_log_returns(jumpy, "ETH") - bar_log_returns(one, "ETH")
    np.testing.assert_allclose(d, d_eth, atol=1e-12)


def test_path_zero_is_the_window_and_paths_depend_only_on_seed_and_index() -> None:
    path = load_path("2020-03-12")
    assert crash_path(path, 0, 3) is path
    a, b = crash_path(path, 5, 3), crash_path(path, 5, 3)
    np.testing.assert_array_equal(a.factors["BTC"], b.factors["BTC"])
    assert not np.array_equal(a.factors["BTC"], crash_path(path, 6, 3).factors["BTC"])
    assert a.ts_s is path.ts_s and a.factors["BTC"][0] == 1.0


def test_one_path_is_the_plain_replay() -> None:
    mc = monte_carlo("2020-03-12", "cex", paths=1, accounts=30, seed=2, config=STRESSED)
    r = replay("2020-03-12", "cex", accounts=30, seed=2, config=STRESSED)
    (run,) = mc.runs
    assert run.bad_debt_usd == r.bad_debt_usd and run.liquidations == r.liquidations
    assert mc.bad_debt_usd_quantiles == dict.fromkeys(("p50", "p95", "p99", "max"), r.bad_debt_usd)
    assert run.largest_bad_debts_usd == r.largest_bad_debts_usd
    assert sum(r.largest_bad_debts_usd) <= r.bad_debt_usd + 1e-9


def test_quantiles_match_the_standard_librarys_inclusive_method() -> None:
    """numpy's default percentile is the 'inclusive' linear interpolation of Python's statistics module
    (Hyndman and Fan's type 7): checked against that independent implementation."""
    x = list(np.random.default_rng(0).lognormal(size=37))
    q = quantiles(x)
    cuts = statistics.quantiles(x, n=100, method="inclusive")
    assert q["p50"] == pytest.approx(cuts[49]) and q["p95"] == pytest.approx(cuts[94])
    assert q["p99"] == pytest.approx(cuts[98]) and q["max"] == max(x)


def test_seeded_monte_carlo_is_the_same_in_process_and_on_one_or_two_dask_workers() -> None:
    distributed = pytest.importorskip("distributed")
    kw = {"paths": 4, "accounts": 30, "seed": 11, "config": STRESSED}
    here = monte_carlo("2020-03-12", "cex", **kw)  # type: ignore[arg-type]
    assert here.paths_with_bad_debt > 0  # the comparison is about non-trivial numbers
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            there = monte_carlo("2020-03-12", "cex", client=client, **kw)  # type: ignore[arg-type]
        assert there.bad_debt_usd_quantiles == here.bad_debt_usd_quantiles, workers
        assert there.runs == here.runs
        assert there.cover2_usd == here.cover2_usd


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmargin", "replay", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_paths_json_has_the_quantiles(tmp_path: Path) -> None:
    cfg = tmp_path / "mc.yaml"
    cfg.write_text("replay:\n  clock_s: 600\nmonte_carlo:\n  block_mean_bars: 3\n", encoding="utf-8")
    p = _cli(
        "--scenario", "2025-10-10", "--venue", "dex", "--accounts", "20", "--paths", "3",
        "--config", str(cfg), "--scheduler", "none", "--json",
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert set(d["bad_debt_usd_quantiles"]) == {"p50", "p95", "p99", "max"}
    assert d["paths"] == 3 and len(d["runs"]) == 3 and d["path_config"]["block_mean_bars"] == 3.0


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--paths", "0"], "--paths"),
        (["--paths", "3", "--venue", "both"], "--paths"),
        (["--paths", "3", "--seeds", "2"], "--paths"),
    ],
)
def test_cli_paths_bad_input(args: list[str], where: str) -> None:
    base = ["--scenario", "2025-10-10", "--accounts", "5"]
    if "--venue" not in args:
        base += ["--venue", "cex"]
    p = _cli(*base, *args)
    assert p.returncode == 2 and where in p.stderr and "Traceback" not in p.stderr


def test_cli_config_file_unknown_key_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "mc.yaml"
    cfg.write_text("monte_carlo:\n  block_len: 3\n", encoding="utf-8")
    p = _cli("--scenario", "2025-10-10", "--venue", "cex", "--accounts", "5", "--config", str(cfg))
    assert p.returncode == 2 and "block_len" in p.stderr and str(cfg) in p.stderr


def test_monte_carlo_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from xmargin.sim._risk_charts import plot_monte_carlo

    cfg = replace(STRESSED, clock_s=600.0)
    mc = monte_carlo("2025-10-10", "cex", paths=3, accounts=10, seed=0, config=cfg)
    out = tmp_path / "mc.png"
    plot_monte_carlo(mc, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
