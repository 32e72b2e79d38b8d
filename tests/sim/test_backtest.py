"""``xmargin backtest`` and ``sim.backtest``: the series against a hand computation on a small history, no
look-ahead, the FORMATS.md columns and JSON, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xmargin.core import InputError
from xmargin.instruments import Portfolio, Position, parse_name
from xmargin.margin import FhsMargin, load_fhs_preset, resolve_model
from xmargin.market import PriceHistory, parse_history
from xmargin.sim import BacktestConfig, backtest

ROOT = Path(__file__).resolve().parents[2]
N = 500


def _history(seed: int = 7) -> PriceHistory:
    rng = np.random.default_rng(seed)
    vol = np.where(np.arange(N - 1) % 200 < 30, 0.08, 0.02)  # calm with bursts
    r = rng.standard_t(4, size=N - 1) * vol / np.sqrt(2.0)
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dates = np.arange(np.datetime64("2019-01-01"), np.datetime64("2019-01-01") + np.timedelta64(N, "D"))
    return PriceHistory("toy", dates, ("BTC",), close[:, None])


def _short(size: float = -3.0) -> Portfolio:
    return Portfolio("s", {"USDC": 1e6}, (Position(parse_name("BTC_USDC-PERPETUAL"), size),))


def test_series_equals_a_hand_computation_under_a_fixed_ratio() -> None:
    """``cross-fixed`` charges a fixed fraction of notional on a linear perpetual, so the margin, the loss
    (size × price change) and the breaches can be recomputed here from the closes alone."""
    hist = _history()
    model = resolve_model("cross")
    report, s = backtest(_short(), model, hist, BacktestConfig(horizon_days=2))
    close = hist.close[:, 0]
    t = np.searchsorted(hist.dates, s["date"].to_numpy().astype("datetime64[D]"))
    assert (np.diff(t) == 2).all()  # non-overlapping 2-day observations
    # short 3: loses 3 × the rise (equity is 1e6 USDC + P&L: equal to about 1e-10 USD)
    np.testing.assert_allclose(s["loss_usd"], 3.0 * (close[t + 2] - close[t]), rtol=0, atol=1e-8)
    rate = s["margin_usd"] / (3.0 * close[t])
    assert np.allclose(rate, rate[0]) and 0.0 < rate[0] < 1.0  # a fixed ratio of notional
    breach = s["loss_usd"].to_numpy() > s["margin_usd"].to_numpy()
    assert (s["breach"].to_numpy() == breach).all()
    assert report.breaches == int(breach.sum()) > 0
    assert report.observations == len(s) == t.size
    assert report.procyclicality.peak_to_trough == pytest.approx(1.0)
    assert list(s.columns[:4]) == ["date", "end_date", "price_BTC", "end_price_BTC"]


def test_no_look_ahead_in_the_backtest() -> None:
    """The margin on day t uses data up to t only: rewriting every close after t + 5 leaves the margins of the
    observations up to t unchanged (fhs, a historical model)."""
    hist = _history()
    cut = 300
    other = PriceHistory("toy", hist.dates, hist.underlyings, hist.close.copy())
    other.close[cut + 6 :, 0] *= np.exp(np.linspace(0.0, 1.5, N - cut - 6))
    model = resolve_model("fhs-plain")
    a = backtest(_short(), model, hist, BacktestConfig(horizon_days=1))[1]
    b = backtest(_short(), model, other, BacktestConfig(horizon_days=1))[1]
    keep = a["date"] <= str(hist.dates[cut])
    assert keep.sum() > 50
    np.testing.assert_array_equal(a.loc[keep, "margin_usd"], b.loc[keep, "margin_usd"])
    assert not np.array_equal(a["margin_usd"], b["margin_usd"])  # the later margins did see the change


def test_a_historical_model_runs_at_the_backtest_horizon() -> None:
    """A 1-day fhs model in a 2-day backtest margins with a 2-day MPOR, exactly as the 2-day preset does."""
    hist = _history()
    one_day = FhsMargin(load_fhs_preset("fhs-plain").model_copy(update={"horizon_days": 1}), history=hist)
    assert one_day.preset.horizon_days == 1 and resolve_model("fhs-plain").preset_name == "fhs-plain"
    a = backtest(_short(), one_day, hist, BacktestConfig(horizon_days=2))[1]
    b = backtest(_short(), resolve_model("fhs-plain"), hist, BacktestConfig(horizon_days=2))[1]
    c = backtest(_short(), one_day, hist, BacktestConfig(horizon_days=1))[1]
    np.testing.assert_array_equal(a["margin_usd"], b["margin_usd"])
    merged = a.merge(c, on="date", suffixes=("_2", "_1"))
    assert not np.allclose(merged["margin_usd_2"], merged["margin_usd_1"])


def test_bad_configuration_and_histories() -> None:
    with pytest.raises(InputError, match="--horizon"):
        BacktestConfig(horizon_days=3)
    with pytest.raises(InputError, match="ETH"):
        eth = Portfolio("e", {"USDC": 1e6}, (Position(parse_name("ETH_USDC-PERPETUAL"), 1.0),))
        backtest(eth, resolve_model("cross"), _history())
    with pytest.raises(InputError, match="row 3, column date"):
        parse_history("date,BTC\n2020-01-02,1\n2020-01-01,2\n", name="h.csv", source="h.csv")
    with pytest.raises(InputError, match="row 2, column BTC"):
        parse_history("date,BTC\n2020-01-01,-1\n2020-01-02,2\n", name="h.csv", source="h.csv")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XMARGIN_VALIDATE_JSON": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "xmargin", "backtest", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_cli_json_csv_and_report(tmp_path: Path) -> None:
    hist = _history()
    frame = pd.DataFrame({"date": hist.dates.astype(str), "BTC": hist.close[:, 0]})
    frame.to_csv(tmp_path / "h.csv", index=False)
    pf = tmp_path / "p.yaml"
    pf.write_text("account: s\ncollateral: {USDC: 1000000}\npositions: {BTC_USDC-PERPETUAL: -3}\n")
    proc = _cli(
        str(pf), "--model", "fhs", "--history", "h.csv", "--horizon", "2d", "--out", "s.csv",
        "--report", "r.html", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema_version"] == 1 and doc["horizon_days"] == 2 and doc["model"] == "fhs"
    for key in ("kupiec", "christoffersen", "traffic_light", "procyclicality", "shortfall_usd"):
        assert key in doc
    series = pd.read_csv(tmp_path / "s.csv")
    fixed = ["date", "end_date", "price_BTC", "end_price_BTC", "margin_usd", "loss_usd", "breach"]
    assert list(series.columns[:7]) == fixed and len(series) == doc["observations"]
    assert (tmp_path / "r.html").stat().st_size > 1_000_000  # plotly.js inline
    again = _cli(str(pf), "--history", "h.csv", "--out", "s.csv", cwd=tmp_path)
    assert again.returncode == 2 and "--out" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--horizon", "3d"], "--horizon"),
        (["--from", "2013-02-30"], "--from"),
        (["--history", "nope"], "--history"),
        (["--report", "r.txt"], "--report"),
        (["--model", "nope"], "--model"),
        (["--from", "2030-01-01"], "--from/--to"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], where: str, tmp_path: Path) -> None:
    proc = _cli(str(ROOT / "examples" / "backtest" / "long_btc.yaml"), *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {where}") and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())


def test_shipped_books_run_from(tmp_path: Path) -> None:
    """The README's first backtest, shortened: a real window of the shipped history."""
    proc = _cli(
        str(ROOT / "examples" / "backtest" / "btc_eth_pair.yaml"), "--from", "2020-01-01", "--to", "2020-12-31",
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["start"] == "2020-01-01" and doc["observations"] == 365
    assert date.fromisoformat(doc["end"]) == date(2020, 12, 31)
