"""``xmargin backtest PORTFOLIO --model MODEL ...`` (FORMATS.md "Risk model and backtests")."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError, atomic_write, check_output
from xmargin.instruments import load_portfolio
from xmargin.margin import resolve_model
from xmargin.market import load_history, shipped_history_names
from xmargin.sim import BacktestConfig, BacktestReport, backtest, write_backtest_report

from ._common import console, err_console, flags, fmt, handle_errors, print_json, warn

HORIZON = re.compile(r"([0-9]+)d")
BACKTEST_FLAGS = {
    "model": "--model",
    "preset": "--model",
    "lambda": "--model",
    "--history": "--history",
}


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(where=flag, expected="a date YYYY-MM-DD", found=text) from None


def _horizon(text: str) -> int:
    m = HORIZON.fullmatch(text.strip())
    if m is None:
        raise InputError(where="--horizon", expected="1d, 2d or 5d", found=text)
    return int(m.group(1))


def _verdict(r: BacktestReport) -> list[str]:
    lines = [
        (
            "coverage: no significant excess of breaches"
            if r.coverage_ok
            else f"coverage: significant excess of breaches (one-sided p = {r.excess_p_value:.4f})"
        ),
        f"independence: {'not rejected' if r.independent else 'rejected'} "
        f"(Christoffersen p = {r.christoffersen.p_independence:.3f})",
        f"red {r.traffic_light.window}-observation windows: {r.traffic_light.red}",
    ]
    return lines


def summary_table(r: BacktestReport) -> Table:
    t = Table(
        title=f"{r.model} on {r.portfolio}: {r.horizon_days}-day loss vs margin, {r.start} .. {r.end} "
        f"({r.history})"
    )
    t.add_column("")
    t.add_column("value", justify="right")
    pc = r.procyclicality
    rows = [
        ("observations (non-overlapping)", f"{r.observations:,}"),
        ("breaches / expected", f"{r.breaches} / {r.expected_breaches:.1f}"),
        ("breach rate", f"{r.breach_rate:.2%} (target {1 - r.confidence:.2%})"),
        ("one-sided excess p", f"{r.excess_p_value:.4f}"),
        ("Kupiec LR (p)", f"{r.kupiec.lr:.3f} ({r.kupiec.p_value:.4f})"),
        (
            "Christoffersen LR_ind (p)",
            f"{r.christoffersen.lr_ind:.3f} ({r.christoffersen.p_independence:.4f})",
        ),
        (
            "Christoffersen LR_cc (p)",
            f"{r.christoffersen.lr_cc:.3f} ({r.christoffersen.p_conditional_coverage:.4f})",
        ),
        (
            f"traffic light, {r.traffic_light.window}-obs windows (green/yellow/red)",
            f"{r.traffic_light.green}/{r.traffic_light.yellow}/{r.traffic_light.red}",
        ),
        (
            "worst window (start, breaches)",
            f"{r.traffic_light.worst_window.start}, {r.traffic_light.worst_window.breaches}",
        ),
        ("margin, % of gross notional (mean/min/max)", _spread_pct(r)),
        ("99% loss quantile, % of notional", f"{r.loss_q99_pct_notional:.2f}"),
        ("mean margin / loss quantile", f"{r.margin_pct_notional.mean / r.loss_q99_pct_notional:.2f}x"),
        ("peak-to-trough", f"{pc.peak_to_trough:.2f}x"),
        ("largest 1-day / 30-day rise, pp", f"{pc.max_rise_1d_pp:.2f} / {pc.max_rise_30d_pp:.2f}"),
        ("margin USD (mean)", fmt(r.margin_usd.mean)),
        (
            "shortfall on breach USD (mean/max)",
            f"{fmt(r.shortfall_usd.mean_given_breach)} / {fmt(r.shortfall_usd.max)}",
        ),
    ]
    for label, value in rows:
        t.add_row(label, value)
    return t


def _spread_pct(r: BacktestReport) -> str:
    s = r.margin_pct_notional
    return f"{s.mean:.2f} / {s.min:.2f} / {s.max:.2f}"


@handle_errors
def backtest_cmd(
    portfolio: Annotated[Path, typer.Argument(help="Portfolio file held fixed over the history")],
    model: Annotated[
        str, typer.Option("--model", help="A model (fhs, pm, standard, cross, isolated), a preset or a file")
    ] = "fhs",
    history: Annotated[
        str,
        typer.Option("--history", help=f"A shipped history ({', '.join(shipped_history_names())}) or a CSV"),
    ] = "crypto-daily",
    start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD")] = None,
    horizon: Annotated[
        str, typer.Option("--horizon", help="Loss horizon and the fhs model's MPOR: 1d, 2d or 5d")
    ] = "1d",
    confidence: Annotated[
        float, typer.Option("--confidence", help="Coverage level the breaches are tested at")
    ] = 0.99,
    window: Annotated[int, typer.Option("--window", help="Observations per traffic-light window")] = 250,
    out: Annotated[Path | None, typer.Option("--out", help="Write the series (CSV)")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write an HTML report")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine output (FORMATS.md)")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace existing --out/--report files")] = False,
) -> None:
    """Margin a fixed portfolio every day of a history and test the margin against the realised loss."""
    config = BacktestConfig(
        horizon_days=_horizon(horizon),
        confidence=confidence,
        window=window,
        start=_day(start, "--from"),
        end=_day(end, "--to"),
    )
    out_path = check_output(out, force=force, where="--out") if out is not None else None
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise InputError(where="--report", expected="an .html path", found=str(report))
    report_path = check_output(report, force=force, where="--report") if report is not None else None
    pf = load_portfolio(portfolio)
    if model.strip().lower() == "span":
        raise InputError(
            where="--model span",
            expected="a model whose parameters follow the history (a SPAN file's risk arrays are one business "
            "day's, priced at that day's settlement prices; a backtest needs one file per day, docs/margin.md#span)",
            found="span",
        )
    with flags(BACKTEST_FLAGS):
        m = resolve_model(model)
    with flags({f"history {history}": "--history", history: "--history"}):
        hist = load_history(history)
        rep, series = backtest(pf, m, hist, config, portfolio_name=portfolio.name)
    if out_path is not None:
        with atomic_write(out_path) as tmp:
            series.to_csv(tmp, index=False, float_format="%.10g")
        err_console.print(f"wrote {out_path}")
    if report_path is not None:
        write_backtest_report(report_path, series, rep)
        err_console.print(f"wrote {report_path}")
    if json_out:
        print_json(rep, schema="backtest")
        return
    console.print(summary_table(rep))
    for line in _verdict(rep):
        console.print(line)
    warn(rep.warnings)


__all__ = ["backtest_cmd"]
