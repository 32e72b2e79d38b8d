"""HTML reports of the systemic-risk runs, in the style of the backtest's report (``_backtest_report``): one
self-contained page each (plotly.js inline, nothing fetched from the network), the figures in tables and
interactive charts.

- ``write_contagion_report``: each shared asset's price with and without liquidation feedback, the cascade
  rounds and liquidations of every step, each venue's cumulative bad debt and how it was paid; with a
  latency sweep, bad debt against bridge latency (and the haircut each latency needs, if solved).
- ``write_monte_carlo_report``: the bad-debt histogram over the paths with its p50, p95 and p99, and each
  path's bad debt against how far it fell.

plotly is an optional extra (``xmargin[charts]``), imported only when a page is written.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmargin.core import InputError, atomic_write
from xmargin.sim._backtest_report import _CSS, _num, _usd
from xmargin.sim._montecarlo import MonteCarloReport
from xmargin.sim.contagion import ContagionReport

if TYPE_CHECKING:
    from xmargin.sim.contagion._solve import HaircutSolution, LatencySweep

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_QUANTILE_COLOURS = {"p50": "#2e7d32", "p95": "#f9a825", "p99": "#c62828"}


def _plotly(where: str) -> Any:
    try:
        import plotly.io as pio
    except ImportError:
        raise InputError(
            where=where, expected="the plotly package (pip install 'xmargin[charts]')", found="not installed"
        ) from None
    return pio


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    e = html.escape
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "\n".join(
        "<tr>" + "".join(f"<td{'' if i == 0 else ' class=v'}>{e(c)}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>\n{body}\n</table>"


def _page(path: Path, where: str, title: str, sub: str, parts: Sequence[str]) -> Path:
    e = html.escape
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f'<style>{_CSS}</style></head>\n<body>\n<h1>{e(title)}</h1>\n<p class="sub">{sub}</p>\n'
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    with atomic_write(path, force=True, where=where) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _chart(pio: Any, fig: Any, *, first: bool = True) -> str:
    """The figure as a ``<div>``; the page's first chart carries plotly.js inline, later ones use it."""
    return str(
        pio.to_html(
            fig, include_plotlyjs=first, full_html=False, config={"displaylogo": False, "responsive": True}
        )
    )


def _legends(fig: Any, rows: int) -> None:
    """One legend beside each panel (as the backtest's page)."""
    for row in range(1, rows + 1):
        legend = "legend" if row == 1 else f"legend{row}"
        top = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.update_layout({legend: {"x": 1.01, "y": top, "yanchor": "top", "xanchor": "left"}})
        for trace in fig.select_traces(row=row, col=1):
            trace.legend = legend


def contagion_figure(r: ContagionReport) -> Any:
    """Four panels on one hour axis: prices with/without feedback, cascade rounds, liquidations per step,
    cumulative bad debt per venue."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    hours = r.timeline.get("hour", [])
    names = list(r.venues)
    fig = make_subplots(
        rows=4, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.34, 0.18, 0.2, 0.28],
        subplot_titles=(
            f"Price / start, with and without liquidation feedback (amplification "
            f"{r.system.amplification:.3f})",
            f"Cascade rounds per step (longest {r.system.cascade_rounds})",
            "Liquidations per step",
            "Cumulative bad debt (dotted: insurance fund exhausted)",
        ),
    )  # fmt: skip
    for k, (u, series) in enumerate(r.price_path.items()):
        w, wo = np.asarray(series["with_feedback"]), np.asarray(series["without_feedback"])
        if np.ptp(w) == 0 and np.ptp(wo) == 0:
            continue  # an asset the window holds flat (no bars)
        c = _COLOURS[k % len(_COLOURS)]
        fig.add_trace(go.Scatter(x=hours, y=w / w[0], name=f"{u} with feedback", line={"color": c}), 1, 1)
        fig.add_trace(
            go.Scatter(x=hours, y=wo / wo[0], name=f"{u} without", line={"color": c, "dash": "dot", "width": 1}),
            1, 1,
        )  # fmt: skip
    fig.add_trace(
        go.Bar(x=hours, y=r.timeline.get("cascade_rounds", []), name="rounds", marker_color="#555"), 2, 1
    )
    for k, n in enumerate(names):
        c = _COLOURS[(k + 2) % len(_COLOURS)]
        fig.add_trace(
            go.Bar(x=hours, y=r.timeline.get(f"liquidations:{n}", []), name=n, marker_color=c), 3, 1
        )
        fig.add_trace(
            go.Scatter(x=hours, y=r.timeline.get(f"bad_debt_usd:{n}", []), name=n, line={"color": c}), 4, 1
        )
        at = r.venues[n].insurance_fund_exhausted_at_hour
        if at is not None:
            fig.add_vline(x=at, line={"color": c, "dash": "dot", "width": 1}, row=4, col=1)
    _legends(fig, 4)
    fig.update_layout(barmode="stack", bargap=0.0)
    fig.update_xaxes(showticklabels=True)
    fig.update_xaxes(title_text=f"hours from the window's start ({r.scenario})", row=4, col=1)
    fig.update_yaxes(title_text="price / start", row=1, col=1)
    fig.update_yaxes(title_text="rounds", row=2, col=1)
    fig.update_yaxes(title_text="liquidations", row=3, col=1)
    fig.update_yaxes(title_text="USD", row=4, col=1)
    fig.update_layout(height=1100, template="plotly_white", hovermode="x unified", margin={"r": 200})
    return fig


def _sweep_figure(s: LatencySweep) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    solved = any(p.haircut_needed is not None for p in s.points)
    rows = 2 if solved else 1
    x = [f"{p.latency_minutes:g}" for p in s.points]
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.12,
        subplot_titles=("Bad debt against bridge latency", "Haircut needed for the target")[:rows],
    )  # fmt: skip
    fig.add_trace(go.Bar(x=x, y=[p.bad_debt_usd for p in s.points], name="system", marker_color="#555"), 1, 1)
    for k, n in enumerate(s.points[0].venues if s.points else []):
        fig.add_trace(
            go.Scatter(x=x, y=[p.venues[n].bad_debt_usd for p in s.points], name=n, mode="lines+markers",
                       line={"color": _COLOURS[(k + 2) % len(_COLOURS)]}),
            1, 1,
        )  # fmt: skip
    if solved:
        y = [None if p.haircut_needed is None else p.haircut_needed.haircut for p in s.points]
        fig.add_trace(
            go.Scatter(x=x, y=y, name="haircut", mode="lines+markers", line={"color": "#c62828"}), 2, 1
        )
        fig.update_yaxes(title_text="haircut", tickformat=".0%", row=2, col=1)
    _legends(fig, rows)
    fig.update_xaxes(type="category", title_text="bridge latency, minutes", row=rows, col=1)
    fig.update_yaxes(title_text="USD", row=1, col=1)
    fig.update_layout(height=380 * rows, template="plotly_white", margin={"r": 200})
    return fig


def _venue_rows(r: ContagionReport) -> list[list[str]]:
    vs = list(r.venues.values())

    def row(label: str, f: Any) -> list[str]:
        return [label, *(f(v) for v in vs)]

    def hour(v: Any) -> str:
        at = v.insurance_fund_exhausted_at_hour
        return "-" if at is None else f"hour {at:.1f}"

    return [
        row("kind", lambda v: v.kind),
        row("accounts", lambda v: f"{v.accounts:,}"),
        row("liquidations", lambda v: f"{v.liquidations:,}"),
        row("volume liquidated", lambda v: _usd(v.volume_liquidated_usd)),
        row("bad debt", lambda v: _usd(v.bad_debt_usd)),
        row("… paid by the insurance fund", lambda v: _usd(v.insurance_fund_used_usd)),
        row("… by ADL", lambda v: _usd(v.adl_usd)),
        row("… socialized", lambda v: _usd(v.socialized_loss_usd)),
        row("insurance fund start → end", lambda v: f"{_usd(v.insurance_fund_start_usd)} → "
                                                    f"{_usd(v.insurance_fund_end_usd)}"),
        row("insurance fund exhausted", hour),
        row("accounts bankrupt", lambda v: f"{v.accounts_bankrupt:,}"),
        row("market-maker legs liquidated", lambda v: f"{v.market_maker_legs_liquidated:,}"),
        row("top-ups sent / arrived / lost / in flight",
            lambda v: f"{v.top_ups_sent} / {v.top_ups_arrived} / {v.top_ups_lost} / {v.top_ups_in_flight}"),
    ]  # fmt: skip


def _haircut_text(h: HaircutSolution | None) -> str:
    if h is None:
        return "-"
    if h.haircut is None:
        return f"> {h.max_haircut:.0%} (not reached)"
    return f"{h.haircut:.1%}" + ("" if h.monotone else " (not monotone)")


def write_contagion_report(
    path: str | Path,
    report: ContagionReport,
    sweep: LatencySweep | None = None,
    haircut: HaircutSolution | None = None,
) -> Path:
    """Write the contagion run (and its latency sweep / haircut, if given) as one HTML page at ``path``."""
    pio = _plotly("--report")
    if not report.timeline or not report.price_path:
        raise InputError(where="contagion report", expected="a run with its timeline", found="none")
    s = report.system
    system = [
        ("bad debt, all venues", _usd(s.bad_debt_usd)),
        ("largest fall with / without feedback", f"{s.max_drop_with_feedback:.1%} / {s.max_drop_without_feedback:.1%}"),
        ("amplification", f"{s.amplification:.3f}"),
        ("longest cascade (rounds in one step)", f"{s.cascade_rounds}"),
        ("liquidations", f"{s.liquidations:,}"),
        ("DebtRank", f"{s.debtrank:.4f}"),
        ("market-maker legs left unhedged", _usd(s.unhedged_market_maker_usd)),
        ("insurance funds exhausted", ", ".join(s.insurance_funds_exhausted) or "none"),
    ]  # fmt: skip
    parts = [
        "<h2>System</h2>",
        _table(["", "value"], system),
        "<h2>Venues</h2>",
        _table(["", *report.venues], _venue_rows(report)),
    ]
    if report.bridges:
        parts += [
            "<h2>Bridged collateral</h2>",
            _table(
                ["bridge", "latency, min", "haircut", "holders", "holders bankrupt", "holders' bad debt"],
                [
                    [n, f"{b.latency_minutes:g}", f"{b.haircut:.1%}", f"{b.accounts:,}",
                     f"{b.accounts_bankrupt:,}", _usd(b.bad_debt_usd)]
                    for n, b in report.bridges.items()
                ],
            ),
        ]  # fmt: skip
    if haircut is not None:
        parts.append(
            f"<p>Haircut on <b>{html.escape(haircut.bridge)}</b> for its holders' bad debt to stay at or under "
            f"{html.escape(_usd(haircut.target_usd))} at {haircut.latency_minutes:g} min: "
            f"<b>{html.escape(_haircut_text(haircut))}</b> (bisection to {haircut.tolerance:.1%}, "
            f"{len(haircut.evaluations)} runs).</p>"
        )
    parts.append(_chart(pio, contagion_figure(report)))
    if sweep is not None:
        head = ["latency, min", "system bad debt", *(f"{n} bad debt" for n in sweep.points[0].venues)]
        head += [f"{n} holders' bad debt" for n in sweep.points[0].bridges]
        if sweep.haircut_target_usd is not None:
            head.append(f"haircut for ≤ {_usd(sweep.haircut_target_usd)}")
        rows = []
        for p in sweep.points:
            row = [f"{p.latency_minutes:g}", _usd(p.bad_debt_usd)]
            row += [_usd(v.bad_debt_usd) for v in p.venues.values()]
            row += [_usd(b.bad_debt_usd) for b in p.bridges.values()]
            if sweep.haircut_target_usd is not None:
                row.append(_haircut_text(p.haircut_needed))
            rows.append(row)
        mono = "rises monotonically" if sweep.monotone else "is not monotone"
        parts += [
            "<h2>Bridge latency</h2>",
            f"<p>System bad debt {mono} in the latency over these points.</p>",
            _table(head, rows),
            _chart(pio, _sweep_figure(sweep), first=False),
        ]
    parts.append(
        f'<p class="foot">xmargin contagion, scenario {html.escape(report.scenario)}, impact ×'
        f"{report.impact_scale:g}. Model and sources: docs/contagion.md. Schema version "
        f"{report.schema_version}.</p>"
    )
    sub = (
        f"{len(report.venues)} venues sharing {', '.join(report.price_path)}; liquidation flow on any venue "
        "moves the shared price (square-root impact). Dotted lines: the same run without feedback."
    )
    return _page(Path(path), "--report", f"Contagion through {report.scenario}", html.escape(sub), parts)


def monte_carlo_figure(r: MonteCarloReport) -> Any:
    """The bad-debt histogram with p50/p95/p99, and each path's bad debt against its deepest fall."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bad = np.array([p.bad_debt_usd for p in r.runs])
    u = next(iter(r.runs[0].max_drawdown), None) if r.runs else None
    fig = make_subplots(
        rows=2, cols=1, vertical_spacing=0.14,
        subplot_titles=(f"Bad debt over {r.paths} paths", f"Bad debt against the path's deepest {u} fall"),
    )  # fmt: skip
    fig.add_trace(
        go.Histogram(x=bad, nbinsx=max(10, min(60, bad.size // 5 + 1)), name="paths", marker_color="#1f77b4"),
        1, 1,
    )  # fmt: skip
    q = r.bad_debt_usd_quantiles
    for name, c in _QUANTILE_COLOURS.items():
        fig.add_vline(x=q[name], line={"color": c, "dash": "dash"}, row=1, col=1)
        fig.add_trace(
            go.Scatter(x=[q[name]], y=[0], mode="markers", marker={"color": c, "symbol": "triangle-up", "size": 10},
                       name=f"{name} {_usd(q[name])}"),
            1, 1,
        )  # fmt: skip
    if u is not None:
        dd = np.array([-100.0 * p.max_drawdown.get(u, 0.0) for p in r.runs])
        fig.add_trace(
            go.Scatter(x=dd[1:], y=bad[1:], mode="markers", name="drawn paths", marker={"color": "#888"}),
            2,
            1,
        )
        fig.add_trace(
            go.Scatter(x=dd[:1], y=bad[:1], mode="markers", name="the real window",
                       marker={"color": "#c62828", "size": 12, "symbol": "star"}),
            2, 1,
        )  # fmt: skip
        fig.update_xaxes(title_text=f"deepest fall of {u} from its running high, %", row=2, col=1)
    _legends(fig, 2)
    fig.update_xaxes(title_text="bad debt per path, USD", row=1, col=1)
    fig.update_yaxes(title_text="paths", row=1, col=1)
    fig.update_yaxes(title_text="bad debt, USD", row=2, col=1)
    fig.update_layout(height=850, template="plotly_white", margin={"r": 220}, bargap=0.05)
    return fig


def write_monte_carlo_report(path: str | Path, report: MonteCarloReport) -> Path:
    """Write the Monte Carlo run as one HTML page at ``path``."""
    pio = _plotly("--report")
    if not report.runs:
        raise InputError(where="Monte Carlo report", expected="at least one path", found="none")
    q = report.bad_debt_usd_quantiles
    rows = [
        ("bad debt p50", _usd(q["p50"])),
        ("bad debt p95 (VaR, Gauntlet)", _usd(q["p95"])),
        ("bad debt p99", _usd(q["p99"])),
        ("bad debt max", _usd(q["max"])),
        ("expected bad debt beyond p99", _usd(report.es99_usd)),
        ("liquidations at risk (p95 of volume liquidated)", _usd(report.liquidations_at_risk_usd)),
        ("Cover-2 (two largest accounts' bad debt)", _usd(report.cover2_usd)),
        ("insurance fund at start", _usd(report.insurance_fund_start_usd)),
        ("insurance fund needed (max of p99 and Cover-2)", _usd(report.insurance_fund_needed_usd)),
        ("paths with bad debt", f"{report.paths_with_bad_debt:,} / {report.paths:,}"),
    ]
    cfg = ", ".join(f"{k} {v}" for k, v in report.path_config.items())
    wall = report.timing.get("wall_s")
    parts = [
        _table(["", "value"], rows),
        _chart(pio, monte_carlo_figure(report)),
        f'<p class="foot">Paths: {html.escape(cfg)}. Path 0 is the real window. '
        + ("" if wall is None else f"Wall time {_num(wall, 1)} s. ")
        + f'Model and sources: docs/replay.md, "Monte Carlo". Schema version {report.schema_version}.</p>',
    ]
    title = f"Monte Carlo: {report.scenario}, {report.venue.upper()}, {report.paths:,} paths"
    sub = (
        f"{html.escape(report.title)}. {report.accounts:,} accounts (seed {report.seed}), margin model "
        f"{html.escape(report.model)}; quantiles by linear interpolation over the paths."
    )
    return _page(Path(path), "--report", title, sub, parts)


__all__ = ["contagion_figure", "monte_carlo_figure", "write_contagion_report", "write_monte_carlo_report"]
