"""Backtest sweeps: many (portfolio, model, horizon) runs over one history, in this process or as tasks on
a Dask cluster, and the targets table of docs/backtest.md.

Each run is independent and deterministic, so the table does not depend on where runs execute. The model is
named (a model kind, a preset or a preset file) and built inside the task, so a cluster worker needs only
the package and the files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from xmargin.core import InputError
from xmargin.instruments import load_portfolio
from xmargin.margin import resolve_model
from xmargin.market import load_history
from xmargin.sim._backtest import BacktestConfig, backtest
from xmargin.sim._backtest_types import BacktestReport


@dataclass(frozen=True, slots=True)
class SweepJob:
    portfolio: str
    """path of a portfolio file"""
    model: str
    horizon_days: int
    history: str = "crypto-daily"
    start: date | None = None
    end: date | None = None
    confidence: float = 0.99


def run_job(job: SweepJob) -> BacktestReport:
    """One backtest of the sweep (built from names, so it can run on a cluster worker)."""
    pf = load_portfolio(job.portfolio)
    config = BacktestConfig(
        horizon_days=job.horizon_days, confidence=job.confidence, start=job.start, end=job.end
    )
    report, _ = backtest(
        pf,
        resolve_model(job.model),
        load_history(job.history),
        config,
        portfolio_name=Path(job.portfolio).stem,
    )
    return report


def backtest_sweep(
    jobs: Sequence[SweepJob],
    *,
    client: Any | None = None,
    on_done: Callable[[BacktestReport], None] | None = None,
) -> list[BacktestReport]:
    """Every job's report, in job order; with a ``distributed.Client`` each job is a task on the cluster."""
    if not jobs:
        raise InputError(where="jobs", expected="at least one backtest", found="none")
    if client is None:
        out = []
        for j in jobs:
            r = run_job(j)
            out.append(r)
            if on_done is not None:
                on_done(r)
        return out
    from distributed import as_completed

    futures = {client.submit(run_job, j, pure=False): k for k, j in enumerate(jobs)}
    done: dict[int, BacktestReport] = {}
    for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call]
        r = fut.result()
        done[futures[fut]] = r
        if on_done is not None:
            on_done(r)
    return [done[k] for k in range(len(jobs))]


TARGETS = {
    "excess_p": 0.05,
    "christoffersen_p": 0.05,
    "red_windows": 0,
    "peak_to_trough": 6.0,
    "max_rise_30d_pp": 50.0,
    "mean_over_q99": 2.0,
}
"""Issue 13's targets for the fhs model (docs/backtest.md)."""


def target_row(r: BacktestReport) -> dict[str, Any]:
    """One row of the targets table: the figures and whether each target holds."""
    eff = (
        r.margin_pct_notional.mean / r.loss_q99_pct_notional if r.loss_q99_pct_notional > 0 else float("inf")
    )
    checks = {
        "coverage": r.excess_p_value >= TARGETS["excess_p"],
        "independence": r.christoffersen.p_independence >= TARGETS["christoffersen_p"],
        "no red window": r.traffic_light.red == TARGETS["red_windows"],
        "peak/trough ≤ 6": r.procyclicality.peak_to_trough <= TARGETS["peak_to_trough"],
        "30d rise ≤ 50pp": r.procyclicality.max_rise_30d_pp <= TARGETS["max_rise_30d_pp"],
        "mean ≤ 2×q99": eff <= TARGETS["mean_over_q99"],
    }
    return {
        "model": r.model,
        "portfolio": r.portfolio,
        "horizon": f"{r.horizon_days}d",
        "observations": r.observations,
        "breach_pct": 100.0 * r.breach_rate,
        "excess_p": r.excess_p_value,
        "kupiec_p": r.kupiec.p_value,
        "christoffersen_p": r.christoffersen.p_independence,
        "red_windows": r.traffic_light.red,
        "peak_to_trough": r.procyclicality.peak_to_trough,
        "max_rise_30d_pp": r.procyclicality.max_rise_30d_pp,
        "mean_margin_pct": r.margin_pct_notional.mean,
        "loss_q99_pct": r.loss_q99_pct_notional,
        "mean_over_q99": eff,
        "failed": [k for k, ok in checks.items() if not ok],
    }


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The targets table as Markdown (one line per run; failed targets named in the last column)."""
    head = (
        "| model | book | h | obs | breach % | excess p | Christoffersen p | red | peak/trough | 30d rise pp "
        "| mean margin % | loss q99 % | mean/q99 | fails |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    lines = [
        f"| {r['model']} | {r['portfolio']} | {r['horizon']} | {r['observations']} | {r['breach_pct']:.2f} "
        f"| {r['excess_p']:.3f} | {r['christoffersen_p']:.3f} | {r['red_windows']} | {r['peak_to_trough']:.1f} "
        f"| {r['max_rise_30d_pp']:.1f} | {r['mean_margin_pct']:.2f} | {r['loss_q99_pct']:.2f} "
        f"| {r['mean_over_q99']:.2f} | {', '.join(r['failed']) or '—'} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


__all__ = ["TARGETS", "SweepJob", "backtest_sweep", "markdown_table", "run_job", "target_row"]
