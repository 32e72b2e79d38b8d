"""The backtest HTML page: self-contained, the disclosure numbers shown, the breaches plotted, written atomically."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xmargin.sim._backtest_report import write_backtest_report
from xmargin.sim._backtest_stats import (
    Christoffersen,
    Kupiec,
    Procyclicality,
    Shortfall,
    Spread,
    TrafficLight,
    WorstWindow,
)
from xmargin.sim._backtest_types import BacktestReport

pytest.importorskip("plotly")

BREACH_ROWS = (40, 41, 170, 260)


def _series(n: int = 300, as_strings: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    dates = pd.date_range("2021-01-04", periods=n, freq="3D")
    btc = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    eth = 1_000 * np.exp(np.cumsum(rng.normal(0, 0.04, n)))
    notional = 5_000_000 * (btc / btc[0] + eth / eth[0]) / 2
    margin = notional * rng.uniform(0.08, 0.14, n)
    loss = margin * rng.uniform(-0.9, 0.7, n)
    breach = np.zeros(n, dtype=bool)
    breach[list(BREACH_ROWS)] = True
    loss[breach] = margin[breach] * 1.3
    end = dates + pd.Timedelta(days=3)
    return pd.DataFrame(
        {
            "date": dates.strftime("%Y-%m-%d") if as_strings else dates,
            "end_date": end.strftime("%Y-%m-%d") if as_strings else end,
            "price_BTC": btc,
            "end_price_BTC": np.roll(btc, -1),
            "price_ETH": eth,
            "end_price_ETH": np.roll(eth, -1),
            "margin_usd": margin,
            "loss_usd": loss,
            "breach": breach,
            "notional_usd": notional,
            "margin_pct_notional": 100 * margin / notional,
        }
    )


def _values(y: object) -> np.ndarray:
    """A trace's y values as plotly embedded them: a list, or typed base64 (``{"dtype", "bdata"}``)."""
    if isinstance(y, dict):
        return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).astype(float)
    return np.array(y, dtype=float)


def _report() -> BacktestReport:
    return BacktestReport(
        model="historical-es-97.5",
        horizon_days=3,
        confidence=0.99,
        observations=300,
        breaches=4,
        breach_rate=4 / 300,
        expected_breaches=3.0,
        kupiec=Kupiec(lr=0.3123, p_value=0.5763),
        christoffersen=Christoffersen(
            lr_ind=2.5, p_independence=0.1138, lr_cc=2.81, p_conditional_coverage=0.2454
        ),
        traffic_light=TrafficLight(
            window=250, green=51, yellow=0, red=0, worst_window=WorstWindow(start="2021-05-04", breaches=4)
        ),
        procyclicality=Procyclicality(peak_to_trough=1.74, max_rise_1d_pp=1.25, max_rise_30d_pp=3.5),
        margin_usd=Spread(mean=612_345.6, min=401_000.0, max=987_654.3),
        margin_pct_notional=Spread(mean=11.02, min=8.0, max=14.0),
        loss_q99_pct_notional=9.87,
        shortfall_usd=Shortfall(mean_given_breach=150_000.0, max=234_567.8),
        excess_p_value=0.3528,
        portfolio="book <A&B>",
        history="coinbase daily closes",
        start="2021-01-04",
        end="2023-06-20",
        underlyings=("BTC", "ETH"),
        warnings=("ETH history has 2 gaps <filled>",),
    )


def test_page_is_self_contained_and_shows_the_disclosure(tmp_path: Path) -> None:
    series = _series()
    out = write_backtest_report(tmp_path / "bt.html", series, _report())
    assert out == tmp_path / "bt.html" and out.is_file()
    text = out.read_text(encoding="utf-8")
    assert "plotly.js v" in text and "Plotly.newPlot" in text  # the library inline, not linked
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", text, flags=re.S)
    assert "<link" not in markup
    assert re.findall(r"<script[^>]*>", markup) and all(
        "src" not in t for t in re.findall(r"<script[^>]*>", markup)
    )
    assert 'src="http' not in markup and 'href="http' not in markup and "src='http" not in markup
    for label in (
        "Observations",
        "Exceptions",
        "Expected exceptions",
        "Achieved coverage",
        "Kupiec",
        "Worst window",
    ):
        assert label in text
    assert "<td class='v'>300</td>" in text
    assert "98.67%" in text  # 1 - 4/300
    assert "2021-05-04, 4" in text  # worst window: start, breaches
    assert "234,568 USD" in text and "987,654 USD" in text
    assert "51 / 0 / 0" in text
    assert "book &lt;A&amp;B&gt;" in text and "<A&B>" not in text  # escaped
    assert "ETH history has 2 gaps &lt;filled&gt;" in text
    assert "coverage: no significant excess of breaches" in text and "independence: not rejected" in text
    assert "red windows: no" in text and "coinbase daily closes" in text
    call = text[text.index("Plotly.newPlot(") :]
    traces, _ = json.JSONDecoder().raw_decode(call[call.index("[") :])
    names = {t["name"] for t in traces}
    # Basel zones at 250 observations / 99%
    assert {"BTC", "ETH", "margin held", "green (< 5)", "yellow (5–9)", "red (≥ 10)"} <= names
    counts = _values(next(t for t in traces if t["name"] == "exceptions in window")["y"])
    # breaches in the window ending at each row: none drawn before the first full window
    assert np.isnan(counts[:249]).all() and counts[249] == 3 and np.nanmax(counts) == 4
    exceptions = next(t for t in traces if t["name"].startswith("exception"))
    assert exceptions["x"] == [f"{series['date'][row]:%Y-%m-%d}" for row in BREACH_ROWS]
    assert exceptions["customdata"] == [f"{series['end_date'][row]:%Y-%m-%d}" for row in BREACH_ROWS]
    assert list(tmp_path.iterdir()) == [out]


def test_string_dates_and_a_failing_verdict(tmp_path: Path) -> None:
    r = _report()
    bad = BacktestReport(
        **{
            **{f: getattr(r, f) for f in r.__dataclass_fields__},
            "excess_p_value": 0.00001,
            "christoffersen": Christoffersen(
                lr_ind=9.0, p_independence=0.002, lr_cc=12.0, p_conditional_coverage=0.003
            ),
            "traffic_light": TrafficLight(
                window=250, green=1, yellow=20, red=30, worst_window=WorstWindow("2021-02-01", 11)
            ),
        }
    )
    text = write_backtest_report(tmp_path / "bt.html", _series(as_strings=True), bad).read_text(
        encoding="utf-8"
    )
    assert "significant excess of breaches (p = &lt; 0.0001)" in text
    assert "independence: rejected" in text and "red windows: yes" in text
    assert f'"{pd.Timestamp("2021-01-04") + pd.Timedelta(days=3 * 40):%Y-%m-%d}"' in text  # row 40, a string


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Path.write_text

    def half_then_fail(self: Path, data: str, *args: object, **kwargs: object) -> int:
        real(self, data[: len(data) // 2], encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    new = tmp_path / "new.html"
    with pytest.raises(OSError, match="disk full"):
        write_backtest_report(new, _series(), _report())
    assert not new.exists()
    old = tmp_path / "old.html"
    real(old, "previous report", encoding="utf-8")
    with pytest.raises(OSError, match="disk full"):
        write_backtest_report(old, _series(), _report())
    assert old.read_text(encoding="utf-8") == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]  # no temporary file left behind


def test_missing_plotly_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from xmargin.core import InputError

    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.io", None)
    with pytest.raises(InputError, match="plotly package") as info:
        write_backtest_report(tmp_path / "bt.html", _series(), _report())
    assert info.value.where == "--report"
    assert not (tmp_path / "bt.html").exists()
