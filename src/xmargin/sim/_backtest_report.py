"""An HTML page of a margin backtest for a risk team: the disclosure numbers (in the spirit of CPMI-IOSCO's
2015 quantitative disclosure standards for CCPs, section 6.5), a verdict, and interactive charts of prices,
margin against realised loss, margin as a share of notional and the traffic light over time.

The page is one self-contained file: plotly.js is embedded inline, there are no fonts, stylesheets or
scripts fetched from the network. plotly is an optional extra, imported only when a page is written.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

from xmargin.core import InputError, atomic_write
from xmargin.sim._backtest_stats import basel_zones
from xmargin.sim._backtest_types import BacktestReport

_GREEN, _YELLOW, _RED = "#2e7d32", "#f9a825", "#c62828"
_DATE_FORMAT = "%Y-%m-%d"
_BASE_COLUMNS = (
    "date",
    "end_date",
    "margin_usd",
    "loss_usd",
    "breach",
    "notional_usd",
    "margin_pct_notional",
)
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em} .sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:1em 0} td,th{padding:.25em .8em;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4} td.v{text-align:right;font-variant-numeric:tabular-nums}
.verdict span{display:inline-block;margin-right:1.2em;padding:.2em .6em;border-radius:3px}
.ok{background:#e3f1e4} .bad{background:#f8dcdc} .foot{color:#555;font-size:.9em}
"""


def _num(x: float, decimals: int = 2, suffix: str = "") -> str:
    return f"{x:z,.{decimals}f}{suffix}" if math.isfinite(x) else "n/a"  # z: no "-0.00" (PEP 682)


def _usd(x: float) -> str:
    return _num(x, 0 if abs(x) >= 1000 else 2, " USD")


def _p(x: float) -> str:
    return "< 0.0001" if 0 <= x < 1e-4 else _num(x, 4)


def _day(value: object) -> str:
    """An ISO date (YYYY-MM-DD) of a date, timestamp or ISO string; the text unchanged if it is none of these."""
    try:
        return pd.Timestamp(value).strftime(_DATE_FORMAT)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)


def _rows(r: BacktestReport) -> list[tuple[str, str]]:
    tl, pc, sf = r.traffic_light, r.procyclicality, r.shortfall_usd
    m, mp = r.margin_usd, r.margin_pct_notional
    return [
        ("Observations (non-overlapping)", f"{r.observations:,}"),
        ("Exceptions (loss > margin)", f"{r.breaches:,}"),
        ("Expected exceptions", _num(r.expected_breaches)),
        ("Achieved coverage", _num(100 * (1 - r.breach_rate), 2, "%")),
        ("Largest exception (loss beyond margin)", _usd(sf.max)),
        ("Average exception, given one", _usd(sf.mean_given_breach)),
        ("Kupiec LR / p", f"{_num(r.kupiec.lr)} / {_p(r.kupiec.p_value)}"),
        ("One-sided excess p, P(X ≥ exceptions)", _p(r.excess_p_value)),
        (
            "Christoffersen LR_ind / p_independence",
            f"{_num(r.christoffersen.lr_ind)} / {_p(r.christoffersen.p_independence)}",
        ),
        (
            "Christoffersen LR_cc / p_cc",
            f"{_num(r.christoffersen.lr_cc)} / {_p(r.christoffersen.p_conditional_coverage)}",
        ),
        (
            f"Traffic light, windows of {tl.window:,}: green / yellow / red",
            f"{tl.green:,} / {tl.yellow:,} / {tl.red:,}",
        ),
        ("Worst window: start, exceptions", f"{_day(tl.worst_window.start)}, {tl.worst_window.breaches:,}"),
        ("Procyclicality: peak-to-trough", _num(pc.peak_to_trough, 2, "×")),
        (
            "Largest 1-day / 30-day rise",
            f"{_num(pc.max_rise_1d_pp, 2, ' pp')} / {_num(pc.max_rise_30d_pp, 2, ' pp')}",
        ),
        ("Margin mean / min / max", f"{_usd(m.mean)} / {_usd(m.min)} / {_usd(m.max)}"),
        (
            "Margin, % of gross notional: mean / min / max",
            f"{_num(mp.mean)}% / {_num(mp.min)}% / {_num(mp.max)}%",
        ),
        ("99% loss quantile, % of gross notional", _num(r.loss_q99_pct_notional, 2, "%")),
    ]


def _verdict(r: BacktestReport) -> list[tuple[str, bool]]:
    coverage = (
        "coverage: no significant excess of breaches"
        if r.coverage_ok
        else f"coverage: significant excess of breaches (p = {_p(r.excess_p_value)})"
    )
    independence = "independence: " + ("not rejected" if r.independent else "rejected")
    red = r.traffic_light.red
    return [
        (coverage, r.coverage_ok),
        (independence, r.independent),
        (f"red windows: {'yes' if red else 'no'}", not red),
    ]


def _figure(series: pd.DataFrame, r: BacktestReport) -> Any:
    """Four panels sharing one date axis, each with its own legend beside it."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = [_day(d) for d in series["date"]]
    ends = [_day(d) for d in series["end_date"]]
    hit = series["breach"].astype(bool).to_numpy()
    loss = series["loss_usd"].astype(float)
    fig = make_subplots(
        rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.25, 0.3, 0.2, 0.25],
        subplot_titles=(
            "Price of each underlying",
            f"Margin held vs realised loss over {r.horizon_days} days",
            "Margin as % of gross notional",
            f"Traffic light: exceptions in the last {r.traffic_light.window} observations",
        ),
    )  # fmt: skip
    for u in r.underlyings:
        fig.add_trace(go.Scatter(x=x, y=series[f"price_{u}"].astype(float), name=u, mode="lines"), 1, 1)
    fig.add_trace(
        go.Scatter(x=x, y=series["margin_usd"].astype(float), name="margin held", mode="lines"), 2, 1
    )
    fig.add_trace(
        go.Scatter(x=x, y=loss, name="loss over horizon", mode="lines", line={"color": "#888", "width": 1}),
        2,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=[d for d, h in zip(x, hit, strict=True) if h], y=loss[hit],
            customdata=[e for e, h in zip(ends, hit, strict=True) if h], name="exception (loss > margin)",
            mode="markers", marker={"color": _RED, "size": 9, "symbol": "x"},
            hovertemplate="%{x} → %{customdata}<br>loss %{y:,.0f} USD<extra>exception</extra>",
        ),
        2, 1,
    )  # fmt: skip
    pct = series["margin_pct_notional"].astype(float)
    fig.add_trace(go.Scatter(x=x, y=pct, name="margin / notional", mode="lines"), 3, 1)
    counts = pd.Series(hit.astype(float)).rolling(r.traffic_light.window).sum()
    fig.add_trace(
        go.Scatter(x=x, y=counts, name="exceptions in window", mode="lines", line={"color": "#666", "width": 1}),
        4, 1,
    )  # fmt: skip
    y, z = basel_zones(r.traffic_light.window, r.confidence)
    top = max(float(counts.max()) if counts.notna().any() else 0.0, z) + 1.5
    yellow = f"yellow ({y})" if z == y + 1 else f"yellow ({y}–{z - 1})"
    for label, colour, lo, hi in (
        (f"green (< {y})", _GREEN, 0, y),
        (yellow, _YELLOW, y, z),  # empty where the red zone starts at once (tiny windows)
        (f"red (≥ {z})", _RED, z, math.inf),
    ):
        if lo >= hi:
            continue
        fig.add_trace(
            go.Scatter(x=x, y=counts.where((counts >= lo) & (counts < hi)), name=label, mode="markers",
                       marker={"color": colour, "size": 4}),
            4, 1,
        )  # fmt: skip
        fig.add_hrect(
            y0=lo - 0.5,
            y1=min(hi, top + 0.5) - 0.5,
            fillcolor=colour,
            opacity=0.12,
            line_width=0,
            row=4,
            col=1,
        )
    for row, legend in enumerate(("legend", "legend2", "legend3", "legend4"), start=1):
        top_of_row = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.update_layout({legend: {"x": 1.01, "y": top_of_row, "yanchor": "top", "xanchor": "left"}})
        for trace in fig.select_traces(row=row, col=1):
            trace.legend = legend
    fig.update_xaxes(tickformat=_DATE_FORMAT, showticklabels=True, type="date")
    fig.update_xaxes(title_text="observation date (margin set)", row=4, col=1)
    fig.update_yaxes(title_text="USD (log scale)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="USD", row=2, col=1)
    fig.update_yaxes(title_text="% of gross notional", ticksuffix="%", row=3, col=1)
    fig.update_yaxes(title_text="exceptions (count)", range=[-0.5, top], row=4, col=1)
    fig.update_layout(height=1250, template="plotly_white", hovermode="x unified", margin={"r": 220})
    return fig


def write_backtest_report(path: str | Path, series: pd.DataFrame, report: BacktestReport) -> Path:
    """Write ``report`` and its ``series`` (one row per observation) as one self-contained HTML page at
    ``path``, replacing any file there in a single rename; return the path written."""
    try:
        import plotly.io as pio
    except ImportError:
        raise InputError(
            where="--report",
            expected="the plotly package (pip install 'xmargin[charts]')",
            found="not installed",
        ) from None
    needed = [*_BASE_COLUMNS, *(f"price_{u}" for u in report.underlyings)]
    missing = [c for c in needed if c not in series.columns]
    if missing:
        raise InputError(where="backtest series", expected="columns " + ", ".join(needed), found=missing)
    s = (
        series.assign(_t=pd.to_datetime(series["date"]))
        .sort_values("_t", kind="stable")
        .reset_index(drop=True)
    )
    chart = pio.to_html(
        _figure(s, report), include_plotlyjs=True, full_html=False,
        config={"displaylogo": False, "responsive": True},
    )  # fmt: skip
    e = html.escape
    title = (
        f"Margin backtest: {report.model} on {report.portfolio}, history {report.history}, "
        f"{report.horizon_days}-day horizon, {_num(100 * report.confidence, 2, '%')} confidence, "
        f"{_day(report.start)} .. {_day(report.end)}"
    )
    rows = "\n".join(f"<tr><td>{e(k)}</td><td class='v'>{e(v)}</td></tr>" for k, v in _rows(report))
    verdict = "".join(f"<span class='{'ok' if ok else 'bad'}'>{e(t)}</span>" for t, ok in _verdict(report))
    warnings = "".join(f"<li>{e(w)}</li>" for w in report.warnings) or "<li>none</li>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p class="sub">Underlyings: {e(", ".join(report.underlyings))}. Margin is set at each observation date and
compared with the portfolio's loss over the next {report.horizon_days} days; observations do not overlap.
The traffic light is drawn from the first full window on.</p>
<p class="verdict">{verdict}</p>
<table><tr><th>Disclosure item</th><th>Value</th></tr>
{rows}
</table>
{chart}
<h2>Warnings</h2><ul>{warnings}</ul>
<p class="foot">Source of the price history: {e(report.history)}. Schema version {report.schema_version}.</p>
</body></html>
"""
    target = Path(path)
    with atomic_write(target, force=True, where="--report") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return target


__all__ = ["write_backtest_report"]
